// XLSX reader: the first worksheet of a workbook as a table with a header row of field paths,
// read like a CSV file of the same cells (the same header rules, cell conversion, trimming and
// validation), in bounded memory.
//
// Rules beyond CSV's (README "Declaration format"):
// - the header is the first row with a value; columns without a header name must stay empty;
// - a row right under the header whose every value starts with "Note: " is the template's
//   notes row and is skipped; a value starting with "Note: " anywhere else is refused;
// - empty rows are skipped; a row is reported as SHEET!ROW;
// - a number in a date field, or a cell with a date format, is an Excel date serial (1900 or
//   1904 date system) and becomes YYYY-MM-DD; a serial with a time of day in a date field, or a
//   date-formatted cell in a field that is not a date, is refused rather than cut or guessed;
// - numbers are written as Excel shows them in General format: integers without ".0";
// - booleans are true/false; error cells (#N/A) and formulas without a saved value are refused;
// - text is as Excel shows it: _xHHHH_ escapes are the characters they stand for.
#include <Poco/SAX/Attributes.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "importers/detail/readers.h"
#include "importers/xlsx/field_guide.h"
#include "importers/xlsx/xlsx_archive.h"
#include "registry/core/utf8.h"

namespace iotreg::importers {
namespace detail {
namespace {

using Poco::XML::Attributes;
using Poco::XML::XMLString;
using xlsx::PartHandler;
using xlsx::PartLimits;

// Excel's own limits: a sheet has at most 1,048,576 rows and 16,384 columns (A to XFD).
constexpr std::uint64_t kMaxRows = 1048576;
constexpr std::uint32_t kMaxColumns = 16384;
// Parts held in memory whole are bounded: the workbook, its relationships and styles.
constexpr PartLimits kSmallPartLimits{16u << 20, 1u << 20};
// The shared strings are held in memory: their text, with 32 bytes counted per string.
constexpr std::uint64_t kMaxSharedStringBytes = 256u << 20;
// A standard-input workbook is read into memory first (a ZIP archive must be read at random).
constexpr std::uint64_t kMaxBufferedWorkbookBytes = 256u << 20;
// A worksheet's XML, streamed: bounded so that a zip bomb ends, not for memory.
constexpr std::uint64_t kMaxSheetBytes = 8ull << 30;
const std::string kNoteMarker = "Note: ";

std::string local_name_of(const XMLString& local, const XMLString& qualified) {
  return local.empty() ? qualified.substr(qualified.find(':') + 1) : local;
}

// The value of the attribute `name` without a namespace (or, with `in_namespace`, with one).
std::string attribute(const Attributes& attributes, std::string_view name,
                      bool in_namespace = false) {
  for (int i = 0; i < attributes.getLength(); ++i) {
    const std::string local = local_name_of(attributes.getLocalName(i), attributes.getQName(i));
    if (local == name && attributes.getURI(i).empty() != in_namespace) {
      return attributes.getValue(i);
    }
  }
  return {};
}

// A part's path from a relationship target, relative to the folder of `source` or absolute.
std::string resolve_target(const std::string& source, const std::string& target) {
  std::vector<std::string> parts;
  std::string path = target;
  if (!path.empty() && path[0] == '/') {
    path.erase(0, 1);
  } else {
    auto slash = source.find_last_of('/');
    path = (slash == std::string::npos ? std::string() : source.substr(0, slash + 1)) + path;
  }
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(start, end - start);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    start = end + 1;
  }
  std::string resolved;
  for (const auto& part : parts) resolved += (resolved.empty() ? "" : "/") + part;
  return resolved;
}

// The part that holds the relationships of `part`: xl/workbook.xml -> xl/_rels/workbook.xml.rels.
std::string relationships_part(const std::string& part) {
  auto slash = part.find_last_of('/');
  if (slash == std::string::npos) return "_rels/" + part + ".rels";
  return part.substr(0, slash + 1) + "_rels/" + part.substr(slash + 1) + ".rels";
}

struct Relationship {
  std::string type;  // the last segment of the type URI: "officeDocument", "worksheet", ...
  std::string target;
};

class RelationshipsHandler : public PartHandler {
 public:
  std::map<std::string, Relationship> by_id;

