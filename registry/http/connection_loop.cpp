#include "registry/http/detail/connection_loop.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <map>
#include <random>
#include <set>
#include <unordered_map>

#include "registry/http/detail/reply_writer.h"

namespace iotreg::http {
namespace {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;

constexpr std::uint64_t kListenTag = 0;
constexpr std::uint64_t kWakeTag = 1;
constexpr std::uint64_t kFirstConnectionId = 2;

// Bytes read from one connection before the loop turns to the others.
constexpr std::size_t kReadSlice = 256 * 1024;
// After an error reply with input left unread: how long, and how much, to read and drop so that
// closing does not reset the connection before the client has read the reply.
constexpr std::chrono::milliseconds kLingerTime{500};
constexpr std::size_t kLingerBytes = 4u << 20;

enum Phase : int {
  kWaiting,    // for a request: no byte of it yet
  kReading,    // a request's head or body
  kAdmitting,  // a worker decides how large a body this request may send
  kInWorker,   // a worker answers the request
  kWriting,    // the loop sends the rest of a reply
  kLingering,  // closing after an error: reading and dropping what the client still sends
};

std::string client_address(const sockaddr_storage& address) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (address.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(address).sin_addr, text, sizeof text);
  } else if (address.ss_family == AF_INET6) {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(address).sin6_addr, text,
              sizeof text);
  }
  return text;
}

std::string seconds_text(std::chrono::milliseconds duration) {
  const auto count = duration.count();
  if (count % 1000 == 0) return std::to_string(count / 1000) + " s";
  return std::to_string(count) + " ms";
}

}  // namespace

struct ConnectionLoop::Connection {
  Connection(std::uint64_t connection_id, UniqueFd socket, std::string address,
             const RequestLimits& limits)
      : id(connection_id), fd(std::move(socket)), client(std::move(address)), reader(limits) {}

  const std::uint64_t id;
  UniqueFd fd;
  const std::string client;
  int phase = kWaiting;
  RequestReader reader;
  std::string request_id;  // of the request being read or answered
  std::string input;       // read, not yet given to the reader
  std::size_t input_at = 0;
  std::string output;  // to send
  std::size_t output_at = 0;
  bool keep_alive_after = false;  // read the next request once `output` is sent
  bool linger_after = false;      // linger once `output` is sent (input was left unread)
  bool client_closed = false;     // the client ended its side
  bool answered_any = false;
  std::uint32_t watched = 0;  // the epoll events registered; 0: not registered
  std::optional<TimePoint> deadline;
  std::size_t lingered = 0;
};

struct ConnectionLoop::Posted {
  enum class Kind { kDone, kAdmitted, kStop, kAbandon };
  explicit Posted(Kind what, std::uint64_t id = 0) : kind(what), connection(id) {}
  Kind kind;
  std::uint64_t connection;
  Outcome outcome;
  std::size_t limit = 0;
};

struct ConnectionLoop::State {
  std::unordered_map<std::uint64_t, std::unique_ptr<Connection>> connections;
  std::unordered_map<std::string, std::set<std::uint64_t>> by_client;  // oldest first
  std::set<std::uint64_t> waiting;  // connections in kWaiting, oldest first
  std::set<std::uint64_t> reading;  // connections in kReading, oldest first
  std::set<std::pair<TimePoint, std::uint64_t>> deadlines;
  std::uint64_t next_id = kFirstConnectionId;
  std::uint64_t requests = 0;
  std::string request_id_prefix;
  bool stopping = false;
  bool abandoned = false;
  UniqueFd spare_fd;  // closed to accept and shed a connection when descriptors run out
};

