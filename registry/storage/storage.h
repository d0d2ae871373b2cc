// Storage: the registry's persistent state behind one interface (DESIGN.md §7).
//
// A Storage owns one connection to a backend, opened by open_storage from a location (an SQLite
// file is the embedded default). Declarations, products, manufacturers, import runs and audit
// events are only reached through this interface so that another backend can be added without
// touching importers, checks or the API. A Storage is used from one thread at a time; open one per
// thread. An ImportSession borrows its Storage and must be destroyed before it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"
#include "registry/enforcement/enforcement.h"
#include "registry/model/declaration.h"
#include "registry/storage/body_codec.h"
#include "registry/storage/registry_copy.h"

namespace iotreg::storage {

struct ImportRunInfo {
  std::string source;  // file name, or "-" for standard input
  std::string format;  // csv, jsonl, json, yaml
  std::string actor;   // who imports, e.g. "cli:alice"
};

struct ImportCounts {
  std::uint64_t records_read = 0;
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  std::uint64_t new_products = 0;
  std::uint64_t new_versions = 0;  // versions added to known products
  std::uint64_t unchanged = 0;     // identical to the product's latest version
  std::string file_error;          // why a file was refused or not read to its end, if so
};

enum class StoreOutcome { kNewProduct, kNewVersion, kUnchanged };

// What the checks concluded about one declaration, in stored form.
struct VerdictRecord {
  std::string status;    // excepted, non_compliant, check_error or compliant; empty: not checked
  std::string findings;  // in the checks' compact stored form
  std::string failed;    // the failed mandatory checks, e.g. "default-password, statement"
  // Every check that failed, mandatory or not, as stored for filters: " id id " (each id between
  // spaces), or empty when none failed. Made by failing_checks_column().
  std::string failing_checks;
};

// The stored form of VerdictRecord::failing_checks for these check ids.
std::string failing_checks_column(const std::vector<std::string>& check_ids);

// What judges declarations in a write session: stored once per distinct key.
// Which products a re-check judges again.
enum class RecheckScope {
  // Those whose verdict is stale: never judged, judged under another evaluation (policy, plugin
  // set or date), or not on their latest declaration.
  kStale,
  kAll,  // every product
  // Those judged under the same policy (by id) as of an earlier date: the verdicts the passing
  // of time can change. A verdict under another policy is left to an officer's re-check.
  kEarlierDate,
};

struct EvaluationInfo {
  std::string key;  // equal keys give equal verdicts (policy, plugin set, as-of)
  std::string policy_id;
  std::string as_of;
  std::string provenance_json;
  bool prohibition = true;  // regime: flags under prohibition, label ids under labelling
};

// Judges a product's latest declaration given the payloads (body_codec.h) of all its versions,
// oldest first, the last being the one judged.
using Rejudge = std::function<VerdictRecord(const std::vector<std::string>& payloads)>;

// Decides what a verdict makes happen to a product: the enforcement rules for the evaluation's
// regime (registry/enforcement). A backend writes what it returns and decides nothing itself.
using Decide = std::function<enforcement::Consequences(const enforcement::ProductFacts& product,
                                                       const enforcement::VerdictFacts& verdict)>;

// A change of a product's status or flag, as recorded in the status history.
struct ChangeRecord {
  std::int64_t id = 0;
  std::int64_t product_id = 0;
  std::string manufacturer;
  std::string brand;
  std::string model;
  std::int64_t version = 0;  // the version number the change happened on
  std::string kind;          // status or flag
  std::string from;          // empty: none before
  std::string to;
  std::int64_t flag_id = 0;
  std::string at;
  std::string cause;   // "import run 12", "re-check run 4", "daily re-check ...", or a person
  std::string reason;  // for flag changes
};

// What a write session changed: counts, and the first changes in full (the rest counted).
struct ChangeSummary {
  static constexpr std::size_t kListed = 20;
  std::uint64_t flags_raised = 0;
  std::uint64_t flags_withdrawn = 0;
  std::uint64_t flags_remedied = 0;    // confirmed flags whose product became compliant
  std::uint64_t products_changed = 0;  // products whose status or flag changed
  std::vector<ChangeRecord> first;     // of the first kListed such products
};

// One validated declaration ready to be stored: its stored form (body_codec.h), its identity
// and the fields the product row shows, all prepared by the producer, off the writer's thread.
struct StagedDeclaration {
  std::string payload;  // compares equal exactly for identical declarations
  std::string blob;     // the payload compressed, as stored
  model::ProductIdentity identity;
  std::string manufacturer_name;
  std::string brand;
  std::string model;
  std::string type;              // empty when not declared
  std::string support_end;       // support.end_date, YYYY-MM-DD; empty when not declared
  std::string gtin;              // product.gtin as 14 digits (model/lookup_keys.h); empty: none
  std::int64_t lookup_hash = 0;  // model::brand_model_hash of brand and model, as stored
  std::string source_location;   // where in the file, e.g. "line 12"
  // Judged without history, or empty when the producer left the judging to the session: with an
  // evaluation, a new product with an empty verdict is judged through `rejudge`, and a known
  // product is judged again with its history whenever a new version of it is stored.
  VerdictRecord verdict;
};

// Fills `staged` from a declaration, reusing the capacity of its strings.
void stage(const BodyEncoder& encoder, const model::Declaration& declaration,
           std::string source_location, StagedDeclaration& staged);

// One import as a unit of work: nothing it stores is visible to other connections until
// commit(), and destroying it without commit() discards everything it stored.
class ImportSession {
 public:
  virtual ~ImportSession() = default;
  // Stores one declaration: a new product, a new version of a known one, or nothing when it
  // equals a version on file. A new version of a known product is judged again with its
  // history; its verdict replaces staged.verdict.
  virtual Result<StoreOutcome> store(StagedDeclaration& staged) = 0;
  // Stores a batch of declarations in order, exactly as store() would one by one, appending
  // each one's outcome to `outcomes`. A backend may take fewer round trips for a batch.
  virtual Status store_batch(std::span<StagedDeclaration> batch,
                             std::vector<StoreOutcome>& outcomes) {
    for (auto& staged : batch) {
      auto stored = store(staged);
      if (!stored.is_ok()) return stored.status();
      outcomes.push_back(stored.value());
    }
    return Status::ok();
  }
  // Appends the identity hash (model::ProductIdentity::hash) of every product stored when the
  // session began, so that a producer judges only declarations of products new to the registry
  // and leaves the others to the session. Call it before storing anything.
  virtual Status stored_identities(std::vector<std::uint64_t>& hashes) = 0;
  // Records the run's counts and its audit event, then makes everything durable at once.
  virtual Status commit(const ImportCounts& counts) = 0;
  // What this session changed so far.
  virtual const ChangeSummary& changes() const = 0;
  virtual std::int64_t run_id() const = 0;
};

// A product due for re-checking, with what is needed to judge it again.
struct RecheckCandidate {
  std::int64_t version_id = 0;  // of the latest declaration
  std::string manufacturer;
  std::string brand;
  std::string model;
  enforcement::ProductFacts facts;    // its status and newest flag
  std::vector<std::string> payloads;  // every version (body_codec.h), oldest first
};

// Re-checking as one unit of work (a numbered re-check run): nothing is visible to other
// connections until commit(), and destroying it without commit() discards everything. Borrows
// its Storage.
class RecheckSession {
 public:
  virtual ~RecheckSession() = default;
  virtual std::int64_t run_id() const = 0;
  // Stores the verdict on the product's latest declaration and what the rules decided.
  virtual Status apply(const RecheckCandidate& product, const VerdictRecord& verdict,
                       const enforcement::Consequences& consequences) = 0;
  // Records the run's counts and its audit event, then makes everything durable at once.
  virtual Status commit(std::uint64_t checked, std::uint64_t status_changes) = 0;
  virtual const ChangeSummary& changes() const = 0;
};

// An officer's action on flags, all or nothing: read the flags, write their new states, then
// commit. Borrows its Storage; destroying it without commit() discards everything.
class FlagActionSession {
 public:
  virtual ~FlagActionSession() = default;
  // The flag as it is now, inside this session. kNotFound for an unknown flag.
  virtual Result<enforcement::FlagFacts> flag(std::int64_t flag_id, std::int64_t& product_id,
                                              std::int64_t& latest_version_id) = 0;
  // Writes a flag's new state (and, for confirm, the notice; for dismiss and lift, the versions
  // it covers), the product's flagged mark, its status history and the audit event.
  struct Transition {
    std::int64_t flag_id = 0;
    std::int64_t product_id = 0;
    std::int64_t version_id = 0;  // the product's latest version
    enforcement::FlagState from = enforcement::FlagState::kRaised;
    enforcement::FlagState to = enforcement::FlagState::kRaised;
    std::string action;  // the audit event's action, e.g. "flag.confirm"
    std::string reason;
    std::string notice;  // confirm: the stop notice's reference, if any
  };
  virtual Status write(const Transition& transition) = 0;
  virtual Status commit() = 0;
};

struct ProductQuery {
  std::optional<std::string> status;
  std::optional<bool> flagged;
  std::optional<enforcement::FlagState> flag_state;  // of the product's newest flag
  std::optional<bool> remedied;                      // a confirmed flag that is remedied
  // A part of the manufacturer's name: names that contain it, compared by identity key
  // (model::identity_key: ASCII letters without regard to case, runs of whitespace as one).
  std::optional<std::string> manufacturer;
  std::optional<std::string> type;  // the declared product type, without regard to ASCII case
  std::optional<std::string> product_class;  // a class id (model/product_class.h)
  std::optional<std::string> failing;        // a check id: its latest verdict failed that check
  // Days (YYYY-MM-DD, valid dates): the declared end of security updates is before, or after,
  // the day. A product that declares none matches neither.
  std::optional<std::string> support_ends_before;
  std::optional<std::string> support_ends_after;
  // A day (YYYY-MM-DD, UTC): products declared (a new version) or whose status or flag changed
  // on or after it.
  std::optional<std::string> changed_since;
  // Confines the query to one manufacturer's products (a manufacturer's API token), by key.
  std::optional<std::string> only_manufacturer_key;
  // Words, each matched as the beginning of a word of the brand, model or type or of the
  // manufacturer's name; all must match. A word is a run of Unicode letters and digits, compared
  // without regard to case or diacritics (README.md, "Search"); text without any word is no
  // condition, and more than 16 different words is kInvalidArgument. Any bytes are accepted
  // (what is not a letter or digit separates words): user text is never a storage failure.
  std::optional<std::string> search;
  std::optional<std::int64_t> after_id;  // keyset pagination: ids greater than this
  std::size_t limit = 0;                 // 0: no limit
};

struct ProductSummary {
  std::int64_t id = 0;
  std::string manufacturer;
  std::string brand;
  std::string model;
  std::string type;
  std::string product_class;  // the class of its type (model/product_class.h)
  std::string status;         // pending until checked
  bool flagged = false;
  std::optional<enforcement::FlagState> flag_state;  // of its newest flag, if any
  bool remedied = false;                             // that flag is confirmed and remedied
  std::int64_t flag_id = 0;                          // its newest flag; 0: none
  std::string support_end;  // the declared end of security updates (YYYY-MM-DD); empty: none
  std::int64_t version_count = 0;
  std::string created_at;
  std::string updated_at;
  std::string label_id;                // under a labelling regime, when compliant
  std::int64_t evaluation_id = 0;      // 0: not checked
  std::int64_t evaluated_version = 0;  // the version number the findings judge
  std::string findings;                // stored form; decode with checks::decode_findings
};

struct FlagRecord {
  std::int64_t id = 0;
  std::int64_t product_id = 0;
  enforcement::FlagState state = enforcement::FlagState::kRaised;
  std::string raised_at;
  std::string raised_by;
  std::int64_t raised_version = 0;    // version number of the declaration that raised it
  std::int64_t remedied_version = 0;  // confirmed and remedied by this version number; 0: not
  std::string notice;                 // the stop notice's reference, if an officer gave one
  std::string raise_reason;
  std::string updated_at;
  // Every state it was in, oldest first: raised, then each change.
  struct HistoryEntry {
    enforcement::FlagState state = enforcement::FlagState::kRaised;
    std::string at;
    std::string actor;  // a person, or the automatic cause
    std::string reason;
  };
  std::vector<HistoryEntry> history;
  std::string manufacturer;
  std::string brand;
  std::string model;
};

struct FlagQuery {
  std::optional<enforcement::FlagState> state;
  std::optional<bool> remedied;
  std::optional<std::string> only_manufacturer_key;  // as in ProductQuery
  // Part of the manufacturer's name, in any case (as ProductQuery's manufacturer).
  std::optional<std::string> manufacturer;
  // Newest raised first (ids descending; after_id then means ids below it); else oldest first.
  bool newest_first = false;
  std::int64_t after_id = 0;  // keyset pagination: ids after this one in the order asked for
  std::size_t limit = 0;      // 0: no limit
};

// How many flags are in each state, for the officers' queues.
struct FlagCounts {
  std::map<enforcement::FlagState, std::uint64_t> by_state;  // every state, 0 included
  std::uint64_t remedied = 0;                                // confirmed and remedied
};

struct ChangeQuery {
  std::optional<std::string> since;       // UTC ISO 8601 or a date: changes at or after it
  std::optional<std::int64_t> since_run;  // changes at or after import run N began
  std::optional<std::string> cause;       // exactly
  std::optional<std::string> only_manufacturer_key;  // as in ProductQuery
  std::int64_t before_id = 0;  // keyset pagination, newest first: ids below; 0: none
  std::size_t limit = 0;       // 0: no limit
};

struct AuditQuery {
  // A product's trail: events about it, its flags and the import runs that added its versions.
  std::optional<std::int64_t> product_id;
  std::optional<std::string> actor;  // exactly
  std::int64_t after_id = 0;         // keyset pagination: ids after this one in the order asked for
  std::size_t limit = 0;             // 0: no limit
  std::optional<std::string> since;  // YYYY-MM-DD: events on or after that UTC day
  std::optional<std::string> until;  // YYYY-MM-DD: events on or before that UTC day
  // Newest first (ids descending; after_id then means ids below it); else oldest first.
  bool newest_first = false;
};

// Counts of the products matching a query, per value of each dimension. A dimension's counts
// ignore the query's own condition on that dimension (status counts ignore query.status, and so
// on), so that picking one value leaves the others visible with what they would give. Type counts
// obey the whole query.
struct ProductFacets {
  std::map<std::string, std::uint64_t> status;
  std::map<std::string, std::uint64_t> type;           // the declared type; "" when none
  std::map<std::string, std::uint64_t> product_class;  // every class with a product
  std::map<std::string, std::uint64_t> failing_check;  // products whose verdict failed it
  std::map<std::string, std::uint64_t> flag_state;     // of the newest flag; unflagged ones not
};

// A page of a product list with the facets of everything the query matches.
struct ProductPage {
  std::vector<ProductSummary> products;
  ProductFacets facets;
};

// How many products of each manufacturer match a query, most first.
struct ManufacturerCount {
  std::string manufacturer;
  std::uint64_t products = 0;
};

// Lookups of the public page by GTIN or by brand and model (GET /public/lookup) that found no
// product: what was looked up and how often, never who looked (no address, no time of a single
// lookup). A lead for officers: an unregistered connectable product on sale.
struct UnregisteredLookup {
  std::int64_t id = 0;
  std::string gtin;   // 14 digits for a lookup by GTIN; empty for one by brand and model
  std::string brand;  // for a lookup by brand and model: as first looked up (trimmed)
  std::string model;
  std::uint64_t lookups = 0;
  std::string first_seen;  // UTC, ISO 8601, to the second
  std::string last_seen;
};

struct UnregisteredLookupQuery {
  std::optional<std::string> seen_since;  // YYYY-MM-DD: last looked up on or after that UTC day
  // Keyset pagination in the list's order (most lookups first, then by id): the entries after
  // the one with `after_lookups` lookups and id `after_id`; none when after_id is 0.
  std::uint64_t after_lookups = 0;
  std::int64_t after_id = 0;
  std::size_t limit = 0;  // 0: no limit
};

// An API token as stored: never the token itself, only its hash.
struct TokenRecord {
  std::int64_t id = 0;
  std::string token_hash;  // SHA-256 of the token, hex
  std::string role;        // officer, manufacturer or admin
  std::string manufacturer_key;
  std::string manufacturer_name;
  std::string created_at;
  std::string created_by;
  std::string holder;      // the person who holds the token
  std::string expires;     // YYYY-MM-DD, last valid day; empty: never
  std::string revoked_at;  // empty: not revoked
};

// A signed-in web session (access/session.h): never its id, only the id's hash. A session
// lasts until `expires_at` and ends earlier when unused for the idle time its server allows
// after `last_seen_at`; it stands for its token, so a revoked or expired token ends it.
struct SessionRecord {
  std::string session_hash;  // SHA-256 of the session id, hex
  std::int64_t token_id = 0;
  std::string token_hash;  // the token's, read with the session
  std::string created_at;  // UTC, ISO 8601, as every timestamp here
  std::string last_seen_at;
  std::string expires_at;
};

// The result of walking the audit log's hash chain.
struct AuditVerification {
  std::uint64_t events = 0;       // events checked
  std::int64_t first_bad_id = 0;  // 0: the chain is intact
  std::string problem;            // what is wrong with the first bad event
  bool intact() const { return first_bad_id == 0; }
};

struct DeclarationVersion {
  std::int64_t id = 0;
  std::int64_t version = 0;  // 1 for the first
  std::string body_json;     // canonical JSON of the declaration
  std::int64_t import_run_id = 0;
  std::string imported_at;
  std::string source;           // the imported file, "-" for standard input
  std::string source_location;  // where in that file, e.g. "line 12" or "document 3 (line 40)"
};

struct ImportRun {
  std::int64_t id = 0;
  std::string started_at;
  std::string finished_at;
  ImportRunInfo info;
  ImportCounts counts;
};

struct AuditEvent {
  std::int64_t id = 0;
  std::string at;  // UTC, ISO 8601
  std::string actor;
  std::string action;        // e.g. "import"
  std::string subject_type;  // e.g. "import_run", "product"
  std::int64_t subject_id = 0;
  std::string details_json;
};

// Undoes, when it ends, everything written through its Storage while it lives: a dry run
// does exactly what the real run would (the same sessions, counts and changes) and leaves the
// registry as it was. Holds the write lock for its life; destroy it before its Storage.
class Preview {
 public:
  virtual ~Preview() = default;
};

// While it lives, the reads of the Storage that made it see one state of the registry.
class ReadHold {
 public:
  virtual ~ReadHold() = default;
};

class Storage {
 public:
  virtual ~Storage() = default;

