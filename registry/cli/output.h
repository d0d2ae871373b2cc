// Private to registry/cli: the shapes in which products and declarations are printed.
// DESIGN.md §5 fixes the minimum fields of a product in `products --json`; these functions
// are the one place that builds them.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "registry/storage/storage.h"

namespace iotreg::cli {

// {id, manufacturer, brand, model, type, status, flagged, label_id, findings, version_count,
//  created_at, updated_at}. `findings` as made by FindingsPrinter (empty until checked).
nlohmann::ordered_json product_json(const storage::ProductSummary& product,
                                    nlohmann::ordered_json findings);

// Turns a product's stored findings into JSON, with each check's requirement and level from
// the provenance of the evaluation that produced them (read once per evaluation). Borrows the
// storage.
class FindingsPrinter {
 public:
  explicit FindingsPrinter(storage::Storage& storage) : storage_(storage) {}
  // [{check, outcome, requirement, message, field, level}]; empty when never checked.
  Result<nlohmann::ordered_json> findings(const storage::ProductSummary& product);
  // The evaluation's provenance (policy, as-of, plugins); null when never checked.
  Result<nlohmann::ordered_json> provenance(std::int64_t evaluation_id);

 private:
  storage::Storage& storage_;
  std::map<std::int64_t, nlohmann::ordered_json> provenance_;
};

// A table cell of `width` characters: the text made printable, cut with ~ to leave at least one
// space before the next column, then padded. Counts UTF-8 characters, not bytes.
std::string cell(std::string_view text, std::size_t width);

// One CSV field, quoted when it holds a comma, quote, CR or LF (RFC 4180).
std::string csv_field(std::string_view text);

// Text for a terminal: control characters replaced, so that untrusted data cannot move the
// cursor or change colours.
std::string printable(std::string_view text);

}  // namespace iotreg::cli
