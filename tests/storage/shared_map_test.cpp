// SQLite's shared memory map (registry/storage/sqlite/shared_map.h): one mapping of a file for
// all of the process's connections that read with it, and reads that stay right while other
// connections grow, change and shrink the file.
#include <doctest/doctest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "registry/storage/sqlite/database.h"
#include "support/temp_files.h"

namespace iotreg::storage::sqlite {
namespace {

using testing::ScratchDir;
namespace fs = std::filesystem;

// How many mappings of the file at `path` this process has.
int mappings_of(const std::string& path) {
  const std::string file = fs::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  int count = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.size() > file.size() &&
        line.compare(line.size() - file.size(), file.size(), file) == 0 &&
        line[line.size() - file.size() - 1] == ' ') {
      ++count;
    }
  }
  return count;
}

std::unique_ptr<Database> open_database(const std::string& path, bool shared_map) {
  auto opened = Database::open(path, /*read_only=*/false, 256u << 10, shared_map);
  REQUIRE_MESSAGE(opened.is_ok(), opened.status().message());
  return std::move(opened).value();
}

void exec(Database& db, const std::string& sql) {
  auto status = db.exec(sql);
  REQUIRE_MESSAGE(status.is_ok(), status.message());
}

// The pages the connection has read into its cache (SQLite counts no page it read in place).
int cache_misses(Database& db) {
  int current = 0;
  int highest = 0;
  sqlite3_db_status(db.handle(), SQLITE_DBSTATUS_CACHE_MISS, &current, &highest, /*reset=*/1);
  return current;
}

std::int64_t integer(Database& db, const std::string& sql) {
  auto value = db.query_int(sql);
  REQUIRE_MESSAGE(value.is_ok(), value.status().message());
  return value.value();
}

// Rows id 1..count whose payload is `size` copies of the letter (id + generation) mod 26, so a
// page read from the wrong place or an old version of the file shows in the checksum.
void fill(Database& db, std::int64_t first, std::int64_t last, int size, int generation) {
  exec(db, "WITH RECURSIVE n(value) AS (SELECT " + std::to_string(first) +
               " UNION ALL SELECT value + 1 FROM n WHERE value < " + std::to_string(last) +
               ") INSERT OR REPLACE INTO rows (id, payload) SELECT value, replace(printf('%." +
               std::to_string(size) + "c', '*'), '*', char(97 + (value + " +
               std::to_string(generation) + ") % 26)) FROM n");
}

// The checksum `fill` gives rows first..last of one generation.
std::int64_t checksum(std::int64_t first, std::int64_t last, int size, int generation) {
  std::int64_t sum = 0;
  for (std::int64_t id = first; id <= last; ++id) sum += (97 + (id + generation) % 26) * size;
  return sum;
}

constexpr const char* kChecksum =
    "SELECT coalesce(sum(unicode(payload) * length(payload)), 0) FROM rows";

// A new database in WAL mode at `path` holding rows 1..rows of generation 0 (fill), all in the
// file (checkpointed); the connection that made it, for writing more.
std::unique_ptr<Database> new_file(const std::string& path, std::int64_t rows) {
  auto db = open_database(path, false);
  exec(*db, "PRAGMA journal_mode = WAL");
  exec(*db, "CREATE TABLE rows (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)");
  fill(*db, 1, rows, 1000, 0);
  exec(*db, "PRAGMA wal_checkpoint(TRUNCATE)");
  return db;
}

}  // namespace

