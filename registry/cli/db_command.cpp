// `iotreg db copy --from A --to B`: copies a whole registry into an empty one, on either backend
// (registry_copy.h): every table's rows with their ids, so that versions, verdicts, flags, tokens
// and the audit chain arrive unchanged, then checks the copy's audit chain.
#include <iostream>
#include <map>

#include "registry/cli/commands.h"
#include "registry/cli/output.h"

namespace iotreg::cli {
namespace {

constexpr std::size_t kRowsAtOnce = 10000;

}  // namespace

int run_db_copy(const GlobalOptions& options, const DbCopyArguments& arguments) {
  if (arguments.from == arguments.to) {
    std::cerr << "iotreg: db copy: --from and --to name the same registry\n";
    return kExitUsage;
  }
  GlobalOptions from = options;
  from.registry = arguments.from;
  GlobalOptions to = options;
  to.registry = arguments.to;
  auto source = open_registry(from, Access::kRead);
  if (!source) return kExitUsage;
  auto target = open_registry(to, Access::kWrite);
  if (!target) return kExitUsage;
  // The source's write lock for the length of the copy: nobody changes it meanwhile, so the
  // copy is of one moment. Nothing is written through it.
  auto frozen = source->begin_preview();
  if (!frozen.is_ok()) return report_error(frozen.status());
  auto copy = target->begin_copy();
  if (!copy.is_ok()) return report_error(copy.status());
  std::map<std::string, std::uint64_t> copied;
  std::vector<storage::Row> rows;
  for (const auto& table : storage::copied_tables()) {
    std::int64_t after = 0;
    for (;;) {
      rows.clear();
      if (auto read = source->read_rows(table, after, kRowsAtOnce, rows); !read.is_ok()) {
        return report_error(read);
      }
      if (rows.empty()) break;
      if (auto written = copy.value()->write_rows(table, rows); !written.is_ok()) {
        return report_error(written);
      }
      copied[table.name] += rows.size();
      after = rows.back().front().integer;
    }
  }
  if (auto committed = copy.value()->commit(); !committed.is_ok()) return report_error(committed);
  frozen.value().reset();
  auto verified = target->verify_audit();
  if (!verified.is_ok()) return report_error(verified.status());
  std::cout << "copied " << storage::printable_location(arguments.from) << " to "
            << storage::printable_location(arguments.to) << ": "
            << counted(copied["products"], "product", "products") << ", "
            << counted(copied["declaration_versions"], "declaration version",
                       "declaration versions")
            << ", " << counted(copied["flags"], "flag", "flags") << ", "
            << counted(copied["tokens"], "token", "tokens") << ", "
            << counted(copied["audit_events"], "audit event", "audit events") << "\n";
  if (!verified->intact()) {
    std::cout << "the copy's audit log is broken at event " << verified->first_bad_id << ": "
              << verified->problem << "\n";
    return kExitRejectedOrNotFound;
  }
  std::cout << "audit log of the copy intact: every hash verified\n";
  return kExitSuccess;
}

}  // namespace iotreg::cli
