#include "registry/http/server.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <streambuf>
#include <thread>

#include "registry/http/detail/api.h"
#include "registry/http/detail/connection_loop.h"
#include "registry/http/detail/daily_recheck.h"
#include "registry/http/detail/public_limit.h"
#include "registry/http/detail/reply_writer.h"
#include "registry/http/detail/worker_pool.h"

namespace iotreg::http {
namespace {

using Clock = std::chrono::steady_clock;

// Bodies other than declarations, and any body from a sender not yet known to be allowed to
// submit declarations, are held to this size.
constexpr std::size_t kSmallBodyBytes = 64 * 1024;
// After the grace period, how long work that was cut (sockets shut, database work
// interrupted) has to end before the server gives up on it.
constexpr std::chrono::seconds kCutGrace{5};

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string_view path_of(std::string_view target) { return target.substr(0, target.find('?')); }

// One line per event on stderr, whole, so that lines of several threads never mix.
void log_line(const std::string& line) { std::cerr << (line + "\n") << std::flush; }

// Waits until `fd` can take more bytes; false when `timeout` passed or the connection failed.
bool wait_writable(int fd, std::chrono::milliseconds timeout) {
  pollfd poll_fd{fd, POLLOUT, 0};
  int ready = 0;
  do {
    ready = ::poll(&poll_fd, 1, static_cast<int>(timeout.count()));
  } while (ready < 0 && errno == EINTR);
  return ready > 0 && !(poll_fd.revents & (POLLERR | POLLHUP | POLLNVAL));
}

// Sends `parts` in order as far as the socket takes them without waiting; returns what it did
// not take (empty when all was sent, nullopt when the connection failed).
std::optional<std::string> send_now(int fd, std::initializer_list<std::string_view> parts) {
  std::vector<iovec> vectors;
  for (auto part : parts) {
    if (!part.empty()) vectors.push_back({const_cast<char*>(part.data()), part.size()});
  }
  std::size_t first = 0;
  while (first < vectors.size()) {
    msghdr message{};
    message.msg_iov = vectors.data() + first;
    message.msg_iovlen = vectors.size() - first;
    const ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (sent < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) return std::nullopt;
      break;
    }
    auto left = static_cast<std::size_t>(sent);
    while (first < vectors.size() && left >= vectors[first].iov_len) {
      left -= vectors[first].iov_len;
      ++first;
    }
    if (first < vectors.size()) {
      vectors[first].iov_base = static_cast<char*>(vectors[first].iov_base) + left;
      vectors[first].iov_len -= left;
    }
  }
  std::string unsent;
  for (std::size_t i = first; i < vectors.size(); ++i) {
    unsent.append(static_cast<const char*>(vectors[i].iov_base), vectors[i].iov_len);
  }
  return unsent;
}

// Writes a streamed reply body to a socket, in chunks unless the client speaks HTTP/1.0, waiting
// at most `timeout` for each write to make progress. After a failure every write fails.
class SocketStreamBuffer : public std::streambuf {
 public:
  SocketStreamBuffer(int fd, bool chunked, std::chrono::milliseconds timeout)
      : fd_(fd), chunked_(chunked), timeout_(timeout) {
    setp(buffer_, buffer_ + sizeof buffer_);
  }
  bool write(std::string_view bytes) {
    while (!failed_ && !bytes.empty()) {
      const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (sent > 0) {
        bytes.remove_prefix(static_cast<std::size_t>(sent));
      } else if (sent < 0 && errno == EINTR) {
        continue;
      } else if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        failed_ = !wait_writable(fd_, timeout_);
      } else {
        failed_ = true;
      }
    }
    return !failed_;
  }
  // Sends what is buffered and, when chunked, the last chunk.
  bool finish() { return flush_buffer() && (!chunked_ || write("0\r\n\r\n")); }

