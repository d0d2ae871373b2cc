// Running untrusted plugins' checks in worker processes: spawning a worker with its protocol
// socket on descriptor 3, standard output on /dev/null and a limited address space; a
// per-batch deadline enforced with poll(); SIGKILL and waitpid on every fault; bisection of a
// failed batch and, for each declaration that faults alone, one worker per plugin to find the
// plugin at fault.
#include "registry/checks/detail/isolated_plugin.h"

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
#include <iostream>
#include <optional>
#include <thread>

#include "registry/checks/detail/loaded_check.h"
#include "registry/checks/detail/worker_protocol.h"

namespace iotreg::checks::detail {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kWorkerProtocolDescriptor = 3;
constexpr std::size_t kMaxFrameHeaderBytes = 10;
constexpr std::size_t kPerFindingOverhead = 32;
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

// One running worker. Destroying it kills (SIGKILL) and reaps the process.
class WorkerProcess {
 public:
  static Result<std::unique_ptr<WorkerProcess>> start(const std::string& program,
                                                      const std::vector<std::string>& plugin_paths,
                                                      std::uint64_t memory_limit) {
    int sockets[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) != 0) {
      return Status::io_error(std::string("cannot create a worker socket: ") +
                              std::strerror(errno));
    }
    std::string descriptor = std::to_string(kWorkerProtocolDescriptor);
    std::vector<char*> arguments = {const_cast<char*>(program.c_str()),
                                    const_cast<char*>("__check-worker"), descriptor.data()};
    for (const auto& path : plugin_paths) arguments.push_back(const_cast<char*>(path.c_str()));
    arguments.push_back(nullptr);
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

