// The wall clock's forms: stored UTC timestamps read back, and the start of the local day.
#include "registry/core/clock.h"

#include <doctest/doctest.h>

#include <chrono>
#include <ctime>
#include <string>

namespace iotreg {

TEST_SUITE("clock") {
  TEST_CASE("a stored UTC timestamp reads back as the moment it names, and nothing else does") {
    using std::chrono::system_clock;
    auto at = parse_utc_timestamp("2026-11-29T14:30:20Z");
    REQUIRE(at.has_value());
    CHECK(system_clock::to_time_t(*at) == 1795962620);
    CHECK(system_clock::to_time_t(*parse_utc_timestamp("1970-01-01T00:00:00Z")) == 0);
    // What utc_timestamp() writes reads back within the second it was written.
    const auto before = system_clock::to_time_t(system_clock::now());
    const auto now = parse_utc_timestamp(utc_timestamp());
    REQUIRE(now.has_value());
    CHECK(system_clock::to_time_t(*now) >= before);
    CHECK(system_clock::to_time_t(*now) <= before + 1);
    for (const char* text : {"", "2026-11-29", "2026-11-29T14:30:20", "2026-11-29T14:30:20+00:00",
                             "2026-11-29 14:30:20Z", "2026-13-01T00:00:00Z", "2026-11-00T00:00:00Z",
                             "2026-11-29T24:00:00Z", "2026-11-29T14:60:00Z", "2026-1a-29T14:30:20Z",
                             "2026-11-29T14:30:20Zx"}) {
      CAPTURE(text);
      CHECK_FALSE(parse_utc_timestamp(text).has_value());
    }
  }

  TEST_CASE("the local day starts at local midnight of today's local date") {
    const std::string date_before = local_date();
    const auto start = start_of_local_day();
    const std::string date_after = local_date();  // the two differ only across midnight
    const std::time_t time = std::chrono::system_clock::to_time_t(start);
    std::tm parts{};
    localtime_r(&time, &parts);
    CHECK(parts.tm_hour == 0);
    CHECK(parts.tm_min == 0);
    CHECK(parts.tm_sec == 0);
    char date[11];
    std::strftime(date, sizeof date, "%Y-%m-%d", &parts);
    CHECK((std::string(date) == date_before || std::string(date) == date_after));
    CHECK(start <= std::chrono::system_clock::now());
  }
}

}  // namespace iotreg