 protected:
  int_type overflow(int_type c) override {
    if (!flush_buffer()) return traits_type::eof();
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      *pptr() = traits_type::to_char_type(c);
      pbump(1);
    }
    return traits_type::not_eof(c);
  }
  int sync() override { return flush_buffer() ? 0 : -1; }

 private:
  bool flush_buffer() {
    const auto size = static_cast<std::size_t>(pptr() - pbase());
    setp(buffer_, buffer_ + sizeof buffer_);
    if (size == 0) return !failed_;
    if (chunked_) {
      char size_line[24];
      std::snprintf(size_line, sizeof size_line, "%zx\r\n", size);
      write(size_line);
    }
    write({buffer_, size});
    if (chunked_) write("\r\n");
    return !failed_;
  }

  int fd_;
  bool chunked_;
  std::chrono::milliseconds timeout_;
  bool failed_ = false;
  char buffer_[16384];
};

// The value of the cookie `name` in a Cookie field ("a=1; b=2"), or "" when it has none.
std::string cookie_value(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    std::size_t end = cookies.find(';');
    std::string_view pair = cookies.substr(0, end);
    cookies = end == std::string_view::npos ? std::string_view() : cookies.substr(end + 1);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name &&
        pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
  }
  return {};
}

// Answers requests on the worker threads for the connection loop.
class ApiHandler final : public ExchangeHandler {
 public:
  explicit ApiHandler(ServerState& state) : state_(state) {}

  std::optional<std::size_t> body_limit(const RequestHead& head) override {
    const bool declarations =
        head.method == "POST" && path_of(head.target) == "/api/v1/declarations";
    if (declarations && (head.chunked || head.content_length.value_or(0) > kSmallBodyBytes)) {
      return std::nullopt;  // a large body only for a sender that may submit declarations
    }
    return kSmallBodyBytes;
  }

  std::optional<std::string> screen(const Exchange& exchange, bool keep_alive) override {
    // Requests with credentials are judged on a worker, once the credentials are checked.
    if (!state_.public_limit.enabled() || !is_public_target(exchange.head.target) ||
        carries_credentials(exchange.head)) {
      return std::nullopt;
    }
    const auto decision = state_.public_limit.take(
        request_client(exchange.head, exchange.client, state_.trusted_proxies));
    if (decision.allowed) return std::nullopt;
    Reply reply = too_many_requests(state_.options, decision.retry_after);
    add_request_id(reply, exchange.request_id);
    state_.metrics.record("rate limited", reply.status, 0);
    keep_alive = keep_alive && !state_.stopping;
    const std::string head = reply_head(reply, exchange.request_id, keep_alive, reply.body.size());
    return exchange.head.method == "HEAD" ? head : head + reply.body;
  }

  std::size_t admit(const Exchange& exchange) override {
    try {
      Request request;
      if (!parse_head(exchange.head, request)) return kSmallBodyBytes;
      Context context(request, state_);
      return may_send_declarations(context) ? state_.options.max_body_bytes : kSmallBodyBytes;
    } catch (const std::exception& error) {
      log_line("iotreg serve: request " + exchange.request_id +
               ": deciding its body limit failed: " + error.what());
      return kSmallBodyBytes;
    }
  }

