// The import pipeline: files in, counts out, one unit of work per file.
#include <doctest/doctest.h>

#include "registry/ingest/ingest.h"
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
