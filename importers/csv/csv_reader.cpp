// CSV reader: one column per dotted field path, header required. Cells are typed by the
// compiled schema (booleans, integers, `|`-separated lists); an empty cell is an absent field.
#include <string>
#include <vector>

#include "importers/csv/csv_tokenizer.h"
#include "importers/detail/readers.h"

namespace iotreg::importers::detail {
namespace {

std::string header_problem(const CsvProblem& problem) {
  return "line " + std::to_string(problem.line) + ", column " + std::to_string(problem.column) +
         ": " + problem.message;
}

}  // namespace

Status read_csv(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                const ReaderLimits& limits) {
  CsvTokenizer::Limits tokenizer_limits;
  tokenizer_limits.max_record_bytes = limits.max_record_bytes;
  CsvTokenizer tokenizer(in, tokenizer_limits);
  CsvRow row;

  // Header: every column must name a field of the format, once.
  switch (tokenizer.next(row)) {
    case CsvTokenizer::Status::End:
      return Status::ok();  // an empty file holds no records
    case CsvTokenizer::Status::BadRecord:
    case CsvTokenizer::Status::Fatal:
      return Status::invalid_argument("header " + header_problem(tokenizer.problem()));
    case CsvTokenizer::Status::Record:
      break;
  }
  const auto& catalog = *schema.catalog();
  std::vector<std::size_t> column_fields;
  std::vector<bool> seen(catalog.size(), false);
  for (std::size_t column = 0; column < row.fields.size(); ++column) {
    std::string_view name = row.fields[column];
    auto field = catalog.index_of(name);
    if (!field) {
      return Status::invalid_argument(
          "header line " + std::to_string(row.start_line) + ", column " +
          std::to_string(column + 1) + ": unknown column '" + std::string(name) +
          "' (columns are field paths such as manufacturer.name or support.end_date); the file "
          "was not imported");
    }
    if (seen[*field]) {
      return Status::invalid_argument("header line " + std::to_string(row.start_line) +
                                      ", column " + std::to_string(column + 1) + ": column '" +
                                      std::string(name) +
                                      "' appears twice; the file was not imported");
    }
    seen[*field] = true;
    column_fields.push_back(*field);
  }

  model::Declaration record(schema.catalog());
  std::vector<FieldIssue> issues;
  RecordLocation location;
  std::uint64_t records = 0;
  for (;;) {
    auto status = tokenizer.next(row);
    if (status == CsvTokenizer::Status::End) break;
    if (status == CsvTokenizer::Status::Fatal) {
      return Status::invalid_argument(header_problem(tokenizer.problem()) +
                                      "; nothing after this point was read");
    }
    location.line = row.start_line;
    ++location.ordinal;
    if (++records % 4096 == 0) sink.progress(tokenizer.bytes_consumed());
    if (status == CsvTokenizer::Status::BadRecord) {
      const auto& problem = tokenizer.problem();
      sink.reject({location,
                   {{"", problem.message + " (column " + std::to_string(problem.column) + ")",
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
      valid =
          schema.set_from_text(column_fields[column], row.fields[column], record, issues) && valid;
    }
    valid = schema.check_required(record, issues) && valid;
    if (valid) {
      sink.accept(record, location);
    } else {
      sink.reject({location, std::move(issues)});
      issues = {};
    }
  }
  sink.progress(tokenizer.bytes_consumed());
  if (in.bad()) return Status::io_error("read error after line " + std::to_string(location.line));
  return Status::ok();
}

}  // namespace iotreg::importers::detail
