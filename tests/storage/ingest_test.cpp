// The import pipeline: files in, counts out, one unit of work per file.
#include <doctest/doctest.h>

#include "registry/ingest/ingest.h"
#include "registry/model/lookup_keys.h"
#include "support/registry.h"
#include "support/temp_files.h"

namespace iotreg::ingest {
namespace {

using testing::ScratchDir;

class RecordingObserver : public ImportObserver {
 public:
  void on_rejected(const std::string&, const importers::RejectedRecord& record) override {
    rejected_lines.push_back(record.where.line);
  }
  void on_file_error(const std::string&, const std::string& message) override {
    file_errors.push_back(message);
  }
  std::vector<std::uint64_t> rejected_lines;
  std::vector<std::string> file_errors;
};

std::string table_counts(const std::string& location) {
  test::RegistryProbe probe(location);
  std::string out;
  for (const char* table :
       {"manufacturers", "products", "declaration_versions", "import_runs", "audit_events"}) {
    out += std::string(table) + "=" +
           std::to_string(probe.integer(std::string("SELECT count(*) FROM ") + table)) + " ";
  }
  return out;
}

// `count` products of 40 makers, every tenth with a GTIN-13.
std::string many_products_csv(int count) {
  std::string csv = "manufacturer.name,product.brand,product.model,product.type,product.gtin\n";
  for (int i = 0; i < count; ++i) {
    std::string gtin;
    if (i % 10 == 0) {
      std::string digits = std::to_string(4000000000000LL + i);
      digits.back() = *model::gtin_check_digit(digits);
      gtin = digits;
    }
    csv += "Maker " + std::to_string(i % 40) + ",Brand,M" + std::to_string(i) + "," +
           (i % 3 == 0 ? "camera" : "plug") + "," + gtin + "\n";
  }
  return csv;
}

// The definitions of the products' indexes, in name order.
std::vector<std::string> product_indexes(test::RegistryProbe& probe) {
  return probe.column(
      "SELECT name || ': ' || coalesce(sql, '') FROM sqlite_master "
      "WHERE type = 'index' AND tbl_name = 'products' ORDER BY name");
}

const char* kCsv =
    "manufacturer.name,product.brand,product.model,product.type\n"
    "Acme Ltd,Acme,X1,camera\n"
    "Acme Ltd,Acme,,camera\n"
    "Acme Ltd,Acme,X2,plug\n";

}  // namespace

TEST_SUITE("ingest") {
  TEST_CASE("a file is imported with counts and rejected rows are reported") {
    ScratchDir dir;
    auto file = testing::write_file(dir, "a.csv", kCsv);
    test::TestRegistry backing(dir);
    auto opened = storage::open_storage(backing.location(), storage::OpenMode::kReadWrite);
    REQUIRE(opened.is_ok());
    RecordingObserver observer;
    auto result = import_file(opened.value().get(), file, {}, observer);
    REQUIRE_MESSAGE(result.is_ok(), result.status().message());
    CHECK(result->format == "csv");
    CHECK(result->run_id == 1);
    CHECK(result->counts.records_read == 3);
    CHECK(result->counts.accepted == 2);
    CHECK(result->counts.rejected == 1);
    CHECK(result->counts.new_products == 2);
    CHECK(observer.rejected_lines == std::vector<std::uint64_t>{3});
    CHECK(table_counts(backing.location()) ==
          "manufacturers=1 products=2 declaration_versions=2 import_runs=1 audit_events=1 ");

    // The same file again: nothing changes, not even the run log.
    auto again = import_file(opened.value().get(), file, {}, observer);
    REQUIRE(again.is_ok());
    CHECK(again->counts.unchanged == 2);
    CHECK(again->run_id == 0);
    CHECK(table_counts(backing.location()) ==
          "manufacturers=1 products=2 declaration_versions=2 import_runs=1 audit_events=1 ");
  }

  TEST_CASE("a dry run in a preview counts what the real run does and stores nothing") {
    ScratchDir dir;
    auto file = testing::write_file(dir, "a.csv", kCsv);
    test::TestRegistry backing(dir);
    auto path = backing.location();
    auto opened = storage::open_storage(path, storage::OpenMode::kReadWrite);
    REQUIRE(opened.is_ok());
    const std::string empty = table_counts(path);
    RecordingObserver observer;
    Result<FileResult> dry = Status::internal("not run");
    {
      auto preview = opened.value()->begin_preview();
      REQUIRE(preview.is_ok());
      dry = import_file(opened.value().get(), file, {}, observer);
    }
    REQUIRE(dry.is_ok());
    CHECK(dry->counts.accepted == 2);
    CHECK(dry->counts.rejected == 1);
    CHECK(dry->counts.new_products == 2);
    CHECK(table_counts(path) == empty);
    auto real = import_file(opened.value().get(), file, {}, observer);
    REQUIRE(real.is_ok());
    CHECK(real->counts.new_products == dry->counts.new_products);
    CHECK(real->run_id == dry->run_id);
    CHECK(table_counts(path) != empty);
    // Without a registry, a file is only validated.
    auto validated = import_file(nullptr, file, {}, observer);
    REQUIRE(validated.is_ok());
    CHECK(validated->counts.accepted == 2);
    CHECK(validated->run_id == 0);
  }

  TEST_CASE("a refused file leaves the registry exactly as it was") {
    ScratchDir dir;
    auto good = testing::write_file(dir, "a.csv", kCsv);
    auto bad =
        testing::write_file(dir, "b.csv", "manufacturer.name,product.brand,product.modle\nA,B,C\n");
    test::TestRegistry backing(dir);
    auto path = backing.location();
    auto opened = storage::open_storage(path, storage::OpenMode::kReadWrite);
    REQUIRE(opened.is_ok());
    RecordingObserver observer;
    REQUIRE(import_file(opened.value().get(), good, {}, observer).is_ok());
    auto before = table_counts(path);
    auto result = import_file(opened.value().get(), bad, {}, observer);
    REQUIRE(result.is_ok());
    CHECK(result->counts.records_read == 0);
    REQUIRE(observer.file_errors.size() == 1);
    CHECK(observer.file_errors[0].find("product.modle") != std::string::npos);
    CHECK(table_counts(path) == before);
  }

  TEST_CASE("unknown formats and missing files are errors before anything is stored") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto opened = storage::open_storage(backing.location(), storage::OpenMode::kReadWrite);
    REQUIRE(opened.is_ok());
    RecordingObserver observer;
    auto txt = testing::write_file(dir, "a.txt", kCsv);
    auto result = import_file(opened.value().get(), txt, {}, observer);
    REQUIRE_FALSE(result.is_ok());
    CHECK(result.status().message().find("unknown format") != std::string::npos);
    result = import_file(opened.value().get(), dir.file("missing.csv"), {}, observer);
    REQUIRE_FALSE(result.is_ok());
    CHECK(result.status().message().find("no such file") != std::string::npos);
    ImportOptions as_csv;
    as_csv.format = importers::Format::kCsv;
    result = import_file(opened.value().get(), txt, as_csv, observer);
    REQUIRE(result.is_ok());
    CHECK(result->counts.new_products == 2);
  }

