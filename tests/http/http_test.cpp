// The HTTP server end to end: `iotreg serve` on a free loopback port over a registry of the
// bundled samples, driven by a real HTTP client. Every endpoint with every role, the documented
// replies, and hostile requests (injection strings, traversal, oversized, malformed and slow
// requests) that must neither crash the server, nor answer 500, nor change stored data.
#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeFormatter.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/StreamSocket.h>
#include <doctest/doctest.h>
#include <signal.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "http/served_registry.h"

namespace iotreg::test {

TEST_SUITE("http") {
  TEST_CASE("http: every endpoint answers every role as documented") {
    ServedRegistry served;
    const auto flag = first_flag(served, "raised");
    const std::string flag_id = std::to_string(flag["id"].get<std::int64_t>());
    const std::string own_product = lumora_product(served);
    const std::string csv = read_file(kSource / "samples" / "01-lumora-vision.csv");

    struct Case {
      std::string method, path_template, target, body, content_type;
      int none, officer, manufacturer, admin;
    };
    // Flag actions run in an order that keeps each answer meaningful: the officer confirms the
    // raised flag; the other roles are refused before the state matters.
    const std::vector<Case> cases = {
        {"GET", "/healthz", "/healthz", "", "", 200, 200, 200, 200},
        {"GET", "/metrics", "/metrics", "", "", 401, 200, 403, 200},
        {"GET", "/", "/", "", "", 200, 200, 200, 200},
        {"GET", "/assets/{file}", "/assets/app.js", "", "", 200, 200, 200, 200},
        {"GET", "/public/products/{id}", "/public/products/" + own_product, "", "", 200, 200, 200,
         200},
        {"GET", "/public/products/{id}/label.svg", "/public/products/" + own_product + "/label.svg",
         "", "", 200, 200, 200, 200},
        {"GET", "/accessibility", "/accessibility", "", "", 200, 200, 200, 200},
        {"GET", "/public/lookup", "/public/lookup", "", "", 200, 200, 200, 200},
        {"GET", "/api/v1/me", "/api/v1/me", "", "", 401, 200, 200, 200},
        {"POST", "/api/v1/session", "/api/v1/session", "", "", 400, 201, 201, 201},
        {"DELETE", "/api/v1/session", "/api/v1/session", "", "", 401, 200, 200, 200},
        {"GET", "/api/v1/products", "/api/v1/products", "", "", 401, 200, 200, 200},
        {"GET", "/api/v1/products/{id}", "/api/v1/products/" + own_product, "", "", 401, 200, 200,
         200},
        {"POST", "/api/v1/declarations", "/api/v1/declarations?dry_run=true", csv, "text/csv", 401,
         403, 207, 207},
        {"GET", "/api/v1/flags", "/api/v1/flags", "", "", 401, 200, 200, 200},
        {"POST", "/api/v1/flags/{id}/confirm", "/api/v1/flags/" + flag_id + "/confirm",
         R"({"reason":"checked"})", "application/json", 401, 200, 403, 403},
        {"POST", "/api/v1/flags/{id}/dismiss", "/api/v1/flags/" + flag_id + "/dismiss",
         R"({"reason":"checked"})", "application/json", 401, 200, 403, 403},
        {"GET", "/api/v1/checks", "/api/v1/checks", "", "", 401, 200, 200, 200},
        {"POST", "/api/v1/flags/{id}/lift", "/api/v1/flags/" + flag_id + "/lift",
         R"({"reason":"checked"})", "application/json", 401, 409, 403, 403},
        {"POST", "/api/v1/flags/actions", "/api/v1/flags/actions",
         R"({"action":"confirm","ids":[999999],"reason":"checked"})", "application/json", 401, 404,
         403, 403},
        {"GET", "/api/v1/changes", "/api/v1/changes", "", "", 401, 200, 200, 200},
        {"POST", "/api/v1/checks/run", "/api/v1/checks/run", R"({"dry_run":true})",
         "application/json", 401, 200, 403, 200},
        {"GET", "/api/v1/export", "/api/v1/export?format=csv", "", "", 401, 200, 200, 200},
        {"GET", "/api/v1/audit", "/api/v1/audit", "", "", 401, 200, 403, 200},
        {"GET", "/api/v1/stats", "/api/v1/stats", "", "", 401, 200, 200, 200},
        {"GET", "/api/v1/lookups/unregistered", "/api/v1/lookups/unregistered", "", "", 401, 200,
         403, 200},
        {"GET", "/api/v1/tokens", "/api/v1/tokens", "", "", 401, 403, 403, 200},
        {"POST", "/api/v1/tokens", "/api/v1/tokens", R"({"role":"officer","name":"Ola Nordmann"})",
         "application/json", 401, 403, 403, 201},
        {"POST", "/api/v1/tokens/{id}/revoke", "/api/v1/tokens/{new}/revoke", "", "", 401, 403, 403,
         200},
    };

    // Every operation of schemas/openapi.yaml is in the table, and nothing else.
    YAML::Node openapi = YAML::LoadFile((kSource / "schemas" / "openapi.yaml").string());
    std::set<std::string> documented, walked;
    for (const auto& path : openapi["paths"]) {
      for (const auto& operation : path.second) {
        std::string method = operation.first.as<std::string>();
        if (method == "parameters") continue;
        std::transform(method.begin(), method.end(), method.begin(), ::toupper);
        documented.insert(method + " " + path.first.as<std::string>());
      }
    }
    for (const auto& c : cases) walked.insert(c.method + " " + c.path_template);
    CHECK(documented == walked);

    std::int64_t revocable = 0;
    for (const auto& c : cases) {
      const std::vector<std::pair<std::string, std::string>> roles = {
          {"none", ""},
          {"officer", served.officer},
          {"manufacturer", served.manufacturer},
          {"admin", served.admin}};
      const int expected[] = {c.none, c.officer, c.manufacturer, c.admin};
      for (std::size_t r = 0; r < roles.size(); ++r) {
        std::string target = c.target;
        if (target.find("{new}") != std::string::npos) {
          // A fresh token to revoke for each role that may.
          auto created = served
                             .post_json("/api/v1/tokens", served.admin,
                                        {{"role", "officer"}, {"name", "Ola Nordmann"}})
                             .parsed();
          revocable = created["id"].get<std::int64_t>();
          target.replace(target.find("{new}"), 5, std::to_string(revocable));
        }
        auto answer = served.request(c.method, target, roles[r].second, c.body, c.content_type);
        INFO(c.method << " " << target << " as " << roles[r].first << ": " << answer.body);
        // A flag confirmed by the officer can then be dismissed by the officer: both 200.
        CHECK(answer.status == expected[r]);
        if (answer.status >= 400 && answer.content_type.find("json") != std::string::npos) {
          check_envelope(answer);
        }
        if (answer.status == 401) CHECK(answer.headers.count("WWW-Authenticate") == 1);
      }
    }
  }

  TEST_CASE("http: facets by class, failing check and flag state keep other values visible") {
    ServedRegistry served;
    auto every = served.get("/api/v1/products?limit=500", served.officer).parsed();
    const auto& items = every["items"];
    REQUIRE(items.size() == 74);
    // The expected counts of one dimension, from the products' JSON.
    auto count_by = [&](auto values_of) {
      std::map<std::string, std::uint64_t> counts;
      for (const auto& item : items) {
        for (const std::string& value : values_of(item)) ++counts[value];
      }
      return counts;
    };
    auto as_map = [](const json& object) {
      std::map<std::string, std::uint64_t> out;
      for (const auto& [key, value] : object.items()) out[key] = value.get<std::uint64_t>();
      return out;
    };
    auto classes = [](const json& item) { return std::vector<std::string>{item["class"]}; };
    auto failing = [](const json& item) {
      return item["failing_checks"].get<std::vector<std::string>>();
    };
    auto flag_states = [](const json& item) {
      return item["flag_state"].is_null() ? std::vector<std::string>{}
                                          : std::vector<std::string>{item["flag_state"]};
    };
    const auto& facets = every["facets"];
    CHECK(as_map(facets["class"]) == count_by(classes));
    CHECK(as_map(facets["failing_check"]) == count_by(failing));
    CHECK(as_map(facets["flag_state"]) == count_by(flag_states));
    REQUIRE(facets["class"].size() >= 3);
    REQUIRE(facets["failing_check"].size() >= 2);

    // Picking one class: its products only, but every class still counted, and the other
    // dimensions counted over the picked class.
    const std::string picked = facets["class"].begin().key();
    auto narrowed =
        served.get("/api/v1/products?limit=500&class=" + picked, served.officer).parsed();
    CHECK(narrowed["items"].size() == facets["class"][picked].get<std::uint64_t>());
    for (const auto& item : narrowed["items"]) CHECK(item["class"] == picked);
    CHECK(narrowed["facets"]["class"] == facets["class"]);
    std::uint64_t status_total = 0;
    for (const auto& [status, count] : narrowed["facets"]["status"].items()) {
      status_total += count.get<std::uint64_t>();
    }
    CHECK(status_total == narrowed["items"].size());
    // Picking a failing check keeps the others, counted over the rest of the query.
    const std::string check = facets["failing_check"].begin().key();
    auto by_check =
        served.get("/api/v1/products?limit=500&failing=" + check, served.officer).parsed();
    CHECK(by_check["items"].size() == facets["failing_check"][check].get<std::uint64_t>());
    CHECK(by_check["facets"]["failing_check"] == facets["failing_check"]);

    auto refused = served.get("/api/v1/products?class=cameras", served.officer);
    CHECK(refused.status == 400);
    CHECK(refused.parsed()["error"]["message"].get<std::string>().find(
              "class 'cameras' is not a product class (did you mean camera?)") == 0);
    refused = served.get("/api/v1/products?failing=no-such-check", served.officer);
    CHECK(refused.status == 400);
    CHECK(refused.parsed()["error"]["message"].get<std::string>().find(
              "failing 'no-such-check' is not a check in use") == 0);

    // The dashboard's figures follow the same filters.
    auto stats = served.get("/api/v1/stats", served.officer).parsed();
    CHECK(stats["total"] == 74);
    CHECK(as_map(stats["by_class"]) == count_by(classes));
    CHECK(as_map(stats["by_failing_check"]) == count_by(failing));
    std::map<std::string, std::uint64_t> non_compliant;
    for (const auto& item : items) {
      if (item["status"] == "non_compliant") ++non_compliant[item["manufacturer"]];
    }
    const auto& top = stats["noncompliant_by_manufacturer"];
    REQUIRE(top.size() == std::min<std::size_t>(10, non_compliant.size()));
    for (std::size_t i = 0; i < top.size(); ++i) {
      CHECK(top[i]["products"] == non_compliant[top[i]["manufacturer"]]);
      if (i > 0) CHECK(top[i - 1]["products"] >= top[i]["products"]);
    }
    const auto& requirements = stats["non_compliance_by_requirement"];
    REQUIRE(requirements.size() == facets["failing_check"].size());
    for (const auto& entry : requirements) {
      CHECK_FALSE(entry["requirement"].get<std::string>().empty());
      CHECK(entry["products"] == facets["failing_check"][entry["check"].get<std::string>()]);
    }
    auto flags = served.get("/api/v1/flags?limit=500", served.officer).parsed();
    std::uint64_t raised = 0;
    for (const auto& flag : flags["items"]) raised += flag["state"] == "raised" ? 1 : 0;
    CHECK(stats["flags_by_state"]["raised"] == raised);
    auto narrowed_stats = served.get("/api/v1/stats?class=" + picked, served.officer).parsed();
    CHECK(narrowed_stats["total"] == facets["class"][picked]);
    CHECK(narrowed_stats["by_class"] == stats["by_class"]);
    // Support ending per quarter counts the filtered products too.
    std::map<std::string, std::uint64_t> quarters;
    for (const auto& item : items) {
      if (item["class"] != picked || item["support_end"].is_null()) continue;
      const std::string end = item["support_end"];
      quarters[end.substr(0, 4) + "-Q" + std::to_string((std::stoi(end.substr(5, 2)) + 2) / 3)]++;
    }
    for (const auto& entry : narrowed_stats["support_end_by_quarter"]) {
      CAPTURE(entry["quarter"]);
      CHECK(entry["products"] == quarters[entry["quarter"].get<std::string>()]);
    }
  }

  TEST_CASE("http: product search with filters and facets and keyset pagination") {
    ServedRegistry served;
    // Every product exactly once, through pages of 7.
    std::vector<std::int64_t> ids;
    std::string target = "/api/v1/products?limit=7";
    json first_page;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = served.get(target, served.officer).parsed();
      if (pages == 0) first_page = page;
      CHECK(page["items"].size() <= 7);
      CHECK(page.contains("facets") == (pages == 0));
      for (const auto& item : page["items"]) ids.push_back(item["id"].get<std::int64_t>());
      if (page["next_cursor"].is_null()) break;
      target = "/api/v1/products?limit=7&cursor=" + page["next_cursor"].get<std::string>();
    }
    auto listed = served.cli({"products", "--json"});
    auto lines = split_lines(listed.out);
    REQUIRE(ids.size() == lines.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      CHECK(json::parse(lines[i])["id"] == ids[i]);
    }
    // Facets count the whole filter, not the page.
    std::uint64_t total = 0;
    for (const auto& [status, count] : first_page["facets"]["status"].items()) {
      auto cli = served.cli({"products", "--json", "--status", status});
      CHECK(split_lines(cli.out).size() == count.get<std::uint64_t>());
      total += count.get<std::uint64_t>();
    }
    CHECK(total == ids.size());

    // Filters match the CLI's.
    auto flagged = served.get("/api/v1/products?flagged=true&limit=500", served.officer).parsed();
    auto cli_flagged = served.cli({"products", "--json", "--flagged"});
    CHECK(flagged["items"].size() == split_lines(cli_flagged.out).size());
    for (const auto& item : flagged["items"]) CHECK(item["flagged"] == true);
    auto lumora =
        served.get("/api/v1/products?manufacturer=lumora%20vision%20ltd&limit=500", served.officer)
            .parsed();
    CHECK(!lumora["items"].empty());
    for (const auto& item : lumora["items"]) CHECK(item["manufacturer"] == kLumora);
    const std::string type = lumora["items"][0]["type"];
    auto typed =
        served
            .get("/api/v1/products?type=" + std::regex_replace(type, std::regex(" "), "%20"),
                 served.officer)
            .parsed();
    CHECK(typed["facets"]["type"].size() == 1);
    for (const auto& item : typed["items"]) CHECK(item["type"] == type);
    // Part of a name, and support end dates, as the CLI's options of the same names.
    for (const std::string& filters :
         {std::string("manufacturer=VISION"), std::string("support_ends_before=2028-01-01"),
          std::string("manufacturer=brightpath&support_ends_after=2029-06-30"),
          std::string("changed_since=2000-01-01")}) {
      CAPTURE(filters);
      auto filtered = served.get("/api/v1/products?limit=500&" + filters, served.officer).parsed();
      std::vector<std::string> cli_filters = {"products", "--json"};
      std::stringstream pairs(filters);
      for (std::string pair; std::getline(pairs, pair, '&');) {
        const auto equals = pair.find('=');
        cli_filters.push_back("--" +
                              std::regex_replace(pair.substr(0, equals), std::regex("_"), "-"));
        cli_filters.push_back(pair.substr(equals + 1));
      }
      auto cli_listed = split_lines(served.cli(cli_filters).out);
      REQUIRE_FALSE(cli_listed.empty());
      REQUIRE(filtered["items"].size() == cli_listed.size());
      for (std::size_t i = 0; i < cli_listed.size(); ++i) {
        CHECK(filtered["items"][i]["id"] == json::parse(cli_listed[i])["id"]);
      }
    }
    for (const char* name : {"support_ends_before", "support_ends_after", "changed_since"}) {
      auto refused =
          served.get(std::string("/api/v1/products?") + name + "=2028-13-01", served.officer);
      CHECK(refused.status == 400);
      CHECK(refused.parsed()["error"]["message"] ==
            std::string(name) + " must be a calendar date written YYYY-MM-DD");
    }
    auto searched = served.get("/api/v1/products?q=lumo", served.officer).parsed();
    CHECK(searched["items"].size() == lumora["items"].size());

    // Bad parameters are 400 with the reason, never 500.
    for (const char* bad :
         {"/api/v1/products?limit=0", "/api/v1/products?limit=501", "/api/v1/products?limit=x",
          "/api/v1/products?status=sold", "/api/v1/products?flagged=yes",
          "/api/v1/products?colour=red", "/api/v1/products?cursor=%%%",
          "/api/v1/products?cursor=bm9wZQ", "/api/v1/products?limit=5&limit=6"}) {
      auto answer = served.get(bad, served.officer);
      INFO(bad);
      CHECK(answer.status == 400);
      check_envelope(answer);
    }
    // A cursor of another list is refused.
    auto flags = served.get("/api/v1/flags?limit=1", served.officer).parsed();
    REQUIRE(flags["next_cursor"].is_string());
    CHECK(served
              .get("/api/v1/products?cursor=" + flags["next_cursor"].get<std::string>(),
                   served.officer)
              .status == 400);
  }

