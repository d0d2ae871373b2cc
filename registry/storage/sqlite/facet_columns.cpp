#include "registry/storage/sqlite/facet_columns.h"

#include <algorithm>
#include <bit>
#include <map>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "registry/enforcement/enforcement.h"

namespace iotreg::storage::sqlite {
namespace {

// Beyond these the columns are not held: counting a combination each costs memory per
// grouping, and ids far sparser than the products would make the id table mostly holes.
constexpr std::size_t kMostCombinations = std::size_t{1} << 16;
constexpr std::int64_t kMostIdsPerProduct = 4;
constexpr std::int64_t kIdSlack = 1 << 16;

}  // namespace

bool FacetColumns::can_answer(const ProductQuery& query) {
  return !query.remedied && !query.manufacturer && !query.support_ends_before &&
         !query.support_ends_after && !query.changed_since && !query.only_manufacturer_key;
}

Result<bool> FacetColumns::WordIndex::read(Database& db, const std::string& vocabulary,
                                           WordIndex& index) {
  // A word's rows: the vocabulary lists each (word, row) once with detail=none, words in order
  // and each word's rows ascending.
  auto rows = db.prepare("SELECT term, doc FROM temp." + vocabulary);
  if (!rows.is_ok()) return rows.status();
  for (;;) {
    auto row = rows->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    const std::string_view word = rows->text_view(0);
    const std::int64_t id = rows->int64(1);
    if (id < 0 || id >= kNoProduct) return false;
    const bool same_word = !index.ends.empty() && index.word(index.ends.size() - 1) == word;
    if (!same_word) {
      if (!index.ends.empty() && !(index.word(index.ends.size() - 1) < word)) return false;
      index.text += word;
      index.ends.push_back(static_cast<std::uint32_t>(index.text.size()));
      index.id_ends.push_back(static_cast<std::uint32_t>(index.ids.size()));
    } else if (static_cast<std::uint32_t>(id) <= index.ids.back()) {
      if (static_cast<std::uint32_t>(id) == index.ids.back()) continue;
      return false;
    }
    index.ids.push_back(static_cast<std::uint32_t>(id));
    index.id_ends.back() = static_cast<std::uint32_t>(index.ids.size());
    if (index.text.size() >= kNoProduct || index.ids.size() >= kNoProduct) return false;
  }
  return true;
}

std::string_view FacetColumns::WordIndex::word(std::size_t i) const {
  const std::uint32_t begin = i == 0 ? 0 : ends[i - 1];
  return std::string_view(text).substr(begin, ends[i] - begin);
}

Result<std::shared_ptr<const FacetColumns>> FacetColumns::read(Database& db, std::int64_t version) {
  auto bounds = db.prepare(
      "SELECT (SELECT count(*) FROM products), (SELECT coalesce(max(id), 0) FROM products), "
      "(SELECT coalesce(max(id), 0) FROM manufacturers)");
  if (!bounds.is_ok()) return bounds.status();
  auto counted = bounds->step();
  if (!counted.is_ok()) return counted.status();
  const std::int64_t products = bounds->int64(0);
  const std::int64_t largest_id = bounds->int64(1);
  const std::int64_t largest_manufacturer = bounds->int64(2);
  bounds->reset();
  const std::shared_ptr<const FacetColumns> not_held;
  if (largest_id > products * kMostIdsPerProduct + kIdSlack || largest_id >= kNoProduct ||
      largest_manufacturer > products * kMostIdsPerProduct + kIdSlack) {
    return not_held;
  }

  auto columns = std::make_shared<FacetColumns>();
  columns->version_ = version;
  columns->combination_of_.assign(static_cast<std::size_t>(largest_id) + 1, kNoProduct);
  std::vector<std::uint32_t> manufacturer_of(columns->combination_of_.size(), 0);
  auto rows = db.prepare(
      "SELECT p.id, p.status, p.type, p.class, coalesce(nf.state, ''), p.failing_checks, "
      "p.flagged, p.manufacturer_id, lower(p.type) FROM products p "
      "LEFT JOIN flags nf ON nf.id = p.flag_id");
  if (!rows.is_ok()) return rows.status();
  std::unordered_map<std::string, std::uint32_t> index_of;  // a combination's texts -> index
  std::string key;
  for (;;) {
    auto row = rows->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    const std::int64_t id = rows->int64(0);
    const std::int64_t manufacturer = rows->int64(7);
    // Beyond the snapshot's bounds: cannot happen in one read transaction.
    if (id < 0 || id > largest_id || manufacturer <= 0 || manufacturer > largest_manufacturer) {
      return not_held;
    }
    key.clear();
    for (int column = 1; column <= 5; ++column) append_key_part(key, rows->text_view(column));
    key += rows->is_null(2) ? 'n' : 't';
    key += rows->int64(6) != 0 ? 'f' : '-';
    auto [entry, added] =
        index_of.try_emplace(key, static_cast<std::uint32_t>(columns->combinations_.size()));
    if (added) {
      if (columns->combinations_.size() == kMostCombinations) return not_held;
      columns->combinations_.push_back({rows->text(1), rows->text(2), rows->text(8),
                                        rows->is_null(2), rows->text(3), rows->text(4),
                                        rows->text(5), rows->int64(6) != 0});
    }
    columns->combination_of_[static_cast<std::size_t>(id)] = entry->second;
    manufacturer_of[static_cast<std::size_t>(id)] = static_cast<std::uint32_t>(manufacturer);
  }
  rows->reset();

  // Each manufacturer's products, by counting.
  auto& ends = columns->product_ends_;
  ends.assign(static_cast<std::size_t>(largest_manufacturer) + 1, 0);
  for (const std::uint32_t manufacturer : manufacturer_of) {
    if (manufacturer != 0) ++ends[manufacturer];
  }
  for (std::size_t m = 1; m < ends.size(); ++m) ends[m] += ends[m - 1];
  columns->products_of_.resize(ends.back());
  for (std::size_t id = manufacturer_of.size(); id-- > 0;) {  // filled from the end: ascending
    if (manufacturer_of[id] != 0) {
      columns->products_of_[--ends[manufacturer_of[id]]] = static_cast<std::uint32_t>(id);
    }
  }
  for (std::size_t m = 0; m + 1 < ends.size(); ++m) ends[m] = ends[m + 1];  // starts -> ends
  if (!ends.empty()) ends.back() = static_cast<std::uint32_t>(columns->products_of_.size());

  for (const auto& [table, vocabulary, index] :
       {std::tuple{"products_fts", "iotreg_product_words", &columns->product_words_},
        std::tuple{"manufacturers_fts", "iotreg_manufacturer_words",
                   &columns->manufacturer_words_}}) {
    IOTREG_TRY(db.exec(std::string("CREATE VIRTUAL TABLE IF NOT EXISTS temp.") + vocabulary +
                       " USING fts5vocab(main, '" + table + "', 'instance')"));
    auto read = WordIndex::read(db, vocabulary, *index);
    if (!read.is_ok()) return read.status();
    if (!read.value()) return not_held;
  }
  return std::shared_ptr<const FacetColumns>(std::move(columns));
}

FacetColumns::Matches FacetColumns::matching(const std::vector<std::string>& words) const {
  const std::size_t ids = combination_of_.size();
  Matches all;
  Matches one((ids + 63) / 64);
  for (std::size_t i = 0; i < words.size(); ++i) {
    std::fill(one.begin(), one.end(), 0);
    auto add = [&](std::uint32_t id) {
      if (id < ids) one[id / 64] |= std::uint64_t{1} << (id % 64);
    };
    product_words_.for_each_id(words[i], add);
    manufacturer_words_.for_each_id(words[i], [&](std::uint32_t manufacturer) {
      if (manufacturer == 0 || manufacturer >= product_ends_.size()) return;
      for (std::uint32_t at = product_ends_[manufacturer - 1]; at < product_ends_[manufacturer];
           ++at) {
        add(products_of_[at]);
      }
    });
    if (i == 0) {
      all = one;
    } else {
      for (std::size_t w = 0; w < all.size(); ++w) all[w] &= one[w];
    }
  }
  return all;
}

std::vector<char> FacetColumns::meeting(const ProductQuery& query,
                                        std::string_view lower_type) const {
  const std::string failing = query.failing ? " " + *query.failing + " " : std::string();
  const std::string flag_state =
      query.flag_state ? std::string(enforcement::flag_state_name(*query.flag_state)) : "";
  std::vector<char> meets(combinations_.size());
  for (std::size_t i = 0; i < combinations_.size(); ++i) {
    const Combination& c = combinations_[i];
    meets[i] = (!query.status || c.status == *query.status) &&
               (!query.flagged || c.flagged == *query.flagged) &&
               (!query.flag_state || c.flag_state == flag_state) &&
               (!query.type || (!c.type_null && c.lower_type == lower_type)) &&
               (!query.product_class || c.product_class == *query.product_class) &&
               (!query.failing || c.failing_checks.find(failing) != std::string::npos);
  }
  return meets;
}

std::vector<FacetGroup> FacetColumns::group(
    const Matches* matches, const ProductQuery& query, std::string_view lower_type,
    const std::function<void(std::int64_t)>* each_match) const {
  const std::vector<char> meets = meeting(query, lower_type);
  std::vector<std::uint64_t> counts(combinations_.size());
  auto count = [&](std::size_t id) {
    const std::uint32_t combination = combination_of_[id];
    if (combination == kNoProduct || !meets[combination]) return;
    ++counts[combination];
    if (each_match != nullptr) (*each_match)(static_cast<std::int64_t>(id));
  };
  if (matches != nullptr) {
    for (std::size_t w = 0; w < matches->size(); ++w) {
      for (std::uint64_t bits = (*matches)[w]; bits != 0; bits &= bits - 1) {
        count(w * 64 + static_cast<std::size_t>(std::countr_zero(bits)));
      }
    }
  } else {
    for (std::size_t id = 0; id < combination_of_.size(); ++id) count(id);
  }
  std::vector<FacetGroup> groups;
  for (std::size_t i = 0; i < combinations_.size(); ++i) {
    if (counts[i] == 0) continue;
    const Combination& c = combinations_[i];
    groups.push_back(
        {c.status, c.type, c.product_class, c.flag_state, c.failing_checks, counts[i]});
  }
  return groups;
}

std::shared_ptr<SharedFacetColumns> SharedFacetColumns::of_file(dev_t device, ino_t inode) {
  // Never destroyed: connections may be closed by other static destructors at exit.
  static auto* const mutex = new std::mutex;
  static auto* const files =
      new std::map<std::pair<dev_t, ino_t>, std::weak_ptr<SharedFacetColumns>>;
  std::lock_guard lock(*mutex);
  const std::pair key{device, inode};
  if (auto found = files->find(key); found != files->end()) {
    if (auto shared = found->second.lock()) return shared;
  }
  std::erase_if(*files, [](const auto& file) { return file.second.expired(); });
  auto shared = std::make_shared<SharedFacetColumns>();
  (*files)[key] = shared;
  return shared;
}

std::shared_ptr<const FacetColumns> SharedFacetColumns::at(Database& db, std::int64_t version) {
  {
    std::lock_guard lock(mutex_);
    if (held_ && held_->version() == version) return held_;
    if ((held_ && held_->version() > version) || reading_ || version == not_held_version_) {
      return std::shared_ptr<const FacetColumns>();
    }
    reading_ = true;
  }
  struct ReadEnds {  // whatever happens, the next connection may read them again
    SharedFacetColumns& shared;
    ~ReadEnds() {
      std::lock_guard lock(shared.mutex_);
      shared.reading_ = false;
    }
  } read_ends{*this};
  // A registry not worth holding, or one whose copy could not be read (the caller's tables
  // answer as well), is not tried again at this version.
  auto read = FacetColumns::read(db, version);
  std::shared_ptr<const FacetColumns> columns = read.is_ok() ? read.value() : nullptr;
  std::lock_guard lock(mutex_);
  if (!columns) {
    not_held_version_ = version;
  } else if (!held_ || held_->version() < version) {
    held_ = columns;
  }
  return columns;
}

}  // namespace iotreg::storage::sqlite
