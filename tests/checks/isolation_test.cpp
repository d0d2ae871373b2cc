// Isolation: checks of untrusted plugins run in worker processes. A worker that crashes, hangs,
// runs out of memory, writes garbage or oversized messages is killed and restarted; the
// declaration that made it fault gets an `error` finding naming the fault and every other
// declaration is judged normally. The policy decides trust and pins plugin files by SHA-256.
#include <doctest/doctest.h>

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "check_fixtures.h"
#include "registry/checks/checks.h"
#include "registry/checks/detail/isolated_plugin.h"
#include "registry/checks/fixtures.h"
#include "registry/core/sha256.h"
#include "support/temp_files.h"

namespace iotreg::checks {
namespace {

using testing::declaration_with;
using testing::fixture_dir;
using testing::fixture_plugin;
using testing::policy_from;

constexpr const char* kAsOf = "2026-03-01";
constexpr std::size_t kDeclarations = 20;
constexpr std::size_t kTrigger = 13;

Isolation test_isolation() {
  Isolation isolation;
  isolation.worker_program = IOTREG_BINARY;
  isolation.load_deadline = std::chrono::milliseconds(2000);
  isolation.check_deadline = std::chrono::milliseconds(1000);
  isolation.memory_limit_bytes = std::uint64_t{512} << 20;
  isolation.declarations_per_batch = 8;
  return isolation;
}

// For plugins that leave traces the sandbox would deny: the record of where they were loaded
// (fixture.load-record-pid), the stall marker (fixture.hostile-stall), the swapped file
// (fixture.load-swap-on-load).
Isolation unsandboxed_isolation() {
  Isolation isolation = test_isolation();
  isolation.sandbox = false;
  return isolation;
}

// The scenario's plugins loaded into this process, as the caller trusts them.
std::shared_ptr<const PluginSet> load(const std::string& scenario) {
  auto loaded = PluginSet::load_directory(fixture_dir(scenario));
  REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
  return loaded.value();
}

// `directory`'s plugins loaded as `policy_text` and `isolation` trust them.
Result<std::shared_ptr<const PluginSet>> load_trusting(const std::string& directory,
                                                       const std::string& policy_text,
                                                       const Isolation& isolation) {
  return PluginSet::load_directory(directory, policy_from(policy_text), isolation);
}

std::string hostile_policy(const std::string& check_settings = "{level: mandatory}") {
  return "id: fixture-policy\nregime: prohibition\nchecks:\n  hostile: " + check_settings + "\n";
}

// The process ids in `record`, a file of lines that each start with one: those
// fixture.load-record-pid writes ("PID PLUGIN-ID"), or the one fixture.hostile-stall writes.
// With `plugin_id`, only the lines of that plugin.
std::vector<long> recorded_pids(const std::string& record, const std::string& plugin_id = {}) {
  std::vector<long> pids;
  std::ifstream in(record);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    long pid = 0;
    std::string id;
    if (!(fields >> pid)) continue;
    fields >> id;
    if (plugin_id.empty() || id == plugin_id) pids.push_back(pid);
  }
  return pids;
}

// Points fixture.load-record-pid at a record file while it lives.
class LoadRecord {
 public:
  explicit LoadRecord(const std::string& path) : path_(path) {
    ::setenv("IOTREG_FIXTURE_LOAD_RECORD", path_.c_str(), 1);
  }
  ~LoadRecord() { ::unsetenv("IOTREG_FIXTURE_LOAD_RECORD"); }
  LoadRecord(const LoadRecord&) = delete;
  LoadRecord& operator=(const LoadRecord&) = delete;
  std::vector<long> pids(const std::string& plugin_id = {}) const {
    return recorded_pids(path_, plugin_id);
  }
  void clear() const { std::ofstream(path_, std::ios::trunc).flush(); }

 private:
  std::string path_;
};

// Copies fixture plugin `name`.so of `scenario` into `scratch` as `as`.
void copy_fixture(const testing::ScratchDir& scratch, const std::string& scenario,
                  const std::string& name, const std::string& as) {
  std::filesystem::copy_file(fixture_plugin(scenario, name), scratch.file(as));
}

// Has fixture.load-swap-on-load, wherever it is loaded while this lives, rename `from` over
// `to`.
class SwapOnLoad {
 public:
  SwapOnLoad(const std::string& from, const std::string& to) {
    ::setenv("IOTREG_FIXTURE_SWAP_FROM", from.c_str(), 1);
    ::setenv("IOTREG_FIXTURE_SWAP_TO", to.c_str(), 1);
  }
  ~SwapOnLoad() {
    ::unsetenv("IOTREG_FIXTURE_SWAP_FROM");
    ::unsetenv("IOTREG_FIXTURE_SWAP_TO");
  }
  SwapOnLoad(const SwapOnLoad&) = delete;
  SwapOnLoad& operator=(const SwapOnLoad&) = delete;
};

// Kills, with SIGKILL, every process whose id fixture.hostile-stall writes to `marker`, from a
// thread of its own, until destroyed. With `once`, it also creates `marker`.killed after the
// first kill, so that the plugin stalls no more.
class Killer {
 public:
  Killer(std::string marker, bool once)
      : marker_(std::move(marker)), thread_([this, once] { run(once); }) {}
  ~Killer() {
    stop_ = true;
    thread_.join();
  }
  Killer(const Killer&) = delete;
  Killer& operator=(const Killer&) = delete;
  std::vector<long> killed() const {
    std::lock_guard lock(mutex_);
    return killed_;
  }

