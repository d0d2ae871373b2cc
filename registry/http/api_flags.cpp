// The prohibition workflow over HTTP: the flag queue, confirm, dismiss and lift (one flag or
// several at once), and the audit log.
#include <charconv>

#include "importers/schema/compiled_schema.h"
#include "registry/actions/actions.h"
#include "registry/core/utf8.h"
#include "registry/http/detail/api.h"

namespace iotreg::http {
namespace {

// The answer to an officer's action: the flags as they are now, or why nothing was done (409
// naming the state that does not allow it, 404 for an unknown flag).
Reply act(Context& context, actions::FlagActionRequest request) {
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  request.actor = context.actor();
  if (auto acted = actions::act_on_flags(*storage.value(), request); !acted.is_ok()) {
    return Reply::from_status(acted);
  }
  Json items = Json::array();
  for (std::int64_t id : request.flag_ids) {
    auto flag = storage.value()->flag(id);
    if (!flag.is_ok()) return Reply::from_status(flag.status());
    items.push_back(views::flag_json(flag.value()));
  }
  return Reply::json(
      200, items.size() == 1 && context.ids().size() == 1 ? items[0] : Json{{"items", items}});
}

// The reason and, for confirm, the notice reference of an action's body.
std::variant<actions::FlagActionRequest, Reply> action_body(Context& context,
                                                            enforcement::OfficerAction action) {
  IOTREG_HTTP_TRY_ASSIGN(body,
                         parse_json_object(context.request(), {{"reason", Json::value_t::string},
                                                               {"notice", Json::value_t::string}}));
  if (!body.contains("reason") || !body["reason"].is_string()) {
    return Reply::error(400, "the body must give a reason: {\"reason\": \"...\"}");
  }
  actions::FlagActionRequest request;
  request.action = action;
  request.reason = body["reason"].get<std::string>();
  if (body.contains("notice") && body["notice"].is_string()) {
    request.notice = body["notice"].get<std::string>();
  }
  return request;
}

Reply act_on_one(Context& context, enforcement::OfficerAction action) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  IOTREG_HTTP_TRY_ASSIGN(request, action_body(context, action));
  request.flag_ids = {context.ids()[0]};
  return act(context, std::move(request));
}

}  // namespace

Reply list_flags(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(
      parameters, QueryParameters::parse(context.request(), {"state", "remedied", "manufacturer",
                                                             "sort", "limit", "cursor"}));
  storage::FlagQuery query;
  // Flags are raised in id order: the newest raised first is the ids descending. A cursor
  // belongs to one order.
  if (auto sort = parameters.get("sort")) {
    if (*sort != "raised_at" && *sort != "-raised_at") {
      return Reply::error(400,
                          "sort must be raised_at (oldest first) or -raised_at (newest first)");
    }
    query.newest_first = *sort == "-raised_at";
  }
  IOTREG_HTTP_TRY_ASSIGN(page, parse_page(parameters, query.newest_first ? "flags-" : "flags"));
  if (auto manufacturer = parameters.get("manufacturer")) {
    if (auto problem = text_problem(*manufacturer); !problem.empty()) {
      return Reply::error(400, "manufacturer " + problem);
    }
    query.manufacturer = *manufacturer;
  }
  if (auto state = parameters.get("state")) {
    query.state = enforcement::parse_flag_state(*state);
    if (!query.state) {
      return Reply::error(400, "state must be " + enforcement::flag_state_list());
    }
  }
  if (auto remedied = parameters.get("remedied")) {
    if (*remedied != "true" && *remedied != "false") {
      return Reply::error(400, "remedied must be true or false");
    }
    query.remedied = *remedied == "true";
  }
  query.only_manufacturer_key = context.only_manufacturer_key();
  query.after_id = page.after_id;
  query.limit = page.limit + 1;
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto flags = storage.value()->flags(query);
  if (!flags.is_ok()) return Reply::from_status(flags.status());
  Json items = Json::array();
  for (const auto& flag : flags.value()) items.push_back(views::flag_json(flag));
  std::int64_t last_id = flags->size() > page.limit ? flags.value()[page.limit - 1].id : 0;
  Json out =
      page_json(std::move(items), page.limit, query.newest_first ? "flags-" : "flags", last_id);
  // The first page counts every state's flags (within the token's scope), for the queues.
  if (!parameters.get("cursor")) {
    auto counts = storage.value()->flag_counts(query.only_manufacturer_key);
    if (!counts.is_ok()) return Reply::from_status(counts.status());
    out["counts"] = views::flag_counts_json(counts.value());
  }
  return Reply::json(200, out);
}

Reply confirm_flag(Context& context) {
  return act_on_one(context, enforcement::OfficerAction::kConfirm);
}

Reply dismiss_flag(Context& context) {
  return act_on_one(context, enforcement::OfficerAction::kDismiss);
}

Reply lift_flag(Context& context) { return act_on_one(context, enforcement::OfficerAction::kLift); }

