#include "support/process.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace iotreg::test {
namespace {

std::runtime_error system_error(const std::string& what) {
  return std::runtime_error(what + ": " + std::strerror(errno));
}

// Makes every directory below `path` writable and searchable again, then removes the tree.
void remove_tree(const std::filesystem::path& path) {
  std::error_code error;
  auto status = std::filesystem::symlink_status(path, error);
  if (error) return;
  if (std::filesystem::is_directory(status)) {
    ::chmod(path.c_str(), 0700);
    for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
      remove_tree(entry.path());
    }
  }
  std::filesystem::remove(path, error);
}

int open_or_throw(const std::string& path, int flags, mode_t mode = 0600) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  if (fd < 0) throw system_error("cannot open " + path);
  return fd;
}

}  // namespace

TempDir::TempDir() {
  const char* base = std::getenv("TMPDIR");
  std::string pattern = std::string(base && *base ? base : "/tmp") + "/iotreg-test-XXXXXX";
  std::vector<char> buffer(pattern.begin(), pattern.end());
  buffer.push_back('\0');
  if (::mkdtemp(buffer.data()) == nullptr) throw system_error("mkdtemp " + pattern);
  path_ = buffer.data();
}

TempDir::~TempDir() { remove_tree(path_); }

std::string ProcessResult::describe() const {
  std::string text;
  if (timed_out) text = "timed out, ";
  text += exited ? "exit " + std::to_string(exit_status) : "signal " + std::to_string(signal);
  return text;
}

std::unique_ptr<ChildProcess> ChildProcess::spawn(const std::string& program,
                                                  const std::vector<std::string>& arguments,
                                                  const ProcessOptions& options) {
  std::unique_ptr<ChildProcess> child(new ChildProcess());
  child->capture_ = std::make_unique<TempDir>();
  const std::string in_path = child->capture_->file("stdin");
  write_file(in_path, options.standard_input.value_or(""));

  // Everything the child needs is prepared before fork(): after it, only async-signal-safe
  // calls are made.
  std::vector<std::string> argv_storage;
  argv_storage.push_back(program);
  argv_storage.insert(argv_storage.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& argument : argv_storage) argv.push_back(argument.data());
  argv.push_back(nullptr);

  std::vector<std::string> env_storage;
  auto overridden = [&](std::string_view entry) {
    std::string_view name = entry.substr(0, entry.find('='));
    for (const auto& removed : options.unset_environment) {
      if (name == removed) return true;
    }
    for (const auto& [added, value] : options.environment) {
      if (name == added) return true;
    }
    return false;
  };
  for (char** entry = environ; entry && *entry; ++entry) {
    if (!overridden(*entry)) env_storage.emplace_back(*entry);
  }
  for (const auto& [name, value] : options.environment) env_storage.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (auto& entry : env_storage) envp.push_back(entry.data());
  envp.push_back(nullptr);

  int feed_fd = -1;
  int in_fd = -1;
  if (options.streamed_input) {
    int pipe_fds[2];
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw system_error("pipe2");
    in_fd = pipe_fds[0];
    feed_fd = pipe_fds[1];
  } else {
    in_fd = options.standard_input ? open_or_throw(in_path, O_RDONLY)
                                   : open_or_throw("/dev/null", O_RDONLY);
  }
  int out_fd = open_or_throw(
      options.stdout_path.empty() ? child->capture_->file("stdout") : options.stdout_path,
      O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int err_fd = open_or_throw(child->capture_->file("stderr"), O_WRONLY | O_CREAT | O_TRUNC);
  // The child reports a failed exec through this pipe; a successful exec closes it.
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) throw system_error("pipe2");
  const char* directory =
      options.working_directory.empty() ? nullptr : options.working_directory.c_str();

  child->started_ = std::chrono::steady_clock::now();
  pid_t pid = ::fork();
  if (pid < 0) throw system_error("fork");
  if (pid == 0) {
    ::close(exec_pipe[0]);
    int failure = 0;
    if (::dup2(in_fd, STDIN_FILENO) < 0 || ::dup2(out_fd, STDOUT_FILENO) < 0 ||
        ::dup2(err_fd, STDERR_FILENO) < 0 || (directory && ::chdir(directory) != 0)) {
      failure = errno;
    } else {
      ::execve(argv[0], argv.data(), envp.data());
      failure = errno;
    }
    ssize_t ignored = ::write(exec_pipe[1], &failure, sizeof failure);
    (void)ignored;
    ::_exit(127);
  }
  child->pid_ = pid;
  ::close(exec_pipe[1]);
  ::close(in_fd);
  if (feed_fd >= 0) {
    child->feeder_ =
        std::thread(&ChildProcess::feed, child.get(), feed_fd, *options.streamed_input);
  }
  ::close(out_fd);
  ::close(err_fd);
  int failure = 0;
  ssize_t got;
  do {
    got = ::read(exec_pipe[0], &failure, sizeof failure);
  } while (got < 0 && errno == EINTR);
  ::close(exec_pipe[0]);
  if (got == static_cast<ssize_t>(sizeof failure)) {
    child->try_reap(0);
    errno = failure;
    throw system_error("cannot execute " + program);
  }
  return child;
}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !reaped_) {
    ::kill(pid_, SIGKILL);
    try_reap(0);
  }
  stop_feeding();
}

