#include "support/registry.h"

#include <cstdlib>

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

RegistryProbe::RegistryProbe(const std::string& location) {
  if (location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0) {
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

}  // namespace iotreg::test
