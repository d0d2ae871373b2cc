// `iotreg lookups [--since DATE] [--limit N] [--json]`: what consumers looked up on the public
// lookup page and did not find, most looked up first. A running server writes its counts every
// few seconds (and when it stops): the newest lookups may not be here yet.
#include <iostream>

#include "importers/schema/compiled_schema.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/views/views.h"

namespace iotreg::cli {

int run_lookups(const GlobalOptions& options, const LookupsArguments& arguments) {
  storage::UnregisteredLookupQuery query;
  if (arguments.since) {
    if (!importers::is_calendar_date(*arguments.since)) {
      std::cerr << "iotreg: --since must be a calendar date written YYYY-MM-DD\n";
      return kExitUsage;
    }
    query.seen_since = *arguments.since;
  }
  query.limit = arguments.limit;
  auto registry = open_registry(options, Access::kRead);
  if (!registry) return kExitUsage;
  auto entries = registry->unregistered_lookups(query);
  if (!entries.is_ok()) return report_error(entries.status());
  if (arguments.json) {
    for (const auto& entry : entries.value()) {
      std::cout << views::dump(views::unregistered_lookup_json(entry)) << "\n";
    }
    return kExitSuccess;
  }
  TextTable table(
      {{"LOOKUPS"}, {"GTIN"}, {"BRAND", true}, {"MODEL", true}, {"FIRST SEEN"}, {"LAST SEEN"}});
  for (const auto& entry : entries.value()) {
    table.add_row({std::to_string(entry.lookups), entry.gtin, entry.brand, entry.model,
                   entry.first_seen, entry.last_seen});
  }
  table.print(std::cout, output_width());
  std::cout << counted(entries->size(), "product looked up and not found",
                       "products looked up and not found")
            << "\n";
  return kExitSuccess;
}

}  // namespace iotreg::cli
