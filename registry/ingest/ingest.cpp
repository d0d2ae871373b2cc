#include "registry/ingest/ingest.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include "registry/ingest/detail/first_records.h"

namespace iotreg::ingest {
namespace {

constexpr std::size_t kBatchSize = 2048;
constexpr std::size_t kQueuedBatches = 4;  // bounds memory: at most this many batches in flight

using Batch = std::vector<storage::StagedDeclaration>;

// What an errno from stat(), access() or open() means for a file to import.
std::string describe_file_error(int error) {
  switch (error) {
    case ENOENT:
      return "no such file";
    case ELOOP:
      return "too many levels of symbolic links (a symlink loop)";
    case ENOTDIR:
      return "no such file (a part of its path is not a directory)";
    case EACCES:
    case EPERM:
      return "cannot be read (permission denied)";
    case ENAMETOOLONG:
      return "the name is too long";
    default:
      return "cannot be read (" + std::string(std::strerror(error)) + ")";
  }
}

// A bounded single-producer single-consumer queue of batches. The consumer hands stored
// batches back (recycle) and the producer refills them, so that the strings of staged
// declarations are allocated and freed on one thread and, after the first batches, reused.
class BatchQueue {
 public:
  // Blocks while the queue is full. Returns false when the consumer has stopped.
  bool push(Batch&& batch) {
    std::unique_lock lock(mutex_);
    not_full_.wait(lock, [&] { return batches_.size() < kQueuedBatches || stopped_; });
    if (stopped_) return false;
    batches_.push_back(std::move(batch));
    not_empty_.notify_one();
    return true;
  }
  // Blocks until a batch arrives; nullopt once the producer has closed and all are taken.
  std::optional<Batch> pop() {
    std::unique_lock lock(mutex_);
    not_empty_.wait(lock, [&] { return !batches_.empty() || closed_; });
    if (batches_.empty()) return std::nullopt;
    Batch batch = std::move(batches_.front());
    batches_.pop_front();
    not_full_.notify_one();
    return batch;
  }
  void recycle(Batch&& batch) {
    std::lock_guard lock(mutex_);
    if (recycled_.size() < kQueuedBatches + 1) recycled_.push_back(std::move(batch));
  }
  // A stored batch to refill, or an empty one.
  Batch take_recycled() {
    std::lock_guard lock(mutex_);
    if (recycled_.empty()) return Batch();
    Batch batch = std::move(recycled_.back());
    recycled_.pop_back();
    return batch;
  }
  void close() {
    std::lock_guard lock(mutex_);
    closed_ = true;
    not_empty_.notify_one();
  }
  // The consumer gives up: pending and future pushes are dropped.
  void stop() {
    std::lock_guard lock(mutex_);
    stopped_ = true;
    batches_.clear();
    not_full_.notify_one();
  }
  bool stopped() {
    std::lock_guard lock(mutex_);
    return stopped_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable not_full_;
  std::condition_variable not_empty_;
  std::deque<Batch> batches_;
  std::vector<Batch> recycled_;
  bool closed_ = false;
  bool stopped_ = false;
};

// Runs on the reader thread: turns accepted records into staged batches.
class StagingSink : public importers::RecordSink {
 public:
  // `stored` holds the sorted identity hashes of the products stored before the import: their
  // declarations are left to the session, which judges a new version with its history and an
  // unchanged one not at all.
  StagingSink(const storage::BodyEncoder& encoder, const ImportOptions& options,
              const std::string& file, std::uint64_t bytes_total, BatchQueue* queue,
              const std::vector<std::uint64_t>& stored, ImportObserver& observer,
              FileResult& result)
      : encoder_(encoder),
        options_(options),
        evaluator_(options.evaluator),
        stored_(stored),
        file_(file),
        bytes_total_(bytes_total),
        queue_(queue),
        observer_(observer),
        result_(result),
        counts_(result.counts) {}

