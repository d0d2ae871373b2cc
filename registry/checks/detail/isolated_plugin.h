// The host's side of out-of-process checks, private to registry/checks. An Isolator runs the
// checks of every untrusted plugin of an Evaluator: batches go to worker processes that load
// all of them (or, with Isolation::separate_workers, to workers of each plugin's own); when a
// batch faults it is bisected down to single declarations, and each such declaration is judged
// again by one worker per plugin so that the fault is charged to the plugin that caused it.
// Workers are started on first use, killed and reaped on a fault and when the Isolator is
// destroyed. judge() may be called from several threads; one batch runs at a time.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "registry/checks/checks.h"
#include "registry/checks/detail/loaded_check.h"
#include "registry/checks/detail/worker_process.h"
#include "registry/checks/detail/worker_protocol.h"

namespace iotreg::checks::detail {

class WorkerChecks;

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

 private:
  struct Plugin;
  struct Group;  // plugins judged by the same worker processes
  void rebuild(Group& group);
  void judge_group(Group& group, const std::vector<std::vector<std::size_t>>& chunks,
                   const std::function<void(std::size_t)>& encode_once,
                   std::vector<std::string>& items, const std::vector<Verdict*>& verdicts);
  void judge_range(Group& group, WorkerChecks& shared, const std::vector<std::string>& items,
                   const std::vector<Verdict*>& verdicts, const std::vector<std::size_t>& which);
  void attribute(Group& group, const std::vector<std::string>& items,
                 const std::vector<Verdict*>& verdicts, std::size_t item);
  static void set_error(const Plugin& plugin, Verdict& verdict, const std::string& message);

  std::string as_of_;
  std::string policy_id_;
  Isolation isolation_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Plugin>> plugins_;
  std::vector<std::unique_ptr<Group>> groups_;  // one, or one per plugin
  const std::string* path_table_ = nullptr;     // of the current judge() call
};

}  // namespace iotreg::checks::detail
