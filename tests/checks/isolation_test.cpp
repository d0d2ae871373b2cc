// Isolation: checks of untrusted plugins run in worker processes. A worker that crashes, hangs,
// runs out of memory, writes garbage or oversized messages is killed and restarted; the
// declaration that made it fault gets an `error` finding naming the fault and every other
// declaration is judged normally. The policy decides trust and pins plugin files by SHA-256.
#include <doctest/doctest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "check_fixtures.h"
#include "registry/checks/checks.h"
#include "registry/checks/fixtures.h"
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
  isolation.batch_deadline = std::chrono::milliseconds(1000);
  isolation.memory_limit_bytes = std::uint64_t{512} << 20;
  isolation.declarations_per_batch = 8;
  return isolation;
}

std::shared_ptr<const PluginSet> load(const std::string& scenario) {
  auto loaded = PluginSet::load_directory(fixture_dir(scenario));
  REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
  return loaded.value();
}

std::string hostile_policy(const std::string& check_settings = "{level: mandatory}") {
  return "id: fixture-policy\nregime: prohibition\nchecks:\n  hostile: " + check_settings + "\n";
}

// Declarations of models "model 0", "model 1", ...; those at `triggers` are of model "trigger".
std::vector<model::Declaration> declarations(std::vector<std::size_t> triggers = {kTrigger}) {
  std::vector<model::Declaration> out;
  for (std::size_t i = 0; i < kDeclarations; ++i) {
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

std::unique_ptr<Evaluator> isolated_evaluator(const std::string& scenario,
                                              const std::string& policy_text = hostile_policy(),
                                              Isolation isolation = test_isolation()) {
  auto created = Evaluator::create(load(scenario), policy_from(policy_text), kAsOf, isolation);
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

  TEST_CASE("isolation: a check that never returns is killed after the batch deadline") {
    expect_only_trigger_errs("hang", "timed out after 1 s");
  }

  TEST_CASE("isolation: a check that aborts errs only its declaration") {
    expect_only_trigger_errs("abort", "crashed with SIGABRT");
  }

  TEST_CASE("isolation: a C++ exception escaping a check errs only its declaration") {
    expect_only_trigger_errs("throw", "the check let an exception escape", false);
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

  TEST_CASE("isolation: a worker killed with SIGKILL mid-batch is restarted and the batch redone") {
    testing::ScratchDir scratch;
    std::string marker = scratch.file("killed");
    auto evaluator = isolated_evaluator(
        "hostile-kill-once",
        hostile_policy("{level: mandatory, parameters: {marker: \"" + marker + "\"}}"));
    auto verdicts = judge_all(*evaluator, declarations({}));
    CHECK(std::filesystem::exists(marker));
    for (const auto& verdict : verdicts) {
      CHECK_MESSAGE(verdict.findings[0].outcome == Outcome::kPass, verdict.findings[0].message);
      CHECK(verdict.status == ProductStatus::kCompliant);
    }
  }

  TEST_CASE("isolation: a plugin that keeps faulting is disabled for the rest of the run") {
    Isolation isolation = test_isolation();
    isolation.max_faulty_declarations = 2;
    auto evaluator = isolated_evaluator("hostile-segfault", hostile_policy(), isolation);
    auto verdicts = judge_all(*evaluator, declarations({0, 1, 2, 3, 4, 5}));
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      CAPTURE(i);
      const Finding& finding = verdicts[i].findings[0];
      CHECK(finding.outcome == Outcome::kError);
      CHECK(verdicts[i].status == ProductStatus::kCheckError);
      if (i < 3) {
        CHECK_MESSAGE(finding.message.find("crashed with SIGSEGV") != std::string::npos,
                      finding.message);
      } else {
        CHECK_MESSAGE(finding.message.find("fixture.hostile-segfault was disabled for the rest "
                                           "of the run after faulting on 3 declarations") !=
                          std::string::npos,
                      finding.message);
      }
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
    std::filesystem::copy_file(fixture_plugin("hostile-stdout", "hostile"),
                               scratch.file("hostile.so"));
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
}

}  // namespace
}  // namespace iotreg::checks
