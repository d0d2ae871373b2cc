#include "registry/core/clock.h"

#include <chrono>
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

}  // namespace iotreg
