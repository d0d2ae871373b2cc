// `iotreg check`: re-judges products whose verdict is stale for the active policy, plugins and
// as-of date (or all with --all). With --dry-run it stores nothing and reports the impact: which
// products would change status and be newly flagged or unflagged, counted per manufacturer.
#include <iomanip>
#include <iostream>
#include <map>

#include "importers/schema/compiled_schema.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/ingest/ingest.h"

namespace iotreg::cli {
namespace {

constexpr std::size_t kBatch = 1000;

struct ManufacturerImpact {
  std::uint64_t checked = 0;
  std::uint64_t status_changes = 0;
  std::uint64_t newly_flagged = 0;
  std::uint64_t unflagged = 0;
};

struct Change {
  std::int64_t product_id;
  std::string manufacturer;
  std::string brand;
  std::string model;
  std::string from;
  std::string to;
  bool was_flagged;
  bool flagged;
  std::string failed;
};

}  // namespace

int run_check(const GlobalOptions& options, const CheckArguments& arguments) {
  auto evaluator = load_evaluator(options);
  if (!evaluator) return kExitUsage;
  auto registry = open_registry(options, arguments.dry_run ? Access::kRead : Access::kWrite);
  if (!registry) return kExitUsage;
  const storage::EvaluationInfo evaluation = ingest::evaluation_info(*evaluator);
  const auto& catalog = importers::CompiledSchema::builtin()->catalog();

  std::unique_ptr<storage::RecheckSession> session;
  if (!arguments.dry_run) {
    auto begun = registry->begin_recheck(evaluation, cli_actor());
    if (!begun.is_ok()) return report_error(begun.status());
    session = std::move(begun).value();
  }

  std::map<std::string, ManufacturerImpact> impact;
  std::vector<Change> changes;
  std::uint64_t checked = 0, status_changes = 0;
  std::int64_t after = 0;
  for (;;) {
    auto batch = registry->recheck_candidates(evaluation.key, arguments.all, after, kBatch);
    if (!batch.is_ok()) return report_error(batch.status());
    if (batch->empty()) break;
    for (const auto& candidate : batch.value()) {
      after = candidate.product_id;
      storage::VerdictRecord verdict = ingest::rejudge(*evaluator, catalog, candidate.payloads);
      bool flagged =
          storage::flagged_after(evaluation.prohibition, candidate.flagged, verdict.status);
      if (session) {
        if (auto status = session->apply(candidate, verdict); !status.is_ok()) {
          return report_error(status);
        }
      }
      auto& counts = impact[candidate.manufacturer];
      ++counts.checked;
      ++checked;
      bool changed = verdict.status != candidate.status;
      if (changed) {
        ++counts.status_changes;
        ++status_changes;
      }
      counts.newly_flagged += flagged && !candidate.flagged;
      counts.unflagged += !flagged && candidate.flagged;
      if (changed || flagged != candidate.flagged) {
        changes.push_back({candidate.product_id, candidate.manufacturer, candidate.brand,
                           candidate.model, candidate.status, verdict.status, candidate.flagged,
                           flagged, verdict.failed});
      }
    }
  }
  if (session && checked > 0) {
    if (auto status = session->commit(checked, status_changes); !status.is_ok()) {
      return report_error(status);
    }
  }

  const auto& policy = evaluator->policy();
  if (arguments.json) {
    nlohmann::ordered_json out = {{"dry_run", arguments.dry_run},
                                  {"policy", policy.id},
                                  {"as_of", evaluator->as_of()},
                                  {"checked", checked},
                                  {"status_changes", status_changes},
                                  {"manufacturers", nlohmann::ordered_json::array()},
                                  {"changes", nlohmann::ordered_json::array()}};
    for (const auto& [name, counts] : impact) {
      out["manufacturers"].push_back({{"manufacturer", name},
                                      {"checked", counts.checked},
                                      {"status_changes", counts.status_changes},
                                      {"newly_flagged", counts.newly_flagged},
                                      {"unflagged", counts.unflagged}});
    }
    for (const auto& change : changes) {
      out["changes"].push_back({{"id", change.product_id},
                                {"manufacturer", change.manufacturer},
                                {"brand", change.brand},
                                {"model", change.model},
                                {"from", change.from},
                                {"to", change.to},
                                {"flagged_before", change.was_flagged},
                                {"flagged", change.flagged},
                                {"failed", change.failed}});
    }
    std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
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
  std::cout << "\n"
            << std::left << std::setw(34) << "MANUFACTURER" << std::setw(9) << "CHECKED"
            << std::setw(16) << "STATUS CHANGES" << std::setw(15) << "NEWLY FLAGGED"
            << "UNFLAGGED\n";
  for (const auto& [name, counts] : impact) {
    std::cout << std::left << cell(name, 34) << std::setw(9) << counts.checked << std::setw(16)
              << counts.status_changes << std::setw(15) << counts.newly_flagged << counts.unflagged
              << "\n";
  }
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
  if (!arguments.dry_run && session) {
    std::cout << "\n"
              << session->flags_raised() << " flags raised, " << session->flags_lifted()
              << " lifted\n";
  }
  return kExitSuccess;
}

}  // namespace iotreg::cli
