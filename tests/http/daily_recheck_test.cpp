// The server's daily re-check, on a clock the test moves: nothing runs before midnight in the
// server's time zone; after it the evaluation moves to the new date and the products judged
// under the same policy as of an earlier date are judged again, once per date and registry,
// without touching a confirmed flag or a verdict under another policy. Time zones from tzdata.
#include <doctest/doctest.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "registry/checks/checks.h"
#include "registry/core/calendar.h"
#include "registry/http/server.h"
#include "registry/policy/policy.h"
#include "support/process.h"
#include "support/registry.h"

namespace iotreg::test {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

const std::string kIotreg = IOTREG_BINARY;

// "2026-12-05T00:00:10Z" as a time point.
TimePoint utc(const std::string& text) {
  std::tm parts{};
  REQUIRE(strptime(text.c_str(), "%Y-%m-%dT%H:%M:%SZ", &parts) != nullptr);
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

class FakeClock final : public Clock {
 public:
  explicit FakeClock(TimePoint now) : now_(now) {}
  TimePoint now() const override {
    std::lock_guard lock(mutex_);
    return now_;
  }
  void set(TimePoint now) {
    std::lock_guard lock(mutex_);
    now_ = now;
  }

 private:
  mutable std::mutex mutex_;
  TimePoint now_;
};

TEST_SUITE("calendar") {
  TEST_CASE("calendar: the date and the next midnight in a time zone, summer time included") {
    auto london = ZonedCalendar::load("Europe/London");
    REQUIRE_MESSAGE(london.is_ok(), london.status().message());
    auto utc_zone = ZonedCalendar::load("UTC");
    REQUIRE(utc_zone.is_ok());
    // 23:30 UTC on 30 June is 00:30 on 1 July in London (BST, UTC+1).
    CHECK(london->date_at(utc("2026-06-30T23:30:00Z")) == "2026-07-01");
    CHECK(utc_zone->date_at(utc("2026-06-30T23:30:00Z")) == "2026-06-30");
    CHECK(london->next_day_starts(utc("2026-06-30T12:00:00Z")) == utc("2026-06-30T23:00:00Z"));
    // In winter London is on UTC.
    CHECK(london->date_at(utc("2026-12-04T23:59:59Z")) == "2026-12-04");
    CHECK(london->date_at(utc("2026-12-05T00:00:00Z")) == "2026-12-05");
    CHECK(london->next_day_starts(utc("2026-12-04T23:59:59Z")) == utc("2026-12-05T00:00:00Z"));
    // The day the clocks go forward (29 March 2026, 01:00 UTC) still starts at midnight GMT,
    // and the next at midnight BST.
    CHECK(london->next_day_starts(utc("2026-03-28T22:00:00Z")) == utc("2026-03-29T00:00:00Z"));
    CHECK(london->next_day_starts(utc("2026-03-29T12:00:00Z")) == utc("2026-03-29T23:00:00Z"));
    auto unknown = ZonedCalendar::load("Europe/Atlantis");
    REQUIRE_FALSE(unknown.is_ok());
    CHECK(unknown.status().message().find("unknown time zone 'Europe/Atlantis'") == 0);
  }
}

// A registry of three products whose statement is dated 2026-12-05, so that judged as of
// 2026-12-04 each fails the statement rule and as of 2026-12-05 each is compliant: "Day A" and
// "Day B" under dcms-2019 (B's flag confirmed by an officer), "Day C" under psti-2023.
class DatedRegistry {
 public:
  DatedRegistry() {
    std::ifstream sample(std::string(IOTREG_SOURCE_DIR) + "/samples/03-tessellate.jsonl");
    std::string line;
    json base;
    while (std::getline(sample, line)) {
      if (line.find("\"TP-6 Pro\"") != std::string::npos) base = json::parse(line);
    }
    REQUIRE(base.is_object());
    REQUIRE(base["statement"]["date"] == "2027-06-01");
    base["statement"]["date"] = "2026-12-05";
    auto write = [&](const std::string& name, std::vector<std::string> models) {
      std::ofstream out(dir.file(name));
      for (const auto& model : models) {
        json declaration = base;
        declaration["product"]["model"] = model;
        declaration["product"].erase("gtin");
        out << declaration.dump() << "\n";
      }
    };
    write("dcms.jsonl", {"Day A", "Day B"});
    write("psti.jsonl", {"Day C"});
    REQUIRE(cli({"import", dir.file("dcms.jsonl")}).exit_status == 0);
    REQUIRE(cli({"--policy", "psti-2023", "import", dir.file("psti.jsonl")}).exit_status == 0);
    for (const auto& product : products()) {
      REQUIRE(product["status"] == "non_compliant");
      REQUIRE(product["flag_state"] == "raised");
    }
    auto confirmed = cli({"flag", "confirm", std::to_string(flag_of("Day B")), "--reason",
                          "statement dated in the future"});
    REQUIRE_MESSAGE(confirmed.exit_status == 0, confirmed.err);
  }

  ProcessResult cli(std::vector<std::string> arguments) const {
    arguments.insert(arguments.begin(), {"--db", db, "--as-of", "2026-12-04"});
    return run_process(kIotreg, arguments);
  }
  std::vector<json> products() const {
    auto listed = cli({"products", "--json"});
    REQUIRE(listed.exit_status == 0);
    std::vector<json> rows;
    for (const auto& line : split_lines(listed.out)) rows.push_back(json::parse(line));
    return rows;
  }
  json product(const std::string& model) const {
    for (const auto& row : products()) {
      if (row["model"] == model) return row;
    }
    FAIL("no product " << model);
    return {};
  }
  std::int64_t flag_of(const std::string& model) const {
    auto listed = cli({"flags", "--json"});
    for (const auto& line : split_lines(listed.out)) {
      auto flag = json::parse(line);
      if (flag["model"] == model) return flag["id"];
    }
    FAIL("no flag of " << model);
    return 0;
  }
  // The daily re-check runs recorded, as (actor, details) of their audit events.
  std::vector<std::pair<std::string, json>> daily_runs() const {
    RegistryProbe probe(db);
    const std::string where = " FROM audit_events WHERE action = 'recheck' ORDER BY id";
    auto actors = probe.column("SELECT actor" + where);
    auto details = probe.column("SELECT details" + where);
    std::vector<std::pair<std::string, json>> runs;
    for (std::size_t i = 0; i < actors.size() && i < details.size(); ++i) {
      runs.emplace_back(actors[i], json::parse(details[i]));
    }
    return runs;
  }

  // A server judging under dcms-2019 as of 2026-12-04, re-checking daily on `clock`.
  std::unique_ptr<http::Server> serve(std::shared_ptr<const Clock> clock) const {
    auto plugins = checks::PluginSet::load_directory(IOTREG_BUILTIN_PLUGIN_DIR);
    REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
    auto policy = policy::load_policy("dcms-2019");
    REQUIRE(policy.is_ok());
    auto evaluator = checks::Evaluator::create(plugins.value(), policy.value(), "2026-12-04");
    REQUIRE(evaluator.is_ok());
    http::ServerOptions options;
    options.registry = db;
    options.listen = "127.0.0.1:0";
    options.threads = 2;
    options.shutdown_grace = 5s;
    http::DailyRecheckOptions daily;
    daily.clock = std::move(clock);
    daily.poll_interval = 5ms;
    daily.retry_interval = 20ms;
    options.daily_recheck = daily;
    auto server = http::Server::start(options, std::move(evaluator).value());
    REQUIRE_MESSAGE(server.is_ok(), server.status().message());
    return std::move(server).value();
  }

  // Waits until `count` daily runs are recorded (a failure after 20 s).
  void wait_for_runs(std::size_t count) const {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (daily_runs().size() < count) {
      REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "no daily re-check within 20 s");
      std::this_thread::sleep_for(10ms);
    }
  }

  TempDir dir;
  TestRegistry backing{dir};
  std::string db = backing.location();
};

TEST_SUITE("daily_recheck") {
  TEST_CASE(
      "daily re-check: after midnight in London the evaluation moves to the new date, once per "
      "date, leaving confirmed flags and other policies' verdicts to officers") {
    DatedRegistry registry;
    auto clock = std::make_shared<FakeClock>(utc("2026-12-04T23:59:30Z"));
    auto server = registry.serve(clock);

    // Before midnight nothing runs, however often the clock is read.
    std::this_thread::sleep_for(100ms);
    CHECK(registry.daily_runs().empty());

    clock->set(utc("2026-12-05T00:00:10Z"));
    registry.wait_for_runs(1);
    auto runs = registry.daily_runs();
    CHECK(runs[0].first == "daily re-check 2026-12-05");
    CHECK(runs[0].second["checked"] == 2);  // Day A and Day B; Day C is under psti-2023

    json day_a = registry.product("Day A");
    CHECK(day_a["status"] == "compliant");
    CHECK(day_a["flag_state"] == "withdrawn");
    json day_b = registry.product("Day B");
    CHECK(day_b["status"] == "compliant");
    CHECK(day_b["flag_state"] == "confirmed");  // an officer's prohibition stays in force
    CHECK(day_b["remedied"] == true);
    json day_c = registry.product("Day C");
    CHECK(day_c["status"] == "non_compliant");
    CHECK(day_c["flag_state"] == "raised");
    auto shown =
        json::parse(registry.cli({"show", std::to_string(day_a["id"].get<int>()), "--json"}).out);
    CHECK(shown["evaluation"]["as_of"] == "2026-12-05");

    // The status history names the cause.
    auto changes = registry.cli({"changes", "--since", "2000-01-01", "--json"});
    std::vector<std::string> daily;
    for (const auto& line : split_lines(changes.out)) {
      auto change = json::parse(line);
      if (change["cause"] == "daily re-check 2026-12-05") {
        daily.push_back(change["model"].get<std::string>() + " " +
                        change["kind"].get<std::string>() + " " + change["to"].get<std::string>());
      }
    }
    std::sort(daily.begin(), daily.end());
    CHECK(daily == std::vector<std::string>{"Day A flag withdrawn", "Day A status compliant",
                                            "Day B status compliant"});

    // Later the same day: no second run.
    clock->set(utc("2026-12-05T15:00:00Z"));
    std::this_thread::sleep_for(100ms);
    CHECK(registry.daily_runs().size() == 1);

    // The next midnight re-checks what was judged as of the day before.
    clock->set(utc("2026-12-06T00:00:01Z"));
    registry.wait_for_runs(2);
    runs = registry.daily_runs();
    CHECK(runs[1].first == "daily re-check 2026-12-06");
    CHECK(runs[1].second["checked"] == 2);
    CHECK(server->stop());
  }

  TEST_CASE("daily re-check: serve names its time zone and refuses an unknown one") {
    TempDir dir;
    TestRegistry registry(dir);
    const std::string db = registry.location();
    auto refused = run_process(kIotreg, {"--db", db, "--time-zone", "Europe/Atlantis", "serve",
                                         "--listen", "127.0.0.1:0"});
    CHECK(refused.exit_status == 2);
    CHECK(refused.err.find("iotreg: --time-zone: unknown time zone 'Europe/Atlantis'") == 0);

    // What `iotreg GLOBAL... serve SERVE...` prints once it listens; the server is then killed.
    int started = 0;
    auto first_line = [&](std::vector<std::string> arguments,
                          const std::vector<std::string>& serve = {}) {
      arguments.insert(arguments.begin(), {"--db", db});
      arguments.insert(arguments.end(), {"serve", "--listen", "127.0.0.1:0"});
      arguments.insert(arguments.end(), serve.begin(), serve.end());
      ProcessOptions options;
      options.stdout_path = dir.file("serve" + std::to_string(++started) + ".out");
      auto server = ChildProcess::spawn(kIotreg, arguments, options);
      std::string out;
      const auto deadline = std::chrono::steady_clock::now() + 20s;
      while (out.find('\n') == std::string::npos) {
        REQUIRE_MESSAGE(std::chrono::steady_clock::now() < deadline, "serve did not start");
        REQUIRE_MESSAGE(server->running(), server->error_so_far());
        std::this_thread::sleep_for(10ms);
        std::ifstream file(options.stdout_path);
        out.assign(std::istreambuf_iterator<char>(file), {});
      }
      return out;
    };
    CHECK(first_line({}).find(", re-checked after each midnight in Europe/London)") !=
          std::string::npos);
    // Its date, in its zone, is today's there.
    auto utc_today = ZonedCalendar::load("UTC")->date_at(std::chrono::system_clock::now());
    CHECK(first_line({"--time-zone", "UTC"})
              .find("verdicts as of " + utc_today + ", re-checked after each midnight in UTC)") !=
          std::string::npos);
    CHECK(first_line({"--as-of", "2026-11-29"}).find("verdicts as of 2026-11-29, a fixed date") !=
          std::string::npos);
  }

  TEST_CASE("daily re-check: two servers on one registry run a date once") {
    DatedRegistry registry;
    auto clock = std::make_shared<FakeClock>(utc("2026-12-04T23:59:59Z"));
    auto first = registry.serve(clock);
    auto second = registry.serve(clock);
    clock->set(utc("2026-12-05T00:00:01Z"));
    registry.wait_for_runs(1);
    std::this_thread::sleep_for(200ms);  // time for the other server to try, and be refused
    CHECK(registry.daily_runs().size() == 1);
    CHECK(first->stop());
    CHECK(second->stop());
  }
}

}  // namespace
}  // namespace iotreg::test
