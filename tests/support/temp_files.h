// Test support for tests that only need files: the shared TempDir and a helper to write one.
#pragma once

#include <fstream>
#include <string>

#include "support/process.h"

namespace iotreg::testing {

using ScratchDir = test::TempDir;

// Writes `content` to `name` inside `dir` and returns the file's path.
inline std::string write_file(const ScratchDir& dir, const std::string& name,
                              const std::string& content) {
  std::ofstream(dir.file(name), std::ios::binary) << content;
  return dir.file(name);
}

}  // namespace iotreg::testing
