// The SQLite backend of Storage: one file, WAL, migrations tracked by PRAGMA user_version and
// marked with an application id so that other SQLite files are recognised and refused.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <limits>
#include <set>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "registry/core/clock.h"
#include "registry/model/lookup_keys.h"
#include "registry/model/product_class.h"
#include "registry/storage/derived_columns.h"
#include "registry/storage/session_records.h"
#include "registry/storage/sqlite/audit_log.h"
#include "registry/storage/sqlite/database.h"
#include "registry/storage/sqlite/facet_columns.h"
#include "registry/storage/sqlite/migrations.h"
#include "registry/storage/sqlite/search_tokenizer.h"
#include "registry/storage/storage.h"

namespace iotreg::storage {
namespace {

using records::ProductNames;
using sqlite::Database;
using sqlite::ReadSnapshot;
using sqlite::Statement;
using sqlite::Transaction;

constexpr std::int64_t kApplicationId = 0x696F5452;  // "ioTR"
constexpr std::size_t kMaxSearchWords = 16;

template <typename T>
Status assign(Result<T>&& result, T& out) {
  if (!result.is_ok()) return result.status();
  out = std::move(result).value();
  return Status::ok();
}

std::string_view state_name(enforcement::FlagState state) {
  return enforcement::flag_state_name(state);
}

// Reads a flag state as stored; a value the rules do not know is corruption.
Result<enforcement::FlagState> read_state(std::string_view stored, std::int64_t flag_id) {
  if (auto state = enforcement::parse_flag_state(stored)) return *state;
  return Status::corruption("flag " + std::to_string(flag_id) + " has an unknown state '" +
                            std::string(stored) + "'");
}

// Records when and why a session's changes happened, before the first of them; returns the
// event's id. The session holds the write lock, so its changes get the ids that follow.
Result<std::int64_t> record_change_event(Database& db, const std::string& at,
                                         const std::string& cause) {
  auto insert = db.prepare(
      "INSERT INTO change_events (at, cause, first_change_id) "
      "VALUES (?1, ?2, (SELECT coalesce(max(id), 0) + 1 FROM status_changes))");
  if (!insert.is_ok()) return insert.status();
  insert->bind(1, at).bind(2, cause);
  IOTREG_TRY(insert->run());
  return db.last_insert_id();
}

// Writes, inside the transaction of a write session, what the enforcement rules decided after
// verdicts: the evaluation row (found or added once), a product's verdict columns, flags raised
// and changed, the status history and the audit events of flag changes. It decides nothing:
// every decision comes in a Consequences. Flag ids are assigned here (the session holds the
// write lock). Borrows the Database; used from one thread.
class ConsequenceWriter {
 public:
  // `cause` names what wrote, e.g. "import run 12"; `at` is the session's time.
  ConsequenceWriter(Database& db, std::string cause, std::string at)
      : db_(db), cause_(std::move(cause)), at_(std::move(at)) {}

  Status prepare(const EvaluationInfo* evaluation) {
    IOTREG_TRY(assign(db_.prepare("INSERT INTO flags (id, product_id, state, raised_at, raised_by, "
                                  "raised_version_id, raise_reason, updated_at) "
                                  "VALUES (?1, ?2, 'raised', ?3, ?4, ?5, ?6, ?3)"),
                      insert_flag_));
    IOTREG_TRY(assign(db_.prepare("UPDATE flags SET state = ?1, remedied_version_id = ?2, "
                                  "updated_at = ?3 WHERE id = ?4"),
                      update_flag_));
    IOTREG_TRY(assign(db_.prepare("SELECT state, raised_version_id, "
                                  "coalesce(covered_version_id, 0), "
                                  "coalesce(remedied_version_id, 0) FROM flags WHERE id = ?1"),
                      find_flag_));
    IOTREG_TRY(assign(db_.prepare("INSERT INTO status_changes (event_id, product_id, version_id, "
                                  "kind, from_value, to_value, flag_id, reason) "
                                  "VALUES (?7, ?1, ?2, ?3, ?4, ?5, ?6, ?9)"),
                      insert_change_));
    auto last_flag = db_.query_int("SELECT coalesce(max(id), 0) FROM flags");
    if (!last_flag.is_ok()) return last_flag.status();
    next_flag_id_ = last_flag.value() + 1;
    first_flag_id_ = next_flag_id_;
    if (evaluation) {
      evaluation_ = *evaluation;
      IOTREG_TRY(find_or_add_evaluation());
    }
    return Status::ok();
  }

  const EvaluationInfo& evaluation() const { return evaluation_; }
  std::int64_t evaluation_id() const { return evaluation_id_; }
  const ChangeSummary& summary() const { return summary_; }

  // What the rules need to know of a product: its status and newest flag.
  Result<enforcement::ProductFacts> facts(std::int64_t product_id, std::string status,
                                          std::int64_t flag_id) {
    enforcement::ProductFacts facts{product_id, std::move(status), std::nullopt};
    if (flag_id == 0) return facts;
    find_flag_.bind(1, flag_id);
    auto row = find_flag_.step();
    if (!row.is_ok() || !row.value()) {
      find_flag_.reset();
      if (!row.is_ok()) return row.status();
      return Status::corruption("product " + std::to_string(product_id) + " names flag " +
                                std::to_string(flag_id) + ", which does not exist");
    }
    auto state = read_state(find_flag_.text_view(0), flag_id);
    facts.newest_flag =
        enforcement::FlagFacts{flag_id, state.is_ok() ? state.value() : enforcement::FlagState{},
                               find_flag_.int64(1), find_flag_.int64(2), find_flag_.int64(3)};
    find_flag_.reset();
    if (!state.is_ok()) return state.status();
    return facts;
  }

  // The id the flag that `decided` raises will have, or the product's newest flag otherwise.
  std::int64_t newest_flag_id(const enforcement::ProductFacts& before,
                              const enforcement::Consequences& decided) const {
    if (decided.raise_reason) return next_flag_id_;
    return before.newest_flag ? before.newest_flag->id : 0;
  }

  // Binds status, evaluation, judged version, findings, label id and flagged from parameter
  // `first` on, and the newest flag id at `first` + 6.
  void bind(Statement& statement, int first, std::int64_t version_id, const VerdictRecord& verdict,
            const enforcement::ProductFacts& before, const enforcement::Consequences& decided) {
    statement.bind(first, decided.status);
    statement.bind(first + 1, evaluation_id_).bind(first + 2, version_id);
    statement.bind_blob(first + 3, verdict.findings);
    if (decided.label_id.empty()) {
      statement.bind_null(first + 4);
    } else {
      label_buffer_ = decided.label_id;
      statement.bind(first + 4, label_buffer_);
    }
    statement.bind(first + 5, std::int64_t{decided.flagged ? 1 : 0});
    if (const std::int64_t flag = newest_flag_id(before, decided); flag != 0) {
      statement.bind(first + 6, flag);
    } else {
      statement.bind_null(first + 6);
    }
  }

  // The history of every product from `first_product_id` on, all new in this session: its first
  // status and the flag it raised, in two statements (a row per product written one at a time
  // made a large import a quarter slower).
  Status write_new_products_history(std::int64_t first_product_id) {
    if (event_id_ == 0) {
      auto event = record_change_event(db_, at_, cause_);
      if (!event.is_ok()) return event.status();
      event_id_ = event.value();
    }
    auto statuses = db_.prepare(
        "INSERT INTO status_changes (event_id, product_id, version_id, kind, to_value) "
        "SELECT ?1, id, latest_version_id, 0, status FROM products "
        "WHERE id >= ?2 AND status != 'pending'");
    if (!statuses.is_ok()) return statuses.status();
    statuses->bind(1, event_id_).bind(2, first_product_id);
    IOTREG_TRY(statuses->run());
    auto raised = db_.prepare(
        "INSERT INTO status_changes (event_id, product_id, version_id, kind, to_value, flag_id) "
        "SELECT ?1, product_id, raised_version_id, 1, 'raised', id "
        "FROM flags WHERE id >= ?3 AND product_id >= ?2");
    if (!raised.is_ok()) return raised.status();
    raised->bind(1, event_id_).bind(2, first_product_id).bind(3, first_flag_id_);
    return raised->run();
  }

  // Binds "pending", no evaluation, judged version, findings or label id, and not flagged.
  static void bind_unjudged(Statement& statement, int first) {
    statement.bind(first, "pending");
    for (int i = 1; i <= 4; ++i) statement.bind_null(first + i);
    statement.bind(first + 5, std::int64_t{0});
    statement.bind_null(first + 6);
  }

  // Writes the flag rows, status history and audit events `decided` asks for, after the product
  // row and its version exist. `product` names it in the change summary. The history of a new
  // product (its first status, a flag it raised) is left to write_new_products_history().
  Status write(const enforcement::ProductFacts& before, std::int64_t version_id,
               const enforcement::Consequences& decided, const ProductNames& product) {
    const bool new_product = before.status.empty() && !before.newest_flag;
    std::int64_t raised_id = 0;
    if (decided.raise_reason) {
      raised_id = next_flag_id_++;
      insert_flag_.bind(1, raised_id)
          .bind(2, before.product_id)
          .bind(3, at_)
          .bind(4, cause_)
          .bind(5, version_id)
          .bind(6, *decided.raise_reason);
      IOTREG_TRY(insert_flag_.run());
      ++summary_.flags_raised;
    }
    if (decided.update) IOTREG_TRY(write_update(before, version_id, *decided.update));
    for (const auto& change : decided.changes) {
      if (new_product) break;
      const bool flag = change.kind == enforcement::Change::Kind::kFlag;
      const std::int64_t flag_id = flag && change.flag_id == 0 ? raised_id : change.flag_id;
      // A raise's reason is the flag's own (flags.raise_reason).
      std::string_view reason;
      if (flag && change.flag_id != 0) reason = decided.update->reason;
      IOTREG_TRY(record_change(before.product_id, version_id, change, flag_id, reason));
    }
    records::note_changes(summary_, decided, before.product_id, product, at_, cause_);
    return Status::ok();
  }

 private:
  Status find_or_add_evaluation() {
    Statement find;
    IOTREG_TRY(assign(db_.prepare("SELECT id FROM evaluations WHERE key = ?1"), find));
    find.bind(1, evaluation_.key);
    auto found = find.step();
    if (!found.is_ok()) return found.status();
    if (found.value()) {
      evaluation_id_ = find.int64(0);
      return Status::ok();
    }
    find.reset();
    auto insert = db_.prepare(
        "INSERT INTO evaluations (key, policy_id, as_of, created_at, provenance) "
        "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!insert.is_ok()) return insert.status();
    insert->bind(1, evaluation_.key)
        .bind(2, evaluation_.policy_id)
        .bind(3, evaluation_.as_of)
        .bind(4, at_)
        .bind(5, evaluation_.provenance_json);
    IOTREG_TRY(insert->run());
    evaluation_id_ = db_.last_insert_id();
    return Status::ok();
  }

  Status write_update(const enforcement::ProductFacts& before, std::int64_t version_id,
                      const enforcement::Consequences::FlagUpdate& update) {
    const enforcement::FlagFacts& flag = *before.newest_flag;
    update_flag_.bind(1, state_name(update.state)).bind(3, at_).bind(4, update.flag_id);
    if (update.remedied_version_id == 0) {
      update_flag_.bind_null(2);
    } else {
      update_flag_.bind(2, update.remedied_version_id);
    }
    IOTREG_TRY(update_flag_.run());
    const std::string action = records::flag_update_action(flag.state, update, summary_);
    const std::string details =
        records::flag_update_details(flag.state, update, before.product_id, version_id);
    auto appended =
        sqlite::append_audit_event(db_, {at_, cause_, action, "flag", update.flag_id, details});
    return appended.is_ok() ? Status::ok() : appended.status();
  }

  Status record_change(std::int64_t product_id, std::int64_t version_id,
                       const enforcement::Change& change, std::int64_t flag_id,
                       std::string_view reason) {
    if (event_id_ == 0) {
      auto event = record_change_event(db_, at_, cause_);
      if (!event.is_ok()) return event.status();
      event_id_ = event.value();
    }
    insert_change_.bind(1, product_id)
        .bind(2, version_id)
        .bind(3, std::int64_t{change.kind == enforcement::Change::Kind::kStatus ? 0 : 1})
        .bind(5, change.to)
        .bind(7, event_id_);
    if (change.from.empty()) {
      insert_change_.bind_null(4);
    } else {
      insert_change_.bind(4, change.from);
    }
    if (flag_id == 0) {
      insert_change_.bind_null(6);
    } else {
      insert_change_.bind(6, flag_id);
    }
    if (reason.empty()) {
      insert_change_.bind_null(9);
    } else {
      insert_change_.bind(9, reason);
    }
    return insert_change_.run();
  }

  Database& db_;
  std::string cause_;
  std::string at_;
  EvaluationInfo evaluation_;
  std::int64_t evaluation_id_ = 0;
  std::int64_t next_flag_id_ = 0;
  std::int64_t first_flag_id_ = 0;  // flags from here on were raised in this session
  std::int64_t event_id_ = 0;       // the session's change event, made with its first change
  std::string label_buffer_;        // bound label id; alive until the statement runs
  ChangeSummary summary_;
  Statement insert_flag_, update_flag_, find_flag_, insert_change_;
};

// For its life, sorts that outgrow a connection's page cache spill to temporary files instead
// of memory, so that an index built at an import's commit takes no more memory over a million
// products than over a thousand. Changes nothing when made inside a transaction, where SQLite
// refuses it: a preview sets it for the imports inside it.
class TemporaryStorageOnDisk {
 public:
  explicit TemporaryStorageOnDisk(Database& db) : db_(db) {
    if (sqlite3_get_autocommit(db.handle()) == 0) return;
    auto previous = db.query_int("PRAGMA temp_store");
    if (previous.is_ok() && db.exec("PRAGMA temp_store = FILE").is_ok()) {
      previous_ = previous.value();
    }
  }
  ~TemporaryStorageOnDisk() {
    if (previous_) (void)db_.exec("PRAGMA temp_store = " + std::to_string(*previous_));
  }
  TemporaryStorageOnDisk(const TemporaryStorageOnDisk&) = delete;
  TemporaryStorageOnDisk& operator=(const TemporaryStorageOnDisk&) = delete;