Result<std::unique_ptr<ConnectionLoop>> ConnectionLoop::listen(const std::string& host_port,
                                                               const LoopOptions& options,
                                                               ExchangeHandler& handler,
                                                               WorkerPool& workers) {
  const std::size_t colon = host_port.rfind(':');
  if (colon == std::string::npos) {
    return Status::invalid_argument("cannot listen on " + host_port + ": expected HOST:PORT");
  }
  std::string host = host_port.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string port = host_port.substr(colon + 1);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int error = getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      error != 0) {
    return Status::invalid_argument("cannot listen on " + host_port + ": " + gai_strerror(error));
  }
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
  UniqueFd listen_fd(
      ::socket(found->ai_family, found->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!listen_fd) {
    return Status::invalid_argument("cannot listen on " + host_port + ": " + std::strerror(errno));
  }
  const int yes = 1;
  setsockopt(listen_fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  if (::bind(listen_fd.get(), found->ai_addr, found->ai_addrlen) != 0 ||
      ::listen(listen_fd.get(), SOMAXCONN) != 0) {
    return Status::invalid_argument("cannot listen on " + host_port + ": " + std::strerror(errno));
  }
  UniqueFd epoll_fd(epoll_create1(EPOLL_CLOEXEC));
  UniqueFd wake_fd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!epoll_fd || !wake_fd) {
    return Status::internal(std::string("cannot start the connection loop: ") +
                            std::strerror(errno));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof bound;
  getsockname(listen_fd.get(), reinterpret_cast<sockaddr*>(&bound), &length);
  const std::uint16_t bound_port =
      ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                        : reinterpret_cast<sockaddr_in&>(bound).sin_port);

  std::unique_ptr<ConnectionLoop> loop(new ConnectionLoop(
      std::move(listen_fd), std::move(epoll_fd), std::move(wake_fd), options, handler, workers));
  loop->port_ = bound_port;
  loop->host_ = client_address(bound);
  for (auto [fd, tag] :
       {std::pair{loop->listen_fd_.get(), kListenTag}, std::pair{loop->wake_fd_.get(), kWakeTag}}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.u64 = tag;
    if (epoll_ctl(loop->epoll_fd_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
      return Status::internal(std::string("cannot start the connection loop: ") +
                              std::strerror(errno));
    }
  }
  return loop;
}

ConnectionLoop::ConnectionLoop(UniqueFd listen_fd, UniqueFd epoll_fd, UniqueFd wake_fd,
                               const LoopOptions& options, ExchangeHandler& handler,
                               WorkerPool& workers)
    : state_(std::make_unique<State>()),
      listen_fd_(std::move(listen_fd)),
      epoll_fd_(std::move(epoll_fd)),
      wake_fd_(std::move(wake_fd)),
      options_(options),
      handler_(handler),
      workers_(workers) {
  // Request ids name the process too, so that the logs of several servers do not collide.
  std::random_device random;
  char prefix[16];
  std::snprintf(prefix, sizeof prefix, "%08x", random());
  state_->request_id_prefix = prefix;
  state_->spare_fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

ConnectionLoop::~ConnectionLoop() {
  if (thread_.joinable()) {
    abandon();
    thread_.join();
  }
}

void ConnectionLoop::start() {
  thread_ = std::thread([this] { run(); });
}

void ConnectionLoop::post(Posted event) {
  {
    std::lock_guard lock(posted_mutex_);
    posted_.push_back(std::move(event));
  }
  const std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_fd_.get(), &one, sizeof one);
}

void ConnectionLoop::done(std::uint64_t connection, Outcome outcome) {
  Posted event(Posted::Kind::kDone, connection);
  event.outcome = std::move(outcome);
  post(std::move(event));
}

void ConnectionLoop::begin_stop() { post(Posted(Posted::Kind::kStop)); }

void ConnectionLoop::abandon() { post(Posted(Posted::Kind::kAbandon)); }

bool ConnectionLoop::wait_idle(TimePoint deadline) {
  std::unique_lock lock(idle_mutex_);
  return idle_.wait_until(lock, deadline, [&] { return ended_; });
}

void ConnectionLoop::run() {
  epoll_event events[128];
  for (;;) {
    int timeout_ms = -1;
    if (!state_->deadlines.empty()) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(state_->deadlines.begin()->first -
                                                               Clock::now());
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(wait.count(), 0, 60000));
    }
    const int ready = epoll_wait(epoll_fd_.get(), events, std::size(events), timeout_ms);
    if (ready < 0 && errno != EINTR) {
      std::cerr << "iotreg serve: the connection loop failed: " << std::strerror(errno) << "\n";
      break;
    }
    for (int i = 0; i < ready; ++i) {
      const std::uint64_t tag = events[i].data.u64;
      if (tag == kListenTag) {
        accept_all();
      } else if (tag == kWakeTag) {
        take_posted();
      } else if (Connection* connection = find(tag)) {
        on_io(*connection, events[i].events);
      }
    }
    expire(Clock::now());
    if (state_->abandoned || (state_->stopping && state_->connections.empty())) break;
  }
  // What is left is held by workers that did not finish: cut, never closed under them.
  for (auto& [id, connection] : state_->connections) ::shutdown(connection->fd.get(), SHUT_RDWR);
  {
    std::lock_guard lock(idle_mutex_);
    ended_ = true;
  }
  idle_.notify_all();
}

