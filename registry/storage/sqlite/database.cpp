#include "registry/storage/sqlite/database.h"

#include <algorithm>
#include <cstdlib>

#include "registry/storage/sqlite/shared_map.h"

namespace iotreg::storage::sqlite {
namespace {

constexpr int kDefaultBusyTimeoutMs = 5000;

int busy_timeout_ms() {
  // Tests shorten the wait for a locked database; any other value keeps the default.
  if (const char* text = std::getenv("IOTREG_BUSY_TIMEOUT_MS")) {
    char* end = nullptr;
    long value = std::strtol(text, &end, 10);
    if (end && *end == '\0' && value >= 0 && value <= 600000) return static_cast<int>(value);
  }
  return kDefaultBusyTimeoutMs;
}

}  // namespace

Status status_from(sqlite3* db, int rc, std::string_view doing) {
  const char* path = db ? sqlite3_db_filename(db, "main") : nullptr;
  std::string where = path && *path ? std::string(" (") + path + ")" : std::string();
  std::string detail = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  std::string message = std::string(doing) + where + ": " + detail;
  switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return Status::busy(std::string(doing) + where +
                          ": the database is locked by another process; try again when it has "
                          "finished");
    case SQLITE_READONLY:
      return Status::read_only(std::string(doing) + where +
                               ": the database is read-only (check the permissions of the file "
                               "and its directory)");
    case SQLITE_NOTADB:
      return Status::not_iotreg_database(std::string(doing) + where +
                                         ": the file is not an iotreg database");
    case SQLITE_CORRUPT:
      return Status::corruption(message);
    case SQLITE_INTERRUPT:
      return Status::unavailable(std::string(doing) + where +
                                 ": interrupted (the server is stopping)");
    case SQLITE_FULL:
    case SQLITE_NOMEM:
      return Status::unavailable(std::string(doing) + where +
                                 ": the disk is full or memory ran out; nothing was changed");
    case SQLITE_CANTOPEN:
    case SQLITE_IOERR:
    case SQLITE_PERM:
      return Status::io_error(message);
    case SQLITE_CONSTRAINT:
      return Status::corruption(message);
    default:
      return Status::internal(message);
  }
}

Result<bool> Statement::step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return status_from(db_, rc, "database query failed");
}

Status Statement::run() {
  auto stepped = step();
  reset();
  if (!stepped.is_ok()) return stepped.status();
  return Status::ok();
}

std::string Statement::text(int column) const { return std::string(text_view(column)); }

std::string_view Statement::blob_view(int column) const {
  const auto* data = sqlite3_column_blob(stmt_, column);
  if (!data) return {};
  return {static_cast<const char*>(data),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

std::string_view Statement::text_view(int column) const {
  const auto* data = sqlite3_column_text(stmt_, column);
  if (!data) return {};
  return {reinterpret_cast<const char*>(data),
          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column))};
}

Result<std::unique_ptr<Database>> Database::open(const std::string& path, bool read_only,
                                                 std::size_t page_cache_bytes, bool shared_map) {
  // Process-wide, before SQLite initialises: no memory statistics, whose global mutex every
  // allocation would otherwise take; then the shared map's VFS, before the first connection.
  static const bool can_share_map = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return install_shared_map_vfs().is_ok();
  }();
  sqlite3* db = nullptr;
  int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  flags |= SQLITE_OPEN_NOMUTEX;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Status status = status_from(db, rc, "cannot open database " + path);
    sqlite3_close(db);
    return status;
  }
  std::unique_ptr<Database> database(new Database(db, path));
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms());
  // Every per-connection setting lives here; journal_mode persists in the file once set. The
  // page cache is private to the connection (a negative cache_size counts KiB). A memory map
  // only through the shared map: SQLite's own maps the file once per connection, and every
  // mapping of a page counts in the process's resident memory again (64 connections mapping a
  // 170 MB registry showed 10.9 GB).
  const std::size_t cache_kib = std::max<std::size_t>(page_cache_bytes >> 10, 256);
  std::string pragmas =
      "PRAGMA foreign_keys = ON;"
      "PRAGMA synchronous = NORMAL;"
      "PRAGMA temp_store = MEMORY;"
      "PRAGMA cache_size = -" +
      std::to_string(cache_kib) +
      ";"
      "PRAGMA journal_size_limit = 67108864;";
  if (shared_map && can_share_map) {
    pragmas += "PRAGMA mmap_size = " + std::to_string(kSharedMapBytes) + ";";
  }
  if (auto status = database->exec(pragmas); !status.is_ok()) return status;
  if (!read_only && sqlite3_db_readonly(db, "main") == 1) {
    return Status::read_only("cannot open database " + path +
                             " for writing: the file is read-only (check its permissions and "
                             "those of its directory)");
  }
  return database;
}

