// Memory-mapped reads shared by every connection of the process, private to the SQLite backend.
//
// SQLite's own memory-mapped I/O maps the database once per connection: a server with 64
// connections on a 170 MB registry held 64 mappings, and every page mapped by each counted in
// the process's resident memory again (10.9 GB). Without a map, each page a connection's cache
// misses is copied out of the operating system's page cache by a pread call, which was a
// quarter of the server's time on searches spread over the registry.
//
// install_shared_map_vfs() makes a shim over the system's default VFS the default: it forwards
// everything to it, except that the pages a connection with `PRAGMA mmap_size` > 0 reads from
// a database file come from one read-only shared mapping of that file per process, made when a
// connection first asks for a page in place and unmapped when the last connection that did
// closes. The system VFS never maps a file itself. Connections without mmap_size (the default)
// read as before.
//
// The mapping never moves while it lives: it reserves address space for the largest database
// SQLite maps (SQLITE_MAX_MMAP_SIZE, 2 GiB in Debian's build) whatever the file's size, and
// hands out only pages below the largest size it has seen the file have (a checkpoint that
// shrinks it leaves no snapshot that reads past the new end); pages beyond the reservation
// are read as without a map. As with SQLite's own memory map, a file truncated behind SQLite's back
// (not through SQLite) while a connection reads it ends the process with SIGBUS.
#pragma once

#include <cstdint>

#include "registry/core/status.h"

namespace iotreg::storage::sqlite {

// The address space each mapping reserves, and the mmap_size that asks for all of it: the
// largest SQLite accepts in Debian's build (SQLITE_MAX_MMAP_SIZE).
inline constexpr std::int64_t kSharedMapBytes = 0x7fff0000;

// Idempotent and thread-safe. Connections opened before it ran do not use the shim: install it
// before the first.
Status install_shared_map_vfs();

}  // namespace iotreg::storage::sqlite
