#include "registry/ingest/ingest.h"

#include <sys/stat.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

namespace iotreg::ingest {
namespace {

constexpr std::size_t kBatchSize = 2048;
constexpr std::size_t kQueuedBatches = 4;  // bounds memory: at most this many batches in flight

using Batch = std::vector<storage::StagedDeclaration>;

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
  StagingSink(const storage::BodyEncoder& encoder, const std::string& file,
              std::uint64_t bytes_total, BatchQueue* queue, ImportObserver& observer,
              storage::ImportCounts& counts)
      : encoder_(encoder),
        file_(file),
        bytes_total_(bytes_total),
        queue_(queue),
        observer_(observer),
        counts_(counts) {}

  void accept(const model::Declaration& declaration,
              const importers::RecordLocation& where) override {
    ++counts_.records_read;
    ++counts_.accepted;
    if (!queue_) return;  // dry run
    if (filled_ == batch_.size()) batch_.emplace_back();
    storage::stage(encoder_, declaration, where.describe(), batch_[filled_++]);
    if (filled_ == kBatchSize) flush();
  }

  void reject(importers::RejectedRecord&& rejected) override {
    ++counts_.records_read;
    ++counts_.rejected;
    observer_.on_rejected(file_, rejected);
  }

  void progress(std::uint64_t bytes_read) override {
    observer_.on_progress(file_, bytes_read, bytes_total_, counts_.records_read);
  }

  void flush() {
    if (!queue_ || filled_ == 0) return;
    batch_.resize(filled_);
    queue_->push(std::move(batch_));
    batch_ = queue_->take_recycled();
    batch_.reserve(kBatchSize);
    filled_ = 0;
  }

 private:
  const storage::BodyEncoder& encoder_;
  const std::string& file_;
  std::uint64_t bytes_total_;
  BatchQueue* queue_;
  ImportObserver& observer_;
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
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    return Status::invalid_argument(path + ": no such file");
  }
  if (S_ISDIR(info.st_mode)) return Status::invalid_argument(path + ": is a directory");
  input.size = static_cast<std::uint64_t>(info.st_size);
  constexpr std::size_t kBufferSize = 1 << 20;
  input.buffer = std::make_unique<char[]>(kBufferSize);
  input.file = std::make_unique<std::ifstream>();
  input.file->rdbuf()->pubsetbuf(input.buffer.get(), kBufferSize);
  input.file->open(path, std::ios::binary);
  if (!input.file->is_open()) {
    return Status::io_error(path + ": cannot be read (permission denied or unreadable)");
  }
  input.stream = input.file.get();
  return input;
}

}  // namespace

Result<FileResult> import_file(storage::Storage* storage, const std::string& file,
                               const ImportOptions& options, ImportObserver& observer) {
  std::optional<importers::Format> format = options.format;
  if (!format) format = importers::format_from_path(file);
  if (!format) {
    return Status::invalid_argument(
        file == "-" ? std::string("reading standard input needs --format csv|jsonl|json|yaml")
                    : file +
                          ": unknown format (use a .csv, .jsonl, .json, .yaml or .yml file, "
                          "or --format)");
  }
  auto opened = open_input(file);
  if (!opened.is_ok()) return opened.status();
  OpenedInput& input = opened.value();
  const auto& schema = *importers::CompiledSchema::builtin();
  auto encoder = storage::BodyEncoder::create(*schema.catalog());
  if (!encoder.is_ok()) return encoder.status();

  FileResult result;
  result.file = file;
  result.format = std::string(importers::format_name(*format));

  std::unique_ptr<storage::ImportSession> session;
  if (!options.dry_run) {
    auto begun = storage->begin_import({file, result.format, options.actor});
    if (!begun.is_ok()) return begun.status();
    session = std::move(begun).value();
    result.run_id = session->run_id();
  }

  BatchQueue queue;
  Status read_status;
  storage::ImportCounts& counts = result.counts;
  std::thread reader([&] {
    StagingSink sink(encoder.value(), file, input.size, options.dry_run ? nullptr : &queue,
                     observer, counts);
    read_status = importers::read_declarations(*input.stream, *format, schema, sink);
    sink.flush();
    queue.close();
  });

  // Store on this thread. Counts from the reader are read only after join().
  Status write_status;
  std::uint64_t new_products = 0, new_versions = 0, unchanged = 0;
  if (session) {
    while (auto batch = queue.pop()) {
      for (const auto& staged : *batch) {
        auto stored = session->store(staged);
        if (!stored.is_ok()) {
          write_status = stored.status();
          break;
        }
        switch (stored.value()) {
          case storage::StoreOutcome::kNewProduct:
            ++new_products;
            break;
          case storage::StoreOutcome::kNewVersion:
            ++new_versions;
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
    if (auto status = session->commit(counts); !status.is_ok()) return status;
  } else {
    result.run_id = 0;
  }
  return result;
}

}  // namespace iotreg::ingest
