// The built-in plugins of the build (plugins/*), loaded as the iotreg binary loads them, under
// each shipped policy: seven checks, the scope check first, the levels and citations the policy
// files give.
#include <doctest/doctest.h>

#include <map>
#include <string>
#include <vector>

#include "check_fixtures.h"
#include "registry/checks/checks.h"
#include "registry/core/sha256.h"

namespace iotreg::checks {
namespace {

using policy::Level;

std::shared_ptr<const PluginSet> builtin_plugins() {
  auto loaded = PluginSet::load_directory(IOTREG_BUILTIN_PLUGIN_DIR);
  REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
  return loaded.value();
}

TEST_SUITE("checks") {
  TEST_CASE("checks: the built-in plugins load with one check each and their file hashes") {
    auto plugins = builtin_plugins();
    const std::vector<std::string> names = {
        "default-password",        "scope",          "statement",
        "support-expiry",          "support-period", "third-party-label",
        "vulnerability-disclosure"};
    REQUIRE(plugins->plugins().size() == names.size());
    for (std::size_t i = 0; i < names.size(); ++i) {
      const PluginDescription& plugin = plugins->plugins()[i];
      CAPTURE(plugin.path);
      CHECK(plugin.id == "iotreg." + names[i]);
      CHECK(plugin.version == "1.0.0");
      REQUIRE(plugin.checks.size() == 1);
      CHECK(plugin.checks[0].id == names[i]);
      auto hash = sha256_file(plugin.path);
      REQUIRE(hash.is_ok());
      CHECK(plugin.sha256 == hash.value());
    }
  }

  TEST_CASE(
      "checks: each shipped policy runs the seven built-in checks in its order at its levels") {
    // The order of policies/*.yaml (scope first).
    const std::vector<std::string> order = {
        "scope",          "default-password", "vulnerability-disclosure", "support-period",
        "support-expiry", "statement",        "third-party-label"};
    // Both shipped policies give every check the same level (policies/*.yaml).
    const std::map<std::string, Level> levels = {{"scope", Level::kMandatory},
                                                 {"default-password", Level::kMandatory},
                                                 {"statement", Level::kMandatory},
                                                 {"support-expiry", Level::kAdvisory},
                                                 {"support-period", Level::kMandatory},
                                                 {"third-party-label", Level::kAdvisory},
                                                 {"vulnerability-disclosure", Level::kMandatory}};
    auto plugins = builtin_plugins();
    for (const std::string id : {"dcms-2019", "psti-2023"}) {
      CAPTURE(id);
      auto loaded = policy::load_policy(id);
      REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
      const policy::Policy shipped = loaded.value();
      auto created = Evaluator::create(plugins, shipped, "2026-03-01");
      REQUIRE_MESSAGE(created.is_ok(), created.status().message());
      const Evaluator& evaluator = *created.value();
      REQUIRE(evaluator.checks().size() == order.size());
      for (std::size_t i = 0; i < order.size(); ++i) {
        const ActiveCheck& check = evaluator.checks()[i];
        CAPTURE(check.id);
        CHECK(check.id == order[i]);
        CHECK(check.level == levels.at(check.id));
        const policy::CheckSettings* settings = shipped.settings(check.id);
        REQUIRE(settings != nullptr);
        CHECK(check.level == settings->level);
        CHECK(check.requirement == settings->requirement);
        CHECK(check.plugin_id == "iotreg." + check.id);
      }

      // The real scope check excepts a medical device, and nothing else judges it.
      Verdict verdict;
      evaluator.evaluate(
          testing::declaration_with({{"product.category", std::string("medical_device")}}), {},
          verdict);
      CHECK(verdict.status == ProductStatus::kExcepted);
      REQUIRE(verdict.findings.size() == order.size());
      CHECK(verdict.findings[0].outcome == Outcome::kNotApplicable);
      CHECK(verdict.findings[0].message.rfind("excepted: medical devices", 0) == 0);
      for (std::size_t i = 1; i < verdict.findings.size(); ++i) {
        CHECK(verdict.findings[i].outcome == Outcome::kNotApplicable);
      }
    }
  }
}

}  // namespace
}  // namespace iotreg::checks
