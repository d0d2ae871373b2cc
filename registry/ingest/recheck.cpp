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
  const storage::Decide decide = decide_for(evaluation);
  const auto& catalog = importers::CompiledSchema::builtin()->catalog();
  RecheckReport report;
  report.policy_id = evaluator.policy().id;
  report.as_of = evaluator.as_of();

  auto begun = storage.begin_recheck(evaluation, options.actor, options.daily_date);
  if (!begun.is_ok()) return begun.status();
  std::unique_ptr<storage::RecheckSession> session = std::move(begun).value();
  std::int64_t after = 0;
  for (;;) {
    auto batch = storage.recheck_candidates(evaluation, options.scope, after, kBatch);
    if (!batch.is_ok()) return batch.status();
    if (batch->empty()) break;
    std::vector<storage::VerdictRecord> verdicts = rejudge_all(evaluator, catalog, batch.value());
    for (std::size_t i = 0; i < batch->size(); ++i) {
      const storage::RecheckCandidate& candidate = batch.value()[i];
      const storage::VerdictRecord& verdict = verdicts[i];
      const enforcement::ProductFacts& before = candidate.facts;
      after = before.product_id;
      const enforcement::Consequences decided =
          decide(before, {verdict.status, verdict.failed, candidate.version_id});
      IOTREG_TRY(session->apply(candidate, verdict, decided));
      const bool was_flagged =
          before.newest_flag && enforcement::is_open(before.newest_flag->state);
      auto& counts = report.impact[candidate.manufacturer];
      ++counts.checked;
      ++report.checked;
      const bool changed = decided.status != before.status;
      if (changed) {
        ++counts.status_changes;
        ++report.status_changes;
      }
      counts.newly_flagged += decided.flagged && !was_flagged;
      counts.unflagged += !decided.flagged && was_flagged;
      if (!decided.changes.empty()) {
        report.changes.push_back({before.product_id, candidate.manufacturer, candidate.brand,
                                  candidate.model, before.status, decided.status, was_flagged,
                                  decided.flagged, verdict.failed});
      }
    }
  }
  // A re-check that judged nothing leaves no run behind.
  if (report.checked > 0) {
    report.summary = session->changes();
    report.run_id = session->run_id();
    IOTREG_TRY(session->commit(report.checked, report.status_changes));
  }
  return report;
}

}  // namespace iotreg::ingest
