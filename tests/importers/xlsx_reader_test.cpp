// The XLSX reader on workbooks built part by part: cells of every kind, dates in both date
// systems, gaps, the header and notes rows, broken containers and zip bombs.
#include <Poco/DateTime.h>
#include <Poco/Zip/Compress.h>
#include <doctest/doctest.h>

#include <map>
#include <sstream>
#include <string>

#include "support/collecting_sink.h"

namespace iotreg::importers {
namespace {

using testing::read_text;

const std::string kMain = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
const std::string kRelationships =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships";

struct Workbook {
  std::string sheet_name = "Declarations";
  std::string rows;            // the <row> elements of the sheet
  std::string shared_strings;  // the <si> elements; none when empty
  std::string cell_formats = "<xf numFmtId=\"0\"/><xf numFmtId=\"14\"/>";  // s="1": a date
  bool date1904 = false;
};

std::string zip(const std::map<std::string, std::string>& parts) {
  std::ostringstream out;
  Poco::Zip::Compress compress(out, true);
  for (const auto& [name, content] : parts) {
    std::istringstream in(content);
    compress.addFile(in, Poco::DateTime(2026, 11, 29), name);
  }
  compress.close();
  return out.str();
}

std::string bytes_of(const Workbook& workbook) {
  std::map<std::string, std::string> parts;
  parts["[Content_Types].xml"] =
      "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";
  parts["_rels/.rels"] =
      "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
      "<Relationship Id=\"rId1\" Type=\"" +
      kRelationships + "/officeDocument\" Target=\"xl/workbook.xml\"/></Relationships>";
  parts["xl/workbook.xml"] = "<workbook xmlns=\"" + kMain + "\" xmlns:r=\"" + kRelationships +
                             "\"><workbookPr" + (workbook.date1904 ? " date1904=\"1\"" : "") +
                             "/><sheets><sheet name=\"" + workbook.sheet_name +
                             "\" sheetId=\"1\" r:id=\"rId1\"/></sheets></workbook>";
  std::string relationships =
      "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/2006/relationships\">"
      "<Relationship Id=\"rId1\" Type=\"" +
      kRelationships + "/worksheet\" Target=\"worksheets/sheet1.xml\"/>" +
      "<Relationship Id=\"rId2\" Type=\"" + kRelationships + "/styles\" Target=\"styles.xml\"/>";
  if (!workbook.shared_strings.empty()) {
    relationships += "<Relationship Id=\"rId3\" Type=\"" + kRelationships +
                     "/sharedStrings\" Target=\"/xl/sharedStrings.xml\"/>";
    parts["xl/sharedStrings.xml"] =
        "<sst xmlns=\"" + kMain + "\">" + workbook.shared_strings + "</sst>";
  }
  parts["xl/_rels/workbook.xml.rels"] = relationships + "</Relationships>";
  parts["xl/styles.xml"] = "<styleSheet xmlns=\"" + kMain +
                           "\"><numFmts><numFmt numFmtId=\"164\" formatCode=\"dd/mm/yyyy\"/>"
                           "</numFmts><cellStyleXfs><xf numFmtId=\"14\"/></cellStyleXfs>"
                           "<cellXfs>" +
                           workbook.cell_formats + "</cellXfs></styleSheet>";
  parts["xl/worksheets/sheet1.xml"] =
      "<worksheet xmlns=\"" + kMain + "\"><sheetData>" + workbook.rows + "</sheetData></worksheet>";
  return zip(parts);
}

std::string text_cell(const std::string& reference, const std::string& text) {
  return "<c r=\"" + reference + "\" t=\"inlineStr\"><is><t>" + text + "</t></is></c>";
}
std::string number_cell(const std::string& reference, const std::string& number,
                        const std::string& style = "") {
  return "<c r=\"" + reference + "\"" + (style.empty() ? "" : " s=\"" + style + "\"") + "><v>" +
         number + "</v></c>";
}
// A header row of field paths in columns A, B, C, ...
std::string header(std::initializer_list<std::string> paths) {
  std::string row = "<row r=\"1\">";
  char column = 'A';
  for (const auto& path : paths) row += text_cell(std::string(1, column++) + "1", path);
  return row + "</row>";
}
// A row whose first three cells name Acme Ltd / Acme `model`, then `more` cells.
std::string identity_row(int row, const std::string& model, const std::string& more = "") {
  const std::string r = std::to_string(row);
  return "<row r=\"" + r + "\">" + text_cell("A" + r, "Acme Ltd") + text_cell("B" + r, "Acme") +
         text_cell("C" + r, model) + more + "</row>";
}

testing::ReadResult read_workbook(const Workbook& workbook, ReaderLimits limits = {}) {
  return read_text(bytes_of(workbook), Format::kXlsx, limits);
}

// A stream that cannot seek, as standard input from a pipe.
class PipeBuffer : public std::streambuf {
 public:
  explicit PipeBuffer(std::string bytes) : bytes_(std::move(bytes)) {
    setg(bytes_.data(), bytes_.data(), bytes_.data() + bytes_.size());
  }

