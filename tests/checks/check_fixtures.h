// Test support for the checks and policy tests: where the fixture plugins were built, and small
// builders for declarations and policies. Header-only; nothing here touches files at static
// initialisation.
#pragma once

#include <doctest/doctest.h>

#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "importers/schema/compiled_schema.h"
#include "registry/model/declaration.h"
#include "registry/policy/policy.h"

namespace iotreg::testing {

// The directory of one fixture scenario (tests/checks/CMakeLists.txt), canonical, as the loader
// reports it.
inline std::string fixture_dir(std::string_view scenario) {
  return std::filesystem::canonical(std::filesystem::path(IOTREG_CHECK_FIXTURES) /
                                    std::string(scenario))
      .string();
}

// The canonical path of fixture plugin `name`.so of `scenario`.
inline std::string fixture_plugin(std::string_view scenario, std::string_view name) {
  return fixture_dir(scenario) + "/" + std::string(name) + ".so";
}

// A declaration of the built-in catalog with the given fields set.
inline model::Declaration declaration_with(
    std::initializer_list<std::pair<std::string_view, model::FieldValue>> fields) {
  auto catalog = importers::CompiledSchema::builtin()->catalog();
  model::Declaration declaration(catalog);
  for (const auto& [path, value] : fields) {
    auto index = catalog->index_of(path);
    REQUIRE_MESSAGE(index.has_value(), "no field " << path << " in the built-in catalog");
    declaration.set(*index, value);
  }
  return declaration;
}

// An in-scope product of the built-in catalog.
inline model::Declaration ordinary_declaration() {
  return declaration_with({{"manufacturer.name", std::string("Acme Devices Ltd")},
                           {"product.brand", std::string("Acme")},
                           {"product.model", std::string("Cam 1")},
                           {"product.category", std::string("general")}});
}

// Parses a policy the test itself wrote; the test fails when it does not parse.
inline policy::Policy policy_from(std::string_view yaml_text) {
  auto parsed = policy::parse_policy(yaml_text, "fixture-policy.yaml");
  REQUIRE_MESSAGE(parsed.is_ok(), parsed.status().message());
  return parsed.value();
}

}  // namespace iotreg::testing
