// The keyword table that maps a declared product type to its class.
#include <doctest/doctest.h>

#include <set>
#include <string>

#include "registry/model/product_class.h"

namespace iotreg::model {

TEST_SUITE("product class") {
  TEST_CASE("alike types count together, whatever their case, words around them and plural") {
    for (const char* type : {"Smart Camera", "4K IP camera", "dome IP camera", "SMART CAMERAS",
                             "webcam", "Outdoor CCTV kit"}) {
      CAPTURE(type);
      CHECK(product_class_of(type) == "camera");
    }
    CHECK(product_class_of("Wi-Fi 6 router") == "network");
    CHECK(product_class_of("Wi-Fi 6E mesh system") == "network");
    CHECK(product_class_of("wireless access point") == "network");
    CHECK(product_class_of("smart TV") == "display");
    CHECK(product_class_of("smart speaker") == "audio");
    CHECK(product_class_of("smart plug") == "smart_home");
    CHECK(product_class_of("smart thermostat") == "smart_home");
    CHECK(product_class_of("smart door lock") == "security");
    CHECK(product_class_of("smartwatch") == "wearable");
    CHECK(product_class_of("laptop") == "computing");
    CHECK(product_class_of("smart electricity meter (SMETS2)") == "energy");
  }

  TEST_CASE("the first class in table order wins") {
    // Who uses it comes before what it is.
    CHECK(product_class_of("dual-camera video baby monitor") == "children");
    CHECK(product_class_of("children's smartwatch (4G, GPS)") == "children");
    CHECK(product_class_of("laptop with 5G modem") == "computing");
    CHECK(product_class_of("in-home energy display") == "energy");
    CHECK(product_class_of("security camera") == "camera");
  }

  TEST_CASE("a keyword matches whole words only") {
    CHECK(product_class_of("camcorder dock") == "other");  // "cam" is not in "camcorder"
    CHECK(product_class_of("watchdog timer") == "other");
    CHECK(product_class_of("access control") == "other");  // "access point" needs both words
    CHECK(product_class_of("") == "other");
    CHECK(product_class_of("   ") == "other");
    CHECK(product_class_of("\xC3\xA9\xC3\xA9") == "other");
  }

  TEST_CASE("the table: unique ids, labels, keywords in lower case, other last without any") {
    std::set<std::string_view> ids;
    for (const auto& product_class : product_classes()) {
      CAPTURE(product_class.id);
      CHECK(ids.insert(product_class.id).second);
      CHECK_FALSE(product_class.label.empty());
      CHECK(find_product_class(product_class.id)->label == product_class.label);
      for (std::string_view keyword : product_class.keywords) {
        CHECK(keyword.find_first_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ") == std::string_view::npos);
        // Every keyword classifies a type made of it alone (no earlier keyword shadows it).
        CHECK(product_class_of(keyword) == product_class.id);
      }
    }
    CHECK(product_classes().back().id == "other");
    CHECK(product_classes().back().keywords.empty());
    CHECK_FALSE(find_product_class("cameras"));
  }
}

}  // namespace iotreg::model
