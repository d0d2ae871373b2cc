#include "registry/storage/postgresql/registry.h"

#include <charconv>
#include <cstdlib>
#include <functional>

#include "registry/enforcement/enforcement.h"
#include "registry/model/lookup_keys.h"
#include "registry/model/product_class.h"
#include "registry/storage/body_codec.h"
#include "registry/storage/derived_columns.h"
#include "registry/storage/postgresql/migrations.h"

namespace iotreg::storage::postgresql {
namespace {

std::int64_t busy_timeout_ms() {
  if (const char* text = std::getenv("IOTREG_BUSY_TIMEOUT_MS")) {
    std::int64_t value = 0;
    const char* end = text + std::char_traits<char>::length(text);
    if (std::from_chars(text, end, value).ptr == end && value >= 0) return value;
  }
  return 5000;
}

// Fills columns of every stored product that a migration added, computed here: rows of `select`
// (its first column the product id, filtered by `$1` < id, ordered by id) are read a batch at a
// time, turned by `line` into the rest of a COPY line of `temporary` (which `create` makes),
// and written with one `update` from it. `what` names the work in errors.
Status backfill_products(Connection& connection, const std::string& what, const std::string& create,
                         const std::string& temporary, const std::string& select,
                         const std::function<void(const QueryResult&, int, std::string&)>& line,
                         const std::string& update) {
  IOTREG_TRY(connection.exec_script(what, create));
  constexpr int kBatch = 20000;
  std::int64_t after_id = 0;
  for (;;) {
    auto rows = connection.query(what, select + " LIMIT " + std::to_string(kBatch),
                                 {Param::integer(after_id)});
    if (!rows.is_ok()) return rows.status();
    if (rows->rows() == 0) break;
    std::string copy;
    for (int row = 0; row < rows->rows(); ++row) {
      after_id = rows->integer(row, 0);
      copy += std::to_string(after_id) + '\t';
      line(*rows, row, copy);
      copy += '\n';
    }
    IOTREG_TRY(connection.copy_begin(what, "COPY " + temporary + " FROM STDIN"));
    IOTREG_TRY(connection.copy_send(copy));
    IOTREG_TRY(connection.copy_end());
  }
  return connection.exec_script(what, update);
}

// Migration 3: each product's class, from its type, and the checks its verdict failed, from its
// stored findings.
Status backfill_class_and_failing_checks(Connection& connection) {
  return backfill_products(
      connection, "classifying stored products",
      "CREATE TEMPORARY TABLE migration_3_derived (id BIGINT PRIMARY KEY, class TEXT NOT NULL, "
      "failing_checks TEXT NOT NULL) ON COMMIT DROP",
      "migration_3_derived",
      "SELECT p.id, coalesce(p.type, ''), p.findings, e.provenance FROM products p "
      "LEFT JOIN evaluations e ON e.id = p.evaluation_id WHERE p.id > $1 ORDER BY p.id",
      [](const QueryResult& rows, int row, std::string& copy) {
        std::string failing;
        if (!rows.is_null(row, 3)) {
          // Findings that cannot be read are reported when shown; they fail no check here.
          auto stored = failing_checks_of_stored(rows.bytes(row, 2), rows.text(row, 3));
          if (stored.is_ok()) failing = std::move(stored).value();
        }
        append_copy_field(copy, model::product_class_of(rows.text(row, 1)));
        copy += '\t';
        append_copy_field(copy, failing);
      },
      "UPDATE products p SET class = d.class, failing_checks = d.failing_checks "
      "FROM migration_3_derived d WHERE d.id = p.id");
}

// Migration 5: each product's GTIN, from its latest stored declaration, and the hash of its
// brand and model.
Status backfill_lookup_keys(Connection& connection) {
  return backfill_products(
      connection, "keying stored products for lookups",
      "CREATE TEMPORARY TABLE migration_5_keys (id BIGINT PRIMARY KEY, gtin TEXT, "
      "lookup_hash BIGINT NOT NULL) ON COMMIT DROP",
      "migration_5_keys",
      "SELECT p.id, p.brand, p.model, v.body FROM products p JOIN declaration_versions v "
      "ON v.id = p.latest_version_id WHERE p.id > $1 ORDER BY p.id",
      [](const QueryResult& rows, int row, std::string& copy) {
        std::string gtin;
        // Unreadable bodies are reported when shown; they have no GTIN here.
        if (auto payload = decompress_body(rows.bytes(row, 3)); payload.is_ok()) {
          gtin = gtin_of_payload(payload.value());
        }
        if (gtin.empty()) {
          copy += "\\N";
        } else {
          append_copy_field(copy, gtin);
        }
        copy += '\t';
        copy += std::to_string(static_cast<std::int64_t>(
            model::brand_model_hash(rows.text(row, 1), rows.text(row, 2))));
      },
      "UPDATE products p SET gtin = k.gtin, lookup_hash = k.lookup_hash "
      "FROM migration_5_keys k WHERE k.id = p.id");
}

Status migrate(Connection& connection, int from) {
  for (const auto& migration : migrations()) {
    if (migration.version <= from) continue;
    if (auto status = connection.exec_script("applying migration " + std::string(migration.name),
                                             std::string(migration.sql));
        !status.is_ok()) {
      return Status::internal("migration " + std::string(migration.name) +
                              " failed: " + status.message());
    }
    IOTREG_TRY(connection.exec("recording the schema version",
                               "UPDATE iotreg_schema SET version = $1",
                               {Param::integer(migration.version)}));
    if (migration.version == 3) IOTREG_TRY(backfill_class_and_failing_checks(connection));
    if (migration.version == 5) IOTREG_TRY(backfill_lookup_keys(connection));
  }
  return Status::ok();
}

}  // namespace

bool is_postgresql_location(const std::string& location) {
  return location.rfind("postgresql://", 0) == 0 || location.rfind("postgres://", 0) == 0;
}

std::string printable_uri(const std::string& uri) {
  // postgresql://user:password@host/... : the password goes.
  const std::size_t scheme = uri.find("://");
  if (scheme == std::string::npos) return uri;
  const std::size_t authority = scheme + 3;
  const std::size_t at = uri.find('@', authority);
  const std::size_t slash = uri.find('/', authority);
  if (at == std::string::npos || (slash != std::string::npos && slash < at)) return uri;
  const std::size_t colon = uri.find(':', authority);
  if (colon == std::string::npos || colon > at) return uri;
  return uri.substr(0, colon) + ":***" + uri.substr(at);
}

Result<std::unique_ptr<Connection>> open_registry(const std::string& uri, OpenMode mode) {
  const std::string printable = printable_uri(uri);
  auto opened = Connection::open(uri, printable);
  if (!opened.is_ok()) return opened.status();
  std::unique_ptr<Connection> connection = std::move(opened).value();
  const bool read_only = mode == OpenMode::kReadOnly;
  Transaction transaction(*connection);
  IOTREG_TRY(transaction.begin());
  if (!read_only) {
    IOTREG_TRY(connection->exec("waiting for another process's migration",
                                "SELECT pg_advisory_xact_lock($1)",
                                {Param::integer(kMigrationLockKey)}));
  }
  auto known = connection->query_integer("reading the schema version",
                                         "SELECT count(*) FROM pg_tables WHERE tablename = "
                                         "'iotreg_schema' AND schemaname = current_schema()");
  if (!known.is_ok()) return known.status();
  const int latest = static_cast<int>(migrations().size());
  int version = 0;
  if (known.value() == 0) {
    auto tables = connection->query_integer(
        "looking at the database",
        "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()");
    if (!tables.is_ok()) return tables.status();
    if (tables.value() > 0) {
      return Status::not_iotreg_database("database " + printable +
                                         " is not an iotreg registry (it holds tables of "
                                         "another application)");
    }
    if (read_only) {
      return Status::not_found("database " + printable + " is not an iotreg registry yet");
    }
    IOTREG_TRY(connection->exec_script(
        "creating the registry",
        "CREATE TABLE iotreg_schema (singleton BOOLEAN PRIMARY KEY DEFAULT true "
        "CHECK (singleton), version INTEGER NOT NULL); "
        "INSERT INTO iotreg_schema (version) VALUES (0)"));
  } else {
    auto current = connection->query_integer("reading the schema version",
                                             "SELECT version FROM iotreg_schema");
    if (!current.is_ok()) return current.status();
    version = static_cast<int>(current.value());
  }
  if (version > latest) {
    return Status::not_iotreg_database(
        "database " + printable + " was written by a newer iotreg (schema version " +
        std::to_string(version) + "; this program knows up to " + std::to_string(latest) + ")");
  }
  if (version < latest) {
    if (read_only) {
      return Status::read_only("database " + printable + " needs upgrading to schema version " +
                               std::to_string(latest) + " but is opened read-only");
    }
    IOTREG_TRY(migrate(*connection, version));
  }
  IOTREG_TRY(transaction.commit());
  return connection;
}

Status lock_writer(Connection& connection) {
  IOTREG_TRY(connection.exec("setting the lock timeout",
                             "SELECT set_config('lock_timeout', $1, true)",
                             {Param::text(std::to_string(busy_timeout_ms()) + "ms")}));
  auto locked =
      connection.exec("waiting for the registry's write lock", "SELECT pg_advisory_xact_lock($1)",
                      {Param::integer(kWriterLockKey)});
  if (locked.code() == Status::Code::kBusy) {
    return Status::busy("registry " + connection.printable() +
                        " is locked by another process writing to it; try again when it has "
                        "finished");
  }
  return locked;
}

Result<std::int64_t> append_audit_event(Connection& connection, const AuditRecord& event) {
  auto last = connection.query("reading the audit log",
                               "SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1");
  if (!last.is_ok()) return last.status();
  std::int64_t id = 1;
  std::string previous_hash;
  if (last->rows() > 0) {
    id = last->integer(0, 0) + 1;
    previous_hash = std::string(last->text(0, 1));
  }
  const std::string hash =
      enforcement::audit_hash(previous_hash, records::audit_content(id, event));
  IOTREG_TRY(connection.exec(
      "appending to the audit log",
      "INSERT INTO audit_events (id, at, actor, action, subject_type, subject_id, details, "
      "previous_hash, hash) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
      {Param::integer(id), Param::text(event.at), Param::text(event.actor),
       Param::text(event.action), Param::text(event.subject_type), Param::integer(event.subject_id),
       Param::text(event.details_json), Param::text(previous_hash), Param::text(hash)}));
  return id;
}

Result<AuditVerification> verify_audit_chain(Connection& connection) {
  enforcement::AuditChainVerifier verifier;
  std::int64_t after = 0;
  constexpr int kBatch = 10000;
  for (;;) {
    auto events = connection.query(
        "reading the audit log",
        "SELECT id, at, actor, action, subject_type, subject_id, details, previous_hash, hash "
        "FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2",
        {Param::integer(after), Param::integer(kBatch)});
    if (!events.is_ok()) return events.status();
    bool stopped = false;
    for (int row = 0; row < events->rows() && !stopped; ++row) {
      const AuditRecord record{
          std::string(events->text(row, 1)), std::string(events->text(row, 2)),
          std::string(events->text(row, 3)), std::string(events->text(row, 4)),
          events->integer(row, 5),           std::string(events->text(row, 6))};
      after = events->integer(row, 0);
      stopped = !verifier.add(records::audit_content(after, record), events->text(row, 7),
                              events->text(row, 8));
    }
    if (stopped || events->rows() < kBatch) break;
  }
  AuditVerification verification;
  verification.events = verifier.events();
  verification.first_bad_id = verifier.first_bad_id();
  verification.problem = verifier.problem();
  return verification;
}

}  // namespace iotreg::storage::postgresql
