// One running check worker (`iotreg __check-worker`), private to registry/checks: the process,
// started with its protocol socket on descriptor 3, standard output on /dev/null and a limited
// address space, and the host's end of that socket. Every exchange has a deadline, enforced with
// poll(). Any fault (a crash, the deadline, an oversized or malformed reply) kills (SIGKILL) and
// reaps the process and is returned as text that completes "the plugin X ...", e.g. "crashed
// with SIGSEGV" or "timed out after 2 s". Destroying a WorkerProcess kills and reaps it too.
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

class WorkerProcess {
 public:
  // Starts `program __check-worker 3 PLUGIN...`, each PLUGIN written "<sha256>:<path>".
  struct PluginFile {
    std::string path;
    std::string sha256;
  };
  static Result<std::unique_ptr<WorkerProcess>> start(const std::string& program,
                                                      const std::vector<PluginFile>& plugins,
                                                      std::uint64_t memory_limit);
  ~WorkerProcess();
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // Sends `parts` one after the other, starting a deadline that also covers the receive() that
  // follows. Empty on success; else the fault, and the process has been killed and reaped.
  std::string send(const std::vector<std::string_view>& parts, std::chrono::milliseconds deadline);
  // Reads one reply frame's payload, of at most `max_reply` bytes, into `reply` before the
  // deadline send() started. Empty on success; else the fault, as for send().
  std::string receive(std::string& reply, std::size_t max_reply);
  // Kills and reaps the worker; returns `fault`.
  std::string stop(std::string fault);

 private:
  WorkerProcess() = default;
  int wait_for(short events);
  std::string timed_out();
  std::string ended();

  pid_t pid_ = -1;
  int fd_ = -1;
  std::uint64_t memory_limit_ = 0;
  std::string input_;
  std::chrono::milliseconds deadline_{0};
  std::chrono::steady_clock::time_point give_up_;
};

}  // namespace iotreg::checks::detail
