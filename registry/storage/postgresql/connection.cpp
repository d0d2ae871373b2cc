#include "registry/storage/postgresql/connection.h"

#include <charconv>

namespace iotreg::storage::postgresql {
namespace {

// PostgreSQL's message without its trailing newline.
std::string server_words(const char* message) {
  std::string text = message ? message : "";
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

Status status_for(std::string_view sqlstate, std::string message) {
  const std::string_view kind = sqlstate.substr(0, 2);
  if (sqlstate == "55P03" || sqlstate == "40001" || sqlstate == "40P01") {
    return Status::busy(std::move(message));
  }
  if (sqlstate == "57014" || sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03" ||
      kind == "08" || kind == "53") {
    return Status::unavailable(std::move(message));
  }
  if (sqlstate == "23505") return Status::conflict(std::move(message));
  if (sqlstate == "25006" || sqlstate == "42501") return Status::read_only(std::move(message));
  return Status::internal(std::move(message));
}

}  // namespace

std::int64_t QueryResult::integer(int row, int column) const {
  if (is_null(row, column)) return 0;
  const std::string_view value = text(row, column);
  std::int64_t number = 0;
  std::from_chars(value.data(), value.data() + value.size(), number);
  return number;
}

std::string QueryResult::bytes(int row, int column) const {
  if (is_null(row, column)) return {};
  std::size_t length = 0;
  unsigned char* decoded = PQunescapeBytea(
      reinterpret_cast<const unsigned char*>(PQgetvalue(result_.get(), row, column)), &length);
  if (!decoded) return {};
  std::string out(reinterpret_cast<const char*>(decoded), length);
  PQfreemem(decoded);
  return out;
}

std::int64_t QueryResult::affected() const {
  const char* count = result_ ? PQcmdTuples(result_.get()) : "";
  std::int64_t number = 0;
  std::from_chars(count, count + std::char_traits<char>::length(count), number);
  return number;
}

Result<std::unique_ptr<Connection>> Connection::open(const std::string& uri,
                                                     const std::string& printable) {
  PGconn* connection = PQconnectdb(uri.c_str());
  if (!connection) {
    return Status::unavailable("cannot connect to registry " + printable + ": out of memory");
  }
  if (PQstatus(connection) != CONNECTION_OK) {
    std::string why = server_words(PQerrorMessage(connection));
    PQfinish(connection);
    return Status::unavailable("cannot connect to registry " + printable + ": " + why);
  }
  if (PQsetClientEncoding(connection, "UTF8") != 0) {
    PQfinish(connection);
    return Status::unavailable("registry " + printable + " cannot speak UTF-8");
  }
  return std::unique_ptr<Connection>(new Connection(connection, printable));
}

Connection::Connection(PGconn* connection, std::string printable)
    : connection_(connection), printable_(std::move(printable)), cancel_(PQgetCancel(connection)) {}

Connection::~Connection() {
  {
    std::lock_guard lock(cancel_mutex_);
    if (cancel_) PQfreeCancel(cancel_);
    cancel_ = nullptr;
  }
  PQfinish(connection_);
}

Status Connection::failure(std::string_view doing, const PGresult* result) const {
  const char* sqlstate = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
  std::string words = server_words(result ? PQresultErrorMessage(result) : nullptr);
  if (words.empty()) words = server_words(PQerrorMessage(connection_));
  std::string message = std::string(doing) + " in registry " + printable_ + ": " + words;
  if (PQstatus(connection_) == CONNECTION_BAD) return Status::unavailable(std::move(message));
  return status_for(sqlstate ? sqlstate : "", std::move(message));
}

Result<QueryResult> Connection::query(std::string_view doing, const std::string& sql,
                                      const std::vector<Param>& params) {
  std::vector<const char*> values(params.size());
  std::vector<int> lengths(params.size());
  std::vector<int> formats(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Param& param = params[i];
    values[i] = param.kind == Param::Kind::kNull ? nullptr : param.value.data();
    lengths[i] = static_cast<int>(param.value.size());
    formats[i] = param.kind == Param::Kind::kBytes ? 1 : 0;
  }
  PGresult* result = PQexecParams(connection_, sql.c_str(), static_cast<int>(params.size()),
                                  nullptr, values.data(), lengths.data(), formats.data(), 0);
  QueryResult owned(result);
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return failure(doing, result);
  return owned;
}

Status Connection::exec(std::string_view doing, const std::string& sql,
                        const std::vector<Param>& params) {
  auto result = query(doing, sql, params);
  return result.is_ok() ? Status::ok() : result.status();
}

Result<std::int64_t> Connection::query_integer(std::string_view doing, const std::string& sql,
                                               const std::vector<Param>& params) {
  auto result = query(doing, sql, params);
  if (!result.is_ok()) return result.status();
  if (result->rows() == 0) {
    return Status::internal(std::string(doing) + " in registry " + printable_ +
                            ": the query returned no row");
  }
  return result->integer(0, 0);
}

Status Connection::exec_script(std::string_view doing, const std::string& sql) {
  // PQexec runs the statements in order and stops at the first error, whose result it returns.
  PGresult* result = PQexec(connection_, sql.c_str());
  QueryResult owned(result);
  const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) return failure(doing, result);
  return Status::ok();
}

Status Connection::copy_begin(std::string_view doing, const std::string& sql) {
  copy_doing_ = doing;
  PGresult* result = PQexec(connection_, sql.c_str());
  QueryResult owned(result);
  if (!result || PQresultStatus(result) != PGRES_COPY_IN) return failure(doing, result);
  return Status::ok();
}

Status Connection::copy_send(std::string_view data) {
  if (PQputCopyData(connection_, data.data(), static_cast<int>(data.size())) != 1) {
    return failure(copy_doing_, nullptr);
  }
  return Status::ok();
}

Status Connection::copy_end() {
  if (PQputCopyEnd(connection_, nullptr) != 1) return failure(copy_doing_, nullptr);
  Status status = Status::ok();
  while (PGresult* result = PQgetResult(connection_)) {
    QueryResult owned(result);
    if (PQresultStatus(result) != PGRES_COMMAND_OK && status.is_ok()) {
      status = failure(copy_doing_, result);
    }
  }
  return status;
}

void Connection::cancel() {
  std::lock_guard lock(cancel_mutex_);
  if (!cancel_) return;
  char error[256];
  PQcancel(cancel_, error, sizeof error);
}

void append_copy_field(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

void append_copy_bytes(std::string& out, std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += "\\\\x";
  for (const char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    out += kHex[byte >> 4];
    out += kHex[byte & 0x0F];
  }
}

Transaction::~Transaction() {
  if (!active_) return;
  if (savepoint_.empty()) {
    static_cast<void>(connection_.exec("rolling back", "ROLLBACK"));
  } else {
    static_cast<void>(connection_.exec("rolling back", "ROLLBACK TO SAVEPOINT " + savepoint_));
    static_cast<void>(connection_.exec("rolling back", "RELEASE SAVEPOINT " + savepoint_));
  }
}

Status Transaction::begin() {
  if (connection_.in_transaction()) {
    savepoint_ = connection_.next_savepoint();
    IOTREG_TRY(connection_.exec("starting a savepoint", "SAVEPOINT " + savepoint_));
  } else {
    IOTREG_TRY(connection_.exec("starting a transaction", "BEGIN"));
  }
  active_ = true;
  return Status::ok();
}

Status Transaction::commit() {
  active_ = false;
  if (!savepoint_.empty()) {
    return connection_.exec("committing", "RELEASE SAVEPOINT " + savepoint_);
  }
  return connection_.exec("committing", "COMMIT");
}

}  // namespace iotreg::storage::postgresql
