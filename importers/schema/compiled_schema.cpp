#include "importers/schema/compiled_schema.h"

#include <re2/re2.h>

#include <algorithm>
#include <charconv>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "importers/detail/spelling.h"
#include "importers/schema/builtin_schema.h"
#include "registry/core/utf8.h"
#include "registry/model/lookup_keys.h"

namespace iotreg::importers {

using nlohmann::json;

namespace {

enum TypeBit : unsigned {
  kNull = 1,
  kBoolean = 2,
  kObject = 4,
  kArray = 8,
  kNumber = 16,
  kInteger = 32,
  kString = 64,
};
constexpr unsigned kAnyType = 127;

enum class Format { kNone, kDate, kGtin };

const std::set<std::string, std::less<>>& annotation_keywords() {
  static const std::set<std::string, std::less<>> keywords = {
      "$schema", "$id", "$comment", "title", "description", "default", "examples", "x-expected"};
  return keywords;
}

const std::set<std::string, std::less<>>& validation_keywords() {
  static const std::set<std::string, std::less<>> keywords = {
      "type",      "properties", "required", "additionalProperties",
      "enum",      "pattern",    "format",   "minLength",
      "maxLength", "minimum",    "maximum",  "items",
      "minItems",  "maxItems"};
  return keywords;
}

std::string type_name(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::object:
      return "an object";
    case json::value_t::array:
      return "a list";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "an integer";
    case json::value_t::number_float:
      return "a number";
    case json::value_t::string:
      return "text";
    default:
      return "an unsupported value";
  }
}

std::string expected_types(unsigned types) {
  static const std::pair<unsigned, const char*> kNames[] = {
      {kString, "text"},  {kBoolean, "a boolean"}, {kInteger, "an integer"}, {kNumber, "a number"},
      {kArray, "a list"}, {kObject, "an object"},  {kNull, "null"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (!(types & bit)) continue;
    if (!out.empty()) out += " or ";
    out += name;
  }
  return out;
}

bool matches_type(unsigned types, const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return types & kNull;
    case json::value_t::boolean:
      return types & kBoolean;
    case json::value_t::object:
      return types & kObject;
    case json::value_t::array:
      return types & kArray;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return types & (kInteger | kNumber);
    case json::value_t::number_float:
      return types & kNumber;
    case json::value_t::string:
      return types & kString;
    default:
      return false;
  }
}

// Text values and field names must not hold NUL: it ends strings in C, so downstream consumers
// (exports, plugins, spreadsheets) would each see a different value.
bool has_nul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

// Code points in valid UTF-8; malformed bytes count one each.
std::uint64_t utf8_length(std::string_view text) {
  std::uint64_t count = 0;
  for (unsigned char c : text) count += (c & 0xC0) != 0x80;
  return count;
}

std::string quoted(std::string_view text) {
  constexpr std::size_t kMaxShown = 60;
  std::string out = "'";
  out.append(text.substr(0, kMaxShown));
  if (text.size() > kMaxShown) out += "...";
  out += "'";
  return out;
}

std::string join_path(const std::string& prefix, std::string_view name) {
  return prefix.empty() ? std::string(name) : prefix + "." + std::string(name);
}

bool is_leap_year(int year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

// valijson's `format: date`: digits-MM-DD with month 01-12 and day 01-31, at most 29 in
// February and 30 in April, June, September, November. Fills month and day, and the year
// modulo 400 (all a leap-year test needs, for years of any length), when it matches.
bool matches_date_format(std::string_view text, long long& year, int& month, int& day) {
  if (text.size() < 7) return false;
  std::size_t dash = text.find('-');
  if (dash == 0 || dash == std::string_view::npos || text.size() != dash + 6) return false;
  year = 0;
  for (std::size_t i = 0; i < dash; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    year = (year * 10 + (text[i] - '0')) % 400;
  }
  auto two_digits = [&](std::size_t at, int& out) {
    if (text[at] < '0' || text[at] > '9' || text[at + 1] < '0' || text[at + 1] > '9') return false;
    out = (text[at] - '0') * 10 + (text[at + 1] - '0');
    return true;
  };
  if (!two_digits(dash + 1, month) || text[dash + 3] != '-' || !two_digits(dash + 4, day)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31) return false;
  if (month == 2) return day <= 29;
  bool long_month = month <= 7 ? month % 2 == 1 : month % 2 == 0;
  return day <= (long_month ? 31 : 30);
}

// Digits-DD-DD: the shape of a date, whether or not the day exists.
bool looks_like_date(std::string_view text) {
  auto dash = text.find('-');
  if (dash == 0 || dash == std::string_view::npos || text.size() != dash + 6) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool separator = i == dash || i == dash + 3;
    if (separator ? text[i] != '-' : (text[i] < '0' || text[i] > '9')) return false;
  }
  return true;
}

// For a date written day/month/year (31/12/2027, 31.12.2027, 31-12-2027) or month/day/year
// where the order shows (12/31/2027), how to write it: "; write it as 2027-12-31". When either
// order could be meant (03/04/2027), that it is ambiguous. Empty for other text.
std::string date_order_hint(std::string_view text) {
  int parts[3] = {0, 0, 0};
  std::size_t digits[3] = {0, 0, 0};
  int part = 0;
  char separator = 0;
  for (char c : text) {
    if (c >= '0' && c <= '9') {
      if (++digits[part] > 4) return {};
      parts[part] = parts[part] * 10 + (c - '0');
    } else if ((c == '/' || c == '.' || c == '-') && part < 2 && digits[part] > 0 &&
               (separator == 0 || separator == c)) {
      separator = c;
      ++part;
    } else {
      return {};
    }
  }
  if (part != 2 || digits[0] > 2 || digits[1] > 2 || digits[2] != 4) return {};
  const auto written = [&](int month, int day) {
    std::string out = std::to_string(parts[2]) + (month < 10 ? "-0" : "-") + std::to_string(month) +
                      (day < 10 ? "-0" : "-") + std::to_string(day);
    return "; write it as " + out;
  };
  const int first = parts[0], second = parts[1];
  if (first < 1 || second < 1 || first > 31 || second > 31) return {};
  if (first > 12 && second <= 12) return written(second, first);  // day first
  if (second > 12 && first <= 12) return written(first, second);  // month first
  if (first <= 12 && second <= 12 && first != second) {
    return "; write it as YYYY-MM-DD (day and month could be either way round here)";
  }
  return first == second && first <= 12 ? written(first, second) : std::string();
}

}  // namespace

