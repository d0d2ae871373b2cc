// Views: the JSON and CSV shapes in which the registry shows products, findings, flags, audit
// events, tokens and import reports. The CLI (`--json`, `--csv`) and the HTTP API build their
// replies here and only here, so both speak the same shapes (DESIGN.md §5 and §6).
//
// Functions are pure and thread-safe. A FindingsPrinter borrows its Storage, caches provenance
// per evaluation, and is used by one thread at a time.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "importers/importer.h"
#include "registry/ingest/ingest.h"
#include "registry/storage/storage.h"

namespace iotreg::views {

using Json = nlohmann::ordered_json;

// Serialises for output: invalid UTF-8 (never stored, but never trusted) becomes U+FFFD.
std::string dump(const Json& value, int indent = -1);

// A JSON object as storage gives it back (a declaration from storage::payload_to_json, an audit
// event's details: compact text written by this program), held in a tree as it is: dump()
// copies it into the output unchanged, where parsing it into a tree to write it out again was
// a fifth of the work of a product lookup. The pretty form (indent >= 0) parses it first. To
// anything else that reads the tree it is a binary value, so it is only for parts that are written
// out whole. Text that is not valid UTF-8 or not an object is parsed as before: null unless it is
// JSON.
Json stored_object(const std::string& text);
// As stored_object, for a stored declaration's text as storage::payload_to_json writes it: JSON
// by construction, so only its strings' UTF-8 is checked (the full syntax check was a twentieth
// of a product lookup).
Json declaration_object(const std::string& text);

// An object built member by member, in order, with room for `room` of them from the start.
// Growing an ordered_json object copies every member it already holds, however deep (its keys
// are const, so std::vector cannot move them), as does building one from an initializer list:
// objects with large members are built with this. Keys are not checked for duplicates.
class ObjectBuilder {
 public:
  explicit ObjectBuilder(std::size_t room) { members().reserve(room); }
  ObjectBuilder& add(std::string key, Json value) {
    members().emplace_back(std::move(key), std::move(value));
    return *this;
  }
  Json take() { return std::move(object_); }  // the last call: nothing may be added after it

 private:
  Json::object_t& members() { return object_.get_ref<Json::object_t&>(); }
  Json object_ = Json::object();
};

// `value` with every stored text in it (stored_object, PrintedFindings::written) parsed into a
// tree, for code that reads what it holds rather than writing it out.
Json readable(const Json& value);
// `value` held as the compact text dump() writes for it, which dump() then copies as it is.
Json as_written(const Json& value);

// A product's findings as FindingsPrinter makes them.
struct PrintedFindings {
  // [{check, outcome, requirement, message, field, level}], empty when never checked, as compact
  // text that dump() copies as it is (as stored_object's); readable() gives the tree.
  Json written;
  Json failing;  // the ids of the checks that failed, in the order of the list
};

// {id, manufacturer, brand, model, type, status, flagged, flag_state, remedied, flag_id,
//  support_end, label_id, failing_checks (the failed checks' ids), findings, version_count,
//  created_at, updated_at (when the import run that added the latest version began),
//  last_declared (its UTC day, YYYY-MM-DD)}. `findings` is held as written text: read it
//  through readable().
// `room_for_more`: members the caller adds afterwards, made room for with the others.
Json product_json(const storage::ProductSummary& product, const PrintedFindings& findings,
                  std::size_t room_for_more = 0);
// product_json held as the compact text dump() would write for it (as stored_object's): for
// lists and exports, which only write products out. Written straight as text, without the tree
// (building, copying and freeing it was a sixth of a search).
Json written_product_json(const storage::ProductSummary& product, const PrintedFindings& findings);

// Printed findings by their stored form and evaluation: products share a few forms (each
// check's outcome and message), so a list or an export prints each form once. At most
// kMostEntries forms of at most kLargestForm bytes, printed in at most kMostBytes in all, are
// kept; beyond that it starts afresh. Thread-safe.
class FindingsMemo {
 public:
  static constexpr std::size_t kMostEntries = 4096;
  static constexpr std::size_t kLargestForm = 1024;
  static constexpr std::size_t kMostBytes = std::size_t{16} << 20;

  std::shared_ptr<const PrintedFindings> find(std::int64_t evaluation_id,
                                              std::string_view stored) const;
  void add(std::int64_t evaluation_id, std::string_view stored,
           std::shared_ptr<const PrintedFindings> printed);

 private:
  static std::string key_of(std::int64_t evaluation_id, std::string_view stored);

  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<const PrintedFindings>> entries_;
  std::size_t bytes_ = 0;  // of the printed text kept
};

// An evaluation's provenance (policy, as-of, plugins, checks).
struct Provenance {
  Json written;  // as compact text that dump() copies as it is; readable() gives the tree
  Json parsed;
};

// Evaluation provenance parsed once per process: evaluations never change once stored; and the
// findings printed under them (FindingsMemo). Thread-safe; one per registry database.
class ProvenanceCache {
 public:
  std::shared_ptr<const Provenance> find(std::int64_t evaluation_id) const;
  std::shared_ptr<const Provenance> add(std::int64_t evaluation_id, Provenance provenance);
  FindingsMemo& findings() { return findings_; }

