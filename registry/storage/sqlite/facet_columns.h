// The products' facet columns and search words held in memory, private to the SQLite backend.
//
// A search's facets count every product it matches by five columns (status, type, class, the
// state of its newest flag, its failing checks). Read from the products table, each match costs
// a seek of its row and one of its newest flag: about a microsecond, and a brand's prefix may
// match a quarter of the registry. Finding the matches in the full-text tables costs about as
// much again: a word's prefix is every word that begins with it (`Brand4` is 111 brands), whose
// lists of rows FTS5 merges for each query. FacetColumns holds, as of one state of the registry
// (Storage::state_version: equal versions, equal state), those columns of every product, the
// flagged column its conditions test, and the words of both full-text tables with the rows that
// hold each (read from the tables themselves through fts5vocab, so that they are exactly what
// FTS5 would find), so that a search's matches, facets and first page come from memory.
//
// Each product holds the index of its combination of values (4 bytes: products share a few
// hundred combinations) and its manufacturer; each word of the index, 4 bytes per product that
// holds it (about 40 bytes a product in all). A registry whose combinations or ids are too many
// for that to pay is not held, and its searches read the tables as before.
//
// A FacetColumns never changes once read: it is shared between threads as a
// shared_ptr<const FacetColumns>.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"
#include "registry/storage/derived_columns.h"
#include "registry/storage/sqlite/database.h"
#include "registry/storage/storage.h"

namespace iotreg::storage::sqlite {

// Appends one part of a grouping key: length-prefixed, for text may hold NUL.
inline void append_key_part(std::string& key, std::string_view text) {
  const auto size = static_cast<std::uint32_t>(text.size());
  key.append(reinterpret_cast<const char*>(&size), sizeof size);
  key += text;
}

class FacetColumns {
 public:
  // Whether the columns can test every condition of `query` apart from its search words (which
  // the caller turns into ids): status, flagged, flag state, type, class and failing check. A
  // new condition of ProductQuery must be refused here until the columns can test it.
  static bool can_answer(const ProductQuery& query);

  // Every product's columns, read through `db`, which must be inside a read transaction whose
  // state version is `version`. Null when the registry is not worth holding (see above).
  static Result<std::shared_ptr<const FacetColumns>> read(Database& db, std::int64_t version);

  std::int64_t version() const { return version_; }

  // A set of product ids: a bit per id.
  using Matches = std::vector<std::uint64_t>;
  // The products of which each of `words` (as the FTS5 index folds them) begins a word of the
  // brand, model or type, or of the manufacturer's name: what ProductFilter's full-text
  // conditions find for the same words.
  Matches matching(const std::vector<std::string>& words) const;

  // The facet groups of the products that meet `query`'s conditions (can_answer) among
  // `matches` (every product when null), exactly as the products table would group them; each
  // such product's id also goes to `each_match` when given, in ascending order. `lower_type`:
  // query.type as SQLite's lower() gives it (the type condition compares lower(type)).
  std::vector<FacetGroup> group(const Matches* matches, const ProductQuery& query,
                                std::string_view lower_type,
                                const std::function<void(std::int64_t)>* each_match) const;

 private:
  // One combination of the values of the columns; texts are as stored (type "" when null).
  struct Combination {
    std::string status;
    std::string type;
    std::string lower_type;  // as SQLite's lower() gives it
    bool type_null = false;
    std::string product_class;
    std::string flag_state;  // "" when the product has no flag
    std::string failing_checks;
    bool flagged = false;
  };
  static constexpr std::uint32_t kNoProduct = UINT32_MAX;

  // The words of one full-text table in order, each with the ascending ids of the rows that
  // hold it.
  struct WordIndex {
    std::string text;                    // the words, one after another
    std::vector<std::uint32_t> ends;     // word i ends at text[ends[i]]
    std::vector<std::uint32_t> id_ends;  // its ids end at ids[id_ends[i]]
    std::vector<std::uint32_t> ids;

    // From the fts5vocab table `vocabulary` (instance) over the table; false when its rows are
    // not in word and id order or its ids are too large.
    static Result<bool> read(Database& db, const std::string& vocabulary, WordIndex& index);
    std::string_view word(std::size_t i) const;
    // Calls `each` with every id of every word that begins with `prefix`.
    template <class Each>
    void for_each_id(std::string_view prefix, Each&& each) const {
      std::size_t low = 0;
      std::size_t high = ends.size();
      while (low < high) {  // the first word not before `prefix`
        const std::size_t middle = low + (high - low) / 2;
        if (word(middle) < prefix) {
          low = middle + 1;
        } else {
          high = middle;
        }
      }
      for (std::size_t i = low; i < ends.size() && word(i).substr(0, prefix.size()) == prefix;
           ++i) {
        for (std::uint32_t at = i == 0 ? 0 : id_ends[i - 1]; at < id_ends[i]; ++at) each(ids[at]);
      }
    }
  };

  // Which combinations meet `query`'s conditions, by index.
  std::vector<char> meeting(const ProductQuery& query, std::string_view lower_type) const;

  std::int64_t version_ = 0;
  std::vector<Combination> combinations_;
  std::vector<std::uint32_t> combination_of_;  // by product id; kNoProduct when there is none
  WordIndex product_words_;                    // products_fts: brand, model, type
  WordIndex manufacturer_words_;               // manufacturers_fts: name
  // The products of each manufacturer: those of manufacturer m are
  // products_of_[product_ends_[m - 1] .. product_ends_[m]), ascending.
  std::vector<std::uint32_t> product_ends_;
  std::vector<std::uint32_t> products_of_;
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
  // older version than those held, and for a registry not worth holding or whose copy could not
  // be read at that version: the caller then asks the tables.
  std::shared_ptr<const FacetColumns> at(Database& db, std::int64_t version);

 private:
  std::mutex mutex_;
  std::shared_ptr<const FacetColumns> held_;  // guarded by mutex_
  bool reading_ = false;                      // guarded by mutex_
  std::int64_t not_held_version_ = -1;        // read and found not worth holding; guarded by mutex_
};

}  // namespace iotreg::storage::sqlite
