// End-to-end tests of Excel workbooks with the `iotreg` executable: importing .xlsx files and
// standard input, refusing what is not a workbook, `products --xlsx` and `template --xlsx`.
// Workbooks are written with libxlsxwriter, as Excel-like files with shared strings and
// date formats. (tests/cli/xlsx_roundtrip_test.py reads the exports back with openpyxl.)
#include <Poco/Zip/ZipArchive.h>
#include <Poco/Zip/ZipStream.h>
#include <doctest/doctest.h>
#include <xlsxwriter.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
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

struct Registry {
  TempDir dir;
  TestRegistry registry{dir};
  std::string db = registry.location();

  ProcessResult run(std::vector<std::string> arguments, ProcessOptions options = {}) const {
    arguments.insert(arguments.begin(), {"--db", db, "--as-of", "2026-11-29"});
    options.working_directory = dir.path().string();
    options.unset_environment.push_back("IOTREG_DB");
    return run_process(kIotreg, arguments, options, 2min);
  }
  std::vector<std::string> models() const {
    if (!registry_exists(db)) return {};
    auto models = RegistryProbe(db).column("SELECT model FROM products");
    std::sort(models.begin(), models.end());
    return models;
  }
};

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// A workbook of one sheet, "Declarations": a header row, then the rows, each cell a string, or
// a number when `numbers` holds its column; dates written as Excel dates in `date_column`.
void write_workbook(const std::string& path, const std::vector<std::string>& header,
                    const std::vector<std::vector<std::string>>& rows, int date_column = -1) {
  lxw_workbook* workbook = workbook_new(path.c_str());
  REQUIRE(workbook != nullptr);
  lxw_worksheet* sheet = workbook_add_worksheet(workbook, "Declarations");
  lxw_format* date = workbook_add_format(workbook);
  format_set_num_format(date, "d mmm yyyy");
  for (std::size_t column = 0; column < header.size(); ++column) {
    worksheet_write_string(sheet, 0, static_cast<lxw_col_t>(column), header[column].c_str(),
                           nullptr);
  }
  for (std::size_t row = 0; row < rows.size(); ++row) {
    for (std::size_t column = 0; column < rows[row].size(); ++column) {
      const std::string& text = rows[row][column];
      if (text.empty()) continue;
      const auto r = static_cast<lxw_row_t>(row + 1);
      const auto c = static_cast<lxw_col_t>(column);
      if (static_cast<int>(column) == date_column) {
        lxw_datetime when{std::stoi(text.substr(0, 4)),
                          std::stoi(text.substr(5, 2)),
                          std::stoi(text.substr(8, 2)),
                          0,
                          0,
                          0};
        worksheet_write_datetime(sheet, r, c, &when, date);
      } else {
        worksheet_write_string(sheet, r, c, text.c_str(), nullptr);
      }
    }
  }
  REQUIRE(workbook_close(workbook) == LXW_NO_ERROR);
}

const std::vector<std::string> kHeader = {"manufacturer.name", "product.brand", "product.model",
                                          "support.end_date"};

}  // namespace

