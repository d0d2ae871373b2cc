// Test support: the bundled samples (samples/0*) imported into a registry by the iotreg
// executable, with checks, one import run per file: products with several versions over several
// runs, verdicts, failing checks and flags.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "support/process.h"

namespace iotreg::test {

// Into the registry at `location` (created when it does not exist), as of 2026-11-29.
inline void import_samples(const std::string& location) {
  namespace fs = std::filesystem;
  std::vector<std::string> import = {"--db",       location, "--as-of",
                                     "2026-11-29", "import", "--quiet"};
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(fs::path(IOTREG_SOURCE_DIR) / "samples")) {
    if (entry.path().filename().string().rfind('0', 0) == 0) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    import.push_back(file);
    const auto imported = run_process(IOTREG_BINARY, import);
    REQUIRE_MESSAGE(imported.exit_status <= 1, imported.err);  // some records are bad
    import.pop_back();
  }
}

}  // namespace iotreg::test
