// RAII wrappers around the SQLite C API, private to the SQLite storage backend.
//
// A Database owns one sqlite3 connection; a Statement owns one prepared statement and must be
// destroyed before its Database; a Transaction rolls back on destruction unless committed.
// None of them is thread-safe: one thread uses a connection at a time.
#pragma once

#include <sqlite3.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "registry/core/status.h"

namespace iotreg::storage::sqlite {

class Database;

// Maps an SQLite result code to a Status whose message names the operation and the database.
Status status_from(sqlite3* db, int rc, std::string_view doing);

// A prepared statement made by Database::prepare goes back to its Database when destroyed
// (reset, bindings cleared) to be reused by the next prepare() of the same SQL.
class Statement {
 public:
  Statement() = default;
  Statement(Database* owner, sqlite3* db, sqlite3_stmt* stmt)
      : owner_(owner), db_(db), stmt_(stmt) {}
  ~Statement() { release(); }
  Statement(Statement&& other) noexcept : owner_(other.owner_), db_(other.db_), stmt_(other.stmt_) {
    other.stmt_ = nullptr;
  }
  Statement& operator=(Statement&& other) noexcept {
    if (this != &other) {
      release();
      owner_ = other.owner_;
      db_ = other.db_;
      stmt_ = other.stmt_;
      other.stmt_ = nullptr;
    }
    return *this;
  }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based. Text is bound without a copy: it must stay alive until the
  // statement is stepped to completion or reset.
  Statement& bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_, index, value);
    return *this;
  }
  Statement& bind(int index, std::string_view text) {
    sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& bind_blob(int index, std::string_view bytes) {
    sqlite3_bind_blob(stmt_, index, bytes.data(), static_cast<int>(bytes.size()), SQLITE_STATIC);
    return *this;
  }
  Statement& bind_null(int index) {
    sqlite3_bind_null(stmt_, index);
    return *this;
  }
  // Binds a pointer that only an SQL function expecting `type` (a string literal) can see.
  Statement& bind_pointer(int index, void* pointer, const char* type) {
    sqlite3_bind_pointer(stmt_, index, pointer, type, nullptr);
    return *this;
  }

  // Advances: true with a row, false when done. Errors become a Status.
  Result<bool> step();
  // Steps a statement that returns no rows, then resets it.
  Status run();
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }

  std::int64_t int64(int column) const { return sqlite3_column_int64(stmt_, column); }
  bool is_null(int column) const { return sqlite3_column_type(stmt_, column) == SQLITE_NULL; }
  std::string text(int column) const;
  std::string_view text_view(int column) const;
  // Valid until the next step, reset or column access of this statement.
  std::string_view blob_view(int column) const;

 private:
  void release();
  Database* owner_ = nullptr;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  // Opens the file and applies every per-connection PRAGMA (the only place that does), with a
  // private page cache of at most `page_cache_bytes` (at least 256 KiB). With `shared_map`, the
  // connection reads the file's pages in place from the process's one map of it
  // (shared_map.h).
  static Result<std::unique_ptr<Database>> open(const std::string& path, bool read_only,
                                                std::size_t page_cache_bytes = 32u << 20,
                                                bool shared_map = false);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }
  Status exec(std::string_view sql);
  // Runs one statement that returns no rows, prepared once and kept for the next time: for
  // those run often (exec() prepares each anew).
  Status run(std::string_view sql);
  // A statement for `sql`: one given back earlier when there is one, else newly prepared.
  Result<Statement> prepare(std::string_view sql);
  std::int64_t last_insert_id() const { return sqlite3_last_insert_rowid(db_); }
  // Reads a single integer (e.g. a PRAGMA).
  Result<std::int64_t> query_int(std::string_view sql);

 private:
  friend class Statement;
  // Keeps a finished statement for reuse (resets it), or finalizes it when enough are kept.
  void give_back(sqlite3_stmt* stmt);

  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
  // Looked up by any text type, without making a string of it.
  struct TextHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view text) const {
      return std::hash<std::string_view>{}(text);
    }
  };
  std::unordered_map<std::string, std::vector<sqlite3_stmt*>, TextHash, std::equal_to<>>
      idle_statements_;
  friend class ReadSnapshot;
  friend class Transaction;
  bool in_read_snapshot_ = false;  // inside a ReadSnapshot's transaction
};

// A write transaction (BEGIN IMMEDIATE), rolled back when destroyed without commit(). Inside
// another transaction of the same connection (a preview) it is a savepoint instead, released
// on commit() and rolled back to when destroyed without it.
class Transaction {
 public:
  explicit Transaction(Database& db) : db_(db) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status begin();
  Status commit();

 private:
  Database& db_;
  bool open_ = false;
  bool nested_ = false;
};

// One read transaction over the statements run while it lives, so that they all see the same
// state of the registry (a deferred BEGIN: it takes no lock until the first read, and never
// the write lock). Inside a transaction already open it does nothing; when BEGIN fails, each
// statement reads on its own as without it. Its statements must be reset before it ends, and
// nothing may be written to the registry while it lives (a Transaction refuses to begin; the
// connection's own temporary tables may be).
class ReadSnapshot {
 public:
  explicit ReadSnapshot(Database& db)
      : db_(db),
        open_(sqlite3_get_autocommit(db.handle()) != 0 && db.run("BEGIN").is_ok()),
        of_committed_state_(open_ || db.in_read_snapshot_) {
    if (open_) db_.in_read_snapshot_ = true;
  }
  ~ReadSnapshot() {
    if (!open_) return;
    db_.in_read_snapshot_ = false;
    // A connection must never go back to its pool inside a transaction.
    if (!db_.run("COMMIT").is_ok()) db_.run("ROLLBACK");
  }
  ReadSnapshot(const ReadSnapshot&) = delete;
  ReadSnapshot& operator=(const ReadSnapshot&) = delete;

  // Whether its reads see one state of the registry as committed: it began a transaction of
  // its own, or lives inside another ReadSnapshot's (not inside a transaction that writes).
  bool of_committed_state() const { return of_committed_state_; }

 private:
  Database& db_;
  bool open_;
  bool of_committed_state_;
};

}  // namespace iotreg::storage::sqlite
