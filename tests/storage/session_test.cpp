// Web sessions and the officers' audit queries, on every backend: sessions store only a hash,
// end by sign-out, by idle time, by their absolute lifetime and with their token; the audit log
// reads newest first, by day, with keyset pages.
#include "registry/access/session.h"

#include <doctest/doctest.h>

#include <regex>

#include "registry/core/clock.h"
#include "registry/core/sha256.h"
#include "support/registry.h"
#include "support/temp_files.h"

namespace iotreg::access {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using testing::ScratchDir;

std::unique_ptr<storage::Storage> open_registry(const std::string& location) {
  auto opened = storage::open_storage(location, storage::OpenMode::kReadWrite);
  REQUIRE_MESSAGE(opened.is_ok(), opened.status().message());
  return std::move(opened).value();
}

// An officer token issued on 2026-11-29; answers the token.
std::string officer_token(storage::Storage& registry, const std::string& expires = "") {
  auto issued =
      issue_token(registry, {"officer", "Olivia Officer", "", expires}, "test", "2026-11-29");
  REQUIRE_MESSAGE(issued.is_ok(), issued.status().message());
  return issued->token;
}

const WallClock::time_point kSignIn = WallClock::from_time_t(1795000000);  // 2026-11-17

bool ended(const Result<Principal>& principal) {
  return !principal.is_ok() && principal.status().code() == Status::Code::kNotFound &&
         principal.status().message() == "the session has ended or expired; sign in again";
}

TEST_SUITE("access") {
  TEST_CASE("access: a session stands for its token and stores only the hash of its id") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto registry = open_registry(backing.location());
    const std::string token = officer_token(*registry);
    const SessionLifetime lifetime;
    auto opened = open_session(*registry, token, "2026-11-29", lifetime, kSignIn);
    REQUIRE_MESSAGE(opened.is_ok(), opened.status().message());
    CHECK(std::regex_match(opened->id, std::regex("[0-9a-f]{64}")));
    CHECK(opened->expires_at == iso_timestamp(kSignIn + std::chrono::hours(12)));
    CHECK(opened->principal.role == Role::kOfficer);
    auto stored = registry->find_session(sha256_hex(opened->id));
    REQUIRE(stored.is_ok());
    REQUIRE(stored->has_value());
    CHECK(stored.value()->token_hash == token_hash(token));
    CHECK(stored.value()->created_at == iso_timestamp(kSignIn));
    CHECK_FALSE(registry->find_session(opened->id)->has_value());  // the id itself is not stored

    auto principal =
        session_principal(*registry, opened->id, "2026-11-29", lifetime, kSignIn + minutes(5));
    REQUIRE(principal.is_ok());
    CHECK(principal->holder == "Olivia Officer");
    CHECK(principal->token_id == opened->principal.token_id);
    // A wrong token opens nothing; ids that were never issued are refused alike.
    auto refused =
        open_session(*registry, "iotreg_" + std::string(64, '0'), "2026-11-29", lifetime, kSignIn);
    CHECK(refused.status().code() == Status::Code::kNotFound);
    CHECK(
        ended(session_principal(*registry, std::string(64, 'a'), "2026-11-29", lifetime, kSignIn)));
    CHECK(ended(session_principal(*registry, "not a session", "2026-11-29", lifetime, kSignIn)));
    CHECK(ended(session_principal(*registry, opened->id.substr(0, 63) + "G", "2026-11-29", lifetime,
                                  kSignIn)));
    // Session changes are not audited state: the registry's version does not move.
    auto version = registry->state_version();
    REQUIRE(open_session(*registry, token, "2026-11-29", lifetime, kSignIn).is_ok());
    CHECK(registry->state_version().value() == version.value());
  }

  TEST_CASE(
      "access: a session ends at sign-out or when idle or at its lifetime or with its token") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto registry = open_registry(backing.location());
    const std::string token = officer_token(*registry, "2026-12-31");
    const SessionLifetime lifetime{minutes(30), std::chrono::hours(2)};
    auto open = [&]() {
      auto opened = open_session(*registry, token, "2026-11-29", lifetime, kSignIn);
      REQUIRE(opened.is_ok());
      return opened->id;
    };
    auto use = [&](const std::string& id, WallClock::time_point at,
                   std::string_view today = "2026-11-29") {
      return session_principal(*registry, id, today, lifetime, at);
    };

    const std::string signed_out = open();
    CHECK(close_session(*registry, signed_out).value());
    CHECK_FALSE(close_session(*registry, signed_out).value());
    CHECK(ended(use(signed_out, kSignIn + seconds(1))));

