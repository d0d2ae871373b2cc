// Ingest: imports declaration files into a Storage, one file per import run.
//
// Each file is read and validated on a reader thread while the calling thread stores the
// accepted declarations in batches, so parsing and writing overlap. Every file is one unit of
// work: its accepted records are committed together or not at all. The ImportObserver is told
// about rejected records and progress from the reader thread, one call at a time.
#pragma once

#include <cstdint>
#include <istream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "importers/importer.h"
#include "importers/text_encoding.h"
#include "registry/checks/checks.h"
#include "registry/storage/storage.h"

namespace iotreg::ingest {

struct ImportOptions {
  std::optional<importers::Format> format;  // overrides the file extension; required for "-"
  // The text encoding of CSV, JSON and YAML input, decoded to UTF-8 as it is read (an XLSX
  // workbook is always UTF-8 inside).
  importers::TextEncoding encoding = importers::TextEncoding::kUtf8;
  std::string actor = "cli";
  // Judges what is imported (on the reader thread; known products again, with their history,
  // on the writer). Null: products stay pending. Must outlive the import.
  const checks::Evaluator* evaluator = nullptr;
  // When set, only declarations of this manufacturer (by identity key) are accepted; others are
  // rejected, naming `manufacturer_name` (a manufacturer's API token).
  std::optional<std::string> only_manufacturer_key;
  std::string manufacturer_name;
  // How many rejected records of one file the observer is told about; the others are only
  // counted (FileResult::rejections_not_reported), so that a file of millions of bad records
  // does not make a report of gigabytes. The counts stay exact.
  std::uint64_t max_reported_rejections = 1000;
};

// The verdict of an Evaluator in the form storage keeps.
storage::VerdictRecord to_record(const checks::Evaluator& evaluator,
                                 const checks::Verdict& verdict);
storage::EvaluationInfo evaluation_info(const checks::Evaluator& evaluator);
// The enforcement rules (registry/enforcement) for an evaluation's regime, as storage asks them.
storage::Decide decide_for(const storage::EvaluationInfo& evaluation);
// Judges the last of a product's versions, given as payloads oldest first, with the others as
// its history. A payload that cannot be decoded yields a check_error verdict saying why.
storage::VerdictRecord rejudge(const checks::Evaluator& evaluator,
                               const std::shared_ptr<const model::FieldCatalog>& catalog,
                               const std::vector<std::string>& payloads);

// Receives what happens during an import. Calls come from the reader thread, never two at once.
class ImportObserver {
 public:
  virtual ~ImportObserver() = default;
  // The first ImportOptions::max_reported_rejections rejected records of the file, in order.
  virtual void on_rejected(const std::string& file, const importers::RejectedRecord& rejected) = 0;
  // The file as a whole was refused or could not be read to its end.
  virtual void on_file_error(const std::string& file, const std::string& message) = 0;
  // bytes_total is 0 when unknown (standard input).
  virtual void on_progress(const std::string& /*file*/, std::uint64_t /*bytes_read*/,
                           std::uint64_t /*bytes_total*/, std::uint64_t /*records*/) {}
};

// A record that declares the same product (manufacturer, brand and model, by identity key) as an
// earlier record of the same file: a warning, not a rejection. An identical one changes nothing;
// a different one is stored as a later version of the product.
struct DuplicateRecord {
  importers::RecordLocation where;
  // The file's first record of the product: its line, array index or document number (and
  // sheet); not its ordinal.
  importers::RecordLocation first;
  importers::RecordIdentity product;
  bool identical = false;  // declares exactly what the first one did
};

struct FileResult {
  std::string file;
  std::string format;
  std::int64_t run_id = 0;  // 0 when nothing was stored
  storage::ImportCounts counts;
  // Rejected records counted in counts.rejected but, past the cap, not told to the observer.
  std::uint64_t rejections_not_reported = 0;
  // The first ImportOptions::max_reported_rejections duplicate records, in order, and how many
  // more there were.
  std::vector<DuplicateRecord> duplicates;
  std::uint64_t duplicates_not_reported = 0;
  // What untrusted plugins' worker processes wrote on standard error while judging.
  std::vector<checks::PluginOutput> plugin_output;
  // Stored declarations by status, and the flags and products whose status changed.
  std::map<std::string, std::uint64_t> statuses;
  storage::ChangeSummary changes;
};

// Checks that `path` names something import_file can read: a regular file or a pipe that exists
// and may be read. Otherwise kInvalidArgument, "PATH: " and what is wrong ("no such file",
// "too many levels of symbolic links (a symlink loop)", "is a directory", ...).
Status check_input_file(const std::string& path);

// Imports one file ("-" is standard input); a dry run is the same import inside a
// storage::Preview. Null `storage` only validates and judges, storing nothing and knowing
// nothing of what is stored. A non-ok Status means nothing of this file was stored: the file could
// not be opened or its format is unknown (kInvalidArgument, kIoError), or storage failed (kBusy,
// kReadOnly, ...). Rejected records and a file that was refused or cut short are not errors here:
// they are in the FileResult and were told to the observer.
Result<FileResult> import_file(storage::Storage* storage, const std::string& file,
                               const ImportOptions& options, ImportObserver& observer);
// As import_file, from a stream named `source` (e.g. a request body); options.format is required.
Result<FileResult> import_stream(storage::Storage* storage, std::istream& in,
                                 const std::string& source, const ImportOptions& options,
                                 ImportObserver& observer);

}  // namespace iotreg::ingest

namespace iotreg::ingest {

struct RecheckOptions {
  storage::RecheckScope scope = storage::RecheckScope::kStale;
  std::string actor = "cli";
  // The daily re-check of this date (at most one per date), rather than one asked for.
  std::optional<std::string> daily_date;
};

// What a re-check changed (or, dry, would change) for one product.
struct RecheckChange {
  std::int64_t product_id = 0;
  std::string manufacturer;
  std::string brand;
  std::string model;
  std::string from;
  std::string to;
  bool was_flagged = false;
  bool flagged = false;
  std::string failed;  // the failed mandatory checks
};

struct ManufacturerImpact {
  std::uint64_t checked = 0;
  std::uint64_t status_changes = 0;
  std::uint64_t newly_flagged = 0;
  std::uint64_t unflagged = 0;
};

struct RecheckReport {
  std::string policy_id;
  std::string as_of;
  std::int64_t run_id = 0;  // 0 when nothing was checked
  std::uint64_t checked = 0;
  std::uint64_t status_changes = 0;
  storage::ChangeSummary summary;  // flags raised, withdrawn, remedied; products changed
  std::map<std::string, ManufacturerImpact> impact;  // by manufacturer name
  std::vector<RecheckChange> changes;                // products whose status or flag changes
};

// Judges again every product whose verdict is stale for `evaluator` (or all), as one re-check
// run: the verdicts, what the enforcement rules decide and one audit event, in one
// transaction (a dry run is the same inside a storage::Preview). kBusy when another writer
// holds the registry; kConflict when the daily re-check of that date ran already.
Result<RecheckReport> recheck(storage::Storage& storage, const checks::Evaluator& evaluator,
                              const RecheckOptions& options);

}  // namespace iotreg::ingest