  TEST_CASE("http: a product in full is what show --json prints") {
    ServedRegistry served;
    for (const char* id : {"1", "30", "74"}) {
      auto answer = served.get(std::string("/api/v1/products/") + id, served.officer);
      REQUIRE(answer.status == 200);
      auto shown = served.cli({"show", id, "--json"});
      CHECK(answer.parsed() == json::parse(shown.out));
    }
    CHECK(served.get("/api/v1/products/99999", served.officer).status == 404);
    CHECK(served.get("/api/v1/products/abc", served.officer).status == 404);
    CHECK(served.get("/api/v1/products/-1", served.officer).status == 404);
  }

  TEST_CASE("http: a manufacturer token sees and submits only its own products") {
    ServedRegistry served;
    auto own = served.get("/api/v1/products?limit=500", served.manufacturer).parsed();
    REQUIRE(!own["items"].empty());
    std::set<std::int64_t> own_ids;
    for (const auto& item : own["items"]) {
      CHECK(item["manufacturer"] == kLumora);
      own_ids.insert(item["id"].get<std::int64_t>());
    }
    auto all = served.get("/api/v1/products?limit=500", served.officer).parsed();
    std::int64_t other = 0;
    for (const auto& item : all["items"]) {
      if (item["manufacturer"] != kLumora) other = item["id"].get<std::int64_t>();
    }
    REQUIRE(other != 0);
    CHECK(served.get("/api/v1/products/" + std::to_string(other), served.manufacturer).status ==
          404);
    CHECK(served.get("/api/v1/products/" + std::to_string(*own_ids.begin()), served.manufacturer)
              .status == 200);
    // Filtering for another manufacturer finds nothing rather than leaking.
    auto leak =
        served.get("/api/v1/products?manufacturer=Orrin%20Displays", served.manufacturer).parsed();
    CHECK(leak["items"].empty());
    auto exported = served.get("/api/v1/export?format=ndjson", served.manufacturer);
    CHECK(split_lines(exported.body).size() == own_ids.size());
    auto stats = served.get("/api/v1/stats", served.manufacturer).parsed();
    std::uint64_t counted = 0;
    for (const auto& [status, count] : stats["by_status"].items())
      counted += count.get<std::uint64_t>();
    CHECK(counted == own_ids.size());

    // A body for two manufacturers: Lumora's record is stored, the other's rejected by record.
    // Tessellate's first declaration, and the same renamed as a new product of Lumora's.
    json theirs =
        json::parse(split_lines(read_file(kSource / "samples" / "03-tessellate.jsonl"))[0]);
    json ours = theirs;
    ours["manufacturer"]["name"] = kLumora;
    ours["product"]["model"] = "LV-NEW1";
    std::string mixed = ours.dump() + "\n" + theirs.dump() + "\n";
    auto before_products = RegistryProbe(served.db()).integer("SELECT count(*) FROM products");
    auto answer = served.request("POST", "/api/v1/declarations", served.manufacturer, mixed,
                                 "application/x-ndjson");
    INFO(answer.body);
    REQUIRE(answer.status == 207);  // a partial success
    auto report = answer.parsed();
    CHECK(report["outcome"] == "partial");
    CHECK(report["counts"]["accepted"] == 1);
    CHECK(report["counts"]["rejected"] == 1);
    CHECK(report["counts"]["new_products"] == 1);
    REQUIRE(report["rejected"].size() == 1);
    CHECK(report["rejected"][0]["line"] == 2);
    CHECK(report["rejected"][0]["issues"][0]["field"] == "manufacturer.name");
    CHECK(report["rejected"][0]["issues"][0]["reason"].get<std::string>().find(kLumora) !=
          std::string::npos);
    CHECK(RegistryProbe(served.db()).integer("SELECT count(*) FROM products") ==
          before_products + 1);
    // The import is audited under the token.
    auto audit =
        served
            .get("/api/v1/audit?actor=Test%20Holder%20(manufacturer,%20token%202)", served.officer)
            .parsed();
    REQUIRE(!audit["items"].empty());
    CHECK(audit["items"].back()["action"] == "import");
  }

