// The command line's text tables: whole names where nothing limits the width, cut names only as
// far as a terminal's width needs, columns aligned by characters rather than bytes.
#include "registry/cli/output.h"

#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

namespace iotreg::cli {
namespace {

std::vector<std::string> printed_lines(const TextTable& table, std::optional<std::size_t> width) {
  std::ostringstream out;
  table.print(out, width);
  std::vector<std::string> lines;
  std::istringstream in(out.str());
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

std::size_t characters(const std::string& text) {
  std::size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

// Where each column starts, in characters, judged by where `needle` starts in each line.
std::size_t column_of(const std::string& line, const std::string& needle) {
  const auto at = line.find(needle);
  REQUIRE(at != std::string::npos);
  return characters(line.substr(0, at));
}

TextTable products_table() {
  TextTable table({{"ID"}, {"STATUS"}, {"MANUFACTURER", true}, {"TYPE", true}});
  table.add_row({"1", "compliant", "Domótica Segura Hogar S.L.", "video baby monitor with sensor"});
  table.add_row({"22", "non_compliant", "Acme", "camera"});
  return table;
}

TEST_SUITE("cli") {
  TEST_CASE("cli: a table without a width prints every name whole, aligned by characters") {
    auto lines = printed_lines(products_table(), std::nullopt);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "ID  STATUS         MANUFACTURER                TYPE");
    CHECK(lines[1] ==
          "1   compliant      Domótica Segura Hogar S.L.  video baby monitor with sensor");
    CHECK(lines[2] == "22  non_compliant  Acme                        camera");
    CHECK(column_of(lines[1], "video") == column_of(lines[2], "camera"));
  }

  TEST_CASE("cli: a table wider than the terminal cuts its widest names, and only those") {
    // Whole, the rows are 77 characters wide.
    auto lines = printed_lines(products_table(), 60);
    REQUIRE(lines.size() == 3);
    for (const auto& line : lines) CHECK(characters(line) <= 60);
    CHECK(lines[1].rfind("1   compliant      ", 0) == 0);  // ids and states are never cut
    CHECK(lines[2].rfind("22  non_compliant  ", 0) == 0);
    CHECK(lines[1].find('~') != std::string::npos);
    CHECK(lines[2] == "22  non_compliant  Acme                 camera");
    CHECK(column_of(lines[0], "TYPE") == column_of(lines[2], "camera"));
    // The two names were cut to the same width: the widest first, then both in turn.
    CHECK(column_of(lines[1], "video") - column_of(lines[1], "Dom") ==
          column_of(lines[0], "TYPE") - column_of(lines[0], "MANUFACTURER"));
  }

  TEST_CASE("cli: no name is cut below its header or 8 characters, however narrow") {
    auto lines = printed_lines(products_table(), 10);
    REQUIRE(lines.size() == 3);
    CHECK(lines[0] == "ID  STATUS         MANUFACTURER  TYPE");
    CHECK(lines[1] == "1   compliant      Domótica Se~  video b~");
  }

  TEST_CASE("cli: control characters in a cell are replaced, so data cannot move the cursor") {
    TextTable table({{"NAME", true}});
    table.add_row({"evil\x1b[2Jname"});
    auto lines = printed_lines(table, std::nullopt);
    REQUIRE(lines.size() == 2);
    CHECK(lines[1] == "evil [2Jname");
  }
}

}  // namespace
}  // namespace iotreg::cli
