// The PostgreSQL backend of Storage: the same registry as the embedded one, for an authority
// that outgrows one machine (DESIGN.md §7). Every write transaction takes the registry's write
// lock first (registry.h), so writes are serialised across processes as in the embedded
// backend, and readers never wait. Ids come from the tables' sequences. Search words are the
// registry's own (the unicode61 tokenizer both backends use), stored as tsvector columns with
// GIN indexes and matched as prefixes.
#include <algorithm>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <tuple>
#include <unordered_map>

#include "registry/core/clock.h"
#include "registry/model/lookup_keys.h"
#include "registry/model/product_class.h"
#include "registry/storage/derived_columns.h"
#include "registry/storage/postgresql/connection.h"
#include "registry/storage/postgresql/registry.h"
#include "registry/storage/session_records.h"
#include "registry/storage/sqlite/database.h"
#include "registry/storage/sqlite/search_tokenizer.h"
#include "registry/storage/storage.h"

namespace iotreg::storage::postgresql {
namespace {

using records::ProductNames;

constexpr std::size_t kMaxSearchWords = 16;

Result<enforcement::FlagState> read_state(std::string_view stored, std::int64_t flag_id) {
  if (auto state = enforcement::parse_flag_state(stored)) return *state;
  return Status::corruption("flag " + std::to_string(flag_id) + " has an unknown state '" +
                            std::string(stored) + "'");
}

Param state_param(enforcement::FlagState state) {
  return Param::text(enforcement::flag_state_name(state));
}

// Texts as a PostgreSQL text[] literal: {"a","b"}.
std::string text_array(const std::vector<std::string_view>& texts) {
  std::string out = "{";
  for (const std::string_view text : texts) {
    if (out.size() > 1) out += ',';
    out += '"';
    for (const char c : text) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

// The registry's search words: those of the unicode61 tokenizer (folded: lower case, without
// diacritics), found by an in-memory SQLite connection's FTS5 module, so that this backend
// splits and folds text exactly as the embedded one does. One per Storage.
class SearchWords {
 public:
  // The distinct words of `text`, in order.
  Result<std::vector<std::string>> words(std::string_view text) {
    if (!tokenizer_) {
      auto db = sqlite::Database::open(":memory:", false);
      if (!db.is_ok()) return db.status();
      db_ = std::move(db).value();
      auto created = sqlite::SearchTokenizer::create(*db_);
      if (!created.is_ok()) return created.status();
      tokenizer_ = std::move(created).value();
    }
    auto tokens = tokenizer_->tokenize(text);
    if (!tokens.is_ok()) return tokens.status();
    std::vector<std::string> out;
    std::set<std::string> seen;
    for (auto& token : tokens.value()) {
      if (seen.insert(token.folded).second) out.push_back(std::move(token.folded));
    }
    return out;
  }

  // The words of several texts in tsvector's text form ('word' 'other'), for COPY.
  Result<std::string> tsvector_literal(std::initializer_list<std::string_view> texts) {
    std::string out;
    for (const std::string_view text : texts) {
      auto found = words(text);
      if (!found.is_ok()) return found.status();
      for (const auto& word : found.value()) {
        if (!out.empty()) out += ' ';
        out += '\'';
        for (const char c : word) {
          if (c == '\'' || c == '\\') out += c;
          out += c;
        }
        out += '\'';
      }
    }
    return out;
  }

  // The words of several texts as a PostgreSQL text[] literal, for array_to_tsvector().
  Result<std::string> array_literal(std::initializer_list<std::string_view> texts) {
    std::vector<std::string> all;
    for (const std::string_view text : texts) {
      auto found = words(text);
      if (!found.is_ok()) return found.status();
      for (auto& word : found.value()) all.push_back(std::move(word));
    }
    return text_array(std::vector<std::string_view>(all.begin(), all.end()));
  }

 private:
  std::unique_ptr<sqlite::Database> db_;
  std::unique_ptr<sqlite::SearchTokenizer> tokenizer_;  // destroyed before db_
};

// A word as a tsquery that matches any lexeme it begins: 'word':*.
std::string prefix_query(std::string_view word) {
  std::string out = "'";
  for (const char c : word) {
    if (c == '\'' || c == '\\') out += c;
    out += c;
  }
  return out + "':*";
}

// Records when and why a session's changes happened, before the first of them; returns the
// event's id. The session holds the write lock, so its changes get the ids that follow.
Result<std::int64_t> record_change_event(Connection& db, const std::string& at,
                                         const std::string& cause) {
  return db.query_integer("recording a change event",
                          "INSERT INTO change_events (at, cause, first_change_id) VALUES ($1, $2, "
                          "(SELECT coalesce(max(id), 0) + 1 FROM status_changes)) RETURNING id",
                          {Param::text(at), Param::text(cause)});
}

Result<std::int64_t> next_id(Connection& db, const char* table) {
  return db.query_integer(
      "assigning an id",
      std::string("SELECT nextval(pg_get_serial_sequence('") + table + "', 'id'))");
}

// Writes what the enforcement rules decided after verdicts, inside a write session's
// transaction: the evaluation row (found or added once), flags raised and changed, the status
// history and the audit events of flag changes. Decides nothing. Borrows the Connection.
class ConsequenceWriter {
 public:
  ConsequenceWriter(Connection& db, std::string cause, std::string at)
      : db_(db), cause_(std::move(cause)), at_(std::move(at)) {}

  Status prepare(const EvaluationInfo* evaluation) {
    auto last_flag =
        db_.query_integer("reading the flags", "SELECT coalesce(max(id), 0) FROM flags");
    if (!last_flag.is_ok()) return last_flag.status();
    first_flag_id_ = last_flag.value() + 1;
    if (!evaluation) return Status::ok();
    evaluation_ = *evaluation;
    auto found = db_.query("finding the evaluation", "SELECT id FROM evaluations WHERE key = $1",
                           {Param::text(evaluation_.key)});
    if (!found.is_ok()) return found.status();
    if (found->rows() > 0) {
      evaluation_id_ = found->integer(0, 0);
      return Status::ok();
    }
    auto added =
        db_.query_integer("recording the evaluation",
                          "INSERT INTO evaluations (key, policy_id, as_of, created_at, provenance) "
                          "VALUES ($1, $2, $3, $4, $5) RETURNING id",
                          {Param::text(evaluation_.key), Param::text(evaluation_.policy_id),
                           Param::text(evaluation_.as_of), Param::text(at_),
                           Param::text(evaluation_.provenance_json)});
    if (!added.is_ok()) return added.status();
    evaluation_id_ = added.value();
    return Status::ok();
  }

  std::int64_t evaluation_id() const { return evaluation_id_; }
  const ChangeSummary& summary() const { return summary_; }
  const std::string& cause() const { return cause_; }
  const std::string& at() const { return at_; }

  // Counts what `decided` did to a product created in bulk (its flag row and history are
  // written by the caller and by write_new_products_history()).
  void note_new_product(const enforcement::Consequences& decided, std::int64_t product_id,
                        const ProductNames& product) {
    if (decided.raise_reason) ++summary_.flags_raised;
    records::note_changes(summary_, decided, product_id, product, at_, cause_);
  }

  // What the rules need to know of a product: its status and newest flag.
  Result<enforcement::ProductFacts> facts(std::int64_t product_id, std::string status,
                                          std::int64_t flag_id) {
    enforcement::ProductFacts facts{product_id, std::move(status), std::nullopt};
    if (flag_id == 0) return facts;
    auto found = db_.query("reading a flag",
                           "SELECT state, raised_version_id, coalesce(covered_version_id, 0), "
                           "coalesce(remedied_version_id, 0) FROM flags WHERE id = $1",
                           {Param::integer(flag_id)});
    if (!found.is_ok()) return found.status();
    if (found->rows() == 0) {
      return Status::corruption("product " + std::to_string(product_id) + " names flag " +
                                std::to_string(flag_id) + ", which does not exist");
    }
    auto state = read_state(found->text(0, 0), flag_id);
    if (!state.is_ok()) return state.status();
    facts.newest_flag = enforcement::FlagFacts{flag_id, state.value(), found->integer(0, 1),
                                               found->integer(0, 2), found->integer(0, 3)};
    return facts;
  }

  // The id of the flag `decided` raises (taken from the sequence now), or the product's newest
  // flag otherwise.
  Result<std::int64_t> newest_flag_id(const enforcement::ProductFacts& before,
                                      const enforcement::Consequences& decided) {
    raised_id_ = 0;
    if (decided.raise_reason) {
      auto id = next_id(db_, "flags");
      if (!id.is_ok()) return id.status();
      raised_id_ = id.value();
      return raised_id_;
    }
    return before.newest_flag ? before.newest_flag->id : 0;
  }

  // The product row's verdict columns: status, evaluation, judged version, findings, label id,
  // flagged, newest flag and failing checks.
  std::vector<Param> verdict_params(std::int64_t version_id, const VerdictRecord& verdict,
                                    const enforcement::Consequences& decided,
                                    std::int64_t newest_flag) const {
    return {Param::text(decided.status),
            Param::integer(evaluation_id_),
            Param::integer(version_id),
            Param::bytes(verdict.findings),
            Param::optional_text(decided.label_id),
            Param::text(decided.flagged ? "t" : "f"),
            Param::optional_id(newest_flag),
            Param::text(verdict.failing_checks)};
  }

  // The history of every product from `first_product_id` on, all new in this session.
  Status write_new_products_history(std::int64_t first_product_id) {
    IOTREG_TRY(ensure_event());
    IOTREG_TRY(db_.exec("recording the new products' history",
                        "INSERT INTO status_changes (event_id, product_id, version_id, kind, "
                        "to_value) SELECT $1, id, latest_version_id, 0, status FROM products "
                        "WHERE id >= $2 AND status != 'pending' ORDER BY id",
                        {Param::integer(event_id_), Param::integer(first_product_id)}));
    return db_.exec("recording the new products' flags",
                    "INSERT INTO status_changes (event_id, product_id, version_id, kind, "
                    "to_value, flag_id) SELECT $1, product_id, raised_version_id, 1, 'raised', id "
                    "FROM flags WHERE id >= $3 AND product_id >= $2 ORDER BY id",
                    {Param::integer(event_id_), Param::integer(first_product_id),
                     Param::integer(first_flag_id_)});
  }

  // Writes the flag rows, status history and audit events `decided` asks for, after the product
  // row and its version exist (the raised flag's id came from newest_flag_id()). The history of
  // a new product is left to write_new_products_history().
  Status write(const enforcement::ProductFacts& before, std::int64_t version_id,
               const enforcement::Consequences& decided, const ProductNames& product) {
    const bool new_product = before.status.empty() && !before.newest_flag;
    if (decided.raise_reason) {
      IOTREG_TRY(db_.exec(
          "raising a flag",
          "INSERT INTO flags (id, product_id, state, raised_at, raised_by, "
          "raised_version_id, raise_reason, updated_at) "
          "VALUES ($1, $2, 'raised', $3, $4, $5, $6, $3)",
          {Param::integer(raised_id_), Param::integer(before.product_id), Param::text(at_),
           Param::text(cause_), Param::integer(version_id), Param::text(*decided.raise_reason)}));
      ++summary_.flags_raised;
    }
    if (decided.update) IOTREG_TRY(write_update(before, version_id, *decided.update));
    for (const auto& change : decided.changes) {
      if (new_product) break;
      const bool flag = change.kind == enforcement::Change::Kind::kFlag;
      const std::int64_t flag_id = flag && change.flag_id == 0 ? raised_id_ : change.flag_id;
      std::string_view reason;
      if (flag && change.flag_id != 0) reason = decided.update->reason;
      IOTREG_TRY(record_change(before.product_id, version_id, change, flag_id, reason));
    }
    records::note_changes(summary_, decided, before.product_id, product, at_, cause_);
    return Status::ok();
  }

 private:
  Status ensure_event() {
    if (event_id_ != 0) return Status::ok();
    auto event = record_change_event(db_, at_, cause_);
    if (!event.is_ok()) return event.status();
    event_id_ = event.value();
    return Status::ok();
  }

  Status write_update(const enforcement::ProductFacts& before, std::int64_t version_id,
                      const enforcement::Consequences::FlagUpdate& update) {
    const enforcement::FlagFacts& flag = *before.newest_flag;
    IOTREG_TRY(db_.exec("updating a flag",
                        "UPDATE flags SET state = $1, remedied_version_id = $2, updated_at = $3 "
                        "WHERE id = $4",
                        {state_param(update.state), Param::optional_id(update.remedied_version_id),
                         Param::text(at_), Param::integer(update.flag_id)}));
    const std::string action = records::flag_update_action(flag.state, update, summary_);
    auto appended = append_audit_event(
        db_, {at_, cause_, action, "flag", update.flag_id,
              records::flag_update_details(flag.state, update, before.product_id, version_id)});
    return appended.is_ok() ? Status::ok() : appended.status();
  }

  Status record_change(std::int64_t product_id, std::int64_t version_id,
                       const enforcement::Change& change, std::int64_t flag_id,
                       std::string_view reason) {
    IOTREG_TRY(ensure_event());
    return db_.exec(
        "recording a change",
        "INSERT INTO status_changes (event_id, product_id, version_id, kind, from_value, "
        "to_value, flag_id, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        {Param::integer(event_id_), Param::integer(product_id), Param::integer(version_id),
         Param::integer(change.kind == enforcement::Change::Kind::kStatus ? 0 : 1),
         Param::optional_text(change.from), Param::text(change.to), Param::optional_id(flag_id),
         Param::optional_text(reason)});
  }

  Connection& db_;
  std::string cause_;
  std::string at_;
  EvaluationInfo evaluation_;
  std::int64_t evaluation_id_ = 0;
  std::int64_t first_flag_id_ = 0;  // flags from here on were raised in this session
  std::int64_t raised_id_ = 0;      // the flag the product being written raises
  std::int64_t event_id_ = 0;
  ChangeSummary summary_;
};

// A product on file, as an import finds it.
struct KnownProduct {
  std::int64_t id = 0;  // 0: not on file
  bool flagged = false;
  std::int64_t version_count = 0;
  std::int64_t latest_version_id = 0;
  std::string brand;
  std::string model;
  std::string status;
  std::int64_t flag_id = 0;
  std::string latest_payload;
  std::int64_t previous_version_id = 0;  // of the latest version; 0: none
};

// One import in one transaction holding the write lock.
class PgImportSession : public ImportSession {
 public:
  PgImportSession(Connection& db, SearchWords& words, ImportRunInfo info,
                  const EvaluationInfo* evaluation, Rejudge rejudge, Decide decide)
      : db_(db),
        words_(words),
        transaction_(db),
        info_(std::move(info)),
        started_at_(utc_timestamp()),
        evaluation_(evaluation ? std::optional<EvaluationInfo>(*evaluation) : std::nullopt),
        rejudge_(std::move(rejudge)),
        decide_(std::move(decide)) {}

  Status start() {
    if (evaluation_ && !decide_) {
      return Status::internal("an import that judges needs the enforcement rules");
    }
    IOTREG_TRY(transaction_.begin());
    IOTREG_TRY(lock_writer(db_));
    auto run = db_.query_integer(
        "recording the import run",
        "INSERT INTO import_runs (started_at, source, format, actor) VALUES ($1, $2, $3, $4) "
        "RETURNING id",
        {Param::text(started_at_), Param::text(info_.source), Param::text(info_.format),
         Param::text(info_.actor)});
    if (!run.is_ok()) return run.status();
    run_id_ = run.value();
    writer_.emplace(db_, enforcement::import_cause(run_id_), started_at_);
    IOTREG_TRY(writer_->prepare(evaluation_ ? &*evaluation_ : nullptr));
    auto last_product =
        db_.query_integer("reading the products", "SELECT coalesce(max(id), 0) FROM products");
    if (!last_product.is_ok()) return last_product.status();
    first_new_product_id_ = last_product.value() + 1;
    return Status::ok();
  }

  std::int64_t run_id() const override { return run_id_; }
  const ChangeSummary& changes() const override { return writer_->summary(); }

  Result<StoreOutcome> store(StagedDeclaration& staged) override {
    std::int64_t manufacturer_id = 0;
    IOTREG_TRY(
        manufacturer(staged.manufacturer_name, staged.identity.manufacturer_key, manufacturer_id));
    std::vector<KnownProduct> found;
    IOTREG_TRY(look_up_products({&staged.identity}, {manufacturer_id}, found));
    if (found.front().id == 0) {
      if (evaluation_ && rejudge_ && staged.verdict.status.empty()) {
        staged.verdict = rejudge_({staged.payload});
      }
      return insert_new_product(staged, manufacturer_id);
    }
    return store_version(staged, found.front());
  }

  // A declaration of `known`, a product on file: nothing when identical to its latest version,
  // otherwise a new version (a re-declaration when identical to an older one).
  Result<StoreOutcome> store_version(StagedDeclaration& staged, const KnownProduct& known) {
    if (known.latest_payload == staged.payload) return StoreOutcome::kUnchanged;
    std::vector<std::string> history = {known.latest_payload};  // payloads, latest first
    std::int64_t older_version_id = known.previous_version_id;
    auto version_id = next_id(db_, "declaration_versions");
    if (!version_id.is_ok()) return version_id.status();
    IOTREG_TRY(insert_version(version_id.value(), known.id, known.version_count + 1,
                              known.latest_version_id, staged));
    std::vector<Param> params = {Param::integer(known.version_count + 1), Param::integer(run_id_),
                                 Param::optional_text(staged.type),
                                 Param::integer(version_id.value()),
                                 Param::optional_text(staged.support_end)};
    VerdictRecord& verdict = staged.verdict;
    std::optional<enforcement::ProductFacts> before;
    enforcement::Consequences decided;
    if (evaluation_ && (rejudge_ || !verdict.status.empty())) {
      if (rejudge_) {
        IOTREG_TRY(read_history(older_version_id, history, older_version_id));
        std::reverse(history.begin(), history.end());
        history.push_back(staged.payload);
        verdict = rejudge_(history);
      }
      auto facts = writer_->facts(known.id, known.status, known.flag_id);
      if (!facts.is_ok()) return facts.status();
      before = std::move(facts).value();
      decided = decide_(*before, {verdict.status, verdict.failed, version_id.value()});
      auto newest = writer_->newest_flag_id(*before, decided);
      if (!newest.is_ok()) return newest.status();
      auto verdict_columns =
          writer_->verdict_params(version_id.value(), verdict, decided, newest.value());
      params.insert(params.end(), verdict_columns.begin(), verdict_columns.end());
    } else {
      // Not judged: pending, and the flag as it was.
      params.insert(params.end(),
                    {Param::text("pending"), Param::null(), Param::null(), Param::null(),
                     Param::null(), Param::text(known.flagged ? "t" : "f"),
                     Param::optional_id(known.flag_id), Param::text("")});
    }
    params.push_back(Param::text(model::product_class_of(staged.type)));
    auto type_words = words_.array_literal({known.brand, known.model, staged.type});
    if (!type_words.is_ok()) return type_words.status();
    params.push_back(Param::text(type_words.value()));
    params.push_back(Param::optional_text(staged.gtin));
    params.push_back(Param::integer(known.id));
    IOTREG_TRY(db_.exec("storing a new version",
                        "UPDATE products SET version_count = $1, updated_run_id = $2, type = $3, "
                        "latest_version_id = $4, support_end = $5, status = $6, "
                        "evaluation_id = $7, evaluated_version_id = $8, findings = $9, "
                        "label_id = $10, flagged = $11, flag_id = $12, failing_checks = $13, "
                        "class = $14, words = array_to_tsvector($15::text[]), gtin = $16 "
                        "WHERE id = $17",
                        params));
    if (before) {
      IOTREG_TRY(writer_->write(
          *before, version_id.value(), decided,
          {staged.manufacturer_name, staged.brand, staged.model, known.version_count + 1}));
    }
    return StoreOutcome::kNewVersion;
  }

  // New products of a batch are written with COPY, three statements for the whole batch; a
  // declaration of a product already on file (or met earlier in the batch) goes through
  // store(), after what the batch wrote so far.
  Status store_batch(std::span<StagedDeclaration> batch,
                     std::vector<StoreOutcome>& outcomes) override {
    IOTREG_TRY(resolve_manufacturers(batch));
    std::vector<std::int64_t> makers(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      IOTREG_TRY(
          manufacturer(batch[i].manufacturer_name, batch[i].identity.manufacturer_key, makers[i]));
    }
    std::vector<const model::ProductIdentity*> identities;
    for (const StagedDeclaration& staged : batch) identities.push_back(&staged.identity);
    std::vector<KnownProduct> on_file;
    IOTREG_TRY(look_up_products(identities, makers, on_file));
    // Which are new, and which meet their product for the first time in the batch (a product
    // met again goes through store(), after what the batch wrote so far); their ids; what the
    // rules decide for each new one (once, with its ids, so that reasons name the version); then
    // the ids of the flags they raise.
    std::set<std::tuple<std::int64_t, std::string_view, std::string_view>> met;
    std::vector<bool> is_new(batch.size()), is_first(batch.size());
    std::size_t new_products = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const model::ProductIdentity& identity = batch[i].identity;
      is_first[i] = met.emplace(makers[i], identity.brand_key, identity.model_key).second;
      is_new[i] = is_first[i] && on_file[i].id == 0;
      new_products += is_new[i] ? 1 : 0;
    }
    std::vector<std::int64_t> product_ids, version_ids, flag_ids;
    IOTREG_TRY(draw_ids("products", new_products, product_ids));
    IOTREG_TRY(draw_ids("declaration_versions", new_products, version_ids));
    std::vector<std::optional<enforcement::Consequences>> decided(batch.size());
    std::size_t raises = 0;
    for (std::size_t i = 0, next_new = 0; i < batch.size(); ++i) {
      if (!is_new[i]) continue;
      if (evaluation_ && rejudge_ && batch[i].verdict.status.empty()) {
        batch[i].verdict = rejudge_({batch[i].payload});
      }
      const VerdictRecord& verdict = batch[i].verdict;
      if (evaluation_ && !verdict.status.empty()) {
        decided[i] = decide_({product_ids[next_new], "", std::nullopt},
                             {verdict.status, verdict.failed, version_ids[next_new]});
        raises += decided[i]->raise_reason ? 1 : 0;
      }
      ++next_new;
    }
    IOTREG_TRY(draw_ids("flags", raises, flag_ids));
    std::size_t next_new = 0, next_flag = 0;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      StagedDeclaration& staged = batch[i];
      if (!is_new[i]) {
        Result<StoreOutcome> stored = StoreOutcome::kUnchanged;
        if (is_first[i]) {
          stored = store_version(staged, on_file[i]);
        } else {
          IOTREG_TRY(flush());
          stored = store(staged);
        }
        if (!stored.is_ok()) return stored.status();
        outcomes.push_back(stored.value());
        continue;
      }
      const std::int64_t product_id = product_ids[next_new];
      const std::int64_t version_id = version_ids[next_new];
      ++next_new;
      const enforcement::Consequences* decision = decided[i] ? &*decided[i] : nullptr;
      const std::int64_t flag_id = decision && decision->raise_reason ? flag_ids[next_flag++] : 0;
      IOTREG_TRY(buffer_new_product(staged, makers[i], product_id, version_id, flag_id, decision));
      outcomes.push_back(StoreOutcome::kNewProduct);
    }
    return flush();
  }

