// Columns a product row derives from other data, kept for filters, facets and lookups: the class
// of its declared type, the checks its latest verdict failed and the GTIN of its latest
// declaration. Both backends write them with every declaration or verdict and fill them in for
// stored products when a schema migration adds them. Also the facet counts over them, the same
// for every backend.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"
#include "registry/storage/storage.h"

namespace iotreg::storage {

// The failing-checks column (VerdictRecord::failing_checks) for stored findings judged under an
// evaluation whose provenance (EvaluationInfo::provenance_json) is `provenance_json`.
// kCorruption when either is damaged.
Result<std::string> failing_checks_of_stored(std::string_view findings,
                                             std::string_view provenance_json);

// The GTIN column (StagedDeclaration::gtin: 14 digits) of a stored declaration's payload
// (body_codec.h); empty when it declares none or the payload cannot be read.
std::string gtin_of_payload(std::string_view payload);

// The number of products matching a query with one combination of facet values.
struct FacetGroup {
  std::string status;
  std::string type;  // "" when none is declared
  std::string product_class;
  std::string flag_state;      // of the newest flag; "" when none
  std::string failing_checks;  // the stored column
  std::uint64_t products = 0;
};

// A backend's grouped count of the products a query matches (after_id and limit ignored).
using FacetGrouping = std::function<Result<std::vector<FacetGroup>>(const ProductQuery&)>;

// ProductFacets for `query`: one grouping with the whole query (`query` itself, passed first),
// and one more for each dimension the query has a condition on, with a copy without that
// condition.
Result<ProductFacets> count_facets(const ProductQuery& query, const FacetGrouping& grouping);

}  // namespace iotreg::storage
