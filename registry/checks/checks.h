// Check plugins and the verdicts they produce (DESIGN.md §3).
//
// A PluginSet loads the check plugins of one directory through the C ABI of
// plugins/sdk/include/iotreg/plugin.h; the libraries stay loaded until the process ends. An
// Evaluator binds a PluginSet to a policy and an evaluation date and judges declarations; it
// is immutable and evaluate() may be called from several threads at once. Findings have a
// compact stored form (encode_findings) that refers to checks by their index in the
// Evaluator's check list, whose provenance is stored once per evaluation.
//
// Checks of plugins the policy does not trust run out of process, in worker processes
// (`iotreg __check-worker`) that are killed and restarted when they crash, hang, exhaust their
// memory or answer garbage; the declarations that make a plugin fault are found by bisecting
// the batch and get `error` findings naming the plugin and the fault.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"
#include "registry/model/declaration.h"
#include "registry/policy/policy.h"

namespace iotreg::checks {

enum class Outcome : std::uint8_t { kPass, kFail, kWarn, kNotApplicable, kError };
std::string_view outcome_name(Outcome outcome);

enum class ProductStatus { kPending, kExcepted, kNonCompliant, kCheckError, kCompliant };
std::string_view status_name(ProductStatus status);

struct CheckDescription {
  std::string id;
  std::string title;
  std::string requirement;  // the check's own citation
  std::string version;
};

struct PluginDescription {
  std::string path;  // absolute
  std::string sha256;
  std::string id;
  std::string version;
  std::string description;
  std::vector<CheckDescription> checks;
  // Loaded into this process. False for an untrusted plugin: only worker processes load it, and
  // its checks can run nowhere else.
  bool in_process = true;
};

struct Isolation;

class PluginSet {
 public:
  // Loads every file named *.so in `directory`, in name order, into this process: for plugins
  // the caller trusts. Refuses the whole set, naming the file and, where it applies, the symbol
  // and the expected and found values, when a file or the directory is writable by others, a
  // file is a link leading out of the directory, is not a shared library or lacks the entry
  // symbol, a descriptor has another ABI version or is malformed, or a plugin or check id is
  // declared twice. Every problem found is listed, one per line.
  static Result<std::shared_ptr<const PluginSet>> load_directory(const std::string& directory);
  // Loads `directory` as `policy` and `isolation` trust it: nothing of an untrusted plugin runs
  // in this process. A plugin is trusted when the policy's `plugins` section says so, else when
  // `isolation.trusted_by_default`. Every file is hashed first. A file that is trusted whatever
  // its descriptor says (its hash is one the policy pins only trusted plugins to, or the
  // directory is trusted by default and the policy distrusts no plugin and pins none to a hash
  // no file has) is loaded here, before any other. Any other file is loaded by a worker process
  // (`isolation.worker_program`, under the batch deadline and memory limit), which sends its
  // descriptor back to be validated here; then the policy's SHA-256 pin for its id is checked,
  // and it is loaded here only if the policy trusts that id (and it must declare the same here).
  // Besides the refusals above, a file is refused when it does not match its pin (both hashes
  // are named), when it faults while a worker loads it ("crashed with SIGSEGV", "timed out after
  // 2 s", ...), when its hash has changed by the time it is loaded, and, with no worker program
  // or when no worker can be started, when it would need a worker.
  static Result<std::shared_ptr<const PluginSet>> load_directory(const std::string& directory,
                                                                 const policy::Policy& policy,
                                                                 const Isolation& isolation);

  const std::string& directory() const { return directory_; }
  const std::vector<PluginDescription>& plugins() const { return plugins_; }
  // SHA-256 over every plugin's id, version and file hash: changes when the set changes.
  const std::string& fingerprint() const { return fingerprint_; }

  struct LoadedCheck;  // a check and the plugin function that runs it
  const std::vector<LoadedCheck>& loaded_checks() const { return checks_; }

  ~PluginSet();
  PluginSet(const PluginSet&) = delete;
  PluginSet& operator=(const PluginSet&) = delete;