  Status stored_identities(std::vector<std::uint64_t>& hashes) override {
    auto found = db_.query("reading the products", "SELECT identity_hash FROM products", {});
    if (!found.is_ok()) return found.status();
    for (int row = 0; row < found->rows(); ++row) {
      hashes.push_back(static_cast<std::uint64_t>(found->integer(row, 0)));
    }
    return Status::ok();
  }

  Status commit(const ImportCounts& counts) override {
    IOTREG_TRY(flush());
    if (evaluation_) IOTREG_TRY(writer_->write_new_products_history(first_new_product_id_));
    const std::string finished_at = utc_timestamp();
    IOTREG_TRY(db_.exec(
        "finishing the import run",
        "UPDATE import_runs SET finished_at = $1, records_read = $2, accepted = $3, "
        "rejected = $4, new_products = $5, new_versions = $6, unchanged = $7, file_error = $8 "
        "WHERE id = $9",
        {Param::text(finished_at), Param::integer(static_cast<std::int64_t>(counts.records_read)),
         Param::integer(static_cast<std::int64_t>(counts.accepted)),
         Param::integer(static_cast<std::int64_t>(counts.rejected)),
         Param::integer(static_cast<std::int64_t>(counts.new_products)),
         Param::integer(static_cast<std::int64_t>(counts.new_versions)),
         Param::integer(static_cast<std::int64_t>(counts.unchanged)),
         Param::optional_text(counts.file_error), Param::integer(run_id_)}));
    const std::string details = records::import_details(
        info_, counts, evaluation_ ? writer_->evaluation_id() : 0, writer_->summary());
    auto appended = append_audit_event(
        db_, {finished_at, info_.actor, "import", "import_run", run_id_, details});
    if (!appended.is_ok()) return appended.status();
    return transaction_.commit();
  }

