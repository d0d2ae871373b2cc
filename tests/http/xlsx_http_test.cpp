// Excel workbooks over HTTP: `GET /api/v1/export?format=xlsx` against `products --xlsx`, and
// `POST /api/v1/declarations` with an XLSX body, on a real `iotreg serve` on loopback.
#include <Poco/Zip/ZipArchive.h>
#include <Poco/Zip/ZipStream.h>
#include <doctest/doctest.h>
#include <xlsxwriter.h>

#include <sstream>
#include <string>

#include "http/served_registry.h"

namespace iotreg::test {
namespace {

const std::string kXlsxMediaType =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

// The text of one part of a ZIP archive held in `bytes`; "" when it has no such part.
std::string zip_part(const std::string& bytes, const std::string& name) {
  std::istringstream in(bytes);
  Poco::Zip::ZipArchive archive(in);
  auto header = archive.findHeader(name);
  if (header == archive.headerEnd()) return {};
  Poco::Zip::ZipInputStream part(in, header->second);
  return std::string(std::istreambuf_iterator<char>(part), {});
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t count = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++count;
  return count;
}

// A workbook of the given rows under the header manufacturer.name, product.brand,
// product.model, written to `path` and returned as bytes.
std::string workbook_bytes(const std::string& path,
                           const std::vector<std::vector<std::string>>& rows) {
  lxw_workbook* workbook = workbook_new(path.c_str());
  REQUIRE(workbook != nullptr);
  lxw_worksheet* sheet = workbook_add_worksheet(workbook, "Uploads");
  const char* header[] = {"manufacturer.name", "product.brand", "product.model"};
  for (lxw_col_t column = 0; column < 3; ++column) {
    worksheet_write_string(sheet, 0, column, header[column], nullptr);
  }
  for (std::size_t row = 0; row < rows.size(); ++row) {
    for (std::size_t column = 0; column < rows[row].size(); ++column) {
      worksheet_write_string(sheet, static_cast<lxw_row_t>(row + 1), static_cast<lxw_col_t>(column),
                             rows[row][column].c_str(), nullptr);
    }
  }
  REQUIRE(workbook_close(workbook) == LXW_NO_ERROR);
  return read_file(path);
}

}  // namespace

TEST_SUITE("http") {
  TEST_CASE("http: export as xlsx holds the rows of products --xlsx, for the token's scope") {
    ServedRegistry served;
    auto exported = served.get("/api/v1/export?format=xlsx&status=compliant", served.officer);
    REQUIRE(exported.status == 200);
    CHECK(exported.content_type == kXlsxMediaType);
    CHECK(exported.headers["Content-Disposition"] ==
          "attachment; filename=\"iotreg-products.xlsx\"");
    const std::string sheet = zip_part(exported.body, "xl/worksheets/sheet1.xml");
    REQUIRE_FALSE(sheet.empty());
    const std::string path = served.dir().file("compliant.xlsx");
    auto cli = served.cli({"products", "--status", "compliant", "--xlsx", path});
    REQUIRE(cli.exit_status == 0);
    // The same cells: the workbooks differ only in their creation time.
    CHECK(sheet == zip_part(read_file(path), "xl/worksheets/sheet1.xml"));
    const auto compliant =
        split_lines(served.cli({"products", "--json", "--status", "compliant"}).out);
    CHECK(count_of(sheet, "<row ") == compliant.size() + 1);
    CHECK(sheet.find("<pane ySplit=\"1\"") != std::string::npos);
    CHECK(sheet.find("<autoFilter ref=\"A1:Q" + std::to_string(compliant.size() + 1) + "\"/>") !=
          std::string::npos);

    // A manufacturer's token exports its own products only.
    auto own = served.get("/api/v1/export?format=xlsx", served.manufacturer);
    REQUIRE(own.status == 200);
    auto own_json = served.get("/api/v1/export", served.manufacturer);
    CHECK(count_of(zip_part(own.body, "xl/worksheets/sheet1.xml"), "<row ") ==
          split_lines(own_json.body).size() + 1);

    auto marked = served.get("/api/v1/export?format=xlsx&bom=true", served.officer);
    CHECK(marked.status == 400);
    CHECK(marked.parsed()["error"]["message"] == "bom applies to format=csv only");
    auto unknown = served.get("/api/v1/export?format=xls", served.officer);
    CHECK(unknown.status == 400);
    CHECK(unknown.parsed()["error"]["message"] == "format must be csv, ndjson or xlsx");
  }

  TEST_CASE("http: declarations as an xlsx body, and a body that is not a workbook") {
    ServedRegistry served;
    // A charset parameter does not apply: a workbook is UTF-8 inside.
    const std::string good =
        workbook_bytes(served.dir().file("good.xlsx"),
                       {{"Acme Ltd", "Acme", "XL-1"}, {"Acme Ltd", "Acme", "XL-2"}});
    auto answer = served.request("POST", "/api/v1/declarations", served.admin, good,
                                 kXlsxMediaType + "; charset=windows-1252");
    INFO(answer.body);
    REQUIRE(answer.status == 200);
    CHECK(answer.parsed()["format"] == "xlsx");
    CHECK(answer.parsed()["counts"]["new_products"] == 2);

    const std::string before = served.snapshot();
    const std::string bad =
        workbook_bytes(served.dir().file("bad.xlsx"), {{}, {"Acme Ltd", "Acme"}});
    auto rejected =
        served.request("POST", "/api/v1/declarations", served.admin, bad, kXlsxMediaType);
    CHECK(rejected.status == 422);
    const auto report = rejected.parsed()["error"]["report"];
    CHECK(report["rejected"][0]["location"] == "Uploads!3");
    CHECK(report["rejected"][0]["sheet"] == "Uploads");
    CHECK(report["rejected"][0]["issues"][0]["field"] == "product.model");

    auto refused = served.request("POST", "/api/v1/declarations", served.admin,
                                  "manufacturer.name\nAcme\n", kXlsxMediaType);
    CHECK(refused.status == 422);
    CHECK(refused.parsed()["error"]["message"] ==
          "no declaration was accepted: not an XLSX workbook: not a ZIP archive (no entries); "
          "the file was not imported");
    CHECK(served.snapshot() == before);
  }
}

}  // namespace iotreg::test
