// CSV reader: one column per dotted field path, header required. Cells are typed by the
// compiled schema (booleans, integers, `|`-separated lists); an empty cell is an absent field.
// Problems name the column by its number and, past the header, by its field path.
#include <string>
#include <vector>

#include "importers/csv/csv_tokenizer.h"
#include "importers/detail/readers.h"
#include "importers/text_encoding.h"

namespace iotreg::importers::detail {
namespace {

class CsvLocator {
 public:
  CsvLocator(const model::FieldCatalog& catalog, const std::vector<std::size_t>& column_fields)
      : catalog_(catalog), column_fields_(column_fields) {}

  // The field path of the column at 0-based `index`, or "" past the header's columns.
  std::string path(std::size_t index) const {
    return index < column_fields_.size() ? catalog_.field(column_fields_[index]).path
                                         : std::string();
  }

  // "line 7, column 3 (product.model)": where a problem that stops the file is.
  std::string where(const CsvProblem& problem) const {
    std::string text =
        "line " + std::to_string(problem.line) + ", column " + std::to_string(problem.field + 1);
    if (problem.field < column_fields_.size()) text += " (" + path(problem.field) + ")";
    return text;
  }

 private:
  const model::FieldCatalog& catalog_;
  const std::vector<std::size_t>& column_fields_;
};

}  // namespace

Status read_csv(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                const ReaderLimits& limits) {
  CsvTokenizer::Limits tokenizer_limits;
  tokenizer_limits.max_record_bytes = limits.max_record_bytes;
  CsvTokenizer tokenizer(in, tokenizer_limits);
  CsvRow row;

  // Header: every column must name a field of the format, once.
  const auto header_error = [](std::uint64_t line, std::size_t column, const std::string& what) {
    return Status::invalid_argument("header line " + std::to_string(line) + ", column " +
                                    std::to_string(column + 1) + ": " + what +
                                    "; the file was not imported");
  };
  switch (tokenizer.next(row)) {
    case CsvTokenizer::Status::End:
      return Status::ok();  // an empty file holds no records
    case CsvTokenizer::Status::BadRecord:
    case CsvTokenizer::Status::Fatal: {
      const auto& problem = tokenizer.problem();
      return header_error(problem.line, problem.field, problem.message);
    }
    case CsvTokenizer::Status::Record:
      break;
  }
  const auto& catalog = *schema.catalog();
  std::vector<std::size_t> column_fields;
  std::vector<bool> seen(catalog.size(), false);
  for (std::size_t column = 0; column < row.fields.size(); ++column) {
    auto field = header_column_field(row.fields[column], catalog, seen);
    if (!field.is_ok()) return header_error(row.start_line, column, field.status().message());
    column_fields.push_back(field.value());
  }
  const CsvLocator locator(catalog, column_fields);

  model::Declaration record(schema.catalog());
  std::vector<FieldIssue> issues;
  RecordLocation location;
  std::uint64_t records = 0;
  for (;;) {
    auto status = tokenizer.next(row);
    if (status == CsvTokenizer::Status::End) break;
    if (status == CsvTokenizer::Status::Fatal) {
      const auto& problem = tokenizer.problem();
      return Status::invalid_argument(locator.where(problem) + ": " + problem.message +
                                      "; nothing from this record on was read");
    }
    location.line = row.start_line;
    ++location.ordinal;
    if (++records % 4096 == 0) sink.progress(tokenizer.bytes_consumed());
    if (status == CsvTokenizer::Status::BadRecord) {
      const auto& problem = tokenizer.problem();
      std::string at = problem.field < column_fields.size()
                           ? std::string()
                           : "column " + std::to_string(problem.field + 1) + ", ";
      sink.reject({location,
                   {{locator.path(problem.field),
                     problem.message + " (" + at + "byte " + std::to_string(problem.column) +
                         " of the line)" + std::string(problem.not_utf8 ? kNotUtf8Hint : ""),
                     problem.line}}});
      continue;
    }
    issues.clear();
    if (row.fields.size() != column_fields.size()) {
      sink.reject({location,
                   {{"",
                     "has " + std::to_string(row.fields.size()) + " fields but the header has " +
                         std::to_string(column_fields.size()),
                     row.start_line}}});
      continue;
    }
    record.clear();
    bool valid = true;
    for (std::size_t column = 0; column < column_fields.size(); ++column) {
      if (row.fields[column].empty()) continue;
      valid = schema.set_from_text(column_fields[column], row.fields[column], record, issues,
                                   row.has_nul) &&
              valid;
    }
    valid = schema.check_required(record, issues) && valid;
    name_each_field_once(issues);
    if (valid) {
      sink.accept(record, location);
    } else {
      auto identity = identity_of(record, issues);
      sink.reject({location, std::move(issues), std::move(identity)});
      issues = {};
    }
  }
  sink.progress(tokenizer.bytes_consumed());
  if (in.bad()) return Status::io_error("read error after line " + std::to_string(location.line));
  return Status::ok();
}

}  // namespace iotreg::importers::detail
