#include "importers/schema/compiled_schema.h"
#include "registry/ingest/ingest.h"

namespace iotreg::ingest {
namespace {

constexpr std::size_t kBatch = 1000;

// The verdicts of `candidates`, judged as one batch (out-of-process checks see them together).
std::vector<storage::VerdictRecord> rejudge_all(
    const checks::Evaluator& evaluator, const std::shared_ptr<const model::FieldCatalog>& catalog,
    const std::vector<storage::RecheckCandidate>& candidates) {
  std::vector<storage::VerdictRecord> records(candidates.size());
  std::vector<std::vector<model::Declaration>> versions(candidates.size());
  std::vector<checks::Subject> subjects;
  std::vector<std::size_t> judged;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    bool readable = true;
    for (const auto& payload : candidates[i].payloads) {
      auto json = storage::payload_to_json(payload);
      auto declaration = json.is_ok() ? model::Declaration::from_json(catalog, json.value())
                                      : Result<model::Declaration>(json.status());
      if (!declaration.is_ok()) {
        readable = false;
        break;
      }
      versions[i].push_back(std::move(declaration).value());
    }
    if (!readable) {
      // rejudge() says why the stored data cannot be read.
      records[i] = rejudge(evaluator, catalog, candidates[i].payloads);
      continue;
    }
    std::span<const model::Declaration> all(versions[i]);
    subjects.push_back({&all.back(), all.first(all.size() - 1)});
    judged.push_back(i);
  }
  std::vector<checks::Verdict> verdicts;
  evaluator.evaluate_batch(subjects, verdicts);
  for (std::size_t j = 0; j < judged.size(); ++j) {
    records[judged[j]] = to_record(evaluator, verdicts[j]);
  }
  return records;
}

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
    std::vector<storage::VerdictRecord> verdicts = rejudge_all(evaluator, catalog, batch.value());
    for (std::size_t i = 0; i < batch->size(); ++i) {
      const storage::RecheckCandidate& candidate = batch.value()[i];
      storage::VerdictRecord& verdict = verdicts[i];
      after = candidate.product_id;
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
