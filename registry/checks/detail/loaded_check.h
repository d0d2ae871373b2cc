// A loaded check: its description, its plugin's provenance and the plugin function that runs
// it; and the reading and validation of plugin descriptors. Private to registry/checks. A run
// function stays valid for the life of the process (plugin libraries are never unloaded).
#pragma once

#include <optional>
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
  RunFunction run;  // null when the plugin is not loaded in this process (it is untrusted)
};

namespace detail {

// A plugin's descriptor as text, before validate_descriptor has judged it: read from a library
// loaded in this process, or sent by a worker process that loaded it. An absent text is one
// whose pointer was null or that had no end within kMaxNameBytes + 1 bytes.
struct DescriptorTexts {
  std::optional<std::string> id;
  std::optional<std::string> version;
  std::optional<std::string> description;
  struct Check {
    std::optional<std::string> id;
    std::optional<std::string> title;
    std::optional<std::string> requirement;
    std::optional<std::string> version;
    bool has_run = false;
  };
  std::vector<Check> checks;
};

inline constexpr std::size_t kMaxNameBytes = 200;
inline constexpr std::size_t kMaxChecksPerPlugin = 256;

// The description of the plugin in `path` (whose file hash is `sha256`) if `texts` obey the
// ABI's rules (ids, lengths, UTF-8, 1 to kMaxChecksPerPlugin checks each with a run function);
// else why not, naming the file.
Result<PluginDescription> validate_descriptor(const std::string& path, const std::string& sha256,
                                              const DescriptorTexts& texts);

// Refuses `plugin` when `policy` pins its id to another SHA-256, naming both hashes.
Status check_pin(const PluginDescription& plugin, const policy::Policy& policy);

// A plugin loaded into this process.
struct LoadedPlugin {
  PluginDescription description;
  std::vector<PluginSet::LoadedCheck> checks;
};
// Verifies one plugin file (see PluginSet::load_directory) and, unless `expected_sha256` is
// given and the file's hash differs (it changed after it was verified), loads it into this
// process and reads its descriptor.
Result<LoadedPlugin> load_plugin(const std::string& path, std::string_view expected_sha256 = {});

// Untrusted text made printable: its first `max_bytes` bytes, with control bytes escaped, and
// every byte of 0x80 and above too when the text is not valid UTF-8.
std::string printable(std::string_view text, std::size_t max_bytes = kMaxNameBytes);

// Runs one check on `input` and turns what it reported into `finding` (`error` when it broke
// the reporting contract or let an exception escape, naming the exception's type and what()).
// Thread-safe when the check is.
void run_check(RunFunction run, const iotreg_check_input& input, Finding& finding);

inline constexpr std::size_t kMaxMessageBytes = 4096;
inline constexpr std::size_t kMaxFieldBytes = 200;

}  // namespace detail
}  // namespace iotreg::checks
