// Test support for PostgreSQL: a fresh database per test on the throwaway server of the ctest
// fixture `postgresql` (tests/postgresql/cluster.sh), and a probe to look inside it over libpq.
//
// The server is found through $IOTREG_TEST_POSTGRESQL, the path of the file holding a libpq URI
// of its maintenance database; tests/postgresql/CMakeLists.txt says how a test binary asks for
// it. TestDatabase owns one database: created by its constructor, dropped by its destructor
// (even while connections to it remain). PgProbe owns one connection. Every connection attempt
// gives up after 10 seconds and every statement of theirs after two minutes. Neither type is
// thread-safe; each owns its resource and cannot be copied.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct pg_conn;

namespace iotreg::test {

// The URI of the fixture server's maintenance database, read from the file that
// $IOTREG_TEST_POSTGRESQL names. Throws std::runtime_error saying how to start the server when
// the variable is unset or the file cannot be read: a test setup error, never a skip.
std::string postgresql_server_uri();

// A database of its own for one test: `iotreg_test_<pid>_<counter>_<random>`, owned by the
// superuser `iotreg`, encoded UTF8, with the server's locale. The constructor throws
// std::runtime_error when it cannot be created; the destructor drops it WITH (FORCE) and reports
// a failure to standard error (the server is thrown away after the run anyway).
class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& name() const { return name_; }
  // A libpq URI of this database, with the server URI's host, port and user.
  const std::string& uri() const { return uri_; }

 private:
  std::string server_uri_;
  std::string name_;
  std::string uri_;
};

// A connection of the test itself to a database, to look inside it. Every failure throws
// std::runtime_error naming the statement (or the URI): a test setup error. Parameters are
// bound as text ($1, $2, ...), never pasted into the statement.
class PgProbe {
 public:
  explicit PgProbe(const std::string& uri);
  ~PgProbe();
  PgProbe(const PgProbe&) = delete;
  PgProbe& operator=(const PgProbe&) = delete;

  // Runs statements that return no rows (several, separated by semicolons, in one transaction
  // unless they say otherwise).
  void exec(const std::string& sql);
  // The first column of the first row, as an integer or text (the query must return a row; a
  // NULL is an error for integer() and the empty string for text()).
  std::int64_t integer(const std::string& sql, const std::vector<std::string>& parameters = {});
  std::string text(const std::string& sql, const std::vector<std::string>& parameters = {});
  // Every row of a one-column query, as text (NULL as the empty string).
  std::vector<std::string> column(const std::string& sql,
                                  const std::vector<std::string>& parameters = {});

  // A digest of a query's rows that does not depend on their order: the number of rows and the
  // sum of a 64-bit hash of each row (every column's text, NULL told apart).
  struct Digest {
    std::uint64_t rows = 0;
    std::uint64_t sum = 0;
  };
  Digest digest(const std::string& sql);

  // A name quoted as an SQL identifier, for statements that cannot take it as a parameter.
  std::string quote_identifier(const std::string& name);

 private:
  pg_conn* connection_ = nullptr;
};

}  // namespace iotreg::test
