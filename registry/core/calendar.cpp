#include "registry/core/calendar.h"

#include <date/tz.h>

#include <stdexcept>

namespace iotreg {
namespace {

class SystemClock final : public Clock {
 public:
  std::chrono::system_clock::time_point now() const override {
    return std::chrono::system_clock::now();
  }
};

const date::time_zone& zone_of(const void* zone) {
  return *static_cast<const date::time_zone*>(zone);
}

}  // namespace

std::shared_ptr<const Clock> system_clock() {
  static const auto clock = std::make_shared<const SystemClock>();
  return clock;
}

Result<ZonedCalendar> ZonedCalendar::load(const std::string& zone_name) {
  try {
    const date::time_zone* zone = date::locate_zone(zone_name);
    return ZonedCalendar(zone, zone_name);
  } catch (const std::exception& error) {
    return Status::invalid_argument("unknown time zone '" + zone_name +
                                    "' (an IANA name such as Europe/London or UTC, from the "
                                    "system's time zone database): " +
                                    error.what());
  }
}

std::string ZonedCalendar::date_at(std::chrono::system_clock::time_point when) const {
  const auto local = zone_of(zone_).to_local(std::chrono::floor<std::chrono::seconds>(when));
  return date::format("%F", date::floor<date::days>(local));
}

std::chrono::system_clock::time_point ZonedCalendar::next_day_starts(
    std::chrono::system_clock::time_point when) const {
  const date::time_zone& zone = zone_of(zone_);
  const auto local = zone.to_local(std::chrono::floor<std::chrono::seconds>(when));
  const auto tomorrow = date::floor<date::days>(local) + date::days{1};
  // A midnight that does not exist (a transition at 00:00) starts the day at the transition;
  // an ambiguous one at its first occurrence.
  const auto starts = zone.to_sys(tomorrow, date::choose::earliest);
  return std::chrono::time_point_cast<std::chrono::system_clock::duration>(starts);
}

}  // namespace iotreg
