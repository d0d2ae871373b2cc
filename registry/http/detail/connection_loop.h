// ConnectionLoop: the server's one network thread. Private to registry/http.
//
// It accepts connections and reads every request, head and body, without blocking (epoll), so
// an idle keep-alive connection or a client that sends slowly costs a file descriptor and a
// buffer, never a thread; only complete requests go to the WorkerPool. Poco's TCPServer, which
// this replaces, gives every open connection a thread for its whole life: 100 slow senders or a
// thousand idle sockets took every thread and the server stopped answering.
//
// Deadlines are for a whole phase, never per byte: a connection's request head must be complete
// within the idle timeout of the connection becoming ready (accepted, or its previous reply
// sent), its body within the body timeout of the head, and a reply must make progress within
// the send timeout. A client address may hold a bounded number of connections; a new connection
// over that bound, or over the server's total, closes the same client's (else anyone's) oldest
// connection without a request in progress (one that never sent a request first, then one kept
// alive, then one still sending), else is refused with 503.
//
// Threading: every Connection is owned and touched by the loop thread only; a request handed to
// a worker carries its socket, which stays open until the worker reports back with done().
// listen() creates the loop; run it with start(); stop it with begin_stop() and wait_idle()
// (or abandon()), then destroy it after the workers have ended.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "registry/core/status.h"
#include "registry/core/unique_fd.h"
#include "registry/http/detail/request_reader.h"
#include "registry/http/detail/worker_pool.h"

namespace iotreg::http {

struct LoopOptions {
  std::chrono::milliseconds idle_timeout{15000};  // until a request's head is complete
  std::chrono::milliseconds body_timeout{60000};  // from its head until its body is complete
  std::chrono::milliseconds send_timeout{15000};  // writing a reply without progress
  std::size_t max_connections = 4096;
  std::size_t max_connections_per_client = 1024;
  std::size_t small_body_bytes = 64 * 1024;  // bodies a request may send without admission
  RequestLimits limits;
};

// One complete request handed to a worker, with the socket to answer on.
struct Exchange {
  std::uint64_t connection = 0;  // for ConnectionLoop::done()
  int socket = -1;               // non-blocking; open until done() is called
  std::string request_id;        // unique in the server's log, e.g. "5f3a9c1e-2a"
  std::string client;            // the client's address, without the port
  RequestHead head;
  std::string body;
  bool client_closed = false;  // the client ended its side after this request
};

// What a worker reports when it is done with an exchange.
struct Outcome {
  std::string unsent;       // reply bytes the socket did not take; the loop sends them
  bool keep_alive = false;  // read the next request on the connection afterwards
};

// The server's side of the loop. body_limit(), screen() and refused() run on the loop thread
// and must not block; admit() and handle() run on worker threads and must not throw.
class ExchangeHandler {
 public:
  virtual ~ExchangeHandler() = default;
  // The most body a request with this head may send; nullopt: ask admit() on a worker first.
  virtual std::optional<std::size_t> body_limit(const RequestHead& head) = 0;
  // A complete request before it goes to a worker: a whole reply (status line to body) to send
  // instead, keeping the connection when `keep_alive`, or nullopt to hand it to a worker. The
  // reply is sent as a worker's is, so a refused request costs no worker.
  virtual std::optional<std::string> screen(const Exchange& exchange, bool keep_alive) = 0;
  virtual std::size_t admit(const Exchange& exchange) = 0;
  // Answers the request: writes the reply to the socket as far as it takes it.
  virtual Outcome handle(Exchange& exchange) = 0;
  // The loop answered a request itself with this status (malformed, late, refused).
  virtual void refused(const std::string& request_id, int status, const std::string& message) = 0;
};

class ConnectionLoop {
 public:
  // Binds and listens on "host:port" (port 0: any free port).
  static Result<std::unique_ptr<ConnectionLoop>> listen(const std::string& host_port,
                                                        const LoopOptions& options,
                                                        ExchangeHandler& handler,
                                                        WorkerPool& workers);
  ~ConnectionLoop();  // joins the loop thread; call after the workers have ended
  ConnectionLoop(const ConnectionLoop&) = delete;
  ConnectionLoop& operator=(const ConnectionLoop&) = delete;

  std::uint16_t port() const { return port_; }
  const std::string& host() const { return host_; }

  void start();
  // Called by a worker when it is done with an exchange. Thread-safe.
  void done(std::uint64_t connection, Outcome outcome);
  // Stops accepting and closes every connection without a request in progress; those in
  // progress end after their reply. Thread-safe.
  void begin_stop();
  // Waits until no connection is left or `deadline` passes; true when none is left.
  bool wait_idle(std::chrono::steady_clock::time_point deadline);
  // Cuts every connection that is left (a worker writing a reply then fails) and ends the loop
  // without waiting for the workers. Thread-safe.
  void abandon();

 private:
  struct Connection;
  struct Posted;
  ConnectionLoop(UniqueFd listen_fd, UniqueFd epoll_fd, UniqueFd wake_fd,
                 const LoopOptions& options, ExchangeHandler& handler, WorkerPool& workers);

  void run();
  void post(Posted event);
  void take_posted();
  void accept_all();
  Connection* find(std::uint64_t id);
  void on_io(Connection& connection, std::uint32_t events);
  void read_input(Connection& connection);
  void process(Connection& connection);
  // Stops watching the connection while a worker has its request, which it returns.
  std::shared_ptr<Exchange> hand_over(Connection& connection, int phase);
  void admit(Connection& connection);
  void dispatch(Connection& connection);
  void admitted(Connection& connection, std::size_t limit);
  void start_body(Connection& connection, std::size_t limit);
  void finished(Connection& connection, Outcome outcome);
  void answer_error(Connection& connection, int status, const std::string& message,
                    bool retry_later = false);
  void write_output(Connection& connection);
  void after_reply(Connection& connection);
  void linger(Connection& connection);
  void drain(Connection& connection);
  void expire(std::chrono::steady_clock::time_point now);
  void close(Connection& connection);
  bool evict(const std::string& client, bool same_client_only);
  void set_phase(Connection& connection, int phase);
  void set_deadline(Connection& connection, std::optional<std::chrono::steady_clock::time_point>);
  void watch(Connection& connection, std::uint32_t events);
  std::string next_request_id();

  struct State;
  std::unique_ptr<State> state_;
  UniqueFd listen_fd_;  // closed by begin_stop()
  UniqueFd epoll_fd_;
  UniqueFd wake_fd_;  // an eventfd: posted events wake the loop
  const LoopOptions options_;
  ExchangeHandler& handler_;
  WorkerPool& workers_;
  std::uint16_t port_ = 0;
  std::string host_;
  std::thread thread_;

  std::mutex posted_mutex_;
  std::vector<Posted> posted_;
  std::mutex idle_mutex_;
  std::condition_variable idle_;
  bool ended_ = false;  // under idle_mutex_
};

}  // namespace iotreg::http
