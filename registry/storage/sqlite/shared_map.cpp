#include "registry/storage/sqlite/shared_map.h"

#include <sqlite3.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <utility>

namespace iotreg::storage::sqlite {
namespace {

using FileIdentity = std::pair<dev_t, ino_t>;

// One database file (device and inode) as the process maps it. It lives from the first page a
// connection asks for to the close of the last connection that asked, and is mapped through
// the descriptor of the connection that asks first. The shim opens no descriptor of its own:
// closing any descriptor of a file drops every POSIX lock the process holds on it, SQLite's
// included.
class MappedDatabase {
 public:
  explicit MappedDatabase(FileIdentity file) : identity(file) {}
  ~MappedDatabase() {
    if (base_ != nullptr) ::munmap(const_cast<char*>(base_), kSharedMapBytes);
  }

  // The bytes [offset, offset + size) of the file in place, or null when they cannot be
  // handed out: the file could not be mapped, or they lie beyond its end or the reservation.
  // `fd` is an open descriptor of this file.
  const void* bytes(int fd, sqlite3_int64 offset, int size) {
    std::call_once(mapped_, [this, fd] { map(fd); });
    if (base_ == nullptr || offset < 0 || size <= 0) return nullptr;
    const sqlite3_int64 end = offset + size;
    if (end > kSharedMapBytes) return nullptr;
    // Checkpoints grow the file; the size is read again only for bytes beyond the last one
    // read. When a checkpoint shrinks it, the pager asks for no page past the new end: every
    // page of its snapshot is in the file or in the write-ahead log.
    if (end > known_size_.load(std::memory_order_relaxed)) {
      struct stat info {};
      if (::fstat(fd, &info) != 0) return nullptr;
      known_size_.store(info.st_size, std::memory_order_relaxed);
      if (end > info.st_size) return nullptr;
    }
    return base_ + offset;
  }

  const FileIdentity identity;
  int files = 0;  // the open files that asked for pages; guarded by the registry's mutex

 private:
  void map(int fd) {
    void* base = ::mmap(nullptr, kSharedMapBytes, PROT_READ, MAP_SHARED, fd, 0);
    if (base != MAP_FAILED) base_ = static_cast<const char*>(base);
  }

