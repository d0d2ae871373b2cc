// One numbered schema migration of a storage backend, embedded at build time from the backend's
// migrations/NNNN_*.sql (cmake/EmbedText.cmake). A backend applies, in order, those above the
// version its registry records.
#pragma once

#include <string_view>

namespace iotreg::storage {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

}  // namespace iotreg::storage