  void startElement(const XMLString&, const XMLString& local, const XMLString& qualified,
                    const Attributes& attributes) override {
    if (local_name_of(local, qualified) != "Relationship") return;
    std::string type = attribute(attributes, "Type");
    type = type.substr(type.find_last_of('/') + 1);
    by_id[attribute(attributes, "Id")] = {type, attribute(attributes, "Target")};
  }
  void endElement(const XMLString&, const XMLString&, const XMLString&) override { element_done(); }
};

class WorkbookHandler : public PartHandler {
 public:
  std::string first_sheet_name;
  std::string first_sheet_relationship;
  bool date1904 = false;

  void startElement(const XMLString&, const XMLString& local, const XMLString& qualified,
                    const Attributes& attributes) override {
    const std::string name = local_name_of(local, qualified);
    if (name == "workbookPr") {
      const std::string value = attribute(attributes, "date1904");
      date1904 = value == "1" || value == "true";
    } else if (name == "sheet" && first_sheet_relationship.empty()) {
      first_sheet_name = attribute(attributes, "name");
      first_sheet_relationship = attribute(attributes, "id", /*in_namespace=*/true);
    }
  }
  void endElement(const XMLString&, const XMLString&, const XMLString&) override { element_done(); }
};

// True for a number format that shows a date (or a date and time): Excel's built-in ones and
// custom codes that use y, d, or m without h or s (m alone is minutes next to h or s).
bool is_date_format_code(std::string_view code) {
  bool year_or_day = false, month_or_minute = false, hour_or_second = false;
  for (std::size_t i = 0; i < code.size(); ++i) {
    char c = code[i];
    if (c == '"') {  // literal text
      auto end = code.find('"', i + 1);
      if (end == std::string_view::npos) break;
      i = end;
      continue;
    }
    if (c == '\\' || c == '_' || c == '*') {  // an escaped, padded or repeated character
      ++i;
      continue;
    }
    if (c == '[') {  // colours, conditions and locales; [h] [m] [s] are elapsed times
      auto end = code.find(']', i + 1);
      if (end == std::string_view::npos) break;
      auto inside = code.substr(i + 1, end - i - 1);
      if (!inside.empty() &&
          (inside[0] == 'h' || inside[0] == 'H' || inside[0] == 's' || inside[0] == 'S')) {
        hour_or_second = true;
      }
      i = end;
      continue;
    }
    c = static_cast<char>(c >= 'A' && c <= 'Z' ? c + 32 : c);
    if (c == 'y' || c == 'd') year_or_day = true;
    if (c == 'm') month_or_minute = true;
    if (c == 'h' || c == 's') hour_or_second = true;
  }
  return year_or_day || (month_or_minute && !hour_or_second);
}

bool is_builtin_date_format(int id) {
  // 14-17 dates, 22 date and time, 27-36 and 50-58 East Asian dates; 18-21 and 45-47 are
  // times of day, which are serials too.
  return (id >= 14 && id <= 22) || (id >= 27 && id <= 36) || (id >= 45 && id <= 47) ||
         (id >= 50 && id <= 58);
}

class StylesHandler : public PartHandler {
 public:
  // Per cell style index (the s attribute of a cell): whether it shows a date.
  std::vector<bool> style_is_date;

  void startElement(const XMLString&, const XMLString& local, const XMLString& qualified,
                    const Attributes& attributes) override {
    const std::string name = local_name_of(local, qualified);
    if (name == "numFmt") {
      int id = 0;
      const std::string text = attribute(attributes, "numFmtId");
      std::from_chars(text.data(), text.data() + text.size(), id);
      custom_dates_[id] = is_date_format_code(attribute(attributes, "formatCode"));
    } else if (name == "cellXfs") {
      in_cell_formats_ = true;
    } else if (name == "xf" && in_cell_formats_) {
      int id = 0;
      const std::string text = attribute(attributes, "numFmtId");
      std::from_chars(text.data(), text.data() + text.size(), id);
      auto custom = custom_dates_.find(id);
      style_is_date.push_back(custom != custom_dates_.end() ? custom->second
                                                            : is_builtin_date_format(id));
    }
  }
  void endElement(const XMLString&, const XMLString& local, const XMLString& qualified) override {
    if (local_name_of(local, qualified) == "cellXfs") in_cell_formats_ = false;
    element_done();
  }

