#include "registry/storage/session_records.h"

#include "registry/model/declaration.h"

namespace iotreg::storage::records {
namespace {

// Appends a JSON member "name":"value" to an object being built (after its opening brace).
void append_member(std::string& out, std::string_view name, std::string_view value) {
  if (out.back() != '{') out += ',';
  model::append_json_string(out, name);
  out += ':';
  model::append_json_string(out, value);
}

void append_number(std::string& out, std::string_view name, std::int64_t value) {
  if (out.back() != '{') out += ',';
  model::append_json_string(out, name);
  out += ':' + std::to_string(value);
}

void append_optional(std::string& out, std::string_view name, const std::string& value) {
  if (value.empty()) {
    if (out.back() != '{') out += ',';
    model::append_json_string(out, name);
    out += ":null";
  } else {
    append_member(out, name, value);
  }
}

void append_summary(std::string& out, const ChangeSummary& changed) {
  append_number(out, "flags_raised", static_cast<std::int64_t>(changed.flags_raised));
  append_number(out, "flags_withdrawn", static_cast<std::int64_t>(changed.flags_withdrawn));
  append_number(out, "flags_remedied", static_cast<std::int64_t>(changed.flags_remedied));
}

}  // namespace

enforcement::AuditContent audit_content(std::int64_t id, const AuditRecord& event) {
  return {id,
          event.at,
          event.actor,
          event.action,
          event.subject_type,
          event.subject_id,
          event.details_json};
}

std::string import_details(const ImportRunInfo& info, const ImportCounts& counts,
                           std::int64_t evaluation_id, const ChangeSummary& changed) {
  std::string out = "{";
  append_member(out, "source", info.source);
  append_member(out, "format", info.format);
  append_number(out, "records_read", static_cast<std::int64_t>(counts.records_read));
  append_number(out, "accepted", static_cast<std::int64_t>(counts.accepted));
  append_number(out, "rejected", static_cast<std::int64_t>(counts.rejected));
  append_number(out, "new_products", static_cast<std::int64_t>(counts.new_products));
  append_number(out, "new_versions", static_cast<std::int64_t>(counts.new_versions));
  append_number(out, "unchanged", static_cast<std::int64_t>(counts.unchanged));
  if (!counts.file_error.empty()) append_member(out, "file_error", counts.file_error);
  if (evaluation_id != 0) {
    append_number(out, "evaluation_id", evaluation_id);
    append_summary(out, changed);
    append_number(out, "products_changed", static_cast<std::int64_t>(changed.products_changed));
  }
  return out + "}";
}

std::string recheck_details(std::int64_t evaluation_id, const EvaluationInfo& evaluation,
                            std::uint64_t checked, std::uint64_t status_changes,
                            const ChangeSummary& changed) {
  std::string out = "{";
  append_number(out, "evaluation_id", evaluation_id);
  append_member(out, "policy", evaluation.policy_id);
  append_member(out, "as_of", evaluation.as_of);
  append_number(out, "checked", static_cast<std::int64_t>(checked));
  append_number(out, "status_changes", static_cast<std::int64_t>(status_changes));
  append_summary(out, changed);
  return out + "}";
}

std::string flag_update_action(enforcement::FlagState before,
                               const enforcement::Consequences::FlagUpdate& update,
                               ChangeSummary& changed) {
  if (update.state != before) {
    ++changed.flags_withdrawn;
    return "flag." + std::string(enforcement::flag_state_name(update.state));
  }
  if (update.remedied_version_id != 0) {
    ++changed.flags_remedied;
    return "flag.remedied";
  }
  return "flag.remedy_lapsed";
}

std::string flag_update_details(enforcement::FlagState before,
                                const enforcement::Consequences::FlagUpdate& update,
                                std::int64_t product_id, std::int64_t version_id) {
  std::string out = "{";
  append_member(out, "from", enforcement::flag_state_name(before));
  append_member(out, "to", enforcement::flag_state_name(update.state));
  append_member(out, "reason", update.reason);
  append_number(out, "product_id", product_id);
  append_number(out, "version_id", version_id);
  return out + "}";
}

std::string flag_transition_details(const FlagActionSession::Transition& transition) {
  std::string out = "{";
  append_member(out, "from", enforcement::flag_state_name(transition.from));
  append_member(out, "to", enforcement::flag_state_name(transition.to));
  append_member(out, "reason", transition.reason);
  if (!transition.notice.empty()) append_member(out, "notice", transition.notice);
  append_number(out, "product_id", transition.product_id);
  return out + "}";
}

std::string token_details(const TokenRecord& token) {
  std::string out = "{";
  append_member(out, "role", token.role);
  append_member(out, "holder", token.holder);
  append_optional(out, "manufacturer", token.manufacturer_name);
  append_optional(out, "expires", token.expires);
  return out + "}";
}

void note_changes(ChangeSummary& summary, const enforcement::Consequences& decided,
                  std::int64_t product_id, const ProductNames& product, const std::string& at,
                  const std::string& cause) {
  if (decided.changes.empty()) return;
  ++summary.products_changed;
  if (summary.first.size() >= ChangeSummary::kListed) return;
  ChangeRecord listed;
  listed.manufacturer = product.manufacturer;
  listed.brand = product.brand;
  listed.model = product.model;
  listed.version = product.version;
  listed.product_id = product_id;
  const auto& first = decided.changes.front();
  listed.kind = first.kind == enforcement::Change::Kind::kStatus ? "status" : "flag";
  listed.from = first.from;
  listed.to = first.to;
  listed.at = at;
  listed.cause = cause;
  summary.first.push_back(std::move(listed));
}

std::string product_trail_select(std::string_view product) {
  const std::string id(product);
  return "WITH RECURSIVE chain(version_id) AS ("
         "  SELECT latest_version_id FROM products WHERE id = " +
         id +
         "  UNION ALL SELECT v.previous_id FROM declaration_versions v"
         "  JOIN chain ON v.id = chain.version_id WHERE v.previous_id IS NOT NULL),"
         " runs(run_id) AS (SELECT import_run_id FROM declaration_versions"
         "  WHERE id IN (SELECT version_id FROM chain)) "
         "SELECT id, at, actor, action, subject_type, subject_id, details FROM audit_events "
         "WHERE id IN (SELECT id FROM audit_events WHERE subject_type = 'product' "
         "AND subject_id = " +
         id +
         " UNION ALL SELECT id FROM audit_events WHERE subject_type = 'flag' AND subject_id IN "
         "(SELECT id FROM flags WHERE product_id = " +
         id +
         ") UNION ALL SELECT id FROM audit_events "
         "WHERE subject_type = 'import_run' AND subject_id IN (SELECT run_id FROM runs)) ";
}

Result<std::uint64_t> record_unregistered(
    std::span<const UnregisteredLookup> lookups, std::size_t stored, std::size_t max_entries,
    const std::function<Result<bool>(const UnregisteredLookup&, const LookupKeys&)>& merge,
    const std::function<Status(const UnregisteredLookup&, const LookupKeys&)>& add) {
  std::uint64_t left_out = 0;
  for (const UnregisteredLookup& lookup : lookups) {
    const LookupKeys keys{model::identity_key(lookup.brand), model::identity_key(lookup.model)};
    auto merged = merge(lookup, keys);
    if (!merged.is_ok()) return merged.status();
    if (merged.value()) continue;
    if (stored >= max_entries) {
      left_out += lookup.lookups;
      continue;
    }
    IOTREG_TRY(add(lookup, keys));
    ++stored;
  }
  return left_out;
}

}  // namespace iotreg::storage::records
