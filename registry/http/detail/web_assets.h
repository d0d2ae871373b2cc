// The officer web UI's files, built into the binary. Private to registry/http.
#pragma once

#include <span>
#include <string_view>

#include "registry/core/embedded_file.h"

namespace iotreg::http {

std::span<const EmbeddedFile> web_assets();

}  // namespace iotreg::http
