// The officers' and manufacturers' web tools over HTTP: sessions (cookie, lifetimes, sign-out,
// revoked tokens, the rule against cross-site requests, several servers), multipart uploads,
// the audit log newest first with its filters, and the flag queue's filters and order.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <doctest/doctest.h>

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "http/served_registry.h"

namespace iotreg::test {
namespace {

// Signs in with `token`; answers the Set-Cookie field.
std::string sign_in(std::uint16_t port, const std::string& token) {
  auto answer = exchange(port, "POST", "/api/v1/session", {{"Content-Type", "application/json"}},
                         json{{"token", token}}.dump());
  INFO(answer.body);
  REQUIRE(answer.status == 201);
  REQUIRE(answer.headers.count("Set-Cookie") == 1);
  return answer.headers["Set-Cookie"];
}

// The "iotreg_session=..." pair of a Set-Cookie field, as a Cookie field sends it back.
std::string cookie_of(const std::string& set_cookie) {
  return set_cookie.substr(0, set_cookie.find(';'));
}

// A multipart/form-data body with one part.
std::string multipart(const std::string& boundary, const std::string& disposition,
                      const std::string& type, const std::string& content) {
  std::string body =
      "--" + boundary + "\r\nContent-Disposition: form-data; " + disposition + "\r\n";
  if (!type.empty()) body += "Content-Type: " + type + "\r\n";
  return body + "\r\n" + content + "\r\n--" + boundary + "--\r\n";
}

std::vector<std::int64_t> ids_of(const json& page) {
  std::vector<std::int64_t> ids;
  for (const auto& item : page["items"]) ids.push_back(item["id"].get<std::int64_t>());
  return ids;
}

}  // namespace

TEST_SUITE("http") {
  TEST_CASE("http: a session cookie stands for the token until sign-out and obeys the CSRF rule") {
    ServedRegistry served;
    const std::string set_cookie = sign_in(served.port(), served.officer);
    CHECK(std::regex_match(set_cookie, std::regex("iotreg_session=[0-9a-f]{64}; Path=/; HttpOnly; "
                                                  "SameSite=Strict; Max-Age=43200")));
    const std::string cookie = cookie_of(set_cookie);
    // The token is nowhere in the cookie.
    CHECK(set_cookie.find(served.officer.substr(7)) == std::string::npos);

    auto me =
        exchange(served.port(), "GET", "/api/v1/me", {{"Cookie", "a=1; " + cookie + "; b=2"}});
    REQUIRE(me.status == 200);
    CHECK(me.parsed()["role"] == "officer");
    CHECK(me.parsed()["actor"] == "Test Holder (officer, token 1)");
    // A bearer token, when sent, is what authenticates (here: the admin's).
    auto both = exchange(served.port(), "GET", "/api/v1/me",
                         {{"Cookie", cookie}, {"Authorization", "Bearer " + served.admin}});
    CHECK(both.parsed()["role"] == "admin");

    // A state-changing request signed in by the cookie needs X-Requested-With: without it,
    // 403 and nothing changes.
    const std::string before = served.snapshot();
    const std::string flag = std::to_string(first_flag(served, "raised")["id"].get<std::int64_t>());
    const std::string reason = json{{"reason", "checked on a test unit"}}.dump();
    auto forged = exchange(served.port(), "POST", "/api/v1/flags/" + flag + "/confirm",
                           {{"Cookie", cookie}, {"Content-Type", "application/json"}}, reason);
    CHECK(forged.status == 403);
    check_envelope(forged);
    CHECK(forged.parsed()["error"]["message"].get<std::string>().find("X-Requested-With") !=
          std::string::npos);
    CHECK(served.snapshot() == before);
    auto confirmed = exchange(
        served.port(), "POST", "/api/v1/flags/" + flag + "/confirm",
        {{"Cookie", cookie}, {"Content-Type", "application/json"}, {"X-Requested-With", "iotreg"}},
        reason);
    REQUIRE(confirmed.status == 200);
    CHECK(confirmed.parsed()["state"] == "confirmed");
    CHECK(confirmed.parsed()["history"].back()["actor"] == "Test Holder (officer, token 1)");

    // Sign-out ends the session on the server: the old cookie is refused afterwards.
    auto refused_out = exchange(served.port(), "DELETE", "/api/v1/session", {{"Cookie", cookie}});
    CHECK(refused_out.status == 403);
    auto out = exchange(served.port(), "DELETE", "/api/v1/session",
                        {{"Cookie", cookie}, {"X-Requested-With", "iotreg"}});
    REQUIRE(out.status == 200);
    CHECK(out.parsed()["ended"] == true);
    CHECK(out.headers["Set-Cookie"] ==
          "iotreg_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0");
    auto after = exchange(served.port(), "GET", "/api/v1/me", {{"Cookie", cookie}});
    CHECK(after.status == 401);
    check_envelope(after);
    CHECK(after.headers.count("WWW-Authenticate") == 1);
    // Signing out with a bearer token ends no session.
    auto bearer_out = exchange(served.port(), "DELETE", "/api/v1/session",
                               {{"Authorization", "Bearer " + served.officer}});
    CHECK(bearer_out.parsed()["ended"] == false);

    // Sign-in refuses what is not a valid token, precisely.
    const std::vector<std::pair<std::string, int>> bad = {
        {"", 400},
        {"{}", 400},
        {R"({"token": 7})", 400},
        {R"({"token": "iotreg_0"})", 401},
        {R"({"token": "x", "role": "admin"})", 400}};
    for (const auto& [body, status] : bad) {
      auto answer = exchange(served.port(), "POST", "/api/v1/session",
                             {{"Content-Type", "application/json"}}, body);
      INFO(body << ": " << answer.body);
      CHECK(answer.status == status);
      CHECK(answer.headers.count("Set-Cookie") == 0);
      check_envelope(answer);
    }
    // The Authorization field signs in as well.
    auto by_header = exchange(served.port(), "POST", "/api/v1/session",
                              {{"Authorization", "Bearer " + served.manufacturer}});
    REQUIRE(by_header.status == 201);
    CHECK(by_header.parsed()["manufacturer"] == kLumora);
  }

  TEST_CASE("http: a revoked token ends its sessions on every server of the registry") {
    ServedRegistry served;
    auto created = served.post_json("/api/v1/tokens", served.admin,
                                    {{"role", "officer"}, {"name", "Ola Nordmann"}});
    REQUIRE(created.status == 201);
    const std::string token = created.parsed()["token"];
    const std::string id = std::to_string(created.parsed()["id"].get<std::int64_t>());
    const std::string cookie = cookie_of(sign_in(served.port(), token));
    // A second server on the same registry knows the session.
    const std::uint16_t other = served.serve_again();
    CHECK(exchange(other, "GET", "/api/v1/me", {{"Cookie", cookie}}).status == 200);
    CHECK(exchange(served.port(), "GET", "/api/v1/flags", {{"Cookie", cookie}}).status == 200);
    REQUIRE(served.request("POST", "/api/v1/tokens/" + id + "/revoke", served.admin).status == 200);
    for (std::uint16_t port : {served.port(), other}) {
      auto answer = exchange(port, "GET", "/api/v1/flags", {{"Cookie", cookie}});
      CHECK(answer.status == 401);
    }
    // Signed out on one server, a session is over on the other too.
    const std::string second = cookie_of(sign_in(served.port(), served.officer));
    REQUIRE(exchange(other, "DELETE", "/api/v1/session",
                     {{"Cookie", second}, {"X-Requested-With", "iotreg"}})
                .status == 200);
    CHECK(exchange(served.port(), "GET", "/api/v1/me", {{"Cookie", second}}).status == 401);
  }

  TEST_CASE(
      "http: sessions end after their idle time and their lifetime and may be marked Secure") {
    ServedRegistry idle({"--session-idle-timeout", "1"});
    const std::string cookie = cookie_of(sign_in(idle.port(), idle.officer));
    CHECK(exchange(idle.port(), "GET", "/api/v1/me", {{"Cookie", cookie}}).status == 200);
    std::this_thread::sleep_for(2500ms);
    CHECK(exchange(idle.port(), "GET", "/api/v1/me", {{"Cookie", cookie}}).status == 401);

    ServedRegistry short_lived({"--session-lifetime", "2", "--secure-cookies"});
    const std::string set_cookie = sign_in(short_lived.port(), short_lived.officer);
    CHECK(set_cookie.find("; Max-Age=2; Secure") != std::string::npos);
    const std::string lived = cookie_of(set_cookie);
    CHECK(exchange(short_lived.port(), "GET", "/api/v1/me", {{"Cookie", lived}}).status == 200);
    std::this_thread::sleep_for(3s);
    CHECK(exchange(short_lived.port(), "GET", "/api/v1/me", {{"Cookie", lived}}).status == 401);
    // A cookie that was never issued, or is not even hex, is refused alike.
    for (const std::string& forged :
         {"iotreg_session=" + std::string(64, '0'), std::string("iotreg_session=../../x"),
          std::string("iotreg_session=")}) {
      auto answer = exchange(short_lived.port(), "GET", "/api/v1/me", {{"Cookie", forged}});
      INFO(forged);
      CHECK(answer.status == 401);
    }
  }

  TEST_CASE("http: declarations upload as multipart/form-data and bad multipart is 400") {
    ServedRegistry served({"--max-body", "1"});
    const std::string csv = read_file(kSource / "samples" / "01-lumora-vision.csv");
    const std::string boundary = "----iotreg-test-boundary";
    const std::map<std::string, std::string> as_manufacturer = {
        {"Authorization", "Bearer " + served.manufacturer},
        {"Content-Type", "multipart/form-data; boundary=" + boundary}};
    const std::string before = served.snapshot();

    auto dry =
        exchange(served.port(), "POST", "/api/v1/declarations?dry_run=true", as_manufacturer,
                 multipart(boundary, R"(name="file"; filename="lumora.csv")", "text/csv", csv));
    INFO(dry.body.substr(0, 400));
    REQUIRE(dry.status == 207);  // one record of the sample is rejected
    const json preview = dry.parsed();
    CHECK(preview["dry_run"] == true);
    CHECK(preview["format"] == "csv");
    CHECK(preview["counts"]["records"].get<int>() > 0);
    CHECK(served.snapshot() == before);

    // The format from the file name when the part's type says nothing; the file name becomes
    // the import's source in the audit log.
    auto real = exchange(served.port(), "POST", "/api/v1/declarations", as_manufacturer,
                         multipart(boundary, R"(name="file"; filename="lumora.csv")",
                                   "application/octet-stream", csv));
    REQUIRE(real.status == 207);
    CHECK(real.parsed()["counts"] == preview["counts"]);
    const auto run = real.parsed()["run_id"].get<std::int64_t>();
    auto audit = served.get("/api/v1/audit?limit=1", served.officer).parsed();
    CHECK(audit["items"][0]["action"] == "import");
    CHECK(audit["items"][0]["subject_id"] == run);
    CHECK(audit["items"][0]["details"]["source"] == "lumora.csv");

    const std::string after_import = served.snapshot();
    struct Bad {
      std::string content_type, body;
      int status;
      std::string message;
    };
    const std::string part =
        multipart(boundary, R"(name="file"; filename="a.csv")", "text/csv", csv);
    const std::vector<Bad> bad = {
        {"multipart/form-data", part, 400, "needs a boundary"},
        {"multipart/form-data; boundary=other", part, 400, "does not occur"},
        {"multipart/form-data; boundary=" + boundary,
         multipart(boundary, R"(name="note")", "", "hello"), 400, "is not a file"},
        {"multipart/form-data; boundary=" + boundary,
         "--" + boundary +
             "\r\nContent-Disposition: form-data; name=\"a\"; filename=\"a.csv\"\r\n\r\n" + csv +
             "\r\n--" + boundary + "\r\nContent-Disposition: form-data; name=\"b\"; " +
             "filename=\"b.csv\"\r\n\r\n" + csv + "\r\n--" + boundary + "--\r\n",
         400, "more than one file"},
        {"multipart/form-data; boundary=" + boundary,
         multipart(boundary, R"(name="file"; filename="notes.txt")", "", csv), 415, "notes.txt"},
        {"multipart/form-data; boundary=" + boundary,
         multipart(boundary, R"(name="file"; filename="empty.csv")", "text/csv", ""), 400, "empty"},
    };
    for (const auto& c : bad) {
      auto answer = exchange(
          served.port(), "POST", "/api/v1/declarations",
          {{"Authorization", "Bearer " + served.manufacturer}, {"Content-Type", c.content_type}},
          c.body);
      INFO(c.content_type << ": " << answer.body);
      CHECK(answer.status == c.status);
      check_envelope(answer);
      CHECK(answer.parsed()["error"]["message"].get<std::string>().find(c.message) !=
            std::string::npos);
    }
    // Over --max-body (1 MiB): 413, as for a raw body.
    const std::string huge = multipart(boundary, R"(name="file"; filename="big.csv")", "text/csv",
                                       std::string(2u << 20, 'x'));
    auto too_big = exchange(served.port(), "POST", "/api/v1/declarations", as_manufacturer, huge);
    CHECK(too_big.status == 413);
    // An officer may not upload, in any form.
    auto officer = exchange(served.port(), "POST", "/api/v1/declarations",
                            {{"Authorization", "Bearer " + served.officer},
                             {"Content-Type", "multipart/form-data; boundary=" + boundary}},
                            part);
    CHECK(officer.status == 403);
    CHECK(served.snapshot() == after_import);
  }

  TEST_CASE("http: the audit log lists the newest first by actor and by day page after page") {
    ServedRegistry served;
    for (int i = 0; i < 3; ++i) {
      REQUIRE(served
                  .post_json("/api/v1/tokens", served.admin,
                             {{"role", "officer"}, {"name", "Ola Nordmann"}})
                  .status == 201);
    }
    auto all = served.get("/api/v1/audit?limit=500", served.officer).parsed();
    const std::vector<std::int64_t> ids = ids_of(all);
    REQUIRE(ids.size() >= 4);
    CHECK(std::is_sorted(ids.rbegin(), ids.rend()));
    CHECK(all["items"][0]["action"] == "token.create");

    // Pages continue downwards without a gap or an overlap.
    std::vector<std::int64_t> paged;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      auto reply = served
                       .get("/api/v1/audit?limit=2" + (cursor.empty() ? "" : "&cursor=" + cursor),
                            served.officer)
                       .parsed();
      for (auto id : ids_of(reply)) paged.push_back(id);
      if (reply["next_cursor"].is_null()) break;
      cursor = reply["next_cursor"];
    }
    CHECK(paged == ids);

    const std::string admin_actor = served.get("/api/v1/me", served.admin).parsed()["actor"];
    // The actor has spaces and parentheses: sent percent-encoded.
    std::string encoded;
    for (char c : admin_actor) {
      if (std::isalnum(static_cast<unsigned char>(c))) {
        encoded += c;
      } else {
        char hex[4];
        std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned char>(c));
        encoded += hex;
      }
    }
    auto by_actor = served.get("/api/v1/audit?actor=" + encoded, served.officer).parsed();
    CHECK(ids_of(by_actor).size() == 3);
    for (const auto& event : by_actor["items"]) CHECK(event["actor"] == admin_actor);

