// How replies go on the wire: the status line and the header fields every reply carries, and
// the complete error replies that the connection loop sends itself. Private to registry/http;
// stateless functions, thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "registry/http/detail/api.h"

namespace iotreg::http {

// The status line and header fields of `reply`, ending with the empty line: Content-Length, or
// chunked transfer coding when `content_length` is nullopt; Connection; X-Request-Id; Date; the
// security headers every reply carries; and the reply's own headers.
std::string reply_head(const Reply& reply, std::string_view request_id, bool keep_alive,
                       std::optional<std::size_t> content_length);

// A complete JSON error reply (the error envelope with its request id) that closes the
// connection; `retry_after_seconds` > 0 adds Retry-After.
std::string error_reply(int status, std::string_view message, std::string_view request_id,
                        int retry_after_seconds = 0);

// Conditional GET (RFC 9110 13): a GET or HEAD answered 200 with a whole body gets a strong ETag
// (a hash of the body, so equal bodies have equal tags, on every server of the same build),
// Last-Modified when its handler set Reply::last_modified, and, unless its handler set one,
// Cache-Control: `public, max-age=public_max_age` for the public pages and labels (a CDN may keep
// them that long), `private, no-cache` for everything else (a browser revalidates each time).
// The reply becomes 304 without a body when the request's If-None-Match names the tag (or is
// `*`), or, without If-None-Match, when its If-Modified-Since is a valid past date no earlier
// than Last-Modified.
void add_validators(const Request& request, std::chrono::seconds public_max_age, Reply& reply);

// Adds "request_id" to the error envelope of a JSON error reply's body; other bodies are left
// as they are.
void add_request_id(Reply& reply, std::string_view request_id);

}  // namespace iotreg::http
