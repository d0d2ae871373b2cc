// The sandbox of check workers: what a plugin tries and the sandbox denies is reported in its
// finding and has no effect; what the kernel lacks is said, and only what it offers is expected
// to be denied. Processes a worker starts end with it, and its standard error is captured.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "check_fixtures.h"
#include "registry/checks/checks.h"
#include "registry/checks/detail/sandbox.h"
#include "support/process.h"
#include "support/temp_files.h"

namespace iotreg::checks {
namespace {

using testing::declaration_with;
using testing::fixture_dir;
using testing::policy_from;

Isolation sandbox_isolation() {
  Isolation isolation;
  isolation.worker_program = IOTREG_BINARY;
  isolation.load_deadline = std::chrono::seconds(5);
  isolation.memory_limit_bytes = std::uint64_t{512} << 20;
  return isolation;
}

// The finding of fixture.sandboxed-<behaviour>, run untrusted on one declaration with its
// `target` parameter set.
Finding judge(const std::string& behaviour, const std::string& target = {},
              const Isolation& isolation = sandbox_isolation()) {
  const std::string policy =
      "id: fixture-policy\nregime: prohibition\nchecks:\n  sandboxed: "
      "{level: mandatory, parameters: {target: \"" +
      target + "\"}}\n";
  auto plugins = PluginSet::load_directory(fixture_dir("sandboxed-" + behaviour),
                                           policy_from(policy), isolation);
  REQUIRE_MESSAGE(plugins.is_ok(), plugins.status().message());
  REQUIRE_FALSE(plugins.value()->plugins().front().in_process);
  auto evaluator = Evaluator::create(plugins.value(), policy_from(policy), "2026-03-01", isolation);
  REQUIRE_MESSAGE(evaluator.is_ok(), evaluator.status().message());
  const auto declaration = declaration_with({{"product.model", std::string("m")}});
  std::vector<Subject> subjects = {{&declaration, {}}};
  std::vector<Verdict> verdicts;
  evaluator.value()->evaluate_batch(subjects, verdicts);
  REQUIRE(verdicts.size() == 1);
  REQUIRE(verdicts[0].findings.size() == 1);
  return verdicts[0].findings[0];
}

void expect_denied(const Finding& finding, const std::string& denial) {
  CHECK(finding.outcome == Outcome::kError);
  CHECK(finding.message == "the plugin tried to " + denial + ": denied");
}

TEST_SUITE("sandbox") {
  TEST_CASE("sandbox: the state reported is what the kernel offers, mechanism by mechanism") {
    const detail::SandboxSupport support = detail::sandbox_support();
    const std::string summary = worker_sandbox_summary();
    CHECK(summary == detail::sandbox_summary(support));
    CHECK(summary.find(support.seccomp ? "seccomp yes" : "seccomp no (") == 0);
    CHECK(summary.find(support.landlock_abi > 0 ? "landlock yes (ABI " : "landlock no (") !=
          std::string::npos);
  }

  TEST_CASE("sandbox: a plugin cannot write the database, and the denial is its finding") {
    testing::ScratchDir scratch;
    const std::string database = testing::write_file(scratch, "registry.db", "SQLite format 3");
    const detail::SandboxSupport support = detail::sandbox_support();
    Finding finding = judge("write-file", database);
    if (support.seccomp || support.landlock_abi > 0) {
      expect_denied(finding, "open " + database + " for writing");
      CHECK(test::read_file(database) == "SQLite format 3");
    } else {
      CHECK(finding.message == "done");
    }
  }

  TEST_CASE("sandbox: a plugin cannot read files outside its directory and the system's") {
    testing::ScratchDir scratch;
    std::filesystem::create_directories(scratch.path() / ".ssh");
    const std::string secret = (scratch.path() / ".ssh" / "id_ed25519").string();
    std::ofstream(secret) << "PRIVATE KEY";
    Finding finding = judge("read-file", secret);
    if (detail::sandbox_support().landlock_abi > 0) {
      expect_denied(finding, "open " + secret + " for reading");
    } else {
      CHECK(finding.message == "done");
    }
    // Its own directory and the system libraries stay readable.
    const std::string own = fixture_dir("sandboxed-read-file") + "/sandboxed.so";
    CHECK(judge("read-file", own).message == "done");
    CHECK(judge("read-file", "/etc/ld.so.cache").message == "done");
  }

  TEST_CASE("sandbox: sockets, programs and processes are denied; threads are not") {
    const bool seccomp = detail::sandbox_support().seccomp;
    struct Attempt {
      const char* behaviour;
      const char* denial;
    };
    for (const Attempt& attempt :
         {Attempt{"connect", "create a socket"}, Attempt{"execve", "run the program /bin/true"},
          Attempt{"fork", "start a process"}}) {
      CAPTURE(attempt.behaviour);
      Finding finding = judge(attempt.behaviour);
      if (seccomp) {
        expect_denied(finding, attempt.denial);
      } else if (std::string(attempt.behaviour) != "execve") {
        CHECK(finding.message == "done");
      }
    }
    Finding threaded = judge("thread");
    CHECK(threaded.outcome == Outcome::kPass);
    CHECK(threaded.message == "done");
  }

  TEST_CASE("sandbox: a worker's standard error is captured, escaped, capped and attributed") {
    testing::ScratchDir scratch;
    const std::string captured = scratch.file("stderr");
    int saved = ::dup(STDERR_FILENO);
    int into = ::open(captured.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(saved >= 0);
    REQUIRE(into >= 0);
    ::dup2(into, STDERR_FILENO);
    ::close(into);
    Finding finding = judge("stderr");
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    CHECK(finding.message == "done");
    const std::string text = test::read_file(captured);
    CHECK_MESSAGE(text.find("iotreg: the check worker of sandboxed.so wrote on standard error: "
                            "\\x1b[2Jplugin says hello\\x0a") != std::string::npos,
                  text);
    CHECK(text.find('\x1b') == std::string::npos);
    CHECK(text.find("more bytes dropped]") != std::string::npos);
  }

  TEST_CASE("sandbox: a process a worker started ends with it, and the crash is seen at once") {
    // Without the sandbox, which would deny the fork: the process group is the second defence.
    testing::ScratchDir scratch;
    const std::string marker = scratch.file("child");
    Isolation isolation = sandbox_isolation();
    isolation.sandbox = false;
    isolation.load_deadline = std::chrono::seconds(30);
    isolation.check_deadline = std::chrono::seconds(30);
    auto started = std::chrono::steady_clock::now();
    Finding finding = judge("fork-sleep", marker, isolation);
    auto took = std::chrono::steady_clock::now() - started;
    CHECK(finding.outcome == Outcome::kError);
    CHECK_MESSAGE(finding.message.find("crashed with SIGABRT") != std::string::npos,
                  finding.message);
    CHECK(took < std::chrono::seconds(10));  // the child holding the socket hid nothing
    long child = std::stol(test::read_file(marker));
    bool gone = false;
    for (int i = 0; i < 500 && !gone; ++i) {
      std::ifstream status("/proc/" + std::to_string(child) + "/stat");
      std::string pid, name, state;
      gone = !(status >> pid >> name >> state) || state == "Z";
      if (!gone) ::usleep(10000);
    }
    CHECK(gone);
  }
}

}  // namespace
}  // namespace iotreg::checks