 private:
  Database& db_;
  std::optional<std::int64_t> previous_;  // the setting to restore; none: unchanged
};

// Writes one import inside one IMMEDIATE transaction. Product and version ids are assigned
// here (this connection holds the write lock), so a new product costs one row in products and
// one in declaration_versions; the products it creates enter the full-text index together at
// commit. A large import also builds the products' other indexes at commit (see
// defer_indexes_when_large).
class SqliteImportSession : public ImportSession {
 public:
  SqliteImportSession(Database& db, ImportRunInfo info, const EvaluationInfo* evaluation,
                      Rejudge rejudge, Decide decide)
      : db_(db),
        temporary_storage_(db),
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
    IOTREG_TRY(prepare_all());
    insert_run_.bind(1, started_at_)
        .bind(2, info_.source)
        .bind(3, info_.format)
        .bind(4, info_.actor);
    IOTREG_TRY(insert_run_.run());
    run_id_ = db_.last_insert_id();
    writer_.emplace(db_, enforcement::import_cause(run_id_), started_at_);
    IOTREG_TRY(writer_->prepare(evaluation_ ? &*evaluation_ : nullptr));
    auto last_product = db_.query_int("SELECT coalesce(max(id), 0) FROM products");
    if (!last_product.is_ok()) return last_product.status();
    auto last_version = db_.query_int("SELECT coalesce(max(id), 0) FROM declaration_versions");
    if (!last_version.is_ok()) return last_version.status();
    next_product_id_ = last_product.value() + 1;
    first_new_product_id_ = next_product_id_;
    next_version_id_ = last_version.value() + 1;
    return Status::ok();
  }

  std::int64_t run_id() const override { return run_id_; }
  const ChangeSummary& changes() const override { return writer_->summary(); }

  Result<StoreOutcome> store(StagedDeclaration& staged) override {
    std::int64_t manufacturer_id = 0;
    IOTREG_TRY(
        manufacturer(staged.manufacturer_name, staged.identity.manufacturer_key, manufacturer_id));
    const std::string& type = staged.type;

    KnownProduct known;
    IOTREG_TRY(find_product(staged.identity, manufacturer_id, known));
    if (known.id == 0) {
      if (evaluation_ && rejudge_ && staged.verdict.status.empty()) {
        staged.verdict = rejudge_({staged.payload});
      }
      return insert_new_product(staged, manufacturer_id, type);
    }

    // A declaration identical to the latest version changes nothing. One identical to an older
    // version is a re-declaration: it becomes the latest again, as a new version (DESIGN.md §2).
    std::vector<std::string> history;  // payloads, latest first
    std::int64_t older_version_id = 0;
    IOTREG_TRY(read_history(known.latest_version_id, history, older_version_id, 1));
    if (!history.empty() && history.front() == staged.payload) return StoreOutcome::kUnchanged;

    std::int64_t version_id = next_version_id_++;
    IOTREG_TRY(insert_version(version_id, known.id, known.version_count + 1,
                              known.latest_version_id, staged));
    VerdictRecord& verdict = staged.verdict;
    update_product_.bind(1, known.version_count + 1)
        .bind(2, run_id_)
        .bind(4, version_id)
        .bind(5, known.id);
    bind_optional(update_product_, 3, type);
    bind_optional(update_product_, 13, staged.support_end);
    update_product_.bind(14, model::product_class_of(type));
    bind_optional(update_product_, 16, staged.gtin);
    if (evaluation_ && (rejudge_ || !verdict.status.empty())) {
      if (rejudge_) {
        IOTREG_TRY(read_history(older_version_id, history, older_version_id));
        std::reverse(history.begin(), history.end());
        history.push_back(staged.payload);
        verdict = rejudge_(history);
      }
      auto before = writer_->facts(known.id, known.status, known.flag_id);
      if (!before.is_ok()) return before.status();
      const enforcement::Consequences decided =
          decide_(before.value(), {verdict.status, verdict.failed, version_id});
      writer_->bind(update_product_, 6, version_id, verdict, before.value(), decided);
      update_product_.bind(15, verdict.failing_checks);
      IOTREG_TRY(update_product_.run());
      IOTREG_TRY(writer_->write(before.value(), version_id, decided,
                                described(staged, known.version_count + 1)));
    } else {
      // Not judged: pending, and the flag as it was.
      ConsequenceWriter::bind_unjudged(update_product_, 6);
      update_product_.bind(11, std::int64_t{known.flagged ? 1 : 0});
      if (known.flag_id != 0) update_product_.bind(12, known.flag_id);
      update_product_.bind(15, std::string_view(""));
      IOTREG_TRY(update_product_.run());
    }
    // Products created by this import are indexed once, at commit.
    if (known.type != type && known.id < first_new_product_id_) {
      delete_fts_.bind(1, known.id).bind(2, known.brand).bind(3, known.model);
      bind_optional(delete_fts_, 4, known.type);
      IOTREG_TRY(delete_fts_.run());
      insert_fts_.bind(1, known.id).bind(2, known.brand).bind(3, known.model);
      bind_optional(insert_fts_, 4, type);
      IOTREG_TRY(insert_fts_.run());
    }
    return StoreOutcome::kNewVersion;
  }

  Status stored_identities(std::vector<std::uint64_t>& hashes) override {
    auto statement = db_.prepare("SELECT identity_hash FROM products");
    if (!statement.is_ok()) return statement.status();
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) return Status::ok();
      hashes.push_back(static_cast<std::uint64_t>(statement->int64(0)));
    }
  }

  Status commit(const ImportCounts& counts) override {
    if (evaluation_ && next_product_id_ > first_new_product_id_) {
      IOTREG_TRY(writer_->write_new_products_history(first_new_product_id_));
    }
    for (const std::string& create : deferred_indexes_) IOTREG_TRY(db_.exec(create));
    // One statement indexes every product this import created, with its final values: in bulk,
    // full-text indexing costs about half of what it costs row by row.
    index_new_products_.bind(1, first_new_product_id_);
    IOTREG_TRY(index_new_products_.run());
    std::string finished_at = utc_timestamp();
    finish_run_.bind(1, finished_at)
        .bind(2, static_cast<std::int64_t>(counts.records_read))
        .bind(3, static_cast<std::int64_t>(counts.accepted))
        .bind(4, static_cast<std::int64_t>(counts.rejected))
        .bind(5, static_cast<std::int64_t>(counts.new_products))
        .bind(6, static_cast<std::int64_t>(counts.new_versions))
        .bind(7, static_cast<std::int64_t>(counts.unchanged))
        .bind(9, run_id_);
    bind_optional(finish_run_, 8, counts.file_error);
    IOTREG_TRY(finish_run_.run());
    const std::string details = records::import_details(
        info_, counts, evaluation_ ? writer_->evaluation_id() : 0, writer_->summary());
    auto appended = sqlite::append_audit_event(
        db_, {finished_at, info_.actor, "import", "import_run", run_id_, details});
    if (!appended.is_ok()) return appended.status();
    return transaction_.commit();
  }

 private:
  struct KnownProduct {
    std::int64_t id = 0;  // 0: not known
    bool flagged = false;
    std::int64_t version_count = 0;
    std::int64_t latest_version_id = 0;
    std::string brand;
    std::string model;
    std::string type;
    std::string status;
    std::int64_t flag_id = 0;  // its newest flag; 0: none
  };

  // The product a staged declaration is about, for the change summary.
  static ProductNames described(const StagedDeclaration& staged, std::int64_t version) {
    return {staged.manufacturer_name, staged.brand, staged.model, version};
  }

  static void bind_optional(Statement& statement, int index, std::string_view text) {
    if (text.empty()) {
      statement.bind_null(index);
    } else {
      statement.bind(index, text);
    }
  }

