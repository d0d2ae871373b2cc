// "Did you mean": the nearest known name to a misspelt one, only when it is a likely typo.
#include "importers/detail/spelling.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

namespace iotreg::importers::detail {
namespace {

const std::vector<std::string_view> kPaths = {"manufacturer.name", "product.brand",
                                              "product.model",     "product.type",
                                              "support.end_date",  "support.start_date"};

TEST_SUITE("readers") {
  TEST_CASE("spelling: a likely typo of a known name is named") {
    CHECK(nearest_spelling("support.end_dat", kPaths) == "support.end_date");     // deleted
    CHECK(nearest_spelling("support.ennd_date", kPaths) == "support.end_date");   // inserted
    CHECK(nearest_spelling("product.madel", kPaths) == "product.model");          // replaced
    CHECK(nearest_spelling("manufacturer.nmae", kPaths) == "manufacturer.name");  // swapped
    CHECK(nearest_spelling("Product.Brand", kPaths) == "product.brand");          // ASCII case
    CHECK(nearest_spelling("product.tpe", kPaths) == "product.type");
  }

  TEST_CASE("spelling: names that are no near miss get no suggestion") {
    CHECK_FALSE(nearest_spelling("product.colour", kPaths));  // three edits from any
    CHECK_FALSE(nearest_spelling("product.brand", kPaths));   // known: nothing to suggest
    CHECK_FALSE(nearest_spelling("ab", {"abc"}));  // 1 edit is not fewer than a third of 3
    CHECK(nearest_spelling("modle", {"model"}) == "model");  // 1 edit of 5
    CHECK_FALSE(nearest_spelling("", kPaths));
    CHECK_FALSE(nearest_spelling(std::string(5000, 'x'), kPaths));
    CHECK_FALSE(nearest_spelling("support.end_date", {}));
  }

  TEST_CASE("spelling: the nearest name is named, and of equally near ones the first") {
    CHECK(nearest_spelling("support.xxxxt_date", kPaths) == std::nullopt);
    CHECK(nearest_spelling("support.stnd_date", {"support.end_date", "support.stand_date"}) ==
          "support.stand_date");
    CHECK(nearest_spelling("abcd_x", {"abcd_y", "abcd_z"}) == "abcd_y");
  }
}

}  // namespace
}  // namespace iotreg::importers::detail
