// Calendar dates in a time zone, and the clock they are read from.
//
// The registry judges declarations as of a date (DESIGN.md §3 "Time"). A server finds that date
// in its time zone (Europe/London unless configured) on a Clock, which tests replace to move
// time without waiting. Zones come from the system's time zone database (tzdata), read by
// Howard Hinnant's date library.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "registry/core/status.h"

namespace iotreg {

// Where "now" comes from. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual std::chrono::system_clock::time_point now() const = 0;
};

// The system's wall clock.
std::shared_ptr<const Clock> system_clock();

// One time zone's calendar. Immutable and cheap to copy; thread-safe.
class ZonedCalendar {
 public:
  inline static const std::string kDefaultZone = "Europe/London";

  // The zone of this IANA name ("Europe/London", "UTC"); kInvalidArgument naming the zone when
  // the time zone database does not know it.
  static Result<ZonedCalendar> load(const std::string& zone_name);

  const std::string& zone_name() const { return zone_name_; }
  // The date at `when` in this zone, "YYYY-MM-DD".
  std::string date_at(std::chrono::system_clock::time_point when) const;
  // The first instant after `when` at which the zone's date changes (its next midnight, or the
  // first instant of the next day where a transition skips midnight).
  std::chrono::system_clock::time_point next_day_starts(
      std::chrono::system_clock::time_point when) const;

 private:
  explicit ZonedCalendar(const void* zone, std::string zone_name)
      : zone_(zone), zone_name_(std::move(zone_name)) {}
  const void* zone_;  // a date::time_zone of the process-wide database, never freed
  std::string zone_name_;
};

}  // namespace iotreg
