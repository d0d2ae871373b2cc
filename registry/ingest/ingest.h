// Ingest: imports declaration files into a Storage, one file per import run.
//
// Each file is read and validated on a reader thread while the calling thread stores the
// accepted declarations in batches, so parsing and writing overlap. Every file is one unit of
// work: its accepted records are committed together or not at all. The ImportObserver is told
// about rejected records and progress from the reader thread, one call at a time.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "importers/importer.h"
#include "registry/checks/checks.h"
#include "registry/storage/storage.h"

namespace iotreg::ingest {

struct ImportOptions {
  std::optional<importers::Format> format;  // overrides the file extension; required for "-"
  bool dry_run = false;                     // validate only; storage is not touched
  std::string actor = "cli";
  // Judges what is imported (on the reader thread; known products again, with their history,
  // on the writer). Null: products stay pending. Must outlive the import.
  const checks::Evaluator* evaluator = nullptr;
};

// The verdict of an Evaluator in the form storage keeps.
storage::VerdictRecord to_record(const checks::Evaluator& evaluator,
                                 const checks::Verdict& verdict);
storage::EvaluationInfo evaluation_info(const checks::Evaluator& evaluator);
// Judges the last of a product's versions, given as payloads oldest first, with the others as
// its history. A payload that cannot be decoded yields a check_error verdict saying why.
storage::VerdictRecord rejudge(const checks::Evaluator& evaluator,
                               const std::shared_ptr<const model::FieldCatalog>& catalog,
                               const std::vector<std::string>& payloads);

// Receives what happens during an import. Calls come from the reader thread, never two at once.
class ImportObserver {
 public:
  virtual ~ImportObserver() = default;
  virtual void on_rejected(const std::string& file, const importers::RejectedRecord& rejected) = 0;
  // The file as a whole was refused or could not be read to its end.
  virtual void on_file_error(const std::string& file, const std::string& message) = 0;
  // bytes_total is 0 when unknown (standard input).
  virtual void on_progress(const std::string& /*file*/, std::uint64_t /*bytes_read*/,
                           std::uint64_t /*bytes_total*/, std::uint64_t /*records*/) {}
};

struct FileResult {
  std::string file;
  std::string format;
  std::int64_t run_id = 0;  // 0 for a dry run or when nothing was stored
  storage::ImportCounts counts;
  std::uint64_t flags_raised = 0;
  std::uint64_t flags_lifted = 0;
  // Stored declarations by status (a dry run: accepted ones, judged without history).
  std::map<std::string, std::uint64_t> statuses;
};

// Imports one file ("-" is standard input). A non-ok Status means nothing of this file was
// stored: the file could not be opened or its format is unknown (kInvalidArgument, kIoError),
// or storage failed (kBusy, kReadOnly, ...). Rejected records and a file that was refused or
// cut short are not errors here: they are in the FileResult and were told to the observer.
Result<FileResult> import_file(storage::Storage* storage, const std::string& file,
                               const ImportOptions& options, ImportObserver& observer);

}  // namespace iotreg::ingest
