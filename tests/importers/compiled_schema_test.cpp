// Unit tests of CompiledSchema: what compile() accepts and refuses, the catalog it derives, and
// the validators for nested documents (validate_document) and CSV cells (set_from_text,
// check_required), including the domain checks (calendar dates, GTIN check digits).
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "importers/schema/compiled_schema.h"

namespace iotreg::importers {
namespace {

using model::ValueType;
using nlohmann::json;
using nlohmann::ordered_json;

// The smallest schema compile() accepts: the well-known fields, nothing else.
ordered_json minimal_schema() {
  return ordered_json::parse(R"json({
    "type": "object",
    "additionalProperties": false,
    "required": ["manufacturer", "product"],
    "properties": {
      "manufacturer": {
        "type": "object",
        "additionalProperties": false,
        "properties": {"name": {"type": "string", "minLength": 1}},
        "required": ["name"]
      },
      "product": {
        "type": "object",
        "additionalProperties": false,
        "properties": {
          "brand": {"type": "string", "minLength": 1},
          "model": {"type": "string", "minLength": 1},
          "type": {"type": "string"}
        },
        "required": ["brand", "model"]
      }
    }
  })json");
}

ordered_json& model_field(ordered_json& schema) {
  return schema["properties"]["product"]["properties"]["model"];
}

std::shared_ptr<const CompiledSchema> compiled(const ordered_json& schema,
                                               bool domain_checks = true) {
  auto result = CompiledSchema::compile(schema.dump(), {.domain_checks = domain_checks});
  REQUIRE_MESSAGE(result.is_ok(), result.status().message());
  return result.value();
}

// The error compile() gives for a schema it must refuse.
std::string refusal(const ordered_json& schema) {
  auto result = CompiledSchema::compile(schema.dump());
  REQUIRE_MESSAGE(!result.is_ok(), "compile() accepted " << schema.dump());
  CHECK(result.status().code() == Status::Code::kInvalidArgument);
  return result.status().message();
}

std::shared_ptr<const CompiledSchema> without_domain_checks() {
  static const auto schema = [] {
    auto result = CompiledSchema::compile(CompiledSchema::builtin_text(), {.domain_checks = false});
    REQUIRE(result.is_ok());
    return result.value();
  }();
  return schema;
}

std::size_t index_of(const CompiledSchema& schema, std::string_view path) {
  auto index = schema.catalog()->index_of(path);
  REQUIRE_MESSAGE(index.has_value(), "no field " << path);
  return *index;
}

// One CSV cell through set_from_text.
struct Cell {
  bool ok = false;
  model::Declaration record;
  std::vector<FieldIssue> issues;

  explicit Cell(const CompiledSchema& schema) : record(schema.catalog()) {}

  const model::FieldValue& value(const CompiledSchema& schema, std::string_view path) const {
    return record.value(*schema.catalog()->index_of(path));
  }
  std::string reason() const { return issues.empty() ? std::string() : issues.front().reason; }
};

Cell set_cell(std::string_view path, std::string_view text,
              const CompiledSchema& schema = *CompiledSchema::builtin()) {
  Cell cell(schema);
  cell.ok = schema.set_from_text(index_of(schema, path), text, cell.record, cell.issues);
  CHECK(cell.ok == cell.issues.empty());
  if (!cell.ok) {
    CHECK(cell.issues.size() >= 1);
    CHECK(cell.issues.front().field.rfind(std::string(path), 0) == 0);
  }
  return cell;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

// A nested document through validate_document.
struct Validated {
  bool ok = false;
  model::Declaration record;
  std::vector<FieldIssue> issues;

  explicit Validated(const CompiledSchema& schema) : record(schema.catalog()) {}

  // The reason given for `field`, or "" when there is no issue for it.
  std::string reason_for(std::string_view field) const {
    for (const auto& issue : issues) {
      if (issue.field == field) return issue.reason;
    }
    return "";
  }
  std::vector<std::string> fields() const {
    std::vector<std::string> out;
    for (const auto& issue : issues) out.push_back(issue.field);
    return out;
  }
};

Validated validate(const json& document,
                   const CompiledSchema& schema = *CompiledSchema::builtin()) {
  Validated result(schema);
  result.ok = schema.validate_document(document, result.record, result.issues);
  CHECK(result.ok == result.issues.empty());
  return result;
}

json minimal_declaration() {
  return json::parse(
      R"json({"manufacturer": {"name": "Example Devices Ltd"},
              "product": {"brand": "Example", "model": "EX-1"}})json");
}

json complete_declaration() {
  return json::parse(R"json({
    "manufacturer": {"name": "Example Devices Ltd", "address": "1 High Street, Springfield",
                     "country": "GB", "email": "compliance@devices.example",
                     "representative": "Example EU Rep GmbH, Berlin"},
    "product": {"brand": "Example", "model": "EX-1", "type": "smart camera",
                "category": "general", "cellular": false, "for_children": true,
                "hardware_version": "B2", "firmware_version": "2.4.1", "gtin": "4006381333931",
                "batch": "2024-W12", "placed_on_market": "2024-02-29", "updatable": true},
    "passwords": {"default": "unique_per_device", "factory_reset": "unique_per_device",
                  "forced_change": false, "generation": "Random per device",
                  "examples": ["r8Kw2-Vd7Tq", "Np4e7TzW9k"]},
    "vulnerability": {"contact_email": "security@devices.example",
                      "contact_url": "https://devices.example/security",
                      "contact_phone": "+44 20 7946 0000",
                      "policy_url": "https://devices.example/security/policy",
                      "acknowledge_days": 5, "update_days": 30,
                      "personal_data_required": false, "free_of_charge": true,
                      "language": "en-GB"},
    "support": {"end_date": "2030-12-31", "published_url": "https://devices.example/support"},
    "label": {"scheme": "UK-PSTI", "level": 2, "id": "L-123", "expiry": "2028-06-30"},
    "statement": {"signatory": "Alex Example", "role": "Head of Compliance",
                  "place": "Springfield", "date": "2024-03-01",
                  "standards": ["ETSI EN 303 645 V2.1.1 (2020-06)"]},
    "declaration": {"reference": "DOC-1"}
  })json");
}

