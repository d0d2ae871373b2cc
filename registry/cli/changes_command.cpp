// `iotreg changes --since DATE|--since-run N [--cause C]`: the status history, newest first:
// every change of a product's status or flag, with the version, time and cause.
#include <iostream>

#include "importers/schema/compiled_schema.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/views/views.h"

namespace iotreg::cli {

int run_changes(const GlobalOptions& options, const ChangesArguments& arguments) {
  storage::ChangeQuery query;
  if (arguments.since) {
    if (!importers::is_calendar_date(*arguments.since)) {
      std::cerr << "iotreg: --since must be a calendar date written YYYY-MM-DD\n";
      return kExitUsage;
    }
    query.since = *arguments.since;
  }
  query.since_run = arguments.since_run;
  query.cause = arguments.cause;
  auto registry = open_registry(options, Access::kRead);
  if (!registry) return kExitUsage;
  if (query.since_run) {
    auto runs = registry->import_runs();
    if (!runs.is_ok()) return report_error(runs.status());
    bool known = false;
    for (const auto& run : runs.value()) known = known || run.id == *query.since_run;
    if (!known) {
      return report_error(
          Status::not_found("no import run with id " + std::to_string(*query.since_run)));
    }
  }
  auto changes = registry->changes(query);
  if (!changes.is_ok()) return report_error(changes.status());
  if (arguments.json) {
    for (const auto& change : changes.value()) {
      std::cout << views::dump(views::change_json(change)) << "\n";
    }
    return kExitSuccess;
  }
  TextTable table({{"AT"}, {"PRODUCT"}, {"VERSION"}, {"KIND"}, {"CHANGE"}, {"CAUSE", true}});
  for (const auto& change : changes.value()) {
    table.add_row({change.at, std::to_string(change.product_id), std::to_string(change.version),
                   change.kind, (change.from.empty() ? "(new)" : change.from) + " -> " + change.to,
                   change.cause});
  }
  table.print(std::cout, output_width());
  std::cout << counted(changes->size(), "change", "changes") << "\n";
  return kExitSuccess;
}

}  // namespace iotreg::cli
