// The numbered schema migrations of the SQLite backend (registry/storage/migrations/NNNN_*.sql),
// embedded at build time. Version N is applied when PRAGMA user_version is below N.
#pragma once

#include <span>
#include <string_view>

namespace iotreg::storage::sqlite {

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

// Ordered by version, starting at 1 without gaps.
std::span<const Migration> migrations();

}  // namespace iotreg::storage::sqlite
