// Starting, feeding and stopping one check worker process (detail/worker_process.h).
#include "registry/checks/detail/worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>
#include <thread>

#include "registry/checks/checks.h"
#include "registry/checks/detail/loaded_check.h"
#include "registry/checks/detail/sandbox.h"

extern char** environ;

namespace iotreg::checks::detail {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWorkerProtocolDescriptor = 3;
constexpr std::size_t kMaxFrameHeaderBytes = 10;
constexpr std::size_t kMaxSendVectors = 512;

std::string duration_text(std::chrono::milliseconds duration) {
  if (duration.count() % 1000 == 0) return std::to_string(duration.count() / 1000) + " s";
  return std::to_string(duration.count()) + " ms";
}

std::string signal_text(int signal) {
  const char* name = ::sigabbrev_np(signal);
  return name ? std::string("SIG") + name : "signal " + std::to_string(signal);
}

// Runs `start` (which forks) on a thread that lives as long as this process: a worker's
// PR_SET_PDEATHSIG fires when the thread that forked it ends, and the threads that judge
// declarations (a server's, say) may end while their workers are still in use.
pid_t fork_on_launcher(const std::function<pid_t()>& start) {
  // Never destroyed: the launcher thread waits on `changed` until the process ends, and
  // destroying a condition variable that has a waiter blocks exit() for ever.
  struct Launcher {
    std::mutex mutex;
    std::condition_variable changed;
    const std::function<pid_t()>* request = nullptr;
    pid_t answer = 0;
    bool answered = false;
    std::mutex one_at_a_time;
  };
  static Launcher* const launcher = [] {
    auto* created = new Launcher();
    std::thread([created] {
      std::unique_lock lock(created->mutex);
      for (;;) {
        created->changed.wait(
            lock, [created] { return created->request != nullptr && !created->answered; });
        created->answer = (*created->request)();
        created->answered = true;
        created->changed.notify_all();
      }
    }).detach();
    return created;
  }();
  std::lock_guard turn(launcher->one_at_a_time);
  std::unique_lock lock(launcher->mutex);
  launcher->request = &start;
  launcher->answered = false;
  launcher->changed.notify_all();
  launcher->changed.wait(lock, [] { return launcher->answered; });
  launcher->request = nullptr;
  return launcher->answer;
}

// Says once per process, on standard error, which sandbox mechanisms the kernel lacks.
void report_missing_sandbox() {
  static std::once_flag reported;
  std::call_once(reported, [] {
    SandboxSupport support = sandbox_support();
    if (support.seccomp && support.landlock_abi > 0) return;
    std::cerr << "iotreg: check workers run with a partial sandbox: " << sandbox_summary(support)
              << "\n";
  });
}

}  // namespace

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::start(const std::string& program,
                                                            const std::vector<PluginFile>& plugins,
                                                            std::uint64_t memory_limit,
                                                            bool sandbox) {
  if (sandbox) report_missing_sandbox();
  // Everything the child needs is prepared before fork(): after it, only async-signal-safe
  // calls until exec. The environment is the registry's, with the sandbox variable set.
  std::string sandbox_setting = std::string(kWorkerSandboxVariable) + (sandbox ? "=on" : "=off");
  std::vector<char*> environment;
  const std::string variable_prefix = std::string(kWorkerSandboxVariable) + "=";
  for (char** entry = environ; *entry; ++entry) {
    if (std::string_view(*entry).substr(0, variable_prefix.size()) != variable_prefix) {
      environment.push_back(*entry);
    }
  }
  environment.push_back(sandbox_setting.data());
  environment.push_back(nullptr);
  std::string descriptor = std::to_string(kWorkerProtocolDescriptor);
  std::vector<std::string> plugin_arguments;
  for (const auto& plugin : plugins) plugin_arguments.push_back(plugin.sha256 + ":" + plugin.path);
  std::vector<char*> arguments = {const_cast<char*>(program.c_str()),
                                  const_cast<char*>("__check-worker"), descriptor.data()};
  for (auto& argument : plugin_arguments) arguments.push_back(argument.data());
  arguments.push_back(nullptr);
  int sockets[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
    return Status::io_error(std::string("cannot create a worker socket: ") + std::strerror(errno));
  }
  // The child writes errno here if it cannot exec; a successful exec closes it (CLOEXEC).
  int exec_status[2];
  int error_output[2];
  if (::pipe2(exec_status, O_CLOEXEC) != 0) {
    ::close(sockets[0]);
    ::close(sockets[1]);
    return Status::io_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  if (::pipe2(error_output, O_CLOEXEC) != 0) {
    for (int fd : {sockets[0], sockets[1], exec_status[0], exec_status[1]}) ::close(fd);
    return Status::io_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  const pid_t parent = ::getpid();
  pid_t pid = -1;
  const std::function<pid_t()> fork_worker = [&]() -> pid_t {
    pid_t forked = ::fork();
    if (forked != 0) return forked;
    // The worker leads a process group of its own, which stop() kills as a whole, and dies
    // with the launcher thread, that is with this process.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // Descriptors 0 to 4 are set from copies at 64 and above, so that no original is
    // overwritten before it is copied; the exec status pipe ends up on descriptor 4.
    constexpr int kExecStatusDescriptor = kWorkerProtocolDescriptor + 1;
    int protocol = ::fcntl(sockets[1], F_DUPFD, 64);
    int status = ::fcntl(exec_status[1], F_DUPFD_CLOEXEC, 64);
    int standard_error = ::fcntl(error_output[1], F_DUPFD, 64);
    int null = ::open("/dev/null", O_RDWR);
    if (protocol < 0 || status < 0 || standard_error < 0 || null < 0) {
      int error = errno;
      ssize_t ignored = ::write(exec_status[1], &error, sizeof error);
      (void)ignored;
      ::_exit(127);
    }
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(standard_error, STDERR_FILENO);
    ::dup2(protocol, kWorkerProtocolDescriptor);
    ::dup3(status, kExecStatusDescriptor, O_CLOEXEC);
    ::close_range(kExecStatusDescriptor + 1, ~0U, 0);
    auto fail = [] {
      int error = errno;
      ssize_t ignored = ::write(kExecStatusDescriptor, &error, sizeof error);
      (void)ignored;
      ::_exit(127);
    };
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    const rlimit address_space{memory_limit, memory_limit};
    ::setrlimit(RLIMIT_AS, &address_space);
    const rlimit no_core{0, 0};
    ::setrlimit(RLIMIT_CORE, &no_core);
    ::execve(program.c_str(), arguments.data(), environment.data());
    fail();
    return -1;
  };
  pid = fork_on_launcher(fork_worker);
  if (pid < 0) {
    for (int fd : {sockets[0], sockets[1], exec_status[0], exec_status[1], error_output[0],
                   error_output[1]}) {
      ::close(fd);
    }
    return Status::io_error(std::string("cannot start a check worker: ") + std::strerror(errno));
  }
  ::close(sockets[1]);
  ::close(exec_status[1]);
  ::close(error_output[1]);
  int exec_error = 0;
  ssize_t got = 0;
  do {
    got = ::read(exec_status[0], &exec_error, sizeof exec_error);
  } while (got < 0 && errno == EINTR);
  ::close(exec_status[0]);
  if (got > 0) {
    ::close(sockets[0]);
    ::close(error_output[0]);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return Status::io_error("no check worker could be started (" + program + ": " +
                            std::strerror(exec_error) + ")");
  }
  ::fcntl(sockets[0], F_SETFL, ::fcntl(sockets[0], F_GETFL) | O_NONBLOCK);
  ::fcntl(error_output[0], F_SETFL, ::fcntl(error_output[0], F_GETFL) | O_NONBLOCK);
  std::unique_ptr<WorkerProcess> worker(new WorkerProcess());
  worker->pid_ = pid;
  worker->fd_ = sockets[0];
  worker->stderr_ = error_output[0];
  worker->pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  if (worker->pidfd_ >= 0) ::fcntl(worker->pidfd_, F_SETFD, FD_CLOEXEC);
  worker->memory_limit_ = memory_limit;
  for (const auto& plugin : plugins) {
    if (!worker->plugin_names_.empty()) worker->plugin_names_ += ", ";
    worker->plugin_names_ += std::filesystem::path(plugin.path).filename().string();
  }
  return worker;
}

WorkerProcess::~WorkerProcess() {
  if (fd_ >= 0) ::close(fd_);
  stop({});
  if (pidfd_ >= 0) ::close(pidfd_);
  if (stderr_ >= 0) ::close(stderr_);
}

std::string WorkerProcess::send(const std::vector<std::string_view>& parts,
                                std::chrono::milliseconds deadline) {
  deadline_ = deadline;
  give_up_ = Clock::now() + deadline;
  std::size_t part = 0, offset = 0;  // the first byte not sent yet
  std::vector<iovec> vectors;
  while (part < parts.size()) {
    vectors.clear();
    for (std::size_t i = part; i < parts.size() && vectors.size() < kMaxSendVectors; ++i) {
      std::size_t skip = i == part ? offset : 0;
      vectors.push_back({const_cast<char*>(parts[i].data()) + skip, parts[i].size() - skip});
    }
    int ready = wait_for(POLLOUT);
    if (ready == 0) return timed_out();
    if (ready < 0) return ended();
    msghdr message{};
    message.msg_iov = vectors.data();
    message.msg_iovlen = vectors.size();
    ssize_t put = ::sendmsg(fd_, &message, MSG_NOSIGNAL);
    if (put < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (put <= 0) return ended();
    auto left = static_cast<std::size_t>(put);
    while (part < parts.size() && left >= parts[part].size() - offset) {
      left -= parts[part].size() - offset;
      offset = 0;
      ++part;
    }
    offset += left;
  }
  return {};
}

std::string WorkerProcess::receive(std::string& reply, std::size_t max_reply) {
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
    if (ready < 0) return ended();
    ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (got <= 0) return ended();
    input_.append(chunk, static_cast<std::size_t>(got));
  }
  if (input_.size() != header + size) return stop("wrote bytes after its reply");
  reply.assign(input_, header, size);
  return {};
}

std::string WorkerProcess::stop(std::string fault) {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    reap(status);
  }
  return fault;
}

// Kills the worker's process group while the unreaped worker still holds its id, so that the id
// cannot name another group, then reaps the worker and reports its standard error.
void WorkerProcess::reap(int& status) {
  ::kill(-pid_, SIGKILL);
  while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  report_stderr();
}

void WorkerProcess::read_stderr() {
  if (stderr_ < 0) return;
  char chunk[4096];
  for (;;) {
    ssize_t got = ::read(stderr_, chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) {
        ::close(stderr_);
        stderr_ = -1;
      }
      return;
    }
    auto size = static_cast<std::size_t>(got);
    std::size_t keep = std::min(size, kMaxWorkerStderrBytes - stderr_text_.size());
    stderr_text_.append(chunk, keep);
    stderr_dropped_ += size - keep;
  }
}