 private:
  void run(bool once) {
    while (!stop_) {
      std::vector<long> pids = recorded_pids(marker_);
      if (pids.size() == 1 && std::filesystem::remove(marker_)) {
        if (once) std::ofstream(marker_ + ".killed").put('\n');
        ::kill(static_cast<pid_t>(pids.front()), SIGKILL);
        std::lock_guard lock(mutex_);
        killed_.push_back(pids.front());
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  }

  std::string marker_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mutex_;
  std::vector<long> killed_;
  std::thread thread_;
};

// `count` declarations of models "model 0", "model 1", ...; those at `triggers` are of model
// "trigger".
std::vector<model::Declaration> declarations(std::vector<std::size_t> triggers = {kTrigger},
                                             std::size_t count = kDeclarations) {
  std::vector<model::Declaration> out;
  for (std::size_t i = 0; i < count; ++i) {
    bool trigger = std::find(triggers.begin(), triggers.end(), i) != triggers.end();
    out.push_back(declaration_with(
        {{"manufacturer.name", std::string("Acme Devices Ltd")},
         {"product.brand", std::string("Acme")},
         {"product.model", trigger ? std::string("trigger") : "model " + std::to_string(i)}}));
  }
  return out;
}

std::vector<Verdict> judge_all(const Evaluator& evaluator,
                               const std::vector<model::Declaration>& judged) {
  std::vector<Subject> subjects;
  for (const auto& declaration : judged) subjects.push_back({&declaration, {}});
  std::vector<Verdict> verdicts;
  evaluator.evaluate_batch(subjects, verdicts);
  REQUIRE(verdicts.size() == judged.size());
  return verdicts;
}

// An evaluator of the scenario's plugins, loaded (by a worker) and run as untrusted.
std::unique_ptr<Evaluator> isolated_evaluator(const std::string& scenario,
                                              const std::string& policy_text = hostile_policy(),
                                              Isolation isolation = test_isolation()) {
  auto plugins = load_trusting(fixture_dir(scenario), policy_text, isolation);
  REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
  REQUIRE_FALSE(plugins.value()->plugins().front().in_process);
  auto created = Evaluator::create(plugins.value(), policy_from(policy_text), kAsOf, isolation);
  REQUIRE_MESSAGE(created.is_ok(), created.status().message());
  REQUIRE(created.value()->has_isolated_checks());
  return std::move(created).value();
}

// Runs the hostile plugin of `behaviour` over the declarations: the trigger one must carry an
// error containing `fault` (naming the plugin when the worker itself faulted, rather than the
// check breaking its reporting contract), every other one a normal pass.
void expect_only_trigger_errs(const std::string& behaviour, const std::string& fault,
                              bool worker_fault = true) {
  auto evaluator = isolated_evaluator("hostile-" + behaviour);
  auto judged = declarations();
  auto verdicts = judge_all(*evaluator, judged);
  for (std::size_t i = 0; i < verdicts.size(); ++i) {
    CAPTURE(i);
    REQUIRE(verdicts[i].findings.size() == 1);
    const Finding& finding = verdicts[i].findings[0];
    if (i == kTrigger) {
      CHECK(finding.outcome == Outcome::kError);
      CHECK_MESSAGE(finding.message.find(fault) != std::string::npos, finding.message);
      if (worker_fault) {
        CHECK(finding.message.find("the plugin fixture.hostile-" + behaviour) != std::string::npos);
      }
      CHECK(verdicts[i].status == ProductStatus::kCheckError);
    } else {
      CHECK_MESSAGE(finding.outcome == Outcome::kPass, finding.message);
      CHECK(finding.message == "fixture check passed");
      CHECK(verdicts[i].status == ProductStatus::kCompliant);
    }
  }
  // The evaluator still works after the fault: the restarted worker judges a new batch.
  auto again = judge_all(*evaluator, declarations({}));
  for (const auto& verdict : again) CHECK(verdict.status == ProductStatus::kCompliant);
}

TEST_SUITE("isolation") {
  TEST_CASE("isolation: a worker that crashes with SIGSEGV on one declaration errs only that one") {
    expect_only_trigger_errs("segfault", "crashed with SIGSEGV while judging this declaration");
  }

  TEST_CASE("isolation: a check that never returns is killed after its deadline") {
    expect_only_trigger_errs("hang", "timed out after 1 s");
  }

  TEST_CASE("isolation: the deadline is per check and declaration, and the policy sets it") {
    // 300 ms for a check that hangs on one declaration.
    auto evaluator = isolated_evaluator("hostile-hang", hostile_policy() + "deadline_ms: 300\n");
    auto verdicts = judge_all(*evaluator, declarations());
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      CAPTURE(i);
      const Finding& finding = verdicts[i].findings[0];
      if (i == kTrigger) {
        CHECK(finding.message ==
              "the plugin fixture.hostile-hang timed out after 300 ms while judging this "
              "declaration");
      } else {
        CHECK(finding.message == "fixture check passed");
      }
    }
  }

  TEST_CASE("isolation: a check slower than a batch's worth of deadline never times out") {
    // 80 declarations of 30 ms each take 2.4 s in one batch: more than the load deadline and
    // twice the check deadline, but each declaration is well within its own.
    Isolation isolation = test_isolation();
    REQUIRE(isolation.check_deadline * 2 < 80 * std::chrono::milliseconds(30));
    auto evaluator = isolated_evaluator("hostile-slow", hostile_policy(), isolation);
    auto judged = declarations({}, 80);
    auto verdicts = judge_all(*evaluator, judged);
    for (const auto& verdict : verdicts) {
      CHECK_MESSAGE(verdict.findings[0].message == "fixture check passed",
                    verdict.findings[0].message);
    }
  }

  TEST_CASE("isolation: a crash is charged to the check in progress, without judging again") {
    // A slow plugin that crashes on the trigger and a counting plugin share a worker: the
    // worker streams findings back a declaration at a time, so after the crash nothing it
    // answered is judged again, and the counting plugin judges the trigger once more, alone.
    testing::ScratchDir scratch;
    copy_fixture(scratch, "hostile-slow", "hostile", "slow.so");
    std::filesystem::copy_file(fixture_plugin("counting", "counting"), scratch.file("counting.so"));
    const std::string count_file = scratch.file("count");
    const std::string policy = hostile_policy("{level: mandatory, parameters: {sleep_ms: 8}}") +
                               "  counted: {level: mandatory, parameters: {count_file: \"" +
                               count_file + "\"}}\n";
    Isolation isolation = unsandboxed_isolation();  // the counting plugin writes a file
    auto plugins = load_trusting(scratch.path().string(), policy, isolation);
    REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
    auto evaluator = Evaluator::create(plugins.value(), policy_from(policy), kAsOf, isolation);
    REQUIRE(evaluator.is_ok());
    auto judged = declarations({20}, 40);
    auto verdicts = judge_all(*evaluator.value(), judged);
    const std::size_t hostile = 0, counted = 1;  // in the policy's order
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      CAPTURE(i);
      CHECK(verdicts[i].findings[counted].message == "counted");
      CHECK(verdicts[i].findings[hostile].message ==
            (i == 20 ? "the plugin fixture.hostile-slow crashed with SIGSEGV while judging this "
                       "declaration"
                     : "fixture check passed"));
    }
    std::ifstream lines(count_file);
    std::size_t runs = 0;
    for (std::string line; std::getline(lines, line);) ++runs;
    CHECK(runs >= 40);
    CHECK(runs <= 41);  // the trigger a second time, if it was counted before the crash
  }