 private:
  // Finds the manufacturers of `batch` on file and records the new ones (named as first
  // spelled in the batch), in three round trips, so that manufacturer() finds every one.
  Status resolve_manufacturers(std::span<const StagedDeclaration> batch) {
    std::vector<std::string_view> keys;
    std::map<std::string_view, std::string_view> first_names;
    for (const StagedDeclaration& staged : batch) {
      const std::string& key = staged.identity.manufacturer_key;
      if (manufacturer_ids_.count(key) || first_names.count(key)) continue;
      first_names.emplace(key, staged.manufacturer_name);
      keys.push_back(key);
    }
    if (keys.empty()) return Status::ok();
    auto found =
        db_.query("finding manufacturers",
                  "SELECT id, name_key FROM manufacturers WHERE name_key = ANY($1::text[])",
                  {Param::text(text_array(keys))});
    if (!found.is_ok()) return found.status();
    for (int row = 0; row < found->rows(); ++row) {
      const std::string key(found->text(row, 1));
      manufacturer_ids_.emplace(key, found->integer(row, 0));
      first_names.erase(key);
    }
    if (first_names.empty()) return Status::ok();
    std::vector<std::int64_t> ids;
    IOTREG_TRY(draw_ids("manufacturers", first_names.size(), ids));
    std::string rows;
    std::size_t next = 0;
    for (const std::string_view key : keys) {
      auto name = first_names.find(key);
      if (name == first_names.end()) continue;
      auto words = words_.tsvector_literal({name->second});
      if (!words.is_ok()) return words.status();
      const std::int64_t id = ids[next++];
      rows += std::to_string(id) + '\t';
      append_copy_field(rows, name->second);
      rows += '\t';
      append_copy_field(rows, key);
      rows += '\t';
      append_copy_field(rows, words.value());
      rows += '\n';
      manufacturer_ids_.emplace(std::string(key), id);
    }
    IOTREG_TRY(db_.copy_begin("recording manufacturers",
                              "COPY manufacturers (id, name, name_key, words) FROM STDIN"));
    IOTREG_TRY(db_.copy_send(rows));
    return db_.copy_end();
  }

  // The product on file of each identity (of the manufacturer with the same index), with its
  // latest payload; id 0 where there is none. One round trip: every identity is one probe of
  // the products_identity index (OFFSET 0 keeps the planner from turning the probes into a scan
  // of every product, which its statistics favour in the middle of a large import).
  Status look_up_products(const std::vector<const model::ProductIdentity*>& identities,
                          const std::vector<std::int64_t>& makers,
                          std::vector<KnownProduct>& found) {
    found.assign(identities.size(), KnownProduct{});
    if (identities.empty()) return Status::ok();
    std::string hashes = "{", manufacturers = "{";
    for (std::size_t i = 0; i < identities.size(); ++i) {
      if (i > 0) {
        hashes += ',';
        manufacturers += ',';
      }
      hashes += std::to_string(static_cast<std::int64_t>(identities[i]->hash));
      manufacturers += std::to_string(makers[i]);
    }
    auto rows = db_.query(
        "finding products on file",
        "SELECT k.i, p.id, p.brand, p.model, p.version_count, p.latest_version_id, p.flagged, "
        "p.status, coalesce(p.flag_id, 0), v.body, coalesce(v.previous_id, 0), v.id "
        "FROM unnest($1::bigint[], $2::bigint[]) WITH ORDINALITY AS k(hash, manufacturer_id, i) "
        "CROSS JOIN LATERAL (SELECT * FROM products q WHERE q.identity_hash = k.hash "
        "AND q.manufacturer_id = k.manufacturer_id OFFSET 0) p "
        "LEFT JOIN LATERAL (SELECT * FROM declaration_versions w "
        "WHERE w.id = p.latest_version_id OFFSET 0) v ON true",
        {Param::text(hashes + "}"), Param::text(manufacturers + "}")});
    if (!rows.is_ok()) return rows.status();
    for (int row = 0; row < rows->rows(); ++row) {
      const std::size_t i = static_cast<std::size_t>(rows->integer(row, 0) - 1);
      // Equal hashes: compare the keys, so that a collision is never taken for a match.
      if (i >= found.size() || found[i].id != 0 ||
          model::identity_key(rows->text(row, 2)) != identities[i]->brand_key ||
          model::identity_key(rows->text(row, 3)) != identities[i]->model_key) {
        continue;
      }
      if (rows->is_null(row, 11)) {
        return Status::corruption("declaration version " + std::string(rows->text(row, 5)) +
                                  " is missing from its product's history");
      }
      auto latest = decompress_body(rows->bytes(row, 9));
      if (!latest.is_ok()) return latest.status();
      KnownProduct& known = found[i];
      known.id = rows->integer(row, 1);
      known.brand = std::string(rows->text(row, 2));
      known.model = std::string(rows->text(row, 3));
      known.version_count = rows->integer(row, 4);
      known.latest_version_id = rows->integer(row, 5);
      known.flagged = rows->text(row, 6) == "t";
      known.status = std::string(rows->text(row, 7));
      known.flag_id = rows->integer(row, 8);
      known.latest_payload = std::move(latest).value();
      known.previous_version_id = rows->integer(row, 10);
    }
    return Status::ok();
  }

  // `count` consecutive ids from a table's sequence, in one round trip. Only for a session
  // holding the write lock: every writer of these tables takes it, so nothing draws from the
  // sequence between the nextval and the setval.
  Status draw_ids(const char* table, std::size_t count, std::vector<std::int64_t>& ids) {
    ids.clear();
    if (count == 0) return Status::ok();
    const std::string sequence = std::string("pg_get_serial_sequence('") + table + "', 'id')";
    auto last = db_.query_integer(
        "assigning ids", "SELECT setval(" + sequence + ", nextval(" + sequence + ") + $1 - 1)",
        {Param::integer(static_cast<std::int64_t>(count))});
    if (!last.is_ok()) return last.status();
    const std::int64_t first = last.value() - static_cast<std::int64_t>(count) + 1;
    for (std::size_t i = 0; i < count; ++i) ids.push_back(first + static_cast<std::int64_t>(i));
    return Status::ok();
  }

  // Adds a new product's rows to the COPY buffers.
  Status buffer_new_product(const StagedDeclaration& staged, std::int64_t manufacturer_id,
                            std::int64_t product_id, std::int64_t version_id, std::int64_t flag_id,
                            const enforcement::Consequences* decided) {
    auto field = [](std::string& row, std::string_view value) {
      append_copy_field(row, value);
      row += '\t';
    };
    auto optional = [&](std::string& row, std::string_view value) {
      if (value.empty()) {
        row += "\\N\t";
      } else {
        field(row, value);
      }
    };
    auto words = words_.tsvector_literal({staged.brand, staged.model, staged.type});
    if (!words.is_ok()) return words.status();
    std::string& row = products_copy_;
    field(row, std::to_string(product_id));
    field(row, std::to_string(manufacturer_id));
    field(row, std::to_string(static_cast<std::int64_t>(staged.identity.hash)));
    field(row, staged.brand);
    field(row, staged.model);
    optional(row, staged.type);
    field(row, decided ? decided->status : "pending");
    field(row, decided && decided->flagged ? "t" : "f");
    field(row, std::to_string(version_id));
    field(row, "1");
    field(row, std::to_string(run_id_));
    field(row, std::to_string(run_id_));
    optional(row, decided ? std::to_string(writer_->evaluation_id()) : "");
    optional(row, decided ? std::to_string(version_id) : "");
    if (decided) {
      append_copy_bytes(row, staged.verdict.findings);
      row += '\t';
    } else {
      row += "\\N\t";
    }
    optional(row, decided ? std::string_view(decided->label_id) : "");
    optional(row, staged.support_end);
    optional(row, flag_id != 0 ? std::to_string(flag_id) : "");
    field(row, model::product_class_of(staged.type));
    field(row, decided ? std::string_view(staged.verdict.failing_checks) : "");
    append_copy_field(row, words.value());
    row += '\t';
    if (staged.gtin.empty()) {
      row += "\\N";
    } else {
      append_copy_field(row, staged.gtin);
    }
    row += '\t';
    row += std::to_string(staged.lookup_hash);
    row += '\n';

    std::string& version = versions_copy_;
    field(version, std::to_string(version_id));
    field(version, std::to_string(product_id));
    field(version, "1");
    version += "\\N\t";
    field(version, std::to_string(run_id_));
    field(version, staged.source_location);
    append_copy_bytes(version, staged.blob);
    version += '\n';

    if (decided && decided->raise_reason) {
      std::string& flag = flags_copy_;
      field(flag, std::to_string(flag_id));
      field(flag, std::to_string(product_id));
      field(flag, "raised");
      field(flag, writer_->at());
      field(flag, writer_->cause());
      field(flag, std::to_string(version_id));
      field(flag, *decided->raise_reason);
      append_copy_field(flag, writer_->at());
      flag += '\n';
    }
    if (decided) {
      writer_->note_new_product(*decided, product_id,
                                {staged.manufacturer_name, staged.brand, staged.model, 1});
    }
    return Status::ok();
  }

  // Writes the buffered new products, their versions and the flags they raised.
  Status flush() {
    struct Table {
      std::string* rows;
      const char* copy;
    };
    for (const Table& table :
         {Table{&products_copy_,
                "COPY products (id, manufacturer_id, identity_hash, brand, model, type, status, "
                "flagged, latest_version_id, version_count, created_run_id, updated_run_id, "
                "evaluation_id, evaluated_version_id, findings, label_id, support_end, flag_id, "
                "class, failing_checks, words, gtin, lookup_hash) FROM STDIN"},
          Table{&versions_copy_,
                "COPY declaration_versions (id, product_id, version, previous_id, "
                "import_run_id, source_location, body) FROM STDIN"},
          Table{&flags_copy_,
                "COPY flags (id, product_id, state, raised_at, raised_by, raised_version_id, "
                "raise_reason, updated_at) FROM STDIN"}}) {
      if (table.rows->empty()) continue;
      IOTREG_TRY(db_.copy_begin("storing new products", table.copy));
      IOTREG_TRY(db_.copy_send(*table.rows));
      IOTREG_TRY(db_.copy_end());
      table.rows->clear();
    }
    return Status::ok();
  }

