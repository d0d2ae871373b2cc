// SQLite storage: migrations, file identification, identity and history, search, atomicity.
#include <doctest/doctest.h>
#include <sqlite3.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "importers/schema/compiled_schema.h"
#include "registry/storage/sqlite/database.h"
#include "registry/storage/sqlite/migrations.h"
#include "registry/storage/storage.h"
#include "support/process.h"
#include "support/registry.h"
#include "support/samples.h"
#include "support/temp_files.h"

namespace iotreg::storage {
namespace {

using testing::ScratchDir;
namespace fs = std::filesystem;

std::unique_ptr<Storage> open_or_fail(const std::string& location) {
  auto opened = open_storage(location, OpenMode::kReadWrite);
  REQUIRE_MESSAGE(opened.is_ok(), opened.status().message());
  return std::move(opened).value();
}

StagedDeclaration staged(const std::string& maker, const std::string& brand,
                         const std::string& model, const std::string& type = "",
                         const std::string& firmware = "") {
  auto catalog = importers::CompiledSchema::builtin()->catalog();
  model::Declaration declaration(catalog);
  declaration.set(*catalog->index_of("manufacturer.name"), maker);
  declaration.set(*catalog->index_of("product.brand"), brand);
  declaration.set(*catalog->index_of("product.model"), model);
  if (!type.empty()) declaration.set(*catalog->index_of("product.type"), type);
  if (!firmware.empty()) declaration.set(*catalog->index_of("product.firmware_version"), firmware);
  static const BodyEncoder encoder = BodyEncoder::create(*catalog).value();
  StagedDeclaration result;
  stage(encoder, declaration, "line 2", result);
  return result;
}

StoreOutcome store(ImportSession& session, StagedDeclaration declaration) {
  auto outcome = session.store(declaration);
  REQUIRE_MESSAGE(outcome.is_ok(), outcome.status().message());
  return outcome.value();
}

std::int64_t count(const std::string& location, const std::string& table) {
  return test::RegistryProbe(location).integer("SELECT count(*) FROM " + table);
}

std::vector<std::string> models(Storage& storage, ProductQuery query) {
  auto products = storage.list_products(query);
  REQUIRE_MESSAGE(products.is_ok(), products.status().message());
  std::vector<std::string> out;
  for (const auto& product : products.value()) out.push_back(product.model);
  return out;
}

}  // namespace

TEST_SUITE("storage") {
  TEST_CASE("a product's checked version is the number of the version its findings judge") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    test::import_samples(backing.location());
    auto storage = open_or_fail(backing.location());
    test::RegistryProbe probe(backing.location());
    // One product judged on an older version than its latest (as a registry may hold it).
    const std::int64_t older = probe.integer(
        "SELECT min(p.id) FROM products p WHERE p.version_count > 1 AND p.evaluation_id IS NOT "
        "NULL");
    probe.exec(
        "UPDATE products SET evaluated_version_id = (SELECT min(id) FROM "
        "declaration_versions WHERE product_id = " +
        std::to_string(older) + ") WHERE id = " + std::to_string(older));
    auto products = storage->list_products({});
    REQUIRE(products.is_ok());
    int latest = 0;
    for (const auto& product : products.value()) {
      CAPTURE(product.id);
      const std::int64_t expected = probe.integer(
          "SELECT coalesce(v.version, 0) FROM products p LEFT JOIN declaration_versions v ON "
          "v.id = p.evaluated_version_id WHERE p.id = " +
          std::to_string(product.id));
      CHECK(product.evaluated_version == expected);
      auto one = storage->product(product.id);
      REQUIRE(one.is_ok());
      CHECK(one->evaluated_version == expected);
      latest += expected == product.version_count && expected > 1 ? 1 : 0;
    }
    CHECK(latest > 0);  // products judged on a latest version that is not their first
    auto judged_older = storage->product(older);
    REQUIRE(judged_older.is_ok());
    CHECK(judged_older->evaluated_version == 1);
    CHECK(judged_older->version_count > 1);
  }

