// `iotreg show ID`: one product with its latest declaration, every version, findings and audit
// trail; --json for scripts.
#include <iomanip>
#include <iostream>

#include "importers/schema/compiled_schema.h"
#include "registry/cli/commands.h"
#include "registry/cli/output.h"
#include "registry/views/views.h"

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

}  // namespace

int run_show(const GlobalOptions& options, const ShowArguments& arguments) {
  auto registry = open_registry(options, Access::kRead);
  if (!registry) return kExitUsage;
  auto detail = views::product_detail(*registry, arguments.id);
  if (!detail.is_ok()) return report_error(detail.status());
  const views::Json& out = detail.value();
  if (arguments.json) {
    std::cout << views::dump(out, 2) << "\n";
    return kExitSuccess;
  }
  auto text = [](const views::Json& value) {
    return value.is_string() ? value.get<std::string>() : std::string();
  };

  std::cout << "Product " << arguments.id << ": " << printable(text(out["brand"])) << " "
            << printable(text(out["model"]));
  if (out["type"].is_string()) std::cout << " (" << printable(text(out["type"])) << ")";
  const std::string status = text(out["status"]);
  std::cout << "\nManufacturer: " << printable(text(out["manufacturer"])) << "\nStatus: " << status
            << (status == "pending" ? " (not checked yet)" : "")
            << "\nFlagged for sale prohibition: " << (out["flagged"].get<bool>() ? "yes" : "no")
            << "\n";

  const auto& versions = out["versions"];
  if (!versions.empty()) {
    const auto& latest = versions.back();
    std::cout << "\nLatest declaration (version " << latest["version"].get<std::int64_t>() << " of "
              << versions.size() << ", imported " << text(latest["imported_at"]) << "):\n";
    auto declaration = model::Declaration::from_json(
        importers::CompiledSchema::builtin()->catalog(), views::dump(latest["declaration"]));
    if (!declaration.is_ok()) return report_error(declaration.status());
    for (std::size_t i = 0; i < declaration->catalog().size(); ++i) {
      if (!declaration->has(i)) continue;
      std::cout << "  " << std::left << std::setw(38) << declaration->catalog().field(i).path
                << printable(value_text(declaration->value(i))) << "\n";
    }
  }
  std::cout << "\nVersions:\n";
  for (const auto& version : versions) {
    std::cout << "  " << version["version"].get<std::int64_t>() << "  "
              << text(version["imported_at"]) << "  import run "
              << version["import_run"].get<std::int64_t>() << "  "
              << printable(text(version["source"])) << ", " << printable(text(version["location"]))
              << "\n";
  }
  const views::Json findings = views::readable(out["findings"]);
  if (findings.empty()) {
    std::cout << "\nFindings: none yet (not checked)\n";
  } else {
    const views::Json evaluation = views::readable(out["evaluation"]);
    std::cout << "\nFindings on version " << out["checked_version"].get<std::int64_t>()
              << " under policy " << printable(evaluation.value("policy", "")) << " as of "
              << evaluation.value("as_of", "") << ":\n";
    for (const auto& finding : findings) {
      std::cout << "  " << std::left << std::setw(26) << text(finding["check"]) << std::setw(16)
                << text(finding["outcome"]) << printable(text(finding["message"])) << "\n"
                << "  " << std::setw(42) << ""
                << "(" << text(finding["level"]) << "; " << printable(text(finding["requirement"]))
                << ")\n";
    }
  }
  if (out["label_id"].is_string()) std::cout << "\nLabel: " << text(out["label_id"]) << "\n";
  if (!out["flags"].empty()) {
    std::cout << "\nFlags:\n";
    for (const auto& flag : out["flags"]) {
      std::cout << "  flag " << flag["id"].get<std::int64_t>() << " (" << text(flag["state"])
                << ")\n";
      for (const auto& step : flag["history"]) {
        std::cout << "    " << text(step["at"]) << "  " << printable(text(step["actor"])) << "  "
                  << text(step["action"]) << "  " << printable(text(step["reason"])) << "\n";
      }
    }
  }
  std::cout << "\nAudit trail:\n";
  for (const auto& event : out["audit"]) {
    std::cout << "  " << text(event["at"]) << "  " << printable(text(event["actor"])) << "  "
              << text(event["action"]) << " " << text(event["subject_type"]) << " "
              << event["subject_id"].get<std::int64_t>() << "  "
              << printable(views::dump(event["details"])) << "\n";
  }
  return kExitSuccess;
}

}  // namespace iotreg::cli
