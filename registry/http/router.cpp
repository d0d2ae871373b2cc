// The route table, authentication and role checks, and what every handler shares: replies,
// query parameters, pagination cursors and JSON bodies.
#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>

#include <array>
#include <charconv>
#include <sstream>

#include "registry/access/session.h"
#include "registry/core/clock.h"
#include "registry/http/detail/api.h"

namespace iotreg::http {
namespace {

struct Route {
  std::string_view method;
  std::string_view pattern;  // segments; "{id}" matches a positive integer
  unsigned roles;
  Handler handler;
  // The reply depends only on the registry's state, the request and the manufacturer scope,
  // so it may be served from the ReplyCache.
  bool cacheable = false;
};

constexpr unsigned kAnyRole = kOfficer | kManufacturer | kAdmin;

// Built once, never changed. Order matters only for documentation; patterns do not overlap.
constexpr std::array kRoutes = {
    Route{"GET", "/healthz", kPublic, get_healthz},
    Route{"GET", "/metrics", kOfficer | kAdmin, get_metrics},
    Route{"GET", "/", kPublic, get_web_index},
    Route{"GET", "/assets/app.js", kPublic, get_web_asset},
    Route{"GET", "/assets/app.css", kPublic, get_web_asset},
    Route{"GET", "/public/products/{id}", kPublic, get_public_product},
    Route{"GET", "/public/products/{id}/label.svg", kPublic, get_public_label},
    Route{"GET", "/public/lookup", kPublic, get_public_lookup},
    Route{"GET", "/accessibility", kPublic, get_accessibility_statement},
    Route{"GET", "/api/v1/me", kAnyRole, get_me},
    Route{"POST", "/api/v1/session", kPublic, create_session},
    Route{"DELETE", "/api/v1/session", kAnyRole, delete_session},
    Route{"GET", "/api/v1/products", kAnyRole, list_products, true},
    Route{"GET", "/api/v1/products/{id}", kAnyRole, get_product, true},
    Route{"POST", "/api/v1/declarations", kManufacturer | kAdmin, post_declarations},
    Route{"GET", "/api/v1/flags", kAnyRole, list_flags, true},
    Route{"POST", "/api/v1/flags/{id}/confirm", kOfficer, confirm_flag},
    Route{"POST", "/api/v1/flags/{id}/dismiss", kOfficer, dismiss_flag},
    Route{"POST", "/api/v1/flags/{id}/lift", kOfficer, lift_flag},
    Route{"POST", "/api/v1/flags/actions", kOfficer, act_on_flags},
    Route{"GET", "/api/v1/changes", kAnyRole, list_changes, true},
    Route{"GET", "/api/v1/checks", kAnyRole, list_checks, true},
    Route{"POST", "/api/v1/checks/run", kOfficer | kAdmin, run_checks},
    Route{"GET", "/api/v1/export", kAnyRole, export_products},
    Route{"GET", "/api/v1/audit", kOfficer | kAdmin, list_audit, true},
    Route{"GET", "/api/v1/stats", kAnyRole, get_stats, true},
    // Not cacheable: the counts grow without a change of the registry's state.
    Route{"GET", "/api/v1/lookups/unregistered", kOfficer | kAdmin, list_unregistered_lookups},
    Route{"GET", "/api/v1/tokens", kAdmin, list_tokens},
    Route{"POST", "/api/v1/tokens", kAdmin, create_token},
    Route{"POST", "/api/v1/tokens/{id}/revoke", kAdmin, revoke_token},
};

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> segments;
  std::size_t start = 1;  // paths start with '/'
  while (start <= path.size()) {
    std::size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    segments.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return segments;
}

enum class Match { kNo, kYes, kBadId };

Match match(std::string_view pattern, const std::vector<std::string_view>& segments,
            std::vector<std::int64_t>& ids) {
  auto parts = split_path(pattern);
  if (parts.size() != segments.size()) return Match::kNo;
  std::vector<std::int64_t> found;
  bool bad_id = false;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "{id}") {
      std::int64_t id = 0;
      const auto* end = segments[i].data() + segments[i].size();
      auto [next, error] = std::from_chars(segments[i].data(), end, id);
      if (error != std::errc() || next != end || id <= 0 || segments[i].empty()) bad_id = true;
      found.push_back(id);
    } else if (parts[i] != segments[i]) {
      return Match::kNo;
    }
  }
  ids = std::move(found);
  return bad_id ? Match::kBadId : Match::kYes;
}

unsigned role_bit(access::Role role) {
  switch (role) {
    case access::Role::kOfficer:
      return kOfficer;
    case access::Role::kManufacturer:
      return kManufacturer;
    case access::Role::kAdmin:
      return kAdmin;
  }
  return 0;
}