 private:
  std::map<int, bool> custom_dates_;
  bool in_cell_formats_ = false;
};

// The text of every <si>: its <t>, or the <t> of its rich-text runs <r>, never the phonetic
// hints of <rPh>.
class SharedStringsHandler : public PartHandler {
 public:
  SharedStringsHandler(std::vector<std::string>& strings, std::size_t max_string_bytes)
      : strings_(strings), max_string_bytes_(max_string_bytes) {}

  void startElement(const XMLString&, const XMLString& local, const XMLString& qualified,
                    const Attributes&) override {
    const std::string name = local_name_of(local, qualified);
    if (name == "si") {
      strings_.emplace_back();
    } else if (name == "rPh") {
      ++phonetic_depth_;
    } else if (name == "t" && phonetic_depth_ == 0 && !strings_.empty()) {
      in_text_ = true;
    }
  }
  void endElement(const XMLString&, const XMLString& local, const XMLString& qualified) override {
    const std::string name = local_name_of(local, qualified);
    if (name == "t") in_text_ = false;
    if (name == "rPh" && phonetic_depth_ > 0) --phonetic_depth_;
    if (name == "si" && !strings_.empty()) {
      total_ += strings_.back().size() + 32;
      if (total_ > kMaxSharedStringBytes) {
        stop(Status::invalid_argument("its shared strings hold more than " +
                                      std::to_string(kMaxSharedStringBytes) +
                                      " bytes, the limit; split the workbook or import it as CSV"));
      }
    }
    element_done();
  }
  void characters(const XMLString::value_type text[], int start, int length) override {
    if (!in_text_ || stopped()) return;
    auto& current = strings_.back();
    current.append(text + start, static_cast<std::size_t>(length));
    if (current.size() > max_string_bytes_) {
      stop(Status::invalid_argument("shared string " + std::to_string(strings_.size() - 1) +
                                    " is longer than " + std::to_string(max_string_bytes_) +
                                    " bytes (the limit for one record)"));
    }
  }