  void accept(const model::Declaration& declaration,
              const importers::RecordLocation& where) override {
    if (options_.only_manufacturer_key &&
        model::identity_key(declaration.string_at(model::WellKnownField::kManufacturerName)) !=
            *options_.only_manufacturer_key) {
      importers::RejectedRecord refused;
      refused.where = where;
      refused.issues.push_back(
          {std::string(model::kManufacturerNameField),
           "declares manufacturer \"" +
               std::string(declaration.string_at(model::WellKnownField::kManufacturerName)) +
               "\"; this submitter may declare only for \"" + options_.manufacturer_name + "\"",
           where.line});
      reject(std::move(refused));
      return;
    }
    ++counts_.records_read;
    ++counts_.accepted;
    storage::StagedDeclaration* staged = nullptr;
    if (queue_) {
      if (filled_ == batch_.size()) batch_.emplace_back();
      staged = &batch_[filled_++];
      storage::stage(encoder_, declaration, where.describe(), *staged);
      staged->verdict = {};
    }
    const bool first_in_file = note_duplicate(declaration, where, staged);
    // Only the first declaration of a product new to the registry is judged here (in batches, at
    // flush, so that out-of-process checks see many at a time). A later one of the same file is
    // a version of it, and the session judges versions with their history.
    if (evaluator_ &&
        (!staged || (first_in_file &&
                     !std::binary_search(stored_.begin(), stored_.end(), staged->identity.hash)))) {
      if (pending_count_ == pending_.size()) {
        pending_.push_back(declaration);
        pending_slots_.push_back(0);
      } else {
        pending_[pending_count_] = declaration;
      }
      pending_slots_[pending_count_] = staged ? filled_ - 1 : 0;
      ++pending_count_;
    }
    if ((queue_ ? filled_ : pending_count_) == kBatchSize) flush();
  }

  void reject(importers::RejectedRecord&& rejected) override {
    ++counts_.records_read;
    ++counts_.rejected;
    if (counts_.rejected > options_.max_reported_rejections) {
      ++result_.rejections_not_reported;
      return;
    }
    observer_.on_rejected(file_, rejected);
  }

  void progress(std::uint64_t bytes_read) override {
    observer_.on_progress(file_, bytes_read, bytes_total_, counts_.records_read);
  }

  void flush() {
    judge_pending();
    if (!queue_ || filled_ == 0) return;
    batch_.resize(filled_);
    queue_->push(std::move(batch_));
    batch_ = queue_->take_recycled();
    batch_.reserve(kBatchSize);
    filled_ = 0;
  }

 private:
  const storage::BodyEncoder& encoder_;
  const ImportOptions& options_;

  // Records a duplicate warning when `declaration` names a product declared earlier in the file;
  // true when it does not.
  bool note_duplicate(const model::Declaration& declaration, const importers::RecordLocation& where,
                      const storage::StagedDeclaration* staged) {
    const std::uint64_t identity =
        staged ? staged->identity.hash : model::product_identity(declaration).hash;
    // 0 stands for "unknown"; a real hash of 0 only makes an identical record count as different.
    const auto payload_hash =
        staged ? static_cast<std::uint32_t>(std::hash<std::string>{}(staged->payload)) : 0u;
    const std::uint64_t position = where.array_index       ? *where.array_index
                                   : where.document_number ? *where.document_number
                                                           : where.line;
    auto found =
        first_records_.find_or_add(identity, static_cast<std::uint32_t>(position), payload_hash);
    if (found.added) return true;
    const bool identical = payload_hash != 0 && *found.payload_hash == payload_hash;
    // A later different declaration is what the product declares now.
    *found.payload_hash = payload_hash;
    if (result_.duplicates.size() >= options_.max_reported_rejections) {
      ++result_.duplicates_not_reported;
      return false;
    }
    DuplicateRecord duplicate;
    duplicate.where = where;
    duplicate.first.sheet = where.sheet;
    if (where.array_index) {
      duplicate.first.array_index = found.position;
    } else if (where.document_number) {
      duplicate.first.document_number = found.position;
    } else {
      duplicate.first.line = found.position;
    }
    duplicate.product = {
        std::string(declaration.string_at(model::WellKnownField::kManufacturerName)),
        std::string(declaration.string_at(model::WellKnownField::kBrand)),
        std::string(declaration.string_at(model::WellKnownField::kModel))};
    duplicate.identical = identical;
    result_.duplicates.push_back(std::move(duplicate));
    return false;
  }

