// The reply cache on its own: one computation per reply, and every waiter woken exactly once
// whatever the order of states, computations and failures.
#include "registry/http/detail/reply_cache.h"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace iotreg::http {
namespace {

using namespace std::chrono_literals;
using Found = std::variant<std::string, ReplyCache::Computation>;

std::shared_future<void> released_at_once() {
  std::promise<void> promise;
  promise.set_value();
  return promise.get_future().share();
}

// Runs a lookup on its own thread: its reply, or "<compute>" when the thread was given the
// computation, which it holds until `release` is ready (at most 10 s) and then abandons. The
// thread is detached, so a waiter that is never woken fails the test at its deadline instead of
// hanging it; the cache is shared so that it outlives such a thread.
std::future<std::string> lookup_async(std::shared_ptr<ReplyCache> cache, std::int64_t version,
                                      std::string key,
                                      std::shared_future<void> release = released_at_once()) {
  auto promise = std::make_shared<std::promise<std::string>>();
  auto future = promise->get_future();
  std::thread([cache, version, key, promise, release] {
    Found found = cache->find_or_start(version, key);
    if (auto* body = std::get_if<std::string>(&found)) {
      promise->set_value(*body);
      return;
    }
    promise->set_value("<compute>");
    release.wait_for(10s);
  }).detach();
  return future;
}

void wait_for_waiters(const ReplyCache& cache, std::size_t count) {
  const auto give_up = std::chrono::steady_clock::now() + 5s;
  while (cache.waiting() < count && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(cache.waiting() == count);
}

std::string body_of(Found& found) {
  auto* body = std::get_if<std::string>(&found);
  REQUIRE(body != nullptr);
  return *body;
}

TEST_SUITE("reply_cache") {
  TEST_CASE("reply cache: a second request waits for the first one's computation") {
    auto cache = std::make_shared<ReplyCache>(1 << 20);
    Found first = cache->find_or_start(1, "k");
    auto& computation = std::get<ReplyCache::Computation>(first);
    auto waiter = lookup_async(cache, 1, "k");
    wait_for_waiters(*cache, 1);
    const std::string body = "reply of state 1";
    computation.finish(&body);
    REQUIRE(waiter.wait_for(5s) == std::future_status::ready);
    CHECK(waiter.get() == "reply of state 1");
    Found again = cache->find_or_start(1, "k");
    CHECK(body_of(again) == "reply of state 1");
  }

  TEST_CASE("reply cache: a newer state taking over the key does not strand the older waiters") {
    // The order that hung the server: a request for state 1 computes, a second waits for it, a
    // request for state 2 starts its own computation of the same key, then state 1 finishes.
    auto cache = std::make_shared<ReplyCache>(1 << 20);
    Found old_state = cache->find_or_start(1, "k");
    auto& old_computation = std::get<ReplyCache::Computation>(old_state);
    auto old_waiter = lookup_async(cache, 1, "k");
    wait_for_waiters(*cache, 1);

    Found new_state = cache->find_or_start(2, "k");
    REQUIRE(std::holds_alternative<ReplyCache::Computation>(new_state));
    auto new_waiter = lookup_async(cache, 2, "k");
    wait_for_waiters(*cache, 2);

    const std::string old_body = "reply of state 1";
    old_computation.finish(&old_body);
    REQUIRE(old_waiter.wait_for(5s) == std::future_status::ready);
    CHECK(old_waiter.get() == "reply of state 1");
    // The state 2 waiter is still waiting for its own computation, not served state 1.
    CHECK(new_waiter.wait_for(50ms) == std::future_status::timeout);
    CHECK(cache->waiting() == 1);

    const std::string new_body = "reply of state 2";
    std::get<ReplyCache::Computation>(new_state).finish(&new_body);
    REQUIRE(new_waiter.wait_for(5s) == std::future_status::ready);
    CHECK(new_waiter.get() == "reply of state 2");
    Found later = cache->find_or_start(2, "k");
    CHECK(body_of(later) == "reply of state 2");
  }

  TEST_CASE("reply cache: a computation abandoned by an exception releases its waiters") {
    auto cache = std::make_shared<ReplyCache>(1 << 20);
    auto waiter = std::future<std::string>();
    try {
      Found first = cache->find_or_start(1, "k");
      REQUIRE(std::holds_alternative<ReplyCache::Computation>(first));
      waiter = lookup_async(cache, 1, "k");
      wait_for_waiters(*cache, 1);
      throw std::runtime_error("the handler failed");
    } catch (const std::runtime_error&) {
    }
    REQUIRE(waiter.wait_for(5s) == std::future_status::ready);
    CHECK(waiter.get() == "<compute>");
    CHECK(cache->waiting() == 0);
  }

  TEST_CASE("reply cache: an uncacheable reply sends waiters to one new computation") {
    auto cache = std::make_shared<ReplyCache>(1 << 20);
    Found first = cache->find_or_start(1, "k");
    std::promise<void> release;
    auto a = lookup_async(cache, 1, "k", release.get_future().share());
    wait_for_waiters(*cache, 1);
    auto b = lookup_async(cache, 1, "k");
    wait_for_waiters(*cache, 2);
    std::get<ReplyCache::Computation>(first).finish(nullptr);  // e.g. a 404: not kept
    // Exactly one of the two computes again (the first to wake); the other waits for it.
    std::future<std::string>* computing = nullptr;
    for (int i = 0; i < 500 && !computing; ++i) {
      if (a.wait_for(10ms) == std::future_status::ready) computing = &a;
      if (b.wait_for(0ms) == std::future_status::ready) computing = &b;
    }
    REQUIRE(computing != nullptr);
    CHECK(computing->get() == "<compute>");
    if (computing == &a) CHECK(cache->waiting() == 1);  // `b` waits while `a` holds it
    release.set_value();  // `a` abandons its computation, if it was the one computing
    if (computing == &b) {
      // `b` abandoned its computation when its thread ended; `a` was released to compute.
      REQUIRE(a.wait_for(5s) == std::future_status::ready);
      CHECK(a.get() == "<compute>");
    } else {
      REQUIRE(b.wait_for(5s) == std::future_status::ready);
      CHECK(b.get() == "<compute>");
    }
  }

  TEST_CASE("reply cache: waiters give up after the longest wait and when the cache closes") {
    auto cache = std::make_shared<ReplyCache>(1 << 20, 100ms);
    Found stuck = cache->find_or_start(1, "k");  // never finished while the waiters wait
    const auto started = std::chrono::steady_clock::now();
    auto waiter = lookup_async(cache, 1, "k");
    REQUIRE(waiter.wait_for(5s) == std::future_status::ready);
    CHECK(waiter.get() == "<compute>");
    CHECK(std::chrono::steady_clock::now() - started >= 100ms);

    auto patient = std::make_shared<ReplyCache>(1 << 20, std::chrono::hours(1));
    Found stuck_too = patient->find_or_start(1, "k");
    auto closed_waiter = lookup_async(patient, 1, "k");
    wait_for_waiters(*patient, 1);
    patient->close();
    REQUIRE(closed_waiter.wait_for(5s) == std::future_status::ready);
    CHECK(closed_waiter.get() == "<compute>");
  }

  TEST_CASE("reply cache: an older state is never served to a newer reader") {
    auto cache = std::make_shared<ReplyCache>(1 << 20);
    Found first = cache->find_or_start(1, "k");
    const std::string body = "state 1";
    std::get<ReplyCache::Computation>(first).finish(&body);
    Found newer = cache->find_or_start(2, "k");
    CHECK(std::holds_alternative<ReplyCache::Computation>(newer));
    // A reader still at state 1 may be served the newer state's reply, never the reverse.
    const std::string body2 = "state 2";
    std::get<ReplyCache::Computation>(newer).finish(&body2);
    Found older_reader = cache->find_or_start(1, "k");
    CHECK(body_of(older_reader) == "state 2");
  }

  TEST_CASE("reply cache: reads against a stream of one-record writes all end") {
    // Readers ask for a few keys while the state moves on every millisecond, as one-record
    // imports do; every computation sleeps a little, some throw. Every lookup must end with a
    // reply of a state at least as new as the reader's, long before the deadline.
    struct Shared {
      ReplyCache cache{1 << 20};
      std::atomic<std::int64_t> state{1};
      std::atomic<bool> writing{true};
      std::atomic<int> stale{0};
      std::atomic<int> lookups{0};
    };
    auto shared = std::make_shared<Shared>();
    std::thread writer([shared] {
      while (shared->writing) {
        std::this_thread::sleep_for(1ms);
        ++shared->state;
      }
    });
    auto reader = [shared](unsigned seed) {
      std::mt19937 random(seed);
      for (int i = 0; i < 300; ++i) {
        const std::int64_t version = shared->state.load();
        const std::string key = "k" + std::to_string(random() % 3);
        Found found = shared->cache.find_or_start(version, key);
        ++shared->lookups;
        if (auto* body = std::get_if<std::string>(&found)) {
          if (std::stoll(*body) < version) ++shared->stale;
          continue;
        }
        std::this_thread::sleep_for(std::chrono::microseconds(random() % 500));
        if (random() % 10 == 0) continue;  // abandoned, as by an exception
        const std::string body = std::to_string(version);
        std::get<ReplyCache::Computation>(found).finish(&body);
      }
    };
    // Detached, so that a stranded reader fails the test at the deadline instead of hanging it.
    std::vector<std::future<void>> readers;
    for (unsigned i = 0; i < 16; ++i) {
      auto done = std::make_shared<std::promise<void>>();
      readers.push_back(done->get_future());
      std::thread([reader, done, i] {
        reader(i);
        done->set_value();
      }).detach();
    }
    bool all_ended = true;
    for (auto& each : readers) {
      all_ended = all_ended && each.wait_for(60s) == std::future_status::ready;
    }
    shared->writing = false;
    writer.join();
    REQUIRE(all_ended);
    CHECK(shared->lookups == 16 * 300);
    CHECK(shared->stale == 0);
    CHECK(shared->cache.waiting() == 0);
  }
}

}  // namespace
}  // namespace iotreg::http
