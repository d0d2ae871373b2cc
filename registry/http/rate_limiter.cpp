#include "registry/http/detail/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace iotreg::http {
namespace {

constexpr double kYear = 365.0 * 24 * 3600;  // seconds

}  // namespace

RateLimiter::RateLimiter(double rate, double burst, std::size_t max_clients)
    : rate_(rate > 0 ? rate : 0),
      burst_(std::max(burst, 1.0)),
      shard_capacity_(std::max<std::size_t>(1, (max_clients + kShards - 1) / kShards)),
      // At most a year: a rate so slow that a bucket fills in longer is as good as no refill.
      fill_time_(rate_ > 0 ? std::chrono::duration_cast<Clock::duration>(
                                 std::chrono::duration<double>(std::min(burst_ / rate_, kYear)))
                           : Clock::duration::zero()),
      shards_(std::make_unique<Shard[]>(kShards)) {}

RateLimiter::Decision RateLimiter::take(const ClientKey& client, Clock::time_point now) {
  if (!enabled()) return {};
  Shard& shard = shards_[ClientKeyHash{}(client) % kShards];
  std::lock_guard lock(shard.mutex);
  // Buckets that filled up while their client was away are the same as none: forget them. They
  // are at the back; each is removed once, so this costs nothing per request on average.
  while (!shard.recent.empty() && now - shard.recent.back().updated >= fill_time_) {
    shard.index.erase(shard.recent.back().client);
    shard.recent.pop_back();
  }
  Bucket* bucket = nullptr;
  if (auto found = shard.index.find(client); found != shard.index.end()) {
    shard.recent.splice(shard.recent.begin(), shard.recent, found->second);
    bucket = &*found->second;
    const double elapsed =
        std::max(0.0, std::chrono::duration<double>(now - bucket->updated).count());
    bucket->tokens = std::min(burst_, bucket->tokens + elapsed * rate_);
    bucket->updated = std::max(bucket->updated, now);
  } else {
    if (shard.index.size() >= shard_capacity_) {
      shard.index.erase(shard.recent.back().client);
      shard.recent.pop_back();
    }
    shard.recent.push_front({client, burst_, now});
    shard.index.emplace(client, shard.recent.begin());
    bucket = &shard.recent.front();
  }
  if (bucket->tokens >= 1) {
    bucket->tokens -= 1;
    return {};
  }
  const double wait = std::min(std::ceil((1 - bucket->tokens) / rate_), kYear);
  return {false, std::chrono::seconds(std::max<std::int64_t>(1, static_cast<std::int64_t>(wait)))};
}

std::size_t RateLimiter::tracked() const {
  std::size_t total = 0;
  for (std::size_t i = 0; i < kShards; ++i) {
    std::lock_guard lock(shards_[i].mutex);
    total += shards_[i].index.size();
  }
  return total;
}

}  // namespace iotreg::http