// Runs on feeder_: writes the input without blocking, so that it can be stopped at any time, and
// closes the pipe at the end. SIGPIPE is blocked on this thread: a closed pipe is EPIPE.
void ChildProcess::feed(int fd, StreamedInput input) {
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);
  ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string block = input.prefix;
  std::size_t offset = 0;
  std::uint64_t written = 0;
  while (written < input.total_bytes && !stop_feeder_) {
    if (offset == block.size()) {
      block.clear();
      offset = 0;
      while (block.size() < 64 * 1024 && !input.unit.empty()) block += input.unit;
      if (block.empty()) break;
    }
    const std::size_t wanted = static_cast<std::size_t>(
        std::min<std::uint64_t>(block.size() - offset, input.total_bytes - written));
    const ssize_t done = ::write(fd, block.data() + offset, wanted);
    if (done > 0) {
      offset += static_cast<std::size_t>(done);
      written += static_cast<std::uint64_t>(done);
      fed_ = written;
    } else if (done < 0 && (errno == EAGAIN || errno == EINTR)) {
      pollfd writable{fd, POLLOUT, 0};
      ::poll(&writable, 1, 50);
    } else {
      break;  // EPIPE: the child is gone or closed its standard input
    }
  }
  ::close(fd);
}

void ChildProcess::stop_feeding() {
  if (!feeder_.joinable()) return;
  stop_feeder_ = true;
  feeder_.join();
}

bool ChildProcess::try_reap(int flags) {
  if (reaped_) return true;
  int status = 0;
  pid_t done;
  do {
    done = ::waitpid(pid_, &status, flags);
  } while (done < 0 && errno == EINTR);
  if (done == pid_) {
    reaped_ = true;
    wait_status_ = status;
  }
  return reaped_;
}

std::string ChildProcess::error_so_far() const { return read_file(capture_->file("stderr")); }

bool ChildProcess::running() { return !try_reap(WNOHANG); }

void ChildProcess::kill(int signal) {
  if (!try_reap(WNOHANG)) ::kill(pid_, signal);
}

ProcessResult ChildProcess::wait(std::chrono::milliseconds timeout) {
  ProcessResult result;
  const auto deadline = started_ + timeout;
  // Poll with a short, growing interval: a child that finishes quickly is seen at once.
  auto interval = std::chrono::microseconds(200);
  while (!try_reap(WNOHANG)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid_, SIGKILL);
      try_reap(0);
      result.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(interval);
    interval = std::min(interval * 2, std::chrono::microseconds(10000));
  }
  result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - started_);
  stop_feeding();
  result.input_written = fed_;
  if (WIFEXITED(wait_status_)) {
    result.exited = true;
    result.exit_status = WEXITSTATUS(wait_status_);
  } else if (WIFSIGNALED(wait_status_)) {
    result.signal = WTERMSIG(wait_status_);
  }
  result.out = read_file(capture_->file("stdout"));
  result.err = read_file(capture_->file("stderr"));
  return result;
}

ProcessResult run_process(const std::string& program, const std::vector<std::string>& arguments,
                          const ProcessOptions& options, std::chrono::milliseconds timeout) {
  return ChildProcess::spawn(program, arguments, options)->wait(timeout);
}