  Status prepare_all() {
    IOTREG_TRY(assign(db_.prepare("INSERT INTO import_runs (started_at, source, format, actor) "
                                  "VALUES (?1, ?2, ?3, ?4)"),
                      insert_run_));
    IOTREG_TRY(assign(db_.prepare("SELECT id FROM manufacturers WHERE name_key = ?1"),
                      find_manufacturer_));
    IOTREG_TRY(assign(db_.prepare("INSERT INTO manufacturers (name, name_key) VALUES (?1, ?2)"),
                      insert_manufacturer_));
    IOTREG_TRY(assign(db_.prepare("INSERT INTO manufacturers_fts (rowid, name) VALUES (?1, ?2)"),
                      insert_manufacturer_fts_));
    IOTREG_TRY(
        assign(db_.prepare("SELECT id, brand, model, coalesce(type, ''), version_count, "
                           "latest_version_id, flagged, status, coalesce(flag_id, 0) "
                           "FROM products WHERE identity_hash = ?1 AND manufacturer_id = ?2"),
               find_product_));
    IOTREG_TRY(assign(db_.prepare("SELECT body, coalesce(previous_id, 0) FROM declaration_versions "
                                  "WHERE id = ?1"),
                      version_body_));
    IOTREG_TRY(assign(
        db_.prepare("INSERT INTO products (id, manufacturer_id, identity_hash, brand, model, type, "
                    "latest_version_id, version_count, created_run_id, updated_run_id, status, "
                    "evaluation_id, evaluated_version_id, findings, label_id, flagged, flag_id, "
                    "support_end, class, failing_checks, gtin, lookup_hash) "
                    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
                    "?15, ?16, ?17, ?18, ?19, ?20)"),
        insert_product_));
    IOTREG_TRY(assign(db_.prepare("INSERT INTO declaration_versions (id, product_id, version, "
                                  "previous_id, import_run_id, source_location, body) "
                                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                      insert_version_));
    IOTREG_TRY(assign(db_.prepare("UPDATE products SET version_count = ?1, updated_run_id = ?2, "
                                  "type = ?3, latest_version_id = ?4, status = ?6, "
                                  "evaluation_id = ?7, evaluated_version_id = ?8, findings = ?9, "
                                  "label_id = ?10, flagged = ?11, flag_id = ?12, "
                                  "support_end = ?13, class = ?14, failing_checks = ?15, "
                                  "gtin = ?16 WHERE id = ?5"),
                      update_product_));
    IOTREG_TRY(assign(db_.prepare("INSERT INTO products_fts (rowid, brand, model, type) "
                                  "VALUES (?1, ?2, ?3, ?4)"),
                      insert_fts_));
    IOTREG_TRY(assign(db_.prepare("INSERT INTO products_fts (rowid, brand, model, type) "
                                  "SELECT id, brand, model, type FROM products WHERE id >= ?1"),
                      index_new_products_));
    IOTREG_TRY(assign(db_.prepare("INSERT INTO products_fts (products_fts, rowid, brand, model, "
                                  "type) VALUES ('delete', ?1, ?2, ?3, ?4)"),
                      delete_fts_));
    IOTREG_TRY(assign(
        db_.prepare("UPDATE import_runs SET finished_at = ?1, records_read = ?2, accepted = ?3, "
                    "rejected = ?4, new_products = ?5, new_versions = ?6, unchanged = ?7, "
                    "file_error = ?8 WHERE id = ?9"),
        finish_run_));
    return Status::ok();
  }

  Status manufacturer(std::string_view name, const std::string& key, std::int64_t& id) {
    if (auto it = manufacturer_ids_.find(key); it != manufacturer_ids_.end()) {
      id = it->second;
      return Status::ok();
    }
    find_manufacturer_.bind(1, key);
    auto found = find_manufacturer_.step();
    if (!found.is_ok()) return found.status();
    if (found.value()) {
      id = find_manufacturer_.int64(0);
      find_manufacturer_.reset();
    } else {
      find_manufacturer_.reset();
      insert_manufacturer_.bind(1, name).bind(2, key);
      IOTREG_TRY(insert_manufacturer_.run());
      id = db_.last_insert_id();
      insert_manufacturer_fts_.bind(1, id).bind(2, name);
      IOTREG_TRY(insert_manufacturer_fts_.run());
    }
    manufacturer_ids_.emplace(key, id);
    return Status::ok();
  }

  // The payloads of a product's versions, from the latest back to the first.
  // Appends the payloads of `version_id` and the versions before it, latest first, at most
  // `max_versions` of them; `next_version_id` is then the version before the last one read (0:
  // the product's first version was read).
  Status read_history(std::int64_t version_id, std::vector<std::string>& history,
                      std::int64_t& next_version_id,
                      std::size_t max_versions = std::numeric_limits<std::size_t>::max()) {
    for (std::size_t read = 0; version_id != 0 && read < max_versions; ++read) {
      version_body_.bind(1, version_id);
      auto found = version_body_.step();
      if (!found.is_ok()) {
        version_body_.reset();
        return found.status();
      }
      if (!found.value()) {
        version_body_.reset();
        return Status::corruption("declaration version " + std::to_string(version_id) +
                                  " is missing from its product's history");
      }
      auto stored = decompress_body(version_body_.blob_view(0));
      version_id = version_body_.int64(1);
      version_body_.reset();
      if (!stored.is_ok()) return stored.status();
      history.push_back(std::move(stored).value());
    }
    next_version_id = version_id;
    return Status::ok();
  }

  // Finds the product with this identity; `known.id` stays 0 when there is none.
  Status find_product(const model::ProductIdentity& identity, std::int64_t manufacturer_id,
                      KnownProduct& known) {
    find_product_.bind(1, static_cast<std::int64_t>(identity.hash)).bind(2, manufacturer_id);
    for (;;) {
      auto row = find_product_.step();
      if (!row.is_ok()) {
        find_product_.reset();
        return row.status();
      }
      if (!row.value()) break;
      // Equal hashes: compare the keys, so that a collision is never taken for a match.
      if (model::identity_key(find_product_.text_view(1)) != identity.brand_key ||
          model::identity_key(find_product_.text_view(2)) != identity.model_key) {
        continue;
      }
      known.id = find_product_.int64(0);
      known.brand = find_product_.text(1);
      known.model = find_product_.text(2);
      known.type = find_product_.text(3);
      known.version_count = find_product_.int64(4);
      known.latest_version_id = find_product_.int64(5);
      known.flagged = find_product_.int64(6) != 0;
      known.status = find_product_.text(7);
      known.flag_id = find_product_.int64(8);
      break;
    }
    find_product_.reset();
    return Status::ok();
  }

  // Once this import has created kDeferIndexesAfter products, and at least a quarter as many as
  // the registry held before it, drops every index of products but the identity hash (which
  // the import reads) inside the import's transaction, to be created again from its stored
  // definition at commit. Inserting keys in random order into B-trees larger than the page
  // cache was half of a million-declaration import; building each index once from sorted keys
  // costs a fraction of it. An import small beside the registry keeps its indexes, so it never
  // pays a rebuild of the whole table. Readers see the indexes throughout: a rollback restores
  // them, and a commit publishes them rebuilt.
  Status defer_indexes_when_large() {
    const std::int64_t created = next_product_id_ - first_new_product_id_;
    const std::int64_t held_before = first_new_product_id_ - 1;
    if (indexes_deferred_ || created < std::max(kDeferIndexesAfter, held_before / 4)) {
      return Status::ok();
    }
    indexes_deferred_ = true;
    std::vector<std::string> creates;
    // The drops run in one savepoint, all of them or none; the statements to create them again
    // are kept only once they are dropped.
    std::string drops = "SAVEPOINT iotreg_defer_indexes;";
    {
      auto indexes = db_.prepare(
          "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'products' "
          "AND sql IS NOT NULL AND name <> 'products_identity' ORDER BY name");
      if (!indexes.is_ok()) return indexes.status();
      for (;;) {
        auto row = indexes->step();
        if (!row.is_ok()) return row.status();
        if (!row.value()) break;
        drops += "DROP INDEX \"" + indexes->text(0) + "\";";
        creates.push_back(indexes->text(1));
      }
    }
    IOTREG_TRY(db_.exec(drops + "RELEASE iotreg_defer_indexes;"));
    deferred_indexes_ = std::move(creates);
    return Status::ok();
  }

  Result<StoreOutcome> insert_new_product(const StagedDeclaration& staged,
                                          std::int64_t manufacturer_id, std::string_view type) {
    IOTREG_TRY(defer_indexes_when_large());
    const std::string& brand = staged.brand;
    const std::string& model_name = staged.model;
    std::int64_t product_id = next_product_id_++;
    std::int64_t version_id = next_version_id_++;
    const VerdictRecord& verdict = staged.verdict;
    insert_product_.bind(1, product_id)
        .bind(2, manufacturer_id)
        .bind(3, static_cast<std::int64_t>(staged.identity.hash))
        .bind(4, brand)
        .bind(5, model_name)
        .bind(7, version_id)
        .bind(8, run_id_);
    bind_optional(insert_product_, 6, type);
    bind_optional(insert_product_, 16, staged.support_end);
    insert_product_.bind(17, model::product_class_of(type));
    bind_optional(insert_product_, 19, staged.gtin);
    insert_product_.bind(20, staged.lookup_hash);
    if (evaluation_ && !verdict.status.empty()) {
      const enforcement::ProductFacts before{product_id, "", std::nullopt};
      const enforcement::Consequences decided =
          decide_(before, {verdict.status, verdict.failed, version_id});
      writer_->bind(insert_product_, 9, version_id, verdict, before, decided);
      insert_product_.bind(18, verdict.failing_checks);
      IOTREG_TRY(insert_product_.run());
      IOTREG_TRY(insert_version(version_id, product_id, 1, 0, staged));
      IOTREG_TRY(writer_->write(before, version_id, decided, described(staged, 1)));
    } else {
      ConsequenceWriter::bind_unjudged(insert_product_, 9);
      insert_product_.bind(18, std::string_view(""));
      IOTREG_TRY(insert_product_.run());
      IOTREG_TRY(insert_version(version_id, product_id, 1, 0, staged));
    }
    return StoreOutcome::kNewProduct;
  }

  Status insert_version(std::int64_t version_id, std::int64_t product_id, std::int64_t version,
                        std::int64_t previous_id, const StagedDeclaration& staged) {
    insert_version_.bind(1, version_id)
        .bind(2, product_id)
        .bind(3, version)
        .bind(5, run_id_)
        .bind(6, staged.source_location)
        .bind_blob(7, staged.blob);
    if (previous_id == 0) {
      insert_version_.bind_null(4);
    } else {
      insert_version_.bind(4, previous_id);
    }
    return insert_version_.run();
  }

  Database& db_;
  TemporaryStorageOnDisk temporary_storage_;  // outlives the transaction
  Transaction transaction_;
  ImportRunInfo info_;
  std::string started_at_;
  std::int64_t run_id_ = 0;
  std::int64_t next_product_id_ = 0;
  std::int64_t first_new_product_id_ = 0;  // products from here on were created by this import
  std::int64_t next_version_id_ = 0;
  std::unordered_map<std::string, std::int64_t> manufacturer_ids_;
  static constexpr std::int64_t kDeferIndexesAfter = 50'000;
  bool indexes_deferred_ = false;
  std::vector<std::string> deferred_indexes_;  // their CREATE INDEX statements, run at commit
  std::optional<EvaluationInfo> evaluation_;   // with one, what is stored is judged
  Rejudge rejudge_;
  Decide decide_;
  std::optional<ConsequenceWriter> writer_;  // from start() on
  Statement insert_run_, find_manufacturer_, insert_manufacturer_, insert_manufacturer_fts_,
      find_product_, version_body_, insert_product_, insert_version_, update_product_, insert_fts_,
      delete_fts_, index_new_products_, finish_run_;
};

// Re-checks inside one IMMEDIATE transaction, as one numbered re-check run: each product's
// verdict, flag and label follow what the rules decided; one audit event records the run.
class SqliteRecheckSession : public RecheckSession {
 public:
  SqliteRecheckSession(Database& db, const EvaluationInfo& evaluation, std::string actor,
                       std::optional<std::string> daily_date)
      : db_(db),
        transaction_(db),
        evaluation_(evaluation),
        actor_(std::move(actor)),
        daily_date_(std::move(daily_date)),
        started_at_(utc_timestamp()) {}

  Status start() {
    IOTREG_TRY(transaction_.begin());
    if (daily_date_) {
      auto done = db_.prepare("SELECT id FROM recheck_runs WHERE daily_date = ?1");
      if (!done.is_ok()) return done.status();
      done->bind(1, *daily_date_);
      auto found = done->step();
      if (!found.is_ok()) return found.status();
      if (found.value()) {
        return Status::conflict("the daily re-check of " + *daily_date_ +
                                " ran already (re-check run " + std::to_string(done->int64(0)) +
                                ")");
      }
    }
    auto insert =
        db_.prepare("INSERT INTO recheck_runs (started_at, actor, daily_date) VALUES (?1, ?2, ?3)");
    if (!insert.is_ok()) return insert.status();
    insert->bind(1, started_at_).bind(2, actor_);
    if (daily_date_) {
      insert->bind(3, *daily_date_);
    } else {
      insert->bind_null(3);
    }
    IOTREG_TRY(insert->run());
    run_id_ = db_.last_insert_id();
    writer_.emplace(db_,
                    daily_date_ ? enforcement::daily_recheck_cause(*daily_date_)
                                : enforcement::recheck_cause(run_id_),
                    started_at_);
    IOTREG_TRY(writer_->prepare(&evaluation_));
    return assign(db_.prepare("UPDATE products SET status = ?1, evaluation_id = ?2, "
                              "evaluated_version_id = ?3, findings = ?4, label_id = ?5, "
                              "flagged = ?6, flag_id = ?7, failing_checks = ?9 WHERE id = ?8"),
                  update_product_);
  }

  std::int64_t run_id() const override { return run_id_; }
  const ChangeSummary& changes() const override { return writer_->summary(); }

  Status apply(const RecheckCandidate& product, const VerdictRecord& verdict,
               const enforcement::Consequences& decided) override {
    writer_->bind(update_product_, 1, product.version_id, verdict, product.facts, decided);
    update_product_.bind(8, product.facts.product_id).bind(9, verdict.failing_checks);
    IOTREG_TRY(update_product_.run());
    return writer_->write(product.facts, product.version_id, decided,
                          {product.manufacturer, product.brand, product.model,
                           static_cast<std::int64_t>(product.payloads.size())});
  }

  Status commit(std::uint64_t checked, std::uint64_t status_changes) override {
    const std::string details = records::recheck_details(
        writer_->evaluation_id(), evaluation_, checked, status_changes, writer_->summary());
    const std::string finished_at = utc_timestamp();
    auto finish = db_.prepare(
        "UPDATE recheck_runs SET finished_at = ?1, evaluation_id = ?2, checked = ?3, "
        "status_changes = ?4 WHERE id = ?5");
    if (!finish.is_ok()) return finish.status();
    finish->bind(1, finished_at)
        .bind(2, writer_->evaluation_id())
        .bind(3, static_cast<std::int64_t>(checked))
        .bind(4, static_cast<std::int64_t>(status_changes))
        .bind(5, run_id_);
    IOTREG_TRY(finish->run());
    auto appended = sqlite::append_audit_event(
        db_, {finished_at, actor_, "recheck", "recheck_run", run_id_, details});
    if (!appended.is_ok()) return appended.status();
    return transaction_.commit();
  }

 private:
  Database& db_;
  Transaction transaction_;
  EvaluationInfo evaluation_;
  std::string actor_;
  std::optional<std::string> daily_date_;
  std::string started_at_;
  std::int64_t run_id_ = 0;
  std::optional<ConsequenceWriter> writer_;  // from start() on
  Statement update_product_;
};

// An officer's action on flags inside one IMMEDIATE transaction: the new states, each product's
// flagged mark, the status history and one audit event per flag. Decides nothing: the rules
// (enforcement::officer_transition) chose every state before write().
class SqliteFlagActionSession : public FlagActionSession {
 public:
  SqliteFlagActionSession(Database& db, std::string actor)
      : db_(db), transaction_(db), actor_(std::move(actor)), at_(utc_timestamp()) {}

  Status start() { return transaction_.begin(); }

  Result<enforcement::FlagFacts> flag(std::int64_t flag_id, std::int64_t& product_id,
                                      std::int64_t& latest_version_id) override {
    auto found = db_.prepare(
        "SELECT f.state, f.raised_version_id, coalesce(f.covered_version_id, 0), "
        "coalesce(f.remedied_version_id, 0), f.product_id, p.latest_version_id "
        "FROM flags f JOIN products p ON p.id = f.product_id WHERE f.id = ?1");
    if (!found.is_ok()) return found.status();
    found->bind(1, flag_id);
    auto row = found->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) return Status::not_found("no flag with id " + std::to_string(flag_id));
    auto state = read_state(found->text_view(0), flag_id);
    if (!state.is_ok()) return state.status();
    product_id = found->int64(4);
    latest_version_id = found->int64(5);
    return enforcement::FlagFacts{flag_id, state.value(), found->int64(1), found->int64(2),
                                  found->int64(3)};
  }

