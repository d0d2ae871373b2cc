// The check worker's sandbox (detail/sandbox.h). Denials go through SECCOMP_RET_TRAP: the
// kernel raises SIGSYS instead of running the call, and on_denied() records what was tried and
// makes the call fail with EACCES or EPERM, so the plugin sees an ordinary error and the worker
// carries on. Opening for reading is trapped too and re-issued by on_denied() with a cookie in
// an argument openat() ignores, which the filter lets through: Landlock then decides, and a
// refusal is recorded with its path. A plugin that passes the cookie itself only skips the
// record; Landlock still refuses.
#include "registry/checks/detail/sandbox.h"

#include "registry/checks/checks.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <set>

namespace iotreg::checks::detail {
namespace {

// The cookie on_denied() puts in openat()'s unused fifth argument.
constexpr std::uint64_t kOpenCookie = 0x696f747265672121ULL;
// LANDLOCK_ACCESS_FS_TRUNCATE (Landlock ABI 3), which Debian 12's headers predate.
constexpr std::uint64_t kLandlockTruncate = 1ULL << 14;
constexpr std::uint64_t kLandlockRead =
    LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
// What the system libraries and the dynamic loader need to be read.
constexpr const char* kSystemReadable[] = {
    "/usr", "/lib", "/lib64", "/lib32", "/libx32", "/etc/ld.so.cache", "/etc/localtime"};

// The registers of a trapped system call's arguments and result.
#if defined(__x86_64__)
std::uint64_t syscall_argument(const ucontext_t* context, int n) {
  static constexpr int kRegisters[] = {REG_RDI, REG_RSI, REG_RDX, REG_R10, REG_R8, REG_R9};
  return static_cast<std::uint64_t>(context->uc_mcontext.gregs[kRegisters[n]]);
}
void set_syscall_result(ucontext_t* context, long result) {
  context->uc_mcontext.gregs[REG_RAX] = result;
}
#elif defined(__aarch64__)
std::uint64_t syscall_argument(const ucontext_t* context, int n) {
  return context->uc_mcontext.regs[n];
}
void set_syscall_result(ucontext_t* context, long result) {
  context->uc_mcontext.regs[0] = static_cast<std::uint64_t>(result);
}
#else
#error "the sandbox knows the system call registers of x86-64 and AArch64 only"
#endif

// The denials recorded since take_sandbox_denials() last ran: written by on_denied() (in a
// signal handler, so a fixed buffer and an atomic count), at most kMaxDenials of them.
constexpr int kMaxDenials = 8;
constexpr std::size_t kDenialBytes = 320;
char g_denials[kMaxDenials][kDenialBytes];
std::atomic<int> g_denial_count{0};
std::atomic<int> g_denials_lost{0};

// Appends, async-signal-safely, to a fixed buffer; escapes control bytes as '?'.
struct Writer {
  char* out;
  std::size_t size;
  std::size_t used = 0;
  void put(const char* text, std::size_t limit = 256) {
    for (std::size_t i = 0; text[i] != '\0' && i < limit && used + 1 < size; ++i) {
      auto byte = static_cast<unsigned char>(text[i]);
      out[used++] = byte < 0x20 || byte == 0x7F ? '?' : text[i];
    }
    out[used] = '\0';
  }
  void number(long value) {
    char digits[24];
    int n = 0;
    unsigned long magnitude = value < 0 ? 0UL - static_cast<unsigned long>(value) : value;
    do {
      digits[n++] = static_cast<char>('0' + magnitude % 10);
      magnitude /= 10;
    } while (magnitude != 0 && n < 22);
    if (value < 0) digits[n++] = '-';
    char text[24];
    for (int i = 0; i < n; ++i) text[i] = digits[n - 1 - i];
    text[n] = '\0';
    put(text);
  }
};

bool opens_for_writing(std::uint64_t flags) {
  return (flags & (O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND)) != 0;
}

// What the denied call `number` with arguments `a` tried, completing "the plugin tried to ".
void describe(Writer& text, long number, const std::uint64_t* a) {
  auto path = [&](int n) { text.put(reinterpret_cast<const char*>(a[n])); };
  switch (number) {
    case SYS_openat:
      text.put("open ");
      path(1);
      text.put(opens_for_writing(a[2]) ? " for writing" : " for reading");
      return;
    case SYS_open:
      text.put("open ");
      path(0);
      return;
    case SYS_creat:
      text.put("create ");
      path(0);
      return;
    case SYS_execve:
    case SYS_execveat:
      text.put("run the program ");
      path(number == SYS_execve ? 0 : 1);
      return;
    case SYS_socket:
    case SYS_socketpair:
      text.put("create a socket");
      return;
    case SYS_connect:
      text.put("connect a socket");
      return;
    case SYS_fork:
    case SYS_vfork:
    case SYS_clone:
      text.put("start a process");
      return;
    case SYS_ptrace:
    case SYS_process_vm_readv:
    case SYS_process_vm_writev:
      text.put("trace or read another process");
      return;
    case SYS_setrlimit:
    case SYS_prlimit64:
      text.put("change its resource limits");
      return;
    case SYS_kill:
    case SYS_tgkill:
    case SYS_rt_sigqueueinfo:
    case SYS_rt_tgsigqueueinfo:
      text.put("send a signal to process ");
      text.number(static_cast<long>(static_cast<int>(a[0])));
      return;
    default:
      text.put("make the system call number ");
      text.number(number);
  }
}

// The SIGSYS handler: the filter trapped a call. Records it unless it was a read that Landlock
// allows, and sets the call's result.
void on_denied(int, siginfo_t* info, void* raw_context) {
  int saved_errno = errno;
  auto* context = static_cast<ucontext_t*>(raw_context);
  long number = info->si_syscall;
  std::uint64_t a[6];
  for (int i = 0; i < 6; ++i) a[i] = syscall_argument(context, i);
  long result = -EPERM;
  bool denied = true;
  if (number == SYS_openat && !opens_for_writing(a[2])) {
    result = ::syscall(SYS_openat, a[0], a[1], a[2], a[3], kOpenCookie);
    if (result < 0) result = -errno;
    denied = result == -EACCES || result == -EPERM;
  } else if (number == SYS_openat || number == SYS_open || number == SYS_creat) {
    result = -EACCES;
  }
  if (denied) {
    int slot = g_denial_count.fetch_add(1);
    if (slot < kMaxDenials) {
      Writer text{g_denials[slot], kDenialBytes};
      text.put("the plugin tried to ");
      describe(text, number, a);
      text.put(": denied");
    } else {
      g_denials_lost.fetch_add(1);
    }
  }
  set_syscall_result(context, result);
  errno = saved_errno;
}

std::string landlock_error(const char* what) {
  return std::string("cannot ") + what + " the Landlock ruleset: " + std::strerror(errno);
}

// Restricts this process's file system access; the caller has set no_new_privs.
std::string enter_landlock(int abi, const std::vector<std::string>& plugin_paths) {
  landlock_ruleset_attr ruleset{};
  ruleset.handled_access_fs =
      LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_READ_FILE |
      LANDLOCK_ACCESS_FS_READ_DIR | LANDLOCK_ACCESS_FS_REMOVE_DIR | LANDLOCK_ACCESS_FS_REMOVE_FILE |
      LANDLOCK_ACCESS_FS_MAKE_CHAR | LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |
      LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO | LANDLOCK_ACCESS_FS_MAKE_BLOCK |
      LANDLOCK_ACCESS_FS_MAKE_SYM;
  if (abi >= 2) ruleset.handled_access_fs |= LANDLOCK_ACCESS_FS_REFER;
  if (abi >= 3) ruleset.handled_access_fs |= kLandlockTruncate;
  int ruleset_fd =
      static_cast<int>(::syscall(SYS_landlock_create_ruleset, &ruleset, sizeof ruleset, 0));
  if (ruleset_fd < 0) return landlock_error("create");
  std::set<std::string> readable(std::begin(kSystemReadable), std::end(kSystemReadable));
  for (const auto& path : plugin_paths) {
    readable.insert(std::filesystem::path(path).parent_path().string());
  }
  std::string failure;
  for (const auto& path : readable) {
    int fd = ::open(path.c_str(), O_PATH | O_CLOEXEC);
    if (fd < 0) continue;  // a system directory this machine lacks
    landlock_path_beneath_attr rule{};
    rule.parent_fd = fd;
    rule.allowed_access = kLandlockRead;
    struct stat status {};
    // A file (not a directory) accepts only file rights.
    if (::fstat(fd, &status) == 0 && !S_ISDIR(status.st_mode)) {
      rule.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE;
    }
    if (::syscall(SYS_landlock_add_rule, ruleset_fd, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) != 0) {
      failure = landlock_error(("add " + path + " to").c_str());
    }
    ::close(fd);
    if (!failure.empty()) break;
  }
  if (failure.empty() && ::syscall(SYS_landlock_restrict_self, ruleset_fd, 0) != 0) {
    failure = landlock_error("enforce");
  }
  ::close(ruleset_fd);
  return failure;
}

std::string enter_seccomp() {
  struct sigaction action {};
  action.sa_sigaction = on_denied;
  action.sa_flags = SA_SIGINFO;
  ::sigemptyset(&action.sa_mask);
  if (::sigaction(SIGSYS, &action, nullptr) != 0) {
    return std::string("cannot handle SIGSYS: ") + std::strerror(errno);
  }
  sigset_t sigsys;
  ::sigemptyset(&sigsys);
  ::sigaddset(&sigsys, SIGSYS);
  ::sigprocmask(SIG_UNBLOCK, &sigsys, nullptr);
  scmp_filter_ctx filter = ::seccomp_init(SCMP_ACT_ALLOW);
  if (!filter) return "cannot create a seccomp filter";
  const auto self = static_cast<scmp_datum_t>(::getpid());
  const int trap_always[] = {SCMP_SYS(open),
                             SCMP_SYS(creat),
                             SCMP_SYS(socket),
                             SCMP_SYS(socketpair),
                             SCMP_SYS(connect),
                             SCMP_SYS(bind),
                             SCMP_SYS(listen),
                             SCMP_SYS(execve),
                             SCMP_SYS(execveat),
                             SCMP_SYS(fork),
                             SCMP_SYS(vfork),
                             SCMP_SYS(ptrace),
                             SCMP_SYS(process_vm_readv),
                             SCMP_SYS(process_vm_writev),
                             SCMP_SYS(setrlimit),
                             SCMP_SYS(tkill),
                             SCMP_SYS(pidfd_open),
                             SCMP_SYS(pidfd_send_signal),
                             SCMP_SYS(pidfd_getfd),
                             SCMP_SYS(setsid),
                             SCMP_SYS(setpgid),
                             SCMP_SYS(unshare),
                             SCMP_SYS(setns),
                             SCMP_SYS(mount),
                             SCMP_SYS(umount2),
                             SCMP_SYS(chroot),
                             SCMP_SYS(pivot_root),
                             SCMP_SYS(bpf),
                             SCMP_SYS(perf_event_open),
                             SCMP_SYS(userfaultfd),
                             SCMP_SYS(keyctl),
                             SCMP_SYS(add_key),
                             SCMP_SYS(request_key),
                             SCMP_SYS(io_uring_setup),
                             SCMP_SYS(io_uring_enter),
                             SCMP_SYS(io_uring_register),
                             SCMP_SYS(init_module),
                             SCMP_SYS(finit_module),
                             SCMP_SYS(delete_module),
                             SCMP_SYS(kexec_load),
                             SCMP_SYS(reboot),
                             SCMP_SYS(swapon),
                             SCMP_SYS(swapoff),
                             SCMP_SYS(capset),
                             SCMP_SYS(setuid),
                             SCMP_SYS(setgid),
                             SCMP_SYS(setreuid),
                             SCMP_SYS(setregid),
                             SCMP_SYS(setresuid),
                             SCMP_SYS(setresgid),
                             SCMP_SYS(setgroups),
                             SCMP_SYS(name_to_handle_at),
                             SCMP_SYS(open_by_handle_at)};
  int rc = 0;
  for (int number : trap_always) {
    if (rc == 0) rc = ::seccomp_rule_add(filter, SCMP_ACT_TRAP, number, 0);
  }
  const int trap = static_cast<int>(SCMP_ACT_TRAP);
  struct Rule {
    int number;
    scmp_arg_cmp compare;
  };
  const Rule conditional[] = {
      // Processes, not threads.
      {SCMP_SYS(clone), SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, 0)},
      // Setting limits; prlimit64(0, resource, NULL, &old) only reads them.
      {SCMP_SYS(prlimit64), SCMP_A2(SCMP_CMP_NE, 0)},
      // Signals to any process but this one.
      {SCMP_SYS(kill), SCMP_A0(SCMP_CMP_NE, self)},
      {SCMP_SYS(tgkill), SCMP_A0(SCMP_CMP_NE, self)},
      {SCMP_SYS(rt_sigqueueinfo), SCMP_A0(SCMP_CMP_NE, self)},
      {SCMP_SYS(rt_tgsigqueueinfo), SCMP_A0(SCMP_CMP_NE, self)},
      // Opening for writing, and any opening without on_denied()'s cookie (see the top).
      {SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, O_WRONLY, O_WRONLY)},
      {SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, O_RDWR, O_RDWR)},
      {SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, O_CREAT, O_CREAT)},
      {SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, O_TRUNC, O_TRUNC)},
      {SCMP_SYS(openat), SCMP_A2(SCMP_CMP_MASKED_EQ, O_APPEND, O_APPEND)},
      {SCMP_SYS(openat), SCMP_A4(SCMP_CMP_NE, kOpenCookie)},
  };
  for (const auto& rule : conditional) {
    if (rc == 0) rc = ::seccomp_rule_add(filter, trap, rule.number, 1, rule.compare);
  }
  // clone3's flags are in memory the filter cannot read: glibc falls back to clone on ENOSYS.
  // openat2's flags likewise: glibc does not use it.
  for (int number : {SCMP_SYS(clone3), SCMP_SYS(openat2)}) {
    if (rc == 0) rc = ::seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), number, 0);
  }
  // The handler stays: a plugin may neither replace it nor change what SIGSYS does.
  if (rc == 0) {
    rc = ::seccomp_rule_add(filter, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(rt_sigaction), 1,
                            SCMP_A0(SCMP_CMP_EQ, SIGSYS));
  }
  if (rc == 0) rc = ::seccomp_load(filter);
  ::seccomp_release(filter);
  if (rc != 0) return std::string("cannot load the seccomp filter: ") + std::strerror(-rc);
  return {};
}

