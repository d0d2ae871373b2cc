#include "registry/checks/detail/worker_protocol.h"

#include "registry/checks/detail/loaded_check.h"
#include "registry/core/utf8.h"
#include "registry/core/varint.h"

namespace iotreg::checks::protocol {
namespace {

constexpr std::uint64_t kMaxCount = 1 << 20;

std::string_view view(iotreg_text text) { return {text.data, text.size}; }
iotreg_text text_of(std::string_view text) { return {text.data(), text.size()}; }

bool decode_declaration(ByteReader& reader, const std::vector<std::string_view>& paths,
                        DecodedDeclaration& out) {
  std::uint64_t field_count = 0;
  if (!reader.varint(field_count) || field_count > kMaxCount) return false;
  out.fields.clear();
  out.items.clear();
  out.fields.reserve(field_count);
  for (std::uint64_t i = 0; i < field_count; ++i) {
    iotreg_field field{};
    std::uint64_t tag = 0;
    std::string_view path;
    unsigned char type = 0;
    if (!reader.varint(tag) || tag > paths.size()) return false;
    if (tag == 0) {
      if (!reader.text(path)) return false;
    } else {
      path = paths[tag - 1];
    }
    if (!reader.byte(type)) return false;
    field.path = text_of(path);
    field.type = type;
    switch (type) {
      case IOTREG_VALUE_TEXT: {
        std::string_view text;
        if (!reader.text(text)) return false;
        field.text_value = text_of(text);
        break;
      }
      case IOTREG_VALUE_BOOLEAN: {
        unsigned char flag = 0;
        if (!reader.byte(flag) || flag > 1) return false;
        field.boolean_value = flag;
        break;
      }
      case IOTREG_VALUE_INTEGER: {
        std::uint64_t zigzag = 0;
        if (!reader.varint(zigzag)) return false;
        field.integer_value =
            static_cast<std::int64_t>(zigzag >> 1) ^ -static_cast<std::int64_t>(zigzag & 1);
        break;
      }
      case IOTREG_VALUE_TEXT_LIST: {
        std::uint64_t count = 0;
        if (!reader.varint(count) || count > kMaxCount) return false;
        for (std::uint64_t j = 0; j < count; ++j) {
          std::string_view item;
          if (!reader.text(item)) return false;
          out.items.push_back(text_of(item));
        }
        field.item_count = count;
        break;
      }
      default:
        return false;
    }
    out.fields.push_back(field);
  }
  // Items were appended in field order; they are addressed once none will move.
  std::size_t next_item = 0;
  for (auto& field : out.fields) {
    if (field.type != IOTREG_VALUE_TEXT_LIST) continue;
    field.items = out.items.data() + next_item;
    next_item += field.item_count;
  }
  out.view = {out.fields.data(), out.fields.size()};
  return true;
}

}  // namespace

void put_frame_header(std::string& out, std::uint64_t size) { put_varint(out, size); }

void encode_setup(std::string_view as_of, std::string_view policy_id,
                  const std::vector<SetupCheck>& checks, std::string& payload) {
  payload.clear();
  payload.push_back(static_cast<char>(kSetup));
  put_text(payload, as_of);
  put_text(payload, policy_id);
  put_varint(payload, checks.size());
  for (const auto& check : checks) {
    put_text(payload, check.id);
    put_varint(payload, check.parameter_count);
    for (std::size_t i = 0; i < check.parameter_count; ++i) {
      const iotreg_parameter& parameter = check.parameters[i];
      put_text(payload, view(parameter.name));
      put_varint(payload, parameter.value_count);
      for (std::size_t j = 0; j < parameter.value_count; ++j) {
        put_text(payload, view(parameter.values[j]));
      }
    }
  }
}

void encode_description(const std::vector<Result<PluginDescription>>& plugins,
                        std::string& payload) {
  payload.clear();
  payload.push_back(static_cast<char>(kDescription));
  put_varint(payload, plugins.size());
  for (const auto& plugin : plugins) {
    if (!plugin.is_ok()) {
      payload.push_back(0);
      put_text(payload, plugin.status().message());
      continue;
    }
    payload.push_back(1);
    put_text(payload, plugin->id);
    put_text(payload, plugin->version);
    put_text(payload, plugin->description);
    put_varint(payload, plugin->checks.size());
    for (const auto& check : plugin->checks) {
      put_text(payload, check.id);
      put_text(payload, check.title);
      put_text(payload, check.requirement);
      put_text(payload, check.version);
    }
  }
}

std::string decode_description(std::string_view payload, std::size_t plugins,
                               std::vector<Result<detail::DescriptorTexts>>& out) {
  const std::string garbage = "wrote garbage instead of its plugins' descriptions";
  out.clear();
  ByteReader reader(payload);
  unsigned char type = 0;
  std::uint64_t count = 0;
  if (!reader.byte(type) || type != kDescription || !reader.varint(count) || count != plugins) {
    return garbage;
  }
  for (std::size_t i = 0; i < plugins; ++i) {
    unsigned char loaded = 0;
    if (!reader.byte(loaded) || loaded > 1) return garbage;
    std::string_view id, version, description, refusal;
    if (!loaded) {
      if (!reader.text(refusal)) return garbage;
      out.push_back(Status::invalid_argument(refusal.empty() ? std::string("no reason given")
                                                             : std::string(refusal)));
      continue;
    }
    std::uint64_t checks = 0;
    if (!reader.text(id) || !reader.text(version) || !reader.text(description) ||
        !reader.varint(checks) || checks > detail::kMaxChecksPerPlugin) {
      return garbage;
    }
    detail::DescriptorTexts texts;
    texts.id = std::string(id);
    texts.version = std::string(version);
    texts.description = std::string(description);
    for (std::uint64_t c = 0; c < checks; ++c) {
      std::string_view check_id, title, requirement, check_version;
      if (!reader.text(check_id) || !reader.text(title) || !reader.text(requirement) ||
          !reader.text(check_version)) {
        return garbage;
      }
      texts.checks.push_back({std::string(check_id), std::string(title), std::string(requirement),
                              std::string(check_version), true});
    }
    out.push_back(std::move(texts));
  }
  if (!reader.done()) return garbage;
  return {};
}

void encode_path_table(const model::FieldCatalog& catalog, const std::vector<std::size_t>& order,
                       std::string& out) {
  out.clear();
  put_varint(out, order.size());
  for (std::size_t index : order) put_text(out, catalog.field(index).path);
}

void encode_declaration(const model::Declaration& declaration,
                        const std::vector<std::size_t>& order,
                        const model::FieldCatalog* table_catalog, std::string& out) {
  const bool in_table = &declaration.catalog() == table_catalog;
  std::size_t present = 0;
  for (std::size_t index : order) {
    present += !std::holds_alternative<std::monostate>(declaration.value(index));
  }
  put_varint(out, present);
  const auto& catalog = declaration.catalog();
  for (std::size_t position = 0; position < order.size(); ++position) {
    const std::size_t index = order[position];
    const auto& value = declaration.value(index);
    if (std::holds_alternative<std::monostate>(value)) continue;
    if (in_table) {
      put_varint(out, position + 1);
    } else {
      put_varint(out, 0);
      put_text(out, catalog.field(index).path);
    }
    if (const auto* text = std::get_if<std::string>(&value)) {
      out.push_back(static_cast<char>(IOTREG_VALUE_TEXT));
      put_text(out, *text);
    } else if (const auto* flag = std::get_if<bool>(&value)) {
      out.push_back(static_cast<char>(IOTREG_VALUE_BOOLEAN));
      out.push_back(*flag ? 1 : 0);
    } else if (const auto* number = std::get_if<std::int64_t>(&value)) {
      out.push_back(static_cast<char>(IOTREG_VALUE_INTEGER));
      auto bits = static_cast<std::uint64_t>(*number);
      put_varint(out, (bits << 1) ^ static_cast<std::uint64_t>(*number >> 63));
    } else if (const auto* list = std::get_if<model::StringList>(&value)) {
      out.push_back(static_cast<char>(IOTREG_VALUE_TEXT_LIST));
      put_varint(out, list->size());
      for (const auto& item : *list) put_text(out, item);
    }
  }
}

void encode_batch_header(std::string_view path_table, std::size_t count, std::size_t items_bytes,
                         std::string& out) {
  std::string start;
  start.push_back(static_cast<char>(kBatch));
  start.append(path_table);
  put_varint(start, count);
  put_frame_header(out, start.size() + items_bytes);
  out += start;
}

bool decode_setup(std::string_view payload, DecodedSetup& setup) {
  ByteReader reader(payload);
  unsigned char type = 0;
  std::uint64_t count = 0;
  if (!reader.byte(type) || type != kSetup || !reader.text(setup.as_of) ||
      !reader.text(setup.policy_id) || !reader.varint(count) || count > kMaxCount) {
    return false;
  }
  setup.checks.resize(count);
  for (auto& check : setup.checks) {
    std::uint64_t parameter_count = 0;
    if (!reader.text(check.id) || !reader.varint(parameter_count) || parameter_count > kMaxCount) {
      return false;
    }
    std::vector<std::string_view> names;
    for (std::uint64_t i = 0; i < parameter_count; ++i) {
      std::string_view name;
      std::uint64_t value_count = 0;
      if (!reader.text(name) || !reader.varint(value_count) || value_count > kMaxCount) {
        return false;
      }
      names.push_back(name);
      std::vector<iotreg_text> values;
      for (std::uint64_t j = 0; j < value_count; ++j) {
        std::string_view value;
        if (!reader.text(value)) return false;
        values.push_back(text_of(value));
      }
      check.values.push_back(std::move(values));
    }
    for (std::size_t i = 0; i < names.size(); ++i) {
      check.parameters.push_back(
          {text_of(names[i]), check.values[i].data(), check.values[i].size()});
    }
  }
  return reader.done();
}

bool decode_batch(std::string_view payload, std::vector<std::string_view>& paths,
                  std::vector<DecodedItem>& items) {
  ByteReader reader(payload);
  unsigned char type = 0;
  std::uint64_t path_count = 0, count = 0;
  if (!reader.byte(type) || type != kBatch || !reader.varint(path_count) ||
      path_count > kMaxCount) {
    return false;
  }
  paths.resize(path_count);
  for (auto& path : paths) {
    if (!reader.text(path)) return false;
  }
  if (!reader.varint(count) || count > kMaxCount) return false;
  items.resize(count);
  for (auto& item : items) {
    std::uint64_t earlier = 0;
    if (!decode_declaration(reader, paths, item.declaration) || !reader.varint(earlier) ||
        earlier > kMaxCount) {
      return false;
    }
    item.earlier.resize(earlier);
    item.earlier_views.clear();
    for (auto& version : item.earlier) {
      if (!decode_declaration(reader, paths, version)) return false;
      item.earlier_views.push_back(version.view);
    }
  }
  return reader.done();
}

void encode_results(std::size_t first, std::size_t items, std::size_t checks,
                    const std::vector<Finding>& findings, std::string& payload) {
  payload.clear();
  payload.push_back(static_cast<char>(kResults));
  put_varint(payload, items);
  put_varint(payload, checks);
  const auto begin = findings.begin() + static_cast<std::ptrdiff_t>(first * checks);
  for (auto finding = begin; finding != begin + static_cast<std::ptrdiff_t>(items * checks);
       ++finding) {
    payload.push_back(static_cast<char>(finding->outcome));
    put_text(payload, finding->message);
    put_text(payload, finding->field);
  }
}

std::string decode_results(std::string_view payload, std::size_t max_items, std::size_t checks,
                           std::vector<Finding>& findings) {
  ByteReader reader(payload);
  unsigned char type = 0;
  std::uint64_t item_count = 0, check_count = 0;
  if (!reader.byte(type) || type != kResults || !reader.varint(item_count) ||
      !reader.varint(check_count)) {
    return "wrote a reply that is not a results message";
  }
  if (item_count == 0 || item_count > max_items || check_count != checks) {
    return "answered for " + std::to_string(item_count) + " declarations and " +
           std::to_string(check_count) + " checks; at most " + std::to_string(max_items) + " and " +
           std::to_string(checks) + " were awaited";
  }
  findings.resize(item_count * checks);
  for (auto& finding : findings) {
    unsigned char outcome = 0;
    std::string_view message, field;
    if (!reader.byte(outcome)) return "wrote a truncated reply";
    if (outcome > static_cast<unsigned char>(Outcome::kError)) {
      return "returned an invalid outcome (" + std::to_string(outcome) + ")";
    }
    if (!reader.text(message) || !reader.text(field)) return "wrote a truncated reply";
    if (message.size() > detail::kMaxMessageBytes || field.size() > detail::kMaxFieldBytes ||
        !is_valid_utf8(message) || !is_valid_utf8(field)) {
      return "returned a message or field that is too long or not UTF-8";
    }
    finding.outcome = static_cast<Outcome>(outcome);
    finding.message.assign(message);
    finding.field.assign(field);
  }
  if (!reader.done()) return "wrote bytes after the end of its reply";
  return {};
}

}  // namespace iotreg::checks::protocol
