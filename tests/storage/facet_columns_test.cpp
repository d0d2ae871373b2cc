// The products' facet columns held in memory (registry/storage/sqlite/facet_columns.h): a
// server's connections count a search's facets and find its first page from them, and must
// answer exactly as the products table does, at every state of the registry.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <algorithm>
#include <array>

#include <map>
#include <string>
#include <vector>

#include "importers/schema/compiled_schema.h"
#include "registry/storage/body_codec.h"
#include "registry/storage/sqlite/database.h"
#include "registry/storage/sqlite/facet_columns.h"
#include "registry/storage/storage.h"
#include "support/process.h"
#include "support/samples.h"
#include "support/temp_files.h"

namespace iotreg::storage {
namespace {

using testing::ScratchDir;

const std::string kIotreg = IOTREG_BINARY;

// The bundled samples (support/samples.h) in a new registry in `dir`.
std::string sample_registry(const ScratchDir& dir) {
  const std::string path = dir.file("registry.db");
  test::import_samples(path);
  return path;
}

std::unique_ptr<Storage> open(const std::string& path, bool facet_columns) {
  auto opened = open_sqlite_storage(
      path, OpenMode::kReadWrite,
      {.cache_bytes = 1u << 20, .shared_map = false, .shared_facet_columns = facet_columns});
  REQUIRE_MESSAGE(opened.is_ok(), opened.status().message());
  return std::move(opened).value();
}

// Queries over every value of every facet the registry has, alone and with a search or a
// second condition, and the conditions the columns test but count no facet of.
std::vector<ProductQuery> queries_over(Storage& storage) {
  auto whole = storage.product_facets({});
  REQUIRE(whole.is_ok());
  std::vector<ProductQuery> conditions(1);
  for (const auto& [status, count] : whole->status) {
    ProductQuery query;
    query.status = status;
    conditions.push_back(query);
  }
  for (const auto& [type, count] : whole->type) {
    ProductQuery query;
    query.type = type;
    conditions.push_back(query);
    std::string upper = type;  // compared without regard to ASCII case
    std::transform(upper.begin(), upper.end(), upper.begin(), ::toupper);
    query.type = upper;
    conditions.push_back(query);
  }
  for (const auto& [product_class, count] : whole->product_class) {
    ProductQuery query;
    query.product_class = product_class;
    conditions.push_back(query);
  }
  for (const auto& [check, count] : whole->failing_check) {
    ProductQuery query;
    query.failing = check;
    conditions.push_back(query);
    query.status = whole->status.begin()->first;  // grouped twice more, without each condition
    conditions.push_back(query);
  }
  for (const auto state : {enforcement::FlagState::kRaised, enforcement::FlagState::kConfirmed}) {
    ProductQuery query;
    query.flag_state = state;
    conditions.push_back(query);
  }
  for (const bool flagged : {true, false}) {
    ProductQuery query;
    query.flagged = flagged;
    conditions.push_back(query);
  }
  REQUIRE(conditions.size() > 20);
  std::vector<ProductQuery> queries;
  // Words of brands, models, types and manufacturers' names, prefixes of one letter, words
  // found only through the manufacturer, repeated words, other scripts, and none.
  for (const char* search :
       {"", "lumora", "camera", "smart lock", "ni", "no-such-word", "l", "vision cam", "ltd",
        "gmbh router", "lumora lumora", "Ünïcödé", "é", "2", "x-", "!!"}) {
    for (ProductQuery query : conditions) {
      if (*search) query.search = search;
      queries.push_back(query);
    }
  }
  return queries;
}

std::vector<std::int64_t> ids_of(const std::vector<ProductSummary>& products) {
  std::vector<std::int64_t> ids;
  for (const auto& product : products) ids.push_back(product.id);
  return ids;
}

void check_same_facets(const ProductFacets& held, const ProductFacets& table) {
  CHECK(held.status == table.status);
  CHECK(held.type == table.type);
  CHECK(held.product_class == table.product_class);
  CHECK(held.failing_check == table.failing_check);
  CHECK(held.flag_state == table.flag_state);
}

// Every query answered from the columns (`held`) as from the products table (`table`); returns
// how many found products.
int compare_all(Storage& held, Storage& table) {
  int found = 0;
  for (ProductQuery query : queries_over(table)) {
    for (std::size_t limit : {1, 5, 500}) {
      for (std::int64_t after : {0, 20}) {
        query.limit = limit;
        query.after_id = after > 0 ? std::optional(after) : std::nullopt;
        CAPTURE(query.search.value_or(""));
        CAPTURE(query.status.value_or(""));
        CAPTURE(query.type.value_or(""));
        CAPTURE(query.product_class.value_or(""));
        CAPTURE(query.failing.value_or(""));
        CAPTURE(limit);
        CAPTURE(after);
        auto from_columns = held.list_products_with_facets(query);
        auto from_table = table.list_products_with_facets(query);
        REQUIRE(from_columns.is_ok());
        REQUIRE(from_table.is_ok());
        CHECK(ids_of(from_columns->products) == ids_of(from_table->products));
        check_same_facets(from_columns->facets, from_table->facets);
        auto facets = held.product_facets(query);
        REQUIRE(facets.is_ok());
        check_same_facets(facets.value(), from_table->facets);
        found += from_table->products.empty() ? 0 : 1;
      }
    }
  }
  return found;
}

using Declared = std::array<std::string, 4>;  // manufacturer, brand, model, type ("": none)

// Stores these products, without checks, in one import run.
void declare(const std::string& path, const std::vector<Declared>& products) {
  auto storage = open(path, false);
  auto catalog = importers::CompiledSchema::builtin()->catalog();
  const BodyEncoder encoder = BodyEncoder::create(*catalog).value();
  auto session = storage->begin_import({"words.csv", "csv", "test"}, nullptr, {}, {});
  REQUIRE(session.is_ok());
  for (const auto& [manufacturer, brand, model, type] : products) {
    model::Declaration declaration(catalog);
    declaration.set(*catalog->index_of("manufacturer.name"), manufacturer);
    declaration.set(*catalog->index_of("product.brand"), brand);
    declaration.set(*catalog->index_of("product.model"), model);
    if (!type.empty()) declaration.set(*catalog->index_of("product.type"), type);
    StagedDeclaration staged;
    stage(encoder, declaration, "line 2", staged);
    auto stored = session.value()->store(staged);
    REQUIRE_MESSAGE(stored.is_ok(), stored.status().message());
  }
  REQUIRE(session.value()->commit({}).is_ok());
}

// Every query of `searches`, alone and with each of `types`, answered alike from the columns
// and from the tables; returns how many found products.
int compare_searches(Storage& held, Storage& table, const std::vector<const char*>& searches,
                     const std::vector<const char*>& types = {nullptr}) {
  int found = 0;
  for (const char* search : searches) {
    for (const char* type : types) {
      CAPTURE(search);
      CAPTURE(type ? type : "(none)");
      ProductQuery query;
      if (*search) query.search = search;
      if (type) query.type = type;
      query.limit = 3;
      auto from_columns = held.list_products_with_facets(query);
      auto from_table = table.list_products_with_facets(query);
      REQUIRE(from_columns.is_ok());
      REQUIRE(from_table.is_ok());
      CHECK(ids_of(from_columns->products) == ids_of(from_table->products));
      check_same_facets(from_columns->facets, from_table->facets);
      found += from_table->products.empty() ? 0 : 1;
    }
  }
  return found;
}

// The pending products, every one on the first page.
ProductQuery pending_products() {
  ProductQuery pending;
  pending.status = "pending";
  pending.limit = 500;
  return pending;
}

// Makes three products pending by editing the file behind the registry's back: no audit event,
// so no new state version.
void edit_without_audit(const std::string& path) {
  test::SqliteProbe(path).exec("UPDATE products SET status = 'pending' WHERE id IN (1, 2, 3)");
}

}  // namespace

TEST_SUITE("sqlite_only") {
  TEST_CASE("facet columns: words of any script are matched as the full-text tables match them") {
    ScratchDir dir;
    const std::string path = dir.file("words.db");
    declare(path, {{"Ångström Devices AB", "Café", "Über-Cam 2", "smart camera"},
                   {"Ångström Devices AB", "Cafétéria", "CT-1", "smart plug"},
                   {"北京 Smart Co", "北京", "BJ 100", "Router"},
                   {"Crème Brûlée GmbH", "Brûlée", "b\xe2\x80\x8bz", "smart lock"},
                   {"Acme", "ACME", "cafe-noir", "Caméra"},
                   {"Acme", "Acme", "Ubersmart", ""},
                   {"Acme", "Acme", "Nothing", "CAMÉRA"}});
    // New versions: types changed (the full-text index deletes the old words) and removed.
    declare(path, {{"Ångström Devices AB", "Cafétéria", "CT-1", "kettle"},
                   {"Acme", "ACME", "cafe-noir", ""},
                   {"Acme", "Acme", "Ubersmart", "router"}});
    auto held = open(path, true);
    auto table = open(path, false);
    const std::vector<const char*> searches = {
        "",         "cafe",   "CAFÉ",  "über",      "uber",   "ub",    "ang",    "angstrom devices",
        "北",       "北京",   "smart", "plug",      "kettle", "creme", "brulee", "b",
        "z",        "c 2",    "acme",  "acme cafe", "noir",   "ab",    "co",     "cam",
        "smar plu", "router", "zzz"};
    CHECK(compare_searches(*held, *table, searches) >= 20);
    // The type condition compares lower(type): ASCII letters only, and never a missing type.
    CHECK(compare_searches(*held, *table, {"", "acme", "cafe"},
                           {"", "router", "ROUTER", "caméra", "CAMÉRA", "Caméra", "kettle"}) >= 5);
  }

  TEST_CASE("facet columns: a registry not worth holding is answered from the tables") {
    ScratchDir dir;
    const std::string path = dir.file("sparse.db");
    declare(path, {{"Acme", "Acme", "A1", "router"}, {"Acme", "Acme", "A2", "camera"}});
    // Ids far sparser than the products: the copy is not held, and lists read the tables.
    test::SqliteProbe(path).exec("UPDATE products SET id = 100000000 WHERE id = 2");
    auto held = open(path, true);
    auto table = open(path, false);
    ProductQuery all;
    all.limit = 10;
    auto listed = held->list_products_with_facets(all);
    REQUIRE(listed.is_ok());
    CHECK(ids_of(listed->products) == std::vector<std::int64_t>{1, 100000000});
    CHECK(listed->facets.type ==
          std::map<std::string, std::uint64_t>{{"camera", 1}, {"router", 1}});
    CHECK(compare_searches(*held, *table, {"", "acme", "a1"}) == 3);
  }

  TEST_CASE("facet columns: pages and facets from memory are those of the products table") {
    ScratchDir dir;
    const std::string path = sample_registry(dir);
    auto held = open(path, true);
    auto table = open(path, false);
    CHECK(compare_all(*held, *table) > 300);

    // A new state of the registry (an officer confirms a flag: an audited change) is read anew.
    test::SqliteProbe probe(path);
    const std::string flag = std::to_string(probe.integer("SELECT min(id) FROM flags"));
    auto confirmed = test::run_process(kIotreg, {"--db", path, "--as-of", "2026-11-29", "flag",
                                                 "confirm", flag, "--reason", "test purchase"});
    REQUIRE_MESSAGE(confirmed.exit_status == 0, confirmed.err);
    ProductQuery confirmed_only;
    confirmed_only.flag_state = enforcement::FlagState::kConfirmed;
    confirmed_only.limit = 10;
    auto after_confirm = held->list_products_with_facets(confirmed_only);
    REQUIRE(after_confirm.is_ok());
    CHECK(after_confirm->products.size() == 1);
    CHECK(compare_all(*held, *table) > 300);
  }

  TEST_CASE("facet columns: they are of one state version, and shared by the file's connections") {
    ScratchDir dir;
    const std::string path = sample_registry(dir);
    auto held = open(path, true);
    auto other = open(path, true);
    auto table = open(path, false);
    const ProductQuery pending = pending_products();
    auto before = held->list_products_with_facets(pending);
    REQUIRE(before.is_ok());

    // An edit of the file that bypasses the registry (no audit event, so no new state version)
    // is not seen by the columns, which shows that they answer, and that the second connection
    // uses the first one's: the products table sees it.
    edit_without_audit(path);
    auto edited = table->list_products_with_facets(pending);
    REQUIRE(edited.is_ok());
    REQUIRE(edited->products.size() > before->products.size());
    for (Storage* storage : {held.get(), other.get()}) {
      auto unseen = storage->list_products_with_facets(pending);
      REQUIRE(unseen.is_ok());
      CHECK(ids_of(unseen->products) == ids_of(before->products));
      CHECK(unseen->facets.status == before->facets.status);
    }

    // The next audited change is a new state: read anew, with the edit.
    auto token = test::run_process(
        kIotreg, {"--db", path, "token", "create", "--role", "officer", "--name", "Test Officer"});
    REQUIRE_MESSAGE(token.exit_status == 0, token.err);
    for (Storage* storage : {held.get(), other.get()}) {
      auto seen = storage->list_products_with_facets(pending);
      REQUIRE(seen.is_ok());
      CHECK(ids_of(seen->products) == ids_of(edited->products));
      CHECK(seen->facets.status == edited->facets.status);
    }
  }

  TEST_CASE("facet columns: a held read sees one state, and the columns answer inside it") {
    ScratchDir dir;
    const std::string path = sample_registry(dir);
    auto held = open(path, true);
    auto table = open(path, false);
    const ProductQuery pending = pending_products();
    auto before = held->list_products_with_facets(pending);
    REQUIRE(before.is_ok());
    edit_without_audit(path);
    std::int64_t version = 0;
    {
      auto hold = held->hold_reads();
      REQUIRE(hold);
      auto first = held->state_version();
      REQUIRE(first.is_ok());
      version = first.value();
      auto token = test::run_process(
          kIotreg, {"--db", path, "token", "create", "--role", "officer", "--name", "Officer"});
      REQUIRE_MESSAGE(token.exit_status == 0, token.err);
      auto again = held->state_version();
      REQUIRE(again.is_ok());
      CHECK(again.value() == version);  // the new token's audit event is not seen yet
      auto inside = held->list_products_with_facets(pending);
      REQUIRE(inside.is_ok());
      CHECK(ids_of(inside->products) == ids_of(before->products));  // from the columns
      // Nothing is written while reads are held.
      auto refused = held->begin_import({"late.csv", "csv", "test"}, nullptr, {}, {});
      CHECK(refused.status().code() == Status::Code::kInternal);
    }
    auto import = held->begin_import({"after.csv", "csv", "test"}, nullptr, {}, {});
    REQUIRE(import.is_ok());
    import.value().reset();  // rolled back
    auto after = held->state_version();
    REQUIRE(after.is_ok());
    CHECK(after.value() > version);
    auto seen = held->list_products_with_facets(pending);
    auto edited = table->list_products_with_facets(pending);
    REQUIRE(seen.is_ok());
    REQUIRE(edited.is_ok());
    CHECK(ids_of(seen->products) == ids_of(edited->products));
    CHECK(ids_of(seen->products) != ids_of(before->products));
  }

  TEST_CASE("facet columns: columns of an older state are never taken for a newer one's") {
    ScratchDir dir;
    const std::string path = sample_registry(dir);
    auto opened = sqlite::Database::open(path, /*read_only=*/true);
    REQUIRE(opened.is_ok());
    sqlite::Database& db = *opened.value();
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    auto shared = sqlite::SharedFacetColumns::of_file(info.st_dev, info.st_ino);
    CHECK(sqlite::SharedFacetColumns::of_file(info.st_dev, info.st_ino) == shared);
    REQUIRE(db.exec("BEGIN").is_ok());
    auto newer = shared->at(db, 7);
    REQUIRE(newer);
    CHECK(newer->version() == 7);
    CHECK(shared->at(db, 7) == newer);  // read once
    CHECK_FALSE(shared->at(db, 6));     // the caller reads the products table instead
    REQUIRE(db.exec("COMMIT").is_ok());
  }
}

}  // namespace iotreg::storage