  // Starts a preview (takes the write lock; kBusy as for imports).
  virtual Result<std::unique_ptr<Preview>> begin_preview() = 0;

  // Starts an import. With an evaluation, staged verdicts are stored, known products are judged
  // again with their history through `rejudge`, and flags or label ids follow the verdicts.
  // Fails with kBusy when another process holds the write lock for longer than the busy timeout.
  virtual Result<std::unique_ptr<ImportSession>> begin_import(const ImportRunInfo& info,
                                                              const EvaluationInfo* evaluation,
                                                              Rejudge rejudge, Decide decide) = 0;

  // The products `scope` selects for `evaluation`; ids above `after_id`, in id order, at most
  // `limit`.
  virtual Result<std::vector<RecheckCandidate>> recheck_candidates(const EvaluationInfo& evaluation,
                                                                   RecheckScope scope,
                                                                   std::int64_t after_id,
                                                                   std::size_t limit) = 0;
  // Starts a re-check run (takes the write lock; kBusy as for imports). `daily_date` names the
  // daily re-check of that date (at most one per date: kConflict when it ran already).
  virtual Result<std::unique_ptr<RecheckSession>> begin_recheck(
      const EvaluationInfo& evaluation, const std::string& actor,
      std::optional<std::string> daily_date) = 0;

