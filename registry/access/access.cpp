#include "registry/access/access.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>

#include "registry/core/sha256.h"

namespace iotreg::access {
namespace {

constexpr std::string_view kTokenPrefix = "iotreg_";

// Equal strings of equal length compare in time independent of where they differ.
bool equal_in_constant_time(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned char difference = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    difference |= static_cast<unsigned char>(a[i] ^ b[i]);
  }
  return difference == 0;
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kOfficer:
      return "officer";
    case Role::kManufacturer:
      return "manufacturer";
    case Role::kAdmin:
      return "admin";
  }
  return "officer";
}

std::optional<Role> role_from_name(std::string_view name) {
  for (Role role : {Role::kOfficer, Role::kManufacturer, Role::kAdmin}) {
    if (role_name(role) == name) return role;
  }
  return std::nullopt;
}

Result<std::string> generate_token() {
  unsigned char random[32];
  std::size_t filled = 0;
  while (filled < sizeof random) {
    ssize_t got = ::getrandom(random + filled, sizeof random - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::io_error(std::string("cannot read random bytes: ") + std::strerror(errno));
    }
    filled += static_cast<std::size_t>(got);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string token(kTokenPrefix);
  for (unsigned char byte : random) {
    token.push_back(kHex[byte >> 4]);
    token.push_back(kHex[byte & 15]);
  }
  return token;
}

std::string token_hash(std::string_view token) { return sha256_hex(token); }

Result<Principal> authenticate(storage::Storage& storage, std::string_view token,
                               std::string_view today) {
  const Status refused = Status::not_found("unknown, revoked or expired token");
  std::string hash = token_hash(token);
  auto found = storage.find_token(hash);
  if (!found.is_ok()) return found.status();
  if (!found.value()) return refused;
  const storage::TokenRecord& record = **found;
  if (!equal_in_constant_time(record.token_hash, hash)) return refused;
  if (!record.revoked_at.empty()) return refused;
  if (!record.expires.empty() && std::string_view(record.expires) < today) return refused;
  auto role = role_from_name(record.role);
  if (!role)
    return Status::corruption("token " + std::to_string(record.id) + " has role " + record.role);
  return Principal{record.id, *role, record.manufacturer_key, record.manufacturer_name};
}

}  // namespace iotreg::access
