// `iotreg show ID`: one product with its latest declaration, every version, findings and audit
// trail; --json for scripts.
#include <iomanip>
#include <iostream>

#include "importers/schema/compiled_schema.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"

namespace iotreg::cli {
namespace {

std::string value_text(const model::FieldValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) return *text;
  if (const auto* flag = std::get_if<bool>(&value)) return *flag ? "yes" : "no";
  if (const auto* number = std::get_if<std::int64_t>(&value)) return std::to_string(*number);
  if (const auto* list = std::get_if<model::StringList>(&value)) {
    std::string out;
    for (const auto& item : *list) out += (out.empty() ? "" : ", ") + item;
    return out;
  }
  return "";
}

nlohmann::ordered_json parse_body(const std::string& body) {
  auto parsed = nlohmann::ordered_json::parse(body, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? nlohmann::ordered_json(nullptr) : parsed;
}

}  // namespace

int run_show(const GlobalOptions& options, const ShowArguments& arguments) {
  auto registry = open_registry(options, Access::kRead);
  if (!registry) return kExitUsage;
  auto product = registry->product(arguments.id);
  if (!product.is_ok()) return report_error(product.status());
  auto versions = registry->versions(arguments.id);
  if (!versions.is_ok()) return report_error(versions.status());
  auto events = registry->audit_events(arguments.id);
  if (!events.is_ok()) return report_error(events.status());

  if (arguments.json) {
    nlohmann::ordered_json out = product_json(product.value());
    out["declaration"] = versions->empty() ? nlohmann::ordered_json(nullptr)
                                           : parse_body(versions->back().body_json);
    auto& list = out["versions"] = nlohmann::ordered_json::array();
    for (const auto& version : versions.value()) {
      list.push_back({{"version", version.version},
                      {"imported_at", version.imported_at},
                      {"import_run", version.import_run_id},
                      {"source", version.source},
                      {"location", version.source_location},
                      {"declaration", parse_body(version.body_json)}});
    }
    auto& audit = out["audit"] = nlohmann::ordered_json::array();
    for (const auto& event : events.value()) {
      audit.push_back({{"id", event.id},
                       {"at", event.at},
                       {"actor", event.actor},
                       {"action", event.action},
                       {"subject_type", event.subject_type},
                       {"subject_id", event.subject_id},
                       {"details", parse_body(event.details_json)}});
    }
    std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
    return kExitSuccess;
  }

  const auto& p = product.value();
  std::cout << "Product " << p.id << ": " << printable(p.brand) << " " << printable(p.model);
  if (!p.type.empty()) std::cout << " (" << printable(p.type) << ")";
  std::cout << "\nManufacturer: " << printable(p.manufacturer) << "\nStatus: " << p.status
            << (p.status == "pending" ? " (not checked yet)" : "")
            << "\nFlag: " << (p.flagged ? "raised" : "none") << "\n";

  if (!versions->empty()) {
    const auto& latest = versions->back();
    std::cout << "\nLatest declaration (version " << latest.version << " of " << versions->size()
              << ", imported " << latest.imported_at << "):\n";
    auto declaration = model::Declaration::from_json(
        importers::CompiledSchema::builtin()->catalog(), latest.body_json);
    if (!declaration.is_ok()) return report_error(declaration.status());
    for (std::size_t i = 0; i < declaration->catalog().size(); ++i) {
      if (!declaration->has(i)) continue;
      std::cout << "  " << std::left << std::setw(38) << declaration->catalog().field(i).path
                << printable(value_text(declaration->value(i))) << "\n";
    }
  }
  std::cout << "\nVersions:\n";
  for (const auto& version : versions.value()) {
    std::cout << "  " << version.version << "  " << version.imported_at << "  import run "
              << version.import_run_id << "  " << printable(version.source) << ", "
              << printable(version.source_location) << "\n";
  }
  std::cout << "\nFindings: none yet (checks have not run)\n";
  std::cout << "\nAudit trail:\n";
  for (const auto& event : events.value()) {
    std::cout << "  " << event.at << "  " << printable(event.actor) << "  " << event.action << " "
              << event.subject_type << " " << event.subject_id << "  "
              << printable(event.details_json) << "\n";
  }
  return kExitSuccess;
}

}  // namespace iotreg::cli
