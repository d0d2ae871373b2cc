// Web sessions: a browser signs in once with a token and then holds a random session id in an
// HttpOnly cookie instead of the token. The registry stores only the id's SHA-256 (a copy of the
// database does not reveal a session), so several servers on one PostgreSQL share sessions. A
// session stands for its token: a revoked or expired token ends it at once. Functions here are
// stateless and thread-safe; each uses the given Storage from the calling thread.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "registry/access/access.h"
#include "registry/core/status.h"
#include "registry/storage/storage.h"

namespace iotreg::access {

// The name of the cookie that holds the session id.
inline constexpr std::string_view kSessionCookie = "iotreg_session";

// How long a session lasts: it ends when unused for `idle`, and `absolute` after sign-in
// whatever its use.
struct SessionLifetime {
  std::chrono::seconds idle{std::chrono::minutes(30)};
  std::chrono::seconds absolute{std::chrono::hours(12)};
};

using WallClock = std::chrono::system_clock;

struct OpenedSession {
  std::string id;          // shown once, in the cookie; only its hash is stored
  std::string expires_at;  // the end of its absolute lifetime, UTC ISO 8601
  Principal principal;
};

// Signs in with `token` (as authenticate(); kNotFound for a token that is not valid on `today`)
// and stores a new session for it.
Result<OpenedSession> open_session(storage::Storage& storage, std::string_view token,
                                   std::string_view today, const SessionLifetime& lifetime,
                                   WallClock::time_point now);

// The principal of a session that exists, has not outlived either lifetime at `now` and whose
// token is still valid on `today`; kNotFound (one message) otherwise. Records its use (at most
// once a minute, so that reads rarely write).
Result<Principal> session_principal(storage::Storage& storage, std::string_view session_id,
                                    std::string_view today, const SessionLifetime& lifetime,
                                    WallClock::time_point now);

// Ends a session (sign-out); false when there was none.
Result<bool> close_session(storage::Storage& storage, std::string_view session_id);

// `at` in UTC, ISO 8601 to the second, as utc_timestamp() writes it.
std::string iso_timestamp(WallClock::time_point at);

}  // namespace iotreg::access
