// The check worker: the body of `iotreg __check-worker FD SHA256:PLUGIN...`. It reads its first
// frame from descriptor FD, then loads the plugins, refusing any whose file no longer has the
// given SHA-256. To kDescribe it answers with the plugins' descriptions and exits; after kSetup
// it answers each batch, declaration by declaration, keeping the progress page (on descriptor
// detail::kWorkerProgressDescriptor) current. The host has pointed standard output at
// /dev/null, so that what a plugin prints cannot reach the protocol, and limited the address
// space; an allocation the limit refuses ends the worker with kWorkerOutOfMemory.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <iostream>
#include <new>

#include "registry/checks/checks.h"
#include "registry/checks/detail/loaded_check.h"
#include "registry/checks/detail/sandbox.h"
#include "registry/checks/detail/worker_process.h"
#include "registry/checks/detail/worker_protocol.h"
#include "registry/core/varint.h"

namespace iotreg::checks {
namespace {

constexpr int kProtocolDescriptorFloor = 100;
constexpr std::uint64_t kMaxRequestBytes = std::uint64_t{1} << 32;
constexpr std::size_t kSha256HexDigits = 64;
// How long findings may wait in the worker before they are sent back, in nanoseconds.
constexpr std::int64_t kFlushAfterNs = 5'000'000;

// CLOCK_MONOTONIC_COARSE: read from the vDSO in a few nanoseconds, at most a clock tick behind
// CLOCK_MONOTONIC (protocol::WorkerProgress).
std::int64_t coarse_now_ns() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
  return static_cast<std::int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

bool read_exactly(int fd, char* data, std::size_t size) {
  while (size > 0) {
    ssize_t got = ::read(fd, data, size);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return false;
    data += got;
    size -= static_cast<std::size_t>(got);
  }
  return true;
}

bool write_all(int fd, const std::string& data) {
  std::size_t written = 0;
  while (written < data.size()) {
    ssize_t put = ::write(fd, data.data() + written, data.size() - written);
    if (put < 0 && errno == EINTR) continue;
    if (put <= 0) return false;
    written += static_cast<std::size_t>(put);
  }
  return true;
}

// One frame's payload; false at the end of input or on a malformed header.
bool read_frame(int fd, std::string& payload) {
  std::uint64_t size = 0;
  for (int shift = 0;; shift += 7) {
    unsigned char byte = 0;
    if (shift > 63 || !read_exactly(fd, reinterpret_cast<char*>(&byte), 1)) return false;
    size |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
    if (!(byte & 0x80)) break;
  }
  if (size > kMaxRequestBytes) return false;
  payload.resize(size);
  return read_exactly(fd, payload.data(), size);
}

}  // namespace

int run_check_worker(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: iotreg __check-worker FD SHA256:PLUGIN...\n";
    return 2;
  }
  std::set_new_handler([] { ::_exit(kWorkerOutOfMemory); });
  // The progress page, mapped before any plugin code runs and its descriptor closed, so that a
  // plugin cannot find it among its descriptors. Without one (a worker started by hand) the
  // progress is kept here, where nobody reads it.
  static protocol::WorkerProgress unread;
  protocol::WorkerProgress* progress = &unread;
  void* page = ::mmap(nullptr, sizeof(protocol::WorkerProgress), PROT_READ | PROT_WRITE, MAP_SHARED,
                      detail::kWorkerProgressDescriptor, 0);
  if (page != MAP_FAILED) progress = static_cast<protocol::WorkerProgress*>(page);
  ::close(detail::kWorkerProgressDescriptor);
  int inherited = std::atoi(argv[0]);
  int fd = ::fcntl(inherited, F_DUPFD_CLOEXEC, kProtocolDescriptorFloor);
  if (fd < 0) return 2;
  ::close(inherited);
  std::vector<detail::WorkerProcess::PluginFile> files;
  for (int i = 1; i < argc; ++i) {
    std::string_view argument = argv[i];
    if (argument.size() <= kSha256HexDigits + 1 || argument[kSha256HexDigits] != ':') {
      std::cerr << "iotreg check worker: " << argument << ": expected SHA256:PLUGIN\n";
      return 2;
    }
    files.push_back({std::string(argument.substr(kSha256HexDigits + 1)),
                     std::string(argument.substr(0, kSha256HexDigits))});
  }
  // The sandbox comes before any plugin code, static initialisers included, runs.
  const char* sandbox = std::getenv(detail::kWorkerSandboxVariable);
  if (!sandbox || std::string_view(sandbox) != "off") {
    std::vector<std::string> paths;
    for (const auto& file : files) paths.push_back(file.path);
    if (std::string failure = detail::enter_sandbox(paths); !failure.empty()) {
      std::cerr << "iotreg check worker: " << failure << "\n";
      return detail::kWorkerSandboxFailed;
    }
  }
  std::string setup_payload;
  if (!read_frame(fd, setup_payload) || setup_payload.empty()) return 0;
  if (static_cast<unsigned char>(setup_payload[0]) == protocol::kDescribe) {
    std::vector<Result<PluginDescription>> described;
    for (const auto& file : files) {
      auto plugin = detail::load_plugin(file.path, file.sha256);  // if its hash is unchanged
      if (plugin.is_ok()) {
        described.push_back(std::move(plugin->description));
      } else {
        described.push_back(plugin.status());
      }
    }
    std::string reply, frame;
    protocol::encode_description(described, reply);
    protocol::put_frame_header(frame, reply.size());
    frame += reply;
    return write_all(fd, frame) ? 0 : 2;
  }
  std::vector<PluginSet::LoadedCheck> loaded;
  for (const auto& file : files) {
    auto plugin = detail::load_plugin(file.path, file.sha256);  // if its hash is unchanged
    if (!plugin.is_ok()) {
      std::cerr << "iotreg check worker: " << plugin.status().message() << "\n";
      return detail::kWorkerPluginRefused;
    }
    for (auto& check : plugin->checks) loaded.push_back(std::move(check));
  }
  protocol::DecodedSetup setup;
  if (!protocol::decode_setup(setup_payload, setup)) return 4;
  std::vector<RunFunction> runs;
  for (const auto& check : setup.checks) {
    RunFunction run = nullptr;
    for (const auto& candidate : loaded) {
      if (candidate.description.id == check.id) run = candidate.run;
    }
    if (!run) {
      std::cerr << "iotreg check worker: no loaded plugin has the check " << check.id << "\n";
      return 4;
    }
    runs.push_back(run);
  }

