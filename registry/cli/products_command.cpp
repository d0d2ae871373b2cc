// `iotreg products`: a table for people, JSON Lines (--json) or CSV (--csv) for scripts.
#include <iomanip>
#include <iostream>

#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/views/views.h"

namespace iotreg::cli {

int run_products(const GlobalOptions& options, const ProductsArguments& arguments) {
  storage::ProductQuery query;
  query.status = arguments.status;
  if (arguments.flagged) query.flagged = true;
  if (arguments.not_flagged) query.flagged = false;
  if (arguments.flag_state) {
    query.flag_state = enforcement::parse_flag_state(*arguments.flag_state);
    if (!query.flag_state) {
      std::cerr << "iotreg: --flag-state must be " << enforcement::flag_state_list() << "\n";
      return kExitUsage;
    }
  }
  if (arguments.remedied) query.remedied = true;
  query.manufacturer = arguments.manufacturer;
  query.type = arguments.type;
  query.search = arguments.search;
  query.limit = arguments.limit;
  auto registry = open_registry(options, Access::kRead);
  if (!registry) return kExitUsage;
  auto products = registry->list_products(query);
  if (!products.is_ok()) return report_error(products.status());

  if (arguments.json) {
    views::FindingsPrinter printer(*registry);
    for (const auto& product : products.value()) {
      auto findings = printer.findings(product);
      if (!findings.is_ok()) return report_error(findings.status());
      std::cout << views::dump(views::product_json(product, std::move(findings).value())) << "\n";
    }
    return kExitSuccess;
  }
  if (arguments.csv) {
    std::cout << views::product_csv_header();
    for (const auto& product : products.value()) std::cout << views::product_csv_row(product);
    return kExitSuccess;
  }
  std::cout << std::left << std::setw(7) << "ID" << std::setw(15) << "STATUS" << std::setw(11)
            << "FLAG" << std::setw(26) << "MANUFACTURER" << std::setw(16) << "BRAND"
            << std::setw(22) << "MODEL" << std::setw(18) << "TYPE"
            << "VERSIONS\n";
  for (const auto& product : products.value()) {
    std::cout << std::left << std::setw(7) << product.id << std::setw(15) << product.status
              << std::setw(11)
              << (product.flag_state
                      ? std::string(enforcement::flag_state_name(*product.flag_state)) +
                            (product.remedied ? "*" : "")
                      : "-")
              << cell(product.manufacturer, 26) << cell(product.brand, 16)
              << cell(product.model, 22) << cell(product.type, 18) << product.version_count << "\n";
  }
  std::cout << products->size() << (products->size() == 1 ? " product\n" : " products\n");
  return kExitSuccess;
}

}  // namespace iotreg::cli