  Status write(const Transition& transition) override {
    const bool closes = !enforcement::is_open(transition.to);
    auto update = db_.prepare(
        "UPDATE flags SET state = ?1, updated_at = ?2, notice = coalesce(?3, notice), "
        "covered_version_id = ?4 WHERE id = ?5");
    if (!update.is_ok()) return update.status();
    update->bind(1, state_name(transition.to)).bind(2, at_).bind(5, transition.flag_id);
    if (transition.notice.empty()) {
      update->bind_null(3);
    } else {
      update->bind(3, transition.notice);
    }
    if (closes) {
      update->bind(4, transition.version_id);
    } else {
      update->bind_null(4);
    }
    IOTREG_TRY(update->run());
    // The product is flagged while its newest flag is open.
    auto flagged = db_.prepare("UPDATE products SET flagged = ?1 WHERE id = ?2 AND flag_id = ?3");
    if (!flagged.is_ok()) return flagged.status();
    flagged->bind(1, std::int64_t{closes ? 0 : 1})
        .bind(2, transition.product_id)
        .bind(3, transition.flag_id);
    IOTREG_TRY(flagged->run());
    if (event_id_ == 0) {
      auto event = record_change_event(db_, at_, actor_);
      if (!event.is_ok()) return event.status();
      event_id_ = event.value();
    }
    auto change = db_.prepare(
        "INSERT INTO status_changes (event_id, product_id, version_id, kind, from_value, "
        "to_value, flag_id, reason) VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6, ?7)");
    if (!change.is_ok()) return change.status();
    change->bind(1, event_id_)
        .bind(2, transition.product_id)
        .bind(3, transition.version_id)
        .bind(4, state_name(transition.from))
        .bind(5, state_name(transition.to))
        .bind(6, transition.flag_id)
        .bind(7, transition.reason);
    IOTREG_TRY(change->run());
    const std::string details = records::flag_transition_details(transition);
    auto appended = sqlite::append_audit_event(
        db_, {at_, actor_, transition.action, "flag", transition.flag_id, details});
    return appended.is_ok() ? Status::ok() : appended.status();
  }

  Status commit() override { return transaction_.commit(); }

 private:
  Database& db_;
  Transaction transaction_;
  std::string actor_;
  std::string at_;
  std::int64_t event_id_ = 0;  // the action's change event, made with its first change
};

constexpr const char* kProductColumns =
    "SELECT p.id, m.name, p.brand, p.model, coalesce(p.type, ''), p.status, p.flagged, "
    "p.version_count, cr.started_at, ur.started_at, coalesce(p.label_id, ''), "
    "coalesce(p.evaluation_id, 0), "
    // The latest version's number is the count of versions: no seek into the versions.
    "CASE WHEN p.evaluated_version_id = p.latest_version_id THEN p.version_count ELSE "
    "coalesce((SELECT version FROM declaration_versions WHERE id = p.evaluated_version_id), 0) "
    "END, "
    "p.findings, coalesce(nf.state, ''), "
    "nf.state = 'confirmed' AND nf.remedied_version_id IS NOT NULL, "
    "coalesce(p.support_end, ''), coalesce(p.flag_id, 0), p.class "
    "FROM products p JOIN manufacturers m ON m.id = p.manufacturer_id "
    "JOIN import_runs cr ON cr.id = p.created_run_id "
    "JOIN import_runs ur ON ur.id = p.updated_run_id "
    "LEFT JOIN flags nf ON nf.id = p.flag_id ";

ProductSummary read_product(const Statement& row) {
  ProductSummary product;
  product.id = row.int64(0);
  product.manufacturer = row.text(1);
  product.brand = row.text(2);
  product.model = row.text(3);
  product.type = row.text(4);
  product.status = row.text(5);
  product.flagged = row.int64(6) != 0;
  product.version_count = row.int64(7);
  product.created_at = row.text(8);
  product.updated_at = row.text(9);
  product.label_id = row.text(10);
  product.evaluation_id = row.int64(11);
  product.evaluated_version = row.int64(12);
  product.findings = std::string(row.blob_view(13));
  product.flag_state = enforcement::parse_flag_state(row.text_view(14));
  product.remedied = row.int64(15) != 0;
  product.support_end = row.text(16);
  product.flag_id = row.int64(17);
  product.product_class = row.text(18);
  return product;
}

using records::kFlagColumns;

// Adds each flag's history: its raise, then every change of its state (status_changes).
Status add_history(Database& db, std::vector<FlagRecord>& flags) {
  auto changes = db.prepare(
      "SELECT c.to_value, e.at, e.cause, coalesce(c.reason, '') FROM status_changes c "
      "JOIN change_events e ON e.id = c.event_id "
      "WHERE c.flag_id = ?1 AND c.from_value IS NOT NULL ORDER BY c.id");
  if (!changes.is_ok()) return changes.status();
  for (auto& flag : flags) {
    flag.history.push_back(
        {enforcement::FlagState::kRaised, flag.raised_at, flag.raised_by, flag.raise_reason});
    changes->bind(1, flag.id);
    for (;;) {
      auto row = changes->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      auto state = read_state(changes->text_view(0), flag.id);
      if (!state.is_ok()) return state.status();
      flag.history.push_back({state.value(), changes->text(1), changes->text(2), changes->text(3)});
    }
    changes->reset();
  }
  return Status::ok();
}

Result<std::vector<FlagRecord>> read_flags(Statement& statement) {
  std::vector<FlagRecord> flags;
  for (;;) {
    auto row = statement.step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    FlagRecord flag;
    flag.id = statement.int64(0);
    flag.product_id = statement.int64(1);
    auto state = read_state(statement.text_view(2), flag.id);
    if (!state.is_ok()) return state.status();
    flag.state = state.value();
    flag.raised_at = statement.text(3);
    flag.raised_by = statement.text(4);
    flag.raised_version = statement.int64(5);
    flag.raise_reason = statement.text(6);
    flag.updated_at = statement.text(7);
    flag.manufacturer = statement.text(8);
    flag.brand = statement.text(9);
    flag.model = statement.text(10);
    flag.remedied_version = statement.int64(11);
    flag.notice = statement.text(12);
    flags.push_back(std::move(flag));
  }
  return flags;
}

using records::kTokenColumns;

TokenRecord read_token(const Statement& row) {
  return {row.int64(0), row.text(1), row.text(2), row.text(3), row.text(4),
          row.text(5),  row.text(6), row.text(7), row.text(8), row.text(9)};
}

// The WHERE clause shared by product lists, facets and exports. Parameters 7 and 8 are the
// caller's, the others its own; the values are only ever bound, never spliced into the SQL.
class ProductFilter {
 public:
  // The search words are the tokens `tokenizer` finds in query.search, each once; text without
  // any is no search condition. `tokenizer` may be null when the query has no search.
  Status build(const ProductQuery& query, const sqlite::SearchTokenizer* tokenizer) {
    query_ = &query;
    if (query.search) {
      auto tokens = tokenizer->tokenize(*query.search);
      if (!tokens.is_ok()) return tokens.status();
      std::set<std::string_view> words;
      for (const auto& token : tokens.value()) {
        if (words.insert(token.folded).second) {
          terms_.push_back(sqlite::prefix_term(*query.search, token));
          words_.push_back(token.folded);
        }
      }
      if (terms_.size() > kMaxSearchWords) {
        return Status::invalid_argument("the search has " + std::to_string(terms_.size()) +
                                        " different words; at most " +
                                        std::to_string(kMaxSearchWords) + " are allowed");
      }
    }
    if (query.manufacturer) manufacturer_key_ = model::identity_key(*query.manufacturer);
    return Status::ok();
  }

  // Only the conditions in use, so that the planner sees plain lookups. Each search word must
  // match the product's brand, model or type, or its manufacturer's name.
  std::string where() const {
    std::string sql = "WHERE 1 ";
    if (query_->status) sql += "AND p.status = ?1 ";
    if (query_->flagged) sql += "AND p.flagged = ?2 ";
    if (query_->manufacturer) {
      sql += "AND p.manufacturer_id IN (SELECT id FROM manufacturers WHERE instr(name_key, ?3)) ";
    }
    if (query_->type) sql += "AND lower(p.type) = lower(?4) ";
    if (query_->product_class) sql += "AND p.class = ?12 ";
    if (query_->failing) sql += "AND instr(p.failing_checks, ' ' || ?13 || ' ') ";
    if (query_->support_ends_before) sql += "AND p.support_end < ?9 ";
    if (query_->support_ends_after) sql += "AND p.support_end > ?10 ";
    if (query_->changed_since) {
      sql +=
          "AND (p.updated_run_id IN (SELECT id FROM import_runs WHERE started_at >= ?11) "
          "OR p.id IN (SELECT product_id FROM status_changes WHERE id >= coalesce("
          "(SELECT min(first_change_id) FROM change_events WHERE at >= ?11), "
          "9223372036854775807))) ";
    }
    if (query_->flag_state) sql += "AND p.flag_id IN (SELECT id FROM flags WHERE state = ?6) ";
    if (query_->remedied) {
      sql += *query_->remedied ? "AND " : "AND NOT ";
      sql +=
          "coalesce(p.flag_id IN (SELECT id FROM flags WHERE state = 'confirmed' "
          "AND remedied_version_id IS NOT NULL), 0) ";
    }
    if (query_->only_manufacturer_key) {
      sql += "AND p.manufacturer_id IN (SELECT id FROM manufacturers WHERE name_key = ?5) ";
    }
    for (std::size_t i = 0; i < terms_.size(); ++i) {
      std::string placeholder = "?" + std::to_string(kFirstTermParameter + i);
      sql += "AND p.id IN (SELECT rowid FROM products_fts WHERE products_fts MATCH " + placeholder +
             " UNION ALL SELECT id FROM products WHERE manufacturer_id IN "
             "(SELECT rowid FROM manufacturers_fts WHERE manufacturers_fts MATCH " +
             placeholder + ")) ";
    }
    return sql;
  }

  // The search words, each once, as the full-text index folds them: all must match.
  const std::vector<std::string>& words() const { return words_; }

  void bind(Statement& statement) const {
    if (query_->status) statement.bind(1, *query_->status);
    if (query_->flagged) statement.bind(2, std::int64_t{*query_->flagged ? 1 : 0});
    if (query_->manufacturer) statement.bind(3, manufacturer_key_);
    if (query_->type) statement.bind(4, *query_->type);
    if (query_->only_manufacturer_key) statement.bind(5, *query_->only_manufacturer_key);
    if (query_->flag_state) statement.bind(6, enforcement::flag_state_name(*query_->flag_state));
    if (query_->support_ends_before) statement.bind(9, *query_->support_ends_before);
    if (query_->support_ends_after) statement.bind(10, *query_->support_ends_after);
    if (query_->changed_since) statement.bind(11, *query_->changed_since);
    if (query_->product_class) statement.bind(12, *query_->product_class);
    if (query_->failing) statement.bind(13, *query_->failing);
    for (std::size_t i = 0; i < terms_.size(); ++i) {
      statement.bind(static_cast<int>(kFirstTermParameter + i), terms_[i]);
    }
  }

 private:
  static constexpr std::size_t kFirstTermParameter = 14;  // after the caller's 7 and 8
  const ProductQuery* query_ = nullptr;
  std::vector<std::string> terms_;  // words_ as FTS5 prefix queries
  std::vector<std::string> words_;
  std::string manufacturer_key_;
};

