// EmbeddedFile: a data file built into the binary as text by cmake/EmbedText.cmake
// (iotreg_embed_files). Plain views of static storage: valid for the whole run, thread-safe.
#pragma once

#include <string_view>

namespace iotreg {

struct EmbeddedFile {
  std::string_view name;  // file name without directory, e.g. "dcms-2019.yaml"
  std::string_view text;
};

}  // namespace iotreg