  Status manufacturer(std::string_view name, const std::string& key, std::int64_t& id) {
    if (auto it = manufacturer_ids_.find(key); it != manufacturer_ids_.end()) {
      id = it->second;
      return Status::ok();
    }
    auto found = db_.query("finding a manufacturer",
                           "SELECT id FROM manufacturers WHERE name_key = $1", {Param::text(key)});
    if (!found.is_ok()) return found.status();
    if (found->rows() > 0) {
      id = found->integer(0, 0);
    } else {
      auto name_words = words_.array_literal({name});
      if (!name_words.is_ok()) return name_words.status();
      auto added =
          db_.query_integer("recording a manufacturer",
                            "INSERT INTO manufacturers (name, name_key, words) "
                            "VALUES ($1, $2, array_to_tsvector($3::text[])) RETURNING id",
                            {Param::text(name), Param::text(key), Param::text(name_words.value())});
      if (!added.is_ok()) return added.status();
      id = added.value();
    }
    manufacturer_ids_.emplace(key, id);
    return Status::ok();
  }

  // Appends the payloads of `version_id` and the versions before it, latest first, at most
  // `max_versions` of them; `next_version_id` is then the version before the last one read.
  Status read_history(std::int64_t version_id, std::vector<std::string>& history,
                      std::int64_t& next_version_id,
                      std::size_t max_versions = std::numeric_limits<std::size_t>::max()) {
    for (std::size_t read = 0; version_id != 0 && read < max_versions; ++read) {
      auto found =
          db_.query("reading a product's history",
                    "SELECT body, coalesce(previous_id, 0) FROM declaration_versions WHERE id = $1",
                    {Param::integer(version_id)});
      if (!found.is_ok()) return found.status();
      if (found->rows() == 0) {
        return Status::corruption("declaration version " + std::to_string(version_id) +
                                  " is missing from its product's history");
      }
      auto stored = decompress_body(found->bytes(0, 0));
      if (!stored.is_ok()) return stored.status();
      history.push_back(std::move(stored).value());
      version_id = found->integer(0, 1);
    }
    next_version_id = version_id;
    return Status::ok();
  }

  Result<StoreOutcome> insert_new_product(const StagedDeclaration& staged,
                                          std::int64_t manufacturer_id) {
    auto product_id = next_id(db_, "products");
    if (!product_id.is_ok()) return product_id.status();
    auto version_id = next_id(db_, "declaration_versions");
    if (!version_id.is_ok()) return version_id.status();
    auto product_words = words_.array_literal({staged.brand, staged.model, staged.type});
    if (!product_words.is_ok()) return product_words.status();
    std::vector<Param> params = {Param::integer(product_id.value()),
                                 Param::integer(manufacturer_id),
                                 Param::integer(static_cast<std::int64_t>(staged.identity.hash)),
                                 Param::text(staged.brand),
                                 Param::text(staged.model),
                                 Param::optional_text(staged.type),
                                 Param::integer(version_id.value()),
                                 Param::integer(run_id_),
                                 Param::optional_text(staged.support_end),
                                 Param::text(product_words.value())};
    const VerdictRecord& verdict = staged.verdict;
    const enforcement::ProductFacts before{product_id.value(), "", std::nullopt};
    std::optional<enforcement::Consequences> decided;
    if (evaluation_ && !verdict.status.empty()) {
      decided = decide_(before, {verdict.status, verdict.failed, version_id.value()});
      auto newest = writer_->newest_flag_id(before, *decided);
      if (!newest.is_ok()) return newest.status();
      auto verdict_columns =
          writer_->verdict_params(version_id.value(), verdict, *decided, newest.value());
      params.insert(params.end(), verdict_columns.begin(), verdict_columns.end());
    } else {
      params.insert(params.end(),
                    {Param::text("pending"), Param::null(), Param::null(), Param::null(),
                     Param::null(), Param::text("f"), Param::null(), Param::text("")});
    }
    params.push_back(Param::text(model::product_class_of(staged.type)));
    params.push_back(Param::optional_text(staged.gtin));
    params.push_back(Param::integer(staged.lookup_hash));
    IOTREG_TRY(db_.exec(
        "storing a new product",
        "INSERT INTO products (id, manufacturer_id, identity_hash, brand, model, type, "
        "latest_version_id, version_count, created_run_id, updated_run_id, support_end, words, "
        "status, evaluation_id, evaluated_version_id, findings, label_id, flagged, flag_id, "
        "failing_checks, class, gtin, lookup_hash) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, 1, $8, $8, $9, array_to_tsvector($10::text[]), $11, "
        "$12, $13, $14, $15, $16, $17, $18, $19, $20, $21)",
        params));
    IOTREG_TRY(insert_version(version_id.value(), product_id.value(), 1, 0, staged));
    if (decided) {
      IOTREG_TRY(writer_->write(before, version_id.value(), *decided,
                                {staged.manufacturer_name, staged.brand, staged.model, 1}));
    }
    return StoreOutcome::kNewProduct;
  }

  Status insert_version(std::int64_t version_id, std::int64_t product_id, std::int64_t version,
                        std::int64_t previous_id, const StagedDeclaration& staged) {
    return db_.exec(
        "storing a declaration version",
        "INSERT INTO declaration_versions (id, product_id, version, previous_id, "
        "import_run_id, source_location, body) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        {Param::integer(version_id), Param::integer(product_id), Param::integer(version),
         Param::optional_id(previous_id), Param::integer(run_id_),
         Param::text(staged.source_location), Param::bytes(staged.blob)});
  }

  Connection& db_;
  SearchWords& words_;
  Transaction transaction_;
  ImportRunInfo info_;
  std::string started_at_;
  std::int64_t run_id_ = 0;
  std::int64_t first_new_product_id_ = 0;
  std::unordered_map<std::string, std::int64_t> manufacturer_ids_;
  std::optional<EvaluationInfo> evaluation_;
  Rejudge rejudge_;
  Decide decide_;
  std::optional<ConsequenceWriter> writer_;
  // COPY text rows of new products not yet written (flush()).
  std::string products_copy_, versions_copy_, flags_copy_;
};

// Re-checks in one transaction holding the write lock, as one numbered re-check run.
class PgRecheckSession : public RecheckSession {
 public:
  PgRecheckSession(Connection& db, const EvaluationInfo& evaluation, std::string actor,
                   std::optional<std::string> daily_date)
      : db_(db),
        transaction_(db),
        evaluation_(evaluation),
        actor_(std::move(actor)),
        daily_date_(std::move(daily_date)),
        started_at_(utc_timestamp()) {}

  Status start() {
    IOTREG_TRY(transaction_.begin());
    IOTREG_TRY(lock_writer(db_));
    if (daily_date_) {
      auto done = db_.query("looking for the daily re-check",
                            "SELECT id FROM recheck_runs WHERE daily_date = $1",
                            {Param::text(*daily_date_)});
      if (!done.is_ok()) return done.status();
      if (done->rows() > 0) {
        return Status::conflict("the daily re-check of " + *daily_date_ +
                                " ran already (re-check run " +
                                std::to_string(done->integer(0, 0)) + ")");
      }
    }
    auto run = db_.query_integer(
        "recording the re-check run",
        "INSERT INTO recheck_runs (started_at, actor, daily_date) VALUES ($1, $2, $3) "
        "RETURNING id",
        {Param::text(started_at_), Param::text(actor_),
         daily_date_ ? Param::text(*daily_date_) : Param::null()});
    if (!run.is_ok()) return run.status();
    run_id_ = run.value();
    writer_.emplace(db_,
                    daily_date_ ? enforcement::daily_recheck_cause(*daily_date_)
                                : enforcement::recheck_cause(run_id_),
                    started_at_);
    return writer_->prepare(&evaluation_);
  }

  std::int64_t run_id() const override { return run_id_; }
  const ChangeSummary& changes() const override { return writer_->summary(); }

  Status apply(const RecheckCandidate& product, const VerdictRecord& verdict,
               const enforcement::Consequences& decided) override {
    auto newest = writer_->newest_flag_id(product.facts, decided);
    if (!newest.is_ok()) return newest.status();
    std::vector<Param> params =
        writer_->verdict_params(product.version_id, verdict, decided, newest.value());
    params.push_back(Param::integer(product.facts.product_id));
    IOTREG_TRY(db_.exec("storing a verdict",
                        "UPDATE products SET status = $1, evaluation_id = $2, "
                        "evaluated_version_id = $3, findings = $4, label_id = $5, flagged = $6, "
                        "flag_id = $7, failing_checks = $8 WHERE id = $9",
                        params));
    return writer_->write(product.facts, product.version_id, decided,
                          {product.manufacturer, product.brand, product.model,
                           static_cast<std::int64_t>(product.payloads.size())});
  }

  Status commit(std::uint64_t checked, std::uint64_t status_changes) override {
    const std::string details = records::recheck_details(
        writer_->evaluation_id(), evaluation_, checked, status_changes, writer_->summary());
    const std::string finished_at = utc_timestamp();
    IOTREG_TRY(db_.exec(
        "finishing the re-check run",
        "UPDATE recheck_runs SET finished_at = $1, evaluation_id = $2, "
        "checked = $3, status_changes = $4 WHERE id = $5",
        {Param::text(finished_at), Param::integer(writer_->evaluation_id()),
         Param::integer(static_cast<std::int64_t>(checked)),
         Param::integer(static_cast<std::int64_t>(status_changes)), Param::integer(run_id_)}));
    auto appended =
        append_audit_event(db_, {finished_at, actor_, "recheck", "recheck_run", run_id_, details});
    if (!appended.is_ok()) return appended.status();
    return transaction_.commit();
  }

 private:
  Connection& db_;
  Transaction transaction_;
  EvaluationInfo evaluation_;
  std::string actor_;
  std::optional<std::string> daily_date_;
  std::string started_at_;
  std::int64_t run_id_ = 0;
  std::optional<ConsequenceWriter> writer_;
};

// An officer's action on flags in one transaction holding the write lock.
class PgFlagActionSession : public FlagActionSession {
 public:
  PgFlagActionSession(Connection& db, std::string actor)
      : db_(db), transaction_(db), actor_(std::move(actor)), at_(utc_timestamp()) {}

  Status start() {
    IOTREG_TRY(transaction_.begin());
    return lock_writer(db_);
  }

  Result<enforcement::FlagFacts> flag(std::int64_t flag_id, std::int64_t& product_id,
                                      std::int64_t& latest_version_id) override {
    auto found =
        db_.query("reading a flag",
                  "SELECT f.state, f.raised_version_id, coalesce(f.covered_version_id, 0), "
                  "coalesce(f.remedied_version_id, 0), f.product_id, p.latest_version_id "
                  "FROM flags f JOIN products p ON p.id = f.product_id WHERE f.id = $1",
                  {Param::integer(flag_id)});
    if (!found.is_ok()) return found.status();
    if (found->rows() == 0) return Status::not_found("no flag with id " + std::to_string(flag_id));
    auto state = read_state(found->text(0, 0), flag_id);
    if (!state.is_ok()) return state.status();
    product_id = found->integer(0, 4);
    latest_version_id = found->integer(0, 5);
    return enforcement::FlagFacts{flag_id, state.value(), found->integer(0, 1),
                                  found->integer(0, 2), found->integer(0, 3)};
  }

