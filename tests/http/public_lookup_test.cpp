// The consumers' lookup and the public pages' rate limit, over HTTP against `iotreg serve` on
// loopback: a GTIN of any length or a brand and model leads to the product's page, several
// products to a list, nothing to a "not registered" page that is never cached and is counted for
// officers (what was looked up, never who looked); bad parameters are 400 pages that say what is
// wrong. Clients come from addresses of their own (127.0.0.2, 127.0.0.3, ...: all of 127/8 is
// loopback), so that one client over its rate gets 429 with Retry-After while another client,
// and an officer from the very same address, are answered at once. Every exchange has a
// deadline.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <signal.h>

#include <atomic>
#include <fstream>
#include <future>
#include <set>

#include "http/served_registry.h"

namespace iotreg::test {
namespace {

using Clock = std::chrono::steady_clock;

// An HTTP/1.1 client on one kept connection from a loopback address of its own choosing.
class Client {
 public:
  Client(std::uint16_t port, const std::string& source) : port_(port), source_(source) {}
  ~Client() { disconnect(); }
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // One exchange within 10 s; reconnects when the server closed the connection.
  Answer get(const std::string& target, const std::map<std::string, std::string>& fields = {}) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (fd_ < 0) connect();
      std::string request = "GET " + target + " HTTP/1.1\r\nHost: registry\r\n";
      for (const auto& [name, value] : fields) request += name + ": " + value + "\r\n";
      request += "\r\n";
      if (::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
        if (auto answer = receive()) return *answer;
      }
      disconnect();  // closed by the server after its previous reply: once more
    }
    FAIL("no reply to GET " << target << " from " << source_);
    return {};
  }

 private:
  void connect() {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in local{};
    local.sin_family = AF_INET;
    REQUIRE(inet_pton(AF_INET, source_.c_str(), &local.sin_addr) == 1);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) == 0);
    sockaddr_in server{};
    server.sin_family = AF_INET;
    server.sin_port = htons(port_);
    server.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&server), sizeof server) == 0);
    buffer_.clear();
  }
  void disconnect() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // One whole reply (a head and a Content-Length body); nullopt when the connection ended first.
  std::optional<Answer> receive() {
    const auto deadline = Clock::now() + 10s;
    for (;;) {
      const std::size_t head_end = buffer_.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        Answer answer;
        std::istringstream head(buffer_.substr(0, head_end));
        std::string line;
        std::getline(head, line);
        answer.status = std::stoi(line.substr(9, 3));
        std::size_t length = 0;
        while (std::getline(head, line)) {
          if (!line.empty() && line.back() == '\r') line.pop_back();
          const std::size_t colon = line.find(':');
          if (colon == std::string::npos) continue;
          std::string name = line.substr(0, colon);
          std::transform(name.begin(), name.end(), name.begin(), ::tolower);
          std::string value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          answer.headers[name] = value;
          if (name == "content-length") length = std::stoul(value);
        }
        answer.content_type = answer.headers["content-type"];
        if (buffer_.size() >= head_end + 4 + length) {
          answer.body = buffer_.substr(head_end + 4, length);
          buffer_.erase(0, head_end + 4 + length);
          if (answer.headers["connection"] == "close") disconnect();
          return answer;
        }
      }
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) FAIL("no whole reply within 10 s: " << buffer_.substr(0, 300));
      pollfd poll_fd{fd_, POLLIN, 0};
      if (::poll(&poll_fd, 1, static_cast<int>(left.count())) <= 0) continue;
      char chunk[16384];
      const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
      if (got <= 0) return std::nullopt;
      buffer_.append(chunk, static_cast<std::size_t>(got));
    }
  }

  std::uint16_t port_;
  std::string source_;
  int fd_ = -1;
  std::string buffer_;
};

std::map<std::string, std::string> bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

std::string product_id(const ServedRegistry& served, const std::string& model) {
  auto found = served.get("/api/v1/products?limit=500", served.officer).parsed();
  for (const auto& item : found["items"]) {
    if (item["model"] == model) return std::to_string(item["id"].get<std::int64_t>());
  }
  FAIL("no product " << model);
  return "";
}

json unregistered(const ServedRegistry& served, const std::string& query = "") {
  auto answer = served.get("/api/v1/lookups/unregistered" + query, served.officer);
  INFO(answer.body);
  REQUIRE(answer.status == 200);
  return answer.parsed();
}

}  // namespace