  TEST_CASE("http: an import reply lists the first 1000 rejected records and counts the rest") {
    ServedRegistry served;
    const std::string header = "manufacturer.name,product.brand,product.model\n";
    std::string rows;
    for (int i = 0; i < 1200; ++i) rows += ",,\n";
    const std::string before = served.snapshot();

    auto answer = served.request("POST", "/api/v1/declarations?dry_run=true", served.admin,
                                 header + "Cap Ltd,C,CAP-1\n" + rows, "text/csv");
    INFO(answer.body.substr(0, 2000));
    REQUIRE(answer.status == 207);
    json report = answer.parsed();
    CHECK(report["counts"]["records"] == 1201);
    CHECK(report["counts"]["rejected"] == 1200);
    REQUIRE(report["rejected"].size() == 1000);
    CHECK(report["rejected"][0]["line"] == 3);
    CHECK(report["rejected"].back()["line"] == 1002);
    CHECK(report["rejected_not_listed"] == 200);
    // The reply has exactly the members schemas/openapi.yaml documents, all required ones.
    YAML::Node schema = YAML::LoadFile(
        (kSource / "schemas" / "openapi.yaml").string())["components"]["schemas"]["ImportReport"];
    std::set<std::string> documented, required, replied;
    for (const auto& property : schema["properties"])
      documented.insert(property.first.as<std::string>());
    for (const auto& name : schema["required"]) required.insert(name.as<std::string>());
    for (const auto& [name, value] : report.items()) replied.insert(name);
    CHECK(replied == documented);
    CHECK(required == documented);

    // Nothing accepted: 422, with the same capped report in the envelope.
    auto refused =
        served.request("POST", "/api/v1/declarations", served.admin, header + rows, "text/csv");
    CHECK(refused.status == 422);
    json inside = refused.parsed()["error"]["report"];
    CHECK(inside["rejected"].size() == 1000);
    CHECK(inside["rejected_not_listed"] == 200);
    CHECK(inside["counts"]["rejected"] == 1200);

    // A record over the size limit ends the body there; what came before is judged.
    auto cut = served.request(
        "POST", "/api/v1/declarations?dry_run=true", served.admin,
        header + "Cap Ltd,C,CAP-2\nCap Ltd,C," + std::string((1 << 20) + 1, 'x') + "\n",
        "text/csv");
    REQUIRE(cut.status == 207);  // the body broke off: a partial success
    CHECK(cut.parsed()["outcome"] == "partial");
    CHECK(cut.parsed()["counts"]["accepted"] == 1);
    CHECK(cut.parsed()["file_error"] ==
          "line 3, column 3 (product.model): record longer than 1048576 bytes (the limit for one "
          "record); nothing from this record on was read");
    CHECK(served.snapshot() == before);
  }

  TEST_CASE("http: a charset on the Content-Type is honoured; an unknown one changes nothing") {
    ServedRegistry served;
    const std::string body =
        "manufacturer.name,product.brand,product.model\nDom\xF3tica S.L.,Dom\xF3tica,DC-9\n";
    const std::string before = served.snapshot();
    auto as_utf8 =
        served.request("POST", "/api/v1/declarations?dry_run=true", served.admin, body, "text/csv");
    REQUIRE(as_utf8.status == 422);
    CHECK(as_utf8.body.find("charset=windows-1252") != std::string::npos);
    auto unknown = served.request("POST", "/api/v1/declarations", served.admin, body,
                                  "text/csv; charset=koi8-r");
    CHECK(unknown.status == 415);
    CHECK(unknown.parsed()["error"]["message"] ==
          "charset 'koi8-r' is not supported (use utf-8, windows-1252)");
    CHECK(served.snapshot() == before);

    auto stored = served.request("POST", "/api/v1/declarations", served.admin, body,
                                 "text/csv; charset=Windows-1252");
    INFO(stored.body);
    REQUIRE(stored.status == 200);
    CHECK(stored.parsed()["counts"]["accepted"] == 1);
    auto found = served.get("/api/v1/products?q=DC-9", served.officer).parsed();
    REQUIRE(found["items"].size() == 1);
    CHECK(found["items"][0]["manufacturer"] == "Dom\u00F3tica S.L.");
  }

  TEST_CASE("http: declarations in every format and refused bodies that change nothing") {
    ServedRegistry served;
    struct Body {
      std::string file, content_type;
    };
    for (const Body& body : {Body{"05-autumn-2026-resubmissions.csv", "text/csv"},
                             Body{"03-tessellate.jsonl", "application/x-ndjson"},
                             Body{"01-kestrel-networks.yaml", "application/yaml"}}) {
      // Already imported, each record its product's latest version: nothing new.
      auto answer = served.request("POST", "/api/v1/declarations", served.admin,
                                   read_file(kSource / "samples" / body.file), body.content_type);
      INFO(body.file << ": " << answer.body);
      REQUIRE(answer.status == 207);
      auto report = answer.parsed();
      CHECK(report["counts"]["rejected"] == 1);  // each sample has one malformed record
      CHECK(report["counts"]["unchanged"] == report["counts"]["accepted"]);
      CHECK(report["run_id"].is_null());
    }
    // A JSON array of one new declaration: stored and judged.
    auto jsonl = split_lines(read_file(kSource / "samples" / "03-tessellate.jsonl"));
    json declaration = json::parse(jsonl[0]);
    declaration["product"]["model"] = "NEW-MODEL-1";
    auto answer = served.request("POST", "/api/v1/declarations", served.admin,
                                 json::array({declaration}).dump(), "application/json");
    INFO(answer.body);
    REQUIRE(answer.status == 200);
    CHECK(answer.parsed()["counts"]["new_products"] == 1);
    CHECK(answer.parsed()["run_id"].is_number());

    const std::string before = served.snapshot();
    json invalid = declaration;
    invalid["support"]["end_date"] = "2026-02-30";
    struct Refused {
      std::string body, content_type;
      int status;
    };
    for (const Refused& refused :
         {Refused{json::array({invalid}).dump(), "application/json", 422},
          Refused{"{\"not\": \"closed\"", "application/json", 422},
          Refused{"a,b\n1,2\n", "text/csv", 422}, Refused{"", "text/csv", 400},
          Refused{"x", "text/plain", 415}, Refused{"- [unbalanced", "application/yaml", 422}}) {
      auto refusal = served.request("POST", "/api/v1/declarations", served.admin, refused.body,
                                    refused.content_type);
      INFO(refused.content_type << " " << refused.body << ": " << refusal.body);
      CHECK(refusal.status == refused.status);
      check_envelope(refusal);
      if (refused.status == 422) CHECK(refusal.parsed()["error"].contains("report"));
    }
    auto report = served
                      .request("POST", "/api/v1/declarations", served.admin,
                               json::array({invalid}).dump(), "application/json")
                      .parsed();
    CHECK(report["error"]["report"]["rejected"][0]["issues"][0]["field"] == "support.end_date");
    CHECK(served.snapshot() == before);
  }