  TEST_CASE("a large import builds the products' indexes at commit, as they were defined" *
            doctest::test_suite("sqlite_only")) {
    ScratchDir dir;
    auto small = testing::write_file(dir, "small.csv", kCsv);
    // Past the 50,000 new products after which an import defers the indexes.
    auto large = testing::write_file(dir, "large.csv", many_products_csv(60000));
    test::TestRegistry backing(dir);
    auto path = backing.location();
    auto opened = storage::open_storage(path, storage::OpenMode::kReadWrite);
    REQUIRE(opened.is_ok());
    RecordingObserver observer;
    test::RegistryProbe probe(path);
    const std::vector<std::string> indexes = product_indexes(probe);
    REQUIRE(indexes.size() >= 5);
    auto schema_version = [&] { return probe.integer("PRAGMA schema_version"); };

    // A small import leaves the schema alone.
    const std::int64_t before_small = schema_version();
    REQUIRE(import_file(opened.value().get(), small, {}, observer).is_ok());
    CHECK(schema_version() == before_small);

    // A dry run of the large file defers them inside its preview, and the rollback restores
    // them untouched.
    const std::string counts = table_counts(path);
    const std::int64_t before_dry = schema_version();
    {
      auto preview = opened.value()->begin_preview();
      REQUIRE(preview.is_ok());
      auto dry = import_file(opened.value().get(), large, {}, observer);
      REQUIRE(dry.is_ok());
      CHECK(dry->counts.new_products == 60000);
    }
    CHECK(schema_version() == before_dry);
    CHECK(table_counts(path) == counts);
    CHECK(product_indexes(probe) == indexes);

    // The real run drops them and creates them again, from the same definitions, over every row.
    auto real = import_file(opened.value().get(), large, {}, observer);
    REQUIRE(real.is_ok());
    CHECK(real->counts.new_products == 60000);
    CHECK(schema_version() > before_dry);
    CHECK(product_indexes(probe) == indexes);
    CHECK(probe.text("PRAGMA integrity_check") == "ok");
    CHECK(probe.integer("SELECT count(*) FROM products INDEXED BY products_gtin "
                        "WHERE gtin IS NOT NULL") == 6000);
    CHECK(probe.integer("SELECT count(*) FROM products INDEXED BY products_manufacturer "
                        "WHERE manufacturer_id = (SELECT id FROM manufacturers "
                        "WHERE name = 'Maker 7')") == 1500);
    // The products imported before the rebuild are in the rebuilt indexes too.
    CHECK(probe.integer("SELECT count(*) FROM products INDEXED BY products_lookup WHERE "
                        "lookup_hash = (SELECT lookup_hash FROM products WHERE model = 'X2')") ==
          1);

    // An import small beside the registry now keeps them.
    const std::int64_t before_update = schema_version();
    auto update = testing::write_file(dir, "update.csv",
                                      "manufacturer.name,product.brand,product.model\n"
                                      "Maker 1,Brand,M1\nMaker 1,Brand,N1\n");
    auto updated = import_file(opened.value().get(), update, {}, observer);
    REQUIRE(updated.is_ok());
    CHECK(updated->counts.new_products == 1);
    CHECK(schema_version() == before_update);
  }

