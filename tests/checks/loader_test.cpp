// PluginSet::load_directory: every refusal names the file (and, where it applies, the symbol
// and the expected and found values); a good directory loads with the identity and file hash of
// each plugin; libraries are loaded once and never unloaded.
#include <doctest/doctest.h>
#include <link.h>

#include <filesystem>
#include <string>

#include "check_fixtures.h"
#include "registry/checks/checks.h"
#include "registry/core/sha256.h"
#include "support/temp_files.h"

namespace iotreg::checks {
namespace {

namespace fs = std::filesystem;
using testing::fixture_dir;
using testing::fixture_plugin;

// The message of a refused load; fails the test when the load succeeded or was refused with
// another code than kInvalidArgument.
std::string refusal(const std::string& directory) {
  auto loaded = PluginSet::load_directory(directory);
  REQUIRE_FALSE(loaded.is_ok());
  CHECK(loaded.status().code() == Status::Code::kInvalidArgument);
  return loaded.status().message();
}

// The refusal of a whole directory whose only problem is `problem`.
std::string one_problem(const std::string& directory, const std::string& problem) {
  return "cannot load the check plugins of " + directory + ":\n  " + problem;
}

// How many loaded objects of the process were loaded from `path`.
int times_mapped(const std::string& path) {
  struct Search {
    const std::string* path;
    int count;
  } search{&path, 0};
  ::dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        auto* state = static_cast<Search*>(data);
        if (info->dlpi_name && *state->path == info->dlpi_name) ++state->count;
        return 0;
      },
      &search);
  return search.count;
}

// A copy of the good fixture plugin alpha.so in `dir`, mode 0755.
std::string copy_of_alpha(const test::TempDir& dir) {
  std::string copy = fs::canonical(dir.path()).string() + "/alpha.so";
  fs::copy_file(fixture_plugin("good", "alpha"), copy);
  fs::permissions(copy, fs::perms(0755));
  return copy;
}

