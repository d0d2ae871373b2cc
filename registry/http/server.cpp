#include "registry/http/server.h"

#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/ThreadPool.h>
#include <Poco/URI.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <set>
#include <thread>

#include "registry/core/clock.h"
#include "registry/http/detail/api.h"

namespace iotreg::http {
namespace {

using Clock = std::chrono::steady_clock;

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// Connections currently open, so that stop() can wake the idle ones.
class ConnectionRegistry {
 public:
  void add(Poco::Net::StreamSocket* socket) {
    std::lock_guard lock(mutex_);
    open_.insert(socket);
    idle_.insert(socket);
  }
  void remove(Poco::Net::StreamSocket* socket) {
    std::lock_guard lock(mutex_);
    open_.erase(socket);
    idle_.erase(socket);
  }
  // Ends every connection, busy or not: the grace period is over.
  void abort_all() {
    std::lock_guard lock(mutex_);
    for (auto* socket : open_) {
      try {
        socket->shutdown();
      } catch (const Poco::Exception&) {
        // Already closed.
      }
    }
  }
  // While busy, a connection is not woken: its request finishes first.
  void set_busy(Poco::Net::StreamSocket* socket, bool busy) {
    std::lock_guard lock(mutex_);
    if (busy) {
      idle_.erase(socket);
    } else {
      idle_.insert(socket);
      if (stopping_) wake(socket);
    }
  }
  // Ends the wait of every idle connection for its next request.
  void stop() {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    for (auto* socket : idle_) wake(socket);
  }

 private:
  static void wake(Poco::Net::StreamSocket* socket) {
    try {
      socket->shutdownReceive();
    } catch (const Poco::Exception&) {
      // Already closed by the peer: nothing to wake.
    }
  }
  std::mutex mutex_;
  std::set<Poco::Net::StreamSocket*> open_;
  std::set<Poco::Net::StreamSocket*> idle_;
  bool stopping_ = false;
};

struct Shared {
  ServerState& state;
  ConnectionRegistry& connections;
};

// Bodies other than declarations, and any body from a sender not yet known to be allowed to
// submit declarations, are held to this size.
constexpr std::size_t kSmallBodyBytes = 64 * 1024;

enum class BodyRead { kComplete, kTooLong, kIncomplete };

// Reads the body of a request, at most `limit` bytes. Poco ends a body quietly when the client
// closes early or a read times out: a short or broken read is incomplete, never complete.
BodyRead read_body(Poco::Net::HTTPServerRequest& request, std::size_t limit, std::string& body) {
  std::istream& in = request.stream();
  char buffer[16384];
  while (in) {
    in.read(buffer, sizeof buffer);
    body.append(buffer, static_cast<std::size_t>(in.gcount()));
    if (body.size() > limit) return BodyRead::kTooLong;
  }
  if (in.bad()) return BodyRead::kIncomplete;
  if (request.hasContentLength() &&
      body.size() != static_cast<std::uint64_t>(request.getContentLength64())) {
    return BodyRead::kIncomplete;
  }
  return BodyRead::kComplete;
}

void send_reply(Poco::Net::HTTPServerResponse& response, Reply& reply, bool& cut) {
  response.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status));
  response.setContentType(reply.content_type);
  response.set("X-Content-Type-Options", "nosniff");
  response.set("Referrer-Policy", "no-referrer");
  for (const auto& [name, value] : reply.headers) response.set(name, value);
  if (reply.stream) {
    response.setChunkedTransferEncoding(true);
    std::ostream& out = response.send();
    bool complete = false;
    try {
      complete = reply.stream(out);
    } catch (const std::exception&) {
      complete = false;
    }
    if (!complete) {
      cut = true;  // an incomplete chunked reply must not look complete
      return;
    }
    out.flush();
    return;
  }
  response.sendBuffer(reply.body.data(), reply.body.size());
}

// Sends an error reply on a connection whose request could not be read (so Poco has no request
// to answer), written out whole; the connection then ends.
void send_error(Poco::Net::StreamSocket& socket, int status, std::string_view message) {
  const Reply reply = Reply::error(status, message);
  std::string bytes = "HTTP/1.1 " + std::to_string(status) + " " +
                      Poco::Net::HTTPResponse::getReasonForStatus(
                          static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status)) +
                      "\r\nContent-Type: " + reply.content_type +
                      "\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n"
                      "Content-Length: " +
                      std::to_string(reply.body.size()) + "\r\n\r\n" + reply.body;
  try {
    socket.sendBytes(bytes.data(), static_cast<int>(bytes.size()));
  } catch (const Poco::Exception&) {
    // The client is gone: nothing more to tell it.
  }
}

class HttpConnection : public Poco::Net::TCPServerConnection {
 public:
  HttpConnection(const Poco::Net::StreamSocket& socket, Shared shared,
                 Poco::Net::HTTPServerParams::Ptr params)
      : TCPServerConnection(socket), shared_(shared), params_(std::move(params)) {}

