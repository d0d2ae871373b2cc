// The products' facet columns held in memory, private to the SQLite backend.
//
// A search's facets count every product it matches by five columns (status, type, class, the
// state of its newest flag, its failing checks). Read from the products table, each match costs
// a seek of its row and one of its newest flag: about a microsecond, and a brand's prefix may
// match a quarter of the registry. FacetColumns holds those columns of every product, and the
// flagged column its conditions test, as of one state of the registry (Storage::state_version:
// equal versions, equal state), so that a search asks SQLite only for the ids its words match.
//
// Each product holds the index of its combination of values (4 bytes: products share a few
// hundred combinations); a registry whose combinations or ids are too many for that to pay is
// not held, and its searches read the products table as before.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "registry/core/status.h"
#include "registry/storage/derived_columns.h"
#include "registry/storage/sqlite/database.h"
#include "registry/storage/storage.h"

namespace iotreg::storage::sqlite {

class FacetColumns {
 public:
  // Whether the columns can test every condition of `query` apart from its search words (which
  // the caller turns into ids): status, flagged, flag state, type, class and failing check.
  static bool can_answer(const ProductQuery& query);

  // Every product's columns, read through `db`, which must be inside a read transaction whose
  // state version is `version`. Null when the registry is not worth holding (see above).
  static Result<std::shared_ptr<const FacetColumns>> read(Database& db, std::int64_t version);

  std::int64_t version() const { return version_; }

  // The facet groups of the products that meet `query`'s conditions (can_answer) among `ids`
  // (ascending; every product when null), exactly as the products table would group them; each
  // such product's id also goes to `each_match` when given.
  std::vector<FacetGroup> group(const std::vector<std::int64_t>* ids, const ProductQuery& query,
                                const std::function<void(std::int64_t)>* each_match) const;

 private:
  // One combination of the values of the columns; texts are as stored (type "" when null).
  struct Combination {
    std::string status;
    std::string type;
    bool type_null = false;
    std::string product_class;
    std::string flag_state;  // "" when the product has no flag
    std::string failing_checks;
    bool flagged = false;
  };
  static constexpr std::uint32_t kNoProduct = UINT32_MAX;

  // Which combinations meet `query`'s conditions, by index.
  std::vector<char> meeting(const ProductQuery& query) const;

  std::int64_t version_ = 0;
  std::vector<Combination> combinations_;
  std::vector<std::uint32_t> combination_of_;  // by product id; kNoProduct when there is none
};

// The facet columns of one database file, shared by the process's connections to it, and kept
// at the newest state version one of them has read. Thread-safe.
class SharedFacetColumns {
 public:
  // The one of the file with this device and inode: made on first use, freed with its last
  // holder.
  static std::shared_ptr<SharedFacetColumns> of_file(dev_t device, ino_t inode);

  // The columns at `version`, read through `db` (inside a read transaction at that version)
  // when those held are of an older version. Null while another connection reads them, for an
  // older version than those held, and for a registry not worth holding: the caller then asks
  // the products table.
  Result<std::shared_ptr<const FacetColumns>> at(Database& db, std::int64_t version);

 private:
  std::mutex mutex_;
  std::shared_ptr<const FacetColumns> held_;  // guarded by mutex_
  bool reading_ = false;                      // guarded by mutex_
  std::int64_t not_held_version_ = -1;        // read and found not worth holding; guarded by mutex_
};

}  // namespace iotreg::storage::sqlite
