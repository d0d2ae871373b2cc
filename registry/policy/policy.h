// Policies: which checks judge declarations, how much each counts, with which parameters, and
// what failing means (DESIGN.md §4). A Policy is a plain immutable value, safe to share between
// threads once loaded. Policies are YAML files validated against schemas/policy.schema.json;
// the shipped ones (policies/*.yaml) are built into the binary and can be named by id.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "registry/core/status.h"

namespace iotreg::policy {

enum class Regime { kProhibition, kLabelling };
enum class Level { kMandatory, kAdvisory, kOff };

std::string_view regime_name(Regime regime);
std::string_view level_name(Level level);

struct Parameter {
  std::string name;
  std::vector<std::string> values;  // scalars have one value; booleans are "true"/"false"
};

struct CheckSettings {
  std::string check_id;
  Level level = Level::kAdvisory;
  std::string requirement;  // empty: the check's own citation
  std::vector<Parameter> parameters;
};

// How far the registry trusts one plugin (by plugin id).
struct PluginSettings {
  std::string plugin_id;
  std::optional<bool> trusted;  // unset: the default (the built-in plugins are trusted)
  std::string sha256;           // lower-case hex; empty: the file is not pinned
};

struct Policy {
  std::string id;
  std::string title;
  Regime regime = Regime::kProhibition;
  std::string scope_check;            // empty: every product is in scope
  std::vector<CheckSettings> checks;  // in the order of the file
  std::vector<PluginSettings> plugins;
  bool verify_fixtures = false;   // run each plugin's fixtures before using it
  bool separate_workers = false;  // each untrusted plugin in worker processes of its own
  // How long an untrusted plugin's check may take on one declaration; 0: the registry's
  // default (checks::Isolation::check_deadline).
  std::uint32_t deadline_ms = 0;
  std::string source;  // file path, or "builtin:<id>"
  std::string sha256;  // of the file's bytes: identifies the policy in findings

  // The settings of a check, or nullptr when the policy does not name it.
  const CheckSettings* settings(std::string_view check_id) const;
  // The trust settings of a plugin, or nullptr when the policy does not name it.
  const PluginSettings* plugin_settings(std::string_view plugin_id) const;
};

inline constexpr std::string_view kDefaultPolicyId = "dcms-2019";

// Parses and validates policy text. Errors name the source and the path of the problem, e.g.
// "policy.yaml: checks.default-password.level: must be one of mandatory, advisory, off".
Result<Policy> parse_policy(std::string_view yaml_text, std::string_view source);

// Loads a policy file, or a shipped policy when `path_or_id` is the id of one (dcms-2019,
// psti-2023) and no such file exists.
Result<Policy> load_policy(const std::string& path_or_id);

// The ids of the shipped policies.
std::vector<std::string> shipped_policy_ids();

}  // namespace iotreg::policy