  void run() override {
    shared_.connections.add(&socket());
    try {
      // A client that stops reading must not hold a worker for ever.
      socket().setSendTimeout(
          Poco::Timespan(static_cast<long>(shared_.state.options.idle_timeout.count()), 0));
    } catch (const Poco::Exception&) {
      // The connection is already gone; serve() will find out.
    }
    try {
      serve();
    } catch (const Poco::Exception&) {
      // A network error ends the connection; its request, if any, was answered or abandoned.
    } catch (const std::exception& error) {
      std::cerr << "iotreg serve: connection ended by an error: " << error.what() << "\n";
    }
    shared_.connections.remove(&socket());
  }

 private:
  void serve() {
    Poco::Net::HTTPServerSession session(socket(), params_);
    bool first = true;
    for (;;) {
      if (shared_.state.stopping) return;
      if (!session.hasMoreRequests()) {
        // Nothing arrived in time for the first request: say so (later ones just end).
        if (first && !shared_.state.stopping && socket().available() == 0) {
          send_error(socket(), 408, "no request arrived in time");
        }
        return;
      }
      first = false;
      shared_.connections.set_busy(&socket(), true);
      // The reply is flushed when handle_one's response object ends, so linger only after.
      const After after = handle_one(session);
      shared_.connections.set_busy(&socket(), false);
      if (after == After::kLingerAndClose) linger();
      if (after != After::kKeepAlive) return;
    }
  }

  enum class After { kKeepAlive, kClose, kLingerAndClose };

  // Reads, handles and answers one request, and says what becomes of the connection.
  After handle_one(Poco::Net::HTTPServerSession& session) {
    Poco::Net::HTTPServerResponseImpl response(session);
    const auto started = Clock::now();
    std::string route = "unmatched";
    int status = 0;
    try {
      Poco::Net::HTTPServerRequestImpl request(response, session, params_);
      if (request.getVersion() != Poco::Net::HTTPMessage::HTTP_1_1 &&
          request.getVersion() != Poco::Net::HTTPMessage::HTTP_1_0) {
        throw Poco::Net::MessageException("unsupported HTTP version " + request.getVersion());
      }
      response.setVersion(request.getVersion());
      bool keep_alive = request.getKeepAlive() && !shared_.state.stopping;
      response.setKeepAlive(keep_alive);
      Request parsed;
      std::optional<Context> context;  // outlives the reply: a streamed body reads the registry
      bool unread_input = false;       // the request's body was refused, not read
      Reply reply = handle(request, response, parsed, context, route, keep_alive, unread_input);
      response.setKeepAlive(keep_alive);
      status = reply.status;
      bool cut = false;
      send_reply(response, reply, cut);
      shared_.state.metrics.record(route, status, seconds_since(started));
      if (cut) {
        socket().shutdown();
        return After::kClose;
      }
      if (keep_alive) return After::kKeepAlive;
      return unread_input ? After::kLingerAndClose : After::kClose;
    } catch (const Poco::Net::NoMessageException&) {
      return After::kClose;  // the client closed the connection between requests
    } catch (const Poco::Net::MessageException& error) {
      const std::string message = error.message();
      status = message.find("URI") != std::string::npos ? 414
               : message.find("too long") != std::string::npos ||
                       message.find("Too many") != std::string::npos
                   ? 431
                   : 400;
      send_error(socket(), status,
                 status == 414   ? "the request target is too long (at most 16 KiB)"
                 : status == 431 ? "the request header is too large (" + message + ")"
                                 : "malformed HTTP request (" + message + ")");
    } catch (const Poco::TimeoutException&) {
      status = 408;
      send_error(socket(), status, "the request did not arrive in time");
    } catch (const Poco::Net::NetException&) {
      return After::kClose;  // the connection failed: nobody to answer
    } catch (const Poco::Exception& error) {
      status = 400;  // e.g. a Content-Length that is not a number
      send_error(socket(), status, "malformed HTTP request (" + error.message() + ")");
    }
    shared_.state.metrics.record(route, status, seconds_since(started));
    return After::kLingerAndClose;
  }

  // Ends a connection whose request was not read to its end: stops sending, then reads and
  // drops what the client still sends for a moment, so that closing with unread input does not
  // reset the connection before the client has read the answer.
  void linger() {
    try {
      socket().shutdownSend();
      socket().setReceiveTimeout(Poco::Timespan(0, 500000));
      char buffer[16384];
      std::size_t drained = 0;
      while (drained < (4u << 20)) {
        int got = socket().receiveBytes(buffer, sizeof buffer);
        if (got <= 0) break;
        drained += static_cast<std::size_t>(got);
      }
    } catch (const Poco::Exception&) {
      // Timed out or reset: the connection ends either way.
    }
  }

