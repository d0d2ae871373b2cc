// The four readers on valid and hostile input: what is accepted, what is rejected, and where.
#include <doctest/doctest.h>

#include <string>

#include "importers/text_encoding.h"
#include "support/collecting_sink.h"
#include "support/generated_input.h"

namespace iotreg::importers {
namespace {

using testing::read_text;

const std::string kCsvHeader = "manufacturer.name,product.brand,product.model";
const std::string kMinimalJson =
    R"({"manufacturer":{"name":"Acme Ltd"},"product":{"brand":"Acme","model":"X1"}})";

// The same declaration in every format; all must give kFullCanonical.
const std::string kFullCsv =
    "\xEF\xBB\xBF"
    "manufacturer.name,manufacturer.address,product.brand,product.model,product.cellular,"
    "passwords.examples,vulnerability.acknowledge_days,support.end_date\r\n"
    "Acme Ltd,\"1 High St, \"\"Unit 2\"\"\nLeeds\",Acme,X1,yes,a|b\\|c,5,2030-12-31\r\n";
const std::string kFullJson =
    R"({"manufacturer":{"name":"Acme Ltd","address":"1 High St, \"Unit 2\"\nLeeds"},)"
    R"("product":{"brand":"Acme","model":"X1","cellular":true},)"
    R"("passwords":{"examples":["a","b|c"]},"vulnerability":{"acknowledge_days":5},)"
    R"("support":{"end_date":"2030-12-31"}})";
const std::string kFullYaml =
    "manufacturer:\n  name: Acme Ltd\n  address: \"1 High St, \\\"Unit 2\\\"\\nLeeds\"\n"
    "product:\n  brand: Acme\n  model: X1\n  cellular: yes\n"
    "passwords:\n  examples: [a, \"b|c\"]\nvulnerability:\n  acknowledge_days: 5\n"
    "support:\n  end_date: 2030-12-31\n";
const std::string kFullCanonical =
    R"({"manufacturer":{"name":"Acme Ltd","address":"1 High St, \"Unit 2\"\nLeeds"},)"
    R"("product":{"brand":"Acme","model":"X1","cellular":true},)"
    R"("passwords":{"examples":["a","b|c"]},"vulnerability":{"acknowledge_days":5},)"
    R"("support":{"end_date":"2030-12-31"}})";

}  // namespace

