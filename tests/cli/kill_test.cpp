// kill -9 during `iotreg import`: one file is one unit of work (registry/ingest/ingest.h), so a
// process killed at any moment leaves the registry exactly as it was before the import or
// exactly as a complete import leaves it, never in between, and a later import completes it.
#include <doctest/doctest.h>
#include <signal.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"

namespace iotreg::test {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

const std::string kIotreg = IOTREG_BINARY;
// In a checkout the shared folder sits beside the repository (CI copies it there too).
const fs::path kGenerator =
    fs::path(IOTREG_SOURCE_DIR) / ".." / "shared" / "bench" / "gen_declarations.py";

constexpr int kBigRows = 200000;
constexpr int kSmallRows = 500;  // same identities as the first 500 big rows, other contents

// Writes `rows` generated declarations (deterministic for a seed) as CSV to `path`.
void generate(const std::string& python, int rows, int seed, const std::string& path) {
  ProcessOptions options;
  options.stdout_path = path;
  auto result =
      run_process(python, {kGenerator.string(), std::to_string(rows), "csv", std::to_string(seed)},
                  options, std::chrono::minutes(5));
  INFO("generator stderr: ", result.err);
  REQUIRE_MESSAGE(result.exit_status == 0, "gen_declarations.py: ", result.describe());
  REQUIRE(fs::file_size(path) > 0);
}

// What a registry holds: row counts and a digest of every stored declaration version.
struct RegistryState {
  std::int64_t manufacturers = 0, products = 0, versions = 0, runs = 0, audit = 0;
  SqliteProbe::Digest declarations;
  bool operator==(const RegistryState&) const = default;
};
doctest::String toString(const RegistryState& state) {
  return ("manufacturers " + std::to_string(state.manufacturers) + ", products " +
          std::to_string(state.products) + ", versions " + std::to_string(state.versions) +
          ", import runs " + std::to_string(state.runs) + ", audit events " +
          std::to_string(state.audit) + ", digest " + std::to_string(state.declarations.rows) +
          "/" + std::to_string(state.declarations.sum))
      .c_str();
}

RegistryState state_of(const std::string& db) {
  SqliteProbe probe(db);
  RegistryState state;
  state.manufacturers = probe.integer("SELECT count(*) FROM manufacturers");
  state.products = probe.integer("SELECT count(*) FROM products");
  state.versions = probe.integer("SELECT count(*) FROM declaration_versions");
  state.runs = probe.integer("SELECT count(*) FROM import_runs");
  state.audit = probe.integer("SELECT count(*) FROM audit_events");
  // Identity, version number and canonical body of every stored declaration; ids are left out
  // so that registries filled by different runs compare by content.
  state.declarations = probe.digest(
      "SELECT m.name, p.brand, p.model, v.version, v.body FROM declaration_versions v "
      "JOIN products p ON p.id = v.product_id JOIN manufacturers m ON m.id = p.manufacturer_id");
  return state;
}

// SQLite's own checks (including those of every FTS5 index) plus the registry's invariants.
void check_consistent(const std::string& db) {
  SqliteProbe probe(db);
  CHECK(probe.text("PRAGMA integrity_check") == "ok");
  CHECK(probe.column("PRAGMA foreign_key_check").empty());
  for (const auto& table : probe.column("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND sql LIKE 'CREATE VIRTUAL TABLE%fts5%'")) {
    CAPTURE(table);
    CHECK_NOTHROW(
        probe.exec("INSERT INTO \"" + table + "\" (\"" + table + "\") VALUES ('integrity-check')"));
  }
  CHECK(probe.integer("SELECT count(*) FROM products p LEFT JOIN "
                      "(SELECT product_id, count(*) AS n FROM declaration_versions "
                      " GROUP BY product_id) v ON v.product_id = p.id "
                      "WHERE v.n IS NULL OR v.n <> p.version_count") == 0);
  CHECK(probe.integer("SELECT count(*) FROM import_runs WHERE finished_at IS NULL") == 0);
  CHECK(probe.integer("SELECT count(*) FROM import_runs WHERE id NOT IN "
                      "(SELECT subject_id FROM audit_events WHERE subject_type = 'import_run')") ==
        0);
}

// How many products `iotreg products --search TEXT` finds: the search index seen from outside.
std::size_t found_by_search(const std::string& db, const std::string& text) {
  auto result = run_process(kIotreg, {"--db", db, "products", "--json", "--search", text});
  INFO("products --search ", text, ": ", result.describe(), " ", result.err);
  CHECK(result.exit_status == 0);
  return split_lines(result.out).size();
}

// What /proc says about the child's reading of `input`: its file offset, or nullopt while the
// file is not open (before the import opens it, or after it has closed it).
std::optional<std::uint64_t> input_offset(pid_t pid, const fs::path& input) {
  std::error_code error;
  fs::path fds = "/proc/" + std::to_string(pid) + "/fd";
  for (const auto& entry : fs::directory_iterator(fds, error)) {
    if (fs::read_symlink(entry.path(), error) != input || error) continue;
    std::string info =
        read_file("/proc/" + std::to_string(pid) + "/fdinfo/" + entry.path().filename().string());
    auto at = info.find("pos:");
    if (at == std::string::npos) return std::nullopt;
    return std::stoull(info.substr(at + 4));
  }
  return std::nullopt;
}

std::uint64_t size_or_zero(const std::string& path) {
  std::error_code error;
  auto size = fs::file_size(path, error);
  return error ? 0 : size;
}

// When to kill an import.
struct KillPoint {
  std::string name;
  enum Kind {
    kNever,         // let it finish: only watch its timeline
    kAfter,         // `delay` after the start
    kInputRead,     // as soon as the whole input has been read: the last records are being
                    // parsed and stored, then the transaction is committed
    kCommitWindow,  // `delay` after the input has been read, chosen to land in the commit
    kCheckpoint,    // when the main database file grows: the commit is done and its pages
                    // are being copied from the write-ahead log into the database
  } kind;
  milliseconds delay{0};
};

struct ImportWatch {
  ProcessResult result;
  bool killed = false;  // the child died of our SIGKILL (else it finished on its own)
  // When the input was seen read to its end, when the write-ahead log last grew before the
  // database file began to grow (about the end of the commit), and when that file began to
  // grow, from the start; nullopt when not seen before the child finished or was killed.
  std::optional<milliseconds> input_read_at, log_grew_at, checkpoint_at;
};

// Runs `iotreg import input` into `db`, watching /proc and the database file, and kills it with
// SIGKILL at `point`.
ImportWatch import_and_kill(const std::string& db, const fs::path& input, const KillPoint& point) {
  const auto input_size = fs::file_size(input);
  const auto db_size_before = size_or_zero(db);
  auto child = ChildProcess::spawn(kIotreg, {"--db", db, "import", "--quiet", input.string()});
  const auto started = Clock::now();
  const auto give_up = started + std::chrono::minutes(5);
  ImportWatch watch;
  bool input_was_open = false;
  std::uint64_t log_size = size_or_zero(db + "-wal");
  while (child->running() && Clock::now() < give_up) {
    auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - started);
    if (!watch.input_read_at) {
      auto offset = input_offset(child->pid(), input);
      input_was_open = input_was_open || offset.has_value();
      if ((offset && *offset >= input_size) || (input_was_open && !offset)) {
        watch.input_read_at = elapsed;
      }
    }
    if (!watch.checkpoint_at) {
      if (auto size = size_or_zero(db + "-wal"); size > log_size) {
        log_size = size;
        watch.log_grew_at = elapsed;
      }
      if (size_or_zero(db) > db_size_before) watch.checkpoint_at = elapsed;
    }
    bool reached = false;
    switch (point.kind) {
      case KillPoint::kNever:
        break;
      case KillPoint::kAfter:
        reached = elapsed >= point.delay;
        break;
      case KillPoint::kInputRead:
        reached = watch.input_read_at.has_value();
        break;
      case KillPoint::kCommitWindow:
        reached = watch.input_read_at && elapsed - *watch.input_read_at >= point.delay;
        break;
      case KillPoint::kCheckpoint:
        reached = watch.checkpoint_at.has_value();
        break;
    }
    if (reached) {
      child->kill(SIGKILL);
      break;
    }
    // Poll finely so that a kill lands close to its point.
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  watch.result = child->wait(std::chrono::minutes(5));
  watch.killed = !watch.result.exited && watch.result.signal == SIGKILL;
  return watch;
}

std::string describe(const std::optional<milliseconds>& at) {
  return at ? std::to_string(at->count()) + " ms" : std::string("-");
}

TEST_SUITE("cli.kill") {
  TEST_CASE("cli.kill: SIGKILL during an import leaves the registry as before or as after it") {
    REQUIRE_MESSAGE(fs::exists(kGenerator), kGenerator.string());
    const std::string python = find_executable("python3");
    REQUIRE_MESSAGE(!python.empty(), "python3 is not in PATH");
    TempDir dir;
    const std::string big = dir.file("big.csv");
    const std::string small = dir.file("small.csv");
    const auto setup_started = Clock::now();
    generate(python, kBigRows, 7, big);
    generate(python, kSmallRows, 11, small);
    MESSAGE("generated ", kBigRows, " rows in ",
            std::chrono::duration_cast<milliseconds>(Clock::now() - setup_started).count(), " ms");

    // The reference: the small file, then the big one, each imported without interruption.
    // Watching the big import tells when the commit happens relative to the end of reading.
    const std::string reference_db = dir.file("reference.db");
    auto reference_small = run_process(kIotreg, {"--db", reference_db, "import", small});
    REQUIRE_MESSAGE(reference_small.exit_status == 0, reference_small.err);
    auto reference = import_and_kill(reference_db, big, {"never", KillPoint::kNever});
    REQUIRE_MESSAGE(reference.result.exit_status == 0, reference.result.err);
    CHECK(reference.result.out.rfind(big +
                                         ": 200000 records, 200000 accepted (199500 new products, "
                                         "500 new versions, 0 unchanged), 0 rejected\n",
                                     0) == 0);
    MESSAGE("uninterrupted import of ", kBigRows, " rows: ", reference.result.elapsed.count(),
            " ms; input read at ", describe(reference.input_read_at), ", log last grew at ",
            describe(reference.log_grew_at), ", database file growing at ",
            describe(reference.checkpoint_at));
    const RegistryState full = state_of(reference_db);
    CHECK(full.products == kBigRows);
    CHECK(full.versions == kBigRows + kSmallRows);
    CHECK(full.runs == 2);

    // The registry under test holds the small file before every killed import.
    const std::string db = dir.file("registry.db");
    auto first = run_process(kIotreg, {"--db", db, "import", small});
    REQUIRE_MESSAGE(first.exit_status == 0, first.err);
    const RegistryState before = state_of(db);
    CHECK(before.products == kSmallRows);
    CHECK(before.versions == kSmallRows);
    CHECK(before.runs == 1);
    REQUIRE_FALSE(before == full);

    // After the input has been read, the last records are stored and the transaction commits:
    // the log stops growing when the commit is written, then the checkpoint syncs the log and
    // copies it into the database file. The commit is too short to be hit for sure; 90% of the
    // way from the end of reading to the log's last growth lands close to it.
    milliseconds commit_offset(0);
    if (reference.input_read_at && reference.log_grew_at &&
        *reference.log_grew_at > *reference.input_read_at) {
      commit_offset = (*reference.log_grew_at - *reference.input_read_at) * 9 / 10;
    }
    const std::vector<KillPoint> points = {
        {"after 50 ms", KillPoint::kAfter, milliseconds(50)},
        {"after 300 ms", KillPoint::kAfter, milliseconds(300)},
        {"after 1 s", KillPoint::kAfter, milliseconds(1000)},
        {"after 2 s", KillPoint::kAfter, milliseconds(2000)},
        {"when the input has been read", KillPoint::kInputRead},
        {"in the commit, " + std::to_string(commit_offset.count()) + " ms after the input",
         KillPoint::kCommitWindow, commit_offset},
        {"when the checkpoint starts, just after the commit", KillPoint::kCheckpoint},
    };
    bool completed = false;  // an import has committed: later ones find nothing new
    for (const auto& point : points) {
      CAPTURE(point.name);
      auto watch = import_and_kill(db, big, point);
      INFO("child: ", watch.result.describe(), ", stderr: ", watch.result.err);
      CHECK_MESSAGE((watch.killed || watch.result.exit_status == 0),
                    "the import either died of SIGKILL or finished cleanly");
      const RegistryState state = state_of(db);
      check_consistent(db);
      CHECK_MESSAGE((state == before || state == full),
                    "the registry is neither as before the import nor as after it: ", state);
      // The last big row is found exactly when the import is complete; a small-file row always.
      CHECK(found_by_search(db, "M-00199999") == (state == full ? 1u : 0u));
      CHECK(found_by_search(db, "M-00000499") == 1u);
      const std::string outcome = state == full     ? "complete"
                                  : state == before ? "as before"
                                                    : "INCONSISTENT";
      MESSAGE("kill ", point.name, ": ", watch.result.describe(), " at ",
              watch.result.elapsed.count(), " ms (input read at ", describe(watch.input_read_at),
              ", log last grew at ", describe(watch.log_grew_at), ", database growing at ",
              describe(watch.checkpoint_at), "): registry ", outcome,
              std::string(completed ? " (already complete before)" : ""));
      if (point.kind == KillPoint::kCheckpoint && watch.checkpoint_at) {
        CHECK_MESSAGE(state == full, "the database file grew, so the commit was complete");
      }
      completed = completed || state == full;
    }

    // Run to completion: the registry equals the uninterrupted reference.
    auto last = run_process(kIotreg, {"--db", db, "import", big}, {}, std::chrono::minutes(5));
    INFO("stdout: ", last.out, "stderr: ", last.err);
    CHECK(last.exit_status == 0);
    const RegistryState after = state_of(db);
    check_consistent(db);
    CHECK(found_by_search(db, "M-00199999") == 1u);
    CHECK(after == full);
    if (completed) {
      CHECK(last.out == big +
                            ": 200000 records, 200000 accepted (0 new products, 0 new "
                            "versions, 200000 unchanged), 0 rejected\n");
    }
  }
}

}  // namespace
}  // namespace iotreg::test