TEST_SUITE("checks") {
  TEST_CASE("checks: a plugin directory that does not exist is refused") {
    const std::string missing = std::string(IOTREG_CHECK_FIXTURES) + "/no-such-scenario";
    CHECK(refusal(missing) == "plugin directory " + missing + " does not exist");
  }

  TEST_CASE("checks: a .so file that is not a shared library is refused naming the file") {
    test::TempDir dir;
    const std::string canonical_dir = fs::canonical(dir.path()).string();
    testing::write_file(dir, "notes.so", "this is a text file, not a plugin\n");
    CHECK(refusal(dir.path().string()) ==
          one_problem(canonical_dir,
                      canonical_dir + "/notes.so: not a shared library (no ELF header)"));
  }

  TEST_CASE("checks: files not named with the .so extension are ignored") {
    test::TempDir dir;
    testing::write_file(dir, "README", "not a plugin\n");
    testing::write_file(dir, "notes.so.txt", "not a plugin either\n");
    auto loaded = PluginSet::load_directory(dir.path().string());
    REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
    CHECK(loaded.value()->plugins().empty());
  }

  TEST_CASE("checks: a shared library without the entry symbol is refused naming file and symbol") {
    const std::string file = fixture_plugin("no-entry", "no-entry");
    CHECK(refusal(fixture_dir("no-entry")) ==
          one_problem(fixture_dir("no-entry"),
                      file + ": missing entry symbol iotreg_plugin_entry (define it with "
                             "IOTREG_PLUGIN from iotreg/check.hpp)"));
  }

  TEST_CASE("checks: a descriptor of another ABI version is refused with both versions") {
    const std::string file = fixture_plugin("wrong-abi", "wrong-abi");
    CHECK(refusal(fixture_dir("wrong-abi")) ==
          one_problem(fixture_dir("wrong-abi"),
                      file + ": iotreg_plugin_entry reports plugin ABI version 7; this iotreg "
                             "expects version 1"));
  }

  TEST_CASE("checks: an entry symbol returning no descriptor is refused") {
    const std::string file = fixture_plugin("null-descriptor", "null-descriptor");
    CHECK(refusal(fixture_dir("null-descriptor")) ==
          one_problem(fixture_dir("null-descriptor"),
                      file + ": iotreg_plugin_entry returned no descriptor"));
  }

  TEST_CASE("checks: a descriptor without checks is refused") {
    const std::string file = fixture_plugin("no-checks", "no-checks");
    CHECK(refusal(fixture_dir("no-checks")) ==
          one_problem(fixture_dir("no-checks"),
                      file + ": iotreg_plugin_entry descriptor: declares no checks"));
  }

  TEST_CASE("checks: a check without a run function is refused naming the check") {
    const std::string file = fixture_plugin("null-run", "null-run");
    CHECK(refusal(fixture_dir("null-run")) ==
          one_problem(fixture_dir("null-run"),
                      file + ": iotreg_plugin_entry descriptor: check 1 (not-runnable): no run "
                             "function"));
  }

  TEST_CASE("checks: a check id a policy could not name is refused quoting the id") {
    const std::string file = fixture_plugin("bad-check-id", "bad-check-id");
    CHECK(refusal(fixture_dir("bad-check-id")) ==
          one_problem(fixture_dir("bad-check-id"),
                      file + ": iotreg_plugin_entry descriptor: check 0: id 'Bad ID' must be 1-64 "
                             "lower-case letters, digits, '.', '_' or '-'"));
  }

  TEST_CASE("checks: control bytes in a check id are escaped in the refusal") {
    const std::string file = fixture_plugin("control-check-id", "control-check-id");
    CHECK(refusal(fixture_dir("control-check-id")) ==
          one_problem(fixture_dir("control-check-id"),
                      file + ": iotreg_plugin_entry descriptor: check 0: id 'evil\\x0a\\x1b[31mid' "
                             "must be 1-64 lower-case letters, digits, '.', '_' or '-'"));
  }

  TEST_CASE("checks: two plugins declaring one check id are refused naming both files") {
    const std::string first = fixture_plugin("duplicate-check", "first");
    const std::string second = fixture_plugin("duplicate-check", "second");
    CHECK(refusal(fixture_dir("duplicate-check")) ==
          one_problem(fixture_dir("duplicate-check"),
                      second + ": check id 'shared-check' is already declared by " + first));
  }

  TEST_CASE("checks: two plugins with one plugin id are refused naming both files") {
    const std::string first = fixture_plugin("duplicate-plugin", "first");
    const std::string second = fixture_plugin("duplicate-plugin", "second");
    CHECK(refusal(fixture_dir("duplicate-plugin")) ==
          one_problem(fixture_dir("duplicate-plugin"),
                      second + ": plugin id 'fixture.same' is already declared by " + first));
  }

  TEST_CASE("checks: every problem of a directory is listed one per line in file name order") {
    const std::string directory = fixture_dir("several-problems");
    CHECK(refusal(directory) ==
          "cannot load the check plugins of " + directory + ":\n  " + directory +
              "/a-wrong-abi.so: iotreg_plugin_entry reports plugin ABI version 7; this iotreg "
              "expects version 1\n  " +
              directory + "/b-null-descriptor.so: iotreg_plugin_entry returned no descriptor");
  }

  TEST_CASE("checks: a plugin file writable by other users is refused") {
    test::TempDir dir;
    const std::string copy = copy_of_alpha(dir);
    const std::string canonical_dir = fs::canonical(dir.path()).string();
    auto control = PluginSet::load_directory(canonical_dir);
    REQUIRE_MESSAGE(control.is_ok(), control.status().message());
    CHECK(control.value()->plugins().at(0).id == "fixture.alpha");

    fs::permissions(copy, fs::perms::others_write, fs::perm_options::add);
    CHECK(refusal(canonical_dir) ==
          one_problem(canonical_dir,
                      copy + ": refused: the file is writable by other users (chmod o-w)"));
  }

  TEST_CASE("checks: a plugin directory writable by other users is refused") {
    test::TempDir dir;
    copy_of_alpha(dir);
    const std::string canonical_dir = fs::canonical(dir.path()).string();
    fs::permissions(dir.path(), fs::perms(0777));
    CHECK(refusal(canonical_dir) ==
          "plugin directory " + canonical_dir + ": refused: writable by other users (chmod o-w)");
    fs::permissions(dir.path(), fs::perms(0755));
    auto control = PluginSet::load_directory(canonical_dir);
    CHECK_MESSAGE(control.is_ok(), control.status().message());
  }

  TEST_CASE("checks: a good directory loads every plugin with its identity and file hash") {
    const std::string directory = fixture_dir("good");
    // A path with a detour: the set reports the canonical directory and absolute file paths.
    auto loaded = PluginSet::load_directory(directory + "/../good/.");
    REQUIRE_MESSAGE(loaded.is_ok(), loaded.status().message());
    const PluginSet& set = *loaded.value();
    CHECK(set.directory() == directory);
    REQUIRE(set.plugins().size() == 2);

    const PluginDescription& alpha = set.plugins()[0];
    CHECK(alpha.path == directory + "/alpha.so");
    CHECK(alpha.id == "fixture.alpha");
    CHECK(alpha.version == "1.2.3");
    CHECK(alpha.description == "Fixture: two well-formed checks");
    auto alpha_hash = sha256_file(alpha.path);
    REQUIRE(alpha_hash.is_ok());
    CHECK(alpha.sha256 == alpha_hash.value());
    CHECK(alpha.sha256.size() == 64);
    REQUIRE(alpha.checks.size() == 2);
    CHECK(alpha.checks[0].id == "alpha-one");
    CHECK(alpha.checks[0].title == "Alpha one");
    CHECK(alpha.checks[0].requirement == "Fixture A1");
    CHECK(alpha.checks[0].version == "1.0.0");
    CHECK(alpha.checks[1].id == "alpha-two");
    CHECK(alpha.checks[1].version == "2.0.0");

    const PluginDescription& beta = set.plugins()[1];
    CHECK(beta.path == directory + "/beta.so");
    CHECK(beta.id == "fixture.beta");
    CHECK(beta.version == "0.9.0");
    auto beta_hash = sha256_file(beta.path);
    REQUIRE(beta_hash.is_ok());
    CHECK(beta.sha256 == beta_hash.value());
    CHECK(beta.sha256 != alpha.sha256);
    REQUIRE(beta.checks.size() == 1);
    CHECK(beta.checks[0].id == "beta-one");

    CHECK(set.fingerprint().size() == 64);
    CHECK(set.fingerprint().find_first_not_of("0123456789abcdef") == std::string::npos);
  }

  TEST_CASE("checks: the fingerprint is stable for a set and changes when the set changes") {
    auto first = PluginSet::load_directory(fixture_dir("good"));
    auto second = PluginSet::load_directory(fixture_dir("good"));
    REQUIRE(first.is_ok());
    REQUIRE(second.is_ok());
    CHECK(first.value()->fingerprint() == second.value()->fingerprint());

    test::TempDir dir;
    copy_of_alpha(dir);
    auto alpha_only = PluginSet::load_directory(dir.path().string());
    REQUIRE_MESSAGE(alpha_only.is_ok(), alpha_only.status().message());
    CHECK(alpha_only.value()->plugins().at(0).sha256 == first.value()->plugins().at(0).sha256);
    CHECK(alpha_only.value()->fingerprint() != first.value()->fingerprint());
  }

  TEST_CASE("checks: loading a directory twice maps each library once and keeps it after the set") {
    const std::string alpha = fixture_plugin("good", "alpha");
    auto first = PluginSet::load_directory(fixture_dir("good"));
    REQUIRE(first.is_ok());
    auto second = PluginSet::load_directory(fixture_dir("good"));
    REQUIRE(second.is_ok());
    CHECK(times_mapped(alpha) == 1);
    CHECK(times_mapped(fixture_plugin("good", "beta")) == 1);
    CHECK(second.value()->plugins().size() == first.value()->plugins().size());

    // The first set still judges after the second was loaded.
    auto evaluator =
        Evaluator::create(first.value(),
                          testing::policy_from("id: fixture-policy\nregime: prohibition\nchecks:\n"
                                               "  alpha-one: {level: mandatory}\n"),
                          "2026-03-01");
    REQUIRE_MESSAGE(evaluator.is_ok(), evaluator.status().message());
    Verdict verdict;
    evaluator.value()->evaluate(testing::ordinary_declaration(), {}, verdict);
    REQUIRE(verdict.findings.size() == 3);
    CHECK(verdict.findings[0].outcome == Outcome::kPass);
    CHECK(verdict.findings[0].message == "alpha");

    // Every owner of both sets is gone; the libraries stay mapped.
    evaluator = Status::invalid_argument("released");
    first = Status::invalid_argument("released");
    second = Status::invalid_argument("released");
    CHECK(times_mapped(alpha) == 1);
  }
}

}  // namespace
}  // namespace iotreg::checks
