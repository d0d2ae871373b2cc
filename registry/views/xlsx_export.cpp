#include "registry/views/xlsx_export.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <vector>

namespace iotreg::views {
namespace {

// "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS..." as a libxlsxwriter date; false when it is neither.
bool parse_datetime(const std::string& text, lxw_datetime& out) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int read = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%n", &year, &month, &day, &read) != 3 || read != 10) {
    return false;
  }
  if (text.size() > 10 &&
      std::sscanf(text.c_str() + 10, "T%2d:%2d:%2d", &hour, &minute, &second) != 3) {
    return false;
  }
  if (year < 1900 || year > 9999 || month < 1 || month > 12 || day < 1 || day > 31) return false;
  out = {year, month, day, hour, minute, static_cast<double>(second)};
  return true;
}

// Text as a spreadsheet cell must hold it to be shown as written: Excel reads _xHHHH_ in a
// string as the character U+HHHH, so a literal one is escaped as _x005F_xHHHH_.
std::string escape_xstring(const std::string& text) {
  if (text.find("_x") == std::string::npos) return text;
  const auto is_hex = [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
  };
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '_' && i + 6 < text.size() && text[i + 1] == 'x' && is_hex(text[i + 2]) &&
        is_hex(text[i + 3]) && is_hex(text[i + 4]) && is_hex(text[i + 5]) && text[i + 6] == '_') {
      out += "_x005F";
    }
    out.push_back(text[i]);
  }
  return out;
}

}  // namespace

Status xlsx_status(lxw_error error, const std::string& what) {
  if (error == LXW_NO_ERROR) return Status::ok();
  return Status::io_error(what + ": " + lxw_strerror(error));
}

Result<std::unique_ptr<XlsxWorkbook>> XlsxWorkbook::create(const std::string& path,
                                                           bool constant_memory) {
  // libxlsxwriter opens the file only when it closes the workbook: find out now.
  if (std::FILE* probe = std::fopen(path.c_str(), "ab")) {
    std::fclose(probe);
  } else {
    return Status::io_error("cannot write " + path + ": " + std::strerror(errno));
  }
  lxw_workbook_options options{};
  options.constant_memory = constant_memory ? LXW_TRUE : LXW_FALSE;
  options.use_zip64 = LXW_TRUE;
  lxw_workbook* workbook = workbook_new_opt(path.c_str(), &options);
  if (workbook == nullptr) return Status::io_error("cannot start a workbook for " + path);
  return std::unique_ptr<XlsxWorkbook>(new XlsxWorkbook(workbook, path));
}

XlsxWorkbook::~XlsxWorkbook() {
  // Not closed: discarded. libxlsxwriter can only free a workbook by writing it, so the file
  // it writes is removed again.
  if (workbook_ != nullptr) {
    workbook_close(workbook_);
    std::remove(path_.c_str());
  }
}

Status XlsxWorkbook::close() {
  lxw_workbook* workbook = workbook_;
  workbook_ = nullptr;
  auto status = xlsx_status(workbook_close(workbook), "cannot write " + path_);
  if (!status.is_ok()) std::remove(path_.c_str());  // no partial workbook is left behind
  return status;
}

Result<std::unique_ptr<TemporaryFile>> TemporaryFile::create() {
  const char* directory = std::getenv("TMPDIR");
  std::string pattern =
      std::string(directory && *directory ? directory : "/tmp") + "/iotreg-XXXXXX.xlsx";
  std::vector<char> name(pattern.begin(), pattern.end());
  name.push_back('\0');
  const int descriptor = ::mkstemps(name.data(), 5);
  if (descriptor < 0) return Status::io_error("cannot create a temporary file in " + pattern);
  ::close(descriptor);
  return std::unique_ptr<TemporaryFile>(new TemporaryFile(name.data()));
}

TemporaryFile::~TemporaryFile() { std::remove(path_.c_str()); }

bool TemporaryFile::copy_to(std::ostream& out) const {
  std::ifstream in(path_, std::ios::binary);
  if (!in) return false;
  out << in.rdbuf();
  return static_cast<bool>(out) && !in.bad();
}