Reply unauthorized(std::string_view message) {
  Reply reply = Reply::error(401, message);
  reply.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"iotreg\"");
  return reply;
}

// Authenticates a request without a bearer token by its session cookie. A browser sends the
// cookie with every request to this site, so a request that changes state must also carry
// X-Requested-With, which another site's page cannot send without a CORS preflight that this
// server never grants (SameSite=Strict keeps the cookie off cross-site requests as well).
std::optional<Reply> authenticate_session(Context& context, std::int64_t& state_version) {
  const Request& request = context.request();
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto version = storage.value()->state_version();
  if (!version.is_ok()) return Reply::from_status(version.status());
  state_version = version.value();
  // Sessions are not cached: a sign-out on any server must end them at once.
  auto principal = access::session_principal(*storage.value(), request.session_id, local_date(),
                                             context.server().options.session_lifetime,
                                             access::WallClock::now());
  if (!principal.is_ok()) {
    if (principal.status().code() == Status::Code::kNotFound) {
      return unauthorized(principal.status().message());
    }
    return Reply::from_status(principal.status());
  }
  if (request.method != "GET" && request.method != "HEAD" && !request.requested_with) {
    return Reply::error(403,
                        "a request signed in by the session cookie that is not a GET must carry "
                        "the header X-Requested-With (a protection against cross-site requests)");
  }
  context.set_principal(std::move(principal).value());
  return std::nullopt;
}

// Authenticates the bearer token of the request, or else its session cookie, and sets the
// context's principal; the reply that refuses it otherwise. `state_version` receives the
// registry's state version.
std::optional<Reply> authenticate_request(Context& context, std::int64_t& state_version) {
  const Request& request = context.request();
  constexpr std::string_view kScheme = "Bearer ";
  if (request.authorization.empty() && !request.session_id.empty()) {
    return authenticate_session(context, state_version);
  }
  if (request.authorization.empty()) {
    return unauthorized("this endpoint needs a bearer token (Authorization: Bearer ...)");
  }
  if (request.authorization.size() <= kScheme.size() ||
      request.authorization.compare(0, kScheme.size(), kScheme) != 0) {
    return unauthorized("the Authorization header must be 'Bearer <token>'");
  }
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto version = storage.value()->state_version();
  if (!version.is_ok()) return Reply::from_status(version.status());
  state_version = version.value();
  const std::string token(std::string_view(request.authorization).substr(kScheme.size()));
  // Tokens expire by the calendar, whatever as-of date the checks use.
  const std::string today = local_date();
  const std::string hash = access::token_hash(token);
  ReplyCache& cache = context.server().replies;
  Result<access::Principal> principal = Status::not_found("");
  if (auto known = cache.find_principal(state_version, hash, today)) {
    principal = std::move(*known);
  } else {
    principal = access::authenticate(*storage.value(), token, today);
    if (principal.is_ok()) cache.add_principal(state_version, hash, today, principal.value());
  }
  if (!principal.is_ok()) {
    if (principal.status().code() == Status::Code::kNotFound) {
      return unauthorized(principal.status().message());
    }
    return Reply::from_status(principal.status());
  }
  context.set_principal(std::move(principal).value());
  return std::nullopt;
}

}  // namespace

std::string_view error_code(int status) {
  switch (status) {
    case 400:
      return "bad_request";
    case 401:
      return "unauthorized";
    case 403:
      return "forbidden";
    case 404:
      return "not_found";
    case 405:
      return "method_not_allowed";
    case 408:
      return "request_timeout";
    case 409:
      return "conflict";
    case 413:
      return "payload_too_large";
    case 414:
      return "uri_too_long";
    case 415:
      return "unsupported_media_type";
    case 422:
      return "unprocessable";
    case 429:
      return "too_many_requests";
    case 431:
      return "header_too_large";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "internal" : "error";
  }
}

Reply Reply::json(int status, const Json& value) {
  Reply reply;
  reply.status = status;
  reply.body = views::dump(value);
  return reply;
}

Reply Reply::error(int status, std::string_view message) {
  return error(status, message, Json::object());
}

Reply Reply::error(int status, std::string_view message, Json extra) {
  Json error = {{"status", status}, {"code", error_code(status)}, {"message", message}};
  for (auto& [key, value] : extra.items()) error[key] = std::move(value);
  return json(status, {{"error", std::move(error)}});
}

Reply busy_reply() {
  Reply reply = Reply::error(503, "another import or re-check is running; try again later");
  reply.headers.emplace_back("Retry-After", "10");
  return reply;
}

