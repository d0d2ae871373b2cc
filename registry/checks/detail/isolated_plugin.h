// The host's side of an out-of-process plugin, private to registry/checks. An IsolatedPlugin
// owns at most one worker process at a time (started on first use, killed and reaped on a fault
// and when the IsolatedPlugin is destroyed) and serialises batches through it: judge() may be
// called from several threads, one batch runs at a time.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "registry/checks/checks.h"

namespace iotreg::checks::detail {

class WorkerProcess;

class IsolatedPlugin {
 public:
  // `checks` are the indexes, in the Evaluator's check list, of this plugin's active checks,
  // in the order of `setup_payload` (a protocol setup message naming them).
  IsolatedPlugin(std::string plugin_id, std::string path, std::vector<std::size_t> checks,
                 std::string setup_payload, const Isolation& isolation);
  ~IsolatedPlugin();
  IsolatedPlugin(const IsolatedPlugin&) = delete;
  IsolatedPlugin& operator=(const IsolatedPlugin&) = delete;

  // Judges the declarations `items` (each encoded as a protocol batch item) with every plugin
  // of `plugins`, their workers working in parallel, and sets in verdicts[i] the findings of
  // their checks. Faults never escape: the declarations that cause them get `error` findings
  // naming the fault. Locks every plugin, in the order given, for the whole call.
  static void judge_all(const std::vector<std::unique_ptr<IsolatedPlugin>>& plugins,
                        const std::vector<std::string>& items,
                        const std::vector<Verdict*>& verdicts);

  // Why the plugin was disabled; empty while it is enabled.
  std::string disabled_because() const;

 private:
  // Judges `which` alone, bisecting on a fault.
  void judge_range(const std::vector<std::string>& items, const std::vector<Verdict*>& verdicts,
                   std::vector<std::size_t> which);
  // After `fault` on `which`: bisects, or records the fault of a single declaration (and
  // disables the plugin past the limit).
  void recover(const std::vector<std::string>& items, const std::vector<Verdict*>& verdicts,
               std::vector<std::size_t> which, const std::string& fault);
  // Sends `which` to the worker (started if need be); empty on success, else the fault.
  std::string send(const std::vector<std::string>& items, const std::vector<std::size_t>& which);
  // Reads the findings of the `count` declarations sent; empty on success, else the fault.
  std::string receive(std::size_t count, std::vector<Finding>& findings);
  void store(const std::vector<std::size_t>& which, std::vector<Finding>& findings,
             const std::vector<Verdict*>& verdicts);
  void set_error(Verdict& verdict, const std::string& message);

  std::string plugin_id_;
  std::string path_;
  std::vector<std::size_t> checks_;
  std::string setup_payload_;
  Isolation isolation_;
  mutable std::mutex mutex_;
  std::unique_ptr<WorkerProcess> worker_;
  std::size_t faulty_declarations_ = 0;
  std::string disabled_;
  std::string request_, frame_, reply_;
  std::vector<const std::string*> batch_;
};

}  // namespace iotreg::checks::detail