  Reply handle(Poco::Net::HTTPServerRequest& request, Poco::Net::HTTPServerResponse& response,
               Request& parsed, std::optional<Context>& context, std::string& route,
               bool& keep_alive, bool& unread_input) {
    parsed.method = request.getMethod();
    try {
      Poco::URI uri(request.getURI());
      parsed.path = uri.getPath();
      for (auto& [name, value] : uri.getQueryParameters()) {
        parsed.query.emplace_back(std::move(name), std::move(value));
      }
    } catch (const Poco::Exception& error) {
      keep_alive = false;
      unread_input = true;  // the body, if any, was not read
      return Reply::error(400, "malformed request target: " + error.message());
    }
    if (parsed.path.empty() || parsed.path.front() != '/') {
      keep_alive = false;
      unread_input = true;
      return Reply::error(400, "the request target must be a path");
    }
    std::string content_type = request.getContentType();
    parsed.content_type = lower(content_type.substr(0, content_type.find(';')));
    while (!parsed.content_type.empty() && parsed.content_type.back() == ' ') {
      parsed.content_type.pop_back();
    }
    parsed.authorization = request.get("Authorization", "");

    context.emplace(parsed, shared_.state);
    std::size_t limit = kSmallBodyBytes;
    if (parsed.method == "POST" && parsed.path == "/api/v1/declarations" &&
        may_send_declarations(*context)) {
      limit = shared_.state.options.max_body_bytes;
    }
    const bool has_length = request.hasContentLength();
    if (has_length && request.getContentLength64() < 0) {
      keep_alive = false;
      unread_input = true;
      return Reply::error(400, "Content-Length must be a whole number of bytes");
    }
    if (has_length && static_cast<std::uint64_t>(request.getContentLength64()) > limit) {
      keep_alive = false;
      unread_input = true;  // the body is not read
      return Reply::error(413, "the body is larger than " + std::to_string(limit) + " bytes");
    }
    // Without a length or chunks a request has no body (RFC 9112 6.3).
    if (has_length || request.getChunkedTransferEncoding()) {
      if (request.getExpectContinue()) response.sendContinue();
      switch (read_body(request, limit, parsed.body)) {
        case BodyRead::kComplete:
          break;
        case BodyRead::kTooLong:
          keep_alive = false;
          unread_input = true;
          return Reply::error(413, "the body is larger than " + std::to_string(limit) + " bytes");
        case BodyRead::kIncomplete:
          keep_alive = false;
          unread_input = true;
          return Reply::error(400,
                              "the body ended before it was complete (connection closed, "
                              "timed out or malformed chunks)");
      }
    }

    try {
      return dispatch(*context, route);
    } catch (const std::exception& error) {
      std::cerr << "iotreg serve: " << parsed.method << " " << parsed.path
                << " failed: " << error.what() << "\n";
    } catch (...) {
      std::cerr << "iotreg serve: " << parsed.method << " " << parsed.path << " failed\n";
    }
    return Reply::error(500, "the server failed to handle this request; it has been logged");
  }

  static double seconds_since(Clock::time_point started) {
    return std::chrono::duration<double>(Clock::now() - started).count();
  }

  Shared shared_;
  Poco::Net::HTTPServerParams::Ptr params_;
};

class ConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
 public:
  ConnectionFactory(Shared shared, Poco::Net::HTTPServerParams::Ptr params)
      : shared_(shared), params_(std::move(params)) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new HttpConnection(socket, shared_, params_);
  }

 private:
  Shared shared_;
  Poco::Net::HTTPServerParams::Ptr params_;
};

}  // namespace

void Metrics::record(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, status}];
  Histogram& histogram = latency_[route];
  for (std::size_t i = 0; i < std::size(kBuckets); ++i) {
    if (seconds <= kBuckets[i]) ++histogram.counts[i];
  }
  ++histogram.total;
  histogram.sum += seconds;
}

