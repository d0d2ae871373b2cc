// Policies: the shipped ones parse to what their files say; malformed ones are refused with
// "SOURCE:LINE: path: what"; a policy is identified by the SHA-256 of its bytes.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "registry/core/sha256.h"
#include "registry/policy/policy.h"
#include "support/temp_files.h"

namespace iotreg::policy {
namespace {

const std::string kSourceDir = IOTREG_SOURCE_DIR;

// A minimal valid policy; tests append to or edit it.
const std::string kMinimal =
    "id: minimal\n"
    "regime: labelling\n"
    "checks:\n"
    "  scope:\n"
    "    level: mandatory\n";

std::string refusal(const std::string& text) {
  auto parsed = parse_policy(text, "bad.yaml");
  REQUIRE_FALSE(parsed.is_ok());
  CHECK(parsed.status().code() == Status::Code::kInvalidArgument);
  return parsed.status().message();
}

// The check ids of a policy in its order, one line each.
std::string check_ids(const Policy& policy) {
  std::string ids;
  for (const auto& check : policy.checks) ids += check.check_id + "\n";
  return ids;
}

const Parameter* parameter(const Policy& policy, const std::string& check,
                           const std::string& name) {
  const CheckSettings* settings = policy.settings(check);
  REQUIRE(settings != nullptr);
  for (const auto& candidate : settings->parameters) {
    if (candidate.name == name) return &candidate;
  }
  FAIL("no parameter " << name << " for check " << check);
  return nullptr;
}

TEST_SUITE("policy") {
  TEST_CASE("policy: both shipped policies parse to what their files say") {
    CHECK(shipped_policy_ids() == std::vector<std::string>{"dcms-2019", "psti-2023"});
    for (const std::string id : {"dcms-2019", "psti-2023"}) {
      CAPTURE(id);
      auto loaded = load_policy(id);
      REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
      const Policy& policy = loaded.value();
      CHECK(policy.id == id);
      CHECK(policy.source == "builtin:" + id);
      CHECK(policy.regime == Regime::kProhibition);
      CHECK(policy.scope_check == "scope");
      REQUIRE(policy.checks.size() == 7);

      const std::string text = test::read_file(kSourceDir + "/policies/" + id + ".yaml");
      REQUIRE_FALSE(text.empty());
      CHECK(policy.sha256 == sha256_hex(text));
      // The file itself parses to the same policy, and the same hash.
      auto from_file = load_policy(kSourceDir + "/policies/" + id + ".yaml");
      REQUIRE_MESSAGE(from_file.is_ok(), from_file.status().message());
      CHECK(from_file.value().source == kSourceDir + "/policies/" + id + ".yaml");
      CHECK(from_file.value().sha256 == policy.sha256);

      CHECK(policy.settings("scope")->level == Level::kMandatory);
      CHECK(policy.settings("default-password")->level == Level::kMandatory);
      CHECK(policy.settings("vulnerability-disclosure")->level == Level::kMandatory);
      CHECK(policy.settings("support-period")->level == Level::kMandatory);
      CHECK(policy.settings("support-expiry")->level == Level::kAdvisory);
      CHECK(policy.settings("statement")->level == Level::kMandatory);
      CHECK(policy.settings("third-party-label")->level == Level::kAdvisory);
      CHECK(policy.settings("statement")->requirement == "PSTI Act 2022 s.9; Regulations Sch.4");
      CHECK(policy.settings("no-such-check") == nullptr);

      // Scalars become text: quoted numbers stay as written, the empty string stays.
      const Parameter* deny_list = parameter(policy, "default-password", "deny_list");
      REQUIRE(deny_list->values.size() == 43);
      CHECK(deny_list->values[0] == "admin");
      CHECK(deny_list->values[2] == "1234");
      CHECK(deny_list->values[8] == "00000000");
      CHECK(deny_list->values[27] == "Zte521");
      CHECK(deny_list->values[42] == "");
      CHECK(parameter(policy, "scope", "excepted_categories")->values ==
            std::vector<std::string>{"medical_device", "smart_meter", "ev_chargepoint", "vehicle"});
    }

    auto dcms = load_policy("dcms-2019");
    auto psti = load_policy("psti-2023");
    REQUIRE(dcms.is_ok());
    REQUIRE(psti.is_ok());
    CHECK(dcms.value().title == "DCMS 2019 consumer IoT security proposals");
    CHECK(psti.value().title == "PSTI Act 2022 and Regulations 2023");
    CHECK(dcms.value().settings("default-password")->requirement ==
          "DCMS-2019 P1; EN 303 645 5.1-1, 5.1-2");
    // Where the law differs from the proposals (DESIGN.md §4).
    const std::vector<std::string> no = {"false"}, yes = {"true"};
    CHECK(parameter(dcms.value(), "default-password", "universal_allowed_with_forced_change")
              ->values == no);
    CHECK(parameter(psti.value(), "default-password", "universal_allowed_with_forced_change")
              ->values == yes);
    CHECK(parameter(dcms.value(), "vulnerability-disclosure", "timelines_required")->values == no);
    CHECK(parameter(psti.value(), "vulnerability-disclosure", "timelines_required")->values == yes);
    CHECK(parameter(dcms.value(), "statement", "standards_need_version_and_date")->values == no);
    CHECK(parameter(psti.value(), "statement", "standards_need_version_and_date")->values == yes);
    CHECK(dcms.value().sha256 != psti.value().sha256);
  }

  TEST_CASE("policy: a policy's checks keep the order of the file") {
    auto dcms = load_policy("dcms-2019");
    REQUIRE(dcms.is_ok());
    CHECK(check_ids(dcms.value()) ==
          "scope\ndefault-password\nvulnerability-disclosure\nsupport-period\nsupport-expiry\n"
          "statement\nthird-party-label\n");
  }

  // Only true and false are booleans in a policy, so a plain `off` is the level off.
  TEST_CASE("policy: a plain level: off is the level off") {
    auto parsed = parse_policy(kMinimal + "  statement:\n    level: off\n", "p.yaml");
    REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().message());
    CHECK(parsed.value().settings("statement")->level == Level::kOff);
  }

