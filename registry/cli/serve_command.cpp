// `iotreg serve`: the HTTP API, public pages and web UI in the foreground until SIGINT/SIGTERM.
#include <cstdlib>
#include <iostream>
#include <thread>

#include "registry/cli/commands.h"
#include "registry/http/server.h"

namespace iotreg::cli {

int run_serve(const GlobalOptions& options, const ServeArguments& arguments) {
  // Without --as-of the server judges as of today in its time zone, and moves to each new date.
  std::optional<std::string> as_of = evaluation_date(options);
  if (!as_of) return kExitUsage;
  GlobalOptions judged = options;
  judged.as_of = *as_of;
  auto evaluator = load_evaluator(judged);
  if (!evaluator) return kExitUsage;
  http::ServerOptions server_options;
  if (options.as_of.empty()) {
    http::DailyRecheckOptions daily;
    daily.time_zone = options.time_zone;
    server_options.daily_recheck = daily;
  }
  server_options.registry = options.registry;
  server_options.listen = arguments.listen;
  server_options.threads = arguments.threads;
  server_options.public_url = arguments.public_url;
  server_options.max_body_bytes = arguments.max_body_mib << 20;
  server_options.idle_timeout = std::chrono::seconds(arguments.idle_timeout_seconds);
  server_options.public_max_age = std::chrono::seconds(arguments.public_max_age_seconds);
  server_options.body_timeout = std::chrono::seconds(arguments.body_timeout_seconds);
  server_options.shutdown_grace = std::chrono::seconds(arguments.grace_seconds);
  server_options.max_connections = arguments.max_connections;
  server_options.max_connections_per_client = arguments.max_client_connections;
  server_options.reply_cache_bytes = arguments.reply_cache_mib << 20;
  server_options.session_lifetime.idle = std::chrono::seconds(arguments.session_idle_seconds);
  server_options.session_lifetime.absolute =
      std::chrono::seconds(arguments.session_lifetime_seconds);
  server_options.secure_cookies = arguments.secure_cookies;
  server_options.public_rate = arguments.public_rate;
  server_options.public_burst = arguments.public_burst;
  server_options.public_rate_clients = arguments.public_rate_clients;
  server_options.trusted_proxies = arguments.trusted_proxies;
  // Signals are taken by sigwait below: block them before the server's threads start, so that
  // every thread inherits the mask and none is interrupted.
  http::block_termination_signals();
  auto server = http::Server::start(server_options, std::move(evaluator));
  if (!server.is_ok()) return report_error(server.status());
  std::cout << "iotreg: serving " << server.value()->url() << " (registry "
            << storage::printable_location(options.registry) << "; verdicts as of " << judged.as_of
            << (options.as_of.empty() ? ", re-checked after each midnight in " + options.time_zone
                                      : std::string(", a fixed date"))
            << "); stop with Ctrl-C" << std::endl;
  int signal = http::wait_for_termination_signal();
  std::cerr << "iotreg: signal " << signal << ": finishing requests in flight, then stopping\n";
  // A second signal while stopping ends the process at once; the database stays consistent, as
  // after any crash (a transaction in progress rolls back).
  std::thread([] {
    const int again = http::wait_for_termination_signal();
    std::cerr << "iotreg: signal " << again << " again: stopping now\n";
    std::_Exit(128 + again);
  }).detach();
  if (!server.value()->stop()) {
    std::cerr << "iotreg: stopped; requests that did not end were abandoned\n";
    std::_Exit(kExitSuccess);  // their threads still run: no destructor may free what they use
  }
  std::cerr << "iotreg: stopped\n";
  return kExitSuccess;
}

}  // namespace iotreg::cli
