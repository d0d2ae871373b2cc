// `iotreg template --xlsx FILE`: a blank declaration workbook that `iotreg import` reads back.
//
// Row 1 holds one column per field path of the built-in schema (importers::FieldGuide, so the
// template never lists fields of its own), row 2 a note per column ("Note: " and the schema's
// description; the XLSX reader skips that row), both frozen. Rows 3 to 1002 take declarations:
// drop-downs for enumerations and booleans, a date check and format for dates, whole numbers
// for integers, and text format elsewhere, so that Excel does not turn a model like 3-1 into a
// date or a GTIN into 5.06E+12.
#include <algorithm>
#include <string>
#include <vector>

#include "importers/xlsx/field_guide.h"
#include "registry/cli/commands.h"
#include "registry/views/xlsx_export.h"

namespace iotreg::cli {
namespace {

constexpr lxw_row_t kFirstDataRow = 2;
constexpr lxw_row_t kLastDataRow = 1001;

std::string note_for(const importers::FieldDescription& field) {
  std::string note = "Note: " + field.description;
  if (field.required) note += " Required.";
  switch (field.kind) {
    case importers::FieldKind::kDate:
      note += " A date (YYYY-MM-DD).";
      break;
    case importers::FieldKind::kBoolean:
      note += " true or false.";
      break;
    case importers::FieldKind::kInteger:
      note += " A whole number.";
      break;
    case importers::FieldKind::kList:
      note += " Several values separated by |.";
      break;
    case importers::FieldKind::kText:
      break;
  }
  if (!field.enumeration.empty()) note += " One of the values in the drop-down.";
  return note;
}

Status write_template(const std::string& path) {
  auto created = views::XlsxWorkbook::create(path, /*constant_memory=*/false);
  if (!created.is_ok()) return created.status();
  auto& workbook = *created.value();
  lxw_workbook* book = workbook.get();
  lxw_worksheet* sheet = workbook_add_worksheet(book, "Declarations");
  lxw_format* header = workbook_add_format(book);
  lxw_format* note = workbook_add_format(book);
  lxw_format* text = workbook_add_format(book);
  lxw_format* date = workbook_add_format(book);
  if (sheet == nullptr || header == nullptr || note == nullptr || text == nullptr ||
      date == nullptr) {
    return Status::io_error("cannot write " + path + ": libxlsxwriter could not start the sheet");
  }
  format_set_bold(header);
  format_set_italic(note);
  format_set_text_wrap(note);
  format_set_font_color(note, LXW_COLOR_GRAY);
  format_set_num_format(text, "@");
  format_set_num_format(date, "yyyy-mm-dd");

  const auto& fields = importers::FieldGuide::builtin()->fields();
  for (std::size_t index = 0; index < fields.size(); ++index) {
    const auto& field = fields[index];
    const auto column = static_cast<lxw_col_t>(index);
    const bool is_date = field.kind == importers::FieldKind::kDate;
    const bool is_text =
        field.kind == importers::FieldKind::kText || field.kind == importers::FieldKind::kList;
    lxw_error error =
        worksheet_set_column(sheet, column, column, std::max<double>(14, field.path.size() + 2),
                             is_date   ? date
                             : is_text ? text
                                       : nullptr);
    if (error == LXW_NO_ERROR) {
      error = worksheet_write_string(sheet, 0, column, field.path.c_str(), header);
    }
    if (error == LXW_NO_ERROR) {
      error = worksheet_write_string(sheet, 1, column, note_for(field).c_str(), note);
    }
    // Drop-downs for enumerations and booleans; dates and whole numbers are checked.
    std::vector<std::string> choices = field.enumeration;
    if (field.kind == importers::FieldKind::kBoolean) choices = {"true", "false"};
    std::vector<char*> list;
    for (auto& choice : choices) list.push_back(choice.data());
    list.push_back(nullptr);
    lxw_data_validation validation{};
    validation.ignore_blank = LXW_VALIDATION_ON;
    validation.show_error = LXW_VALIDATION_ON;
    bool validated = true;
    if (!choices.empty()) {
      validation.validate = LXW_VALIDATION_TYPE_LIST;
      validation.value_list = list.data();
      validation.dropdown = LXW_VALIDATION_ON;
    } else if (is_date) {
      validation.validate = LXW_VALIDATION_TYPE_DATE;
      validation.criteria = LXW_VALIDATION_CRITERIA_BETWEEN;
      validation.minimum_datetime = {1900, 3, 1, 0, 0, 0};
      validation.maximum_datetime = {9999, 12, 31, 0, 0, 0};
    } else if (field.kind == importers::FieldKind::kInteger) {
      validation.validate = LXW_VALIDATION_TYPE_INTEGER;
      validation.criteria = LXW_VALIDATION_CRITERIA_GREATER_THAN_OR_EQUAL_TO;
      validation.value_number = 0;
    } else {
      validated = false;
    }
    if (error == LXW_NO_ERROR && validated) {
      error = worksheet_data_validation_range(sheet, kFirstDataRow, column, kLastDataRow, column,
                                              &validation);
    }
    if (error != LXW_NO_ERROR) {
      return views::xlsx_status(error, "cannot write " + path + " (column " + field.path + ")");
    }
  }
  worksheet_set_row(sheet, 1, 45, nullptr);
  worksheet_freeze_panes(sheet, 2, 0);
  return workbook.close();
}

}  // namespace

int run_template(const std::string& xlsx_path) {
  if (auto written = write_template(xlsx_path); !written.is_ok()) return report_error(written);
  return kExitSuccess;
}

}  // namespace iotreg::cli
