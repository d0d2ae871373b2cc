// Test support for the HTTP tests: `iotreg serve` on a free loopback port over a registry of
// the bundled samples with one token per role (ServedRegistry), a client with a deadline on
// every request, and raw exchanges for malformed requests. Each ServedRegistry owns its
// directory and server process, which it kills and reaps when destroyed; not thread-safe, but
// its request methods may be called from several threads at once.
#pragma once

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/StreamSocket.h>
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/process.h"
#include "support/registry.h"

namespace iotreg::test {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::chrono_literals;

inline const std::string kIotreg = IOTREG_BINARY;
inline const fs::path kSource = IOTREG_SOURCE_DIR;
inline constexpr const char* kAsOf = "2026-11-29";
inline constexpr const char* kLumora = "Lumora Vision Ltd";

struct Answer {
  int status = 0;
  std::string content_type;
  std::map<std::string, std::string> headers;
  std::string body;
  json parsed() const { return json::parse(body, nullptr, false); }
};

// A request with any header fields, within 30 s; every reply field (Set-Cookie included) in
// `headers`.
inline Answer exchange(std::uint16_t port, const std::string& method, const std::string& target,
                       const std::map<std::string, std::string>& fields,
                       const std::string& body = "") {
  Poco::Net::HTTPClientSession session("127.0.0.1", port);
  session.setTimeout(Poco::Timespan(30, 0));
  Poco::Net::HTTPRequest request(method, target, Poco::Net::HTTPMessage::HTTP_1_1);
  for (const auto& [name, value] : fields) request.set(name, value);
  if (!body.empty() || method == "POST") request.setContentLength64(body.size());
  session.sendRequest(request) << body;
  Poco::Net::HTTPResponse response;
  std::istream& in = session.receiveResponse(response);
  Answer answer;
  answer.status = response.getStatus();
  answer.content_type = response.getContentType();
  for (const auto& [name, value] : response) answer.headers[name] = value;
  answer.body.assign(std::istreambuf_iterator<char>(in), {});
  return answer;
}

// A registry of every sample, with one token per role, served on a free port.
class ServedRegistry {
 public:
  // `serve_extra` follows `serve`; `global_extra` (e.g. --plugins, --policy) precedes it.
  // `environment` is added to the server's.
  explicit ServedRegistry(std::vector<std::string> serve_extra = {},
                          std::vector<std::string> global_extra = {},
                          std::vector<std::pair<std::string, std::string>> environment = {}) {
    std::vector<std::string> import = {"--db", db(), "--as-of", kAsOf, "import", "--quiet"};
    for (const auto& entry : fs::directory_iterator(kSource / "samples")) {
      if (entry.path().filename().string().rfind('0', 0) == 0) import.push_back(entry.path());
    }
    std::sort(import.begin() + 6, import.end());
    auto imported = run_process(kIotreg, import);
    REQUIRE_MESSAGE(imported.exit_status == 1, imported.err);  // the samples hold bad records
    officer = token({"--role", "officer"});
    manufacturer = token({"--role", "manufacturer", "--manufacturer", kLumora});
    admin = token({"--role", "admin"});
    serve_arguments_ = {"--db", db(), "--as-of", kAsOf};
    serve_arguments_.insert(serve_arguments_.end(), global_extra.begin(), global_extra.end());
    serve_arguments_.insert(serve_arguments_.end(), {"serve", "--listen", "127.0.0.1:0"});
    serve_arguments_.insert(serve_arguments_.end(), serve_extra.begin(), serve_extra.end());
    environment_ = std::move(environment);
    port_ = spawn_server(server_);
  }

  // Starts another `iotreg serve` on this registry, with the same arguments, on a free port of
  // its own; returns the port. It is killed when this object ends.
  std::uint16_t serve_again() {
    others_.emplace_back();
    return spawn_server(others_.back());
  }
  // Where the registry is: of the run's backend (support/registry.h).
  std::string db() const { return registry_.location(); }
  std::uint16_t port() const { return port_; }
  ChildProcess& server() { return *server_; }
  const TempDir& dir() const { return dir_; }

  Answer request(const std::string& method, const std::string& target,
                 const std::string& bearer = "", const std::string& body = "",
                 const std::string& content_type = "") const {
    return request_at(port_, method, target, bearer, body, content_type);
  }
  // As request(), to the server on `port` (see serve_again()).
  Answer request_at(std::uint16_t port, const std::string& method, const std::string& target,
                    const std::string& bearer = "", const std::string& body = "",
                    const std::string& content_type = "") const {
    std::map<std::string, std::string> fields;
    if (!bearer.empty()) fields["Authorization"] = "Bearer " + bearer;
    if (!content_type.empty()) fields["Content-Type"] = content_type;
    return exchange(port, method, target, fields, body);
  }
  Answer get(const std::string& target, const std::string& bearer = "") const {
    return request("GET", target, bearer);
  }
  Answer post_json(const std::string& target, const std::string& bearer, const json& body) const {
    return request("POST", target, bearer, body.dump(), "application/json");
  }

