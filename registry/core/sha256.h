// SHA-256 digests as lower-case hex, for plugin files and policies. Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "registry/core/status.h"

namespace iotreg {

std::string sha256_hex(std::string_view bytes);
// The digest of a file's contents; kIoError naming the file when it cannot be read.
Result<std::string> sha256_file(const std::string& path);

}  // namespace iotreg