  std::once_flag mapped_;
  const char* base_ = nullptr;  // set once, under mapped_
  std::atomic<sqlite3_int64> known_size_{0};
};

// The live mappings, by file. Never destroyed: a connection may close during the process's exit.
struct Registry {
  std::mutex mutex;
  std::map<FileIdentity, std::unique_ptr<MappedDatabase>> databases;  // erased with the last file
};
Registry& registry() {
  static Registry* const instance = new Registry();
  return *instance;
}

MappedDatabase* attach(const FileIdentity& identity) {
  Registry& mapped = registry();
  std::lock_guard lock(mapped.mutex);
  auto& database = mapped.databases[identity];
  if (!database) database = std::make_unique<MappedDatabase>(identity);
  ++database->files;
  return database.get();
}

void detach(MappedDatabase* database) {
  Registry& mapped = registry();
  std::lock_guard lock(mapped.mutex);
  if (--database->files == 0) mapped.databases.erase(database->identity);
}

sqlite3_vfs* system_vfs = nullptr;  // the default VFS the shim forwards to; set once

// The descriptor the system VFS's last open() in this thread returned: the shim's open hook
// records it while the system VFS opens a database for the shim's xOpen.
thread_local int last_opened_fd = -1;
sqlite3_syscall_ptr system_open = nullptr;

int recording_open(const char* path, int flags, int mode) {
  int fd = reinterpret_cast<int (*)(const char*, int, int)>(system_open)(path, flags, mode);
  last_opened_fd = fd;
  return fd;
}

// A file opened through the shim; the system VFS's file follows it in the same allocation.
struct ShimFile {
  sqlite3_file base;
  sqlite3_file* inner;
  bool database_file;        // the main file of a database (not a journal or WAL)
  int fd;                    // the system VFS's descriptor of it, when known; else -1
  FileIdentity identity;     // of the database file, when fd is known
  sqlite3_int64 mmap_limit;  // the connection's mmap_size
  MappedDatabase* database;  // from the first page asked for in place to the close
};

constexpr int kInnerOffset = (sizeof(ShimFile) + alignof(std::max_align_t) - 1) /
                             alignof(std::max_align_t) * alignof(std::max_align_t);

ShimFile* shim(sqlite3_file* file) { return reinterpret_cast<ShimFile*>(file); }

// Forwarding of an sqlite3_io_methods member to the system VFS's file, and of an sqlite3_vfs
// member to the system VFS: Forwarded<&sqlite3_io_methods::xRead>::call and so on.
template <auto member>
struct Forwarded;
template <typename Result, typename... Arguments,
          Result (*sqlite3_io_methods::*member)(sqlite3_file*, Arguments...)>
struct Forwarded<member> {
  static Result call(sqlite3_file* file, Arguments... arguments) {
    sqlite3_file* real = shim(file)->inner;
    return (real->pMethods->*member)(real, arguments...);
  }
};
template <typename Result, typename... Arguments,
          Result (*sqlite3_vfs::*member)(sqlite3_vfs*, Arguments...)>
struct Forwarded<member> {
  static Result call(sqlite3_vfs* /*shim*/, Arguments... arguments) {
    return (system_vfs->*member)(system_vfs, arguments...);
  }
};

int shim_close(sqlite3_file* file) {
  ShimFile* self = shim(file);
  const int rc = self->inner->pMethods->xClose(self->inner);
  if (self->database != nullptr) detach(self->database);  // after the file's locks are gone
  self->database = nullptr;
  return rc;
}
int shim_file_control(sqlite3_file* file, int op, void* argument) {
  ShimFile* self = shim(file);
  if (op == SQLITE_FCNTL_MMAP_SIZE && self->database_file) {
    // The pager's mmap_size: answered here and not passed on, so that the system VFS never
    // maps the file itself. As the system VFS does, the previous limit is written back.
    auto* limit = static_cast<sqlite3_int64*>(argument);
    const sqlite3_int64 previous = self->mmap_limit;
    if (*limit >= 0) self->mmap_limit = std::min<sqlite3_int64>(*limit, kSharedMapBytes);
    *limit = previous;
    return SQLITE_OK;
  }
  return self->inner->pMethods->xFileControl(self->inner, op, argument);
}
// A page in place from the shared mapping, or none (the pager then reads it with xRead).
int shim_fetch(sqlite3_file* file, sqlite3_int64 offset, int size, void** page) {
  ShimFile* self = shim(file);
  *page = nullptr;
  if (self->fd < 0 || offset + size > self->mmap_limit) return SQLITE_OK;
  if (self->database == nullptr) self->database = attach(self->identity);
  *page = const_cast<void*>(self->database->bytes(self->fd, offset, size));
  return SQLITE_OK;
}
// The mapping outlives every page handed out, so there is nothing to release.
int shim_unfetch(sqlite3_file* /*file*/, sqlite3_int64 /*offset*/, void* /*page*/) {
  return SQLITE_OK;
}

// The same methods at each version, so that a file claims no more than the system VFS's does.
constexpr sqlite3_io_methods methods_of_version(int version) {
  using M = sqlite3_io_methods;
  return {version,
          shim_close,
          Forwarded<&M::xRead>::call,
          Forwarded<&M::xWrite>::call,
          Forwarded<&M::xTruncate>::call,
          Forwarded<&M::xSync>::call,
          Forwarded<&M::xFileSize>::call,
          Forwarded<&M::xLock>::call,
          Forwarded<&M::xUnlock>::call,
          Forwarded<&M::xCheckReservedLock>::call,
          shim_file_control,
          Forwarded<&M::xSectorSize>::call,
          Forwarded<&M::xDeviceCharacteristics>::call,
          Forwarded<&M::xShmMap>::call,
          Forwarded<&M::xShmLock>::call,
          Forwarded<&M::xShmBarrier>::call,
          Forwarded<&M::xShmUnmap>::call,
          shim_fetch,
          shim_unfetch};
}
constexpr sqlite3_io_methods kMethods[] = {methods_of_version(1), methods_of_version(2),
                                           methods_of_version(3)};

int shim_open(sqlite3_vfs* /*vfs*/, sqlite3_filename name, sqlite3_file* file, int flags,
              int* out_flags) {
  // SQLite hands over raw memory of szOsFile bytes.
  ShimFile* self = new (file)
      ShimFile{{nullptr},
               reinterpret_cast<sqlite3_file*>(reinterpret_cast<char*>(file) + kInnerOffset),
               (flags & SQLITE_OPEN_MAIN_DB) != 0,
               -1,
               {},
               0,
               nullptr};
  last_opened_fd = -1;
  const int rc = system_vfs->xOpen(system_vfs, name, self->inner, flags, out_flags);
  // The system VFS may reuse a descriptor it kept from an earlier close instead of opening
  // one; such a file is read without the map.
  const int fd = last_opened_fd;
  last_opened_fd = -1;
  if (self->inner->pMethods == nullptr) return rc;
  if (self->database_file) {
    // Whatever SQLite's default mmap_size, the system VFS's file never maps itself.
    sqlite3_int64 none = 0;
    self->inner->pMethods->xFileControl(self->inner, SQLITE_FCNTL_MMAP_SIZE, &none);
  }
  if (rc == SQLITE_OK && self->database_file && fd >= 0 && name != nullptr) {
    // The descriptor must be the database's: the file it names is the one at `name`, which
    // the system VFS's file has not seen move since it opened it.
    struct stat opened {};
    struct stat named {};
    int moved = 1;
    if (::fstat(fd, &opened) == 0 && S_ISREG(opened.st_mode) && ::stat(name, &named) == 0 &&
        opened.st_dev == named.st_dev && opened.st_ino == named.st_ino &&
        self->inner->pMethods->xFileControl(self->inner, SQLITE_FCNTL_HAS_MOVED, &moved) ==
            SQLITE_OK &&
        moved == 0) {
      self->fd = fd;
      self->identity = {opened.st_dev, opened.st_ino};
    }
  }
  const int version = std::clamp(self->inner->pMethods->iVersion, 1, 3);
  self->base.pMethods = &kMethods[version - 1];
  return rc;
}

sqlite3_vfs shim_vfs{};

Status install() {
  system_vfs = sqlite3_vfs_find(nullptr);
  if (system_vfs == nullptr) return Status::internal("SQLite has no default VFS");
  if (system_vfs->iVersion < 3 || system_vfs->xCurrentTimeInt64 == nullptr ||
      system_vfs->xGetSystemCall == nullptr) {
    return Status::internal(std::string("SQLite's default VFS ") + system_vfs->zName +
                            " cannot be shared-mapped (it is older than version 3)");
  }
  system_open = system_vfs->xGetSystemCall(system_vfs, "open");
  if (system_open == nullptr ||
      system_vfs->xSetSystemCall(
          system_vfs, "open", reinterpret_cast<sqlite3_syscall_ptr>(recording_open)) != SQLITE_OK) {
    return Status::internal("SQLite's default VFS does not let its open() be observed");
  }
  shim_vfs.iVersion = 2;  // the system calls stay the system VFS's own
  shim_vfs.szOsFile = kInnerOffset + system_vfs->szOsFile;
  shim_vfs.mxPathname = system_vfs->mxPathname;
  shim_vfs.zName = "iotreg-shared-map";
  shim_vfs.xOpen = shim_open;
  using V = sqlite3_vfs;
  shim_vfs.xDelete = Forwarded<&V::xDelete>::call;
  shim_vfs.xAccess = Forwarded<&V::xAccess>::call;
  shim_vfs.xFullPathname = Forwarded<&V::xFullPathname>::call;
  shim_vfs.xDlOpen = Forwarded<&V::xDlOpen>::call;
  shim_vfs.xDlError = Forwarded<&V::xDlError>::call;
  shim_vfs.xDlSym = Forwarded<&V::xDlSym>::call;
  shim_vfs.xDlClose = Forwarded<&V::xDlClose>::call;
  shim_vfs.xRandomness = Forwarded<&V::xRandomness>::call;
  shim_vfs.xSleep = Forwarded<&V::xSleep>::call;
  shim_vfs.xCurrentTime = Forwarded<&V::xCurrentTime>::call;
  shim_vfs.xGetLastError = Forwarded<&V::xGetLastError>::call;
  shim_vfs.xCurrentTimeInt64 = Forwarded<&V::xCurrentTimeInt64>::call;
  if (int rc = sqlite3_vfs_register(&shim_vfs, /*makeDflt=*/1); rc != SQLITE_OK) {
    return Status::internal(std::string("cannot register SQLite's shared-map VFS: ") +
                            sqlite3_errstr(rc));
  }
  return Status::ok();
}

}  // namespace

Status install_shared_map_vfs() {
  static const Status installed = install();
  return installed;
}

}  // namespace iotreg::storage::sqlite
