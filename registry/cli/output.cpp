#include "registry/cli/output.h"

#include "registry/checks/checks.h"

namespace iotreg::cli {

nlohmann::ordered_json product_json(const storage::ProductSummary& product,
                                    nlohmann::ordered_json findings) {
  return {
      {"id", product.id},
      {"manufacturer", product.manufacturer},
      {"brand", product.brand},
      {"model", product.model},
      {"type", product.type.empty() ? nlohmann::ordered_json(nullptr)
                                    : nlohmann::ordered_json(product.type)},
      {"status", product.status},
      {"flagged", product.flagged},
      {"label_id", product.label_id.empty() ? nlohmann::ordered_json(nullptr)
                                            : nlohmann::ordered_json(product.label_id)},
      {"findings", std::move(findings)},
      {"version_count", product.version_count},
      {"created_at", product.created_at},
      {"updated_at", product.updated_at},
  };
}

Result<nlohmann::ordered_json> FindingsPrinter::provenance(std::int64_t evaluation_id) {
  if (evaluation_id == 0) return nlohmann::ordered_json(nullptr);
  auto cached = provenance_.find(evaluation_id);
  if (cached != provenance_.end()) return cached->second;
  auto text = storage_.evaluation_provenance(evaluation_id);
  if (!text.is_ok()) return text.status();
  auto parsed = nlohmann::ordered_json::parse(text.value(), nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object() || !parsed.contains("checks") ||
      !parsed["checks"].is_array()) {
    return Status::corruption("evaluation " + std::to_string(evaluation_id) +
                              " has damaged provenance");
  }
  return provenance_.emplace(evaluation_id, std::move(parsed)).first->second;
}

Result<nlohmann::ordered_json> FindingsPrinter::findings(const storage::ProductSummary& product) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  if (product.evaluation_id == 0) return out;
  auto evaluation = provenance(product.evaluation_id);
  if (!evaluation.is_ok()) return evaluation.status();
  const auto& checks = evaluation.value()["checks"];
  auto findings = checks::decode_findings(product.findings);
  if (!findings.is_ok()) return findings.status();
  for (const auto& finding : findings.value()) {
    if (finding.check >= checks.size()) {
      return Status::corruption("findings of product " + std::to_string(product.id) +
                                " name a check its evaluation does not have");
    }
    const auto& check = checks[finding.check];
    out.push_back({{"check", check.value("check", "")},
                   {"outcome", checks::outcome_name(finding.outcome)},
                   {"requirement", check.value("requirement", "")},
                   {"message", finding.message},
                   {"field", finding.field.empty() ? nlohmann::ordered_json(nullptr)
                                                   : nlohmann::ordered_json(finding.field)},
                   {"level", check.value("level", "")}});
  }
  return out;
}

// A table cell of `width` characters: the text, cut with ~ to leave at least one space before
// the next column, then padded. Counts UTF-8 characters rather than bytes so columns line up.
std::string cell(std::string_view text, std::size_t width) {
  std::string clean = printable(text);
  auto is_start = [&](std::size_t i) {
    return (static_cast<unsigned char>(clean[i]) & 0xC0) != 0x80;
  };
  std::size_t characters = 0;
  for (std::size_t i = 0; i < clean.size(); ++i) characters += is_start(i);
  std::string out;
  if (characters < width) {
    out = clean;
  } else {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < clean.size(); ++i) {
      if (is_start(i) && kept++ == width - 2) break;
      out.push_back(clean[i]);
    }
    out += "~";
    characters = width - 1;
  }
  out.append(width - characters, ' ');
  return out;
}

std::string csv_field(std::string_view text) {
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    out.push_back(byte < 0x20 || byte == 0x7F ? ' ' : c);
  }
  return out;
}

}  // namespace iotreg::cli