Database::~Database() {
  for (auto& [sql, statements] : idle_statements_) {
    for (sqlite3_stmt* stmt : statements) sqlite3_finalize(stmt);
  }
  sqlite3_close_v2(db_);
}

void Statement::release() {
  if (!stmt_) return;
  if (owner_) {
    owner_->give_back(stmt_);
  } else {
    sqlite3_finalize(stmt_);
  }
  stmt_ = nullptr;
}

void Database::give_back(sqlite3_stmt* stmt) {
  constexpr std::size_t kMaxTexts = 256;
  constexpr std::size_t kMaxPerText = 4;
  sqlite3_reset(stmt);
  sqlite3_clear_bindings(stmt);
  const char* sql = sqlite3_sql(stmt);
  auto found =
      sql == nullptr ? idle_statements_.end() : idle_statements_.find(std::string_view(sql));
  if (found == idle_statements_.end()) {
    if (sql == nullptr || idle_statements_.size() >= kMaxTexts) {
      sqlite3_finalize(stmt);
      return;
    }
    found = idle_statements_.emplace(sql, std::vector<sqlite3_stmt*>()).first;
  }
  auto& idle = found->second;
  if (idle.size() >= kMaxPerText) {
    sqlite3_finalize(stmt);
    return;
  }
  idle.push_back(stmt);
}

Status Database::exec(std::string_view sql) {
  std::string text(sql);
  char* error = nullptr;
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error);
  sqlite3_free(error);
  if (rc != SQLITE_OK) return status_from(db_, rc, "database statement failed");
  return Status::ok();
}

Status Database::run(std::string_view sql) {
  auto statement = prepare(sql);
  if (!statement.is_ok()) return statement.status();
  return statement->run();
}

Result<Statement> Database::prepare(std::string_view sql) {
  if (auto idle = idle_statements_.find(sql);
      idle != idle_statements_.end() && !idle->second.empty()) {
    sqlite3_stmt* reused = idle->second.back();
    idle->second.pop_back();
    return Statement(this, db_, reused);
  }
  sqlite3_stmt* stmt = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return status_from(db_, rc, "cannot prepare a database query");
  return Statement(this, db_, stmt);
}

Result<std::int64_t> Database::query_int(std::string_view sql) {
  auto statement = prepare(sql);
  if (!statement.is_ok()) return statement.status();
  auto row = statement->step();
  if (!row.is_ok()) return row.status();
  if (!row.value()) return Status::internal("query returned no row: " + std::string(sql));
  return statement->int64(0);
}

Transaction::~Transaction() {
  if (!open_) return;
  if (nested_) {
    db_.exec("ROLLBACK TO iotreg_nested");
    db_.exec("RELEASE iotreg_nested");
  } else {
    db_.exec("ROLLBACK");
  }
}

Status Transaction::begin() {
  if (db_.in_read_snapshot_) {
    return Status::internal("a write was begun inside a read snapshot, which writes nothing");
  }
  nested_ = sqlite3_get_autocommit(db_.handle()) == 0;
  auto status = db_.exec(nested_ ? "SAVEPOINT iotreg_nested" : "BEGIN IMMEDIATE");
  if (status.is_ok()) open_ = true;
  return status;
}

Status Transaction::commit() {
  auto status = db_.exec(nested_ ? "RELEASE iotreg_nested" : "COMMIT");
  if (status.is_ok()) open_ = false;
  return status;
}

}  // namespace iotreg::storage::sqlite
