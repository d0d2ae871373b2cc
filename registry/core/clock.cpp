#include "registry/core/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace iotreg {
namespace {

std::string format_now(bool utc, const char* format) {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm parts{};
  if (utc) {
    gmtime_r(&now, &parts);
  } else {
    localtime_r(&now, &parts);
  }
  char buffer[32];
  std::strftime(buffer, sizeof buffer, format, &parts);
  return buffer;
}

}  // namespace

std::string utc_timestamp() { return format_now(true, "%Y-%m-%dT%H:%M:%SZ"); }

std::string local_date() { return format_now(false, "%Y-%m-%d"); }

std::chrono::system_clock::time_point start_of_local_day() {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm parts{};
  localtime_r(&now, &parts);
  parts.tm_hour = 0;
  parts.tm_min = 0;
  parts.tm_sec = 0;
  parts.tm_isdst = -1;  // whatever holds at midnight
  return std::chrono::system_clock::from_time_t(std::mktime(&parts));
}

std::optional<std::chrono::system_clock::time_point> parse_utc_timestamp(std::string_view text) {
  constexpr std::string_view kShape = "0000-00-00T00:00:00Z";
  if (text.size() != kShape.size()) return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool digit = text[i] >= '0' && text[i] <= '9';
    if (kShape[i] == '0' ? !digit : text[i] != kShape[i]) return std::nullopt;
  }
  const std::string copy(text);
  std::tm parts{};
  std::sscanf(copy.c_str(), "%4d-%2d-%2dT%2d:%2d:%2dZ", &parts.tm_year, &parts.tm_mon,
              &parts.tm_mday, &parts.tm_hour, &parts.tm_min, &parts.tm_sec);
  if (parts.tm_mon < 1 || parts.tm_mon > 12 || parts.tm_mday < 1 || parts.tm_mday > 31 ||
      parts.tm_hour > 23 || parts.tm_min > 59 || parts.tm_sec > 60) {
    return std::nullopt;
  }
  parts.tm_year -= 1900;
  parts.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(timegm(&parts));
}

}  // namespace iotreg