  Status write(const Transition& transition) override {
    const bool closes = !enforcement::is_open(transition.to);
    IOTREG_TRY(db_.exec(
        "changing a flag",
        "UPDATE flags SET state = $1, updated_at = $2, "
        "notice = coalesce($3, notice), covered_version_id = $4 WHERE id = $5",
        {state_param(transition.to), Param::text(at_), Param::optional_text(transition.notice),
         closes ? Param::integer(transition.version_id) : Param::null(),
         Param::integer(transition.flag_id)}));
    // The product is flagged while its newest flag is open.
    IOTREG_TRY(db_.exec("marking the product",
                        "UPDATE products SET flagged = $1 WHERE id = $2 AND flag_id = $3",
                        {Param::text(closes ? "f" : "t"), Param::integer(transition.product_id),
                         Param::integer(transition.flag_id)}));
    if (event_id_ == 0) {
      auto event = record_change_event(db_, at_, actor_);
      if (!event.is_ok()) return event.status();
      event_id_ = event.value();
    }
    IOTREG_TRY(db_.exec("recording a change",
                        "INSERT INTO status_changes (event_id, product_id, version_id, kind, "
                        "from_value, to_value, flag_id, reason) "
                        "VALUES ($1, $2, $3, 1, $4, $5, $6, $7)",
                        {Param::integer(event_id_), Param::integer(transition.product_id),
                         Param::integer(transition.version_id), state_param(transition.from),
                         state_param(transition.to), Param::integer(transition.flag_id),
                         Param::text(transition.reason)}));
    auto appended =
        append_audit_event(db_, {at_, actor_, transition.action, "flag", transition.flag_id,
                                 records::flag_transition_details(transition)});
    return appended.is_ok() ? Status::ok() : appended.status();
  }

  Status commit() override { return transaction_.commit(); }

 private:
  Connection& db_;
  Transaction transaction_;
  std::string actor_;
  std::string at_;
  std::int64_t event_id_ = 0;
};

// A transaction that is never committed: the sessions inside it use savepoints. Sequences
// are not transactional, so the ids the preview drew are given back before it rolls back
// (while it still holds the write lock, so no other writer drew any since): the real run then
// gets the very ids, and the very summary, the preview showed.
class PgPreview : public Preview {
 public:
  explicit PgPreview(Connection& db) : db_(db), transaction_(db) {}
  ~PgPreview() override {
    for (const auto& [sequence, value] : sequences_) {
      static_cast<void>(db_.exec("giving back the preview's ids",
                                 "SELECT setval($1::regclass, $2, $3)",
                                 {Param::text(sequence), Param::integer(value.first),
                                  Param::text(value.second ? "t" : "f")}));
    }
  }

  Status start() {
    IOTREG_TRY(transaction_.begin());
    IOTREG_TRY(lock_writer(db_));
    auto found = db_.query(
        "reading the sequences",
        "SELECT s.schemaname || '.' || s.sequencename, coalesce(s.last_value, 1), "
        "s.last_value IS NOT NULL FROM pg_sequences s WHERE s.schemaname = current_schema() "
        // Unregistered lookups are counted outside the write lock by every server meanwhile.
        "AND s.sequencename NOT LIKE 'unregistered\\_lookups\\_%'");
    if (!found.is_ok()) return found.status();
    for (int row = 0; row < found->rows(); ++row) {
      sequences_.emplace_back(std::string(found->text(row, 0)),
                              std::make_pair(found->integer(row, 1), found->text(row, 2) == "t"));
    }
    return Status::ok();
  }

 private:
  Connection& db_;
  Transaction transaction_;
  // Each sequence's last value and whether it was drawn, when the preview began.
  std::vector<std::pair<std::string, std::pair<std::int64_t, bool>>> sequences_;
};

constexpr const char* kProductColumns =
    "SELECT p.id, m.name, p.brand, p.model, coalesce(p.type, ''), p.status, p.flagged, "
    "p.version_count, cr.started_at, ur.started_at, coalesce(p.label_id, ''), "
    "coalesce(p.evaluation_id, 0), "
    "coalesce((SELECT version FROM declaration_versions WHERE id = p.evaluated_version_id), 0), "
    "p.findings, coalesce(nf.state, ''), "
    "coalesce(nf.state = 'confirmed' AND nf.remedied_version_id IS NOT NULL, false), "
    "coalesce(p.support_end, ''), coalesce(p.flag_id, 0), p.class "
    "FROM products p JOIN manufacturers m ON m.id = p.manufacturer_id "
    "JOIN import_runs cr ON cr.id = p.created_run_id "
    "JOIN import_runs ur ON ur.id = p.updated_run_id "
    "LEFT JOIN flags nf ON nf.id = p.flag_id ";

ProductSummary read_product(const QueryResult& rows, int row) {
  ProductSummary product;
  product.id = rows.integer(row, 0);
  product.manufacturer = rows.text(row, 1);
  product.brand = rows.text(row, 2);
  product.model = rows.text(row, 3);
  product.type = rows.text(row, 4);
  product.status = rows.text(row, 5);
  product.flagged = rows.text(row, 6) == "t";
  product.version_count = rows.integer(row, 7);
  product.created_at = rows.text(row, 8);
  product.updated_at = rows.text(row, 9);
  product.label_id = rows.text(row, 10);
  product.evaluation_id = rows.integer(row, 11);
  product.evaluated_version = rows.integer(row, 12);
  product.findings = rows.bytes(row, 13);
  product.flag_state = enforcement::parse_flag_state(rows.text(row, 14));
  product.remedied = rows.text(row, 15) == "t";
  product.support_end = rows.text(row, 16);
  product.flag_id = rows.integer(row, 17);
  product.product_class = rows.text(row, 18);
  return product;
}

using records::kFlagColumns;

using records::kTokenColumns;

TokenRecord read_token(const QueryResult& rows, int row) {
  auto text = [&](int column) { return std::string(rows.text(row, column)); };
  return {rows.integer(row, 0),
          text(1),
          text(2),
          text(3),
          text(4),
          text(5),
          text(6),
          text(7),
          text(8),
          text(9)};
}

// A statement's parameters as it is built: add() gives each value its placeholder, so that a
// statement names only the parameters it uses and values are never spliced into the SQL.
class Parameters {
 public:
  std::string add(Param param) {
    params_.push_back(std::move(param));
    return "$" + std::to_string(params_.size());
  }
  const std::vector<Param>& params() const { return params_; }

 private:
  std::vector<Param> params_;
};

// The WHERE clause shared by product lists and facets, with its parameters.
class ProductFilter : public Parameters {
 public:
  Status build(const ProductQuery& query, SearchWords& words) {
    std::string sql = "WHERE true ";
    if (query.status) sql += "AND p.status = " + add(Param::text(*query.status)) + " ";
    if (query.flagged)
      sql += "AND p.flagged = " + add(Param::text(*query.flagged ? "t" : "f")) + " ";
    if (query.manufacturer) {
      sql += "AND strpos(m.name_key, " +
             add(Param::text(model::identity_key(*query.manufacturer))) + ") > 0 ";
    }
    // Under the C collation lower() folds ASCII letters only, as SQLite's does.
    if (query.type) {
      sql += "AND lower(p.type COLLATE \"C\") = lower(" + add(Param::text(*query.type)) +
             " COLLATE \"C\") ";
    }
    if (query.product_class) {
      sql += "AND p.class = " + add(Param::text(*query.product_class)) + " ";
    }
    if (query.failing) {
      sql += "AND strpos(p.failing_checks, ' ' || " + add(Param::text(*query.failing)) +
             " || ' ') > 0 ";
    }
    if (query.support_ends_before) {
      sql += "AND p.support_end < " + add(Param::text(*query.support_ends_before)) + " ";
    }
    if (query.support_ends_after) {
      sql += "AND p.support_end > " + add(Param::text(*query.support_ends_after)) + " ";
    }
    if (query.changed_since) {
      const std::string since = add(Param::text(*query.changed_since));
      sql += "AND (p.updated_run_id IN (SELECT id FROM import_runs WHERE started_at >= " + since +
             ") OR p.id IN (SELECT product_id FROM status_changes WHERE id >= coalesce("
             "(SELECT min(first_change_id) FROM change_events WHERE at >= " +
             since + "), 9223372036854775807))) ";
    }
    if (query.flag_state) {
      sql += "AND nf.state = " + add(state_param(*query.flag_state)) + " ";
    }
    if (query.remedied) {
      sql += *query.remedied ? "AND " : "AND NOT ";
      sql += "coalesce(nf.state = 'confirmed' AND nf.remedied_version_id IS NOT NULL, false) ";
    }
    if (query.only_manufacturer_key) {
      sql += "AND m.name_key = " + add(Param::text(*query.only_manufacturer_key)) + " ";
    }
    if (query.search) {
      auto found = words.words(*query.search);
      if (!found.is_ok()) return found.status();
      if (found->size() > kMaxSearchWords) {
        return Status::invalid_argument("the search has " + std::to_string(found->size()) +
                                        " different words; at most " +
                                        std::to_string(kMaxSearchWords) + " are allowed");
      }
      for (const auto& word : found.value()) {
        // PostgreSQL keeps no lexeme longer than this, so no stored word begins with a longer
        // one (and tsquery refuses it).
        constexpr std::size_t kLongestLexeme = 2046;
        if (word.size() > kLongestLexeme) {
          sql += "AND false ";
          continue;
        }
        const std::string term = add(Param::text(prefix_query(word)));
        sql += "AND (p.words @@ " + term + "::tsquery OR m.words @@ " + term + "::tsquery) ";
      }
    }
    where_ = std::move(sql);
    return Status::ok();
  }

  const std::string& where() const { return where_; }

 private:
  std::string where_;
};

// The FROM clause product filters need: the product, its manufacturer and its newest flag.
constexpr const char* kFilteredProducts =
    "FROM products p JOIN manufacturers m ON m.id = p.manufacturer_id "
    "LEFT JOIN flags nf ON nf.id = p.flag_id ";

std::string limit_clause(std::size_t limit) {
  return limit == 0 ? std::string() : " LIMIT " + std::to_string(limit);
}

// The columns of a copied table as this backend selects them (its booleans as 0 and 1).
std::string select_list(const CopiedTable& table) {
  std::string out;
  for (const auto& column : table.columns) {
    if (!out.empty()) out += ", ";
    out += column.name;
    if (std::string_view(table.name) == "products" && std::string_view(column.name) == "flagged") {
      out += "::int";
    }
  }
  return out;
}

// "SELECT (SELECT count(*) FROM t1) + ... = 0": true when every copied table is empty.
std::string every_table_empty() {
  std::string sql;
  for (const auto& table : copied_tables()) {
    sql += sql.empty() ? "SELECT " : " + ";
    sql += "(SELECT count(*) FROM " + std::string(table.name) + ")";
  }
  return sql + " = 0";
}

// Writes a copy into an empty registry in one transaction holding the write lock, with COPY;
// search words are computed for products and manufacturers as they arrive, and each sequence
// is set past the copied ids at commit.
class PgCopySession : public CopySession {
 public:
  PgCopySession(Connection& db, SearchWords& words) : db_(db), words_(words), transaction_(db) {}
  Status start() {
    IOTREG_TRY(transaction_.begin());
    return lock_writer(db_);
  }

