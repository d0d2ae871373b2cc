// Public lookups on every backend: products found by the GTIN of their latest declaration (any
// length, kept as 14 digits) and by brand and model as identity compares them, whichever way an
// import wrote them (one by one or in batches); counts of lookups that found nothing, merged per
// GTIN or per brand and model, bounded, listed most first, and never audited state; and the
// schema migration that fills both in for products stored before it.
#include <doctest/doctest.h>

#include "importers/schema/compiled_schema.h"
#include "registry/model/lookup_keys.h"
#include "registry/storage/storage.h"
#include "support/registry.h"
#include "support/temp_files.h"

namespace iotreg::storage {
namespace {

using testing::ScratchDir;

std::unique_ptr<Storage> open_or_fail(const std::string& location) {
  auto opened = open_storage(location, OpenMode::kReadWrite);
  REQUIRE_MESSAGE(opened.is_ok(), opened.status().message());
  return std::move(opened).value();
}

StagedDeclaration staged(const std::string& maker, const std::string& brand,
                         const std::string& model, const std::string& gtin,
                         const std::string& firmware = "") {
  auto catalog = importers::CompiledSchema::builtin()->catalog();
  model::Declaration declaration(catalog);
  declaration.set(*catalog->index_of("manufacturer.name"), maker);
  declaration.set(*catalog->index_of("product.brand"), brand);
  declaration.set(*catalog->index_of("product.model"), model);
  if (!gtin.empty()) declaration.set(*catalog->index_of("product.gtin"), gtin);
  if (!firmware.empty()) declaration.set(*catalog->index_of("product.firmware_version"), firmware);
  static const BodyEncoder encoder = BodyEncoder::create(*catalog).value();
  StagedDeclaration result;
  stage(encoder, declaration, "line 2", result);
  return result;
}

// Imports the declarations in one run, in one batch or one by one.
void import(Storage& storage, std::vector<StagedDeclaration> declarations, bool batch) {
  auto session = storage.begin_import({"a.csv", "csv", "test"}, nullptr, {}, {});
  REQUIRE_MESSAGE(session.is_ok(), session.status().message());
  if (batch) {
    std::vector<StoreOutcome> outcomes;
    auto stored = session.value()->store_batch(declarations, outcomes);
    REQUIRE_MESSAGE(stored.is_ok(), stored.message());
  } else {
    for (auto& declaration : declarations) {
      auto stored = session.value()->store(declaration);
      REQUIRE_MESSAGE(stored.is_ok(), stored.status().message());
    }
  }
  REQUIRE(session.value()->commit({}).is_ok());
}

std::vector<std::string> by_gtin(Storage& storage, const std::string& gtin) {
  auto found = storage.products_by_gtin(gtin, 10);
  REQUIRE_MESSAGE(found.is_ok(), found.status().message());
  std::vector<std::string> names;
  for (const auto& product : found.value()) {
    names.push_back(product.manufacturer + "/" + product.model);
  }
  return names;
}

std::vector<std::string> by_brand_model(Storage& storage, const std::string& brand,
                                        const std::string& model, std::size_t limit = 10) {
  auto found = storage.products_by_brand_model(brand, model, limit);
  REQUIRE_MESSAGE(found.is_ok(), found.status().message());
  std::vector<std::string> names;
  for (const auto& product : found.value()) {
    names.push_back(product.manufacturer + "/" + product.model);
  }
  return names;
}

using Names = std::vector<std::string>;

UnregisteredLookup miss(std::string gtin, std::string brand, std::string model,
                        std::uint64_t lookups, std::string first, std::string last) {
  return {0,       std::move(gtin),  std::move(brand), std::move(model),
          lookups, std::move(first), std::move(last)};
}

std::vector<UnregisteredLookup> listed(Storage& storage, UnregisteredLookupQuery query = {}) {
  auto found = storage.unregistered_lookups(query);
  REQUIRE_MESSAGE(found.is_ok(), found.status().message());
  return found.value();
}

}  // namespace

TEST_SUITE("storage") {
  TEST_CASE("lookup: a GTIN of any length finds the product whose latest declaration has it") {
    for (const bool batch : {false, true}) {
      CAPTURE(batch);
      ScratchDir dir;
      test::TestRegistry backing(dir);
      auto storage = open_or_fail(backing.location());
      import(*storage,
             {staged("Lumora Vision Ltd", "Lumora", "LV-C210", "5060412873017"),
              staged("Acme Ltd", "Acme", "A8", "96385074"),
              staged("Acme Ltd", "Acme", "A12", "036000291452"),
              staged("Acme Ltd", "Acme", "None", ""),
              // Two manufacturers declaring one GTIN: both are found.
              staged("Other GmbH", "Acme", "A8-copy", "96385074")},
             batch);
      CHECK(by_gtin(*storage, "05060412873017") == Names{"Lumora Vision Ltd/LV-C210"});
      CHECK(by_gtin(*storage, "00000096385074") == Names{"Acme Ltd/A8", "Other GmbH/A8-copy"});
      CHECK(by_gtin(*storage, "00036000291452") == Names{"Acme Ltd/A12"});
      CHECK(by_gtin(*storage, "5060412873017").empty());  // stored as 14 digits only
      CHECK(by_gtin(*storage, "00000000000000").empty());
      auto limited = storage->products_by_gtin("00000096385074", 1);
      REQUIRE(limited.is_ok());
      CHECK(limited->size() == 1);

      // A new version that changes the GTIN moves the product; one that drops it removes it.
      import(*storage,
             {staged("Lumora Vision Ltd", "Lumora", "LV-C210", "4006381333931"),
              staged("Acme Ltd", "Acme", "A12", "")},
             batch);
      CHECK(by_gtin(*storage, "05060412873017").empty());
      CHECK(by_gtin(*storage, "04006381333931") == Names{"Lumora Vision Ltd/LV-C210"});
      CHECK(by_gtin(*storage, "00036000291452").empty());
      // A re-declaration of the first version brings its GTIN back.
      import(*storage, {staged("Lumora Vision Ltd", "Lumora", "LV-C210", "5060412873017")}, batch);
      CHECK(by_gtin(*storage, "05060412873017") == Names{"Lumora Vision Ltd/LV-C210"});
    }
  }

  TEST_CASE("lookup: brand and model are compared as identity compares them") {
    for (const bool batch : {false, true}) {
      CAPTURE(batch);
      ScratchDir dir;
      test::TestRegistry backing(dir);
      auto storage = open_or_fail(backing.location());
      import(
          *storage,
          {staged("Lumora Vision Ltd", "Lumora", "LV-C210", ""),
           staged("Acme Ltd", "Acme Home", "Cam  2", ""),
           staged("Other GmbH", "ACME home", "cam 2", ""),
           staged("Acme Ltd", "Acme Home", "Cam 3", ""), staged("Ünïcode AG", "Ärger", "Café", "")},
          batch);
      CHECK(by_brand_model(*storage, "lumora", "lv-c210") == Names{"Lumora Vision Ltd/LV-C210"});
      CHECK(by_brand_model(*storage, "  LUMORA ", "LV-C210\t") ==
            Names{"Lumora Vision Ltd/LV-C210"});
      CHECK(by_brand_model(*storage, "Acme\tHome", "CAM 2") ==
            Names{"Acme Ltd/Cam  2", "Other GmbH/cam 2"});
      CHECK(by_brand_model(*storage, "Acme Home", "Cam 2", 1) == Names{"Acme Ltd/Cam  2"});
      CHECK(by_brand_model(*storage, "Acme Home", "Cam2").empty());
      CHECK(by_brand_model(*storage, "Lumora", "LV-C211").empty());
      // Only ASCII letters are folded, as in identity.
      CHECK(by_brand_model(*storage, "Ärger", "Café") == Names{"Ünïcode AG/Café"});
      CHECK(by_brand_model(*storage, "ärger", "Café").empty());
      CHECK(by_brand_model(*storage, "", "").empty());
    }
  }

  TEST_CASE("lookup: a brand and model of many manufacturers is read only as far as asked") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto storage = open_or_fail(backing.location());
    std::vector<StagedDeclaration> many;
    for (int i = 0; i < 150; ++i) {
      many.push_back(staged("Reseller " + std::to_string(i), "Generic", "Cam", ""));
    }
    import(*storage, std::move(many), true);
    CHECK(by_brand_model(*storage, "generic", "cam", 21).size() == 21);
    const auto all = by_brand_model(*storage, "GENERIC", "CAM", 1000);
    CHECK(all.size() == 150);
    CHECK(all.front() == "Reseller 0/Cam");
    CHECK(all.back() == "Reseller 149/Cam");
  }