Reply act_on_flags(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  IOTREG_HTTP_TRY_ASSIGN(body,
                         parse_json_object(context.request(), {{"action", Json::value_t::string},
                                                               {"ids", Json::value_t::array},
                                                               {"reason", Json::value_t::string},
                                                               {"notice", Json::value_t::string}}));
  std::optional<enforcement::OfficerAction> action;
  if (body.contains("action") && body["action"].is_string()) {
    for (auto candidate :
         {enforcement::OfficerAction::kConfirm, enforcement::OfficerAction::kDismiss,
          enforcement::OfficerAction::kLift}) {
      if (body["action"] == enforcement::action_name(candidate)) action = candidate;
    }
  }
  if (!action) return Reply::error(400, "action must be confirm, dismiss or lift");
  if (!body.contains("ids") || !body["ids"].is_array() || body["ids"].empty() ||
      body["ids"].size() > 500) {
    return Reply::error(400, "ids must list from 1 to 500 flag ids");
  }
  if (!body.contains("reason") || !body["reason"].is_string()) {
    return Reply::error(400, "the body must give a reason: {\"reason\": \"...\"}");
  }
  actions::FlagActionRequest request;
  request.action = *action;
  request.reason = body["reason"].get<std::string>();
  if (body.contains("notice") && body["notice"].is_string()) {
    request.notice = body["notice"].get<std::string>();
  }
  for (const auto& id : body["ids"]) {
    if (!id.is_number_integer() || id.get<std::int64_t>() <= 0) {
      return Reply::error(400, "ids must be flag ids (positive whole numbers)");
    }
    request.flag_ids.push_back(id.get<std::int64_t>());
  }
  return act(context, std::move(request));
}

Reply list_changes(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(
      parameters, QueryParameters::parse(context.request(),
                                         {"since", "since_run", "cause", "limit", "cursor"}));
  IOTREG_HTTP_TRY_ASSIGN(page, parse_page(parameters, "changes"));
  storage::ChangeQuery query;
  if (auto since = parameters.get("since")) {
    if (!importers::is_calendar_date(*since)) {
      return Reply::error(400, "since must be a date, YYYY-MM-DD");
    }
    query.since = *since;
  }
  if (auto run = parameters.get("since_run")) {
    std::int64_t id = 0;
    auto [next, error] = std::from_chars(run->data(), run->data() + run->size(), id);
    if (error != std::errc() || next != run->data() + run->size() || id <= 0) {
      return Reply::error(400, "since_run must be an import run id (a positive whole number)");
    }
    query.since_run = id;
  }
  if (auto cause = parameters.get("cause")) {
    if (auto problem = text_problem(*cause); !problem.empty()) {
      return Reply::error(400, "cause " + problem);
    }
    query.cause = *cause;
  }
  query.only_manufacturer_key = context.only_manufacturer_key();
  query.before_id = page.after_id;  // newest first: the cursor names the last id shown
  query.limit = page.limit + 1;
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto changes = storage.value()->changes(query);
  if (!changes.is_ok()) return Reply::from_status(changes.status());
  Json items = Json::array();
  for (const auto& change : changes.value()) items.push_back(views::change_json(change));
  std::int64_t last_id = changes->size() > page.limit ? changes.value()[page.limit - 1].id : 0;
  return Reply::json(200, page_json(std::move(items), page.limit, "changes", last_id));
}

Reply list_audit(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(
      parameters, QueryParameters::parse(context.request(), {"product", "actor", "since", "until",
                                                             "limit", "cursor"}));
  IOTREG_HTTP_TRY_ASSIGN(page, parse_page(parameters, "audit"));
  storage::AuditQuery query;
  for (auto [name, bound] : {std::pair{"since", &query.since}, std::pair{"until", &query.until}}) {
    if (auto day = parameters.get(name)) {
      if (!importers::is_calendar_date(*day)) {
        return Reply::error(400, std::string(name) + " must be a date, YYYY-MM-DD");
      }
      *bound = *day;
    }
  }
  if (query.since && query.until && *query.until < *query.since) {
    return Reply::error(400, "until must not be before since");
  }
  if (auto product = parameters.get("product")) {
    std::int64_t id = 0;
    auto [next, error] = std::from_chars(product->data(), product->data() + product->size(), id);
    if (error != std::errc() || next != product->data() + product->size() || id <= 0) {
      return Reply::error(400, "product must be a product id (a positive whole number)");
    }
    query.product_id = id;
  }
  if (auto actor = parameters.get("actor")) {
    if (auto problem = text_problem(*actor); !problem.empty()) {
      return Reply::error(400, "actor " + problem);
    }
    query.actor = *actor;
  }
  query.newest_first = true;  // the cursor names the last (oldest) event shown
  query.after_id = page.after_id;
  query.limit = page.limit + 1;
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto events = storage.value()->audit_events(query);
  if (!events.is_ok()) return Reply::from_status(events.status());
  Json items = Json::array();
  for (const auto& event : events.value()) items.push_back(views::audit_event_json(event));
  std::int64_t last_id = events->size() > page.limit ? events.value()[page.limit - 1].id : 0;
  return Reply::json(200, page_json(std::move(items), page.limit, "audit", last_id));
}

}  // namespace iotreg::http
