// Plugin fixtures: test cases a plugin ships next to itself (<plugin>.fixtures.yaml), each a
// declaration with optional earlier versions, an as-of date and the outcome every named check
// must reach under every named policy. `iotreg plugins test DIR` runs them; a plugin author
// runs them before publishing a plugin. Functions here are stateless and thread-compatible.
//
// File format:
//   cases:
//     - name: universal default password fails
//       as_of: 2026-11-29                  # optional, default 2026-11-29
//       declaration: {manufacturer: {name: Acme}, product: {brand: Acme, model: X1}, ...}
//       earlier: [{...}, ...]              # optional, oldest first
//       expect: {dcms-2019: {default-password: fail}, psti-2023: {default-password: pass}}
//       message_contains: {dcms-2019: {default-password: universal}}   # optional
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "registry/checks/checks.h"
#include "registry/core/status.h"

namespace iotreg::checks {

inline constexpr const char* kDefaultFixtureAsOf = "2026-11-29";

struct FixtureOutcome {
  std::string plugin_id;
  std::string fixture_file;
  std::string case_name;
  std::string policy;
  bool passed = false;
  std::string detail;  // what differed, or what is wrong with the case
};

// A plugin that ships no fixtures: its id, and the file that was looked for.
struct MissingFixtures {
  std::string plugin_id;
  std::string fixture_file;
};

struct FixtureReport {
  std::vector<FixtureOutcome> outcomes;
  std::vector<MissingFixtures> plugins_without_fixtures;
  std::size_t failed() const;
};

// Runs the fixtures of every plugin in `plugins`. A policy named in a fixture is loaded with
// policy::load_policy (a shipped id or a file) and narrowed to the checks the set provides.
// Problems with a fixture file (unreadable, not YAML, a malformed case) are failed outcomes
// that say what is wrong; the Status is not ok only when nothing could be run at all.
// Checks run as `isolation` says (untrusted plugins' fixtures run in workers).
Result<FixtureReport> run_fixtures(const std::shared_ptr<const PluginSet>& plugins,
                                   const Isolation& isolation = {});

// The self-test of a policy with verify_fixtures: runs every plugin's fixtures and refuses the
// set when any fails, naming each failing plugin, case and what differed, or when a plugin
// ships no fixtures, naming the file that was looked for.
Status verify_fixtures(const std::shared_ptr<const PluginSet>& plugins,
                       const Isolation& isolation = {});

}  // namespace iotreg::checks
