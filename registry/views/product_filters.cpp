#include "registry/views/product_filters.h"

#include <string>
#include <vector>

#include "importers/detail/spelling.h"
#include "registry/model/product_class.h"

namespace iotreg::views {
namespace {

std::string listed(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

Status unknown(std::string_view option, std::string_view id, std::string_view what,
               const std::vector<std::string_view>& known) {
  std::string message =
      std::string(option) + " '" + std::string(id) + "' is not " + std::string(what);
  if (auto nearest = importers::detail::nearest_spelling(id, known)) {
    message += " (did you mean " + *nearest + "?)";
  }
  return Status::invalid_argument(message + "; it must be one of: " + listed(known));
}

std::vector<std::string_view> class_ids() {
  std::vector<std::string_view> ids;
  for (const auto& product_class : model::product_classes()) ids.push_back(product_class.id);
  return ids;
}

}  // namespace

std::string product_class_list() { return listed(class_ids()); }

Status check_product_class(std::string_view option, std::string_view id) {
  if (model::find_product_class(id)) return Status::ok();
  return unknown(option, id, "a product class", class_ids());
}

Status check_failing_check(std::string_view option, std::string_view id,
                           const checks::Evaluator& evaluator) {
  std::vector<std::string_view> ids;
  for (const auto& check : evaluator.checks()) {
    if (check.id == id) return Status::ok();
    ids.push_back(check.id);
  }
  return unknown(option, id, "a check in use", ids);
}

}  // namespace iotreg::views