// The column list of a copied table, e.g. "id, name, name_key".
std::string column_list(const CopiedTable& table) {
  std::string out;
  for (const auto& column : table.columns) {
    if (!out.empty()) out += ", ";
    out += column.name;
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

// Writes a copy into an empty registry inside one IMMEDIATE transaction; the full-text index is
// built from the copied rows at commit.
class SqliteCopySession : public CopySession {
 public:
  explicit SqliteCopySession(Database& db) : db_(db), transaction_(db) {}
  Status start() { return transaction_.begin(); }

  Status write_rows(const CopiedTable& table, std::span<const Row> rows) override {
    std::string placeholders;
    for (std::size_t i = 1; i <= table.columns.size(); ++i) {
      placeholders += (i > 1 ? ", ?" : "?") + std::to_string(i);
    }
    auto insert = db_.prepare("INSERT INTO " + std::string(table.name) + " (" + column_list(table) +
                              ") VALUES (" + placeholders + ")");
    if (!insert.is_ok()) return insert.status();
    for (const Row& row : rows) {
      for (std::size_t i = 0; i < row.size(); ++i) {
        const int index = static_cast<int>(i + 1);
        const Cell& cell = row[i];
        switch (cell.kind) {
          case Cell::Kind::kNull:
            insert->bind_null(index);
            break;
          case Cell::Kind::kInteger:
            insert->bind(index, cell.integer);
            break;
          case Cell::Kind::kText:
            insert->bind(index, cell.text);
            break;
          case Cell::Kind::kBytes:
            insert->bind_blob(index, cell.text);
            break;
        }
      }
      IOTREG_TRY(insert->run());
    }
    return Status::ok();
  }

  Status commit() override {
    IOTREG_TRY(db_.exec(
        "INSERT INTO products_fts (rowid, brand, model, type) "
        "SELECT id, brand, model, type FROM products;"
        "INSERT INTO manufacturers_fts (rowid, name) SELECT id, name FROM manufacturers;"));
    return transaction_.commit();
  }

 private:
  Database& db_;
  Transaction transaction_;
};

// A transaction that is never committed: the sessions inside it use savepoints. An import
// inside it (a dry run) builds its deferred indexes with temporary files, as a real one does.
class SqlitePreview : public Preview {
 public:
  explicit SqlitePreview(Database& db) : temporary_storage_(db), transaction_(db) {}
  Status start() { return transaction_.begin(); }

 private:
  TemporaryStorageOnDisk temporary_storage_;  // outlives the transaction
  Transaction transaction_;
};

class SqliteStorage : public Storage {
 public:
  // `facet_columns`: those this connection counts facets from, or null to read the products.
  SqliteStorage(std::unique_ptr<Database> db,
                std::shared_ptr<sqlite::SharedFacetColumns> facet_columns)
      : db_(std::move(db)), facet_columns_(std::move(facet_columns)) {}

  Result<std::unique_ptr<Preview>> begin_preview() override {
    auto preview = std::make_unique<SqlitePreview>(*db_);
    IOTREG_TRY(preview->start());
    return std::unique_ptr<Preview>(std::move(preview));
  }

  void interrupt() override { sqlite3_interrupt(db_->handle()); }

  std::unique_ptr<ReadHold> hold_reads() override {
    struct Held : ReadHold {
      explicit Held(Database& db) : snapshot(db) {}
      ReadSnapshot snapshot;
    };
    return std::make_unique<Held>(*db_);
  }

  Result<bool> is_empty() override {
    auto empty = db_->query_int(every_table_empty());
    if (!empty.is_ok()) return empty.status();
    return empty.value() != 0;
  }

  Status read_rows(const CopiedTable& table, std::int64_t after_id, std::size_t limit,
                   std::vector<Row>& rows) override {
    auto select = db_->prepare("SELECT " + column_list(table) + " FROM " + table.name +
                               " WHERE id > ?1 ORDER BY id LIMIT ?2");
    if (!select.is_ok()) return select.status();
    select->bind(1, after_id).bind(2, static_cast<std::int64_t>(limit));
    for (;;) {
      auto found = select->step();
      if (!found.is_ok()) return found.status();
      if (!found.value()) break;
      Row row(table.columns.size());
      for (std::size_t i = 0; i < row.size(); ++i) {
        const int column = static_cast<int>(i);
        if (select->is_null(column)) continue;
        row[i].kind = table.columns[i].kind;
        switch (table.columns[i].kind) {
          case Cell::Kind::kInteger:
            row[i].integer = select->int64(column);
            break;
          case Cell::Kind::kBytes:
            row[i].text = std::string(select->blob_view(column));
            break;
          default:
            row[i].text = select->text(column);
        }
      }
      rows.push_back(std::move(row));
    }
    return Status::ok();
  }

  Result<std::unique_ptr<CopySession>> begin_copy() override {
    auto session = std::make_unique<SqliteCopySession>(*db_);
    IOTREG_TRY(session->start());
    auto empty = is_empty();
    if (!empty.is_ok()) return empty.status();
    if (!empty.value()) {
      return Status::conflict("registry " + db_->path() +
                              " is not empty: a copy goes only into an empty registry");
    }
    return std::unique_ptr<CopySession>(std::move(session));
  }

  Result<std::unique_ptr<ImportSession>> begin_import(const ImportRunInfo& info,
                                                      const EvaluationInfo* evaluation,
                                                      Rejudge rejudge, Decide decide) override {
    return records::start_session<ImportSession, SqliteImportSession>(
        *db_, info, evaluation, std::move(rejudge), std::move(decide));
  }

  Result<std::vector<RecheckCandidate>> recheck_candidates(const EvaluationInfo& evaluation,
                                                           RecheckScope scope,
                                                           std::int64_t after_id,
                                                           std::size_t limit) override {
    const char* selected = "";
    switch (scope) {
      case RecheckScope::kStale:
        selected =
            "(e.key IS NULL OR e.key != ?2 OR p.evaluated_version_id IS NOT p.latest_version_id)";
        break;
      case RecheckScope::kAll:
        selected = "1";
        break;
      case RecheckScope::kEarlierDate:
        selected = "(e.policy_id = ?3 AND e.as_of < ?4)";
        break;
    }
    auto statement = db_->prepare(
        "SELECT p.id, p.latest_version_id, m.name, p.brand, p.model, p.status, "
        "coalesce(f.id, 0), coalesce(f.state, ''), coalesce(f.raised_version_id, 0), "
        "coalesce(f.covered_version_id, 0), coalesce(f.remedied_version_id, 0) "
        "FROM products p JOIN manufacturers m ON m.id = p.manufacturer_id "
        "LEFT JOIN evaluations e ON e.id = p.evaluation_id "
        "LEFT JOIN flags f ON f.id = p.flag_id "
        "WHERE p.id > ?1 AND " +
        std::string(selected) + " ORDER BY p.id LIMIT ?5");
    if (!statement.is_ok()) return statement.status();
    statement->bind(1, after_id)
        .bind(2, evaluation.key)
        .bind(3, evaluation.policy_id)
        .bind(4, evaluation.as_of)
        .bind(5, static_cast<std::int64_t>(limit));
    std::vector<RecheckCandidate> candidates;
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      RecheckCandidate candidate;
      candidate.facts.product_id = statement->int64(0);
      candidate.version_id = statement->int64(1);
      candidate.manufacturer = statement->text(2);
      candidate.brand = statement->text(3);
      candidate.model = statement->text(4);
      candidate.facts.status = statement->text(5);
      if (const std::int64_t flag_id = statement->int64(6); flag_id != 0) {
        auto state = read_state(statement->text_view(7), flag_id);
        if (!state.is_ok()) return state.status();
        candidate.facts.newest_flag = enforcement::FlagFacts{
            flag_id, state.value(), statement->int64(8), statement->int64(9), statement->int64(10)};
      }
      candidates.push_back(std::move(candidate));
    }
    auto chain = db_->prepare(
        "SELECT body, coalesce(previous_id, 0) FROM declaration_versions WHERE id = ?1");
    if (!chain.is_ok()) return chain.status();
    for (auto& candidate : candidates) {
      for (std::int64_t next = candidate.version_id; next != 0;) {
        chain->bind(1, next);
        auto row = chain->step();
        if (!row.is_ok()) return row.status();
        if (!row.value()) {
          return Status::corruption("version chain of product " +
                                    std::to_string(candidate.facts.product_id) + " is broken");
        }
        auto payload = decompress_body(chain->blob_view(0));
        next = chain->int64(1);
        chain->reset();
        if (!payload.is_ok()) return payload.status();
        candidate.payloads.push_back(std::move(payload).value());
      }
      std::reverse(candidate.payloads.begin(), candidate.payloads.end());
    }
    return candidates;
  }

  Result<std::unique_ptr<RecheckSession>> begin_recheck(
      const EvaluationInfo& evaluation, const std::string& actor,
      std::optional<std::string> daily_date) override {
    return records::start_session<RecheckSession, SqliteRecheckSession>(*db_, evaluation, actor,
                                                                        std::move(daily_date));
  }

  Result<std::unique_ptr<FlagActionSession>> begin_flag_action(const std::string& actor) override {
    return records::start_session<FlagActionSession, SqliteFlagActionSession>(*db_, actor);
  }

  Result<std::vector<ChangeRecord>> changes(const ChangeQuery& query) override {
    std::string sql =
        "SELECT c.id, c.product_id, m.name, p.brand, p.model, coalesce(v.version, 0), "
        "CASE c.kind WHEN 0 THEN 'status' ELSE 'flag' END, coalesce(c.from_value, ''), "
        "c.to_value, coalesce(c.flag_id, 0), e.at, e.cause, "
        "coalesce(c.reason, (SELECT raise_reason FROM flags WHERE id = c.flag_id), '') "
        "FROM status_changes c JOIN change_events e ON e.id = c.event_id "
        "JOIN products p ON p.id = c.product_id "
        "JOIN manufacturers m ON m.id = p.manufacturer_id "
        "LEFT JOIN declaration_versions v ON v.id = c.version_id WHERE 1 ";
    // The changes since a time are those from the first change of the first event since then.
    const char* since_event =
        "AND c.id >= coalesce((SELECT min(first_change_id) FROM change_events WHERE at >= %s), "
        "9223372036854775807) ";
    char condition[256];
    if (query.since) {
      std::snprintf(condition, sizeof condition, since_event, "?1");
      sql += condition;
    }
    if (query.since_run) {
      std::snprintf(condition, sizeof condition, since_event,
                    "(SELECT started_at FROM import_runs WHERE id = ?2)");
      sql += condition;
    }
    if (query.cause) sql += "AND c.event_id IN (SELECT id FROM change_events WHERE cause = ?3) ";
    if (query.only_manufacturer_key) sql += "AND m.name_key = ?4 ";
    if (query.before_id > 0) sql += "AND c.id < ?5 ";
    sql += "ORDER BY c.id DESC";
    if (query.limit > 0) sql += " LIMIT ?6";
    auto statement = db_->prepare(sql);
    if (!statement.is_ok()) return statement.status();
    if (query.since) statement->bind(1, *query.since);
    if (query.since_run) statement->bind(2, *query.since_run);
    if (query.cause) statement->bind(3, *query.cause);
    if (query.only_manufacturer_key) statement->bind(4, *query.only_manufacturer_key);
    if (query.before_id > 0) statement->bind(5, query.before_id);
    if (query.limit > 0) statement->bind(6, static_cast<std::int64_t>(query.limit));
    std::vector<ChangeRecord> changes;
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      changes.push_back({statement->int64(0), statement->int64(1), statement->text(2),
                         statement->text(3), statement->text(4), statement->int64(5),
                         statement->text(6), statement->text(7), statement->text(8),
                         statement->int64(9), statement->text(10), statement->text(11),
                         statement->text(12)});
    }
    return changes;
  }

  Result<std::vector<ProductSummary>> list_products(const ProductQuery& query) override {
    ProductFilter filter;
    IOTREG_TRY(build_filter(query, filter));
    auto statement = db_->prepare(std::string(kProductColumns) + filter.where() +
                                  "AND p.id > ?7 ORDER BY p.id LIMIT ?8");
    if (!statement.is_ok()) return statement.status();
    filter.bind(*statement);
    statement->bind(7, query.after_id.value_or(0));
    statement->bind(8,
                    query.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(query.limit));
    std::vector<ProductSummary> products;
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      products.push_back(read_product(*statement));
    }
    return products;
  }

  Result<ProductFacets> product_facets(const ProductQuery& query) override {
    ReadSnapshot snapshot(*db_);
    auto counted = facets_from_columns(snapshot, query, nullptr);
    if (!counted.is_ok()) return counted.status();
    if (counted.value()) return std::move(*counted.value());
    return count_facets(query, [this](const ProductQuery& part) { return facet_groups(part); });
  }

  // One pass over the matches for the facets and the page: while the facets of the whole query
  // are counted, the smallest `limit` ids after `after_id` are kept, and the page is then read
  // by id. (The page's own query would find every match again: the full-text search and the
  // list of matches it builds were a fifth of a search.)
  Result<ProductPage> list_products_with_facets(const ProductQuery& query) override {
    if (query.limit == 0) return Storage::list_products_with_facets(query);
    ReadSnapshot snapshot(*db_);  // the page and the facets of one state of the registry
    ProductPage page;
    FirstIds ids{query.after_id.value_or(0), query.limit, {}};
    auto counted = facets_from_columns(snapshot, query, &ids);
    if (!counted.is_ok()) return counted.status();
    if (counted.value()) {
      page.facets = std::move(*counted.value());
    } else {
      // count_facets groups `query` itself once, and copies without one condition for the others.
      auto facets = count_facets(query, [&](const ProductQuery& part) {
        return facet_groups(part, &part == &query ? &ids : nullptr);
      });
      if (!facets.is_ok()) return facets.status();
      page.facets = std::move(facets).value();
    }
    std::sort_heap(ids.heap.begin(), ids.heap.end());
    auto products = products_by_id(ids.heap);
    if (!products.is_ok()) return products.status();
    page.products = std::move(products).value();
    return page;
  }

  Result<std::vector<ManufacturerCount>> top_manufacturers(const ProductQuery& query,
                                                           std::size_t limit) override {
    ProductFilter filter;
    IOTREG_TRY(build_filter(query, filter));
    auto statement = db_->prepare(
        "SELECT m.name, count(*) AS n FROM products p JOIN manufacturers m "
        "ON m.id = p.manufacturer_id " +
        filter.where() + "GROUP BY m.id ORDER BY n DESC, m.name LIMIT ?8");
    if (!statement.is_ok()) return statement.status();
    filter.bind(*statement);
    statement->bind(8, static_cast<std::int64_t>(limit));
    std::vector<ManufacturerCount> top;
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      top.push_back({statement->text(0), static_cast<std::uint64_t>(statement->int64(1))});
    }
    return top;
  }

  Result<std::map<std::string, std::uint64_t>> support_end_by_quarter(
      const ProductQuery& query, const std::string& from_day) override {
    ProductFilter filter;
    IOTREG_TRY(build_filter(query, filter));
    auto statement = db_->prepare(
        "SELECT substr(p.support_end, 1, 4) || '-Q' || "
        "((CAST(substr(p.support_end, 6, 2) AS INTEGER) + 2) / 3) AS quarter, count(*) "
        "FROM products p " +
        filter.where() + "AND p.support_end >= ?7 GROUP BY quarter");
    if (!statement.is_ok()) return statement.status();
    filter.bind(*statement);
    statement->bind(7, from_day);
    std::map<std::string, std::uint64_t> quarters;
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      quarters[statement->text(0)] = static_cast<std::uint64_t>(statement->int64(1));
    }
    return quarters;
  }

  Result<ProductSummary> product(std::int64_t id) override {
    auto statement = db_->prepare(std::string(kProductColumns) + "WHERE p.id = ?1");
    if (!statement.is_ok()) return statement.status();
    statement->bind(1, id);
    auto row = statement->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) return Status::not_found("no product with id " + std::to_string(id));
    return read_product(*statement);
  }

  Result<std::vector<DeclarationVersion>> versions(std::int64_t product_id) override {
    ReadSnapshot snapshot(*db_);  // the chain of one state
    auto latest = latest_version_id(product_id);
    if (!latest.is_ok()) return latest.status();
    std::int64_t next = latest.value();
    auto statement = db_->prepare(
        "SELECT v.id, v.version, v.body, v.import_run_id, r.started_at, r.source, "
        "coalesce(v.source_location, ''), coalesce(v.previous_id, 0) "
        "FROM declaration_versions v JOIN import_runs r ON r.id = v.import_run_id "
        "WHERE v.id = ?1 AND v.product_id = ?2");
    if (!statement.is_ok()) return statement.status();
    std::vector<DeclarationVersion> versions;
    while (next != 0) {
      statement->bind(1, next).bind(2, product_id);
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) {
        return Status::corruption("version chain of product " + std::to_string(product_id) +
                                  " is broken at declaration version id " + std::to_string(next));
      }
      auto payload = decompress_body(statement->blob_view(2));
      if (!payload.is_ok()) return payload.status();
      auto body_json = payload_to_json(payload.value());
      if (!body_json.is_ok()) return body_json.status();
      versions.push_back({statement->int64(0), statement->int64(1), std::move(body_json).value(),
                          statement->int64(3), statement->text(4), statement->text(5),
                          statement->text(6)});
      next = statement->int64(7);
      statement->reset();
    }
    std::reverse(versions.begin(), versions.end());
    return versions;
  }

  Result<AuditVerification> verify_audit() override { return sqlite::verify_audit_chain(*db_); }

  Result<std::int64_t> create_token(const TokenRecord& token) override {
    Transaction transaction(*db_);
    IOTREG_TRY(transaction.begin());
    auto insert = db_->prepare(
        "INSERT INTO tokens (token_hash, role, manufacturer_key, manufacturer_name, created_at, "
        "created_by, expires, holder) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!insert.is_ok()) return insert.status();
    insert->bind(1, token.token_hash)
        .bind(2, token.role)
        .bind(5, token.created_at)
        .bind(6, token.created_by)
        .bind(8, token.holder);
    auto optional_text = [&](int index, const std::string& text) {
      if (text.empty()) {
        insert->bind_null(index);
      } else {
        insert->bind(index, text);
      }
    };
    optional_text(3, token.manufacturer_key);
    optional_text(4, token.manufacturer_name);
    optional_text(7, token.expires);
    IOTREG_TRY(insert->run());
    std::int64_t id = db_->last_insert_id();
    const std::string details = records::token_details(token);
    auto appended = sqlite::append_audit_event(
        *db_, {token.created_at, token.created_by, "token.create", "token", id, details});
    if (!appended.is_ok()) return appended.status();
    IOTREG_TRY(transaction.commit());
    return id;
  }

  Result<std::vector<TokenRecord>> tokens() override {
    auto statement = db_->prepare(std::string(kTokenColumns) + "ORDER BY id");
    if (!statement.is_ok()) return statement.status();
    std::vector<TokenRecord> tokens;
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      tokens.push_back(read_token(*statement));
    }
    return tokens;
  }

  Result<std::optional<TokenRecord>> find_token(const std::string& token_hash) override {
    auto statement = db_->prepare(std::string(kTokenColumns) + "WHERE token_hash = ?1");
    if (!statement.is_ok()) return statement.status();
    statement->bind(1, token_hash);
    auto row = statement->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) return std::optional<TokenRecord>();
    return std::optional<TokenRecord>(read_token(*statement));
  }

  Status revoke_token(std::int64_t id, const std::string& actor) override {
    Transaction transaction(*db_);
    IOTREG_TRY(transaction.begin());
    auto current = db_->prepare("SELECT revoked_at FROM tokens WHERE id = ?1");
    if (!current.is_ok()) return current.status();
    current->bind(1, id);
    auto row = current->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) return Status::not_found("no token with id " + std::to_string(id));
    if (!current->is_null(0)) {
      return Status::invalid_argument("token " + std::to_string(id) + " was already revoked at " +
                                      current->text(0));
    }
    current->reset();
    std::string at = utc_timestamp();
    auto update = db_->prepare("UPDATE tokens SET revoked_at = ?1 WHERE id = ?2");
    if (!update.is_ok()) return update.status();
    update->bind(1, at).bind(2, id);
    IOTREG_TRY(update->run());
    auto appended =
        sqlite::append_audit_event(*db_, {at, actor, "token.revoke", "token", id, "{}"});
    if (!appended.is_ok()) return appended.status();
    return transaction.commit();
  }

  Result<std::vector<ProductSummary>> products_by_gtin(const std::string& gtin,
                                                       std::size_t limit) override {
    auto statement =
        db_->prepare(std::string(kProductColumns) + "WHERE p.gtin = ?1 ORDER BY p.id LIMIT ?2");
    if (!statement.is_ok()) return statement.status();
    statement->bind(1, gtin).bind(2, static_cast<std::int64_t>(limit));
    return read_products(*statement);
  }

  Result<std::vector<ProductSummary>> products_by_brand_model(std::string_view brand,
                                                              std::string_view model_name,
                                                              std::size_t limit) override {
    auto statement =
        db_->prepare(std::string(kProductColumns) + "WHERE p.lookup_hash = ?1 ORDER BY p.id");
    if (!statement.is_ok()) return statement.status();
    statement->bind(1, static_cast<std::int64_t>(model::brand_model_hash(brand, model_name)));
    const std::string brand_key = model::identity_key(brand);
    const std::string model_key = model::identity_key(model_name);
    // Rows are read only until `limit` match (many manufacturers may declare one brand and
    // model). Equal hashes: compare the keys, so that a collision is never taken for a match.
    std::vector<ProductSummary> products;
    while (products.size() < limit) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      if (model::identity_key(statement->text_view(2)) != brand_key ||
          model::identity_key(statement->text_view(3)) != model_key) {
        continue;
      }
      products.push_back(read_product(*statement));
    }
    return products;
  }

  Result<std::uint64_t> record_unregistered_lookups(std::span<const UnregisteredLookup> lookups,
                                                    std::size_t max_entries) override {
    Transaction transaction(*db_);
    IOTREG_TRY(transaction.begin());
    auto stored = db_->query_int("SELECT count(*) FROM unregistered_lookups");
    if (!stored.is_ok()) return stored.status();
    auto update = db_->prepare(
        "UPDATE unregistered_lookups SET lookups = lookups + ?4, "
        "first_seen = min(first_seen, ?5), last_seen = max(last_seen, ?6) "
        "WHERE gtin = ?1 AND brand_key = ?2 AND model_key = ?3");
    if (!update.is_ok()) return update.status();
    auto insert = db_->prepare(
        "INSERT INTO unregistered_lookups (gtin, brand, model, brand_key, model_key, lookups, "
        "first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    if (!insert.is_ok()) return insert.status();
    auto left_out = records::record_unregistered(
        lookups, static_cast<std::size_t>(stored.value()), max_entries,
        [&](const UnregisteredLookup& lookup, const records::LookupKeys& keys) -> Result<bool> {
          update->bind(1, lookup.gtin)
              .bind(2, keys.brand)
              .bind(3, keys.model)
              .bind(4, static_cast<std::int64_t>(lookup.lookups))
              .bind(5, lookup.first_seen)
              .bind(6, lookup.last_seen);
          IOTREG_TRY(update->run());
          return sqlite3_changes(db_->handle()) > 0;
        },
        [&](const UnregisteredLookup& lookup, const records::LookupKeys& keys) {
          insert->bind(1, lookup.gtin)
              .bind(2, lookup.brand)
              .bind(3, lookup.model)
              .bind(4, keys.brand)
              .bind(5, keys.model)
              .bind(6, static_cast<std::int64_t>(lookup.lookups))
              .bind(7, lookup.first_seen)
              .bind(8, lookup.last_seen);
          return insert->run();
        });
    if (!left_out.is_ok()) return left_out.status();
    IOTREG_TRY(transaction.commit());
    return left_out;
  }

  Result<std::vector<UnregisteredLookup>> unregistered_lookups(
      const UnregisteredLookupQuery& query) override {
    auto statement = db_->prepare(
        "SELECT id, gtin, brand, model, lookups, first_seen, last_seen FROM unregistered_lookups "
        "WHERE (?1 IS NULL OR substr(last_seen, 1, 10) >= ?1) "
        "AND (?3 = 0 OR lookups < ?2 OR (lookups = ?2 AND id > ?3)) "
        "ORDER BY lookups DESC, id LIMIT ?4");
    if (!statement.is_ok()) return statement.status();
    if (query.seen_since) statement->bind(1, *query.seen_since);
    statement->bind(2, static_cast<std::int64_t>(query.after_lookups))
        .bind(3, query.after_id)
        .bind(4, query.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(query.limit));
    std::vector<UnregisteredLookup> entries;
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      entries.push_back({statement->int64(0), statement->text(1), statement->text(2),
                         statement->text(3), static_cast<std::uint64_t>(statement->int64(4)),
                         statement->text(5), statement->text(6)});
    }
    return entries;
  }

  Status create_session(const SessionRecord& session) override {
    Transaction transaction(*db_);
    IOTREG_TRY(transaction.begin());
    auto expired = db_->prepare("DELETE FROM sessions WHERE expires_at < ?1");
    if (!expired.is_ok()) return expired.status();
    expired->bind(1, session.created_at);
    IOTREG_TRY(expired->run());
    auto insert = db_->prepare(
        "INSERT INTO sessions (session_hash, token_id, created_at, last_seen_at, expires_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5)");
    if (!insert.is_ok()) return insert.status();
    insert->bind(1, session.session_hash)
        .bind(2, session.token_id)
        .bind(3, session.created_at)
        .bind(4, session.last_seen_at)
        .bind(5, session.expires_at);
    IOTREG_TRY(insert->run());
    return transaction.commit();
  }

  Result<std::optional<SessionRecord>> find_session(const std::string& session_hash) override {
    auto statement = db_->prepare(
        "SELECT s.session_hash, s.token_id, t.token_hash, s.created_at, s.last_seen_at, "
        "s.expires_at FROM sessions s JOIN tokens t ON t.id = s.token_id "
        "WHERE s.session_hash = ?1");
    if (!statement.is_ok()) return statement.status();
    statement->bind(1, session_hash);
    auto row = statement->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) return std::optional<SessionRecord>();
    return std::optional<SessionRecord>(SessionRecord{statement->text(0), statement->int64(1),
                                                      statement->text(2), statement->text(3),
                                                      statement->text(4), statement->text(5)});
  }

  Status touch_session(const std::string& session_hash, const std::string& at) override {
    auto update = db_->prepare("UPDATE sessions SET last_seen_at = ?1 WHERE session_hash = ?2");
    if (!update.is_ok()) return update.status();
    update->bind(1, at).bind(2, session_hash);
    return update->run();
  }

  Result<bool> delete_session(const std::string& session_hash) override {
    auto remove = db_->prepare("DELETE FROM sessions WHERE session_hash = ?1");
    if (!remove.is_ok()) return remove.status();
    remove->bind(1, session_hash);
    IOTREG_TRY(remove->run());
    return sqlite3_changes(db_->handle()) > 0;
  }

  Result<std::string> evaluation_provenance(std::int64_t evaluation_id) override {
    auto statement = db_->prepare("SELECT provenance FROM evaluations WHERE id = ?1");
    if (!statement.is_ok()) return statement.status();
    statement->bind(1, evaluation_id);
    auto row = statement->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) {
      return Status::not_found("no evaluation with id " + std::to_string(evaluation_id));
    }
    return statement->text(0);
  }

  Result<std::vector<FlagRecord>> flags(const FlagQuery& query) override {
    const bool after = query.after_id > 0;
    auto statement = db_->prepare(
        std::string(kFlagColumns) +
        "WHERE (?1 IS NULL OR f.state = ?1) AND "
        "(?2 IS NULL OR m.name_key = ?2) AND (?6 IS NULL OR instr(m.name_key, ?6)) AND " +
        (query.newest_first ? "(?3 = 0 OR f.id < ?3)" : "f.id > ?3") +
        " AND (?5 IS NULL OR (f.state = 'confirmed' AND "
        "f.remedied_version_id IS NOT NULL) = ?5) ORDER BY f.id" +
        (query.newest_first ? " DESC" : "") + " LIMIT ?4");
    if (!statement.is_ok()) return statement.status();
    if (query.state) statement->bind(1, enforcement::flag_state_name(*query.state));
    if (query.remedied) statement->bind(5, std::int64_t{*query.remedied ? 1 : 0});
    if (query.only_manufacturer_key) statement->bind(2, *query.only_manufacturer_key);
    if (query.manufacturer) statement->bind(6, model::identity_key(*query.manufacturer));
    statement->bind(3, after ? query.after_id : std::int64_t{0});
    statement->bind(4,
                    query.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(query.limit));
    return read_flags_with_history(*statement);
  }

  Result<FlagCounts> flag_counts(const std::optional<std::string>& only_manufacturer_key) override {
    auto statement = db_->prepare(
        only_manufacturer_key
            ? "SELECT f.state, count(*), count(f.remedied_version_id) FROM flags f "
              "JOIN products p ON p.id = f.product_id "
              "JOIN manufacturers m ON m.id = p.manufacturer_id "
              "WHERE m.name_key = ?1 GROUP BY f.state"
            : "SELECT state, count(*), count(remedied_version_id) FROM flags GROUP BY state");
    if (!statement.is_ok()) return statement.status();
    if (only_manufacturer_key) statement->bind(1, *only_manufacturer_key);
    FlagCounts counts;
    for (const enforcement::FlagState state : enforcement::kFlagStates) {
      counts.by_state[state] = 0;
    }
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      auto state = read_state(statement->text_view(0), 0);
      if (!state.is_ok()) return state.status();
      counts.by_state[state.value()] = static_cast<std::uint64_t>(statement->int64(1));
      if (state.value() == enforcement::FlagState::kConfirmed) {
        counts.remedied = static_cast<std::uint64_t>(statement->int64(2));
      }
    }
    return counts;
  }

  Result<FlagRecord> flag(std::int64_t flag_id) override {
    auto statement = db_->prepare(std::string(kFlagColumns) + "WHERE f.id = ?1");
    if (!statement.is_ok()) return statement.status();
    statement->bind(1, flag_id);
    auto found = read_flags_with_history(*statement);
    if (!found.is_ok()) return found.status();
    if (found->empty()) return Status::not_found("no flag with id " + std::to_string(flag_id));
    return std::move(found->front());
  }

  Result<std::vector<FlagRecord>> product_flags(std::int64_t product_id) override {
    auto statement =
        db_->prepare(std::string(kFlagColumns) + "WHERE f.product_id = ?1 ORDER BY f.id");
    if (!statement.is_ok()) return statement.status();
    statement->bind(1, product_id);
    return read_flags_with_history(*statement);
  }

  Result<std::vector<ImportRun>> import_runs() override {
    auto statement = db_->prepare(
        "SELECT id, started_at, coalesce(finished_at, ''), source, format, actor, records_read, "
        "accepted, rejected, new_products, new_versions, unchanged, coalesce(file_error, '') "
        "FROM import_runs ORDER BY id");
    if (!statement.is_ok()) return statement.status();
    std::vector<ImportRun> runs;
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      ImportRun run;
      run.id = statement->int64(0);
      run.started_at = statement->text(1);
      run.finished_at = statement->text(2);
      run.info = {statement->text(3), statement->text(4), statement->text(5)};
      auto count = [&](int column) { return static_cast<std::uint64_t>(statement->int64(column)); };
      run.counts = {count(6),  count(7),  count(8),           count(9),
                    count(10), count(11), statement->text(12)};
      runs.push_back(std::move(run));
    }
    return runs;
  }

  Result<std::int64_t> state_version() override {
    return db_->query_int("SELECT coalesce(max(id), 0) FROM audit_events");
  }

  Result<std::string> state_changed_at() override {
    auto statement = db_->prepare("SELECT at FROM audit_events ORDER BY id DESC LIMIT 1");
    if (!statement.is_ok()) return statement.status();
    auto row = statement->step();
    if (!row.is_ok()) return row.status();
    return row.value() ? statement->text(0) : std::string();
  }

  Result<std::vector<AuditEvent>> audit_events(const AuditQuery& query) override {
    if (query.product_id) return product_trail(query);
    auto statement = db_->prepare(
        "SELECT id, at, actor, action, subject_type, subject_id, details FROM audit_events "
        "WHERE " +
        audit_conditions(query) + (query.newest_first ? " ORDER BY id DESC" : " ORDER BY id") +
        " LIMIT ?5");
    if (!statement.is_ok()) return statement.status();
    bind_audit_conditions(query, *statement);
    statement->bind(5,
                    query.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(query.limit));
    std::vector<AuditEvent> events;
    IOTREG_TRY(read_audit_events(*statement, events));
    return events;
  }

 private:
  // The conditions of an audit query apart from its product, on parameters 3, 4, 6 and 7.
  static std::string audit_conditions(const AuditQuery& query) {
    return std::string(
               "(?3 IS NULL OR actor = ?3) AND (?6 IS NULL OR substr(at, 1, 10) >= ?6) "
               "AND (?7 IS NULL OR substr(at, 1, 10) <= ?7) AND ") +
           (query.newest_first ? "(?4 = 0 OR id < ?4)" : "id > ?4");
  }
  static void bind_audit_conditions(const AuditQuery& query, Statement& statement) {
    if (query.actor) statement.bind(3, *query.actor);
    if (query.since) statement.bind(6, *query.since);
    if (query.until) statement.bind(7, *query.until);
    statement.bind(4, query.after_id);
  }
  static Status read_audit_events(Statement& statement, std::vector<AuditEvent>& events) {
    for (;;) {
      auto row = statement.step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) return Status::ok();
      events.push_back({statement.int64(0), statement.text(1), statement.text(2), statement.text(3),
                        statement.text(4), statement.int64(5), statement.text(6)});
    }
  }

  // The id of the product's latest version; kNotFound for an unknown product.
  Result<std::int64_t> latest_version_id(std::int64_t product_id) {
    auto latest = db_->prepare("SELECT latest_version_id FROM products WHERE id = ?1");
    if (!latest.is_ok()) return latest.status();
    latest->bind(1, product_id);
    auto found = latest->step();
    if (!found.is_ok()) return found.status();
    if (!found.value()) {
      return Status::not_found("no product with id " + std::to_string(product_id));
    }
    return latest->int64(0);
  }

  // A product's trail: events about the product itself, its flags and the import runs that
  // added its versions (found along its version chain). Gathered subject by subject through
  // the (subject_type, subject_id) index and merged by id: as one statement, the recursive walk
  // of the chain and the lists of ids in temporary tables were a sixth of a product lookup.
  Result<std::vector<AuditEvent>> product_trail(const AuditQuery& query) {
    ReadSnapshot snapshot(*db_);  // every statement of one state
    const std::int64_t product_id = *query.product_id;
    auto latest = latest_version_id(product_id);
    if (!latest.is_ok()) return latest.status();
    std::vector<std::pair<const char*, std::int64_t>> subjects = {{"product", product_id}};
    auto version =
        db_->prepare("SELECT import_run_id, previous_id FROM declaration_versions WHERE id = ?1");
    if (!version.is_ok()) return version.status();
    std::set<std::int64_t> runs;
    for (std::int64_t id = latest.value(); id != 0;) {
      version->reset();
      version->bind(1, id);
      auto row = version->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      runs.insert(version->int64(0));
      const std::int64_t previous = version->int64(1);
      id = previous < id ? previous : 0;  // a chain goes back to older versions only
    }
    auto flags = db_->prepare("SELECT id FROM flags WHERE product_id = ?1");
    if (!flags.is_ok()) return flags.status();
    flags->bind(1, product_id);
    for (;;) {
      auto row = flags->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      subjects.emplace_back("flag", flags->int64(0));
    }
    for (const std::int64_t run : runs) subjects.emplace_back("import_run", run);

    auto about = db_->prepare(
        "SELECT id, at, actor, action, subject_type, subject_id, details FROM audit_events "
        "WHERE subject_type = ?1 AND subject_id = ?2 AND " +
        audit_conditions(query) + (query.newest_first ? " ORDER BY id DESC" : " ORDER BY id") +
        " LIMIT ?5");
    if (!about.is_ok()) return about.status();
    std::vector<AuditEvent> events;
    for (const auto& [type, id] : subjects) {
      about->reset();
      about->bind(1, std::string_view(type)).bind(2, id);
      bind_audit_conditions(query, *about);
      about->bind(5, query.limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(query.limit));
      IOTREG_TRY(read_audit_events(*about, events));
    }
    std::sort(events.begin(), events.end(), [&](const AuditEvent& a, const AuditEvent& b) {
      return query.newest_first ? a.id > b.id : a.id < b.id;
    });
    if (query.limit != 0 && events.size() > query.limit) events.resize(query.limit);
    return events;
  }

  // The smallest `limit` ids after `after` among those offered.
  struct FirstIds {
    std::int64_t after;
    std::size_t limit;
    std::vector<std::int64_t> heap;  // a max-heap
    void offer(std::int64_t id) {
      if (id <= after) return;
      if (heap.size() < limit) {
        heap.push_back(id);
        std::push_heap(heap.begin(), heap.end());
      } else if (id < heap.front()) {
        std::pop_heap(heap.begin(), heap.end());
        heap.back() = id;
        std::push_heap(heap.begin(), heap.end());
      }
    }
  };

  // `query`'s facets counted from the facet columns held in memory (each match's id going to
  // `first` too, when given), or nullopt when those cannot answer: none are shared with this
  // connection; the query has conditions they do not hold; `snapshot` is inside a transaction
  // that writes (whose changes may have no audit event yet, so no state version of their own);
  // or SharedFacetColumns::at has none for the snapshot's state (being read by another
  // connection, older than those held, not worth holding).
  Result<std::optional<ProductFacets>> facets_from_columns(const ReadSnapshot& snapshot,
                                                           const ProductQuery& query,
                                                           FirstIds* first) {
    if (!facet_columns_ || !snapshot.of_committed_state() ||
        !sqlite::FacetColumns::can_answer(query)) {
      return std::optional<ProductFacets>();
    }
    ProductFilter filter;
    IOTREG_TRY(build_filter(query, filter));
    auto version = state_version();
    if (!version.is_ok()) return version.status();
    auto columns = facet_columns_->at(*db_, version.value());
    if (!columns) return std::optional<ProductFacets>();
    std::string lower_type;  // the type condition as the table's lower() compares it
    if (query.type) {
      auto lower = db_->prepare("SELECT lower(?1)");
      if (!lower.is_ok()) return lower.status();
      lower->bind(1, *query.type);
      auto row = lower->step();
      if (!row.is_ok()) return row.status();
      lower_type = lower->text(0);
    }
    std::optional<sqlite::FacetColumns::Matches> matches;  // of the search words; all without
    if (!filter.words().empty()) matches = columns->matching(filter.words());
    const std::function<void(std::int64_t)> offer = [first](std::int64_t id) { first->offer(id); };
    auto facets = count_facets(query, [&](const ProductQuery& part) {
      return Result<std::vector<FacetGroup>>(
          columns->group(matches ? &*matches : nullptr, part, lower_type,
                         &part == &query && first != nullptr ? &offer : nullptr));
    });
    if (!facets.is_ok()) return facets.status();
    return std::optional<ProductFacets>(std::move(facets).value());
  }

  // The facet groups of the products `query` matches; each product's id goes to `first` too.
  Result<std::vector<FacetGroup>> facet_groups(const ProductQuery& query,
                                               FirstIds* first = nullptr) {
    ProductFilter filter;
    IOTREG_TRY(build_filter(query, filter));
    // Grouped here rather than by GROUP BY, which sorts every matching row in a temporary
    // B-tree: a search matching a quarter of the registry spent two thirds of its time there,
    // while the distinct combinations are few enough for a hash table.
    auto statement = db_->prepare(
        "SELECT p.status, coalesce(p.type, ''), p.class, coalesce(nf.state, ''), "
        "p.failing_checks, p.id FROM products p LEFT JOIN flags nf ON nf.id = p.flag_id " +
        filter.where());
    if (!statement.is_ok()) return statement.status();
    filter.bind(*statement);
    std::vector<FacetGroup> groups;
    std::unordered_map<std::string, std::size_t> group_of;  // the five columns -> groups index
    std::string key;
    for (;;) {
      auto row = statement->step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      if (first != nullptr) first->offer(statement->int64(5));
      key.clear();
      for (int column = 0; column < 5; ++column) {
        sqlite::append_key_part(key, statement->text_view(column));
      }
      auto [group, added] = group_of.try_emplace(key, groups.size());
      if (added) {
        groups.push_back({statement->text(0), statement->text(1), statement->text(2),
                          statement->text(3), statement->text(4), 0});
      }
      ++groups[group->second].products;
    }
    return groups;
  }

  // The products with these ids (ascending), in id order. The statement's list of ids is
  // padded to one of a few lengths, so that few texts are prepared and kept.
  Result<std::vector<ProductSummary>> products_by_id(const std::vector<std::int64_t>& ids) {
    if (ids.empty()) return std::vector<ProductSummary>();
    std::size_t slots = 8;
    while (slots < ids.size()) slots *= 2;
    std::string sql = std::string(kProductColumns) + "WHERE p.id IN (";
    for (std::size_t i = 0; i < slots; ++i) sql += i == 0 ? "?" : ",?";
    sql += ") ORDER BY p.id";
    auto statement = db_->prepare(sql);
    if (!statement.is_ok()) return statement.status();
    for (std::size_t i = 0; i < slots; ++i) {
      statement->bind(static_cast<int>(i + 1), ids[std::min(i, ids.size() - 1)]);
    }
    return read_products(*statement);
  }

  // The products `statement` (over kProductColumns) finds.
  static Result<std::vector<ProductSummary>> read_products(Statement& statement) {
    std::vector<ProductSummary> products;
    for (;;) {
      auto row = statement.step();
      if (!row.is_ok()) return row.status();
      if (!row.value()) break;
      products.push_back(read_product(statement));
    }
    return products;
  }

  Result<std::vector<FlagRecord>> read_flags_with_history(Statement& statement) {
    auto flags = read_flags(statement);
    if (!flags.is_ok()) return flags;
    IOTREG_TRY(add_history(*db_, flags.value()));
    return flags;
  }

  // Builds `filter` for `query`, creating the search tokenizer on the first search.
  Status build_filter(const ProductQuery& query, ProductFilter& filter) {
    if (query.search && !search_tokenizer_) {
      auto created = sqlite::SearchTokenizer::create(*db_);
      if (!created.is_ok()) return created.status();
      search_tokenizer_ = std::move(created).value();
    }
    return filter.build(query, search_tokenizer_.get());
  }

  std::unique_ptr<Database> db_;
  // Declared after db_, so destroyed before it.
  std::unique_ptr<sqlite::SearchTokenizer> search_tokenizer_;
  std::shared_ptr<sqlite::SharedFacetColumns> facet_columns_;  // null: none
};

