// End to end: an untrusted plugin that crashes on one declaration does not stop `iotreg
// import` or `iotreg check`; that product is a check_error naming the fault, every other one is
// judged and stored normally, and the audit chain stays intact. A policy with verify_fixtures
// refuses a plugin whose fixtures fail, and a plugin that crashes while a worker loads it is
// refused, both changing nothing.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/registry.h"

namespace iotreg::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kIotreg = IOTREG_BINARY;
constexpr int kProducts = 12;
constexpr int kTrigger = 7;

std::string hostile_dir(const std::string& behaviour) {
  return fs::canonical(fs::path(IOTREG_CHECK_FIXTURES) / ("hostile-" + behaviour)).string();
}

// A CSV of kProducts products, the one at kTrigger of model "trigger".
std::string declarations_csv() {
  std::string csv = "manufacturer.name,product.brand,product.model\n";
  for (int i = 0; i < kProducts; ++i) {
    csv += "Acme Devices Ltd,Acme," +
           (i == kTrigger ? std::string("trigger") : "model " + std::to_string(i)) + "\n";
  }
  return csv;
}

const char* kPolicy =
    "id: hostile-policy\nregime: prohibition\nchecks:\n"
    "  hostile: {level: mandatory}\n";

// A directory for the policy and the declarations, and a registry of this run's backend.
struct Workspace {
  TempDir dir;
  TestRegistry registry{dir};
  std::string file(const std::string& name) const { return dir.file(name); }
};

ProcessResult iotreg(const Workspace& work, const std::string& plugins,
                     std::vector<std::string> arguments, const ProcessOptions& options = {}) {
  std::vector<std::string> all = {"--db",      work.registry.location(),
                                  "--policy",  work.file("policy.yaml"),
                                  "--plugins", plugins,
                                  "--as-of",   "2026-11-29"};
  all.insert(all.end(), arguments.begin(), arguments.end());
  return run_process(kIotreg, all, options);
}

// The processes started with IOTREG_TEST_MARK=`mark`, and everything they started.
std::vector<std::string> marked_processes(const std::string& mark) {
  return processes_with_environment("IOTREG_TEST_MARK", mark);
}

// Status and hostile-check message per model (the hostile check is the policy's first of
// `checks`).
std::map<std::string, std::pair<std::string, std::string>> products(const Workspace& work,
                                                                    const std::string& plugins,
                                                                    std::size_t checks = 1) {
  auto listed = iotreg(work, plugins, {"products", "--json"});
  REQUIRE_MESSAGE(listed.exit_status == 0, listed.describe() << "\n" << listed.err);
  std::map<std::string, std::pair<std::string, std::string>> by_model;
  for (const auto& line : split_lines(listed.out)) {
    json product = json::parse(line);
    REQUIRE(product["findings"].size() == checks);
    by_model[product["model"].get<std::string>()] = {
        product["status"].get<std::string>(), product["findings"][0]["message"].get<std::string>()};
  }
  return by_model;
}