  virtual Result<std::vector<ProductSummary>> list_products(const ProductQuery& query) = 0;
  // Facet counts over every product the query matches (after_id and limit are ignored).
  virtual Result<ProductFacets> product_facets(const ProductQuery& query) = 0;
  // list_products and product_facets together; a backend may read the matches once for both
  // (this one runs the two).
  virtual Result<ProductPage> list_products_with_facets(const ProductQuery& query);
  // The `limit` manufacturers with most products matching the query, most first (ties by name).
  virtual Result<std::vector<ManufacturerCount>> top_manufacturers(const ProductQuery& query,
                                                                   std::size_t limit) = 0;
  // The products matching the query by the quarter ("2027-Q1") in which the support period of
  // their latest declaration ends, for support ending on or after `from_day` (YYYY-MM-DD).
  virtual Result<std::map<std::string, std::uint64_t>> support_end_by_quarter(
      const ProductQuery& query, const std::string& from_day) = 0;
  // kNotFound when there is no such product.
  virtual Result<ProductSummary> product(std::int64_t id) = 0;
  // Every version of a product, oldest first.
  virtual Result<std::vector<DeclarationVersion>> versions(std::int64_t product_id) = 0;
  virtual Result<std::vector<ImportRun>> import_runs() = 0;
  // The provenance JSON of an evaluation; kNotFound when there is none.
  virtual Result<std::string> evaluation_provenance(std::int64_t evaluation_id) = 0;

