#include "importers/importer.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <unordered_set>

#include "importers/detail/readers.h"
#include "importers/detail/spelling.h"

namespace iotreg::importers {

std::string_view format_name(Format format) {
  switch (format) {
    case Format::kCsv:
      return "csv";
    case Format::kJsonLines:
      return "jsonl";
    case Format::kJson:
      return "json";
    case Format::kYaml:
      return "yaml";
    case Format::kXlsx:
      return "xlsx";
  }
  return "unknown";
}

std::optional<Format> format_from_name(std::string_view name) {
  std::string lower;
  for (char c : name) lower.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c);
  if (lower == "csv") return Format::kCsv;
  if (lower == "jsonl" || lower == "ndjson") return Format::kJsonLines;
  if (lower == "json") return Format::kJson;
  if (lower == "yaml" || lower == "yml") return Format::kYaml;
  if (lower == "xlsx") return Format::kXlsx;
  return std::nullopt;
}

std::optional<Format> format_from_path(std::string_view path) {
  auto slash = path.find_last_of('/');
  auto name = slash == std::string_view::npos ? path : path.substr(slash + 1);
  auto dot = name.find_last_of('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  return format_from_name(name.substr(dot + 1));
}

std::string sheet_reference(std::string_view sheet, std::uint64_t row) {
  const bool plain = !sheet.empty() && std::all_of(sheet.begin(), sheet.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.';
  });
  std::string text;
  if (plain) {
    text = sheet;
  } else {
    text = "'";
    for (char c : sheet) {
      if (c == '\'') text.push_back('\'');
      text.push_back(c);
    }
    text += "'";
  }
  return text + "!" + std::to_string(row);
}

std::string RecordLocation::describe() const {
  std::string text;
  if (!sheet.empty()) {
    text = sheet_reference(sheet, line);
  } else if (document_number) {
    text = "document " + std::to_string(*document_number);
    if (line) text += " (line " + std::to_string(line) + ")";
  } else if (array_index) {
    text = "array index " + std::to_string(*array_index);
    if (line) text += " (line " + std::to_string(line) + ")";
  } else if (line) {
    text = "line " + std::to_string(line);
  } else {
    text = "record " + std::to_string(ordinal);
  }
  return text;
}

Status read_declarations(std::istream& in, Format format, const CompiledSchema& schema,
                         RecordSink& sink, const ReaderLimits& limits) {
  switch (format) {
    case Format::kCsv:
      return detail::read_csv(in, schema, sink, limits);
    case Format::kJsonLines:
      return detail::read_json_lines(in, schema, sink, limits);
    case Format::kJson:
      return detail::read_json(in, schema, sink, limits);
    case Format::kYaml:
      return detail::read_yaml(in, schema, sink, limits);
    case Format::kXlsx:
      return detail::read_xlsx(in, schema, sink, limits);
  }
  return Status::internal("unknown format");
}

std::string RecordIdentity::describe() const { return manufacturer + " / " + brand + " " + model; }

std::optional<RecordIdentity> identity_of(const model::Declaration& record,
                                          const std::vector<FieldIssue>& issues) {
  const auto& catalog = record.catalog();
  for (const auto& issue : issues) {
    for (auto field : {model::WellKnownField::kManufacturerName, model::WellKnownField::kBrand,
                       model::WellKnownField::kModel}) {
      if (issue.field == catalog.field(catalog.index_of(field)).path) return std::nullopt;
    }
  }
  RecordIdentity identity{std::string(record.string_at(model::WellKnownField::kManufacturerName)),
                          std::string(record.string_at(model::WellKnownField::kBrand)),
                          std::string(record.string_at(model::WellKnownField::kModel))};
  if (identity.manufacturer.empty() || identity.brand.empty() || identity.model.empty()) {
    return std::nullopt;
  }
  return identity;
}

namespace detail {

Result<std::size_t> header_column_field(std::string_view name, const model::FieldCatalog& catalog,
                                        std::vector<bool>& seen) {
  if (name.find('\0') != std::string_view::npos) {
    return Status::invalid_argument("the column name contains a NUL character (U+0000)");
  }
  auto field = catalog.index_of(name);
  if (!field) {
    std::vector<std::string_view> paths;
    for (const auto& spec : catalog.fields()) paths.push_back(spec.path);
    if (auto meant = nearest_spelling(name, paths)) {
      return Status::invalid_argument("unknown column '" + std::string(name) + "'; did you mean " +
                                      *meant + "?");
    }
    return Status::invalid_argument("unknown column '" + std::string(name) +
                                    "' (columns are field paths such as manufacturer.name or "
                                    "support.end_date)");
  }
  if (seen[*field]) {
    return Status::invalid_argument("column '" + std::string(name) + "' appears twice");
  }
  seen[*field] = true;
  return *field;
}

std::string record_too_long(std::size_t max_record_bytes) {
  return "record longer than " + std::to_string(max_record_bytes) +
         " bytes (the limit for one record)";
}

void name_each_field_once(std::vector<FieldIssue>& issues) {
  std::unordered_set<std::string> named;
  issues.erase(std::remove_if(issues.begin(), issues.end(),
                              [&](const FieldIssue& issue) {
                                return !issue.field.empty() && !named.insert(issue.field).second;
                              }),
               issues.end());
}

void deliver_document(const nlohmann::json& document, const CompiledSchema& schema,
                      const RecordLocation& where, std::vector<FieldIssue> issues,
                      model::Declaration& scratch, RecordSink& sink) {
  bool valid = schema.validate_document(document, scratch, issues);
  name_each_field_once(issues);
  if (valid && issues.empty()) {
    sink.accept(scratch, where);
    return;
  }
  auto identity = identity_of(scratch, issues);
  sink.reject({where, std::move(issues), std::move(identity)});
}

}  // namespace detail
}  // namespace iotreg::importers