  TEST_CASE("http: the first page of flags counts every state within the token's scope") {
    ServedRegistry served;
    // Counted by the command line, state by state.
    auto cli_count = [&](std::vector<std::string> filters) {
      filters.insert(filters.begin(), {"flags", "--json"});
      return split_lines(served.cli(filters).out).size();
    };
    auto first = served.get("/api/v1/flags?state=raised&limit=1", served.officer).parsed();
    REQUIRE(first["counts"].is_object());
    for (const std::string state : {"raised", "withdrawn", "confirmed", "dismissed", "lifted"}) {
      CAPTURE(state);
      CHECK(first["counts"][state] == cli_count({"--state", state}));
    }
    CHECK(first["counts"]["raised"].get<std::size_t>() > 1);
    CHECK(first["counts"]["withdrawn"] == 1);  // HomeSpark HS-P01
    CHECK(first["counts"]["remedied"] == 0);
    // Further pages leave them out.
    auto second = served
                      .get("/api/v1/flags?state=raised&limit=1&cursor=" +
                               first["next_cursor"].get<std::string>(),
                           served.officer)
                      .parsed();
    CHECK_FALSE(second.contains("counts"));
    // A manufacturer counts its own products' flags only.
    auto own = served.get("/api/v1/flags", served.manufacturer).parsed();
    std::size_t own_total = 0;
    for (const std::string state : {"raised", "withdrawn", "confirmed", "dismissed", "lifted"}) {
      own_total += own["counts"][state].get<std::size_t>();
    }
    CHECK(own_total == own["items"].size());
    CHECK(own_total < cli_count({}));
  }

  TEST_CASE("http: confirming and dismissing flags with reasons in the audit log") {
    ServedRegistry served;
    auto flag = first_flag(served, "raised");
    const std::string id = std::to_string(flag["id"].get<std::int64_t>());
    const std::string base = "/api/v1/flags/" + id;
    const std::string before = served.snapshot();
    for (const auto& [body, status] :
         std::vector<std::pair<std::string, int>>{{"", 400},
                                                  {"{}", 400},
                                                  {R"({"reason":"   "})", 400},
                                                  {R"({"reason":7})", 400},
                                                  {R"({"reason":"ok","extra":1})", 400},
                                                  {R"({"reason":)", 400},
                                                  {R"(["reason"])", 400}}) {
      auto answer =
          served.request("POST", base + "/confirm", served.officer, body, "application/json");
      INFO(body << ": " << answer.body);
      CHECK(answer.status == status);
      check_envelope(answer);
    }
    CHECK(served.snapshot() == before);
    CHECK(served.post_json("/api/v1/flags/999999/confirm", served.officer, {{"reason", "x"}})
              .status == 404);

    auto confirmed = served.post_json(base + "/confirm", served.officer,
                                      {{"reason", "lab test: default password"}});
    REQUIRE(confirmed.status == 200);
    CHECK(confirmed.parsed()["state"] == "confirmed");
    auto again = served.post_json(base + "/confirm", served.officer, {{"reason", "twice"}});
    CHECK(again.status == 409);
    check_envelope(again);
    auto queue = served.get("/api/v1/flags?state=confirmed", served.officer).parsed();
    REQUIRE(queue["items"].size() == 1);
    CHECK(queue["items"][0]["id"] == flag["id"]);

    auto trail =
        served
            .get("/api/v1/audit?product=" + std::to_string(flag["product_id"].get<std::int64_t>()),
                 served.officer)
            .parsed();
    REQUIRE(!trail["items"].empty());
    const auto& event = trail["items"].front();  // newest first
    CHECK(event["action"] == "flag.confirm");
    CHECK(event["actor"] == "Test Holder (officer, token 1)");
    CHECK(event["details"]["reason"] == "lab test: default password");
    // The trail holds the import run that added its version and its own flag's events only.
    std::set<std::string> subjects;
    for (const auto& item : trail["items"]) {
      subjects.insert(item["subject_type"].get<std::string>());
      if (item["subject_type"] == "flag") CHECK(item["subject_id"] == flag["id"]);
    }
    CHECK(subjects.count("import_run") == 1);
    CHECK(subjects.count("flag") == 1);
    const auto other = flag["product_id"].get<std::int64_t>() == 1 ? 2 : 1;
    for (const auto& item :
         served.get("/api/v1/audit?product=" + std::to_string(other), served.officer)
             .parsed()["items"]) {
      CHECK(item["action"] != "flag.confirm");
    }
    // The same question as before the change is not answered from before the change.
    auto raised = served.get("/api/v1/flags?state=raised", served.officer).parsed();
    for (const auto& item : raised["items"]) CHECK(item["id"] != flag["id"]);
    // Nor after a change made by another process.
    const std::string product =
        "/api/v1/products/" + std::to_string(flag["product_id"].get<std::int64_t>());
    CHECK(served.get(product, served.officer).parsed()["flags"][0]["state"] == "confirmed");
    auto elsewhere = served.cli({"flag", "dismiss", id, "--reason", "appeal upheld"});
    REQUIRE(elsewhere.exit_status == 0);
    CHECK(served.get(product, served.officer).parsed()["flags"][0]["state"] == "dismissed");
    auto dismissed =
        served.post_json(base + "/dismiss", served.officer, {{"reason", "appeal upheld"}});
    CHECK(dismissed.status == 409);  // dismissed already, by the command line
    // The audit chain still verifies.
    auto verified = served.cli({"audit", "verify"});
    CHECK_MESSAGE(verified.exit_status == 0, (verified.out + verified.err));
    // Audit pagination walks every event once.
    std::set<std::int64_t> seen;
    std::string target = "/api/v1/audit?limit=2";
    for (int i = 0; i < 100; ++i) {
      auto page = served.get(target, served.admin).parsed();
      for (const auto& item : page["items"])
        CHECK(seen.insert(item["id"].get<std::int64_t>()).second);
      if (page["next_cursor"].is_null()) break;
      target = "/api/v1/audit?limit=2&cursor=" + page["next_cursor"].get<std::string>();
    }
    CHECK(static_cast<std::int64_t>(seen.size()) ==
          RegistryProbe(served.db()).integer("SELECT count(*) FROM audit_events"));
  }

  TEST_CASE("http: a preview through the API reports what the real run then does") {
    // Without what only a stored run has: its id, and the times of its changes.
    auto comparable = [](json report) {
      report.erase("dry_run");
      report.erase("run_id");
      for (auto& change : report["changed"]) change.erase("at");
      return report;
    };
    SUBCASE("an import: a re-declaration that withdraws a flag") {
      ServedRegistry served;
      const std::string body = read_file(kSource / "samples" / "03-orrin-displays.csv");
      const std::string before = served.snapshot();
      auto dry = served.request("POST", "/api/v1/declarations?dry_run=true", served.admin, body,
                                "text/csv");
      REQUIRE(dry.status == 207);  // one record of the sample is rejected
      CHECK(served.snapshot() == before);
      auto real = served.request("POST", "/api/v1/declarations", served.admin, body, "text/csv");
      REQUIRE(real.status == 207);
      CHECK(dry.parsed()["dry_run"] == true);
      CHECK(real.parsed()["run_id"].is_number_integer());
      CHECK(comparable(dry.parsed()) == comparable(real.parsed()));
      CHECK(real.parsed()["flags_withdrawn"] == 1);
      CHECK(real.parsed()["counts"]["new_versions"] == 1);
    }
    SUBCASE("a re-check under another policy: an officer previews, an admin applies") {
      ServedRegistry served({}, {"--policy", "psti-2023"});
      const std::string before = served.snapshot();
      auto dry = served.post_json("/api/v1/checks/run", served.officer, {{"dry_run", true}});
      REQUIRE(dry.status == 200);
      CHECK(served.snapshot() == before);
      auto refused = served.post_json("/api/v1/checks/run", served.officer, json::object());
      CHECK(refused.status == 403);
      auto real = served.post_json("/api/v1/checks/run", served.admin, json::object());
      REQUIRE(real.status == 200);
      CHECK(dry.parsed()["checked"] == 74);
      CHECK(dry.parsed()["status_changes"].get<int>() > 0);
      CHECK(comparable(dry.parsed()) == comparable(real.parsed()));
    }
  }

