// Check "third-party-label" (advisory): a declared voluntary security label is plausible and
// current. A label is declared when any label.* field is. For the Singapore Cybersecurity
// Labelling Scheme (label.scheme SG-CLS, compared ASCII-case-insensitively) it warns when the
// level is not 1-4 or the expiry date is absent or past; for other schemes when the expiry date
// is past. An expiry date equal to the evaluation date is still current.
//
// Dates are ISO YYYY-MM-DD strings validated on import, so they compare as strings. The check
// keeps no state between runs and allocates only to describe a warning.
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "iotreg/check.hpp"

namespace {

using iotreg::ascii_lower;
using iotreg::equals_ignoring_case;

constexpr std::string_view kSchemeField = "label.scheme";
constexpr std::string_view kLevelField = "label.level";
constexpr std::string_view kIdField = "label.id";
constexpr std::string_view kExpiryField = "label.expiry";

constexpr std::int64_t kLowestSgClsLevel = 1;
constexpr std::int64_t kHighestSgClsLevel = 4;

struct ThirdPartyLabel {
  static constexpr const char* id = "third-party-label";
  static constexpr const char* title = "Third-party security label is plausible and current";
  static constexpr const char* requirement =
      "Voluntary labelling schemes (SG-CLS, JC-STAR, US-CTM, DE-BSI)";
  static constexpr const char* version = "1.0.0";

  static iotreg::Finding run(const iotreg::CheckInput& input) {
    const iotreg::DeclarationView& declaration = input.declaration();
    const std::optional<std::string_view> scheme = declaration.text(kSchemeField);
    const std::optional<std::int64_t> level = declaration.integer(kLevelField);
    const std::optional<std::string_view> expiry = declaration.text(kExpiryField);
    if (!scheme && !level && !expiry && !declaration.has(kIdField)) {
      // Most declarations take this path: the message fits std::string's inline buffer.
      return iotreg::Finding::not_applicable("no label");
    }

    iotreg::Findings warnings;
    const bool sg_cls = scheme && equals_ignoring_case(*scheme, "SG-CLS");
    if (sg_cls && !level) {
      warnings.warn(kLevelField, {"the SG-CLS label has no level (label.level)"});
    } else if (sg_cls && (*level < kLowestSgClsLevel || *level > kHighestSgClsLevel)) {
      char level_digits[24];
      std::snprintf(level_digits, sizeof level_digits, "%" PRId64, *level);
      warnings.warn(kLevelField, {"the SG-CLS label level ", level_digits,
                                  " does not exist: SG-CLS has levels 1 to 4 (label.level)"});
    }
    if (sg_cls && !expiry) {
      warnings.warn(kExpiryField, {"the SG-CLS label has no expiry date (label.expiry)"});
    }
    if (expiry && *expiry < input.as_of()) {
      warnings.warn(kExpiryField, {"the label expired on ", *expiry, " (label.expiry)"});
    }

    if (!warnings.empty()) return std::move(warnings).finding();
    return iotreg::Finding::pass();
  }
};

}  // namespace

IOTREG_PLUGIN("iotreg.third-party-label", "1.0.0",
              "Third-party labels: SG-CLS level and expiry, label expiry", ThirdPartyLabel)
