// The host's side of out-of-process checks, private to registry/checks. An Isolator runs the
// checks of every untrusted plugin of an Evaluator: batches go to worker processes that load
// all of them (or, with Isolation::separate_workers, to workers of each plugin's own), which
// stream findings back as they go. When a worker crashes or a check overruns its deadline, the
// fault is charged to the plugin whose check was running on the declaration in progress, the
// other plugins judge that declaration alone, and the rest of the batch goes to a new worker.
// When the worker cannot say where it was (a malformed reply), the batch is bisected down to
// single declarations, and each such declaration is judged again by one worker per plugin so
// that the fault is charged to the plugin that caused it.
// Workers are started on first use, killed and reaped on a fault and when the Isolator is
// destroyed. judge() may be called from several threads; one batch runs at a time.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "registry/checks/checks.h"
#include "registry/checks/detail/loaded_check.h"
#include "registry/checks/detail/worker_process.h"
#include "registry/checks/detail/worker_protocol.h"

namespace iotreg::checks::detail {

class WorkerChecks;

// How a worker judged a batch.
struct WorkerAnswer {
  std::string fault;         // empty: every declaration sent got its findings
  std::size_t answered = 0;  // how many of those sent (the first ones) got their findings
  // On a fault, where the worker's progress page says it was: the declaration (a position
  // among those sent) and the check (a position among the worker's checks).
  std::optional<std::pair<std::size_t, std::size_t>> in_progress;
};

// Loads `files` in a worker process and returns, per file in order, its descriptor's texts (to
// be validated by the caller, since the worker is not trusted) or why it was refused, naming the
// file. When the worker faults, each file is loaded again by a worker of its own, so that the
// fault ("crashed with SIGSEGV", "timed out after 2 s", ...) is charged to the file that caused
// it. Fails as a whole only when no worker process can be started. Never loads anything into
// this process.
Result<std::vector<Result<DescriptorTexts>>> describe_in_worker(
    const std::vector<WorkerProcess::PluginFile>& files, const Isolation& isolation);

// One untrusted plugin: its file and its active checks (indexes in the Evaluator's check list,
// with their setup views, which must outlive the Isolator).
struct IsolatedPluginSpec {
  std::string id;
  WorkerProcess::PluginFile file;
  std::vector<std::size_t> checks;
  std::vector<protocol::SetupCheck> setup;
};

class Isolator {
 public:
  Isolator(std::vector<IsolatedPluginSpec> plugins, std::string as_of, std::string policy_id,
           const Isolation& isolation);
  ~Isolator();
  Isolator(const Isolator&) = delete;
  Isolator& operator=(const Isolator&) = delete;

  // Starts a new run: plugins disabled for faulting are enabled again, with no faults counted.
  void begin_run();

  // Judges the declarations `items` (each encoded as a protocol batch item, with fields named
  // by their place in `path_table`, by encode(i, items[i]) just before it is first sent) and
  // sets, in verdicts[i], the findings of every isolated check. Faults never escape: the
  // declarations that cause them get `error` findings naming the plugin and the fault; a plugin
  // that faults on more than Isolation::max_faulty_declarations declarations is disabled.
  void judge(const std::string& path_table,
             const std::function<void(std::size_t, std::string&)>& encode,
             std::vector<std::string>& items, const std::vector<Verdict*>& verdicts);

  // What the workers wrote on standard error since the last call, by plugin files.
  std::vector<PluginOutput> take_output();

 private:
  struct Plugin;
  struct Group;  // plugins judged by the same worker processes
  void rebuild(Group& group);
  void judge_group(Group& group, const std::vector<std::vector<std::size_t>>& chunks,
                   const std::function<void(std::size_t)>& encode_once,
                   std::vector<std::string>& items, const std::vector<Verdict*>& verdicts);
  // Finishes `which` with `shared` after `answer`, its answer to them, brought a fault.
  void recover(Group& group, WorkerChecks& shared, const std::vector<std::string>& items,
               const std::vector<Verdict*>& verdicts, std::vector<std::size_t> which,
               WorkerAnswer answer);
  // Judges `which`, all of which faulted together, in halves down to single declarations.
  void bisect(Group& group, WorkerChecks& shared, const std::vector<std::string>& items,
              const std::vector<Verdict*>& verdicts, const std::vector<std::size_t>& which);
  // Charges `fault` on `item` to the plugin of check `check` (an Evaluator index); the group's
  // other plugins judge the declaration alone.
  void charge(Group& group, const std::vector<std::string>& items,
              const std::vector<Verdict*>& verdicts, std::size_t item, std::size_t check,
              const std::string& fault);
  // Finds the plugins at fault on `item`, which faulted alone, by judging it with each.
  void attribute(Group& group, const std::vector<std::string>& items,
                 const std::vector<Verdict*>& verdicts, std::size_t item);
  // Sets the plugin's findings of `verdict` to the fault, and disables a plugin that faulted
  // too often.
  void fault_on(Group& group, Plugin& plugin, Verdict& verdict, const std::string& fault);
  static void set_error(const Plugin& plugin, Verdict& verdict, const std::string& message);
  // A worker's standard error sink: keep_output().
  WorkerProcess::StderrSink output_sink();
  // Logs a worker's standard error and keeps it for take_output(); mutex_ is held.
  void keep_output(const std::string& plugin_files, const std::string& text);

  std::string as_of_;
  std::string policy_id_;
  Isolation isolation_;
  std::mutex mutex_;
  // Before the workers, which tell it their standard error when they are destroyed.
  std::vector<PluginOutput> output_;  // since take_output()
  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::vector<std::unique_ptr<Group>> groups_;  // one, or one per plugin
  const std::string* path_table_ = nullptr;     // of the current judge() call
};

}  // namespace iotreg::checks::detail