TEST_SUITE("cli") {
  TEST_CASE("cli: an untrusted plugin that crashes on one declaration does not stop import") {
    Workspace work;
    write_file(work.file("policy.yaml"), kPolicy);
    write_file(work.file("products.csv"), declarations_csv());
    const std::string plugins = hostile_dir("segfault");
    auto imported = iotreg(work, plugins, {"import", work.file("products.csv")});
    REQUIRE_MESSAGE(imported.exit_status == 0, imported.describe() << "\n" << imported.err);
    CHECK(imported.out.find("12 new products") != std::string::npos);

    auto verify = [&] {
      auto by_model = products(work, plugins);
      REQUIRE(by_model.size() == kProducts);
      for (const auto& [model, judged] : by_model) {
        CAPTURE(model);
        if (model == "trigger") {
          CHECK(judged.first == "check_error");
          CHECK_MESSAGE(
              judged.second.find("the plugin fixture.hostile-segfault crashed with "
                                 "SIGSEGV while judging this declaration") != std::string::npos,
              judged.second);
        } else {
          CHECK(judged.first == "compliant");
          CHECK(judged.second == "fixture check passed");
        }
      }
    };
    verify();
    auto rechecked = iotreg(work, plugins, {"check", "--all"});
    CHECK_MESSAGE(rechecked.exit_status == 0, rechecked.describe() << "\n" << rechecked.err);
    verify();
    auto audit = iotreg(work, plugins, {"audit", "verify"});
    CHECK_MESSAGE(audit.exit_status == 0, audit.describe() << "\n" << audit.err);
  }

  TEST_CASE("cli: import and check leave no process behind, and plugins' stderr is reported") {
    // A check that hangs on one declaration and one that writes escape sequences and 8 KiB on
    // standard error on every declaration, both untrusted, sharing workers.
    Workspace work;
    const fs::path plugins = work.dir.path() / "plugins";
    fs::create_directories(plugins);
    fs::copy_file(fs::path(hostile_dir("hang")) / "hostile.so", plugins / "hang.so");
    fs::copy_file(fs::path(IOTREG_CHECK_FIXTURES) / "sandboxed-stderr" / "sandboxed.so",
                  plugins / "noisy.so");
    write_file(work.file("policy.yaml"),
               "id: hostile-policy\nregime: prohibition\ndeadline_ms: 300\nchecks:\n"
               "  hostile: {level: mandatory}\n  sandboxed: {level: advisory}\n");
    write_file(work.file("products.csv"), declarations_csv());
    const std::string mark = std::to_string(::getpid()) + "-" + work.dir.path().filename().string();
    ProcessOptions options;
    options.environment = {{"IOTREG_TEST_MARK", mark}};
    auto imported =
        iotreg(work, plugins.string(), {"import", "--json", work.file("products.csv")}, options);
    REQUIRE_MESSAGE(imported.exit_status == 0, imported.describe() << "\n" << imported.err);
    CHECK(marked_processes(mark).empty());
    // The plugin's bytes reach neither output raw: the log line and the report escape them.
    CHECK(imported.err.find('\x1b') == std::string::npos);
    CHECK(imported.out.find('\x1b') == std::string::npos);
    CHECK(imported.err.find("iotreg: the check worker of hang.so, noisy.so wrote on standard "
                            "error: \\x1b[2Jplugin says hello\\x0a") != std::string::npos);
    json report = json::parse(split_lines(imported.out).back());
    // The shared workers' output, and that of noisy.so's own worker, which judged the trigger
    // alone once the hang was charged.
    std::map<std::string, std::string> output;
    for (const auto& entry : report["plugin_output"]) {
      output[entry["plugin_files"].get<std::string>()] = entry["text"].get<std::string>();
    }
    CHECK(output.size() == 2);
    CHECK(output["hang.so, noisy.so"].rfind("\\x1b[2Jplugin says hello\\x0a", 0) == 0);
    CHECK(output["noisy.so"].rfind("\\x1b[2Jplugin says hello\\x0a", 0) == 0);
    auto by_model = products(work, plugins.string(), 2);
    CHECK(by_model["trigger"].first == "check_error");
    CHECK(by_model["trigger"].second ==
          "the plugin fixture.hostile-hang timed out after 300 ms while judging this declaration");
    CHECK(by_model["model 0"].first == "compliant");

    auto rechecked = iotreg(work, plugins.string(), {"check", "--all"}, options);
    CHECK_MESSAGE(rechecked.exit_status == 0, rechecked.describe() << "\n" << rechecked.err);
    CHECK(marked_processes(mark).empty());
    CHECK(rechecked.err.find('\x1b') == std::string::npos);
  }

  TEST_CASE("cli: verify_fixtures refuses a plugin whose fixtures fail and changes nothing") {
    Workspace work;
    fs::create_directory(work.file("plugins"));
    fs::copy_file(fs::path(hostile_dir("segfault")) / "hostile.so",
                  work.file("plugins/hostile.so"));
    write_file(work.file("plugins/hostile.fixtures.yaml"),
               "cases:\n"
               "  - name: the trigger passes\n"
               "    declaration: {manufacturer: {name: Acme}, product: {brand: Acme, model: "
               "trigger}}\n"
               "    expect: {dcms-2019: {hostile: pass}}\n");
    write_file(work.file("policy.yaml"), std::string(kPolicy) + "verify_fixtures: true\n");
    write_file(work.file("products.csv"), declarations_csv());
    auto refused = iotreg(work, work.file("plugins"), {"import", work.file("products.csv")});
    CHECK(refused.exit_status == 2);
    CHECK_MESSAGE(refused.err.find("fixture.hostile-segfault refused") != std::string::npos,
                  refused.err);
    CHECK(refused.err.find("the trigger passes") != std::string::npos);
    CHECK(refused.err.find("crashed with SIGSEGV") != std::string::npos);
    CHECK_FALSE(registry_exists(work.registry.location()));
  }

  TEST_CASE("cli: a plugin that crashes while it is loaded is refused and changes nothing") {
    Workspace work;
    write_file(work.file("policy.yaml"), kPolicy);
    write_file(work.file("products.csv"), declarations_csv());
    const std::string plugins =
        fs::canonical(fs::path(IOTREG_CHECK_FIXTURES) / "load-initialiser-segfault").string();
    for (const std::vector<std::string>& command :
         {std::vector<std::string>{"import", work.file("products.csv")},
          std::vector<std::string>{"plugins"}}) {
      CAPTURE(command.front());
      auto refused = iotreg(work, plugins, command);
      CHECK(refused.exit_status == 2);
      CHECK_MESSAGE(
          refused.err.find(plugins + "/load.so: refused: the plugin crashed with SIGSEGV "
                                     "while a worker process loaded it") != std::string::npos,
          refused.err);
    }
    CHECK_FALSE(registry_exists(work.registry.location()));
  }
}

}  // namespace
}  // namespace iotreg::test