  Status write_rows(const CopiedTable& table, std::span<const Row> rows) override {
    const std::string_view name = table.name;
    const bool products = name == "products";
    const bool manufacturers = name == "manufacturers";
    std::string columns = select_list(table);
    for (std::string::size_type at; (at = columns.find("::int")) != std::string::npos;) {
      columns.erase(at, 5);
    }
    if (products || manufacturers) columns += ", words";
    std::string data;
    for (const Row& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        if (i > 0) data += '\t';
        const Cell& cell = row[i];
        switch (cell.kind) {
          case Cell::Kind::kNull:
            data += "\\N";
            break;
          case Cell::Kind::kInteger:
            data += std::to_string(cell.integer);
            break;
          case Cell::Kind::kText:
            append_copy_field(data, cell.text);
            break;
          case Cell::Kind::kBytes:
            append_copy_bytes(data, cell.text);
            break;
        }
      }
      if (products || manufacturers) {
        // products: brand, model, type (columns 3 to 5); manufacturers: name (column 1).
        auto found = products ? words_.tsvector_literal({row[3].text, row[4].text, row[5].text})
                              : words_.tsvector_literal({row[1].text});
        if (!found.is_ok()) return found.status();
        data += '\t';
        append_copy_field(data, found.value());
      }
      data += '\n';
    }
    if (data.empty()) return Status::ok();
    IOTREG_TRY(db_.copy_begin("copying " + std::string(name),
                              "COPY " + std::string(name) + " (" + columns + ") FROM STDIN"));
    IOTREG_TRY(db_.copy_send(data));
    return db_.copy_end();
  }

  Status commit() override {
    for (const auto& table : copied_tables()) {
      const std::string name = table.name;
      IOTREG_TRY(
          db_.exec("setting the ids of " + name, "SELECT setval(pg_get_serial_sequence('" + name +
                                                     "', 'id'), "
                                                     "coalesce(max(id), 0) + 1, false) FROM " +
                                                     name));
    }
    return transaction_.commit();
  }

 private:
  Connection& db_;
  SearchWords& words_;
  Transaction transaction_;
};

class PostgresqlStorage : public Storage {
 public:
  explicit PostgresqlStorage(std::unique_ptr<Connection> db) : db_(std::move(db)) {}

  Result<std::unique_ptr<Preview>> begin_preview() override {
    auto preview = std::make_unique<PgPreview>(*db_);
    IOTREG_TRY(preview->start());
    return std::unique_ptr<Preview>(std::move(preview));
  }

  void interrupt() override { db_->cancel(); }

  Result<bool> is_empty() override {
    auto empty = db_->query("looking into the registry", every_table_empty());
    if (!empty.is_ok()) return empty.status();
    return empty->text(0, 0) == "t";
  }

  Status read_rows(const CopiedTable& table, std::int64_t after_id, std::size_t limit,
                   std::vector<Row>& rows) override {
    auto found =
        db_->query("reading " + std::string(table.name),
                   "SELECT " + select_list(table) + " FROM " + table.name +
                       " WHERE id > $1 ORDER BY id LIMIT $2",
                   {Param::integer(after_id), Param::integer(static_cast<std::int64_t>(limit))});
    if (!found.is_ok()) return found.status();
    for (int r = 0; r < found->rows(); ++r) {
      Row row(table.columns.size());
      for (std::size_t i = 0; i < row.size(); ++i) {
        const int column = static_cast<int>(i);
        if (found->is_null(r, column)) continue;
        row[i].kind = table.columns[i].kind;
        switch (table.columns[i].kind) {
          case Cell::Kind::kInteger:
            row[i].integer = found->integer(r, column);
            break;
          case Cell::Kind::kBytes:
            row[i].text = found->bytes(r, column);
            break;
          default:
            row[i].text = std::string(found->text(r, column));
        }
      }
      rows.push_back(std::move(row));
    }
    return Status::ok();
  }

  Result<std::unique_ptr<CopySession>> begin_copy() override {
    auto session = std::make_unique<PgCopySession>(*db_, words_);
    IOTREG_TRY(session->start());
    auto empty = is_empty();
    if (!empty.is_ok()) return empty.status();
    if (!empty.value()) {
      return Status::conflict("registry " + db_->printable() +
                              " is not empty: a copy goes only into an empty registry");
    }
    return std::unique_ptr<CopySession>(std::move(session));
  }

  Result<std::unique_ptr<ImportSession>> begin_import(const ImportRunInfo& info,
                                                      const EvaluationInfo* evaluation,
                                                      Rejudge rejudge, Decide decide) override {
    return records::start_session<ImportSession, PgImportSession>(
        *db_, words_, info, evaluation, std::move(rejudge), std::move(decide));
  }

  Result<std::vector<RecheckCandidate>> recheck_candidates(const EvaluationInfo& evaluation,
                                                           RecheckScope scope,
                                                           std::int64_t after_id,
                                                           std::size_t limit) override {
    Parameters parameters;
    std::string selected;
    switch (scope) {
      case RecheckScope::kStale:
        selected = "(e.key IS NULL OR e.key != " + parameters.add(Param::text(evaluation.key)) +
                   " OR p.evaluated_version_id IS DISTINCT FROM p.latest_version_id)";
        break;
      case RecheckScope::kAll:
        selected = "true";
        break;
      case RecheckScope::kEarlierDate:
        selected = "(e.policy_id = " + parameters.add(Param::text(evaluation.policy_id)) +
                   " AND e.as_of < " + parameters.add(Param::text(evaluation.as_of)) + ")";
        break;
    }
    auto found =
        db_->query("finding products to re-check",
                   "SELECT p.id, p.latest_version_id, m.name, p.brand, p.model, p.status, "
                   "coalesce(f.id, 0), coalesce(f.state, ''), coalesce(f.raised_version_id, 0), "
                   "coalesce(f.covered_version_id, 0), coalesce(f.remedied_version_id, 0) "
                   "FROM products p JOIN manufacturers m ON m.id = p.manufacturer_id "
                   "LEFT JOIN evaluations e ON e.id = p.evaluation_id "
                   "LEFT JOIN flags f ON f.id = p.flag_id WHERE " +
                       selected + " AND p.id > " + parameters.add(Param::integer(after_id)) +
                       " ORDER BY p.id LIMIT " +
                       parameters.add(Param::integer(static_cast<std::int64_t>(limit))),
                   parameters.params());
    if (!found.is_ok()) return found.status();
    std::vector<RecheckCandidate> candidates;
    for (int row = 0; row < found->rows(); ++row) {
      RecheckCandidate candidate;
      candidate.facts.product_id = found->integer(row, 0);
      candidate.version_id = found->integer(row, 1);
      candidate.manufacturer = found->text(row, 2);
      candidate.brand = found->text(row, 3);
      candidate.model = found->text(row, 4);
      candidate.facts.status = found->text(row, 5);
      if (const std::int64_t flag_id = found->integer(row, 6); flag_id != 0) {
        auto state = read_state(found->text(row, 7), flag_id);
        if (!state.is_ok()) return state.status();
        candidate.facts.newest_flag =
            enforcement::FlagFacts{flag_id, state.value(), found->integer(row, 8),
                                   found->integer(row, 9), found->integer(row, 10)};
      }
      candidates.push_back(std::move(candidate));
    }
    for (auto& candidate : candidates) {
      for (std::int64_t next = candidate.version_id; next != 0;) {
        auto version = db_->query(
            "reading a product's history",
            "SELECT body, coalesce(previous_id, 0) FROM declaration_versions WHERE id = $1",
            {Param::integer(next)});
        if (!version.is_ok()) return version.status();
        if (version->rows() == 0) {
          return Status::corruption("version chain of product " +
                                    std::to_string(candidate.facts.product_id) +
                                    " is broken at declaration version id " + std::to_string(next));
        }
        auto payload = decompress_body(version->bytes(0, 0));
        if (!payload.is_ok()) return payload.status();
        candidate.payloads.push_back(std::move(payload).value());
        next = version->integer(0, 1);
      }
      std::reverse(candidate.payloads.begin(), candidate.payloads.end());
    }
    return candidates;
  }

  Result<std::unique_ptr<RecheckSession>> begin_recheck(
      const EvaluationInfo& evaluation, const std::string& actor,
      std::optional<std::string> daily_date) override {
    return records::start_session<RecheckSession, PgRecheckSession>(*db_, evaluation, actor,
                                                                    std::move(daily_date));
  }

  Result<std::unique_ptr<FlagActionSession>> begin_flag_action(const std::string& actor) override {
    return records::start_session<FlagActionSession, PgFlagActionSession>(*db_, actor);
  }

  Result<std::vector<ChangeRecord>> changes(const ChangeQuery& query) override {
    Parameters parameters;
    std::string sql =
        "SELECT c.id, c.product_id, m.name, p.brand, p.model, coalesce(v.version, 0), "
        "CASE c.kind WHEN 0 THEN 'status' ELSE 'flag' END, coalesce(c.from_value, ''), "
        "c.to_value, coalesce(c.flag_id, 0), e.at, e.cause, "
        "coalesce(c.reason, (SELECT raise_reason FROM flags WHERE id = c.flag_id), '') "
        "FROM status_changes c JOIN change_events e ON e.id = c.event_id "
        "JOIN products p ON p.id = c.product_id "
        "JOIN manufacturers m ON m.id = p.manufacturer_id "
        "LEFT JOIN declaration_versions v ON v.id = c.version_id WHERE true ";
    // The changes since a time are those from the first change of the first event since then.
    auto since_event = [](const std::string& time) {
      return "AND c.id >= coalesce((SELECT min(first_change_id) FROM change_events WHERE at >= " +
             time + "), 9223372036854775807) ";
    };
    if (query.since) sql += since_event(parameters.add(Param::text(*query.since)));
    if (query.since_run) {
      sql += since_event("(SELECT started_at FROM import_runs WHERE id = " +
                         parameters.add(Param::integer(*query.since_run)) + ")");
    }
    if (query.cause) {
      sql += "AND c.event_id IN (SELECT id FROM change_events WHERE cause = " +
             parameters.add(Param::text(*query.cause)) + ") ";
    }
    if (query.only_manufacturer_key) {
      sql += "AND m.name_key = " + parameters.add(Param::text(*query.only_manufacturer_key)) + " ";
    }
    if (query.before_id > 0) {
      sql += "AND c.id < " + parameters.add(Param::integer(query.before_id)) + " ";
    }
    sql += "ORDER BY c.id DESC" + limit_clause(query.limit);
    auto found = db_->query("reading the status history", sql, parameters.params());
    if (!found.is_ok()) return found.status();
    std::vector<ChangeRecord> changes;
    for (int row = 0; row < found->rows(); ++row) {
      auto text = [&](int column) { return std::string(found->text(row, column)); };
      changes.push_back({found->integer(row, 0), found->integer(row, 1), text(2), text(3), text(4),
                         found->integer(row, 5), text(6), text(7), text(8), found->integer(row, 9),
                         text(10), text(11), text(12)});
    }
    return changes;
  }

  Result<std::vector<ProductSummary>> list_products(const ProductQuery& query) override {
    ProductFilter filter;
    IOTREG_TRY(filter.build(query, words_));
    std::string sql = std::string(kProductColumns) + filter.where() + "AND p.id > " +
                      filter.add(Param::integer(query.after_id.value_or(0))) + " ORDER BY p.id" +
                      limit_clause(query.limit);
    auto found = db_->query("listing products", sql, filter.params());
    if (!found.is_ok()) return found.status();
    std::vector<ProductSummary> products;
    for (int row = 0; row < found->rows(); ++row) products.push_back(read_product(*found, row));
    return products;
  }

  Result<ProductFacets> product_facets(const ProductQuery& query) override {
    return count_facets(query, [this](const ProductQuery& part) -> Result<std::vector<FacetGroup>> {
      ProductFilter filter;
      IOTREG_TRY(filter.build(part, words_));
      auto found =
          db_->query("counting products",
                     "SELECT p.status, coalesce(p.type, ''), p.class, "
                     "coalesce(nf.state, ''), p.failing_checks, count(*) " +
                         std::string(kFilteredProducts) + filter.where() + "GROUP BY 1, 2, 3, 4, 5",
                     filter.params());
      if (!found.is_ok()) return found.status();
      std::vector<FacetGroup> groups;
      for (int row = 0; row < found->rows(); ++row) {
        groups.push_back({std::string(found->text(row, 0)), std::string(found->text(row, 1)),
                          std::string(found->text(row, 2)), std::string(found->text(row, 3)),
                          std::string(found->text(row, 4)),
                          static_cast<std::uint64_t>(found->integer(row, 5))});
      }
      return groups;
    });
  }

