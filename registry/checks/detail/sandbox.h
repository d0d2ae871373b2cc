// The sandbox of a check worker, private to registry/checks: what the kernel offers
// (sandbox_support(), asked by the host and by `iotreg plugins`) and, in the worker, entering it
// before any plugin is loaded (enter_sandbox()), then reading what plugins tried and were denied
// (take_sandbox_denials()). The sandbox is no_new_privs, no capabilities, a Landlock ruleset
// that lets the worker read only the plugin directories and the system libraries and write
// nothing, and a seccomp filter that denies sockets, running programs, starting processes,
// ptrace, signals to other processes and changing resource limits. Threads stay allowed.
// Everything here is for one process; take_sandbox_denials() may be called from any thread.
#pragma once

#include <string>
#include <vector>

namespace iotreg::checks::detail {

struct SandboxSupport {
  bool seccomp = false;
  int landlock_abi = 0;          // 0: the kernel offers no Landlock
  std::string seccomp_missing;   // why seccomp is unavailable, when it is
  std::string landlock_missing;  // why Landlock is unavailable, when it is
};

// What this kernel offers, probed without restricting this process.
SandboxSupport sandbox_support();

// "seccomp yes, landlock yes (ABI 7)", or with "no (<why>)" for what is missing.
std::string sandbox_summary(const SandboxSupport& support);

// In a worker, before any plugin is loaded: restricts this process for good, allowing reads of
// `plugin_paths`' directories. Mechanisms the kernel lacks are left out. Empty on success; else
// why the sandbox could not be entered (the worker must then not load any plugin).
std::string enter_sandbox(const std::vector<std::string>& plugin_paths);

// What plugins tried and were denied since the last call ("the plugin tried to open /x for
// writing: denied"; several joined by "; "), or empty; clears the record.
std::string take_sandbox_denials();

}  // namespace iotreg::checks::detail
