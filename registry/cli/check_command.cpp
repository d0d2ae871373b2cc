// `iotreg check`: re-judges products whose verdict is stale for the active policy, plugins and
// as-of date (or all with --all). With --dry-run it stores nothing and reports the impact: which
// products would change status and be newly flagged or unflagged, counted per manufacturer.
#include <iomanip>
#include <iostream>
#include <map>

#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/ingest/ingest.h"
#include "registry/views/views.h"

namespace iotreg::cli {

int run_check(const GlobalOptions& options, const CheckArguments& arguments) {
  auto evaluator = load_evaluator(options);
  if (!evaluator) return kExitUsage;
  // A dry run is the re-check itself, undone: it reports exactly what the real one would do.
  auto target = open_for_writing(options, arguments.dry_run);
  if (!target) return kExitUsage;
  auto rechecked =
      ingest::recheck(*target->registry, *evaluator,
                      {arguments.all ? storage::RecheckScope::kAll : storage::RecheckScope::kStale,
                       cli_actor(options), std::nullopt});
  target->preview.reset();
  if (!rechecked.is_ok()) return report_error(rechecked.status());
  const ingest::RecheckReport& report = rechecked.value();
  const auto checked = report.checked;
  const auto status_changes = report.status_changes;
  const auto& impact = report.impact;
  const auto& changes = report.changes;

  const auto& policy = evaluator->policy();
  if (arguments.json) {
    std::cout << views::dump(views::recheck_report_json(report, arguments.dry_run), 2) << "\n";
    return kExitSuccess;
  }

  std::cout << (arguments.dry_run ? "Would re-check " : "Re-checked ") << checked
            << (checked == 1 ? " product" : " products") << " under policy " << printable(policy.id)
            << " as of " << evaluator->as_of() << ": " << status_changes
            << (arguments.dry_run ? " would change status" : " changed status") << "\n";
  if (checked == 0) {
    std::cout << "Every product's verdict is current (use --all to re-check anyway).\n";
    return kExitSuccess;
  }
  std::cout << "\n";
  TextTable table(
      {{"MANUFACTURER", true}, {"CHECKED"}, {"STATUS CHANGES"}, {"NEWLY FLAGGED"}, {"UNFLAGGED"}});
  for (const auto& [name, counts] : impact) {
    table.add_row({name, std::to_string(counts.checked), std::to_string(counts.status_changes),
                   std::to_string(counts.newly_flagged), std::to_string(counts.unflagged)});
  }
  table.print(std::cout, output_width());
  if (!changes.empty()) {
    std::cout << "\nChanges:\n";
    for (const auto& change : changes) {
      std::cout << "  " << std::setw(6) << change.product_id << " "
                << printable(change.brand + " " + change.model) << ": " << change.from << " -> "
                << change.to;
      if (change.flagged != change.was_flagged) {
        std::cout << (change.flagged ? ", newly flagged" : ", unflagged");
      }
      if (!change.failed.empty()) std::cout << " (failed " << printable(change.failed) << ")";
      std::cout << "\n";
    }
  }
  std::cout << "\n";
  print_change_summary(report.summary, arguments.dry_run);
  return kExitSuccess;
}

}  // namespace iotreg::cli
