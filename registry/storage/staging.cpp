#include "registry/storage/storage.h"

namespace iotreg::storage {

void stage(const BodyEncoder& encoder, const model::Declaration& declaration,
           std::string source_location, StagedDeclaration& staged) {
  encoder.encode(declaration, staged.payload);
  compress_body(staged.payload, staged.blob);
  staged.identity = model::product_identity(declaration);
  staged.manufacturer_name = declaration.string_at(model::WellKnownField::kManufacturerName);
  staged.brand = declaration.string_at(model::WellKnownField::kBrand);
  staged.model = declaration.string_at(model::WellKnownField::kModel);
  staged.type = declaration.string_at(model::WellKnownField::kProductType);
  staged.support_end = declaration.string_at(model::WellKnownField::kSupportEndDate);
  staged.source_location = std::move(source_location);
}

}  // namespace iotreg::storage
