// Running a plugin's checks in a worker process: spawning it with its protocol socket on
// descriptor 3, standard output on /dev/null and a limited address space; a per-batch deadline
// enforced with poll(); SIGKILL and waitpid on every fault; bisection of a failed batch.
#include "registry/checks/detail/isolated_plugin.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>

#include "registry/checks/detail/loaded_check.h"
#include "registry/checks/detail/worker_protocol.h"

namespace iotreg::checks::detail {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWorkerProtocolDescriptor = 3;
constexpr std::size_t kMaxFrameHeaderBytes = 10;
constexpr std::size_t kPerFindingOverhead = 32;

std::string duration_text(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return std::to_string(duration.count()) + " ms";
}

std::string signal_text(int signal) {
  const char* name = ::sigabbrev_np(signal);
  return name ? std::string("SIG") + name : "signal " + std::to_string(signal);
}

}  // namespace

// One running worker. Destroying it kills (SIGKILL) and reaps the process.
class WorkerProcess {
 public:
  static Result<std::unique_ptr<WorkerProcess>> start(const std::string& program,
                                                      const std::string& plugin_path,
                                                      std::uint64_t memory_limit) {
    int sockets[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
      return Status::io_error(std::string("cannot create a worker socket: ") +
                              std::strerror(errno));
    }
    std::string descriptor = std::to_string(kWorkerProtocolDescriptor);
    std::vector<char*> arguments = {const_cast<char*>(program.c_str()),
                                    const_cast<char*>("__check-worker"), descriptor.data(),
                                    const_cast<char*>(plugin_path.c_str()), nullptr};
    pid_t pid = ::fork();
    if (pid < 0) {
      ::close(sockets[0]);
      ::close(sockets[1]);
      return Status::io_error(std::string("cannot start a check worker: ") + std::strerror(errno));
    }
    if (pid == 0) {
      // The child: async-signal-safe calls only, until exec.
      int protocol = ::fcntl(sockets[1], F_DUPFD, 64);
      int null = ::open("/dev/null", O_RDWR);
      if (protocol < 0 || null < 0) ::_exit(127);
      ::dup2(null, STDIN_FILENO);
      ::dup2(null, STDOUT_FILENO);
      ::dup2(protocol, kWorkerProtocolDescriptor);
      ::close_range(kWorkerProtocolDescriptor + 1, ~0U, 0);
      sigset_t none;
      ::sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::signal(SIGPIPE, SIG_DFL);
      const rlimit address_space{memory_limit, memory_limit};
      ::setrlimit(RLIMIT_AS, &address_space);
      const rlimit no_core{0, 0};
      ::setrlimit(RLIMIT_CORE, &no_core);
      ::execv(program.c_str(), arguments.data());
      ::_exit(127);
    }
    ::close(sockets[1]);
    ::fcntl(sockets[0], F_SETFL, ::fcntl(sockets[0], F_GETFL) | O_NONBLOCK);
    std::unique_ptr<WorkerProcess> worker(new WorkerProcess());
    worker->pid_ = pid;
    worker->fd_ = sockets[0];
    worker->memory_limit_ = memory_limit;
    return worker;
  }

