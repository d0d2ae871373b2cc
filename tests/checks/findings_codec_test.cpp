// The stored form of findings: what is encoded decodes to equal findings, and damaged bytes are
// reported as kCorruption, never misread and never read past their end.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "registry/checks/checks.h"
#include "registry/core/utf8.h"

namespace iotreg::checks {
namespace {

// Findings as text, one per line, for comparisons that print what differs.
std::string describe(const std::vector<Finding>& findings) {
  std::string text;
  for (const auto& finding : findings) {
    text += std::to_string(finding.check) + "|" + std::string(outcome_name(finding.outcome)) + "|" +
            finding.message + "|" + finding.field + "\n";
  }
  return text;
}

std::vector<Finding> sample_findings() {
  return {
      {0, Outcome::kPass, "in scope", ""},
      {1, Outcome::kFail, "the password \"admin\" is on the deny list", "passwords.examples"},
      {2, Outcome::kWarn, "support ends in 30 days", "support.end_date"},
      {3, Outcome::kNotApplicable, "", ""},
      {4, Outcome::kError, "the check reported no finding", ""},
      // A multi-byte index, non-ASCII text and a message longer than one varint byte of size.
      {300, Outcome::kFail, "Ärger über «Passwörter» — " + std::string(200, 'x'), "statement.é"},
      {65536, Outcome::kPass, "largest index", "f"},
  };
}

std::string encoded(const std::vector<Finding>& findings) {
  std::string out = "left over from an earlier use";
  encode_findings(findings, out);
  return out;
}

void check_corruption(const std::string& stored, const std::string& message) {
  auto decoded = decode_findings(stored);
  REQUIRE_FALSE(decoded.is_ok());
  CHECK(decoded.status().code() == Status::Code::kCorruption);
  CHECK(decoded.status().message() == message);
}

TEST_SUITE("checks") {
  TEST_CASE("checks: findings round-trip through their stored form") {
    const auto findings = sample_findings();
    const std::string stored = encoded(findings);
    CHECK(static_cast<unsigned char>(stored[0]) == 1);  // the format byte
    auto decoded = decode_findings(stored);
    REQUIRE_MESSAGE(decoded.is_ok(), decoded.status().message());
    CHECK(describe(decoded.value()) == describe(findings));

    const std::string empty = encoded({});
    CHECK(empty == std::string("\x01\x00", 2));
    auto none = decode_findings(empty);
    REQUIRE(none.is_ok());
    CHECK(none.value().empty());
  }

  TEST_CASE("checks: the stored form of one finding is exact") {
    // format 1, count 1, check 2, outcome fail (1), message "no", field "a.b".
    CHECK(encoded({{2, Outcome::kFail, "no", "a.b"}}) == std::string("\x01\x01\x02\x01\x02no\x03"
                                                                     "a.b",
                                                                     11));
  }

  TEST_CASE("checks: specific damage is reported with its offset") {
    check_corruption("", "stored findings are damaged at byte 0");
    check_corruption(std::string("\x02\x00", 2), "stored findings are damaged at byte 0");
    // A count above 65536.
    check_corruption(std::string("\x01\x81\x80\x04", 4), "stored findings are damaged at byte 4");
    // Outcome 5 is beyond kError.
    check_corruption(std::string("\x01\x01\x00\x05\x00\x00", 6),
                     "stored findings are damaged at byte 2");
    // A check index above 65536.
    check_corruption(std::string("\x01\x01\x81\x80\x04\x00\x00\x00", 8),
                     "stored findings are damaged at byte 2");
    // A message that is not UTF-8.
    check_corruption(std::string("\x01\x01\x00\x00\x01\xff\x00", 7),
                     "stored findings are damaged at byte 2");
    // A text longer than what is left.
    check_corruption(std::string("\x01\x01\x00\x00\x09"
                                 "ab\x00",
                                 8),
                     "stored findings are damaged at byte 2");
    // Trailing bytes after the last finding.
    check_corruption(std::string("\x01\x00\x00", 3), "stored findings are damaged at byte 2");
  }

  TEST_CASE("checks: every truncation and every extension of a stored form is corruption") {
    const std::string stored = encoded(sample_findings());
    for (std::size_t size = 0; size < stored.size(); ++size) {
      CAPTURE(size);
      auto decoded = decode_findings(std::string_view(stored).substr(0, size));
      REQUIRE_FALSE(decoded.is_ok());
      CHECK(decoded.status().code() == Status::Code::kCorruption);
    }
    for (int byte = 0; byte < 256; ++byte) {
      CAPTURE(byte);
      auto decoded = decode_findings(stored + static_cast<char>(byte));
      REQUIRE_FALSE(decoded.is_ok());
      CHECK(decoded.status().code() == Status::Code::kCorruption);
    }
  }

  TEST_CASE(
      "checks: random damage is corruption or decodes to findings that are themselves sound") {
    const std::string original = encoded(sample_findings());
    std::mt19937 random(20260301);  // fixed seed: the same mutations on every run
    auto below = [&](std::size_t bound) {
      return std::uniform_int_distribution<std::size_t>(0, bound - 1)(random);
    };
    int corrupt = 0, sound = 0;
    for (int round = 0; round < 5000; ++round) {
      std::string damaged = original;
      const int edits = 1 + static_cast<int>(below(3));
      for (int edit = 0; edit < edits && !damaged.empty(); ++edit) {
        const std::size_t at = below(damaged.size());
        switch (below(4)) {
          case 0:  // flip one bit
            damaged[at] = static_cast<char>(damaged[at] ^ (1 << below(8)));
            break;
          case 1:  // replace a byte
            damaged[at] = static_cast<char>(below(256));
            break;
          case 2:  // delete a byte
            damaged.erase(at, 1);
            break;
          default:  // insert a byte
            damaged.insert(at, 1, static_cast<char>(below(256)));
            break;
        }
      }
      CAPTURE(round);
      auto decoded = decode_findings(damaged);
      if (!decoded.is_ok()) {
        CHECK(decoded.status().code() == Status::Code::kCorruption);
        CHECK(decoded.status().message().rfind("stored findings are damaged at byte ", 0) == 0);
        ++corrupt;
        continue;
      }
      // Whatever decodes is well-formed and stable under another round trip.
      ++sound;
      for (const auto& finding : decoded.value()) {
        CHECK(finding.outcome <= Outcome::kError);
        CHECK(finding.check <= 65536);
        CHECK(is_valid_utf8(finding.message));
        CHECK(is_valid_utf8(finding.field));
      }
      auto again = decode_findings(encoded(decoded.value()));
      REQUIRE(again.is_ok());
      CHECK(describe(again.value()) == describe(decoded.value()));
    }
    CHECK(corrupt + sound == 5000);
    // Most damage is caught; a changed byte inside a message is not damage the form can see.
    CHECK(corrupt > sound);
  }
}

}  // namespace
}  // namespace iotreg::checks