  TEST_CASE("a new database is created, migrated and marked" * doctest::test_suite("sqlite_only")) {
    ScratchDir dir;
    auto path = dir.file("new.db");
    open_or_fail(path);
    auto db = sqlite::Database::open(path, /*read_only=*/true);
    REQUIRE(db.is_ok());
    CHECK(db.value()->query_int("PRAGMA user_version").value() ==
          static_cast<std::int64_t>(sqlite::migrations().size()));
    CHECK(db.value()->query_int("PRAGMA application_id").value() == 0x696F5452);
    CHECK(db.value()->query_int("PRAGMA page_size").value() == 8192);  // set for new files
    auto mode = db.value()->prepare("PRAGMA journal_mode");
    REQUIRE(mode.is_ok());
    REQUIRE(mode->step().value());
    CHECK(mode->text(0) == "wal");
    CHECK(db.value()->query_int("PRAGMA foreign_keys").value() == 1);
    CHECK(db.value()
              ->query_int("SELECT count(*) FROM sqlite_master WHERE name IN ('products', "
                          "'declaration_versions', 'import_runs', 'audit_events', "
                          "'products_fts', 'manufacturers')")
              .value() == 6);
    // Opening again changes nothing.
    open_or_fail(path);
    CHECK(count(path, "products") == 0);
  }

  TEST_CASE("migrations are numbered from 1 without gaps" * doctest::test_suite("sqlite_only")) {
    int expected = 1;
    for (const auto& migration : sqlite::migrations()) CHECK(migration.version == expected++);
  }

  TEST_CASE("files that are not registries are refused" * doctest::test_suite("sqlite_only")) {
    ScratchDir dir;
    auto text = testing::write_file(dir, "notes.db",
                                    "this is not a database, just some text padded......\n");
    auto result = open_sqlite_storage(text, OpenMode::kReadWrite);
    REQUIRE_FALSE(result.is_ok());
    CHECK(result.status().code() == Status::Code::kNotIotregDatabase);

    auto other = dir.file("other.db");
    {
      sqlite3* db = nullptr;
      sqlite3_open(other.c_str(), &db);
      sqlite3_exec(db, "CREATE TABLE customers (id INTEGER)", nullptr, nullptr, nullptr);
      sqlite3_close(db);
    }
    result = open_sqlite_storage(other, OpenMode::kReadWrite);
    REQUIRE_FALSE(result.is_ok());
    CHECK(result.status().code() == Status::Code::kNotIotregDatabase);
    CHECK(result.status().message().find("another application") != std::string::npos);
    CHECK(count(other, "sqlite_master") == 1);  // untouched

    auto newer = dir.file("newer.db");
    open_or_fail(newer);
    {
      sqlite3* db = nullptr;
      sqlite3_open(newer.c_str(), &db);
      sqlite3_exec(db, "PRAGMA user_version = 999", nullptr, nullptr, nullptr);
      sqlite3_close(db);
    }
    result = open_sqlite_storage(newer, OpenMode::kReadWrite);
    REQUIRE_FALSE(result.is_ok());
    CHECK(result.status().message().find("newer iotreg") != std::string::npos);

    result = open_sqlite_storage(dir.file("missing.db"), OpenMode::kReadOnly);
    REQUIRE_FALSE(result.is_ok());
    CHECK(result.status().code() == Status::Code::kNotFound);
  }

  TEST_CASE("a dry run on a registry that does not exist runs on an empty one and creates nothing" *
            doctest::test_suite("sqlite_only")) {
    ScratchDir dir;
    const std::string missing = dir.file("missing.db");
    auto preview = open_storage(missing, OpenMode::kPreview);
    REQUIRE(preview.is_ok());
    auto session = preview.value()->begin_import({"a.csv", "csv", "test"}, nullptr, {}, {});
    REQUIRE(session.is_ok());
    CHECK(store(*session.value(), staged("Acme Ltd", "Acme", "X1")) == StoreOutcome::kNewProduct);
    session.value().reset();
    preview.value().reset();
    CHECK_FALSE(fs::exists(missing));

    CHECK_FALSE(fs::exists(missing + "-wal"));
  }