  Result<std::vector<ManufacturerCount>> top_manufacturers(const ProductQuery& query,
                                                           std::size_t limit) override {
    ProductFilter filter;
    IOTREG_TRY(filter.build(query, words_));
    auto found = db_->query("counting products by manufacturer",
                            "SELECT m.name, count(*) AS n " + std::string(kFilteredProducts) +
                                filter.where() + "GROUP BY m.id, m.name ORDER BY n DESC, m.name" +
                                limit_clause(limit),
                            filter.params());
    if (!found.is_ok()) return found.status();
    std::vector<ManufacturerCount> top;
    for (int row = 0; row < found->rows(); ++row) {
      top.push_back(
          {std::string(found->text(row, 0)), static_cast<std::uint64_t>(found->integer(row, 1))});
    }
    return top;
  }

  Result<std::map<std::string, std::uint64_t>> support_end_by_quarter(
      const ProductQuery& query, const std::string& from_day) override {
    ProductFilter filter;
    IOTREG_TRY(filter.build(query, words_));
    const std::string from = filter.add(Param::text(from_day));
    auto found = db_->query("counting support periods by quarter",
                            "SELECT substr(p.support_end, 1, 4) || '-Q' || "
                            "((CAST(substr(p.support_end, 6, 2) AS INTEGER) + 2) / 3) AS quarter, "
                            "count(*) " +
                                std::string(kFilteredProducts) + filter.where() +
                                "AND p.support_end >= " + from + " GROUP BY quarter",
                            filter.params());
    if (!found.is_ok()) return found.status();
    std::map<std::string, std::uint64_t> quarters;
    for (int row = 0; row < found->rows(); ++row) {
      quarters[std::string(found->text(row, 0))] =
          static_cast<std::uint64_t>(found->integer(row, 1));
    }
    return quarters;
  }

  Result<ProductSummary> product(std::int64_t id) override {
    auto found = db_->query("reading a product", std::string(kProductColumns) + "WHERE p.id = $1",
                            {Param::integer(id)});
    if (!found.is_ok()) return found.status();
    if (found->rows() == 0) return Status::not_found("no product with id " + std::to_string(id));
    return read_product(*found, 0);
  }

  Result<std::vector<DeclarationVersion>> versions(std::int64_t product_id) override {
    auto latest =
        db_->query("reading a product", "SELECT latest_version_id FROM products WHERE id = $1",
                   {Param::integer(product_id)});
    if (!latest.is_ok()) return latest.status();
    if (latest->rows() == 0) {
      return Status::not_found("no product with id " + std::to_string(product_id));
    }
    std::vector<DeclarationVersion> versions;
    for (std::int64_t next = latest->integer(0, 0); next != 0;) {
      auto found =
          db_->query("reading a declaration version",
                     "SELECT v.id, v.version, v.body, v.import_run_id, r.started_at, r.source, "
                     "coalesce(v.source_location, ''), coalesce(v.previous_id, 0) "
                     "FROM declaration_versions v JOIN import_runs r ON r.id = v.import_run_id "
                     "WHERE v.id = $1 AND v.product_id = $2",
                     {Param::integer(next), Param::integer(product_id)});
      if (!found.is_ok()) return found.status();
      if (found->rows() == 0) {
        return Status::corruption("version chain of product " + std::to_string(product_id) +
                                  " is broken at declaration version id " + std::to_string(next));
      }
      auto payload = decompress_body(found->bytes(0, 2));
      if (!payload.is_ok()) return payload.status();
      auto body_json = payload_to_json(payload.value());
      if (!body_json.is_ok()) return body_json.status();
      versions.push_back({found->integer(0, 0), found->integer(0, 1), std::move(body_json).value(),
                          found->integer(0, 3), std::string(found->text(0, 4)),
                          std::string(found->text(0, 5)), std::string(found->text(0, 6))});
      next = found->integer(0, 7);
    }
    std::reverse(versions.begin(), versions.end());
    return versions;
  }

  Result<std::vector<ImportRun>> import_runs() override {
    auto found = db_->query(
        "reading the import runs",
        "SELECT id, started_at, coalesce(finished_at, ''), source, format, actor, records_read, "
        "accepted, rejected, new_products, new_versions, unchanged, coalesce(file_error, '') "
        "FROM import_runs ORDER BY id");
    if (!found.is_ok()) return found.status();
    std::vector<ImportRun> runs;
    for (int row = 0; row < found->rows(); ++row) {
      auto text = [&](int column) { return std::string(found->text(row, column)); };
      auto count = [&](int column) {
        return static_cast<std::uint64_t>(found->integer(row, column));
      };
      ImportRun run;
      run.id = found->integer(row, 0);
      run.started_at = text(1);
      run.finished_at = text(2);
      run.info = {text(3), text(4), text(5)};
      run.counts = {count(6), count(7), count(8), count(9), count(10), count(11), text(12)};
      runs.push_back(std::move(run));
    }
    return runs;
  }

  Result<std::string> evaluation_provenance(std::int64_t evaluation_id) override {
    auto found =
        db_->query("reading an evaluation", "SELECT provenance FROM evaluations WHERE id = $1",
                   {Param::integer(evaluation_id)});
    if (!found.is_ok()) return found.status();
    if (found->rows() == 0) {
      return Status::not_found("no evaluation with id " + std::to_string(evaluation_id));
    }
    return std::string(found->text(0, 0));
  }

  Result<std::vector<FlagRecord>> flags(const FlagQuery& query) override {
    Parameters parameters;
    std::string sql = std::string(kFlagColumns) + "WHERE true ";
    if (query.after_id > 0) {
      sql += std::string(query.newest_first ? "AND f.id < " : "AND f.id > ") +
             parameters.add(Param::integer(query.after_id)) + " ";
    }
    if (query.manufacturer) {
      sql += "AND strpos(m.name_key, " +
             parameters.add(Param::text(model::identity_key(*query.manufacturer))) + ") > 0 ";
    }
    if (query.state) sql += "AND f.state = " + parameters.add(state_param(*query.state)) + " ";
    if (query.only_manufacturer_key) {
      sql += "AND m.name_key = " + parameters.add(Param::text(*query.only_manufacturer_key)) + " ";
    }
    if (query.remedied) {
      sql += *query.remedied ? "AND " : "AND NOT ";
      sql += "(f.state = 'confirmed' AND f.remedied_version_id IS NOT NULL) ";
    }
    sql += std::string("ORDER BY f.id") + (query.newest_first ? " DESC" : "") +
           limit_clause(query.limit);
    return read_flags(sql, parameters.params());
  }

  Result<FlagCounts> flag_counts(const std::optional<std::string>& only_manufacturer_key) override {
    auto found = db_->query(
        "counting flags",
        "SELECT f.state, count(*), count(f.remedied_version_id) FROM flags f "
        "JOIN products p ON p.id = f.product_id JOIN manufacturers m ON m.id = p.manufacturer_id "
        "WHERE $1::text IS NULL OR m.name_key = $1 GROUP BY f.state",
        {only_manufacturer_key ? Param::text(*only_manufacturer_key) : Param::null()});
    if (!found.is_ok()) return found.status();
    FlagCounts counts;
    for (const enforcement::FlagState state : enforcement::kFlagStates) counts.by_state[state] = 0;
    for (int row = 0; row < found->rows(); ++row) {
      auto state = read_state(found->text(row, 0), 0);
      if (!state.is_ok()) return state.status();
      counts.by_state[state.value()] = static_cast<std::uint64_t>(found->integer(row, 1));
      if (state.value() == enforcement::FlagState::kConfirmed) {
        counts.remedied = static_cast<std::uint64_t>(found->integer(row, 2));
      }
    }
    return counts;
  }

  Result<FlagRecord> flag(std::int64_t flag_id) override {
    auto found =
        read_flags(std::string(kFlagColumns) + "WHERE f.id = $1", {Param::integer(flag_id)});
    if (!found.is_ok()) return found.status();
    if (found->empty()) return Status::not_found("no flag with id " + std::to_string(flag_id));
    return std::move(found->front());
  }

  Result<std::vector<FlagRecord>> product_flags(std::int64_t product_id) override {
    return read_flags(std::string(kFlagColumns) + "WHERE f.product_id = $1 ORDER BY f.id",
                      {Param::integer(product_id)});
  }

