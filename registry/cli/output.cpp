#include "registry/cli/output.h"

namespace iotreg::cli {

nlohmann::ordered_json product_json(const storage::ProductSummary& product) {
  return {
      {"id", product.id},
      {"manufacturer", product.manufacturer},
      {"brand", product.brand},
      {"model", product.model},
      {"type", product.type.empty() ? nlohmann::ordered_json(nullptr)
                                    : nlohmann::ordered_json(product.type)},
      {"status", product.status},
      {"flagged", product.flagged},
      {"findings", nlohmann::ordered_json::array()},
      {"version_count", product.version_count},
      {"created_at", product.created_at},
      {"updated_at", product.updated_at},
  };
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
