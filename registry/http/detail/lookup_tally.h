// LookupTally: counts of public lookups that found no product (GET /public/lookup), gathered in
// memory and written to the registry in one short transaction now and then
// (Storage::record_unregistered_lookups), so that a consumer's lookup never waits for the
// registry's write lock and a flood of lookups costs one write per interval. Private to
// registry/http.
//
// What is kept is only what was looked up (a GTIN, or a brand and model by identity key) with
// its count and first and last time: nothing about who looked. Between two flushes at most
// `max_pending` different entries are gathered; lookups of further ones are only counted as
// left out. Thread-safe (one mutex, taken only by lookups that found nothing and by a flush).
// The server flushes it every flush interval from a thread of its own (start(); destroyed or
// stop() before the ConnectionPool it flushes through), before an officer reads the counts,
// and once more when it stops.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>

#include "registry/core/status.h"
#include "registry/storage/storage.h"

namespace iotreg::http {

class ConnectionPool;

class LookupTally {
 public:
  // Entries kept in the registry at most (Storage::record_unregistered_lookups).
  static constexpr std::size_t kMaxStoredEntries = 100000;

  explicit LookupTally(std::size_t max_pending = 10000) : max_pending_(max_pending) {}
  ~LookupTally() { stop(); }
  LookupTally(const LookupTally&) = delete;
  LookupTally& operator=(const LookupTally&) = delete;

  // Counts one lookup that found nothing: by `gtin` (14 digits), or by `brand` and `model`
  // (trimmed, valid UTF-8) when `gtin` is empty. `at` is a UTC ISO 8601 timestamp.
  void count(std::string_view gtin, std::string_view brand, std::string_view model,
             const std::string& at);

  // Writes what was gathered through a connection of `pool`. On failure (a busy registry) the
  // counts are kept for the next flush.
  Status flush(ConnectionPool& pool);

  // Flushes every `interval` from a thread of its own until stop(), which flushes once more.
  void start(ConnectionPool& pool, std::chrono::milliseconds interval);
  void stop();

  // Lookups gathered and not yet written, and lookups left out since the server started (no
  // room in memory or in the registry).
  std::uint64_t pending() const;
  std::uint64_t left_out() const;

 private:
  using Key = std::tuple<std::string, std::string, std::string>;  // gtin, brand key, model key

  const std::size_t max_pending_;
  mutable std::mutex mutex_;
  std::map<Key, storage::UnregisteredLookup> pending_;
  std::uint64_t pending_lookups_ = 0;
  std::uint64_t left_out_ = 0;

  std::mutex flush_mutex_;  // one flush at a time
  std::mutex thread_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  ConnectionPool* pool_ = nullptr;
  std::thread thread_;
};

}  // namespace iotreg::http
