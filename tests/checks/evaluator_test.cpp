// Evaluator: a check that breaks the reporting contract yields an `error` finding and leaves
// the others alone; product status rolls up from mandatory findings; the scope check excepts a
// product without running the other checks; the policy chooses levels, parameters and
// citations; provenance names every file hash.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "check_fixtures.h"
#include "registry/checks/checks.h"
#include "registry/core/sha256.h"
#include "support/temp_files.h"

namespace iotreg::checks {
namespace {

using testing::declaration_with;
using testing::fixture_dir;
using testing::fixture_plugin;
using testing::ordinary_declaration;
using testing::policy_from;

constexpr const char* kAsOf = "2026-03-01";

std::shared_ptr<const PluginSet> load(const char* scenario) {
  auto loaded = PluginSet::load_directory(fixture_dir(scenario));
  REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
  return loaded.value();
}

// A policy "fixture-policy" that names `levels` (check id, level) and nothing else. Levels are
// quoted: a plain `off` is read as a YAML boolean (see policy_test.cpp).
std::string policy_text(const std::vector<std::pair<std::string, std::string>>& levels,
                        const std::string& scope_check = "") {
  std::string text = "id: fixture-policy\nregime: prohibition\n";
  if (!scope_check.empty()) text += "scope_check: " + scope_check + "\n";
  text += "checks:\n";
  for (const auto& [check, level] : levels) text += "  " + check + ": {level: \"" + level + "\"}\n";
  return text;
}

std::unique_ptr<Evaluator> evaluator_for(std::shared_ptr<const PluginSet> plugins,
                                         const std::string& text) {
  auto created = Evaluator::create(std::move(plugins), policy_from(text), kAsOf);
  REQUIRE_MESSAGE(created.is_ok(), created.status().message());
  return std::move(created.value());
}

// Finding per check id; every finding's check index must match its position.
std::map<std::string, Finding> by_check(const Evaluator& evaluator, const Verdict& verdict) {
  REQUIRE(verdict.findings.size() == evaluator.checks().size());
  std::map<std::string, Finding> findings;
  for (std::size_t i = 0; i < verdict.findings.size(); ++i) {
    CHECK(verdict.findings[i].check == i);
    findings[evaluator.checks()[i].id] = verdict.findings[i];
  }
  return findings;
}

Verdict judge(const Evaluator& evaluator, const model::Declaration& declaration) {
  Verdict verdict;
  evaluator.evaluate(declaration, {}, verdict);
  return verdict;
}

// How many times the rollup fixture's `counter` check has run in this process, read by running
// it once more (so the number returned includes that run).
int counter_runs_including_this_one(const std::shared_ptr<const PluginSet>& rollup) {
  auto evaluator = evaluator_for(rollup, policy_text({{"counter", "advisory"}}));
  auto findings = by_check(*evaluator, judge(*evaluator, ordinary_declaration()));
  const std::string& message = findings.at("counter").message;
  REQUIRE(message.rfind("run ", 0) == 0);
  return std::stoi(message.substr(4));
}

TEST_SUITE("checks") {
  TEST_CASE(
      "checks: checks that break the reporting contract yield error findings and the others "
      "stand") {
    auto evaluator =
        evaluator_for(load("misbehaving"), policy_text({
                                               {"returns-nonzero", "mandatory"},
                                               {"reports-nothing", "mandatory"},
                                               {"reports-twice", "mandatory"},
                                               {"reports-outcome-nine", "mandatory"},
                                               {"reports-invalid-utf8", "mandatory"},
                                               {"reports-text-without-data", "mandatory"},
                                               {"reports-long-message", "mandatory"},
                                               {"raw-behaves", "mandatory"},
                                               {"sdk-throws", "mandatory"},
                                               {"sdk-behaves", "mandatory"},
                                           }));
    const std::map<std::string, std::string> expected_errors = {
        {"returns-nonzero", "the check failed while judging (it returned 3)"},
        {"reports-nothing", "the check reported no finding"},
        {"reports-twice", "the check reported 2 findings; exactly one is expected"},
        {"reports-outcome-nine", "the check reported an invalid outcome (9)"},
        {"reports-invalid-utf8", "the check reported text that is not valid UTF-8"},
        {"reports-text-without-data", "the check reported a null finding or a text without data"},
        {"reports-long-message", "the check reported a message or field longer than allowed"},
        // The C++ layer catches the exception, reports its type and what() and returns 1.
        {"sdk-throws",
         "the check failed while judging: it threw std::runtime_error: the fixture check throws"},
    };
    // Judged twice: buffers reused between evaluations must not carry anything over.
    for (int round = 0; round < 2; ++round) {
      CAPTURE(round);
      Verdict verdict = judge(*evaluator, ordinary_declaration());
      auto findings = by_check(*evaluator, verdict);
      REQUIRE(findings.size() == 11);
      for (const auto& [check, message] : expected_errors) {
        CAPTURE(check);
        CHECK(findings.at(check).outcome == Outcome::kError);
        CHECK(findings.at(check).message == message);
        CHECK(findings.at(check).field.empty());
      }
      CHECK(findings.at("raw-behaves").outcome == Outcome::kPass);
      CHECK(findings.at("raw-behaves").message == "fixture check passed");
      CHECK(findings.at("sdk-behaves").outcome == Outcome::kPass);
      CHECK(findings.at("sdk-behaves").message == "sdk check passed");
      CHECK(findings.at("sdk-behaves").field == "product.model");
      // Errors in mandatory checks, and no mandatory failure.
      CHECK(verdict.status == ProductStatus::kCheckError);
    }
  }

  TEST_CASE("checks: a check reporting a null finding yields an error finding") {
    auto evaluator =
        evaluator_for(load("misbehaving"), policy_text({{"reports-null-finding", "mandatory"}}));
    Verdict verdict = judge(*evaluator, ordinary_declaration());
    auto findings = by_check(*evaluator, verdict);
    CHECK(findings.at("reports-null-finding").outcome == Outcome::kError);
    CHECK(findings.at("reports-null-finding").message ==
          "the check reported a null finding or a text without data");
    CHECK(verdict.status == ProductStatus::kCheckError);
  }

  TEST_CASE(
      "checks: a failed mandatory check makes the product non-compliant even beside an error") {
    auto evaluator = evaluator_for(load("rollup"), policy_text({{"always-pass", "mandatory"},
                                                                {"always-fail", "mandatory"},
                                                                {"always-error", "mandatory"}}));
    Verdict verdict = judge(*evaluator, ordinary_declaration());
    auto findings = by_check(*evaluator, verdict);
    CHECK(findings.at("always-fail").outcome == Outcome::kFail);
    CHECK(findings.at("always-fail").message == "fixed outcome");
    CHECK(findings.at("always-fail").field == "product.model");
    CHECK(findings.at("always-error").outcome == Outcome::kError);
    CHECK(verdict.status == ProductStatus::kNonCompliant);
    CHECK(status_name(verdict.status) == "non_compliant");
  }

  TEST_CASE("checks: a mandatory error without a mandatory failure is check_error") {
    auto evaluator = evaluator_for(load("rollup"), policy_text({{"always-pass", "mandatory"},
                                                                {"always-error", "mandatory"},
                                                                {"always-fail", "advisory"}}));
    Verdict verdict = judge(*evaluator, ordinary_declaration());
    auto findings = by_check(*evaluator, verdict);
    CHECK(findings.at("always-error").outcome == Outcome::kError);
    CHECK(findings.at("always-fail").outcome == Outcome::kFail);
    CHECK(verdict.status == ProductStatus::kCheckError);
    CHECK(status_name(verdict.status) == "check_error");
  }

  TEST_CASE(
      "checks: advisory failures and errors and mandatory warnings leave a product compliant") {
    auto evaluator = evaluator_for(load("rollup"), policy_text({{"always-pass", "mandatory"},
                                                                {"always-warn", "mandatory"},
                                                                {"always-fail", "advisory"},
                                                                {"always-error", "advisory"}}));
    Verdict verdict = judge(*evaluator, ordinary_declaration());
    auto findings = by_check(*evaluator, verdict);
    CHECK(findings.at("always-warn").outcome == Outcome::kWarn);
    CHECK(findings.at("always-fail").outcome == Outcome::kFail);
    CHECK(findings.at("always-error").outcome == Outcome::kError);
    CHECK(verdict.status == ProductStatus::kCompliant);
    CHECK(status_name(verdict.status) == "compliant");
  }

  TEST_CASE(
      "checks: a scope check reporting not_applicable excepts the product and nothing else runs") {
    auto rollup = load("rollup");
    auto evaluator = evaluator_for(rollup, policy_text({{"always-fail", "mandatory"},
                                                        {"always-error", "mandatory"},
                                                        {"counter", "mandatory"},
                                                        {"gate", "mandatory"}},
                                                       "gate"));
    // The scope check runs first, wherever its plugin lists it.
    REQUIRE_FALSE(evaluator->checks().empty());
    CHECK(evaluator->checks().front().id == "gate");

    const int runs_before = counter_runs_including_this_one(rollup);
    Verdict verdict =
        judge(*evaluator, declaration_with({{"product.category", std::string("medical_device")}}));
    CHECK(verdict.status == ProductStatus::kExcepted);
    CHECK(status_name(verdict.status) == "excepted");
    auto findings = by_check(*evaluator, verdict);
    CHECK(findings.at("gate").outcome == Outcome::kNotApplicable);
    CHECK(findings.at("gate").message == "medical devices are outside the regime");
    CHECK(findings.at("gate").field == "product.category");
    for (const auto& [check, finding] : findings) {
      if (check == "gate") continue;
      CAPTURE(check);
      CHECK(finding.outcome == Outcome::kNotApplicable);
      // The scope check's reason, not a judgement of this check.
      CHECK(finding.message.find("medical devices are outside the regime") != std::string::npos);
      CHECK(finding.field.empty());
    }
    // The counter check did not run for the excepted product.
    CHECK(counter_runs_including_this_one(rollup) == runs_before + 1);

    // In scope, the same evaluator runs everything.
    Verdict in_scope = judge(*evaluator, ordinary_declaration());
    auto judged = by_check(*evaluator, in_scope);
    CHECK(judged.at("gate").outcome == Outcome::kPass);
    CHECK(judged.at("always-fail").outcome == Outcome::kFail);
    CHECK(judged.at("counter").message == "run " + std::to_string(runs_before + 2));
    CHECK(in_scope.status == ProductStatus::kNonCompliant);
  }

  TEST_CASE(
      "checks: a policy naming a check no plugin provides is refused naming check and directory") {
    auto created = Evaluator::create(
        load("rollup"),
        policy_from(policy_text({{"always-pass", "mandatory"}, {"no-such-check", "mandatory"}})),
        kAsOf);
    REQUIRE_FALSE(created.is_ok());
    CHECK(created.status().code() == Status::Code::kInvalidArgument);
    CHECK(created.status().message() ==
          "policy fixture-policy (fixture-policy.yaml) names check 'no-such-check', which no "
          "plugin in " +
              fixture_dir("rollup") + " provides");
  }

  TEST_CASE("checks: checks the policy does not name run as advisory") {
    auto rollup = load("rollup");
    auto named_one = evaluator_for(rollup, policy_text({{"always-fail", "mandatory"}}));
    // The named check first, then the others in plugin order.
    const std::vector<std::string> all = {"always-fail",  "always-pass", "always-warn",
                                          "always-error", "gate",        "echo",
                                          "counter",      "cited"};
    std::vector<std::string> ids;
    for (const auto& check : named_one->checks()) {
      ids.push_back(check.id);
      CAPTURE(check.id);
      CHECK(check.level ==
            (check.id == "always-fail" ? policy::Level::kMandatory : policy::Level::kAdvisory));
    }
    CHECK(ids == all);
    Verdict verdict = judge(*named_one, ordinary_declaration());
    auto findings = by_check(*named_one, verdict);
    CHECK(findings.at("always-error").outcome == Outcome::kError);  // advisory: ran, no effect
    CHECK(findings.at("always-warn").outcome == Outcome::kWarn);
    CHECK(verdict.status == ProductStatus::kNonCompliant);
  }

  TEST_CASE("checks: checks the policy sets off are neither active nor run") {
    auto rollup = load("rollup");
    auto with_off = evaluator_for(
        rollup,
        policy_text({{"always-fail", "off"}, {"counter", "off"}, {"always-pass", "mandatory"}}));
    std::vector<std::string> ids;
    for (const auto& check : with_off->checks()) ids.push_back(check.id);
    CHECK(ids == std::vector<std::string>{"always-pass", "always-warn", "always-error", "gate",
                                          "echo", "cited"});
    const int runs_before = counter_runs_including_this_one(rollup);
    Verdict without = judge(*with_off, ordinary_declaration());
    CHECK(without.findings.size() == 6);
    CHECK(without.status == ProductStatus::kCompliant);
    CHECK(counter_runs_including_this_one(rollup) == runs_before + 1);
  }

  TEST_CASE(
      "checks: policy parameters and the as-of date and policy id and earlier versions reach "
      "checks") {
    auto evaluator = evaluator_for(load("rollup"),
                                   "id: fixture-policy\n"
                                   "regime: labelling\n"
                                   "checks:\n"
                                   "  echo:\n"
                                   "    level: advisory\n"
                                   "    parameters:\n"
                                   "      greeting: [hello, \"wörld\"]\n"
                                   "      strict: true\n"
                                   "      limit: 30\n");
    const model::Declaration earlier[] = {ordinary_declaration()};
    Verdict verdict;
    evaluator->evaluate(ordinary_declaration(), earlier, verdict);
    auto findings = by_check(*evaluator, verdict);
    CHECK(findings.at("echo").outcome == Outcome::kPass);
    CHECK(findings.at("echo").message ==
          "greeting=hello,wörld strict=true limit=30 as_of=2026-03-01 policy=fixture-policy "
          "earlier=1");

    // A policy without parameters for the check gives it none.
    auto bare = evaluator_for(load("rollup"), policy_text({{"echo", "advisory"}}));
    auto bare_findings = by_check(*bare, judge(*bare, ordinary_declaration()));
    CHECK(bare_findings.at("echo").message ==
          "greeting= strict=- limit=- as_of=2026-03-01 policy=fixture-policy earlier=0");
  }

  TEST_CASE("checks: a policy's requirement overrides the check's own citation") {
    auto rollup = load("rollup");
    auto overridden =
        evaluator_for(rollup,
                      "id: fixture-policy\nregime: prohibition\nchecks:\n"
                      "  cited: {level: mandatory, requirement: \"Policy Sch.1 §2\"}\n");
    auto plain = evaluator_for(rollup, policy_text({{"cited", "mandatory"}}));
    auto find = [](const Evaluator& evaluator, const std::string& id) {
      for (const auto& check : evaluator.checks()) {
        if (check.id == id) return check;
      }
      FAIL("no active check " << id);
      return ActiveCheck{};
    };
    const ActiveCheck cited = find(*overridden, "cited");
    CHECK(cited.requirement == "Policy Sch.1 §2");
    CHECK(cited.title == "Carries a default citation");
    CHECK(cited.version == "3.1.4");
    CHECK(cited.level == policy::Level::kMandatory);
    CHECK(cited.plugin_id == "fixture.rollup");
    CHECK(cited.plugin_version == "1.0.0");
    auto hash = sha256_file(fixture_plugin("rollup", "rollup"));
    REQUIRE(hash.is_ok());
    CHECK(cited.plugin_sha256 == hash.value());

    CHECK(find(*plain, "cited").requirement == "Fixture default citation");
    CHECK(find(*overridden, "always-pass").requirement == "Fixture");
  }

  TEST_CASE("checks: provenance names the policy and every check's plugin file hash") {
    auto rollup = load("rollup");
    const std::string text = policy_text({{"gate", "mandatory"}, {"echo", "off"}}, "gate");
    auto evaluator = evaluator_for(rollup, text);
    auto provenance = nlohmann::json::parse(evaluator->provenance_json());
    auto plugin_hash = sha256_file(fixture_plugin("rollup", "rollup"));
    REQUIRE(plugin_hash.is_ok());

    CHECK(provenance.at("policy") == "fixture-policy");
    CHECK(provenance.at("policy_sha256") == sha256_hex(text));
    CHECK(provenance.at("policy_sha256") == evaluator->policy().sha256);
    CHECK(provenance.at("policy_source") == "fixture-policy.yaml");
    CHECK(provenance.at("regime") == "prohibition");
    CHECK(provenance.at("as_of") == kAsOf);
    CHECK(provenance.at("plugin_set") == rollup->fingerprint());
    const auto& checks = provenance.at("checks");
    REQUIRE(checks.size() == evaluator->checks().size());
    REQUIRE(checks.size() == 7);  // echo is off
    CHECK(checks[0].at("check") == "gate");
    CHECK(checks[0].at("level") == "mandatory");
    CHECK(checks[1].at("level") == "advisory");
    for (const auto& check : checks) {
      CAPTURE(check.dump());
      CHECK(check.at("check") != "echo");
      CHECK(check.at("plugin") == "fixture.rollup");
      CHECK(check.at("plugin_version") == "1.0.0");
      CHECK(check.at("plugin_sha256") == plugin_hash.value());
    }
  }

  TEST_CASE(
      "checks: the evaluation key changes with the policy bytes and the plugin set and the as-of") {
    auto rollup = load("rollup");
    const std::string text = policy_text({{"gate", "mandatory"}});
    auto key = [&](const std::shared_ptr<const PluginSet>& plugins, const std::string& policy,
                   const char* as_of) {
      auto created = Evaluator::create(plugins, policy_from(policy), as_of);
      REQUIRE(created.is_ok());
      return created.value()->key();
    };
    const std::string base = key(rollup, text, kAsOf);
    CHECK(base.size() == 64);
    CHECK(key(rollup, text, kAsOf) == base);
    CHECK(key(rollup, text, "2026-03-02") != base);
    CHECK(key(rollup, text + "# a comment\n", kAsOf) != base);

    // The set is identified by its plugins' ids, versions and hashes, not by where it lies.
    test::TempDir copies;
    const std::string copied_rollup = copies.file("rollup.so");
    std::filesystem::copy_file(fixture_plugin("rollup", "rollup"), copied_rollup);
    std::filesystem::permissions(copied_rollup, std::filesystem::perms(0755));
    auto same_set = PluginSet::load_directory(copies.path().string());
    REQUIRE_MESSAGE(same_set.is_ok(), same_set.status().message());
    CHECK(key(same_set.value(), text, kAsOf) == base);

    const std::string copied_alpha = copies.file("alpha.so");
    std::filesystem::copy_file(fixture_plugin("good", "alpha"), copied_alpha);
    std::filesystem::permissions(copied_alpha, std::filesystem::perms(0755));
    auto larger_set = PluginSet::load_directory(copies.path().string());
    REQUIRE_MESSAGE(larger_set.is_ok(), larger_set.status().message());
    CHECK(key(larger_set.value(), text, kAsOf) != base);
  }
}

}  // namespace
}  // namespace iotreg::checks
