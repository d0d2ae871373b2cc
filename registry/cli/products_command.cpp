// `iotreg products`: a table for people, JSON Lines (--json) or CSV (--csv) for scripts, an
// XLSX workbook (--xlsx FILE) for spreadsheets.
#include <iostream>
#include <tuple>

#include "importers/schema/compiled_schema.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/views/product_filters.h"
#include "registry/views/views.h"
#include "registry/views/xlsx_export.h"

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
  if (arguments.product_class) {
    if (auto known = views::check_product_class("--class", *arguments.product_class);
        !known.is_ok()) {
      std::cerr << "iotreg: " << known.message() << "\n";
      return kExitUsage;
    }
    query.product_class = arguments.product_class;
  }
  if (arguments.failing) {
    auto evaluator = load_evaluator(options);
    if (!evaluator) return kExitUsage;
    if (auto known = views::check_failing_check("--failing", *arguments.failing, *evaluator);
        !known.is_ok()) {
      std::cerr << "iotreg: " << known.message() << "\n";
      return kExitUsage;
    }
    query.failing = arguments.failing;
  }
  for (const auto& [option, value, target] :
       {std::tuple{"--support-ends-before", &arguments.support_ends_before,
                   &query.support_ends_before},
        std::tuple{"--support-ends-after", &arguments.support_ends_after,
                   &query.support_ends_after},
        std::tuple{"--changed-since", &arguments.changed_since, &query.changed_since}}) {
    if (!*value) continue;
    if (!importers::is_calendar_date(**value)) {
      std::cerr << "iotreg: " << option << " must be a calendar date written YYYY-MM-DD\n";
      return kExitUsage;
    }
    *target = *value;
  }
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
      std::cout << views::dump(views::written_product_json(product, *findings.value())) << "\n";
    }
    return kExitSuccess;
  }
  if (!arguments.xlsx_path.empty()) {
    // Written to the file only when complete (libxlsxwriter writes at close); a failure
    // leaves no workbook behind.
    auto writer = views::ProductXlsxWriter::create(arguments.xlsx_path);
    if (!writer.is_ok()) return report_error(writer.status());
    views::FindingsPrinter printer(*registry);
    for (const auto& product : products.value()) {
      auto findings = printer.findings(product);
      if (!findings.is_ok()) return report_error(findings.status());
      if (auto added = writer.value()->add(product, *findings.value()); !added.is_ok()) {
        return report_error(added);
      }
    }
    if (auto written = writer.value()->finish(); !written.is_ok()) return report_error(written);
    return kExitSuccess;
  }
  if (arguments.csv) {
    views::FindingsPrinter printer(*registry);
    std::cout << views::product_csv_header(arguments.bom);
    for (const auto& product : products.value()) {
      auto findings = printer.findings(product);
      if (!findings.is_ok()) return report_error(findings.status());
      std::cout << views::product_csv_row(product, *findings.value());
    }
    return kExitSuccess;
  }
  TextTable table({{"ID"},
                   {"STATUS"},
                   {"FLAG"},
                   {"SUPPORT ENDS"},
                   {"MANUFACTURER", true},
                   {"BRAND", true},
                   {"MODEL", true},
                   {"TYPE", true},
                   {"VERSIONS"}});
  for (const auto& product : products.value()) {
    std::string flag = "-";
    if (product.flag_state) {
      flag = enforcement::flag_state_name(*product.flag_state);
      if (product.remedied) flag += ", remedied";
    }
    table.add_row({std::to_string(product.id), product.status, flag,
                   product.support_end.empty() ? "-" : product.support_end, product.manufacturer,
                   product.brand, product.model, product.type.empty() ? "-" : product.type,
                   std::to_string(product.version_count)});
  }
  table.print(std::cout, output_width());
  std::cout << counted(products->size(), "product", "products") << "\n";
  return kExitSuccess;
}

}  // namespace iotreg::cli
