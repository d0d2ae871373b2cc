// Check "example-check": the declaration names the manufacturer's own reference for it
// (declaration.reference), so that an officer can quote it back to the manufacturer.
//
// Contract: warn when declaration.reference is absent, pass otherwise; with the
// policy parameter `fail_when_missing: true` a missing reference fails instead of warning.
// The check keeps no state between runs (run() may be called from several threads at once),
// reads nothing but its input (no wall clock, no files) and keeps no pointer into the input.
// Text values arrive trimmed, and the schema refuses an empty reference, so a present reference
// is never blank.
#include <optional>
#include <string>
#include <string_view>

#include "iotreg/check.hpp"

namespace {

constexpr std::string_view kReferenceField = "declaration.reference";

struct ExampleCheck {
  static constexpr const char* id = "example-check";
  static constexpr const char* title = "The declaration has a manufacturer's reference";
  static constexpr const char* requirement = "Good practice (no legal requirement)";
  static constexpr const char* version = "1.0.0";

  static iotreg::Finding run(const iotreg::CheckInput& input) {
    const std::optional<std::string_view> reference = input.declaration().text(kReferenceField);
    if (reference) {
      return iotreg::Finding::pass("the declaration's reference is " + std::string(*reference),
                                   std::string(kReferenceField));
    }
    std::string message = "no manufacturer's reference is declared (declaration.reference)";
    if (input.flag("fail_when_missing", false)) {
      return iotreg::Finding::fail(std::move(message), std::string(kReferenceField));
    }
    return iotreg::Finding::warn(std::move(message), std::string(kReferenceField));
  }
};

}  // namespace

// Plugin id, plugin version, description, then every check class of the plugin.
IOTREG_PLUGIN("example.example-check", "1.0.0",
              "Example: the declaration names the manufacturer's reference", ExampleCheck)