  detail::FirstRecords first_records_;
  // Judges the declarations awaiting it since the last flush; staged ones get their verdicts.
  void judge_pending() {
    if (!evaluator_ || pending_count_ == 0) return;
    subjects_.clear();
    for (std::size_t i = 0; i < pending_count_; ++i) subjects_.push_back({&pending_[i], {}});
    evaluator_->evaluate_batch(subjects_, verdicts_);
    for (std::size_t i = 0; i < pending_count_; ++i) {
      if (queue_) {
        batch_[pending_slots_[i]].verdict = to_record(*evaluator_, verdicts_[i]);
      } else {
        // Stored declarations are counted by the writer, after known products are judged again.
        ++result_.statuses[std::string(checks::status_name(verdicts_[i].status))];
      }
    }
    pending_count_ = 0;
  }

  const checks::Evaluator* evaluator_;
  const std::vector<std::uint64_t>& stored_;
  std::vector<model::Declaration> pending_;  // [0, pending_count_) await judging
  std::vector<std::size_t> pending_slots_;   // the place of each pending one in batch_
  std::size_t pending_count_ = 0;
  std::vector<checks::Subject> subjects_;
  std::vector<checks::Verdict> verdicts_;  // reused between batches
  const std::string& file_;
  std::uint64_t bytes_total_;
  BatchQueue* queue_;
  ImportObserver& observer_;
  FileResult& result_;
  storage::ImportCounts& counts_;
  Batch batch_;
  std::size_t filled_ = 0;  // batch_[0, filled_) hold this batch; the rest are spare
};

struct OpenedInput {
  std::istream* stream = nullptr;
  std::unique_ptr<std::ifstream> file;
  std::unique_ptr<char[]> buffer;
  std::uint64_t size = 0;
};

Result<OpenedInput> open_input(const std::string& path) {
  OpenedInput input;
  if (path == "-") {
    input.stream = &std::cin;
    return input;
  }
  if (auto status = check_input_file(path); !status.is_ok()) return status;
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return Status::invalid_argument(path + ": " + describe_file_error(errno));
  }
  input.size = static_cast<std::uint64_t>(info.st_size);
  constexpr std::size_t kBufferSize = 1 << 20;
  input.buffer = std::make_unique<char[]>(kBufferSize);
  input.file = std::make_unique<std::ifstream>();
  input.file->rdbuf()->pubsetbuf(input.buffer.get(), kBufferSize);
  input.file->open(path, std::ios::binary);
  if (!input.file->is_open()) return Status::io_error(path + ": " + describe_file_error(errno));
  input.stream = input.file.get();
  return input;
}

// Imports one input whose format options.format names.
Result<FileResult> import_input(storage::Storage* storage, std::istream& in,
                                std::uint64_t bytes_total, const std::string& file,
                                const ImportOptions& options, ImportObserver& observer) {
  const auto& schema = *importers::CompiledSchema::builtin();
  auto encoder = storage::BodyEncoder::create(*schema.catalog());
  if (!encoder.is_ok()) return encoder.status();

  FileResult result;
  result.file = file;
  result.format = std::string(importers::format_name(*options.format));

  std::unique_ptr<storage::ImportSession> session;
  std::vector<std::uint64_t> stored;  // identity hashes of the products already stored
  if (storage) {
    std::optional<storage::EvaluationInfo> evaluation;
    storage::Rejudge judge;
    storage::Decide decide;
    if (options.evaluator) {
      evaluation = evaluation_info(*options.evaluator);
      judge = [&options, &schema](const std::vector<std::string>& payloads) {
        return rejudge(*options.evaluator, schema.catalog(), payloads);
      };
      decide = decide_for(*evaluation);
    }
    auto begun = storage->begin_import({file, result.format, options.actor},
                                       evaluation ? &*evaluation : nullptr, std::move(judge),
                                       std::move(decide));
    if (!begun.is_ok()) return begun.status();
    session = std::move(begun).value();
    result.run_id = session->run_id();
    if (options.evaluator) {
      IOTREG_TRY(session->stored_identities(stored));
      std::sort(stored.begin(), stored.end());
    }
  }

  BatchQueue queue;
  Status read_status;
  storage::ImportCounts& counts = result.counts;
  std::thread reader([&] {
    // Nothing may escape a thread: an exception here (memory exhausted by a hostile input)
    // ends this file's import with an error instead of the process.
    try {
      StagingSink sink(encoder.value(), options, file, bytes_total, storage ? &queue : nullptr,
                       stored, observer, result);
      // A workbook is a ZIP archive of UTF-8 XML: a text encoding never applies to its bytes.
      importers::DecodedInput decoded(in, *options.format == importers::Format::kXlsx
                                              ? importers::TextEncoding::kUtf8
                                              : options.encoding);
      read_status = importers::read_declarations(decoded.stream(), *options.format, schema, sink);
      sink.flush();
    } catch (const std::exception& error) {
      read_status = Status::io_error(file + ": reading stopped: " + error.what());
    }
    queue.close();
  });

  // Store on this thread. Counts from the reader are read only after join().
  Status write_status;
  std::uint64_t new_products = 0, new_versions = 0, unchanged = 0;
  std::map<std::string, std::uint64_t> stored_statuses;
  if (session) {
    std::vector<storage::StoreOutcome> outcomes;
    while (auto batch = queue.pop()) {
      outcomes.clear();
      write_status = session->store_batch(*batch, outcomes);
      for (std::size_t i = 0; i < outcomes.size(); ++i) {
        const storage::StagedDeclaration& staged = (*batch)[i];
        switch (outcomes[i]) {
          case storage::StoreOutcome::kNewProduct:
            ++new_products;
            if (!staged.verdict.status.empty()) ++stored_statuses[staged.verdict.status];
            break;
          case storage::StoreOutcome::kNewVersion:
            ++new_versions;
            if (!staged.verdict.status.empty()) ++stored_statuses[staged.verdict.status];
            break;
          case storage::StoreOutcome::kUnchanged:
            ++unchanged;
            break;
        }
      }
      if (!write_status.is_ok()) {
        queue.stop();
        break;
      }
      queue.recycle(std::move(*batch));
    }
  }
  reader.join();
  if (!write_status.is_ok()) return write_status;
  if (options.evaluator) result.plugin_output = options.evaluator->take_plugin_output();

  if (session) result.statuses = std::move(stored_statuses);
  counts.new_products = new_products;
  counts.new_versions = new_versions;
  counts.unchanged = unchanged;
  if (!read_status.is_ok()) {
    counts.file_error = read_status.message();
    observer.on_file_error(file, read_status.message());
  }
  // An import that would change nothing (all rejected, refused, or identical to what is
  // stored) is rolled back so that the database stays exactly as it was.
  if (session && new_products + new_versions > 0) {
    result.changes = session->changes();
    if (auto status = session->commit(counts); !status.is_ok()) return status;
  } else {
    result.run_id = 0;
  }
  return result;
}

}  // namespace

Status check_input_file(const std::string& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return Status::invalid_argument(path + ": " + describe_file_error(errno));
  }
  if (S_ISDIR(info.st_mode)) return Status::invalid_argument(path + ": is a directory");
  if (!S_ISREG(info.st_mode) && !S_ISFIFO(info.st_mode)) {
    return Status::invalid_argument(path + ": not a regular file");
  }
  if (::access(path.c_str(), R_OK) != 0) {
    return Status::invalid_argument(path + ": " + describe_file_error(errno));
  }
  return Status::ok();
}

