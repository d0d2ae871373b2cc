// End-to-end tests of `iotreg import` on hostile input: NUL characters in every format, streams
// that never end a record (fed through standard input by a bounded generator, with a deadline),
// files of many rejected records (--max-reported), oversized fields and unreadable paths.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/registry.h"

namespace iotreg::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

const std::string kIotreg = IOTREG_BINARY;
const std::string kHeader = "manufacturer.name,product.brand,product.model\n";
const std::string kTooLong = "record longer than 1048576 bytes (the limit for one record)";

// A registry of this run's backend, with a fresh directory for files and
// `iotreg --db DB --as-of 2026-11-29` runs.
struct Registry {
  TempDir dir;
  TestRegistry registry{dir};
  std::string db = registry.location();

  ProcessResult run(std::vector<std::string> arguments, ProcessOptions options = {},
                    std::chrono::milliseconds deadline = 2min) const {
    arguments.insert(arguments.begin(), {"--db", db, "--as-of", "2026-11-29"});
    options.working_directory = dir.path().string();
    options.unset_environment.push_back("IOTREG_DB");
    return run_process(kIotreg, arguments, options, deadline);
  }
  std::string write(const std::string& name, const std::string& content) const {
    write_file(dir.file(name), content);
    return dir.file(name);
  }
  // Models of the stored products, sorted.
  std::vector<std::string> models() const {
    if (!registry_exists(db)) return {};
    auto models = RegistryProbe(db).column("SELECT model FROM products");
    std::sort(models.begin(), models.end());
    return models;
  }
};