void ConnectionLoop::take_posted() {
  std::uint64_t count = 0;
  [[maybe_unused]] auto read = ::read(wake_fd_.get(), &count, sizeof count);
  std::vector<Posted> events;
  {
    std::lock_guard lock(posted_mutex_);
    events.swap(posted_);
  }
  for (auto& event : events) {
    switch (event.kind) {
      case Posted::Kind::kDone:
        if (Connection* connection = find(event.connection)) {
          finished(*connection, std::move(event.outcome));
        }
        break;
      case Posted::Kind::kAdmitted:
        if (Connection* connection = find(event.connection)) admitted(*connection, event.limit);
        break;
      case Posted::Kind::kStop: {
        state_->stopping = true;
        if (listen_fd_) {
          epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, listen_fd_.get(), nullptr);
          listen_fd_.reset();
        }
        std::vector<Connection*> unstarted;
        for (auto& [id, connection] : state_->connections) {
          const int phase = connection->phase;
          if (phase == kWaiting || phase == kReading || phase == kAdmitting ||
              phase == kLingering) {
            unstarted.push_back(connection.get());
          }
        }
        for (Connection* connection : unstarted) close(*connection);
        break;
      }
      case Posted::Kind::kAbandon:
        state_->abandoned = true;
        break;
    }
  }
}

ConnectionLoop::Connection* ConnectionLoop::find(std::uint64_t id) {
  auto found = state_->connections.find(id);
  return found == state_->connections.end() ? nullptr : found->second.get();
}

void ConnectionLoop::accept_all() {
  for (;;) {
    sockaddr_storage address{};
    socklen_t length = sizeof address;
    UniqueFd fd(accept4(listen_fd_.get(), reinterpret_cast<sockaddr*>(&address), &length,
                        SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // Out of descriptors: make room by closing an idle connection, else shed the newcomer
        // (accept it on the spare descriptor and close it) so that it does not wait forever.
        if (evict("", /*same_client_only=*/false)) continue;
        state_->spare_fd.reset();
        UniqueFd shed(accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        state_->spare_fd.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
        if (shed) continue;
      }
      return;  // EAGAIN: nothing more to accept, or an error that the next event retries
    }
    std::string client = client_address(address);
    auto refuse = [&](const std::string& message) {
      const std::string request_id = next_request_id();
      const std::string reply = error_reply(503, message, request_id, 5);
      [[maybe_unused]] auto sent = ::send(fd.get(), reply.data(), reply.size(), MSG_NOSIGNAL);
      handler_.refused(request_id, 503, message);
    };
    auto same_client = state_->by_client.find(client);
    if (same_client != state_->by_client.end() &&
        same_client->second.size() >= options_.max_connections_per_client &&
        !evict(client, /*same_client_only=*/true)) {
      refuse("too many connections from your address (at most " +
             std::to_string(options_.max_connections_per_client) +
             " at once, all of them busy); try again later");
      continue;
    }
    if (state_->connections.size() >= options_.max_connections &&
        !evict(client, /*same_client_only=*/false)) {
      refuse("the server has too many connections; try again later");
      continue;
    }
    const int yes = 1;
    setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &yes, sizeof yes);
    const std::uint64_t id = state_->next_id++;
    auto connection = std::make_unique<Connection>(id, std::move(fd), client, options_.limits);
    Connection& added = *connection;
    state_->connections.emplace(id, std::move(connection));
    state_->by_client[client].insert(id);
    set_phase(added, kWaiting);
    set_deadline(added, Clock::now() + options_.idle_timeout);
    watch(added, EPOLLIN | EPOLLRDHUP);
  }
}

