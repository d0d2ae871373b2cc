// The numbered schema migrations of the SQLite backend (registry/storage/migrations/NNNN_*.sql),
// embedded at build time. Version N is applied when PRAGMA user_version is below N.
#pragma once

#include <span>

#include "registry/storage/migration.h"

namespace iotreg::storage::sqlite {

// Ordered by version, starting at 1 without gaps.
std::span<const Migration> migrations();

}  // namespace iotreg::storage::sqlite
