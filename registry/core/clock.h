// The wall clock as the registry records it: UTC timestamps for stored events and the local
// date as the default evaluation date. Thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace iotreg {

// Now in UTC, ISO 8601 to the second: "2026-11-29T14:30:20Z".
std::string utc_timestamp();
// Today's local date, "YYYY-MM-DD".
std::string local_date();
// The moment today's local date began.
std::chrono::system_clock::time_point start_of_local_day();
// The moment a timestamp in utc_timestamp()'s form names; nullopt for any other text.
std::optional<std::chrono::system_clock::time_point> parse_utc_timestamp(std::string_view text);

}  // namespace iotreg
