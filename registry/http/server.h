// Server: the registry's HTTP/1.1 server (DESIGN.md §6) — the JSON API under /api/v1, the public
// product pages and labels, /healthz, /metrics and the officer web UI, described by
// schemas/openapi.yaml.
//
// A Server owns its listening socket, one network thread that reads every request without
// blocking (ConnectionLoop), a fixed pool of worker threads that answer complete requests, the
// registry connections they use, the Evaluator that judges imports and re-checks, and the daily
// re-check that moves that Evaluator to each new date. Idle and slow connections never hold a
// worker. start() returns once it listens; stop() stops accepting, lets requests in progress
// (and a daily re-check) finish within the grace period, then cuts what is left (database work
// is interrupted and rolls back). Not copyable; start() and stop() are called from one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "registry/access/session.h"
#include "registry/checks/checks.h"
#include "registry/core/calendar.h"
#include "registry/core/status.h"

namespace iotreg::http {

// The server's re-check once a day after midnight (DESIGN.md §3 "Time"; daily_recheck.h).
struct DailyRecheckOptions {
  std::string time_zone = ZonedCalendar::kDefaultZone;  // whose midnight
  std::shared_ptr<const Clock> clock;                   // null: the system clock
  // How often the clock is read at most, so that a clock that jumps is noticed; and how long
  // after a busy registry or a failure the run is tried again.
  std::chrono::milliseconds poll_interval{std::chrono::seconds(60)};
  std::chrono::milliseconds retry_interval{std::chrono::seconds(60)};
};

struct ServerOptions {
  std::string registry;  // where the registry is: a location for storage::open_storage
  std::string listen = "127.0.0.1:8080";   // host:port; port 0 picks a free port
  std::size_t threads = 64;                // requests answered at once
  std::size_t max_queued = 256;            // complete requests waiting for a thread; more: 503
  std::size_t max_body_bytes = 64u << 20;  // larger bodies: 413
  // Header limits: 100 fields, names of 256 and values of 8 KiB, 64 KiB in all (431), a request
  // target of 16 KiB (414).
  // A connection's request head must be complete this long after the connection is accepted or
  // its previous reply sent (408), and a reply must make progress within it.
  std::chrono::seconds idle_timeout{15};
  std::chrono::seconds body_timeout{60};  // a request's body, from its head (408)
  std::size_t max_connections = 10000;  // at most; bounded by the descriptors the process may open
  std::size_t max_connections_per_client = 1024;  // per client address
  std::chrono::seconds shutdown_grace{30};        // stop() waits this long for requests in progress
  // The address consumers reach the public pages at, for the label's QR code; empty: the
  // listening address.
  std::string public_url;
  // Web sessions (POST /api/v1/session): how long they last, and whether their cookie is
  // marked Secure (the server itself speaks plain HTTP: set this when a TLS proxy fronts it).
  access::SessionLifetime session_lifetime;
  bool secure_cookies = false;
  // How long a shared cache (a CDN) may keep a public page or label before asking again: the
  // longest a confirmed prohibition can take to show on a cached page.
  std::chrono::seconds public_max_age{60};
  // Memory for replies of read-only endpoints kept until the registry changes; 0: none.
  std::size_t reply_cache_bytes = 64u << 20;
  // The public pages (/public/...) answer each client (an IPv4 address, an IPv6 /64) at most
  // `public_rate` requests a second, in bursts of up to `public_burst`; more get 429 with
  // Retry-After. 0: no limit. Requests with an officer's or admin's token or session are not
  // limited. At most `public_rate_clients` clients are remembered (those seen least recently are
  // forgotten first). `trusted_proxies` (addresses or CIDR networks) are proxies whose
  // X-Forwarded-For names the client; no other request's is believed.
  double public_rate = 10;
  double public_burst = 60;
  std::size_t public_rate_clients = 100000;
  std::vector<std::string> trusted_proxies;
  // How often lookups that found no product are written to the registry (LookupTally).
  std::chrono::milliseconds lookup_flush_interval{std::chrono::seconds(10)};
  // Re-check once a day after midnight, moving the evaluation to the new date; none when the
  // evaluation date is fixed (`--as-of`).
  std::optional<DailyRecheckOptions> daily_recheck;
};

class Server {
 public:
  // Opens (creating and migrating) the registry, binds the socket and starts serving.
  static Result<std::unique_ptr<Server>> start(const ServerOptions& options,
                                               std::unique_ptr<checks::Evaluator> evaluator);
  ~Server();  // stops if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  std::uint16_t port() const;
  // The base URL the server answers at, e.g. "http://127.0.0.1:8080".
  std::string url() const;
  // Stops serving (see above). False when some request did not end even after being cut: its
  // thread still runs, and the caller must end the process (its transaction then rolls back).
  bool stop();

 private:
  struct State;
  explicit Server(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

// Blocks until SIGINT or SIGTERM arrives. Call before any thread is started (it blocks both
// signals in the calling thread, which new threads inherit) via block_termination_signals().
void block_termination_signals();
int wait_for_termination_signal();

}  // namespace iotreg::http
