// The numbered schema migrations of the PostgreSQL backend
// (registry/storage/postgresql/migrations/NNNN_*.sql), embedded at build time. Version N is
// applied when the registry's iotreg_schema row records a lower version.
#pragma once

#include <span>

#include "registry/storage/migration.h"

namespace iotreg::storage::postgresql {

// Ordered by version, starting at 1 without gaps.
std::span<const Migration> migrations();

}  // namespace iotreg::storage::postgresql