  TEST_CASE("identity and history: new product, unchanged, new version") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto path = backing.location();
    auto storage = open_or_fail(path);
    {
      auto session = storage->begin_import({"a.csv", "csv", "test"}, nullptr, {}, {});
      REQUIRE(session.is_ok());
      CHECK(store(*session.value(), staged("Acme Ltd", "Acme", "X1", "camera")) ==
            StoreOutcome::kNewProduct);
      CHECK(store(*session.value(), staged("Acme Ltd", "Acme", "X1", "camera")) ==
            StoreOutcome::kUnchanged);
      // Same product, other spelling of the identity; different content.
      CHECK(store(*session.value(), staged(" ACME  ltd", "acme", "x1", "camera", "2.0")) ==
            StoreOutcome::kNewVersion);
      CHECK(store(*session.value(), staged("Acme Ltd", "Acme", "X2")) == StoreOutcome::kNewProduct);
      CHECK(store(*session.value(), staged("Other GmbH", "Acme", "X1")) ==
            StoreOutcome::kNewProduct);
      REQUIRE(session.value()->commit({}).is_ok());
    }
    auto products = storage->list_products({});
    REQUIRE(products.is_ok());
    REQUIRE(products->size() == 3);
    CHECK(products->at(0).manufacturer == "Acme Ltd");  // first spelling is kept
    CHECK(products->at(0).version_count == 2);
    auto versions = storage->versions(products->at(0).id);
    REQUIRE(versions.is_ok());
    REQUIRE(versions->size() == 2);
    CHECK(versions->at(0).version == 1);
    CHECK(versions->at(1).version == 2);
    CHECK(versions->at(0).body_json.find("firmware_version") == std::string::npos);
    CHECK(versions->at(1).body_json.find(R"("firmware_version":"2.0")") != std::string::npos);
    CHECK(versions->at(1).source == "a.csv");
    CHECK(count(path, "manufacturers") == 2);