std::string WorkerProcess::take_stderr() {
  read_stderr();
  std::string text = printable(stderr_text_, kMaxWorkerStderrBytes);
  if (stderr_dropped_ > 0) text += " [" + std::to_string(stderr_dropped_) + " more bytes dropped]";
  stderr_text_.clear();
  stderr_dropped_ = 0;
  return text;
}

void WorkerProcess::report_stderr() {
  std::string text = take_stderr();
  if (text.empty()) return;
  std::cerr << ("iotreg: the check worker of " + plugin_names_ +
                " wrote on standard error: " + text + "\n");
}

// 1 when the socket is ready for `events`, 0 when the deadline passed, -1 when it hung up or
// the worker ended (a descendant holding the socket open does not hide the end). A socket
// already ready counts even when the deadline has passed (the host may have been busy with
// other workers), so that a reply that arrived in time is never taken for a timeout. Standard
// error is read meanwhile, so that a worker never blocks writing it.
int WorkerProcess::wait_for(short events) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up_ - Clock::now());
    pollfd entries[3] = {{fd_, events, 0}, {pidfd_, POLLIN, 0}, {stderr_, POLLIN, 0}};
    int ready = ::poll(entries, 3, left.count() <= 0 ? 0 : static_cast<int>(left.count()) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return -1;
    if (entries[2].revents) read_stderr();
    if (entries[0].revents & events) return 1;
    if (entries[0].revents || entries[1].revents) return -1;
    if (ready == 0 && left.count() <= 0) return 0;
  }
}