TEST_SUITE("storage") {
  TEST_CASE("connections reading with the shared map share one mapping, gone with the last") {
    ScratchDir dir;
    const std::string path = dir.file("shared.db");
    auto writer = new_file(path, 3000);
    CHECK(mappings_of(path) == 0);

    // 3,000 rows of 1,000 bytes: about 400 pages of 8 KiB.
    std::vector<std::unique_ptr<Database>> readers;
    for (int i = 0; i < 4; ++i) {
      readers.push_back(open_database(path, true));
      cache_misses(*readers.back());
      CHECK(integer(*readers.back(), kChecksum) == checksum(1, 3000, 1000, 0));
      CHECK(integer(*readers.back(), "PRAGMA mmap_size") > 0);
      CHECK(cache_misses(*readers.back()) < 10);  // read in place (the schema's page aside)
    }
    CHECK(mappings_of(path) == 1);  // SQLite's own memory map would show four

    // A connection without the shared map reads each page into its cache and maps nothing.
    auto plain = open_database(path, false);
    CHECK(integer(*plain, "PRAGMA mmap_size") == 0);
    cache_misses(*plain);
    CHECK(integer(*plain, kChecksum) == checksum(1, 3000, 1000, 0));
    CHECK(cache_misses(*plain) > 300);
    CHECK(mappings_of(path) == 1);

    readers.pop_back();
    CHECK(mappings_of(path) == 1);
    readers.clear();
    // The file is still open by `writer` and `plain`, which keep no mapping.
    CHECK(mappings_of(path) == 0);
    CHECK(integer(*plain, kChecksum) == checksum(1, 3000, 1000, 0));
  }

  TEST_CASE("a shared map reads what other connections write while the file grows and shrinks") {
    ScratchDir dir;
    const std::string path = dir.file("changing.db");
    auto writer = new_file(path, 200);
    auto reader = open_database(path, true);
    CHECK(integer(*reader, kChecksum) == checksum(1, 200, 1000, 0));
    const auto small = fs::file_size(path);

    // Grown by the writer's checkpoint, beyond what the reader saw of the file.
    fill(*writer, 201, 5000, 1000, 0);
    CHECK(integer(*reader, kChecksum) == checksum(1, 5000, 1000, 0));  // from the WAL
    exec(*writer, "PRAGMA wal_checkpoint(TRUNCATE)");
    CHECK(fs::file_size(path) > 10 * small);
    CHECK(integer(*reader, kChecksum) == checksum(1, 5000, 1000, 0));  // from the file

    // Changed in place.
    fill(*writer, 1, 5000, 1000, 7);
    exec(*writer, "PRAGMA wal_checkpoint(TRUNCATE)");
    CHECK(integer(*reader, kChecksum) == checksum(1, 5000, 1000, 7));

    // A reader keeps its snapshot while the writer changes the rows it reads.
    exec(*reader, "BEGIN");
    CHECK(integer(*reader, kChecksum) == checksum(1, 5000, 1000, 7));
    fill(*writer, 1, 5000, 1000, 3);
    exec(*writer, "PRAGMA wal_checkpoint(PASSIVE)");
    CHECK(integer(*reader, kChecksum) == checksum(1, 5000, 1000, 7));
    exec(*reader, "COMMIT");
    CHECK(integer(*reader, kChecksum) == checksum(1, 5000, 1000, 3));

    // Shrunk: the pages beyond the new end are never read through the map.
    exec(*writer, "DELETE FROM rows WHERE id > 100");
    exec(*writer, "VACUUM");
    exec(*writer, "PRAGMA wal_checkpoint(TRUNCATE)");
    CHECK(fs::file_size(path) < small);
    CHECK(integer(*reader, kChecksum) == checksum(1, 100, 1000, 3));
    CHECK(integer(*reader, "SELECT count(*) FROM rows") == 100);

    // And grown again.
    fill(*writer, 101, 3000, 2000, 3);
    exec(*writer, "PRAGMA wal_checkpoint(TRUNCATE)");
    CHECK(integer(*reader, kChecksum) == checksum(1, 100, 1000, 3) + checksum(101, 3000, 2000, 3));
    auto check = reader->prepare("PRAGMA integrity_check");
    REQUIRE(check.is_ok());
    REQUIRE(check->step().value());
    CHECK(check->text(0) == "ok");
  }

  TEST_CASE(
      "threads reading with the shared map see whole versions while a writer grows the file") {
    ScratchDir dir;
    const std::string path = dir.file("busy.db");
    auto writer = new_file(path, 100);
    constexpr int kBatches = 40;
    constexpr int kBatchRows = 100;
    std::atomic<bool> done{false};
    std::atomic<int> wrong{0};
    std::atomic<int> reads{0};
    std::vector<std::thread> readers;
    for (int i = 0; i < 3; ++i) {
      readers.emplace_back([&] {
        auto opened = Database::open(path, /*read_only=*/true, 256u << 10, true);
        if (!opened.is_ok()) {
          ++wrong;
          return;
        }
        auto& db = *opened.value();
        // Every committed version holds rows 1..n of generation 0, for some n the writer made.
        do {
          auto read = db.prepare(
              "SELECT count(*), coalesce(sum(unicode(payload) * length(payload)), 0) FROM rows");
          if (!read.is_ok() || !read->step().is_ok() ||
              read->int64(1) != checksum(1, read->int64(0), 1000, 0) ||
              read->int64(0) % kBatchRows != 0) {
            ++wrong;
            continue;
          }
          ++reads;
        } while (!done.load());
      });
    }
    for (int batch = 1; batch <= kBatches; ++batch) {
      fill(*writer, 100 + (batch - 1) * kBatchRows + 1, 100 + batch * kBatchRows, 1000, 0);
      if (batch % 5 == 0) exec(*writer, "PRAGMA wal_checkpoint(TRUNCATE)");
    }
    done = true;
    for (auto& thread : readers) thread.join();
    CHECK(wrong.load() == 0);
    CHECK(reads.load() > 0);
    auto reader = open_database(path, true);
    CHECK(integer(*reader, kChecksum) == checksum(1, 100 + kBatches * kBatchRows, 1000, 0));
  }
}

}  // namespace iotreg::storage::sqlite
