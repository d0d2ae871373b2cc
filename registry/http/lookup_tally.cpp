#include "registry/http/detail/lookup_tally.h"

#include <iostream>
#include <vector>

#include "registry/http/detail/api.h"
#include "registry/model/declaration.h"

namespace iotreg::http {

void LookupTally::count(std::string_view gtin, std::string_view brand, std::string_view model,
                        const std::string& at) {
  Key key{std::string(gtin), gtin.empty() ? model::identity_key(brand) : std::string(),
          gtin.empty() ? model::identity_key(model) : std::string()};
  std::lock_guard lock(mutex_);
  auto found = pending_.find(key);
  if (found == pending_.end()) {
    if (pending_.size() >= max_pending_) {
      ++left_out_;
      return;
    }
    storage::UnregisteredLookup entry;
    entry.gtin = std::string(gtin);
    if (gtin.empty()) {
      entry.brand = std::string(brand);
      entry.model = std::string(model);
    }
    entry.first_seen = at;
    entry.last_seen = at;
    found = pending_.emplace(std::move(key), std::move(entry)).first;
  }
  ++found->second.lookups;
  if (at > found->second.last_seen) found->second.last_seen = at;
  if (at < found->second.first_seen) found->second.first_seen = at;
  ++pending_lookups_;
}

Status LookupTally::flush(ConnectionPool& pool) {
  std::lock_guard flushing(flush_mutex_);
  std::map<Key, storage::UnregisteredLookup> taken;
  {
    std::lock_guard lock(mutex_);
    taken.swap(pending_);
    pending_lookups_ = 0;
  }
  if (taken.empty()) return Status::ok();
  std::vector<storage::UnregisteredLookup> entries;
  entries.reserve(taken.size());
  for (const auto& [key, entry] : taken) entries.push_back(entry);
  Result<std::uint64_t> recorded = Status::unavailable("");
  if (auto connection = pool.acquire(); connection.is_ok()) {
    recorded = connection.value()->record_unregistered_lookups(entries, kMaxStoredEntries);
    pool.release(std::move(connection).value());
  } else {
    recorded = connection.status();
  }
  std::lock_guard lock(mutex_);
  if (recorded.is_ok()) {
    left_out_ += recorded.value();
    return Status::ok();
  }
  // Kept for the next flush, merged with what arrived meanwhile.
  for (auto& [key, entry] : taken) {
    pending_lookups_ += entry.lookups;
    auto [merged, added] = pending_.emplace(key, entry);
    if (added) continue;
    merged->second.lookups += entry.lookups;
    merged->second.first_seen = std::min(merged->second.first_seen, entry.first_seen);
    merged->second.last_seen = std::max(merged->second.last_seen, entry.last_seen);
    if (!entry.brand.empty()) {
      merged->second.brand = entry.brand;  // the first spelling
      merged->second.model = entry.model;
    }
  }
  return recorded.status();
}

void LookupTally::start(ConnectionPool& pool, std::chrono::milliseconds interval) {
  std::lock_guard starting(thread_mutex_);
  if (thread_.joinable()) return;
  pool_ = &pool;
  stopping_ = false;
  thread_ = std::thread([this, interval] {
    std::unique_lock lock(thread_mutex_);
    while (!stopping_) {
      wake_.wait_for(lock, interval, [this] { return stopping_; });
      lock.unlock();
      auto flushed = flush(*pool_);
      if (!flushed.is_ok() && flushed.code() != Status::Code::kBusy) {
        std::cerr << ("iotreg serve: counting unregistered lookups failed (kept for the next "
                      "try): " +
                      flushed.message() + "\n")
                  << std::flush;
      }
      lock.lock();
    }
  });
}

void LookupTally::stop() {
  {
    std::lock_guard lock(thread_mutex_);
    if (!thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();  // its last round flushes what is left
}

std::uint64_t LookupTally::pending() const {
  std::lock_guard lock(mutex_);
  return pending_lookups_;
}

std::uint64_t LookupTally::left_out() const {
  std::lock_guard lock(mutex_);
  return left_out_;
}

}  // namespace iotreg::http
