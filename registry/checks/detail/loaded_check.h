// A loaded check: its description, its plugin's provenance and the plugin function that runs
// it. Private to registry/checks. The function stays valid for the life of the process
// (plugin libraries are never unloaded).
#pragma once

#include <string>

#include "iotreg/plugin.h"
#include "registry/checks/checks.h"

namespace iotreg::checks {

struct PluginSet::LoadedCheck {
  CheckDescription description;
  std::string plugin_id;
  std::string plugin_version;
  std::string plugin_sha256;
  int (*run)(const iotreg_check_input* input, iotreg_report_fn report, void* host_context);
};

}  // namespace iotreg::checks
