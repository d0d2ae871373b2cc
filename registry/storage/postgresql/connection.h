// RAII wrappers around libpq, private to the PostgreSQL storage backend.
//
// A Connection owns one PGconn; a QueryResult owns one PGresult; a Transaction rolls back on
// destruction unless committed. Parameters are sent as text, or as binary for bytea (Param::
// bytes), never spliced into SQL. Errors become Status: the message names what was being done
// and PostgreSQL's own words; SQLSTATE classes map to codes (a lock not granted in time: kBusy;
// a cancelled statement, a full disk or a lost connection: kUnavailable; a unique violation:
// kConflict). Not thread-safe, except cancel(), which another thread may call while a
// statement runs.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"

namespace iotreg::storage::postgresql {

// One statement parameter: NULL, text (sent as is) or bytes (sent as binary bytea).
struct Param {
  enum class Kind { kNull, kText, kBytes };
  Kind kind = Kind::kNull;
  std::string value;

  static Param null() { return {}; }
  static Param text(std::string_view text) { return {Kind::kText, std::string(text)}; }
  static Param integer(std::int64_t value) { return {Kind::kText, std::to_string(value)}; }
  static Param bytes(std::string_view bytes) { return {Kind::kBytes, std::string(bytes)}; }
  // Text, or NULL when empty.
  static Param optional_text(std::string_view text) {
    return text.empty() ? null() : Param::text(text);
  }
  // The id, or NULL when 0.
  static Param optional_id(std::int64_t id) { return id == 0 ? null() : integer(id); }
};

// The rows a statement returned. Columns are read as text (bytea in PostgreSQL's hex form is
// decoded by bytes()).
class QueryResult {
 public:
  QueryResult() = default;
  explicit QueryResult(PGresult* result) : result_(result, &PQclear) {}

  int rows() const { return result_ ? PQntuples(result_.get()) : 0; }
  bool is_null(int row, int column) const { return PQgetisnull(result_.get(), row, column) != 0; }
  std::string_view text(int row, int column) const {
    return {PQgetvalue(result_.get(), row, column),
            static_cast<std::size_t>(PQgetlength(result_.get(), row, column))};
  }
  std::int64_t integer(int row, int column) const;  // 0 for NULL
  std::string bytes(int row, int column) const;     // a bytea column's bytes
  // The number of rows an INSERT, UPDATE or DELETE changed.
  std::int64_t affected() const;

 private:
  std::shared_ptr<PGresult> result_;
};

class Connection {
 public:
  // Connects to a libpq connection URI. `printable` names the registry in messages (without a
  // password).
  static Result<std::unique_ptr<Connection>> open(const std::string& uri,
                                                  const std::string& printable);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Runs one statement with parameters $1, $2, ...; `doing` says what for, in messages.
  Result<QueryResult> query(std::string_view doing, const std::string& sql,
                            const std::vector<Param>& params = {});
  // As query(), for a statement whose rows are not wanted.
  Status exec(std::string_view doing, const std::string& sql,
              const std::vector<Param>& params = {});
  // The first column of the first row as an integer (the query must return a row).
  Result<std::int64_t> query_integer(std::string_view doing, const std::string& sql,
                                     const std::vector<Param>& params = {});
  // Runs several statements without parameters (a migration).
  Status exec_script(std::string_view doing, const std::string& sql);

  // COPY ... FROM STDIN in text format: begin, send rows (each ending in '\n', fields separated
  // by tabs and escaped with copy_escape), then end, which reports the server's verdict.
  Status copy_begin(std::string_view doing, const std::string& sql);
  Status copy_send(std::string_view data);
  Status copy_end();

  // Makes the statement running on this connection fail soon (kUnavailable). Thread-safe.
  void cancel();

  const std::string& printable() const { return printable_; }
  // True while a transaction is open on the connection.
  bool in_transaction() const { return PQtransactionStatus(connection_) != PQTRANS_IDLE; }
  // A name for a new savepoint, unique on this connection.
  std::string next_savepoint() { return "iotreg_" + std::to_string(++savepoints_); }

 private:
  Connection(PGconn* connection, std::string printable);
  Status failure(std::string_view doing, const PGresult* result) const;

  PGconn* connection_;
  std::string printable_;
  std::string copy_doing_;
  std::uint64_t savepoints_ = 0;
  std::mutex cancel_mutex_;
  PGcancel* cancel_ = nullptr;
};

// Escapes a value for a COPY text-format field (backslash, tab, newline, carriage return).
void append_copy_field(std::string& out, std::string_view value);
// Appends bytes as a COPY text-format bytea field (\\x and hex digits).
void append_copy_bytes(std::string& out, std::string_view bytes);

// Rolls back on destruction unless committed. Inside a transaction already open on the
// connection (a preview's) it is a savepoint, released on commit and rolled back to otherwise.
class Transaction {
 public:
  explicit Transaction(Connection& connection) : connection_(connection) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status begin();
  Status commit();
  bool active() const { return active_; }

 private:
  Connection& connection_;
  bool active_ = false;
  std::string savepoint_;  // empty: a transaction of its own
};

}  // namespace iotreg::storage::postgresql
