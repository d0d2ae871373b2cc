// Starting, feeding and stopping one check worker process (detail/worker_process.h).
#include "registry/checks/detail/worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
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
#include "registry/core/unique_fd.h"

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
  // Descriptors as pairs of owners, closed on every early return.
  auto pair_of = [](const int fds[2]) { return std::pair{UniqueFd(fds[0]), UniqueFd(fds[1])}; };
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) {
    return Status::io_error(std::string("cannot create a worker socket: ") + std::strerror(errno));
  }
  auto [host_socket, worker_socket] = pair_of(fds);
  // The child writes errno here if it cannot exec; a successful exec closes it (CLOEXEC).
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Status::io_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  auto [exec_status_read, exec_status_write] = pair_of(fds);
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    return Status::io_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  auto [stderr_read, stderr_write] = pair_of(fds);
  UniqueFd progress_fd(::memfd_create("iotreg-worker-progress", MFD_CLOEXEC));
  void* page = MAP_FAILED;
  if (progress_fd && ::ftruncate(progress_fd.get(), sizeof(protocol::WorkerProgress)) == 0) {
    page = ::mmap(nullptr, sizeof(protocol::WorkerProgress), PROT_READ | PROT_WRITE, MAP_SHARED,
                  progress_fd.get(), 0);
  }
  if (page == MAP_FAILED) {
    return Status::io_error(std::string("cannot create a worker's progress page: ") +
                            std::strerror(errno));
  }
  std::unique_ptr<WorkerProcess> worker(new WorkerProcess());
  worker->progress_ = new (page) protocol::WorkerProgress();
  const int sockets[2] = {host_socket.get(), worker_socket.get()};
  const int exec_status[2] = {exec_status_read.get(), exec_status_write.get()};
  const int error_output[2] = {stderr_read.get(), stderr_write.get()};
  const int progress = progress_fd.get();
  const pid_t parent = ::getpid();
  const std::function<pid_t()> fork_worker = [&]() -> pid_t {
    pid_t forked = ::fork();
    if (forked != 0) return forked;
    // The worker leads a process group of its own, which stop() kills as a whole, and dies
    // with the launcher thread, that is with this process.
    ::setpgid(0, 0);
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    // Descriptors 0 to 5 are set from copies at 64 and above, so that no original is
    // overwritten before it is copied; the exec status pipe ends up on descriptor 5.
    constexpr int kExecStatusDescriptor = kWorkerProgressDescriptor + 1;
    int protocol = ::fcntl(sockets[1], F_DUPFD, 64);
    int status = ::fcntl(exec_status[1], F_DUPFD_CLOEXEC, 64);
    int standard_error = ::fcntl(error_output[1], F_DUPFD, 64);
    int shared_page = ::fcntl(progress, F_DUPFD, 64);
    int null = ::open("/dev/null", O_RDWR);
    if (protocol < 0 || status < 0 || standard_error < 0 || shared_page < 0 || null < 0) {
      int error = errno;
      ssize_t ignored = ::write(exec_status[1], &error, sizeof error);
      (void)ignored;
      ::_exit(127);
    }
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
    ::dup2(standard_error, STDERR_FILENO);
    ::dup2(protocol, kWorkerProtocolDescriptor);
    ::dup2(shared_page, kWorkerProgressDescriptor);
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
  const pid_t pid = fork_on_launcher(fork_worker);
  if (pid < 0) {
    return Status::io_error(std::string("cannot start a check worker: ") + std::strerror(errno));
  }
  worker_socket.reset();
  exec_status_write.reset();
  stderr_write.reset();
  progress_fd.reset();
  int exec_error = 0;
  ssize_t got = 0;
  do {
    got = ::read(exec_status_read.get(), &exec_error, sizeof exec_error);
  } while (got < 0 && errno == EINTR);
  if (got > 0) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return Status::io_error("no check worker could be started (" + program + ": " +
                            std::strerror(exec_error) + ")");
  }
  ::fcntl(host_socket.get(), F_SETFL, ::fcntl(host_socket.get(), F_GETFL) | O_NONBLOCK);
  ::fcntl(stderr_read.get(), F_SETFL, ::fcntl(stderr_read.get(), F_GETFL) | O_NONBLOCK);
  worker->pid_ = pid;
  worker->fd_ = std::move(host_socket);
  worker->stderr_ = std::move(stderr_read);
  worker->pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (worker->pidfd_) ::fcntl(worker->pidfd_.get(), F_SETFD, FD_CLOEXEC);
  worker->memory_limit_ = memory_limit;
  for (const auto& plugin : plugins) {
    if (!worker->plugin_names_.empty()) worker->plugin_names_ += ", ";
    worker->plugin_names_ += std::filesystem::path(plugin.path).filename().string();
  }
  return worker;
}

WorkerProcess::~WorkerProcess() {
  fd_.reset();
  stop({});
  if (progress_) ::munmap(progress_, sizeof(protocol::WorkerProgress));
}

