#include "registry/storage/storage.h"

#include "registry/model/lookup_keys.h"

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
  // Stored declarations passed the schema: a GTIN that does not normalise is none.
  staged.gtin.clear();
  if (const std::string_view declared = declaration.string_at(model::kGtinField);
      !declared.empty()) {
    auto gtin = model::normalized_gtin(declared);
    if (gtin.is_ok()) staged.gtin = std::move(gtin).value();
  }
  staged.lookup_hash =
      static_cast<std::int64_t>(model::brand_model_hash(staged.brand, staged.model));
  staged.source_location = std::move(source_location);
}

}  // namespace iotreg::storage