  TEST_CASE("http: checks and re-checks and export and statistics and metrics") {
    ServedRegistry served;
    auto checks = served.get("/api/v1/checks", served.officer).parsed();
    CHECK(checks["items"].size() == 7);
    CHECK(checks["policy"]["id"] == "dcms-2019");
    CHECK(checks["as_of"] == kAsOf);
    for (const auto& check : checks["items"])
      CHECK(check["plugin_sha256"].get<std::string>().size() == 64);

    auto dry =
        served.post_json("/api/v1/checks/run", served.admin, {{"all", true}, {"dry_run", true}});
    REQUIRE(dry.status == 200);
    CHECK(dry.parsed()["checked"] == 74);
    CHECK(dry.parsed()["status_changes"] == 0);
    auto bad = served.post_json("/api/v1/checks/run", served.admin, {{"all", "yes"}});
    CHECK(bad.status == 400);

    auto csv = served.get("/api/v1/export?format=csv&status=compliant", served.officer);
    REQUIRE(csv.status == 200);
    CHECK(csv.content_type.find("text/csv") == 0);
    auto rows = split_lines(csv.body);
    auto cli = served.cli({"products", "--csv", "--status", "compliant"});
    CHECK(rows == split_lines(cli.out));
    auto ndjson = served.get("/api/v1/export", served.officer);
    auto cli_json = served.cli({"products", "--json"});
    CHECK(ndjson.body == cli_json.out);
    CHECK(served.get("/api/v1/export?format=xml", served.officer).status == 400);
    // bom=true: the same CSV after a UTF-8 byte-order mark (for Excel); CSV only.
    auto marked = served.get("/api/v1/export?format=csv&status=compliant&bom=true", served.officer);
    REQUIRE(marked.status == 200);
    CHECK(marked.body == "\xEF\xBB\xBF" + csv.body);
    CHECK(served.get("/api/v1/export?format=csv&bom=yes", served.officer).status == 400);
    auto marked_json = served.get("/api/v1/export?bom=true", served.officer);
    CHECK(marked_json.status == 400);
    CHECK(marked_json.parsed()["error"]["message"] == "bom applies to format=csv only");

    auto stats = served.get("/api/v1/stats", served.officer).parsed();
    std::uint64_t total = 0;
    for (const auto& [status, count] : stats["by_status"].items())
      total += count.get<std::uint64_t>();
    CHECK(total == 74);
    REQUIRE(stats["support_end_by_quarter"].size() == 12);
    CHECK(stats["support_end_by_quarter"][0]["quarter"] == "2026-Q4");
    CHECK(stats["support_end_by_quarter"][11]["quarter"] == "2029-Q3");
    // The quarter counts agree with the declared end dates.
    RegistryProbe probe(served.db());
    CHECK(stats["support_end_by_quarter"][4]["products"] ==
          probe.integer("SELECT count(*) FROM products WHERE support_end BETWEEN '2027-10-01' "
                        "AND '2027-12-31'"));

    // A request is counted once its reply has been sent, which the client may see first: the
    // counts are awaited, for at most 5 s.
    const std::string stats_counted =
        "iotreg_http_requests_total{route=\"/api/v1/stats\",status=\"200\"} 1";
    const std::string exports_counted =
        "iotreg_http_request_duration_seconds_count{route=\"/api/v1/export\"} 6";
    Answer metrics;
    for (const auto deadline = std::chrono::steady_clock::now() + 5s;;) {
      metrics = served.get("/metrics", served.admin);
      const bool counted = metrics.body.find(stats_counted) != std::string::npos &&
                           metrics.body.find(exports_counted) != std::string::npos;
      if (counted || std::chrono::steady_clock::now() > deadline) break;
      std::this_thread::sleep_for(20ms);
    }
    CHECK(metrics.content_type.find("text/plain") == 0);
    CHECK(metrics.body.find(stats_counted) != std::string::npos);
    CHECK(metrics.body.find(exports_counted) != std::string::npos);
    CHECK(metrics.body.find("iotreg_products{status=\"compliant\"} " +
                            std::to_string(stats["by_status"]["compliant"].get<int>())) !=
          std::string::npos);
  }

  TEST_CASE("http: a plugin disabled for faulting in one import judges the next one again") {
    TempDir setup;
    write_file(setup.file("policy.yaml"),
               "id: hostile-policy\nregime: prohibition\nchecks:\n  hostile: {level: mandatory}\n");
    const std::string plugins =
        fs::canonical(fs::path(IOTREG_CHECK_FIXTURES) / "hostile-segfault").string();
    ServedRegistry served({}, {"--plugins", plugins, "--policy", setup.file("policy.yaml")});
    // Products of brands A to J all make the untrusted plugin crash: after 8 it is disabled.
    const std::string header = "manufacturer.name,product.brand,product.model\n";
    auto rows = [](int first, int last, const std::string& model) {
      std::string body;
      for (int i = first; i <= last; ++i) {
        body += "Hostile Test Ltd,Brand" + std::string(1, static_cast<char>('A' + i - 1)) + "," +
                model + "\n";
      }
      return body;
    };
    auto message_of = [&](const std::string& brand) {
      auto found = served.get("/api/v1/products?q=" + brand, served.officer).parsed();
      REQUIRE(found["items"].size() == 1);
      auto product = served
                         .get("/api/v1/products/" +
                                  std::to_string(found["items"][0]["id"].get<std::int64_t>()),
                              served.officer)
                         .parsed();
      REQUIRE(product["findings"].size() == 1);
      return product["status"].get<std::string>() + ": " +
             product["findings"][0]["message"].get<std::string>();
    };
    auto first = served.request("POST", "/api/v1/declarations", served.admin,
                                header + rows(1, 10, "trigger"), "text/csv");
    REQUIRE_MESSAGE(first.status == 200, first.body);
    const std::string crashed =
        "check_error: the plugin fixture.hostile-segfault crashed with "
        "SIGSEGV while judging this declaration";
    const std::string brand_a = message_of("BrandA");
    CHECK_MESSAGE(brand_a == crashed, brand_a);
    const std::string brand_j = message_of("BrandJ");
    CHECK_MESSAGE(brand_j.find("was disabled for the rest of the run") != std::string::npos,
                  brand_j);
    // The next import is a new run: the plugin judges again.
    auto next = served.request("POST", "/api/v1/declarations", served.admin,
                               header + rows(11, 11, "trigger") + rows(12, 12, "fine"), "text/csv");
    REQUIRE_MESSAGE(next.status == 200, next.body);
    const std::string brand_k = message_of("BrandK");
    CHECK_MESSAGE(brand_k == crashed, brand_k);
    CHECK(message_of("BrandL") == "compliant: fixture check passed");
  }

  TEST_CASE("http: serve leaves no check worker behind when it stops") {
    TempDir setup;
    write_file(setup.file("policy.yaml"),
               "id: hostile-policy\nregime: prohibition\ndeadline_ms: 300\nchecks:\n"
               "  hostile: {level: mandatory}\n");
    const std::string plugins =
        fs::canonical(fs::path(IOTREG_CHECK_FIXTURES) / "hostile-hang").string();
    const std::string mark =
        "serve-" + std::to_string(::getpid()) + "-" + setup.path().filename().string();
    ServedRegistry served({}, {"--plugins", plugins, "--policy", setup.file("policy.yaml")},
                          {{"IOTREG_TEST_MARK", mark}});
    auto imported =
        served.request("POST", "/api/v1/declarations", served.admin,
                       "manufacturer.name,product.brand,product.model\nHang Test Ltd,Hang,trigger\n"
                       "Hang Test Ltd,Hang,fine\n",
                       "text/csv");
    REQUIRE_MESSAGE(imported.status == 200, imported.body);
    CHECK(imported.parsed()["statuses"]["check_error"] == 1);
    // The server and the workers it keeps for the next import.
    CHECK(processes_with_environment("IOTREG_TEST_MARK", mark).size() >= 2);
    served.server().kill(SIGTERM);
    auto stopped = served.server().wait(std::chrono::seconds(30));
    CHECK_MESSAGE(stopped.exit_status == 0, stopped.describe() << "\n" << stopped.err);
    CHECK(processes_with_environment("IOTREG_TEST_MARK", mark).empty());
  }

  TEST_CASE("http: tokens over the API and revoked tokens are refused") {
    ServedRegistry served;
    auto created = served.post_json(
        "/api/v1/tokens", served.admin,
        {{"role", "manufacturer"}, {"name", "Lena Lumora"}, {"manufacturer", kLumora}});
    REQUIRE(created.status == 201);
    CHECK(created.parsed()["holder"] == "Lena Lumora");
    const std::string token = created.parsed()["token"];
    CHECK(token.rfind("iotreg_", 0) == 0);
    auto me = served.get("/api/v1/me", token).parsed();
    CHECK(me["role"] == "manufacturer");
    CHECK(me["manufacturer"] == kLumora);
    auto listed = served.get("/api/v1/tokens", served.admin).parsed();
    CHECK(listed["items"].size() == 4);
    CHECK(listed.dump().find(token) == std::string::npos);
    for (const auto& bad : {json{{"role", "king"}}, json{{"role", "manufacturer"}},
                            json{{"role", "officer"}, {"expires", "2020-01-01"}},
                            json{{"role", "officer"}, {"owner", "me"}}}) {
      CHECK(served.post_json("/api/v1/tokens", served.admin, bad).status == 400);
    }
    const std::string id = std::to_string(created.parsed()["id"].get<std::int64_t>());
    CHECK(served.request("POST", "/api/v1/tokens/" + id + "/revoke", served.admin).status == 200);
    CHECK(served.request("POST", "/api/v1/tokens/" + id + "/revoke", served.admin).status == 409);
    CHECK(served.get("/api/v1/me", token).status == 401);
    CHECK(served.get("/api/v1/me", "iotreg_" + std::string(64, '0')).status == 401);
    CHECK(served.request("GET", "/api/v1/me", "", "", "").status == 401);
    Poco::Net::HTTPClientSession session("127.0.0.1", served.port());
    Poco::Net::HTTPRequest basic("GET", "/api/v1/me", Poco::Net::HTTPMessage::HTTP_1_1);
    basic.set("Authorization", "Basic dXNlcjpwYXNz");
    session.sendRequest(basic);
    Poco::Net::HTTPResponse response;
    session.receiveResponse(response);
    CHECK(response.getStatus() == 401);
  }