  Outcome handle(Exchange& exchange) override {
    const auto started = Clock::now();
    std::string route = "unmatched";
    Request request;
    request.body = std::move(exchange.body);
    std::optional<Context> context;  // outlives the reply: a streamed body reads the registry
    Reply reply;
    try {
      reply = answer(exchange, request, context, route);
    } catch (const std::exception& error) {
      reply = Reply::error(500, "the server could not complete the request; it has been logged");
      reply.log_detail = std::string("unexpected exception: ") + error.what();
    } catch (...) {
      reply = Reply::error(500, "the server could not complete the request; it has been logged");
      reply.log_detail = "unexpected exception";
    }
    if (reply.status >= 500) {
      log_line("iotreg serve: request " + exchange.request_id + ": " + exchange.head.method + " " +
               std::string(path_of(exchange.head.target)) + " answered " +
               std::to_string(reply.status) +
               (reply.log_detail.empty() ? "" : ": " + reply.log_detail));
    }
    if (reply.status >= 400) add_request_id(reply, exchange.request_id);
    const bool keep_alive = exchange.head.keep_alive && !state_.stopping && !exchange.client_closed;
    Outcome outcome;
    const bool head_only = request.method == "HEAD";  // the fields a GET would get, no content
    if (reply.stream && !head_only) {
      outcome.keep_alive = stream(exchange, reply, keep_alive);
    } else {
      const std::string head =
          reply_head(reply, exchange.request_id, keep_alive,
                     reply.stream ? std::nullopt : std::optional<std::size_t>(reply.body.size()));
      auto unsent = send_now(exchange.socket,
                             {head, head_only ? std::string_view() : std::string_view(reply.body)});
      outcome.unsent = unsent.value_or("");
      outcome.keep_alive = unsent.has_value() && keep_alive;
    }
    state_.metrics.record(route, reply.status,
                          std::chrono::duration<double>(Clock::now() - started).count());
    return outcome;
  }

  void refused(const std::string& request_id, int status, const std::string& message) override {
    state_.metrics.record("unmatched", status, 0);
    if (status >= 500) {
      log_line("iotreg serve: request " + request_id + " answered " + std::to_string(status) +
               ": " + message);
    }
  }

 private:
  // The path, query and the header fields the handlers use; false when the target cannot be
  // decoded.
  static bool parse_head(const RequestHead& head, Request& request) {
    request.method = head.method;
    try {
      Poco::URI uri(head.target);
      request.path = uri.getPath();
      for (auto& [name, value] : uri.getQueryParameters()) {
        request.query.emplace_back(std::move(name), std::move(value));
      }
    } catch (const Poco::Exception&) {
      return false;
    }
    if (const std::string* type = head.find("content-type")) {
      request.content_type_field = *type;
      std::string content_type = lower(type->substr(0, type->find(';')));
      while (!content_type.empty() && content_type.back() == ' ') content_type.pop_back();
      request.content_type = std::move(content_type);
    }
    if (const std::string* authorization = head.find("authorization")) {
      request.authorization = *authorization;
    }
    if (const std::string* cookies = head.find("cookie")) {
      request.session_id = cookie_value(*cookies, access::kSessionCookie);
    }
    request.requested_with = head.find("x-requested-with") != nullptr;
    if (const std::string* tags = head.find("if-none-match")) request.if_none_match = *tags;
    if (const std::string* since = head.find("if-modified-since")) {
      request.if_modified_since = *since;
    }
    return true;
  }

  Reply answer(const Exchange& exchange, Request& request, std::optional<Context>& context,
               std::string& route) {
    if (!parse_head(exchange.head, request)) {
      return Reply::error(400, "malformed request target (a bad percent-encoding)");
    }
    context.emplace(request, state_);
    // A public page asked for with credentials: limited unless they are staff's (screen()
    // limited those without).
    if (state_.public_limit.enabled() && request.path.starts_with("/public/") &&
        carries_credentials(exchange.head) && !sent_by_staff(*context)) {
      const auto decision = state_.public_limit.take(
          request_client(exchange.head, exchange.client, state_.trusted_proxies));
      if (!decision.allowed) {
        route = "rate limited";
        return too_many_requests(state_.options, decision.retry_after);
      }
    }
    Reply reply = dispatch(*context, route);
    add_validators(request, state_.options.public_max_age, reply);
    return reply;
  }

