#include "registry/model/declaration.h"

#include <charconv>
#include <nlohmann/json.hpp>

namespace iotreg::model {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string_view::npos ? dot : dot - start));
    if (dot == std::string_view::npos) return parts;
    start = dot + 1;
  }
}

}  // namespace

FieldCatalog::FieldCatalog(std::vector<FieldSpec> fields) : fields_(std::move(fields)) {
  for (std::size_t i = 0; i < fields_.size(); ++i) {
    index_.emplace(fields_[i].path, i);
    parts_.push_back(split_path(fields_[i].path));
  }
  const std::string_view well_known[] = {kManufacturerNameField, kBrandField, kModelField,
                                         kProductTypeField, kSupportEndDateField};
  for (std::size_t i = 0; i < std::size(well_known); ++i) {
    auto index = index_of(well_known[i]);
    well_known_[i] = index ? *index : fields_.size();
  }
}

std::optional<std::size_t> FieldCatalog::index_of(std::string_view path) const {
  auto it = index_.find(path);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

Declaration::Declaration(std::shared_ptr<const FieldCatalog> catalog)
    : catalog_(std::move(catalog)), values_(catalog_->size()) {}

std::string_view Declaration::string_at(WellKnownField field) const {
  std::size_t index = catalog_->index_of(field);
  if (index >= values_.size()) return {};
  if (const auto* text = std::get_if<std::string>(&values_[index])) return *text;
  return {};
}

void Declaration::clear() {
  for (auto& value : values_) value = std::monostate{};
}

std::string_view Declaration::string_at(std::string_view path) const {
  auto index = catalog_->index_of(path);
  if (!index) return {};
  if (const auto* text = std::get_if<std::string>(&values_[*index])) return *text;
  return {};
}

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  std::size_t run_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    auto byte = static_cast<unsigned char>(c);
    if (byte >= 0x20 && c != '"' && c != '\\') continue;
    out.append(text.data() + run_start, i - run_start);
    run_start = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[byte >> 4]);
        out.push_back(kHex[byte & 0xF]);
    }
  }
  out.append(text.data() + run_start, text.size() - run_start);
  out.push_back('"');
}

namespace {

void append_value(std::string& out, const FieldValue& value) {
  if (const auto* text = std::get_if<std::string>(&value)) {
    append_json_string(out, *text);
  } else if (const auto* flag = std::get_if<bool>(&value)) {
    out += *flag ? "true" : "false";
  } else if (const auto* number = std::get_if<std::int64_t>(&value)) {
    char buffer[24];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, *number);
    out.append(buffer, end);
  } else if (const auto* list = std::get_if<StringList>(&value)) {
    out.push_back('[');
    for (std::size_t i = 0; i < list->size(); ++i) {
      if (i) out.push_back(',');
      append_json_string(out, (*list)[i]);
    }
    out.push_back(']');
  }
}

}  // namespace

NestedJsonWriter::NestedJsonWriter(std::string& out) : out_(out), has_member_{false} {
  out_.push_back('{');
}

void NestedJsonWriter::field(const std::vector<std::string_view>& parts, const FieldValue& value) {
  std::size_t common = 0;
  while (common < open_.size() && common + 1 < parts.size() && open_[common] == parts[common]) {
    ++common;
  }
  while (open_.size() > common) {
    out_.push_back('}');
    open_.pop_back();
    has_member_.pop_back();
  }
  for (std::size_t depth = common; depth + 1 < parts.size(); ++depth) {
    if (has_member_.back()) out_.push_back(',');
    has_member_.back() = true;
    append_json_string(out_, parts[depth]);
    out_ += ":{";
    open_.emplace_back(parts[depth]);
    has_member_.push_back(false);
  }
  if (has_member_.back()) out_.push_back(',');
  has_member_.back() = true;
  append_json_string(out_, parts.back());
  out_.push_back(':');
  append_value(out_, value);
}

void NestedJsonWriter::finish() {
  for (std::size_t i = 0; i < open_.size(); ++i) out_.push_back('}');
  open_.clear();
  out_.push_back('}');
}

void Declaration::append_canonical_json(std::string& out) const {
  NestedJsonWriter writer(out);
  for (std::size_t i = 0; i < values_.size(); ++i) {
    if (has(i)) writer.field(catalog_->path_parts(i), values_[i]);
  }
  writer.finish();
}

std::string Declaration::to_canonical_json() const {
  std::string out;
  out.reserve(1024);
  append_canonical_json(out);
  return out;
}

namespace {

Status read_object(const nlohmann::json& object, const std::string& prefix, Declaration& out) {
  for (const auto& [key, member] : object.items()) {
    std::string path = prefix.empty() ? key : prefix + "." + key;
    if (member.is_object()) {
      if (auto status = read_object(member, path, out); !status.is_ok()) return status;
      continue;
    }
    auto index = out.catalog().index_of(path);
    if (!index) return Status::corruption("stored declaration has unknown field " + path);
    switch (out.catalog().field(*index).type) {
      case ValueType::kString:
        if (!member.is_string()) return Status::corruption(path + ": stored value is not text");
        out.set(*index, member.get<std::string>());
        break;
      case ValueType::kBoolean:
        if (!member.is_boolean()) return Status::corruption(path + ": stored value not boolean");
        out.set(*index, member.get<bool>());
        break;
      case ValueType::kInteger:
        if (!member.is_number_integer()) {
          return Status::corruption(path + ": stored value is not an integer");
        }
        out.set(*index, member.get<std::int64_t>());
        break;
      case ValueType::kStringList: {
        if (!member.is_array()) return Status::corruption(path + ": stored value is not a list");
        StringList items;
        for (const auto& item : member) {
          if (!item.is_string()) return Status::corruption(path + ": stored item is not text");
          items.push_back(item.get<std::string>());
        }
        out.set(*index, std::move(items));
        break;
      }
    }
  }
  return Status::ok();
}

}  // namespace

Result<Declaration> Declaration::from_json(std::shared_ptr<const FieldCatalog> catalog,
                                           std::string_view json) {
  Declaration declaration(std::move(catalog));
  auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) return Status::corruption("stored declaration is not a JSON object");
  if (auto status = read_object(parsed, "", declaration); !status.is_ok()) return status;
  return declaration;
}

std::string identity_key(std::string_view name) {
  std::string key;
  key.reserve(name.size());
  bool pending_space = false;
  for (char c : name) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      pending_space = !key.empty();
      continue;
    }
    if (pending_space) key.push_back(' ');
    pending_space = false;
    key.push_back(c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c);
  }
  return key;
}

ProductIdentity product_identity(const Declaration& declaration) {
  ProductIdentity identity;
  identity.manufacturer_key =
      identity_key(declaration.string_at(WellKnownField::kManufacturerName));
  identity.brand_key = identity_key(declaration.string_at(WellKnownField::kBrand));
  identity.model_key = identity_key(declaration.string_at(WellKnownField::kModel));
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a offset basis
  auto mix = [&](std::string_view text) {
    for (unsigned char c : text) {
      hash ^= c;
      hash *= 1099511628211ULL;  // FNV prime
    }
    hash ^= 0;  // the separator byte
    hash *= 1099511628211ULL;
  };
  mix(identity.manufacturer_key);
  mix(identity.brand_key);
  mix(identity.model_key);
  identity.hash = hash;
  return identity;
}

}  // namespace iotreg::model
