// ReplyCache: replies of read-only endpoints and authenticated tokens, valid for one state of the
// registry (Storage::state_version); a newer state empties it. Private to registry/http.
//
// Requests for a reply that is being computed wait for that computation instead of repeating
// it. Every waiter waits on the one computation it joined, never on whatever computation holds
// the key later, so finishing, abandoning (an exception in the handler) or out-of-order states
// wake each waiter exactly once; a waiter also gives up after a bounded wait, or when the cache
// is closed, and computes the reply itself. Thread-safe; owned by the server's state and
// destroyed only after every request thread has ended.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <variant>

#include "registry/access/access.h"

namespace iotreg::http {

class ReplyCache {
 public:
  // A reply being computed by one request; the others that asked for it wait on it.
  struct Pending;

  // The duty to compute one reply, handed to exactly one caller. Publish the result with
  // finish(); destroying a Computation that was not finished (an exception, an uncacheable
  // reply) releases its waiters, who then compute the reply themselves. Move-only; must not
  // outlive the cache.
  class Computation {
   public:
    Computation(Computation&& other) noexcept;
    Computation& operator=(Computation&& other) = delete;
    Computation(const Computation&) = delete;
    Computation& operator=(const Computation&) = delete;
    ~Computation();

    // Publishes `body` to the waiters and keeps it while the cache holds this state; null: the
    // reply is not to be kept (its waiters compute their own).
    void finish(const std::string* body);

   private:
    friend class ReplyCache;
    Computation(ReplyCache* cache, std::string key, std::shared_ptr<Pending> pending);
    ReplyCache* cache_;
    std::string key_;
    std::shared_ptr<Pending> pending_;
  };

  // `capacity_bytes`: memory for kept replies (0 keeps none). `max_wait`: how long a request
  // waits for another's computation before computing the reply itself.
  explicit ReplyCache(std::size_t capacity_bytes,
                      std::chrono::milliseconds max_wait = std::chrono::seconds(10));
  ReplyCache(const ReplyCache&) = delete;
  ReplyCache& operator=(const ReplyCache&) = delete;

  // The reply for `key` in state `version` (or in a newer state); or the duty to compute it.
  std::variant<std::string, Computation> find_or_start(std::int64_t version,
                                                       const std::string& key);

  std::optional<access::Principal> find_principal(std::int64_t version,
                                                  const std::string& token_hash,
                                                  const std::string& today);
  void add_principal(std::int64_t version, const std::string& token_hash, const std::string& today,
                     const access::Principal& principal);

  // Wakes every waiter and makes later ones compute at once: the server is stopping.
  void close();

  // Requests waiting for another's computation right now (for tests and metrics).
  std::size_t waiting() const;

 private:
  void start_locked(std::int64_t version);  // empties the cache when the version moved on
  void finish(const std::string& key, const std::shared_ptr<Pending>& pending,
              const std::string* body);

  mutable std::mutex mutex_;
  std::condition_variable computed_;
  std::size_t capacity_;
  std::chrono::milliseconds max_wait_;
  std::size_t bytes_ = 0;
  std::int64_t version_ = -1;
  bool closed_ = false;
  std::size_t waiting_ = 0;
  std::map<std::string, std::string, std::less<>> replies_;
  // The newest computation per key; older ones live on in their Computation and waiters.
  std::map<std::string, std::shared_ptr<Pending>, std::less<>> computing_;
  std::map<std::string, std::pair<std::string, access::Principal>> principals_;  // by hash
};

}  // namespace iotreg::http