  // Sends a streamed reply; true when it was sent whole and the connection may be kept.
  bool stream(const Exchange& exchange, Reply& reply, bool keep_alive) {
    const bool chunked = exchange.head.minor_version == 1;
    keep_alive = keep_alive && chunked;  // without chunks, the end of the body is the close
    SocketStreamBuffer buffer(exchange.socket, chunked, state_.options.idle_timeout);
    bool complete = buffer.write(reply_head(reply, exchange.request_id, keep_alive,
                                            chunked ? std::nullopt : std::optional<std::size_t>()));
    if (complete) {
      std::ostream out(&buffer);
      try {
        complete = reply.stream(out) && buffer.finish();
      } catch (const std::exception& error) {
        log_line("iotreg serve: request " + exchange.request_id +
                 ": streaming the reply failed: " + error.what());
        complete = false;
      }
    }
    // A reply cut short must not look complete: the connection ends without the last chunk.
    if (!complete) ::shutdown(exchange.socket, SHUT_RDWR);
    return complete && keep_alive;
  }

  ServerState& state_;
};

// Lets the server hold as many connections as the process may open files.
void raise_descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);
  }
}

std::size_t descriptor_limit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 20;
  return static_cast<std::size_t>(limit.rlim_cur);
}

}  // namespace

Result<std::unique_ptr<storage::Storage>> ConnectionPool::acquire() {
  std::unique_ptr<storage::Storage> connection;
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      connection = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (!connection) {
    auto opened = storage::open_storage(
        registry_, storage::OpenMode::kReadWrite,
        {.cache_bytes = page_cache_bytes_, .shared_map = true, .shared_facet_columns = true});
    if (!opened.is_ok()) return opened.status();
    connection = std::move(opened).value();
  }
  std::lock_guard lock(mutex_);
  lent_.push_back(connection.get());
  return connection;
}

void ConnectionPool::release(std::unique_ptr<storage::Storage> connection) {
  std::lock_guard lock(mutex_);
  lent_.erase(std::remove(lent_.begin(), lent_.end(), connection.get()), lent_.end());
  idle_.push_back(std::move(connection));
}

void ConnectionPool::interrupt_all() {
  std::lock_guard lock(mutex_);
  for (storage::Storage* connection : lent_) connection->interrupt();
}

void ConnectionPool::close_all() {
  std::lock_guard lock(mutex_);
  idle_.clear();
}

struct Server::State {
  std::unique_ptr<ServerState> server;
  std::unique_ptr<ApiHandler> handler;
  std::unique_ptr<WorkerPool> workers;
  std::unique_ptr<ConnectionLoop> loop;
  std::unique_ptr<DailyRecheck> daily;  // ended before the state it uses
  bool stopped = false;
  bool clean = true;
};

Server::Server(std::unique_ptr<State> state) : state_(std::move(state)) {}

