#include "registry/storage/storage.h"

namespace iotreg::storage {

Result<std::unique_ptr<Storage>> open_storage(const std::string& location, OpenMode mode) {
  return open_sqlite_storage(location, mode);
}

std::string printable_location(const std::string& location) { return location; }

}  // namespace iotreg::storage
