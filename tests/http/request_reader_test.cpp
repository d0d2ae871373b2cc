// The request reader on its own: strict framing (RFC 9112), limits, chunked bodies and bytes
// arriving in any pieces.
#include "registry/http/detail/request_reader.h"

#include <doctest/doctest.h>

#include <string>

namespace iotreg::http {
namespace {

using State = RequestReader::State;

// Feeds `bytes` in pieces of `piece` bytes; the body, when the head is read, may be `limit`
// bytes. Returns how many bytes were consumed.
std::size_t read(RequestReader& reader, const std::string& bytes, std::size_t piece = 1 << 20,
                 std::size_t limit = 1 << 20) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::size_t used = reader.feed(std::string_view(bytes).substr(at, piece));
    at += used;
    if (reader.state() == State::kHeadRead) {
      reader.begin_body(limit);
      continue;
    }
    if (reader.state() == State::kComplete || reader.state() == State::kFailed) break;
    if (used == 0) break;
  }
  if (reader.state() == State::kHeadRead) reader.begin_body(limit);
  return at;
}

RequestError refusal(const std::string& bytes) {
  RequestReader reader;
  read(reader, bytes);
  REQUIRE(reader.state() == State::kFailed);
  return reader.error();
}

TEST_SUITE("request_reader") {
  TEST_CASE("request reader: a request read whole or a byte at a time is the same") {
    const std::string request =
        "POST /api/v1/declarations?dry_run=true HTTP/1.1\r\nHost: registry\r\n"
        "Content-Type: text/csv\r\nContent-Length: 11\r\nX-Empty:\r\n\r\nhello world";
    for (std::size_t piece : {std::size_t{1}, std::size_t{7}, request.size()}) {
      RequestReader reader;
      CHECK(read(reader, request, piece) == request.size());
      REQUIRE(reader.state() == State::kComplete);
      CHECK(reader.head().method == "POST");
      CHECK(reader.head().target == "/api/v1/declarations?dry_run=true");
      CHECK(reader.head().minor_version == 1);
      CHECK(*reader.head().find("content-type") == "text/csv");
      CHECK(*reader.head().find("x-empty") == "");
      CHECK(reader.head().keep_alive);
      CHECK(reader.body() == "hello world");
    }
  }

  TEST_CASE("request reader: chunked bodies, with extensions and trailers, in any pieces") {
    const std::string request =
        "POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5;name=value\r\nhello\r\n1\r\n \r\nB\r\nchunked one\r\n0\r\nTrailer: t\r\n\r\n"
        "GET /next HTTP/1.1\r\nHost: h\r\n\r\n";
    for (std::size_t piece : {std::size_t{1}, std::size_t{3}, request.size()}) {
      RequestReader reader;
      const std::size_t used = read(reader, request, piece);
      REQUIRE(reader.state() == State::kComplete);
      CHECK(reader.body() == "hello chunked one");
      // The pipelined request after it is left for the next read.
      CHECK(request.substr(used) == "GET /next HTTP/1.1\r\nHost: h\r\n\r\n");
      reader.reset();
      read(reader, request.substr(used), piece);
      REQUIRE(reader.state() == State::kComplete);
      CHECK(reader.head().target == "/next");
      CHECK(reader.body().empty());
    }
  }

  TEST_CASE("request reader: framing that two parties could read differently is refused") {
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n")
              .message == "the request has more than one Content-Length field (5, 6)");
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n").status == 400);
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n")
              .message == "the request has both Content-Length and Transfer-Encoding");
    CHECK(refusal("GET / HTTP/1.1\r\nAccept: */*\r\n\r\n").message ==
          "an HTTP/1.1 request must have a Host field");
    CHECK(refusal("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n").message ==
          "the request has more than one Host field");
    CHECK(refusal("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n two\r\n\r\n").message ==
          "a header field continued on the next line (obs-fold) is not allowed: ' two'");
    CHECK(refusal("GET / HTTP/1.1\r\nHost: h\r\nX-A: one\r\n\ttwo\r\n\r\n").status == 400);
    CHECK(refusal("GET http://registry/api/v1/me HTTP/1.1\r\nHost: registry\r\n\r\n").message ==
          "the request target must be a path: absolute-form targets ('http://registry/api/v1/me') "
          "are for proxies, which this server is not");
    CHECK(refusal("CONNECT registry:443 HTTP/1.1\r\nHost: registry\r\n\r\n").status == 400);
    CHECK(refusal("GET / HTTP/1.1\r\nHost : h\r\n\r\n").message ==
          "malformed header field name 'Host ' (no whitespace is allowed before the colon)");
    CHECK(
        refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n").message ==
        "unsupported transfer coding 'gzip' (only chunked is accepted)");
    CHECK(
        refusal("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n").message ==
        "chunked must be the final transfer coding of a request");
    CHECK(refusal("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n").message ==
          "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    CHECK(refusal("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n").message ==
          "Content-Length must be a whole number of bytes, not '-1'");
    CHECK(refusal("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\x01"
                  "b\r\n\r\n")
              .message == "header field X-A contains a control character");
    CHECK(refusal(std::string("GET / HTTP/1.1\r\nHost: h\r\nX-A: a\0b\r\n\r\n", 37)).status == 400);
    CHECK(refusal("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n").message ==
          "malformed HTTP request: a carriage return inside a line");
    CHECK(refusal("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n").status == 400);
    CHECK(refusal("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n").message ==
          "the request target contains a character that must be percent-encoded: '/\\xc3\\xa9'");
    CHECK(refusal("GET / HTTP/2.0\r\nHost: h\r\n\r\n").message ==
          "unsupported HTTP version 'HTTP/2.0' (this server speaks HTTP/1.1 and HTTP/1.0)");
    CHECK(refusal("\x16\x03\x01garbage\r\n\r\n").status == 400);
  }

  TEST_CASE("request reader: malformed chunked bodies are refused") {
    const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK(refusal(head + "zz\r\n").message == "malformed chunked body: bad chunk size 'zz'");
    CHECK(refusal(head + "5\r\nhelloX\r\n").message ==
          "malformed chunked body: a chunk's data is not followed by CRLF");
    CHECK(refusal(head + "1234567890abcdef0\r\n").status == 400);
    CHECK(refusal(head + std::string(2000, '1')).message ==
          "malformed chunked body: a chunk-size line is too long");
    CHECK(refusal(head + "0\r\n" + std::string(9000, 'x')).message ==
          "malformed chunked body: the trailer is too long");
  }

  TEST_CASE("request reader: limits answer 413, 414 and 431") {
    RequestReader small;
    read(small, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\nhello world", 1 << 20, 10);
    REQUIRE(small.state() == State::kFailed);
    CHECK(small.error().status == 413);
    CHECK(small.error().message == "the body is larger than 10 bytes");
    RequestReader chunked;
    read(chunked,
         "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nhello \r\n5\r\n",
         1 << 20, 10);
    REQUIRE(chunked.state() == State::kFailed);
    CHECK(chunked.error().status == 413);

    CHECK(refusal("GET /" + std::string(20000, 'p') + " HTTP/1.1\r\nHost: h\r\n\r\n").status ==
          414);
    CHECK(refusal("GET /" + std::string(70000, 'p')).status == 414);  // no end of line yet
    std::string many = "GET / HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 100; ++i) many += "X-" + std::to_string(i) + ": v\r\n";
    CHECK(refusal(many + "\r\n").message ==
          "the request header is too large (more than 100 fields)");
    CHECK(
        refusal("GET / HTTP/1.1\r\nHost: h\r\nX: " + std::string(9000, 'v') + "\r\n\r\n").status ==
        431);
    CHECK(refusal("GET / HTTP/1.1\r\nHost: h\r\n" + std::string(300, 'n') + ": v\r\n\r\n").status ==
          431);
    std::string endless = "GET / HTTP/1.1\r\nHost: h\r\n";
    while (endless.size() < 70000) endless += "X-Field: " + std::string(100, 'v') + "\r\n";
    CHECK(refusal(endless).message == "the request header is too large (at most 64 KiB)");
  }

  TEST_CASE("request reader: keep-alive, Expect and empty lines before a request") {
    RequestReader reader;
    read(reader, "\r\n\r\nGET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    REQUIRE(reader.state() == State::kComplete);
    CHECK(reader.head().minor_version == 0);
    CHECK(reader.head().keep_alive);
    reader.reset();
    read(reader, "GET / HTTP/1.0\r\n\r\n");
    CHECK_FALSE(reader.head().keep_alive);
    reader.reset();
    read(reader, "GET / HTTP/1.1\nHost: h\nConnection: Close\n\n");  // bare LF line ends
    REQUIRE(reader.state() == State::kComplete);
    CHECK_FALSE(reader.head().keep_alive);
    reader.reset();
    CHECK(reader.feed("\r\n") == 2);
    CHECK_FALSE(reader.started());
    reader.feed("POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
    REQUIRE(reader.state() == State::kHeadRead);
    CHECK(reader.started());
    CHECK(reader.head().expect_continue);
    reader.begin_body(10);
    CHECK(reader.state() == State::kBody);
    CHECK(reader.feed("abcdef") == 3);
    CHECK(reader.state() == State::kComplete);
  }
}

}  // namespace
}  // namespace iotreg::http
