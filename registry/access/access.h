// API access: bearer tokens and who they stand for (DESIGN.md §6). A token is 256 random bits;
// the registry stores only its SHA-256, so a copy of the database does not reveal it. Functions
// here are stateless and thread-safe; authenticate() uses the given Storage from the calling
// thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "registry/core/status.h"
#include "registry/storage/storage.h"

namespace iotreg::access {

enum class Role { kOfficer, kManufacturer, kAdmin };

std::string_view role_name(Role role);
std::optional<Role> role_from_name(std::string_view name);

// `bytes` of operating-system randomness as hex digits.
Result<std::string> random_hex(std::size_t bytes);
// A new token: "iotreg_" and 64 hex digits of operating-system randomness.
Result<std::string> generate_token();
// The stored form of a token.
std::string token_hash(std::string_view token);

// Who a valid token stands for.
struct Principal {
  std::int64_t token_id = 0;
  Role role = Role::kOfficer;
  std::string holder;            // the person who holds the token
  std::string manufacturer_key;  // role manufacturer: the one manufacturer it may act for
  std::string manufacturer_name;
};

// What a new token is for.
struct TokenRequest {
  std::string role;          // officer, manufacturer or admin
  std::string holder;        // required: the person who will hold the token
  std::string manufacturer;  // required for (and only for) role manufacturer
  std::string expires;       // YYYY-MM-DD, the last valid day; empty: never
};

struct IssuedToken {
  std::string token;  // shown once; only its hash is stored
  storage::TokenRecord record;
};

// kInvalidArgument saying what is wrong with the request, if anything.
Status validate_token_request(const TokenRequest& request, std::string_view today);
// Validates the request, generates a token and stores its hash with an audit event by `actor`.
Result<IssuedToken> issue_token(storage::Storage& storage, const TokenRequest& request,
                                const std::string& actor, std::string_view today);

// The principal of a token that exists, is not revoked and has not expired on `today`
// (YYYY-MM-DD); kNotFound (the same message) otherwise, so a caller learns nothing about which
// tokens exist. Hashes are compared in constant time.
Result<Principal> authenticate(storage::Storage& storage, std::string_view token,
                               std::string_view today);
// As authenticate(), for the token with this hash (token_hash()).
Result<Principal> authenticate_hash(storage::Storage& storage, const std::string& hash,
                                    std::string_view today);

}  // namespace iotreg::access
