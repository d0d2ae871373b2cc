// The host's decoders of what a worker process sends (findings, plugin descriptions) read
// bytes an untrusted plugin may have written: a well-formed message round-trips exactly; every
// truncation and every byte mutation of one is either decoded or refused with a reason, never
// read out of bounds, and a mutated description that decodes is still validated before use.
#include <doctest/doctest.h>

#include <random>
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

  TEST_CASE(
      "isolation: truncated or mutated worker messages are decoded or refused, never overrun") {
    std::string description, results;
    protocol::encode_description(sample_descriptions(), description);
    protocol::encode_results(2, 2, sample_findings(), results);
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
    // Random mutations: whatever decodes is validated, and a description that passes
    // validation has only well-formed ids.
    std::mt19937 random(20261129);
    std::size_t refused = 0, decoded = 0;
    for (int round = 0; round < 20000; ++round) {
      std::string mutated = round % 2 ? description : results;
      const int changes = 1 + static_cast<int>(random() % 4);
      for (int i = 0; i < changes; ++i) {
        mutated[random() % mutated.size()] = static_cast<char>(random() % 256);
      }
      if (round % 2) {
        if (!protocol::decode_description(mutated, 2, texts).empty()) {
          ++refused;
          continue;
        }
        ++decoded;
        REQUIRE(texts.size() == 2);
        if (!texts[0].is_ok()) continue;
        auto validated =
            detail::validate_descriptor("/plugins/x.so", std::string(64, 'a'), texts[0].value());
        if (validated.is_ok()) {
          for (const auto& check : validated->checks) {
            CHECK(check.id.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") ==
                  std::string::npos);
          }
        }
      } else if (protocol::decode_results(mutated, 2, 2, findings).empty()) {
        ++decoded;
        REQUIRE(findings.size() == 4);
        for (const auto& finding : findings) {
          CHECK(finding.outcome <= Outcome::kError);
          CHECK(finding.message.size() <= detail::kMaxMessageBytes);
        }
      } else {
        ++refused;
      }
    }
    // Both kinds of outcome were exercised.
    CHECK(refused > 1000);
    CHECK(decoded > 1000);
  }
}

}  // namespace
}  // namespace iotreg::checks