  TEST_CASE("http: the public page and the label need no token") {
    ServedRegistry served;
    const std::string id = lumora_product(served);
    auto page = served.get("/public/products/" + id);
    REQUIRE(page.status == 200);
    CHECK(page.content_type.find("text/html") == 0);
    CHECK(page.body.find("LV-C210") != std::string::npos);
    CHECK(page.headers["Content-Security-Policy"].find("default-src 'none'") == 0);
    auto label = served.get("/public/products/" + id + "/label.svg");
    REQUIRE(label.status == 200);
    CHECK(label.content_type == "image/svg+xml");
    CHECK(label.body.find("<svg") != std::string::npos);
    auto missing = served.get("/public/products/424242");
    CHECK(missing.status == 404);
    CHECK(missing.content_type.find("text/html") == 0);
    CHECK(served.get("/public/products/424242/label.svg").status == 404);
    auto ui = served.get("/");
    CHECK(ui.status == 200);
    CHECK(ui.headers["Content-Security-Policy"].find("default-src 'self'") == 0);
  }

  TEST_CASE("http: the accessibility statement is public and every page's footer links to it") {
    ServedRegistry served({"--public-max-age", "120"});
    const std::string id = lumora_product(served);
    auto statement = served.get("/accessibility");
    REQUIRE(statement.status == 200);
    CHECK(statement.content_type == "text/html; charset=utf-8");
    // The product page's policy and caching: no script, nothing from elsewhere.
    auto page = served.get("/public/products/" + id);
    REQUIRE(page.status == 200);
    CHECK(statement.headers["Content-Security-Policy"] == page.headers["Content-Security-Policy"]);
    CHECK(statement.headers["Cache-Control"] == "public, max-age=120");
    CHECK(statement.body.find("<script") == std::string::npos);
    // The sections of a GOV.UK accessibility statement, with a contact and a date.
    for (const std::string part :
         {"<title>Accessibility statement", "<h1>Accessibility statement for", "Using this service",
          "How accessible this service is", "Feedback and contact information",
          "Reporting accessibility problems", "href=\"mailto:", "Enforcement procedure",
          "Equality and Human Rights Commission", "Equality Advisory and Support Service",
          "Technical information about", "Compliance status",
          "Web Content Accessibility Guidelines version 2.2", "Non-accessible content",
          "Preparation of this accessibility statement", "This statement was prepared on",
          "axe-core", "320 CSS pixels", "keyboard"}) {
      CAPTURE(part);
      CHECK(statement.body.find(part) != std::string::npos);
    }
    // The query is ignored; a POST is refused.
    CHECK(served.get("/accessibility?from=label").body == statement.body);
    CHECK(served.request("POST", "/accessibility", "", "", "").status == 405);
    // Linked from the footer of every public page and of the web UI.
    const std::string link = "<a href=\"/accessibility\">Accessibility statement</a>";
    CHECK(page.body.find(link) != std::string::npos);
    CHECK(statement.body.find(link) != std::string::npos);
    CHECK(served.get("/public/products/424242").body.find(link) != std::string::npos);
    CHECK(served.get("/").body.find("href=\"/accessibility\"") != std::string::npos);
  }

  TEST_CASE("http: pages and replies carry an ETag, and If-None-Match gets 304 until they change") {
    ServedRegistry served({"--public-max-age", "120"});
    const auto flag = first_flag(served, "raised");
    const std::string page = "/public/products/" + std::to_string(flag["product_id"].get<int>());
    for (const std::string& target : {page, page + "/label.svg"}) {
      CAPTURE(target);
      auto first = served.get(target);
      REQUIRE(first.status == 200);
      const std::string etag = first.headers["ETag"];
      CHECK(std::regex_match(etag, std::regex(R"("[0-9a-f]{16}")")));
      CHECK(first.headers["Cache-Control"] == "public, max-age=120");
      // The same bytes, the same tag.
      CHECK(served.get(target).headers["ETag"] == etag);
      for (const std::string& names : {etag, "W/" + etag, "\"other\", " + etag, std::string("*")}) {
        CAPTURE(names);
        auto again = exchange(served.port(), "GET", target, {{"If-None-Match", names}});
        CHECK(again.status == 304);
        CHECK(again.body.empty());
        CHECK(again.headers["ETag"] == etag);
        CHECK(again.headers.count("Content-Length") == 0);
      }
      CHECK(exchange(served.port(), "GET", target, {{"If-None-Match", "\"other\""}}).status == 200);
    }
    // A confirmed prohibition changes the page, so the old tag no longer matches.
    const std::string old_tag = served.get(page).headers["ETag"];
    REQUIRE(served
                .post_json("/api/v1/flags/" + std::to_string(flag["id"].get<int>()) + "/confirm",
                           served.officer, {{"reason", "stop notice served"}})
                .status == 200);
    auto changed = exchange(served.port(), "GET", page, {{"If-None-Match", old_tag}});
    CHECK(changed.status == 200);
    CHECK(changed.headers["ETag"] != old_tag);
    CHECK(changed.body.find("Sale prohibited") != std::string::npos);

    // The API revalidates privately; a POST is never answered 304.
    auto product = served.get("/api/v1/products/" + std::to_string(flag["product_id"].get<int>()),
                              served.officer);
    REQUIRE(product.status == 200);
    CHECK(product.headers["Cache-Control"] == "private, no-cache");
    auto same = exchange(served.port(), "GET",
                         "/api/v1/products/" + std::to_string(flag["product_id"].get<int>()),
                         {{"Authorization", "Bearer " + served.officer},
                          {"If-None-Match", product.headers["ETag"]}});
    CHECK(same.status == 304);
    auto unauthorised =
        exchange(served.port(), "GET", "/api/v1/products/1", {{"If-None-Match", "*"}});
    CHECK(unauthorised.status == 401);
  }