// Migration 5: each product's support end date, from its latest stored declaration.
Status backfill_support_end(Database& db) {
  auto products = db.prepare(
      "SELECT p.id, v.body FROM products p JOIN declaration_versions v "
      "ON v.id = p.latest_version_id");
  if (!products.is_ok()) return products.status();
  auto update = db.prepare("UPDATE products SET support_end = ?1 WHERE id = ?2");
  if (!update.is_ok()) return update.status();
  for (;;) {
    auto row = products->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    auto payload = decompress_body(products->blob_view(1));
    if (!payload.is_ok()) continue;  // unreadable bodies are reported when judged
    auto json = payload_to_json(payload.value());
    if (!json.is_ok()) continue;
    auto body = nlohmann::json::parse(json.value(), nullptr, /*allow_exceptions=*/false);
    if (!body.is_object() || !body.contains("support") || !body["support"].is_object()) continue;
    const auto& support = body["support"];
    if (!support.contains("end_date") || !support["end_date"].is_string()) continue;
    std::string end = support["end_date"].get<std::string>();
    update->bind(1, end).bind(2, products->int64(0));
    IOTREG_TRY(update->run());
  }
  return Status::ok();
}

// Migration 7: each product's class, from its type, and the checks its verdict failed, from its
// stored findings.
Status backfill_class_and_failing_checks(Database& db) {
  auto products = db.prepare(
      "SELECT p.id, coalesce(p.type, ''), p.findings, e.provenance FROM products p "
      "LEFT JOIN evaluations e ON e.id = p.evaluation_id");
  if (!products.is_ok()) return products.status();
  auto update = db.prepare("UPDATE products SET class = ?1, failing_checks = ?2 WHERE id = ?3");
  if (!update.is_ok()) return update.status();
  for (;;) {
    auto row = products->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    std::string failing;
    if (!products->is_null(3)) {
      // Findings that cannot be read are reported when shown; they fail no check here.
      auto stored = failing_checks_of_stored(products->blob_view(2), products->text_view(3));
      if (stored.is_ok()) failing = std::move(stored).value();
    }
    const std::string type = products->text(1);
    update->bind(1, model::product_class_of(type))
        .bind(2, std::string_view(failing.data(), failing.size()))
        .bind(3, products->int64(0));
    IOTREG_TRY(update->run());
  }
  return Status::ok();
}

