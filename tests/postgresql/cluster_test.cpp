// The PostgreSQL test fixture itself: the server is the one the tests are written for, and every
// TestDatabase is a database of its own that is gone after the test.
#include <doctest/doctest.h>
#include <stdlib.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

#include "support/postgresql.h"

using iotreg::test::PgProbe;
using iotreg::test::postgresql_server_uri;
using iotreg::test::TestDatabase;

namespace {

// Unsets an environment variable for its lifetime.
class UnsetEnvironment {
 public:
  explicit UnsetEnvironment(std::string name) : name_(std::move(name)) {
    if (const char* value = ::getenv(name_.c_str())) saved_ = value;
    ::unsetenv(name_.c_str());
  }
  ~UnsetEnvironment() {
    if (saved_) ::setenv(name_.c_str(), saved_->c_str(), 1);
  }
  UnsetEnvironment(const UnsetEnvironment&) = delete;
  UnsetEnvironment& operator=(const UnsetEnvironment&) = delete;

 private:
  std::string name_;
  std::optional<std::string> saved_;
};

}  // namespace

TEST_SUITE("postgresql") {
  TEST_CASE("postgresql: the server is PostgreSQL 15+ with UTF8 text on a Unix socket only") {
    TestDatabase database;
    PgProbe probe(database.uri());
    CHECK(probe.integer("SELECT current_setting('server_version_num')::integer") >= 150000);
    CHECK(probe.text("SHOW server_encoding") == "UTF8");
    CHECK(probe.text("SELECT pg_encoding_to_char(encoding) FROM pg_database "
                     "WHERE datname = current_database()") == "UTF8");
    CHECK(probe.text("SELECT current_database()") == database.name());
    CHECK(probe.text("SELECT current_user") == "iotreg");
    CHECK(probe.text("SHOW listen_addresses").empty());
    // Text round-trips byte for byte; collation is by code point; character classes know Unicode.
    CHECK(probe.text("SELECT $1::text", {"Grüße, 東京 ✓"}) == "Grüße, 東京 ✓");
    CHECK(probe.text("SELECT upper($1)", {"é"}) == "É");
    CHECK(probe.integer("SELECT count(*) FROM (VALUES ('a'), ('B')) AS v(x) WHERE x < 'a'") == 1);
  }

  TEST_CASE("postgresql: two test databases are distinct and isolated") {
    TestDatabase first;
    TestDatabase second;
    CHECK(first.name() != second.name());
    CHECK(first.uri() != second.uri());
    PgProbe in_first(first.uri());
    PgProbe in_second(second.uri());
    in_first.exec(
        "CREATE TABLE only_in_first (id integer PRIMARY KEY); "
        "INSERT INTO only_in_first VALUES (1), (2)");
    CHECK(in_first.integer("SELECT count(*) FROM only_in_first") == 2);
    CHECK(in_second.integer("SELECT count(*) FROM pg_class WHERE relname = $1",
                            {"only_in_first"}) == 0);
    CHECK_THROWS_WITH_AS(in_second.integer("SELECT count(*) FROM only_in_first"),
                         doctest::Contains("SELECT count(*) FROM only_in_first"),
                         std::runtime_error);
  }

  TEST_CASE("postgresql: a test database is dropped even with a connection to it still open") {
    std::string name;
    std::string uri;
    std::unique_ptr<PgProbe> lingering;
    {
      TestDatabase database;
      name = database.name();
      uri = database.uri();
      lingering = std::make_unique<PgProbe>(database.uri());
      lingering->exec("CREATE TABLE left_behind (id integer)");
    }
    PgProbe server(postgresql_server_uri());
    CHECK(server.integer("SELECT count(*) FROM pg_database WHERE datname = $1", {name}) == 0);
    CHECK_THROWS_WITH_AS(PgProbe{uri}, doctest::Contains("does not exist"), std::runtime_error);
    CHECK_THROWS_AS(lingering->exec("SELECT 1"), std::runtime_error);
  }

  TEST_CASE("postgresql: without IOTREG_TEST_POSTGRESQL a test database fails and says why") {
    UnsetEnvironment unset("IOTREG_TEST_POSTGRESQL");
    CHECK_THROWS_WITH_AS(TestDatabase{}, doctest::Contains("tests/postgresql/cluster.sh start"),
                         std::runtime_error);
  }
}
