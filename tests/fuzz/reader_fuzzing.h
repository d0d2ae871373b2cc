// Shared body of the reader fuzz targets: reads the input in one format with small limits and
// checks what every reader promises, whatever the bytes: accepted records satisfy the schema's
// identity fields and hold no NUL, rejected ones carry at least one issue, and nothing throws.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <variant>

#include "importers/importer.h"

namespace iotreg::fuzzing {

class CheckingSink : public importers::RecordSink {
 public:
  void accept(const model::Declaration& declaration,
              const importers::RecordLocation& where) override {
    if (declaration.string_at(model::kManufacturerNameField).empty() ||
        declaration.string_at(model::kBrandField).empty() ||
        declaration.string_at(model::kModelField).empty() || where.ordinal == 0) {
      std::abort();
    }
    for (std::size_t field = 0; field < declaration.catalog().size(); ++field) {
      const auto& value = declaration.value(field);
      if (const auto* text = std::get_if<std::string>(&value); text && has_nul(*text)) std::abort();
      if (const auto* list = std::get_if<model::StringList>(&value)) {
        for (const auto& item : *list) {
          if (has_nul(item)) std::abort();
        }
      }
    }
    // The canonical form must read back to the same canonical form.
    std::string canonical = declaration.to_canonical_json();
    auto again = model::Declaration::from_json(declaration.shared_catalog(), canonical);
    if (!again.is_ok() || again->to_canonical_json() != canonical) std::abort();
  }
  void reject(importers::RejectedRecord&& rejected) override {
    if (rejected.issues.empty()) std::abort();
  }

 private:
  static bool has_nul(const std::string& text) { return text.find('\0') != std::string::npos; }
};

inline int fuzz_reader(importers::Format format, const std::uint8_t* data, std::size_t size) {
  static const auto schema = importers::CompiledSchema::builtin();
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  CheckingSink sink;
  importers::ReaderLimits limits;
  limits.max_record_bytes = 4096;
  auto status = importers::read_declarations(in, format, *schema, sink, limits);
  if (!status.is_ok() && status.message().empty()) std::abort();
  return 0;
}

}  // namespace iotreg::fuzzing