  // Flags in id order, oldest first unless the query asks for the newest first.
  virtual Result<std::vector<FlagRecord>> flags(const FlagQuery& query) = 0;
  // The flags in each state, of one manufacturer's products only when given (a name key).
  virtual Result<FlagCounts> flag_counts(
      const std::optional<std::string>& only_manufacturer_key) = 0;
  // kNotFound when there is no such flag.
  virtual Result<FlagRecord> flag(std::int64_t flag_id) = 0;
  // A product's flags, oldest first.
  virtual Result<std::vector<FlagRecord>> product_flags(std::int64_t product_id) = 0;
  // Starts an officer's action on flags (takes the write lock).
  virtual Result<std::unique_ptr<FlagActionSession>> begin_flag_action(
      const std::string& actor) = 0;
  // Status and flag changes, newest first.
  virtual Result<std::vector<ChangeRecord>> changes(const ChangeQuery& query) = 0;

  // Stores a new token (its hash; the caller shows the token once) with its audit event.
  virtual Result<std::int64_t> create_token(const TokenRecord& token) = 0;
  // Every token, oldest first.
  virtual Result<std::vector<TokenRecord>> tokens() = 0;
  // The token with this hash, or nullopt.
  virtual Result<std::optional<TokenRecord>> find_token(const std::string& token_hash) = 0;
  // Revokes a token, with its audit event. kNotFound for an unknown id; kInvalidArgument when it
  // is already revoked.
  virtual Status revoke_token(std::int64_t id, const std::string& actor) = 0;

