// DailyRecheck: the server's re-check once a day after midnight (DESIGN.md §3 "Time"). Private
// to registry/http.
//
// One thread reads the server's clock. When the date in the configured time zone passes the
// date the server judges as of, it moves the server's evaluation to the new date (imports from
// then on are judged as of it) and re-judges, as one re-check run whose cause is "daily re-check
// DATE", every product judged under the same policy as of an earlier date: the verdicts the
// passing of time can change. Verdicts under another policy are an officer's to re-check. The
// changes land in the status history like any other.
//
// A date is re-checked at most once per registry: servers sharing one registry run it once (the
// storage refuses a second run of a date with kConflict, which is not an error here). A busy
// registry or a failure is tried again after the retry interval, while the date lasts. A server
// started after midnight judges as of its start date and re-checks at the next midnight.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "registry/core/calendar.h"
#include "registry/http/server.h"

namespace iotreg::storage {
class Storage;
}

namespace iotreg::http {

struct ServerState;

class DailyRecheck {
 public:
  // Starts the thread. `server` must outlive this object.
  DailyRecheck(ServerState& server, DailyRecheckOptions options, ZonedCalendar calendar);
  ~DailyRecheck();  // stop() with the deadline now
  DailyRecheck(const DailyRecheck&) = delete;
  DailyRecheck& operator=(const DailyRecheck&) = delete;

  // No run starts after this; one in progress goes on.
  void begin_stop();
  // Ends the thread: a run in progress may finish until `deadline`, then its database work is
  // interrupted (it rolls back) and the thread ends.
  void stop(std::chrono::steady_clock::time_point deadline);

 private:
  void run();
  // Moves the evaluation to `date` and re-checks it; false when it is to be tried again.
  bool recheck(const std::string& date);
  // Waits up to `wait`, or until stopping; returns false when stopping.
  bool sleep(std::chrono::milliseconds wait);

  ServerState& server_;
  const DailyRecheckOptions options_;
  const ZonedCalendar calendar_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool finished_ = false;
  storage::Storage* running_ = nullptr;  // the connection of a run in progress, to interrupt
  std::thread thread_;
};

}  // namespace iotreg::http