bool has_line(const std::string& text, const std::string& line) {
  auto lines = split_lines(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

std::vector<std::string> lines_starting(const std::string& text, const std::string& prefix) {
  std::vector<std::string> found;
  for (auto& line : split_lines(text)) {
    if (line.rfind(prefix, 0) == 0) found.push_back(std::move(line));
  }
  return found;
}

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("cli: NUL in a value or field name is a rejection naming file, line and field") {
    Registry registry;
    const std::string nul(1, '\0');
    const std::string csv =
        registry.write("nul.csv", kHeader + "Nul Ltd,N,CSV" + nul + "X\nNul Ltd,N,CSV-OK\n");
    const std::string jsonl = registry.write(
        "nul.jsonl",
        R"({"manufacturer":{"name":"Nul\u0000 Ltd"},"product":{"brand":"N","model":"JL-1"}})"
        "\n"
        R"({"manufacturer":{"name":"Nul Ltd"},"product":{"brand":"N","model":"JL-2","ty\u0000pe":"x"}})"
        "\n"
        R"({"manufacturer":{"name":"Nul Ltd"},"product":{"brand":"N","model":"JL-3"}})" +
            nul + "\n" +
            R"({"manufacturer":{"name":"Nul Ltd"},"product":{"brand":"N","model":"JSONL-OK"}})"
            "\n");
    const std::string json_file = registry.write(
        "nul.json",
        R"([{"manufacturer":{"name":"Nul Ltd"},"product":{"brand":"N\u0000","model":"J-1"}},)"
        R"({"manufacturer":{"name":"Nul Ltd"},"product":{"brand":"N","model":"J-2)" +
            nul + R"("}},)" +
            R"({"manufacturer":{"name":"Nul Ltd"},"product":{"brand":"N","model":"JSON-OK"}}])");
    const std::string yaml = registry.write(
        "nul.yaml",
        "manufacturer:\n  name: \"Nul\\0 Ltd\"\nproduct: {brand: N, model: Y-1}\n---\n"
        "manufacturer: {name: Nul Ltd}\nproduct:\n  brand: N\n  model: Y-2" +
            nul + "\n---\nmanufacturer: {name: Nul Ltd}\nproduct: {brand: N, model: YAML-OK}\n");

    auto result = registry.run({"import", csv, jsonl, json_file, yaml});
    INFO("stdout:\n", result.out, "stderr:\n", result.err);
    CHECK(result.exit_status == 1);
    CHECK(split_lines(result.err) ==
          std::vector<std::string>{
              csv + ":2: product.model: contains a NUL character (U+0000)",
              jsonl + ":1: manufacturer.name: contains a NUL character (U+0000)",
              // The product is named when its identity was read.
              jsonl + ":2: product.ty\\u0000pe: field name contains a NUL character (U+0000) "
                      "(Nul Ltd / N JL-2)",
              jsonl + ":3: a NUL character (U+0000) outside text, which JSON does not allow",
              json_file + ":[0]: product.brand: contains a NUL character (U+0000)",
              json_file + ":[1]: product.model: contains a NUL character (U+0000)",
              yaml + ":2: manufacturer.name: contains a NUL character (U+0000)",
              yaml + ":8: product.model: contains a NUL character (U+0000)",
          });
    CHECK(has_line(result.out, csv + ": 2 records, 1 accepted (1 new product, 0 new versions, "
                                     "0 unchanged), 1 rejected"));
    CHECK(has_line(result.out, jsonl + ": 4 records, 1 accepted (1 new product, 0 new "
                                       "versions, 0 unchanged), 3 rejected"));
    CHECK(registry.models() ==
          std::vector<std::string>{"CSV-OK", "JSON-OK", "JSONL-OK", "YAML-OK"});
    if (!testing_postgresql()) {  // PostgreSQL's text cannot hold a NUL at all
      CHECK(SqliteProbe(registry.db)
                .integer("SELECT count(*) FROM manufacturers WHERE instr(name, char(0)) > 0") == 0);
    }
  }

  TEST_CASE("cli: a stream that never ends a record stops at the record-size limit") {
    // Every case feeds 200 MB through standard input; the import must stop after about 1 MiB.
    constexpr std::uint64_t kStreamBytes = 200ull << 20;
    constexpr std::uint64_t kReadAtMost = 16ull << 20;
    const std::string good_json =
        R"({"manufacturer":{"name":"Stream Ltd"},"product":{"brand":"S","model":"BEFORE"}})";
    struct Case {
      std::string name, format, prefix, unit, message;
      std::vector<std::string> stored;
    };
    const std::vector<Case> cases = {
        {"csv of zeros",
         "csv",
         "",
         std::string(1, '\0'),
         "-: header line 1, column 1: " + kTooLong + "; the file was not imported",
         {}},
        {"csv, a record of 'a' without a line break",
         "csv",
         kHeader + "Stream Ltd,S,BEFORE\n",
         "a",
         "-: line 3, column 1 (manufacturer.name): " + kTooLong +
             "; nothing from this record on was read",
         {"BEFORE"}},
        {"csv, an unterminated quoted field",
         "csv",
         kHeader + "Stream Ltd,S,BEFORE\nX,Y,\"",
         "abc\n",
         "-: line 3, column 3 (product.model): " + kTooLong +
             ", in a quoted field (is a closing quote missing?); nothing from this record on was "
             "read",
         {"BEFORE"}},
        {"jsonl of zeros",
         "jsonl",
         good_json + "\n",
         std::string(1, '\0'),
         "-: line 2: " + kTooLong + "; nothing from this line on was read",
         {"BEFORE"}},
        {"json, an unclosed array of whitespace",
         "json",
         "[" + good_json + ",",
         " ",
         "-: array index 1 (line 1): " + kTooLong +
             "; the 1 record(s) before this point were read, nothing after it",
         {"BEFORE"}},
        {"json of 'a'",
         "json",
         "",
         "a",
         "-: line 1: " + kTooLong +
             "; the 0 record(s) before this point were read, nothing after it",
         {}},
        {"yaml, a scalar of 'a'",
         "yaml",
         "manufacturer: {name: Stream Ltd}\nproduct: {brand: S, model: BEFORE}\n---\n"
         "manufacturer:\n  name: ",
         "a",
         "-: document 2 (line 3), field manufacturer.name: " + kTooLong +
             "; the 1 document(s) before it were read, nothing after it",
         {"BEFORE"}},
        {"yaml of zeros",
         "yaml",
         "",
         std::string(1, '\0'),
         "-: document 1 (line 1): " + kTooLong +
             "; the 0 document(s) before it were read, nothing after it",
         {}},
    };
    for (const Case& test : cases) {
      CAPTURE(test.name);
      Registry registry;
      ProcessOptions options;
      options.streamed_input = StreamedInput{test.prefix, test.unit, kStreamBytes};
      auto result = registry.run({"import", "--format", test.format, "-"}, options, 60s);
      INFO("stdout:\n", result.out, "stderr:\n", result.err);
      CHECK_FALSE(result.timed_out);
      CHECK(result.exit_status == 1);
      CHECK(has_line(result.err, test.message));
      CHECK(lines_starting(result.out, "-: ").size() == 1);
      CHECK(lines_starting(result.out, "-: ").front().find("; file not read to its end") !=
            std::string::npos);
      CHECK(result.input_written < kReadAtMost);
      CHECK(result.elapsed < 30s);
      CHECK(registry.models() == test.stored);
    }
  }

  TEST_CASE("cli: rejected records are listed up to --max-reported per file, then counted") {
    Registry registry;
    // 2,500 rows without identity (three issues each) between two good ones.
    std::string content = kHeader + "Cap Ltd,C,FIRST\n";
    for (int i = 0; i < 2500; ++i) content += ",,\n";
    content += "Cap Ltd,C,LAST\n";
    const std::string file = registry.write("many.csv", content);
    const std::string report_path = registry.dir.file("report.json");
    const std::string summary = file +
                                ": 2502 records, 2 accepted (2 new products, 0 new versions, 0 "
                                "unchanged), 2500 rejected";

    SUBCASE("the default lists 1,000") {
      auto result = registry.run({"import", "--report", report_path, file});
      CHECK(result.exit_status == 1);
      CHECK(has_line(result.out, summary));
      const auto listed = lines_starting(result.err, file + ":");
      REQUIRE(listed.size() == 3000);
      CHECK(listed.front() == file + ":3: manufacturer.name: required field missing");
      CHECK(listed.back() == file + ":1002: product.model: required field missing");
      CHECK(split_lines(result.err).back() == "... and 1,500 more rejections in " + file);
      CHECK(split_lines(result.err).size() == 3001);

      json report = json::parse(read_file(report_path));
      const json& entry = report["files"][0];
      REQUIRE(entry["rejected"].size() == 1000);
      CHECK(entry["rejected"].back()["line"] == 1002);
      CHECK(entry["rejected_not_listed"] == 1500);
      CHECK(entry["counts"]["rejected"] == 2500);
      CHECK(report["totals"]["rejected"] == 2500);
      CHECK(registry.models() == std::vector<std::string>{"FIRST", "LAST"});
    }

    SUBCASE("--max-reported 3") {
      auto result = registry.run({"import", "--max-reported", "3", "--report", report_path, file});
      CHECK(result.exit_status == 1);
      CHECK(has_line(result.out, summary));
      CHECK(lines_starting(result.err, file + ":").size() == 9);
      CHECK(split_lines(result.err).back() == "... and 2,497 more rejections in " + file);
      json report = json::parse(read_file(report_path));
      CHECK(report["files"][0]["rejected"].size() == 3);
      CHECK(report["files"][0]["rejected_not_listed"] == 2497);
    }

    SUBCASE("--max-reported 0 gives only the count") {
      auto result = registry.run(
          {"import", "--dry-run", "--max-reported", "0", "--report", report_path, file});
      CHECK(result.exit_status == 1);
      CHECK(split_lines(result.err) == std::vector<std::string>{"... 2,500 rejections in " + file});
      json report = json::parse(read_file(report_path));
      CHECK(report["files"][0]["rejected"] == json::array());
      CHECK(report["files"][0]["rejected_not_listed"] == 2500);
      CHECK(report["files"][0]["counts"]["rejected"] == 2500);
    }

    SUBCASE("--quiet prints none of them, the report still lists 1,000") {
      auto result = registry.run({"import", "--quiet", "--report", report_path, file});
      CHECK(result.exit_status == 1);
      CHECK(result.err.empty());
      json report = json::parse(read_file(report_path));
      CHECK(report["files"][0]["rejected"].size() == 1000);
      CHECK(report["files"][0]["rejected_not_listed"] == 1500);
    }

    SUBCASE("a value that is not a count is bad usage") {
      auto result = registry.run({"import", "--max-reported", "-1", file});
      CHECK(result.exit_status == 2);
      CHECK(result.err.find("--max-reported") != std::string::npos);
      CHECK_FALSE(registry_exists(registry.db));
    }
  }

  TEST_CASE("cli: a file of 300,000 empty rows makes a report and stderr of bounded size") {
    Registry registry;
    std::string content = kHeader;
    for (int i = 0; i < 300'000; ++i) content += ",,\n";
    const std::string file = registry.write("empty-rows.csv", content);
    const std::string report_path = registry.dir.file("report.json");
    auto result = registry.run({"import", "--report", report_path, file});
    CHECK(result.exit_status == 1);
    CHECK(has_line(result.out, file + ": 300000 records, 0 accepted (0 new products, 0 new "
                                      "versions, 0 unchanged), 300000 rejected"));
    CHECK(split_lines(result.err).back() == "... and 299,000 more rejections in " + file);
    CHECK(result.err.size() < 1'000'000);
    CHECK(fs::file_size(report_path) < 500'000);
    CHECK(json::parse(read_file(report_path))["files"][0]["rejected_not_listed"] == 299'000);
  }

  TEST_CASE("cli: a CSV field over the record-size limit is named by its line and column") {
    Registry registry;
    const std::string file =
        registry.write("big.csv", kHeader + "Big Ltd,B,FIRST\nBig Ltd,\"B\nB\",\"" +
                                      std::string(2 << 20, 'x') + "\"\nBig Ltd,B,LAST\n");
    auto result = registry.run({"import", file});
    INFO("stderr:\n", result.err);
    CHECK(result.exit_status == 1);
    CHECK(split_lines(result.err) ==
          std::vector<std::string>{file + ": line 4, column 3 (product.model): " + kTooLong +
                                   ", from line 3, in a quoted field (is a closing quote "
                                   "missing?); nothing from this record on was read"});
    CHECK(has_line(result.out, file + ": 1 record, 1 accepted (1 new product, 0 new versions, "
                                      "0 unchanged), 0 rejected; file not read to its end"));
    CHECK(registry.models() == std::vector<std::string>{"FIRST"});
  }

  TEST_CASE("cli: values over the schema's length limits name their field and line") {
    Registry registry;
    const std::string model(301, 'm');
    const std::string yaml = registry.write(
        "long.yaml",
        "manufacturer: {name: Long Ltd}\nproduct:\n  brand: L\n  model: " + model + "\n");
    const std::string jsonl = registry.write(
        "long.jsonl", R"({"manufacturer":{"name":"Long Ltd"},"product":{"brand":"L","model":")" +
                          model + "\"}}\n");
    const std::string json_file = registry.write(
        "long.json", R"([{"manufacturer":{"name":"Long Ltd"},"product":{"brand":"L","model":")" +
                         model + "\"}}]");
    const std::string csv = registry.write("long.csv", kHeader + "Long Ltd,L," + model + "\n");
    auto result = registry.run({"import", yaml, jsonl, json_file, csv});
    CHECK(result.exit_status == 1);
    CHECK(split_lines(result.err) ==
          std::vector<std::string>{yaml + ":4: product.model: is longer than 300 characters",
                                   jsonl + ":1: product.model: is longer than 300 characters",
                                   json_file + ":[0]: product.model: is longer than 300 characters",
                                   csv + ":2: product.model: is longer than 300 characters"});
    CHECK(registry.models().empty());
  }

  TEST_CASE("cli: paths that cannot be imported are bad usage, each named for what it is") {
    Registry registry;
    const std::string good = registry.write("good.csv", kHeader + "Path Ltd,P,OK\n");
    struct Case {
      std::string name, path, what;
    };
    const std::string loop = registry.dir.file("loop.csv");
    fs::create_symlink("loop.csv", loop);
    const std::string dangling = registry.dir.file("dangling.csv");
    fs::create_symlink("nowhere.csv", dangling);
    const std::string under_file = good + "/inside.csv";
    const std::string folder = registry.dir.file("folder.csv");
    fs::create_directory(folder);
    for (const Case& test :
         {Case{"a symlink loop", loop, "too many levels of symbolic links (a symlink loop)"},
          Case{"a dangling symlink", dangling, "no such file"},
          Case{"a path through a file", under_file,
               "no such file (a part of its path is not a directory)"},
          Case{"a directory", folder, "is a directory"},
          Case{"a device", "/dev/null", "not a regular file"}}) {
      CAPTURE(test.name);
      auto result = registry.run({"import", "--format", "csv", good, test.path});
      CHECK(result.exit_status == 2);
      CHECK(result.err == "iotreg: " + test.path + ": " + test.what + "\n");
      CHECK_FALSE(registry_exists(registry.db));
    }
  }
}

}  // namespace iotreg::test