bool ConnectionLoop::evict(const std::string& client, bool same_client_only) {
  // The oldest connection without a request in progress, in this order: one that never sent a
  // request, one kept alive after its replies, one still sending its request.
  auto rank = [](const Connection& connection) {
    if (connection.phase == kWaiting) return connection.answered_any ? 1 : 0;
    return connection.phase == kReading ? 2 : 3;
  };
  Connection* chosen = nullptr;
  auto consider = [&](std::uint64_t id) {
    Connection* candidate = find(id);
    if (candidate && rank(*candidate) < 3 && (!chosen || rank(*candidate) < rank(*chosen))) {
      chosen = candidate;
    }
    return chosen && rank(*chosen) == 0;  // none can come before it
  };
  if (same_client_only) {
    auto found = state_->by_client.find(client);
    if (found == state_->by_client.end()) return false;
    for (std::uint64_t id : found->second) {
      if (consider(id)) break;
    }
  } else {
    for (const auto* candidates : {&state_->waiting, &state_->reading}) {
      for (std::uint64_t id : *candidates) {
        if (consider(id)) break;
      }
    }
  }
  if (!chosen) return false;
  close(*chosen);
  return true;
}

void ConnectionLoop::on_io(Connection& connection, std::uint32_t events) {
  switch (connection.phase) {
    case kWaiting:
    case kReading:
      read_input(connection);
      break;
    case kWriting:
      if (events & (EPOLLERR | EPOLLHUP)) {
        close(connection);
      } else {
        write_output(connection);
      }
      break;
    case kLingering:
      drain(connection);
      break;
    default:
      break;  // kAdmitting, kInWorker: not watched
  }
}

