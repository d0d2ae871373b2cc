// Status and Result<T>: expected failures as values.
//
// A Status is either ok or carries a code and a human-readable message that already names where
// and why (file, line, field). Result<T> holds a T or a non-ok Status. Both are plain values:
// copyable, movable, and safe to use from any thread.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace iotreg {

class Status {
 public:
  enum class Code {
    kOk,
    kInvalidArgument,    // bad usage or malformed input
    kNotFound,           // a named thing does not exist
    kConflict,           // the request does not fit the current state (e.g. a flag's)
    kIoError,            // a file could not be read or written
    kBusy,               // the database is locked by another process
    kUnavailable,        // the storage cannot take the work now (disk full, out of memory)
    kReadOnly,           // the database cannot be written
    kNotIotregDatabase,  // the file is not a registry, or one from a newer version
    kCorruption,         // stored data violates an invariant
    kInternal,           // a bug: an invariant of the program itself failed
  };

  Status() = default;
  static Status ok() { return Status(); }
  static Status invalid_argument(std::string message) {
    return Status(Code::kInvalidArgument, std::move(message));
  }
  static Status not_found(std::string message) {
    return Status(Code::kNotFound, std::move(message));
  }
  static Status conflict(std::string message) {
    return Status(Code::kConflict, std::move(message));
  }
  static Status io_error(std::string message) { return Status(Code::kIoError, std::move(message)); }
  static Status busy(std::string message) { return Status(Code::kBusy, std::move(message)); }
  static Status unavailable(std::string message) {
    return Status(Code::kUnavailable, std::move(message));
  }
  static Status read_only(std::string message) {
    return Status(Code::kReadOnly, std::move(message));
  }
  static Status not_iotreg_database(std::string message) {
    return Status(Code::kNotIotregDatabase, std::move(message));
  }
  static Status corruption(std::string message) {
    return Status(Code::kCorruption, std::move(message));
  }
  static Status internal(std::string message) {
    return Status(Code::kInternal, std::move(message));
  }

  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  Code code_ = Code::kOk;
  std::string message_;
};

// Holds either a value or a non-ok Status. Accessing the wrong alternative is a programming
// error and asserts.
template <typename T>
class Result {
 public:
  Result(T value) : state_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : state_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(state_).is_ok());
  }

  bool is_ok() const { return std::holds_alternative<T>(state_); }
  const Status& status() const {
    static const Status kOk;
    return is_ok() ? kOk : std::get<Status>(state_);
  }
  T& value() & { return std::get<T>(state_); }
  const T& value() const& { return std::get<T>(state_); }
  T&& value() && { return std::get<T>(std::move(state_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }

 private:
  std::variant<T, Status> state_;
};

}  // namespace iotreg

// Returns the Status of `expr` from the enclosing function when it is not ok.
#define IOTREG_TRY(expr)                                         \
  do {                                                           \
    if (auto _status = (expr); !_status.is_ok()) return _status; \
  } while (0)
