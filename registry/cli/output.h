// Private to registry/cli: text for terminals. The JSON and CSV shapes are in
// registry/views/views.h, shared with the HTTP API.
#pragma once

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "registry/storage/storage.h"

namespace iotreg::cli {

// A table for people: a header row, then rows of cells (made printable), each column as wide as
// its widest cell and two spaces between columns. Given a width (a terminal's), a table wider
// than that has its widest cuttable columns cut with ~, never below their header or 8
// characters; without one (output that is not a terminal) every name is printed whole. Widths
// count UTF-8 characters, not bytes.
class TextTable {
 public:
  struct Column {
    std::string header;
    bool may_cut = false;  // free text (names); ids, states and dates are never cut
  };
  explicit TextTable(std::vector<Column> columns);
  // `cells` has one text per column.
  void add_row(std::vector<std::string> cells);
  void print(std::ostream& out, std::optional<std::size_t> width) const;

 private:
  std::vector<Column> columns_;
  std::vector<std::vector<std::string>> rows_;
};

// The width tables on standard output fit: the terminal's columns when standard output is a
// terminal that reports them, none otherwise.
std::optional<std::size_t> output_width();

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