  ~WorkerProcess() {
    if (fd_ >= 0) ::close(fd_);
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
  }
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  // Sends `frame`, starting the batch deadline. Empty on success; else the fault, and the
  // process has been killed and reaped.
  std::string send(const std::string& frame, std::chrono::milliseconds deadline) {
    deadline_ = deadline;
    give_up_ = Clock::now() + deadline;
    std::size_t sent = 0;
    while (sent < frame.size()) {
      int ready = wait_for(POLLOUT);
      if (ready == 0) return timed_out();
      if (ready < 0) return ended();
      ssize_t put = ::send(fd_, frame.data() + sent, frame.size() - sent, MSG_NOSIGNAL);
      if (put < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (put <= 0) return ended();
      sent += static_cast<std::size_t>(put);
    }
    return {};
  }

  // Reads one reply frame's payload into `reply` before the deadline send() started. Empty on
  // success; else the fault, and the process has been killed and reaped.
  std::string receive(std::string& reply, std::size_t max_reply) {
    std::size_t header = 0;
    std::uint64_t size = 0;
    bool have_size = false;
    input_.clear();
    char chunk[1 << 16];
    for (;;) {
      if (!have_size) {
        for (std::size_t i = 0; i < input_.size(); ++i) {
          auto byte = static_cast<unsigned char>(input_[i]);
          if (i >= kMaxFrameHeaderBytes) return stop("wrote garbage instead of a reply");
          size |= static_cast<std::uint64_t>(byte & 0x7F) << (7 * i);
          if (!(byte & 0x80)) {
            header = i + 1;
            have_size = true;
            break;
          }
        }
        if (have_size && size > max_reply) {
          return stop("sent an oversized message (" + std::to_string(size) + " bytes; at most " +
                      std::to_string(max_reply) + " were expected)");
        }
      }
      if (have_size && input_.size() >= header + size) break;
      int ready = wait_for(POLLIN);
      if (ready == 0) return timed_out();
      ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
      if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (got <= 0) return ended();
      input_.append(chunk, static_cast<std::size_t>(got));
    }
    if (input_.size() != header + size) return stop("wrote bytes after its reply");
    reply.assign(input_, header, size);
    return {};
  }

  // Kills and reaps the worker; returns `fault`.
  std::string stop(std::string fault) {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
      }
    }
    pid_ = -1;
    return fault;
  }

 private:
  WorkerProcess() = default;

  // 1 when the socket is ready for `events`, 0 when the deadline passed, -1 when it hung up.
  int wait_for(short events) {
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up_ - Clock::now());
      if (left.count() <= 0) return 0;
      pollfd entry{fd_, events, 0};
      int ready = ::poll(&entry, 1, static_cast<int>(left.count()) + 1);
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) return -1;
      if (ready == 0) continue;
      if (entry.revents & events) return 1;
      return -1;
    }
  }

  std::string timed_out() { return stop("timed out after " + duration_text(deadline_)); }

  // The worker closed its end: how it ended, once reaped (killed if it lingers).
  std::string ended() {
    int status = 0;
    pid_t reaped = 0;
    for (int i = 0; i < 200; ++i) {
      reaped = ::waitpid(pid_, &status, WNOHANG);
      if (reaped != 0) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    if (reaped == 0) return stop("closed its connection in the middle of a batch");
    pid_ = -1;
    if (reaped < 0) return "ended in the middle of a batch";
    if (WIFSIGNALED(status)) {
      int signal = WTERMSIG(status);
      if (signal == SIGKILL) return "was killed with SIGKILL";
      return "crashed with " + signal_text(signal);
    }
    int code = WEXITSTATUS(status);
    if (code == kWorkerOutOfMemory) {
      return "exceeded the memory limit of " + std::to_string(memory_limit_ >> 20) + " MiB";
    }
    return "exited with status " + std::to_string(code) + " in the middle of a batch";
  }

  pid_t pid_ = -1;
  int fd_ = -1;
  std::uint64_t memory_limit_ = 0;
  std::string input_;
  std::chrono::milliseconds deadline_{0};
  Clock::time_point give_up_;
};

IsolatedPlugin::IsolatedPlugin(std::string plugin_id, std::string path,
                               std::vector<std::size_t> checks, std::string setup_payload,
                               const Isolation& isolation)
    : plugin_id_(std::move(plugin_id)),
      path_(std::move(path)),
      checks_(std::move(checks)),
      setup_payload_(std::move(setup_payload)),
      isolation_(isolation) {}

IsolatedPlugin::~IsolatedPlugin() = default;

std::string IsolatedPlugin::disabled_because() const {
  std::lock_guard lock(mutex_);
  return disabled_;
}

void IsolatedPlugin::set_error(Verdict& verdict, const std::string& message) {
  for (std::size_t check : checks_) {
    Finding& finding = verdict.findings[check];
    finding.check = static_cast<std::uint32_t>(check);
    finding.outcome = Outcome::kError;
    finding.message = message;
    finding.field.clear();
  }
}

