// The four readers on valid and hostile input: what is accepted, what is rejected, and where.
#include <doctest/doctest.h>

#include <string>

#include "support/collecting_sink.h"

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

  TEST_CASE("csv: an unterminated quote stops the file and earlier rows stay accepted") {
    auto result = read_text(kCsvHeader + "\nA,B,C\nA,B,\"open\nD,E,F\n", Format::kCsv);
    CHECK_FALSE(result.status.is_ok());
    CHECK(result.status.message().find("line 3") != std::string::npos);
    CHECK(result.sink.accepted.size() == 1);
  }

  TEST_CASE("csv: a record over the size limit is rejected without stopping the file") {
    ReaderLimits limits;
    limits.max_record_bytes = 1024;
    std::string huge(5000, 'x');
    auto result = read_text(kCsvHeader + "\nA,B," + huge + "\nA,B,\"" + huge + "\"\nA,B,C\n",
                            Format::kCsv, limits);
    CHECK(result.status.is_ok());
    CHECK(result.sink.rejected.size() == 2);
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].where.line == 4);
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

  TEST_CASE("jsonl: invalid UTF-8 and over-long lines are rejected") {
    ReaderLimits limits;
    limits.max_record_bytes = 200;
    std::string bad_utf8 = R"({"manufacturer":{"name":"A)"
                           "\xFF"
                           R"("},"product":{"brand":"x","model":"y"}})";
    std::string long_line = R"({"manufacturer":{"name":")" + std::string(300, 'a') +
                            R"("},"product":{"brand":"x","model":"y"}})";
    auto result = read_text(bad_utf8 + "\n" + long_line + "\n" + kMinimalJson + "\n",
                            Format::kJsonLines, limits);
    REQUIRE(result.sink.rejected.size() == 2);
    CHECK(result.sink.issues(1)[0].find("longer than 200 bytes") != std::string::npos);
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].where.line == 3);
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
    CHECK(rejected.issues[1].reason == "unknown field");
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

  TEST_CASE("yaml: input the YAML parser cannot get past ends the file instead of hanging") {
    auto result = read_text("manufacturer: {name: A}\nproduct: {brand: B, model: C}\n---\n,a: x\n",
                            Format::kYaml);
    CHECK_FALSE(result.status.is_ok());
    CHECK(result.status.message().find("not valid YAML at line") == 0);
    CHECK(result.status.message().find("document(s) before it were read") != std::string::npos);
    CHECK(result.sink.accepted.size() == 1);
  }

  TEST_CASE("yaml: a syntax error stops the file after the documents before it") {
    auto result = read_text(
        "manufacturer: {name: A}\nproduct: {brand: B, model: C}\n---\nproduct: [unclosed\n",
        Format::kYaml);
    CHECK_FALSE(result.status.is_ok());
    CHECK(result.status.message().find("not valid YAML at line") == 0);
    CHECK(result.sink.accepted.size() == 1);
  }

  TEST_CASE("yaml: invalid UTF-8 is rejected, not stored") {
    auto result = read_text("manufacturer: {name: \"A\xC0\xAF\"}\nproduct: {brand: B, model: C}\n",
                            Format::kYaml);
    CHECK(result.sink.accepted.empty());
    CHECK((result.sink.rejected.size() == 1 || !result.status.is_ok()));
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
