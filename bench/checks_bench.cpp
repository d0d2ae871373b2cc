// Measures declaration-checks per second on one thread: loads the plugins of a directory under
// a policy, reads declarations from a CSV file into memory, then judges them round after round
// for at least the given time. Prints one JSON object. With WORKER (the iotreg executable) every
// plugin is untrusted: its checks run in worker processes, judged in batches of 2048 as an
// import judges them.
//
// Usage: iotreg_checks_bench CSV PLUGIN_DIR POLICY [SECONDS [WORKER]]
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <vector>

#include "importers/importer.h"
#include "importers/schema/compiled_schema.h"
#include "registry/checks/checks.h"

namespace {

class KeepDeclarations : public iotreg::importers::RecordSink {
 public:
  void accept(const iotreg::model::Declaration& declaration,
              const iotreg::importers::RecordLocation&) override {
    declarations.push_back(declaration);
  }
  void reject(iotreg::importers::RejectedRecord&&) override {}
  std::vector<iotreg::model::Declaration> declarations;
};

}  // namespace

int main(int argc, char** argv) {
  using namespace iotreg;
  if (argc < 4) {
    std::cerr << "usage: iotreg_checks_bench CSV PLUGIN_DIR POLICY [SECONDS [WORKER]]\n";
    return 2;
  }
  double minimum_seconds = argc > 4 ? std::stod(argv[4]) : 3.0;
  std::ifstream csv(argv[1], std::ios::binary);
  KeepDeclarations sink;
  auto read = importers::read_declarations(csv, importers::Format::kCsv,
                                           *importers::CompiledSchema::builtin(), sink);
  if (!read.is_ok() || sink.declarations.empty()) {
    std::cerr << "cannot read declarations from " << argv[1] << ": " << read.message() << "\n";
    return 2;
  }
  auto policy = policy::load_policy(argv[3]);
  if (!policy.is_ok()) {
    std::cerr << policy.status().message() << "\n";
    return 2;
  }
  // With a worker program every plugin is untrusted: loaded and run only by workers; without
  // one, every plugin is loaded and run in this process.
  checks::Isolation isolation;
  if (argc > 5) isolation.worker_program = argv[5];
  auto plugins = argc > 5 ? checks::PluginSet::load_directory(argv[2], policy.value(), isolation)
                          : checks::PluginSet::load_directory(argv[2]);
  if (!plugins.is_ok()) {
    std::cerr << plugins.status().message() << "\n";
    return 2;
  }
  auto evaluator = checks::Evaluator::create(std::move(plugins).value(), std::move(policy).value(),
                                             "2026-11-29", isolation);
  if (!evaluator.is_ok()) {
    std::cerr << evaluator.status().message() << "\n";
    return 2;
  }
  const checks::Evaluator& judge = *evaluator.value();
  checks::Verdict verdict;
  std::vector<checks::Verdict> verdicts;
  std::vector<checks::Subject> subjects;
  constexpr std::size_t kBatch = 2048;
  // One round over every declaration; `each` sees every verdict.
  auto round = [&](auto&& each) {
    if (!judge.has_isolated_checks()) {
      for (const auto& declaration : sink.declarations) {
        judge.evaluate(declaration, {}, verdict);
        each(verdict);
      }
      return;
    }
    for (std::size_t begin = 0; begin < sink.declarations.size(); begin += kBatch) {
      subjects.clear();
      for (std::size_t i = begin; i < std::min(begin + kBatch, sink.declarations.size()); ++i) {
        subjects.push_back({&sink.declarations[i], {}});
      }
      judge.evaluate_batch(subjects, verdicts);
      for (const auto& judged_verdict : verdicts) each(judged_verdict);
    }
  };
  std::uint64_t statuses[5] = {};
  round([&](const checks::Verdict& judged_verdict) {  // warm-up, and the status mix
    ++statuses[static_cast<int>(judged_verdict.status)];
  });
  std::uint64_t judged = 0;
  auto start = std::chrono::steady_clock::now();
  double seconds = 0;
  do {
    round([](const checks::Verdict&) {});
    judged += sink.declarations.size();
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (seconds < minimum_seconds);
  std::size_t checks_per_declaration = evaluator.value()->checks().size();
  nlohmann::json out = {
      {"declarations", sink.declarations.size()},
      {"checks", checks_per_declaration},
      {"judged", judged},
      {"seconds", seconds},
      {"declarations_per_second", static_cast<double>(judged) / seconds},
      {"declaration_checks_per_second",
       static_cast<double>(judged * checks_per_declaration) / seconds},
      {"compliant", statuses[static_cast<int>(checks::ProductStatus::kCompliant)]},
      {"non_compliant", statuses[static_cast<int>(checks::ProductStatus::kNonCompliant)]},
      {"excepted", statuses[static_cast<int>(checks::ProductStatus::kExcepted)]},
      {"check_error", statuses[static_cast<int>(checks::ProductStatus::kCheckError)]},
      {"isolated", judge.has_isolated_checks()}};
  std::cout << out.dump() << "\n";
  return 0;
}
