// The prohibition workflow over HTTP: the flag queue, confirm and dismiss, and the audit log.
#include <charconv>

#include "registry/core/utf8.h"
#include "registry/http/detail/api.h"

namespace iotreg::http {
namespace {

constexpr std::string_view kFlagStates[] = {"raised", "confirmed", "dismissed", "lifted"};

Reply act_on_flag(Context& context, storage::FlagAction action) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  IOTREG_HTTP_TRY_ASSIGN(body,
                         parse_json_object(context.request(), {{"reason", Json::value_t::string}}));
  if (!body.contains("reason") || !body["reason"].is_string()) {
    return Reply::error(400, "the body must give a reason: {\"reason\": \"...\"}");
  }
  const std::string reason = body["reason"].get<std::string>();
  if (reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Reply::error(400, "reason must say why (it is recorded in the audit log)");
  }
  if (reason.size() > 4000) return Reply::error(400, "reason is longer than 4000 characters");
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  const std::int64_t id = context.ids()[0];
  auto acted = storage.value()->act_on_flag(id, action, context.actor(), reason);
  if (acted.code() == Status::Code::kInvalidArgument) return Reply::error(409, acted.message());
  if (!acted.is_ok()) return Reply::from_status(acted);
  auto flag = storage.value()->flag(id);
  if (!flag.is_ok()) return Reply::from_status(flag.status());
  return Reply::json(200, views::flag_json(flag.value()));
}

}  // namespace

Reply list_flags(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters,
                         QueryParameters::parse(context.request(), {"state", "limit", "cursor"}));
  IOTREG_HTTP_TRY_ASSIGN(page, parse_page(parameters, "flags"));
  storage::FlagQuery query;
  if (auto state = parameters.get("state")) {
    bool known = false;
    for (auto candidate : kFlagStates) known = known || candidate == *state;
    if (!known) return Reply::error(400, "state must be raised, confirmed, dismissed or lifted");
    query.state = *state;
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
  return Reply::json(200, page_json(std::move(items), page.limit, "flags", last_id));
}

Reply confirm_flag(Context& context) { return act_on_flag(context, storage::FlagAction::kConfirm); }

Reply dismiss_flag(Context& context) { return act_on_flag(context, storage::FlagAction::kDismiss); }

Reply list_audit(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(
      parameters,
      QueryParameters::parse(context.request(), {"product", "actor", "limit", "cursor"}));
  IOTREG_HTTP_TRY_ASSIGN(page, parse_page(parameters, "audit"));
  storage::AuditQuery query;
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
