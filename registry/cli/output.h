// Private to registry/cli: the shapes in which products and declarations are printed.
// DESIGN.md §5 fixes the minimum fields of a product in `products --json`; these functions
// are the one place that builds them.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "registry/storage/storage.h"

namespace iotreg::cli {

// {id, manufacturer, brand, model, type, status, flagged, findings, version_count, created_at,
//  updated_at}. Findings are empty until checks have run.
nlohmann::ordered_json product_json(const storage::ProductSummary& product);

// One CSV field, quoted when it holds a comma, quote, CR or LF (RFC 4180).
std::string csv_field(std::string_view text);

// Text for a terminal: control characters replaced, so that untrusted data cannot move the
// cursor or change colours.
std::string printable(std::string_view text);

}  // namespace iotreg::cli