std::string WorkerProcess::timed_out() {
  return stop("timed out after " + duration_text(deadline_));
}

// The worker closed its end: how it ended, once reaped (killed if it lingers).
std::string WorkerProcess::ended() {
  siginfo_t exited{};
  for (int i = 0; i < 200 && exited.si_pid == 0; ++i) {
    if (::waitid(P_PID, pid_, &exited, WEXITED | WNOHANG | WNOWAIT) != 0 && errno != EINTR) break;
    if (exited.si_pid == 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (exited.si_pid == 0) return stop("closed its connection without answering");
  int status = 0;
  reap(status);
  if (WIFSIGNALED(status)) {
    int signal = WTERMSIG(status);
    if (signal == SIGKILL) return "was killed with SIGKILL";
    return "crashed with " + signal_text(signal);
  }
  int code = WEXITSTATUS(status);
  if (code == kWorkerOutOfMemory) {
    return "exceeded the memory limit of " + std::to_string(memory_limit_ >> 20) + " MiB";
  }
  if (code == kWorkerPluginRefused) {
    return "could not be loaded again (its file changed after it was verified, or no longer "
           "loads)";
  }
  if (code == kWorkerSandboxFailed) return "could not be sandboxed (see the registry's log)";
  return "exited with status " + std::to_string(code) + " without answering";
}

}  // namespace iotreg::checks::detail