  TEST_CASE(
      "http: public pages carry Last-Modified, and If-Modified-Since gets 304 until a change") {
    ServedRegistry served;
    const auto flag = first_flag(served, "raised");
    const std::string page = "/public/products/" + std::to_string(flag["product_id"].get<int>());
    auto time_of = [](const std::string& http_date) {
      Poco::DateTime parsed;
      int zone = 0;
      REQUIRE(Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::HTTP_FORMAT, http_date, parsed,
                                             zone));
      return parsed.timestamp().epochTime();
    };
    auto http_date = [](std::time_t time) {
      return Poco::DateTimeFormatter::format(Poco::Timestamp::fromEpochTime(time),
                                             Poco::DateTimeFormat::HTTP_FORMAT);
    };
    std::string last_modified;
    for (const std::string& target : {page, page + "/label.svg"}) {
      CAPTURE(target);
      auto first = served.get(target);
      REQUIRE(first.status == 200);
      REQUIRE(first.headers.count("Last-Modified") == 1);
      last_modified = first.headers["Last-Modified"];
      const std::time_t modified = time_of(last_modified);
      CHECK(modified <= time_of(first.headers["Date"]));
      CHECK(http_date(modified) == last_modified);  // an IMF-fixdate
      auto same = exchange(served.port(), "GET", target, {{"If-Modified-Since", last_modified}});
      CHECK(same.status == 304);
      CHECK(same.body.empty());
      CHECK(same.headers["Last-Modified"] == last_modified);
      CHECK(same.headers["ETag"] == first.headers["ETag"]);
      // Modified since a second before; a date that is no date, or one still to come, is
      // ignored; If-None-Match, when sent, decides alone.
      for (const auto& [since, none_match] :
           std::vector<std::pair<std::string, std::string>>{{http_date(modified - 1), ""},
                                                            {"yesterday", ""},
                                                            {"Fri, 01 Jan 2100 00:00:00 GMT", ""},
                                                            {last_modified, "\"other\""}}) {
        CAPTURE(since);
        std::map<std::string, std::string> fields = {{"If-Modified-Since", since}};
        if (!none_match.empty()) fields["If-None-Match"] = none_match;
        auto answer = exchange(served.port(), "GET", target, fields);
        CHECK(answer.status == 200);
        CHECK(answer.body == first.body);
      }
    }
    // A confirmed prohibition is a change of the registry: a copy from before it is stale.
    std::this_thread::sleep_for(1100ms);  // Last-Modified counts whole seconds
    REQUIRE(served
                .post_json("/api/v1/flags/" + std::to_string(flag["id"].get<int>()) + "/confirm",
                           served.officer, {{"reason", "stop notice served"}})
                .status == 200);
    auto changed = exchange(served.port(), "GET", page, {{"If-Modified-Since", last_modified}});
    CHECK(changed.status == 200);
    CHECK(changed.body.find("Sale prohibited") != std::string::npos);
    CHECK(time_of(changed.headers["Last-Modified"]) > time_of(last_modified));
  }

  TEST_CASE("http: HEAD is answered as GET is, without the body") {
    ServedRegistry served;
    const std::string page = "/public/products/1";
    auto got = served.get(page);
    REQUIRE(got.status == 200);
    // Two requests on one connection: had the HEAD's answer carried a body, the GET's answer
    // would not start right after its head.
    const std::string raw =
        raw_exchange(served.port(), "HEAD " + page + " HTTP/1.1\r\nHost: x\r\n\r\nGET " + page +
                                        " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const auto head_end = raw.find("\r\n\r\n");
    REQUIRE(head_end != std::string::npos);
    const std::string head = raw.substr(0, head_end + 2);
    CHECK(status_of(head) == 200);
    CHECK(head.find("Content-Length: " + std::to_string(got.body.size()) + "\r\n") !=
          std::string::npos);
    CHECK(head.find("ETag: " + got.headers["ETag"] + "\r\n") != std::string::npos);
    CHECK(head.find("Last-Modified: ") != std::string::npos);
    const std::string rest = raw.substr(head_end + 4);
    CHECK(status_of(rest) == 200);
    CHECK(rest.ends_with(got.body));
    // Conditional, authenticated and refused alike.
    CHECK(exchange(served.port(), "HEAD", page, {{"If-None-Match", got.headers["ETag"]}}).status ==
          304);
    auto product = served.get("/api/v1/products/1", served.officer);
    auto product_head = exchange(served.port(), "HEAD", "/api/v1/products/1",
                                 {{"Authorization", "Bearer " + served.officer}});
    CHECK(product_head.status == 200);
    CHECK(product_head.body.empty());
    CHECK(product_head.headers["ETag"] == product.headers["ETag"]);
    CHECK(exchange(served.port(), "HEAD", "/api/v1/products/1", {}).status == 401);
    auto refused = exchange(served.port(), "DELETE", page, {});
    CHECK(refused.status == 405);
    CHECK(refused.headers["Allow"] == "GET");
  }

  TEST_CASE("http: a flag is public only once an officer confirmed it") {
    ServedRegistry served;
    const auto flag = first_flag(served, "raised");
    const std::string flag_id = std::to_string(flag["id"].get<std::int64_t>());
    const std::string page = "/public/products/" + std::to_string(flag["product_id"].get<int>());
    auto wording = [&]() {
      auto html = served.get(page);
      auto svg = served.get(page + "/label.svg");
      REQUIRE(html.status == 200);
      REQUIRE(svg.status == 200);
      return std::pair{html.body, svg.body};
    };
    // Raised by the checks, unreviewed: the page and the label pass no judgement.
    auto [raised_page, raised_label] = wording();
    CHECK(raised_page.find("Declaration registered") != std::string::npos);
    CHECK(raised_page.find("Sale prohibited") == std::string::npos);
    CHECK(raised_page.find("prohibited the sale") == std::string::npos);
    CHECK(raised_page.find("Does not meet") == std::string::npos);
    CHECK(raised_label.find("Declaration registered") != std::string::npos);
    // Confirmed, with a stop notice: a prohibition in force, with its date and notice.
    auto confirmed = served.post_json("/api/v1/flags/" + flag_id + "/confirm", served.officer,
                                      {{"reason", "test purchase"}, {"notice", "SN-2026-0141"}});
    REQUIRE(confirmed.status == 200);
    CHECK(confirmed.parsed()["notice"] == "SN-2026-0141");
    auto [confirmed_page, confirmed_label] = wording();
    CHECK(confirmed_page.find("Sale prohibited in the UK") != std::string::npos);
    CHECK(confirmed_page.find("Stop notice SN-2026-0141.") != std::string::npos);
    CHECK(confirmed_label.find("Sale prohibited in the UK") != std::string::npos);
    // Lifted by an officer: no longer prohibited; the declaration is shown as registered.
    auto lifted = served.post_json("/api/v1/flags/" + flag_id + "/lift", served.officer,
                                   {{"reason", "appeal upheld"}});
    REQUIRE(lifted.status == 200);
    CHECK(lifted.parsed()["state"] == "lifted");
    auto [lifted_page, lifted_label] = wording();
    CHECK(lifted_page.find("Sale prohibited") == std::string::npos);
    CHECK(lifted_page.find("Declaration registered") != std::string::npos);
  }

  TEST_CASE("http: injection strings in every parameter change nothing and never fail") {
    ServedRegistry served;
    const std::string before = served.snapshot();
    const std::vector<std::string> hostile = {"'",
                                              "\"",
                                              "' OR 1=1 --",
                                              "'; DROP TABLE products; --",
                                              "\" OR \"\"=\"",
                                              "lumo*",
                                              "NEAR(a b)",
                                              "a AND",
                                              "OR",
                                              "-x",
                                              "col:val",
                                              "^",
                                              "(",
                                              ")",
                                              "\"unbalanced",
                                              "%00",
                                              "\\",
                                              "\xff\xfe",
                                              "<script>alert(1)</script>",
                                              "../../etc/passwd",
                                              std::string(2000, 'a'),
                                              "a b c d e f g h i j k l m n o p q r"};
    const std::vector<std::pair<std::string, std::vector<std::string>>> endpoints = {
        {"/api/v1/products", {"status", "flagged", "manufacturer", "type", "q", "limit", "cursor"}},
        {"/api/v1/export", {"format", "status", "flagged", "manufacturer", "type", "q"}},
        {"/api/v1/flags", {"state", "limit", "cursor"}},
        {"/api/v1/audit", {"product", "actor", "limit", "cursor"}},
    };
    std::map<int, int> statuses;
    for (const auto& [path, parameters] : endpoints) {
      for (const auto& parameter : parameters) {
        for (const auto& value : hostile) {
          std::string encoded;
          for (unsigned char c : value) {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", c);
            encoded += std::isalnum(c) ? std::string(1, static_cast<char>(c)) : hex;
          }
          auto answer = served.get(path + "?" + parameter + "=" + encoded, served.officer);
          INFO(path << "?" << parameter << "=" << value << ": " << answer.body.substr(0, 300));
          CHECK((answer.status == 200 || answer.status == 400));
          ++statuses[answer.status];
          if (answer.status == 400) check_envelope(answer);
        }
      }
      for (const auto& value : {"1%20OR%201=1", "0x10", "1e3", "99999999999999999999"}) {
        CHECK(served.get(path.substr(0, path.size()) + "/" + value, served.officer).status == 404);
      }
    }
    CHECK(statuses[200] > 0);
    CHECK(statuses[400] > 0);
    CHECK(served.server().running());
    CHECK(served.snapshot() == before);
  }

  TEST_CASE("http: search splits words at punctuation and text that is not text is 400") {
    ServedRegistry served;
    const std::string before = served.snapshot();
    auto models = [&](const std::string& target) {
      auto answer = served.get(target, served.officer);
      INFO(target << ": " << answer.body.substr(0, 300));
      REQUIRE(answer.status == 200);
      const json body = answer.parsed();
      std::set<std::string> found;
      for (const auto& item : body["items"]) found.insert(item["model"].get<std::string>());
      return found;
    };
    // "LV‑C210" (a non-breaking hyphen) and "LV×C210" are the words "lv" and "c210".
    const std::set<std::string> lv_c210 = {"LV-C210"};
    CHECK(models("/api/v1/products?q=LV%E2%80%91C210") == lv_c210);
    CHECK(models("/api/v1/products?q=%E2%80%9CLV%C3%97C210%E2%80%9D") == lv_c210);
    auto exported = served.get("/api/v1/export?q=LV%E2%80%91C210", served.officer);
    CHECK(exported.status == 200);
    CHECK(split_lines(exported.body).size() == 1);
    // Text without words is no search condition; 1000 characters of 3 bytes each are allowed.
    const auto all = models("/api/v1/products?limit=500");
    CHECK(models("/api/v1/products?limit=500&q=%C2%AE%20%E2%80%94%20!!!") == all);
    std::string euros;
    for (int i = 0; i < 1000; ++i) euros += "%E2%82%AC";
    CHECK(models("/api/v1/products?limit=500&q=" + euros) == all);

    std::string seventeen;
    for (int i = 0; i < 17; ++i) seventeen += "w" + std::to_string(i) + "%C2%AE";
    const std::vector<std::pair<std::string, std::string>> refused = {
        {"/api/v1/products?q=" + seventeen,
         "the search has 17 different words; at most 16 are allowed"},
        {"/api/v1/products?q=" + std::string(1001, 'a'), "q is longer than 1000 characters"},
        {"/api/v1/products?q=" + euros + "%E2%82%AC", "q is longer than 1000 characters"},
        {"/api/v1/products?q=cam%00era", "q contains a NUL character (at byte offset 3)"},
        {"/api/v1/export?q=%ED%A0%80", "q is not valid UTF-8 (at byte offset 0)"},
        {"/api/v1/products?manufacturer=Lumora%FF",
         "manufacturer is not valid UTF-8 (at byte "
         "offset 6)"},
        {"/api/v1/export?type=%C0%80", "type is not valid UTF-8 (at byte offset 0)"},
        {"/api/v1/audit?actor=token%3A1%C3", "actor is not valid UTF-8 (at byte offset 7)"},
    };
    for (const auto& [target, message] : refused) {
      auto answer = served.get(target, served.officer);
      INFO(target.substr(0, 200) << ": " << answer.body.substr(0, 300));
      CHECK(answer.status == 400);
      check_envelope(answer);
      CHECK(answer.parsed()["error"]["message"] == message);
    }
    // JSON can carry NUL: a manufacturer's name that holds one is refused too.
    auto token = served.post_json("/api/v1/tokens", served.admin,
                                  {{"role", "manufacturer"},
                                   {"name", "Lena Lumora"},
                                   {"manufacturer", std::string("a\0b", 3)}});
    CHECK(token.status == 400);
    check_envelope(token);
    CHECK(token.parsed()["error"]["message"] ==
          "the manufacturer's name contains a NUL character (at byte offset 1)");
    CHECK(served.snapshot() == before);
  }

  TEST_CASE("http: path traversal and oversized and malformed and slow requests") {
    ServedRegistry served({"--idle-timeout", "1", "--max-body", "1"});
    const std::string before = served.snapshot();
    for (const char* target :
         {"/assets/../../etc/passwd", "/assets/%2e%2e/%2e%2e/etc/passwd", "/assets/app.js/..",
          "/assets/..%2fCMakeLists.txt", "/assets/index.html", "/assets/", "/../registry.db",
          "/public/products/1/../../../registry.db", "/%2e%2e/registry.db",
          "/assets/app.js%00.css"}) {
      auto answer = served.get(target);
      INFO(target << ": " << answer.status << " " << answer.body.substr(0, 200));
      CHECK((answer.status == 404 || answer.status == 400));
      CHECK(answer.body.find("SQLite format") == std::string::npos);
    }
    // A body over the limit is refused before it is read.
    auto too_big = raw_exchange(served.port(),
                                "POST /api/v1/declarations HTTP/1.1\r\nHost: x\r\nAuthorization: "
                                "Bearer " +
                                    served.admin +
                                    "\r\nContent-Type: text/csv\r\nContent-Length: 2097152\r\n\r\n"
                                    "id,brand\r\n");
    CHECK(status_of(too_big) == 413);
    CHECK(too_big.find("\"code\":\"payload_too_large\"") != std::string::npos);
    // Chunked, without a length, and still too long.
    std::string chunked =
        "POST /api/v1/declarations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + served.admin +
        "\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n";
    for (int i = 0; i < 17; ++i) chunked += "10000\r\n" + std::string(0x10000, 'b') + "\r\n";
    chunked += "0\r\n\r\n";
    CHECK(status_of(raw_exchange(served.port(), chunked)) == 413);
    // A body cut short is refused, not imported in part.
    {
      Poco::Net::StreamSocket socket(Poco::Net::SocketAddress("127.0.0.1", served.port()));
      socket.setReceiveTimeout(Poco::Timespan(10, 0));
      const std::string head =
          "POST /api/v1/declarations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + served.admin +
          "\r\nContent-Type: text/csv\r\nContent-Length: 100000\r\n\r\nmanufacturer.name\n";
      socket.sendBytes(head.data(), static_cast<int>(head.size()));
      socket.shutdownSend();
      char buffer[4096];
      int got = socket.receiveBytes(buffer, sizeof buffer);
      CHECK(status_of(std::string(buffer, static_cast<std::size_t>(std::max(got, 0)))) == 400);
    }
    // Without a token, or to any other endpoint, a body is held to 64 KiB.
    CHECK(status_of(raw_exchange(served.port(),
                                 "POST /api/v1/declarations HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Type: text/csv\r\nContent-Length: 70000\r\n\r\n")) ==
          413);
    CHECK(status_of(raw_exchange(served.port(),
                                 "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: 70000\r\n\r\n")) == 413);
    // A POST without a length has no body: answered at once, not after the idle timeout.
    auto started = std::chrono::steady_clock::now();
    auto no_length = raw_exchange(served.port(),
                                  "POST /api/v1/checks/run HTTP/1.1\r\nHost: x\r\n"
                                  "Connection: close\r\nAuthorization: Bearer " +
                                      served.admin + "\r\n\r\n");
    CHECK(status_of(no_length) == 200);
    CHECK(std::chrono::steady_clock::now() - started < 900ms);
    CHECK(status_of(raw_exchange(served.port(),
                                 "GET /healthz HTTP/1.1\r\nHost: x\r\n"
                                 "Content-Length: ten\r\n\r\n")) == 400);
    // Too many header fields, an overlong field, an overlong target, garbage.
    std::string many = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
    for (int i = 0; i < 150; ++i) many += "X-Field-" + std::to_string(i) + ": v\r\n";
    CHECK(status_of(raw_exchange(served.port(), many + "\r\n")) == 431);
    CHECK(status_of(raw_exchange(served.port(), "GET /healthz HTTP/1.1\r\nX-Long: " +
                                                    std::string(20000, 'v') + "\r\n\r\n")) == 431);
    CHECK(status_of(raw_exchange(served.port(),
                                 "GET /" + std::string(20000, 'p') + " HTTP/1.1\r\n\r\n")) == 414);
    // Poco reports a garbled request line as an invalid or overlong target: 400 or 414.
    const int garbled = status_of(raw_exchange(served.port(), "\x16\x03\x01garbage\r\n\r\n"));
    CHECK((garbled == 400 || garbled == 414));
    CHECK(status_of(raw_exchange(served.port(), "GET /healthz HTTP/9.9\r\n\r\n")) == 400);
    // A client that connects and sends nothing, or half a request, gets 408 after the idle
    // timeout; meanwhile others are served.
    std::thread silent([&] { CHECK(status_of(raw_exchange(served.port(), "")) == 408); });
    std::thread half([&] {
      CHECK(status_of(raw_exchange(served.port(), "GET /healthz HTTP/1.1\r\nHost:")) == 408);
    });
    CHECK(served.get("/healthz").status == 200);
    silent.join();
    half.join();
    CHECK(served.get("/api/v1/products", served.officer).status == 200);
    CHECK(served.server().running());
    CHECK(served.snapshot() == before);
  }

  TEST_CASE("http: two servers on one registry see each other's changes at once") {
    ServedRegistry served;
    const std::uint16_t first = served.port();
    const std::uint16_t second = served.serve_again();
    auto raised_at = [&](std::uint16_t port) {
      auto answer = served.request_at(port, "GET", "/api/v1/flags?state=raised", served.officer);
      REQUIRE(answer.status == 200);
      return answer.parsed()["counts"];
    };
    // Both answer, and keep the answer in their reply caches.
    const json before = raised_at(second);
    CHECK(raised_at(first) == before);

    // An officer confirms through the first; the second answers with the change at once.
    const std::int64_t flag = first_flag(served, "raised")["id"];
    auto confirmed =
        served.request_at(first, "POST", "/api/v1/flags/" + std::to_string(flag) + "/confirm",
                          served.officer, R"({"reason":"seen by both"})", "application/json");
    REQUIRE_MESSAGE(confirmed.status == 200, confirmed.body);
    const json after = raised_at(second);
    CHECK(after["raised"] == before["raised"].get<int>() - 1);
    CHECK(after["confirmed"] == before["confirmed"].get<int>() + 1);

    // A declaration imported through the second is a product the first lists at once.
    auto jsonl = split_lines(read_file(kSource / "samples" / "03-tessellate.jsonl"));
    json declaration = json::parse(jsonl[0]);
    declaration["product"]["model"] = "TWO-SERVERS-1";
    auto imported = served.request_at(second, "POST", "/api/v1/declarations", served.admin,
                                      json::array({declaration}).dump(), "application/json");
    REQUIRE_MESSAGE(imported.status == 200, imported.body);
    auto found =
        served.request_at(first, "GET", "/api/v1/products?q=TWO-SERVERS-1", served.officer);
    REQUIRE(found.status == 200);
    REQUIRE(found.parsed()["items"].size() == 1);
    CHECK(found.parsed()["items"][0]["model"] == "TWO-SERVERS-1");

    // Writes through both chained one audit log, and the counts agree.
    CHECK(served.cli({"audit", "verify"}).exit_status == 0);
    RegistryProbe probe(served.db());
    CHECK(probe.integer("SELECT count(*) FROM products") == 75);
    CHECK(probe.integer("SELECT count(*) FROM flags WHERE state = 'confirmed'") ==
          after["confirmed"].get<int>());
  }

  TEST_CASE("http: reads do not wait for a writer and SIGTERM stops the server cleanly") {
    ServedRegistry served;
    {
      // Another process holds the write lock, as an import in progress does.
      RegistryProbe writer(served.db());
      if (testing_postgresql()) {
        writer.exec("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(0x696F747200000002) +
                    ")");  // the registry's write lock
      } else {
        writer.exec("BEGIN IMMEDIATE");
      }
      writer.exec("UPDATE products SET brand = brand WHERE id = 1");
      auto started = std::chrono::steady_clock::now();
      auto answer = served.get("/api/v1/products?limit=5", served.officer);
      CHECK(answer.status == 200);
      CHECK(std::chrono::steady_clock::now() - started < 2s);  // the busy timeout is longer
      writer.exec("ROLLBACK");
    }
    // A keep-alive connection that is idle does not hold the shutdown back.
    Poco::Net::HTTPClientSession idle("127.0.0.1", served.port());
    idle.setKeepAlive(true);
    Poco::Net::HTTPRequest request("GET", "/healthz", Poco::Net::HTTPMessage::HTTP_1_1);
    idle.sendRequest(request);
    Poco::Net::HTTPResponse response;
    idle.receiveResponse(response).ignore(1 << 20);
    CHECK(response.getStatus() == 200);
    served.server().kill(SIGTERM);
    auto result = served.server().wait(10s);
    CHECK_MESSAGE(result.exited, result.describe());
    CHECK(result.exit_status == 0);
    CHECK(result.err.find("stopped") != std::string::npos);
    CHECK_FALSE(fs::exists(served.db() + "-wal"));  // the last connection closed cleanly
    CHECK(served.cli({"audit", "verify"}).exit_status == 0);
  }
}

}  // namespace iotreg::test