  // Public lookups (GET /public/lookup). The products whose latest declaration has this GTIN
  // (14 digits), or whose brand and model have these identity keys (model::identity_key), in id
  // order, at most `limit`.
  virtual Result<std::vector<ProductSummary>> products_by_gtin(const std::string& gtin,
                                                               std::size_t limit) = 0;
  virtual Result<std::vector<ProductSummary>> products_by_brand_model(std::string_view brand,
                                                                      std::string_view model,
                                                                      std::size_t limit) = 0;
  // Adds lookups that found nothing to the counts (an entry per GTIN, or per brand and model by
  // identity key, keeping the first spelling): `lookups`, first_seen and last_seen of each entry
  // are merged into the stored one. A new entry is added only while fewer than `max_entries`
  // are stored; the number of lookups left out for that reason is returned. Not state the
  // audit log covers: no audit event, no change of state_version().
  virtual Result<std::uint64_t> record_unregistered_lookups(
      std::span<const UnregisteredLookup> lookups, std::size_t max_entries) = 0;
  // The stored entries, most lookups first (then by id).
  virtual Result<std::vector<UnregisteredLookup>> unregistered_lookups(
      const UnregisteredLookupQuery& query) = 0;

  // Web sessions. They are not state the audit log covers, so they change no state_version().
  // Stores a new session, and deletes those whose absolute lifetime ended before its creation.
  virtual Status create_session(const SessionRecord& session) = 0;
  // The session with this hash (with its token's hash), or nullopt.
  virtual Result<std::optional<SessionRecord>> find_session(const std::string& session_hash) = 0;
  // Records that the session was used at `at`.
  virtual Status touch_session(const std::string& session_hash, const std::string& at) = 0;
  // Deletes the session; false when there was none.
  virtual Result<bool> delete_session(const std::string& session_hash) = 0;