  TEST_CASE("isolation: a check that aborts errs only its declaration") {
    expect_only_trigger_errs("abort", "crashed with SIGABRT");
  }

  TEST_CASE("isolation: a C++ exception escaping a check errs only its declaration") {
    expect_only_trigger_errs(
        "throw", "the check let an exception escape: std::runtime_error: escaping exception",
        false);
  }

  TEST_CASE("isolation: an invalid outcome errs only its declaration") {
    expect_only_trigger_errs("invalid-outcome", "invalid outcome (7)", false);
  }

  TEST_CASE("isolation: a 100 MB finding message errs only its declaration") {
    expect_only_trigger_errs("huge-message", "longer than allowed", false);
  }

  TEST_CASE("isolation: a 100 MB frame on the protocol socket is refused from its header") {
    expect_only_trigger_errs("oversized-frame", "sent an oversized message (104857600 bytes");
  }

  TEST_CASE("isolation: garbage written on the protocol socket errs only its declaration") {
    expect_only_trigger_errs("garbage", "wrote garbage instead of a reply");
  }

  TEST_CASE("isolation: allocating without bound hits the worker's memory limit") {
    expect_only_trigger_errs("allocate", "exceeded the memory limit of 512 MiB");
  }

  TEST_CASE("isolation: what a check prints on standard output does not reach the protocol") {
    auto evaluator = isolated_evaluator("hostile-stdout");
    auto verdicts = judge_all(*evaluator, declarations({}));
    for (const auto& verdict : verdicts) {
      CHECK_MESSAGE(verdict.findings[0].outcome == Outcome::kPass, verdict.findings[0].message);
    }
  }

  TEST_CASE("isolation: a worker killed with SIGKILL from outside mid-batch is restarted") {
    testing::ScratchDir scratch;
    std::string marker = scratch.file("stalled");
    Isolation isolation = unsandboxed_isolation();
    isolation.check_deadline = std::chrono::seconds(60);  // only the kill ends the stall
    auto evaluator = isolated_evaluator(
        "hostile-stall",
        hostile_policy("{level: mandatory, parameters: {marker: \"" + marker + "\"}}"), isolation);
    std::vector<Verdict> verdicts;
    std::vector<long> killed;
    {
      Killer killer(marker, true);
      verdicts = judge_all(*evaluator, declarations());
      killed = killer.killed();
    }
    // Killed once, from outside, a worker and not this process; the redone batch is judged
    // normally: the plugin is not blamed for a kill it did not cause.
    REQUIRE(killed.size() == 1);
    CHECK(killed.front() != static_cast<long>(::getpid()));
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      CAPTURE(i);
      CHECK_MESSAGE(verdicts[i].findings[0].outcome == Outcome::kPass,
                    verdicts[i].findings[0].message);
      CHECK(verdicts[i].status == ProductStatus::kCompliant);
    }
  }

