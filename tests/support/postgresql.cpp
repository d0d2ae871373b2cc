#include "support/postgresql.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>

namespace iotreg::test {

namespace {

constexpr const char* kHowToStart =
    "run the test through ctest, whose fixture `postgresql` starts a server (ctest -R NAME "
    "adds it), or start one with `tests/postgresql/cluster.sh start DIR` and set "
    "IOTREG_TEST_POSTGRESQL=DIR/uri";

// libpq's messages end with a newline.
std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

// `uri` with its database (the path) replaced by `database`, which needs no percent-encoding.
std::string with_database(const std::string& uri, const std::string& database) {
  std::size_t authority = uri.find("://");
  if (authority == std::string::npos ||
      (uri.rfind("postgresql://", 0) != 0 && uri.rfind("postgres://", 0) != 0)) {
    throw std::runtime_error("not a libpq URI: " + uri);
  }
  std::size_t path = uri.find_first_of("/?", authority + 3);
  if (path == std::string::npos) return uri + "/" + database;
  std::size_t path_end = uri[path] == '/' ? uri.find('?', path) : path;
  if (path_end == std::string::npos) path_end = uri.size();
  return uri.substr(0, path) + "/" + database + uri.substr(path_end);
}

// A fresh name per call: the process id tells apart processes that run at the same time, the
// counter the databases of one process, the random part runs that reuse a process id.
std::string unique_database_name() {
  static std::atomic<unsigned> counter{0};
  std::random_device random;
  std::ostringstream name;
  name << "iotreg_test_" << ::getpid() << '_' << counter++ << '_' << std::hex << random();
  return name.str();
}

struct ResultDeleter {
  void operator()(PGresult* result) const { PQclear(result); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

// Runs a query with text parameters; throws unless it returned rows.
Result query(pg_conn* connection, const std::string& sql,
             const std::vector<std::string>& parameters) {
  std::vector<const char*> values;
  values.reserve(parameters.size());
  for (const auto& parameter : parameters) values.push_back(parameter.c_str());
  Result result(PQexecParams(connection, sql.c_str(), static_cast<int>(values.size()), nullptr,
                             values.data(), nullptr, nullptr, 0));
  if (!result) throw std::runtime_error(sql + ": " + trimmed(PQerrorMessage(connection)));
  if (PQresultStatus(result.get()) != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + trimmed(PQresultErrorMessage(result.get())));
  }
  return result;
}

// The result of a query that must return a row; throws when it returned none.
const PGresult* first_row(const Result& result, const std::string& sql) {
  if (PQntuples(result.get()) == 0) throw std::runtime_error(sql + ": no row");
  return result.get();
}

}  // namespace

std::string postgresql_server_uri() {
  const char* uri_file = std::getenv("IOTREG_TEST_POSTGRESQL");
  if (!uri_file || !*uri_file) {
    throw std::runtime_error(std::string("IOTREG_TEST_POSTGRESQL is not set: ") + kHowToStart);
  }
  std::ifstream in(uri_file);
  std::string uri;
  std::getline(in, uri);
  uri = trimmed(uri);
  if (uri.empty()) {
    throw std::runtime_error(std::string("no PostgreSQL URI in ") + uri_file +
                             " (named by IOTREG_TEST_POSTGRESQL; did the fixture test "
                             "postgresql_cluster_start fail?): " +
                             kHowToStart);
  }
  return uri;
}

TestDatabase::TestDatabase()
    : server_uri_(postgresql_server_uri()),
      name_(unique_database_name()),
      uri_(with_database(server_uri_, name_)) {
  PgProbe server(server_uri_);
  server.exec("CREATE DATABASE " + server.quote_identifier(name_));
}

TestDatabase::~TestDatabase() {
  try {
    PgProbe server(server_uri_);
    server.exec("DROP DATABASE IF EXISTS " + server.quote_identifier(name_) + " WITH (FORCE)");
  } catch (const std::exception& error) {
    std::cerr << "warning: test database " << name_ << " not dropped: " << error.what() << '\n';
  }
}

PgProbe::PgProbe(const std::string& uri) {
  // Later keywords override what the URI says: every probe has the same deadlines.
  const char* const keywords[] = {"dbname", "connect_timeout", "options",
                                  "fallback_application_name", nullptr};
  const char* const values[] = {uri.c_str(), "10", "-c statement_timeout=120s", "iotreg-tests",
                                nullptr};
  connection_ = PQconnectdbParams(keywords, values, /*expand_dbname=*/1);
  if (!connection_ || PQstatus(connection_) != CONNECTION_OK) {
    std::string message = connection_ ? trimmed(PQerrorMessage(connection_)) : "out of memory";
    PQfinish(connection_);
    connection_ = nullptr;
    throw std::runtime_error("cannot connect to " + uri + ": " + message);
  }
}

PgProbe::~PgProbe() { PQfinish(connection_); }

void PgProbe::exec(const std::string& sql) {
  Result result(PQexec(connection_, sql.c_str()));
  if (!result) throw std::runtime_error(sql + ": " + trimmed(PQerrorMessage(connection_)));
  ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    throw std::runtime_error(sql + ": " + trimmed(PQresultErrorMessage(result.get())));
  }
}

std::int64_t PgProbe::integer(const std::string& sql, const std::vector<std::string>& parameters) {
  Result result = query(connection_, sql, parameters);
  const PGresult* row = first_row(result, sql);
  if (PQgetisnull(row, 0, 0)) throw std::runtime_error(sql + ": NULL where an integer was due");
  const char* text = PQgetvalue(row, 0, 0);
  const char* end = text + PQgetlength(row, 0, 0);
  std::int64_t value = 0;
  auto [stop, error] = std::from_chars(text, end, value);
  if (error != std::errc() || stop != end) {
    throw std::runtime_error(sql + ": not an integer: " + std::string(text, end));
  }
  return value;
}

std::string PgProbe::text(const std::string& sql, const std::vector<std::string>& parameters) {
  Result result = query(connection_, sql, parameters);
  const PGresult* row = first_row(result, sql);
  return {PQgetvalue(row, 0, 0), static_cast<std::size_t>(PQgetlength(row, 0, 0))};
}

std::vector<std::string> PgProbe::column(const std::string& sql,
                                         const std::vector<std::string>& parameters) {
  Result result = query(connection_, sql, parameters);
  std::vector<std::string> values;
  int rows = PQntuples(result.get());
  values.reserve(static_cast<std::size_t>(rows));
  for (int i = 0; i < rows; ++i) {
    values.emplace_back(PQgetvalue(result.get(), i, 0),
                        static_cast<std::size_t>(PQgetlength(result.get(), i, 0)));
  }
  return values;
}

PgProbe::Digest PgProbe::digest(const std::string& sql) {
  Result result = query(connection_, sql, {});
  Digest digest;
  const int rows = PQntuples(result.get());
  const int columns = PQnfields(result.get());
  for (int row = 0; row < rows; ++row) {
    // FNV-1a over each column's NULL mark, length and bytes, then a splitmix64 finish.
    std::uint64_t state = 1469598103934665603ull;
    auto add = [&](const void* data, std::size_t size) {
      const auto* bytes = static_cast<const unsigned char*>(data);
      for (std::size_t i = 0; i < size; ++i) {
        state ^= bytes[i];
        state *= 1099511628211ull;
      }
    };
    for (int column = 0; column < columns; ++column) {
      const bool null = PQgetisnull(result.get(), row, column) != 0;
      const auto size = static_cast<std::uint64_t>(PQgetlength(result.get(), row, column));
      add(&null, sizeof null);
      add(&size, sizeof size);
      add(PQgetvalue(result.get(), row, column), size);
    }
    std::uint64_t z = state + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    ++digest.rows;
    digest.sum += z ^ (z >> 31);
  }
  return digest;
}

std::string PgProbe::quote_identifier(const std::string& name) {
  char* quoted = PQescapeIdentifier(connection_, name.c_str(), name.size());
  if (!quoted) {
    throw std::runtime_error("cannot quote identifier " + name + ": " +
                             trimmed(PQerrorMessage(connection_)));
  }
  std::string result(quoted);
  PQfreemem(quoted);
  return result;
}

}  // namespace iotreg::test
