// The officer web UI's files, built into the binary. Private to registry/http.
#pragma once

#include <span>
#include <string_view>

namespace iotreg::http {

struct EmbeddedFile {
  std::string_view name;  // file name without directory, e.g. "app.js"
  std::string_view text;
};

std::span<const EmbeddedFile> web_assets();

}  // namespace iotreg::http
