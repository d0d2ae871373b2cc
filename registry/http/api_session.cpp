// Signing in and out of the web UI: a token is exchanged for a session whose id travels in an
// HttpOnly, SameSite=Strict cookie that page scripts cannot read (access/session.h).
#include "registry/access/session.h"
#include "registry/core/clock.h"
#include "registry/http/detail/api.h"

namespace iotreg::http {
namespace {

// The Set-Cookie value that gives the browser `value` for `max_age_seconds` (0: deletes it).
std::string session_cookie(const ServerState& server, std::string_view value,
                           std::int64_t max_age_seconds) {
  std::string cookie =
      std::string(access::kSessionCookie) + "=" + std::string(value) +
      "; Path=/; HttpOnly; SameSite=Strict; Max-Age=" + std::to_string(max_age_seconds);
  if (server.options.secure_cookies) cookie += "; Secure";
  return cookie;
}

}  // namespace

Reply create_session(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  IOTREG_HTTP_TRY_ASSIGN(body,
                         parse_json_object(context.request(), {{"token", Json::value_t::string}}));
  std::string token;
  constexpr std::string_view kScheme = "Bearer ";
  const std::string& authorization = context.request().authorization;
  if (body.contains("token") && body["token"].is_string()) {
    token = body["token"].get<std::string>();
  } else if (authorization.size() > kScheme.size() &&
             authorization.compare(0, kScheme.size(), kScheme) == 0) {
    token = authorization.substr(kScheme.size());
  }
  if (token.empty()) {
    return Reply::error(400,
                        "sign in with a token: {\"token\": \"...\"} or Authorization: Bearer ...");
  }
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  const access::SessionLifetime& lifetime = context.server().options.session_lifetime;
  auto opened = access::open_session(*storage.value(), token, local_date(), lifetime,
                                     access::WallClock::now());
  if (!opened.is_ok()) {
    if (opened.status().code() != Status::Code::kNotFound) {
      return Reply::from_status(opened.status());
    }
    Reply reply = Reply::error(401, opened.status().message());
    reply.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"iotreg\"");
    return reply;
  }
  context.set_principal(opened->principal);
  const access::Principal& principal = opened->principal;
  Reply reply = Reply::json(
      201,
      {{"role", access::role_name(principal.role)},
       {"actor", context.actor()},
       {"manufacturer",
        principal.manufacturer_name.empty() ? Json(nullptr) : Json(principal.manufacturer_name)},
       {"expires_at", opened->expires_at},
       {"idle_timeout_seconds", static_cast<std::int64_t>(lifetime.idle.count())}});
  reply.headers.emplace_back(
      "Set-Cookie", session_cookie(context.server(), opened->id, lifetime.absolute.count()));
  reply.headers.emplace_back("Cache-Control", "no-store");
  return reply;
}

Reply delete_session(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  if (!context.request().body.empty()) {
    return Reply::error(400, "DELETE /api/v1/session takes no body");
  }
  bool ended = false;
  if (!context.request().session_id.empty()) {
    auto storage = context.storage();
    if (!storage.is_ok()) return Reply::from_status(storage.status());
    auto closed = access::close_session(*storage.value(), context.request().session_id);
    if (!closed.is_ok()) return Reply::from_status(closed.status());
    ended = closed.value();
  }
  Reply reply = Reply::json(200, {{"ended", ended}});
  reply.headers.emplace_back("Set-Cookie", session_cookie(context.server(), "", 0));
  return reply;
}

}  // namespace iotreg::http
