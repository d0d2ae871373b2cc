// Check "scope": whether the product is within the regime at all (PSTI Regulations 2023 Sch.3).
// It reports not_applicable, with the reason, for an excepted product, and pass otherwise; a
// policy names it as its scope check, and then no other check judges an excepted product.
//
// Excepted: a product.category listed in the policy parameter excepted_categories (medical
// devices, smart meters, EV chargepoints and vehicles when the policy sets none), and a computer
// or tablet without product.cellular true unless product.for_children is true. An absent
// category is "general".
//
// The check keeps no state between runs and allocates only to explain an exception (and for the
// parameter list the SDK hands out).
#include <algorithm>
#include <cstddef>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include "iotreg/check.hpp"

namespace {

using iotreg::quoted;

constexpr std::string_view kCategoryField = "product.category";

// The excepted categories used when the policy sets none.
constexpr std::string_view kBuiltinExceptedCategories[] = {"medical_device", "smart_meter",
                                                           "ev_chargepoint", "vehicle"};

// What the products of an excepted category are called in messages.
std::string describe_category(std::string_view category) {
  struct Name {
    std::string_view category;
    std::string_view plural;
  };
  constexpr Name kNames[] = {{"medical_device", "medical devices"},
                             {"smart_meter", "smart meters"},
                             {"ev_chargepoint", "electric vehicle chargepoints"},
                             {"vehicle", "vehicles"},
                             {"general", "general products"},
                             {"computer", "computers"},
                             {"tablet", "tablets"},
                             {"smartphone", "smartphones"}};
  for (const Name& name : kNames) {
    if (name.category == category) return std::string(name.plural);
  }
  return "products of category " + quoted(category);
}

// Whether the policy's excepted_categories, or the built-in list when the policy sets none,
// name `category`.
bool is_excepted_category(const iotreg::CheckInput& input, std::string_view category) {
  if (!input.has_parameter("excepted_categories")) {
    return std::find(std::begin(kBuiltinExceptedCategories), std::end(kBuiltinExceptedCategories),
                     category) != std::end(kBuiltinExceptedCategories);
  }
  const iotreg::TextList listed = input.parameter_values("excepted_categories");
  return std::find(listed.begin(), listed.end(), category) != listed.end();
}

struct Scope {
  static constexpr const char* id = "scope";
  static constexpr const char* title = "Product is within the regime";
  static constexpr const char* requirement = "PSTI Regulations 2023 Sch.3";
  static constexpr const char* version = "1.0.0";

  static iotreg::Finding run(const iotreg::CheckInput& input) {
    const iotreg::DeclarationView& declaration = input.declaration();
    const std::string_view category = declaration.text(kCategoryField).value_or("general");

    if (is_excepted_category(input, category)) {
      return iotreg::Finding::not_applicable(
          "excepted: " + describe_category(category) + " (product.category: " + quoted(category) +
              ") are outside the regime (PSTI Regulations Sch.3)",
          std::string(kCategoryField));
    }
    if ((category == "computer" || category == "tablet") &&
        !declaration.boolean("product.cellular").value_or(false) &&
        !declaration.boolean("product.for_children").value_or(false)) {
      return iotreg::Finding::not_applicable(
          "excepted: " + describe_category(category) +
              " without cellular capability (product.cellular not true) that are not designed for"
              " children under 14 (product.for_children not true) are outside the regime (PSTI"
              " Regulations Sch.3)",
          std::string(kCategoryField));
    }
    return iotreg::Finding::pass("in scope");
  }
};

}  // namespace

IOTREG_PLUGIN("iotreg.scope", "1.0.0",
              "Scope: excepted product categories (PSTI Regulations 2023 Sch.3)", Scope)
