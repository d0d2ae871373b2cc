// The declaration record: one manufacturer's statement of compliance for one product model.
//
// A FieldCatalog lists the leaf fields of the declaration format (derived from
// schemas/declaration.schema.json at start-up, see importers/schema). A Declaration holds one
// value slot per catalog field; it shares ownership of its catalog and is a plain value,
// not thread-safe for concurrent mutation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "registry/core/status.h"

namespace iotreg::model {

enum class ValueType { kString, kBoolean, kInteger, kStringList };

struct FieldSpec {
  std::string path;  // dotted path, e.g. "support.end_date"; also the CSV column name
  ValueType type = ValueType::kString;
};

// The fields that identify a product and the type shown in lists; every catalog has them.
enum class WellKnownField { kManufacturerName, kBrand, kModel, kProductType, kSupportEndDate };

// Immutable after construction; safe to share between threads. Not copyable or movable: it
// holds views into its own strings.
class FieldCatalog {
 public:
  // `fields` must contain the well-known fields as string fields (the schema compiler checks).
  explicit FieldCatalog(std::vector<FieldSpec> fields);
  FieldCatalog(const FieldCatalog&) = delete;
  FieldCatalog& operator=(const FieldCatalog&) = delete;

  std::size_t size() const { return fields_.size(); }
  const FieldSpec& field(std::size_t index) const { return fields_[index]; }
  const std::vector<FieldSpec>& fields() const { return fields_; }
  std::optional<std::size_t> index_of(std::string_view path) const;
  std::size_t index_of(WellKnownField field) const {
    return well_known_[static_cast<std::size_t>(field)];
  }
  // The dot-separated components of a field's path.
  const std::vector<std::string_view>& path_parts(std::size_t index) const { return parts_[index]; }

 private:
  std::vector<FieldSpec> fields_;
  std::unordered_map<std::string_view, std::size_t> index_;  // views into fields_
  std::vector<std::vector<std::string_view>> parts_;         // views into fields_
  std::size_t well_known_[5] = {};
};

using StringList = std::vector<std::string>;
// std::monostate means the field is absent.
using FieldValue = std::variant<std::monostate, std::string, bool, std::int64_t, StringList>;

// Paths of the well-known fields.
inline constexpr std::string_view kManufacturerNameField = "manufacturer.name";
inline constexpr std::string_view kBrandField = "product.brand";
inline constexpr std::string_view kModelField = "product.model";
inline constexpr std::string_view kProductTypeField = "product.type";
inline constexpr std::string_view kSupportEndDateField = "support.end_date";

class Declaration {
 public:
  explicit Declaration(std::shared_ptr<const FieldCatalog> catalog);

  const FieldCatalog& catalog() const { return *catalog_; }
  const std::shared_ptr<const FieldCatalog>& shared_catalog() const { return catalog_; }

  const FieldValue& value(std::size_t index) const { return values_[index]; }
  void set(std::size_t index, FieldValue value) { values_[index] = std::move(value); }
  bool has(std::size_t index) const {
    return !std::holds_alternative<std::monostate>(values_[index]);
  }
  void clear();

  // The value of a string field by path, or empty when absent or not a string field.
  std::string_view string_at(std::string_view path) const;
  std::string_view string_at(WellKnownField field) const;

  // Canonical JSON: the nested form, groups and fields in catalog order, absent fields
  // omitted, no insignificant whitespace. Two declarations are identical exactly when their
  // canonical forms are equal.
  std::string to_canonical_json() const;
  void append_canonical_json(std::string& out) const;

  // Parses a canonical (or any nested-form) JSON object produced by to_canonical_json. Meant
  // for stored data, which was validated when imported: unknown fields are a corruption error.
  static Result<Declaration> from_json(std::shared_ptr<const FieldCatalog> catalog,
                                       std::string_view json);

 private:
  std::shared_ptr<const FieldCatalog> catalog_;
  std::vector<FieldValue> values_;
};

// Writes fields, given as path components and values, as one nested JSON object: the canonical
// form when fields come in catalog order. The fields of one object must be consecutive. Appends
// to `out`; `out` and the strings viewed by `parts` must outlive the writer. finish() closes the
// object.
class NestedJsonWriter {
 public:
  explicit NestedJsonWriter(std::string& out);
  void field(const std::vector<std::string_view>& parts, const FieldValue& value);
  void finish();

 private:
  std::string& out_;
  std::vector<std::string_view> open_;  // names of the objects currently open, outermost first
  std::vector<bool> has_member_;        // per open object (and the root): has a member been written
};

// Identity key of a name: ASCII letters lower-cased, runs of whitespace collapsed to one space,
// leading and trailing whitespace removed. Non-ASCII bytes are kept as they are.
std::string identity_key(std::string_view name);

// What identifies a product: the identity keys of manufacturer name, brand and model, and a
// stable 64-bit FNV-1a hash of them (persisted: it must never change).
struct ProductIdentity {
  std::string manufacturer_key;
  std::string brand_key;
  std::string model_key;
  std::uint64_t hash = 0;
};
ProductIdentity product_identity(const Declaration& declaration);

// Appends `text` as a JSON string literal (quotes included), escaped as nlohmann's serializer
// escapes it: the quote and the backslash, backspace, form feed, line feed, carriage return and
// tab by their short escapes, other control characters as \u00xx in lower case, every other byte
// as it is. `text` must be valid UTF-8.
void append_json_string(std::string& out, std::string_view text);

}  // namespace iotreg::model
