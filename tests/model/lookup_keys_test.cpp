// What consumers look products up by: GTINs of every length kept as 14 digits with their check
// digit verified, and a hash of brand and model that follows identity and never changes (it is
// stored with every product).
#include "registry/model/lookup_keys.h"

#include <doctest/doctest.h>

namespace iotreg::model {

TEST_SUITE("model") {
  TEST_CASE("lookup keys: a GTIN of any length is 14 digits with a valid check digit") {
    CHECK(normalized_gtin("5060412873017").value() == "05060412873017");   // GTIN-13
    CHECK(normalized_gtin("05060412873017").value() == "05060412873017");  // GTIN-14
    CHECK(normalized_gtin("012345678011").value() == "00012345678011");    // GTIN-12 (UPC-A)
    CHECK(normalized_gtin("96385074").value() == "00000096385074");        // GTIN-8
    CHECK(normalized_gtin("5 060412 873017").value() == "05060412873017");
    CHECK(normalized_gtin("5-060412-873017").value() == "05060412873017");
    auto wrong = normalized_gtin("5060412873018");
    REQUIRE_FALSE(wrong.is_ok());
    CHECK(wrong.status().code() == Status::Code::kInvalidArgument);
    CHECK(wrong.status().message() ==
          "the GTIN 5060412873018 has a wrong check digit (its last digit would be 7, not 8): "
          "check the number under the barcode");
    CHECK(normalized_gtin("50604128730").status().message() ==
          "a GTIN has 8, 12, 13 or 14 digits; this one has 11");
    CHECK(normalized_gtin("").status().message() ==
          "a GTIN has 8, 12, 13 or 14 digits; this one has 0");
    for (const char* bad : {"506041287301A", "5060412873017\n", "+5060412873017", "５０６０"}) {
      CHECK(normalized_gtin(bad).status().message() ==
            "a GTIN is the 8, 12, 13 or 14 digits under the barcode, and nothing else");
    }
    CHECK(has_valid_gtin_check_digit("4006381333931"));
    CHECK_FALSE(has_valid_gtin_check_digit("4006381333932"));
    CHECK_FALSE(has_valid_gtin_check_digit("400638133393"));  // 12 digits, wrong digit
    CHECK_FALSE(has_valid_gtin_check_digit("1234567"));
  }

  TEST_CASE("lookup keys: the GS1 check digit of every GTIN length") {
    for (const std::string gtin : {"96385074", "036000291452", "4006381333931", "10012345000017",
                                   "00000000", "5060412873017"}) {
      INFO(gtin);
      CHECK(has_valid_gtin_check_digit(gtin));
      CHECK(gtin_check_digit(gtin) == gtin.back());
    }
    for (const std::string gtin :
         {"96385070", "036000291453", "4006381333932", "10012345000018", "1234567", "123456789",
          "1234567890", "12345678901", "400638133393100", "", "400638133393a", "4006381333 31",
          "a6385074"}) {
      INFO(gtin);
      CHECK_FALSE(has_valid_gtin_check_digit(gtin));
    }
    // The expected digit is named whatever the last one is.
    CHECK(gtin_check_digit("4006381333932") == '1');
    CHECK(gtin_check_digit("96385070") == '4');
    CHECK_FALSE(gtin_check_digit("400638133393a").has_value());
    CHECK_FALSE(gtin_check_digit("1234567").has_value());
  }

  TEST_CASE("lookup keys: brand and model hash as identity compares them, and never changes") {
    // Stored with every product: this value must stay what it is.
    CHECK(brand_model_hash("Lumora", "LV-C210") == 948637039341988594ULL);
    CHECK(brand_model_hash("  LUMORA ", "lv-c210\t") == brand_model_hash("Lumora", "LV-C210"));
    CHECK(brand_model_hash("Acme  Home", "Cam 2") == brand_model_hash("acme home", "CAM\t2"));
    CHECK(brand_model_hash("Acme", "Home Cam") != brand_model_hash("Acme Home", "Cam"));
    CHECK(brand_model_hash("Ärger", "x") != brand_model_hash("ärger", "x"));  // ASCII only
  }
}

}  // namespace iotreg::model