 private:
  std::vector<std::string>& strings_;
  std::size_t max_string_bytes_;
  std::uint64_t total_ = 0;
  int phonetic_depth_ = 0;
  bool in_text_ = false;
};

// Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
std::string civil_date(std::int64_t days) {
  days += 719468;
  const std::int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const std::int64_t day_of_era = days - era * 146097;
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t month_index = (5 * day_of_year + 2) / 153;
  const std::int64_t day = day_of_year - (153 * month_index + 2) / 5 + 1;
  const std::int64_t month = month_index < 10 ? month_index + 3 : month_index - 9;
  const std::int64_t year = year_of_era + era * 400 + (month <= 2);
  char text[16];
  std::snprintf(text, sizeof text, "%04d-%02d-%02d", static_cast<int>(year),
                static_cast<int>(month), static_cast<int>(day));
  return text;
}

// An Excel date serial as YYYY-MM-DD, or why it is not a day.
Result<std::string> serial_to_date(double serial, bool date1904) {
  // Excel's days run from 1900-01-01 (serial 1), or 1904-01-01 (serial 0), to 9999-12-31.
  const double first = date1904 ? 0 : 1;
  const double past_last = date1904 ? 2957004 : 2958466;
  if (!std::isfinite(serial) || serial < first || serial >= past_last) {
    char text[32];
    std::snprintf(text, sizeof text, "%.15g", serial);
    return Status::invalid_argument("is not a date Excel can show (serial number " +
                                    std::string(text) + ")");
  }
  const double whole = std::floor(serial);
  const auto days = static_cast<std::int64_t>(whole);
  std::string date;
  if (date1904) {
    date = civil_date(days - 24107);  // serial 0 is 1904-01-01
  } else if (days == 60) {
    return Status::invalid_argument(
        "is 29 February 1900, a day that does not exist (Excel's 1900 leap-year bug)");
  } else {
    // Serial 1 is 1900-01-01; Excel counts a 29 February 1900 after serial 59.
    date = civil_date(days - (days < 60 ? 25568 : 25569));
  }
  if (serial != whole) {
    const auto seconds = static_cast<long>(std::lround((serial - whole) * 86400));
    char time[16];
    std::snprintf(time, sizeof time, "%02ld:%02ld", seconds / 3600 % 24, seconds / 60 % 60);
    return Status::invalid_argument("is a date and time (" + date + " " + time +
                                    "), not a day; format the cell as a date without a time");
  }
  return date;
}

// A number as Excel's General format shows it: integers without a fraction, others in the
// shortest form that reads back to the same double.
std::string number_text(double value) {
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 1e15) {
    return std::to_string(static_cast<std::int64_t>(value));
  }
  char text[64];
  auto written = std::to_chars(text, text + sizeof text, value);
  return std::string(text, written.ptr);
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Spreadsheet text as Excel shows it: each _xHHHH_ escape (ECMA-376's ST_Xstring, which Excel
// writes for control characters, and as _x005F_ for a literal underscore before one) is the
// character U+HHHH. Surrogates are left as written.
std::string unescape_xstring(const std::string& text) {
  if (text.find("_x") == std::string::npos) return text;
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_' && i + 6 < text.size() && text[i + 1] == 'x' && is_hex(text[i + 2]) &&
        is_hex(text[i + 3]) && is_hex(text[i + 4]) && is_hex(text[i + 5]) && text[i + 6] == '_') {
      const unsigned code = static_cast<unsigned>(std::stoul(text.substr(i + 2, 4), nullptr, 16));
      if (code < 0xD800 || code > 0xDFFF) {
        if (code < 0x80) {
          out.push_back(static_cast<char>(code));
        } else if (code < 0x800) {
          out.push_back(static_cast<char>(0xC0 | (code >> 6)));
          out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        } else {
          out.push_back(static_cast<char>(0xE0 | (code >> 12)));
          out.push_back(static_cast<char>(0x80 | ((code >> 6) & 0x3F)));
          out.push_back(static_cast<char>(0x80 | (code & 0x3F)));
        }
        i += 6;
        continue;
      }
    }
    out.push_back(text[i]);
  }
  return out;
}

// At most the first 100 bytes of untrusted text, for a message.
std::string excerpt(const std::string& text) {
  return text.size() <= 100 ? text : text.substr(0, 100) + "...";
}

// "A", "B", ..., "XFD" for 0-based column indexes.
std::string column_letters(std::uint32_t column) {
  std::string letters;
  for (std::uint64_t n = column + 1ull; n > 0; n = (n - 1) / 26) {
    letters.insert(letters.begin(), static_cast<char>('A' + (n - 1) % 26));
  }
  return letters;
}

enum class CellKind { kText, kNumber, kBoolean, kError, kFormulaWithoutValue, kBadString };

struct Cell {
  std::uint32_t column = 0;
  CellKind kind = CellKind::kText;
  bool date_style = false;
  std::string text;  // the text, the number as written, the error code, or the formula
};

struct SheetContext {
  const CompiledSchema& schema;
  std::vector<bool> date_fields;  // per catalog field of `schema`
  RecordSink& sink;
  const ReaderLimits& limits;
  const std::vector<std::string>& shared_strings;
  const std::vector<bool>& style_is_date;
  bool date1904 = false;
  std::string sheet;
  const xlsx::XlsxArchive& archive;  // for progress reports
};

// Streams the worksheet's rows: the first row with a value is the header, each later one a
// record.
class SheetHandler : public PartHandler {
 public:
  explicit SheetHandler(SheetContext& context)
      : context_(context), record_(context.schema.catalog()) {
    location_.sheet = context.sheet;
  }