  Result<std::int64_t> create_token(const TokenRecord& token) override {
    Transaction transaction(*db_);
    IOTREG_TRY(transaction.begin());
    IOTREG_TRY(lock_writer(*db_));
    auto id = db_->query_integer(
        "recording a token",
        "INSERT INTO tokens (token_hash, role, manufacturer_key, manufacturer_name, created_at, "
        "created_by, expires, holder) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        {Param::text(token.token_hash), Param::text(token.role),
         Param::optional_text(token.manufacturer_key),
         Param::optional_text(token.manufacturer_name), Param::text(token.created_at),
         Param::text(token.created_by), Param::optional_text(token.expires),
         Param::text(token.holder)});
    if (!id.is_ok()) return id.status();
    auto appended = append_audit_event(*db_, {token.created_at, token.created_by, "token.create",
                                              "token", id.value(), records::token_details(token)});
    if (!appended.is_ok()) return appended.status();
    IOTREG_TRY(transaction.commit());
    return id.value();
  }

  Result<std::vector<TokenRecord>> tokens() override {
    auto found = db_->query("reading tokens", std::string(kTokenColumns) + "ORDER BY id");
    if (!found.is_ok()) return found.status();
    std::vector<TokenRecord> tokens;
    for (int row = 0; row < found->rows(); ++row) tokens.push_back(read_token(*found, row));
    return tokens;
  }

  Result<std::optional<TokenRecord>> find_token(const std::string& token_hash) override {
    auto found = db_->query("finding a token", std::string(kTokenColumns) + "WHERE token_hash = $1",
                            {Param::text(token_hash)});
    if (!found.is_ok()) return found.status();
    if (found->rows() == 0) return std::optional<TokenRecord>();
    return std::optional<TokenRecord>(read_token(*found, 0));
  }

  Status revoke_token(std::int64_t id, const std::string& actor) override {
    Transaction transaction(*db_);
    IOTREG_TRY(transaction.begin());
    IOTREG_TRY(lock_writer(*db_));
    auto current = db_->query("reading a token", "SELECT revoked_at FROM tokens WHERE id = $1",
                              {Param::integer(id)});
    if (!current.is_ok()) return current.status();
    if (current->rows() == 0) return Status::not_found("no token with id " + std::to_string(id));
    if (!current->is_null(0, 0)) {
      return Status::invalid_argument("token " + std::to_string(id) + " was already revoked at " +
                                      std::string(current->text(0, 0)));
    }
    const std::string at = utc_timestamp();
    IOTREG_TRY(db_->exec("revoking a token", "UPDATE tokens SET revoked_at = $1 WHERE id = $2",
                         {Param::text(at), Param::integer(id)}));
    auto appended = append_audit_event(*db_, {at, actor, "token.revoke", "token", id, "{}"});
    if (!appended.is_ok()) return appended.status();
    return transaction.commit();
  }

  Result<std::vector<ProductSummary>> products_by_gtin(const std::string& gtin,
                                                       std::size_t limit) override {
    auto found =
        db_->query("looking up a GTIN",
                   std::string(kProductColumns) + "WHERE p.gtin = $1 ORDER BY p.id LIMIT $2",
                   {Param::text(gtin), Param::integer(static_cast<std::int64_t>(limit))});
    if (!found.is_ok()) return found.status();
    std::vector<ProductSummary> products;
    for (int row = 0; row < found->rows(); ++row) products.push_back(read_product(*found, row));
    return products;
  }

  Result<std::vector<ProductSummary>> products_by_brand_model(std::string_view brand,
                                                              std::string_view model_name,
                                                              std::size_t limit) override {
    const auto hash = static_cast<std::int64_t>(model::brand_model_hash(brand, model_name));
    const std::string brand_key = model::identity_key(brand);
    const std::string model_key = model::identity_key(model_name);
    // A batch at a time until `limit` match (many manufacturers may declare one brand and
    // model). Equal hashes: compare the keys, so that a collision is never taken for a match.
    constexpr std::int64_t kBatch = 64;
    std::vector<ProductSummary> products;
    for (std::int64_t after_id = 0; products.size() < limit;) {
      auto found =
          db_->query("looking up a brand and model",
                     std::string(kProductColumns) +
                         "WHERE p.lookup_hash = $1 AND p.id > $2 ORDER BY p.id LIMIT $3",
                     {Param::integer(hash), Param::integer(after_id), Param::integer(kBatch)});
      if (!found.is_ok()) return found.status();
      for (int row = 0; row < found->rows() && products.size() < limit; ++row) {
        after_id = found->integer(row, 0);
        if (model::identity_key(found->text(row, 2)) != brand_key ||
            model::identity_key(found->text(row, 3)) != model_key) {
          continue;
        }
        products.push_back(read_product(*found, row));
      }
      if (found->rows() < kBatch) break;
    }
    return products;
  }

  // Several servers may record at once: an entry another one added meanwhile is merged into
  // (ON CONFLICT), and the bound on entries is kept to within what concurrent calls add.
  Result<std::uint64_t> record_unregistered_lookups(std::span<const UnregisteredLookup> lookups,
                                                    std::size_t max_entries) override {
    Transaction transaction(*db_);
    IOTREG_TRY(transaction.begin());
    auto stored = db_->query_integer("counting unregistered lookups",
                                     "SELECT count(*) FROM unregistered_lookups");
    if (!stored.is_ok()) return stored.status();
    auto left_out = records::record_unregistered(
        lookups, static_cast<std::size_t>(stored.value()), max_entries,
        [&](const UnregisteredLookup& lookup, const records::LookupKeys& keys) -> Result<bool> {
          auto updated = db_->query(
              "counting an unregistered lookup",
              "UPDATE unregistered_lookups SET lookups = lookups + $4, "
              "first_seen = LEAST(first_seen, $5), last_seen = GREATEST(last_seen, $6) "
              "WHERE gtin = $1 AND brand_key = $2 AND model_key = $3",
              {Param::text(lookup.gtin), Param::text(keys.brand), Param::text(keys.model),
               Param::integer(static_cast<std::int64_t>(lookup.lookups)),
               Param::text(lookup.first_seen), Param::text(lookup.last_seen)});
          if (!updated.is_ok()) return updated.status();
          return updated->affected() > 0;
        },
        [&](const UnregisteredLookup& lookup, const records::LookupKeys& keys) {
          return db_->exec(
              "recording an unregistered lookup",
              "INSERT INTO unregistered_lookups (gtin, brand, model, brand_key, model_key, "
              "lookups, first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
              "ON CONFLICT (gtin, brand_key, model_key) DO UPDATE SET "
              "lookups = unregistered_lookups.lookups + EXCLUDED.lookups, "
              "first_seen = LEAST(unregistered_lookups.first_seen, EXCLUDED.first_seen), "
              "last_seen = GREATEST(unregistered_lookups.last_seen, EXCLUDED.last_seen)",
              {Param::text(lookup.gtin), Param::text(lookup.brand), Param::text(lookup.model),
               Param::text(keys.brand), Param::text(keys.model),
               Param::integer(static_cast<std::int64_t>(lookup.lookups)),
               Param::text(lookup.first_seen), Param::text(lookup.last_seen)});
        });
    if (!left_out.is_ok()) return left_out.status();
    IOTREG_TRY(transaction.commit());
    return left_out;
  }

  Result<std::vector<UnregisteredLookup>> unregistered_lookups(
      const UnregisteredLookupQuery& query) override {
    std::string sql =
        "SELECT id, gtin, brand, model, lookups, first_seen, last_seen FROM unregistered_lookups "
        "WHERE ($1::text IS NULL OR substr(last_seen, 1, 10) >= $1) "
        "AND ($3::bigint = 0 OR lookups < $2::bigint OR (lookups = $2 AND id > $3)) "
        "ORDER BY lookups DESC, id";
    std::vector<Param> params = {query.seen_since ? Param::text(*query.seen_since) : Param::null(),
                                 Param::integer(static_cast<std::int64_t>(query.after_lookups)),
                                 Param::integer(query.after_id)};
    if (query.limit > 0) {
      sql += " LIMIT $4";
      params.push_back(Param::integer(static_cast<std::int64_t>(query.limit)));
    }
    auto found = db_->query("reading unregistered lookups", sql, params);
    if (!found.is_ok()) return found.status();
    std::vector<UnregisteredLookup> entries;
    for (int row = 0; row < found->rows(); ++row) {
      auto text = [&](int column) { return std::string(found->text(row, column)); };
      entries.push_back({found->integer(row, 0), text(1), text(2), text(3),
                         static_cast<std::uint64_t>(found->integer(row, 4)), text(5), text(6)});
    }
    return entries;
  }

  Status create_session(const SessionRecord& session) override {
    Transaction transaction(*db_);
    IOTREG_TRY(transaction.begin());
    IOTREG_TRY(db_->exec("ending expired sessions", "DELETE FROM sessions WHERE expires_at < $1",
                         {Param::text(session.created_at)}));
    IOTREG_TRY(db_->exec(
        "recording a session",
        "INSERT INTO sessions (session_hash, token_id, created_at, last_seen_at, expires_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        {Param::text(session.session_hash), Param::integer(session.token_id),
         Param::text(session.created_at), Param::text(session.last_seen_at),
         Param::text(session.expires_at)}));
    return transaction.commit();
  }

  Result<std::optional<SessionRecord>> find_session(const std::string& session_hash) override {
    auto found =
        db_->query("finding a session",
                   "SELECT s.session_hash, s.token_id, t.token_hash, s.created_at, s.last_seen_at, "
                   "s.expires_at FROM sessions s JOIN tokens t ON t.id = s.token_id "
                   "WHERE s.session_hash = $1",
                   {Param::text(session_hash)});
    if (!found.is_ok()) return found.status();
    if (found->rows() == 0) return std::optional<SessionRecord>();
    auto text = [&](int column) { return std::string(found->text(0, column)); };
    return std::optional<SessionRecord>(
        SessionRecord{text(0), found->integer(0, 1), text(2), text(3), text(4), text(5)});
  }

  Status touch_session(const std::string& session_hash, const std::string& at) override {
    return db_->exec("recording a session's use",
                     "UPDATE sessions SET last_seen_at = $1 WHERE session_hash = $2",
                     {Param::text(at), Param::text(session_hash)});
  }

  Result<bool> delete_session(const std::string& session_hash) override {
    auto deleted = db_->query("ending a session", "DELETE FROM sessions WHERE session_hash = $1",
                              {Param::text(session_hash)});
    if (!deleted.is_ok()) return deleted.status();
    return deleted->affected() > 0;
  }

  Result<std::int64_t> state_version() override {
    return db_->query_integer("reading the registry's version",
                              "SELECT coalesce(max(id), 0) FROM audit_events");
  }

  Result<std::string> state_changed_at() override {
    auto found = db_->query("reading when the registry last changed",
                            "SELECT at FROM audit_events ORDER BY id DESC LIMIT 1", {});
    if (!found.is_ok()) return found.status();
    return found->rows() > 0 ? std::string(found->text(0, 0)) : std::string();
  }

  Result<AuditVerification> verify_audit() override { return verify_audit_chain(*db_); }

  Result<std::vector<AuditEvent>> audit_events(const AuditQuery& query) override {
    if (query.product_id) {
      auto exists = db_->query("reading a product", "SELECT 1 FROM products WHERE id = $1",
                               {Param::integer(*query.product_id)});
      if (!exists.is_ok()) return exists.status();
      if (exists->rows() == 0) {
        return Status::not_found("no product with id " + std::to_string(*query.product_id));
      }
    }
    const std::string trail =
        query.product_id
            ? records::product_trail_select("$1")
            : "SELECT id, at, actor, action, subject_type, subject_id, details FROM audit_events "
              "WHERE ($1::bigint IS NULL) ";
    auto found = db_->query(
        "reading the audit log",
        trail +
            "AND ($2::text IS NULL OR actor = $2) AND ($4::text IS NULL OR left(at, 10) >= $4) "
            "AND ($5::text IS NULL OR left(at, 10) <= $5) AND " +
            std::string(query.newest_first ? "($3 = 0 OR id < $3) ORDER BY id DESC"
                                           : "id > $3 ORDER BY id") +
            limit_clause(query.limit),
        {query.product_id ? Param::integer(*query.product_id) : Param::null(),
         query.actor ? Param::text(*query.actor) : Param::null(), Param::integer(query.after_id),
         query.since ? Param::text(*query.since) : Param::null(),
         query.until ? Param::text(*query.until) : Param::null()});
    if (!found.is_ok()) return found.status();
    std::vector<AuditEvent> events;
    for (int row = 0; row < found->rows(); ++row) {
      auto text = [&](int column) { return std::string(found->text(row, column)); };
      events.push_back({found->integer(row, 0), text(1), text(2), text(3), text(4),
                        found->integer(row, 5), text(6)});
    }
    return events;
  }

 private:
  // Flags with their history: the raise, then every change of state (status_changes).
  Result<std::vector<FlagRecord>> read_flags(const std::string& sql,
                                             const std::vector<Param>& params) {
    auto found = db_->query("reading flags", sql, params);
    if (!found.is_ok()) return found.status();
    std::vector<FlagRecord> flags;
    for (int row = 0; row < found->rows(); ++row) {
      auto text = [&](int column) { return std::string(found->text(row, column)); };
      FlagRecord flag;
      flag.id = found->integer(row, 0);
      flag.product_id = found->integer(row, 1);
      auto state = read_state(found->text(row, 2), flag.id);
      if (!state.is_ok()) return state.status();
      flag.state = state.value();
      flag.raised_at = text(3);
      flag.raised_by = text(4);
      flag.raised_version = found->integer(row, 5);
      flag.raise_reason = text(6);
      flag.updated_at = text(7);
      flag.manufacturer = text(8);
      flag.brand = text(9);
      flag.model = text(10);
      flag.remedied_version = found->integer(row, 11);
      flag.notice = text(12);
      flag.history.push_back(
          {enforcement::FlagState::kRaised, flag.raised_at, flag.raised_by, flag.raise_reason});
      flags.push_back(std::move(flag));
    }
    for (auto& flag : flags) {
      auto changes = db_->query(
          "reading a flag's history",
          "SELECT c.to_value, e.at, e.cause, coalesce(c.reason, '') FROM status_changes c "
          "JOIN change_events e ON e.id = c.event_id "
          "WHERE c.flag_id = $1 AND c.from_value IS NOT NULL ORDER BY c.id",
          {Param::integer(flag.id)});
      if (!changes.is_ok()) return changes.status();
      for (int row = 0; row < changes->rows(); ++row) {
        auto state = read_state(changes->text(row, 0), flag.id);
        if (!state.is_ok()) return state.status();
        flag.history.push_back({state.value(), std::string(changes->text(row, 1)),
                                std::string(changes->text(row, 2)),
                                std::string(changes->text(row, 3))});
      }
    }
    return flags;
  }

  std::unique_ptr<Connection> db_;
  SearchWords words_;
};

}  // namespace

Result<std::unique_ptr<Storage>> open_postgresql_storage(const std::string& uri, OpenMode mode) {
  auto connection = open_registry(uri, mode);
  if (!connection.is_ok()) return connection.status();
  return std::unique_ptr<Storage>(
      std::make_unique<PostgresqlStorage>(std::move(connection).value()));
}

}  // namespace iotreg::storage::postgresql
