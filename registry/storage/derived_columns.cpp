#include "registry/storage/derived_columns.h"

#include <nlohmann/json.hpp>

#include "registry/checks/checks.h"
#include "registry/model/lookup_keys.h"
#include "registry/storage/body_codec.h"
#include "registry/storage/storage.h"

namespace iotreg::storage {

std::string failing_checks_column(const std::vector<std::string>& check_ids) {
  if (check_ids.empty()) return {};
  std::string column = " ";
  for (const auto& id : check_ids) column += id + ' ';
  return column;
}

Result<std::string> failing_checks_of_stored(std::string_view findings,
                                             std::string_view provenance_json) {
  auto decoded = checks::decode_findings(findings);
  if (!decoded.is_ok()) return decoded.status();
  const auto provenance =
      nlohmann::json::parse(provenance_json, nullptr, /*allow_exceptions=*/false);
  if (!provenance.is_object() || !provenance.contains("checks") ||
      !provenance["checks"].is_array()) {
    return Status::corruption("an evaluation's provenance has no list of checks");
  }
  const auto& checks = provenance["checks"];
  std::vector<std::string> failing;
  for (const auto& finding : decoded.value()) {
    if (finding.outcome != checks::Outcome::kFail) continue;
    if (finding.check >= checks.size() || !checks[finding.check].is_object()) {
      return Status::corruption("stored findings name a check their evaluation does not have");
    }
    failing.push_back(checks[finding.check].value("check", ""));
  }
  return failing_checks_column(failing);
}

std::string gtin_of_payload(std::string_view payload) {
  auto json = payload_to_json(payload);
  if (!json.is_ok()) return {};
  const auto body = nlohmann::json::parse(json.value(), nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("product") || !body["product"].is_object()) return {};
  const auto& product = body["product"];
  if (!product.contains("gtin") || !product["gtin"].is_string()) return {};
  auto gtin = model::normalized_gtin(product["gtin"].get<std::string>());
  return gtin.is_ok() ? std::move(gtin).value() : std::string();
}

namespace {

enum class Dimension { kStatus, kClass, kFlagState, kFailingCheck };

void add_group(const FacetGroup& group, Dimension dimension, ProductFacets& facets) {
  switch (dimension) {
    case Dimension::kStatus:
      facets.status[group.status] += group.products;
      break;
    case Dimension::kClass:
      facets.product_class[group.product_class] += group.products;
      break;
    case Dimension::kFlagState:
      if (!group.flag_state.empty()) facets.flag_state[group.flag_state] += group.products;
      break;
    case Dimension::kFailingCheck: {
      std::string_view rest = group.failing_checks;
      while (!rest.empty()) {
        const auto start = rest.find_first_not_of(' ');
        if (start == std::string_view::npos) break;
        const auto end = rest.find(' ', start);
        facets.failing_check[std::string(rest.substr(start, end - start))] += group.products;
        rest = end == std::string_view::npos ? std::string_view() : rest.substr(end);
      }
      break;
    }
  }
}

}  // namespace

Result<ProductPage> Storage::list_products_with_facets(const ProductQuery& query) {
  ProductPage page;
  auto products = list_products(query);
  if (!products.is_ok()) return products.status();
  page.products = std::move(products).value();
  auto facets = product_facets(query);
  if (!facets.is_ok()) return facets.status();
  page.facets = std::move(facets).value();
  return page;
}

Result<ProductFacets> count_facets(const ProductQuery& query, const FacetGrouping& grouping) {
  struct Conditioned {
    Dimension dimension;
    bool has_condition;
    std::function<void(ProductQuery&)> drop;
  };
  const Conditioned dimensions[] = {
      {Dimension::kStatus, query.status.has_value(), [](ProductQuery& q) { q.status.reset(); }},
      {Dimension::kClass, query.product_class.has_value(),
       [](ProductQuery& q) { q.product_class.reset(); }},
      {Dimension::kFlagState, query.flag_state.has_value(),
       [](ProductQuery& q) { q.flag_state.reset(); }},
      {Dimension::kFailingCheck, query.failing.has_value(),
       [](ProductQuery& q) { q.failing.reset(); }},
  };
  ProductFacets facets;
  auto whole = grouping(query);
  if (!whole.is_ok()) return whole.status();
  for (const auto& group : whole.value()) {
    facets.type[group.type] += group.products;
    for (const auto& dimension : dimensions) {
      if (!dimension.has_condition) add_group(group, dimension.dimension, facets);
    }
  }
  for (const auto& dimension : dimensions) {
    if (!dimension.has_condition) continue;
    ProductQuery without = query;
    dimension.drop(without);
    auto groups = grouping(without);
    if (!groups.is_ok()) return groups.status();
    for (const auto& group : groups.value()) add_group(group, dimension.dimension, facets);
  }
  return facets;
}

}  // namespace iotreg::storage