  void startElement(const XMLString&, const XMLString& local, const XMLString& qualified,
                    const Attributes& attributes) override {
    if (stopped()) return;
    const std::string name = local_name_of(local, qualified);
    if (name == "row") {
      const std::string number = attribute(attributes, "r");
      std::uint64_t row = row_number_ + 1;
      if (!number.empty()) {
        auto parsed = std::from_chars(number.data(), number.data() + number.size(), row);
        if (parsed.ec != std::errc() || parsed.ptr != number.data() + number.size()) row = 0;
      }
      if (row <= row_number_ || row > kMaxRows) {
        stop(Status::invalid_argument(sheet_reference(context_.sheet, row_number_ + 1) +
                                      ": row number '" + number.substr(0, 20) +
                                      "' is out of order or past Excel's last row"));
        return;
      }
      row_number_ = row;
      cells_.clear();
      row_text_bytes_ = 0;
      next_column_ = 0;
    } else if (name == "c") {
      in_cell_ = true;
      cell_ = Cell{};
      cell_type_ = attribute(attributes, "t");
      const std::string reference = attribute(attributes, "r");
      std::uint32_t column = next_column_;
      if (!reference.empty()) {
        std::uint64_t parsed = 0;
        std::size_t letters = 0;
        while (letters < reference.size() && reference[letters] >= 'A' &&
               reference[letters] <= 'Z' && letters < 4) {
          parsed = parsed * 26 + static_cast<std::uint64_t>(reference[letters] - 'A' + 1);
          ++letters;
        }
        column = letters == 0 ? kMaxColumns : static_cast<std::uint32_t>(parsed - 1);
      }
      if (column >= kMaxColumns || column < next_column_) {
        stop(Status::invalid_argument(sheet_reference(context_.sheet, row_number_) +
                                      ": cell reference '" + reference.substr(0, 20) +
                                      "' is out of order or past Excel's last column"));
        return;
      }
      cell_.column = column;
      next_column_ = column + 1;
      const std::string style = attribute(attributes, "s");
      std::size_t style_index = 0;
      if (!style.empty() &&
          std::from_chars(style.data(), style.data() + style.size(), style_index).ec ==
              std::errc() &&
          style_index < context_.style_is_date.size()) {
        cell_.date_style = context_.style_is_date[style_index];
      }
      value_.clear();
      formula_.clear();
      has_value_ = false;
    } else if (in_cell_ && (name == "v" || name == "t")) {
      collecting_ = &value_;
      has_value_ = true;
    } else if (in_cell_ && name == "f") {
      collecting_ = &formula_;
    } else if (in_cell_ && name == "rPh") {
      in_phonetic_ = true;
    }
  }

  void endElement(const XMLString&, const XMLString& local, const XMLString& qualified) override {
    element_done();
    if (stopped()) return;
    const std::string name = local_name_of(local, qualified);
    if (name == "v" || name == "t" || name == "f") {
      collecting_ = nullptr;
    } else if (name == "rPh") {
      in_phonetic_ = false;
    } else if (name == "c") {
      in_cell_ = false;
      finish_cell();
    } else if (name == "row") {
      finish_row();
    }
  }

  void characters(const XMLString::value_type text[], int start, int length) override {
    if (collecting_ == nullptr || in_phonetic_ || stopped()) return;
    collecting_->append(text + start, static_cast<std::size_t>(length));
    row_text_bytes_ += static_cast<std::size_t>(length);
    if (row_text_bytes_ > context_.limits.max_record_bytes) {
      stop(Status::invalid_argument(sheet_reference(context_.sheet, row_number_) + ", column " +
                                    column_letters(cell_.column) + ": " +
                                    record_too_long(context_.limits.max_record_bytes) +
                                    "; nothing from this record on was read"));
    }
  }