std::string visible_field_name(std::string_view name) {
  std::string out;
  for (char c : name) {
    if (c == '\0') {
      out += "\\u0000";
    } else {
      out.push_back(c);
    }
  }
  return out;
}

bool is_calendar_date(std::string_view text) {
  long long year = 0;
  int month = 0;
  int day = 0;
  if (text.size() != 10 || text[4] != '-') return false;
  if (!matches_date_format(text, year, month, day)) return false;
  return !(month == 2 && day == 29 && !is_leap_year(static_cast<int>(year)));
}

struct CompiledSchema::Node {
  std::string pointer;  // JSON pointer of this subschema, for compile errors
  std::string path;     // dotted path of the value it validates, e.g. "support.end_date"
  unsigned types = kAnyType;
  // object keywords
  std::vector<std::pair<std::string, std::unique_ptr<Node>>> properties;
  std::vector<std::string> required;
  bool additional_properties = true;
  std::vector<std::size_t> fields_below;  // catalog indexes of every leaf below an object node
  // string keywords
  std::optional<std::uint64_t> min_length;
  std::optional<std::uint64_t> max_length;
  std::unique_ptr<RE2> pattern;
  std::string expected_form;  // annotation "x-expected": what the pattern means, for messages
  Format format = Format::kNone;
  // enum
  bool has_enum = false;
  std::vector<json> enum_values;
  std::string enum_listing;  // "a, b, c" for messages
  // number keywords
  std::optional<double> minimum;
  std::optional<double> maximum;
  // array keywords
  std::unique_ptr<Node> items;
  std::optional<std::uint64_t> min_items;
  std::optional<std::uint64_t> max_items;
  // leaf binding
  std::optional<std::size_t> field;

  const Node* property(std::string_view name) const {
    for (const auto& [key, child] : properties) {
      if (key == name) return child.get();
    }
    return nullptr;
  }
};

namespace {

using Node = CompiledSchema::Node;

// Schema documents keep their member order: it becomes the catalog (and so the canonical
// and display) order of the fields.
using SchemaJson = nlohmann::ordered_json;

class Compiler {
 public:
  explicit Compiler(std::vector<model::FieldSpec>& fields, std::vector<const Node*>& field_nodes)
      : fields_(fields), field_nodes_(field_nodes) {}

