#include "registry/storage/sqlite/facet_columns.h"

#include <algorithm>
#include <map>
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

// SQLite's lower(): ASCII letters only (Debian's build has no ICU).
std::string ascii_lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace

bool FacetColumns::can_answer(const ProductQuery& query) {
  return !query.remedied && !query.manufacturer && !query.support_ends_before &&
         !query.support_ends_after && !query.changed_since && !query.only_manufacturer_key;
}

Result<std::shared_ptr<const FacetColumns>> FacetColumns::read(Database& db, std::int64_t version) {
  auto bounds = db.prepare("SELECT count(*), coalesce(max(id), 0) FROM products");
  if (!bounds.is_ok()) return bounds.status();
  auto counted = bounds->step();
  if (!counted.is_ok()) return counted.status();
  const std::int64_t products = bounds->int64(0);
  const std::int64_t largest_id = bounds->int64(1);
  bounds->reset();
  if (largest_id > products * kMostIdsPerProduct + kIdSlack) {
    return std::shared_ptr<const FacetColumns>();
  }

  auto columns = std::make_shared<FacetColumns>();
  columns->version_ = version;
  columns->combination_of_.assign(static_cast<std::size_t>(largest_id) + 1, kNoProduct);
  auto rows = db.prepare(
      "SELECT p.id, p.status, p.type, p.class, coalesce(nf.state, ''), p.failing_checks, "
      "p.flagged FROM products p LEFT JOIN flags nf ON nf.id = p.flag_id");
  if (!rows.is_ok()) return rows.status();
  std::unordered_map<std::string, std::uint32_t> index_of;  // a combination's texts -> index
  std::string key;
  for (;;) {
    auto row = rows->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    const std::int64_t id = rows->int64(0);
    if (id < 0 || id > largest_id) continue;  // not in the snapshot's bounds: cannot happen
    key.clear();
    for (int column = 1; column <= 5; ++column) {  // each length-prefixed: text may hold NUL
      const std::string_view text = rows->text_view(column);
      const auto size = static_cast<std::uint32_t>(text.size());
      key.append(reinterpret_cast<const char*>(&size), sizeof size);
      key += text;
    }
    key += rows->is_null(2) ? 'n' : 't';
    key += rows->int64(6) != 0 ? 'f' : '-';
    auto [entry, added] =
        index_of.try_emplace(key, static_cast<std::uint32_t>(columns->combinations_.size()));
    if (added) {
      if (columns->combinations_.size() == kMostCombinations) {
        return std::shared_ptr<const FacetColumns>();
      }
      columns->combinations_.push_back({rows->text(1), rows->text(2), rows->is_null(2),
                                        rows->text(3), rows->text(4), rows->text(5),
                                        rows->int64(6) != 0});
    }
    columns->combination_of_[static_cast<std::size_t>(id)] = entry->second;
  }
  return std::shared_ptr<const FacetColumns>(std::move(columns));
}

std::vector<char> FacetColumns::meeting(const ProductQuery& query) const {
  const std::string type = query.type ? ascii_lower(*query.type) : std::string();
  const std::string failing = query.failing ? " " + *query.failing + " " : std::string();
  const std::string flag_state =
      query.flag_state ? std::string(enforcement::flag_state_name(*query.flag_state)) : "";
  std::vector<char> meets(combinations_.size());
  for (std::size_t i = 0; i < combinations_.size(); ++i) {
    const Combination& c = combinations_[i];
    meets[i] = (!query.status || c.status == *query.status) &&
               (!query.flagged || c.flagged == *query.flagged) &&
               (!query.flag_state || c.flag_state == flag_state) &&
               (!query.type || (!c.type_null && ascii_lower(c.type) == type)) &&
               (!query.product_class || c.product_class == *query.product_class) &&
               (!query.failing || c.failing_checks.find(failing) != std::string::npos);
  }
  return meets;
}

std::vector<FacetGroup> FacetColumns::group(
    const std::vector<std::int64_t>* ids, const ProductQuery& query,
    const std::function<void(std::int64_t)>* each_match) const {
  const std::vector<char> meets = meeting(query);
  std::vector<std::uint64_t> counts(combinations_.size());
  auto count = [&](std::int64_t id) {
    if (id < 0 || static_cast<std::uint64_t>(id) >= combination_of_.size()) return;
    const std::uint32_t combination = combination_of_[static_cast<std::size_t>(id)];
    if (combination == kNoProduct || !meets[combination]) return;
    ++counts[combination];
    if (each_match != nullptr) (*each_match)(id);
  };
  if (ids != nullptr) {
    for (const std::int64_t id : *ids) count(id);
  } else {
    for (std::size_t id = 0; id < combination_of_.size(); ++id) {
      count(static_cast<std::int64_t>(id));
    }
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

Result<std::shared_ptr<const FacetColumns>> SharedFacetColumns::at(Database& db,
                                                                   std::int64_t version) {
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
  auto read = FacetColumns::read(db, version);
  if (!read.is_ok()) return read.status();
  std::lock_guard lock(mutex_);
  if (!read.value()) {
    not_held_version_ = version;
  } else if (!held_ || held_->version() < version) {
    held_ = read.value();
  }
  return read;
}

}  // namespace iotreg::storage::sqlite
