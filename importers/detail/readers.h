// Private to importers/: the per-format readers behind read_declarations().
#pragma once

#include <istream>
#include <string>
#include <string_view>

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

// Validates a parsed document and delivers it to the sink; `issues` holds problems found while
// parsing (e.g. duplicate keys) and makes the record rejected.
void deliver_document(const nlohmann::json& document, const CompiledSchema& schema,
                      const RecordLocation& where, std::vector<FieldIssue> issues,
                      model::Declaration& scratch, RecordSink& sink);

// "record longer than N bytes (the limit for one record)": why reading stopped at a record that
// outgrew ReaderLimits::max_record_bytes, in every format.
std::string record_too_long(std::size_t max_record_bytes);

}  // namespace iotreg::importers::detail
