// What an import and a re-check judge: only declarations whose verdict can differ, counted by a
// real fixture plugin ("fixture.counting", which appends a line per run to a file) and by the
// Evaluator's statistics; and the refusals of verify_fixtures for a plugin without fixtures.
#include <doctest/doctest.h>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "check_fixtures.h"
#include "registry/checks/checks.h"
#include "registry/checks/fixtures.h"
#include "registry/ingest/ingest.h"
#include "support/temp_files.h"

namespace iotreg::checks {
namespace {

using testing::fixture_dir;
using testing::policy_from;
using testing::ScratchDir;

class NoObserver : public ingest::ImportObserver {
 public:
  void on_rejected(const std::string&, const importers::RejectedRecord&) override {}
  void on_file_error(const std::string&, const std::string&) override {}
};

// The models the counting check judged, in order.
std::vector<std::string> judged_models(const std::string& count_file) {
  std::vector<std::string> models;
  std::ifstream in(count_file);
  for (std::string line; std::getline(in, line);) models.push_back(line);
  return models;
}

// An in-process evaluation by the counting plugin, which counts into `count_file`.
std::unique_ptr<Evaluator> counting_evaluator(const std::string& count_file) {
  auto plugins = PluginSet::load_directory(fixture_dir("counting"));
  REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
  auto evaluator =
      Evaluator::create(plugins.value(),
                        policy_from("id: fixture-policy\nregime: prohibition\nchecks:\n  counted:\n"
                                    "    level: mandatory\n    parameters: {count_file: \"" +
                                    count_file + "\"}\n"),
                        "2026-12-01");
  REQUIRE_MESSAGE(evaluator.is_ok(), evaluator.status().message());
  return std::move(evaluator).value();
}

std::map<std::string, std::string> statuses_by_model(storage::Storage& storage) {
  auto products = storage.list_products({});
  REQUIRE_MESSAGE(products.is_ok(), products.status().message());
  std::map<std::string, std::string> statuses;
  for (const auto& product : products.value()) statuses[product.model] = product.status;
  return statuses;
}

const char* kHeader = "manufacturer.name,product.brand,product.model,product.type\n";

}  // namespace

TEST_SUITE("checks") {
  TEST_CASE("judging: an import judges only new and changed declarations") {
    ScratchDir dir;
    const std::string counts = dir.file("counted.txt");
    auto evaluator = counting_evaluator(counts);
    auto opened = storage::open_storage(dir.file("registry.db"), storage::OpenMode::kReadWrite);
    REQUIRE_MESSAGE(opened.is_ok(), opened.status().message());
    storage::Storage& storage = *opened.value();
    ingest::ImportOptions options;
    options.evaluator = evaluator.get();
    NoObserver observer;
    auto import = [&](const std::string& name, const std::string& rows) {
      auto result = ingest::import_file(&storage, testing::write_file(dir, name, kHeader + rows),
                                        options, observer);
      REQUIRE_MESSAGE(result.is_ok(), result.status().message());
      return std::move(result).value();
    };
    const std::string first =
        "Acme,Acme,A1,camera\n"
        "Acme,Acme,A2,broken\n"
        "Acme,Acme,A3,plug\n";
    auto stored = import("first.csv", first);
    CHECK(stored.counts.new_products == 3);
    CHECK(judged_models(counts) == std::vector<std::string>{"A1", "A2", "A3"});
    CHECK(evaluator->declarations_judged() == 3);
    const std::map<std::string, std::string> verdicts = {
        {"A1", "compliant"}, {"A2", "non_compliant"}, {"A3", "compliant"}};
    CHECK(statuses_by_model(storage) == verdicts);

    // The same data again: nothing is judged, nothing changes.
    auto unchanged = import("again.csv", first);
    CHECK(unchanged.counts.unchanged == 3);
    CHECK(unchanged.run_id == 0);
    CHECK(judged_models(counts).size() == 3);
    CHECK(evaluator->declarations_judged() == 3);

    // One changed product, one new, one unchanged, and a new product declared twice: the new
    // ones are judged once each and the changed one with its history; the second declaration
    // of the product new in this file is a version of it, judged with the first as history.
    auto changed = import("changed.csv",
                          "Acme,Acme,A1,camera\n"
                          "Acme,Acme,A2,camera\n"
                          "Acme,Acme,B1,broken\n"
                          "Acme,Acme,B2,plug\n"
                          "Acme,Acme,B2,broken\n");
    CHECK(changed.counts.unchanged == 1);
    CHECK(changed.counts.new_products == 2);
    CHECK(changed.counts.new_versions == 2);
    CHECK(judged_models(counts) ==
          std::vector<std::string>{"A1", "A2", "A3", "B1", "B2", "A2", "B2"});
    CHECK(changed.statuses ==
          std::map<std::string, std::uint64_t>{{"compliant", 2}, {"non_compliant", 2}});
    const std::map<std::string, std::string> now = {{"A1", "compliant"},
                                                    {"A2", "compliant"},
                                                    {"A3", "compliant"},
                                                    {"B1", "non_compliant"},
                                                    {"B2", "non_compliant"}};
    CHECK(statuses_by_model(storage) == now);

    // A dry run still shows the verdicts of what would change, and judges only that.
    const std::size_t before_dry_run = judged_models(counts).size();
    Result<ingest::FileResult> dry = Status::internal("not run");
    {
      auto preview = storage.begin_preview();
      REQUIRE(preview.is_ok());
      dry = ingest::import_file(&storage,
                                testing::write_file(dir, "dry.csv",
                                                    std::string(kHeader) + "Acme,Acme,A1,broken\n"
                                                                           "Acme,Acme,A3,plug\n"),
                                options, observer);
    }
    REQUIRE(dry.is_ok());
    CHECK(dry->counts.new_versions == 1);
    CHECK(dry->counts.unchanged == 1);
    CHECK(dry->statuses == std::map<std::string, std::uint64_t>{{"non_compliant", 1}});
    CHECK(judged_models(counts).size() == before_dry_run + 1);
    CHECK(statuses_by_model(storage) == now);

    // A re-check of what is not stale judges nothing.
    auto rechecked = ingest::recheck(storage, *evaluator, {});
    REQUIRE_MESSAGE(rechecked.is_ok(), rechecked.status().message());
    CHECK(rechecked->checked == 0);
    CHECK(judged_models(counts).size() == before_dry_run + 1);
  }

  TEST_CASE("judging: verify_fixtures refuses a plugin without fixtures, naming the file") {
    auto plugins = PluginSet::load_directory(fixture_dir("good"));
    REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
    Status refused = verify_fixtures(plugins.value());
    REQUIRE_FALSE(refused.is_ok());
    CHECK_MESSAGE(
        refused.message().find("fixture.alpha refused: it ships no fixtures (no file " +
                               fixture_dir("good") + "/alpha.fixtures.yaml)") != std::string::npos,
        refused.message());
    auto report = run_fixtures(plugins.value());
    REQUIRE(report.is_ok());
    REQUIRE(report->plugins_without_fixtures.size() == 2);
    CHECK(report->plugins_without_fixtures[0].fixture_file ==
          fixture_dir("good") + "/alpha.fixtures.yaml");
  }
}

}  // namespace iotreg::checks