std::string find_executable(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string directories = path && *path ? path : "/usr/local/bin:/usr/bin:/bin";
  std::size_t start = 0;
  while (start <= directories.size()) {
    std::size_t end = directories.find(':', start);
    if (end == std::string::npos) end = directories.size();
    std::string candidate = directories.substr(start, end - start) + "/" + name;
    if (end > start && candidate.front() == '/' && ::access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
    start = end + 1;
  }
  return {};
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  out.close();
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

std::vector<std::string> processes_with_environment(const std::string& name,
                                                    const std::string& value) {
  const std::string needle = name + "=" + value + '\0';
  std::vector<std::string> found;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = entry.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string environment = read_file(entry.path() / "environ");
    const std::string status = read_file(entry.path() / "stat");
    const bool zombie = status.find(") Z ") != std::string::npos;
    if (!zombie && environment.find(needle) != std::string::npos) found.push_back(pid);
  }
  return found;
}

SqliteProbe::SqliteProbe(const std::string& path) {
  int rc = sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error("cannot open " + path + ": " + message);
  }
  sqlite3_db_config(db_, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr);
}

SqliteProbe::~SqliteProbe() { sqlite3_close(db_); }

void SqliteProbe::exec(const std::string& sql) {
  char* error = nullptr;
  int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
  std::string message = error ? error : "";
  sqlite3_free(error);
  if (rc != SQLITE_OK) throw std::runtime_error(sql + ": " + message);
}

namespace {

// Runs `sql` and calls `row` for every row with the statement.
template <typename RowFunction>
void for_each_row(sqlite3* db, const std::string& sql, RowFunction row) {
  sqlite3_stmt* statement = nullptr;
  int rc = sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr);
  if (rc != SQLITE_OK) throw std::runtime_error(sql + ": " + sqlite3_errmsg(db));
  while ((rc = sqlite3_step(statement)) == SQLITE_ROW) row(statement);
  std::string message = sqlite3_errmsg(db);
  sqlite3_finalize(statement);
  if (rc != SQLITE_DONE) throw std::runtime_error(sql + ": " + message);
}

std::string column_text(sqlite3_stmt* statement, int column) {
  const auto* data = sqlite3_column_text(statement, column);
  if (!data) return {};
  return {reinterpret_cast<const char*>(data),
          static_cast<std::size_t>(sqlite3_column_bytes(statement, column))};
}

// FNV-1a, then a final avalanche (splitmix64) so that summing row hashes mixes well.
struct RowHash {
  std::uint64_t state = 1469598103934665603ull;
  void add(const void* data, std::size_t size) {
    const auto* bytes = static_cast<const unsigned char*>(data);
    for (std::size_t i = 0; i < size; ++i) {
      state ^= bytes[i];
      state *= 1099511628211ull;
    }
  }
  std::uint64_t finish() const {
    std::uint64_t z = state + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
};

}  // namespace

std::int64_t SqliteProbe::integer(const std::string& sql) {
  std::optional<std::int64_t> value;
  for_each_row(db_, sql, [&](sqlite3_stmt* statement) {
    if (!value) value = sqlite3_column_int64(statement, 0);
  });
  if (!value) throw std::runtime_error(sql + ": no row");
  return *value;
}

std::string SqliteProbe::text(const std::string& sql) {
  std::optional<std::string> value;
  for_each_row(db_, sql, [&](sqlite3_stmt* statement) {
    if (!value) value = column_text(statement, 0);
  });
  if (!value) throw std::runtime_error(sql + ": no row");
  return *value;
}

std::vector<std::string> SqliteProbe::column(const std::string& sql) {
  std::vector<std::string> values;
  for_each_row(db_, sql,
               [&](sqlite3_stmt* statement) { values.push_back(column_text(statement, 0)); });
  return values;
}

SqliteProbe::Digest SqliteProbe::digest(const std::string& sql) {
  Digest digest;
  for_each_row(db_, sql, [&](sqlite3_stmt* statement) {
    RowHash hash;
    int columns = sqlite3_column_count(statement);
    for (int i = 0; i < columns; ++i) {
      int type = sqlite3_column_type(statement, i);
      const void* data = type == SQLITE_NULL ? nullptr : sqlite3_column_blob(statement, i);
      std::uint64_t size =
          data ? static_cast<std::uint64_t>(sqlite3_column_bytes(statement, i)) : 0;
      hash.add(&type, sizeof type);
      hash.add(&size, sizeof size);
      if (data) hash.add(data, size);
    }
    ++digest.rows;
    digest.sum += hash.finish();
  });
  return digest;
}

}  // namespace iotreg::test
