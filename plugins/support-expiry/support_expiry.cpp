// Check "support-expiry" (advisory): warns when the declared security-update support period has
// already ended on the evaluation date (DCMS-2019 P3; PSTI Regulations 2023 Sch.1 §3). The end
// date is the last supported day.
//
// Dates are ISO YYYY-MM-DD strings validated on import, so they compare as strings. The check
// keeps no state between runs and allocates only to describe a warning.
#include <optional>
#include <string>
#include <string_view>

#include "iotreg/check.hpp"

namespace {

constexpr std::string_view kEndDateField = "support.end_date";

struct SupportExpiry {
  static constexpr const char* id = "support-expiry";
  static constexpr const char* title = "Security-update support has not ended";
  static constexpr const char* requirement = "DCMS-2019 P3; PSTI Sch.1 §3";
  static constexpr const char* version = "1.0.0";

  static iotreg::Finding run(const iotreg::CheckInput& input) {
    const std::optional<std::string_view> end_date = input.declaration().text(kEndDateField);
    if (!end_date) {
      return iotreg::Finding::not_applicable(
          "no end date of the support period is declared (support.end_date)",
          std::string(kEndDateField));
    }
    if (*end_date < input.as_of()) {
      return iotreg::Finding::warn("the support period ended on " + std::string(*end_date) +
                                       ": security updates have stopped (support.end_date)",
                                   std::string(kEndDateField));
    }
    return iotreg::Finding::pass();
  }
};

}  // namespace

IOTREG_PLUGIN("iotreg.support-expiry", "1.0.0",
              "Support expiry: warns when security updates have stopped", SupportExpiry)
