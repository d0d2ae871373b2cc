// Officers' product filters that need more than storage to judge: a product class must be one of
// the fixed classes, a failing check one of the checks in use. The CLI and the API call these
// with their own name for the option ("--class", "class"), so the messages read right in both.
#pragma once

#include <string>
#include <string_view>

#include "registry/checks/checks.h"
#include "registry/core/status.h"

namespace iotreg::views {

// The product class ids, in the order they are tried: "children, wearable, ..., other".
std::string product_class_list();

// kInvalidArgument, listing the classes, when `id` is not a product class id.
Status check_product_class(std::string_view option, std::string_view id);

// kInvalidArgument, naming the nearest check id and listing them, when `evaluator` runs no check
// with this id.
Status check_failing_check(std::string_view option, std::string_view id,
                           const checks::Evaluator& evaluator);

}  // namespace iotreg::views
