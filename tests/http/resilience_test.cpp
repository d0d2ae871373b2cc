// The server under hostile load: idle sockets and slow senders that must not starve it, strict
// framing on the wire, deadlines for whole requests, bounded connections per client address,
// 5xx replies that are logged and say nothing of files, reads against a stream of writes, and
// stopping with work stuck. Every client here has a deadline: a request that gets no answer
// fails the test instead of hanging it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>

#include "http/served_registry.h"

namespace iotreg::test {
namespace {

using Clock = std::chrono::steady_clock;

// A client connection to the server on loopback, closed when destroyed.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
  }
  ~RawConnection() {
    if (fd_ >= 0) ::close(fd_);
  }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  bool send(std::string_view bytes) {
    return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
           static_cast<ssize_t>(bytes.size());
  }
  // Everything received until the server closes the connection or `wait` passes.
  std::string receive_all(std::chrono::milliseconds wait) {
    std::string received = std::move(pending_);
    pending_.clear();
    receive_until(received, wait, [](const std::string&) { return false; });
    return received;
  }
  // One whole reply (a head and a Content-Length body), or what arrived before `wait` passed.
  std::string receive_reply(std::chrono::milliseconds wait) {
    std::string received = std::move(pending_);
    pending_.clear();
    auto end_of_reply = [](const std::string& text) -> std::size_t {
      const std::size_t head_end = text.find("\r\n\r\n");
      if (head_end == std::string::npos) return 0;
      std::smatch match;
      const std::string head = text.substr(0, head_end);
      std::size_t length = 0;
      if (std::regex_search(head, match, std::regex("Content-Length: (\\d+)"))) {
        length = std::stoul(match[1]);
      }
      return text.size() >= head_end + 4 + length ? head_end + 4 + length : 0;
    };
    receive_until(received, wait, [&](const std::string& text) { return end_of_reply(text) > 0; });
    const std::size_t end = end_of_reply(received);
    if (end == 0) return received;
    pending_ = received.substr(end);
    return received.substr(0, end);
  }
  // Whether the server has closed the connection (an EOF is waiting to be read).
  bool closed_by_server(std::chrono::milliseconds wait) {
    if (closed_) return true;
    if (!readable(wait)) return false;
    char byte;
    return ::recv(fd_, &byte, 1, MSG_PEEK) == 0;
  }

 private:
  // Appends what arrives to `received` until `done` says so, the server closes the connection,
  // or `wait` passes.
  template <typename Done>
  void receive_until(std::string& received, std::chrono::milliseconds wait, Done done) {
    const auto deadline = Clock::now() + wait;
    while (!done(received) && Clock::now() < deadline) {
      if (!readable(
              std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()))) {
        break;
      }
      char buffer[16384];
      const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
      if (got <= 0) {
        closed_ = true;
        break;
      }
      received.append(buffer, static_cast<std::size_t>(got));
    }
  }
  bool readable(std::chrono::milliseconds wait) {
    pollfd poll_fd{fd_, POLLIN, 0};
    return ::poll(&poll_fd, 1, static_cast<int>(std::max<std::int64_t>(wait.count(), 0))) > 0;
  }
  int fd_;
  bool closed_ = false;
  std::string pending_;
};

std::string header_of(const std::string& reply, const std::string& name) {
  std::smatch match;
  if (!std::regex_search(reply, match, std::regex("\r\n" + name + ": ([^\r]*)\r\n"))) return "";
  return match[1];
}

json body_of(const std::string& reply) {
  const std::size_t head_end = reply.find("\r\n\r\n");
  if (head_end == std::string::npos) return json();
  return json::parse(reply.substr(head_end + 4), nullptr, false);
}

std::string get_request(const std::string& target, const std::string& bearer = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: registry\r\n" +
         (bearer.empty() ? "" : "Authorization: Bearer " + bearer + "\r\n") + "\r\n";
}

// Raises this process's open-files limit to what it may, for tests that open many sockets.
void allow_many_sockets() {
  rlimit limit{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &limit) == 0);
  limit.rlim_cur = limit.rlim_max;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &limit) == 0);
  REQUIRE(limit.rlim_cur >= 2048);
}

