// One running check worker (`iotreg __check-worker`), private to registry/checks: the process,
// started with its protocol socket on descriptor 3, standard output on /dev/null, standard error
// on a pipe read here, no other descriptor, a limited address space, in a process group of its
// own and killed when the thread that started it ends; and the host's end of that socket. The
// worker enters its sandbox (detail/sandbox.h) before it loads a plugin. Every exchange has a
// deadline, enforced with poll(), which also watches the process (a pidfd), so that its end is
// noticed at once even when something else holds its socket. Any fault (a crash, the deadline,
// an oversized or malformed reply) kills (SIGKILL) its whole process group, reaps it and is
// returned as text that completes "the plugin X ...", e.g. "crashed with SIGSEGV" or "timed out
// after 2 s". Destroying a WorkerProcess kills and reaps it too. What the worker writes on
// standard error is kept (at most kMaxWorkerStderrBytes, control bytes escaped) and written to
// the registry's standard error as one line naming the plugin files, when the worker ends.
// Not thread-safe: one exchange at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"

namespace iotreg::checks::detail {

// The exit status of a worker that refused to load a plugin file it was started with (its
// SHA-256 changed after the host verified it, or it no longer loads).
inline constexpr int kWorkerPluginRefused = 87;
// The exit status of a worker that could not enter its sandbox (and so loaded nothing).
inline constexpr int kWorkerSandboxFailed = 88;
// The environment variable that tells a worker whether to enter its sandbox ("on" or "off").
inline constexpr const char* kWorkerSandboxVariable = "IOTREG_CHECK_WORKER_SANDBOX";
// How much of a worker's standard error is kept.
inline constexpr std::size_t kMaxWorkerStderrBytes = 4096;

class WorkerProcess {
 public:
  // Starts `program __check-worker 3 PLUGIN...`, each PLUGIN written "<sha256>:<path>", with the
  // sandbox unless `sandbox` is false. The first start in a process says on standard error
  // which sandbox mechanisms the kernel lacks, if any.
  struct PluginFile {
    std::string path;
    std::string sha256;
  };
  static Result<std::unique_ptr<WorkerProcess>> start(const std::string& program,
                                                      const std::vector<PluginFile>& plugins,
                                                      std::uint64_t memory_limit,
                                                      bool sandbox = true);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // Sends `parts` one after the other, starting a deadline that also covers the receive() that
  // follows. Empty on success; else the fault, and the process has been killed and reaped.
  std::string send(const std::vector<std::string_view>& parts, std::chrono::milliseconds deadline);
  // Reads one reply frame's payload, of at most `max_reply` bytes, into `reply` before the
  // deadline send() started. Empty on success; else the fault, as for send().
  std::string receive(std::string& reply, std::size_t max_reply);
  // Kills and reaps the worker and every process of its group; returns `fault`.
  std::string stop(std::string fault);
  // What the worker wrote on standard error so far, printable, and forgets it.
  std::string take_stderr();

 private:
  WorkerProcess() = default;
  int wait_for(short events);
  std::string timed_out();
  std::string ended();
  void reap(int& status);
  void read_stderr();
  void report_stderr();

  pid_t pid_ = -1;
  int fd_ = -1;
  int pidfd_ = -1;   // -1 where the kernel has no pidfd_open
  int stderr_ = -1;  // the read end of the worker's standard error
  std::string stderr_text_;
  std::size_t stderr_dropped_ = 0;
  std::string plugin_names_;  // the plugin files' names, for the standard error report
  std::uint64_t memory_limit_ = 0;
  std::string input_;
  std::chrono::milliseconds deadline_{0};
  std::chrono::steady_clock::time_point give_up_;
};

}  // namespace iotreg::checks::detail
