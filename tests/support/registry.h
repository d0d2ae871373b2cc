// Test support for tests that run against every storage backend: the backend of this run, a
// fresh registry for one test, and a probe that looks inside a registry whatever its backend.
//
// A test binary runs on SQLite, and again on PostgreSQL when its ctest variant sets
// $IOTREG_TEST_POSTGRESQL (tests/CMakeLists.txt: iotreg_test_on_postgresql); the same test
// code then exercises both. Tests of what only SQLite has (its files, WAL, permissions) are in
// the doctest suite "sqlite_only", which the PostgreSQL variant leaves out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/process.h"

namespace iotreg::test {

class TestDatabase;
class PgProbe;

// True in the PostgreSQL variant of a test binary.
bool testing_postgresql();

// A fresh, empty registry for one test: the SQLite file `name` in `dir`, or a new PostgreSQL
// database, dropped when this object ends.
class TestRegistry {
 public:
  explicit TestRegistry(const TempDir& dir, const std::string& name = "registry.db");
  ~TestRegistry();
  TestRegistry(const TestRegistry&) = delete;
  TestRegistry& operator=(const TestRegistry&) = delete;

  // What `--db` takes.
  const std::string& location() const { return location_; }

 private:
  std::unique_ptr<TestDatabase> database_;
  std::string location_;
};

// Whether the registry at `location` has been created: its SQLite file exists, or its PostgreSQL
// database holds a registry's tables.
bool registry_exists(const std::string& location);

// A connection of the test itself to a registry of either backend (an SQLite path or a
// postgresql:// URI). Queries must be in SQL both backends read alike. Failures throw
// std::runtime_error naming the statement.
class RegistryProbe {
 public:
  explicit RegistryProbe(const std::string& location);
  ~RegistryProbe();
  RegistryProbe(const RegistryProbe&) = delete;
  RegistryProbe& operator=(const RegistryProbe&) = delete;

  void exec(const std::string& sql);
  std::int64_t integer(const std::string& sql);
  std::string text(const std::string& sql);
  std::vector<std::string> column(const std::string& sql);
  // Rows and an order-independent sum of row hashes (see SqliteProbe::digest): equal for equal
  // contents of one registry at two moments.
  SqliteProbe::Digest digest(const std::string& sql);

  // Takes the registry's write lock, as a writing process does, and holds it until
  // release_write_lock(): every iotreg writer waits for it meanwhile (and reports the registry
  // busy after $IOTREG_BUSY_TIMEOUT_MS), while readers go on.
  void hold_write_lock();
  void release_write_lock();

 private:
  std::unique_ptr<SqliteProbe> sqlite_;
  std::unique_ptr<PgProbe> postgresql_;
};

}  // namespace iotreg::test
