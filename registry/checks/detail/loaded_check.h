// A loaded check: its description, its plugin's provenance and the plugin function that runs
// it. Private to registry/checks. The function stays valid for the life of the process
// (plugin libraries are never unloaded).
#pragma once

#include <string>
#include <vector>

#include "iotreg/plugin.h"
#include "registry/checks/checks.h"

namespace iotreg::checks {

using RunFunction = int (*)(const iotreg_check_input* input, iotreg_report_fn report,
                            void* host_context);

struct PluginSet::LoadedCheck {
  CheckDescription description;
  std::string plugin_id;
  std::string plugin_version;
  std::string plugin_sha256;
  std::string plugin_path;
  RunFunction run;
};

namespace detail {

// Verifies and loads one plugin file (see PluginSet::load_directory) and lists its checks.
Result<std::vector<PluginSet::LoadedCheck>> load_plugin_checks(const std::string& path);

// Runs one check on `input` and turns what it reported into `finding` (`error` when it broke
// the reporting contract). Thread-safe when the check is.
void run_check(RunFunction run, const iotreg_check_input& input, Finding& finding);

inline constexpr std::size_t kMaxMessageBytes = 4096;
inline constexpr std::size_t kMaxFieldBytes = 200;

}  // namespace detail
}  // namespace iotreg::checks