TEST_SUITE("http.resilience") {
  TEST_CASE("http: idle sockets and slow senders hold no thread: others are answered at once") {
    allow_many_sockets();
    // Four worker threads and a thousand connections from this one address: only complete
    // requests reach a thread, and a new connection over the address's bound closes the
    // address's oldest idle one.
    ServedRegistry served({"--threads", "4", "--idle-timeout", "60"});
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < 1000; ++i) idle.push_back(std::make_unique<RawConnection>(served.port()));
    std::vector<std::unique_ptr<RawConnection>> slow;
    for (int i = 0; i < 100; ++i) {
      slow.push_back(std::make_unique<RawConnection>(served.port()));
      REQUIRE(slow.back()->send("GET /healthz HTTP/1.1\r\nHo"));
    }
    for (int round = 0; round < 3; ++round) {
      for (auto& sender : slow) sender->send("s");  // one more header byte each
      RawConnection health(served.port());
      REQUIRE(health.send(get_request("/healthz")));
      const std::string reply = health.receive_reply(3s);
      CHECK(status_of(reply) == 200);
      RawConnection officer(served.port());
      REQUIRE(officer.send(get_request("/api/v1/products?limit=5", served.officer)));
      const std::string products = officer.receive_reply(3s);
      CHECK(status_of(products) == 200);
      CHECK(body_of(products)["items"].size() == 5);
    }
    // The address holds at most 1,024 connections: the oldest that never sent a request were
    // closed.
    CHECK(idle.front()->closed_by_server(2s));
    CHECK(served.server().running());
  }

  TEST_CASE("http: a request's head must be complete within the idle timeout however it trickles") {
    ServedRegistry served({"--idle-timeout", "2", "--body-timeout", "1"});
    RawConnection trickle(served.port());
    const std::string request = get_request("/healthz");
    const auto started = Clock::now();
    std::string reply;
    // A byte every 150 ms: far more often than the timeout, but the head never completes in time.
    for (std::size_t i = 0; i < request.size() - 2 && reply.empty(); ++i) {
      trickle.send(request.substr(i, 1));
      reply = trickle.receive_all(150ms);
    }
    reply += trickle.receive_all(3s);
    const auto elapsed = Clock::now() - started;
    CHECK(status_of(reply) == 408);
    CHECK(body_of(reply)["error"]["message"] ==
          "the request did not arrive in time (its head must be complete within 2 s)");
    CHECK(elapsed >= 1900ms);
    CHECK(elapsed < 5s);

    // The body has its own deadline from the end of the head.
    RawConnection slow_body(served.port());
    slow_body.send(
        "POST /api/v1/declarations HTTP/1.1\r\nHost: r\r\nContent-Type: text/csv\r\n"
        "Content-Length: 100\r\n\r\nmanufacturer.name");
    const std::string late = slow_body.receive_all(4s);
    CHECK(status_of(late) == 408);
    CHECK(body_of(late)["error"]["message"] ==
          "the request's body did not arrive in time (within 1 s of its head)");
    // A connection that sends nothing gets 408 after the idle timeout.
    RawConnection silent(served.port());
    CHECK(status_of(silent.receive_all(4s)) == 408);
  }

  TEST_CASE("http: a client address holds a bounded number of connections") {
    ServedRegistry served({"--max-client-connections", "4"});
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < 4; ++i) idle.push_back(std::make_unique<RawConnection>(served.port()));
    // The connections are accepted in order; the fifth closes the oldest idle one.
    std::this_thread::sleep_for(100ms);
    RawConnection fifth(served.port());
    REQUIRE(fifth.send(get_request("/healthz")));
    CHECK(status_of(fifth.receive_reply(3s)) == 200);
    CHECK(idle[0]->closed_by_server(2s));
    for (int i = 1; i < 4; ++i) CHECK_FALSE(idle[i]->closed_by_server(50ms));
    // The survivors are still served.
    REQUIRE(idle[3]->send(get_request("/healthz")));
    CHECK(status_of(idle[3]->receive_reply(3s)) == 200);
    // Now idle[3] is kept alive after a reply, and idle[1] and idle[2] never sent a request: a
    // newcomer closes the oldest of those first.
    RawConnection sixth(served.port());
    REQUIRE(sixth.send(get_request("/healthz")));
    CHECK(status_of(sixth.receive_reply(3s)) == 200);
    CHECK(idle[1]->closed_by_server(2s));
    CHECK_FALSE(idle[2]->closed_by_server(50ms));
    CHECK_FALSE(idle[3]->closed_by_server(50ms));
  }

  TEST_CASE("http: framing that could be read two ways is refused with 400 and a close") {
    ServedRegistry served;
    const std::string before = served.snapshot();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"POST /api/v1/declarations HTTP/1.1\r\nHost: r\r\nContent-Length: 5\r\n"
         "Content-Length: 50\r\n\r\nhello",
         "the request has more than one Content-Length field (5, 50)"},
        {"POST /api/v1/declarations HTTP/1.1\r\nHost: r\r\nContent-Length: 5\r\n"
         "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
         "the request has both Content-Length and Transfer-Encoding"},
        {"GET /healthz HTTP/1.1\r\nAccept: */*\r\n\r\n",
         "an HTTP/1.1 request must have a Host field"},
        {"GET /healthz HTTP/1.1\r\nHost: r\r\nX-Folded: a\r\n b\r\n\r\n",
         "a header field continued on the next line (obs-fold) is not allowed: ' b'"},
        {"GET http://r/healthz HTTP/1.1\r\nHost: r\r\n\r\n",
         "the request target must be a path: absolute-form targets ('http://r/healthz') are for "
         "proxies, which this server is not"},
    };
    for (const auto& [request, message] : cases) {
      INFO(request);
      RawConnection connection(served.port());
      REQUIRE(connection.send(request + get_request("/healthz")));  // a second request after it
      const std::string reply = connection.receive_reply(3s);
      CHECK(status_of(reply) == 400);
      CHECK(header_of(reply, "Connection") == "close");
      const json body = body_of(reply);
      CHECK(body["error"]["message"] == message);
      CHECK(body["error"]["request_id"] == header_of(reply, "X-Request-Id"));
      // Nothing after a refused request is read as a request.
      CHECK(connection.receive_all(2s).empty());
      CHECK(connection.closed_by_server(0ms));
    }
    CHECK(served.snapshot() == before);
  }

  TEST_CASE("http: pipelined requests are answered in order on one connection") {
    ServedRegistry served;
    RawConnection connection(served.port());
    REQUIRE(connection.send(get_request("/healthz") + get_request("/api/v1/me", served.officer) +
                            get_request("/nowhere")));
    const std::string first = connection.receive_reply(3s);
    const std::string second = connection.receive_reply(3s);
    const std::string third = connection.receive_reply(3s);
    CHECK(status_of(first) == 200);
    CHECK(status_of(second) == 200);
    CHECK(body_of(second)["role"] == "officer");
    CHECK(status_of(third) == 404);
    CHECK(body_of(third)["error"]["request_id"] == header_of(third, "X-Request-Id"));
    CHECK(header_of(first, "X-Request-Id") != header_of(second, "X-Request-Id"));
  }

  TEST_CASE("http: a busy registry answers 503 with Retry-After and is logged by request id") {
    ServedRegistry served({}, {}, {{"IOTREG_BUSY_TIMEOUT_MS", "200"}});
    const std::string before = served.snapshot();
    RegistryProbe writer(served.db());
    writer.hold_write_lock();
    const std::string csv = read_file(kSource / "samples" / "01-lumora-vision.csv");
    RawConnection connection(served.port());
    REQUIRE(connection.send(
        "POST /api/v1/declarations HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer " + served.admin +
        "\r\nContent-Type: text/csv\r\nContent-Length: " + std::to_string(csv.size()) + "\r\n\r\n" +
        csv));
    const std::string reply = connection.receive_reply(10s);
    writer.release_write_lock();
    CHECK(status_of(reply) == 503);
    CHECK(header_of(reply, "Retry-After") == "5");
    const std::string request_id = header_of(reply, "X-Request-Id");
    const json body = body_of(reply);
    CHECK(body["error"]["request_id"] == request_id);
    CHECK(body["error"]["message"] == "the registry is busy with another writer; try again later");
    CHECK(reply.find(served.db()) == std::string::npos);
    CHECK(reply.find("registry.db") == std::string::npos);
    // The log names the request, and what failed.
    const std::string log = served.server().error_so_far();
    CHECK(log.find("request " + request_id + ": POST /api/v1/declarations answered 503: ") !=
          std::string::npos);
    CHECK(log.find("locked") != std::string::npos);
    CHECK(served.snapshot() == before);
  }

  TEST_CASE("http: reads against a stream of one-record writes never hang") {
    // Every import of one record is a new registry state, so the searches below keep asking the
    // reply cache for replies of newer states while older ones are being computed.
    ServedRegistry served({"--threads", "16"});
    std::atomic<bool> writing{true};
    std::atomic<int> imported{0};
    std::atomic<int> failures{0};
    std::atomic<int> reads{0};
    auto writer = std::async(std::launch::async, [&] {
      for (int i = 0; writing && i < 450; ++i) {
        const std::string csv =
            "manufacturer.name,product.brand,product.model,support.end_date\n"
            "Lumora Vision Ltd,Lumora,ZQXSTREAM-" +
            std::to_string(i) + ",2031-01-01\n";
        auto answer =
            served.request("POST", "/api/v1/declarations", served.manufacturer, csv, "text/csv");
        if (answer.status == 200) {
          ++imported;
        } else {
          ++failures;
        }
      }
    });
    std::vector<std::future<void>> readers;
    for (int r = 0; r < 12; ++r) {
      readers.push_back(std::async(std::launch::async, [&, r] {
        const std::vector<std::string> targets = {"/api/v1/products?q=lumora",
                                                  "/api/v1/products?limit=5", "/api/v1/stats",
                                                  "/api/v1/flags"};
        while (writing) {
          RawConnection connection(served.port());
          const std::string target = targets[static_cast<std::size_t>(r + reads) % targets.size()];
          connection.send(get_request(target, served.officer));
          const std::string reply = connection.receive_reply(10s);
          if (status_of(reply) != 200) ++failures;
          ++reads;
        }
      }));
    }
    std::this_thread::sleep_for(4s);
    writing = false;
    REQUIRE(writer.wait_for(30s) == std::future_status::ready);
    for (auto& reader : readers) REQUIRE(reader.wait_for(30s) == std::future_status::ready);
    CHECK(failures == 0);
    CHECK(imported > 10);
    CHECK(reads > 100);
    // The last state is what the API shows.
    auto found = served.get("/api/v1/products?q=ZQXSTREAM&limit=500", served.officer).parsed();
    CHECK(found["items"].size() == static_cast<std::size_t>(imported.load()));
    served.server().kill(SIGTERM);
    CHECK(served.server().wait(10s).exit_status == 0);
  }

  TEST_CASE("http: SIGTERM ends the server within its grace period with a reply stuck") {
    // A client asks for an export larger than the socket buffers and never reads it: the
    // worker streaming it waits for the client, up to a minute each write; after the grace
    // period the server cuts the connection, and the worker's write fails at once.
    ServedRegistry served({"--grace", "1", "--idle-timeout", "60"});
    std::string csv = "manufacturer.name,product.brand,product.model,product.type\n";
    for (int i = 0; i < 6000; ++i) {
      csv += "Bulk Maker Ltd,Bulk,B-" + std::to_string(i) + "," + std::string(200, 'x') + "\n";
    }
    const std::string file = served.dir().file("bulk.csv");
    write_file(file, csv);
    REQUIRE(served.cli({"import", file, "--quiet"}).exit_status == 0);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const int small = 4096;
    REQUIRE(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small) == 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(served.port());
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    const std::string request = get_request("/api/v1/export?format=ndjson&q=Bulk", served.officer);
    REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(request.size()));
    std::this_thread::sleep_for(1s);  // the worker has filled the buffers and waits
    const auto signalled = Clock::now();
    served.server().kill(SIGTERM);
    auto result = served.server().wait(15s);
    const auto took = Clock::now() - signalled;
    ::close(fd);
    CHECK_MESSAGE(result.exited, result.describe());
    CHECK(result.exit_status == 0);
    CHECK(took < 4s);
    CHECK(result.err.find("cutting them") != std::string::npos);
  }

  TEST_CASE("http: SIGTERM ends the server within its grace period with a write stuck") {
    // An import waits for a write lock that another process holds for longer than the grace
    // period: after it, the server cuts the import and ends; the import's records are not stored.
    ServedRegistry served({"--grace", "1"}, {}, {{"IOTREG_BUSY_TIMEOUT_MS", "3000"}});
    const std::string before = served.snapshot();
    auto writer = std::make_unique<RegistryProbe>(served.db());
    writer->hold_write_lock();
    // Idle and half-sent connections do not hold the stop back either.
    std::vector<std::unique_ptr<RawConnection>> idle;
    for (int i = 0; i < 20; ++i) {
      idle.push_back(std::make_unique<RawConnection>(served.port()));
      if (i % 2) idle.back()->send("GET /healthz HTTP/1.1\r\n");
    }
    const std::string csv = read_file(kSource / "samples" / "01-lumora-vision.csv");
    RawConnection import(served.port());
    REQUIRE(import.send("POST /api/v1/declarations HTTP/1.1\r\nHost: r\r\nAuthorization: Bearer " +
                        served.admin + "\r\nContent-Type: text/csv\r\nContent-Length: " +
                        std::to_string(csv.size()) + "\r\n\r\n" + csv));
    std::this_thread::sleep_for(300ms);  // the import is now waiting for the lock
    const auto signalled = Clock::now();
    served.server().kill(SIGTERM);
    auto result = served.server().wait(15s);
    const auto took = Clock::now() - signalled;
    CHECK_MESSAGE(result.exited, result.describe());
    CHECK(result.exit_status == 0);
    CHECK(took < 8s);  // a grace of 1 s, then the cut work ends when its lock wait does
    const std::string reply = import.receive_all(2s);
    CHECK((reply.empty() || status_of(reply) == 503));
    writer->release_write_lock();
    writer.reset();
    CHECK(served.snapshot() == before);
    CHECK(served.cli({"audit", "verify"}).exit_status == 0);
    if (!testing_postgresql()) {
      CHECK(RegistryProbe(served.db()).text("PRAGMA integrity_check") == "ok");
    }
  }
}

}  // namespace
}  // namespace iotreg::test
