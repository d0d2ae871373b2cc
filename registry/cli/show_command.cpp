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
  auto flags = registry->product_flags(arguments.id);
  if (!flags.is_ok()) return report_error(flags.status());
  FindingsPrinter printer(*registry);
  auto findings = printer.findings(product.value());
  if (!findings.is_ok()) return report_error(findings.status());
  auto provenance = printer.provenance(product->evaluation_id);
  if (!provenance.is_ok()) return report_error(provenance.status());

  // Each flag with its history: the raise, then every audit event about it.
  nlohmann::ordered_json flag_list = nlohmann::ordered_json::array();
  for (const auto& flag : flags.value()) {
    nlohmann::ordered_json history = nlohmann::ordered_json::array();
    history.push_back({{"at", flag.raised_at},
                       {"actor", flag.raised_by},
                       {"action", "flag.raise"},
                       {"reason", flag.raise_reason}});
    for (const auto& event : events.value()) {
      if (event.subject_type != "flag" || event.subject_id != flag.id) continue;
      auto details = parse_body(event.details_json);
      history.push_back({{"at", event.at},
                         {"actor", event.actor},
                         {"action", event.action},
                         {"reason", details.is_object() ? details.value("reason", "") : ""}});
    }
    flag_list.push_back({{"id", flag.id},
                         {"state", flag.state},
                         {"raised_version", flag.raised_version},
                         {"history", std::move(history)}});
  }

  if (arguments.json) {
    nlohmann::ordered_json out = product_json(product.value(), findings.value());
    out["checked_version"] = product->evaluated_version == 0
                                 ? nlohmann::ordered_json(nullptr)
                                 : nlohmann::ordered_json(product->evaluated_version);
    out["evaluation"] = provenance.value();
    out["flags"] = flag_list;
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
            << "\nFlagged for sale prohibition: " << (p.flagged ? "yes" : "no") << "\n";

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
  if (findings->empty()) {
    std::cout << "\nFindings: none yet (not checked)\n";
  } else {
    const auto& evaluation = provenance.value();
    std::cout << "\nFindings on version " << p.evaluated_version << " under policy "
              << printable(evaluation.value("policy", "")) << " as of "
              << evaluation.value("as_of", "") << ":\n";
    for (const auto& finding : findings.value()) {
      std::cout << "  " << std::left << std::setw(26) << finding["check"].get<std::string>()
                << std::setw(16) << finding["outcome"].get<std::string>()
                << printable(finding["message"].get<std::string>()) << "\n"
                << "  " << std::setw(42) << ""
                << "(" << finding["level"].get<std::string>() << "; "
                << printable(finding["requirement"].get<std::string>()) << ")\n";
    }
  }
  if (!p.label_id.empty()) std::cout << "\nLabel: " << p.label_id << "\n";
  if (!flag_list.empty()) {
    std::cout << "\nFlags:\n";
    for (const auto& flag : flag_list) {
      std::cout << "  flag " << flag["id"].get<std::int64_t>() << " ("
                << flag["state"].get<std::string>() << ")\n";
      for (const auto& step : flag["history"]) {
        std::cout << "    " << step["at"].get<std::string>() << "  "
                  << printable(step["actor"].get<std::string>()) << "  "
                  << step["action"].get<std::string>() << "  "
                  << printable(step["reason"].get<std::string>()) << "\n";
      }
    }
  }
  std::cout << "\nAudit trail:\n";
  for (const auto& event : events.value()) {
    std::cout << "  " << event.at << "  " << printable(event.actor) << "  " << event.action << " "
              << event.subject_type << " " << event.subject_id << "  "
              << printable(event.details_json) << "\n";
  }
  return kExitSuccess;
}

}  // namespace iotreg::cli