// Migration 9: each product's GTIN, from its latest stored declaration, and the hash of its
// brand and model.
Status backfill_lookup_keys(Database& db) {
  auto products = db.prepare(
      "SELECT p.id, p.brand, p.model, v.body FROM products p JOIN declaration_versions v "
      "ON v.id = p.latest_version_id");
  if (!products.is_ok()) return products.status();
  auto update = db.prepare("UPDATE products SET gtin = ?1, lookup_hash = ?2 WHERE id = ?3");
  if (!update.is_ok()) return update.status();
  for (;;) {
    auto row = products->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    std::string gtin;
    // Unreadable bodies are reported when shown; they have no GTIN here.
    if (auto payload = decompress_body(products->blob_view(3)); payload.is_ok()) {
      gtin = gtin_of_payload(payload.value());
    }
    if (gtin.empty()) {
      update->bind_null(1);
    } else {
      update->bind(1, gtin);
    }
    update
        ->bind(2, static_cast<std::int64_t>(
                      model::brand_model_hash(products->text_view(1), products->text_view(2))))
        .bind(3, products->int64(0));
    IOTREG_TRY(update->run());
  }
  return Status::ok();
}

// Migration 6 changed the state of flags that a compliant verdict had lifted automatically
// (migration_6_lifted names them): the audit log records which and why.
Status record_flag_state_migration(Database& db) {
  auto lifted =
      db.prepare("SELECT flag_id, was_confirmed FROM migration_6_lifted ORDER BY flag_id");
  if (!lifted.is_ok()) return lifted.status();
  std::string withdrawn = "[", reinstated = "[";
  for (;;) {
    auto row = lifted->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    std::string& list = lifted->int64(1) != 0 ? reinstated : withdrawn;
    if (list.size() > 1) list += ',';
    list += std::to_string(lifted->int64(0));
  }
  lifted.value() = Statement();
  IOTREG_TRY(db.exec("DROP TABLE migration_6_lifted"));
  if (withdrawn == "[" && reinstated == "[") return Status::ok();
  const std::string details =
      "{\"schema_version\":6,\"withdrawn\":" + withdrawn + "],\"confirmed_again\":" + reinstated +
      "],\"reason\":\"flags lifted automatically by a compliant verdict: a raised one was "
      "withdrawn; a confirmed one stays confirmed, remedied, until an officer lifts it\"}";
  auto appended = sqlite::append_audit_event(
      db, {utc_timestamp(), "schema migration 6", "flag.migrate", "registry", 0, details});
  return appended.is_ok() ? Status::ok() : appended.status();
}