  Status compile(const SchemaJson& schema, const std::string& pointer, const std::string& path,
                 bool is_field_position, Node& node) {
    node.pointer = pointer.empty() ? "/" : pointer;
    node.path = path;
    if (!schema.is_object()) return error(node, "a subschema must be an object");
    for (const auto& [keyword, value] : schema.items()) {
      if (keyword == "x-expected" && value.is_string())
        node.expected_form = value.get<std::string>();
      if (annotation_keywords().count(keyword)) continue;
      if (!validation_keywords().count(keyword)) {
        return error(node, "keyword '" + keyword + "' is not supported by the compiled validator");
      }
      if (auto status = compile_keyword(keyword, value, pointer, path, node); !status.is_ok()) {
        return status;
      }
    }
    if (!is_field_position) return Status::ok();
    if (node.types == kObject) {
      for (const auto& [name, child] : node.properties) {
        node.fields_below.insert(node.fields_below.end(), child->fields_below.begin(),
                                 child->fields_below.end());
      }
      return Status::ok();
    }
    return bind_field(node, path);
  }

 private:
  Status error(const Node& node, const std::string& what) {
    return Status::invalid_argument("schema " + node.pointer + ": " + what);
  }

  Status compile_keyword(const std::string& keyword, const SchemaJson& value,
                         const std::string& pointer, const std::string& path, Node& node) {
    if (keyword == "type") return compile_type(value, node);
    if (keyword == "properties") {
      if (!value.is_object()) return error(node, "'properties' must be an object");
      for (const auto& [name, subschema] : value.items()) {
        if (name.find('.') != std::string::npos) {
          return error(node, "property name '" + name + "' must not contain '.'");
        }
        auto child = std::make_unique<Node>();
        auto status = compile(subschema, pointer + "/properties/" + name, join_path(path, name),
                              /*is_field_position=*/true, *child);
        if (!status.is_ok()) return status;
        node.properties.emplace_back(name, std::move(child));
      }
      return Status::ok();
    }
    if (keyword == "required") {
      if (!value.is_array()) return error(node, "'required' must be a list");
      for (const auto& name : value) {
        if (!name.is_string()) return error(node, "'required' must list names");
        node.required.push_back(name.get<std::string>());
      }
      return Status::ok();
    }
    if (keyword == "additionalProperties") {
      if (!value.is_boolean()) {
        return error(node, "'additionalProperties' is supported as true or false only");
      }
      node.additional_properties = value.get<bool>();
      return Status::ok();
    }
    if (keyword == "enum") {
      if (!value.is_array() || value.empty()) return error(node, "'enum' must be a non-empty list");
      node.has_enum = true;
      for (const auto& option : value) {
        node.enum_values.push_back(json::parse(option.dump()));
        if (!node.enum_listing.empty()) node.enum_listing += ", ";
        node.enum_listing += option.is_string() ? option.get<std::string>() : option.dump();
      }
      return Status::ok();
    }
    if (keyword == "pattern") {
      if (!value.is_string()) return error(node, "'pattern' must be a string");
      RE2::Options options;
      options.set_encoding(RE2::Options::EncodingLatin1);  // byte semantics, as ECMAScript on char
      options.set_log_errors(false);
      node.pattern = std::make_unique<RE2>(value.get<std::string>(), options);
      if (!node.pattern->ok()) {
        return error(node, "pattern cannot be compiled: " + node.pattern->error());
      }
      return Status::ok();
    }
    if (keyword == "format") {
      if (!value.is_string()) return error(node, "'format' must be a string");
      const auto& name = value.get_ref<const std::string&>();
      if (name == "date") {
        node.format = Format::kDate;
      } else if (name == "gtin") {
        node.format = Format::kGtin;
      } else {
        return error(node, "format '" + name + "' is not supported by the compiled validator");
      }
      return Status::ok();
    }
    if (keyword == "minimum" || keyword == "maximum") {
      if (!value.is_number()) return error(node, "'" + keyword + "' must be a number");
      (keyword == "minimum" ? node.minimum : node.maximum) = value.get<double>();
      return Status::ok();
    }
    if (keyword == "items") {
      if (!value.is_object()) return error(node, "'items' is supported as a single schema only");
      node.items = std::make_unique<Node>();
      return compile(value, pointer + "/items", path, /*is_field_position=*/false, *node.items);
    }
    // minLength, maxLength, minItems, maxItems
    if (!value.is_number_unsigned() &&
        !(value.is_number_integer() && value.get<long long>() >= 0)) {
      return error(node, "'" + keyword + "' must be a non-negative integer");
    }
    auto count = value.get<std::uint64_t>();
    if (keyword == "minLength") node.min_length = count;
    if (keyword == "maxLength") node.max_length = count;
    if (keyword == "minItems") node.min_items = count;
    if (keyword == "maxItems") node.max_items = count;
    return Status::ok();
  }