storage::VerdictRecord to_record(const checks::Evaluator& evaluator,
                                 const checks::Verdict& verdict) {
  storage::VerdictRecord record;
  record.status = checks::status_name(verdict.status);
  checks::encode_findings(verdict.findings, record.findings);
  std::vector<std::string> failing;
  for (const auto& finding : verdict.findings) {
    if (finding.outcome != checks::Outcome::kFail) continue;
    const auto& check = evaluator.checks()[finding.check];
    failing.push_back(check.id);
    if (check.level == policy::Level::kMandatory) {
      if (!record.failed.empty()) record.failed += ", ";
      record.failed += check.id;
    }
  }
  record.failing_checks = storage::failing_checks_column(failing);
  return record;
}

storage::EvaluationInfo evaluation_info(const checks::Evaluator& evaluator) {
  return {evaluator.key(), evaluator.policy().id, evaluator.as_of(), evaluator.provenance_json(),
          evaluator.policy().regime == policy::Regime::kProhibition};
}

storage::Decide decide_for(const storage::EvaluationInfo& evaluation) {
  const enforcement::Regime regime{evaluation.prohibition, evaluation.policy_id, evaluation.as_of};
  return
      [regime](const enforcement::ProductFacts& product, const enforcement::VerdictFacts& verdict) {
        return enforcement::follow_verdict(regime, product, verdict);
      };
}

