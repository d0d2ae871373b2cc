// Test support for end-to-end tests: child processes, temporary directories, database probes.
//
// ChildProcess runs a program with fork/execve (never a shell), feeds it optional standard
// input (a string, or a long stream written through a pipe by a thread of its own while the
// child runs), captures its standard output and error into private temporary files and reaps it;
// destroying a child that is still running kills it with SIGKILL and waits for it, so no test
// leaves a process behind. TempDir owns a fresh directory and removes it recursively.
// SqliteProbe is a test's own connection to a registry file, to look inside it. None of them is
// thread-safe; each owns its resource and cannot be copied.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

struct sqlite3;

namespace iotreg::test {

// A directory created with mkdtemp under $TMPDIR (else /tmp), removed with everything in it
// on destruction (permissions are restored first, so chmod 000 entries do not stop it).
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The absolute path of `name` inside the directory, as a string for command lines.
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Standard input written through a pipe while the child runs: `prefix`, then `unit` over and
// over, until `total_bytes` are written or the child closes its end (by exiting, or by being
// killed at the deadline).
struct StreamedInput {
  std::string prefix;
  std::string unit;
  std::uint64_t total_bytes = 0;
};

struct ProcessOptions {
  // Variables added to (or replacing those of) the test's environment.
  std::vector<std::pair<std::string, std::string>> environment;
  // Variables removed from the inherited environment.
  std::vector<std::string> unset_environment;
  // Standard input; nullopt gives the child /dev/null (unless streamed_input is set).
  std::optional<std::string> standard_input;
  // Standard input from a pipe instead; standard_input must then be nullopt.
  std::optional<StreamedInput> streamed_input;
  // Working directory of the child; empty keeps the test's.
  std::string working_directory;
  // When set, standard output goes to this file instead of ProcessResult::out.
  std::string stdout_path;
};

struct ProcessResult {
  bool exited = false;     // true when the child called exit(); then exit_status is valid
  int exit_status = -1;    // the exit status, or -1 when the child was killed by a signal
  int signal = 0;          // the terminating signal, 0 when it exited
  bool timed_out = false;  // wait() gave up and killed the child with SIGKILL
  std::string out;         // everything the child wrote to standard output
  std::string err;         // everything the child wrote to standard error
  std::chrono::milliseconds elapsed{0};  // from spawn to reaping
  std::uint64_t input_written = 0;       // bytes of a StreamedInput the child was given

  // "exit 1", "signal 9", "timed out (signal 9)": for doctest messages.
  std::string describe() const;
};

// One running child. Created by spawn(); the destructor kills (SIGKILL) and reaps a child that
// has not been waited for.
class ChildProcess {
 public:
  // Starts `program` (an absolute path) with `arguments` (argv[1..]). Throws std::runtime_error
  // when the child cannot be started (fork or exec failed): a broken test setup, not a result.
  static std::unique_ptr<ChildProcess> spawn(const std::string& program,
                                             const std::vector<std::string>& arguments,
                                             const ProcessOptions& options = {});
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // What the child has written to standard error so far.
  std::string error_so_far() const;
  // True while the child has not terminated (reaps it when it has).
  bool running();
  // Sends `signal` (default SIGKILL) if the child is still running.
  void kill(int signal);
  // Waits until the child terminates or `timeout` passes (then SIGKILL and a reap), and
  // returns its status and captured output. Call once.
  ProcessResult wait(std::chrono::milliseconds timeout = std::chrono::minutes(2));

 private:
  ChildProcess() = default;
  bool try_reap(int flags);

  void feed(int fd, StreamedInput input);
  void stop_feeding();

  pid_t pid_ = -1;
  bool reaped_ = false;
  int wait_status_ = 0;
  std::chrono::steady_clock::time_point started_;
  std::unique_ptr<TempDir> capture_;  // holds the stdin/stdout/stderr files
  // Writes a StreamedInput; stopped and joined once the child is reaped.
  std::thread feeder_;
  std::atomic<bool> stop_feeder_{false};
  std::atomic<std::uint64_t> fed_{0};
};

// Runs a program to completion (spawn + wait).
ProcessResult run_process(const std::string& program, const std::vector<std::string>& arguments,
                          const ProcessOptions& options = {},
                          std::chrono::milliseconds timeout = std::chrono::minutes(2));

// The absolute path of `name` found in $PATH; empty when there is none.
std::string find_executable(const std::string& name);

// The whole content of a file; empty when it cannot be read.
std::string read_file(const std::filesystem::path& path);
// Writes (replaces) a file; throws std::runtime_error on failure.
void write_file(const std::filesystem::path& path, const std::string& content);

// The lines of a text, without their "\n" (a final line without one is included).
std::vector<std::string> split_lines(const std::string& text);

// The ids of the live (not zombie) processes whose environment holds NAME=VALUE: a process
// started with it and everything it started, which inherit it.
std::vector<std::string> processes_with_environment(const std::string& name,
                                                    const std::string& value);

// A connection of the test itself to an SQLite file. It never checkpoints on close, so a
// write-ahead log left behind by a killed process stays for the next process to recover.
// Every failure throws std::runtime_error naming the statement: a test setup error.
class SqliteProbe {
 public:
  explicit SqliteProbe(const std::string& path);
  ~SqliteProbe();
  SqliteProbe(const SqliteProbe&) = delete;
  SqliteProbe& operator=(const SqliteProbe&) = delete;

  // Runs statements that return no rows.
  void exec(const std::string& sql);
  // The first column of the first row, as an integer or text (the query must return a row).
  std::int64_t integer(const std::string& sql);
  std::string text(const std::string& sql);
  // Every row of a one-column query, as text.
  std::vector<std::string> column(const std::string& sql);

  // A digest of a query's rows that does not depend on their order: the number of rows and the
  // sum of a 64-bit hash of each row (every column's type, length and bytes). Two results
  // with the same multiset of rows have the same digest.
  struct Digest {
    std::uint64_t rows = 0;
    std::uint64_t sum = 0;
    bool operator==(const Digest&) const = default;
  };
  Digest digest(const std::string& sql);

 private:
  sqlite3* db_ = nullptr;
};

}  // namespace iotreg::test
