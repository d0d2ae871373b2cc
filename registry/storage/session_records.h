// What every storage backend writes alike for a write session, so that none repeats another:
// the audit events' details (JSON objects), the action that names a flag update, and the change
// summary a session keeps. Pure functions of what the rules decided; they decide nothing.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "registry/enforcement/enforcement.h"
#include "registry/storage/storage.h"

namespace iotreg::storage::records {

// An import run's audit details: its source, format and counts, and with an evaluation (id not
// 0) what the session changed.
std::string import_details(const ImportRunInfo& info, const ImportCounts& counts,
                           std::int64_t evaluation_id, const ChangeSummary& changed);
// A re-check run's audit details.
std::string recheck_details(std::int64_t evaluation_id, const EvaluationInfo& evaluation,
                            std::uint64_t checked, std::uint64_t status_changes,
                            const ChangeSummary& changed);
// The audit action of an automatic flag update ("flag.withdrawn", "flag.remedied",
// "flag.remedy_lapsed"), counting it in `changed`.
std::string flag_update_action(enforcement::FlagState before,
                               const enforcement::Consequences::FlagUpdate& update,
                               ChangeSummary& changed);
// An automatic flag update's audit details.
std::string flag_update_details(enforcement::FlagState before,
                                const enforcement::Consequences::FlagUpdate& update,
                                std::int64_t product_id, std::int64_t version_id);
// An officer's flag transition's audit details.
std::string flag_transition_details(const FlagActionSession::Transition& transition);
// A token's creation's audit details.
std::string token_details(const TokenRecord& token);

// Queries both backends read alike (the tables are the same): a flag's columns as FlagRecord
// holds them (with its product's names and the version numbers raised and remedied), and a
// token's as TokenRecord holds them. Each is followed by the caller's WHERE clause.
inline constexpr const char* kFlagColumns =
    "SELECT f.id, f.product_id, f.state, f.raised_at, f.raised_by, v.version, f.raise_reason, "
    "f.updated_at, m.name, p.brand, p.model, coalesce(rv.version, 0), coalesce(f.notice, '') "
    "FROM flags f JOIN products p ON p.id = f.product_id "
    "JOIN manufacturers m ON m.id = p.manufacturer_id "
    "JOIN declaration_versions v ON v.id = f.raised_version_id "
    "LEFT JOIN declaration_versions rv ON rv.id = f.remedied_version_id "
    "AND f.state = 'confirmed' ";
inline constexpr const char* kTokenColumns =
    "SELECT id, token_hash, role, coalesce(manufacturer_key, ''), "
    "coalesce(manufacturer_name, ''), created_at, created_by, holder, coalesce(expires, ''), "
    "coalesce(revoked_at, '') FROM tokens ";

// The audit events of one product's trail (AuditQuery::product_id): the product's own, its
// flags' and those of the import runs that added its versions, gathered through the
// (subject_type, subject_id) index, never by reading the whole log. `product` is the parameter
// that holds the product's id ("?1", "$1"). Columns as AuditEvent holds them; the caller adds
// "AND ..." conditions and the order.
std::string product_trail_select(std::string_view product);

// An audit event as a write session records it; the backend assigns its id and chains it.
struct AuditRecord {
  std::string at;
  std::string actor;
  std::string action;
  std::string subject_type;
  std::int64_t subject_id = 0;
  std::string details_json;
};
// The event with id `id`, as the chain's rule (enforcement::audit_hash) reads it.
enforcement::AuditContent audit_content(std::int64_t id, const AuditRecord& event);

// A write session of type Session made with `args` and started (Session::start()), as the
// interface it implements; the failure of start() otherwise.
template <typename Interface, typename Session, typename... Args>
Result<std::unique_ptr<Interface>> start_session(Args&&... args) {
  auto session = std::make_unique<Session>(std::forward<Args>(args)...);
  IOTREG_TRY(session->start());
  return std::unique_ptr<Interface>(std::move(session));
}

// The product a change summary names; borrows the strings for the duration of a call.
struct ProductNames {
  std::string_view manufacturer;
  std::string_view brand;
  std::string_view model;
  std::int64_t version = 0;
};
// Counts a product whose status or flag `decided` changes, listing the first ones in full.
void note_changes(ChangeSummary& summary, const enforcement::Consequences& decided,
                  std::int64_t product_id, const ProductNames& product, const std::string& at,
                  const std::string& cause);

// An unregistered lookup's brand and model as its entry is matched: model::identity_key of each.
struct LookupKeys {
  std::string brand;
  std::string model;
};
// Storage::record_unregistered_lookups apart from the SQL, inside the caller's transaction.
// `merge` adds a lookup's counts and times to its stored entry and says whether there was one;
// `add` stores a new entry. `stored` entries exist now; once there are `max_entries`, no more
// are added and the lookups they would have counted are returned.
Result<std::uint64_t> record_unregistered(
    std::span<const UnregisteredLookup> lookups, std::size_t stored, std::size_t max_entries,
    const std::function<Result<bool>(const UnregisteredLookup&, const LookupKeys&)>& merge,
    const std::function<Status(const UnregisteredLookup&, const LookupKeys&)>& add);

}  // namespace iotreg::storage::records
