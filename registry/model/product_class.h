// Product classes: the free-text product type a manufacturer declares ("Smart Camera", "4K IP
// camera", "dome IP camera") mapped to one of a few fixed classes, so that lists, facets and the
// dashboard count alike products together. The free text itself stays stored and searchable.
//
// The mapping is a keyword table (product_class.cpp, README "Product classes"). Classes are tried
// in table order and the first with a keyword in the type wins: "baby monitor camera" is a
// children's product, not a camera. A keyword matches whole words of the type, compared without
// regard to ASCII case, a word of the type also matching in its plural ("cameras"); a keyword of
// several words matches them in sequence ("access point"). A type with no keyword, or none, is
// "other".
//
// Stored products carry their class (both backends); a change to the table ships with a schema
// migration that classifies every stored product again.
#pragma once

#include <optional>
#include <span>
#include <string_view>

namespace iotreg::model {

struct ProductClass {
  std::string_view id;                         // stable, used in queries and exports: "camera"
  std::string_view label;                      // for people: "Cameras"
  std::span<const std::string_view> keywords;  // lower case; empty for "other"
};

// Every class, in the order they are tried; "other" last.
std::span<const ProductClass> product_classes();

// The id of the class `type` belongs to; "other" when no keyword matches.
std::string_view product_class_of(std::string_view type);

// The class with this id, if there is one.
std::optional<ProductClass> find_product_class(std::string_view id);

}  // namespace iotreg::model
