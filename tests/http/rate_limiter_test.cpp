// The public pages' rate limit on its own, on a clock the test moves: token buckets per client
// (IPv4 address, IPv6 /64), Retry-After in whole seconds, idle clients forgotten, a bounded
// table, many threads at once; and whose X-Forwarded-For is believed.
#include "registry/http/detail/rate_limiter.h"

#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "registry/http/detail/client_address.h"

namespace iotreg::http {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = RateLimiter::Clock;

ClientKey key(const std::string& address) { return client_key(address); }

ClientKey numbered(std::uint32_t n) {
  return key("10." + std::to_string(n >> 16 & 255) + "." + std::to_string(n >> 8 & 255) + "." +
             std::to_string(n & 255));
}

}  // namespace

TEST_SUITE("http.rate_limit") {
  TEST_CASE("rate limit: a burst, then a token per 1/rate, and Retry-After in whole seconds") {
    RateLimiter limiter(2, 5, 1000);
    const Clock::time_point start{};
    const ClientKey client = key("192.0.2.1");
    for (int i = 0; i < 5; ++i) CHECK(limiter.take(client, start).allowed);
    auto refused = limiter.take(client, start);
    CHECK_FALSE(refused.allowed);
    CHECK(refused.retry_after == seconds(1));  // half a second rounded up
    CHECK_FALSE(limiter.take(client, start + milliseconds(400)).allowed);
    CHECK(limiter.take(client, start + milliseconds(500)).allowed);
    CHECK_FALSE(limiter.take(client, start + milliseconds(500)).allowed);
    // Another client has a bucket of its own.
    CHECK(limiter.take(key("192.0.2.2"), start).allowed);
    // A slow rate: Retry-After counts the seconds until one token is there.
    RateLimiter slow(0.1, 1, 10);
    CHECK(slow.take(client, start).allowed);
    CHECK(slow.take(client, start).retry_after == seconds(10));
    CHECK(slow.take(client, start + seconds(4)).retry_after == seconds(6));
    // A rate slower than a token a year waits a year at most.
    RateLimiter glacial(1e-12, 1, 10);
    CHECK(glacial.take(client, start).allowed);
    CHECK(glacial.take(client, start).retry_after == seconds(365 * 24 * 3600));
    CHECK_FALSE(glacial.take(client, start + seconds(3600)).allowed);
    // Rate 0: no limit.
    RateLimiter off(0, 1, 10);
    CHECK_FALSE(off.enabled());
    for (int i = 0; i < 100; ++i) CHECK(off.take(client, start).allowed);
    CHECK(off.tracked() == 0);
  }

  TEST_CASE("rate limit: a client's key is its IPv4 address or its IPv6 /64") {
    CHECK(key("192.0.2.1") == key("::ffff:192.0.2.1"));
    CHECK_FALSE(key("192.0.2.1") == key("192.0.2.2"));
    CHECK(key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:ffff:ffff:ffff"));
    CHECK_FALSE(key("2001:db8:1:2::1") == key("2001:db8:1:3::1"));
    CHECK(key("?") == key("not an address"));
    RateLimiter limiter(1, 2, 100);
    const Clock::time_point now{};
    CHECK(limiter.take(key("2001:db8::1"), now).allowed);
    CHECK(limiter.take(key("2001:db8::2"), now).allowed);
    CHECK_FALSE(limiter.take(key("2001:db8::3"), now).allowed);  // one subscriber's /64
  }

  TEST_CASE("rate limit: idle clients are forgotten and the table stays bounded") {
    RateLimiter limiter(1, 3, 1024);
    const Clock::time_point start{};
    for (std::uint32_t n = 0; n < 40; ++n) limiter.take(numbered(n), start);
    CHECK(limiter.tracked() == 40);
    // Once a bucket would be full again (3 s) its client is the same as one never seen: clients
    // seen later sweep it away.
    for (std::uint32_t n = 1000; n < 1200; ++n) limiter.take(numbered(n), start + seconds(4));
    CHECK(limiter.tracked() == 200);

    // Many clients at once: never more than the bound (64, in 16 shards of 4).
    RateLimiter bounded(1, 3, 64);
    for (std::uint32_t n = 0; n < 100000; ++n) bounded.take(numbered(n), start);
    CHECK(bounded.tracked() <= 64);
    // A client pushed out by newer ones starts again with a full bucket.
    const ClientKey busy = key("198.51.100.1");
    for (int i = 0; i < 3; ++i) CHECK(bounded.take(busy, start).allowed);
    CHECK_FALSE(bounded.take(busy, start).allowed);
    for (std::uint32_t n = 0; n < 10000; ++n) bounded.take(numbered(n), start);
    CHECK(bounded.take(busy, start).allowed);
  }

  TEST_CASE("rate limit: many threads share the table and each bucket is charged exactly") {
    RateLimiter limiter(1, 100, 100000);
    const Clock::time_point now{};
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (std::uint32_t n = 0; n < 50; ++n) {
          for (int i = 0; i < 30; ++i) allowed += limiter.take(numbered(n), now).allowed ? 1 : 0;
        }
      });
    }
    for (auto& thread : threads) thread.join();
    // 50 clients, 240 requests each, 100 tokens each.
    CHECK(allowed == 50 * 100);
    CHECK(limiter.tracked() == 50);
  }

  TEST_CASE("rate limit: only a trusted proxy's X-Forwarded-For names the client") {
    auto proxies = TrustedProxies::parse({"10.0.0.0/8", "2001:db8::/32", "192.0.2.7"});
    REQUIRE_MESSAGE(proxies.is_ok(), proxies.status().message());
    CHECK(proxies->trusts("10.1.2.3"));
    CHECK(proxies->trusts("::ffff:10.1.2.3"));
    CHECK(proxies->trusts("2001:db8:ffff::1"));
    CHECK(proxies->trusts("192.0.2.7"));
    CHECK_FALSE(proxies->trusts("192.0.2.8"));
    CHECK_FALSE(proxies->trusts("11.0.0.1"));
    CHECK_FALSE(proxies->trusts("2001:db9::1"));
    // Not a trusted peer: its header is not believed.
    CHECK(proxies->client_of("203.0.113.5", "198.51.100.1") == "203.0.113.5");
    // The rightmost entry that is not a trusted proxy.
    CHECK(proxies->client_of("10.0.0.1", "198.51.100.1") == "198.51.100.1");
    CHECK(proxies->client_of("10.0.0.1", "203.0.113.9, 198.51.100.1, 10.9.9.9") == "198.51.100.1");
    CHECK(proxies->client_of("10.0.0.1", "[2001:db9::5]:4711") == "2001:db9::5");
    CHECK(proxies->client_of("10.0.0.1", "198.51.100.1:4711") == "198.51.100.1");
    // All trusted: the leftmost; garbage: the last trusted hop.
    CHECK(proxies->client_of("10.0.0.1", "10.2.2.2, 10.3.3.3") == "10.2.2.2");
    CHECK(proxies->client_of("10.0.0.1", "unknown") == "10.0.0.1");
    CHECK(proxies->client_of("10.0.0.1", "198.51.100.1, ") == "10.0.0.1");
    CHECK(proxies->client_of("10.0.0.1", "") == "10.0.0.1");
    // Without trusted proxies nobody's header counts.
    auto none = TrustedProxies::parse({});
    REQUIRE(none.is_ok());
    CHECK(none->client_of("10.0.0.1", "198.51.100.1") == "10.0.0.1");
    for (const std::string bad :
         {"10.0.0.0/33", "2001:db8::/129", "proxy.example", "10.0.0.0/", "10.0.0.0/8x", ""}) {
      auto refused = TrustedProxies::parse({bad});
      CHECK_FALSE(refused.is_ok());
    }
  }
}

}  // namespace iotreg::http
