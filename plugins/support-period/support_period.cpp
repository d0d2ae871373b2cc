// Check "support-period": a defined security-update support period that ends on a date, does not
// end before the product is supplied, and is never shortened by a later declaration (DCMS-2019
// P3; PSTI Regulations 2023 Sch.1 §3; EN 303 645 5.3-13).
//
// Dates are ISO YYYY-MM-DD strings validated on import, so they compare as strings. The check
// keeps no state between runs and allocates only to describe a failure.
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "iotreg/check.hpp"

namespace {

constexpr std::string_view kEndDateField = "support.end_date";

struct SupportPeriod {
  static constexpr const char* id = "support-period";
  static constexpr const char* title = "Defined security-update support period";
  static constexpr const char* requirement = "DCMS-2019 P3; PSTI Sch.1 §3; EN 303 645 5.3-13";
  static constexpr const char* version = "1.0.0";

  static iotreg::Finding run(const iotreg::CheckInput& input) {
    const iotreg::DeclarationView& declaration = input.declaration();
    const std::optional<std::string_view> end_date = declaration.text(kEndDateField);
    if (!end_date) {
      return iotreg::Finding::fail(
          "no end date of the security-update support period is declared (support.end_date)",
          std::string(kEndDateField));
    }

    iotreg::Findings failures;
    if (std::optional<std::string_view> statement_date = declaration.text("statement.date");
        statement_date && *end_date < *statement_date) {
      failures.fail(kEndDateField, {"the support period ends before the statement of compliance is "
                                    "issued (support.end_date ",
                                    *end_date, " is before statement.date ", *statement_date, ")"});
    }
    if (std::optional<std::string_view> placed = declaration.text("product.placed_on_market");
        placed && *end_date < *placed) {
      failures.fail(kEndDateField,
                    {"the support period ends before the product is placed on the "
                     "market (support.end_date ",
                     *end_date, " is before product.placed_on_market ", *placed, ")"});
    }

    std::optional<std::string_view> latest_earlier_end;
    for (std::size_t i = 0; i < input.earlier_count(); ++i) {
      std::optional<std::string_view> earlier_end = input.earlier(i).text(kEndDateField);
      if (earlier_end && (!latest_earlier_end || *earlier_end > *latest_earlier_end)) {
        latest_earlier_end = earlier_end;
      }
    }
    if (latest_earlier_end && *end_date < *latest_earlier_end) {
      failures.fail(kEndDateField,
                    {"the support period was shortened, which the law forbids (support.end_date ",
                     *end_date, " is before ", *latest_earlier_end,
                     ", the end date an earlier version of this declaration promised)"});
    }

    if (!failures.empty()) return std::move(failures).finding();
    return iotreg::Finding::pass();
  }
};

}  // namespace

IOTREG_PLUGIN("iotreg.support-period", "1.0.0",
              "Support period: declared, not ending before supply, never shortened", SupportPeriod)