TEST_SUITE("http.lookup") {
  TEST_CASE("http: a lookup by GTIN or by brand and model leads to the product's public page") {
    ServedRegistry served;
    const std::string lumora = product_id(served, "LV-C210");
    const std::string tx14 = product_id(served, "TX-14 Air");
    // GTIN-13, as 14 digits, printed with spaces; GTIN-12 (UPC-A); brand and model in any case
    // and spacing: each is a redirect to the one product's page, cacheable like the page.
    for (const auto& [target, id] : std::vector<std::pair<std::string, std::string>>{
             {"/public/lookup?gtin=5060412873017", lumora},
             {"/public/lookup?gtin=05060412873017", lumora},
             {"/public/lookup?gtin=5%20060412%20873017", lumora},
             {"/public/lookup?gtin=012345678011", tx14},
             {"/public/lookup?brand=lumora&model=lv-c210", lumora},
             {"/public/lookup?brand=%20LUMORA%20&model=LV-C210%09", lumora},
             {"/public/lookup?model=TX-14%20%20air&brand=Tessellate", tx14}}) {
      auto answer = served.get(target);
      INFO(target << ": " << answer.status << " " << answer.body.substr(0, 300));
      CHECK(answer.status == 302);
      CHECK(answer.headers["Location"] == "products/" + id);
      CHECK(answer.headers["Cache-Control"] == "public, max-age=60");
      CHECK(answer.body.empty());
    }
    // The relative Location resolves to the page the label's QR code opens.
    CHECK(served.get("/public/products/" + lumora).status == 200);

    // A GTIN-8, and a brand and model two manufacturers declare: a list of both, a 200 page.
    TempDir dir;
    const std::string more = dir.file("more.csv");
    std::ofstream(more) << "manufacturer.name,product.brand,product.model,product.gtin\n"
                           "Nimbus Devices Ltd,Nimbus,N-8,96385074\n"
                           "Grey Import Ltd,Tessellate,TX-14 Air,012345678011\n";
    auto imported = served.cli({"import", "--quiet", more});
    REQUIRE_MESSAGE(imported.exit_status == 0, imported.err);
    const std::string nimbus = product_id(served, "N-8");
    auto eight = served.get("/public/lookup?gtin=96385074");
    CHECK(eight.status == 302);
    CHECK(eight.headers["Location"] == "products/" + nimbus);
    for (const std::string target : {"/public/lookup?gtin=012345678011",
                                     "/public/lookup?brand=tessellate&model=tx-14%20air"}) {
      auto several = served.get(target);
      INFO(target << ": " << several.body.substr(0, 500));
      CHECK(several.status == 200);
      CHECK(several.content_type == "text/html; charset=utf-8");
      CHECK(several.body.find("href=\"products/" + tx14 + "\"") != std::string::npos);
      CHECK(several.body.find("Grey Import Ltd") != std::string::npos);
      CHECK(several.body.find("Tessellate Computing, Inc.") != std::string::npos);
      CHECK(several.headers["Cache-Control"] == "public, max-age=60");
      CHECK_FALSE(several.headers["ETag"].empty());
    }

    // Without parameters: the form, which submits to this page and nowhere else.
    auto form = served.get("/public/lookup");
    CHECK(form.status == 200);
    CHECK(form.body.find("<form method=\"get\" action=\"lookup\">") != std::string::npos);
    CHECK(form.body.find("name=\"gtin\"") != std::string::npos);
    CHECK(form.body.find("name=\"brand\"") != std::string::npos);
    CHECK(form.body.find("href=\"/accessibility\"") != std::string::npos);
    CHECK(form.headers["Content-Security-Policy"].find("form-action 'self'") != std::string::npos);
    CHECK(form.headers["Cache-Control"] == "public, max-age=60");
    auto again =
        exchange(served.port(), "GET", "/public/lookup", {{"If-None-Match", form.headers["ETag"]}});
    CHECK(again.status == 304);
  }

  TEST_CASE("http: bad lookup parameters are a 400 page saying what is wrong") {
    ServedRegistry served({"--public-rate", "0"});
    const std::string before = served.snapshot();
    const std::vector<std::pair<std::string, std::string>> refused = {
        {"/public/lookup?gtin=5060412873018", "wrong check digit (its last digit would be 7"},
        {"/public/lookup?gtin=506041287301", "wrong check digit"},
        {"/public/lookup?gtin=50604128730", "has 8, 12, 13 or 14 digits; this one has 11"},
        {"/public/lookup?gtin=506041287301A", "the 8, 12, 13 or 14 digits under the barcode, and"},
        {"/public/lookup?gtin=", "Enter the barcode number"},
        {"/public/lookup?gtin=%FF", "Enter the barcode number"},
        {"/public/lookup?brand=Lumora", "A lookup by brand needs the model too"},
        {"/public/lookup?model=LV-C210", "A lookup by model needs the brand too"},
        {"/public/lookup?brand=%20&model=LV-C210", "The brand is empty"},
        {"/public/lookup?brand=Lumora&model=%FE", "The model is not valid UTF-8"},
        {"/public/lookup?brand=Lumora&model=a%00b", "The model contains a NUL character"},
        {"/public/lookup?brand=" + std::string(201, 'x') + "&model=a",
         "The brand is longer than 200 characters"},
        {"/public/lookup?gtin=5060412873017&brand=Lumora&model=LV-C210", "not both"},
        {"/public/lookup?gtin=5060412873017&gtin=5060412873017", "Give the gtin once"},
        {"/public/lookup?q=camera", "This page takes gtin, or brand and model"},
    };
    for (const auto& [target, message] : refused) {
      auto answer = served.get(target);
      INFO(target << ": " << answer.body.substr(answer.body.find("<main>") + 0, 600));
      CHECK(answer.status == 400);
      CHECK(answer.content_type == "text/html; charset=utf-8");
      CHECK(answer.body.find(message) != std::string::npos);
      CHECK(answer.body.find("<form") != std::string::npos);
      CHECK(answer.headers["Cache-Control"] == "no-store");
      CHECK(answer.headers.count("ETag") == 0);
    }
    // What was entered is shown again, escaped.
    auto shown = served.get("/public/lookup?brand=%3Cscript%3E&model=");
    CHECK(shown.status == 400);
    CHECK(shown.body.find("value=\"&lt;script&gt;\"") != std::string::npos);
    CHECK(shown.body.find("<script>") == std::string::npos);
    // Hostile text is a page, never a failure, and changes nothing stored.
    for (const std::string value :
         {"%27%20OR%201%3D1%20--", "%22", "NEAR(a%20b)", "%E2%80%AE", "..%2F..%2Fetc%2Fpasswd",
          "%3Cscript%3Ealert(1)%3C%2Fscript%3E"}) {
      for (const std::string& target :
           {"/public/lookup?gtin=" + value, "/public/lookup?brand=" + value + "&model=" + value}) {
        auto answer = served.get(target);
        INFO(target);
        CHECK((answer.status == 400 || answer.status == 404));
        CHECK(answer.body.find("<script>") == std::string::npos);
      }
    }
    CHECK(served.snapshot() == before);
    CHECK(served.server().running());
  }

  TEST_CASE("http: a product not registered is a 404 page that is counted for officers") {
    ServedRegistry served;
    RegistryProbe probe(served.db());
    const std::int64_t events = probe.integer("SELECT count(*) FROM audit_events");
    auto missing = served.get("/public/lookup?gtin=4006381333931");
    CHECK(missing.status == 404);
    CHECK(missing.content_type == "text/html; charset=utf-8");
    CHECK(missing.body.find("Not in the register") != std::string::npos);
    CHECK(missing.body.find("No product with the barcode number 4006381333931 is registered") !=
          std::string::npos);
    CHECK(missing.body.find("It does not record who looked") != std::string::npos);
    CHECK(missing.headers["Cache-Control"] == "no-store");
    CHECK(missing.headers.count("ETag") == 0);
    // The same product by another spelling and in another length is one entry.
    CHECK(served.get("/public/lookup?gtin=04006381333931").status == 404);
    for (const std::string target :
         {"/public/lookup?brand=Nimbus&model=N-1", "/public/lookup?brand=%20NIMBUS&model=n-1",
          "/public/lookup?brand=nimbus&model=N-1%20", "/public/lookup?brand=Zeta&model=Z"}) {
      auto answer = served.get(target);
      CHECK(answer.status == 404);
      CHECK(answer.body.find("No product of the brand") != std::string::npos);
    }
    // Officers see the counts, most looked up first; the server writes them before answering.
    auto counts = unregistered(served);
    INFO(counts.dump());
    REQUIRE(counts["items"].size() == 3);
    CHECK(counts["next_cursor"].is_null());
    const json nimbus = counts["items"][0];
    CHECK(nimbus["kind"] == "brand_model");
    CHECK(nimbus["brand"] == "Nimbus");  // as first looked up
    CHECK(nimbus["model"] == "N-1");
    CHECK(nimbus["gtin"].is_null());
    CHECK(nimbus["lookups"] == 3);
    CHECK(nimbus["first_seen"].get<std::string>() <= nimbus["last_seen"].get<std::string>());
    const json gtin = counts["items"][1];
    CHECK(gtin["kind"] == "gtin");
    CHECK(gtin["gtin"] == "04006381333931");
    CHECK(gtin["brand"].is_null());
    CHECK(gtin["lookups"] == 2);
    std::set<std::string> keys;
    for (const auto& [key, value] : nimbus.items()) keys.insert(key);
    CHECK(keys == std::set<std::string>{"id", "kind", "gtin", "brand", "model", "lookups",
                                        "first_seen", "last_seen"});
    // Nothing about who looked is stored.
    for (const auto& row :
         probe.column("SELECT gtin || '|' || brand || '|' || model || '|' || first_seen || '|' || "
                      "last_seen FROM unregistered_lookups")) {
      CHECK(row.find("127.0.0.1") == std::string::npos);
    }
    // Pages, and those looked up since a day.
    auto first = unregistered(served, "?limit=2");
    REQUIRE(first["items"].size() == 2);
    REQUIRE(first["next_cursor"].is_string());
    auto second =
        unregistered(served, "?limit=2&cursor=" + first["next_cursor"].get<std::string>());
    REQUIRE(second["items"].size() == 1);
    CHECK(second["next_cursor"].is_null());
    std::set<std::int64_t> ids;
    for (const auto& page_json : {first, second}) {
      for (const auto& item : page_json["items"]) ids.insert(item["id"].get<std::int64_t>());
    }
    CHECK(ids.size() == 3);
    CHECK(unregistered(served, "?since=2999-01-01")["items"].empty());
    CHECK(unregistered(served, "?since=2000-01-01")["items"].size() == 3);
    for (const std::string bad : {"?limit=0", "?limit=501", "?since=yesterday", "?cursor=abc",
                                  "?cursor=Y2hhbmdlczo1", "?kind=gtin"}) {
      auto answer = served.get("/api/v1/lookups/unregistered" + bad, served.officer);
      INFO(bad << ": " << answer.body);
      CHECK(answer.status == 400);
      check_envelope(answer);
    }
    CHECK(served.get("/api/v1/lookups/unregistered", served.manufacturer).status == 403);
    CHECK(served.get("/api/v1/lookups/unregistered").status == 401);
    CHECK(served.get("/api/v1/lookups/unregistered", served.admin).status == 200);

    // The command line reads the same counts.
    auto listed = served.cli({"lookups", "--json"});
    REQUIRE_MESSAGE(listed.exit_status == 0, listed.err);
    const auto lines = split_lines(listed.out);
    REQUIRE(lines.size() == 3);
    CHECK(json::parse(lines[0]) == nimbus);
    auto table = served.cli({"lookups", "--since", "2000-01-01", "--limit", "1"});
    CHECK(table.exit_status == 0);
    CHECK(table.out.find("Nimbus") != std::string::npos);
    CHECK(table.out.find("04006381333931") == std::string::npos);
    CHECK(served.cli({"lookups", "--since", "1 May"}).exit_status == 2);

    // Counting lookups is not a change of the registry's state: no audit event.
    CHECK(probe.integer("SELECT count(*) FROM audit_events") == events);
  }

  TEST_CASE("http: a lookup that found nothing is written when the server stops") {
    ServedRegistry served({"--public-rate", "0"});
    CHECK(served.get("/public/lookup?brand=Nimbus&model=N-2").status == 404);
    served.server().kill(SIGTERM);
    auto ended = served.server().wait(20s);
    CHECK_MESSAGE(ended.exited, ended.describe());
    CHECK(ended.exit_status == 0);
    RegistryProbe probe(served.db());
    CHECK(probe.integer("SELECT lookups FROM unregistered_lookups WHERE brand = 'Nimbus'") == 1);
  }
}

