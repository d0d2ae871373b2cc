#include "registry/storage/storage.h"

namespace iotreg::storage {

StagedDeclaration stage(const model::Declaration& declaration, std::string source_location) {
  StagedDeclaration staged;
  staged.canonical_json.reserve(1024);
  declaration.append_canonical_json(staged.canonical_json);
  staged.identity = model::product_identity(declaration);
  staged.manufacturer_name = declaration.string_at(model::WellKnownField::kManufacturerName);
  staged.brand = declaration.string_at(model::WellKnownField::kBrand);
  staged.model = declaration.string_at(model::WellKnownField::kModel);
  staged.type = declaration.string_at(model::WellKnownField::kProductType);
  staged.source_location = std::move(source_location);
  return staged;
}

}  // namespace iotreg::storage
