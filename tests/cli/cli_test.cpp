// End-to-end tests of the `iotreg` executable: the bundled samples (samples/README.md is the
// specification of their expected outcome), the import report, dry runs, input formats and
// standard input, database errors, CSV headers and exit statuses (DESIGN.md §5).
#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "registry/core/sha256.h"
#include "registry/storage/body_codec.h"
#include "support/process.h"
#include "support/registry.h"

namespace iotreg::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kIotreg = IOTREG_BINARY;
const fs::path kSamples = fs::path(IOTREG_SOURCE_DIR) / "samples";

std::string sample(const std::string& name) { return (kSamples / name).string(); }

// samples/0* in name order, as `iotreg import samples/0*` would see them.
std::vector<std::string> sample_files() {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(kSamples)) {
    if (entry.path().filename().string().rfind('0', 0) == 0) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// One sample file's expected import outcome (samples/README.md, "Files" and "Versions").
struct SampleFile {
  std::string name;
  std::uint64_t records, stored, unchanged, rejected;
  std::uint64_t new_versions;  // of the stored ones, versions of products of earlier files
};
const std::vector<SampleFile> kSampleFiles = {
    {"01-kestrel-networks.yaml", 9, 8, 0, 1, 0},
    {"01-lumora-vision.csv", 13, 12, 0, 1, 0},
    {"02-brightpath-electronics.csv", 14, 13, 0, 1, 0},
    {"02-nidocare.yaml", 9, 8, 0, 1, 0},
    {"03-orrin-displays.csv", 10, 9, 0, 1, 0},
    {"03-tessellate.jsonl", 9, 8, 0, 1, 0},
    {"04-spring-2026-submissions.yaml", 14, 14, 0, 0, 1},  // Nidocare NC-700 version 2
    {"05-autumn-2026-resubmissions.csv", 8, 6, 1, 1, 3},   // LV-C210, HS-P01, OQ65-A7
};
constexpr std::int64_t kSampleProducts = 74;
constexpr std::int64_t kSampleVersions = 78;
constexpr std::int64_t kSampleRecords = 86;
constexpr std::int64_t kSampleRejected = 7;

// One malformed sample record (samples/README.md, "Malformed records").
struct MalformedRecord {
  std::string file;
  std::uint64_t line;                     // CSV/JSONL: the record's line; YAML: its "---" line
  std::optional<std::uint64_t> document;  // YAML only
  std::vector<std::string> fields;        // accepted names of the field path
  std::string reason_contains;            // a fragment the reason must hold (the bad value)
};
const std::vector<MalformedRecord> kMalformed = {
    {"01-kestrel-networks.yaml", 319, 8, {"suport", "suport.end_date"}, "unknown"},
    {"01-lumora-vision.csv", 35, std::nullopt, {"product.model"}, "missing"},
    {"02-brightpath-electronics.csv", 12, std::nullopt, {"product.gtin"}, "check digit"},
    {"02-nidocare.yaml", 256, 7, {"vulnerability.acknowledge_days"}, "integer"},
    {"03-orrin-displays.csv", 9, std::nullopt, {"passwords.default"}, "shared"},
    {"03-tessellate.jsonl",
     8,
     std::nullopt,
     {"vulnerability.contact_email"},
     "psirt[at]tessellate.example"},
    {"05-autumn-2026-resubmissions.csv", 10, std::nullopt, {"support.end_date"}, "2027-02-30"},
};

// Products per manufacturer after importing every sample (samples/README.md, "Every record").
const std::map<std::string, std::size_t> kProductsPerManufacturer = {
    {"Kestrel Home Networks GmbH", 8},
    {"Lumora Vision Ltd", 13},
    {"Shenzhen Brightpath Electronics Co., Ltd.", 14},
    {"Nidocare AB", 8},
    {"Orrin Displays Corporation", 10},
    {"Tessellate Computing, Inc.", 8},
    {"Kiyomi Denki K.K.", 6},
    {"Meridian Metering plc", 4},
    {"Pontevia Domótica S.L.", 3},
};

// "1 record", "2 records": a count and its word in the number it needs.
std::string counted(std::uint64_t count, const std::string& one, const std::string& many) {
  return std::to_string(count) + " " + (count == 1 ? one : many);
}

// The summary line of an import (`would`: a dry run's).
std::string summary_line(const std::string& file, const SampleFile& expected, bool would = false) {
  std::uint64_t accepted = expected.stored + expected.unchanged;
  return file + ": " + counted(expected.records, "record", "records") + ", " +
         std::to_string(accepted) + (would ? " would be accepted (" : " accepted (") +
         counted(expected.stored - expected.new_versions, "new product", "new products") + ", " +
         counted(expected.new_versions, "new version", "new versions") + ", " +
         std::to_string(expected.unchanged) + " unchanged), " + std::to_string(expected.rejected) +
         " rejected" + (would ? " (dry run: nothing stored)" : "");
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += line + "\n";
  return out;
}

std::vector<json> json_lines(const std::string& text) {
  std::vector<json> objects;
  for (const auto& line : split_lines(text)) objects.push_back(json::parse(line));
  return objects;
}

// RFC 4180 records (quoted fields may hold commas, quotes and newlines).
std::vector<std::vector<std::string>> parse_csv(const std::string& text) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> row;
  std::string field;
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quoted) {
      if (c == '"' && i + 1 < text.size() && text[i + 1] == '"') {
        field.push_back('"');
        ++i;
      } else if (c == '"') {
        quoted = false;
      } else {
        field.push_back(c);
      }
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      row.push_back(std::move(field));
      field.clear();
    } else if (c == '\n') {
      row.push_back(std::move(field));
      field.clear();
      rows.push_back(std::move(row));
      row.clear();
    } else {
      field.push_back(c);
    }
  }
  if (!field.empty() || !row.empty()) {
    row.push_back(std::move(field));
    rows.push_back(std::move(row));
  }
  return rows;
}

// A registry in a fresh temporary directory; iotreg runs with that directory as its working
// directory and without $IOTREG_DB, so a stray default ./iotreg.db would be seen there.
// The per-file summary lines of `import`, without the "  checked: ..." line under each.
std::vector<std::string> summary_lines(const std::string& out) {
  std::vector<std::string> lines;
  for (auto& line : split_lines(out)) {
    if (line.rfind("  ", 0) != 0) lines.push_back(std::move(line));  // details are indented
  }
  return lines;
}

// A registry of the run's backend (support/registry.h) in a fresh working directory.
struct Registry {
  TempDir dir;
  TestRegistry backing{dir};
  std::string db = backing.location();

  ProcessOptions options(ProcessOptions base = {}) const {
    base.working_directory = dir.path().string();
    base.unset_environment.push_back("IOTREG_DB");
    return base;
  }
  // `iotreg --db DB --as-of 2026-11-29 ARGS...`: the date samples/README.md's verdicts are for.
  ProcessResult run(std::vector<std::string> arguments, ProcessOptions base = {}) const {
    arguments.insert(arguments.begin(), {"--db", db, "--as-of", "2026-11-29"});
    return run_process(kIotreg, arguments, options(std::move(base)));
  }
  // `iotreg ARGS...` with no --db of ours.
  ProcessResult run_bare(const std::vector<std::string>& arguments) const {
    return run_process(kIotreg, arguments, options());
  }
  ProcessResult import(const std::vector<std::string>& files,
                       std::vector<std::string> extra = {}) const {
    std::vector<std::string> arguments = {"import"};
    arguments.insert(arguments.end(), extra.begin(), extra.end());
    arguments.insert(arguments.end(), files.begin(), files.end());
    return run(arguments);
  }
  std::vector<json> products(std::vector<std::string> filters = {}) const {
    filters.insert(filters.begin(), {"products", "--json"});
    auto result = run(filters);
    INFO("products ", joined(filters), " stderr: ", result.err);
    REQUIRE(result.exit_status == 0);
    return json_lines(result.out);
  }
  // The ids of the products `products --json FILTERS` lists, in order.
  std::vector<std::int64_t> product_ids(std::vector<std::string> filters) const {
    std::vector<std::int64_t> ids;
    for (const auto& product : products(std::move(filters))) {
      ids.push_back(product["id"].get<std::int64_t>());
    }
    return ids;
  }
  // The id of the product with this brand and model (REQUIREs exactly one).
  std::int64_t product_id(const std::string& brand, const std::string& model) const {
    std::vector<std::int64_t> ids;
    for (const auto& product : products()) {
      if (product["brand"] == brand && product["model"] == model) ids.push_back(product["id"]);
    }
    INFO(brand, " ", model);
    REQUIRE(ids.size() == 1);
    return ids.front();
  }
  json show(std::int64_t id) const {
    auto result = run({"show", std::to_string(id), "--json"});
    INFO("show ", id, " stderr: ", result.err);
    REQUIRE(result.exit_status == 0);
    return json::parse(result.out);
  }
};

// The ids of the products `keep` is true of, in order.
template <typename Keep>
std::vector<std::int64_t> ids_where(const std::vector<json>& products, Keep keep) {
  std::vector<std::int64_t> ids;
  for (const auto& product : products) {
    if (keep(product)) ids.push_back(product["id"].get<std::int64_t>());
  }
  return ids;
}

// Row counts of the tables an import writes.
struct TableCounts {
  std::int64_t manufacturers = 0, products = 0, versions = 0, runs = 0, audit = 0;
  bool operator==(const TableCounts&) const = default;
};
TableCounts table_counts(const std::string& db) {
  RegistryProbe probe(db);
  return {probe.integer("SELECT count(*) FROM manufacturers"),
          probe.integer("SELECT count(*) FROM products"),
          probe.integer("SELECT count(*) FROM declaration_versions"),
          probe.integer("SELECT count(*) FROM import_runs"),
          probe.integer("SELECT count(*) FROM audit_events")};
}
doctest::String toString(const TableCounts& counts) {
  return ("manufacturers " + std::to_string(counts.manufacturers) + ", products " +
          std::to_string(counts.products) + ", versions " + std::to_string(counts.versions) +
          ", import runs " + std::to_string(counts.runs) + ", audit events " +
          std::to_string(counts.audit))
      .c_str();
}