  Status compile_type(const SchemaJson& value, Node& node) {
    static const std::pair<const char*, unsigned> kTypes[] = {
        {"null", kNull},     {"boolean", kBoolean}, {"object", kObject}, {"array", kArray},
        {"number", kNumber}, {"integer", kInteger}, {"string", kString}};
    auto bit_of = [&](const SchemaJson& name) -> unsigned {
      if (!name.is_string()) return 0;
      for (const auto& [type, bit] : kTypes) {
        if (name == type) return bit;
      }
      return 0;
    };
    node.types = 0;
    if (value.is_array()) {
      for (const auto& name : value) node.types |= bit_of(name);
    } else {
      node.types = bit_of(value);
    }
    if (node.types == 0) return error(node, "'type' must name JSON types");
    return Status::ok();
  }

  Status bind_field(Node& node, const std::string& path) {
    model::ValueType type;
    if (node.types == kString) {
      type = model::ValueType::kString;
    } else if (node.types == kBoolean) {
      type = model::ValueType::kBoolean;
    } else if (node.types == kInteger) {
      type = model::ValueType::kInteger;
    } else if (node.types == kArray && node.items && node.items->types == kString) {
      type = model::ValueType::kStringList;
    } else {
      return error(node, "field " + path +
                             " must have exactly one type of string, boolean, integer, object or "
                             "array of strings");
    }
    node.field = fields_.size();
    node.fields_below = {fields_.size()};
    fields_.push_back({path, type});
    field_nodes_.push_back(&node);
    return Status::ok();
  }

  std::vector<model::FieldSpec>& fields_;
  std::vector<const Node*>& field_nodes_;
};

// Validation shared by the document and the flat path. Each function appends issues and
// returns whether the value satisfied the node.
class Checker {
 public:
  // `look_for_nul` false: the caller knows that no text it checks holds NUL.
  Checker(const CompiledSchema::Options& options, std::vector<FieldIssue>& issues,
          bool look_for_nul = true)
      : options_(options), issues_(issues), look_for_nul_(look_for_nul) {}

  bool fail(const std::string& path, std::string reason) {
    issues_.push_back({path, std::move(reason)});
    return false;
  }

  // The text of a JSON string value as it is validated and stored.
  std::string_view text_of(const json& value) const {
    const std::string& text = value.get_ref<const std::string&>();
    return options_.trim_whitespace ? trim_whitespace(text) : std::string_view(text);
  }

  bool check_string(const Node& node, std::string_view text, const std::string& path) {
    if (look_for_nul_ && has_nul(text)) return fail(path, kNulInValue);
    bool ok = true;
    if (node.has_enum) {
      bool found =
          std::any_of(node.enum_values.begin(), node.enum_values.end(), [&](const json& option) {
            return option.is_string() && option.get_ref<const std::string&>() == text;
          });
      if (!found) ok = fail(path, quoted(text) + " is not one of: " + node.enum_listing);
    }
    if (node.min_length || node.max_length) {
      auto length = utf8_length(text);
      if (node.min_length && length < *node.min_length) {
        ok =
            fail(path, *node.min_length == 1
                           ? std::string("must not be empty")
                           : "is shorter than " + std::to_string(*node.min_length) + " characters");
      }
      if (node.max_length && length > *node.max_length) {
        ok = fail(path, "is longer than " + std::to_string(*node.max_length) + " characters");
      }
    }
    bool pattern_ok = !node.pattern || RE2::PartialMatch(text, *node.pattern);
    if (!pattern_ok) {
      ok = fail(path, quoted(text) + " is not " + expected_form(node) +
                          (node.format == Format::kDate ? date_order_hint(text) : std::string()));
    }
    // A value not in the pattern's form is reported once, for that; its format is not checked.
    if (pattern_ok && node.format == Format::kDate) {
      long long year = 0;
      int month = 0;
      int day = 0;
      if (!matches_date_format(text, year, month, day)) {
        ok = fail(path, looks_like_date(text)
                            ? quoted(text) + " is not a calendar date (no such month or day)"
                            : quoted(text) + " is not a date (YYYY-MM-DD)" + date_order_hint(text));
      } else if (options_.domain_checks && month == 2 && day == 29 &&
                 !is_leap_year(static_cast<int>(year + 400))) {
        ok = fail(path, quoted(text) + " does not exist: " +
                            std::string(text.substr(0, text.find('-'))) + " is not a leap year");
      }
    }
    if (node.format == Format::kGtin && options_.domain_checks && pattern_ok &&
        !model::has_valid_gtin_check_digit(text)) {
      ok = fail(path, quoted(text) + " has a wrong check digit: " + gtin_expectation(text));
    }
    return ok;
  }

