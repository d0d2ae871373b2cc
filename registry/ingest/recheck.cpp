#include "importers/schema/compiled_schema.h"
#include "registry/ingest/ingest.h"

namespace iotreg::ingest {
namespace {

constexpr std::size_t kBatch = 1000;

}  // namespace

Result<RecheckReport> recheck(storage::Storage& storage, const checks::Evaluator& evaluator,
                              const RecheckOptions& options) {
  const storage::EvaluationInfo evaluation = evaluation_info(evaluator);
  const auto& catalog = importers::CompiledSchema::builtin()->catalog();
  RecheckReport report;
  report.policy_id = evaluator.policy().id;
  report.as_of = evaluator.as_of();
  report.dry_run = options.dry_run;

  std::unique_ptr<storage::RecheckSession> session;
  if (!options.dry_run) {
    auto begun = storage.begin_recheck(evaluation, options.actor);
    if (!begun.is_ok()) return begun.status();
    session = std::move(begun).value();
  }
  std::int64_t after = 0;
  for (;;) {
    auto batch = storage.recheck_candidates(evaluation.key, options.all, after, kBatch);
    if (!batch.is_ok()) return batch.status();
    if (batch->empty()) break;
    for (const auto& candidate : batch.value()) {
      after = candidate.product_id;
      storage::VerdictRecord verdict = rejudge(evaluator, catalog, candidate.payloads);
      bool flagged =
          storage::flagged_after(evaluation.prohibition, candidate.flagged, verdict.status);
      if (session) IOTREG_TRY(session->apply(candidate, verdict));
      auto& counts = report.impact[candidate.manufacturer];
      ++counts.checked;
      ++report.checked;
      bool changed = verdict.status != candidate.status;
      if (changed) {
        ++counts.status_changes;
        ++report.status_changes;
      }
      counts.newly_flagged += flagged && !candidate.flagged;
      counts.unflagged += !flagged && candidate.flagged;
      if (changed || flagged != candidate.flagged) {
        report.changes.push_back({candidate.product_id, candidate.manufacturer, candidate.brand,
                                  candidate.model, candidate.status, verdict.status,
                                  candidate.flagged, flagged, verdict.failed});
      }
    }
  }
  if (session && report.checked > 0) {
    IOTREG_TRY(session->commit(report.checked, report.status_changes));
    report.flags_raised = session->flags_raised();
    report.flags_lifted = session->flags_lifted();
  }
  return report;
}

}  // namespace iotreg::ingest
