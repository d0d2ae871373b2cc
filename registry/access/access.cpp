#include "registry/access/access.h"

#include <sys/random.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "importers/schema/compiled_schema.h"
#include "registry/core/clock.h"
#include "registry/core/sha256.h"
#include "registry/core/utf8.h"

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

Result<std::string> random_hex(std::size_t bytes) {
  std::vector<unsigned char> random(bytes);
  std::size_t filled = 0;
  while (filled < random.size()) {
    ssize_t got = ::getrandom(random.data() + filled, random.size() - filled, 0);
    if (got < 0) {
      if (errno == EINTR) continue;
      return Status::io_error(std::string("cannot read random bytes: ") + std::strerror(errno));
    }
    filled += static_cast<std::size_t>(got);
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned char byte : random) {
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 15]);
  }
  return hex;
}

Result<std::string> generate_token() {
  auto random = random_hex(32);
  if (!random.is_ok()) return random.status();
  return std::string(kTokenPrefix) + random.value();
}

std::string token_hash(std::string_view token) { return sha256_hex(token); }

Result<Principal> authenticate(storage::Storage& storage, std::string_view token,
                               std::string_view today) {
  return authenticate_hash(storage, token_hash(token), today);
}

Result<Principal> authenticate_hash(storage::Storage& storage, const std::string& hash,
                                    std::string_view today) {
  const Status refused = Status::not_found("unknown, revoked or expired token");
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
  return Principal{record.id, *role, record.holder, record.manufacturer_key,
                   record.manufacturer_name};
}

Status validate_token_request(const TokenRequest& request, std::string_view today) {
  auto role = role_from_name(request.role);
  if (!role) return Status::invalid_argument("role must be officer, manufacturer or admin");
  if (request.holder.find_first_not_of(" \t") == std::string::npos) {
    return Status::invalid_argument(
        "a token needs the name of the person who holds it (--name, or \"name\" in the API)");
  }
  if (request.holder.size() > 200) {
    return Status::invalid_argument("the holder's name is longer than 200 bytes");
  }
  if (auto problem = text_problem(request.holder); !problem.empty()) {
    return Status::invalid_argument("the holder's name " + problem);
  }
  bool for_manufacturer = *role == Role::kManufacturer;
  if (for_manufacturer && model::identity_key(request.manufacturer).empty()) {
    return Status::invalid_argument("a manufacturer token needs the manufacturer's name");
  }
  if (auto problem = text_problem(request.manufacturer); !problem.empty()) {
    return Status::invalid_argument("the manufacturer's name " + problem);
  }
  if (!for_manufacturer && !request.manufacturer.empty()) {
    return Status::invalid_argument("a manufacturer name is only for role manufacturer");
  }
  if (!request.expires.empty()) {
    if (!importers::is_calendar_date(request.expires)) {
      return Status::invalid_argument("the expiry must be a calendar date written YYYY-MM-DD");
    }
    if (request.expires < today) {
      return Status::invalid_argument("the expiry " + request.expires + " is in the past");
    }
  }
  return Status::ok();
}

Result<IssuedToken> issue_token(storage::Storage& storage, const TokenRequest& request,
                                const std::string& actor, std::string_view today) {
  IOTREG_TRY(validate_token_request(request, today));
  const Role role = *role_from_name(request.role);
  const bool for_manufacturer = role == Role::kManufacturer;
  auto token = generate_token();
  if (!token.is_ok()) return token.status();
  IssuedToken issued;
  issued.token = std::move(token).value();
  storage::TokenRecord& record = issued.record;
  record.token_hash = token_hash(issued.token);
  record.role = std::string(role_name(role));
  if (for_manufacturer) {
    record.manufacturer_key = model::identity_key(request.manufacturer);
    record.manufacturer_name = request.manufacturer;
  }
  record.holder = request.holder;
  record.created_at = utc_timestamp();
  record.created_by = actor;
  record.expires = request.expires;
  auto id = storage.create_token(record);
  if (!id.is_ok()) return id.status();
  record.id = id.value();
  return issued;
}

}  // namespace iotreg::access