  TEST_CASE("isolation: a worker killed with SIGKILL each time it judges one declaration errs it") {
    testing::ScratchDir scratch;
    std::string marker = scratch.file("stalled");
    Isolation isolation = unsandboxed_isolation();
    isolation.check_deadline = std::chrono::seconds(60);
    auto evaluator = isolated_evaluator(
        "hostile-stall",
        hostile_policy("{level: mandatory, parameters: {marker: \"" + marker + "\"}}"), isolation);
    std::vector<Verdict> verdicts;
    std::size_t kills = 0;
    {
      Killer killer(marker, false);
      verdicts = judge_all(*evaluator, declarations());
      kills = killer.killed().size();
    }
    // The batch of 8, its halves of 4 and 2, the trigger alone, then its plugin's own worker.
    CHECK(kills == 5);
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      CAPTURE(i);
      const Finding& finding = verdicts[i].findings[0];
      if (i == kTrigger) {
        CHECK(finding.outcome == Outcome::kError);
        CHECK_MESSAGE(
            finding.message.find("the plugin fixture.hostile-stall was killed with "
                                 "SIGKILL while judging this declaration") != std::string::npos,
            finding.message);
        CHECK(verdicts[i].status == ProductStatus::kCheckError);
      } else {
        CHECK_MESSAGE(finding.outcome == Outcome::kPass, finding.message);
        CHECK(verdicts[i].status == ProductStatus::kCompliant);
      }
    }
  }

  TEST_CASE("isolation: a plugin that keeps faulting is disabled for the rest of the run") {
    Isolation isolation = test_isolation();
    isolation.max_faulty_declarations = 2;
    auto evaluator = isolated_evaluator("hostile-segfault", hostile_policy(), isolation);
    // Batches of 8: the first two go to the two workers at once. The third fault, on
    // declaration 2, disables the plugin, so triggers 3-5 get the disabled error; the other
    // declarations of the first two batches (6-15) keep what the plugin answered for them, and
    // the third batch is judged without it.
    auto verdicts = judge_all(*evaluator, declarations({0, 1, 2, 3, 4, 5}));
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      CAPTURE(i);
      const Finding& finding = verdicts[i].findings[0];
      if (i >= 6 && i < 16) {
        CHECK_MESSAGE(finding.outcome == Outcome::kPass, finding.message);
        continue;
      }
      CHECK(finding.outcome == Outcome::kError);
      CHECK(verdicts[i].status == ProductStatus::kCheckError);
      if (i < 3) {
        CHECK_MESSAGE(finding.message ==
                          "the plugin fixture.hostile-segfault crashed with SIGSEGV while judging "
                          "this declaration",
                      finding.message);
      } else {
        CHECK_MESSAGE(finding.message.find("the plugin fixture.hostile-segfault was disabled "
                                           "for the rest of the run after faulting on 3 "
                                           "declarations") == 0,
                      finding.message);
      }
    }
  }

  TEST_CASE("isolation: a plugin disabled in one run is judged again in the next") {
    Isolation isolation = test_isolation();
    isolation.max_faulty_declarations = 2;
    auto evaluator = isolated_evaluator("hostile-segfault", hostile_policy(), isolation);
    auto first = judge_all(*evaluator, declarations({0, 1, 2, 3}));
    CHECK(first[3].findings[0].message.find("was disabled") != std::string::npos);
    auto still = judge_all(*evaluator, declarations({5}));
    CHECK(still[5].findings[0].message.find("was disabled") != std::string::npos);
    CHECK(still[6].findings[0].outcome == Outcome::kError);  // disabled: every declaration errs
    evaluator->begin_run();
    auto next = judge_all(*evaluator, declarations({5}));
    CHECK_MESSAGE(next[5].findings[0].message.find("crashed with SIGSEGV") != std::string::npos,
                  next[5].findings[0].message);
    CHECK(next[6].findings[0].outcome == Outcome::kPass);
  }

  TEST_CASE("isolation: with separate_workers no two untrusted plugins share a worker") {
    testing::ScratchDir scratch;
    copy_fixture(scratch, "load-record-pid", "load", "one.so");
    copy_fixture(scratch, "load-record-pid-too", "load", "two.so");
    LoadRecord record(scratch.file("loads"));
    for (bool separate : {false, true}) {
      CAPTURE(separate);
      const std::string policy =
          "id: fixture-policy\nregime: prohibition\nchecks:\n  loaded: {level: mandatory}\n"
          "  loaded-too: {level: mandatory}\n" +
          std::string(separate ? "separate_workers: true\n" : "");
      auto plugins = load_trusting(scratch.path().string(), policy, unsandboxed_isolation());
      REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
      record.clear();  // forget the worker that read the descriptors
      auto evaluator =
          Evaluator::create(plugins.value(), policy_from(policy), kAsOf, unsandboxed_isolation());
      REQUIRE(evaluator.is_ok());
      auto verdicts = judge_all(*evaluator.value(), declarations({}));
      for (const auto& verdict : verdicts) {
        REQUIRE(verdict.findings.size() == 2);
        CHECK(verdict.findings[0].outcome == Outcome::kPass);
        CHECK(verdict.findings[1].outcome == Outcome::kPass);
        CHECK(verdict.status == ProductStatus::kCompliant);
      }
      auto one = record.pids("fixture.load-record-pid");
      auto two = record.pids("fixture.load-record-pid-too");
      const std::set<long> one_set(one.begin(), one.end()), two_set(two.begin(), two.end());
      CHECK(one_set.size() == 2);  // two workers each
      CHECK(two_set.size() == 2);
      std::vector<long> shared;
      std::set_intersection(one_set.begin(), one_set.end(), two_set.begin(), two_set.end(),
                            std::back_inserter(shared));
      CHECK(shared.size() == (separate ? 0u : 2u));
      CHECK(one_set.count(static_cast<long>(::getpid())) == 0);
    }
  }

  TEST_CASE("isolation: evaluate judges one declaration through the worker") {
    auto evaluator = isolated_evaluator("hostile-segfault");
    Verdict verdict;
    evaluator->evaluate(declarations()[kTrigger], {}, verdict);
    CHECK(verdict.status == ProductStatus::kCheckError);
    evaluator->evaluate(declarations()[0], {}, verdict);
    CHECK(verdict.status == ProductStatus::kCompliant);
  }

  TEST_CASE("isolation: the built-in checks reach the same findings in a worker as in process") {
    auto plugins = PluginSet::load_directory(IOTREG_BUILTIN_PLUGIN_DIR);
    REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
    for (const char* policy_id : {"dcms-2019", "psti-2023"}) {
      CAPTURE(policy_id);
      auto policy = policy::load_policy(policy_id);
      REQUIRE(policy.is_ok());
      auto in_process = Evaluator::create(plugins.value(), policy.value(), kAsOf);
      Isolation isolation = test_isolation();
      isolation.trusted_by_default = false;
      auto isolated = Evaluator::create(plugins.value(), policy.value(), kAsOf, isolation);
      REQUIRE(in_process.is_ok());
      REQUIRE(isolated.is_ok());
      REQUIRE(isolated.value()->has_isolated_checks());
      REQUIRE_FALSE(in_process.value()->has_isolated_checks());
      std::vector<model::Declaration> versions = {
          declaration_with({{"manufacturer.name", std::string("Acme")},
                            {"product.brand", std::string("Acme")},
                            {"product.model", std::string("Cam 1")},
                            {"support.end_date", std::string("2030-01-01")}}),
          declaration_with({{"manufacturer.name", std::string("Acme")},
                            {"product.brand", std::string("Acme")},
                            {"product.model", std::string("Cam 1")},
                            {"product.category", std::string("general")},
                            {"product.updatable", true},
                            {"passwords.default", std::string("universal")},
                            {"passwords.examples", model::StringList{"admin", "x|y"}},
                            {"vulnerability.contact_email", std::string("psirt@acme.example")},
                            {"vulnerability.acknowledge_days", std::int64_t{7}},
                            {"support.end_date", std::string("2028-01-01")}}),
          declaration_with({{"manufacturer.name", std::string("Acme")},
                            {"product.brand", std::string("Acme")},
                            {"product.model", std::string("Meter")},
                            {"product.category", std::string("smart_meter")}})};
      std::vector<Subject> subjects = {
          {&versions[0], {}}, {&versions[1], std::span(versions).first(1)}, {&versions[2], {}}};
      std::vector<Verdict> expected, got;
      in_process.value()->evaluate_batch(subjects, expected);
      isolated.value()->evaluate_batch(subjects, got);
      for (std::size_t i = 0; i < subjects.size(); ++i) {
        CAPTURE(i);
        CHECK(got[i].status == expected[i].status);
        REQUIRE(got[i].findings.size() == expected[i].findings.size());
        for (std::size_t c = 0; c < got[i].findings.size(); ++c) {
          CHECK(got[i].findings[c].outcome == expected[i].findings[c].outcome);
          CHECK(got[i].findings[c].message == expected[i].findings[c].message);
          CHECK(got[i].findings[c].field == expected[i].findings[c].field);
        }
      }
    }
  }

  TEST_CASE("isolation: the policy decides which plugins are trusted") {
    auto plugins = load("hostile-stdout");
    Isolation isolation = test_isolation();
    isolation.trusted_by_default = true;
    auto trusted = Evaluator::create(plugins, policy_from(hostile_policy()), kAsOf, isolation);
    REQUIRE(trusted.is_ok());
    CHECK_FALSE(trusted.value()->has_isolated_checks());
    auto untrusted = Evaluator::create(
        plugins,
        policy_from(hostile_policy() + "plugins:\n  fixture.hostile-stdout: {trusted: false}\n"),
        kAsOf, isolation);
    REQUIRE(untrusted.is_ok());
    CHECK(untrusted.value()->has_isolated_checks());
    CHECK(untrusted.value()->checks()[0].isolated);
    isolation.trusted_by_default = false;
    auto made_trusted = Evaluator::create(
        plugins,
        policy_from(hostile_policy() + "plugins:\n  fixture.hostile-stdout: {trusted: true}\n"),
        kAsOf, isolation);
    REQUIRE(made_trusted.is_ok());
    CHECK_FALSE(made_trusted.value()->has_isolated_checks());
  }

  TEST_CASE("isolation: a plugin file that does not match its pinned SHA-256 is refused") {
    auto plugins = load("hostile-stdout");
    const std::string actual = plugins->plugins().front().sha256;
    const std::string pinned(64, 'a');
    auto refused = Evaluator::create(
        plugins,
        policy_from(hostile_policy() + "plugins:\n  fixture.hostile-stdout: {sha256: " + pinned +
                    "}\n"),
        kAsOf, test_isolation());
    REQUIRE_FALSE(refused.is_ok());
    const std::string& message = refused.status().message();
    CHECK_MESSAGE(message.find(actual) != std::string::npos, message);
    CHECK(message.find(pinned) != std::string::npos);
    CHECK(message.find(fixture_plugin("hostile-stdout", "hostile")) != std::string::npos);
    auto accepted = Evaluator::create(
        plugins,
        policy_from(hostile_policy() + "plugins:\n  fixture.hostile-stdout: {sha256: " + actual +
                    "}\n"),
        kAsOf, test_isolation());
    CHECK_MESSAGE(accepted.is_ok(), accepted.status().message());
  }

  TEST_CASE("isolation: a plugin the policy names but the directory lacks is refused") {
    auto refused = Evaluator::create(
        load("hostile-stdout"),
        policy_from(hostile_policy() + "plugins:\n  fixture.absent: {trusted: true}\n"), kAsOf,
        test_isolation());
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().message().find("fixture.absent") != std::string::npos);
  }

  TEST_CASE("isolation: verify_fixtures refuses a plugin whose own fixtures fail") {
    testing::ScratchDir scratch;
    copy_fixture(scratch, "hostile-stdout", "hostile", "hostile.so");
    auto fixtures = [&](const std::string& outcome) {
      testing::write_file(scratch, "hostile.fixtures.yaml",
                          "cases:\n"
                          "  - name: an ordinary camera\n"
                          "    declaration: {manufacturer: {name: Acme}, product: {brand: Acme, "
                          "model: X1}}\n"
                          "    expect: {dcms-2019: {hostile: " +
                              outcome + "}}\n");
      auto plugins = PluginSet::load_directory(scratch.path().string());
      REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
      Isolation isolation = test_isolation();
      return verify_fixtures(plugins.value(), isolation);
    };
    CHECK_MESSAGE(fixtures("pass").is_ok(), fixtures("pass").message());
    Status refused = fixtures("fail");
    REQUIRE_FALSE(refused.is_ok());
    CHECK_MESSAGE(refused.message().find("fixture.hostile-stdout refused") != std::string::npos,
                  refused.message());
    CHECK(refused.message().find("an ordinary camera") != std::string::npos);
    CHECK(refused.message().find("expected fail, got pass") != std::string::npos);
  }

  TEST_CASE("isolation: a link to a plugin outside the plugin directory is never loaded") {
    testing::ScratchDir scratch;
    std::filesystem::create_symlink(fixture_plugin("hostile-stdout", "hostile"),
                                    scratch.file("outside.so"));
    auto refused = PluginSet::load_directory(scratch.path().string());
    REQUIRE_FALSE(refused.is_ok());
    CHECK_MESSAGE(
        refused.status().message().find("outside the plugin directory") != std::string::npos,
        refused.status().message());
  }

  TEST_CASE("isolation: an untrusted plugin is loaded only by worker processes, never here") {
    testing::ScratchDir scratch;
    LoadRecord record(scratch.file("loads"));
    const std::string policy =
        "id: fixture-policy\nregime: prohibition\nchecks:\n  loaded: {level: mandatory}\n";
    auto plugins = load_trusting(fixture_dir("load-record-pid"), policy, unsandboxed_isolation());
    REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
    const PluginDescription& plugin = plugins.value()->plugins().front();
    CHECK(plugin.id == "fixture.load-record-pid");
    CHECK_FALSE(plugin.in_process);
    REQUIRE(plugin.checks.size() == 1);
    CHECK(plugin.checks[0].id == "loaded");
    auto evaluator =
        Evaluator::create(plugins.value(), policy_from(policy), kAsOf, unsandboxed_isolation());
    REQUIRE(evaluator.is_ok());
    auto verdicts = judge_all(*evaluator.value(), declarations({}));
    CHECK(verdicts[0].findings[0].message == "fixture check passed");
    // One worker read the descriptor, two judged the batches: none of them is this process.
    auto pids = record.pids();
    CHECK(pids.size() == 3);
    for (long pid : pids) CHECK(pid != static_cast<long>(::getpid()));
  }

  TEST_CASE("isolation: a plugin whose static initialiser crashes is refused, naming the fault") {
    auto refused =
        load_trusting(fixture_dir("load-initialiser-segfault"), hostile_policy(), test_isolation());
    REQUIRE_FALSE(refused.is_ok());
    const std::string& message = refused.status().message();
    CHECK_MESSAGE(message.find(fixture_plugin("load-initialiser-segfault", "load") +
                               ": refused: the plugin crashed with SIGSEGV while a worker "
                               "process loaded it") != std::string::npos,
                  message);
  }

  TEST_CASE("isolation: an entry function that hangs, aborts or allocates without bound") {
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"entry-hang", "timed out after 2 s"},
        {"entry-abort", "crashed with SIGABRT"},
        {"entry-allocate", "exceeded the memory limit of 512 MiB"}};
    for (const auto& [behaviour, fault] : cases) {
      CAPTURE(behaviour);
      auto refused =
          load_trusting(fixture_dir("load-" + behaviour), hostile_policy(), test_isolation());
      REQUIRE_FALSE(refused.is_ok());
      CHECK_MESSAGE(
          refused.status().message().find(fixture_plugin("load-" + behaviour, "load") +
                                          ": refused: the plugin " + fault) != std::string::npos,
          refused.status().message());
    }
  }

  TEST_CASE("isolation: a crash while loading is charged to the one file that caused it") {
    testing::ScratchDir scratch;
    copy_fixture(scratch, "load-record-pid", "load", "a-behaves.so");
    copy_fixture(scratch, "load-initialiser-segfault", "load", "b-crashes.so");
    copy_fixture(scratch, "hostile-stdout", "hostile", "c-behaves.so");
    auto refused = load_trusting(scratch.path().string(), hostile_policy(), test_isolation());
    REQUIRE_FALSE(refused.is_ok());
    const std::string& message = refused.status().message();
    CHECK_MESSAGE(
        message.find("b-crashes.so: refused: the plugin crashed with SIGSEGV") != std::string::npos,
        message);
    CHECK(message.find("a-behaves.so") == std::string::npos);
    CHECK(message.find("c-behaves.so") == std::string::npos);
  }

  TEST_CASE(
      "isolation: a descriptor's problems found by a worker are reported as when loaded here") {
    for (const char* scenario : {"wrong-abi", "null-descriptor", "bad-check-id", "no-entry"}) {
      CAPTURE(scenario);
      auto here = PluginSet::load_directory(fixture_dir(scenario));
      auto in_worker = load_trusting(fixture_dir(scenario), hostile_policy(), test_isolation());
      REQUIRE_FALSE(here.is_ok());
      REQUIRE_FALSE(in_worker.is_ok());
      CHECK(in_worker.status().message() == here.status().message());
    }
  }

  TEST_CASE("isolation: a pinned plugin is checked against its pin before it is loaded here") {
    testing::ScratchDir scratch;
    copy_fixture(scratch, "load-record-pid", "load", "load.so");
    LoadRecord record(scratch.file("loads"));
    const std::string actual = sha256_file(scratch.file("load.so")).value();
    const std::string pinned(64, 'b');
    auto policy = [](const std::string& sha256) {
      return "id: fixture-policy\nregime: prohibition\nchecks:\n  loaded: {level: mandatory}\n"
             "plugins:\n"
             "  fixture.load-record-pid: {trusted: true, sha256: " +
             sha256 + "}\n";
    };
    Isolation isolation = unsandboxed_isolation();
    isolation.trusted_by_default = true;
    auto refused = load_trusting(scratch.path().string(), policy(pinned), isolation);
    REQUIRE_FALSE(refused.is_ok());
    const std::string& message = refused.status().message();
    CHECK_MESSAGE(message.find(scratch.file("load.so") + ": refused: its SHA-256 is " + actual +
                               "; policy fixture-policy pins plugin 'fixture.load-record-pid' "
                               "to " +
                               pinned) != std::string::npos,
                  message);
    // Only a worker loaded the file that did not match.
    auto pids = record.pids();
    REQUIRE(pids.size() == 1);
    CHECK(pids.front() != static_cast<long>(::getpid()));
    // The file matching its pin is trusted from its hash and loaded here, with no worker.
    auto accepted = load_trusting(scratch.path().string(), policy(actual), isolation);
    REQUIRE_MESSAGE(accepted.is_ok(), accepted.status().message());
    CHECK(accepted.value()->plugins().front().in_process);
    pids = record.pids();
    REQUIRE(pids.size() == 2);
    CHECK(pids.back() == static_cast<long>(::getpid()));
  }

  TEST_CASE("isolation: the policy can distrust a plugin of a directory trusted by default") {
    Isolation isolation = test_isolation();
    isolation.trusted_by_default = true;
    auto trusted = load_trusting(fixture_dir("hostile-stdout"), hostile_policy(), isolation);
    REQUIRE(trusted.is_ok());
    CHECK(trusted.value()->plugins().front().in_process);
    auto distrusted = load_trusting(
        fixture_dir("hostile-segfault"),
        hostile_policy() + "plugins:\n  fixture.hostile-segfault: {trusted: false}\n", isolation);
    REQUIRE(distrusted.is_ok());
    CHECK_FALSE(distrusted.value()->plugins().front().in_process);
    auto evaluator = Evaluator::create(
        distrusted.value(),
        policy_from(hostile_policy() + "plugins:\n  fixture.hostile-segfault: {trusted: false}\n"),
        kAsOf, isolation);
    REQUIRE(evaluator.is_ok());
    CHECK(evaluator.value()->checks().front().isolated);
  }

  TEST_CASE("isolation: checks of a plugin not loaded here cannot run without a worker program") {
    auto plugins = load_trusting(fixture_dir("hostile-stdout"), hostile_policy(), test_isolation());
    REQUIRE(plugins.is_ok());
    auto refused = Evaluator::create(plugins.value(), policy_from(hostile_policy()), kAsOf);
    REQUIRE_FALSE(refused.is_ok());
    CHECK_MESSAGE(refused.status().message().find("is not trusted and no worker program") !=
                      std::string::npos,
                  refused.status().message());
  }

  TEST_CASE(
      "isolation: a worker refuses a plugin file whose SHA-256 changed after it was verified") {
    const std::string path = fixture_plugin("hostile-stdout", "hostile");
    const std::string stale(64, 'c');
    auto described = detail::describe_in_worker({{path, stale}}, test_isolation());
    REQUIRE(described.is_ok());
    REQUIRE(described->size() == 1);
    const auto& refused = described->front();
    REQUIRE_FALSE(refused.is_ok());
    CHECK_MESSAGE(refused.status().message().find(path +
                                                  ": refused: the file changed after it was "
                                                  "verified (its SHA-256 was " +
                                                  stale) != std::string::npos,
                  refused.status().message());
  }

  TEST_CASE("isolation: a plugin file replaced while the plugins load is never loaded here") {
    // An untrusted plugin replaces b-trusted.so (trusted by the policy by its id) with another
    // plugin when a worker loads it; the replacement records where it is loaded. Named
    // a-swapper, it runs before the worker loads b-trusted.so, which the worker then refuses;
    // named z-swapper, it runs after, and the registry refuses the file when it loads it.
    for (const char* swapper : {"a-swapper.so", "z-swapper.so"}) {
      CAPTURE(swapper);
      testing::ScratchDir scratch;
      copy_fixture(scratch, "load-swap-on-load", "load", swapper);
      copy_fixture(scratch, "hostile-stdout", "hostile", "b-trusted.so");
      copy_fixture(scratch, "load-record-pid", "load", "replacement.tmp");
      const std::string original = sha256_file(scratch.file("b-trusted.so")).value();
      const std::string replacement = sha256_file(scratch.file("replacement.tmp")).value();
      LoadRecord record(scratch.file("loads"));
      auto refused = [&] {
        SwapOnLoad swap(scratch.file("replacement.tmp"), scratch.file("b-trusted.so"));
        return load_trusting(
            scratch.path().string(),
            hostile_policy() + "plugins:\n  fixture.hostile-stdout: {trusted: true}\n",
            unsandboxed_isolation());
      }();
      REQUIRE_FALSE(refused.is_ok());
      CHECK_MESSAGE(refused.status().message().find(scratch.file("b-trusted.so") +
                                                    ": refused: the file changed after it was "
                                                    "verified (its SHA-256 was " +
                                                    original + ", now " + replacement + ")") !=
                        std::string::npos,
                    refused.status().message());
      CHECK_FALSE(std::filesystem::exists(scratch.file("replacement.tmp")));  // it was swapped
      CHECK(record.pids().empty());  // the replacement was loaded nowhere
    }
  }

  TEST_CASE("isolation: a file trusted by its pinned hash is loaded before untrusted code runs") {
    testing::ScratchDir scratch;
    copy_fixture(scratch, "load-swap-on-load", "load", "a-swapper.so");
    copy_fixture(scratch, "hostile-stdout", "hostile", "b-pinned.so");
    copy_fixture(scratch, "load-record-pid", "load", "replacement.tmp");
    const std::string pinned = sha256_file(scratch.file("b-pinned.so")).value();
    LoadRecord record(scratch.file("loads"));
    auto loaded = [&] {
      SwapOnLoad swap(scratch.file("replacement.tmp"), scratch.file("b-pinned.so"));
      return load_trusting(
          scratch.path().string(),
          hostile_policy() +
              "plugins:\n  fixture.hostile-stdout: {trusted: true, sha256: " + pinned + "}\n",
          unsandboxed_isolation());
    }();
    REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
    CHECK_FALSE(std::filesystem::exists(scratch.file("replacement.tmp")));  // swapped afterwards
    const auto& plugins = loaded.value()->plugins();
    REQUIRE(plugins.size() == 2);
    CHECK(plugins[0].id == "fixture.load-swap-on-load");
    CHECK_FALSE(plugins[0].in_process);
    CHECK(plugins[1].id == "fixture.hostile-stdout");
    CHECK(plugins[1].sha256 == pinned);
    CHECK(plugins[1].in_process);
    CHECK(record.pids().empty());
  }

  TEST_CASE("isolation: a hash pinned for a trusted and a distrusted plugin does not grant trust") {
    const std::string hash = sha256_file(fixture_plugin("hostile-stdout", "hostile")).value();
    Isolation isolation = test_isolation();
    isolation.trusted_by_default = true;
    auto loaded = load_trusting(
        fixture_dir("hostile-stdout"),
        hostile_policy() + "plugins:\n  fixture.other: {trusted: true, " + "sha256: " + hash +
            "}\n  fixture.hostile-stdout: {trusted: false, sha256: " + hash + "}\n",
        isolation);
    REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
    CHECK_FALSE(loaded.value()->plugins().front().in_process);
  }

  TEST_CASE("isolation: a plugin loaded here without a worker is still held to its id's pin") {
    // The policy pins fixture.hostile-stdout to the hash of the other file, so every pin matches
    // a file and both are trusted by default: both are loaded here, then hostile.so is refused.
    testing::ScratchDir scratch;
    copy_fixture(scratch, "hostile-stdout", "hostile", "hostile.so");
    copy_fixture(scratch, "good", "alpha", "alpha.so");
    const std::string actual = sha256_file(scratch.file("hostile.so")).value();
    const std::string other = sha256_file(scratch.file("alpha.so")).value();
    Isolation isolation = test_isolation();
    isolation.trusted_by_default = true;
    auto refused = load_trusting(
        scratch.path().string(),
        hostile_policy() + "plugins:\n  fixture.hostile-stdout: {sha256: " + other + "}\n",
        isolation);
    REQUIRE_FALSE(refused.is_ok());
    const std::string& message = refused.status().message();
    CHECK_MESSAGE(message.find(scratch.file("hostile.so") + ": refused: its SHA-256 is " + actual +
                               "; policy fixture-policy pins plugin 'fixture.hostile-stdout' to " +
                               other) != std::string::npos,
                  message);
    CHECK(message.find("alpha.so") == std::string::npos);
  }

  TEST_CASE("isolation: when no worker can be started, untrusted plugins are refused, not blamed") {
    Isolation missing = test_isolation();
    missing.worker_program = "/nonexistent/iotreg";
    auto refused = load_trusting(fixture_dir("hostile-stdout"), hostile_policy(), missing);
    REQUIRE_FALSE(refused.is_ok());
    const std::string& message = refused.status().message();
    CHECK_MESSAGE(message.find(fixture_plugin("hostile-stdout", "hostile") +
                               ": refused: it is not trusted whatever it declares, and no check "
                               "worker could be started (/nonexistent/iotreg: No such file") !=
                      std::string::npos,
                  message);
    CHECK(message.find("refused: the plugin") == std::string::npos);
    Isolation none = test_isolation();
    none.worker_program.clear();
    auto closed = load_trusting(fixture_dir("hostile-stdout"), hostile_policy(), none);
    REQUIRE_FALSE(closed.is_ok());
    CHECK_MESSAGE(closed.status().message().find(
                      ": refused: it is not trusted whatever it declares, and no worker program "
                      "is set to load it in") != std::string::npos,
                  closed.status().message());
  }
}

}  // namespace
}  // namespace iotreg::checks