  iotreg_check_input input{};
  input.struct_size = sizeof input;
  input.as_of = {setup.as_of.data(), setup.as_of.size()};
  input.policy_id = {setup.policy_id.data(), setup.policy_id.size()};
  std::string request, reply, frame;
  std::vector<protocol::DecodedItem> items;
  std::vector<std::string_view> paths;
  std::vector<Finding> findings;
  std::uint64_t batch = 0;
  while (read_frame(fd, request)) {
    if (!protocol::decode_batch(request, paths, items)) return 4;
    findings.resize(items.size() * runs.size());  // every finding is overwritten
    progress->batch.store(++batch, std::memory_order_release);
    // Findings go back as soon as kFlushAfter has passed since the last results message, and
    // at the end of the batch: a slow check's findings stream back one declaration at a time,
    // a fast check's a batch at a time.
    std::size_t unsent = 0;
    std::int64_t last_sent = coarse_now_ns();
    for (std::size_t i = 0; i < items.size(); ++i) {
      input.declaration = &items[i].declaration.view;
      input.earlier = items[i].earlier_views.data();
      input.earlier_count = items[i].earlier_views.size();
      progress->declaration.store(static_cast<std::uint32_t>(i), std::memory_order_relaxed);
      for (std::size_t c = 0; c < runs.size(); ++c) {
        input.parameters = setup.checks[c].parameters.data();
        input.parameter_count = setup.checks[c].parameters.size();
        Finding& finding = findings[i * runs.size() + c];
        progress->check.store(static_cast<std::uint32_t>(c), std::memory_order_relaxed);
        progress->started_ns.store(coarse_now_ns(), std::memory_order_release);
        detail::run_check(runs[c], input, finding);
        if (std::string denied = detail::take_sandbox_denials(); !denied.empty()) {
          finding.outcome = Outcome::kError;
          finding.message = std::move(denied);
          finding.field.clear();
        }
      }
      const std::int64_t now = coarse_now_ns();
      if (i + 1 == items.size() || now - last_sent >= kFlushAfterNs) {
        protocol::encode_results(unsent, i + 1 - unsent, runs.size(), findings, reply);
        frame.clear();
        protocol::put_frame_header(frame, reply.size());
        frame += reply;
        if (!write_all(fd, frame)) return 0;
        unsent = i + 1;
        last_sent = now;
      }
    }
  }
  return 0;
}

}  // namespace iotreg::checks
