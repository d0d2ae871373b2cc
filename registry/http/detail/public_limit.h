// How the server applies the per-client rate limit (RateLimiter) to the public endpoints: which
// requests it covers, whose bucket a request takes from, and the 429 reply. Private to
// registry/http; stateless functions, thread-safe.
//
// Every request whose decoded path is under /public/ takes a token of its client, unless it
// carries an officer's or an admin's credentials: requests without credentials are judged on the
// network thread before they take a worker (ConnectionLoop's screen), requests with them on a
// worker once the credentials are known (a made-up token buys nothing). The officers' API, the
// web UI and /healthz are not limited.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "registry/http/detail/api.h"
#include "registry/http/detail/client_address.h"
#include "registry/http/detail/request_reader.h"

namespace iotreg::http {

// Whether the path of a request target, decoded, is under /public/.
bool is_public_target(std::string_view target);

// Whether the request head carries credentials: an Authorization field or a session cookie.
bool carries_credentials(const RequestHead& head);

// The key of the client a request comes from: `peer`, or its X-Forwarded-For when `peer` is a
// trusted proxy (TrustedProxies::client_of).
ClientKey request_client(const RequestHead& head, const std::string& peer,
                         const TrustedProxies& proxies);

// 429 with Retry-After (whole seconds, at least 1), Cache-Control: no-store, and the error
// envelope saying the limit.
Reply too_many_requests(const ServerOptions& options, std::chrono::seconds retry_after);

}  // namespace iotreg::http
