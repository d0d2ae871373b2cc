// `iotreg audit verify`: walks the audit log's hash chain and names the first bad event.
#include <iostream>

#include "registry/cli/commands.h"

namespace iotreg::cli {

int run_audit_verify(const GlobalOptions& options) {
  auto registry = open_registry(options, Access::kRead);
  if (!registry) return kExitUsage;
  auto verification = registry->verify_audit();
  if (!verification.is_ok()) return report_error(verification.status());
  if (verification->intact()) {
    std::cout << "audit log intact: " << verification->events
              << (verification->events == 1 ? " event" : " events") << ", every hash verified\n";
    return kExitSuccess;
  }
  std::cout << "audit log broken at event " << verification->first_bad_id << ": "
            << verification->problem << "\n";
  return kExitRejectedOrNotFound;
}

}  // namespace iotreg::cli
