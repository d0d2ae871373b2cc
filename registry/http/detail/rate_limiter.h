// RateLimiter: a token bucket per client (ClientKey) for the public endpoints, so that one
// client cannot take the server from everyone else. Private to registry/http.
//
// Each client's bucket holds up to `burst` tokens and refills at `rate` tokens a second; a
// request takes one, and a request that finds less than one is refused with how many whole
// seconds remain until one is there. A client not seen for as long as its bucket takes to fill
// has a full bucket, which is what a client never seen has: it is forgotten. Memory is bounded:
// at most `max_clients` buckets are kept, and beyond that the client seen least recently is
// forgotten first (it then starts again with a full bucket).
//
// Thread-safe without a global lock: the table is split into shards by a hash of the key, each
// with its own mutex, list (most recently seen first) and index; a request locks one shard for
// a few hundred nanoseconds and allocates only for a client new to the table.
#pragma once

#include <chrono>
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "registry/http/detail/client_address.h"

namespace iotreg::http {

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  // `rate` tokens a second (0: no limit at all), buckets of `burst` tokens (at least 1),
  // at most `max_clients` buckets (at least one per shard).
  RateLimiter(double rate, double burst, std::size_t max_clients);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  bool enabled() const { return rate_ > 0; }

  struct Decision {
    bool allowed = true;
    std::chrono::seconds retry_after{0};  // when refused: at least 1
  };
  // Takes a token from the client's bucket at `now`.
  Decision take(const ClientKey& client, Clock::time_point now = Clock::now());

  // Buckets kept right now (for tests and metrics).
  std::size_t tracked() const;

 private:
  struct Bucket {
    ClientKey client;
    double tokens = 0;
    Clock::time_point updated;
  };
  struct Shard {
    mutable std::mutex mutex;
    std::list<Bucket> recent;  // most recently seen first
    std::unordered_map<ClientKey, std::list<Bucket>::iterator, ClientKeyHash> index;
  };
  static constexpr std::size_t kShards = 16;

  const double rate_;
  const double burst_;
  const std::size_t shard_capacity_;
  const Clock::duration fill_time_;  // an empty bucket is full again after this
  std::unique_ptr<Shard[]> shards_;
};

}  // namespace iotreg::http
