// The wall clock as the registry records it: UTC timestamps for stored events and the local
// date as the default evaluation date. Thread-safe.
#pragma once

#include <string>

namespace iotreg {

// Now in UTC, ISO 8601 to the second: "2026-11-29T14:30:20Z".
std::string utc_timestamp();
// Today's local date, "YYYY-MM-DD".
std::string local_date();

}  // namespace iotreg