// `count` copies of a two-byte character.
std::string e_acute(std::size_t count) {
  std::string out;
  for (std::size_t i = 0; i < count; ++i) out += "\xC3\xA9";
  return out;
}

TEST_SUITE("compiled_schema") {
  TEST_CASE("the built-in schema compiles, with and without domain checks") {
    REQUIRE(CompiledSchema::builtin() != nullptr);
    CHECK(CompiledSchema::builtin() == CompiledSchema::builtin());  // compiled once
    for (bool domain_checks : {true, false}) {
      auto result =
          CompiledSchema::compile(CompiledSchema::builtin_text(), {.domain_checks = domain_checks});
      CHECK_MESSAGE(result.is_ok(), result.status().message());
    }
  }

  TEST_CASE("the catalog lists every leaf field in schema order with its value type") {
    const std::vector<std::pair<std::string, ValueType>> expected = {
        {"manufacturer.name", ValueType::kString},
        {"manufacturer.address", ValueType::kString},
        {"manufacturer.country", ValueType::kString},
        {"manufacturer.email", ValueType::kString},
        {"manufacturer.representative", ValueType::kString},
        {"product.brand", ValueType::kString},
        {"product.model", ValueType::kString},
        {"product.type", ValueType::kString},
        {"product.category", ValueType::kString},
        {"product.cellular", ValueType::kBoolean},
        {"product.for_children", ValueType::kBoolean},
        {"product.hardware_version", ValueType::kString},
        {"product.firmware_version", ValueType::kString},
        {"product.gtin", ValueType::kString},
        {"product.batch", ValueType::kString},
        {"product.placed_on_market", ValueType::kString},
        {"product.updatable", ValueType::kBoolean},
        {"passwords.default", ValueType::kString},
        {"passwords.factory_reset", ValueType::kString},
        {"passwords.forced_change", ValueType::kBoolean},
        {"passwords.generation", ValueType::kString},
        {"passwords.examples", ValueType::kStringList},
        {"vulnerability.contact_email", ValueType::kString},
        {"vulnerability.contact_url", ValueType::kString},
        {"vulnerability.contact_phone", ValueType::kString},
        {"vulnerability.policy_url", ValueType::kString},
        {"vulnerability.acknowledge_days", ValueType::kInteger},
        {"vulnerability.update_days", ValueType::kInteger},
        {"vulnerability.personal_data_required", ValueType::kBoolean},
        {"vulnerability.free_of_charge", ValueType::kBoolean},
        {"vulnerability.language", ValueType::kString},
        {"support.end_date", ValueType::kString},
        {"support.published_url", ValueType::kString},
        {"label.scheme", ValueType::kString},
        {"label.level", ValueType::kInteger},
        {"label.id", ValueType::kString},
        {"label.expiry", ValueType::kString},
        {"statement.signatory", ValueType::kString},
        {"statement.role", ValueType::kString},
        {"statement.place", ValueType::kString},
        {"statement.date", ValueType::kString},
        {"statement.standards", ValueType::kStringList},
        {"declaration.reference", ValueType::kString},
    };
    const auto& catalog = *CompiledSchema::builtin()->catalog();
    REQUIRE(catalog.size() == expected.size());
    CHECK(catalog.field(0).path == "manufacturer.name");
    for (std::size_t i = 0; i < expected.size(); ++i) {
      INFO("catalog index " << i);
      CHECK(catalog.field(i).path == expected[i].first);
      CHECK(catalog.field(i).type == expected[i].second);
      CHECK(catalog.index_of(expected[i].first) == i);
    }
    CHECK_FALSE(catalog.index_of("product").has_value());  // groups are not fields
    CHECK_FALSE(catalog.index_of("product.colour").has_value());
  }

  TEST_CASE("compile refuses every keyword it does not implement, naming the JSON pointer") {
    const std::vector<std::pair<std::string, json>> keywords = {
        {"oneOf", json::array({json::object({{"type", "string"}})})},
        {"anyOf", json::array({json::object({{"type", "string"}})})},
        {"allOf", json::array({json::object({{"type", "string"}})})},
        {"not", json::object({{"type", "integer"}})},
        {"$ref", "#/definitions/name"},
        {"const", "EX-1"},
        {"patternProperties", json::object({{"^x-", json::object()}})},
        {"dependencies", json::object({{"a", json::array({"b"})}})},
        {"exclusiveMinimum", 0},
        {"exclusiveMaximum", 10},
        {"multipleOf", 2},
        {"if", json::object({{"type", "string"}})},
        {"then", json::object()},
        {"else", json::object()},
        {"contains", json::object()},
        {"uniqueItems", true},
        {"propertyNames", json::object()},
        {"minProperties", 1},
        {"maxProperties", 1},
        {"additionalItems", false},
        {"definitions", json::object()},
        {"contentMediaType", "text/plain"},
        {"readOnly", true},
    };
    for (const auto& [keyword, value] : keywords) {
      INFO("keyword " << keyword);
      auto schema = minimal_schema();
      model_field(schema)[keyword] = ordered_json::parse(value.dump());
      std::string message = refusal(schema);
      CHECK(contains(message, "schema /properties/product/properties/model:"));
      CHECK(contains(message, "'" + keyword + "'"));
      CHECK(contains(message, "not supported"));
    }
    SUBCASE("at the root and inside items") {
      auto schema = minimal_schema();
      schema["definitions"] = ordered_json::object();
      CHECK(contains(refusal(schema), "schema /: keyword 'definitions'"));

      schema = minimal_schema();
      schema["properties"]["product"]["properties"]["codes"] = ordered_json::parse(
          R"json({"type": "array", "items": {"type": "string", "const": "x"}})json");
      CHECK(contains(refusal(schema),
                     "schema /properties/product/properties/codes/items: keyword 'const'"));
    }
  }

  TEST_CASE("compile refuses formats other than date and gtin") {
    for (const std::string format :
         {"email", "uri", "date-time", "hostname", "ipv4", "regex", ""}) {
      INFO("format " << format);
      auto schema = minimal_schema();
      model_field(schema)["format"] = format;
      std::string message = refusal(schema);
      CHECK(contains(message, "schema /properties/product/properties/model:"));
      CHECK(contains(message, "format '" + format + "' is not supported"));
    }
    for (const std::string format : {"date", "gtin"}) {
      auto schema = minimal_schema();
      model_field(schema)["format"] = format;
      CHECK(CompiledSchema::compile(schema.dump()).is_ok());
    }
  }

  TEST_CASE("compile refuses fields that do not have exactly one supported type") {
    const std::vector<std::string> leaves = {
        R"json({"type": ["string", "null"]})json",
        R"json({"type": ["integer", "string"]})json",
        R"json({"minLength": 1})json",  // no type at all
        R"json({"type": "number"})json",
        R"json({"type": "null"})json",
        R"json({"type": "array"})json",  // a list needs items
        R"json({"type": "array", "items": {"type": "integer"}})json",
        R"json({"type": "array", "items": {"type": ["string", "null"]}})json",
    };
    for (const auto& leaf : leaves) {
      INFO("field schema " << leaf);
      auto schema = minimal_schema();
      schema["properties"]["product"]["properties"]["extra"] = ordered_json::parse(leaf);
      std::string message = refusal(schema);
      CHECK(contains(message, "schema /properties/product/properties/extra:"));
      CHECK(contains(message, "field product.extra must have exactly one type"));
    }
    SUBCASE("a group that may also be null is a leaf of no supported type") {
      auto schema = minimal_schema();
      schema["properties"]["product"]["type"] = ordered_json::array({"object", "null"});
      CHECK(contains(refusal(schema), "field product must have exactly one type"));
    }
  }

  TEST_CASE("compile refuses malformed keyword values and schemas without the identity fields") {
    struct Case {
      std::string name;
      std::string field_schema;
      std::string expected;
    };
    const std::vector<Case> cases = {
        {"unknown type name", R"json({"type": "text"})json", "'type' must name JSON types"},
        {"items as a list", R"json({"type": "array", "items": [{"type": "string"}]})json",
         "'items' is supported as a single schema only"},
        {"negative minLength", R"json({"type": "string", "minLength": -1})json",
         "'minLength' must be a non-negative integer"},
        {"fractional maxLength", R"json({"type": "string", "maxLength": 2.5})json",
         "'maxLength' must be a non-negative integer"},
        {"empty enum", R"json({"type": "string", "enum": []})json",
         "'enum' must be a non-empty list"},
        {"broken pattern", R"json({"type": "string", "pattern": "(["})json",
         "pattern cannot be compiled"},
        {"pattern not a string", R"json({"type": "string", "pattern": 5})json",
         "'pattern' must be a string"},
        {"minimum not a number", R"json({"type": "integer", "minimum": "0"})json",
         "'minimum' must be a number"},
        {"subschema not an object", "true", "a subschema must be an object"},
    };
    for (const auto& test : cases) {
      INFO(test.name);
      auto schema = minimal_schema();
      schema["properties"]["product"]["properties"]["extra"] =
          ordered_json::parse(test.field_schema);
      std::string message = refusal(schema);
      CHECK(contains(message, "schema /properties/product/properties/extra"));
      CHECK(contains(message, test.expected));
    }
    SUBCASE("object keywords") {
      auto schema = minimal_schema();
      schema["properties"]["product"]["additionalProperties"] = ordered_json::object();
      CHECK(contains(refusal(schema), "'additionalProperties' is supported as true or false"));
      schema = minimal_schema();
      schema["properties"]["product"]["required"] = "brand";
      CHECK(contains(refusal(schema), "'required' must be a list"));
      schema = minimal_schema();
      schema["properties"]["product"]["properties"]["a.b"] = {{"type", "string"}};
      CHECK(contains(refusal(schema), "property name 'a.b' must not contain '.'"));
    }
    SUBCASE("the document and the identity fields") {
      CHECK(contains(refusal(ordered_json::parse(R"json({"type": "string"})json")),
                     "the document must be of type object"));
      CHECK(CompiledSchema::compile("{\"type\": ").status().message() ==
            "schema is not valid JSON");
      auto schema = minimal_schema();
      schema["properties"]["product"]["properties"].erase("model");
      schema["properties"]["product"]["required"] = ordered_json::array({"brand"});
      CHECK(contains(refusal(schema), "product.model"));
      schema = minimal_schema();
      model_field(schema) = {{"type", "integer"}};
      CHECK(contains(refusal(schema), "product.model"));
    }
  }

  TEST_CASE("compile accepts annotations anywhere and uses x-expected in messages") {
    auto schema = minimal_schema();
    schema["$schema"] = "http://json-schema.org/draft-07/schema#";
    schema["$id"] = "https://iotreg.example/test.schema.json";
    schema["title"] = "test";
    schema["description"] = "a schema with every annotation";
    schema["$comment"] = "comments are ignored";
    auto& model = model_field(schema);
    model["title"] = "Model";
    model["description"] = "Model designation";
    model["$comment"] = "identity";
    model["default"] = "EX-0";
    model["examples"] = ordered_json::array({"EX-1", "EX-2"});
    model["pattern"] = "^EX-[0-9]+$";
    model["x-expected"] = "a model number such as EX-1";
    auto compiled_schema = compiled(schema);
    auto result =
        validate(json::parse(R"json({"manufacturer": {"name": "M"}, "product": {"brand": "B",
                                                                      "model": "EX-1"}})json"),
                 *compiled_schema);
    CHECK(result.ok);
    result = validate(json::parse(R"json({"manufacturer": {"name": "M"}, "product": {"brand": "B",
                                                                      "model": "X1"}})json"),
                      *compiled_schema);
    CHECK(result.reason_for("product.model") == "'X1' is not a model number such as EX-1");

    SUBCASE("without x-expected the message shows the pattern") {
      model.erase("x-expected");
      auto plain = compiled(schema);
      auto rejected =
          validate(json::parse(R"json({"manufacturer": {"name": "M"}, "product": {"brand": "B",
                                                                        "model": "X1"}})json"),
                   *plain);
      CHECK(contains(rejected.reason_for("product.model"), "^EX-[0-9]+$"));
    }
  }

  TEST_CASE("set_from_text: booleans") {
    const std::vector<std::pair<std::string, bool>> accepted = {
        {"true", true}, {"FALSE", false}, {"Yes", true},  {"no", false},
        {"1", true},    {"0", false},     {"TRUE", true}, {"yEs", true}};
    for (const auto& [text, flag] : accepted) {
      INFO("cell " << text);
      auto cell = set_cell("product.cellular", text);
      REQUIRE(cell.ok);
      CHECK(std::get<bool>(cell.value(*CompiledSchema::builtin(), "product.cellular")) == flag);
    }
    for (const std::string text : {"maybe", "y", "2", "t", "tr ue", "on"}) {
      INFO("cell " << text);
      auto cell = set_cell("product.cellular", text);
      CHECK_FALSE(cell.ok);
      CHECK(contains(cell.reason(), "expected a boolean (true/false, yes/no, 1/0)"));
    }
  }

  TEST_CASE("set_from_text: integers") {
    const auto& schema = *CompiledSchema::builtin();
    auto cell = set_cell("vulnerability.acknowledge_days", "+5");
    REQUIRE(cell.ok);
    CHECK(std::get<std::int64_t>(cell.value(schema, "vulnerability.acknowledge_days")) == 5);
    CHECK(set_cell("vulnerability.acknowledge_days", "0").ok);
    CHECK(set_cell("vulnerability.acknowledge_days", "3650").ok);

    cell = set_cell("vulnerability.acknowledge_days", "-1");
    CHECK_FALSE(cell.ok);
    CHECK(cell.reason() == "must be at least 0");
    cell = set_cell("vulnerability.acknowledge_days", "3651");
    CHECK(cell.reason() == "must be at most 3650");
    cell = set_cell("label.level", "101");
    CHECK(cell.reason() == "must be at most 100");
    cell = set_cell("vulnerability.acknowledge_days", "12abc");
    CHECK(cell.reason() == "expected an integer, got '12abc'");
    cell = set_cell("vulnerability.acknowledge_days", "99999999999999999999");
    CHECK(cell.reason() == "integer is too large");
    for (const std::string text : {"+", "-", "5.0", "5 5", "1e3", "0x10", "++5"}) {
      INFO("cell " << text);
      CHECK(contains(set_cell("vulnerability.acknowledge_days", text).reason(),
                     "expected an integer"));
    }
  }

  TEST_CASE("set_from_text: lists split on | with \\ escapes") {
    const auto& schema = *CompiledSchema::builtin();
    auto list = [&](std::string_view text) {
      auto cell = set_cell("passwords.examples", text);
      REQUIRE_MESSAGE(cell.ok, cell.reason());
      return std::get<model::StringList>(cell.value(schema, "passwords.examples"));
    };
    CHECK(list("a|b") == model::StringList{"a", "b"});
    CHECK(list("a\\|b") == model::StringList{"a|b"});
    CHECK(list("a\\\\b") == model::StringList{"a\\b"});
    CHECK(list("r8\\|Kw2|Np4\\\\e7") == model::StringList{"r8|Kw2", "Np4\\e7"});
    CHECK(list("single") == model::StringList{"single"});
    CHECK(list("a||b") == model::StringList{"a", "", "b"});  // examples may be empty
    CHECK(list("|") == model::StringList{"", ""});
    CHECK(list("a\\\\|b") == model::StringList{"a\\", "b"});

    for (const std::string text : {"a\\", "a\\b", "\\n"}) {
      INFO("cell " << text);
      auto cell = set_cell("passwords.examples", text);
      CHECK_FALSE(cell.ok);
      CHECK(contains(cell.reason(), "'\\' that is not followed by '|' or '\\'"));
    }

    SUBCASE("items are checked against the items schema, with their index") {
      auto cell = set_cell("statement.standards", "EN 303 645||ISO 27001");
      CHECK_FALSE(cell.ok);
      REQUIRE(cell.issues.size() == 1);
      CHECK(cell.issues[0].field == "statement.standards[1]");
      CHECK(cell.issues[0].reason == "must not be empty");
      cell = set_cell("passwords.examples", "ok|" + std::string(201, 'x'));
      REQUIRE(cell.issues.size() == 1);
      CHECK(cell.issues[0].field == "passwords.examples[1]");
      CHECK(cell.issues[0].reason == "is longer than 200 characters");
    }
    SUBCASE("maxItems") {
      std::string hundred = "s";
      for (int i = 1; i < 100; ++i) hundred += "|s";
      CHECK(set_cell("statement.standards", hundred).ok);
      auto cell = set_cell("statement.standards", hundred + "|s");
      CHECK(cell.reason() == "must have at most 100 items");
    }
  }

  TEST_CASE("set_from_text: strings count characters, not bytes") {
    CHECK(set_cell("manufacturer.name", e_acute(300)).ok);  // 600 bytes
    auto cell = set_cell("manufacturer.name", e_acute(301));
    CHECK(cell.reason() == "is longer than 300 characters");
    CHECK(set_cell("vulnerability.contact_phone", std::string(50, '1')).ok);
    CHECK(set_cell("vulnerability.contact_phone", std::string(51, '1')).reason() ==
          "is longer than 50 characters");
  }

  TEST_CASE("set_from_text: GTIN check digits") {
    for (const std::string gtin : {"96385074", "036000291452", "4006381333931", "10012345000017"}) {
      INFO("GTIN " << gtin);
      CHECK(set_cell("product.gtin", gtin).ok);
    }
    auto cell = set_cell("product.gtin", "4006381333932");
    CHECK_FALSE(cell.ok);
    CHECK(cell.reason() == "'4006381333932' has a wrong check digit: expected 1, found 2");
    cell = set_cell("product.gtin", "96385070");
    CHECK(contains(cell.reason(), "expected 4, found 0"));
    cell = set_cell("product.gtin", "036000291450");
    CHECK(contains(cell.reason(), "expected 2, found 0"));
    cell = set_cell("product.gtin", "10012345000010");
    CHECK(contains(cell.reason(), "expected 7, found 0"));

    // The wrong shape is reported once, as the pattern's words, without a check-digit issue.
    for (const std::string gtin : {"12345", "4006381333", "40063813339311x", "4006381 333931"}) {
      INFO("GTIN " << gtin);
      cell = set_cell("product.gtin", gtin);
      REQUIRE(cell.issues.size() == 1);
      CHECK(cell.reason() == "'" + gtin + "' is not a GTIN of 8, 12, 13 or 14 digits");
    }

    SUBCASE("without domain checks only the shape counts") {
      CHECK(set_cell("product.gtin", "4006381333932", *without_domain_checks()).ok);
      CHECK_FALSE(set_cell("product.gtin", "12345", *without_domain_checks()).ok);
    }
  }

  TEST_CASE("set_from_text: dates") {
    for (const std::string date :
         {"2024-02-29", "2000-02-29", "2023-02-28", "2027-12-31", "0001-01-01"}) {
      INFO("date " << date);
      CHECK(set_cell("support.end_date", date).ok);
    }
    auto cell = set_cell("support.end_date", "2023-02-29");
    CHECK_FALSE(cell.ok);
    CHECK(cell.reason() == "'2023-02-29' does not exist: 2023 is not a leap year");
    CHECK(contains(set_cell("statement.date", "1900-02-29").reason(), "leap year"));
    CHECK(contains(set_cell("label.expiry", "2100-02-29").reason(), "leap year"));

    for (const std::string date :
         {"2027-02-30", "2027-13-01", "2027-04-31", "2027-00-10", "2027-01-00", "2027-01-32"}) {
      INFO("date " << date);
      cell = set_cell("support.end_date", date);
      CHECK_FALSE(cell.ok);
      CHECK(contains(cell.reason(), "is not a calendar date"));
    }
    for (const std::string date :
         {"27-01-01", "2027-1-01", "2027/01/01", "2027-01-01T00:00", "today"}) {
      INFO("date " << date);
      cell = set_cell("support.end_date", date);
      CHECK_FALSE(cell.ok);
      CHECK(contains(cell.reason(), "is not a date in the form YYYY-MM-DD"));
    }
    // Each wrong date is one issue; one written day first, or month first where the order
    // shows, says how to write it.
    for (const auto& [date, reason] : std::vector<std::pair<std::string, std::string>>{
             {"31/12/2027",
              "'31/12/2027' is not a date in the form YYYY-MM-DD; write it as "
              "2027-12-31"},
             {"12.31.2027",
              "'12.31.2027' is not a date in the form YYYY-MM-DD; write it as "
              "2027-12-31"},
             {"5-6-2027",
              "'5-6-2027' is not a date in the form YYYY-MM-DD; write it as YYYY-MM-DD "
              "(day and month could be either way round here)"},
             {"7/7/2027",
              "'7/7/2027' is not a date in the form YYYY-MM-DD; write it as "
              "2027-07-07"},
             {"31/31/2027", "'31/31/2027' is not a date in the form YYYY-MM-DD"},
             {"2027/01/01", "'2027/01/01' is not a date in the form YYYY-MM-DD"},
             {"46752", "'46752' is not a date in the form YYYY-MM-DD"}}) {
      INFO("date " << date);
      cell = set_cell("support.end_date", date);
      REQUIRE(cell.issues.size() == 1);
      CHECK(cell.reason() == reason);
    }

    SUBCASE("without domain checks February has 29 days in every year") {
      CHECK(set_cell("support.end_date", "2023-02-29", *without_domain_checks()).ok);
      CHECK_FALSE(set_cell("support.end_date", "2023-02-30", *without_domain_checks()).ok);
    }
  }

  TEST_CASE("set_from_text: e-mail addresses, URLs, language and country codes") {
    struct Case {
      const char* field;
      const char* text;
      bool ok;
    };
    const std::vector<Case> cases = {
        {"manufacturer.email", "compliance@devices.example", true},
        {"manufacturer.email", "a@b.c", true},
        {"manufacturer.email", "first.last+tag@mail.devices.example", true},
        {"manufacturer.email", "psirt[at]tessellate.example", false},
        {"manufacturer.email", "a@b", false},
        {"manufacturer.email", "a b@c.example", false},
        {"manufacturer.email", "a@@c.example", false},
        {"manufacturer.email", "a@c..example", false},
        {"vulnerability.contact_email", "@c.example", false},
        {"vulnerability.contact_url", "https://devices.example/security", true},
        {"vulnerability.contact_url", "http://devices.example:8080/a?b=c#d", true},
        {"vulnerability.contact_url", "https://devices.example", true},
        {"vulnerability.policy_url", "ftp://devices.example/policy", false},
        {"vulnerability.policy_url", "HTTPS://devices.example", false},
        {"vulnerability.policy_url", "https://", false},
        {"vulnerability.policy_url", "https://devices example", false},
        {"vulnerability.policy_url", "https://user@devices.example", false},
        {"support.published_url", "devices.example/support", false},
        {"support.published_url", "https://devices.example:123456/", false},
        {"vulnerability.language", "en", true},
        {"vulnerability.language", "en-GB", true},
        {"vulnerability.language", "EN", false},
        {"vulnerability.language", "en-gb", false},
        {"vulnerability.language", "en_GB", false},
        {"vulnerability.language", "eng", false},
        {"manufacturer.country", "GB", true},
        {"manufacturer.country", "gb", false},
        {"manufacturer.country", "GBR", false},
        {"manufacturer.country", "G", false},
        {"manufacturer.country", "\xC3\x84X", false},
    };
    const std::map<std::string, std::string> words = {
        {"manufacturer.email", "an e-mail address"},
        {"vulnerability.contact_email", "an e-mail address"},
        {"vulnerability.contact_url", "an http(s) URL"},
        {"vulnerability.policy_url", "an http(s) URL"},
        {"support.published_url", "an http(s) URL"},
        {"vulnerability.language", "an ISO 639-1 language code such as en or en-GB"},
        {"manufacturer.country", "an ISO 3166-1 alpha-2 country code such as GB"},
    };
    for (const auto& test : cases) {
      INFO(std::string(test.field) << " = " << std::string(test.text));
      auto cell = set_cell(test.field, test.text);
      CHECK(cell.ok == test.ok);
      if (!test.ok) {
        CHECK(cell.reason() == "'" + std::string(test.text) + "' is not " + words.at(test.field));
      }
    }
    auto cell = set_cell("manufacturer.email", std::string(250, 'a') + "@b.example");
    CHECK(cell.reason() == "is longer than 254 characters");
  }

  TEST_CASE("set_from_text: enums") {
    CHECK(set_cell("product.category", "smart_meter").ok);
    auto cell = set_cell("passwords.default", "shared");
    CHECK(cell.reason() ==
          "'shared' is not one of: none, unique_per_device, user_defined, universal");
    for (const std::string text : {"Universal", "uni versal", "n one", "NONE"}) {
      INFO("cell " << text);
      CHECK_FALSE(set_cell("passwords.default", text).ok);
    }
  }

  TEST_CASE("set_from_text: NUL is refused in a cell of every type, with the item's path") {
    const std::string nul(1, '\0');
    const std::string reason = "contains a NUL character (U+0000)";
    struct Case {
      std::string path, text, field;
    };
    for (const Case& test :
         {Case{"product.model", "EX" + nul + "1", "product.model"},
          Case{"passwords.default", "none" + nul, "passwords.default"},
          Case{"support.end_date", "2030-01-01" + nul, "support.end_date"},
          Case{"product.cellular", "yes" + nul, "product.cellular"},
          Case{"vulnerability.acknowledge_days", nul + "5", "vulnerability.acknowledge_days"},
          Case{"passwords.examples", "a|b" + nul, "passwords.examples[1]"},
          Case{"passwords.examples", "a\\" + nul, "passwords.examples"}}) {
      CAPTURE(test.text);
      auto cell = set_cell(test.path, test.text);
      CHECK_FALSE(cell.ok);
      REQUIRE(cell.issues.size() == 1);
      CHECK(cell.issues[0].field == test.field);
      CHECK(cell.issues[0].reason == reason);
    }
    // A caller that knows the text holds no NUL may spare the search; the text is then judged
    // on its own terms.
    const auto& schema = *CompiledSchema::builtin();
    Cell trusted(schema);
    CHECK(schema.set_from_text(index_of(schema, "product.model"), "EX-1", trusted.record,
                               trusted.issues, /*may_hold_nul=*/false));
    CHECK(trusted.issues.empty());
  }

  TEST_CASE("check_required: identity fields and groups") {
    const auto& schema = *CompiledSchema::builtin();
    model::Declaration record(schema.catalog());
    std::vector<FieldIssue> issues;
    CHECK_FALSE(schema.check_required(record, issues));
    std::vector<std::string> fields;
    for (const auto& issue : issues) {
      fields.push_back(issue.field);
      CHECK(issue.reason == "required field missing");
    }
    CHECK(fields ==
          std::vector<std::string>{"manufacturer.name", "product.brand", "product.model"});

    record.set(index_of(schema, "manufacturer.name"), std::string("M"));
    record.set(index_of(schema, "product.brand"), std::string("B"));
    issues.clear();
    CHECK_FALSE(schema.check_required(record, issues));
    REQUIRE(issues.size() == 1);
    CHECK(issues[0].field == "product.model");

    record.set(index_of(schema, "product.model"), std::string("X"));
    issues.clear();
    CHECK(schema.check_required(record, issues));
    CHECK(issues.empty());

    SUBCASE("a malformed required cell is reported once, not also as missing") {
      model::Declaration flat(schema.catalog());
      std::vector<FieldIssue> found;
      CHECK_FALSE(schema.set_from_text(index_of(schema, "product.model"), std::string(301, 'x'),
                                       flat, found));
      CHECK(found.size() == 1);
      found.clear();
      CHECK_FALSE(schema.check_required(flat, found));
      std::vector<std::string> missing;
      for (const auto& issue : found) missing.push_back(issue.field);
      CHECK(missing == std::vector<std::string>{"manufacturer.name", "product.brand"});
    }

    SUBCASE("a required group without required fields, an optional group with one") {
      auto custom = minimal_schema();
      custom["required"].push_back("support");
      custom["properties"]["support"] = ordered_json::parse(
          R"json({"type": "object", "properties": {"end_date": {"type": "string"}}})json");
      custom["properties"]["label"] = ordered_json::parse(R"json({
          "type": "object",
          "properties": {"scheme": {"type": "string"}, "level": {"type": "integer"}},
          "required": ["scheme"]})json");
      auto compiled_schema = compiled(custom);
      model::Declaration flat(compiled_schema->catalog());
      flat.set(index_of(*compiled_schema, "manufacturer.name"), std::string("M"));
      flat.set(index_of(*compiled_schema, "product.brand"), std::string("B"));
      flat.set(index_of(*compiled_schema, "product.model"), std::string("X"));
      std::vector<FieldIssue> found;
      CHECK_FALSE(compiled_schema->check_required(flat, found));
      REQUIRE(found.size() == 1);
      CHECK(found[0].field == "support");
      CHECK(found[0].reason == "required group missing");

      flat.set(index_of(*compiled_schema, "support.end_date"), std::string("2030-01-01"));
      found.clear();
      CHECK(compiled_schema->check_required(flat, found));  // label absent: fine

      flat.set(index_of(*compiled_schema, "label.level"), std::int64_t{2});
      found.clear();
      CHECK_FALSE(compiled_schema->check_required(flat, found));
      REQUIRE(found.size() == 1);
      CHECK(found[0].field == "label.scheme");
      CHECK(found[0].reason == "required field missing");
    }
  }

  TEST_CASE("validate_document: a valid document is stored field by field") {
    const auto& schema = *CompiledSchema::builtin();
    auto result = validate(complete_declaration());
    REQUIRE(result.ok);
    CHECK(result.record.string_at("product.brand") == "Example");
    CHECK(result.record.string_at("product.placed_on_market") == "2024-02-29");
    CHECK(std::get<std::int64_t>(
              result.record.value(index_of(schema, "vulnerability.acknowledge_days"))) == 5);
    CHECK(std::get<bool>(result.record.value(index_of(schema, "product.for_children"))));
    CHECK(std::get<model::StringList>(result.record.value(index_of(
              schema, "passwords.examples"))) == model::StringList{"r8Kw2-Vd7Tq", "Np4e7TzW9k"});
    CHECK(json::parse(result.record.to_canonical_json()) == complete_declaration());

    SUBCASE("the output record is cleared first") {
      model::Declaration out(schema.catalog());
      out.set(index_of(schema, "label.scheme"), std::string("stale"));
      std::vector<FieldIssue> issues;
      CHECK(schema.validate_document(minimal_declaration(), out, issues));
      CHECK_FALSE(out.has(index_of(schema, "label.scheme")));
      CHECK(out.string_at("product.model") == "EX-1");
    }
  }

  TEST_CASE("validate_document: issues name the field path") {
    SUBCASE("unknown fields, at the top level and in a group") {
      auto document = minimal_declaration();
      document["product"]["colour"] = "red";
      document["extra"] = 1;
      document["suport"] = {{"end_date", "2030-01-01"}};
      auto result = validate(document);
      CHECK_FALSE(result.ok);
      CHECK(result.reason_for("product.colour") == "unknown field");
      CHECK(result.reason_for("extra") == "unknown field");
      CHECK(result.reason_for("suport") == "unknown field; did you mean support?");
      CHECK(result.issues.size() == 3);
    }
    SUBCASE("a misspelt field in a group: did you mean, with the group's path") {
      auto document = minimal_declaration();
      document["product"]["modle"] = "EX-2";
      auto result = validate(document);
      CHECK(result.reason_for("product.modle") == "unknown field; did you mean product.model?");
    }
    SUBCASE("NUL in a value, a list item or a field name") {
      auto document = minimal_declaration();
      document["manufacturer"]["name"] = std::string("Example\0 Ltd", 12);
      document["passwords"] = {{"examples", {"ok", std::string("b\0", 2)}}};
      document["product"][std::string("ty\0pe", 5)] = "camera";
      auto result = validate(document);
      CHECK_FALSE(result.ok);
      CHECK(result.reason_for("manufacturer.name") == "contains a NUL character (U+0000)");
      CHECK(result.reason_for("passwords.examples[1]") == "contains a NUL character (U+0000)");
      CHECK(result.reason_for("product.ty\\u0000pe") ==
            "field name contains a NUL character (U+0000)");
      CHECK(result.issues.size() == 3);
    }
    SUBCASE("wrong JSON types") {
      auto document = minimal_declaration();
      document["vulnerability"] = {
          {"acknowledge_days", "soon"}, {"update_days", 5.0}, {"free_of_charge", "yes"}};
      document["support"] = "2030-01-01";
      document["manufacturer"]["name"] = 42;
      document["label"] = {{"expiry", json::array({"2030-01-01"})}};
      auto result = validate(document);
      CHECK_FALSE(result.ok);
      CHECK(result.reason_for("vulnerability.acknowledge_days") == "expected an integer, got text");
      CHECK(result.reason_for("vulnerability.update_days") == "expected an integer, got a number");
      CHECK(result.reason_for("vulnerability.free_of_charge") == "expected a boolean, got text");
      CHECK(result.reason_for("support") == "expected an object, got text");
      CHECK(result.reason_for("manufacturer.name") == "expected text, got an integer");
      CHECK(result.reason_for("label.expiry") == "expected text, got a list");
      CHECK(result.issues.size() == 6);
    }
    SUBCASE("nested required fields and groups") {
      auto document = minimal_declaration();
      document["product"].erase("model");
      auto result = validate(document);
      CHECK(result.fields() == std::vector<std::string>{"product.model"});
      CHECK(result.reason_for("product.model") == "required field missing");

      document.erase("product");
      result = validate(document);
      CHECK(result.fields() == std::vector<std::string>{"product"});
      CHECK(result.reason_for("product") == "required field missing");
    }
    SUBCASE("list items") {
      auto document = minimal_declaration();
      document["statement"] = {{"standards", json::array({"EN 303 645", 5, ""})}};
      document["passwords"] = {{"examples", "admin"}};
      auto result = validate(document);
      CHECK(result.reason_for("statement.standards[1]") == "expected text, got an integer");
      CHECK(result.reason_for("statement.standards[2]") == "must not be empty");
      CHECK(result.reason_for("passwords.examples") == "expected a list, got text");
      CHECK(result.issues.size() == 3);
    }
    SUBCASE("values") {
      auto document = minimal_declaration();
      document["product"]["placed_on_market"] = "2023-02-29";
      document["product"]["gtin"] = "4006381333932";
      document["product"]["category"] = "General";
      document["vulnerability"] = {{"acknowledge_days", -1}, {"update_days", 3651}};
      document["label"] = {{"level", std::uint64_t{1} << 63}};
      document["manufacturer"]["name"] = "";
      auto result = validate(document);
      CHECK(result.reason_for("product.placed_on_market") ==
            "'2023-02-29' does not exist: 2023 is not a leap year");
      CHECK(contains(result.reason_for("product.gtin"), "expected 1, found 2"));
      CHECK(contains(result.reason_for("product.category"), "'General' is not one of: general"));
      CHECK(result.reason_for("vulnerability.acknowledge_days") == "must be at least 0");
      CHECK(result.reason_for("vulnerability.update_days") == "must be at most 3650");
      CHECK(result.reason_for("label.level") == "must be at most 100");
      CHECK(result.reason_for("manufacturer.name") == "must not be empty");
      CHECK(result.issues.size() == 7);

      auto plain = validate(document, *without_domain_checks());
      CHECK(plain.reason_for("product.placed_on_market").empty());
      CHECK(plain.reason_for("product.gtin").empty());
      CHECK(plain.issues.size() == 5);
    }
    SUBCASE("a document that is not an object") {
      for (const auto& document :
           {json::array(), json("declaration"), json(nullptr), json(5), json(true)}) {
        INFO(document.dump());
        auto result = validate(document);
        REQUIRE(result.issues.size() == 1);
        CHECK(result.issues[0].field.empty());
        CHECK(contains(result.issues[0].reason, "a declaration must be an object, got"));
      }
    }
    SUBCASE("an integer beyond int64 where the schema sets no maximum") {
      auto custom = minimal_schema();
      custom["properties"]["product"]["properties"]["units"] = {{"type", "integer"}};
      auto compiled_schema = compiled(custom);
      auto document = minimal_declaration();
      document["product"]["units"] = std::numeric_limits<std::uint64_t>::max();
      auto result = validate(document, *compiled_schema);
      CHECK(result.reason_for("product.units") == "integer is too large");
      document["product"]["units"] = std::numeric_limits<std::int64_t>::max();
      CHECK(validate(document, *compiled_schema).ok);
    }
  }

  TEST_CASE("leading and trailing whitespace of every text value is removed before validation") {
    const CompiledSchema& schema = *CompiledSchema::builtin();
    SUBCASE("CSV cells of every type") {
      auto model = set_cell("product.model", " \tHL-CAM2  ");
      REQUIRE(model.ok);
      CHECK(std::get<std::string>(model.value(schema, "product.model")) == "HL-CAM2");
      // Inner whitespace stays; a no-break space (U+00A0) and an ideographic space are trimmed.
      auto brand = set_cell("product.brand", "\xC2\xA0Home  Lens\xE3\x80\x80");
      REQUIRE(brand.ok);
      CHECK(std::get<std::string>(brand.value(schema, "product.brand")) == "Home  Lens");
      auto flag = set_cell("product.cellular", "no ");
      REQUIRE(flag.ok);
      CHECK(std::get<bool>(flag.value(schema, "product.cellular")) == false);
      auto number = set_cell("vulnerability.acknowledge_days", " 5\r");
      REQUIRE(number.ok);
      CHECK(std::get<std::int64_t>(number.value(schema, "vulnerability.acknowledge_days")) == 5);
      auto date = set_cell("support.end_date", "2030-12-31 ");
      CHECK(date.ok);
      auto category = set_cell("product.category", " computer ");
      CHECK(category.ok);
      auto list = set_cell("passwords.examples", " a1B2c3D4e5 | f6G7h8I9j0 ");
      REQUIRE(list.ok);
      CHECK(std::get<model::StringList>(list.value(schema, "passwords.examples")) ==
            model::StringList{"a1B2c3D4e5", "f6G7h8I9j0"});
      // A cell of whitespace only is an empty cell: absent.
      auto blank = set_cell("product.type", " \t ");
      CHECK(blank.ok);
      CHECK_FALSE(blank.record.has(index_of(schema, "product.type")));
    }
    SUBCASE("nested documents (JSON, YAML)") {
      json document = minimal_declaration();
      document["product"]["model"] = "HL-CAM2  ";
      document["product"]["category"] = "computer ";
      document["support"]["end_date"] = " 2030-12-31";
      document["passwords"]["examples"] = {" a1B2c3D4e5", "f6G7h8I9j0\n"};
      auto result = validate(document);
      REQUIRE(result.ok);
      auto canonical = json::parse(result.record.to_canonical_json());
      CHECK(canonical["product"]["model"] == "HL-CAM2");
      CHECK(canonical["product"]["category"] == "computer");
      CHECK(canonical["support"]["end_date"] == "2030-12-31");
      CHECK(canonical["passwords"]["examples"] == json({"a1B2c3D4e5", "f6G7h8I9j0"}));
      // A required value of whitespace only is empty once trimmed.
      document["product"]["brand"] = "   ";
      CHECK(validate(document).reason_for("product.brand") == "must not be empty");
    }
    SUBCASE("off, the schema's own semantics") {
      auto untrimmed =
          CompiledSchema::compile(CompiledSchema::builtin_text(), {.trim_whitespace = false});
      REQUIRE(untrimmed.is_ok());
      CHECK_FALSE(set_cell("product.cellular", "no ", *untrimmed.value()).ok);
    }
  }

  TEST_CASE("is_calendar_date") {
    for (const std::string date : {"2024-02-29", "2000-02-29", "0000-02-29", "2023-02-28",
                                   "2024-12-31", "2024-04-30", "0001-01-01", "9999-12-31"}) {
      INFO(date);
      CHECK(is_calendar_date(date));
    }
    for (const std::string date :
         {"2023-02-29",  "1900-02-29",    "2100-02-29", "2024-02-30", "2024-04-31",  "2024-06-31",
          "2024-09-31",  "2024-11-31",    "2024-13-01", "2024-00-01", "2024-01-00",  "2024-01-32",
          "12345-01-01", "24-01-01",      "2024-1-01",  "2024/01/01", "2024-01-01 ", "",
          "2024-01-0a",  "２０２４-01-01"}) {
      INFO(date);
      CHECK_FALSE(is_calendar_date(date));
    }
  }
}

}  // namespace
}  // namespace iotreg::importers