    const std::string today = all["items"][0]["at"].get<std::string>().substr(0, 10);
    CHECK(
        ids_of(
            served.get("/api/v1/audit?limit=500&since=" + today + "&until=" + today, served.officer)
                .parsed())
            .size() >= 3);
    CHECK(served.get("/api/v1/audit?since=2999-01-01", served.officer).parsed()["items"].empty());
    CHECK(served.get("/api/v1/audit?until=2000-01-01", served.officer).parsed()["items"].empty());
    for (const char* bad :
         {"since=2026-02-30", "until=yesterday", "since=2026-12-02&until=2026-12-01",
          "since=2026-12-01&since=2026-12-02"}) {
      auto answer = served.get(std::string("/api/v1/audit?") + bad, served.officer);
      INFO(bad << ": " << answer.body);
      CHECK(answer.status == 400);
      check_envelope(answer);
    }
  }

  TEST_CASE("http: the flag queue filters by manufacturer and sorts by when flags were raised") {
    ServedRegistry served;
    auto all = served.get("/api/v1/flags?limit=500", served.officer).parsed();
    const std::vector<std::int64_t> oldest_first = ids_of(all);
    REQUIRE(oldest_first.size() >= 4);
    CHECK(std::is_sorted(oldest_first.begin(), oldest_first.end()));
    auto newest = served.get("/api/v1/flags?limit=500&sort=-raised_at", served.officer).parsed();
    CHECK(ids_of(newest) == std::vector<std::int64_t>(oldest_first.rbegin(), oldest_first.rend()));
    CHECK(ids_of(served.get("/api/v1/flags?limit=500&sort=raised_at", served.officer).parsed()) ==
          oldest_first);

    // Newest first, page by page; a cursor of one order is refused by the other.
    std::vector<std::int64_t> paged;
    std::string cursor;
    for (int page = 0; page < 100; ++page) {
      auto reply = served
                       .get("/api/v1/flags?limit=3&sort=-raised_at" +
                                (cursor.empty() ? "" : "&cursor=" + cursor),
                            served.officer)
                       .parsed();
      for (auto id : ids_of(reply)) paged.push_back(id);
      if (reply["next_cursor"].is_null()) break;
      cursor = reply["next_cursor"];
    }
    CHECK(paged == ids_of(newest));
    auto first_page = served.get("/api/v1/flags?limit=3&sort=-raised_at", served.officer).parsed();
    auto mixed =
        served.get("/api/v1/flags?limit=3&cursor=" + first_page["next_cursor"].get<std::string>(),
                   served.officer);
    CHECK(mixed.status == 400);

    // Part of the manufacturer's name, in any case.
    const std::string maker = all["items"][0]["manufacturer"];
    std::size_t expected = 0;
    for (const auto& flag : all["items"]) expected += flag["manufacturer"] == maker ? 1 : 0;
    std::string part = maker.substr(0, 5);
    for (char& c : part) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    auto by_maker =
        served.get("/api/v1/flags?limit=500&manufacturer=" + part, served.officer).parsed();
    REQUIRE(!by_maker["items"].empty());
    for (const auto& flag : by_maker["items"]) {
      std::string name = flag["manufacturer"];
      for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      CHECK(name.find(part) != std::string::npos);
    }
    CHECK(by_maker["items"].size() >= expected);
    CHECK(served.get("/api/v1/flags?manufacturer=no%20such%20maker", served.officer)
              .parsed()["items"]
              .empty());

    // A confirmed flag leaves the raised list.
    const auto raised = first_flag(served, "raised")["id"].get<std::int64_t>();
    REQUIRE(served
                .post_json("/api/v1/flags/" + std::to_string(raised) + "/confirm", served.officer,
                           {{"reason", "confirmed on a test unit"}})
                .status == 200);
    auto still =
        ids_of(served.get("/api/v1/flags?state=raised&limit=500", served.officer).parsed());
    CHECK(std::find(still.begin(), still.end(), raised) == still.end());

    for (const char* bad :
         {"sort=updated", "sort=", "manufacturer=%FF", "sort=-raised_at&sort=raised_at"}) {
      auto answer = served.get(std::string("/api/v1/flags?") + bad, served.officer);
      INFO(bad << ": " << answer.body);
      CHECK(answer.status == 400);
      check_envelope(answer);
    }
  }
}

}  // namespace iotreg::test