  // What the CLI prints, for comparison with the API.
  ProcessResult cli(std::vector<std::string> arguments) const {
    arguments.insert(arguments.begin(), {"--db", db(), "--as-of", kAsOf});
    return run_process(kIotreg, arguments);
  }

  // A digest of everything stored, to show that a request changed nothing.
  std::string snapshot() const {
    RegistryProbe probe(db());
    std::ostringstream out;
    for (const char* table : {"products", "declaration_versions", "flags", "audit_events",
                              "import_runs", "tokens", "manufacturers"}) {
      auto digest = probe.digest(std::string("SELECT * FROM ") + table);
      out << table << ":" << digest.rows << ":" << digest.sum << ";";
    }
    return out.str();
  }

  std::string officer, manufacturer, admin;

 private:
  std::string token(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), {"--db", db(), "token", "create", "--name", "Test Holder"});
    auto created = run_process(kIotreg, arguments);
    REQUIRE_MESSAGE(created.exit_status == 0, created.err);
    return split_lines(created.out).back();
  }

  // Starts `iotreg serve` with serve_arguments_ into `server`; returns the port it listens on.
  std::uint16_t spawn_server(std::unique_ptr<ChildProcess>& server) {
    ProcessOptions options;
    options.stdout_path = dir_.file("serve" + std::to_string(++servers_started_) + ".out");
    options.environment = environment_;
    server = ChildProcess::spawn(kIotreg, serve_arguments_, options);
    const std::regex url(R"(serving http://127\.0\.0\.1:(\d+))");
    for (int i = 0; i < 500; ++i) {
      std::smatch match;
      std::string out = read_file(options.stdout_path);
      if (std::regex_search(out, match, url)) {
        return static_cast<std::uint16_t>(std::stoi(match[1]));
      }
      REQUIRE_MESSAGE(server->running(), server->error_so_far());
      std::this_thread::sleep_for(10ms);
    }
    FAIL("iotreg serve did not start within 5 s");
    return 0;
  }

  TempDir dir_;
  TestRegistry registry_{dir_};
  std::vector<std::string> serve_arguments_;
  std::vector<std::pair<std::string, std::string>> environment_;
  int servers_started_ = 0;
  std::unique_ptr<ChildProcess> server_;  // stopped before the registry goes
  std::vector<std::unique_ptr<ChildProcess>> others_;
  std::uint16_t port_ = 0;
};

// Sends raw bytes on a new connection and returns everything the server answers until it
// closes the connection or `wait` passes.
inline std::string raw_exchange(std::uint16_t port, const std::string& bytes,
                                std::chrono::seconds wait = 10s) {
  Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", port));
  socket.setReceiveTimeout(Poco::Timespan(static_cast<long>(wait.count()), 0));
  if (!bytes.empty()) socket.sendBytes(bytes.data(), static_cast<int>(bytes.size()));
  std::string answer;
  char buffer[4096];
  try {
    for (;;) {
      int got = socket.receiveBytes(buffer, sizeof buffer);
      if (got <= 0) break;
      answer.append(buffer, static_cast<std::size_t>(got));
    }
  } catch (const Poco::TimeoutException&) {
  }
  return answer;
}

inline int status_of(const std::string& raw) {
  if (raw.rfind("HTTP/1.", 0) != 0 || raw.size() < 12) return 0;
  return std::stoi(raw.substr(9, 3));
}

// The error envelope of a non-2xx JSON reply.
inline void check_envelope(const Answer& answer) {
  INFO(answer.body);
  auto body = answer.parsed();
  REQUIRE(body.is_object());
  REQUIRE(body.contains("error"));
  CHECK(body["error"]["status"] == answer.status);
  CHECK(body["error"]["code"].is_string());
  CHECK_FALSE(body["error"]["message"].get<std::string>().empty());
}

// The id of Lumora's LV-C210 (its manufacturer has a token of its own in every ServedRegistry).
inline std::string lumora_product(const ServedRegistry& served) {
  auto found = served.get("/api/v1/products?q=LV-C210", served.officer).parsed();
  REQUIRE(found["items"].size() == 1);
  return std::to_string(found["items"][0]["id"].get<std::int64_t>());
}

inline json first_flag(const ServedRegistry& served, const std::string& state) {
  auto flags = served.get("/api/v1/flags?state=" + state, served.officer).parsed();
  REQUIRE(!flags["items"].empty());
  return flags["items"][0];
}

}  // namespace iotreg::test
