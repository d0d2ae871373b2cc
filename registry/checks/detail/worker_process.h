// One running check worker (`iotreg __check-worker`), private to registry/checks: the process,
// started with its protocol socket on descriptor 3, standard output on /dev/null, standard error
// on a pipe read here, no other descriptor, a limited address space, in a process group of its
// own and killed when the thread that started it ends; and the host's end of that socket, and of
// the worker's progress page (protocol::WorkerProgress, on descriptor 4 until the worker maps
// it). The worker enters its sandbox (detail/sandbox.h) before it loads a plugin. Every
// exchange has a deadline, enforced with poll(), which also watches the process (a pidfd), so
// that its end is noticed at once even when something else holds its socket. While a batch is
// judged (watch_checks()), each check the progress page says is running has a deadline of its
// own, counted from when it began. Any fault (a crash, the deadline,
// an oversized or malformed reply) kills (SIGKILL) its whole process group, reaps it and is
// returned as text that completes "the plugin X ...", e.g. "crashed with SIGSEGV" or "timed out
// after 2 s". Destroying a WorkerProcess kills and reaps it too. What the worker writes on
// standard error is kept (at most kMaxWorkerStderrBytes, control bytes escaped) and told to its
// sink (set_stderr_sink()) naming the plugin files, when the worker ends or report_stderr() asks.
// Not thread-safe: one exchange at a time.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "registry/checks/detail/worker_protocol.h"
#include "registry/core/status.h"
#include "registry/core/unique_fd.h"

namespace iotreg::checks::detail {

// Where a worker finds its progress page (a memfd of sizeof(protocol::WorkerProgress) bytes).
inline constexpr int kWorkerProgressDescriptor = 4;
// The exit status of a worker that refused to load a plugin file it was started with (its
// SHA-256 changed after the host verified it, or it no longer loads).
inline constexpr int kWorkerPluginRefused = 87;
// The exit status of a worker that could not enter its sandbox (and so loaded nothing).
inline constexpr int kWorkerSandboxFailed = 88;
// The environment variable that tells a worker whether to enter its sandbox ("on" or "off").
inline constexpr const char* kWorkerSandboxVariable = "IOTREG_CHECK_WORKER_SANDBOX";
// How much of a worker's standard error is kept.
inline constexpr std::size_t kMaxWorkerStderrBytes = 4096;

// Writes one line on the registry's standard error: "iotreg: the check worker of FILES wrote on
// standard error: TEXT".
void log_worker_stderr(const std::string& plugin_files, const std::string& text);

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
  // Until the next send(): once the progress page says batch `batch` is being judged, the
  // deadline is instead `per_check` after the running check began, and never later than
  // `latest`.
  void watch_checks(std::uint64_t batch, std::chrono::milliseconds per_check,
                    std::chrono::steady_clock::time_point latest);
  // What the progress page says: the declaration (in the batch) and check being judged, if it
  // is judging batch `batch`.
  struct Running {
    std::uint32_t declaration = 0;
    std::uint32_t check = 0;
  };
  bool running(std::uint64_t batch, Running& out) const;
  // Reads the next reply frame's payload, of at most `max_reply` bytes, into `reply` before the
  // deadline send() started (or watch_checks() set). Empty on success; else the fault, as for
  // send(). Bytes after the last reply a send() asked for are a fault at the next send().
  std::string receive(std::string& reply, std::size_t max_reply);
  // Kills and reaps the worker and every process of its group; returns `fault`.
  std::string stop(std::string fault);
  // Whether the last fault was the worker's end or a deadline, so that the progress page says
  // which check caused it; not a malformed reply, nor a SIGKILL from elsewhere.
  bool faulted_in_check() const { return faulted_in_check_; }
  // Where what the worker writes on standard error goes, as one printable text at a time (at
  // most kMaxWorkerStderrBytes of it) with the worker's plugin file names; by default, a line
  // on the registry's standard error. It is told when the worker ends and at report_stderr().
  using StderrSink = std::function<void(const std::string& plugin_files, const std::string& text)>;
  void set_stderr_sink(StderrSink sink) { stderr_sink_ = std::move(sink); }
  // Tells the sink what the worker wrote on standard error since it was last told, if anything.
  void report_stderr();

 private:
  WorkerProcess() = default;
  int wait_for(short events);
  std::chrono::steady_clock::time_point deadline_now();
  std::string timed_out();
  std::string ended();
  void reap(int& status);
  void read_stderr();
  std::string take_stderr();

  pid_t pid_ = -1;
  UniqueFd fd_;
  UniqueFd pidfd_;   // none where the kernel has no pidfd_open
  UniqueFd stderr_;  // the read end of the worker's standard error
  std::string stderr_text_;
  std::size_t stderr_dropped_ = 0;
  std::string plugin_names_;  // the plugin files' names, for the standard error report
  StderrSink stderr_sink_;
  std::uint64_t memory_limit_ = 0;
  std::string input_;  // received, not yet returned by receive()
  bool faulted_in_check_ = false;
  std::chrono::milliseconds deadline_{0};  // the one that applies at give_up_
  std::chrono::steady_clock::time_point give_up_;
  protocol::WorkerProgress* progress_ = nullptr;  // the shared page, mapped here
  std::uint64_t watched_batch_ = 0;               // 0: no check deadlines
  std::chrono::milliseconds per_check_{0};
  std::chrono::milliseconds send_deadline_{0};
  std::chrono::steady_clock::time_point latest_;
  std::chrono::milliseconds latest_after_{0};  // latest_, counted from the batch's send()
};

}  // namespace iotreg::checks::detail