  bool check_number(const Node& node, double number, const std::string& path) {
    bool ok = true;
    if (node.minimum && number < *node.minimum) {
      ok = fail(path, "must be at least " + format_bound(*node.minimum));
    }
    if (node.maximum && number > *node.maximum) {
      ok = fail(path, "must be at most " + format_bound(*node.maximum));
    }
    return ok;
  }

  bool check_list(const Node& node, const model::StringList& items, const std::string& path) {
    bool ok = check_count(node, items.size(), path);
    if (node.items) {
      for (std::size_t i = 0; i < items.size(); ++i) {
        const std::string item_path = path + "[" + std::to_string(i) + "]";
        if (!check_string(*node.items, items[i], item_path)) ok = false;
      }
    }
    return ok;
  }

  bool check_count(const Node& node, std::size_t count, const std::string& path) {
    bool ok = true;
    if (node.min_items && count < *node.min_items) {
      ok = fail(path, "must have at least " + std::to_string(*node.min_items) + " items");
    }
    if (node.max_items && count > *node.max_items) {
      ok = fail(path, "must have at most " + std::to_string(*node.max_items) + " items");
    }
    return ok;
  }

  // Validates a JSON value against a node; stores leaf values into `out` when valid.
  bool check_value(const Node& node, const json& value, const std::string& path,
                   model::Declaration& out) {
    if (!matches_type(node.types, value)) {
      return fail(path, "expected " + expected_types(node.types) + ", got " + type_name(value));
    }
    bool ok = true;
    if (node.has_enum && !value.is_string()) {
      if (std::find(node.enum_values.begin(), node.enum_values.end(), value) ==
          node.enum_values.end()) {
        ok = fail(path, value.dump() + " is not one of: " + node.enum_listing);
      }
    }
    switch (value.type()) {
      case json::value_t::string:
        ok = check_string(node, text_of(value), path) && ok;
        break;
      case json::value_t::number_integer:
      case json::value_t::number_unsigned:
      case json::value_t::number_float:
        ok = check_number(node, value.get<double>(), path) && ok;
        break;
      case json::value_t::array:
        ok = check_count(node, value.size(), path) && ok;
        if (node.items) {
          for (std::size_t i = 0; i < value.size(); ++i) {
            const std::string item_path = path + "[" + std::to_string(i) + "]";
            ok = check_value(*node.items, value[i], item_path, out) && ok;
          }
        }
        break;
      case json::value_t::object:
        ok = check_object(node, value, path, out) && ok;
        break;
      default:
        break;
    }
    if (ok && node.field) store(*node.field, value, path, out, ok);
    return ok;
  }

  bool check_object(const Node& node, const json& object, const std::string& path,
                    model::Declaration& out) {
    bool ok = true;
    for (const auto& name : node.required) {
      if (!object.contains(name)) ok = fail(join_path(path, name), "required field missing");
    }
    for (const auto& [key, member] : object.items()) {
      if (has_nul(key)) {
        ok = fail(join_path(path, visible_field_name(key)), kNulInName);
        continue;
      }
      const Node* child = node.property(key);
      if (child) {
        ok = check_value(*child, member, join_path(path, key), out) && ok;
      } else if (!node.additional_properties) {
        std::vector<std::string_view> names;
        for (const auto& property : node.properties) names.push_back(property.first);
        auto meant = detail::nearest_spelling(key, names);
        ok = fail(join_path(path, key),
                  meant ? "unknown field; did you mean " + join_path(path, *meant) + "?"
                        : std::string("unknown field"));
      }
    }
    return ok;
  }