TEST_SUITE("cli") {
  TEST_CASE("cli: an .xlsx file imports like CSV, rejections are FILE:SHEET!ROW: FIELD") {
    Registry registry;
    const std::string file = registry.dir.file("decls.xlsx");
    write_workbook(file, kHeader,
                   {{"Acme Ltd", "Acme", "X-1  ", "2031-03-31"},
                    {},
                    {"Acme Ltd", "Acme", "X-2", ""},
                    {"Acme Ltd", "Acme", ""}},
                   3);
    auto imported = registry.run({"import", file, "--json"});
    CHECK(imported.exit_status == 1);
    CHECK(imported.err == file + ":Declarations!5: product.model: required field missing\n");
    auto summary = json::parse(imported.out);
    CHECK(summary["format"] == "xlsx");
    CHECK(summary["counts"]["accepted"] == 2);
    CHECK(summary["counts"]["rejected"] == 1);
    CHECK(registry.models() == std::vector<std::string>{"X-1", "X-2"});
    auto listed = registry.run({"products", "--json"});
    REQUIRE(listed.exit_status == 0);
    auto first = json::parse(split_lines(listed.out).at(0));
    CHECK(first["model"] == "X-1");
    CHECK(first["support_end"] == "2031-03-31");
  }

  TEST_CASE("cli: the report names the sheet of a rejected row") {
    Registry registry;
    const std::string file = registry.dir.file("decls.xlsx");
    write_workbook(file, {"manufacturer.name", "product.brand", "product.model", "product.gtin"},
                   {{"Acme Ltd", "Acme", "G-1", "5060412873018"}});
    auto imported = registry.run({"import", file, "--report", "report.json", "--quiet"});
    CHECK(imported.exit_status == 1);
    auto report = json::parse(read_bytes(registry.dir.file("report.json")));
    const auto& rejected = report["files"][0]["rejected"][0];
    CHECK(rejected["sheet"] == "Declarations");
    CHECK(rejected["line"] == 2);
    CHECK(rejected["location"] == "Declarations!2");
    CHECK(rejected["product"]["model"] == "G-1");
    CHECK(rejected["issues"][0]["field"] == "product.gtin");
  }

  TEST_CASE("cli: standard input takes a workbook with --format xlsx") {
    Registry registry;
    const std::string file = registry.dir.file("decls.xlsx");
    write_workbook(file, kHeader, {{"Acme Ltd", "Acme", "S-1", "2030-01-31"}}, 3);
    ProcessOptions options;
    options.standard_input = read_bytes(file);
    auto imported = registry.run({"import", "-", "--format", "xlsx"}, options);
    CHECK(imported.exit_status == 0);
    CHECK(registry.models() == std::vector<std::string>{"S-1"});
  }

  TEST_CASE("cli: a file that is not a workbook is refused whole, exit 2, nothing stored") {
    Registry registry;
    const std::string csv = registry.dir.file("decls.xlsx");
    write_file(csv, "manufacturer.name,product.brand,product.model\nAcme Ltd,Acme,X\n");
    auto refused = registry.run({"import", csv});
    CHECK(refused.exit_status == 2);
    CHECK(refused.err == "iotreg: " + csv +
                             ": not an XLSX workbook: not a ZIP archive (no entries); nothing "
                             "was imported\n");
    const std::string good = registry.dir.file("good.xlsx");
    write_workbook(good, kHeader, {{"Acme Ltd", "Acme", "T-1"}});
    const std::string bytes = read_bytes(good);
    const std::string truncated = registry.dir.file("truncated.xlsx");
    write_file(truncated, bytes.substr(0, bytes.size() / 3));
    auto cut = registry.run({"import", good, truncated});
    CHECK(cut.exit_status == 2);
    CHECK(cut.err.rfind("iotreg: " + truncated + ": not an XLSX workbook", 0) == 0);
    CHECK(registry.models().empty());
  }

  TEST_CASE("cli: products --xlsx writes a workbook, a path it cannot write is exit 2") {
    Registry registry;
    const std::string file = registry.dir.file("decls.xlsx");
    write_workbook(file, kHeader, {{"Acme Ltd", "Acme", "=1+1", "2031-03-31"}}, 3);
    REQUIRE(registry.run({"import", file}).exit_status == 0);
    auto exported = registry.run({"products", "--xlsx", "out.xlsx"});
    CHECK(exported.exit_status == 0);
    CHECK(exported.out.empty());
    const std::string workbook = read_bytes(registry.dir.file("out.xlsx"));
    CHECK(workbook.rfind("PK", 0) == 0);
    // The export reads back as a workbook whose rows are the products.
    auto again = registry.run({"import", "out.xlsx", "--dry-run"});
    CHECK(again.exit_status == 1);
    CHECK(again.err.find("unknown column 'id'") != std::string::npos);
    auto unwritable = registry.run({"products", "--xlsx", "no/such/dir/out.xlsx"});
    CHECK(unwritable.exit_status == 2);
    CHECK(unwritable.err ==
          "iotreg: cannot write no/such/dir/out.xlsx: No such file or directory\n");
    CHECK(registry.run({"products", "--xlsx", "x.xlsx", "--csv"}).exit_status != 0);
  }

  TEST_CASE("cli: products --xlsx writes text as Excel shows it, escapes and formulas alike") {
    Registry registry;
    const std::string csv = registry.dir.file("decls.csv");
    write_file(csv,
               "manufacturer.name,product.brand,product.model\nAcme Ltd,Acme,T_x0041_\n"
               "Acme Ltd,Acme,\"=HYPERLINK(\"\"http://example.com\"\")\"\n");
    REQUIRE(registry.run({"import", csv}).exit_status == 0);
    REQUIRE(registry.run({"products", "--xlsx", "out.xlsx"}).exit_status == 0);
    std::ifstream in(registry.dir.file("out.xlsx"), std::ios::binary);
    Poco::Zip::ZipArchive archive(in);
    auto header = archive.findHeader("xl/worksheets/sheet1.xml");
    REQUIRE(header != archive.headerEnd());
    Poco::Zip::ZipInputStream part(in, header->second);
    const std::string sheet(std::istreambuf_iterator<char>(part), {});
    CHECK(sheet.find("<t>T_x005F_x0041_</t>") != std::string::npos);
    CHECK(sheet.find("<t>=HYPERLINK(\"http://example.com\")</t>") != std::string::npos);
    CHECK(sheet.find("<f>") == std::string::npos);
  }

  TEST_CASE("cli: template --xlsx writes a workbook that imports, notes row and all") {
    Registry registry;
    auto written = registry.run({"template", "--xlsx", "template.xlsx"});
    REQUIRE(written.exit_status == 0);
    const std::string bytes = read_bytes(registry.dir.file("template.xlsx"));
    CHECK(bytes.rfind("PK", 0) == 0);
    auto imported = registry.run({"import", "template.xlsx", "--json"});
    CHECK(imported.exit_status == 0);
    CHECK(json::parse(imported.out)["counts"]["records"] == 0);
    CHECK(registry.run({"template", "--xlsx", "no/such/dir/t.xlsx"}).exit_status == 2);
  }
}

}  // namespace iotreg::test
