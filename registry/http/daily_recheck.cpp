#include "registry/http/detail/daily_recheck.h"

#include <algorithm>
#include <iostream>

#include "registry/enforcement/enforcement.h"
#include "registry/http/detail/api.h"
#include "registry/ingest/ingest.h"

namespace iotreg::http {
namespace {

using Milliseconds = std::chrono::milliseconds;

// How long the thread waits for the write lock at a time before looking at whether to stop.
constexpr Milliseconds kWriterWaitStep{1000};

void log_line(const std::string& line) { std::cerr << (line + "\n") << std::flush; }

std::string counted(std::uint64_t count, const char* one, const char* many) {
  return std::to_string(count) + " " + (count == 1 ? one : many);
}

}  // namespace

DailyRecheck::DailyRecheck(ServerState& server, DailyRecheckOptions options, ZonedCalendar calendar)
    : server_(server), options_(std::move(options)), calendar_(std::move(calendar)) {
  thread_ = std::thread([this] { run(); });
}

DailyRecheck::~DailyRecheck() { stop(std::chrono::steady_clock::now()); }

void DailyRecheck::begin_stop() {
  std::lock_guard lock(mutex_);
  stopping_ = true;
  wake_.notify_all();
}

void DailyRecheck::stop(std::chrono::steady_clock::time_point deadline) {
  if (!thread_.joinable()) return;
  begin_stop();
  {
    std::unique_lock lock(mutex_);
    if (!wake_.wait_until(lock, deadline, [this] { return finished_; }) && running_) {
      running_->interrupt();  // the run fails soon and rolls back
    }
  }
  thread_.join();
}

bool DailyRecheck::sleep(Milliseconds wait) {
  std::unique_lock lock(mutex_);
  wake_.wait_for(lock, wait, [this] { return stopping_; });
  return !stopping_;
}

void DailyRecheck::run() {
  const std::shared_ptr<const Clock> clock = options_.clock ? options_.clock : system_clock();
  std::optional<std::string> pending;  // the date whose re-check is still to run
  for (;;) {
    const auto now = clock->now();
    const std::string today = calendar_.date_at(now);
    const std::shared_ptr<const checks::Evaluator> current = server_.evaluator.get();
    bool retry = false;
    if (today > current->as_of()) {
      auto moved = current->at_date(today);
      if (moved.is_ok()) {
        server_.evaluator.replace(std::move(moved).value());
        pending = today;  // a later date's run covers an earlier one still pending
      } else {
        log_line("iotreg serve: cannot judge as of " + today + ": " + moved.status().message());
        retry = true;
      }
    }
    if (pending && !retry) {
      if (recheck(*pending)) {
        pending.reset();
      } else {
        retry = true;
      }
    }
    Milliseconds wait = options_.poll_interval;
    if (retry) {
      wait = options_.retry_interval;
    } else {
      // Wake at the clock's next midnight if that comes first.
      const auto until_midnight = calendar_.next_day_starts(now) - now;
      wait = std::min(wait, std::chrono::ceil<Milliseconds>(until_midnight));
    }
    if (!sleep(std::max(wait, Milliseconds{1}))) break;
  }
  std::lock_guard lock(mutex_);
  finished_ = true;
  wake_.notify_all();
}

bool DailyRecheck::recheck(const std::string& date) {
  std::unique_lock writer(server_.write_mutex, std::defer_lock);
  while (!writer.try_lock_for(kWriterWaitStep)) {
    std::lock_guard lock(mutex_);
    if (stopping_) return true;
  }
  auto connection = server_.pool.acquire();
  if (!connection.is_ok()) {
    log_line("iotreg serve: daily re-check " + date + ": " + connection.status().message() +
             "; trying again later");
    return false;
  }
  std::unique_ptr<storage::Storage> storage = std::move(connection).value();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) {
      server_.pool.release(std::move(storage));
      return true;
    }
    running_ = storage.get();
  }
  const std::shared_ptr<const checks::Evaluator> evaluator = server_.evaluator.get();
  evaluator->begin_run();
  ingest::RecheckOptions options;
  options.scope = storage::RecheckScope::kEarlierDate;
  options.actor = enforcement::daily_recheck_cause(date);
  options.daily_date = date;
  auto report = ingest::recheck(*storage, *evaluator, options);
  bool stopping = false;
  {
    std::lock_guard lock(mutex_);
    running_ = nullptr;
    stopping = stopping_;
  }
  server_.pool.release(std::move(storage));
  const std::string what = "iotreg serve: daily re-check " + date + " (" + calendar_.zone_name() +
                           ", policy " + evaluator->policy().id + ")";
  if (report.is_ok()) {
    if (report->checked == 0) {
      log_line(what + ": no product was judged as of an earlier date");
    } else {
      log_line(what + ": " + counted(report->checked, "product", "products") + " checked, " +
               counted(report->summary.products_changed, "product", "products") +
               " changed status or flag (re-check run " + std::to_string(report->run_id) + ")");
    }
    return true;
  }
  if (report.status().code() == Status::Code::kConflict) return true;  // another server ran it
  if (stopping) return true;  // interrupted: the run rolled back
  log_line(what + ": " + report.status().message() + "; trying again later");
  return false;
}

}  // namespace iotreg::http
