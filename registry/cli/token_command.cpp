// `iotreg token create|list|revoke`: API bearer tokens. A new token is printed once, as the last
// line of `create`'s output; the registry keeps only its hash.
#include <iomanip>
#include <iostream>

#include "importers/schema/compiled_schema.h"
#include "registry/access/access.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/core/clock.h"

namespace iotreg::cli {

int run_token_create(const GlobalOptions& options, const TokenCreateArguments& arguments) {
  auto role = access::role_from_name(arguments.role);
  if (!role) {
    std::cerr << "iotreg: --role must be officer, manufacturer or admin\n";
    return kExitUsage;
  }
  bool for_manufacturer = *role == access::Role::kManufacturer;
  if (for_manufacturer && arguments.manufacturer.empty()) {
    std::cerr << "iotreg: a manufacturer token needs --manufacturer NAME\n";
    return kExitUsage;
  }
  if (!for_manufacturer && !arguments.manufacturer.empty()) {
    std::cerr << "iotreg: --manufacturer is only for --role manufacturer\n";
    return kExitUsage;
  }
  if (!arguments.expires.empty()) {
    if (!importers::is_calendar_date(arguments.expires)) {
      std::cerr << "iotreg: --expires must be a calendar date written YYYY-MM-DD\n";
      return kExitUsage;
    }
    if (arguments.expires < local_date()) {
      std::cerr << "iotreg: --expires " << arguments.expires << " is in the past\n";
      return kExitUsage;
    }
  }
  auto registry = open_registry(options, Access::kWrite);
  if (!registry) return kExitUsage;
  auto token = access::generate_token();
  if (!token.is_ok()) return report_error(token.status());
  storage::TokenRecord record;
  record.token_hash = access::token_hash(token.value());
  record.role = std::string(access::role_name(*role));
  if (for_manufacturer) {
    record.manufacturer_key = model::identity_key(arguments.manufacturer);
    record.manufacturer_name = arguments.manufacturer;
  }
  record.created_at = utc_timestamp();
  record.created_by = cli_actor();
  record.expires = arguments.expires;
  auto id = registry->create_token(record);
  if (!id.is_ok()) return report_error(id.status());
  std::cout << "token " << id.value() << ": " << record.role;
  if (for_manufacturer) std::cout << " for " << printable(record.manufacturer_name);
  std::cout << (record.expires.empty() ? ", does not expire" : ", valid to " + record.expires)
            << "\nIt is shown only now; the registry keeps only its hash.\n"
            << token.value() << "\n";
  return kExitSuccess;
}

int run_token_list(const GlobalOptions& options, bool json) {
  auto registry = open_registry(options, Access::kRead);
  if (!registry) return kExitUsage;
  auto tokens = registry->tokens();
  if (!tokens.is_ok()) return report_error(tokens.status());
  auto or_null = [](const std::string& text) {
    return text.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(text);
  };
  if (json) {
    for (const auto& token : tokens.value()) {
      nlohmann::ordered_json line = {{"id", token.id},
                                     {"role", token.role},
                                     {"manufacturer", or_null(token.manufacturer_name)},
                                     {"created_at", token.created_at},
                                     {"created_by", token.created_by},
                                     {"expires", or_null(token.expires)},
                                     {"revoked_at", or_null(token.revoked_at)}};
      std::cout << line.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace)
                << "\n";
    }
    return kExitSuccess;
  }
  std::cout << std::left << std::setw(6) << "ID" << std::setw(14) << "ROLE" << std::setw(28)
            << "MANUFACTURER" << std::setw(12) << "EXPIRES"
            << "STATE\n";
  for (const auto& token : tokens.value()) {
    std::cout << std::left << std::setw(6) << token.id << std::setw(14) << token.role
              << cell(token.manufacturer_name.empty() ? "-" : token.manufacturer_name, 28)
              << std::setw(12) << (token.expires.empty() ? "never" : token.expires)
              << (token.revoked_at.empty() ? "active" : "revoked " + token.revoked_at) << "\n";
  }
  return kExitSuccess;
}

int run_token_revoke(const GlobalOptions& options, std::int64_t id) {
  auto registry = open_registry(options, Access::kWrite);
  if (!registry) return kExitUsage;
  auto status = registry->revoke_token(id, cli_actor());
  if (!status.is_ok()) return report_error(status);
  std::cout << "token " << id << " revoked\n";
  return kExitSuccess;
}

}  // namespace iotreg::cli