 private:
  void finish_cell() {
    if (cell_type_ == "s") {
      std::size_t index = 0;
      auto parsed = std::from_chars(value_.data(), value_.data() + value_.size(), index);
      if (parsed.ec != std::errc() || index >= context_.shared_strings.size()) {
        cell_.kind = CellKind::kBadString;
        cell_.text = value_;
      } else {
        cell_.text = unescape_xstring(context_.shared_strings[index]);
        row_text_bytes_ += cell_.text.size();
        if (row_text_bytes_ > context_.limits.max_record_bytes) {
          stop(Status::invalid_argument(sheet_reference(context_.sheet, row_number_) + ", column " +
                                        column_letters(cell_.column) + ": " +
                                        record_too_long(context_.limits.max_record_bytes) +
                                        "; nothing from this record on was read"));
          return;
        }
      }
    } else if (!has_value_) {
      if (formula_.empty()) return;  // an empty cell (a style only)
      cell_.kind = CellKind::kFormulaWithoutValue;
      cell_.text = formula_;
    } else if (cell_type_ == "b") {
      cell_.kind = CellKind::kBoolean;
      cell_.text = value_ == "1" || value_ == "true" ? "true" : "false";
    } else if (cell_type_ == "e") {
      cell_.kind = CellKind::kError;
      cell_.text = value_;
    } else if (cell_type_ == "d") {
      // An ISO 8601 date cell (strict OOXML): a day at midnight is the day; anything else is
      // kept as written, and a date field then refuses it.
      const bool midnight = value_.size() > 10 && value_[10] == 'T' &&
                            value_.find_first_not_of("0:.Z", 11) == std::string::npos;
      cell_.text = midnight ? value_.substr(0, 10) : value_;
    } else if (cell_type_ == "str" || cell_type_ == "inlineStr") {
      cell_.text = unescape_xstring(value_);
    } else {
      cell_.kind = CellKind::kNumber;
      cell_.text = value_;
    }
    if (cell_.kind == CellKind::kText && cell_.text.empty()) return;
    cells_.push_back(std::move(cell_));
  }

  void finish_row() {
    // A row without a value, or with only spaces, is blank, as a blank line in CSV.
    if (std::all_of(cells_.begin(), cells_.end(), [](const Cell& cell) {
          return cell.kind == CellKind::kText && trim_whitespace(cell.text).empty();
        })) {
      return;
    }
    if (!header_read_) {
      read_header();
      return;
    }
    if (!notes_row_checked_) {
      notes_row_checked_ = true;
      if (row_number_ == header_row_ + 1 &&
          std::all_of(cells_.begin(), cells_.end(), [](const Cell& cell) {
            return cell.kind == CellKind::kText && cell.text.rfind(kNoteMarker, 0) == 0;
          })) {
        return;  // the template's notes row
      }
    }
    read_record();
  }

  void read_header() {
    header_read_ = true;
    header_row_ = row_number_;
    const auto& catalog = *context_.schema.catalog();
    std::vector<bool> seen(catalog.size(), false);
    column_fields_.assign(cells_.back().column + 1, kNoField);
    for (const auto& cell : cells_) {
      // A header cell of spaces is an empty one: a column without a field.
      if (cell.kind == CellKind::kText && trim_whitespace(cell.text).empty()) continue;
      auto field = header_column_field(cell.text, catalog, seen);
      if (!field.is_ok()) {
        stop(Status::invalid_argument(sheet_reference(context_.sheet, row_number_) + ", column " +
                                      column_letters(cell.column) + ": " +
                                      field.status().message() + "; the file was not imported"));
        return;
      }
      column_fields_[cell.column] = field.value();
    }
  }

  // A cell's value as the text a CSV cell would hold, or why it has none.
  Result<std::string> cell_text(const Cell& cell, std::size_t field) const {
    const std::string& path = context_.schema.catalog()->field(field).path;
    switch (cell.kind) {
      case CellKind::kError:
        return Status::invalid_argument("holds the spreadsheet error " + excerpt(cell.text) +
                                        ", not a value");
      case CellKind::kFormulaWithoutValue:
        return Status::invalid_argument(
            "holds the formula =" + excerpt(cell.text) +
            " without a saved value; save the workbook in a spreadsheet program, or paste values");
      case CellKind::kBadString:
        return Status::invalid_argument("refers to shared string '" + excerpt(cell.text) +
                                        "', which the workbook does not have");
      case CellKind::kBoolean:
        return cell.text;
      case CellKind::kText:
        if (cell.text.rfind(kNoteMarker, 0) == 0) {
          return Status::invalid_argument(
              "starts with 'Note: ', as the template's notes do; a note is not a value");
        }
        return cell.text;
      case CellKind::kNumber:
        break;
    }
    double number = 0;
    auto parsed = std::from_chars(cell.text.data(), cell.text.data() + cell.text.size(), number);
    if (parsed.ec != std::errc() || parsed.ptr != cell.text.data() + cell.text.size()) {
      return Status::invalid_argument("holds '" + excerpt(cell.text) + "', which is not a number");
    }
    if (context_.date_fields[field]) return serial_to_date(number, context_.date1904);
    if (cell.date_style) {
      auto date = serial_to_date(number, context_.date1904);
      return Status::invalid_argument(
          "is a date cell (" + (date.is_ok() ? date.value() : cell.text) + ") but " + path +
          " is not a date: the spreadsheet may have turned what was typed into a date; format "
          "the cell as text and type the value again");
    }
    return number_text(number);
  }