  TEST_CASE("policy: a quoted level \"off\" is the level off") {
    auto parsed = parse_policy(kMinimal + "  statement:\n    level: \"off\"\n", "p.yaml");
    REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().message());
    CHECK(parsed.value().settings("statement")->level == Level::kOff);
    CHECK(parsed.value().settings("scope")->level == Level::kMandatory);
  }

  TEST_CASE("policy: scalar parameters become text and lists become several values") {
    auto parsed = parse_policy(kMinimal +
                                   "    requirement: Own citation\n"
                                   "    parameters:\n"
                                   "      flag: false\n"
                                   "      limit: 30\n"
                                   "      name: \"30\"\n"
                                   "      items: [a, 7, \"\"]\n",
                               "p.yaml");
    REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().message());
    const Policy& policy = parsed.value();
    CHECK(policy.regime == Regime::kLabelling);
    CHECK(policy.title == "minimal");  // no title: the id
    CHECK(policy.scope_check.empty());
    CHECK(policy.settings("scope")->requirement == "Own citation");
    CHECK(parameter(policy, "scope", "flag")->values == std::vector<std::string>{"false"});
    CHECK(parameter(policy, "scope", "limit")->values == std::vector<std::string>{"30"});
    CHECK(parameter(policy, "scope", "name")->values == std::vector<std::string>{"30"});
    CHECK(parameter(policy, "scope", "items")->values == std::vector<std::string>{"a", "7", ""});
  }

  TEST_CASE("policy: text that is not YAML is refused with its line") {
    CHECK(refusal("id: minimal\nregime: [labelling\nchecks: {}\n") ==
          "bad.yaml:3: not valid YAML: end of sequence flow not found");
  }

  TEST_CASE("policy: an unknown top-level key is refused") {
    CHECK(refusal(kMinimal + "colour: red\n") ==
          "bad.yaml:1: (top level): Object contains a property that could not be validated "
          "using 'properties' or 'additionalProperties' constraints: 'colour'.");
  }

  TEST_CASE("policy: a regime other than prohibition or labelling is refused") {
    CHECK(refusal("id: minimal\nregime: ban\nchecks:\n  scope: {level: mandatory}\n") ==
          "bad.yaml:2: regime: Failed to match against any enum values.");
  }

  TEST_CASE("policy: a check without a level is refused") {
    CHECK(refusal(kMinimal + "  statement:\n    requirement: Somewhere\n") ==
          "bad.yaml:7: checks.statement: Missing required property 'level'.");
  }

  TEST_CASE("policy: a level other than mandatory or advisory or off is refused") {
    CHECK(refusal(kMinimal + "  statement:\n    level: required\n") ==
          "bad.yaml:7: checks.statement.level: Failed to match against any enum values.");
  }

  TEST_CASE("policy: a parameter holding a nested object is refused") {
    CHECK(refusal(kMinimal + "    parameters:\n      nested:\n        deeper: 1\n") ==
          "bad.yaml:8: checks.scope.parameters.nested: Value type not permitted by 'type' "
          "constraint.");
    CHECK(refusal(kMinimal + "    parameters:\n      nested: [[1, 2]]\n") ==
          "bad.yaml:7: checks.scope.parameters.nested[0]: Value type not permitted by 'type' "
          "constraint.");
  }

  TEST_CASE("policy: plugin trust and SHA-256 pins and verify_fixtures are read") {
    const std::string hash(64, 'b');
    auto parsed = parse_policy(kMinimal +
                                   "verify_fixtures: true\nplugins:\n"
                                   "  iotreg.scope: {trusted: true, sha256: \"" +
                                   hash + "\"}\n  example.other: {trusted: false}\n",
                               "trust.yaml");
    REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().message());
    CHECK(parsed->verify_fixtures);
    REQUIRE(parsed->plugins.size() == 2);
    const PluginSettings* scope = parsed->plugin_settings("iotreg.scope");
    REQUIRE(scope != nullptr);
    CHECK(scope->trusted == std::optional<bool>(true));
    CHECK(scope->sha256 == hash);
    const PluginSettings* other = parsed->plugin_settings("example.other");
    REQUIRE(other != nullptr);
    CHECK(other->trusted == std::optional<bool>(false));
    CHECK(other->sha256.empty());
    CHECK(parsed->plugin_settings("example.absent") == nullptr);
    auto plain = parse_policy(kMinimal, "plain.yaml");
    REQUIRE(plain.is_ok());
    CHECK_FALSE(plain->verify_fixtures);
    CHECK(plain->plugins.empty());
  }

  TEST_CASE("policy: a malformed plugin trust entry is refused with its path") {
    CHECK(refusal(kMinimal + "plugins:\n  iotreg.scope: {trusted: maybe}\n") ==
          "bad.yaml:7: plugins.iotreg.scope.trusted: Value type not permitted by 'type' "
          "constraint.");
    CHECK(refusal(kMinimal + "plugins:\n  iotreg.scope: {sha256: ABC}\n") ==
          "bad.yaml:7: plugins.iotreg.scope.sha256: Failed to match regex specified by "
          "'pattern' constraint.");
    CHECK(
        refusal(kMinimal + "plugins:\n  iotreg.scope: {trust: true}\n")
            .find("plugins.iotreg.scope: Object contains a property that could not be validated") !=
        std::string::npos);
    CHECK(refusal(kMinimal + "verify_fixtures: sometimes\n") ==
          "bad.yaml:6: verify_fixtures: Value type not permitted by 'type' constraint.");
  }

  TEST_CASE("policy: a key given twice is refused at its second occurrence") {
    CHECK(refusal(kMinimal + "    level: advisory\n") ==
          "bad.yaml:6: checks.scope.level: appears twice");
  }

  TEST_CASE("policy: a scope check the policy does not run is refused") {
    CHECK(refusal("id: minimal\nregime: prohibition\nscope_check: gate\nchecks:\n"
                  "  scope: {level: mandatory}\n") ==
          "bad.yaml:3: scope_check: names check 'gate', which the policy does not run (list it "
          "under checks, not off)");
    CHECK(refusal("id: minimal\nregime: prohibition\nscope_check: scope\nchecks:\n"
                  "  scope: {level: \"off\"}\n") ==
          "bad.yaml:3: scope_check: names check 'scope', which the policy does not run (list it "
          "under checks, not off)");
  }

  TEST_CASE("policy: a policy over 1 MiB is refused as text and as a file") {
    const std::string large = kMinimal + "# " + std::string(1 << 20, 'x') + "\n";
    CHECK(refusal(large) == "bad.yaml: a policy file is at most 1 MiB");
    testing::ScratchDir dir;
    const std::string path = testing::write_file(dir, "large.yaml", large);
    auto loaded = load_policy(path);
    REQUIRE_FALSE(loaded.is_ok());
    CHECK(loaded.status().code() == Status::Code::kInvalidArgument);
    CHECK(loaded.status().message() == path + ": a policy file is at most 1 MiB");
  }

  TEST_CASE("policy: a missing file that is not a shipped id is refused listing the shipped ids") {
    const std::string missing = kSourceDir + "/policies/no-such-policy.yaml";
    auto loaded = load_policy(missing);
    REQUIRE_FALSE(loaded.is_ok());
    CHECK(loaded.status().code() == Status::Code::kInvalidArgument);
    CHECK(loaded.status().message() ==
          "policy " + missing + ": no such file, and not a shipped policy (dcms-2019, psti-2023)");
  }

  TEST_CASE("policy: the policy hash is the SHA-256 of its bytes and changes with them") {
    auto first = parse_policy(kMinimal, "p.yaml");
    auto commented =
        parse_policy("# a comment changes nothing but the bytes\n" + kMinimal, "p.yaml");
    auto again = parse_policy(kMinimal, "elsewhere.yaml");
    REQUIRE(first.is_ok());
    REQUIRE(commented.is_ok());
    REQUIRE(again.is_ok());
    CHECK(first.value().sha256 == sha256_hex(kMinimal));
    CHECK(commented.value().sha256 != first.value().sha256);
    CHECK(again.value().sha256 == first.value().sha256);  // the source is not part of it
  }
}

}  // namespace
}  // namespace iotreg::policy