TEST_SUITE("readers") {
  TEST_CASE("every format yields the same record") {
    auto csv = read_text(kFullCsv, Format::kCsv);
    auto jsonl = read_text(kFullJson + "\n", Format::kJsonLines);
    auto json = read_text("[" + kFullJson + "]", Format::kJson);
    auto yaml = read_text(kFullYaml, Format::kYaml);
    for (auto* result : {&csv, &jsonl, &json, &yaml}) {
      CHECK(result->status.is_ok());
      REQUIRE(result->sink.accepted.size() == 1);
      CHECK(result->sink.rejected.empty());
      CHECK(result->sink.accepted[0].canonical_json == kFullCanonical);
    }
  }

  TEST_CASE("csv: record start lines across quoted newlines") {
    auto result = read_text(kCsvHeader + "\nA,B,\"multi\nline\nmodel\"\nA,B,C\n", Format::kCsv);
    REQUIRE(result.sink.accepted.size() == 2);
    CHECK(result.sink.accepted[0].where.line == 2);
    CHECK(result.sink.accepted[1].where.line == 5);
    CHECK(result.sink.accepted[1].where.ordinal == 2);
  }

  TEST_CASE("csv: empty file and header-only file hold no records") {
    auto empty = read_text("", Format::kCsv);
    CHECK(empty.status.is_ok());
    CHECK(empty.sink.accepted.empty());
    auto header_only = read_text(kCsvHeader + "\n", Format::kCsv);
    CHECK(header_only.status.is_ok());
    CHECK(header_only.sink.accepted.empty());
    CHECK(header_only.sink.rejected.empty());
  }

  TEST_CASE("csv: an unknown column refuses the file, naming the column") {
    auto result = read_text(kCsvHeader + ",suport.end_date\nA,B,C,2030-01-01\n", Format::kCsv);
    CHECK_FALSE(result.status.is_ok());
    CHECK(result.status.message().find("unknown column 'suport.end_date'") != std::string::npos);
    CHECK(result.status.message().find("column 4") != std::string::npos);
    CHECK(result.sink.accepted.empty());
  }

  TEST_CASE("csv: a repeated column refuses the file") {
    auto result = read_text(kCsvHeader + ",product.model\nA,B,C,D\n", Format::kCsv);
    CHECK_FALSE(result.status.is_ok());
    CHECK(result.status.message().find("appears twice") != std::string::npos);
  }

  TEST_CASE("csv: optional columns may be left out") {
    auto result =
        read_text("product.model,manufacturer.name,product.brand\nM,Maker,Brand\n", Format::kCsv);
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].canonical_json ==
          R"({"manufacturer":{"name":"Maker"},"product":{"brand":"Brand","model":"M"}})");
  }

  TEST_CASE("csv: row-level problems reject only that row, with line and field") {
    std::string text = kCsvHeader +
                       ",vulnerability.acknowledge_days,product.gtin,passwords.default,"
                       "support.end_date,manufacturer.email\n"
                       "A,B,ok,5,4006381333931,none,2028-02-29,a@b.example\n"  // line 2: fine
                       "A,B,,5,,,,\n"                                          // 3: no model
                       "A,B,t,soon,,,,\n"                                      // 4: wrong type
                       "A,B,g,,4006381333932,,,\n"                             // 5: check digit
                       "A,B,e,,,shared,,\n"                                    // 6: enum
                       "A,B,d,,,,2027-02-29,\n"                                // 7: no leap day
                       "A,B,m,,,,,not-an-email\n"                              // 8: e-mail
                       "A,B,n,1,2\n";                                          // 9: field count
    auto result = read_text(text, Format::kCsv);
    CHECK(result.status.is_ok());
    REQUIRE(result.sink.accepted.size() == 1);
    REQUIRE(result.sink.rejected.size() == 7);
    auto& rejected = result.sink.rejected;
    CHECK(rejected[0].where.line == 3);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{"product.model: required field missing"});
    CHECK(rejected[1].where.line == 4);
    CHECK(result.sink.issues(1) ==
          std::vector<std::string>{
              "vulnerability.acknowledge_days: expected an integer, got 'soon'"});
    CHECK(result.sink.issues(2) ==
          std::vector<std::string>{"product.gtin: '4006381333932' has a wrong check digit: "
                                   "expected 1, found 2"});
    CHECK(result.sink.issues(3)[0].find("passwords.default: 'shared' is not one of") == 0);
    CHECK(result.sink.issues(4) ==
          std::vector<std::string>{"support.end_date: '2027-02-29' does not exist: 2027 is not "
                                   "a leap year"});
    CHECK(result.sink.issues(5) ==
          std::vector<std::string>{"manufacturer.email: 'not-an-email' is not an e-mail address"});
    CHECK(rejected[6].where.line == 9);
    CHECK(result.sink.issues(6)[0].find("has 5 fields but the header has 8") != std::string::npos);
  }

  TEST_CASE("csv: invalid UTF-8 rejects the row") {
    auto result = read_text(kCsvHeader + "\nA,B\xC3\x28,C\nA,B,D\n", Format::kCsv);
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.rejected[0].where.line == 2);
    CHECK(result.sink.issues(0)[0].find("UTF-8") != std::string::npos);
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].where.line == 3);
  }

  TEST_CASE("every format: bytes that are not UTF-8 are one issue, with the field and a hint") {
    const std::string hint =
        "the file is not UTF-8: save it as \"CSV UTF-8\" (Excel) or UTF-8, "
        "or import it with --encoding windows-1252";
    struct Case {
      Format format;
      std::string text;
      std::string field;  // the issue's field, where the format can tell it
    };
    const Case cases[] = {
        {Format::kCsv, kCsvHeader + "\nDom\xF3tica,B,C\n", "manufacturer.name"},
        {Format::kJsonLines,
         R"({"manufacturer":{"name":"Dom)"
         "\xF3"
         R"(tica"},"product":{"brand":"B","model":"C"}})",
         ""},
        {Format::kYaml, "manufacturer: {name: \"Dom\xF3tica\"}\nproduct: {brand: B, model: C}\n",
         "manufacturer.name"},
    };
    for (const auto& [format, text, field] : cases) {
      CAPTURE(format_name(format));
      auto result = read_text(text, format);
      REQUIRE(result.sink.rejected.size() == 1);
      REQUIRE(result.sink.rejected[0].issues.size() == 1);
      CHECK(result.sink.rejected[0].issues[0].field == field);
      CHECK(result.sink.rejected[0].issues[0].reason.find(hint) != std::string::npos);
    }
  }

  TEST_CASE("csv: an unterminated quote stops the file and earlier rows stay accepted") {
    auto result = read_text(kCsvHeader + "\nA,B,C\nA,B,\"open\nD,E,F\n", Format::kCsv);
    CHECK_FALSE(result.status.is_ok());
    CHECK(result.status.message().find("line 3") != std::string::npos);
    CHECK(result.sink.accepted.size() == 1);
  }

  TEST_CASE("csv: a record over the size limit stops the file, naming the line and column") {
    ReaderLimits limits;
    limits.max_record_bytes = 1024;
    const std::string huge(5000, 'x');
    auto result =
        read_text(kCsvHeader + "\nA,B,C\nA,B," + huge + "\nA,B,D\n", Format::kCsv, limits);
    CHECK(result.status.message() ==
          "line 3, column 3 (product.model): record longer than 1024 bytes (the limit for one "
          "record); nothing from this record on was read");
    CHECK(result.sink.rejected.empty());
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].where.line == 2);

    // A quoted field: the line where it opens, and where its record starts.
    auto quoted =
        read_text(kCsvHeader + "\nA,\"B\nB\",\"" + huge + "\"\nA,B,D\n", Format::kCsv, limits);
    CHECK(quoted.status.message() ==
          "line 3, column 3 (product.model): record longer than 1024 bytes (the limit for one "
          "record), from line 2, in a quoted field (is a closing quote missing?); nothing from "
          "this record on was read");
    CHECK(quoted.sink.accepted.empty());

    // Past the header's columns, the column has no field path.
    auto extra = read_text(kCsvHeader + "\nA,B,C," + huge + "\n", Format::kCsv, limits);
    CHECK(extra.status.message() ==
          "line 2, column 4: record longer than 1024 bytes (the limit for one record); nothing "
          "from this record on was read");

    auto header = read_text(huge + "\n", Format::kCsv, limits);
    CHECK(header.status.message() ==
          "header line 1, column 1: record longer than 1024 bytes (the limit for one record); "
          "the file was not imported");
  }

  TEST_CASE("csv: a problem found by the tokenizer names the column's field and the byte") {
    auto result = read_text(kCsvHeader + "\nA,B\xC3\x28,C\nA,B,C,D\xFF\n", Format::kCsv);
    REQUIRE(result.sink.rejected.size() == 2);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{
              "product.brand: invalid UTF-8 text: truncated multi-byte sequence (byte 4 of the "
              "line)" +
              std::string(kNotUtf8Hint)});
    CHECK(result.sink.rejected[0].issues[0].line == 2);
    CHECK(result.sink.issues(1) ==
          std::vector<std::string>{
              ": invalid UTF-8 text: byte that never occurs in UTF-8 (column 4, byte 8 of the "
              "line)" +
              std::string(kNotUtf8Hint)});
  }

  TEST_CASE("csv: a field over the schema's maxLength is rejected with the field") {
    auto result = read_text(kCsvHeader + "\nA,B," + std::string(301, 'm') + "\n", Format::kCsv);
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{"product.model: is longer than 300 characters"});
  }

  TEST_CASE("jsonl: one record per line, blank lines skipped, bad lines rejected") {
    std::string text =
        kMinimalJson + "\n\n" +                     // lines 1, 2
        "{\"manufacturer\": {\"name\": \"A\"}\n" +  // 3: syntax
        R"({"manufacturer":{"name":"A","name":"B"},"product":{"brand":"x","model":"y"}})" +
        "\n" +  // 4: duplicate key
        R"({"manufacturer":{"name":"A"},"product":{"brand":"x","model":"y","colour":"red"}})" +
        "\n" +  // 5: unknown field
        R"({"manufacturer":{"name":"A"},"product":{"brand":"x","model":"y","cellular":"yes"}})" +
        "\n" +           // 6: wrong type
        kMinimalJson +   // 7: trailing garbage
        " x\n[1,2]\n" +  // 8: not an object
        kMinimalJson;    // 9: last line without newline
    auto result = read_text(text, Format::kJsonLines);
    CHECK(result.status.is_ok());
    REQUIRE(result.sink.accepted.size() == 2);
    CHECK(result.sink.accepted[0].where.line == 1);
    CHECK(result.sink.accepted[1].where.line == 9);
    REQUIRE(result.sink.rejected.size() == 6);
    CHECK(result.sink.rejected[0].where.line == 3);
    CHECK(result.sink.issues(0)[0].find(": not valid JSON: ") == 0);
    CHECK(
        result.sink.issues(1) ==
        std::vector<std::string>{"manufacturer.name: duplicate key (each field may appear once)"});
    CHECK(result.sink.issues(2) == std::vector<std::string>{"product.colour: unknown field"});
    CHECK(result.sink.issues(3) ==
          std::vector<std::string>{"product.cellular: expected a boolean, got text"});
    CHECK(result.sink.rejected[4].where.line == 7);
    CHECK(result.sink.issues(5) ==
          std::vector<std::string>{": a declaration must be an object, got a list"});
  }

  TEST_CASE("jsonl: invalid UTF-8 is rejected; a line over the size limit stops the file") {
    ReaderLimits limits;
    limits.max_record_bytes = 200;
    std::string bad_utf8 = R"({"manufacturer":{"name":"A)"
                           "\xFF"
                           R"("},"product":{"brand":"x","model":"y"}})";
    std::string long_line = R"({"product":{"brand":"x"},"manufacturer":{"address":")" +
                            std::string(300, 'a') + R"("}})";
    auto result =
        read_text(kMinimalJson + "\n" + bad_utf8 + "\n" + long_line + "\n" + kMinimalJson + "\n",
                  Format::kJsonLines, limits);
    CHECK(result.status.message() ==
          "line 3, field manufacturer.address: record longer than 200 bytes (the limit for one "
          "record); nothing from this line on was read");
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.rejected[0].where.line == 2);
    CHECK(result.sink.issues(0)[0].find(": not valid JSON: ") == 0);
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].where.line == 1);

    // The limit is on the line without its terminator: CR LF after 200 bytes is fine.
    const std::string exact = kMinimalJson + std::string(200 - kMinimalJson.size(), ' ');
    auto fits = read_text(exact + "\r\n" + exact, Format::kJsonLines, limits);
    CHECK(fits.status.is_ok());
    CHECK(fits.sink.accepted.size() == 2);
  }

  TEST_CASE("json: a single object, or an array with per-element results") {
    auto single = read_text(kMinimalJson, Format::kJson);
    REQUIRE(single.sink.accepted.size() == 1);
    CHECK_FALSE(single.sink.accepted[0].where.array_index.has_value());

    auto array =
        read_text("[" + kMinimalJson + ",{\"product\":{}}," + kMinimalJson + "]", Format::kJson);
    CHECK(array.status.is_ok());
    REQUIRE(array.sink.accepted.size() == 2);
    CHECK(*array.sink.accepted[0].where.array_index == 0);
    CHECK(*array.sink.accepted[1].where.array_index == 2);
    REQUIRE(array.sink.rejected.size() == 1);
    CHECK(*array.sink.rejected[0].where.array_index == 1);
    CHECK(array.sink.issues(0) ==
          std::vector<std::string>{"manufacturer: required field missing",
                                   "product.brand: required field missing",
                                   "product.model: required field missing"});

    auto empty_array = read_text("[]", Format::kJson);
    CHECK(empty_array.status.is_ok());
    CHECK(empty_array.sink.accepted.empty());
  }

  TEST_CASE("json: truncated and malformed files") {
    auto truncated =
        read_text("[" + kMinimalJson + "," + kMinimalJson.substr(0, 20), Format::kJson);
    CHECK_FALSE(truncated.status.is_ok());
    CHECK(truncated.status.message().find("1 record(s) before this point") != std::string::npos);
    CHECK(truncated.sink.accepted.size() == 1);

    auto trailing = read_text(kMinimalJson + kMinimalJson, Format::kJson);
    CHECK_FALSE(trailing.status.is_ok());
    CHECK(trailing.sink.accepted.empty());  // a lone object is only taken once the file is whole
    CHECK(trailing.status.message().find("JSON Lines") != std::string::npos);

    auto empty = read_text("", Format::kJson);
    CHECK_FALSE(empty.status.is_ok());
    CHECK(empty.sink.accepted.empty());

    auto scalar = read_text("42", Format::kJson);
    REQUIRE(scalar.sink.rejected.size() == 1);
    CHECK(scalar.sink.issues(0)[0] == ": a declaration must be an object, got an integer");
  }

  TEST_CASE("yaml: documents, numbers and lines") {
    std::string text =
        "---\nmanufacturer: {name: A}\nproduct: {brand: B, model: C}\n"
        "---\n"  // document 2 (line 4): problems
        "manufacturer:\n  name: A\nproduct:\n  brand: B\n  model: D\n"
        "vulnerability:\n  acknowledge_days: \"5\"\nsuport:\n  end_date: 2030-01-01\n"
        "---\n"  // document 3: empty, skipped
        "---\nmanufacturer: {name: A}\nproduct: {brand: B, model: E, cellular: no}\n";
    auto result = read_text(text, Format::kYaml);
    CHECK(result.status.is_ok());
    REQUIRE(result.sink.accepted.size() == 2);
    CHECK(*result.sink.accepted[0].where.document_number == 1);
    CHECK(*result.sink.accepted[1].where.document_number == 4);
    CHECK(result.sink.accepted[1].canonical_json ==
          R"({"manufacturer":{"name":"A"},"product":{"brand":"B","model":"E","cellular":false}})");
    REQUIRE(result.sink.rejected.size() == 1);
    const auto& rejected = result.sink.rejected[0];
    CHECK(*rejected.where.document_number == 2);
    CHECK(rejected.where.line == 4);
    REQUIRE(rejected.issues.size() == 2);
    CHECK(rejected.issues[0].field == "vulnerability.acknowledge_days");
    CHECK(rejected.issues[0].reason == "expected an integer, got text");
    CHECK(rejected.issues[0].line == 11);
    CHECK(rejected.issues[1].field == "suport");
    CHECK(rejected.issues[1].reason == "unknown field; did you mean support?");
    CHECK(rejected.issues[1].line == 12);
  }

  TEST_CASE("yaml: duplicate keys and aliases are rejected") {
    auto result = read_text(
        "manufacturer: {name: A, name: B}\nproduct: {brand: B, model: C}\n---\n"
        "manufacturer: &m {name: A}\nproduct: {brand: B, model: *m}\n",
        Format::kYaml);
    REQUIRE(result.sink.rejected.size() == 2);
    CHECK(result.sink.rejected[0].issues[0].field == "manufacturer.name");
    CHECK(result.sink.rejected[0].issues[0].reason.find("duplicate key") == 0);
    CHECK(result.sink.rejected[1].issues[0].reason.find("aliases") == 0);
    CHECK(result.sink.accepted.empty());
  }

  TEST_CASE("yaml: keys that are not text are rejected, however deeply they nest") {
    auto result = read_text(
        "manufacturer: {name: A}\nproduct: {brand: B, model: [[[[x]: 1]: 2]: 3]}\n", Format::kYaml);
    CHECK(result.status.is_ok());
    CHECK(result.sink.accepted.empty());
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.rejected[0].issues[0].reason == "a key must be plain text");
  }

  TEST_CASE("yaml: a document nested deeper than 32 levels is rejected naming the level") {
    std::string text = "manufacturer:\n";
    std::string indent = "  ";
    for (int level = 0; level < 40; ++level) {
      text += indent + "k" + std::to_string(level) + ":\n";
      indent += "  ";
    }
    text += indent + "leaf: 1\n";
    auto result = read_text(text, Format::kYaml);
    CHECK(result.sink.accepted.empty());
    REQUIRE(result.sink.rejected.size() == 1);
    bool named = false;
    for (const auto& issue : result.sink.rejected[0].issues) {
      named = named || issue.reason == "nested deeper than 32 levels";
    }
    CHECK(named);
  }

  TEST_CASE("yaml: a document the YAML parser cannot get past is rejected, not looped on") {
    auto result = read_text(
        "manufacturer: {name: A}\nproduct: {brand: B, model: C}\n---\n,a: x\n---\n"
        "manufacturer: {name: A}\nproduct: {brand: B, model: D}\n",
        Format::kYaml);
    CHECK(result.status.is_ok());
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.rejected[0].where.line == 4);
    REQUIRE(result.sink.rejected[0].issues.size() == 1);
    CHECK(result.sink.rejected[0].issues[0].line == 4);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{": not valid YAML: the parser cannot go on from column 1 (is "
                                   "there a ',' or other flow indicator outside brackets?)"});
    REQUIRE(result.sink.accepted.size() == 2);
    CHECK(result.sink.accepted[1].where.line == 5);
  }

  TEST_CASE("yaml: a document that is not valid YAML is rejected alone") {
    auto result = read_text(
        "manufacturer: {name: A}\nproduct: {brand: B, model: C}\n---\nproduct: [unclosed\n"
        "---\nmanufacturer: {name: A}\nproduct: {brand: B, model: D}\n",
        Format::kYaml);
    CHECK(result.status.is_ok());
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(*result.sink.rejected[0].where.document_number == 2);
    CHECK(result.sink.rejected[0].where.line == 3);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{": not valid YAML: end of sequence flow not found (column 1)"});
    REQUIRE(result.sink.accepted.size() == 2);
    CHECK(*result.sink.accepted[1].where.document_number == 3);
  }

  TEST_CASE("yaml: among thousands of documents, broken ones are rejected alone, with lines") {
    // Four lines a document: more than one batch of parsing, and failures in the middle of them.
    std::string text;
    std::vector<std::uint64_t> broken_lines;
    for (int i = 0; i < 3000; ++i) {
      const std::uint64_t line = 4 * static_cast<std::uint64_t>(i) + 1;
      text += "---\nmanufacturer: {name: Acme Ltd}\n";
      if (i % 700 == 350) {
        text += "product: [unclosed\n# broken\n";
        broken_lines.push_back(line);
      } else if (i % 700 == 351) {
        text += "product: {brand: B, model: \"M" + std::string(1, '\0') + "\"}\n# nul\n";
        broken_lines.push_back(line);
      } else {
        text += "product: {brand: B, model: M" + std::to_string(i) + "}\n# fine\n";
      }
    }
    auto result = read_text(text, Format::kYaml);
    CHECK(result.status.is_ok());
    REQUIRE(result.sink.accepted.size() == 3000 - broken_lines.size());
    REQUIRE(result.sink.rejected.size() == broken_lines.size());
    for (std::size_t i = 0; i < broken_lines.size(); ++i) {
      CAPTURE(i);
      const auto& rejected = result.sink.rejected[i];
      CHECK(rejected.where.line == broken_lines[i]);
      CHECK(*rejected.where.document_number == (broken_lines[i] - 1) / 4 + 1);
      CHECK(rejected.issues[0].reason ==
            (i % 2 == 0 ? "not valid YAML: end of sequence flow not found (column 1)"
                        : "contains a NUL character (U+0000)"));
    }
    const auto& last = result.sink.accepted.back();
    CHECK(*last.where.document_number == 3000);
    CHECK(last.where.line == 4 * 2999 + 1);
    CHECK(last.where.ordinal == 3000);
  }

  TEST_CASE("yaml: document markers split the stream whatever precedes them") {
    auto result = read_text(
        "# a comment\n%YAML 1.2\n---\nmanufacturer: {name: A}\nproduct: {brand: B, model: C}\n"
        "...\n# between documents\n--- {manufacturer: {name: A}, product: {brand: B, model: D}}\n"
        "---\nmanufacturer:\n  name: |-\n    A\nproduct: {brand: B, model: E}\n",
        Format::kYaml);
    CHECK(result.status.is_ok());
    CHECK(result.sink.rejected.empty());
    REQUIRE(result.sink.accepted.size() == 3);
    CHECK(result.sink.accepted[0].where.line == 3);
    CHECK(*result.sink.accepted[0].where.document_number == 1);
    CHECK(result.sink.accepted[1].where.line == 8);
    CHECK(result.sink.accepted[2].where.line == 9);
    CHECK(*result.sink.accepted[2].where.document_number == 3);
  }

  TEST_CASE("yaml: a document over the size limit stops the file, naming its line and field") {
    ReaderLimits limits;
    limits.max_record_bytes = 200;
    auto result = read_text(
        "manufacturer: {name: A}\nproduct: {brand: B, model: C}\n---\n"
        "product: {brand: B}\nmanufacturer:\n  address: " +
            std::string(300, 'a') + "\n---\n" + kFullYaml,
        Format::kYaml, limits);
    CHECK(result.status.message() ==
          "document 2 (line 3), field manufacturer.address: record longer than 200 bytes (the "
          "limit for one record); the 1 document(s) before it were read, nothing after it");
    CHECK(result.sink.accepted.size() == 1);
    CHECK(result.sink.rejected.empty());

    // A document of exactly the limit (without its last line break) is read.
    const std::string head = "manufacturer: {name: A}\nproduct: {brand: B, model: C}\n#";
    auto fits = read_text(head + std::string(200 - head.size(), '-') + "\n", Format::kYaml, limits);
    CHECK(fits.status.is_ok());
    CHECK(fits.sink.accepted.size() == 1);
    auto over = read_text(head + std::string(201 - head.size(), '-') + "\n", Format::kYaml, limits);
    CHECK_FALSE(over.status.is_ok());
  }

  TEST_CASE("yaml: invalid UTF-8 is rejected, not stored") {
    auto result = read_text("manufacturer: {name: \"A\xC0\xAF\"}\nproduct: {brand: B, model: C}\n",
                            Format::kYaml);
    CHECK(result.sink.accepted.empty());
    CHECK((result.sink.rejected.size() == 1 || !result.status.is_ok()));
  }

  TEST_CASE("NUL in a text value rejects the record in every format, naming the field") {
    const std::string nul(1, '\0');
    const std::string reason = "contains a NUL character (U+0000)";
    struct Case {
      std::string name;
      Format format;
      std::string text;
      std::string field;
    };
    const std::vector<Case> cases = {
        {"csv, raw", Format::kCsv, kCsvHeader + "\nA" + nul + "B,x,y\nA,x,z\n",
         "manufacturer.name"},
        {"csv, quoted, in a list", Format::kCsv,
         kCsvHeader + ",passwords.examples\nA,x,y,\"p|q" + nul + "\"\nA,x,z,\n",
         "passwords.examples[1]"},
        {"csv, a boolean", Format::kCsv,
         kCsvHeader + ",product.cellular\nA,x,y,yes" + nul + "\nA,x,z,\n", "product.cellular"},
        {"jsonl, escaped", Format::kJsonLines,
         R"({"manufacturer":{"name":"A\u0000B"},"product":{"brand":"x","model":"y"}})"
         "\n" +
             kMinimalJson + "\n",
         "manufacturer.name"},
        {"jsonl, raw", Format::kJsonLines,
         R"({"manufacturer":{"name":"A"},"product":{"brand":"x","model":"y)" + nul +
             R"("}})"
             "\n" +
             kMinimalJson + "\n",
         "product.model"},
        {"jsonl, raw in a list", Format::kJsonLines,
         R"({"manufacturer":{"name":"A"},"product":{"brand":"x","model":"y"},)"
         R"("passwords":{"examples":["a","b)" +
             nul + R"("]}})" + "\n" + kMinimalJson + "\n",
         "passwords.examples[1]"},
        {"json array, escaped", Format::kJson,
         R"([{"manufacturer":{"name":"A"},"product":{"brand":"x\u0000","model":"y"}},)" +
             kMinimalJson + "]",
         "product.brand"},
        {"json array, raw", Format::kJson,
         R"([{"manufacturer":{"name":"A)" + nul + R"("},"product":{"brand":"x","model":"y"}},)" +
             kMinimalJson + "]",
         "manufacturer.name"},
        {"yaml, \\0 escape", Format::kYaml,
         "manufacturer: {name: \"A\\0\"}\nproduct: {brand: x, model: y}\n---\n" + kFullYaml,
         "manufacturer.name"},
        {"yaml, \\u0000 escape", Format::kYaml,
         "manufacturer: {name: A}\nproduct: {brand: x, model: \"\\u0000\"}\n---\n" + kFullYaml,
         "product.model"},
        {"yaml, raw in a plain scalar", Format::kYaml,
         "manufacturer:\n  name: A\nproduct:\n  brand: x" + nul + "y\n  model: y\n---\n" +
             kFullYaml,
         "product.brand"},
        {"yaml, raw in a quoted list item", Format::kYaml,
         "manufacturer: {name: A}\nproduct: {brand: x, model: y}\npasswords:\n  examples: [a, \"" +
             nul + "\"]\n---\n" + kFullYaml,
         "passwords.examples[1]"},
    };
    for (const Case& test : cases) {
      CAPTURE(test.name);
      auto result = read_text(test.text, test.format);
      CHECK(result.status.is_ok());
      REQUIRE(result.sink.rejected.size() == 1);
      CHECK(result.sink.issues(0) == std::vector<std::string>{test.field + ": " + reason});
      CHECK(result.sink.rejected[0].where.ordinal == 1);
      CHECK(result.sink.accepted.size() == 1);
    }
  }

  TEST_CASE("NUL in a field name is refused with the name shown and why") {
    const std::string nul(1, '\0');
    const std::string reason = "field name contains a NUL character (U+0000)";
    struct Case {
      std::string name;
      Format format;
      std::string text;
      std::string field;
    };
    const std::vector<Case> cases = {
        {"jsonl, escaped", Format::kJsonLines,
         R"({"manufacturer":{"name":"A","e\u0000mail":"x"},"product":{"brand":"x","model":"y"}})",
         "manufacturer.e\\u0000mail"},
        {"jsonl, raw", Format::kJsonLines,
         R"({"manufacturer":{"name":"A"},"prod)" + nul + R"(uct":{"brand":"x","model":"y"}})",
         "prod\\u0000uct"},
        {"json, raw", Format::kJson,
         R"([{"manufacturer":{"name":"A"},"product":{"brand":"x","mo)" + nul + R"(del":"y"}}])",
         "product.mo\\u0000del"},
        {"yaml, escaped", Format::kYaml,
         "manufacturer: {name: A}\nproduct: {brand: x, model: y, \"ty\\0pe\": camera}\n",
         "product.ty\\u0000pe"},
        {"yaml, raw", Format::kYaml,
         "manufacturer: {name: A}\nproduct:\n  brand: x\n  model: y\n  ty" + nul + "pe: camera\n",
         "product.ty\\u0000pe"},
    };
    for (const Case& test : cases) {
      CAPTURE(test.name);
      auto result = read_text(test.text, test.format);
      CHECK(result.status.is_ok());
      CHECK(result.sink.accepted.empty());
      REQUIRE(result.sink.rejected.size() == 1);
      bool named = false;
      for (const auto& issue : result.sink.rejected[0].issues) {
        named = named || (issue.field == test.field && issue.reason == reason);
      }
      CHECK_MESSAGE(named, "issues: ", result.sink.issues(0).front());
    }

    auto header = read_text("manufacturer.name,product.br" + nul + "and,product.model\nA,B,C\n",
                            Format::kCsv);
    CHECK(header.status.message() ==
          "header line 1, column 2: the column name contains a NUL character (U+0000); the file "
          "was not imported");
    CHECK(header.sink.accepted.empty());
  }

  TEST_CASE("a raw NUL outside text is not taken for the end of the input") {
    const std::string nul(1, '\0');
    auto jsonl =
        read_text(kMinimalJson + nul + "garbage\n" + kMinimalJson + "\n", Format::kJsonLines);
    REQUIRE(jsonl.sink.rejected.size() == 1);
    CHECK(jsonl.sink.issues(0) ==
          std::vector<std::string>{
              ": a NUL character (U+0000) outside text, which JSON does not allow"});
    CHECK(jsonl.sink.accepted.size() == 1);

    auto json = read_text("[" + kMinimalJson + "," + nul + kMinimalJson + "," + kMinimalJson + "]",
                          Format::kJson);
    CHECK(json.status.is_ok());
    REQUIRE(json.sink.rejected.size() == 1);
    CHECK(*json.sink.rejected[0].where.array_index == 1);
    CHECK(json.sink.accepted.size() == 2);

    auto yaml = read_text(kFullYaml + "# a comment" + nul + "\n", Format::kYaml);
    REQUIRE(yaml.sink.rejected.size() == 1);
    CHECK(yaml.sink.rejected[0].issues.back().reason ==
          "a NUL character (U+0000) outside text, which YAML does not allow");
    CHECK(yaml.sink.rejected[0].issues.back().line == 14);
  }

  TEST_CASE("json: an element that is not valid JSON is rejected alone, with its position") {
    auto result = read_text(
        "[" + kMinimalJson + ",\n  {\"manufacturer\" {}},\n" + kMinimalJson + "]", Format::kJson);
    CHECK(result.status.is_ok());
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(*result.sink.rejected[0].where.array_index == 1);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{
              ": not valid JSON at line 2, column 19: syntax error while parsing object "
              "separator - unexpected '{'; expected ':'"});
    REQUIRE(result.sink.accepted.size() == 2);
    CHECK(*result.sink.accepted[1].where.array_index == 2);
  }

  TEST_CASE("json: what breaks the array stops the file after the records before it") {
    auto comma = read_text("[" + kMinimalJson + ",]", Format::kJson);
    CHECK(comma.status.message() ==
          "not valid JSON: array index 1 (line 1): a ',' at the end of the array, where a record "
          "should follow; the 1 record(s) before this point were read, nothing after it");
    CHECK(comma.sink.accepted.size() == 1);

    auto missing = read_text("[" + kMinimalJson + "\n" + kMinimalJson + "]", Format::kJson);
    CHECK(missing.status.message() ==
          "not valid JSON: array index 1 (line 1): expected ',' or ']' after the record before "
          "it, found '{' at line 2; the 1 record(s) before this point were read, nothing after "
          "it");

    auto after = read_text("[" + kMinimalJson + "]\n]", Format::kJson);
    CHECK(after.status.message() ==
          "not valid JSON: found ']' at line 2 after the array's closing ']'; the 1 record(s) "
          "before this point were read, nothing after it");
    CHECK(after.sink.accepted.size() == 1);
  }

  TEST_CASE("json: an element over the size limit stops the file, naming its index and field") {
    ReaderLimits limits;
    limits.max_record_bytes = 200;
    auto result = read_text("[" + kMinimalJson + ",\n" + R"({"product":{"brand":"x","model":")" +
                                std::string(300, 'm') + R"("}},)" + kMinimalJson + "]",
                            Format::kJson, limits);
    CHECK(result.status.message() ==
          "array index 1 (line 2), field product.model: record longer than 200 bytes (the limit "
          "for one record); the 1 record(s) before this point were read, nothing after it");
    CHECK(result.sink.accepted.size() == 1);

    auto single = read_text(R"({"manufacturer":{"name":")" + std::string(300, 'n') + "\"}}",
                            Format::kJson, limits);
    CHECK(single.status.message() ==
          "line 1, field manufacturer.name: record longer than 200 bytes (the limit for one "
          "record); the 0 record(s) before this point were read, nothing after it");
  }

  TEST_CASE("a stream that never ends a record is read no further than the limit") {
    // 200 MB that a reader which waits for the end of the record would read whole.
    constexpr std::size_t kRepeat = 200'000'000;
    ReaderLimits limits;
    limits.max_record_bytes = 100'000;
    const std::uint64_t read_bound = 4 * limits.max_record_bytes + 256 * 1024;
    struct Case {
      std::string name;
      Format format;
      std::string prefix, unit;
      std::string message;
      std::size_t accepted;
    };
    const std::string record = "manufacturer: {name: A}\nproduct: {brand: B, model: C}\n";
    const std::vector<Case> cases = {
        {"csv of NUL", Format::kCsv, "", std::string(1, '\0'),
         "header line 1, column 1: record longer than 100000 bytes (the limit for one record); "
         "the file was not imported",
         0},
        {"csv of 'a'", Format::kCsv, kCsvHeader + "\nA,B,C\n", "a",
         "line 3, column 1 (manufacturer.name): record longer than 100000 bytes (the limit for "
         "one record); nothing from this record on was read",
         1},
        {"csv, an unterminated quoted field", Format::kCsv, kCsvHeader + "\nA,B,\"", "ab\n",
         "line 2, column 3 (product.model): record longer than 100000 bytes (the limit for one "
         "record), in a quoted field (is a closing quote missing?); nothing from this record on "
         "was read",
         0},
        {"jsonl of 'a'", Format::kJsonLines, kMinimalJson + "\n", "a",
         "line 2: record longer than 100000 bytes (the limit for one record); nothing from this "
         "line on was read",
         1},
        {"jsonl of NUL", Format::kJsonLines, "", std::string(1, '\0'),
         "line 1: record longer than 100000 bytes (the limit for one record); nothing from this "
         "line on was read",
         0},
        {"json, an unclosed array of whitespace", Format::kJson, "[" + kMinimalJson + ",", " ",
         "array index 1 (line 1): record longer than 100000 bytes (the limit for one record); "
         "the 1 record(s) before this point were read, nothing after it",
         1},
        {"json, an endless string", Format::kJson, "[" + kMinimalJson + R"(,{"product":{"type":")",
         "a",
         "array index 1 (line 1), field product.type: record longer than 100000 bytes (the limit "
         "for one record); the 1 record(s) before this point were read, nothing after it",
         1},
        {"yaml of line breaks", Format::kYaml, record + "---\n", "\n",
         "document 2 (line 3): record longer than 100000 bytes (the limit for one record); the 1 "
         "document(s) before it were read, nothing after it",
         1},
        {"yaml, an endless scalar", Format::kYaml, record + "---\nmanufacturer:\n  name: ", "a",
         "document 2 (line 3), field manufacturer.name: record longer than 100000 bytes (the "
         "limit for one record); the 1 document(s) before it were read, nothing after it",
         1},
    };
    for (const Case& test : cases) {
      CAPTURE(test.name);
      testing::GeneratedInput source(test.prefix, test.unit, kRepeat, "");
      std::istream in(&source);
      testing::CollectingSink sink;
      const Status status =
          read_declarations(in, test.format, *CompiledSchema::builtin(), sink, limits);
      CHECK(status.message() == test.message);
      CHECK(sink.accepted.size() == test.accepted);
      CHECK(sink.rejected.empty());
      CHECK(source.bytes_served() <= read_bound);
    }
  }

  TEST_CASE("format names and extensions") {
    CHECK(format_from_path("a/b/decl.CSV") == Format::kCsv);
    CHECK(format_from_path("x.ndjson") == Format::kJsonLines);
    CHECK(format_from_path("x.yml") == Format::kYaml);
    CHECK_FALSE(format_from_path("x.txt").has_value());
    CHECK_FALSE(format_from_path("dir.csv/file").has_value());
    CHECK(format_from_name("JSON") == Format::kJson);
  }
}

}  // namespace iotreg::importers