  TEST_CASE("many records flow through the batches in order") {
    ScratchDir dir;
    std::string csv = "manufacturer.name,product.brand,product.model,product.firmware_version\n";
    for (int i = 0; i < 10000; ++i) {
      csv += "Maker " + std::to_string(i % 7) + ",B,M" + std::to_string(i % 6000) + ",v" +
             std::to_string(i) + "\n";
    }
    auto file = testing::write_file(dir, "many.csv", csv);
    test::TestRegistry backing(dir);
    auto path = backing.location();
    auto opened = storage::open_storage(path, storage::OpenMode::kReadWrite);
    REQUIRE(opened.is_ok());
    RecordingObserver observer;
    auto result = import_file(opened.value().get(), file, {}, observer);
    REQUIRE(result.is_ok());
    // 6000 distinct (maker, model) pairs? i%7 and i%6000 cycle together with period 42000, so
    // all 10000 rows are distinct products except where (i%7, i%6000) repeats: never below 42000.
    CHECK(result->counts.new_products == 10000);
    // Version ids follow file order.
    CHECK(test::RegistryProbe(path).integer(
              "SELECT count(*) FROM declaration_versions v JOIN products p ON "
              "p.id = v.product_id WHERE p.id != v.id") == 0);
  }
}

}  // namespace iotreg::ingest