  // A number that grows with every change of the registry's state: every change writes an audit
  // event in its own transaction, so this is the newest event's id. Equal numbers, equal state.
  virtual Result<std::int64_t> state_version() = 0;
  // Holds one state of the registry for every read until the hold ends (on SQLite one read
  // transaction, where each statement would otherwise begin and end its own); null where the
  // backend holds none. Nothing may be written through this Storage while it is held.
  virtual std::unique_ptr<ReadHold> hold_reads() { return nullptr; }
  // When the state last changed: the newest audit event's time (UTC, ISO 8601, to the second);
  // empty when nothing was ever recorded.
  virtual Result<std::string> state_changed_at() = 0;

  // Recomputes every audit event's hash in order and names the first that was edited, or that
  // does not follow its predecessor (an event before it was deleted or the order changed).
  virtual Result<AuditVerification> verify_audit() = 0;

  // Audit events in id order, oldest first unless the query asks for the newest first.
  virtual Result<std::vector<AuditEvent>> audit_events(const AuditQuery& query) = 0;

  // Copying a whole registry (registry_copy.h). True when the registry holds nothing at all.
  virtual Result<bool> is_empty() = 0;
  // Up to `limit` rows of `table`, by id above `after_id`, in id order.
  virtual Status read_rows(const CopiedTable& table, std::int64_t after_id, std::size_t limit,
                           std::vector<Row>& rows) = 0;
  // Starts writing a copy into this registry, which must be empty (kConflict otherwise).
  virtual Result<std::unique_ptr<CopySession>> begin_copy() = 0;