 private:
  mutable std::mutex mutex_;
  std::map<std::int64_t, std::shared_ptr<const Provenance>> entries_;
  FindingsMemo findings_;
};

// Turns a product's stored findings into JSON, with each check's requirement and level from
// the provenance of the evaluation that produced them (read once per evaluation, or once per
// process with a shared cache, which must outlive the printer).
class FindingsPrinter {
 public:
  explicit FindingsPrinter(storage::Storage& storage, ProvenanceCache* shared = nullptr)
      : storage_(storage), shared_(shared) {}
  // The product's findings, printed once for every product with the same stored findings.
  Result<std::shared_ptr<const PrintedFindings>> findings(const storage::ProductSummary& product);
  // The evaluation's provenance (policy, as-of, plugins), held as written text (read it through
  // readable()); null when never checked.
  Result<Json> provenance(std::int64_t evaluation_id);

 private:
  Result<std::shared_ptr<const Provenance>> provenance_of(std::int64_t evaluation_id);
  Result<PrintedFindings> print(const storage::ProductSummary& product);

  storage::Storage& storage_;
  ProvenanceCache* shared_;
  std::map<std::int64_t, std::shared_ptr<const Provenance>> provenance_;
  FindingsMemo own_findings_;  // without a shared cache
};

// One product with everything known about it: product_json plus checked_version, evaluation,
// flags (each with its history), declaration (the latest), versions and audit. kNotFound for an
// unknown id.
Result<Json> product_detail(storage::Storage& storage, std::int64_t product_id,
                            ProvenanceCache* shared = nullptr);

// {id, product_id, state, remedied, remedied_version, notice, manufacturer, brand, model,
//  version (the one that raised it), raised_at, raised_by, reason, updated_at,
//  history: [{state, at, actor, reason}]}
Json flag_json(const storage::FlagRecord& flag);
// {raised, withdrawn, confirmed, dismissed, lifted, remedied}: flags in each state; `remedied`
// counts the confirmed ones that are remedied.
Json flag_counts_json(const storage::FlagCounts& counts);
// {id?, product_id, manufacturer, brand, model, version, kind, from, to, at, cause,
//  flag_id and reason for flag changes}
Json change_json(const storage::ChangeRecord& change);
// {flags_raised, flags_withdrawn, flags_remedied, products_changed, changed: [the first
//  changes, change_json], changed_not_listed}
Json change_summary_json(const storage::ChangeSummary& summary);
// {id, at, actor, action, subject_type, subject_id, details}
Json audit_event_json(const storage::AuditEvent& event);
// A public lookup that found no product: {id, kind (gtin or brand_model), gtin (14 digits) or
// null, brand and model (as first looked up) or null, lookups, first_seen, last_seen}.
Json unregistered_lookup_json(const storage::UnregisteredLookup& entry);
// {id, role, holder, manufacturer, created_at, created_by, expires, revoked_at}; never the
// hash.
Json token_json(const storage::TokenRecord& token);

// {record, location, line?, sheet?, document?, array_index?, issues: [{field, reason, line?}]}
Json rejected_record_json(const importers::RejectedRecord& record);
// "complete" when every record was accepted and the input read to its end, "rejected" when none
// was accepted, "partial" otherwise.
std::string_view import_outcome(const ingest::FileResult& result);
// "declares the same product as line 3 (Acme Ltd / Acme X1); identical, it changed nothing".
std::string duplicate_warning(const ingest::DuplicateRecord& duplicate);
// {record, location, line?, first_location, first_line?, product, identical, warning}
Json duplicate_record_json(const ingest::DuplicateRecord& duplicate);
// {records, accepted, rejected, new_products, new_versions, unchanged}
Json import_counts_json(const storage::ImportCounts& counts);
// One file's import, the same for a dry run and the real one: {run_id (null when dry or
// nothing was stored), format, dry_run, counts, statuses, change_summary_json's members,
// file_error, rejected_not_listed}.
Json import_report_json(const ingest::FileResult& result, bool dry_run);

// {dry_run, run_id, policy, as_of, checked, status_changes, change_summary_json's members,
//  manufacturers: [{manufacturer, checked, status_changes, newly_flagged, unflagged}],
//  changes: [{id, manufacturer, brand, model, from, to, flagged_before, flagged, failed}]}
Json recheck_report_json(const ingest::RecheckReport& report, bool dry_run);

// The columns of a product export, defined once for every export format (CSV here, XLSX in
// xlsx_export.h) so that they cannot drift apart. A column's type says how a typed format
// writes its cells; every cell also has one text form, the CSV one.
enum class ExportCellType {
  kInteger,    // decimal digits
  kText,       // any text
  kBoolean,    // true or false
  kDate,       // YYYY-MM-DD
  kTimestamp,  // YYYY-MM-DDTHH:MM:SSZ, UTC
};
struct ExportColumn {
  std::string_view name;
  ExportCellType type;
  double width;  // characters, for formats that size columns
};
// id, manufacturer, brand, model, type, status, flagged, label_id, version_count, updated_at,
// flag_state, flag_id, remedied, support_end, failing_checks, class, last_declared: new columns are
// added at the end, so that scripts reading columns by position keep working.
std::span<const ExportColumn> product_export_columns();
// One product's cells in the order of product_export_columns(), each in its text form; an
// empty string is an absent value. failing_checks lists the failed checks' ids, separated by
// spaces.
std::vector<std::string> product_export_cells(const storage::ProductSummary& product,
                                              const PrintedFindings& findings);

// The CSV form of products (RFC 4180): a header line of the export columns, then one line per
// product. With a byte-order mark first, Excel reads the file as UTF-8.
std::string product_csv_header(bool byte_order_mark = false);
std::string product_csv_row(const storage::ProductSummary& product,
                            const PrintedFindings& findings);
// One CSV field, quoted when it holds a comma, quote, CR or LF.
std::string csv_field(std::string_view text);

}  // namespace iotreg::views