 private:
  std::string bytes_;
};

}  // namespace

TEST_SUITE("readers") {
  TEST_CASE("xlsx: rows are records as in CSV, located SHEET!ROW") {
    Workbook workbook;
    workbook.rows = header({"manufacturer.name", "product.brand", "product.model",
                            "vulnerability.acknowledge_days", "passwords.examples"}) +
                    identity_row(2, "X1  ", number_cell("D2", "5") + text_cell("E2", "a|b\\|c"));
    auto xlsx = read_workbook(workbook);
    auto csv = read_text(
        "manufacturer.name,product.brand,product.model,vulnerability.acknowledge_days,"
        "passwords.examples\nAcme Ltd,Acme,X1  ,5,a|b\\|c\n",
        Format::kCsv);
    REQUIRE(xlsx.status.is_ok());
    REQUIRE(xlsx.sink.accepted.size() == 1);
    REQUIRE(csv.sink.accepted.size() == 1);
    CHECK(xlsx.sink.accepted[0].canonical_json == csv.sink.accepted[0].canonical_json);
    CHECK(xlsx.sink.accepted[0].where.describe() == "Declarations!2");
    CHECK(xlsx.sink.accepted[0].where.sheet == "Declarations");
  }

  TEST_CASE("xlsx: shared strings with rich text runs, without phonetic hints") {
    Workbook workbook;
    workbook.shared_strings =
        "<si><t>manufacturer.name</t></si>"
        "<si><r><t>product.</t></r><r><rPr><b/></rPr><t>brand</t></r>"
        "<rPh sb=\"0\" eb=\"1\"><t>HINT</t></rPh></si>"
        "<si><t>product.model</t></si><si><t xml:space=\"preserve\"> Acme &amp; Co </t></si>";
    workbook.rows =
        "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c><c r=\"B1\" t=\"s\"><v>1</v></c>"
        "<c r=\"C1\" t=\"s\"><v>2</v></c></row>"
        "<row r=\"2\"><c r=\"A2\" t=\"s\"><v>3</v></c><c r=\"B2\" t=\"str\"><f>X</f><v>Acme</v></c>"
        "<c r=\"C2\" t=\"inlineStr\"><is><r><t>M</t></r><r><t>-1</t></r></is></c></row>"
        "<row r=\"3\"><c r=\"A3\" t=\"s\"><v>3</v></c><c r=\"B3\" t=\"s\"><v>9</v></c>"
        "<c r=\"C3\" t=\"inlineStr\"><is><t>M-2</t></is></c></row>";
    auto result = read_workbook(workbook);
    REQUIRE(result.status.is_ok());
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].canonical_json ==
          R"({"manufacturer":{"name":"Acme & Co"},"product":{"brand":"Acme","model":"M-1"}})");
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{"product.brand: refers to shared string '9', which the "
                                   "workbook does not have"});
  }

  TEST_CASE("xlsx: _xHHHH_ escapes are the characters Excel shows") {
    Workbook workbook;
    workbook.shared_strings = "<si><t>Under_x005F_x0041_score</t></si>";
    workbook.rows = header({"manufacturer.name", "product.brand", "product.model"}) +
                    "<row r=\"2\">" + text_cell("A2", "Acme_x0020_Ltd") + text_cell("B2", "Acme") +
                    "<c r=\"C2\" t=\"s\"><v>0</v></c></row>";
    auto result = read_workbook(workbook);
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(
        result.sink.accepted[0].canonical_json ==
        R"({"manufacturer":{"name":"Acme Ltd"},"product":{"brand":"Acme","model":"Under_x0041_score"}})");
  }

  TEST_CASE("xlsx: missing cells are empty, empty and blank rows are skipped") {
    Workbook workbook;
    workbook.rows =
        header({"manufacturer.name", "product.brand", "product.model", "product.type"}) +
        "<row r=\"3\"/><row r=\"4\">" + text_cell("B4", "   ") + "</row>" + "<row r=\"7\">" +
        text_cell("A7", "Acme Ltd") + text_cell("B7", "Acme") + text_cell("D7", "camera") +
        "</row>" + identity_row(9, "M-9");
    auto result = read_workbook(workbook);
    REQUIRE(result.status.is_ok());
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.rejected[0].where.describe() == "Declarations!7");
    CHECK(result.sink.rejected[0].issues.at(0).field == "product.model");
    CHECK(result.sink.rejected[0].issues.at(0).line == 7);
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].where.line == 9);
    CHECK(result.sink.accepted[0].where.ordinal == 2);
  }

  TEST_CASE("xlsx: Excel dates become YYYY-MM-DD, times of day and other fields are refused") {
    Workbook workbook;
    workbook.rows =
        header({"manufacturer.name", "product.brand", "product.model", "support.end_date",
                "product.type"}) +
        identity_row(2, "D-styled", number_cell("D2", "47573", "1")) +   // 2030-03-31
        identity_row(3, "D-plain", number_cell("D3", "61")) +            // 1900-03-01
        identity_row(4, "D-early", number_cell("D4", "59")) +            // 1900-02-28
        identity_row(5, "D-time", number_cell("D5", "47573.75", "1")) +  // with 18:00
        identity_row(6, "D-bug", number_cell("D6", "60")) +              // 1900-02-29
        identity_row(7, "D-text", text_cell("D7", "31/03/2030")) +       // text, not a date
        identity_row(8, "T-date", number_cell("E8", "45000", "1")) +     // a date as a type
        identity_row(9, "D-text-ok", text_cell("D9", " 2031-01-31 "));
    auto result = read_workbook(workbook);
    REQUIRE(result.status.is_ok());
    REQUIRE(result.sink.accepted.size() == 4);
    CHECK(result.sink.accepted[0].canonical_json.find(R"("end_date":"2030-03-31")") !=
          std::string::npos);
    CHECK(result.sink.accepted[1].canonical_json.find(R"("end_date":"1900-03-01")") !=
          std::string::npos);
    CHECK(result.sink.accepted[2].canonical_json.find(R"("end_date":"1900-02-28")") !=
          std::string::npos);
    CHECK(result.sink.accepted[3].canonical_json.find(R"("end_date":"2031-01-31")") !=
          std::string::npos);
    REQUIRE(result.sink.rejected.size() == 4);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{"support.end_date: is a date and time (2030-03-31 18:00), not "
                                   "a day; format the cell as a date without a time"});
    CHECK(result.sink.issues(1) ==
          std::vector<std::string>{"support.end_date: is 29 February 1900, a day that does not "
                                   "exist (Excel's 1900 leap-year bug)"});
    CHECK(result.sink.issues(2).at(0).rfind("support.end_date: ", 0) == 0);
    CHECK(result.sink.issues(3) ==
          std::vector<std::string>{
              "product.type: is a date cell (2023-03-15) but product.type is not a date: the "
              "spreadsheet may have turned what was typed into a date; format the cell as text "
              "and type the value again"});
    CHECK(result.sink.rejected[3].identity.has_value());
  }

  TEST_CASE("xlsx: ISO 8601 date cells and header cells of spaces") {
    Workbook workbook;
    workbook.rows = "<row r=\"1\">" + text_cell("A1", "manufacturer.name") +
                    text_cell("B1", "product.brand") + text_cell("C1", "product.model") +
                    text_cell("D1", "  ") + text_cell("E1", "support.end_date") + "</row>" +
                    identity_row(2, "D-1", "<c r=\"E2\" t=\"d\"><v>2031-03-31T00:00:00Z</v></c>") +
                    identity_row(3, "D-2", "<c r=\"E3\" t=\"d\"><v>2031-03-31T08:00:00</v></c>");
    auto result = read_workbook(workbook);
    REQUIRE(result.status.is_ok());
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].canonical_json.find(R"("end_date":"2031-03-31")") !=
          std::string::npos);
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.rejected[0].issues.at(0).field == "support.end_date");
  }

  TEST_CASE("xlsx: the 1904 date system") {
    Workbook workbook;
    workbook.date1904 = true;
    workbook.rows =
        header({"manufacturer.name", "product.brand", "product.model", "support.end_date"}) +
        identity_row(2, "D", number_cell("D2", "46111", "1")) +
        identity_row(3, "E", number_cell("D3", "0")) +
        identity_row(4, "F", number_cell("D4", "-5"));
    auto result = read_workbook(workbook);
    REQUIRE(result.sink.accepted.size() == 2);
    CHECK(result.sink.accepted[0].canonical_json.find(R"("end_date":"2030-03-31")") !=
          std::string::npos);
    CHECK(result.sink.accepted[1].canonical_json.find(R"("end_date":"1904-01-01")") !=
          std::string::npos);
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{
              "support.end_date: is not a date Excel can show (serial number -5)"});
  }

  TEST_CASE("xlsx: numbers as General shows them, booleans, errors, formulas without a value") {
    Workbook workbook;
    workbook.rows =
        header({"manufacturer.name", "product.brand", "product.model", "product.gtin",
                "product.for_children", "product.type"}) +
        identity_row(2, "N-1",
                     number_cell("D2", "5060412873017") + "<c r=\"E2\" t=\"b\"><v>1</v></c>" +
                         number_cell("F2", "2.5")) +
        identity_row(3, "N-2", "<c r=\"D3\" t=\"e\"><v>#N/A</v></c>") +
        identity_row(4, "N-3", "<c r=\"F4\"><f>A4&amp;B4</f></c>") +
        identity_row(5, "N-4", number_cell("H5", "1"));
    auto result = read_workbook(workbook);
    REQUIRE(result.status.is_ok());
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].canonical_json ==
          R"({"manufacturer":{"name":"Acme Ltd"},"product":{"brand":"Acme","model":"N-1",)"
          R"("type":"2.5","for_children":true,"gtin":"5060412873017"}})");
    REQUIRE(result.sink.rejected.size() == 3);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{"product.gtin: holds the spreadsheet error #N/A, not a value"});
    CHECK(result.sink.issues(1) ==
          std::vector<std::string>{"product.type: holds the formula =A4&B4 without a saved "
                                   "value; save the workbook in a spreadsheet program, or paste "
                                   "values"});
    CHECK(result.sink.issues(2) ==
          std::vector<std::string>{
              ": column H has a value, but the header row names no field for it"});
  }

  TEST_CASE("xlsx: a misspelt header refuses the file, naming sheet, row, column and field") {
    Workbook workbook;
    workbook.sheet_name = "Q3 2026";
    workbook.rows = "<row r=\"2\">" + text_cell("A2", "manufacturer.name") +
                    text_cell("C2", "support.end_dat") + "</row>" + identity_row(3, "X");
    auto result = read_workbook(workbook);
    CHECK(result.status.message() ==
          "'Q3 2026'!2, column C: unknown column 'support.end_dat'; did you mean "
          "support.end_date?; the file was not imported");
    CHECK(result.sink.accepted.empty());
    CHECK(result.sink.rejected.empty());
  }

  TEST_CASE("xlsx: the template's notes row is skipped, a note anywhere else refused") {
    Workbook workbook;
    workbook.rows = header({"manufacturer.name", "product.brand", "product.model"}) +
                    "<row r=\"2\">" + text_cell("A2", "Note: legal name") +
                    text_cell("C2", "Note: model") + "</row>" + identity_row(3, "X-1") +
                    identity_row(4, "Note: X-2");
    auto result = read_workbook(workbook);
    REQUIRE(result.status.is_ok());
    REQUIRE(result.sink.accepted.size() == 1);
    CHECK(result.sink.accepted[0].where.line == 3);
    REQUIRE(result.sink.rejected.size() == 1);
    CHECK(result.sink.issues(0) ==
          std::vector<std::string>{"product.model: starts with 'Note: ', as the template's "
                                   "notes do; a note is not a value"});
  }

  TEST_CASE("xlsx: what is not a workbook is refused with one message") {
    auto csv = read_text("manufacturer.name\nAcme\n", Format::kXlsx);
    CHECK(csv.status.message() ==
          "not an XLSX workbook: not a ZIP archive (no entries); the file was not imported");
    auto no_workbook = read_text(zip({{"hello.txt", "hi"}}), Format::kXlsx);
    CHECK(no_workbook.status.message() ==
          "not an XLSX workbook: a ZIP archive without a workbook part (xl/workbook.xml); the "
          "file was not imported");
    Workbook workbook;
    workbook.rows =
        header({"manufacturer.name", "product.brand", "product.model"}) + identity_row(2, "X");
    const std::string bytes = bytes_of(workbook);
    auto truncated = read_text(bytes.substr(0, bytes.size() / 2), Format::kXlsx);
    CHECK_FALSE(truncated.status.is_ok());
    CHECK(truncated.sink.accepted.empty());
    std::istringstream in(bytes);
    CHECK(check_xlsx_workbook(in).is_ok());
  }

  TEST_CASE("xlsx: a zip bomb stops at the limits, in bounded memory") {
    ReaderLimits limits;
    limits.max_record_bytes = 4096;
    Workbook long_cell;
    long_cell.rows = header({"manufacturer.name", "product.brand", "product.model"}) +
                     identity_row(2, "X") + identity_row(3, std::string(64 << 20, 'a'));
    auto cell = read_workbook(long_cell, limits);
    CHECK(cell.status.message() ==
          "Declarations!3, column C: record longer than 4096 bytes (the limit for one record); "
          "nothing from this record on was read");
    CHECK(cell.sink.accepted.size() == 1);
    Workbook long_attribute;
    long_attribute.rows = header({"manufacturer.name", "product.brand", "product.model"}) +
                          "<row r=\"2\" x=\"" + std::string(64 << 20, 'a') + "\"/>";
    auto attribute = read_workbook(long_attribute, limits);
    CHECK(attribute.status.message().find("bytes of XML in one element, the limit") !=
          std::string::npos);
  }

  TEST_CASE("xlsx: a stream that cannot seek is read whole first") {
    Workbook workbook;
    workbook.rows =
        header({"manufacturer.name", "product.brand", "product.model"}) + identity_row(2, "P-1");
    PipeBuffer pipe(bytes_of(workbook));
    std::istream in(&pipe);
    testing::CollectingSink sink;
    auto status = read_declarations(in, Format::kXlsx, *CompiledSchema::builtin(), sink);
    CHECK(status.is_ok());
    CHECK(sink.accepted.size() == 1);
  }
}

}  // namespace iotreg::importers
