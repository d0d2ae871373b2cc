// FieldGuide: what each field of the declaration format is, in the words a spreadsheet shows.
//
// Read from the built-in schema (schemas/declaration.schema.json), never from a separate list:
// each leaf field's dotted path in catalog order, its kind, its enumeration, its description.
// The XLSX reader asks it which fields are dates; the declaration template writes it out as
// columns, notes and drop-downs. Immutable after construction; safe to share between threads.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace iotreg::importers {

enum class FieldKind { kText, kDate, kBoolean, kInteger, kList };

struct FieldDescription {
  std::string path;  // e.g. "support.end_date"
  FieldKind kind = FieldKind::kText;
  std::vector<std::string> enumeration;  // the allowed values of an enum field, else empty
  std::string description;               // the schema's description, or ""
  bool required = false;                 // the record is rejected without it
};

class FieldGuide {
 public:
  // The guide to the built-in schema, built on first use.
  static std::shared_ptr<const FieldGuide> builtin();

  // Every leaf field, in the order of the built-in schema's field catalog.
  const std::vector<FieldDescription>& fields() const { return fields_; }

 private:
  std::vector<FieldDescription> fields_;
};

}  // namespace iotreg::importers
