#include "registry/storage/postgresql/registry.h"
#include "registry/storage/storage.h"

namespace iotreg::storage {

Result<std::unique_ptr<Storage>> open_storage(const std::string& location, OpenMode mode,
                                              PageCaching caching) {
  if (postgresql::is_postgresql_location(location)) {
    return postgresql::open_postgresql_storage(location, mode);
  }
  return open_sqlite_storage(location, mode, caching);
}

std::string printable_location(const std::string& location) {
  return postgresql::is_postgresql_location(location) ? postgresql::printable_uri(location)
                                                      : location;
}

}  // namespace iotreg::storage
