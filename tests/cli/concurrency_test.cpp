// Several processes on one registry, on every backend: imports started at once are stored one
// after the other, each file whole (never lost, duplicated or interleaved with another's), and
// an import killed with SIGKILL at any moment leaves the registry as it was before it or as
// the complete import leaves it.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"
#include "support/registry.h"

namespace iotreg::test {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

const std::string kIotreg = IOTREG_BINARY;

// A CSV of `rows` declarations of manufacturer `maker`, models M-<maker>-00000...
std::string write_declarations(const TempDir& dir, const std::string& maker, int rows) {
  std::string csv =
      "manufacturer.name,product.brand,product.model,product.type,passwords.default,"
      "support.end_date\n";
  for (int i = 0; i < rows; ++i) {
    char model[32];
    std::snprintf(model, sizeof model, "M-%s-%05d", maker.c_str(), i);
    csv += maker + " Ltd," + maker + "," + model + ",smart camera," +
           (i % 3 == 0 ? "universal" : "unique_per_device") + ",2031-12-31\n";
  }
  const std::string path = dir.file(maker + ".csv");
  write_file(path, csv);
  return path;
}

// The registry's counts and its import runs' products, by run.
struct Stored {
  std::int64_t products = 0, versions = 0, runs = 0;
  bool operator==(const Stored&) const = default;
};
Stored stored(const std::string& db) {
  RegistryProbe probe(db);
  return {probe.integer("SELECT count(*) FROM products"),
          probe.integer("SELECT count(*) FROM declaration_versions"),
          probe.integer("SELECT count(*) FROM import_runs")};
}
doctest::String toString(const Stored& state) {
  return ("products " + std::to_string(state.products) + ", versions " +
          std::to_string(state.versions) + ", import runs " + std::to_string(state.runs))
      .c_str();
}

TEST_SUITE("cli.concurrency") {
  TEST_CASE(
      "cli: imports from several processes at once store each file whole, one after another") {
    TempDir dir;
    TestRegistry registry(dir);
    const std::vector<std::string> makers = {"Alpha", "Bravo", "Charlie", "Delta"};
    constexpr int kRows = 3000;
    std::vector<std::string> files;
    for (const auto& maker : makers) files.push_back(write_declarations(dir, maker, kRows));
    // Create the registry first, so that the imports race only for the write lock.
    REQUIRE(run_process(kIotreg, {"--db", registry.location(), "products"}).exit_status == 0);
    ProcessOptions options;
    options.environment = {{"IOTREG_BUSY_TIMEOUT_MS", "60000"}};
    std::vector<std::unique_ptr<ChildProcess>> imports;
    for (const auto& file : files) {
      imports.push_back(ChildProcess::spawn(
          kIotreg, {"--db", registry.location(), "import", "--quiet", file}, options));
    }
    for (auto& child : imports) {
      auto result = child->wait(std::chrono::minutes(3));
      INFO(result.describe(), " ", result.err);
      CHECK(result.exit_status == 0);
    }
    CHECK(stored(registry.location()) ==
          Stored{kRows * 4, kRows * 4, static_cast<std::int64_t>(makers.size())});
    RegistryProbe probe(registry.location());
    // Each run created exactly one file's products, as one block of ids: nothing interleaved.
    for (const auto& run : probe.column("SELECT id FROM import_runs")) {
      CAPTURE(run);
      const std::string of_run = " FROM products WHERE created_run_id = " + run;
      CHECK(probe.integer("SELECT count(*)" + of_run) == kRows);
      CHECK(probe.integer("SELECT count(DISTINCT manufacturer_id)" + of_run) == 1);
      CHECK(probe.integer("SELECT max(id) - min(id) + 1" + of_run) == kRows);
    }
    auto verified = run_process(kIotreg, {"--db", registry.location(), "audit", "verify"});
    CHECK(verified.exit_status == 0);
  }

  TEST_CASE("cli: an import killed at any moment leaves the registry as before it or complete") {
    TempDir dir;
    TestRegistry registry(dir);
    const std::string small = write_declarations(dir, "Small", 50);
    const std::string big = write_declarations(dir, "Big", 20000);
    REQUIRE(run_process(kIotreg, {"--db", registry.location(), "import", small}).exit_status == 0);
    const Stored before = stored(registry.location());
    const Stored full{before.products + 20000, before.versions + 20000, before.runs + 1};
    bool completed = false;
    for (const milliseconds delay : {milliseconds(20), milliseconds(150), milliseconds(400),
                                     milliseconds(900), milliseconds(1500)}) {
      CAPTURE(delay.count());
      auto child =
          ChildProcess::spawn(kIotreg, {"--db", registry.location(), "import", "--quiet", big});
      std::this_thread::sleep_for(delay);
      child->kill(SIGKILL);
      auto result = child->wait(std::chrono::minutes(1));
      const Stored now = stored(registry.location());
      CHECK_MESSAGE((now == before || now == full), "neither as before nor complete: ", now);
      completed = completed || now == full;
      CHECK(run_process(kIotreg, {"--db", registry.location(), "audit", "verify"}).exit_status ==
            0);
      RegistryProbe probe(registry.location());
      CHECK(probe.integer("SELECT count(*) FROM import_runs WHERE finished_at IS NULL") == 0);
      if (completed) break;
    }
    // A later import completes it.
    auto last = run_process(kIotreg, {"--db", registry.location(), "import", "--quiet", big});
    CHECK(last.exit_status == 0);
    CHECK(stored(registry.location()) == full);
  }
}

}  // namespace
}  // namespace iotreg::test
