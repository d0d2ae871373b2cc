// Storage: the registry's persistent state behind one interface (DESIGN.md §7).
//
// A Storage owns one connection to a backend (SQLite is the embedded default; see
// open_sqlite_storage). Declarations, products, manufacturers, import runs and audit events are
// only reached through this interface so that another backend can be added without touching
// importers, checks or the API. A Storage is used from one thread at a time; open one per
// thread. An ImportSession borrows its Storage and must be destroyed before it.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"
#include "registry/model/declaration.h"
#include "registry/storage/body_codec.h"

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

// One validated declaration ready to be stored: its stored form (body_codec.h), its identity
// and the fields the product row shows, all prepared by the producer, off the writer's thread.
struct StagedDeclaration {
  std::string payload;  // compares equal exactly for identical declarations
  std::string blob;     // the payload compressed, as stored
  model::ProductIdentity identity;
  std::string manufacturer_name;
  std::string brand;
  std::string model;
  std::string type;             // empty when not declared
  std::string source_location;  // where in the file, e.g. "line 12"
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
  // equals the product's latest version.
  virtual Result<StoreOutcome> store(const StagedDeclaration& staged) = 0;
  // Records the run's counts and its audit event, then makes everything durable at once.
  virtual Status commit(const ImportCounts& counts) = 0;
  virtual std::int64_t run_id() const = 0;
};

struct ProductQuery {
  std::optional<std::string> status;
  std::optional<bool> flagged;
  std::optional<std::string> manufacturer;  // compared by identity key
  std::optional<std::string> search;        // words, each matched as a prefix; all must match
  std::optional<std::int64_t> after_id;     // keyset pagination: ids greater than this
  std::size_t limit = 0;                    // 0: no limit
};

struct ProductSummary {
  std::int64_t id = 0;
  std::string manufacturer;
  std::string brand;
  std::string model;
  std::string type;
  std::string status;  // pending until checks exist
  bool flagged = false;
  std::int64_t version_count = 0;
  std::string created_at;
  std::string updated_at;
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

class Storage {
 public:
  virtual ~Storage() = default;

  // Starts an import. Fails with kBusy when another process holds the write lock for longer
  // than the busy timeout.
  virtual Result<std::unique_ptr<ImportSession>> begin_import(const ImportRunInfo& info) = 0;

  virtual Result<std::vector<ProductSummary>> list_products(const ProductQuery& query) = 0;
  // kNotFound when there is no such product.
  virtual Result<ProductSummary> product(std::int64_t id) = 0;
  // Every version of a product, oldest first.
  virtual Result<std::vector<DeclarationVersion>> versions(std::int64_t product_id) = 0;
  virtual Result<std::vector<ImportRun>> import_runs() = 0;
  // Audit events about a product (and the import runs that touched it), oldest first; all
  // events when product_id is empty.
  virtual Result<std::vector<AuditEvent>> audit_events(std::optional<std::int64_t> product_id) = 0;
};

enum class OpenMode {
  kReadWrite,  // creates and migrates the database when needed
  kReadOnly,   // fails when the database does not exist or is not current
};

// Opens (and, read-write, creates and migrates) an SQLite registry at `path`. Errors say what is
// wrong with the file: not an iotreg database, from a newer version, read-only, locked.
Result<std::unique_ptr<Storage>> open_sqlite_storage(const std::string& path, OpenMode mode);

}  // namespace iotreg::storage