std::string WorkerProcess::send(const std::vector<std::string_view>& parts,
                                std::chrono::milliseconds deadline) {
  send_deadline_ = deadline;
  faulted_in_check_ = false;
  if (!input_.empty()) return stop("wrote bytes after its reply");
  give_up_ = Clock::now() + deadline;
  watched_batch_ = 0;
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
    ssize_t put = ::sendmsg(fd_.get(), &message, MSG_NOSIGNAL);
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
  char chunk[1 << 16];
  for (;;) {
    std::size_t header = 0;
    std::uint64_t size = 0;
    for (std::size_t i = 0; i < input_.size(); ++i) {
      if (i >= kMaxFrameHeaderBytes) return stop("wrote garbage instead of a reply");
      auto byte = static_cast<unsigned char>(input_[i]);
      size |= static_cast<std::uint64_t>(byte & 0x7F) << (7 * i);
      if (!(byte & 0x80)) {
        header = i + 1;
        break;
      }
    }
    if (header > 0 && size > max_reply) {
      return stop("sent an oversized message (" + std::to_string(size) + " bytes; at most " +
                  std::to_string(max_reply) + " were expected)");
    }
    if (header > 0 && input_.size() >= header + size) {
      reply.assign(input_, header, size);
      input_.erase(0, header + size);  // what follows is the next reply's
      return {};
    }
    int ready = wait_for(POLLIN);
    if (ready == 0) return timed_out();
    if (ready < 0) return ended();
    ssize_t got = ::recv(fd_.get(), chunk, sizeof chunk, 0);
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (got <= 0) return ended();
    input_.append(chunk, static_cast<std::size_t>(got));
  }
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
  if (!stderr_) return;
  char chunk[4096];
  for (;;) {
    ssize_t got = ::read(stderr_.get(), chunk, sizeof chunk);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      if (got == 0) stderr_.reset();
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
  if (stderr_sink_) return stderr_sink_(plugin_names_, text);
  log_worker_stderr(plugin_names_, text);
}

void log_worker_stderr(const std::string& plugin_files, const std::string& text) {
  std::cerr << ("iotreg: the check worker of " + plugin_files +
                " wrote on standard error: " + text + "\n");
}

// 1 when the socket is ready for `events`, 0 when the deadline passed, -1 when it hung up or
// the worker ended (a descendant holding the socket open does not hide the end). A socket
// already ready counts even when the deadline has passed (the host may have been busy with
// other workers), so that a reply that arrived in time is never taken for a timeout. Standard
// error is read meanwhile, so that a worker never blocks writing it.
int WorkerProcess::wait_for(short events) {
  for (;;) {
    const Clock::time_point until = deadline_now();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    pollfd entries[3] = {
        {fd_.get(), events, 0}, {pidfd_.get(), POLLIN, 0}, {stderr_.get(), POLLIN, 0}};
    int ready = ::poll(entries, 3, left.count() <= 0 ? 0 : static_cast<int>(left.count()) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return -1;
    if (entries[2].revents) read_stderr();
    if (entries[0].revents & events) return 1;
    if (entries[0].revents || entries[1].revents) return -1;
    // The running check may have changed while poll() waited: only its own deadline counts.
    if (ready == 0 && left.count() <= 0 && deadline_now() <= Clock::now()) return 0;
  }
}

void WorkerProcess::watch_checks(std::uint64_t batch, std::chrono::milliseconds per_check,
                                 Clock::time_point latest) {
  watched_batch_ = batch;
  per_check_ = per_check;
  latest_ = latest;
  latest_after_ =
      std::chrono::ceil<std::chrono::milliseconds>(latest - (give_up_ - send_deadline_));
}

bool WorkerProcess::running(std::uint64_t batch, Running& out) const {
  if (!progress_ || progress_->batch.load(std::memory_order_acquire) != batch) return false;
  out.declaration = progress_->declaration.load(std::memory_order_relaxed);
  out.check = progress_->check.load(std::memory_order_relaxed);
  return true;
}

// The deadline of the exchange now: send()'s until the worker begins the watched batch, then
// that of the check running, never past latest_. deadline_ is set to the one that applies.
Clock::time_point WorkerProcess::deadline_now() {
  deadline_ = send_deadline_;
  if (watched_batch_ == 0 || !progress_ ||
      progress_->batch.load(std::memory_order_acquire) != watched_batch_) {
    return give_up_;
  }
  const Clock::time_point began{std::chrono::duration_cast<Clock::duration>(
      std::chrono::nanoseconds(progress_->started_ns.load(std::memory_order_relaxed)))};
  const Clock::time_point check_until = began + protocol::kCoarseClockLag + per_check_;
  if (check_until >= latest_) {
    deadline_ = latest_after_;
    return latest_;
  }
  deadline_ = per_check_;
  return check_until;
}

std::string WorkerProcess::timed_out() {
  faulted_in_check_ = true;
  return stop("timed out after " + duration_text(deadline_));
}

// The worker closed its end: how it ended, once reaped (killed if it lingers).
std::string WorkerProcess::ended() {
  faulted_in_check_ = true;
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
    // Not by this process (it says "timed out"): by someone else, or the kernel's OOM killer,
    // so not necessarily the doing of the check in progress.
    if (signal == SIGKILL) {
      faulted_in_check_ = false;
      return "was killed with SIGKILL";
    }
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