 private:
  void store(std::size_t field, const json& value, const std::string& path, model::Declaration& out,
             bool& ok) {
    switch (out.catalog().field(field).type) {
      case model::ValueType::kString:
        out.set(field, std::string(text_of(value)));
        break;
      case model::ValueType::kBoolean:
        out.set(field, value.get<bool>());
        break;
      case model::ValueType::kInteger:
        if (value.is_number_unsigned() &&
            value.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
          ok = fail(path, "integer is too large");
          return;
        }
        out.set(field, value.get<std::int64_t>());
        break;
      case model::ValueType::kStringList: {
        model::StringList items;
        items.reserve(value.size());
        for (const auto& item : value) items.emplace_back(text_of(item));
        out.set(field, std::move(items));
        break;
      }
    }
  }

  static std::string format_bound(double bound) {
    if (bound == static_cast<double>(static_cast<long long>(bound))) {
      return std::to_string(static_cast<long long>(bound));
    }
    return std::to_string(bound);
  }

  static std::string expected_form(const Node& node) {
    if (!node.expected_form.empty()) return node.expected_form;
    return "in the expected form (pattern " + node.pattern->pattern() + ")";
  }

  static std::string gtin_expectation(std::string_view digits) {
    const auto expected = model::gtin_check_digit(digits);
    if (!expected) return "not a GTIN";
    return std::string("expected ") + *expected + ", found " + digits.back();
  }

  const CompiledSchema::Options& options_;
  std::vector<FieldIssue>& issues_;
  bool look_for_nul_;
};

}  // namespace

CompiledSchema::~CompiledSchema() = default;

Result<std::shared_ptr<const CompiledSchema>> CompiledSchema::compile(std::string_view schema_json,
                                                                      Options options) {
  auto document = SchemaJson::parse(schema_json, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return Status::invalid_argument("schema is not valid JSON");
  std::shared_ptr<CompiledSchema> schema(new CompiledSchema());
  schema->options_ = options;
  schema->root_ = std::make_unique<Node>();
  std::vector<model::FieldSpec> fields;
  Compiler compiler(fields, schema->field_nodes_);
  auto status = compiler.compile(document, "", "", /*is_field_position=*/true, *schema->root_);
  if (!status.is_ok()) return status;
  if (schema->root_->types != kObject) {
    return Status::invalid_argument("schema /: the document must be of type object");
  }
  schema->catalog_ = std::make_shared<const model::FieldCatalog>(std::move(fields));
  for (auto identity : {model::kManufacturerNameField, model::kBrandField, model::kModelField}) {
    auto index = schema->catalog_->index_of(identity);
    if (!index || schema->catalog_->field(*index).type != model::ValueType::kString) {
      return Status::invalid_argument("schema: identity field " + std::string(identity) +
                                      " must be a string field");
    }
  }
  return std::shared_ptr<const CompiledSchema>(std::move(schema));
}

std::string_view CompiledSchema::builtin_text() { return builtin_declaration_schema(); }

std::shared_ptr<const CompiledSchema> CompiledSchema::builtin() {
  static const std::shared_ptr<const CompiledSchema> schema = [] {
    auto compiled = compile(builtin_text());
    // The built-in schema is checked by the tests; failing here is a build defect.
    if (!compiled.is_ok()) std::abort();
    return compiled.value();
  }();
  return schema;
}

bool CompiledSchema::validate_document(const json& document, model::Declaration& out,
                                       std::vector<FieldIssue>& issues) const {
  out.clear();
  Checker checker(options_, issues);
  if (!document.is_object()) {
    return checker.fail("", "a declaration must be an object, got " + type_name(document));
  }
  return checker.check_value(*root_, document, "", out);
}

namespace {

std::optional<bool> parse_boolean(std::string_view text) {
  auto equals = [&](std::string_view word) {
    return text.size() == word.size() &&
           std::equal(text.begin(), text.end(), word.begin(), [](char a, char b) {
             return (a >= 'A' && a <= 'Z' ? a - 'A' + 'a' : a) == b;
           });
  };
  if (equals("true") || equals("yes") || text == "1") return true;
  if (equals("false") || equals("no") || text == "0") return false;
  return std::nullopt;
}

// Why a cell does not parse as its type: the NUL it holds, if it holds one, else `reason`.
[[gnu::noinline]] std::string unparsed(std::string_view text, std::string reason) {
  return has_nul(text) ? std::string(kNulInValue) : std::move(reason);
}

// Splits a CSV list cell on unescaped `|`; `\|` and `\\` are literal. Returns nullopt on a
// dangling or unknown escape.
std::optional<model::StringList> split_list(std::string_view text) {
  model::StringList items(1);
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '|') {
      items.emplace_back();
    } else if (c == '\\') {
      if (i + 1 == text.size() || (text[i + 1] != '|' && text[i + 1] != '\\')) return std::nullopt;
      items.back().push_back(text[++i]);
    } else {
      items.back().push_back(c);
    }
  }
  return items;
}

}  // namespace