void IsolatedPlugin::judge_all(const std::vector<std::unique_ptr<IsolatedPlugin>>& plugins,
                               const std::vector<std::string>& items,
                               const std::vector<Verdict*>& verdicts) {
  if (plugins.empty()) return;
  std::vector<std::unique_lock<std::mutex>> locks;
  for (const auto& plugin : plugins) locks.emplace_back(plugin->mutex_);
  const std::size_t per_batch =
      std::max<std::size_t>(1, plugins.front()->isolation_.declarations_per_batch);
  std::vector<std::string> faults(plugins.size());
  std::vector<Finding> findings;
  for (std::size_t begin = 0; begin < items.size(); begin += per_batch) {
    std::vector<std::size_t> which;
    for (std::size_t i = begin; i < std::min(items.size(), begin + per_batch); ++i) {
      which.push_back(i);
    }
    // Every worker gets the batch before any reply is awaited, so that they work in parallel.
    for (std::size_t p = 0; p < plugins.size(); ++p) {
      faults[p] = plugins[p]->disabled_.empty() ? plugins[p]->send(items, which) : std::string();
    }
    for (std::size_t p = 0; p < plugins.size(); ++p) {
      IsolatedPlugin& plugin = *plugins[p];
      if (!plugin.disabled_.empty()) {
        for (std::size_t i : which) plugin.set_error(*verdicts[i], plugin.disabled_);
        continue;
      }
      std::string fault = faults[p].empty() ? plugin.receive(which.size(), findings) : faults[p];
      if (fault.empty()) {
        plugin.store(which, findings, verdicts);
      } else {
        plugin.recover(items, verdicts, which, fault);
      }
    }
  }
}

void IsolatedPlugin::judge_range(const std::vector<std::string>& items,
                                 const std::vector<Verdict*>& verdicts,
                                 std::vector<std::size_t> which) {
  if (!disabled_.empty()) {
    for (std::size_t i : which) set_error(*verdicts[i], disabled_);
    return;
  }
  std::vector<Finding> findings;
  std::string fault = send(items, which);
  if (fault.empty()) fault = receive(which.size(), findings);
  if (fault.empty()) {
    store(which, findings, verdicts);
  } else {
    recover(items, verdicts, std::move(which), fault);
  }
}

void IsolatedPlugin::store(const std::vector<std::size_t>& which, std::vector<Finding>& findings,
                           const std::vector<Verdict*>& verdicts) {
  for (std::size_t j = 0; j < which.size(); ++j) {
    for (std::size_t k = 0; k < checks_.size(); ++k) {
      Finding& finding = verdicts[which[j]]->findings[checks_[k]];
      finding = std::move(findings[j * checks_.size() + k]);
      finding.check = static_cast<std::uint32_t>(checks_[k]);
    }
  }
}

void IsolatedPlugin::recover(const std::vector<std::string>& items,
                             const std::vector<Verdict*>& verdicts, std::vector<std::size_t> which,
                             const std::string& fault) {
  if (which.size() > 1) {
    std::vector<std::size_t> second(which.begin() + static_cast<std::ptrdiff_t>(which.size() / 2),
                                    which.end());
    which.resize(which.size() / 2);
    judge_range(items, verdicts, std::move(which));
    judge_range(items, verdicts, std::move(second));
    return;
  }
  set_error(*verdicts[which.front()],
            "the plugin " + plugin_id_ + " " + fault + " while judging this declaration");
  if (++faulty_declarations_ > isolation_.max_faulty_declarations) {
    disabled_ = "the plugin " + plugin_id_ + " was disabled for the rest of the run after " +
                "faulting on " + std::to_string(faulty_declarations_) +
                " declarations (the last time it " + fault + ")";
    std::cerr << "iotreg: " << disabled_ << "\n";
  }
}

std::string IsolatedPlugin::send(const std::vector<std::string>& items,
                                 const std::vector<std::size_t>& which) {
  frame_.clear();
  if (!worker_) {
    auto started =
        WorkerProcess::start(isolation_.worker_program, path_, isolation_.memory_limit_bytes);
    if (!started.is_ok()) return "could not be started (" + started.status().message() + ")";
    worker_ = std::move(started).value();
    protocol::put_frame_header(frame_, setup_payload_.size());
    frame_ += setup_payload_;
  }
  batch_.clear();
  for (std::size_t i : which) batch_.push_back(&items[i]);
  protocol::encode_batch(batch_, request_);
  protocol::put_frame_header(frame_, request_.size());
  frame_ += request_;
  std::string fault = worker_->send(frame_, isolation_.batch_deadline);
  if (!fault.empty()) worker_.reset();
  return fault;
}

std::string IsolatedPlugin::receive(std::size_t count, std::vector<Finding>& findings) {
  const std::size_t max_reply =
      64 + count * checks_.size() * (kMaxMessageBytes + kMaxFieldBytes + kPerFindingOverhead);
  std::string fault = worker_->receive(reply_, max_reply);
  if (fault.empty()) {
    fault = protocol::decode_results(reply_, count, checks_.size(), findings);
    if (!fault.empty()) worker_->stop({});
  }
  if (!fault.empty()) worker_.reset();
  return fault;
}

}  // namespace iotreg::checks::detail