TEST_SUITE("http.rate_limit") {
  TEST_CASE("http: a client over its rate gets 429 while others and officers are answered") {
    ServedRegistry served({"--public-rate", "1", "--public-burst", "5"});
    const std::string lumora = product_id(served, "LV-C210");
    const std::string page = "/public/products/" + lumora;
    Client scraper(served.port(), "127.0.0.2");
    std::vector<int> statuses;
    Answer refused;
    for (int i = 0; i < 8; ++i) {
      auto answer = scraper.get(i % 2 ? page : "/public/lookup?gtin=5060412873017");
      statuses.push_back(answer.status);
      if (answer.status == 429) refused = answer;
    }
    INFO(refused.body);
    // The burst of 5 is answered, then the bucket is empty (a token a second refills it).
    CHECK(std::count(statuses.begin(), statuses.begin() + 5, 429) == 0);
    CHECK(std::count(statuses.begin() + 5, statuses.end(), 429) >= 2);
    REQUIRE(refused.status == 429);
    const int retry_after = std::stoi(refused.headers["retry-after"]);
    CHECK(retry_after >= 1);
    CHECK(retry_after <= 2);
    CHECK(refused.headers["cache-control"] == "no-store");
    CHECK(refused.headers["connection"] == "keep-alive");
    const json body = json::parse(refused.body);
    CHECK(body["error"]["status"] == 429);
    CHECK(body["error"]["code"] == "too_many_requests");
    CHECK(body["error"]["message"].get<std::string>().find("1 a second") != std::string::npos);
    CHECK_FALSE(body["error"]["request_id"].get<std::string>().empty());
    CHECK(refused.body.size() < 400);
    // A percent-encoded path is the same page, and limited alike; so is an unknown one.
    CHECK(scraper.get("/%70ublic/products/" + lumora).status == 429);
    CHECK(scraper.get("/public/nothing").status == 429);
    // A header claiming another address is not believed without --trusted-proxy.
    CHECK(scraper.get(page, {{"X-Forwarded-For", "198.51.100.7"}}).status == 429);
    // Nor is a made-up token.
    CHECK(scraper.get(page, bearer("iotreg_" + std::string(64, 'f'))).status == 429);

    // Meanwhile another client, and an officer from the scraper's own address, are answered.
    Client neighbour(served.port(), "127.0.0.3");
    CHECK(neighbour.get(page).status == 200);
    Client officer(served.port(), "127.0.0.2");
    for (int i = 0; i < 10; ++i) {
      CHECK(officer.get(page, bearer(served.officer)).status == 200);
      CHECK(officer.get("/public/lookup?gtin=5060412873017", bearer(served.officer)).status == 302);
      CHECK(officer.get("/api/v1/products/" + lumora, bearer(served.officer)).status == 200);
    }
    // The web UI and /healthz are not limited.
    CHECK(scraper.get("/healthz").status == 200);
    CHECK(scraper.get("/").status == 200);

    // After Retry-After the scraper is answered again.
    std::this_thread::sleep_for(std::chrono::seconds(retry_after) + 100ms);
    CHECK(scraper.get(page).status == 200);
    CHECK(served.server().running());
  }

  TEST_CASE("http: a HEAD over its rate gets 429 without a body, and the connection goes on") {
    ServedRegistry served({"--public-rate", "0.01", "--public-burst", "1"});
    const std::string page = "/public/products/" + product_id(served, "LV-C210");
    // Three requests on one connection: the burst, a HEAD over it, a GET over it.
    const std::string raw =
        raw_exchange(served.port(), "HEAD " + page + " HTTP/1.1\r\nHost: x\r\n\r\nHEAD " + page +
                                        " HTTP/1.1\r\nHost: x\r\n\r\nGET " + page +
                                        " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto first_end = raw.find("\r\n\r\n");
    REQUIRE(first_end != std::string::npos);
    CHECK(status_of(raw) == 200);
    const std::string second = raw.substr(first_end + 4);
    CHECK(status_of(second) == 429);
    const auto second_end = second.find("\r\n\r\n");
    REQUIRE(second_end != std::string::npos);
    CHECK(second.substr(0, second_end).find("Retry-After: ") != std::string::npos);
    // Right after the HEAD's head comes the next answer, with its body.
    const std::string third = second.substr(second_end + 4);
    CHECK(status_of(third) == 429);
    CHECK(third.find("too_many_requests") != std::string::npos);
  }

  TEST_CASE("http: a scraper's flood does not slow officers' lookups") {
    ServedRegistry served({"--public-rate", "2", "--public-burst", "10"});
    const std::string lumora = product_id(served, "LV-C210");
    std::atomic<bool> stop{false};
    std::atomic<int> refused{0}, answered{0};
    std::vector<std::future<void>> scrapers;
    for (int i = 0; i < 4; ++i) {
      scrapers.push_back(std::async(std::launch::async, [&, i] {
        Client client(served.port(), "127.0.0.2");
        int id = 1 + i;
        while (!stop) {
          auto answer = client.get("/public/products/" + std::to_string(id++ % 80 + 1));
          (answer.status == 429 ? refused : answered)++;
        }
      }));
    }
    std::this_thread::sleep_for(300ms);
    Client officer(served.port(), "127.0.0.4");
    std::vector<double> latencies;
    for (int i = 0; i < 40; ++i) {
      const auto started = Clock::now();
      auto answer = officer.get("/api/v1/products/" + lumora, bearer(served.officer));
      latencies.push_back(std::chrono::duration<double>(Clock::now() - started).count());
      CHECK(answer.status == 200);
      auto page = officer.get("/public/products/" + lumora, bearer(served.officer));
      CHECK(page.status == 200);
    }
    stop = true;
    for (auto& scraper : scrapers) scraper.get();
    std::sort(latencies.begin(), latencies.end());
    INFO("answered " << answered << ", refused " << refused << "; officer's slowest "
                     << latencies.back() << " s, median " << latencies[latencies.size() / 2]);
    CHECK(refused > 10 * answered);
    CHECK(answered <= 40);
    CHECK(latencies[latencies.size() / 2] < 0.05);
    CHECK(latencies.back() < 0.5);
  }

  TEST_CASE("http: only a trusted proxy's X-Forwarded-For names the client") {
    ServedRegistry served(
        {"--public-rate", "0.5", "--public-burst", "2", "--trusted-proxy", "127.0.0.5/32"});
    Client proxy(served.port(), "127.0.0.5");
    auto through = [&](const std::string& forwarded_for) {
      return proxy.get("/public/lookup", {{"X-Forwarded-For", forwarded_for}}).status;
    };
    // Two consumers behind the proxy have a bucket each.
    CHECK(through("198.51.100.1") == 200);
    CHECK(through("198.51.100.1") == 200);
    CHECK(through("198.51.100.1") == 429);
    CHECK(through("198.51.100.2") == 200);
    // What the consumer wrote itself (the left of the list) is not believed: the proxy's entry
    // is the rightmost.
    CHECK(through("203.0.113.9, 198.51.100.1") == 429);
    // The proxy's own requests, without the header, are its own client.
    CHECK(proxy.get("/public/lookup").status == 200);
    // Another address's X-Forwarded-For is not believed.
    Client other(served.port(), "127.0.0.6");
    CHECK(other.get("/public/lookup", {{"X-Forwarded-For", "198.51.100.3"}}).status == 200);
    CHECK(other.get("/public/lookup", {{"X-Forwarded-For", "198.51.100.4"}}).status == 200);
    CHECK(other.get("/public/lookup", {{"X-Forwarded-For", "198.51.100.5"}}).status == 429);
  }

  TEST_CASE("http: the rate limit's options are checked and 0 turns it off") {
    ServedRegistry served({"--public-rate", "0"});
    Client client(served.port(), "127.0.0.7");
    int refused = 0;
    for (int i = 0; i < 150; ++i) refused += client.get("/public/lookup").status == 429 ? 1 : 0;
    CHECK(refused == 0);
    for (const auto& arguments :
         std::vector<std::vector<std::string>>{{"--public-rate", "-1"},
                                               {"--public-burst", "0"},
                                               {"--trusted-proxy", "10.0.0.0/33"},
                                               {"--trusted-proxy", "proxy.example"}}) {
      std::vector<std::string> command = {"--db", served.db(), "serve", "--listen", "127.0.0.1:0"};
      command.insert(command.end(), arguments.begin(), arguments.end());
      auto refused_start = run_process(kIotreg, command, {}, 20s);
      INFO(arguments[0] << " " << arguments[1] << ": " << refused_start.err);
      CHECK(refused_start.exit_status == 2);
    }
  }
}

}  // namespace iotreg::test
