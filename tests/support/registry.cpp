#include "support/registry.h"

#include <cstdlib>
#include <filesystem>

#include "registry/storage/postgresql/registry.h"
#include "support/postgresql.h"

namespace iotreg::test {

bool testing_postgresql() {
  const char* uri_file = std::getenv("IOTREG_TEST_POSTGRESQL");
  return uri_file && *uri_file;
}

TestRegistry::TestRegistry(const TempDir& dir, const std::string& name) {
  if (testing_postgresql()) {
    database_ = std::make_unique<TestDatabase>();
    location_ = database_->uri();
  } else {
    location_ = dir.file(name);
  }
}

TestRegistry::~TestRegistry() = default;

namespace {

bool is_postgresql(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

}  // namespace

bool registry_exists(const std::string& location) {
  if (!is_postgresql(location)) return std::filesystem::exists(location);
  return PgProbe(location).integer(
             "SELECT count(*) FROM pg_tables WHERE tablename = "
             "'iotreg_schema' AND schemaname = current_schema()") == 1;
}

RegistryProbe::RegistryProbe(const std::string& location) {
  if (is_postgresql(location)) {
    postgresql_ = std::make_unique<PgProbe>(location);
  } else {
    sqlite_ = std::make_unique<SqliteProbe>(location);
  }
}

RegistryProbe::~RegistryProbe() = default;

void RegistryProbe::exec(const std::string& sql) {
  if (sqlite_) return sqlite_->exec(sql);
  postgresql_->exec(sql);
}

std::int64_t RegistryProbe::integer(const std::string& sql) {
  return sqlite_ ? sqlite_->integer(sql) : postgresql_->integer(sql);
}

std::string RegistryProbe::text(const std::string& sql) {
  return sqlite_ ? sqlite_->text(sql) : postgresql_->text(sql);
}

std::vector<std::string> RegistryProbe::column(const std::string& sql) {
  return sqlite_ ? sqlite_->column(sql) : postgresql_->column(sql);
}

SqliteProbe::Digest RegistryProbe::digest(const std::string& sql) {
  if (sqlite_) return sqlite_->digest(sql);
  const PgProbe::Digest digest = postgresql_->digest(sql);
  return {digest.rows, digest.sum};
}

void RegistryProbe::hold_write_lock() {
  if (sqlite_) return sqlite_->exec("BEGIN IMMEDIATE");
  postgresql_->exec("BEGIN");
  postgresql_->exec("SELECT pg_advisory_xact_lock(" +
                    std::to_string(storage::postgresql::kWriterLockKey) + ")");
}

void RegistryProbe::release_write_lock() { exec("ROLLBACK"); }

}  // namespace iotreg::test