Server::~Server() {
  stop();
  // Threads that did not end still use the state: it must outlive them, so it is left.
  if (!state_->clean) static_cast<void>(state_.release());
}

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options,
                                              std::unique_ptr<checks::Evaluator> evaluator) {
  if (!evaluator) return Status::invalid_argument("the server needs the checks to judge with");
  if (options.threads == 0) return Status::invalid_argument("--threads must be at least 1");
  if (options.max_connections_per_client == 0) {
    return Status::invalid_argument("--max-client-connections must be at least 1");
  }
  if (!(options.public_rate >= 0) || !(options.public_burst >= 1) ||
      options.public_rate_clients == 0) {
    return Status::invalid_argument(
        "--public-rate must be 0 (no limit) or more, --public-burst at least 1 and "
        "--public-rate-clients at least 1");
  }
  auto proxies = TrustedProxies::parse(options.trusted_proxies);
  if (!proxies.is_ok()) return proxies.status();
  std::optional<ZonedCalendar> calendar;
  if (options.daily_recheck) {
    auto loaded = ZonedCalendar::load(options.daily_recheck->time_zone);
    if (!loaded.is_ok()) return loaded.status();
    calendar = std::move(loaded).value();
  }
  // Open (create, migrate) the registry once up front, so that a bad file fails here; with the
  // cache of a bulk command for the migration, and closed after it: the workers' connections
  // share the pool's budget.
  if (auto first = storage::open_storage(options.registry, storage::OpenMode::kReadWrite);
      !first.is_ok()) {
    return first.status();
  }
  raise_descriptor_limit();

  auto state = std::make_unique<State>();
  state->server = std::make_unique<ServerState>(options, std::move(evaluator));
  state->server->trusted_proxies = std::move(proxies).value();
  state->handler = std::make_unique<ApiHandler>(*state->server);
  state->workers = std::make_unique<WorkerPool>(options.threads, options.max_queued);

  LoopOptions loop_options;
  loop_options.idle_timeout = options.idle_timeout;
  loop_options.body_timeout = options.body_timeout;
  loop_options.send_timeout = options.idle_timeout;
  loop_options.small_body_bytes = kSmallBodyBytes;
  loop_options.max_connections_per_client = options.max_connections_per_client;
  // Descriptors are also needed for the database, plugins' workers and files.
  const std::size_t usable = descriptor_limit();
  loop_options.max_connections =
      std::min(options.max_connections, usable > 256 ? usable - 128 : usable / 2);
  auto loop =
      ConnectionLoop::listen(options.listen, loop_options, *state->handler, *state->workers);
  if (!loop.is_ok()) {
    state->workers->stop(Clock::now() + kCutGrace);
    return loop.status();
  }
  state->loop = std::move(loop).value();
  const std::string host = state->loop->host().find(':') == std::string::npos
                               ? state->loop->host()
                               : "[" + state->loop->host() + "]";
  state->server->base_url = options.public_url.empty()
                                ? "http://" + host + ":" + std::to_string(state->loop->port())
                                : options.public_url;
  while (!state->server->base_url.empty() && state->server->base_url.back() == '/') {
    state->server->base_url.pop_back();
  }
  state->loop->start();
  state->server->unregistered_lookups.start(state->server->pool, options.lookup_flush_interval);
  if (calendar) {
    state->daily = std::make_unique<DailyRecheck>(*state->server, *options.daily_recheck,
                                                  std::move(*calendar));
  }
  return std::unique_ptr<Server>(new Server(std::move(state)));
}

std::uint16_t Server::port() const { return state_->loop->port(); }

std::string Server::url() const {
  const std::string& host = state_->loop->host();
  return "http://" + (host.find(':') == std::string::npos ? host : "[" + host + "]") + ":" +
         std::to_string(state_->loop->port());
}

bool Server::stop() {
  if (!state_ || state_->stopped) return state_ ? state_->clean : true;
  state_->stopped = true;
  ServerState& server = *state_->server;
  server.stopping = true;
  state_->loop->begin_stop();
  if (state_->daily) state_->daily->begin_stop();
  const auto grace_ends = Clock::now() + server.options.shutdown_grace;
  if (!state_->loop->wait_idle(grace_ends)) {
    // The grace period is over: cut what is left. Database work fails and rolls back; replies
    // being written fail; requests waiting for another's reply compute their own and fail.
    log_line("iotreg serve: requests still in progress after the grace period of " +
             std::to_string(server.options.shutdown_grace.count()) + " s: cutting them");
    server.pool.interrupt_all();
    server.replies.close();
    state_->loop->abandon();
    state_->loop->wait_idle(Clock::now() + kCutGrace);
  }
  // A daily re-check still running has what is left of the grace period, then is cut.
  if (state_->daily) state_->daily->stop(std::max(grace_ends, Clock::now()));
  state_->clean = state_->workers->stop(Clock::now() + kCutGrace);
  if (!state_->clean) {
    log_line(
        "iotreg serve: some requests did not end; the process ends without them (their "
        "database transactions roll back)");
    return false;
  }
  state_->loop.reset();
  server.unregistered_lookups.stop();  // writes what it gathered
  server.pool.close_all();
  return true;
}

void block_termination_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
}

int wait_for_termination_signal() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  int received = 0;
  sigwait(&signals, &received);
  return received;
}

}  // namespace iotreg::http