  void read_record() {
    location_.line = row_number_;
    if (++location_.ordinal % 4096 == 0) context_.sink.progress(context_.archive.position());
    record_.clear();
    issues_.clear();
    bool valid = true;
    for (const auto& cell : cells_) {
      const std::size_t field =
          cell.column < column_fields_.size() ? column_fields_[cell.column] : kNoField;
      if (field == kNoField) {
        issues_.push_back({"",
                           "column " + column_letters(cell.column) +
                               " has a value, but the header row names no field for it",
                           row_number_});
        valid = false;
        continue;
      }
      auto text = cell_text(cell, field);
      if (!text.is_ok()) {
        issues_.push_back(
            {context_.schema.catalog()->field(field).path, text.status().message(), row_number_});
        valid = false;
        continue;
      }
      const std::size_t before = issues_.size();
      valid = context_.schema.set_from_text(field, text.value(), record_, issues_) && valid;
      for (std::size_t i = before; i < issues_.size(); ++i) issues_[i].line = row_number_;
    }
    valid = context_.schema.check_required(record_, issues_) && valid;
    name_each_field_once(issues_);
    for (auto& issue : issues_) {
      if (issue.line == 0) issue.line = row_number_;
    }
    if (valid && issues_.empty()) {
      context_.sink.accept(record_, location_);
      return;
    }
    auto identity = identity_of(record_, issues_);
    context_.sink.reject({location_, std::move(issues_), std::move(identity)});
    issues_ = {};
  }

  static constexpr std::size_t kNoField = static_cast<std::size_t>(-1);

