// Who am I, the loaded checks, re-checks and API tokens.
#include <charconv>

#include "registry/core/clock.h"
#include "registry/http/detail/api.h"
#include "registry/ingest/ingest.h"

namespace iotreg::http {

Reply get_me(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  const access::Principal& principal = *context.principal();
  return Reply::json(200, {{"token_id", principal.token_id},
                           {"role", access::role_name(principal.role)},
                           {"manufacturer", principal.manufacturer_name.empty()
                                                ? Json(nullptr)
                                                : Json(principal.manufacturer_name)},
                           {"actor", context.actor()}});
}

Reply list_checks(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  const std::shared_ptr<const checks::Evaluator> current = context.server().evaluator.get();
  const checks::Evaluator& evaluator = *current;
  // The checks as the provenance of every verdict records them, each named by `id`.
  const Json provenance = Json::parse(evaluator.provenance_json());
  Json items = Json::array();
  for (const auto& check : provenance["checks"]) {
    Json item = {{"id", check["check"]}};
    for (const auto& [name, value] : check.items()) {
      if (name != "check") item[name] = value;
    }
    items.push_back(std::move(item));
  }
  const policy::Policy& policy = evaluator.policy();
  return Reply::json(200, {{"items", std::move(items)},
                           {"next_cursor", nullptr},
                           {"policy",
                            {{"id", policy.id},
                             {"title", policy.title},
                             {"regime", policy::regime_name(policy.regime)},
                             {"sha256", policy.sha256}}},
                           {"as_of", evaluator.as_of()}});
}

Reply run_checks(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  IOTREG_HTTP_TRY_ASSIGN(
      body, parse_json_object(context.request(), {{"all", Json::value_t::boolean},
                                                  {"dry_run", Json::value_t::boolean}}));
  // A member, when given, is true or false: a null taken for false would run a real re-check
  // where a dry run was meant.
  for (const char* name : {"all", "dry_run"}) {
    if (body.contains(name) && body[name].is_null()) {
      return Reply::error(400, "field '" + std::string(name) + "' must be true or false");
    }
  }
  ingest::RecheckOptions options;
  if (body.value("all", false)) options.scope = storage::RecheckScope::kAll;
  const bool dry_run = body.value("dry_run", false);
  // Officers may preview a re-check's impact; only an admin applies one.
  if (!dry_run && context.principal()->role != access::Role::kAdmin) {
    return Reply::error(403, "an officer token may only preview a re-check ({\"dry_run\": true})");
  }
  options.actor = context.actor();
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  // A preview runs the re-check itself and undoes it, so it waits for other writers too.
  std::unique_lock writer(context.server().write_mutex, std::defer_lock);
  if (!writer.try_lock_for(kWriterWait)) return busy_reply();
  std::unique_ptr<storage::Preview> preview;
  if (dry_run) {
    auto begun = storage.value()->begin_preview();
    if (!begun.is_ok()) return Reply::from_status(begun.status());
    preview = std::move(begun).value();
  }
  const std::shared_ptr<const checks::Evaluator> evaluator = context.server().evaluator.get();
  evaluator->begin_run();
  auto report = ingest::recheck(*storage.value(), *evaluator, options);
  if (!report.is_ok()) return Reply::from_status(report.status());
  return Reply::json(200, views::recheck_report_json(report.value(), dry_run));
}

Reply list_tokens(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters,
                         QueryParameters::parse(context.request(), {"limit", "cursor"}));
  IOTREG_HTTP_TRY_ASSIGN(page, parse_page(parameters, "tokens"));
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto tokens = storage.value()->tokens();
  if (!tokens.is_ok()) return Reply::from_status(tokens.status());
  Json items = Json::array();
  for (const auto& token : tokens.value()) {
    if (token.id <= page.after_id) continue;
    items.push_back(views::token_json(token));
    if (items.size() > page.limit) break;
  }
  std::int64_t last_id =
      items.size() > page.limit ? items[page.limit - 1]["id"].get<std::int64_t>() : 0;
  return Reply::json(200, page_json(std::move(items), page.limit, "tokens", last_id));
}

Reply create_token(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  IOTREG_HTTP_TRY_ASSIGN(
      body, parse_json_object(context.request(), {{"role", Json::value_t::string},
                                                  {"name", Json::value_t::string},
                                                  {"manufacturer", Json::value_t::string},
                                                  {"expires", Json::value_t::string}}));
  auto text = [&](const char* name) {
    return body.contains(name) && body[name].is_string() ? body[name].get<std::string>()
                                                         : std::string();
  };
  access::TokenRequest request{text("role"), text("name"), text("manufacturer"), text("expires")};
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto issued = access::issue_token(*storage.value(), request, context.actor(), local_date());
  if (!issued.is_ok()) return Reply::from_status(issued.status());
  Json out = views::token_json(issued->record);
  out["token"] = issued->token;
  return Reply::json(201, out);
}

Reply revoke_token(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  const std::int64_t id = context.ids()[0];
  auto revoked = storage.value()->revoke_token(id, context.actor());
  if (revoked.code() == Status::Code::kInvalidArgument) return Reply::error(409, revoked.message());
  if (!revoked.is_ok()) return Reply::from_status(revoked);
  auto tokens = storage.value()->tokens();
  if (!tokens.is_ok()) return Reply::from_status(tokens.status());
  for (const auto& token : tokens.value()) {
    if (token.id == id) return Reply::json(200, views::token_json(token));
  }
  return Reply::error(404, "no token with id " + std::to_string(id));
}

}  // namespace iotreg::http
