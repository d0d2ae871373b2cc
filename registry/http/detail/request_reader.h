// RequestReader: an incremental, strict reader of one HTTP/1.1 request at a time (RFC 9112), fed
// whatever bytes the network delivers. Private to registry/http.
//
// The server reads requests on one event loop without a thread per connection, so its parser
// must take bytes as they come and never block; and the framing must be strict, because a
// message that two parties could frame differently is a request-smuggling vector. Poco's
// parser blocks on a stream, folds obs-fold lines and keeps conflicting Content-Length fields,
// so requests are read here instead; replies are still written with the server's own code.
//
// Refused (and the connection then closed): obs-fold, whitespace before a field's colon,
// control characters, more than one Content-Length or Host, Content-Length together with
// Transfer-Encoding, a transfer coding other than chunked, a missing Host in HTTP/1.1, any
// request target but a path (origin-form), HTTP versions other than 1.0 and 1.1. A value type;
// not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iotreg::http {

// Bytes of a request fit for a message: printable ASCII kept, every other byte as \xNN, at most
// `at_most` bytes, then "..." when cut.
std::string printable_request_text(std::string_view text, std::size_t at_most = 40);

struct RequestLimits {
  std::size_t max_target = 16 * 1024;  // 414 beyond
  std::size_t max_fields = 100;        // 431 beyond
  std::size_t max_name = 256;          // 431 beyond
  std::size_t max_value = 8 * 1024;    // 431 beyond
};

// A request's head as read: the request line and the fields that matter to framing.
struct RequestHead {
  std::string method;
  std::string target;  // origin-form, as sent: "/path?query"
  int minor_version = 1;
  std::vector<std::pair<std::string, std::string>> fields;  // names in lower case, values trimmed
  std::optional<std::uint64_t> content_length;
  bool chunked = false;
  bool keep_alive = true;  // what the client asked for (version and Connection)
  bool expect_continue = false;

  // The value of the first field named `lower_case_name`, if any.
  const std::string* find(std::string_view lower_case_name) const;
  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
};

// Why a request was refused: the HTTP status to answer and what to tell the client.
struct RequestError {
  int status = 400;
  std::string message;
};

class RequestReader {
 public:
  enum class State {
    kHead,      // reading the head; started() tells whether any byte of it arrived
    kHeadRead,  // the head is complete: call begin_body() to read the body
    kBody,      // reading the body
    kComplete,  // the request is complete: head() and body() hold it
    kFailed,    // the request is refused: error() says why
  };

  explicit RequestReader(RequestLimits limits = {}) : limits_(limits) {}

  // Consumes the bytes of `input` that belong to the current request and returns how many; the
  // rest (a pipelined next request) is left to the caller. Consumes nothing in kHeadRead,
  // kComplete or kFailed.
  std::size_t feed(std::string_view input);
  // Starts reading the body, allowing at most `limit` bytes of content (413 beyond). Call in
  // kHeadRead; a request without a body is then complete at once.
  void begin_body(std::size_t limit);
  // Forgets the request, ready for the next one on the same connection.
  void reset();

  State state() const { return state_; }
  bool started() const { return started_; }
  const RequestHead& head() const { return head_; }
  std::string& body() { return body_; }
  const RequestError& error() const { return error_; }

 private:
  std::size_t feed_head(std::string_view input);
  std::size_t feed_body(std::string_view input);
  std::size_t feed_chunked(std::string_view input);
  void parse_head();
  void fail(int status, std::string message);
  bool append_body(std::string_view bytes);

  enum class Chunk { kSize, kData, kDataEnd, kTrailer };

  RequestLimits limits_;
  State state_ = State::kHead;
  bool started_ = false;
  std::string head_bytes_;
  std::size_t scanned_ = 0;  // of head_bytes_, already searched for the end of the head
  RequestHead head_;
  std::string body_;
  std::size_t body_limit_ = 0;
  std::uint64_t remaining_ = 0;  // of a Content-Length body, or of the current chunk
  Chunk chunk_ = Chunk::kSize;
  std::string line_;  // a chunk-size or trailer line being read
  std::size_t trailer_bytes_ = 0;
  RequestError error_;
};

}  // namespace iotreg::http