 private:
  PluginSet() = default;
  static Result<std::shared_ptr<const PluginSet>> load(const std::string& directory,
                                                       const policy::Policy* policy,
                                                       const Isolation* isolation);
  std::string directory_;
  std::vector<PluginDescription> plugins_;
  std::vector<LoadedCheck> checks_;
  std::string fingerprint_;
};

// A check as the active policy runs it, with everything a stored finding's provenance needs.
struct ActiveCheck {
  std::string id;
  std::string title;
  std::string requirement;  // the policy's citation, else the check's own
  std::string version;
  policy::Level level = policy::Level::kAdvisory;
  std::string plugin_id;
  std::string plugin_version;
  std::string plugin_sha256;
  bool isolated = false;  // runs in a worker process
};

// Where checks run. With no worker program, the checks of plugins loaded in this process run
// here whatever their trust, and plugins not loaded here cannot be run.
struct Isolation {
  // The iotreg executable, started as `PROGRAM __check-worker FD SHA256:PLUGIN...`; empty: every
  // check runs in process.
  std::string worker_program;
  // Trust of a plugin the policy's `plugins` section does not mention.
  bool trusted_by_default = false;
  // A worker must load its plugins (to read their descriptors, or before its first batch) and
  // begin judging each batch within this.
  std::chrono::milliseconds load_deadline{5000};
  // Each check of an untrusted plugin must judge each declaration within this (a policy's
  // `deadline_ms` sets it); a batch may take at most load_deadline and this for every check
  // on every declaration.
  std::chrono::milliseconds check_deadline{1000};
  std::uint64_t memory_limit_bytes = std::uint64_t{1} << 30;  // the worker's address space
  std::size_t declarations_per_batch = 256;
  // Worker processes that each load every untrusted plugin and take batches in turn.
  std::size_t worker_processes = 2;
  // Gives each untrusted plugin worker processes of its own (worker_processes each), so that
  // no untrusted plugin shares memory with another; slower, since every declaration is sent to
  // and decoded by each plugin's workers. A policy's `separate_workers: true` sets it.
  bool separate_workers = false;
  // A plugin that faults on more declarations than this is disabled for the rest of the run.
  std::size_t max_faulty_declarations = 8;
  // Workers enter their sandbox (README, "Isolation and trust") before loading any plugin.
  // Turned off only where plugins must leave traces outside it, as some tests' plugins do.
  bool sandbox = true;
};

// What the worker processes of some untrusted plugins wrote on their standard error: printable
// (control bytes escaped), at most 4 KiB of a worker at a time and 16 KiB of the same plugin
// files until taken.
struct PluginOutput {
  std::string plugin_files;  // the names of the plugin files the workers loaded
  std::string text;
};

// The sandbox check workers get on this kernel: "seccomp yes, landlock yes (ABI 7)", or "no
// (the kernel lacks it)" for a mechanism that is missing.
std::string worker_sandbox_summary();

// The exit status of a worker whose allocation the memory limit refused.
inline constexpr int kWorkerOutOfMemory = 86;
// The body of `iotreg __check-worker FD SHA256:PLUGIN...` (argv holds FD and the plugin files);
// returns the process's exit status.
int run_check_worker(int argc, char** argv);

struct Finding {
  std::uint32_t check = 0;  // index into Evaluator::checks()
  Outcome outcome = Outcome::kPass;
  std::string message;
  std::string field;
};

struct Verdict {
  ProductStatus status = ProductStatus::kPending;
  std::vector<Finding> findings;  // one per active check, in Evaluator::checks() order
};

// A declaration to judge and the earlier versions of its product, oldest first.
struct Subject {
  const model::Declaration* declaration = nullptr;
  std::span<const model::Declaration> earlier;
};

class Evaluator {
 public:
  // Checks the policy names are matched to loaded checks; a check the policy does not name runs
  // as advisory. Fails when the policy names a check or plugin no plugin provides, or when a
  // plugin's file does not have the SHA-256 the policy pins it to (both hashes are named).
  // Checks of untrusted plugins run in workers when `isolation` names a worker program.
  static Result<std::unique_ptr<Evaluator>> create(std::shared_ptr<const PluginSet> plugins,
                                                   policy::Policy policy, std::string as_of,
                                                   Isolation isolation = {});
  ~Evaluator();

  const std::vector<ActiveCheck>& checks() const { return checks_; }
  const policy::Policy& policy() const { return policy_; }
  const std::string& as_of() const { return as_of_; }
  const PluginSet& plugins() const { return *plugins_; }
  // Equal keys give equal verdicts: a hash of the policy, the plugin set and the as-of date.
  const std::string& key() const { return key_; }
  // The same evaluation (plugins, policy, isolation) as of another date: what a server judges
  // with once its date has moved on. Runs in its own workers; this one is left as it is.
  Result<std::unique_ptr<Evaluator>> at_date(std::string as_of) const;
  // The evaluation's provenance as a JSON object: policy id and hash, as-of, plugin set and
  // every active check with its plugin, version, file hash, level and requirement.
  std::string provenance_json() const;

  // Judges `declaration`, given the product's earlier versions (oldest first). Thread-safe.
  void evaluate(const model::Declaration& declaration, std::span<const model::Declaration> earlier,
                Verdict& out) const;
  // Judges every subject; out[i] is the verdict of subjects[i]. Out-of-process checks see the
  // subjects in batches. Thread-safe; workers serve one batch at a time.
  void evaluate_batch(std::span<const Subject> subjects, std::vector<Verdict>& out) const;
  // True when some check runs in a worker process.
  bool has_isolated_checks() const;
  // How many declarations this Evaluator has judged (each subject of evaluate_batch and each
  // call of evaluate counts once), since it was created.
  std::uint64_t declarations_judged() const;
  // Starts a new run of judging (an import or a re-check): a plugin disabled for faulting on
  // more than Isolation::max_faulty_declarations declarations is enabled again and its faults
  // are no longer counted. A process that judges one run need not call it; a server that keeps
  // its Evaluator calls it for each import and re-check. Runs that overlap share the count.
  void begin_run() const;
  // What untrusted plugins' workers wrote on standard error since the last call (it is also
  // logged on the registry's standard error as it is read). Thread-safe; runs that overlap
  // share it.
  std::vector<PluginOutput> take_plugin_output() const;

 private:
  struct Compiled;
  void evaluate_in_process(const model::Declaration& declaration,
                           std::span<const model::Declaration> earlier, Verdict& out,
                           bool& excepted) const;
  void roll_up(Verdict& verdict, bool excepted) const;
  Evaluator() = default;
  std::shared_ptr<const PluginSet> plugins_;
  policy::Policy policy_;
  std::string as_of_;
  Isolation isolation_;
  std::string key_;
  std::vector<ActiveCheck> checks_;
  std::unique_ptr<Compiled> compiled_;
};

// The stored form of a verdict's findings: compact, checks referred to by index.
void encode_findings(const std::vector<Finding>& findings, std::string& out);
// kCorruption when `stored` is damaged.
Result<std::vector<Finding>> decode_findings(std::string_view stored);

}  // namespace iotreg::checks
