// CompiledSchema: the declaration JSON Schema (draft 7) compiled once into per-field validators.
//
// compile() accepts the subset of draft 7 that the declaration format uses and refuses every
// other keyword, so nothing in the schema is silently ignored. The result validates nested
// documents (JSON, YAML) and single CSV cells, and fills model::Declaration values. With
// domain checks on (the default) it also enforces what JSON Schema cannot express: dates must
// exist in the calendar (leap years) and `format: gtin` values need a valid check digit.
// Leading and trailing whitespace of text values is removed before they are validated.
// Whatever the options, a text value or field name that holds NUL (U+0000) is refused.
// Immutable after compile(); every const member is safe to call from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "registry/core/status.h"
#include "registry/model/declaration.h"

namespace iotreg::importers {

// The reasons given for NUL (U+0000) in a text value and in a field name. Readers that meet a
// raw NUL byte before the schema sees the text give the same ones.
inline constexpr const char* kNulInValue = "contains a NUL character (U+0000)";
inline constexpr const char* kNulInName = "field name contains a NUL character (U+0000)";
// A field name as messages show it: each NUL written as \u0000.
std::string visible_field_name(std::string_view name);

// One problem with one field of one record.
struct FieldIssue {
  std::string field;       // dotted path, e.g. "support.end_date"; "" for the record as a whole
  std::string reason;      // plain words: what is wrong and why
  std::uint64_t line = 0;  // 1-based line of the field when the reader knows it, else 0
};

class CompiledSchema {
 public:
  struct Options {
    // Calendar-exact dates and GTIN check digits on top of the JSON Schema keywords. Off only
    // to compare the pure JSON Schema semantics with a reference validator.
    bool domain_checks = true;
    // Leading and trailing whitespace of every text value (trim_whitespace in
    // registry/core/utf8.h) is removed before it is validated and stored (DESIGN.md §2): a
    // spreadsheet's 'HL-CAM2  ' is HL-CAM2 and 'no ' is a boolean. Off only to compare the pure
    // JSON Schema semantics with a reference validator.
    bool trim_whitespace = true;
  };

  // Compiles a schema document. Errors name the JSON pointer of the offending keyword.
  static Result<std::shared_ptr<const CompiledSchema>> compile(std::string_view schema_json,
                                                               Options options);
  static Result<std::shared_ptr<const CompiledSchema>> compile(std::string_view schema_json) {
    return compile(schema_json, Options{});
  }

  // The schema built into the program (schemas/declaration.schema.json), compiled on first use.
  static std::shared_ptr<const CompiledSchema> builtin();
  static std::string_view builtin_text();

  ~CompiledSchema();
  CompiledSchema(const CompiledSchema&) = delete;
  CompiledSchema& operator=(const CompiledSchema&) = delete;

  const std::shared_ptr<const model::FieldCatalog>& catalog() const { return catalog_; }

  // Validates a nested document and stores its values in `out` (which is cleared first).
  // Returns true when valid; otherwise appends one issue per violation.
  bool validate_document(const nlohmann::json& document, model::Declaration& out,
                         std::vector<FieldIssue>& issues) const;

  // Flat (CSV) records: converts the text of one cell to the field's type (booleans
  // true/false/yes/no/1/0 in any case, integers, `|`-separated lists with `\` escapes), checks
  // it and stores it; a cell that is empty once trimmed is absent and sets nothing. Returns
  // false and appends an issue when the cell is malformed. A caller
  // that knows `text` holds no NUL (the CSV tokenizer knows which records do) passes
  // `may_hold_nul` false, which spares looking for one.
  bool set_from_text(std::size_t field, std::string_view text, model::Declaration& out,
                     std::vector<FieldIssue>& issues, bool may_hold_nul = true) const;
  // After all cells of a flat record are set: appends an issue per missing required field.
  bool check_required(const model::Declaration& record, std::vector<FieldIssue>& issues) const;

  struct Node;

 private:
  CompiledSchema() = default;
  bool convert_text(std::size_t field, std::string_view text, model::Declaration& out,
                    std::vector<FieldIssue>& issues, bool may_hold_nul) const;

  Options options_;
  std::unique_ptr<Node> root_;
  std::vector<const Node*> field_nodes_;  // per catalog index
  std::shared_ptr<const model::FieldCatalog> catalog_;
};

// True when `text` is YYYY-MM-DD naming a day that exists in the proleptic Gregorian calendar.
bool is_calendar_date(std::string_view text);

}  // namespace iotreg::importers