  SheetContext& context_;
  model::Declaration record_;
  std::vector<FieldIssue> issues_;
  RecordLocation location_;
  std::vector<Cell> cells_;
  std::vector<std::size_t> column_fields_;  // per column: its catalog field, or kNoField
  Cell cell_;
  std::string cell_type_;
  std::string value_;
  std::string formula_;
  std::string* collecting_ = nullptr;
  std::uint64_t row_number_ = 0;
  std::uint64_t header_row_ = 0;
  std::size_t row_text_bytes_ = 0;
  std::uint32_t next_column_ = 0;
  bool in_cell_ = false;
  bool in_phonetic_ = false;
  bool has_value_ = false;
  bool header_read_ = false;
  bool notes_row_checked_ = false;
};

Status not_xlsx(const Status& why) {
  return Status::invalid_argument(why.message() + "; the file was not imported");
}

// Where the first worksheet and its companion parts are, from the package's relationships.
struct WorkbookLayout {
  std::unique_ptr<xlsx::XlsxArchive> archive;
  std::string sheet_name;
  std::string sheet_part;
  std::vector<std::string> styles_parts;
  std::vector<std::string> shared_strings_parts;
  bool date1904 = false;
};

Result<WorkbookLayout> locate_first_sheet(std::istream& in) {
  WorkbookLayout layout;
  auto opened = xlsx::XlsxArchive::open(in, kMaxBufferedWorkbookBytes);
  if (!opened.is_ok()) return opened.status();
  layout.archive = std::move(opened).value();
  auto& archive = *layout.archive;

  // The workbook part (xl/workbook.xml by convention).
  std::string workbook_part = "xl/workbook.xml";
  if (archive.has_part("_rels/.rels")) {
    RelationshipsHandler package;
    if (auto status = archive.parse_part("_rels/.rels", "_rels/.rels", package, kSmallPartLimits);
        !status.is_ok()) {
      return status;
    }
    for (const auto& [id, relationship] : package.by_id) {
      if (relationship.type == "officeDocument") {
        workbook_part = resolve_target("", relationship.target);
      }
    }
  }
  if (!archive.has_part(workbook_part)) {
    return Status::invalid_argument(
        "not an XLSX workbook: a ZIP archive without a workbook part (" + workbook_part + ")");
  }
  WorkbookHandler workbook;
  if (auto status = archive.parse_part(workbook_part, workbook_part, workbook, kSmallPartLimits);
      !status.is_ok()) {
    return status;
  }
  if (workbook.first_sheet_relationship.empty()) {
    return Status::invalid_argument("the workbook has no worksheet");
  }
  RelationshipsHandler parts;
  const std::string rels = relationships_part(workbook_part);
  if (auto status = archive.parse_part(rels, rels, parts, kSmallPartLimits); !status.is_ok()) {
    return status;
  }
  auto sheet = parts.by_id.find(workbook.first_sheet_relationship);
  if (sheet == parts.by_id.end() || sheet->second.type != "worksheet") {
    return Status::invalid_argument("the first sheet, '" + workbook.first_sheet_name +
                                    "', is not a worksheet (a chart sheet?)");
  }
  layout.sheet_part = resolve_target(workbook_part, sheet->second.target);
  if (!archive.has_part(layout.sheet_part)) {
    return Status::invalid_argument("not an XLSX workbook: it has no " + layout.sheet_part);
  }
  layout.sheet_name = workbook.first_sheet_name;
  layout.date1904 = workbook.date1904;
  for (const auto& [id, relationship] : parts.by_id) {
    const std::string part = resolve_target(workbook_part, relationship.target);
    if (!archive.has_part(part)) continue;
    if (relationship.type == "styles") layout.styles_parts.push_back(part);
    if (relationship.type == "sharedStrings") layout.shared_strings_parts.push_back(part);
  }
  return layout;
}

}  // namespace

Status check_xlsx_workbook(std::istream& in) {
  auto layout = locate_first_sheet(in);
  return layout.is_ok() ? Status::ok() : layout.status();
}

Status read_xlsx(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                 const ReaderLimits& limits) {
  auto located = locate_first_sheet(in);
  if (!located.is_ok()) return not_xlsx(located.status());
  auto& layout = located.value();
  auto& archive = *layout.archive;

  StylesHandler styles;
  for (const auto& part : layout.styles_parts) {
    if (auto status = archive.parse_part(part, part, styles, kSmallPartLimits); !status.is_ok()) {
      return not_xlsx(status);
    }
  }
  std::vector<std::string> shared_strings;
  for (const auto& part : layout.shared_strings_parts) {
    SharedStringsHandler strings(shared_strings, limits.max_record_bytes);
    if (auto status = archive.parse_part(
            part, part, strings, {kMaxSheetBytes, 2 * limits.max_record_bytes + (64u << 10)});
        !status.is_ok()) {
      return not_xlsx(status);
    }
  }

  // Date fields by path, so that any compiled schema's catalog is served.
  const auto& catalog = *schema.catalog();
  std::vector<bool> date_fields(catalog.size(), false);
  for (const auto& described : FieldGuide::builtin()->fields()) {
    if (auto field = catalog.index_of(described.path)) {
      date_fields[*field] = described.kind == FieldKind::kDate;
    }
  }
  SheetContext context{schema,          std::move(date_fields), sink,
                       limits,          shared_strings,         styles.style_is_date,
                       layout.date1904, layout.sheet_name,      archive};
  SheetHandler rows(context);
  auto status =
      archive.parse_part(layout.sheet_part, "the worksheet '" + layout.sheet_name + "'", rows,
                         {kMaxSheetBytes, 2 * limits.max_record_bytes + (64u << 10)});
  sink.progress(archive.position());
  return status;
}

}  // namespace detail

Status check_xlsx_workbook(std::istream& in) { return detail::check_xlsx_workbook(in); }

}  // namespace iotreg::importers