Reply Reply::from_status(const Status& status) {
  Reply reply;
  switch (status.code()) {
    case Status::Code::kNotFound:
      return error(404, status.message());
    case Status::Code::kInvalidArgument:
      return error(400, status.message());
    case Status::Code::kConflict:
      return error(409, status.message());
    case Status::Code::kBusy:
      reply = error(503, "the registry is busy with another writer; try again later");
      reply.headers.emplace_back("Retry-After", "5");
      break;
    case Status::Code::kUnavailable:
      reply = error(503,
                    "the registry cannot take this request now (its storage is full or the "
                    "server is stopping); nothing was changed; try again later");
      reply.headers.emplace_back("Retry-After", "30");
      break;
    default:
      reply = error(500, "the server could not complete the request; it has been logged");
      break;
  }
  reply.log_detail = status.message();
  return reply;
}

Context::~Context() {
  if (storage_) server_.pool.release(std::move(storage_));
}

Result<storage::Storage*> Context::storage() {
  if (!storage_) {
    auto connection = server_.pool.acquire();
    if (!connection.is_ok()) return connection.status();
    storage_ = std::move(connection).value();
  }
  return storage_.get();
}

bool Context::is_manufacturer() const {
  return principal_ && principal_->role == access::Role::kManufacturer;
}

std::optional<std::string> Context::only_manufacturer_key() const {
  if (!is_manufacturer()) return std::nullopt;
  return principal_->manufacturer_key;
}

std::string Context::actor() const {
  if (!principal_) return "anonymous";
  return enforcement::token_actor(principal_->holder, access::role_name(principal_->role),
                                  principal_->token_id);
}

std::variant<QueryParameters, Reply> QueryParameters::parse(
    const Request& request, std::initializer_list<std::string_view> known) {
  QueryParameters parameters;
  for (const auto& [name, value] : request.query) {
    bool is_known = false;
    for (auto candidate : known) is_known = is_known || candidate == name;
    if (!is_known) {
      std::string list;
      for (auto candidate : known) list += (list.empty() ? "" : ", ") + std::string(candidate);
      return Reply::error(400, "unknown query parameter '" + name + "'" +
                                   (list.empty() ? std::string(" (this endpoint takes none)")
                                                 : " (known: " + list + ")"));
    }
    if (!parameters.values_.emplace(name, value).second) {
      return Reply::error(400, "query parameter '" + name + "' is given more than once");
    }
  }
  return parameters;
}

std::optional<std::string> QueryParameters::get(std::string_view name) const {
  auto found = values_.find(name);
  if (found == values_.end()) return std::nullopt;
  return found->second;
}

