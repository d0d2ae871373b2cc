// Private to importers/: the per-format readers behind read_declarations().
#pragma once

#include <istream>
#include <string>
#include <string_view>
#include <vector>

#include "importers/importer.h"

namespace iotreg::importers::detail {

Status read_csv(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                const ReaderLimits& limits);
Status read_json_lines(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                       const ReaderLimits& limits);
Status read_json(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                 const ReaderLimits& limits);
Status read_yaml(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                 const ReaderLimits& limits);
Status read_xlsx(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                 const ReaderLimits& limits);

// The field that a column header of a flat format (CSV, XLSX) names, or why the name is
// refused: NUL in it, an unknown field (naming the nearest field path when one is near), or a
// field named before (`seen`, one flag per catalog field, records the fields named so far).
Result<std::size_t> header_column_field(std::string_view name, const model::FieldCatalog& catalog,
                                        std::vector<bool>& seen);

// Keeps the first issue about each field, in order, and every issue about the record as a whole
// (no field): each problem is named once, for its first reason. A value that could not be read
// (bytes that are not UTF-8, an alias, a refused cell) is not also a wrong or missing value.
void name_each_field_once(std::vector<FieldIssue>& issues);

// Validates a parsed document and delivers it to the sink; `issues` holds problems found while
// parsing (e.g. duplicate keys) and makes the record rejected.
void deliver_document(const nlohmann::json& document, const CompiledSchema& schema,
                      const RecordLocation& where, std::vector<FieldIssue> issues,
                      model::Declaration& scratch, RecordSink& sink);

// "record longer than N bytes (the limit for one record)": why reading stopped at a record that
// outgrew ReaderLimits::max_record_bytes, in every format.
std::string record_too_long(std::size_t max_record_bytes);

}  // namespace iotreg::importers::detail