storage::VerdictRecord rejudge(const checks::Evaluator& evaluator,
                               const std::shared_ptr<const model::FieldCatalog>& catalog,
                               const std::vector<std::string>& payloads) {
  std::vector<model::Declaration> versions;
  for (const auto& payload : payloads) {
    auto json = storage::payload_to_json(payload);
    auto declaration = json.is_ok() ? model::Declaration::from_json(catalog, json.value())
                                    : Result<model::Declaration>(json.status());
    if (!declaration.is_ok()) {
      // Stored data that cannot be read is judged by no check: each says why.
      checks::Verdict broken;
      broken.status = checks::ProductStatus::kCheckError;
      for (std::size_t i = 0; i < evaluator.checks().size(); ++i) {
        broken.findings.push_back(
            {static_cast<std::uint32_t>(i), checks::Outcome::kError,
             "the stored declaration could not be read: " + declaration.status().message(), ""});
      }
      return to_record(evaluator, broken);
    }
    versions.push_back(std::move(declaration).value());
  }
  checks::Verdict verdict;
  std::span<const model::Declaration> all(versions);
  evaluator.evaluate(all.back(), all.first(all.size() - 1), verdict);
  return to_record(evaluator, verdict);
}

Result<FileResult> import_file(storage::Storage* storage, const std::string& file,
                               const ImportOptions& options, ImportObserver& observer) {
  std::optional<importers::Format> format = options.format;
  if (!format) format = importers::format_from_path(file);
  if (!format) {
    return Status::invalid_argument(
        file == "-" ? std::string("reading standard input needs --format csv|jsonl|json|yaml|xlsx")
                    : file +
                          ": unknown format (use a .csv, .jsonl, .json, .yaml, .yml or .xlsx "
                          "file, or --format)");
  }
  auto opened = open_input(file);
  if (!opened.is_ok()) return opened.status();
  ImportOptions with_format = options;
  with_format.format = format;
  return import_input(storage, *opened->stream, opened->size, file, with_format, observer);
}

Result<FileResult> import_stream(storage::Storage* storage, std::istream& in,
                                 const std::string& source, const ImportOptions& options,
                                 ImportObserver& observer) {
  if (!options.format) return Status::invalid_argument(source + ": the format must be given");
  return import_input(storage, in, 0, source, options, observer);
}

}  // namespace iotreg::ingest