void ConnectionLoop::read_input(Connection& connection) {
  std::size_t taken = 0;
  char buffer[64 * 1024];
  while (taken < kReadSlice) {
    const ssize_t got = ::recv(connection.fd.get(), buffer, sizeof buffer, 0);
    if (got > 0) {
      connection.input.append(buffer, static_cast<std::size_t>(got));
      taken += static_cast<std::size_t>(got);
      continue;
    }
    if (got == 0) {
      connection.client_closed = true;
      break;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    close(connection);  // reset by the client
    return;
  }
  process(connection);
}

void ConnectionLoop::process(Connection& connection) {
  while (connection.phase == kWaiting || connection.phase == kReading) {
    RequestReader& reader = connection.reader;
    const std::string_view unread = std::string_view(connection.input).substr(connection.input_at);
    connection.input_at += reader.feed(unread);
    if (reader.started() && connection.phase == kWaiting) {
      set_phase(connection, kReading);
      connection.request_id = next_request_id();
    }
    switch (reader.state()) {
      case RequestReader::State::kHead:
      case RequestReader::State::kBody:
        break;  // everything read is consumed: wait for more
      case RequestReader::State::kHeadRead: {
        auto limit = handler_.body_limit(reader.head());
        if (!limit) {
          admit(connection);
          return;
        }
        start_body(connection, *limit);
        continue;
      }
      case RequestReader::State::kComplete:
        dispatch(connection);
        return;
      case RequestReader::State::kFailed:
        connection.linger_after = true;
        answer_error(connection, reader.error().status, reader.error().message);
        return;
    }
    break;
  }
  if (connection.phase != kWaiting && connection.phase != kReading) return;
  if (connection.input_at == connection.input.size()) {
    connection.input.clear();
    connection.input_at = 0;
  }
  if (connection.client_closed) {
    if (connection.phase == kWaiting) {
      close(connection);
    } else {
      answer_error(connection, 400,
                   "the request ended before it was complete (the client closed the connection)");
    }
  }
}

std::shared_ptr<Exchange> ConnectionLoop::hand_over(Connection& connection, int phase) {
  set_phase(connection, phase);
  set_deadline(connection, std::nullopt);
  watch(connection, 0);
  auto exchange = std::make_shared<Exchange>();
  exchange->connection = connection.id;
  exchange->request_id = connection.request_id;
  exchange->client = connection.client;
  exchange->head = connection.reader.head();
  return exchange;
}

void ConnectionLoop::admit(Connection& connection) {
  auto exchange = hand_over(connection, kAdmitting);
  const bool queued = workers_.try_submit([this, exchange] {
    Posted event(Posted::Kind::kAdmitted, exchange->connection);
    event.limit = handler_.admit(*exchange);
    post(std::move(event));
  });
  if (!queued) admitted(connection, options_.small_body_bytes);  // no worker free: no admission
}

void ConnectionLoop::admitted(Connection& connection, std::size_t limit) {
  if (connection.phase != kAdmitting) return;
  set_phase(connection, kReading);
  watch(connection, EPOLLIN | EPOLLRDHUP);
  start_body(connection, limit);
  process(connection);
}

void ConnectionLoop::start_body(Connection& connection, std::size_t limit) {
  RequestReader& reader = connection.reader;
  set_deadline(connection, Clock::now() + options_.body_timeout);
  reader.begin_body(limit);
  // A client that waits for "100 Continue" before it sends its body gets it now.
  if (reader.state() == RequestReader::State::kBody && reader.head().expect_continue &&
      connection.input_at == connection.input.size()) {
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    [[maybe_unused]] auto sent =
        ::send(connection.fd.get(), kContinue.data(), kContinue.size(), MSG_NOSIGNAL);
  }
}

void ConnectionLoop::dispatch(Connection& connection) {
  auto exchange = hand_over(connection, kInWorker);
  exchange->socket = connection.fd.get();
  exchange->body = std::move(connection.reader.body());
  exchange->client_closed = connection.client_closed;
  const bool keep_alive = exchange->head.keep_alive && !exchange->client_closed;
  if (auto reply = handler_.screen(*exchange, keep_alive)) {
    // Through the event queue, as a worker's reply: pipelined requests are screened one per
    // round of the loop, never recursively.
    Outcome outcome;
    outcome.unsent = std::move(*reply);
    outcome.keep_alive = keep_alive;
    done(connection.id, std::move(outcome));
    return;
  }
  const bool queued = workers_.try_submit([this, exchange] {
    Outcome outcome = handler_.handle(*exchange);
    done(exchange->connection, std::move(outcome));
  });
  if (!queued) {
    answer_error(connection, 503, "the server is busy; try again in a moment",
                 /*retry_later=*/true);
  }
}

void ConnectionLoop::finished(Connection& connection, Outcome outcome) {
  if (connection.phase != kInWorker) return;
  connection.output = std::move(outcome.unsent);
  connection.output_at = 0;
  connection.keep_alive_after = outcome.keep_alive && !connection.client_closed;
  connection.linger_after = false;
  set_phase(connection, kWriting);
  write_output(connection);
}

void ConnectionLoop::answer_error(Connection& connection, int status, const std::string& message,
                                  bool retry_later) {
  if (connection.request_id.empty()) connection.request_id = next_request_id();
  handler_.refused(connection.request_id, status, message);
  connection.output = error_reply(status, message, connection.request_id, retry_later ? 5 : 0);
  connection.output_at = 0;
  connection.keep_alive_after = false;
  set_phase(connection, kWriting);
  write_output(connection);
}

void ConnectionLoop::write_output(Connection& connection) {
  while (connection.output_at < connection.output.size()) {
    const ssize_t sent =
        ::send(connection.fd.get(), connection.output.data() + connection.output_at,
               connection.output.size() - connection.output_at, MSG_NOSIGNAL);
    if (sent > 0) {
      connection.output_at += static_cast<std::size_t>(sent);
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      set_deadline(connection, Clock::now() + options_.send_timeout);
      watch(connection, EPOLLOUT);
      return;
    }
    close(connection);  // the client is gone
    return;
  }
  connection.output.clear();
  connection.output_at = 0;
  after_reply(connection);
}

void ConnectionLoop::after_reply(Connection& connection) {
  connection.answered_any = true;
  if (!connection.keep_alive_after || state_->stopping) {
    if (connection.linger_after) {
      linger(connection);
    } else {
      close(connection);
    }
    return;
  }
  connection.reader.reset();
  connection.request_id.clear();
  set_phase(connection, kWaiting);
  set_deadline(connection, Clock::now() + options_.idle_timeout);
  watch(connection, EPOLLIN | EPOLLRDHUP);
  process(connection);  // a request sent before this reply was read (pipelining)
}

void ConnectionLoop::linger(Connection& connection) {
  ::shutdown(connection.fd.get(), SHUT_WR);
  set_phase(connection, kLingering);
  set_deadline(connection, Clock::now() + kLingerTime);
  watch(connection, EPOLLIN | EPOLLRDHUP);
  drain(connection);
}

void ConnectionLoop::drain(Connection& connection) {
  char buffer[64 * 1024];
  for (;;) {
    const ssize_t got = ::recv(connection.fd.get(), buffer, sizeof buffer, 0);
    if (got > 0) {
      connection.lingered += static_cast<std::size_t>(got);
      if (connection.lingered < kLingerBytes) continue;
    } else if (got < 0 && errno == EINTR) {
      continue;
    } else if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      return;
    }
    close(connection);  // the client closed, reset, or sent too much
    return;
  }
}