std::string Metrics::render(const std::map<std::string, std::uint64_t>& products_by_status) const {
  auto label = [](std::string_view text) {
    std::string out;
    for (char c : text) {
      if (c == '\\' || c == '"') out.push_back('\\');
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out.push_back(c);
    }
    return out;
  };
  std::string out =
      "# HELP iotreg_http_requests_total HTTP requests answered, by route and status.\n"
      "# TYPE iotreg_http_requests_total counter\n";
  std::lock_guard lock(mutex_);
  for (const auto& [key, count] : requests_) {
    out += "iotreg_http_requests_total{route=\"" + label(key.first) + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
  }
  out +=
      "# HELP iotreg_http_request_duration_seconds Time from reading a request to answering it.\n"
      "# TYPE iotreg_http_request_duration_seconds histogram\n";
  for (const auto& [route, histogram] : latency_) {
    const std::string name = "iotreg_http_request_duration_seconds";
    const std::string route_label = "route=\"" + label(route) + "\"";
    for (std::size_t i = 0; i < std::size(kBuckets); ++i) {
      char bound[32];
      std::snprintf(bound, sizeof bound, "%g", kBuckets[i]);
      out += name + "_bucket{" + route_label + ",le=\"" + bound + "\"} " +
             std::to_string(histogram.counts[i]) + "\n";
    }
    out +=
        name + "_bucket{" + route_label + ",le=\"+Inf\"} " + std::to_string(histogram.total) + "\n";
    char sum[64];
    std::snprintf(sum, sizeof sum, "%.6f", histogram.sum);
    out += name + "_sum{" + route_label + "} " + sum + "\n";
    out += name + "_count{" + route_label + "} " + std::to_string(histogram.total) + "\n";
  }
  out +=
      "# HELP iotreg_products Registered products by status.\n"
      "# TYPE iotreg_products gauge\n";
  for (const auto& [status, count] : products_by_status) {
    out += "iotreg_products{status=\"" + label(status) + "\"} " + std::to_string(count) + "\n";
  }
  return out;
}

Result<std::unique_ptr<storage::Storage>> ConnectionPool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
  }
  return storage::open_sqlite_storage(db_path_, storage::OpenMode::kReadWrite);
}

void ConnectionPool::release(std::unique_ptr<storage::Storage> connection) {
  std::lock_guard lock(mutex_);
  idle_.push_back(std::move(connection));
}

void ConnectionPool::close_all() {
  std::lock_guard lock(mutex_);
  idle_.clear();
}

struct Server::State {
  std::unique_ptr<ServerState> server;
  ConnectionRegistry connections;
  std::unique_ptr<Poco::ThreadPool> threads;
  std::unique_ptr<Poco::Net::TCPServer> tcp;
  std::uint16_t port = 0;
  std::string host;
  bool stopped = false;
};

Server::Server(std::unique_ptr<State> state) : state_(std::move(state)) {}

Server::~Server() { stop(); }

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options,
                                              std::unique_ptr<checks::Evaluator> evaluator) {
  if (!evaluator) return Status::invalid_argument("the server needs the checks to judge with");
  if (options.threads == 0) return Status::invalid_argument("--threads must be at least 1");
  // Open (create, migrate) the registry once up front, so that a bad file fails here.
  auto first = storage::open_sqlite_storage(options.db_path, storage::OpenMode::kReadWrite);
  if (!first.is_ok()) return first.status();

  auto state = std::make_unique<State>();
  state->server = std::make_unique<ServerState>(options, std::move(evaluator));
  state->server->pool.release(std::move(first).value());
  try {
    Poco::Net::SocketAddress address(options.listen);
    Poco::Net::ServerSocket socket(address, /*backlog=*/128);
    state->host = address.host().toString();
    state->port = socket.address().port();

    Poco::Net::HTTPServerParams::Ptr params = new Poco::Net::HTTPServerParams;
    params->setTimeout(Poco::Timespan(options.idle_timeout.count(), 0));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Poco::Timespan(options.idle_timeout.count(), 0));
    params->setMaxKeepAliveRequests(0);  // unlimited
    params->setMaxThreads(static_cast<int>(options.threads));
    params->setMaxQueued(static_cast<int>(options.max_queued));
    params->setThreadIdleTime(Poco::Timespan(60, 0));

    state->threads = std::make_unique<Poco::ThreadPool>(2, static_cast<int>(options.threads) + 1);
    Shared shared{*state->server, state->connections};
    state->tcp = std::make_unique<Poco::Net::TCPServer>(new ConnectionFactory(shared, params),
                                                        *state->threads, socket, params);
  } catch (const Poco::Exception& error) {
    return Status::invalid_argument("cannot listen on " + options.listen + ": " +
                                    error.displayText());
  }
  state->server->base_url = options.public_url.empty()
                                ? "http://" + state->host + ":" + std::to_string(state->port)
                                : options.public_url;
  while (!state->server->base_url.empty() && state->server->base_url.back() == '/') {
    state->server->base_url.pop_back();
  }
  state->tcp->start();
  return std::unique_ptr<Server>(new Server(std::move(state)));
}

std::uint16_t Server::port() const { return state_->port; }

std::string Server::url() const {
  return "http://" + state_->host + ":" + std::to_string(state_->port);
}

void Server::stop() {
  if (!state_ || state_->stopped) return;
  state_->stopped = true;
  state_->server->stopping = true;
  state_->tcp->stop();  // no new connections
  state_->connections.stop();
  const auto deadline = Clock::now() + state_->server->options.shutdown_grace;
  while (state_->tcp->currentConnections() > 0 && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  state_->connections.abort_all();
  state_->threads->joinAll();
  state_->server->pool.close_all();
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