Result<std::unique_ptr<ProductXlsxWriter>> ProductXlsxWriter::create(const std::string& path) {
  auto workbook = XlsxWorkbook::create(path, /*constant_memory=*/true);
  if (!workbook.is_ok()) return workbook.status();
  std::unique_ptr<ProductXlsxWriter> writer(new ProductXlsxWriter(std::move(workbook).value()));
  lxw_workbook* book = writer->workbook_->get();
  writer->sheet_ = workbook_add_worksheet(book, "Products");
  lxw_format* bold = workbook_add_format(book);
  writer->date_ = workbook_add_format(book);
  writer->timestamp_ = workbook_add_format(book);
  if (writer->sheet_ == nullptr || bold == nullptr || writer->date_ == nullptr ||
      writer->timestamp_ == nullptr) {
    return Status::io_error("cannot start a workbook for " + path);
  }
  format_set_bold(bold);
  format_set_num_format(writer->date_, "yyyy-mm-dd");
  format_set_num_format(writer->timestamp_, "yyyy-mm-dd hh:mm:ss");
  const auto columns = product_export_columns();
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const auto column = static_cast<lxw_col_t>(i);
    lxw_format* format = columns[i].type == ExportCellType::kDate        ? writer->date_
                         : columns[i].type == ExportCellType::kTimestamp ? writer->timestamp_
                                                                         : nullptr;
    if (auto status = xlsx_status(
            worksheet_set_column(writer->sheet_, column, column, columns[i].width, format),
            "cannot size column " + std::string(columns[i].name));
        !status.is_ok()) {
      return status;
    }
    const std::string name(columns[i].name);
    if (auto status =
            xlsx_status(worksheet_write_string(writer->sheet_, 0, column, name.c_str(), bold),
                        "cannot write the header");
        !status.is_ok()) {
      return status;
    }
  }
  worksheet_freeze_panes(writer->sheet_, 1, 0);
  return writer;
}

Status ProductXlsxWriter::add(const storage::ProductSummary& product,
                              const PrintedFindings& findings) {
  const auto columns = product_export_columns();
  const auto cells = product_export_cells(product, findings);
  const lxw_row_t row = next_row_++;
  for (std::size_t i = 0; i < columns.size(); ++i) {
    const std::string& text = cells[i];
    if (text.empty()) continue;
    const auto column = static_cast<lxw_col_t>(i);
    lxw_error error = LXW_NO_ERROR;
    lxw_datetime when{};
    switch (columns[i].type) {
      case ExportCellType::kInteger:
        error = worksheet_write_number(sheet_, row, column, std::strtod(text.c_str(), nullptr),
                                       nullptr);
        break;
      case ExportCellType::kBoolean:
        error = worksheet_write_boolean(sheet_, row, column, text == "true", nullptr);
        break;
      case ExportCellType::kDate:
      case ExportCellType::kTimestamp:
        if (parse_datetime(text, when)) {
          error = worksheet_write_datetime(
              sheet_, row, column, &when,
              columns[i].type == ExportCellType::kDate ? date_ : timestamp_);
          break;
        }
        // A value that is not a date (never stored so, but never trusted) stays text.
        [[fallthrough]];
      case ExportCellType::kText:
        // worksheet_write_string() writes a string cell, never a formula: a value that starts
        // with = + - @ is shown as written and never run.
        error = worksheet_write_string(sheet_, row, column, escape_xstring(text).c_str(), nullptr);
        break;
    }
    if (error != LXW_NO_ERROR) {
      return xlsx_status(error, "cannot write product " + std::to_string(product.id) + "'s " +
                                    std::string(columns[i].name));
    }
  }
  return Status::ok();
}

Status ProductXlsxWriter::finish() {
  const auto last_column = static_cast<lxw_col_t>(product_export_columns().size() - 1);
  if (auto status = xlsx_status(worksheet_autofilter(sheet_, 0, 0, next_row_ - 1, last_column),
                                "cannot set the autofilter");
      !status.is_ok()) {
    return status;
  }
  return workbook_->close();
}

}  // namespace iotreg::views
