// Starting, feeding and stopping one check worker process (detail/worker_process.h).
#include "registry/checks/detail/worker_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "registry/checks/checks.h"

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

}  // namespace

Result<std::unique_ptr<WorkerProcess>> WorkerProcess::start(const std::string& program,
                                                            const std::vector<PluginFile>& plugins,
                                                            std::uint64_t memory_limit) {
  // Everything the child needs is prepared before fork(): after it, only async-signal-safe
  // calls until exec.
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
  if (::pipe2(exec_status, O_CLOEXEC) != 0) {
    ::close(sockets[0]);
    ::close(sockets[1]);
    return Status::io_error(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {sockets[0], sockets[1], exec_status[0], exec_status[1]}) ::close(fd);
    return Status::io_error(std::string("cannot start a check worker: ") + std::strerror(errno));
  }
  if (pid == 0) {
    // Descriptors 0, 1, 3 and 4 are set from copies at 64 and above, so that no original is
    // overwritten before it is copied; the exec status pipe ends up on descriptor 4.
    constexpr int kExecStatusDescriptor = kWorkerProtocolDescriptor + 1;
    int protocol = ::fcntl(sockets[1], F_DUPFD, 64);
    int status = ::fcntl(exec_status[1], F_DUPFD_CLOEXEC, 64);
    int null = ::open("/dev/null", O_RDWR);
    if (protocol < 0 || status < 0 || null < 0) {
      int error = errno;
      ssize_t ignored = ::write(exec_status[1], &error, sizeof error);
      (void)ignored;
      ::_exit(127);
    }
    ::dup2(null, STDIN_FILENO);
    ::dup2(null, STDOUT_FILENO);
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
    ::execv(program.c_str(), arguments.data());
    fail();
  }
  ::close(sockets[1]);
  ::close(exec_status[1]);
  int exec_error = 0;
  ssize_t got = 0;
  do {
    got = ::read(exec_status[0], &exec_error, sizeof exec_error);
  } while (got < 0 && errno == EINTR);
  ::close(exec_status[0]);
  if (got > 0) {
    ::close(sockets[0]);
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return Status::io_error("no check worker could be started (" + program + ": " +
                            std::strerror(exec_error) + ")");
  }
  ::fcntl(sockets[0], F_SETFL, ::fcntl(sockets[0], F_GETFL) | O_NONBLOCK);
  std::unique_ptr<WorkerProcess> worker(new WorkerProcess());
  worker->pid_ = pid;
  worker->fd_ = sockets[0];
  worker->memory_limit_ = memory_limit;
  return worker;
}

WorkerProcess::~WorkerProcess() {
  if (fd_ >= 0) ::close(fd_);
  stop({});
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
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
  }
  pid_ = -1;
  return fault;
}

// 1 when the socket is ready for `events`, 0 when the deadline passed, -1 when it hung up.
// A socket already ready counts even when the deadline has passed (the host may have been busy
// with other workers), so that a reply that arrived in time is never taken for a timeout.
int WorkerProcess::wait_for(short events) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up_ - Clock::now());
    pollfd entry{fd_, events, 0};
    int ready = ::poll(&entry, 1, left.count() <= 0 ? 0 : static_cast<int>(left.count()) + 1);
    if (ready < 0 && errno == EINTR) continue;
    if (ready < 0) return -1;
    if (ready == 0) {
      if (left.count() <= 0) return 0;
      continue;
    }
    if (entry.revents & events) return 1;
    return -1;
  }
}

std::string WorkerProcess::timed_out() {
  return stop("timed out after " + duration_text(deadline_));
}

// The worker closed its end: how it ended, once reaped (killed if it lingers).
std::string WorkerProcess::ended() {
  int status = 0;
  pid_t reaped = 0;
  for (int i = 0; i < 200; ++i) {
    reaped = ::waitpid(pid_, &status, WNOHANG);
    if (reaped != 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (reaped == 0) return stop("closed its connection without answering");
  pid_ = -1;
  if (reaped < 0) return "ended without answering";
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
  return "exited with status " + std::to_string(code) + " without answering";
}

}  // namespace iotreg::checks::detail
