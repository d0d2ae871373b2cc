#include "registry/access/session.h"

#include <ctime>

namespace iotreg::access {
namespace {

// A session's use is recorded when the last record is older than this.
constexpr std::chrono::seconds kTouchInterval{60};

std::string session_hash(std::string_view session_id) { return token_hash(session_id); }

}  // namespace

std::string iso_timestamp(WallClock::time_point at) {
  const std::time_t seconds = WallClock::to_time_t(at);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return text;
}

Result<OpenedSession> open_session(storage::Storage& storage, std::string_view token,
                                   std::string_view today, const SessionLifetime& lifetime,
                                   WallClock::time_point now) {
  auto principal = authenticate(storage, token, today);
  if (!principal.is_ok()) return principal.status();
  auto id = random_hex(32);
  if (!id.is_ok()) return id.status();
  OpenedSession opened{std::move(id).value(), iso_timestamp(now + lifetime.absolute),
                       std::move(principal).value()};
  storage::SessionRecord record;
  record.session_hash = session_hash(opened.id);
  record.token_id = opened.principal.token_id;
  record.created_at = iso_timestamp(now);
  record.last_seen_at = record.created_at;
  record.expires_at = opened.expires_at;
  IOTREG_TRY(storage.create_session(record));
  return opened;
}

Result<Principal> session_principal(storage::Storage& storage, std::string_view session_id,
                                    std::string_view today, const SessionLifetime& lifetime,
                                    WallClock::time_point now) {
  const Status refused = Status::not_found("the session has ended or expired; sign in again");
  // Session ids are 64 hex digits; anything else was never issued.
  if (session_id.size() != 64 ||
      session_id.find_first_not_of("0123456789abcdef") != std::string_view::npos) {
    return refused;
  }
  const std::string hash = session_hash(session_id);
  auto found = storage.find_session(hash);
  if (!found.is_ok()) return found.status();
  if (!found.value()) return refused;
  const storage::SessionRecord& session = **found;
  const std::string at = iso_timestamp(now);
  if (session.expires_at <= at || session.last_seen_at < iso_timestamp(now - lifetime.idle)) {
    auto deleted = storage.delete_session(hash);
    if (!deleted.is_ok()) return deleted.status();
    return refused;
  }
  auto principal = authenticate_hash(storage, session.token_hash, today);
  if (!principal.is_ok()) {
    if (principal.status().code() == Status::Code::kNotFound) return refused;
    return principal.status();
  }
  // A registry busy with a writer still serves reads: the use is then recorded next time.
  if (session.last_seen_at < iso_timestamp(now - kTouchInterval)) {
    Status touched = storage.touch_session(hash, at);
    if (!touched.is_ok() && touched.code() != Status::Code::kBusy) return touched;
  }
  return principal;
}

Result<bool> close_session(storage::Storage& storage, std::string_view session_id) {
  return storage.delete_session(session_hash(session_id));
}

}  // namespace iotreg::access
