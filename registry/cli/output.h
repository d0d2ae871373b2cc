// Private to registry/cli: text for terminals. The JSON and CSV shapes are in
// registry/views/views.h, shared with the HTTP API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace iotreg::cli {

// A table cell of `width` characters: the text made printable, cut with ~ to leave at least one
// space before the next column, then padded. Counts UTF-8 characters, not bytes.
std::string cell(std::string_view text, std::size_t width);

// Text for a terminal: control characters replaced, so that untrusted data cannot move the
// cursor or change colours.
std::string printable(std::string_view text);

// A count with thousands separated by commas: "123,456".
std::string grouped(std::uint64_t count);

}  // namespace iotreg::cli
