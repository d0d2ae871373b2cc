// API tokens: generation, stored hashes and authentication against a real registry file.
#include "registry/access/access.h"

#include <doctest/doctest.h>

#include <regex>

#include "registry/core/sha256.h"
#include "support/registry.h"
#include "support/temp_files.h"

namespace iotreg::access {
namespace {

using testing::ScratchDir;

std::unique_ptr<storage::Storage> open_registry(const std::string& location) {
  auto opened = storage::open_storage(location, storage::OpenMode::kReadWrite);
  REQUIRE_MESSAGE(opened.is_ok(), opened.status().message());
  return std::move(opened).value();
}

// Creates a token the way `iotreg token create` does; returns the token.
std::string create(storage::Storage& registry, Role role, const std::string& manufacturer = "",
                   const std::string& expires = "") {
  auto token = generate_token();
  REQUIRE(token.is_ok());
  storage::TokenRecord record;
  record.token_hash = token_hash(token.value());
  record.role = std::string(role_name(role));
  if (!manufacturer.empty()) {
    record.manufacturer_key = model::identity_key(manufacturer);
    record.manufacturer_name = manufacturer;
  }
  record.created_at = "2026-11-29T12:00:00Z";
  record.created_by = "test";
  record.expires = expires;
  REQUIRE(registry.create_token(record).is_ok());
  return token.value();
}

TEST_SUITE("access") {
  TEST_CASE("access: tokens are 256 random bits in hex and differ every time") {
    static const std::regex kShape("iotreg_[0-9a-f]{64}");
    auto first = generate_token();
    auto second = generate_token();
    REQUIRE(first.is_ok());
    REQUIRE(second.is_ok());
    CHECK(std::regex_match(first.value(), kShape));
    CHECK(std::regex_match(second.value(), kShape));
    CHECK(first.value() != second.value());
    CHECK(token_hash(first.value()) == sha256_hex(first.value()));
  }

  TEST_CASE("access: a valid token authenticates as its role and manufacturer") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto registry = open_registry(backing.location());
    std::string officer = create(*registry, Role::kOfficer);
    std::string maker = create(*registry, Role::kManufacturer, "  Lumora   VISION Ltd");
    auto as_officer = authenticate(*registry, officer, "2026-11-29");
    REQUIRE(as_officer.is_ok());
    CHECK(as_officer->role == Role::kOfficer);
    CHECK(as_officer->token_id == 1);
    auto as_maker = authenticate(*registry, maker, "2026-11-29");
    REQUIRE(as_maker.is_ok());
    CHECK(as_maker->role == Role::kManufacturer);
    CHECK(as_maker->manufacturer_key == "lumora vision ltd");
    CHECK(as_maker->token_id == 2);
  }

  TEST_CASE("access: unknown revoked and expired tokens are refused alike") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto registry = open_registry(backing.location());
    std::string revoked = create(*registry, Role::kAdmin);
    std::string expiring = create(*registry, Role::kOfficer, "", "2026-12-31");
    REQUIRE(registry->revoke_token(1, "test").is_ok());
    auto refused = [&](std::string_view token, std::string_view today) {
      auto result = authenticate(*registry, token, today);
      return !result.is_ok() && result.status().code() == Status::Code::kNotFound &&
             result.status().message() == "unknown, revoked or expired token";
    };
    CHECK(refused(revoked, "2026-11-29"));
    CHECK(refused("iotreg_" + std::string(64, '0'), "2026-11-29"));
    CHECK(refused("", "2026-11-29"));
    CHECK(refused(expiring.substr(0, expiring.size() - 1), "2026-11-29"));
    CHECK(authenticate(*registry, expiring, "2026-12-31").is_ok());  // its last valid day
    CHECK(refused(expiring, "2027-01-01"));
  }

  TEST_CASE("access: a manufacturer's name that is not text is refused before anything is stored") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    auto registry = open_registry(backing.location());
    const std::vector<std::pair<std::string, std::string>> refused = {
        {std::string("Lumora\0Vision", 13),
         "the manufacturer's name contains a NUL character (at byte offset 6)"},
        {"Lumora \xff", "the manufacturer's name is not valid UTF-8 (at byte offset 7)"},
        {"\xed\xa0\x80", "the manufacturer's name is not valid UTF-8 (at byte offset 0)"},
    };
    for (const auto& [name, message] : refused) {
      auto issued =
          issue_token(*registry, {"manufacturer", "Ana Ruiz", name, ""}, "test", "2026-11-29");
      REQUIRE_FALSE(issued.is_ok());
      CHECK(issued.status().code() == Status::Code::kInvalidArgument);
      CHECK(issued.status().message() == message);
    }
    CHECK(registry->tokens()->empty());
    auto issued =
        issue_token(*registry, {"manufacturer", "Ana Ruiz", "Pontevia Dom\u00f3tica S.L.", ""},
                    "test", "2026-11-29");
    REQUIRE(issued.is_ok());
    CHECK(issued->record.manufacturer_name == "Pontevia Dom\u00f3tica S.L.");
  }

  TEST_CASE("access: only hashes are stored and every token change is audited") {
    ScratchDir dir;
    test::TestRegistry backing(dir);
    const std::string path = backing.location();
    auto registry = open_registry(path);
    std::string token = create(*registry, Role::kOfficer);
    REQUIRE(registry->revoke_token(1, "cli:alice").is_ok());
    auto again = registry->revoke_token(1, "cli:alice");
    CHECK(again.code() == Status::Code::kInvalidArgument);
    CHECK(registry->revoke_token(7, "cli:alice").code() == Status::Code::kNotFound);
    auto tokens = registry->tokens();
    REQUIRE(tokens.is_ok());
    REQUIRE(tokens->size() == 1);
    CHECK(tokens->front().token_hash == sha256_hex(token));
    CHECK_FALSE(tokens->front().revoked_at.empty());
    auto events = registry->audit_events({});
    REQUIRE(events.is_ok());
    REQUIRE(events->size() == 2);
    CHECK(events->at(0).action == "token.create");
    CHECK(events->at(1).action == "token.revoke");
    CHECK(events->at(1).actor == "cli:alice");
    CHECK(registry->verify_audit()->intact());
    registry.reset();
    // The token itself appears nowhere in the database files (an SQLite registry's; a
    // PostgreSQL one's are the server's).
    for (const std::string& file : {path, path + "-wal"}) {
      std::ifstream in(file, std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      CHECK(bytes.find(token.substr(7)) == std::string::npos);
    }
  }
}

}  // namespace
}  // namespace iotreg::access