    // The latest version again changes nothing; an older one is a re-declaration, a new
    // version with its text; a new text is a new version.
    auto session = storage->begin_import({"b.csv", "csv", "test"}, nullptr, {}, {});
    REQUIRE(session.is_ok());
    CHECK(store(*session.value(), staged(" ACME  ltd", "acme", "x1", "camera", "2.0")) ==
          StoreOutcome::kUnchanged);
    CHECK(store(*session.value(), staged("Acme Ltd", "Acme", "X1", "camera")) ==
          StoreOutcome::kNewVersion);
    CHECK(store(*session.value(), staged("Acme Ltd", "Acme", "X1", "camera")) ==
          StoreOutcome::kUnchanged);
    CHECK(store(*session.value(), staged("Acme Ltd", "Acme", "X1", "camera", "3.0")) ==
          StoreOutcome::kNewVersion);
    REQUIRE(session.value()->commit({}).is_ok());
    auto history = storage->versions(products->at(0).id);
    REQUIRE(history.is_ok());
    REQUIRE(history->size() == 4);
    CHECK(history->at(2).version == 3);
    CHECK(history->at(2).body_json == versions->at(0).body_json);
    CHECK(history->at(3).body_json.find(R"("firmware_version":"3.0")") != std::string::npos);
  }

  TEST_CASE("an import that is not committed leaves nothing behind") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto path = backing.location();
    auto storage = open_or_fail(path);
    {
      auto session = storage->begin_import({"a.csv", "csv", "test"}, nullptr, {}, {});
      REQUIRE(session.is_ok());
      store(*session.value(), staged("Acme Ltd", "Acme", "X1"));
    }
    CHECK(count(path, "products") == 0);
    CHECK(count(path, "declaration_versions") == 0);
    CHECK(count(path, "import_runs") == 0);
    CHECK(count(path, "audit_events") == 0);
  }

  TEST_CASE("commit writes the run and its audit event together") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto path = backing.location();
    auto storage = open_or_fail(path);
    auto session = storage->begin_import({"a.csv", "csv", "cli:alice"}, nullptr, {}, {});
    REQUIRE(session.is_ok());
    store(*session.value(), staged("Acme Ltd", "Acme", "X1"));
    ImportCounts counts;
    counts.records_read = 2;
    counts.accepted = 1;
    counts.rejected = 1;
    counts.new_products = 1;
    REQUIRE(session.value()->commit(counts).is_ok());
    auto runs = storage->import_runs();
    REQUIRE(runs.is_ok());
    REQUIRE(runs->size() == 1);
    CHECK(runs->at(0).counts.rejected == 1);
    CHECK(runs->at(0).info.actor == "cli:alice");
    auto events = storage->audit_events({});
    REQUIRE(events.is_ok());
    REQUIRE(events->size() == 1);
    CHECK(events->at(0).action == "import");
    CHECK(events->at(0).subject_id == runs->at(0).id);
    CHECK(events->at(0).details_json.find(R"("rejected":1)") != std::string::npos);
    storage::AuditQuery trail;
    trail.product_id = 1;
    auto product_events = storage->audit_events(trail);
    REQUIRE(product_events.is_ok());
    CHECK(product_events->size() == 1);
  }

  TEST_CASE("a product's audit trail: its own, its flags' and its versions' import runs' events") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    test::import_samples(backing.location());
    auto storage = open_or_fail(backing.location());
    FlagQuery every_flag;
    auto flags = storage->flags(every_flag);
    REQUIRE(flags.is_ok());
    REQUIRE(!flags->empty());
    auto confirmed = test::run_process(
        IOTREG_BINARY, {"--db", backing.location(), "--actor", "Jane Smith", "flag", "confirm",
                        std::to_string(flags->front().id), "--reason", "test purchase"});
    REQUIRE_MESSAGE(confirmed.exit_status == 0, confirmed.err);

    auto all = storage->audit_events({});
    REQUIRE(all.is_ok());
    const std::string officer = all->back().actor;  // who confirmed the flag
    CHECK(officer.find("Jane Smith") != std::string::npos);
    auto products = storage->list_products({});
    REQUIRE(products.is_ok());
    int with_several_runs = 0;
    for (const auto& product : products.value()) {
      CAPTURE(product.id);
      auto versions = storage->versions(product.id);
      auto product_flags = storage->product_flags(product.id);
      REQUIRE(versions.is_ok());
      REQUIRE(product_flags.is_ok());
      std::set<std::int64_t> runs, flag_ids;
      for (const auto& version : versions.value()) runs.insert(version.import_run_id);
      for (const auto& flag : product_flags.value()) flag_ids.insert(flag.id);
      with_several_runs += runs.size() > 1 ? 1 : 0;
      std::vector<std::int64_t> expected;
      for (const auto& event : all.value()) {
        if ((event.subject_type == "product" && event.subject_id == product.id) ||
            (event.subject_type == "flag" && flag_ids.count(event.subject_id)) ||
            (event.subject_type == "import_run" && runs.count(event.subject_id))) {
          expected.push_back(event.id);
        }
      }
      auto ids = [&](AuditQuery query) {
        query.product_id = product.id;
        auto events = storage->audit_events(query);
        REQUIRE(events.is_ok());
        std::vector<std::int64_t> out;
        for (const auto& event : events.value()) out.push_back(event.id);
        return out;
      };
      CHECK(ids({}) == expected);
      AuditQuery newest;
      newest.newest_first = true;
      newest.limit = 2;
      std::vector<std::int64_t> newest_two(expected.rbegin(), expected.rend());
      if (newest_two.size() > 2) newest_two.resize(2);
      CHECK(ids(newest) == newest_two);
      AuditQuery after;
      after.after_id = expected.front();
      CHECK(ids(after) == std::vector<std::int64_t>(expected.begin() + 1, expected.end()));
      AuditQuery by_officer;
      by_officer.actor = officer;
      std::vector<std::int64_t> officers;
      for (const auto& event : all.value()) {
        if (event.actor == officer &&
            std::find(expected.begin(), expected.end(), event.id) != expected.end()) {
          officers.push_back(event.id);
        }
      }
      CHECK(officers.size() == (flag_ids.count(flags->front().id) ? 1u : 0u));
      CHECK(ids(by_officer) == officers);
    }
    CHECK(with_several_runs > 0);
    AuditQuery unknown;
    unknown.product_id = 1000000;
    CHECK(storage->audit_events(unknown).status().code() == Status::Code::kNotFound);
  }

  TEST_CASE("search, filters and pagination") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto storage = open_or_fail(backing.location());
    auto session = storage->begin_import({"a.csv", "csv", "test"}, nullptr, {}, {});
    REQUIRE(session.is_ok());
    store(*session.value(), staged("Lumora Vision Ltd", "Lumora", "LV-C210", "smart camera"));
    store(*session.value(), staged("Lumora Vision Ltd", "Nightjar", "NJ-BM1", "baby monitor"));
    store(*session.value(), staged("Kestrel GmbH", "Kestrel", "KR-900", "router"));
    store(*session.value(), staged("Kestrel GmbH", "Kestrel", "KR-1200", "smart camera"));
    REQUIRE(session.value()->commit({}).is_ok());

    ProductQuery query;
    query.search = "cam";
    CHECK(models(*storage, query) == std::vector<std::string>{"LV-C210", "KR-1200"});
    query.search = "lumora";  // manufacturer or brand
    CHECK(models(*storage, query) == std::vector<std::string>{"LV-C210", "NJ-BM1"});
    query.search = "vision monitor";  // every word must match somewhere
    CHECK(models(*storage, query) == std::vector<std::string>{"NJ-BM1"});
    query.search = "kr 1200";
    CHECK(models(*storage, query) == std::vector<std::string>{"KR-1200"});
    // Query syntax in user input is plain text.
    for (const char* hostile : {"\"", "AND", "cam OR router", "*", "NEAR(a b)", "brand:Kestrel",
                                "-router", "' OR 1=1 --", "^cam", "()", "\xE2\x80\x9Cx"}) {
      query.search = hostile;
      auto products = storage->list_products(query);
      CHECK_MESSAGE(products.is_ok(), hostile);
    }
    query.search = "cam OR router";
    CHECK(models(*storage, query).empty());  // "or" must match as a word too

    ProductQuery by_maker;
    by_maker.manufacturer = "  kestrel   GMBH ";
    CHECK(models(*storage, by_maker) == std::vector<std::string>{"KR-900", "KR-1200"});

    ProductQuery page;
    page.limit = 2;
    auto first = storage->list_products(page);
    REQUIRE(first.is_ok());
    REQUIRE(first->size() == 2);
    page.after_id = first->back().id;
    CHECK(models(*storage, page) == std::vector<std::string>{"KR-900", "KR-1200"});

    ProductQuery status;
    status.status = "compliant";
    CHECK(models(*storage, status).empty());
    status.status = "pending";
    CHECK(models(*storage, status).size() == 4);
  }

  TEST_CASE("officers' filters: part of a manufacturer, a type in any case, support end, change") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto storage = open_or_fail(backing.location());
    auto session = storage->begin_import({"a.csv", "csv", "test"}, nullptr, {}, {});
    REQUIRE(session.is_ok());
    auto with_support_end = [](StagedDeclaration declaration, const std::string& day) {
      declaration.support_end = day;
      return declaration;
    };
    store(*session.value(),
          with_support_end(staged("Lumora Vision Ltd", "Lumora", "LV-C210", "Smart Camera"),
                           "2027-06-30"));
    store(*session.value(),
          with_support_end(staged("Lumora Vision Ltd", "Nightjar", "NJ-BM1", "baby monitor"),
                           "2029-01-31"));
    store(*session.value(), staged("Kestrel GmbH", "Kestrel", "KR-900", "router"));
    store(*session.value(), with_support_end(staged("BrightPath Electronics Ltd", "BrightPath",
                                                    "BP-1", "smart camera"),
                                             "2028-01-01"));
    REQUIRE(session.value()->commit({}).is_ok());

    auto found = [&](auto set) {
      ProductQuery query;
      set(query);
      return models(*storage, query);
    };
    using Models = std::vector<std::string>;
    CHECK(found([](ProductQuery& q) { q.manufacturer = "brightpath"; }) == Models{"BP-1"});
    CHECK(found([](ProductQuery& q) { q.manufacturer = "VISION"; }) == Models{"LV-C210", "NJ-BM1"});
    CHECK(found([](ProductQuery& q) { q.manufacturer = " path   ELECTRONICS "; }) ==
          Models{"BP-1"});
    CHECK(found([](ProductQuery& q) { q.manufacturer = "ltd"; }) ==
          Models{"LV-C210", "NJ-BM1", "BP-1"});
    CHECK(found([](ProductQuery& q) { q.manufacturer = "kestrel gmbh ltd"; }).empty());
    // A type is the whole type, in any case.
    CHECK(found([](ProductQuery& q) { q.type = "SMART camera"; }) == Models{"LV-C210", "BP-1"});
    CHECK(found([](ProductQuery& q) { q.type = "camera"; }).empty());
    // Before and after are strict; a product without an end date matches neither.
    CHECK(found([](ProductQuery& q) { q.support_ends_before = "2028-01-01"; }) ==
          Models{"LV-C210"});
    CHECK(found([](ProductQuery& q) { q.support_ends_before = "2028-01-02"; }) ==
          Models{"LV-C210", "BP-1"});
    CHECK(found([](ProductQuery& q) { q.support_ends_after = "2028-01-01"; }) == Models{"NJ-BM1"});
    CHECK(found([](ProductQuery& q) { q.support_ends_after = "2000-01-01"; }) ==
          Models{"LV-C210", "NJ-BM1", "BP-1"});
    CHECK(found([](ProductQuery& q) {
            q.manufacturer = "lumora";
            q.support_ends_before = "2028-01-01";
          }) == Models{"LV-C210"});

    // Declared long ago; then one product's status changed on 1 June 2026.
    test::RegistryProbe probe(backing.location());
    probe.exec("UPDATE import_runs SET started_at = '2020-01-01T09:00:00Z'");
    const std::int64_t monitor = probe.integer("SELECT id FROM products WHERE model = 'NJ-BM1'");
    probe.exec(
        "INSERT INTO change_events (at, cause, first_change_id) VALUES "
        "('2026-06-01T10:00:00Z', 'test', (SELECT coalesce(max(id), 0) + 1 FROM status_changes))");
    probe.exec(
        "INSERT INTO status_changes (event_id, product_id, version_id, kind, from_value, "
        "to_value) SELECT (SELECT max(id) FROM change_events), id, latest_version_id, 0, "
        "'pending', 'compliant' FROM products WHERE id = " +
        std::to_string(monitor));
    CHECK(found([](ProductQuery& q) { q.changed_since = "2020-01-01"; }) ==
          Models{"LV-C210", "NJ-BM1", "KR-900", "BP-1"});
    CHECK(found([](ProductQuery& q) { q.changed_since = "2020-01-02"; }) == Models{"NJ-BM1"});
    CHECK(found([](ProductQuery& q) { q.changed_since = "2026-06-01"; }) == Models{"NJ-BM1"});
    CHECK(found([](ProductQuery& q) { q.changed_since = "2026-06-02"; }).empty());
  }

  TEST_CASE("search follows a product's type across versions") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto storage = open_or_fail(backing.location());
    for (const char* type : {"baby monitor", "smart speaker"}) {
      auto session = storage->begin_import({"a.csv", "csv", "test"}, nullptr, {}, {});
      REQUIRE(session.is_ok());
      store(*session.value(), staged("Acme", "Acme", "A1", type));
      REQUIRE(session.value()->commit({}).is_ok());
    }
    ProductQuery query;
    query.search = "speaker";
    CHECK(models(*storage, query) == std::vector<std::string>{"A1"});
    query.search = "monitor";
    CHECK(models(*storage, query).empty());
  }

  TEST_CASE("a missing product is not found") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto storage = open_or_fail(backing.location());
    auto product = storage->product(42);
    REQUIRE_FALSE(product.is_ok());
    CHECK(product.status().code() == Status::Code::kNotFound);
    CHECK_FALSE(storage->versions(42).is_ok());
  }
}

}  // namespace iotreg::storage