    // Used every 20 minutes it lives; its use is recorded at most once a minute.
    const std::string busy = open();
    for (int step = 1; step <= 5; ++step) CHECK(use(busy, kSignIn + minutes(20 * step)).is_ok());
    auto touched = registry->find_session(sha256_hex(busy));
    CHECK(touched.value()->last_seen_at == iso_timestamp(kSignIn + minutes(100)));
    CHECK(use(busy, kSignIn + minutes(100) + seconds(30)).is_ok());
    CHECK(registry->find_session(sha256_hex(busy)).value()->last_seen_at ==
          iso_timestamp(kSignIn + minutes(100)));
    // ... until its absolute lifetime ends, however it is used; then it is gone.
    CHECK(ended(use(busy, kSignIn + std::chrono::hours(2))));
    CHECK_FALSE(registry->find_session(sha256_hex(busy))->has_value());

    const std::string idle = open();
    CHECK(use(idle, kSignIn + minutes(29)).is_ok());
    CHECK(ended(use(idle, kSignIn + minutes(59) + seconds(1))));

    // Its token expires (by the calendar) or is revoked: the session ends with it.
    const std::string expiring = open();
    CHECK(use(expiring, kSignIn + minutes(1), "2026-12-31").is_ok());
    CHECK(ended(use(expiring, kSignIn + minutes(2), "2027-01-01")));
    const std::string revoked = open();
    CHECK(use(revoked, kSignIn + minutes(1)).is_ok());
    REQUIRE(registry->revoke_token(1, "test").is_ok());
    CHECK(ended(use(revoked, kSignIn + minutes(2))));

    // Signing in deletes the sessions whose lifetime ended.
    REQUIRE(registry
                ->create_session({std::string(64, 'e'), 1, "", "2026-11-17T00:00:00Z",
                                  "2026-11-17T00:00:00Z", "2026-11-17T01:00:00Z"})
                .is_ok());
    CHECK(registry->find_session(std::string(64, 'e'))->has_value());
    auto other = issue_token(*registry, {"admin", "Ada Admin", "", ""}, "test", "2026-11-29");
    REQUIRE(other.is_ok());
    REQUIRE(open_session(*registry, other->token, "2026-11-29", lifetime, kSignIn).is_ok());
    CHECK_FALSE(registry->find_session(std::string(64, 'e'))->has_value());
  }

  TEST_CASE("access: the registry's state last changed when its newest audit event was written") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto registry = open_registry(backing.location());
    auto never = registry->state_changed_at();
    REQUIRE(never.is_ok());
    CHECK(never.value().empty() == (registry->state_version().value() == 0));
    const std::string before = utc_timestamp();
    officer_token(*registry);
    const std::string after = utc_timestamp();
    auto changed = registry->state_changed_at();
    REQUIRE(changed.is_ok());
    CHECK(changed.value() >= before);  // the same form: text order is time order
    CHECK(changed.value() <= after);
    storage::AuditQuery newest;
    newest.limit = 1;
    newest.newest_first = true;
    auto events = registry->audit_events(newest);
    REQUIRE(events.is_ok());
    REQUIRE(events->size() == 1);
    CHECK(events->front().at == changed.value());
  }

  TEST_CASE("access: the audit log reads newest first by actor and by day in keyset pages") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto registry = open_registry(backing.location());
    for (int i = 0; i < 5; ++i) officer_token(*registry);
    REQUIRE(registry->revoke_token(2, "Ada Admin (admin, token 9)").is_ok());
    auto ids = [&](const storage::AuditQuery& query) {
      auto events = registry->audit_events(query);
      REQUIRE_MESSAGE(events.is_ok(), events.status().message());
      std::vector<std::int64_t> out;
      for (const auto& event : *events) out.push_back(event.id);
      return out;
    };
    storage::AuditQuery newest;
    newest.newest_first = true;
    CHECK(ids(newest) == std::vector<std::int64_t>{6, 5, 4, 3, 2, 1});
    newest.limit = 2;
    CHECK(ids(newest) == std::vector<std::int64_t>{6, 5});
    newest.after_id = 5;  // the next page: below the last id shown
    CHECK(ids(newest) == std::vector<std::int64_t>{4, 3});
    CHECK(ids(storage::AuditQuery{}) == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6});

    storage::AuditQuery by_actor;
    by_actor.newest_first = true;
    by_actor.actor = "Ada Admin (admin, token 9)";
    CHECK(ids(by_actor) == std::vector<std::int64_t>{6});

    auto events = registry->audit_events({});
    const std::string today = events->front().at.substr(0, 10);
    storage::AuditQuery by_day;
    by_day.newest_first = true;
    by_day.since = today;
    by_day.until = today;
    CHECK(ids(by_day).size() == 6);
    by_day.since = "2099-01-01";
    by_day.until.reset();
    CHECK(ids(by_day).empty());
    by_day.since = "2000-01-01";
    by_day.until = "2000-12-31";
    CHECK(ids(by_day).empty());
  }
}

}  // namespace
}  // namespace iotreg::access