bool CompiledSchema::set_from_text(std::size_t field, std::string_view text,
                                   model::Declaration& out, std::vector<FieldIssue>& issues,
                                   bool may_hold_nul) const {
  if (options_.trim_whitespace) {
    text = trim_whitespace(text);
    if (text.empty()) return true;
  }
  if (convert_text(field, text, out, issues, may_hold_nul)) return true;
  // The record is rejected; the cell still counts as present so that check_required does not
  // also call it missing.
  out.set(field, std::string(text));
  return false;
}

bool CompiledSchema::convert_text(std::size_t field, std::string_view text, model::Declaration& out,
                                  std::vector<FieldIssue>& issues, bool may_hold_nul) const {
  const Node& node = *field_nodes_[field];
  const std::string& path = catalog_->field(field).path;
  Checker checker(options_, issues, may_hold_nul);
  // Text and list items are checked for NUL in check_string; a boolean, an integer or a list
  // holding NUL may fail to parse, and the NUL is then the reason given.
  switch (catalog_->field(field).type) {
    case model::ValueType::kString:
      if (!checker.check_string(node, text, path)) return false;
      out.set(field, std::string(text));
      return true;
    case model::ValueType::kBoolean: {
      auto flag = parse_boolean(text);
      if (!flag) {
        return checker.fail(
            path,
            unparsed(text, "expected a boolean (true/false, yes/no, 1/0), got " + quoted(text)));
      }
      out.set(field, *flag);
      return true;
    }
    case model::ValueType::kInteger: {
      std::int64_t number = 0;
      const char* begin = text.data();
      const char* end = text.data() + text.size();
      if (begin != end && *begin == '+') ++begin;
      auto [stop, ec] = std::from_chars(begin, end, number);
      if (ec == std::errc::result_out_of_range) return checker.fail(path, "integer is too large");
      if (ec != std::errc() || stop != end) {
        return checker.fail(path, unparsed(text, "expected an integer, got " + quoted(text)));
      }
      if (!checker.check_number(node, static_cast<double>(number), path)) return false;
      out.set(field, number);
      return true;
    }
    case model::ValueType::kStringList: {
      auto items = split_list(text);
      if (!items) {
        return checker.fail(
            path, unparsed(text, "a list item has a '\\' that is not followed by '|' or '\\'"));
      }
      if (options_.trim_whitespace) {
        for (auto& item : *items) {
          std::string_view trimmed = trim_whitespace(item);
          if (trimmed.size() != item.size()) item = std::string(trimmed);
        }
      }
      if (!checker.check_list(node, *items, path)) return false;
      out.set(field, std::move(*items));
      return true;
    }
  }
  return false;
}

bool CompiledSchema::check_required(const model::Declaration& record,
                                    std::vector<FieldIssue>& issues) const {
  Checker checker(options_, issues);
  bool ok = true;
  // Walks object nodes; a group's own required members are enforced only when the group is
  // required by its parent or has any field present.
  auto walk = [&](auto&& self, const Node& node) -> void {
    for (const auto& [name, child] : node.properties) {
      bool required =
          std::find(node.required.begin(), node.required.end(), name) != node.required.end();
      if (child->field) {
        if (required && !record.has(*child->field)) {
          ok = checker.fail(child->path, "required field missing");
        }
        continue;
      }
      bool present = std::any_of(child->fields_below.begin(), child->fields_below.end(),
                                 [&](std::size_t field) { return record.has(field); });
      if (!required && !present) continue;
      if (!present && child->required.empty()) {
        ok = checker.fail(child->path, "required group missing");
        continue;
      }
      self(self, *child);
    }
  };
  walk(walk, *root_);
  return ok;
}

}  // namespace iotreg::importers