  // Makes the work running on this connection fail soon with kUnavailable; a write in progress
  // rolls back. The one method that may be called from another thread while the connection is
  // in use (a server that stops cuts work that outlived its grace period).
  virtual void interrupt() = 0;
};

enum class OpenMode {
  kReadWrite,  // creates and migrates the registry when needed
  kReadOnly,   // fails when the registry does not exist or is not current
  // To read: read-only where the registry may only be read (an SQLite file without write
  // permission), else as kReadWrite.
  kRead,
  // For a dry run, whose changes are undone: a registry that does not exist yet is an empty one
  // that is never created; else as kReadWrite.
  kPreview,
};

// The private page cache of one SQLite connection (a PostgreSQL server manages its own memory)
// of a command that writes or scans much, such as an import: with 8 KiB pages a
// million-declaration import is as fast with 32 MiB as with 64 MiB, and its peak memory stays
// near 115 MiB (64 MiB took it to 180 MiB). A server with many connections gives each a share
// of one budget instead.
inline constexpr std::size_t kBulkPageCacheBytes = std::size_t{32} << 20;

// How one SQLite connection keeps the registry's pages.
struct PageCaching {
  // The most the connection's private page cache keeps of the pages it read or wrote.
  std::size_t cache_bytes = kBulkPageCacheBytes;
  // Whether it reads pages in place from the one memory map of the file that the process's
  // connections share (sqlite/shared_map.h), rather than copying each page it reads into its
  // cache: for a server's many connections, which mostly read.
  bool shared_map = false;
  // Whether search facets are counted from the one copy of the products' facet columns in
  // memory that the process's connections to the file share (sqlite/facet_columns.h), rather
  // than from the products table: for a server, which answers many searches.
  bool shared_facet_columns = false;
};

// Opens the registry at `location`: a libpq connection URI (postgresql://..., postgres://...)
// for the PostgreSQL backend, else the path of an SQLite file, the embedded default. Errors say
// what is wrong with it: not an iotreg registry, from a newer version, read-only, busy.
// `caching`: how the connection keeps the pages it reads (SQLite only).
Result<std::unique_ptr<Storage>> open_storage(const std::string& location, OpenMode mode,
                                              PageCaching caching = {});
// What a location may be, for help texts.
inline constexpr const char* kLocationForms =
    "an SQLite file, or a PostgreSQL connection URI (postgresql://...)";
// `location` as messages may show it.
std::string printable_location(const std::string& location);

// The SQLite backend (open_storage's for a path).
Result<std::unique_ptr<Storage>> open_sqlite_storage(const std::string& path, OpenMode mode,
                                                     PageCaching caching = {});

}  // namespace iotreg::storage