bool has_line(const std::string& text, const std::string& line) {
  auto lines = split_lines(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}
bool contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

// The line `number` (1-based) of a file.
std::string line_of(const std::string& file, std::uint64_t number) {
  auto lines = split_lines(read_file(file));
  return number >= 1 && number <= lines.size() ? lines[number - 1] : std::string();
}

// The last segment of a dotted field path.
std::string leaf(const std::string& path) { return path.substr(path.rfind('.') + 1); }

// Checks the one `FILE:LINE: FIELD: REASON` line of stderr for a malformed sample record.
// LINE may be the record's own line (as samples/README.md gives it) or, for YAML, the line
// inside that document that holds the key of the reported field.
void check_rejection_line(const std::string& stderr_text, const std::string& file,
                          const MalformedRecord& expected) {
  std::vector<std::string> matching;
  for (const auto& line : split_lines(stderr_text)) {
    if (line.rfind(file + ":", 0) == 0) matching.push_back(line);
  }
  INFO("stderr lines for ", file, ":\n", joined(matching));
  REQUIRE(matching.size() == 1);
  // Split into ": "-separated parts after "FILE:".
  std::vector<std::string> parts;
  std::string rest = matching.front().substr(file.size() + 1);
  for (std::size_t colon; parts.size() < 3 && (colon = rest.find(": ")) != std::string::npos;) {
    parts.push_back(rest.substr(0, colon));
    rest = rest.substr(colon + 2);
  }
  parts.push_back(rest);
  REQUIRE(parts.size() >= 3);
  std::uint64_t line = std::stoull(parts[0]);
  // A "document N" part between LINE and FIELD is not the documented format; it is reported
  // once here and skipped so that the field and line are still checked.
  bool document_part = parts[1].rfind("document ", 0) == 0;
  CHECK_MESSAGE(!document_part, "'", parts[1],
                "' stands where FILE:LINE: FIELD: REASON has the field path");
  if (document_part) {
    CHECK(parts[1] == "document " + std::to_string(expected.document.value_or(0)));
    parts.erase(parts.begin() + 1);
    if (parts.size() == 3 && parts[2].find(": ") != std::string::npos) {
      auto colon = parts[2].find(": ");
      parts.push_back(parts[2].substr(colon + 2));
      parts[2] = parts[2].substr(0, colon);
    }
  }
  REQUIRE(parts.size() >= 3);
  const std::string& field = parts[1];
  std::string reason = parts[2];
  for (std::size_t i = 3; i < parts.size(); ++i) reason += ": " + parts[i];

  CHECK_MESSAGE(
      std::find(expected.fields.begin(), expected.fields.end(), field) != expected.fields.end(),
      "field '", field, "'");
  CHECK_MESSAGE(contains(reason, expected.reason_contains), "reason '", reason,
                "' does not mention '", expected.reason_contains, "'");
  if (!expected.document) {
    CHECK(line == expected.line);
    return;
  }
  std::string text_at_line = line_of(file, line);
  bool record_line = line == expected.line;
  bool key_line = line > expected.line && contains(text_at_line, leaf(field) + ":");
  CHECK_MESSAGE((record_line || key_line), "line ", line, " ('", text_at_line,
                "') is neither the document's first line ", expected.line,
                " nor the line of the key of ", field);
}

TEST_SUITE("cli") {
  TEST_CASE("cli: importing every sample gives the outcome samples/README.md specifies") {
    Registry registry;
    auto files = sample_files();
    REQUIRE(files.size() == kSampleFiles.size());
    auto result = registry.import(files);
    INFO("stdout:\n", result.out, "stderr:\n", result.err);
    CHECK_MESSAGE(result.exit_status == 1,
                  "some records are rejected by design: ", result.describe());

    SUBCASE("one summary line per file, in order, with the README's counts") {
      std::vector<std::string> expected;
      for (std::size_t i = 0; i < files.size(); ++i) {
        REQUIRE(fs::path(files[i]).filename() == kSampleFiles[i].name);
        expected.push_back(summary_line(files[i], kSampleFiles[i]));
      }
      CHECK(summary_lines(result.out) == expected);
    }

    SUBCASE("one FILE:LINE: FIELD: REASON line per malformed record") {
      CHECK(split_lines(result.err).size() == kMalformed.size());
      for (const auto& malformed : kMalformed) {
        CAPTURE(malformed.file);
        check_rejection_line(result.err, sample(malformed.file), malformed);
      }
    }

    SUBCASE("the database holds 74 products with 78 versions of 9 manufacturers") {
      RegistryProbe probe(registry.db);
      CHECK(probe.integer("SELECT count(*) FROM products") == kSampleProducts);
      CHECK(probe.integer("SELECT count(*) FROM declaration_versions") == kSampleVersions);
      CHECK(probe.integer("SELECT count(*) FROM manufacturers") == 9);
      CHECK(probe.integer("SELECT count(*) FROM import_runs") == 8);
      CHECK(probe.integer("SELECT sum(records_read) FROM import_runs") == kSampleRecords);
      CHECK(probe.integer("SELECT sum(rejected) FROM import_runs") == kSampleRejected);
      CHECK(probe.integer("SELECT count(*) FROM products WHERE version_count = 2") == 4);
      if (!testing_postgresql()) CHECK(probe.text("PRAGMA integrity_check") == "ok");
    }

    SUBCASE("products --json: one object per product with the DESIGN §5 fields") {
      auto products = registry.products();
      REQUIRE(products.size() == kSampleProducts);
      std::set<std::int64_t> ids;
      std::map<std::string, std::size_t> per_manufacturer;
      std::set<std::string> names;
      for (const auto& product : products) {
        CAPTURE(product.dump());
        REQUIRE(product.is_object());
        REQUIRE(product["id"].is_number_integer());
        ids.insert(product["id"].get<std::int64_t>());
        REQUIRE(product["manufacturer"].is_string());
        REQUIRE(product["brand"].is_string());
        REQUIRE(product["model"].is_string());
        CHECK(product["status"] != "pending");
        CHECK(product["flagged"] == (product["status"] == "non_compliant"));
        REQUIRE(product["findings"].is_array());
        CHECK(product["findings"].size() == 7);
        ++per_manufacturer[product["manufacturer"].get<std::string>()];
        names.insert(product["brand"].get<std::string>() + " " +
                     product["model"].get<std::string>());
      }
      CHECK(ids.size() == products.size());
      CHECK(per_manufacturer == kProductsPerManufacturer);
      for (const char* stored : {"Kestrel KR-1200", "Lumora LV-C610 Solar", "HomeSpark HS-P01",
                                 "Nido Kids Nido Watch Mini", "Orrin OQ55-C8", "Tess Junior 8",
                                 "Pontevia PV-Sensa", "Meridian EVC-22"}) {
        CHECK_MESSAGE(names.count(stored) == 1, stored);
      }
      for (const char* rejected : {"Kestrel KE-16", "HomeSpark HS-P03", "Nidocare NC-350",
                                   "Orrin OC-20", "Tessellate TS-1", "Lumora LV-C500"}) {
        CHECK_MESSAGE(names.count(rejected) == 0, rejected);
      }
    }

    SUBCASE("products: a table of whole names, with support end and flag state, when piped") {
      auto listed = registry.run({"products"});
      REQUIRE(listed.exit_status == 0);
      auto lines = split_lines(listed.out);
      REQUIRE(lines.size() == kSampleProducts + 2);
      CHECK(lines.front().rfind("ID  STATUS", 0) == 0);
      CHECK(contains(lines.front(), "  FLAG  "));
      CHECK(contains(lines.front(), "  SUPPORT ENDS  "));
      CHECK(lines.back() == std::to_string(kSampleProducts) + " products");
      CHECK_FALSE(contains(listed.out, "~"));
      // Each product's row holds its names whole, its support end and its flag's state.
      auto products = registry.products();
      REQUIRE(products.size() == kSampleProducts);
      for (std::size_t i = 0; i < products.size(); ++i) {
        const json& product = products[i];
        const std::string& row = lines[i + 1];
        CAPTURE(row);
        CHECK(row.rfind(std::to_string(product["id"].get<std::int64_t>()) + " ", 0) == 0);
        for (const char* field : {"manufacturer", "brand", "model"}) {
          CHECK(contains(row, "  " + product[field].get<std::string>() + "  "));
        }
        const std::string flag =
            product["flag_state"].is_null() ? "-" : product["flag_state"].get<std::string>();
        CHECK(contains(row, "  " + flag));
      }
      auto one = registry.run({"products", "--limit", "1"});
      CHECK(split_lines(one.out).back() == "1 product");
    }

    SUBCASE("products --csv: a header and the same products as --json") {
      auto listed = registry.run({"products", "--csv"});
      REQUIRE(listed.exit_status == 0);
      auto rows = parse_csv(listed.out);
      REQUIRE(rows.size() == kSampleProducts + 1);
      // Columns are found by name; these must be there.
      const auto& header = rows.front();
      std::map<std::string, std::size_t> column;
      for (std::size_t i = 0; i < header.size(); ++i) column[header[i]] = i;
      for (const char* name :
           {"id", "manufacturer", "brand", "model", "type", "status", "flagged"}) {
        REQUIRE_MESSAGE(column.count(name) == 1, "CSV header without ", name);
      }
      CHECK(header.front() == "id");
      auto products = registry.products();
      REQUIRE(products.size() == kSampleProducts);
      for (std::size_t i = 0; i < products.size(); ++i) {
        const auto& row = rows[i + 1];
        const auto& product = products[i];
        CAPTURE(product.dump());
        REQUIRE(row.size() == header.size());
        CHECK(row[column["id"]] == std::to_string(product["id"].get<std::int64_t>()));
        CHECK(row[column["manufacturer"]] == product["manufacturer"]);
        CHECK(row[column["brand"]] == product["brand"]);
        CHECK(row[column["model"]] == product["model"]);
        CHECK(row[column["type"]] ==
              (product["type"].is_null() ? "" : product["type"].get<std::string>()));
        CHECK(row[column["status"]] == product["status"]);
        CHECK(row[column["flagged"]] == (product["flagged"] == true ? "true" : "false"));
        auto text_or_empty = [](const json& value) {
          return value.is_null()     ? std::string()
                 : value.is_string() ? value.get<std::string>()
                                     : value.dump();
        };
        CHECK(row[column["flag_state"]] == text_or_empty(product["flag_state"]));
        CHECK(row[column["flag_id"]] == text_or_empty(product["flag_id"]));
        CHECK(row[column["remedied"]] == (product["remedied"] == true ? "true" : "false"));
        CHECK(row[column["support_end"]] == text_or_empty(product["support_end"]));
        // The failed checks, in the order of the findings, separated by spaces.
        std::string failing;
        for (const auto& finding : product["findings"]) {
          if (finding["outcome"] != "fail") continue;
          failing += (failing.empty() ? "" : " ") + finding["check"].get<std::string>();
        }
        CHECK(row[column["failing_checks"]] == failing);
        CHECK((product["status"] != "non_compliant" || !failing.empty()));
      }
      // A type with a quote survives CSV quoting (03-orrin-displays.csv line 2).
      bool quoted_type = false;
      for (const auto& row : rows) {
        quoted_type = quoted_type || row[column["type"]] == "55\" QLED smart TV";
      }
      CHECK(quoted_type);
      // --bom: the same CSV after a UTF-8 byte-order mark, for Excel; only with --csv.
      auto marked = registry.run({"products", "--csv", "--bom"});
      REQUIRE(marked.exit_status == 0);
      CHECK(marked.out == "\xEF\xBB\xBF" + listed.out);
      auto refused = registry.run({"products", "--bom"});
      CHECK(refused.exit_status == 2);
      CHECK(contains(refused.err, "--bom requires --csv"));
    }

    SUBCASE("products filters: --status, --manufacturer, --search, --limit") {
      // samples/README.md: under dcms-2019, 50 compliant, 19 non-compliant, 5 excepted.
      CHECK(registry.products({"--status", "pending"}).empty());
      CHECK(registry.products({"--status", "compliant"}).size() == 50);
      auto non_compliant = registry.products({"--status", "non_compliant"});
      CHECK(non_compliant.size() == 19);
      for (const auto& product : non_compliant) CHECK(product["flagged"] == true);
      CHECK(registry.products({"--status", "excepted"}).size() == 5);
      CHECK(registry.products({"--flagged"}).size() == 19);

      auto lumora = registry.products({"--manufacturer", "  lumora   VISION\tltd "});
      CHECK(lumora.size() == 13);
      for (const auto& product : lumora) CHECK(product["manufacturer"] == "Lumora Vision Ltd");
      // A part of the name finds them too; a name they do not contain finds nothing.
      CHECK(registry.products({"--manufacturer", "LUMORA"}).size() == 13);
      CHECK(registry.products({"--manufacturer", "Lumora Vision GmbH"}).empty());

      auto nightjar = registry.products({"--search", "nightjar"});
      REQUIRE(nightjar.size() == 2);
      CHECK(nightjar[0]["model"] == "NJ-BM1");
      CHECK(nightjar[1]["model"] == "NJ-BM2 Pro");

      auto c210 = registry.products({"--search", "C21"});  // a prefix of part of a model
      REQUIRE(c210.size() == 1);
      CHECK(c210[0]["model"] == "LV-C210");

      auto routers = registry.products({"--search", "kestrel KR"});  // every word must match
      CHECK(routers.size() == 7);
      for (const auto& product : routers) {
        CHECK(product["model"].get<std::string>().rfind("KR-", 0) == 0);
      }
      CHECK(registry.products({"--search", "domotica"}).size() == 3);  // diacritics ignored
      CHECK(registry.products({"--search", "\"AND * -x"}).empty());    // no query syntax

      auto all = registry.products();
      auto first = registry.products({"--limit", "5"});
      REQUIRE(first.size() == 5);
      for (std::size_t i = 0; i < first.size(); ++i) CHECK(first[i]["id"] == all[i]["id"]);
      CHECK(registry.products({"--search", "kestrel KR", "--limit", "3"}).size() == 3);
    }

    SUBCASE("show --json: two versions, oldest first, for each re-declared product") {
      struct Change {
        std::string brand, model, first_file, first_location, second_file, second_location;
        std::vector<std::pair<json::json_pointer, std::pair<std::string, std::string>>> fields;
      };
      using P = json::json_pointer;
      const std::vector<Change> changes = {
          {"Lumora",
           "LV-C210",
           "01-lumora-vision.csv",
           "line 2",
           "05-autumn-2026-resubmissions.csv",
           "line 2",
           {{P("/product/firmware_version"), {"2.4.1", "3.0.2"}},
            {P("/product/hardware_version"), {"B2", "B3"}},
            {P("/support/end_date"), {"2029-03-31", "2031-03-31"}}}},
          {"HomeSpark",
           "HS-P01",
           "02-brightpath-electronics.csv",
           "line 2",
           "05-autumn-2026-resubmissions.csv",
           "line 8",
           {{P("/passwords/default"), {"universal", "unique_per_device"}},
            {P("/support/end_date"), {"2028-12-31", "2029-12-31"}}}},
          {"Orrin",
           "OQ65-A7",
           "03-orrin-displays.csv",
           "line 3",
           "05-autumn-2026-resubmissions.csv",
           "line 9",
           {{P("/support/end_date"), {"2031-12-31", "2029-06-30"}}}},
          {"Nidocare",
           "NC-700",
           "02-nidocare.yaml",
           "document 1 (line 3)",
           "04-spring-2026-submissions.yaml",
           "document 14 (line 529)",
           {{P("/product/firmware_version"), {"3.1.0", "3.4.2"}},
            {P("/support/end_date"), {"2029-08-31", "2031-08-31"}}}},
      };
      for (const auto& change : changes) {
        CAPTURE(change.model);
        auto shown = registry.show(registry.product_id(change.brand, change.model));
        CHECK(shown["version_count"] == 2);
        REQUIRE(shown["versions"].is_array());
        REQUIRE(shown["versions"].size() == 2);
        const auto& first = shown["versions"][0];
        const auto& second = shown["versions"][1];
        CHECK(first["version"] == 1);
        CHECK(second["version"] == 2);
        CHECK(first["source"] == sample(change.first_file));
        CHECK(first["location"] == change.first_location);
        CHECK(second["source"] == sample(change.second_file));
        CHECK(second["location"] == change.second_location);
        CHECK(first["import_run"].get<std::int64_t>() < second["import_run"].get<std::int64_t>());
        for (const auto& [pointer, values] : change.fields) {
          CAPTURE(pointer.to_string());
          CHECK(first["declaration"].value(pointer, std::string()) == values.first);
          CHECK(second["declaration"].value(pointer, std::string()) == values.second);
        }
        CHECK(shown["declaration"] == second["declaration"]);  // the latest
      }
      // NC-700 version 2 cites EN 303 645 V3.1.3.
      auto nc700 = registry.show(registry.product_id("Nidocare", "NC-700"));
      CHECK(
          contains(nc700["versions"][1]["declaration"]["statement"]["standards"].dump(), "V3.1.3"));
      CHECK_FALSE(
          contains(nc700["versions"][0]["declaration"]["statement"]["standards"].dump(), "V3.1.3"));
    }

    SUBCASE("the byte-for-byte repeat of Lumora LV-D100 added no version") {
      auto shown = registry.show(registry.product_id("Lumora", "LV-D100"));
      CHECK(shown["version_count"] == 1);
      REQUIRE(shown["versions"].size() == 1);
      CHECK(shown["versions"][0]["source"] == sample("01-lumora-vision.csv"));
      CHECK(shown["versions"][0]["location"] == "line 8");
    }

    SUBCASE("show prints the declaration values, with CSV escapes undone") {
      // LV-C420's passwords.examples hold an escaped | and \ (samples/README.md): the cell is
      // r8\|Kw2-Vd7Tq|Np4\\e7TzW9k|qeARhxbDBnd7.
      auto shown = registry.show(registry.product_id("Lumora", "LV-C420"));
      CHECK(shown["declaration"]["passwords"]["examples"] ==
            json::array({"r8|Kw2-Vd7Tq", "Np4\\e7TzW9k", "qeARhxbDBnd7"}));
      CHECK(shown["declaration"]["manufacturer"]["address"].get<std::string>().find('\n') !=
            std::string::npos);
    }
  }

  // Each sample product's status, by "brand model".
  std::map<std::string, std::string> statuses_by_model(const Registry& registry) {
    std::map<std::string, std::string> statuses;
    for (const auto& product : registry.products()) {
      statuses[product["brand"].get<std::string>() + " " + product["model"].get<std::string>()] =
          product["status"];
    }
    return statuses;
  }

  TEST_CASE(
      "cli: a declaration identical to the latest version changes nothing - one identical to an "
      "older version is a re-declaration") {
    Registry registry;
    auto files = sample_files();
    REQUIRE(registry.import(files).exit_status == 1);
    TableCounts before = table_counts(registry.db);
    REQUIRE(before.versions == kSampleVersions);
    auto statuses_before = statuses_by_model(registry);

    // The last file holds only latest versions: nothing new.
    auto last = registry.import({files.back()});
    INFO("stdout:\n", last.out, "stderr:\n", last.err);
    CHECK(last.exit_status == 1);  // its malformed record is rejected again
    CHECK(table_counts(registry.db) == before);
    const SampleFile& expected_last = kSampleFiles.back();
    CHECK(split_lines(last.out) ==
          std::vector<std::string>{files.back() + ": 8 records, " +
                                   std::to_string(expected_last.stored + expected_last.unchanged) +
                                   " accepted (0 new products, 0 new versions, 7 unchanged), " +
                                   "1 rejected"});

    // Every file again, in order: each earlier version of the four products with two versions
    // becomes the latest again, then their later version does.
    auto again = registry.import(files);
    INFO("stdout:\n", again.out, "stderr:\n", again.err);
    CHECK(again.exit_status == 1);
    const std::map<std::string, int> redeclared = {{"01-lumora-vision.csv", 1},
                                                   {"02-brightpath-electronics.csv", 1},
                                                   {"02-nidocare.yaml", 1},
                                                   {"03-orrin-displays.csv", 1},
                                                   {"04-spring-2026-submissions.yaml", 1},
                                                   {"05-autumn-2026-resubmissions.csv", 3}};
    std::size_t summaries = 0;
    for (const auto& line : split_lines(again.out)) {
      if (line.rfind(kSamples.string(), 0) != 0) continue;
      std::string name = fs::path(line.substr(0, line.find(':'))).filename();
      auto versions = redeclared.count(name) ? redeclared.at(name) : 0;
      CAPTURE(line);
      CHECK(line.find("(0 new products, " + std::to_string(versions) +
                      (versions == 1 ? " new version, " : " new versions, ")) != std::string::npos);
      ++summaries;
    }
    CHECK(summaries == files.size());
    TableCounts after = table_counts(registry.db);
    CHECK(after.products == before.products);
    CHECK(after.versions == before.versions + 8);
    // The latest declarations are those of the first import again, and so are the verdicts.
    CHECK(statuses_by_model(registry) == statuses_before);
    for (const auto& [brand, model] :
         std::vector<std::pair<std::string, std::string>>{{"Lumora", "LV-C210"},
                                                          {"HomeSpark", "HS-P01"},
                                                          {"Orrin", "OQ65-A7"},
                                                          {"Nidocare", "NC-700"}}) {
      CAPTURE(model);
      auto shown = json::parse(
          registry.run({"show", std::to_string(registry.product_id(brand, model)), "--json"}).out);
      REQUIRE(shown["versions"].size() == 4);
      CHECK(shown["versions"][3]["version"] == 4);
      CHECK(shown["versions"][3]["declaration"] == shown["versions"][1]["declaration"]);
      CHECK(shown["versions"][2]["declaration"] == shown["versions"][0]["declaration"]);
      CHECK(shown["versions"][1]["declaration"] != shown["versions"][0]["declaration"]);
    }
  }

  TEST_CASE("cli: import --report writes the row-level report as JSON") {
    Registry registry;
    std::string report_path = registry.dir.file("report.json");
    std::string csv = sample("02-brightpath-electronics.csv");
    std::string yaml = sample("02-nidocare.yaml");
    auto result = registry.import({csv, yaml}, {"--report", report_path});
    INFO("stderr:\n", result.err);
    CHECK(result.exit_status == 1);
    json report = json::parse(read_file(report_path));

    REQUIRE(report.is_object());
    CHECK(report.size() == 2);
    REQUIRE(report["files"].is_array());
    REQUIRE(report["files"].size() == 2);
    for (const auto& file : report["files"]) {
      CAPTURE(file.dump());
      // The summary's members as `import --json` and the API give them, and the rejections.
      for (const char* key :
           {"file", "rejected", "rejected_not_listed", "run_id", "format", "dry_run", "counts",
            "statuses", "flags_raised", "flags_withdrawn", "flags_remedied", "products_changed",
            "changed", "changed_not_listed", "error", "outcome", "duplicates",
            "duplicates_not_listed", "plugin_output"}) {
        CHECK_MESSAGE(file.contains(key), key);
      }
      CHECK(file.size() == 19);
      CHECK(file["plugin_output"] == nlohmann::json::array());
      CHECK(file["rejected_not_listed"] == 0);
    }

    RegistryProbe probe(registry.db);
    const json& brightpath = report["files"][0];
    CHECK(brightpath["file"] == csv);
    CHECK(brightpath["format"] == "csv");
    CHECK(brightpath["run_id"] ==
          probe.integer("SELECT id FROM import_runs WHERE source LIKE '%brightpath%'"));
    CHECK(brightpath["counts"] == json{{"records", 14},
                                       {"accepted", 13},
                                       {"rejected", 1},
                                       {"new_products", 13},
                                       {"new_versions", 0},
                                       {"unchanged", 0}});
    CHECK(brightpath["error"].is_null());
    REQUIRE(brightpath["rejected"].size() == 1);
    const json& gtin = brightpath["rejected"][0];
    CHECK(gtin["record"] == 11);
    CHECK(gtin["location"] == "line 12");
    CHECK(gtin["line"] == 12);
    CHECK_FALSE(gtin.contains("document"));
    CHECK_FALSE(gtin.contains("array_index"));
    REQUIRE(gtin["issues"].size() == 1);
    CHECK(gtin["issues"][0]["field"] == "product.gtin");
    CHECK(contains(gtin["issues"][0]["reason"].get<std::string>(), "check digit"));

    const json& nidocare = report["files"][1];
    CHECK(nidocare["file"] == yaml);
    CHECK(nidocare["format"] == "yaml");
    CHECK(nidocare["run_id"] ==
          probe.integer("SELECT id FROM import_runs WHERE source LIKE '%nidocare%'"));
    CHECK(nidocare["run_id"].get<std::int64_t>() > brightpath["run_id"].get<std::int64_t>());
    CHECK(nidocare["counts"] == json{{"records", 9},
                                     {"accepted", 8},
                                     {"rejected", 1},
                                     {"new_products", 8},
                                     {"new_versions", 0},
                                     {"unchanged", 0}});
    CHECK(nidocare["error"].is_null());
    REQUIRE(nidocare["rejected"].size() == 1);
    const json& days = nidocare["rejected"][0];
    CHECK(days["record"] == 7);
    CHECK(days["document"] == 7);
    CHECK(days["line"] == 256);
    CHECK(days["location"] == "document 7 (line 256)");
    CHECK_FALSE(days.contains("array_index"));
    REQUIRE(days["issues"].size() == 1);
    CHECK(days["issues"][0]["field"] == "vulnerability.acknowledge_days");
    REQUIRE(days["issues"][0].contains("line"));
    CHECK(contains(line_of(yaml, days["issues"][0]["line"]), "acknowledge_days:"));

    CHECK(report["totals"] == json{{"records", 23},
                                   {"accepted", 21},
                                   {"rejected", 2},
                                   {"new_products", 21},
                                   {"new_versions", 0},
                                   {"unchanged", 0}});

    SUBCASE("a file that adds nothing has no run") {
      auto again = registry.import({csv}, {"--report", report_path});
      CHECK(again.exit_status == 1);
      json second = json::parse(read_file(report_path));
      REQUIRE(second["files"].size() == 1);
      CHECK(second["files"][0]["run_id"].is_null());
      CHECK(second["files"][0]["counts"]["unchanged"] == 13);
      CHECK(second["files"][0]["counts"]["new_products"] == 0);
      CHECK(second["files"][0]["rejected"].size() == 1);
    }
  }

  TEST_CASE(
      "cli: a large judged import raises its flags and builds the products' indexes at "
      "commit" *
      doctest::test_suite("sqlite_only")) {
    Registry registry;
    REQUIRE(registry.import({sample("01-lumora-vision.csv")}).exit_status == 1);
    RegistryProbe probe(registry.db);
    const std::string kIndexes =
        "SELECT name || ': ' || sql FROM sqlite_master WHERE type = 'index' "
        "AND tbl_name = 'products' AND sql IS NOT NULL ORDER BY name";
    const std::vector<std::string> indexes = probe.column(kIndexes);
    const std::int64_t schema_version = probe.integer("PRAGMA schema_version");
    const std::int64_t products_before = probe.integer("SELECT count(*) FROM products");

    // Past the 50,000 new products after which an import defers the indexes; declarations
    // that name no point of contact, so each is judged non-compliant and flagged.
    std::string csv = "manufacturer.name,product.brand,product.model,product.type\n";
    for (int i = 0; i < 60000; ++i) {
      csv += "Bulk Maker " + std::to_string(i % 25) + ",Bulk,B" + std::to_string(i) + ",plug\n";
    }
    write_file(registry.dir.file("bulk.csv"), csv);
    auto result = registry.import({registry.dir.file("bulk.csv")});
    INFO("stdout:\n", result.out, "stderr:\n", result.err);
    REQUIRE(result.exit_status == 0);
    CHECK(contains(result.out, "60000 new products"));

    CHECK(probe.integer("PRAGMA schema_version") > schema_version);
    CHECK(probe.column(kIndexes) == indexes);
    CHECK(probe.text("PRAGMA integrity_check") == "ok");
    CHECK(probe.integer("SELECT count(*) FROM products") == products_before + 60000);
    const std::int64_t flagged = probe.integer(
        "SELECT count(*) FROM products INDEXED BY products_manufacturer "
        "WHERE manufacturer_id IN (SELECT id FROM manufacturers WHERE name LIKE 'Bulk Maker %') "
        "AND status = 'non_compliant'");
    CHECK(flagged == 60000);
    CHECK(probe.integer("SELECT count(*) FROM flags f JOIN products p ON p.id = f.product_id "
                        "WHERE p.brand = 'Bulk' AND f.state = 'raised'") == flagged);
    CHECK(probe.integer("SELECT count(*) FROM status_changes c JOIN products p "
                        "ON p.id = c.product_id WHERE p.brand = 'Bulk'") == 2 * flagged);
    CHECK(registry.products({"--manufacturer", "Bulk Maker 7", "--flag-state", "raised"}).size() ==
          2400);
  }

  TEST_CASE("cli: import --dry-run stores nothing and reports the same rejections") {
    Registry registry;
    auto files = sample_files();

    SUBCASE("into a database that does not exist: it is not created") {
      auto dry = registry.import(files, {"--dry-run"});
      INFO("stdout:\n", dry.out, "stderr:\n", dry.err);
      CHECK(dry.exit_status == 1);
      CHECK_FALSE(fs::exists(registry.db));
      CHECK_FALSE(fs::exists(registry.db + "-wal"));
      CHECK_FALSE(fs::exists(registry.dir.file("iotreg.db")));
      REQUIRE(summary_lines(dry.out).size() == files.size());
      // The dry run's summary is the real run's, in the conditional.
      for (std::size_t i = 0; i < files.size(); ++i) {
        CHECK(summary_lines(dry.out)[i] == summary_line(files[i], kSampleFiles[i], true));
      }
      auto real = registry.import(files);
      CHECK(real.exit_status == 1);
      CHECK_MESSAGE(dry.err == real.err, "the same rejections, in the same words");
      for (std::size_t i = 0; i < files.size(); ++i) {
        CHECK(summary_lines(real.out)[i] == summary_line(files[i], kSampleFiles[i]));
      }
    }

    SUBCASE("into an existing database: no row changes") {
      REQUIRE(registry.import({sample("01-lumora-vision.csv")}).exit_status == 1);
      TableCounts before = table_counts(registry.db);
      auto dry = registry.import(files, {"--dry-run"});
      CHECK(dry.exit_status == 1);
      CHECK(split_lines(dry.err).size() == kMalformed.size());
      CHECK(table_counts(registry.db) == before);
      CHECK(registry.products().size() == 12);
    }
  }

  TEST_CASE(
      "cli: an import's dry run reports what the real run then does, field for field, under "
      "both policies") {
    auto files = sample_files();
    // Without what only a stored run has: its id, and the times of its changes.
    auto comparable = [](const std::string& out) {
      std::vector<json> reports;
      for (const auto& line : split_lines(out)) {
        json report = json::parse(line);
        report.erase("dry_run");
        report.erase("run_id");
        for (auto& change : report["changed"]) change.erase("at");
        reports.push_back(std::move(report));
      }
      return reports;
    };
    for (const std::string policy : {"dcms-2019", "psti-2023"}) {
      CAPTURE(policy);
      Registry registry;
      // New products first; then new versions of them (a flag withdrawn, one raised).
      for (const auto& part : {std::vector<std::string>(files.begin(), files.begin() + 4),
                               std::vector<std::string>(files.begin() + 4, files.end())}) {
        std::vector<std::string> arguments = {"--policy", policy, "import", "--json"};
        arguments.insert(arguments.end(), part.begin(), part.end());
        std::vector<std::string> dry_arguments = arguments;
        dry_arguments.insert(dry_arguments.begin() + 4, "--dry-run");
        auto dry = registry.run(dry_arguments);
        auto real = registry.run(arguments);
        INFO("dry run:\n", dry.out, "\nreal run:\n", real.out);
        CHECK(dry.exit_status == real.exit_status);
        auto previewed = comparable(dry.out);
        auto done = comparable(real.out);
        REQUIRE(done.size() == part.size());
        CHECK(previewed == done);
        std::int64_t raised = 0, changed = 0;
        for (const auto& report : done) {
          raised += report["flags_raised"].get<std::int64_t>();
          changed += report["products_changed"].get<std::int64_t>();
        }
        CHECK(raised > 0);  // the comparison covers flags, not only counts of nothing
        CHECK(changed > 0);
      }
    }
  }

  TEST_CASE("cli: import formats and standard input - refused arguments change nothing") {
    Registry registry;

    SUBCASE("'-' with --format reads standard input, in every format") {
      ProcessOptions csv_input;
      csv_input.standard_input = read_file(sample("01-lumora-vision.csv"));
      auto csv = registry.run({"import", "--format", "csv", "-"}, csv_input);
      INFO("stderr:\n", csv.err);
      CHECK(csv.exit_status == 1);
      CHECK(summary_lines(csv.out) ==
            std::vector<std::string>{"-: 13 records, 12 accepted (12 new products, 0 new versions, "
                                     "0 unchanged), 1 rejected"});
      CHECK(split_lines(csv.err) ==
            std::vector<std::string>{"-:35: product.model: required field missing"});

      ProcessOptions jsonl_input;
      jsonl_input.standard_input = read_file(sample("03-tessellate.jsonl"));
      auto jsonl = registry.run({"import", "--format", "jsonl", "-"}, jsonl_input);
      CHECK(jsonl.exit_status == 1);
      CHECK(has_line(jsonl.out,
                     "-: 9 records, 8 accepted (8 new products, 0 new versions, "
                     "0 unchanged), 1 rejected"));
      CHECK(contains(jsonl.err, "-:8: vulnerability.contact_email: "));

      ProcessOptions yaml_input;
      yaml_input.standard_input = read_file(sample("02-nidocare.yaml"));
      auto yaml = registry.run({"import", "--format", "yaml", "-"}, yaml_input);
      CHECK(yaml.exit_status == 1);
      CHECK(has_line(yaml.out,
                     "-: 9 records, 8 accepted (8 new products, 0 new versions, "
                     "0 unchanged), 1 rejected"));

      ProcessOptions json_input;
      json_input.standard_input = R"([{"manufacturer":{"name":"Stdin Devices Ltd"},)"
                                  R"("product":{"brand":"Pipe","model":"P-1"}},)"
                                  R"({"manufacturer":{"name":"Stdin Devices Ltd"},)"
                                  R"("product":{"brand":"Pipe","model":"P-2","colour":"red"}}])";
      auto json_array = registry.run({"import", "--format", "json", "-"}, json_input);
      INFO("json stderr:\n", json_array.err);
      CHECK(json_array.exit_status == 1);
      CHECK(has_line(json_array.out,
                     "-: 2 records, 1 accepted (1 new product, 0 new versions, "
                     "0 unchanged), 1 rejected"));
      CHECK(contains(json_array.err, "product.colour"));

      CHECK(registry.products().size() == 12 + 8 + 8 + 1);
      auto runs = RegistryProbe(registry.db)
                      .column(
                          "SELECT source || ' ' || format "
                          "FROM import_runs ORDER BY id");
      CHECK(runs == std::vector<std::string>{"- csv", "- jsonl", "- yaml", "- json"});
    }

    SUBCASE("--format overrides the extension") {
      std::string file = registry.dir.file("declarations.txt");
      write_file(file, read_file(sample("03-tessellate.jsonl")));
      auto result = registry.import({file}, {"--format", "jsonl"});
      CHECK(result.exit_status == 1);
      CHECK(registry.products().size() == 8);
    }

    SUBCASE("'-' without --format is bad usage") {
      ProcessOptions input;
      input.standard_input = read_file(sample("01-lumora-vision.csv"));
      auto result = registry.run({"import", "-"}, input);
      CHECK(result.exit_status == 2);
      CHECK(contains(result.err, "--format"));
      CHECK_FALSE(fs::exists(registry.db));
    }

    SUBCASE("standard input twice is bad usage") {
      auto result = registry.import({"-", "-"}, {"--format", "csv"});
      CHECK(result.exit_status == 2);
      CHECK_FALSE(fs::exists(registry.db));
    }

    SUBCASE("an unknown extension is bad usage, and nothing of the other files is stored") {
      std::string file = registry.dir.file("declarations.txt");
      write_file(file, read_file(sample("03-tessellate.jsonl")));
      auto result = registry.import({sample("01-lumora-vision.csv"), file});
      CHECK(result.exit_status == 2);
      CHECK(contains(result.err, file));
      CHECK(contains(result.err, "unknown format"));
      CHECK_FALSE(fs::exists(registry.db));
    }

    SUBCASE("a missing file is bad usage, the message names it, nothing is stored") {
      std::string missing = registry.dir.file("no-such-file.csv");
      auto result = registry.import({sample("01-lumora-vision.csv"), missing});
      CHECK(result.exit_status == 2);
      CHECK(contains(result.err, missing));
      CHECK(contains(result.err, "no such file"));
      CHECK_FALSE(fs::exists(registry.db));
    }

    SUBCASE("an unknown --format value is bad usage") {
      auto result = registry.import({sample("01-lumora-vision.csv")}, {"--format", "xml"});
      CHECK(result.exit_status == 2);
      CHECK(contains(result.err, "'xml'"));
      CHECK_FALSE(fs::exists(registry.db));
    }

    SUBCASE("an unreadable file is bad usage, and nothing of the other files is stored") {
      if (::geteuid() != 0) {
        std::string locked = registry.dir.file("locked.csv");
        write_file(locked, read_file(sample("01-lumora-vision.csv")));
        fs::permissions(locked, fs::perms::none);
        auto result = registry.import({sample("02-brightpath-electronics.csv"), locked});
        CHECK(result.exit_status == 2);
        CHECK(contains(result.err, locked));
        CHECK(contains(result.err, "cannot be read"));
        CHECK_FALSE(fs::exists(registry.db));
      } else {
        MESSAGE(
            "running as root, which reads a chmod 000 file: testing a directory named "
            "like a CSV file instead");
      }
      // A directory cannot be read as a file, by root either.
      std::string directory = registry.dir.file("folder.csv");
      fs::create_directory(directory);
      auto result = registry.import({sample("02-brightpath-electronics.csv"), directory});
      INFO("stdout:\n", result.out, "stderr:\n", result.err);
      CHECK(result.exit_status == 2);
      CHECK(contains(result.err, directory));
      CHECK_MESSAGE((!fs::exists(registry.db) || table_counts(registry.db).products == 0),
                    "exit status 2 means nothing changed, but the first file was stored");
    }
  }

  TEST_CASE("cli: database errors exit with status 2 and change nothing" *
            doctest::test_suite("sqlite_only")) {
    Registry registry;

    SUBCASE("a text file") {
      const std::string text = "manufacturer,brand,model\nnot,a,database\n";
      write_file(registry.db, text);
      auto result = registry.import({sample("01-lumora-vision.csv")});
      CHECK(result.exit_status == 2);
      CHECK(contains(result.err, "not an iotreg database"));
      CHECK(contains(result.err, registry.db));
      CHECK(read_file(registry.db) == text);
      CHECK(registry.run({"products"}).exit_status == 2);
    }

    SUBCASE("an SQLite database of another application") {
      {
        RegistryProbe other(registry.db);
        other.exec("CREATE TABLE recipes (name TEXT); INSERT INTO recipes VALUES ('soup')");
      }
      auto result = registry.import({sample("01-lumora-vision.csv")});
      CHECK(result.exit_status == 2);
      CHECK(contains(result.err, "not an iotreg database"));
      RegistryProbe other(registry.db);
      CHECK(other.column("SELECT name FROM sqlite_master") == std::vector<std::string>{"recipes"});
      CHECK(other.integer("PRAGMA user_version") == 0);
      CHECK(other.integer("PRAGMA application_id") == 0);
    }

    SUBCASE("a registry written by a newer iotreg") {
      REQUIRE(registry.import({sample("01-lumora-vision.csv")}).exit_status == 1);
      {
        RegistryProbe newer(registry.db);
        newer.exec("PRAGMA user_version = 99");
      }
      TableCounts before = table_counts(registry.db);
      auto result = registry.import({sample("02-brightpath-electronics.csv")});
      CHECK(result.exit_status == 2);
      CHECK(contains(result.err, "newer"));
      CHECK(table_counts(registry.db) == before);
      CHECK(RegistryProbe(registry.db).integer("PRAGMA user_version") == 99);
      CHECK(registry.run({"products"}).exit_status == 2);
    }

    SUBCASE("a read-only database file") {
      if (::geteuid() == 0) {
        MESSAGE(
            "running as root, which writes read-only files: the locked database below "
            "covers a registry that cannot be written");
      } else {
        REQUIRE(registry.import({sample("01-lumora-vision.csv")}).exit_status == 1);
        TableCounts before = table_counts(registry.db);
        fs::permissions(registry.db, fs::perms::owner_read | fs::perms::group_read);
        auto result = registry.import({sample("02-brightpath-electronics.csv")});
        CHECK(result.exit_status == 2);
        CHECK(contains(result.err, "read-only"));
        fs::permissions(registry.db, fs::perms::owner_read | fs::perms::owner_write);
        CHECK(table_counts(registry.db) == before);
      }
    }
  }

  TEST_CASE("cli: a registry another process is writing to is busy: exit 2, nothing changed") {
    Registry registry;
    REQUIRE(registry.import({sample("01-lumora-vision.csv")}).exit_status == 1);
    TableCounts before = table_counts(registry.db);
    ProcessOptions short_wait;
    short_wait.environment = {{"IOTREG_BUSY_TIMEOUT_MS", "200"}};
    {
      RegistryProbe holder(registry.db);
      holder.hold_write_lock();
      ProcessResult locked =
          registry.run({"import", sample("02-brightpath-electronics.csv")}, short_wait);
      INFO("stdout:\n", locked.out, "stderr:\n", locked.err);
      CHECK(locked.exit_status == 2);
      CHECK(contains(locked.err, "locked"));
      CHECK_MESSAGE(locked.elapsed < std::chrono::milliseconds(4500),
                    "IOTREG_BUSY_TIMEOUT_MS=200 was not honoured: ", locked.elapsed.count(), " ms");
      // Readers are not blocked by a writer.
      auto listed = registry.run({"products", "--json"}, short_wait);
      CHECK(listed.exit_status == 0);
      CHECK(split_lines(listed.out).size() == 12);
      holder.release_write_lock();
    }
    CHECK(table_counts(registry.db) == before);
    auto after = registry.import({sample("02-brightpath-electronics.csv")});
    CHECK(after.exit_status == 1);
    CHECK(table_counts(registry.db).products == before.products + 13);
  }

  TEST_CASE("cli: CSV headers - unknown columns refuse the file - optional ones may be absent") {
    Registry registry;

    SUBCASE("an unknown column: nothing of the file is stored, the column is named") {
      REQUIRE(registry.import({sample("03-orrin-displays.csv")}).exit_status == 1);
      TableCounts before = table_counts(registry.db);
      std::string file = registry.dir.file("colour.csv");
      write_file(file,
                 "manufacturer.name,product.brand,product.model,product.colour\n"
                 "Header Test Ltd,Hue,H-1,red\n"
                 "Header Test Ltd,Hue,H-2,blue\n");
      std::string report_path = registry.dir.file("report.json");
      auto result = registry.import({file}, {"--report", report_path});
      INFO("stdout:\n", result.out, "stderr:\n", result.err);
      CHECK(result.exit_status == 1);
      CHECK(contains(result.err, "product.colour"));
      CHECK(table_counts(registry.db) == before);
      CHECK(registry.products({"--manufacturer", "Header Test Ltd"}).empty());
      json report = json::parse(read_file(report_path));
      REQUIRE(report["files"].size() == 1);
      CHECK(report["files"][0]["run_id"].is_null());
      CHECK(report["files"][0]["counts"]["accepted"] == 0);
      REQUIRE(report["files"][0]["error"].is_string());
      CHECK(contains(report["files"][0]["error"].get<std::string>(), "product.colour"));
    }

    SUBCASE("a misspelt column: the file is refused with the field path it most likely means") {
      std::string file = registry.dir.file("typo.csv");
      write_file(file,
                 "manufacturer.name,product.brand,product.model,support.end_dat\n"
                 "Typo Devices Ltd,Typo,T-1,2030-01-31\n");
      auto result = registry.import({file});
      CHECK(result.exit_status == 1);
      CHECK(contains(result.err, file +
                                     ": header line 1, column 4: unknown column 'support.end_dat'; "
                                     "did you mean support.end_date?"));
      CHECK(registry.products({"--manufacturer", "Typo Devices"}).empty());
    }

    SUBCASE("only the required columns") {
      std::string file = registry.dir.file("minimal.csv");
      write_file(file,
                 "manufacturer.name,product.brand,product.model\n"
                 "Minimal Devices Ltd,Mini,MD-1\n"
                 "Minimal Devices Ltd,Mini,MD-2\n");
      auto result = registry.import({file});
      INFO("stderr:\n", result.err);
      CHECK(result.exit_status == 0);
      CHECK(result.err.empty());
      CHECK(summary_lines(result.out) ==
            std::vector<std::string>{file +
                                     ": 2 records, 2 accepted (2 new products, 0 new versions, "
                                     "0 unchanged), 0 rejected"});
      auto products = registry.products();
      REQUIRE(products.size() == 2);
      CHECK(products[1]["model"] == "MD-2");
      CHECK(products[1]["type"].is_null());
      auto shown = registry.show(products[1]["id"].get<std::int64_t>());
      CHECK(shown["declaration"] == json::parse(R"({"manufacturer":{"name":"Minimal Devices Ltd"},)"
                                                R"("product":{"brand":"Mini","model":"MD-2"}})"));
    }
  }

  TEST_CASE("cli: exit statuses - 1 for not found and 2 for bad usage") {
    Registry registry;
    REQUIRE(registry.import({sample("01-lumora-vision.csv")}).exit_status == 1);

    SUBCASE("show of an unknown product") {
      auto result = registry.run({"show", "999999"});
      CHECK(result.exit_status == 1);
      CHECK(contains(result.err, "no product"));
      CHECK(result.out.empty());
      CHECK(registry.run({"show", "999999", "--json"}).exit_status == 1);
    }
    SUBCASE("show of a known product") {
      auto result = registry.run({"show", "1"});
      CHECK(result.exit_status == 0);
      CHECK(contains(result.out, "LV-C210"));
    }
    SUBCASE("products --status bogus") {
      auto result = registry.run({"products", "--status", "bogus"});
      CHECK(result.exit_status == 2);
      CHECK(contains(result.err, "--status"));
      CHECK(result.out.empty());
    }
    SUBCASE("show with a non-numeric id") { CHECK(registry.run({"show", "abc"}).exit_status == 2); }
    SUBCASE("import without files") { CHECK(registry.run({"import"}).exit_status == 2); }
    SUBCASE("an unknown subcommand") {
      auto result = registry.run({"frobnicate"});
      CHECK(result.exit_status == 2);
      CHECK_FALSE(result.err.empty());
    }
    SUBCASE("no subcommand, with and without --db") {
      CHECK(registry.run({}).exit_status == 2);
      auto bare = registry.run_bare({});
      CHECK(bare.exit_status == 2);
      CHECK_FALSE(bare.err.empty());
      CHECK_FALSE(fs::exists(registry.dir.file("iotreg.db")));
    }
    SUBCASE("an unknown option") {
      CHECK(registry.run({"products", "--colour", "red"}).exit_status == 2);
    }
    // None of these changed the registry.
    CHECK(table_counts(registry.db).products == 12);
  }

  // samples/README.md's "Every record" table is the specification of the sample verdicts: for
  // each stored record, the status under each policy, the failing checks and the warnings. The
  // last stored record of a product is its latest version.
  struct ExpectedVerdict {
    std::string status;
    std::set<std::string> failing;  // checks that fail
    std::set<std::string> warning;  // checks that warn
  };

  ExpectedVerdict parse_verdict(std::string cell) {
    ExpectedVerdict verdict;
    static const std::regex kStatus(R"(^\**(compliant|non_compliant|excepted)\**)");
    static const std::regex kFailing(R"(([a-z-]+) rule)");
    static const std::regex kWarning(R"(warn: ([a-z-]+))");
    std::smatch match;
    if (std::regex_search(cell, match, kStatus)) verdict.status = match[1];
    std::string failing_part = cell.substr(0, cell.find('('));
    for (std::sregex_iterator it(failing_part.begin(), failing_part.end(), kFailing), end;
         it != end; ++it) {
      verdict.failing.insert((*it)[1]);
    }
    for (std::sregex_iterator it(cell.begin(), cell.end(), kWarning), end; it != end; ++it) {
      verdict.warning.insert((*it)[1]);
    }
    return verdict;
  }

  // product "brand model" -> {dcms-2019 verdict, psti-2023 verdict} of its latest version.
  std::map<std::string, std::pair<ExpectedVerdict, ExpectedVerdict>> expected_verdicts() {
    std::map<std::string, std::pair<ExpectedVerdict, ExpectedVerdict>> expected;
    std::string readme = read_file(sample("README.md"));
    auto table = readme.substr(readme.find("## Every record"));
    for (const auto& line : split_lines(table)) {
      if (line.rfind("| `", 0) != 0) continue;
      std::vector<std::string> cells;
      std::size_t start = 1;
      for (std::size_t bar; (bar = line.find(" |", start)) != std::string::npos; start = bar + 2) {
        std::string cell = line.substr(start, bar - start);
        cell.erase(0, cell.find_first_not_of(' '));
        cells.push_back(cell);
      }
      REQUIRE(cells.size() == 7);
      if (cells[3] != "stored") continue;
      expected[cells[1]] = {parse_verdict(cells[5]), parse_verdict(cells[6])};
    }
    return expected;
  }

  TEST_CASE("cli: sample verdicts under both policies are those samples/README.md specifies") {
    auto expected = expected_verdicts();
    REQUIRE(expected.size() == kSampleProducts);
    for (const std::string policy : {"dcms-2019", "psti-2023"}) {
      CAPTURE(policy);
      Registry registry;
      auto result = registry.run([&] {
        std::vector<std::string> arguments = {"--policy", policy, "import"};
        for (const auto& file : sample_files()) arguments.push_back(file);
        return arguments;
      }());
      INFO("stderr: ", result.err);
      REQUIRE(result.exit_status == 1);
      std::size_t non_compliant = 0;
      for (const auto& product : registry.products()) {
        std::string name =
            product["brand"].get<std::string>() + " " + product["model"].get<std::string>();
        CAPTURE(name);
        CAPTURE(product.dump());
        REQUIRE(expected.count(name) == 1);
        const auto& verdict = policy == "dcms-2019" ? expected[name].first : expected[name].second;
        CHECK(product["status"] == verdict.status);
        std::set<std::string> failing, warning;
        for (const auto& finding : product["findings"]) {
          CHECK(finding["requirement"].get<std::string>().size() > 0);
          if (finding["outcome"] == "fail") {
            failing.insert(finding["check"].get<std::string>());
            CHECK(finding["message"].get<std::string>().size() > 10);
          }
          if (finding["outcome"] == "warn") warning.insert(finding["check"].get<std::string>());
        }
        CHECK(failing == verdict.failing);
        CHECK(warning == verdict.warning);
        // Prohibition regime: exactly the non-compliant products carry an open flag.
        CHECK(product["flagged"] == (verdict.status == "non_compliant"));
        non_compliant += verdict.status == "non_compliant";
      }
      // HomeSpark HS-P01 was flagged by its first version; its second, compliant, withdrew the
      // flag before any officer reviewed it.
      auto raised = json_lines(registry.run({"flags", "--json", "--state", "raised"}).out);
      auto withdrawn = json_lines(registry.run({"flags", "--json", "--state", "withdrawn"}).out);
      CHECK(raised.size() == non_compliant);
      REQUIRE(withdrawn.size() == 1);
      CHECK(withdrawn[0]["model"] == "HS-P01");
      CHECK(withdrawn[0]["remedied"] == false);
      REQUIRE(withdrawn[0]["history"].size() == 2);
      CHECK(withdrawn[0]["history"][1]["state"] == "withdrawn");
      CHECK(withdrawn[0]["history"][1]["actor"].get<std::string>().rfind("import run ", 0) == 0);
    }
  }

  // Imports every sample under the default policy; returns the registry.
  void import_samples(const Registry& registry) {
    auto result = registry.import(sample_files());
    INFO("stderr: ", result.err);
    REQUIRE(result.exit_status == 1);
  }

  TEST_CASE(
      "cli: check re-judges stale products and --dry-run previews the impact storing nothing") {
    Registry registry;
    import_samples(registry);
    auto expected = expected_verdicts();

    SUBCASE("nothing is stale right after an import under the same policy and date") {
      auto result = registry.run({"check", "--json"});
      REQUIRE(result.exit_status == 0);
      auto report = json::parse(result.out);
      CHECK(report["checked"] == 0);
      CHECK(report["changes"].empty());
    }

    SUBCASE("a policy change: dry run, then the real re-check") {
      TableCounts before = table_counts(registry.db);
      auto statuses_before = statuses_by_model(registry);
      auto dry = registry.run({"--policy", "psti-2023", "check", "--dry-run", "--json"});
      INFO("stderr: ", dry.err);
      REQUIRE(dry.exit_status == 0);
      auto preview = json::parse(dry.out);
      CHECK(preview["dry_run"] == true);
      CHECK(preview["checked"] == kSampleProducts);
      // The products whose status differs between the policies in samples/README.md.
      std::set<std::string> differing;
      for (const auto& [name, verdicts] : expected) {
        if (verdicts.first.status != verdicts.second.status) differing.insert(name);
      }
      std::set<std::string> previewed;
      std::int64_t newly_flagged = 0, unflagged = 0;
      for (const auto& change : preview["changes"]) {
        std::string name =
            change["brand"].get<std::string>() + " " + change["model"].get<std::string>();
        previewed.insert(name);
        CHECK(change["from"] == expected[name].first.status);
        CHECK(change["to"] == expected[name].second.status);
        newly_flagged += change["flagged"] == true && change["flagged_before"] == false;
        unflagged += change["flagged"] == false && change["flagged_before"] == true;
      }
      CHECK(previewed == differing);
      std::int64_t per_manufacturer_flagged = 0, per_manufacturer_unflagged = 0;
      for (const auto& manufacturer : preview["manufacturers"]) {
        per_manufacturer_flagged += manufacturer["newly_flagged"].get<std::int64_t>();
        per_manufacturer_unflagged += manufacturer["unflagged"].get<std::int64_t>();
      }
      CHECK(per_manufacturer_flagged == newly_flagged);
      CHECK(per_manufacturer_unflagged == unflagged);
      // Nothing stored.
      CHECK(table_counts(registry.db) == before);
      CHECK(statuses_by_model(registry) == statuses_before);

      auto real = registry.run({"--policy", "psti-2023", "check", "--json"});
      REQUIRE(real.exit_status == 0);
      // The preview is the re-check, field for field, but for what only a stored run has.
      json real_report = json::parse(real.out);
      CHECK(real_report["run_id"].is_number_integer());
      CHECK(preview["run_id"].is_null());
      for (auto* report : {&real_report, &preview}) {
        report->erase("dry_run");
        report->erase("run_id");
        for (auto& change : (*report)["changed"]) change.erase("at");
      }
      CHECK(real_report == preview);
      for (const auto& [name, status] : statuses_by_model(registry)) {
        CAPTURE(name);
        CHECK(status == expected[name].second.status);
      }
      RegistryProbe probe(registry.db);
      CHECK(probe.integer("SELECT count(*) FROM audit_events WHERE action = 'recheck'") == 1);
      // Unreviewed flags whose product became compliant were withdrawn, nothing was lifted.
      CHECK(probe.integer("SELECT count(*) FROM audit_events WHERE action = 'flag.withdrawn'") ==
            1 + unflagged);  // HS-P01 at import, then the re-check's withdrawals
      CHECK(probe.integer("SELECT count(*) FROM flags WHERE state = 'lifted'") == 0);
      CHECK(probe.integer("SELECT count(*) FROM flags WHERE state = 'raised'") ==
            static_cast<std::int64_t>(registry.products({"--status", "non_compliant"}).size()));

      // Now current: nothing stale; --all re-judges everything and changes nothing.
      CHECK(json::parse(
                registry.run({"--policy", "psti-2023", "check", "--json"}).out)["checked"] == 0);
      auto all =
          json::parse(registry.run({"--policy", "psti-2023", "check", "--all", "--json"}).out);
      CHECK(all["checked"] == kSampleProducts);
      CHECK(all["changes"].empty());
    }

    SUBCASE("a later as-of date makes verdicts stale; time-dependent findings change") {
      auto result =
          registry.run_bare({"--db", registry.db, "--as-of", "2027-06-01", "check", "--json"});
      REQUIRE(result.exit_status == 0);
      auto report = json::parse(result.out);
      CHECK(report["checked"] == kSampleProducts);
      // Tessellate TP-6 Pro's statement (dated 2027-06-01) is no longer in the future.
      bool tp6 = false;
      for (const auto& change : report["changes"]) {
        if (change["model"] == "TP-6 Pro") tp6 = change["to"] == "compliant";
      }
      CHECK(tp6);
    }
  }

  TEST_CASE(
      "cli: flag confirm dismiss and lift - reasons required, audited, shown in the history") {
    Registry registry;
    import_samples(registry);
    auto flags = json_lines(registry.run({"flags", "--json", "--state", "raised"}).out);
    REQUIRE(flags.size() >= 3);
    std::int64_t first = flags[0]["id"], second = flags[1]["id"], third = flags[2]["id"];
    std::int64_t product = flags[0]["product_id"];
    CHECK(flags[0]["reason"].get<std::string>().find("non-compliant under dcms-2019") == 0);
    CHECK(flags[0]["remedied"] == false);
    CHECK(flags[0]["history"].size() == 1);

    SUBCASE("a reason is required and must say something") {
      TableCounts before = table_counts(registry.db);
      CHECK(registry.run({"flag", "confirm", std::to_string(first)}).exit_status == 2);
      auto blank = registry.run({"flag", "confirm", std::to_string(first), "--reason", "  "});
      CHECK(blank.exit_status == 2);
      CHECK(blank.err == "iotreg: reason must say why (it is recorded in the audit log)\n");
      auto notice = registry.run(
          {"flag", "dismiss", std::to_string(first), "--reason", "x", "--notice", "SN-1"});
      CHECK(notice.exit_status == 2);  // --notice goes with confirm only
      CHECK(table_counts(registry.db) == before);
    }

    SUBCASE("confirm with a notice, then lift: each transition is audited with the person") {
      auto confirmed =
          registry.run({"--actor", "Jane Smith", "flag", "confirm", std::to_string(first),
                        "--reason", "lab test ok", "--notice", "SN-2026-0141"});
      REQUIRE_MESSAGE(confirmed.exit_status == 0, confirmed.err);
      CHECK(confirmed.out == "flag " + std::to_string(first) + " confirmed\n");
      CHECK(registry.products({"--flagged"}).size() ==
            registry.products({"--status", "non_compliant"}).size());
      auto lifted = registry.run({"--actor", "Jane Smith", "flag", "lift", std::to_string(first),
                                  "--reason", "stop notice withdrawn on appeal"});
      REQUIRE_MESSAGE(lifted.exit_status == 0, lifted.err);
      auto shown = json::parse(registry.run({"show", std::to_string(product), "--json"}).out);
      CHECK(shown["flagged"] == false);
      CHECK(shown["flag_state"] == "lifted");
      REQUIRE(shown["flags"].size() == 1);
      const auto& flag = shown["flags"][0];
      CHECK(flag["state"] == "lifted");
      CHECK(flag["notice"] == "SN-2026-0141");
      const auto& history = flag["history"];
      REQUIRE(history.size() == 3);
      CHECK(history[0]["state"] == "raised");
      CHECK(history[0]["actor"].get<std::string>().rfind("import run ", 0) == 0);
      CHECK(history[1]["state"] == "confirmed");
      CHECK(history[1]["reason"] == "lab test ok");
      CHECK(history[1]["actor"] == "Jane Smith (command line)");
      CHECK(history[2]["state"] == "lifted");
      CHECK(history[2]["reason"] == "stop notice withdrawn on appeal");
      // A lifted flag cannot be confirmed or lifted again; the message names its state.
      auto again = registry.run({"flag", "confirm", std::to_string(first), "--reason", "x"});
      CHECK(again.exit_status == 2);
      CHECK(again.err == "iotreg: flag " + std::to_string(first) +
                             " is lifted; only a raised flag can be confirmed\n");
      CHECK(json_lines(registry.run({"flags", "--json", "--state", "lifted"}).out).size() == 1);
      // The status history names every change.
      auto changes = json_lines(registry.run({"changes", "--since", "2000-01-01", "--json"}).out);
      REQUIRE(changes.size() >= 2);
      CHECK(changes[0]["kind"] == "flag");
      CHECK(changes[0]["from"] == "confirmed");
      CHECK(changes[0]["to"] == "lifted");
      CHECK(changes[0]["cause"] == "Jane Smith (command line)");
      CHECK(changes[0]["product_id"] == product);
      CHECK(changes[1]["to"] == "confirmed");
    }

    SUBCASE("several flags in one action: all or none") {
      TableCounts before = table_counts(registry.db);
      auto refused =
          registry.run({"flag", "confirm", std::to_string(second), "999999", "--reason", "both"});
      CHECK(refused.exit_status == 1);
      CHECK(refused.err == "iotreg: no flag with id 999999\n");
      CHECK(table_counts(registry.db) == before);
      auto both = registry.run({"flag", "confirm", std::to_string(second), std::to_string(third),
                                "--reason", "test purchases"});
      REQUIRE_MESSAGE(both.exit_status == 0, both.err);
      auto confirmed = json_lines(registry.run({"flags", "--json", "--state", "confirmed"}).out);
      CHECK(confirmed.size() == 2);
      auto conflict =
          registry.run({"flag", "dismiss", std::to_string(first), std::to_string(second),
                        std::to_string(second), "--reason", "z"});
      CHECK(conflict.exit_status == 2);  // a flag named twice
      CHECK(json_lines(registry.run({"flags", "--json", "--state", "raised"}).out).size() ==
            flags.size() - 2);
    }

    SUBCASE("an unknown flag is not found") {
      auto missing = registry.run({"flag", "confirm", "999999", "--reason", "x"});
      CHECK(missing.exit_status == 1);
      CHECK(missing.err.find("no flag with id 999999") != std::string::npos);
    }
  }

  TEST_CASE(
      "cli: re-declaring an earlier declaration withdraws a raised flag and remedies a confirmed "
      "one, which stays confirmed until an officer lifts it") {
    Registry registry;
    import_samples(registry);
    const std::int64_t oq65 = registry.product_id("Orrin", "OQ65-A7");
    auto open_flags = [&](const std::string& state) {
      std::set<std::int64_t> products;
      for (const auto& flag : json_lines(registry.run({"flags", "--json", "--state", state}).out)) {
        products.insert(flag["product_id"].get<std::int64_t>());
      }
      return products;
    };
    auto product_ids = [&](std::vector<std::string> filters) {
      std::set<std::int64_t> ids;
      for (const auto& product : registry.products(std::move(filters)))
        ids.insert(product["id"].get<std::int64_t>());
      return ids;
    };
    // Version 2 shortened the support period: flagged, unreviewed.
    REQUIRE(open_flags("raised").count(oq65) == 1);
    auto flags = json_lines(registry.run({"flags", "--json", "--state", "raised"}).out);
    std::int64_t flag_id = 0;
    for (const auto& flag : flags) {
      if (flag["product_id"] == oq65) flag_id = flag["id"];
    }
    REQUIRE(flag_id != 0);
    CHECK(product_ids({"--flag-state", "raised"}).count(oq65) == 1);

    SUBCASE("an unreviewed flag is withdrawn") {
      auto redeclared = registry.import({sample("03-orrin-displays.csv")});
      INFO("stdout: ", redeclared.out, "stderr: ", redeclared.err);
      CHECK(contains(redeclared.out, "1 new version"));
      auto shown = json::parse(registry.run({"show", std::to_string(oq65), "--json"}).out);
      CHECK(shown["status"] == "compliant");
      CHECK(shown["flagged"] == false);
      CHECK(shown["flag_state"] == "withdrawn");
      CHECK(shown["versions"].size() == 3);
      CHECK(shown["versions"][2]["declaration"] == shown["versions"][0]["declaration"]);
      CHECK(product_ids({"--flag-state", "withdrawn"}).count(oq65) == 1);
      CHECK(product_ids({"--flag-state", "raised"}).count(oq65) == 0);
      auto changes = json_lines(registry.run({"changes", "--since", "2000-01-01", "--json"}).out);
      REQUIRE(changes.size() >= 2);
      std::set<std::pair<std::string, std::string>> newest;
      for (const auto& change : changes) {
        if (change["product_id"] == oq65 && change["version"] == 3) {
          newest.emplace(change["kind"].get<std::string>(), change["to"].get<std::string>());
          CHECK(change["cause"].get<std::string>().rfind("import run ", 0) == 0);
        }
      }
      CHECK(newest == std::set<std::pair<std::string, std::string>>{{"status", "compliant"},
                                                                    {"flag", "withdrawn"}});
      // One cause only: the re-declaring import's.
      const std::string cause = changes[0]["cause"];
      auto of_cause = json_lines(registry.run({"changes", "--cause", cause, "--json"}).out);
      CHECK(of_cause.size() == 2);
      for (const auto& change : of_cause) CHECK(change["cause"] == cause);
      CHECK(
          json_lines(registry.run({"changes", "--cause", "import run 999", "--json"}).out).empty());
    }

    SUBCASE("a confirmed flag is remedied and stays in force") {
      REQUIRE(registry
                  .run({"flag", "confirm", std::to_string(flag_id), "--reason", "test purchase",
                        "--notice", "SN-7"})
                  .exit_status == 0);
      CHECK(product_ids({"--remedied"}).empty());
      auto redeclared = registry.import({sample("03-orrin-displays.csv")});
      INFO("stdout: ", redeclared.out, "stderr: ", redeclared.err);
      CHECK(contains(redeclared.out, "flags: 0 raised, 0 withdrawn, 1 confirmed remedied"));
      auto confirmed = json_lines(registry.run({"flags", "--json", "--state", "confirmed"}).out);
      REQUIRE(confirmed.size() == 1);
      CHECK(confirmed[0]["id"] == flag_id);
      CHECK(confirmed[0]["remedied"] == true);
      CHECK(confirmed[0]["remedied_version"] == 3);
      CHECK(confirmed[0]["notice"] == "SN-7");
      CHECK(json_lines(registry.run({"flags", "--json", "--remedied"}).out).size() == 1);
      CHECK(product_ids({"--remedied"}) == std::set<std::int64_t>{oq65});
      CHECK(product_ids({"--flag-state", "confirmed"}) == std::set<std::int64_t>{oq65});
      auto product = registry.products({"--remedied"})[0];
      CHECK(product["status"] == "compliant");
      CHECK(product["flagged"] == true);
      CHECK(product["flag_state"] == "confirmed");
      CHECK(product["remedied"] == true);

      // Nothing automatic lifts it: neither a re-check under another policy nor a later date.
      for (const std::vector<std::string>& check :
           {std::vector<std::string>{"--policy", "psti-2023", "check", "--all"},
            std::vector<std::string>{"check", "--all"}}) {
        REQUIRE(registry.run(check).exit_status == 0);
        auto after = json_lines(registry.run({"flags", "--json", "--state", "confirmed"}).out);
        REQUIRE(after.size() == 1);
        CHECK(after[0]["remedied"] == true);
      }
      // A later version that fails again: the remedy lapses, the flag is still confirmed.
      auto relapse = registry.import({sample("05-autumn-2026-resubmissions.csv")});
      CHECK(contains(relapse.out, "1 new version"));
      auto lapsed = json_lines(registry.run({"flags", "--json", "--state", "confirmed"}).out);
      REQUIRE(lapsed.size() == 1);
      CHECK(lapsed[0]["remedied"] == false);
      CHECK(product_ids({"--remedied"}).empty());
      // Only an officer lifts it, with a reason.
      REQUIRE(registry.run({"flag", "lift", std::to_string(flag_id), "--reason", "appeal upheld"})
                  .exit_status == 0);
      CHECK(product_ids({"--flag-state", "lifted"}) == std::set<std::int64_t>{oq65});
    }

    SUBCASE("an unknown --flag-state is bad usage") {
      auto refused = registry.run({"products", "--flag-state", "open"});
      CHECK(refused.exit_status == 2);
      CHECK(refused.err ==
            "iotreg: --flag-state must be raised, withdrawn, confirmed, dismissed or lifted\n");
    }
  }

  TEST_CASE("cli: products answers an officer's questions: part of a name, type, support end") {
    Registry registry;
    REQUIRE(registry.import(sample_files()).exit_status == 1);
    const auto every = registry.products();
    REQUIRE(every.size() == kSampleProducts);
    // What each filter must keep, worked out from every product's JSON.
    auto expected = [&](auto keep) { return ids_where(every, keep); };
    auto ids_of = [&](std::vector<std::string> filters) {
      return registry.product_ids(std::move(filters));
    };
    auto support_end = [](const json& product) {
      return product["support_end"].is_null() ? std::string()
                                              : product["support_end"].get<std::string>();
    };
    auto by_brightpath = expected([](const json& product) {
      return product["manufacturer"] == "Shenzhen Brightpath Electronics Co., Ltd.";
    });
    CHECK(by_brightpath.size() ==
          kProductsPerManufacturer.at("Shenzhen Brightpath Electronics Co., Ltd."));
    CHECK(ids_of({"--manufacturer", "BRIGHTPATH"}) == by_brightpath);
    CHECK(ids_of({"--manufacturer", "brightpath electronics"}) == by_brightpath);
    auto before_2028 = expected([&](const json& product) {
      return !support_end(product).empty() && support_end(product) < "2028-01-01";
    });
    REQUIRE_FALSE(before_2028.empty());
    CHECK(ids_of({"--support-ends-before", "2028-01-01"}) == before_2028);
    auto after_2030 =
        expected([&](const json& product) { return support_end(product) > "2030-06-30"; });
    REQUIRE_FALSE(after_2030.empty());
    CHECK(ids_of({"--support-ends-after", "2030-06-30"}) == after_2030);
    CHECK(ids_of({"--manufacturer", "brightpath", "--support-ends-before", "2028-01-01"}) ==
          expected([&](const json& product) {
            return product["manufacturer"] == "Shenzhen Brightpath Electronics Co., Ltd." &&
                   !support_end(product).empty() && support_end(product) < "2028-01-01";
          }));
    const std::string some_type = every.front()["type"].get<std::string>();
    std::string shouted = some_type;
    for (char& c : shouted) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    CHECK(ids_of({"--type", shouted}) ==
          expected([&](const json& product) { return product["type"] == some_type; }));
    // Everything here was declared today.
    CHECK(ids_of({"--changed-since", "2000-01-01"}).size() == kSampleProducts);
    CHECK(ids_of({"--changed-since", "2999-01-01"}).empty());
    for (const char* option :
         {"--support-ends-before", "--support-ends-after", "--changed-since"}) {
      CAPTURE(option);
      auto refused = registry.run({"products", option, "2027-02-30"});
      CHECK(refused.exit_status == 2);
      CHECK(refused.err ==
            std::string("iotreg: ") + option + " must be a calendar date written YYYY-MM-DD\n");
    }
  }

  TEST_CASE("cli: products by class and by failing check; unknown ones are refused by name") {
    Registry registry;
    REQUIRE(registry.import(sample_files()).exit_status == 1);
    const auto every = registry.products();
    REQUIRE(every.size() == kSampleProducts);
    auto expected = [&](auto keep) { return ids_where(every, keep); };
    auto ids_of = [&](std::vector<std::string> filters) {
      return registry.product_ids(std::move(filters));
    };
    // Each product carries the class of its type: every router is network equipment and every
    // baby monitor a children's product.
    std::size_t routers = 0, monitors = 0;
    for (const auto& product : every) {
      const std::string type =
          product["type"].is_string() ? product["type"].get<std::string>() : "";
      CAPTURE(type);
      if (type.find("router") != std::string::npos && type.find("laptop") == std::string::npos) {
        ++routers;
        CHECK(product["class"] == "network");
      }
      if (type.find("baby monitor") != std::string::npos) {
        ++monitors;
        CHECK(product["class"] == "children");
      }
    }
    CHECK(routers > 0);
    CHECK(monitors > 0);
    for (const char* product_class : {"network", "children", "other"}) {
      CAPTURE(product_class);
      CHECK(ids_of({"--class", product_class}) ==
            expected([&](const json& product) { return product["class"] == product_class; }));
    }
    // A failing check is any check the latest verdict failed, as failing_checks lists them.
    auto failing = [](const json& product, const std::string& check) {
      for (const auto& id : product["failing_checks"]) {
        if (id == check) return true;
      }
      return false;
    };
    std::set<std::string> failed_checks;
    for (const auto& product : every) {
      for (const auto& id : product["failing_checks"]) failed_checks.insert(id.get<std::string>());
    }
    REQUIRE(failed_checks.size() >= 2);
    for (const auto& check : failed_checks) {
      CAPTURE(check);
      const auto failing_it =
          expected([&](const json& product) { return failing(product, check); });
      CHECK_FALSE(failing_it.empty());
      CHECK(ids_of({"--failing", check}) == failing_it);
      CHECK(ids_of({"--failing", check, "--status", "compliant"}) ==
            expected([&](const json& product) {
              return failing(product, check) && product["status"] == "compliant";
            }));
    }

    auto refused = registry.run({"products", "--class", "cameras"});
    CHECK(refused.exit_status == 2);
    CHECK(refused.err.find("iotreg: --class 'cameras' is not a product class (did you mean "
                           "camera?); it must be one of: children, wearable, camera,") == 0);
    const std::string some_check = *failed_checks.begin();
    const std::string misspelt = some_check.substr(0, some_check.size() - 1);
    refused = registry.run({"products", "--failing", misspelt});
    CHECK(refused.exit_status == 2);
    CHECK(refused.err.find("iotreg: --failing '" + misspelt +
                           "' is not a check in use (did you mean " + some_check + "?)") == 0);
  }

  TEST_CASE("cli: a registry from before product classes gets every class and failing check") {
    Registry registry;
    REQUIRE(registry.import(sample_files()).exit_status == 1);
    const auto before = registry.products();
    // Who fails each check, as the filter finds them.
    auto failing_by_check = [&] {
      std::map<std::string, std::vector<json>> found;
      for (const auto& product : before) {
        for (const auto& id : product["failing_checks"]) {
          const std::string check = id.get<std::string>();
          if (found.count(check) == 0) found[check] = registry.products({"--failing", check});
        }
      }
      return found;
    };
    const auto failing_before = failing_by_check();
    REQUIRE(failing_before.size() >= 2);
    {
      // The schema as it was before the columns came (SQLite 6, PostgreSQL 2), without what
      // later migrations add.
      test::RegistryProbe probe(registry.db);
      probe.exec("DROP TABLE IF EXISTS sessions");
      probe.exec("DROP TABLE IF EXISTS unregistered_lookups");
      probe.exec("DROP INDEX products_class");
      probe.exec("DROP INDEX products_gtin");
      probe.exec("DROP INDEX products_lookup");
      if (test::testing_postgresql()) {
        probe.exec(
            "ALTER TABLE products DROP COLUMN class, DROP COLUMN failing_checks, "
            "DROP COLUMN gtin, DROP COLUMN lookup_hash");
        probe.exec("UPDATE iotreg_schema SET version = 2");
      } else {
        probe.exec("ALTER TABLE products DROP COLUMN class");
        probe.exec("ALTER TABLE products DROP COLUMN failing_checks");
        probe.exec("ALTER TABLE products DROP COLUMN gtin");
        probe.exec("ALTER TABLE products DROP COLUMN lookup_hash");
        probe.exec("PRAGMA user_version = 6");
      }
    }
    const auto after = registry.products();  // opening the registry migrates it
    REQUIRE(after.size() == before.size());
    {
      test::RegistryProbe probe(registry.db);
      CHECK(probe.integer("SELECT count(*) FROM products WHERE class = 'other'") <
            static_cast<std::int64_t>(before.size()));
      CHECK(probe.integer("SELECT count(*) FROM products WHERE failing_checks <> ''") > 0);
    }
    for (std::size_t i = 0; i < after.size(); ++i) {
      CAPTURE(after[i]["id"]);
      CHECK(after[i]["class"] == before[i]["class"]);
    }
    CHECK(failing_by_check() == failing_before);
  }

  TEST_CASE("cli: a rejected record names its product when its identity was read") {
    Registry registry;
    const std::string file = registry.dir.file("dates.csv");
    write_file(file,
               "manufacturer.name,product.brand,product.model,support.end_date\n"
               "Date Devices Ltd,Dated,DD-1,2030-02-30\n"
               "Date Devices Ltd,Dated,,2030-02-30\n");
    const std::string report_path = registry.dir.file("report.json");
    auto result = registry.import({file}, {"--report", report_path});
    CHECK(result.exit_status == 1);
    auto lines = split_lines(result.err);
    CHECK(std::count(lines.begin(), lines.end(),
                     file + ":2: support.end_date: '2030-02-30' is not a calendar date (no such "
                            "month or day) (Date Devices Ltd / Dated DD-1)") == 1);
    // Without a model there is no product to name; each problem is reported once.
    CHECK(std::count(lines.begin(), lines.end(),
                     file + ":3: support.end_date: '2030-02-30' is not a calendar date (no such "
                            "month or day)") == 1);
    CHECK(std::count(lines.begin(), lines.end(),
                     file + ":3: product.model: required field missing") == 1);
    json report = json::parse(read_file(report_path));
    const json& rejected = report["files"][0]["rejected"];
    REQUIRE(rejected.size() == 2);
    CHECK(rejected[0]["product"] ==
          json{{"manufacturer", "Date Devices Ltd"}, {"brand", "Dated"}, {"model", "DD-1"}});
    CHECK_FALSE(rejected[1].contains("product"));
  }

  TEST_CASE("cli: whitespace around values is removed before validation, identity included") {
    Registry registry;
    const std::string header = "manufacturer.name,product.brand,product.model,product.cellular\n";
    std::ofstream(registry.dir.file("a.csv")) << header << "Acme Ltd ,Acme,  HL-CAM2  ,no \n";
    std::ofstream(registry.dir.file("b.csv")) << header << "Acme Ltd,Acme,HL-CAM2,no\n";
    auto stored = registry.import({registry.dir.file("a.csv")});
    INFO("stderr: ", stored.err);
    REQUIRE(stored.exit_status == 0);
    auto products = registry.products();
    REQUIRE(products.size() == 1);
    CHECK(products[0]["model"] == "HL-CAM2");
    CHECK(products[0]["manufacturer"] == "Acme Ltd");
    auto same = registry.import({registry.dir.file("b.csv")});
    CHECK(contains(same.out, "0 new products, 0 new versions, 1 unchanged"));
    CHECK(registry.products()[0]["version_count"] == 1);
  }

  TEST_CASE("cli: a messy spreadsheet export: every problem named once, by product and field") {
    Registry registry;
    // Excel's "CSV UTF-8": a byte-order mark and CRLF; cells with spaces around them, a date the
    // way a UK spreadsheet writes it, a row repeated, and a row with two problems.
    const std::string rows =
        "manufacturer.name,product.brand,product.model,product.type,support.end_date,"
        "product.cellular\r\n"
        "Dom\u00F3tica Ib\u00E9rica S.L. ,Dom\u00F3tica, DX-1 ,Smart Camera,2028-06-30,no \r\n"
        "Dom\u00F3tica Ib\u00E9rica S.L.,Dom\u00F3tica,DX-2,smart plug,31/12/2027,No\r\n"
        "Dom\u00F3tica Ib\u00E9rica S.L.,Dom\u00F3tica,DX-1,Smart Camera,2028-06-30,no\r\n"
        "Dom\u00F3tica Ib\u00E9rica S.L.,Dom\u00F3tica,DX-3,router,2027-02-30,maybe\r\n";
    const std::string file = registry.dir.file("export.csv");
    std::ofstream(file, std::ios::binary) << "\xEF\xBB\xBF" << rows;
    auto imported = registry.import({file});
    CHECK(imported.exit_status == 1);
    const std::string product = " (Dom\u00F3tica Ib\u00E9rica S.L. / Dom\u00F3tica ";
    CHECK(imported.err ==
          file +
              ":3: support.end_date: '31/12/2027' is not a date in the form YYYY-MM-DD; write "
              "it as 2027-12-31" +
              product + "DX-2)\n" + file +
              ":5: support.end_date: '2027-02-30' is not a calendar date (no such month or "
              "day)" +
              product + "DX-3)\n" + file +
              ":5: product.cellular: expected a boolean (true/false, yes/no, 1/0), got "
              "'maybe'" +
              product + "DX-3)\n" + file +
              ":4: warning: declares the same product as line 2 (Dom\u00F3tica Ib\u00E9rica "
              "S.L. / Dom\u00F3tica DX-1); identical, it changed nothing\n");
    CHECK(contains(imported.out,
                   "4 records, 2 accepted (1 new product, 0 new versions, 1 "
                   "unchanged), 2 rejected"));
    // What was accepted is stored exactly, without the spaces around it.
    auto products = registry.products();
    REQUIRE(products.size() == 1);
    CHECK(products[0]["manufacturer"] == "Dom\u00F3tica Ib\u00E9rica S.L.");
    CHECK(products[0]["model"] == "DX-1");
    CHECK(products[0]["support_end"] == "2028-06-30");
    CHECK(products[0]["class"] == "camera");
    auto shown = json::parse(
        registry.run({"show", std::to_string(products[0]["id"].get<int>()), "--json"}).out);
    CHECK(shown["declaration"]["product"]["cellular"] == false);

    // The same sheet saved as Windows-1252: each row is refused once, saying how to save it;
    // imported with --encoding, it is the same declarations.
    std::string ansi;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows.compare(i, 2, "\u00F3") == 0) {
        ansi += '\xF3';
        ++i;
      } else if (rows.compare(i, 2, "\u00E9") == 0) {
        ansi += '\xE9';
        ++i;
      } else {
        ansi += rows[i];
      }
    }
    const std::string ansi_file = registry.dir.file("export-ansi.csv");
    std::ofstream(ansi_file, std::ios::binary) << ansi;
    auto refused = registry.import({ansi_file});
    CHECK(refused.exit_status == 1);
    CHECK(std::count(refused.err.begin(), refused.err.end(), '\n') == 4);
    CHECK(contains(refused.err, ansi_file + ":2: manufacturer.name: invalid UTF-8 text"));
    CHECK(contains(refused.err, "import it with --encoding windows-1252"));
    auto decoded = registry.import({"--encoding", "windows-1252", ansi_file});
    std::string same_messages = imported.err;
    for (auto at = same_messages.find(file); at != std::string::npos;
         at = same_messages.find(file, at + ansi_file.size())) {
      same_messages.replace(at, file.size(), ansi_file);
    }
    CHECK(decoded.err == same_messages);
    CHECK(contains(decoded.out,
                   "4 records, 2 accepted (0 new products, 0 new versions, 2 "
                   "unchanged), 2 rejected"));
    CHECK(registry.products() == products);

    // A misspelt column refuses the file once, naming the field it most likely means.
    std::ofstream(registry.dir.file("typo.csv"))
        << "manufacturer.name,product.brand,product.model,support.end_dat\nA,B,C,2028-01-01\n";
    auto typo = registry.import({registry.dir.file("typo.csv")});
    CHECK(typo.exit_status == 1);
    CHECK(std::count(typo.err.begin(), typo.err.end(), '\n') == 1);
    CHECK(contains(typo.err, "did you mean support.end_date?"));
  }

  TEST_CASE("cli: a product declared twice in one file is a warning naming both records") {
    Registry registry;
    std::ofstream(registry.dir.file("twice.csv"))
        << "manufacturer.name,product.brand,product.model,product.type\n"
           "Acme Ltd,Acme,X1,camera\n"
           "Acme Ltd,Acme,X2,plug\n"
           "Acme Ltd,Acme,X1,camera\n"
           "ACME  Ltd,Acme,X1,smart camera\n";
    auto imported = registry.import({registry.dir.file("twice.csv")});
    INFO("stderr: ", imported.err);
    CHECK(imported.exit_status == 0);
    const std::string file = registry.dir.file("twice.csv");
    CHECK(contains(imported.err, file + ":4: warning: declares the same product as line 2 (Acme "
                                        "Ltd / Acme X1); identical, it changed nothing\n"));
    CHECK(contains(imported.err,
                   file + ":5: warning: declares the same product as line 2 (ACME  Ltd / Acme "
                          "X1); it differs, and is stored as the product's later version\n"));
    CHECK(std::count(imported.err.begin(), imported.err.end(), '\n') == 2);
    CHECK(contains(imported.out, "4 accepted (2 new products, 1 new version, 1 unchanged)"));
    const auto products = registry.products();
    REQUIRE(products.size() == 2);
    CHECK(products[0]["version_count"] == 2);
    CHECK(products[0]["type"] == "smart camera");

    auto report = registry.import({"--dry-run", "--json", registry.dir.file("twice.csv")});
    const json summary = json::parse(report.out);
    REQUIRE(summary["duplicates"].size() == 2);
    CHECK(summary["duplicates"][0]["line"] == 4);
    CHECK(summary["duplicates"][0]["first_line"] == 2);
    CHECK(summary["duplicates"][0]["identical"] == true);
    CHECK(summary["duplicates"][1]["identical"] == false);
    CHECK(summary["duplicates"][1]["product"]["model"] == "X1");
    CHECK(summary["duplicates_not_listed"] == 0);
  }

  TEST_CASE("cli: a Windows-1252 file is refused with a hint, and read right with --encoding") {
    Registry registry;
    // "Domótica Ibérica", "Cámara" and a euro sign as Windows-1252 bytes.
    const std::string csv =
        "manufacturer.name,product.brand,product.model,product.type\n"
        "Dom\xF3tica Ib\xE9rica S.L.,Dom\xF3tica,DC-1,C\xE1mara \x80 IP\n";
    std::ofstream(registry.dir.file("ansi.csv"), std::ios::binary) << csv;

    auto refused = registry.import({registry.dir.file("ansi.csv")});
    CHECK(refused.exit_status == 1);
    CHECK(contains(refused.err, "manufacturer.name: invalid UTF-8 text"));
    CHECK(contains(refused.err,
                   "the file is not UTF-8: save it as \"CSV UTF-8\" (Excel) or "
                   "UTF-8, or import it with --encoding windows-1252"));
    CHECK(registry.products().empty());

    auto bad = registry.import({"--encoding", "ebcdic", registry.dir.file("ansi.csv")});
    CHECK(bad.exit_status == 2);
    CHECK(bad.err == "iotreg: unknown --encoding 'ebcdic' (use utf-8, windows-1252)\n");

    auto read = registry.import({"--encoding", "Windows-1252", registry.dir.file("ansi.csv")});
    INFO("stderr: ", read.err);
    REQUIRE(read.exit_status == 0);
    auto products = registry.products();
    REQUIRE(products.size() == 1);
    CHECK(products[0]["manufacturer"] == "Dom\u00F3tica Ib\u00E9rica S.L.");
    CHECK(products[0]["type"] == "C\u00E1mara \u20AC IP");
    // The same declaration in UTF-8 is the same product, unchanged.
    std::ofstream(registry.dir.file("utf8.csv"))
        << "manufacturer.name,product.brand,product.model,product.type\n"
           "Dom\u00F3tica Ib\u00E9rica S.L.,Dom\u00F3tica,DC-1,C\u00E1mara \u20AC IP\n";
    auto same = registry.import({registry.dir.file("utf8.csv")});
    CHECK(contains(same.out, "0 new products, 0 new versions, 1 unchanged"));
  }

  TEST_CASE(
      "cli: a labelling regime raises no flags and gives compliant products stable label ids") {
    Registry registry;
    std::string policy = read_file(fs::path(IOTREG_SOURCE_DIR) / "policies" / "dcms-2019.yaml");
    auto regime = policy.find("regime: prohibition");
    REQUIRE(regime != std::string::npos);
    policy.replace(regime, std::string("regime: prohibition").size(), "regime: labelling");
    std::string policy_file = registry.dir.file("labelling.yaml");
    std::ofstream(policy_file) << policy;
    auto imported = registry.run([&] {
      std::vector<std::string> arguments = {"--policy", policy_file, "import"};
      for (const auto& file : sample_files()) arguments.push_back(file);
      return arguments;
    }());
    REQUIRE(imported.exit_status == 1);
    std::map<std::int64_t, std::string> labels;
    for (const auto& product : registry.products()) {
      CHECK(product["flagged"] == false);
      if (product["status"] == "compliant") {
        REQUIRE(product["label_id"].is_string());
        labels[product["id"]] = product["label_id"];
      } else {
        CHECK(product["label_id"].is_null());
      }
    }
    CHECK(labels.size() == 50);
    CHECK(json_lines(registry.run({"flags", "--json"}).out).empty());
    // Re-checking keeps every label id.
    REQUIRE(registry.run({"--policy", policy_file, "check", "--all"}).exit_status == 0);
    for (const auto& product : registry.products({"--status", "compliant"})) {
      CHECK(product["label_id"] == labels[product["id"]]);
    }
  }

  TEST_CASE("cli: a malformed policy is refused with the path of the problem and changes nothing") {
    Registry registry;
    import_samples(registry);
    TableCounts before = table_counts(registry.db);
    std::string policy_file = registry.dir.file("bad.yaml");
    std::ofstream(policy_file) << "id: broken\nregime: prohibition\nchecks:\n  scope:\n"
                                  "    level: required\n";
    for (const std::vector<std::string>& command :
         {std::vector<std::string>{"check", "--all"},
          std::vector<std::string>{"import", sample("01-lumora-vision.csv")}}) {
      std::vector<std::string> arguments = {"--policy", policy_file};
      arguments.insert(arguments.end(), command.begin(), command.end());
      auto result = registry.run(arguments);
      CHECK(result.exit_status == 2);
      CHECK(result.err.find(policy_file + ":5: checks.scope.level") != std::string::npos);
    }
    CHECK(table_counts(registry.db) == before);
    auto unknown = registry.run({"--policy", "no-such-policy", "check"});
    CHECK(unknown.exit_status == 2);
    CHECK(unknown.err.find("dcms-2019, psti-2023") != std::string::npos);
  }

  TEST_CASE("cli: plugins lists the built-ins with file hashes and plugins test runs fixtures") {
    Registry registry;
    auto listed = registry.run({"plugins", "--json"});
    REQUIRE(listed.exit_status == 0);
    auto plugins = json::parse(listed.out)["plugins"];
    REQUIRE(plugins.size() == 7);
    std::set<std::string> checks;
    for (const auto& plugin : plugins) {
      CHECK(plugin["sha256"].get<std::string>().size() == 64);
      CHECK(fs::exists(plugin["file"].get<std::string>()));
      CHECK(plugin["trusted"] == true);  // the built-ins, by default
      for (const auto& check : plugin["checks"]) checks.insert(check["id"]);
    }
    CHECK(checks == std::set<std::string>{"scope", "default-password", "vulnerability-disclosure",
                                          "support-period", "support-expiry", "statement",
                                          "third-party-label"});
    fs::path builtin_dir = fs::path(plugins[0]["file"].get<std::string>()).parent_path();
    // Another directory's plugins run in workers unless the policy trusts them.
    fs::path elsewhere = registry.dir.path() / "elsewhere";
    fs::create_directory(elsewhere);
    fs::copy_file(plugins[0]["file"].get<std::string>(),
                  elsewhere / fs::path(plugins[0]["file"].get<std::string>()).filename());
    auto other = registry.run({"--plugins", elsewhere.string(), "plugins", "--json"});
    REQUIRE_MESSAGE(other.exit_status == 0, other.err);
    CHECK(json::parse(other.out)["plugins"][0]["trusted"] == false);
    auto text = registry.run({"--plugins", elsewhere.string(), "plugins"});
    CHECK(text.out.find("in a worker process (untrusted)") != std::string::npos);

    auto passing = registry.run({"plugins", "test", builtin_dir.string()});
    INFO(passing.out);
    CHECK(passing.exit_status == 0);
    CHECK(passing.out.find(" 0 failed") != std::string::npos);

    // A copy of one plugin whose fixture expects the wrong outcome fails, naming the case.
    fs::path copy = registry.dir.path() / "plugins";
    fs::create_directories(copy);
    fs::permissions(copy, fs::perms::others_write, fs::perm_options::remove);
    fs::copy_file(builtin_dir / "support-expiry.so", copy / "support-expiry.so");
    std::ofstream(copy / "support-expiry.fixtures.yaml")
        << "cases:\n  - name: deliberately wrong\n    declaration:\n"
           "      manufacturer: {name: A}\n      product: {brand: B, model: C}\n"
           "      support: {end_date: 2020-01-01}\n    expect:\n"
           "      dcms-2019: {support-expiry: pass}\n";
    auto failing = registry.run({"plugins", "test", copy.string()});
    CHECK(failing.exit_status == 1);
    CHECK(failing.out.find("FAIL  iotreg.support-expiry  deliberately wrong  [dcms-2019]") !=
          std::string::npos);
    CHECK(failing.out.find("expected pass, got warn") != std::string::npos);
  }

  TEST_CASE("cli: a stored declaration that cannot be read is a check error that says why") {
    Registry registry;
    import_samples(registry);
    std::int64_t id = registry.product_id("Lumora", "LV-C420");
    {
      // A well-formed blob whose payload names a field code no version of iotreg has used.
      std::string blob = storage::compress_body(std::string("\x7f\x00\x01X", 4));
      std::string hex;
      for (unsigned char byte : blob) {
        static const char* kDigits = "0123456789abcdef";
        hex += kDigits[byte >> 4];
        hex += kDigits[byte & 15];
      }
      RegistryProbe probe(registry.db);
      const std::string bytes =
          testing_postgresql() ? "decode('" + hex + "', 'hex')" : "x'" + hex + "'";
      probe.exec("UPDATE declaration_versions SET body = " + bytes +
                 " WHERE id = (SELECT latest_version_id FROM products WHERE id = " +
                 std::to_string(id) + ")");
    }
    auto result = registry.run({"check", "--all", "--json"});
    INFO("stderr: ", result.err);
    REQUIRE(result.exit_status == 0);
    for (const auto& product : registry.products({"--status", "check_error"})) {
      CHECK(product["id"] == id);
      REQUIRE(product["findings"].size() == 7);
      for (const auto& finding : product["findings"]) {
        CHECK(finding["outcome"] == "error");
        CHECK(finding["message"].get<std::string>().find(
                  "the stored declaration could not be read") == 0);
      }
    }
    CHECK(registry.products({"--status", "check_error"}).size() == 1);
  }

  TEST_CASE("cli: audit verify names the first edited deleted or reordered event") {
    Registry registry;
    import_samples(registry);
    auto flags = json_lines(registry.run({"flags", "--json"}).out);
    REQUIRE_FALSE(flags.empty());
    REQUIRE(registry
                .run({"flag", "confirm", std::to_string(flags[0]["id"].get<std::int64_t>()),
                      "--reason", "confirmed"})
                .exit_status == 0);
    RegistryProbe probe(registry.db);
    const std::int64_t events = probe.integer("SELECT count(*) FROM audit_events");
    REQUIRE(events == 10);  // 8 imports, 1 lift, 1 confirm
    auto verify = [&] { return registry.run({"audit", "verify"}); };
    auto intact = verify();
    CHECK(intact.exit_status == 0);
    CHECK(intact.out == "audit log intact: 10 events, every hash verified\n");

    SUBCASE("an edited event") {
      probe.exec("UPDATE audit_events SET actor = 'cli:mallory' WHERE id = 4");
      auto broken = verify();
      CHECK(broken.exit_status == 1);
      CHECK(broken.out ==
            "audit log broken at event 4: audit event 4 was altered: its content does not match "
            "its hash\n");
    }
    SUBCASE("a deleted event") {
      probe.exec("DELETE FROM audit_events WHERE id = 6");
      auto broken = verify();
      CHECK(broken.exit_status == 1);
      CHECK(broken.out.find("broken at event 7: audit event 7 does not follow audit event 5") !=
            std::string::npos);
    }
    SUBCASE("the first event deleted") {
      probe.exec("DELETE FROM audit_events WHERE id = 1");
      auto broken = verify();
      CHECK(broken.exit_status == 1);
      CHECK(broken.out.find("broken at event 2") != std::string::npos);
    }
    SUBCASE("two events swapped") {
      probe.exec(
          "UPDATE audit_events SET id = -3 WHERE id = 3;"
          "UPDATE audit_events SET id = 3 WHERE id = 2;"
          "UPDATE audit_events SET id = 2 WHERE id = -3;");
      auto broken = verify();
      CHECK(broken.exit_status == 1);
      CHECK(broken.out.find("broken at event 2") != std::string::npos);
    }
    // The embedded backend's schema history: a registry from before the chain.
    if (!testing_postgresql()) {
      SUBCASE("events from before the chain existed are chained by the migration") {
        // A registry of schema version 2, as it was before the chain (and before tokens).
        const std::int64_t latest = probe.integer("PRAGMA user_version");
        probe.exec(
            "DROP TABLE status_changes;"
            "DROP TABLE change_events;"
            "DROP TABLE recheck_runs;"
            "CREATE TABLE flags_v2 (id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL, "
            "state TEXT NOT NULL, raised_at TEXT NOT NULL, raised_by TEXT NOT NULL, "
            "raised_version_id INTEGER NOT NULL, raise_reason TEXT NOT NULL, "
            "updated_at TEXT NOT NULL);"
            "INSERT INTO flags_v2 SELECT id, product_id, state, raised_at, raised_by, "
            "raised_version_id, raise_reason, updated_at FROM flags;"
            "DROP TABLE flags;"
            "ALTER TABLE flags_v2 RENAME TO flags;"
            "CREATE INDEX flags_product ON flags (product_id);"
            "CREATE INDEX flags_state ON flags (state, id);"
            "ALTER TABLE products DROP COLUMN flag_id;"
            "ALTER TABLE audit_events DROP COLUMN hash;"
            "ALTER TABLE audit_events DROP COLUMN previous_hash;"
            "DROP TABLE tokens;"
            "DROP INDEX products_manufacturer;"
            "ALTER TABLE products DROP COLUMN support_end;"
            "DROP INDEX products_class;"
            "ALTER TABLE products DROP COLUMN class;"
            "ALTER TABLE products DROP COLUMN failing_checks;"
            "DROP TABLE IF EXISTS sessions;"
            "DROP TABLE IF EXISTS unregistered_lookups;"
            "DROP INDEX products_gtin;"
            "DROP INDEX products_lookup;"
            "ALTER TABLE products DROP COLUMN gtin;"
            "ALTER TABLE products DROP COLUMN lookup_hash;"
            "PRAGMA user_version = 2;");
        CHECK(registry.run({"products", "--limit", "1"}).exit_status == 0);  // migrates
        CHECK(probe.integer("PRAGMA user_version") == latest);
        CHECK(probe.integer("SELECT count(*) FROM audit_events WHERE hash = ''") == 0);
        CHECK(verify().out == "audit log intact: 10 events, every hash verified\n");
      }
    }
  }

  TEST_CASE("cli: db copy moves a whole registry to another backend and back") {
    Registry registry;
    import_samples(registry);
    auto flags = json_lines(registry.run({"flags", "--json", "--state", "raised"}).out);
    REQUIRE(registry
                .run({"flag", "confirm", std::to_string(flags[0]["id"].get<std::int64_t>()),
                      "--reason", "stop notice served", "--notice", "SN-1"})
                .exit_status == 0);
    REQUIRE(registry.run({"token", "create", "--role", "officer", "--name", "Jo Officer"})
                .exit_status == 0);
    // Through an SQLite file, into a new registry of this run's backend.
    const std::string file = registry.dir.file("moved.db");
    TestRegistry back(registry.dir, "back.db");
    auto there = registry.run_bare({"db", "copy", "--from", registry.db, "--to", file});
    INFO("stdout: ", there.out, "stderr: ", there.err);
    REQUIRE(there.exit_status == 0);
    CHECK(contains(there.out, ": 74 products, 78 declaration versions, "));
    CHECK(contains(there.out, "audit log of the copy intact"));
    auto home = registry.run_bare({"db", "copy", "--from", file, "--to", back.location()});
    REQUIRE_MESSAGE(home.exit_status == 0, home.err);
    // Everything arrived: products with their findings, flags with their history, the status
    // history, the tokens, and an audit chain that verifies.
    auto listed = [&](const std::string& db, std::vector<std::string> command) {
      command.insert(command.begin(), {"--db", db, "--as-of", "2026-11-29"});
      auto result = registry.run_bare(command);
      REQUIRE_MESSAGE(result.exit_status == 0, result.err);
      return result.out;
    };
    for (const std::string& copy : {file, back.location()}) {
      CAPTURE(copy);
      CHECK(listed(copy, {"products", "--json"}) == listed(registry.db, {"products", "--json"}));
      CHECK(listed(copy, {"flags", "--json"}) == listed(registry.db, {"flags", "--json"}));
      CHECK(listed(copy, {"changes", "--json"}) == listed(registry.db, {"changes", "--json"}));
      CHECK(listed(copy, {"show", "21", "--json"}) ==
            listed(registry.db, {"show", "21", "--json"}));
      CHECK(listed(copy, {"token", "list"}) == listed(registry.db, {"token", "list"}));
      CHECK(listed(copy, {"products", "--search", "lumora cam"}) ==
            listed(registry.db, {"products", "--search", "lumora cam"}));
      CHECK(listed(copy, {"audit", "verify"}) == listed(registry.db, {"audit", "verify"}));
    }
    // The copy goes on where the original was: new ids follow the copied ones.
    auto imported = registry.run_bare({"--db", back.location(), "--as-of", "2026-11-29", "import",
                                       "--quiet", sample("04-spring-2026-submissions.yaml")});
    CHECK(imported.exit_status == 0);
    // A registry that is not empty is never a copy's target, and stays as it was.
    TableCounts before = table_counts(file);
    auto refused = registry.run_bare({"db", "copy", "--from", registry.db, "--to", file});
    CHECK(refused.exit_status == 2);
    CHECK(contains(refused.err, "is not empty: a copy goes only into an empty registry"));
    CHECK(table_counts(file) == before);
    CHECK(registry.run_bare({"db", "copy", "--from", file, "--to", file}).exit_status == 2);
  }

  TEST_CASE("cli: token create prints the token once as its last line and list never shows it") {
    Registry registry;
    auto created = registry.run({"--actor", "Ada Admin", "token", "create", "--role",
                                 "manufacturer", "--name", "Lena Lumora", "--manufacturer",
                                 "Lumora Vision Ltd", "--expires", "2099-12-31"});
    INFO("stderr: ", created.err);
    REQUIRE(created.exit_status == 0);
    auto lines = split_lines(created.out);
    REQUIRE(lines.size() >= 2);
    CHECK(std::regex_match(lines.back(), std::regex("iotreg_[0-9a-f]{64}")));
    CHECK(lines.front() ==
          "token 1: manufacturer held by Lena Lumora for Lumora Vision Ltd, valid to 2099-12-31");
    const std::string token = lines.back();

    auto listed = registry.run({"token", "list", "--json"});
    REQUIRE(listed.exit_status == 0);
    CHECK(listed.out.find(token.substr(7)) == std::string::npos);
    auto tokens = json_lines(listed.out);
    REQUIRE(tokens.size() == 1);
    CHECK(tokens[0]["role"] == "manufacturer");
    CHECK(tokens[0]["holder"] == "Lena Lumora");
    CHECK(tokens[0]["created_by"] == "Ada Admin (command line)");
    CHECK(tokens[0]["manufacturer"] == "Lumora Vision Ltd");
    CHECK(tokens[0]["expires"] == "2099-12-31");
    CHECK(tokens[0]["revoked_at"].is_null());
    RegistryProbe probe(registry.db);
    CHECK(probe.text("SELECT token_hash FROM tokens") == sha256_hex(token));

    CHECK(registry.run({"token", "revoke", "1"}).exit_status == 0);
    CHECK(json_lines(registry.run({"token", "list", "--json"}).out)[0]["revoked_at"].is_string());
    CHECK(registry.run({"token", "revoke", "1"}).exit_status == 2);
    CHECK(registry.run({"token", "revoke", "42"}).exit_status == 1);
    CHECK(probe.integer("SELECT count(*) FROM audit_events WHERE action LIKE 'token.%'") == 2);
    CHECK(registry.run({"audit", "verify"}).exit_status == 0);
  }

  TEST_CASE("cli: token create refuses bad arguments and stores nothing") {
    Registry registry;
    REQUIRE(registry.run({"token", "create", "--role", "admin", "--name", "Ada"}).exit_status == 0);
    TableCounts before = table_counts(registry.db);
    for (const std::vector<std::string>& arguments :
         {std::vector<std::string>{"token", "create", "--name", "N", "--role", "root"},
          std::vector<std::string>{"token", "create", "--name", "N", "--role", "manufacturer"},
          std::vector<std::string>{"token", "create", "--name", "N", "--role", "officer",
                                   "--manufacturer", "X"},
          std::vector<std::string>{"token", "create", "--name", "N", "--role", "officer",
                                   "--expires", "2000-01-01"},
          std::vector<std::string>{"token", "create", "--name", "N", "--role", "officer",
                                   "--expires", "2027-02-30"},
          std::vector<std::string>{"token", "create", "--role", "officer"},
          std::vector<std::string>{"token", "create", "--role", "officer", "--name", " "},
          std::vector<std::string>{"token", "create"}}) {
      CAPTURE(joined(arguments));
      auto result = registry.run(arguments);
      CHECK(result.exit_status == 2);
      CHECK_FALSE(result.err.empty());
      CHECK(result.out.find("iotreg_") == std::string::npos);
    }
    CHECK(table_counts(registry.db) == before);
    CHECK(json_lines(registry.run({"token", "list", "--json"}).out).size() == 1);
  }

  TEST_CASE("cli: products --search finds words split at punctuation; text options must be text") {
    Registry registry;
    REQUIRE(registry.import({sample("01-lumora-vision.csv")}).exit_status == 1);
    auto models = [&](std::vector<std::string> filters) {
      std::set<std::string> found;
      for (const auto& product : registry.products(std::move(filters))) {
        found.insert(product["model"].get<std::string>());
      }
      return found;
    };
    const std::set<std::string> all = models({});
    REQUIRE(all.size() == 12);
    // "LV‑C210" with a non-breaking hyphen is the words "lv" and "c210", as "LV-C210" is.
    CHECK(models({"--search", "LV\u2011C210"}) == std::set<std::string>{"LV-C210"});
    CHECK(models({"--search", "\u201cLV\u00d7C210\u201d"}) == std::set<std::string>{"LV-C210"});
    // Text without words is no search condition.
    CHECK(models({"--search", "\u00ae \u2014 !!!"}) == all);
    // The type filter compares the declared type exactly.
    auto cameras = models({"--type", "indoor smart camera"});
    CHECK(cameras.size() == 3);
    CHECK(cameras.count("LV-C210") == 1);
    CHECK(models({"--type", "indoor smart"}).empty());

    TableCounts before = table_counts(registry.db);
    std::string seventeen;
    for (int i = 0; i < 17; ++i) seventeen += "w" + std::to_string(i) + "\u00ae";
    const std::vector<std::pair<std::vector<std::string>, std::string>> refused = {
        {{"products", "--search", seventeen},
         "iotreg: the search has 17 different words; at most 16 are allowed\n"},
        {{"products", "--search", "ok\xff"},
         "iotreg: --search: the value is not valid UTF-8 (at byte offset 2)\n"},
        {{"products", "--type", "\xed\xa0\x80"},
         "iotreg: --type: the value is not valid UTF-8 (at byte offset 0)\n"},
        {{"products", "--manufacturer", "\xc3"},
         "iotreg: --manufacturer: the value is not valid UTF-8 (at byte offset 0)\n"},
        {{"token", "create", "--role", "manufacturer", "--manufacturer", "Lumora\xc0\x80"},
         "iotreg: --manufacturer: the value is not valid UTF-8 (at byte offset 6)\n"},
        {{"flag", "dismiss", "1", "--reason", "\x80"},
         "iotreg: --reason: the value is not valid UTF-8 (at byte offset 0)\n"},
    };
    for (const auto& [arguments, message] : refused) {
      CAPTURE(joined(arguments));
      auto result = registry.run(arguments);
      CHECK(result.exit_status == 2);
      CHECK(result.out.empty());
      CHECK(result.err.rfind(message, 0) == 0);
    }
    CHECK(table_counts(registry.db) == before);
  }
}

}  // namespace
}  // namespace iotreg::test
