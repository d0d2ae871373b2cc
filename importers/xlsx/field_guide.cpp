#include "importers/xlsx/field_guide.h"

#include <nlohmann/json.hpp>

#include "importers/schema/compiled_schema.h"

namespace iotreg::importers {
namespace {

FieldKind kind_of(const nlohmann::json& node) {
  const std::string type = node.value("type", "string");
  if (type == "boolean") return FieldKind::kBoolean;
  if (type == "integer") return FieldKind::kInteger;
  if (type == "array") return FieldKind::kList;
  if (node.value("format", "") == "date") return FieldKind::kDate;
  return FieldKind::kText;
}

bool is_required(const nlohmann::json& object, const std::string& name) {
  auto found = object.find("required");
  if (found == object.end() || !found->is_array()) return false;
  for (const auto& entry : *found) {
    if (entry.is_string() && entry.get<std::string>() == name) return true;
  }
  return false;
}

// Collects the leaf fields under `object` (a schema node of type object) by dotted path.
// `required` is whether the object itself must be present.
void collect(const nlohmann::json& object, const std::string& prefix, bool required,
             std::vector<FieldDescription>& out) {
  auto properties = object.find("properties");
  if (properties == object.end() || !properties->is_object()) return;
  for (const auto& [name, node] : properties->items()) {
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    const bool needed = required && is_required(object, name);
    if (node.value("type", "") == "object") {
      collect(node, path, needed, out);
      continue;
    }
    FieldDescription field{path, kind_of(node), {}, node.value("description", ""), needed};
    if (auto values = node.find("enum"); values != node.end() && values->is_array()) {
      for (const auto& value : *values) {
        if (value.is_string()) field.enumeration.push_back(value.get<std::string>());
      }
    }
    out.push_back(std::move(field));
  }
}

}  // namespace

std::shared_ptr<const FieldGuide> FieldGuide::builtin() {
  static const std::shared_ptr<const FieldGuide> guide = [] {
    auto built = std::make_shared<FieldGuide>();
    const auto schema = nlohmann::json::parse(CompiledSchema::builtin_text());
    std::vector<FieldDescription> found;
    collect(schema, "", true, found);
    // In the catalog's order, so that a catalog index is an index into fields().
    const auto& catalog = *CompiledSchema::builtin()->catalog();
    built->fields_.resize(catalog.size());
    for (auto& field : found) {
      if (auto index = catalog.index_of(field.path)) built->fields_[*index] = std::move(field);
    }
    return built;
  }();
  return guide;
}

}  // namespace iotreg::importers