// Drops every capability this process has (a registry running as root must not lend a
// plugin root's powers); no_new_privs keeps them from coming back.
std::string drop_capabilities() {
  for (int capability = 0; capability <= CAP_LAST_CAP; ++capability) {
    if (::prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 && errno != EINVAL && errno != EPERM) {
      return std::string("cannot drop capabilities: ") + std::strerror(errno);
    }
  }
  ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3] = {};
  if (::syscall(SYS_capset, &header, none) != 0) {
    return std::string("cannot drop capabilities: ") + std::strerror(errno);
  }
  return {};
}

}  // namespace

SandboxSupport sandbox_support() {
  SandboxSupport support;
  long abi = ::syscall(SYS_landlock_create_ruleset, nullptr, 0, LANDLOCK_CREATE_RULESET_VERSION);
  if (abi > 0) {
    support.landlock_abi = static_cast<int>(abi);
  } else if (errno == ENOSYS) {
    support.landlock_missing = "the kernel lacks it";
  } else if (errno == EOPNOTSUPP) {
    support.landlock_missing = "the kernel has it turned off";
  } else {
    support.landlock_missing = std::strerror(errno);
  }
  // With filter mode available, a null program is refused with EFAULT before anything is set.
  if (::prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, nullptr, 0, 0) != 0 && errno == EFAULT) {
    support.seccomp = true;
  } else {
    support.seccomp_missing = errno == EINVAL ? "the kernel lacks it" : std::strerror(errno);
  }
  return support;
}