std::string make_cursor(std::string_view kind, std::int64_t last_id) {
  std::ostringstream out;
  Poco::Base64Encoder encoder(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
  encoder << kind << ':' << last_id;
  encoder.close();
  return out.str();
}

std::variant<Page, Reply> parse_page(const QueryParameters& parameters, std::string_view kind) {
  Page page;
  if (auto limit = parameters.get("limit")) {
    std::size_t value = 0;
    auto [next, error] = std::from_chars(limit->data(), limit->data() + limit->size(), value);
    if (error != std::errc() || next != limit->data() + limit->size() || value < 1 || value > 500) {
      return Reply::error(400, "limit must be a whole number from 1 to 500");
    }
    page.limit = value;
  }
  if (auto cursor = parameters.get("cursor")) {
    const Reply bad = Reply::error(400,
                                   "cursor: not a cursor of this list (pass next_cursor "
                                   "from the previous page unchanged)");
    if (cursor->empty() || cursor->size() > 64 ||
        cursor->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
                                  "-_") != std::string::npos) {
      return bad;
    }
    std::string decoded;
    try {
      std::istringstream in(*cursor);
      Poco::Base64Decoder decoder(in, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
      decoded.assign(std::istreambuf_iterator<char>(decoder), {});
    } catch (const std::exception&) {
      return bad;
    }
    std::string prefix = std::string(kind) + ":";
    if (decoded.compare(0, prefix.size(), prefix) != 0) return bad;
    std::string_view digits = std::string_view(decoded).substr(prefix.size());
    auto [next, error] =
        std::from_chars(digits.data(), digits.data() + digits.size(), page.after_id);
    if (error != std::errc() || next != digits.data() + digits.size() || page.after_id <= 0) {
      return bad;
    }
  }
  return page;
}

Json page_json(Json items, std::size_t limit, std::string_view kind, std::int64_t last_id) {
  Json cursor = nullptr;
  if (items.size() > limit) {
    items.erase(items.size() - 1);
    cursor = make_cursor(kind, last_id);
  }
  // Room for a third member: product lists add their facets.
  return views::ObjectBuilder(3)
      .add("items", std::move(items))
      .add("next_cursor", std::move(cursor))
      .take();
}

std::variant<Json, Reply> parse_json_object(
    const Request& request,
    std::initializer_list<std::pair<std::string_view, Json::value_t>> known) {
  if (request.body.find_first_not_of(" \t\r\n") == std::string::npos) return Json::object();
  if (request.content_type != "application/json") {
    return Reply::error(415, "the body must be JSON (Content-Type: application/json)");
  }
  Json body = Json::parse(request.body, nullptr, /*allow_exceptions=*/false);
  if (body.is_discarded()) return Reply::error(400, "the body is not valid JSON");
  if (!body.is_object()) return Reply::error(400, "the body must be a JSON object");
  for (const auto& [name, value] : body.items()) {
    bool found = false;
    for (const auto& [known_name, type] : known) {
      if (known_name != name) continue;
      found = true;
      bool matches = value.type() == type || value.is_null() ||
                     (type == Json::value_t::boolean && value.is_boolean());
      if (!matches) {
        return Reply::error(400, "field '" + name + "' has the wrong type (expected " +
                                     std::string(Json(type).type_name()) + ")");
      }
    }
    if (!found) return Reply::error(400, "unknown field '" + name + "' in the body");
  }
  return body;
}

bool may_send_declarations(Context& context) {
  std::int64_t state_version = -1;
  if (authenticate_request(context, state_version)) return false;
  const access::Role role = context.principal()->role;
  return role == access::Role::kManufacturer || role == access::Role::kAdmin;
}

bool sent_by_staff(Context& context) {
  std::int64_t state_version = -1;
  if (authenticate_request(context, state_version)) return false;
  const access::Role role = context.principal()->role;
  return role == access::Role::kOfficer || role == access::Role::kAdmin;
}

Reply dispatch(Context& context, std::string& route_name) {
  const Request& request = context.request();
  route_name = "unmatched";
  auto segments = split_path(request.path);
  const Route* route = nullptr;
  std::string allowed;
  for (const auto& candidate : kRoutes) {
    std::vector<std::int64_t> ids;
    Match matched = match(candidate.pattern, segments, ids);
    if (matched == Match::kNo) continue;
    // HEAD is answered as GET is, without the body (server.cpp). Allow names the documented
    // methods only (schemas/openapi.yaml), as it always has.
    const bool head_of_get = request.method == "HEAD" && candidate.method == "GET";
    if (candidate.method != request.method && !head_of_get) {
      allowed += (allowed.empty() ? "" : ", ") + std::string(candidate.method);
      continue;
    }
    route_name = std::string(candidate.pattern);
    if (matched == Match::kBadId) {
      return Reply::error(404, "no such resource: ids are positive whole numbers");
    }
    route = &candidate;
    context.ids() = std::move(ids);
    break;
  }
  if (!route) {
    if (!allowed.empty()) {
      Reply reply =
          Reply::error(405, request.method + " is not allowed here (allowed: " + allowed + ")");
      reply.headers.emplace_back("Allow", allowed);
      return reply;
    }
    return Reply::error(404, "no such resource: " + request.path);
  }

  // A cacheable reply is read from one state of the registry, the one its state version names:
  // one read transaction from the token's check to the reply. (Checking a session writes.)
  std::unique_ptr<storage::ReadHold> held;
  if (route->cacheable && !request.authorization.empty()) {
    if (auto storage = context.storage(); storage.is_ok()) held = storage.value()->hold_reads();
  }
  std::int64_t state_version = -1;  // known once a token was checked
  if (!(route->roles & kPublic)) {
    if (auto refused = authenticate_request(context, state_version)) return std::move(*refused);
    if (!(route->roles & role_bit(context.principal()->role))) {
      return Reply::error(403, "a " + std::string(access::role_name(context.principal()->role)) +
                                   " token may not " + request.method + " " + request.path);
    }
  }
  if (!route->cacheable || state_version < 0) return route->handler(context);
  // The scope, then the path and each query part, each part prefixed by its length so that no
  // content can imitate another key.
  std::string key;
  auto append = [&key](std::string_view part) {
    key += std::to_string(part.size());
    key += ':';
    key += part;
  };
  // Replies may name the evaluation date, which moves at midnight without a change of state.
  append(context.server().evaluator.get()->as_of());
  auto scope = context.only_manufacturer_key();
  append(scope ? "manufacturer" : "all");
  if (scope) append(*scope);
  append(request.path);
  for (const auto& [name, value] : request.query) {
    append(name);
    append(value);
  }
  auto found = context.server().replies.find_or_start(state_version, key);
  if (auto* body = std::get_if<std::string>(&found)) {
    Reply reply;
    reply.body = std::move(*body);
    return reply;
  }
  // Waiting requests are released however this ends: finished, or abandoned by a throw.
  auto& computation = std::get<ReplyCache::Computation>(found);
  Reply reply = route->handler(context);
  computation.finish(reply.status == 200 && !reply.stream ? &reply.body : nullptr);
  return reply;
}

}  // namespace iotreg::http
