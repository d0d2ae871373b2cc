// Declaration readers: CSV, JSON Lines, JSON and YAML files to validated declaration records.
//
// read_declarations() streams one input, validates every record against a CompiledSchema and
// hands each one to a RecordSink as either accepted (a model::Declaration) or rejected (with
// its location and every field issue). Memory is bounded by the record-size limit, not the
// file. A reader runs on the calling thread; the sink is called on that thread only.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "importers/schema/compiled_schema.h"
#include "registry/core/status.h"
#include "registry/model/declaration.h"

namespace iotreg::importers {

enum class Format { kCsv, kJsonLines, kJson, kYaml, kXlsx };

std::string_view format_name(Format format);
// "csv", "jsonl" (or "ndjson"), "json", "yaml" (or "yml"), "xlsx".
std::optional<Format> format_from_name(std::string_view name);
// From a file name's extension: .csv .jsonl .ndjson .json .yaml .yml .xlsx (any case).
std::optional<Format> format_from_path(std::string_view path);

// Where a record sits in its file.
struct RecordLocation {
  std::uint64_t line = 0;                    // 1-based line where the record starts; 0 when unknown
                                             // (XLSX: its row number)
  std::uint64_t ordinal = 0;                 // 1-based record number within the file
  std::optional<std::uint64_t> array_index;  // JSON arrays: 0-based index
  std::optional<std::uint64_t> document_number;  // YAML: 1-based document number
  std::string sheet;                             // XLSX: the worksheet's name; "" in other formats

  // "line 12", "array index 3", "document 4 (line 20)", "Declarations!7".
  std::string describe() const;
};

// A worksheet row as a spreadsheet names it: Declarations!7, or 'Q3 2026'!7 when the sheet's
// name holds anything but letters, digits, '_' and '.' (an apostrophe in it doubled).
std::string sheet_reference(std::string_view sheet, std::uint64_t row);

// The product a rejected record declares, when its identity fields were read and valid.
struct RecordIdentity {
  std::string manufacturer;
  std::string brand;
  std::string model;

  // "Acme Ltd / Acme A-1", to name the product in a message.
  std::string describe() const;
};

struct RejectedRecord {
  RecordLocation where;
  std::vector<FieldIssue> issues;  // at least one
  std::optional<RecordIdentity> identity = std::nullopt;
};

// The identity a rejected record declares: the three identity fields `record` holds, when it
// holds all three and none of them is among `issues` (a reader may keep a value it refused).
std::optional<RecordIdentity> identity_of(const model::Declaration& record,
                                          const std::vector<FieldIssue>& issues);

// Receives the records of one input. Implementations decide what to keep; they must not throw.
class RecordSink {
 public:
  virtual ~RecordSink() = default;
  // `declaration` is the reader's scratch record, valid only during the call.
  virtual void accept(const model::Declaration& declaration, const RecordLocation& where) = 0;
  virtual void reject(RejectedRecord&& rejected) = 0;
  // Called now and then with the number of input bytes consumed so far.
  virtual void progress(std::uint64_t /*bytes_read*/) {}
};

struct ReaderLimits {
  // Bytes of one record: a CSV record (line terminator excluded), a JSON Lines line, an element
  // of a JSON array (with the space and comma before it) or a whole JSON value, a YAML document
  // (with the comments before it), the text of an XLSX row's cells. Reading stops at the first
  // byte past the limit.
  std::size_t max_record_bytes = 1 << 20;
};

// XLSX only: whether `in` holds a workbook that the reader can open (a ZIP archive with a
// workbook and a first worksheet), without reading its rows; kInvalidArgument saying why not.
// The command line refuses such a file before anything is stored.
Status check_xlsx_workbook(std::istream& in);

// Reads all of `in`. Records are delivered to `sink` as they are read. A non-ok Status means
// the input could not be read to its end: it broke off, or a record outgrew the limit (the
// message says where and why, naming the field being read, and that nothing after that point
// was read), or, for CSV, that the header was refused before any record.
Status read_declarations(std::istream& in, Format format, const CompiledSchema& schema,
                         RecordSink& sink, const ReaderLimits& limits = {});

}  // namespace iotreg::importers
