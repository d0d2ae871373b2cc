#include "importers/csv/csv_tokenizer.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <ios>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "support/generated_input.h"

namespace iotreg::importers {
namespace {

using Status = CsvTokenizer::Status;
using Fields = std::vector<std::string>;

// What one call to next() produced, copied out of the tokenizer.
struct Outcome {
  Status status = Status::End;
  Fields fields;
  std::uint64_t start_line = 0;
  CsvProblem problem;
};

std::vector<Outcome> tokenize_stream(std::istream& in, CsvTokenizer::Limits limits = {}) {
  CsvTokenizer tokenizer(in, limits);
  CsvRow row;
  std::vector<Outcome> outcomes;
  for (;;) {
    Outcome outcome;
    outcome.status = tokenizer.next(row);
    if (outcome.status == Status::End) break;
    outcome.fields.assign(row.fields.begin(), row.fields.end());
    outcome.start_line = row.start_line;
    if (outcome.status != Status::Record) outcome.problem = tokenizer.problem();
    const bool fatal = outcome.status == Status::Fatal;
    outcomes.push_back(std::move(outcome));
    if (fatal) break;
  }
  return outcomes;
}

std::vector<Outcome> tokenize(std::string_view input, CsvTokenizer::Limits limits = {}) {
  std::istringstream in{std::string(input)};
  return tokenize_stream(in, limits);
}

// Records only; fails the test if anything else comes back.
std::vector<Fields> records(std::string_view input) {
  std::vector<Fields> result;
  for (const Outcome& outcome : tokenize(input)) {
    REQUIRE(outcome.status == Status::Record);
    result.push_back(outcome.fields);
  }
  return result;
}

std::vector<std::uint64_t> start_lines(std::string_view input) {
  std::vector<std::uint64_t> lines;
  for (const Outcome& outcome : tokenize(input)) lines.push_back(outcome.start_line);
  return lines;
}

bool same(const Outcome& a, const Outcome& b) {
  return a.status == b.status && a.fields == b.fields && a.start_line == b.start_line &&
         a.problem.line == b.problem.line && a.problem.column == b.problem.column &&
         a.problem.field == b.problem.field && a.problem.message == b.problem.message;
}

bool contains(std::string_view text, std::string_view part) {
  return text.find(part) != std::string_view::npos;
}

using testing::GeneratedInput;

}  // namespace

TEST_SUITE("csv_tokenizer") {
  TEST_CASE("plain records with line numbers") {
    const auto outcomes = tokenize("name,model\nAcme,X1\nBolt,Y2\n");
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0].fields == Fields{"name", "model"});
    CHECK(outcomes[1].fields == Fields{"Acme", "X1"});
    CHECK(outcomes[2].fields == Fields{"Bolt", "Y2"});
    CHECK(outcomes[0].start_line == 1);
    CHECK(outcomes[1].start_line == 2);
    CHECK(outcomes[2].start_line == 3);
  }

  TEST_CASE("quoted fields hold separators, escaped quotes and line breaks") {
    const auto outcomes = tokenize("\"a,b\",\"say \"\"hi\"\"\",\"line1\nline2\",plain\nnext,row\n");
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].status == Status::Record);
    CHECK(outcomes[0].fields == Fields{"a,b", "say \"hi\"", "line1\nline2", "plain"});
    CHECK(outcomes[0].start_line == 1);
    CHECK(outcomes[1].fields == Fields{"next", "row"});
    CHECK(outcomes[1].start_line == 3);
  }

  TEST_CASE("quote escapes at every position of a quoted field") {
    CHECK(records("\"\"\n") == std::vector<Fields>{{""}});
    CHECK(records("\"\"\"\"\n") == std::vector<Fields>{{"\""}});
    CHECK(records("\"\"\"a\",\"b\"\"\",\"a\"\"\"\"b\"\n") ==
          std::vector<Fields>{{"\"a", "b\"", "a\"\"b"}});
    CHECK(records("\"x\"\"y\"\"z\",\"\",q") == std::vector<Fields>{{"x\"y\"z", "", "q"}});
  }

  TEST_CASE("byte order mark is skipped only at the start") {
    CHECK(records("\xEF\xBB\xBF"
                  "a,b\nc,d\n") == std::vector<Fields>{{"a", "b"}, {"c", "d"}});
    CHECK(records("a,b\nc,d\n") == std::vector<Fields>{{"a", "b"}, {"c", "d"}});
    CHECK(records("x\n\xEF\xBB\xBFy\n") == std::vector<Fields>{{"x"}, {"\xEF\xBB\xBFy"}});
  }

  TEST_CASE("columns after a byte order mark count from the first character") {
    const auto outcomes = tokenize(
        "\xEF\xBB\xBF"
        "ab\"c\n");
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes[0].status == Status::BadRecord);
    CHECK(outcomes[0].problem.line == 1);
    CHECK(outcomes[0].problem.column == 3);
  }

  TEST_CASE("empty input and a lone byte order mark have no records") {
    CHECK(tokenize("").empty());
    CHECK(tokenize("\xEF\xBB\xBF").empty());
    CHECK(tokenize("\xEF\xBB\xBF\n\r\n").empty());
    CHECK(tokenize("\n\n\r\n\r").empty());

    std::istringstream in{std::string("\xEF\xBB\xBF")};
    CsvTokenizer tokenizer(in);
    CsvRow row;
    CHECK(tokenizer.next(row) == Status::End);
    CHECK(tokenizer.next(row) == Status::End);
    CHECK(tokenizer.bytes_consumed() == 3);
  }

  TEST_CASE("header only") {
    CHECK(records("manufacturer.name,product.brand,product.model\n") ==
          std::vector<Fields>{{"manufacturer.name", "product.brand", "product.model"}});
    CHECK(records("manufacturer.name,product.brand") ==
          std::vector<Fields>{{"manufacturer.name", "product.brand"}});
  }

  TEST_CASE("line terminators: LF, CRLF, lone CR and mixtures") {
    CHECK(records("a,b\nc,d\n") == std::vector<Fields>{{"a", "b"}, {"c", "d"}});
    CHECK(records("a,b\r\nc,d\r\n") == std::vector<Fields>{{"a", "b"}, {"c", "d"}});
    CHECK(records("a,b\rc,d\r") == std::vector<Fields>{{"a", "b"}, {"c", "d"}});
    CHECK(records("a\r\nb\nc\rd") == std::vector<Fields>{{"a"}, {"b"}, {"c"}, {"d"}});
    CHECK(start_lines("a\r\nb\nc\rd") == std::vector<std::uint64_t>{1, 2, 3, 4});
    CHECK(records("\"q\"\r\n\"r\"\r\"s\"\n") == std::vector<Fields>{{"q"}, {"r"}, {"s"}});
  }

  TEST_CASE("last record without a line terminator") {
    CHECK(records("a,b\nc,d") == std::vector<Fields>{{"a", "b"}, {"c", "d"}});
    CHECK(records("a,\"b\"") == std::vector<Fields>{{"a", "b"}});
    CHECK(records("a,b\r") == std::vector<Fields>{{"a", "b"}});
  }

  TEST_CASE("empty fields") {
    CHECK(records("a,,b\n") == std::vector<Fields>{{"a", "", "b"}});
    CHECK(records("a,b,\n") == std::vector<Fields>{{"a", "b", ""}});
    CHECK(records("a,b,") == std::vector<Fields>{{"a", "b", ""}});
    CHECK(records("a,b,\r\n") == std::vector<Fields>{{"a", "b", ""}});
    CHECK(records(",\n") == std::vector<Fields>{{"", ""}});
    CHECK(records(",,,") == std::vector<Fields>{{"", "", "", ""}});
    CHECK(records("\"\",\"\"\n") == std::vector<Fields>{{"", ""}});
  }

  TEST_CASE("whitespace is data") {
    CHECK(records(" a , b \t\n") == std::vector<Fields>{{" a ", " b \t"}});
    CHECK(records(" \n") == std::vector<Fields>{{" "}});
  }

  TEST_CASE("empty lines are skipped and still counted") {
    const auto outcomes = tokenize("\n\na\n\r\n\nb\n\n");
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].fields == Fields{"a"});
    CHECK(outcomes[0].start_line == 3);
    CHECK(outcomes[1].fields == Fields{"b"});
    CHECK(outcomes[1].start_line == 6);
  }

  TEST_CASE("start_line across multi-line records") {
    const std::string input =
        "\"x\ny\nz\",1\n"  // lines 1-3
        "next\n"           // line 4
        "\"a\r\nb\"\r\n"   // lines 5-6, CRLF inside quotes is one line break
        "\"c\rd\"\n"       // lines 7-8, a lone CR inside quotes too
        "last\n";          // line 9
    const auto outcomes = tokenize(input);
    REQUIRE(outcomes.size() == 5);
    CHECK(outcomes[0].fields == Fields{"x\ny\nz", "1"});
    CHECK(outcomes[1].fields == Fields{"next"});
    CHECK(outcomes[2].fields == Fields{"a\r\nb"});
    CHECK(outcomes[3].fields == Fields{"c\rd"});
    CHECK(outcomes[4].fields == Fields{"last"});
    CHECK(outcomes[0].start_line == 1);
    CHECK(outcomes[1].start_line == 4);
    CHECK(outcomes[2].start_line == 5);
    CHECK(outcomes[3].start_line == 7);
    CHECK(outcomes[4].start_line == 9);
  }

  TEST_CASE("a record larger than one read, with a doubled quote split across the boundary") {
    constexpr std::size_t kReadBytes = 64 * 1024;
    // The opening quote is byte 0, so the first quote of the pair is the last byte of the first
    // read and the second quote the first byte of the next.
    const std::string head(kReadBytes - 2, 'h');
    const std::string tail(70 * 1024, 't');
    const std::string input = "\"" + head + "\"\"" + tail + "\",second\nafter,row\n";
    REQUIRE(input[kReadBytes - 1] == '"');
    REQUIRE(input[kReadBytes] == '"');

    std::istringstream in(input);
    CsvTokenizer tokenizer(in);
    CsvRow row;
    REQUIRE(tokenizer.next(row) == Status::Record);
    REQUIRE(row.fields.size() == 2);
    CHECK(row.fields[0].size() == head.size() + 1 + tail.size());
    CHECK(row.fields[0] == head + "\"" + tail);
    CHECK(row.fields[1] == "second");
    CHECK(row.start_line == 1);
    REQUIRE(tokenizer.next(row) == Status::Record);
    CHECK(row.fields == std::vector<std::string_view>{"after", "row"});
    CHECK(row.start_line == 2);
    CHECK(tokenizer.next(row) == Status::End);
    CHECK(tokenizer.bytes_consumed() == input.size());
  }

  TEST_CASE("results do not depend on where reads split the input") {
    const std::vector<std::string> inputs = {
        "\xEF\xBB\xBF"
        "a,b\r\nc,\"d\"\"e\"\r\n\r\n\"multi\nline\",x\rlast",
        "\"a\"\"\"\",\"\"\"\"\n\"\",,\"\n\"\n",
        "caf\xC3\xA9,\xE2\x82\xAC,\xF0\x9F\x98\x80\n\"\xF0\x9F\x98\x80\xC3\xA9\"\n",
        "ok\nbad\xE2\x82\n\"x\xF4\x90\x80\x80\",y\nok2\n",
        "a\"b\nc\n\"d\"e\nf\n\"g\"\r\n",
        "1234567890,1234567890,1234567890\n12345,\"6789\"\nabcdefghijkl\nxy\n",
        "\"\r\n\"\r\n\"\r\"\r\"\n\"\n",
        "a,\"unterminated\n\"\"more\n",
        "0123456789abc\xFF\nabcdefghijklmn\"x\nabcdefghijkl,,,,\nok\n",
    };
    CsvTokenizer::Limits limits;
    limits.max_record_bytes = 12;
    limits.max_fields = 3;
    for (const std::string& input : inputs) {
      CAPTURE(input);
      const auto reference = tokenize(input, limits);
      REQUIRE(!reference.empty());
      for (std::size_t chunk = 1; chunk <= 17; ++chunk) {
        CAPTURE(chunk);
        limits.read_chunk_bytes = chunk;
        const auto outcomes = tokenize(input, limits);
        REQUIRE(outcomes.size() == reference.size());
        for (std::size_t i = 0; i < outcomes.size(); ++i) CHECK(same(outcomes[i], reference[i]));
      }
      limits.read_chunk_bytes = 64 * 1024;
    }

    const auto first = tokenize(inputs[0]);
    REQUIRE(first.size() == 4);
    CHECK(first[1].fields == Fields{"c", "d\"e"});
    CHECK(first[2].fields == Fields{"multi\nline", "x"});
    CHECK(first[3].start_line == 6);
  }

  TEST_CASE("valid UTF-8 passes through unchanged") {
    CHECK(records("caf\xC3\xA9,\xE2\x82\xAC"
                  "5,\xF0\x9F\x98\x80,\xF4\x8F\xBF\xBF,\xED\x9F\xBF\n") ==
          std::vector<Fields>{{"caf\xC3\xA9",
                               "\xE2\x82\xAC"
                               "5",
                               "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF", "\xED\x9F\xBF"}});
    CHECK(records("\"\xC3\xA9\"\"\xC3\xA9\"\n") == std::vector<Fields>{{"\xC3\xA9\"\xC3\xA9"}});
  }

  TEST_CASE("invalid UTF-8 is a bad record naming line and column") {
    struct Case {
      std::string bad_line;
      std::uint64_t column;
      std::string complaint;
    };
    const std::vector<Case> cases = {
        {"ab,c\xC0\xAF", 5, "overlong encoding"},
        {"ab,c\xE0\x80\xAF", 5, "overlong encoding"},
        {"ab,c\xF0\x80\x80\xAF", 5, "overlong encoding"},
        {"ab,c\xED\xA0\x80", 5, "surrogate"},
        {"ab,c\xF4\x90\x80\x80", 5, "above U+10FFFF"},
        {"ab,c\xF5\x80\x80\x80", 5, "above U+10FFFF"},
        {"ab,c\xFF", 5, "never occurs"},
        {"ab,c\xE2\x82,d", 5, "truncated"},
        {"ab,c\xC3", 5, "truncated"},
        {"ab,\x80", 4, "unexpected continuation byte"},
        {"\"a\",\"b\xE2\x82\"", 7, "truncated"},
    };
    for (const Case& test : cases) {
      const std::string input = "first\n" + test.bad_line + "\nthird,ok\n";
      CAPTURE(input);
      const auto outcomes = tokenize(input);
      REQUIRE(outcomes.size() == 3);
      CHECK(outcomes[0].fields == Fields{"first"});
      CHECK(outcomes[1].status == Status::BadRecord);
      CHECK(outcomes[1].start_line == 2);
      CHECK(outcomes[1].problem.line == 2);
      CHECK(outcomes[1].problem.column == test.column);
      CHECK(outcomes[1].problem.field == 1);
      CHECK(contains(outcomes[1].problem.message, "invalid UTF-8"));
      CHECK(contains(outcomes[1].problem.message, test.complaint));
      CHECK(outcomes[2].status == Status::Record);
      CHECK(outcomes[2].fields == Fields{"third", "ok"});
      CHECK(outcomes[2].start_line == 3);
    }
  }

  TEST_CASE("NUL is text: it passes through, to be judged by whoever reads the fields") {
    const auto outcomes = tokenize(std::string("a\0b,\"\0\"\n\0\n", 10));
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].status == Status::Record);
    CHECK(outcomes[0].fields == Fields{std::string("a\0b", 3), std::string(1, '\0')});
    CHECK(outcomes[1].fields == Fields{std::string(1, '\0')});
  }

  TEST_CASE("a problem names the field it is in") {
    const auto outcomes = tokenize("a,b,c\xFF,d\nw,\"x\"y,z\n\"p\nq\",r\"s\n");
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0].problem.field == 2);
    CHECK(outcomes[0].problem.column == 6);
    CHECK(outcomes[1].problem.field == 1);
    CHECK(outcomes[1].problem.column == 6);
    CHECK(outcomes[2].problem.field == 1);
    CHECK(outcomes[2].problem.line == 4);
    CHECK(outcomes[2].problem.column == 5);
    CHECK(contains(outcomes[2].problem.message, "quote inside an unquoted field"));
  }

  TEST_CASE("truncated UTF-8 at the end of input") {
    const auto outcomes = tokenize("ok\nab\xF0\x9F\x98");
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[1].status == Status::BadRecord);
    CHECK(outcomes[1].problem.line == 2);
    CHECK(outcomes[1].problem.column == 3);
    CHECK(outcomes[1].problem.message == "invalid UTF-8 text: truncated multi-byte sequence");
  }

  TEST_CASE("invalid UTF-8 inside a multi-line quoted field skips the whole record") {
    const auto outcomes = tokenize("\"a\n\xFF\nb,\"\"c\"\"\nd\"\nnext,1\n");
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].status == Status::BadRecord);
    CHECK(outcomes[0].start_line == 1);
    CHECK(outcomes[0].problem.line == 2);
    CHECK(outcomes[0].problem.column == 1);
    CHECK(outcomes[1].status == Status::Record);
    CHECK(outcomes[1].fields == Fields{"next", "1"});
    CHECK(outcomes[1].start_line == 5);
  }

  TEST_CASE("a quote inside an unquoted field") {
    const auto outcomes = tokenize("a,b\nab\"c,d\nx,\"y\"\n");
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0].fields == Fields{"a", "b"});
    CHECK(outcomes[1].status == Status::BadRecord);
    CHECK(outcomes[1].fields.empty());
    CHECK(outcomes[1].start_line == 2);
    CHECK(outcomes[1].problem.line == 2);
    CHECK(outcomes[1].problem.column == 3);
    CHECK(contains(outcomes[1].problem.message, "quote inside an unquoted field"));
    CHECK(outcomes[2].fields == Fields{"x", "y"});
    CHECK(outcomes[2].start_line == 3);

    const auto leading_space = tokenize(" \"a\",b\nc\n");
    REQUIRE(leading_space.size() == 2);
    CHECK(leading_space[0].status == Status::BadRecord);
    CHECK(leading_space[0].problem.column == 2);
    CHECK(leading_space[1].fields == Fields{"c"});
  }

  TEST_CASE("garbage after a closing quote") {
    const auto outcomes = tokenize("\"ab\"x,d\nnext\n");
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].status == Status::BadRecord);
    CHECK(outcomes[0].problem.line == 1);
    CHECK(outcomes[0].problem.column == 5);
    CHECK(outcomes[0].problem.message ==
          "unexpected 'x' after a closing quote (expected a comma or the end of the line)");
    CHECK(outcomes[1].fields == Fields{"next"});
    CHECK(outcomes[1].start_line == 2);

    const auto multi_line = tokenize("\"a\nb\" ,c\nnext\n");
    REQUIRE(multi_line.size() == 2);
    CHECK(multi_line[0].status == Status::BadRecord);
    CHECK(multi_line[0].start_line == 1);
    CHECK(multi_line[0].problem.line == 2);
    CHECK(multi_line[0].problem.column == 3);
    CHECK(contains(multi_line[0].problem.message, "unexpected space after a closing quote"));
    CHECK(multi_line[1].fields == Fields{"next"});
    CHECK(multi_line[1].start_line == 3);

    const auto binary = tokenize("\"a\"\x01\n");
    REQUIRE(binary.size() == 1);
    CHECK(contains(binary[0].problem.message, "byte 0x01"));
  }

  TEST_CASE("a record longer than the limit stops tokenizing at the field that crosses it") {
    CsvTokenizer::Limits limits;
    limits.max_record_bytes = 10;
    const auto outcomes = tokenize("0123456789\n\"12345678\"\n01234,6789A\nok\n", limits);
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[0].fields == Fields{"0123456789"});
    CHECK(outcomes[1].fields == Fields{"12345678"});
    CHECK(outcomes[2].status == Status::Fatal);
    CHECK(outcomes[2].start_line == 3);
    CHECK(outcomes[2].problem.line == 3);
    CHECK(outcomes[2].problem.column == 7);
    CHECK(outcomes[2].problem.field == 1);
    CHECK(outcomes[2].problem.message == "record longer than 10 bytes (the limit for one record)");

    // The separator counts: "0123456789," is 11 bytes, whatever follows it.
    const auto separator = tokenize("0123456789,\n", limits);
    REQUIRE(separator.size() == 1);
    CHECK(separator[0].status == Status::Fatal);
    CHECK(separator[0].problem.field == 1);

    // A closing quote that makes the record too long, and one just within the limit.
    const auto closing = tokenize("\"123456789\"\n", limits);
    REQUIRE(closing.size() == 1);
    CHECK(closing[0].status == Status::Fatal);
    CHECK(closing[0].problem.field == 0);
    CHECK(closing[0].problem.column == 1);
    CHECK(records("\"12345678\"\r\n") == std::vector<Fields>{{"12345678"}});
  }

  TEST_CASE("the field that crosses the limit is named with the line where it starts") {
    CsvTokenizer::Limits limits;
    limits.max_record_bytes = 20;
    const auto outcomes = tokenize("a,\"b\nc\",\"d\ne\nfghijklmnopqrstu\"\n", limits);
    REQUIRE(outcomes.size() == 1);
    CHECK(outcomes[0].status == Status::Fatal);
    CHECK(outcomes[0].start_line == 1);
    CHECK(outcomes[0].problem.line == 2);
    CHECK(outcomes[0].problem.column == 4);
    CHECK(outcomes[0].problem.field == 2);
    CHECK(outcomes[0].problem.message ==
          "record longer than 20 bytes (the limit for one record), from line 1, in a quoted "
          "field (is a closing quote missing?)");
  }

  TEST_CASE("a record already known to be bad still stops tokenizing at the limit") {
    CsvTokenizer::Limits limits;
    limits.max_record_bytes = 12;
    // Invalid UTF-8, a stray quote, garbage after a closing quote: each would skip to the end of
    // the record, which lies beyond the limit.
    for (const std::string bad : {"ab\xFF,0123456789\nok\n", "ab\"c0123456789\nok\n",
                                  "\"ab\"x0123456789\nok\n", "0123456789abc\xFF\nok\n"}) {
      CAPTURE(bad);
      const auto outcomes = tokenize(bad, limits);
      REQUIRE(outcomes.size() == 1);
      CHECK(outcomes[0].status == Status::Fatal);
      CHECK(outcomes[0].problem.line == 1);
      CHECK(outcomes[0].problem.message ==
            "record longer than 12 bytes (the limit for one record)");
    }
    // Within the limit, the same problems reject only their record.
    const auto short_bad = tokenize("ab\xFF,cd\nok\n", limits);
    REQUIRE(short_bad.size() == 2);
    CHECK(short_bad[0].status == Status::BadRecord);
    CHECK(short_bad[1].fields == Fields{"ok"});
  }

  TEST_CASE("a record that never ends is read no further than the limit, in bounded memory") {
    CsvTokenizer::Limits limits;
    limits.max_record_bytes = 1000;
    const std::size_t buffer_bound = limits.max_record_bytes + limits.read_chunk_bytes + 8;
    // At most this much of the stream is read: the record up to the limit, and one read more.
    const std::uint64_t read_bound = 7 + limits.max_record_bytes + limits.read_chunk_bytes;

    SUBCASE("unquoted") {
      GeneratedInput source("before\n", "0123456789,", 5'000'000, "end\nafter,1\n");
      std::istream in(&source);
      CsvTokenizer tokenizer(in, limits);
      CsvRow row;
      REQUIRE(tokenizer.next(row) == Status::Record);
      CHECK(row.fields == std::vector<std::string_view>{"before"});
      REQUIRE(tokenizer.next(row) == Status::Fatal);
      CHECK(row.start_line == 2);
      CHECK(tokenizer.problem().line == 2);
      CHECK(tokenizer.problem().field == 91);
      CHECK(tokenizer.problem().column == 1002);
      CHECK(tokenizer.problem().message ==
            "record longer than 1000 bytes (the limit for one record)");
      CHECK(tokenizer.buffer_capacity() <= buffer_bound);
      CHECK(tokenizer.bytes_consumed() <= read_bound);
      CHECK(tokenizer.next(row) == Status::End);
    }

    SUBCASE("NUL bytes without a line break") {
      GeneratedInput source("", std::string(1, '\0'), 200'000'000, "");
      std::istream in(&source);
      CsvTokenizer tokenizer(in, limits);
      CsvRow row;
      REQUIRE(tokenizer.next(row) == Status::Fatal);
      CHECK(tokenizer.problem().line == 1);
      CHECK(tokenizer.problem().field == 0);
      CHECK(tokenizer.buffer_capacity() <= buffer_bound);
      CHECK(tokenizer.bytes_consumed() <= read_bound);
    }

    SUBCASE("quoted, with line breaks and doubled quotes inside") {
      GeneratedInput source("\"", "ab\"\"c,\nd\r\n", 5'000'000, "\",x\nafter,2\n");
      std::istream in(&source);
      CsvTokenizer tokenizer(in, limits);
      CsvRow row;
      REQUIRE(tokenizer.next(row) == Status::Fatal);
      CHECK(row.start_line == 1);
      CHECK(tokenizer.problem().line == 1);
      CHECK(tokenizer.problem().message ==
            "record longer than 1000 bytes (the limit for one record), in a quoted field (is a "
            "closing quote missing?)");
      CHECK(tokenizer.buffer_capacity() <= buffer_bound);
      CHECK(tokenizer.bytes_consumed() <= read_bound);
    }

    SUBCASE("an unterminated quoted field shorter than the limit is fatal at the end of input") {
      GeneratedInput source("a,\"", "xyz\"\"\n", 100, "");
      std::istream in(&source);
      CsvTokenizer tokenizer(in, limits);
      CsvRow row;
      REQUIRE(tokenizer.next(row) == Status::Fatal);
      CHECK(tokenizer.problem().line == 1);
      CHECK(tokenizer.problem().column == 3);
      CHECK(tokenizer.problem().field == 1);
      CHECK(tokenizer.problem().message == "unterminated quoted field opened at line 1");
      CHECK(tokenizer.next(row) == Status::End);
    }
  }

  TEST_CASE("a record of the maximum size is accepted, one byte more is not") {
    CsvTokenizer::Limits limits;
    limits.max_record_bytes = 200 * 1024;
    const std::string big(limits.max_record_bytes - 2, 'b');
    const auto outcomes = tokenize("\"" + big + "\"\r\n\"" + big + "x\"\r\nok\r\n", limits);
    REQUIRE(outcomes.size() == 2);
    CHECK(outcomes[0].status == Status::Record);
    CHECK(outcomes[0].fields == Fields{big});
    CHECK(outcomes[1].status == Status::Fatal);
    CHECK(outcomes[1].start_line == 2);
    CHECK(outcomes[1].problem.message ==
          "record longer than 204800 bytes (the limit for one record)");
  }

  TEST_CASE("field count limit") {
    CsvTokenizer::Limits limits;
    limits.max_fields = 3;
    const auto outcomes = tokenize("a,b,c\na,b,c,d\n\"x\ny\",b,c,\"d\ne\"\nok\n", limits);
    REQUIRE(outcomes.size() == 4);
    CHECK(outcomes[0].fields == Fields{"a", "b", "c"});
    CHECK(outcomes[1].status == Status::BadRecord);
    CHECK(outcomes[1].problem.line == 2);
    CHECK(outcomes[1].problem.column == 7);
    CHECK(outcomes[1].problem.message == "record has more than 3 fields");
    CHECK(outcomes[2].status == Status::BadRecord);
    CHECK(outcomes[2].start_line == 3);
    CHECK(outcomes[2].problem.line == 4);
    CHECK(outcomes[2].problem.column == 8);
    CHECK(outcomes[3].fields == Fields{"ok"});
    CHECK(outcomes[3].start_line == 6);
  }

  TEST_CASE("an unterminated quoted field is fatal") {
    std::istringstream in("a,b\nc,\"never closed\nmore,text\n");
    CsvTokenizer tokenizer(in);
    CsvRow row;
    REQUIRE(tokenizer.next(row) == Status::Record);
    CHECK(row.fields == std::vector<std::string_view>{"a", "b"});
    REQUIRE(tokenizer.next(row) == Status::Fatal);
    CHECK(row.start_line == 2);
    CHECK(tokenizer.problem().line == 2);
    CHECK(tokenizer.problem().column == 3);
    CHECK(tokenizer.problem().message == "unterminated quoted field opened at line 2");
    CHECK(tokenizer.next(row) == Status::End);
    CHECK(tokenizer.next(row) == Status::End);

    const auto lone_quote = tokenize("x\n\"");
    REQUIRE(lone_quote.size() == 2);
    CHECK(lone_quote[1].status == Status::Fatal);
    CHECK(lone_quote[1].problem.message == "unterminated quoted field opened at line 2");
  }

  TEST_CASE("many records") {
    constexpr int kRows = 100'000;
    std::string input = "id,name,note\n";
    for (int i = 0; i < kRows; ++i) {
      input += std::to_string(i) + ",name " + std::to_string(i) + ",\"note, \"\"" +
               std::to_string(i * 7) + "\"\"\"\n";
    }
    std::istringstream in(input);
    CsvTokenizer tokenizer(in);
    CsvRow row;
    REQUIRE(tokenizer.next(row) == Status::Record);
    int count = 0;
    int mismatches = 0;
    while (tokenizer.next(row) == Status::Record) {
      const bool matches = row.fields.size() == 3 && row.fields[0] == std::to_string(count) &&
                           row.fields[1] == "name " + std::to_string(count) &&
                           row.fields[2] == "note, \"" + std::to_string(count * 7) + "\"" &&
                           row.start_line == static_cast<std::uint64_t>(count) + 2;
      if (!matches) ++mismatches;
      ++count;
    }
    CHECK(count == kRows);
    CHECK(mismatches == 0);
    CHECK(tokenizer.bytes_consumed() == input.size());
  }

  TEST_CASE("bytes_consumed reports progress") {
    std::istringstream in("ab,c\r\n\"d\ne\",f\n");
    CsvTokenizer tokenizer(in);
    CsvRow row;
    CHECK(tokenizer.bytes_consumed() == 0);
    REQUIRE(tokenizer.next(row) == Status::Record);
    CHECK(tokenizer.bytes_consumed() == 6);
    REQUIRE(tokenizer.next(row) == Status::Record);
    CHECK(tokenizer.bytes_consumed() == 14);
    CHECK(tokenizer.next(row) == Status::End);
  }

  TEST_CASE("a stream that throws on failure does not make the tokenizer throw") {
    std::istringstream in("a,b\nc");
    in.exceptions(std::ios::failbit | std::ios::badbit | std::ios::eofbit);
    CsvTokenizer tokenizer(in);
    CsvRow row;
    REQUIRE(tokenizer.next(row) == Status::Record);
    CHECK(row.fields == std::vector<std::string_view>{"a", "b"});
    REQUIRE(tokenizer.next(row) == Status::Record);
    CHECK(row.fields == std::vector<std::string_view>{"c"});
    CHECK(tokenizer.next(row) == Status::End);
  }
}

}  // namespace iotreg::importers