std::string sandbox_summary(const SandboxSupport& support) {
  std::string text = "seccomp ";
  text += support.seccomp ? "yes" : "no (" + support.seccomp_missing + ")";
  text += ", landlock ";
  text += support.landlock_abi > 0 ? "yes (ABI " + std::to_string(support.landlock_abi) + ")"
                                   : "no (" + support.landlock_missing + ")";
  return text;
}

std::string enter_sandbox(const std::vector<std::string>& plugin_paths) {
  SandboxSupport support = sandbox_support();
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return std::string("cannot set no_new_privs: ") + std::strerror(errno);
  }
  if (std::string failure = drop_capabilities(); !failure.empty()) return failure;
  if (support.landlock_abi > 0) {
    if (std::string failure = enter_landlock(support.landlock_abi, plugin_paths);
        !failure.empty()) {
      return failure;
    }
  }
  if (support.seccomp) return enter_seccomp();
  return {};
}

std::string take_sandbox_denials() {
  int count = g_denial_count.exchange(0);
  if (count == 0) return {};
  std::string text;
  for (int i = 0; i < count && i < kMaxDenials; ++i) {
    if (!text.empty()) text += "; ";
    text += g_denials[i];
  }
  int lost = g_denials_lost.exchange(0);
  if (lost > 0) text += "; and " + std::to_string(lost) + " more denied actions";
  return text;
}

}  // namespace iotreg::checks::detail

namespace iotreg::checks {

std::string worker_sandbox_summary() { return detail::sandbox_summary(detail::sandbox_support()); }

}  // namespace iotreg::checks
