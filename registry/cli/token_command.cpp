// `iotreg token create|list|revoke`: API bearer tokens. A new token is printed once, as the last
// line of `create`'s output; the registry keeps only its hash.
#include <iostream>

#include "registry/access/access.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/core/clock.h"
#include "registry/views/views.h"

namespace iotreg::cli {

int run_token_create(const GlobalOptions& options, const TokenCreateArguments& arguments) {
  const access::TokenRequest request{arguments.role, arguments.name, arguments.manufacturer,
                                     arguments.expires};
  if (auto valid = access::validate_token_request(request, local_date()); !valid.is_ok()) {
    return report_error(valid);
  }
  auto registry = open_registry(options, Access::kWrite);
  if (!registry) return kExitUsage;
  auto issued = access::issue_token(*registry, request, cli_actor(options), local_date());
  if (!issued.is_ok()) return report_error(issued.status());
  const storage::TokenRecord& record = issued->record;
  bool for_manufacturer = !record.manufacturer_name.empty();
  auto token = issued->token;
  auto id = record.id;
  std::cout << "token " << id << ": " << record.role << " held by " << printable(record.holder);
  if (for_manufacturer) std::cout << " for " << printable(record.manufacturer_name);
  std::cout << (record.expires.empty() ? ", does not expire" : ", valid to " + record.expires)
            << "\nIt is shown only now; the registry keeps only its hash.\n"
            << token << "\n";
  return kExitSuccess;
}

int run_token_list(const GlobalOptions& options, bool json) {
  auto registry = open_registry(options, Access::kRead);
  if (!registry) return kExitUsage;
  auto tokens = registry->tokens();
  if (!tokens.is_ok()) return report_error(tokens.status());
  if (json) {
    for (const auto& token : tokens.value()) {
      std::cout << views::dump(views::token_json(token)) << "\n";
    }
    return kExitSuccess;
  }
  TextTable table(
      {{"ID"}, {"ROLE"}, {"HOLDER", true}, {"MANUFACTURER", true}, {"EXPIRES"}, {"STATE"}});
  for (const auto& token : tokens.value()) {
    table.add_row({std::to_string(token.id), token.role, token.holder,
                   token.manufacturer_name.empty() ? "-" : token.manufacturer_name,
                   token.expires.empty() ? "never" : token.expires,
                   token.revoked_at.empty() ? "active" : "revoked " + token.revoked_at});
  }
  table.print(std::cout, output_width());
  return kExitSuccess;
}

int run_token_revoke(const GlobalOptions& options, std::int64_t id) {
  auto registry = open_registry(options, Access::kWrite);
  if (!registry) return kExitUsage;
  auto status = registry->revoke_token(id, cli_actor(options));
  if (!status.is_ok()) return report_error(status);
  std::cout << "token " << id << " revoked\n";
  return kExitSuccess;
}

}  // namespace iotreg::cli