  TEST_CASE("lookup: unregistered lookups are merged, bounded, listed most first, not audited") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto storage = open_or_fail(backing.location());
    import(*storage, {staged("Acme Ltd", "Acme", "A1", "")}, false);
    const auto version = storage->state_version();
    REQUIRE(version.is_ok());

    auto recorded = storage->record_unregistered_lookups(
        std::vector{
            miss("", "Nimbus", "N-1", 2, "2026-11-29T10:00:00Z", "2026-11-29T10:05:00Z"),
            miss("05060412873024", "", "", 1, "2026-11-29T09:00:00Z", "2026-11-29T09:00:00Z")},
        100);
    REQUIRE_MESSAGE(recorded.is_ok(), recorded.status().message());
    CHECK(recorded.value() == 0);
    // The same brand and model in another spelling is the same entry: its first spelling stays,
    // its counts add up and its times widen.
    recorded = storage->record_unregistered_lookups(
        std::vector{
            miss("", "  NIMBUS", "n-1 ", 3, "2026-11-28T08:00:00Z", "2026-11-30T12:00:00Z")},
        100);
    REQUIRE(recorded.is_ok());
    auto entries = listed(*storage);
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].brand == "Nimbus");
    CHECK(entries[0].model == "N-1");
    CHECK(entries[0].gtin.empty());
    CHECK(entries[0].lookups == 5);
    CHECK(entries[0].first_seen == "2026-11-28T08:00:00Z");
    CHECK(entries[0].last_seen == "2026-11-30T12:00:00Z");
    CHECK(entries[1].gtin == "05060412873024");
    CHECK(entries[1].brand.empty());
    CHECK(entries[1].lookups == 1);
    // Counting lookups is not a change of the registry's state.
    CHECK(storage->state_version().value() == version.value());

    // Full: known entries still count, new ones are left out and their lookups returned.
    recorded = storage->record_unregistered_lookups(
        std::vector{
            miss("", "Zeta", "Z", 4, "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z"),
            miss("05060412873024", "", "", 1, "2026-12-01T00:00:00Z", "2026-12-01T00:00:00Z")},
        2);
    REQUIRE(recorded.is_ok());
    CHECK(recorded.value() == 4);
    entries = listed(*storage);
    REQUIRE(entries.size() == 2);
    CHECK(entries[1].lookups == 2);
    CHECK(entries[1].last_seen == "2026-12-01T00:00:00Z");

    // More entries, then pages in the list's order; and those seen since a day.
    REQUIRE(storage
                ->record_unregistered_lookups(
                    std::vector{
                        miss("", "Alpha", "A", 2, "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z"),
                        miss("", "Beta", "B", 9, "2026-11-01T00:00:00Z", "2026-11-03T00:00:00Z")},
                    100)
                .is_ok());
    entries = listed(*storage);
    std::vector<std::string> order;
    for (const auto& entry : entries) order.push_back(entry.brand + entry.gtin);
    CHECK(order == std::vector<std::string>{"Beta", "Nimbus", "05060412873024", "Alpha"});
    UnregisteredLookupQuery page;
    page.limit = 2;
    auto first = listed(*storage, page);
    REQUIRE(first.size() == 2);
    page.after_lookups = first[1].lookups;
    page.after_id = first[1].id;
    auto second = listed(*storage, page);
    REQUIRE(second.size() == 2);
    CHECK(second[0].gtin == "05060412873024");
    CHECK(second[1].brand == "Alpha");
    page.after_lookups = second[1].lookups;
    page.after_id = second[1].id;
    CHECK(listed(*storage, page).empty());
    UnregisteredLookupQuery recent;
    recent.seen_since = "2026-11-30";
    entries = listed(*storage, recent);
    REQUIRE(entries.size() == 2);
    CHECK(entries[0].brand == "Nimbus");
    CHECK(entries[1].gtin == "05060412873024");
    CHECK(storage->state_version().value() == version.value());
  }

  TEST_CASE("lookup: a preview gives back its own ids, not those of lookups counted meanwhile") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto storage = open_or_fail(backing.location());
    auto other = open_or_fail(backing.location());
    {
      auto preview = storage->begin_preview();
      REQUIRE_MESSAGE(preview.is_ok(), preview.status().message());
      import(*storage, {staged("Acme Ltd", "Acme", "A1", "96385074")}, false);
      // SQLite: the preview holds the write lock, which counting waits for (and then gives up,
      // keeping its counts); PostgreSQL: counting takes no lock and goes on meanwhile.
      if (test::testing_postgresql()) {
        REQUIRE(other
                    ->record_unregistered_lookups(
                        std::vector{miss("", "Nimbus", "N-1", 1, "2026-11-29T10:00:00Z",
                                         "2026-11-29T10:00:00Z")},
                        100)
                    .is_ok());
      }
    }
    CHECK(by_gtin(*other, "00000096385074").empty());
    auto recorded = other->record_unregistered_lookups(
        std::vector{miss("", "Zeta", "Z", 1, "2026-11-29T11:00:00Z", "2026-11-29T11:00:00Z")}, 100);
    REQUIRE_MESSAGE(recorded.is_ok(), recorded.status().message());
    CHECK(listed(*other).size() == (test::testing_postgresql() ? 2u : 1u));
  }

  TEST_CASE("lookup: the migration keys the products stored before it") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    {
      auto storage = open_or_fail(backing.location());
      import(*storage,
             {staged("Lumora Vision Ltd", "Lumora", "LV-C210", "5060412873017"),
              staged("Acme Ltd", "Acme Home", "Cam 2", "")},
             false);
      // The newest version has another GTIN: that one counts.
      import(*storage, {staged("Acme Ltd", "Acme Home", "Cam 2", "96385074", "2.0")}, false);
    }
    {
      // The registry as it was before the migration.
      test::RegistryProbe probe(backing.location());
      probe.exec("DROP INDEX products_gtin");
      probe.exec("DROP INDEX products_lookup");
      probe.exec("ALTER TABLE products DROP COLUMN gtin");
      probe.exec("ALTER TABLE products DROP COLUMN lookup_hash");
      probe.exec("DROP TABLE unregistered_lookups");
      if (test::testing_postgresql()) {
        probe.exec("UPDATE iotreg_schema SET version = 4");
      } else {
        probe.exec("PRAGMA user_version = 8");
      }
    }
    auto storage = open_or_fail(backing.location());
    CHECK(by_gtin(*storage, "05060412873017") == Names{"Lumora Vision Ltd/LV-C210"});
    CHECK(by_gtin(*storage, "00000096385074") == Names{"Acme Ltd/Cam 2"});
    CHECK(by_brand_model(*storage, "ACME HOME", "cam 2") == Names{"Acme Ltd/Cam 2"});
    CHECK(listed(*storage).empty());
  }
}

}  // namespace iotreg::storage
