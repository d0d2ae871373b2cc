// Copying a whole registry from one backend to another (`iotreg db copy`): the tables every
// backend stores alike, in an order that keeps references valid, and their rows as plain
// values. Ids are copied as they are, so versions, verdicts, flags, tokens and the audit chain
// (whose hashes cover ids) arrive unchanged; a backend rebuilds what it derives (search words,
// sequences) when the copy is committed.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"

namespace iotreg::storage {

// One stored value.
struct Cell {
  enum class Kind { kNull, kInteger, kText, kBytes };
  Kind kind = Kind::kNull;
  std::int64_t integer = 0;
  std::string text;  // kText: UTF-8; kBytes: raw bytes
};
using Row = std::vector<Cell>;

struct CopiedColumn {
  const char* name;
  Cell::Kind kind;  // how every backend holds it (booleans as integers 0 and 1)
};
struct CopiedTable {
  const char* name;
  std::vector<CopiedColumn> columns;  // the first is the id rows are read in order of
};
// Every table of a registry, referenced tables first.
const std::vector<CopiedTable>& copied_tables();

// Writes a copy into an empty registry, in one transaction: nothing is visible until commit(),
// and destroying it without commit() leaves the registry empty.
class CopySession {
 public:
  virtual ~CopySession() = default;
  virtual Status write_rows(const CopiedTable& table, std::span<const Row> rows) = 0;
  // Rebuilds what the backend derives from the rows (search index, sequences) and commits.
  virtual Status commit() = 0;
};

}  // namespace iotreg::storage