Status migrate(Database& db) {
  auto all = sqlite::migrations();
  Transaction transaction(db);
  IOTREG_TRY(transaction.begin());
  auto current = db.query_int("PRAGMA user_version");
  if (!current.is_ok()) return current.status();
  for (const auto& migration : all) {
    if (migration.version <= current.value()) continue;
    if (auto status = db.exec(migration.sql); !status.is_ok()) {
      return Status::internal("migration " + std::string(migration.name) +
                              " failed: " + status.message());
    }
    IOTREG_TRY(db.exec("PRAGMA user_version = " + std::to_string(migration.version)));
    // Migration 3 adds the audit hash chain: events already recorded are chained now.
    if (migration.version == 3) IOTREG_TRY(sqlite::chain_unhashed_audit_events(db));
    if (migration.version == 5) IOTREG_TRY(backfill_support_end(db));
    if (migration.version == 6) IOTREG_TRY(record_flag_state_migration(db));
    if (migration.version == 7) IOTREG_TRY(backfill_class_and_failing_checks(db));
    if (migration.version == 9) IOTREG_TRY(backfill_lookup_keys(db));
  }
  IOTREG_TRY(db.exec("PRAGMA application_id = " + std::to_string(kApplicationId)));
  return transaction.commit();
}

}  // namespace

Result<std::unique_ptr<Storage>> open_sqlite_storage(const std::string& path, OpenMode mode,
                                                     PageCaching caching) {
  struct stat info {};
  bool exists = ::stat(path.c_str(), &info) == 0;
  // A dry run on a registry that does not exist yet runs on an empty one: what the real run
  // would find, and nothing is created. SQLite's private temporary database (the empty name)
  // keeps what outgrows the page cache in a temporary file, deleted when it closes, so the dry
  // run of a large file takes no more memory than its real run.
  if (mode == OpenMode::kPreview && !exists) {
    return open_sqlite_storage("", OpenMode::kReadWrite, caching);
  }
  const bool read_only = mode == OpenMode::kReadOnly ||
                         (mode == OpenMode::kRead && exists && ::access(path.c_str(), W_OK) != 0);
  if (exists && S_ISDIR(info.st_mode)) {
    return Status::invalid_argument("database " + path + " is a directory");
  }
  if (read_only && !exists) return Status::not_found("database " + path + " does not exist");
  if (exists && ::access(path.c_str(), R_OK) != 0) {
    return Status::io_error("database " + path + " cannot be read: permission denied");
  }
  auto opened = Database::open(path, read_only, caching.cache_bytes, caching.shared_map);
  if (!opened.is_ok()) return opened.status();
  auto db = std::move(opened).value();

  auto fail_identity = [&](const Status& status) -> Status {
    if (status.code() == Status::Code::kNotIotregDatabase ||
        status.code() == Status::Code::kCorruption) {
      return Status::not_iotreg_database("database " + path +
                                         " is not an iotreg database (not an SQLite file)");
    }
    return status;
  };
  auto application_id = db->query_int("PRAGMA application_id");
  if (!application_id.is_ok()) return fail_identity(application_id.status());
  auto version = db->query_int("PRAGMA user_version");
  if (!version.is_ok()) return fail_identity(version.status());
  auto tables = db->query_int("SELECT count(*) FROM sqlite_master");
  if (!tables.is_ok()) return fail_identity(tables.status());

  const int latest = static_cast<int>(sqlite::migrations().size());
  bool fresh = application_id.value() == 0 && version.value() == 0 && tables.value() == 0;
  if (!fresh && application_id.value() != kApplicationId) {
    return Status::not_iotreg_database("database " + path +
                                       " is not an iotreg database (an SQLite file of another "
                                       "application)");
  }
  if (version.value() > latest) {
    return Status::not_iotreg_database(
        "database " + path + " was written by a newer iotreg (schema version " +
        std::to_string(version.value()) + "; this program knows up to " + std::to_string(latest) +
        ")");
  }
  if (version.value() < latest) {
    if (read_only) {
      return Status::read_only("database " + path + " needs upgrading to schema version " +
                               std::to_string(latest) + " but is opened read-only");
    }
    // 8 KiB pages for a new registry (fixed once tables exist): a large import runs about 15%
    // faster than with 4 KiB pages (fewer page splits and WAL frames); 16 KiB gained no more.
    if (fresh) IOTREG_TRY(db->exec("PRAGMA page_size = 8192"));
    IOTREG_TRY(db->exec("PRAGMA journal_mode = WAL"));
    IOTREG_TRY(migrate(*db));
  }
  std::shared_ptr<sqlite::SharedFacetColumns> facet_columns;
  if (caching.shared_facet_columns && !path.empty() && ::stat(path.c_str(), &info) == 0) {
    facet_columns = sqlite::SharedFacetColumns::of_file(info.st_dev, info.st_ino);
  }
  return std::unique_ptr<Storage>(
      std::make_unique<SqliteStorage>(std::move(db), std::move(facet_columns)));
}

}  // namespace iotreg::storage