  // Sends `parts` one after the other, starting the batch deadline. Empty on success; else
  // the fault, and the process has been killed and reaped.
  std::string send(const std::vector<std::string_view>& parts, std::chrono::milliseconds deadline) {
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

// The checks of one or more plugins, run by one worker process at a time (started on first
// use, replaced after a fault).
class WorkerChecks {
 public:
  WorkerChecks(std::vector<std::string> paths, std::vector<std::size_t> checks,
               std::string setup_payload, const Isolation& isolation)
      : paths_(std::move(paths)),
        checks_(std::move(checks)),
        setup_payload_(std::move(setup_payload)),
        isolation_(isolation) {}

  // Judges `which` of `items`; empty on success (the findings are set), else the fault.
  std::string judge(const std::string& path_table, const std::vector<std::string>& items,
                    const std::vector<std::size_t>& which, const std::vector<Verdict*>& verdicts) {
    std::string fault = send(path_table, items, which);
    if (fault.empty()) fault = receive(items, which, verdicts);
    return fault;
  }

  // Sends `which` to the worker (started if need be); empty on success, else the fault.
  std::string send(const std::string& path_table, const std::vector<std::string>& items,
                   const std::vector<std::size_t>& which) {
    frame_.clear();
    if (!worker_) {
      auto started =
          WorkerProcess::start(isolation_.worker_program, paths_, isolation_.memory_limit_bytes);
      if (!started.is_ok()) return "could not be started (" + started.status().message() + ")";
      worker_ = std::move(started).value();
      protocol::put_frame_header(frame_, setup_payload_.size());
      frame_ += setup_payload_;
    }
    // The items go out from where they are, without being copied into one message.
    std::size_t items_bytes = 0;
    for (std::size_t i : which) items_bytes += items[i].size();
    protocol::encode_batch_header(path_table, which.size(), items_bytes, frame_);
    parts_.clear();
    parts_.push_back(frame_);
    for (std::size_t i : which) parts_.push_back(items[i]);
    std::string fault = worker_->send(parts_, isolation_.batch_deadline);
    if (!fault.empty()) worker_.reset();
    return fault;
  }

  // Reads the findings of `which` (as sent) into `verdicts`; empty on success, else the fault.
  std::string receive(const std::vector<std::string>&, const std::vector<std::size_t>& which,
                      const std::vector<Verdict*>& verdicts) {
    const std::size_t max_reply =
        64 +
        which.size() * checks_.size() * (kMaxMessageBytes + kMaxFieldBytes + kPerFindingOverhead);
    std::string fault = worker_->receive(reply_, max_reply);
    if (fault.empty()) {
      fault = protocol::decode_results(reply_, which.size(), checks_.size(), findings_);
      if (!fault.empty()) worker_->stop({});
    }
    if (!fault.empty()) {
      worker_.reset();
      return fault;
    }
    for (std::size_t j = 0; j < which.size(); ++j) {
      for (std::size_t k = 0; k < checks_.size(); ++k) {
        Finding& finding = verdicts[which[j]]->findings[checks_[k]];
        Finding& judged = findings_[j * checks_.size() + k];
        finding.outcome = judged.outcome;
        finding.message.swap(judged.message);  // the buffers change places, nothing is freed
        finding.field.swap(judged.field);
        finding.check = static_cast<std::uint32_t>(checks_[k]);
      }
    }
    return {};
  }

 private:
  std::vector<std::string> paths_;
  std::vector<std::size_t> checks_;
  std::string setup_payload_;
  Isolation isolation_;
  std::unique_ptr<WorkerProcess> worker_;
  std::string frame_, reply_;
  std::vector<std::string_view> parts_;
  std::vector<Finding> findings_;
};

struct Isolator::Plugin {
  IsolatedPluginSpec spec;
  std::unique_ptr<WorkerChecks> alone;  // judges single declarations to find a fault's cause
  std::size_t faulty_declarations = 0;
  std::string disabled;  // why; empty while enabled
};

Isolator::Isolator(std::vector<IsolatedPluginSpec> plugins, std::string as_of,
                   std::string policy_id, const Isolation& isolation)
    : as_of_(std::move(as_of)), policy_id_(std::move(policy_id)), isolation_(isolation) {
  for (auto& spec : plugins) {
    auto plugin = std::make_unique<Plugin>();
    std::string payload;
    protocol::encode_setup(as_of_, policy_id_, spec.setup, payload);
    plugin->alone = std::make_unique<WorkerChecks>(std::vector<std::string>{spec.path}, spec.checks,
                                                   std::move(payload), isolation_);
    plugin->spec = std::move(spec);
    plugins_.push_back(std::move(plugin));
  }
  rebuild_shared();
}

Isolator::~Isolator() = default;

void Isolator::rebuild_shared() {
  shared_.clear();
  std::vector<std::string> paths;
  std::vector<std::size_t> checks;
  std::vector<protocol::SetupCheck> setup;
  for (const auto& plugin : plugins_) {
    if (!plugin->disabled.empty()) continue;
    paths.push_back(plugin->spec.path);
    checks.insert(checks.end(), plugin->spec.checks.begin(), plugin->spec.checks.end());
    setup.insert(setup.end(), plugin->spec.setup.begin(), plugin->spec.setup.end());
  }
  if (paths.empty()) return;
  std::string payload;
  protocol::encode_setup(as_of_, policy_id_, setup, payload);
  for (std::size_t i = 0; i < std::max<std::size_t>(1, isolation_.worker_processes); ++i) {
    shared_.push_back(std::make_unique<WorkerChecks>(paths, checks, payload, isolation_));
  }
}

void Isolator::set_error(const Plugin& plugin, Verdict& verdict, const std::string& message) {
  for (std::size_t check : plugin.spec.checks) {
    Finding& finding = verdict.findings[check];
    finding.check = static_cast<std::uint32_t>(check);
    finding.outcome = Outcome::kError;
    finding.message = message;
    finding.field.clear();
  }
}

void Isolator::judge(const std::string& path_table,
                     const std::function<void(std::size_t, std::string&)>& encode,
                     std::vector<std::string>& items, const std::vector<Verdict*>& verdicts) {
  std::lock_guard lock(mutex_);
  path_table_ = &path_table;
  const std::size_t per_batch = std::max<std::size_t>(1, isolation_.declarations_per_batch);
  std::vector<std::vector<std::size_t>> chunks;
  for (std::size_t begin = 0; begin < items.size(); begin += per_batch) {
    chunks.emplace_back();
    for (std::size_t i = begin; i < std::min(items.size(), begin + per_batch); ++i) {
      chunks.back().push_back(i);
    }
  }
  // Disabled plugins' checks err on every declaration of a chunk once it is done.
  auto finish = [&](std::size_t chunk) {
    for (const auto& plugin : plugins_) {
      if (plugin->disabled.empty()) continue;
      for (std::size_t i : chunks[chunk]) set_error(*plugin, *verdicts[i], plugin->disabled);
    }
  };
  // Each shared worker is kept busy: as soon as it answers it gets the next chunk, encoded
  // while the others judge theirs. A plugin disabled on the way stops new chunks until every
  // worker has answered; then the shared workers are rebuilt without it.
  std::size_t next = 0;
  std::vector<std::optional<std::size_t>> in_flight;
  auto dispatch = [&](std::size_t w) {
    while (next < chunks.size() && !rebuild_needed_) {
      const std::size_t chunk = next++;
      for (std::size_t i : chunks[chunk]) encode(i, items[i]);
      if (shared_[w]->send(*path_table_, items, chunks[chunk]).empty()) {
        in_flight[w] = chunk;
        return;
      }
      judge_range(*shared_[w], items, verdicts, chunks[chunk]);
      finish(chunk);
    }
  };
  for (;;) {
    if (shared_.empty()) {  // every plugin is disabled
      for (; next < chunks.size(); ++next) finish(next);
      break;
    }
    in_flight.assign(shared_.size(), std::nullopt);
    for (std::size_t w = 0; w < shared_.size(); ++w) dispatch(w);
    for (bool waiting = true; waiting;) {
      waiting = false;
      for (std::size_t w = 0; w < shared_.size(); ++w) {
        if (!in_flight[w]) continue;
        waiting = true;
        const std::size_t chunk = *in_flight[w];
        in_flight[w].reset();
        if (!shared_[w]->receive(items, chunks[chunk], verdicts).empty()) {
          judge_range(*shared_[w], items, verdicts, chunks[chunk]);
        }
        finish(chunk);
        dispatch(w);
      }
    }
    if (!rebuild_needed_) break;
    rebuild_needed_ = false;
    rebuild_shared();
  }
}

void Isolator::judge_range(WorkerChecks& shared, const std::vector<std::string>& items,
                           const std::vector<Verdict*>& verdicts,
                           const std::vector<std::size_t>& which) {
  if (which.size() == 1) return attribute(items, verdicts, which.front());
  std::vector<std::size_t> first(which.begin(),
                                 which.begin() + static_cast<std::ptrdiff_t>(which.size() / 2));
  std::vector<std::size_t> second(which.begin() + static_cast<std::ptrdiff_t>(which.size() / 2),
                                  which.end());
  for (const auto* half : {&first, &second}) {
    if (!shared.judge(*path_table_, items, *half, verdicts).empty())
      judge_range(shared, items, verdicts, *half);
  }
}

void Isolator::attribute(const std::vector<std::string>& items,
                         const std::vector<Verdict*>& verdicts, std::size_t item) {
  const std::vector<std::size_t> which = {item};
  for (const auto& plugin : plugins_) {
    if (!plugin->disabled.empty()) {
      set_error(*plugin, *verdicts[item], plugin->disabled);
      continue;
    }
    std::string fault = plugin->alone->judge(*path_table_, items, which, verdicts);
    if (fault.empty()) continue;
    set_error(*plugin, *verdicts[item],
              "the plugin " + plugin->spec.id + " " + fault + " while judging this declaration");
    if (++plugin->faulty_declarations > isolation_.max_faulty_declarations) {
      plugin->disabled = "the plugin " + plugin->spec.id +
                         " was disabled for the rest of the run after faulting on " +
                         std::to_string(plugin->faulty_declarations) +
                         " declarations (the last time it " + fault + ")";
      std::cerr << "iotreg: " << plugin->disabled << "\n";
      rebuild_needed_ = true;
    }
  }
}

}  // namespace iotreg::checks::detail
