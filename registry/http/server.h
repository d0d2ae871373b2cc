// Server: the registry's HTTP/1.1 server (DESIGN.md §6) — the JSON API under /api/v1, the public
// product pages and labels, /healthz, /metrics and the officer web UI, described by
// schemas/openapi.yaml.
//
// A Server owns its listening socket, a fixed pool of worker threads (one per open connection,
// keep-alive), one SQLite connection per worker and the Evaluator that judges imports and
// re-checks. start() returns once it listens; stop() stops accepting, lets requests in flight
// finish (up to a deadline), then closes every database connection. Not copyable; start() and
// stop() are called from one thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "registry/checks/checks.h"
#include "registry/core/status.h"

namespace iotreg::http {

struct ServerOptions {
  std::string db_path;
  std::string listen = "127.0.0.1:8080";   // host:port; port 0 picks a free port
  std::size_t threads = 64;                // connections served at once; more wait in a queue
  std::size_t max_queued = 256;            // connections waiting for a thread; more are refused
  std::size_t max_body_bytes = 64u << 20;  // larger bodies: 413
  // Header limits are Poco's: 100 fields, names of 256 and values of 8 KiB (431), a request
  // target of 16 KiB (414).
  std::chrono::seconds idle_timeout{15};    // a request (or the next one) must arrive by then: 408
  std::chrono::seconds shutdown_grace{30};  // stop() waits this long for requests in flight
  // The address consumers reach the public pages at, for the label's QR code; empty: the
  // listening address.
  std::string public_url;
  // Memory for replies of read-only endpoints kept until the registry changes; 0: none.
  std::size_t reply_cache_bytes = 64u << 20;
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
  void stop();

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