void ConnectionLoop::expire(TimePoint now) {
  while (!state_->deadlines.empty() && state_->deadlines.begin()->first <= now) {
    Connection* connection = find(state_->deadlines.begin()->second);
    if (!connection) {
      state_->deadlines.erase(state_->deadlines.begin());
      continue;
    }
    set_deadline(*connection, std::nullopt);
    switch (connection->phase) {
      case kWaiting:
        if (connection->answered_any) {
          close(*connection);  // an idle keep-alive connection ends quietly
        } else {
          answer_error(
              *connection, 408,
              "no request arrived in time (within " + seconds_text(options_.idle_timeout) + ")");
        }
        break;
      case kReading:
        connection->linger_after = true;
        answer_error(*connection, 408,
                     connection->reader.state() == RequestReader::State::kHead
                         ? "the request did not arrive in time (its head must be complete within " +
                               seconds_text(options_.idle_timeout) + ")"
                         : "the request's body did not arrive in time (within " +
                               seconds_text(options_.body_timeout) + " of its head)");
        break;
      default:
        close(*connection);  // a reply that made no progress, or lingering that is over
        break;
    }
  }
}

void ConnectionLoop::close(Connection& connection) {
  const std::uint64_t id = connection.id;
  set_deadline(connection, std::nullopt);
  state_->waiting.erase(id);
  state_->reading.erase(id);
  if (connection.watched) epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, connection.fd.get(), nullptr);
  auto client = state_->by_client.find(connection.client);
  if (client != state_->by_client.end()) {
    client->second.erase(id);
    if (client->second.empty()) state_->by_client.erase(client);
  }
  state_->connections.erase(id);  // closes the socket
}

void ConnectionLoop::set_phase(Connection& connection, int phase) {
  state_->waiting.erase(connection.id);
  state_->reading.erase(connection.id);
  connection.phase = phase;
  if (phase == kWaiting) state_->waiting.insert(connection.id);
  if (phase == kReading) state_->reading.insert(connection.id);
}

void ConnectionLoop::set_deadline(Connection& connection, std::optional<TimePoint> deadline) {
  if (connection.deadline) state_->deadlines.erase({*connection.deadline, connection.id});
  connection.deadline = deadline;
  if (deadline) state_->deadlines.insert({*deadline, connection.id});
}

void ConnectionLoop::watch(Connection& connection, std::uint32_t events) {
  if (events == connection.watched) return;
  epoll_event event{};
  event.events = events;
  event.data.u64 = connection.id;
  const int operation = events == 0               ? EPOLL_CTL_DEL
                        : connection.watched == 0 ? EPOLL_CTL_ADD
                                                  : EPOLL_CTL_MOD;
  epoll_ctl(epoll_fd_.get(), operation, connection.fd.get(), &event);
  connection.watched = events;
}

std::string ConnectionLoop::next_request_id() {
  char id[48];
  std::snprintf(id, sizeof id, "%s-%llx", state_->request_id_prefix.c_str(),
                static_cast<unsigned long long>(++state_->requests));
  return id;
}

}  // namespace iotreg::http
