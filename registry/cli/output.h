// Private to registry/cli: text for terminals. The JSON and CSV shapes are in
// registry/views/views.h, shared with the HTTP API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "registry/storage/storage.h"

namespace iotreg::cli {

// A table cell of `width` characters: the text made printable, cut with ~ to leave at least one
// space before the next column, then padded. Counts UTF-8 characters, not bytes.
std::string cell(std::string_view text, std::size_t width);

// Text for a terminal: control characters replaced, so that untrusted data cannot move the
// cursor or change colours.
std::string printable(std::string_view text);

// A count with thousands separated by commas: "123,456".
std::string grouped(std::uint64_t count);

// "1 flag", "2 flags": a count (digits only, for scripts) with the word in the number it needs.
std::string counted(std::uint64_t count, std::string_view one, std::string_view many);

// Prints what a run changed on stdout, indented under the run's summary line: the flags raised,
// withdrawn and remedied, and the products whose status or flag changed (the first ones, then
// how many more). `would`: a dry run.
void print_change_summary(const storage::ChangeSummary& summary, bool would);

}  // namespace iotreg::cli
