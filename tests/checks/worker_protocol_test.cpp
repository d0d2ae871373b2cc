// The host's decoders of what a worker process sends (findings, plugin descriptions) read
// bytes an untrusted plugin may have written: a well-formed message round-trips exactly, and
// every truncation of one is refused. Byte mutations are decoded under the sanitizers by the
// fuzz target tests/fuzz/fuzz_worker_replies.cpp.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "registry/checks/detail/loaded_check.h"
#include "registry/checks/detail/worker_protocol.h"

namespace iotreg::checks {
namespace {

std::vector<Result<PluginDescription>> sample_descriptions() {
  PluginDescription plugin;
  plugin.id = "example.checks";
  plugin.version = "2.1.0";
  plugin.description = "Example checks — with UTF-8";
  plugin.checks = {{"first-check", "First", "Req 1", "1.0.0"},
                   {"second.check", "Second", "", "1.0.1"}};
  return {plugin, Status::invalid_argument("/plugins/bad.so: missing entry symbol")};
}

std::vector<Finding> sample_findings() {
  return {{0, Outcome::kPass, "ok", ""},
          {1, Outcome::kFail, "universal default password", "passwords.default"},
          {0, Outcome::kWarn, "", ""},
          {1, Outcome::kError, "the check broke", "x"}};
}

TEST_SUITE("isolation") {
  TEST_CASE("isolation: plugin descriptions round-trip through the worker protocol") {
    std::string payload;
    protocol::encode_description(sample_descriptions(), payload);
    std::vector<Result<detail::DescriptorTexts>> decoded;
    REQUIRE(protocol::decode_description(payload, 2, decoded).empty());
    REQUIRE(decoded.size() == 2);
    REQUIRE(decoded[0].is_ok());
    auto validated = detail::validate_descriptor("/plugins/example.so", std::string(64, 'a'),
                                                 decoded[0].value());
    REQUIRE_MESSAGE(validated.is_ok(), validated.status().message());
    CHECK(validated->id == "example.checks");
    CHECK(validated->version == "2.1.0");
    CHECK(validated->description == "Example checks — with UTF-8");
    REQUIRE(validated->checks.size() == 2);
    CHECK(validated->checks[1].id == "second.check");
    CHECK(validated->checks[1].version == "1.0.1");
    REQUIRE_FALSE(decoded[1].is_ok());
    CHECK(decoded[1].status().message() == "/plugins/bad.so: missing entry symbol");
    // A reply for another number of files is refused.
    CHECK_FALSE(protocol::decode_description(payload, 3, decoded).empty());
  }

  TEST_CASE("isolation: findings round-trip and truncated worker messages are refused") {
    std::string description, results;
    protocol::encode_description(sample_descriptions(), description);
    protocol::encode_results(0, 2, 2, sample_findings(), results);
    std::vector<Result<detail::DescriptorTexts>> texts;
    std::vector<Finding> findings;
    REQUIRE(protocol::decode_results(results, 2, 2, findings).empty());
    CHECK(findings[1].message == "universal default password");
    CHECK(findings[1].field == "passwords.default");
    CHECK(findings[3].outcome == Outcome::kError);
    // Every proper prefix is refused: each message ends exactly where its last field does.
    for (std::size_t size = 0; size < description.size(); ++size) {
      CAPTURE(size);
      CHECK_FALSE(protocol::decode_description(description.substr(0, size), 2, texts).empty());
    }
    for (std::size_t size = 0; size < results.size(); ++size) {
      CAPTURE(size);
      CHECK_FALSE(protocol::decode_results(results.substr(0, size), 2, 2, findings).empty());
    }
  }

  TEST_CASE("isolation: results stream back a part of a batch at a time") {
    std::string part;
    std::vector<Finding> findings;
    // The second declaration's two findings alone.
    protocol::encode_results(1, 1, 2, sample_findings(), part);
    REQUIRE(protocol::decode_results(part, 2, 2, findings).empty());
    REQUIRE(findings.size() == 2);
    CHECK(findings[1].outcome == Outcome::kError);
    CHECK(findings[0].message == sample_findings()[2].message);
    // More declarations than are still awaited, or none, are refused.
    CHECK(protocol::decode_results(part, 0, 2, findings) ==
          "answered for 1 declarations and 2 checks; at most 0 and 2 were awaited");
    std::string both;
    protocol::encode_results(0, 2, 2, sample_findings(), both);
    CHECK_FALSE(protocol::decode_results(both, 1, 2, findings).empty());
    std::string none;
    protocol::encode_results(0, 0, 2, sample_findings(), none);
    CHECK_FALSE(protocol::decode_results(none, 2, 2, findings).empty());
  }
}

}  // namespace
}  // namespace iotreg::checks
