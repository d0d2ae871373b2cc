#include "registry/storage/body_codec.h"

#include <lz4.h>

#include <array>
#include <limits>
#include <variant>

#include "registry/core/utf8.h"
#include "registry/core/varint.h"

namespace iotreg::storage {
namespace {

// Field codes: the code of a field is its position in this list plus one. The list is part of
// the stored format: append new fields at the end, never reorder, remove or rename an entry
// (a renamed field gets a new code).
constexpr std::string_view kFieldsByCode[] = {
    "manufacturer.name",
    "manufacturer.address",
    "manufacturer.country",
    "manufacturer.email",
    "manufacturer.representative",
    "product.brand",
    "product.model",
    "product.type",
    "product.category",
    "product.cellular",
    "product.for_children",
    "product.hardware_version",
    "product.firmware_version",
    "product.gtin",
    "product.batch",
    "product.placed_on_market",
    "product.updatable",
    "passwords.default",
    "passwords.factory_reset",
    "passwords.forced_change",
    "passwords.generation",
    "passwords.examples",
    "vulnerability.contact_email",
    "vulnerability.contact_url",
    "vulnerability.contact_phone",
    "vulnerability.policy_url",
    "vulnerability.acknowledge_days",
    "vulnerability.update_days",
    "vulnerability.personal_data_required",
    "vulnerability.free_of_charge",
    "vulnerability.language",
    "support.end_date",
    "support.published_url",
    "label.scheme",
    "label.level",
    "label.id",
    "label.expiry",
    "statement.signatory",
    "statement.role",
    "statement.place",
    "statement.date",
    "statement.standards",
    "declaration.reference",
};
constexpr std::uint32_t kFieldCount = sizeof kFieldsByCode / sizeof kFieldsByCode[0];

enum Tag : unsigned char { kText = 0, kFalse = 1, kTrue = 2, kInteger = 3, kTextList = 4 };

constexpr unsigned char kLz4Format = 1;  // first byte of a blob
constexpr std::uint64_t kMaxPayload = 64u << 20;

// Text must be valid UTF-8, as every imported value is.
bool read_text(ByteReader& reader, std::string& value) {
  std::string_view view;
  if (!reader.text(view) || !is_valid_utf8(view)) return false;
  value.assign(view);
  return true;
}

const std::vector<std::vector<std::string_view>>& field_parts() {
  static const auto parts = [] {
    std::vector<std::vector<std::string_view>> all;
    for (std::string_view path : kFieldsByCode) {
      std::vector<std::string_view> components;
      std::size_t start = 0;
      for (;;) {
        auto dot = path.find('.', start);
        components.push_back(path.substr(start, dot == std::string_view::npos ? dot : dot - start));
        if (dot == std::string_view::npos) break;
        start = dot + 1;
      }
      all.push_back(std::move(components));
    }
    return all;
  }();
  return parts;
}

Status damaged(std::string_view what, std::size_t offset) {
  return Status::corruption("stored declaration is damaged: " + std::string(what) + " at byte " +
                            std::to_string(offset));
}

}  // namespace

Result<BodyEncoder> BodyEncoder::create(const model::FieldCatalog& catalog) {
  BodyEncoder encoder;
  for (const auto& field : catalog.fields()) {
    std::uint32_t code = 0;
    for (std::uint32_t i = 0; i < kFieldCount; ++i) {
      if (kFieldsByCode[i] == field.path) code = i + 1;
    }
    if (code == 0) {
      return Status::internal("declaration field " + field.path +
                              " has no storage field code; add it to kFieldsByCode");
    }
    encoder.codes_.push_back(code);
  }
  return encoder;
}

std::string BodyEncoder::payload(const model::Declaration& declaration) const {
  std::string out;
  encode(declaration, out);
  return out;
}

void BodyEncoder::encode(const model::Declaration& declaration, std::string& out) const {
  out.clear();
  for (std::size_t i = 0; i < codes_.size(); ++i) {
    const auto& value = declaration.value(i);
    if (std::holds_alternative<std::monostate>(value)) continue;
    put_varint(out, codes_[i]);
    if (const auto* text = std::get_if<std::string>(&value)) {
      out.push_back(static_cast<char>(kText));
      put_text(out, *text);
    } else if (const auto* flag = std::get_if<bool>(&value)) {
      out.push_back(static_cast<char>(*flag ? kTrue : kFalse));
    } else if (const auto* number = std::get_if<std::int64_t>(&value)) {
      out.push_back(static_cast<char>(kInteger));
      // Zigzag, so that small negative numbers stay short.
      auto bits = static_cast<std::uint64_t>(*number);
      put_varint(out, (bits << 1) ^ (*number < 0 ? ~std::uint64_t{0} : 0));
    } else if (const auto* list = std::get_if<model::StringList>(&value)) {
      out.push_back(static_cast<char>(kTextList));
      put_varint(out, list->size());
      for (const auto& item : *list) put_text(out, item);
    }
  }
}

std::string compress_body(std::string_view payload) {
  std::string blob;
  compress_body(payload, blob);
  return blob;
}

void compress_body(std::string_view payload, std::string& blob) {
  blob.clear();
  blob.push_back(static_cast<char>(kLz4Format));
  put_varint(blob, payload.size());
  std::size_t start = blob.size();
  int bound = LZ4_compressBound(static_cast<int>(payload.size()));
  blob.resize(start + static_cast<std::size_t>(bound));
  int size = LZ4_compress_default(payload.data(), blob.data() + start,
                                  static_cast<int>(payload.size()), bound);
  // With LZ4_compressBound's room, compression cannot fail.
  blob.resize(start + static_cast<std::size_t>(size));
}

Result<std::string> decompress_body(std::string_view blob) {
  ByteReader reader(blob);
  unsigned char format = 0;
  if (!reader.byte(format) || format != kLz4Format) {
    return Status::corruption("stored declaration has an unknown format");
  }
  std::uint64_t size = 0;
  if (!reader.varint(size) || size > kMaxPayload) return damaged("bad size", reader.position());
  std::string payload(size, '\0');
  auto compressed = reader.rest();
  // The safe decoder never reads or writes out of bounds, whatever the input.
  int produced = LZ4_decompress_safe(compressed.data(), payload.data(),
                                     static_cast<int>(compressed.size()), static_cast<int>(size));
  if (produced < 0 || static_cast<std::uint64_t>(produced) != size) {
    return damaged("compressed data does not decompress to its size", reader.position());
  }
  return payload;
}

Result<std::string> payload_to_json(std::string_view payload) {
  const auto& parts = field_parts();
  std::string out;
  out.reserve(payload.size() * 2 + 16);
  model::NestedJsonWriter writer(out);
  ByteReader reader(payload);
  std::uint64_t previous_code = 0;
  while (!reader.done()) {
    std::size_t offset = reader.position();
    std::uint64_t code = 0;
    unsigned char tag = 0;
    if (!reader.varint(code) || !reader.byte(tag)) return damaged("truncated field", offset);
    if (code == 0 || code > kFieldCount) return damaged("unknown field code", offset);
    if (code <= previous_code) return damaged("fields out of order", offset);
    previous_code = code;
    model::FieldValue value;
    switch (tag) {
      case kText: {
        std::string text;
        if (!read_text(reader, text)) return damaged("truncated text", offset);
        value = std::move(text);
        break;
      }
      case kFalse:
      case kTrue:
        value = tag == kTrue;
        break;
      case kInteger: {
        std::uint64_t zigzag = 0;
        if (!reader.varint(zigzag)) return damaged("truncated integer", offset);
        value = static_cast<std::int64_t>((zigzag >> 1) ^ (~(zigzag & 1) + 1));
        break;
      }
      case kTextList: {
        std::uint64_t count = 0;
        if (!reader.varint(count) || count > payload.size()) {
          return damaged("truncated list", offset);
        }
        model::StringList items(count);
        for (auto& item : items) {
          if (!read_text(reader, item)) return damaged("truncated list item", offset);
        }
        value = std::move(items);
        break;
      }
      default:
        return damaged("unknown value tag", offset);
    }
    writer.field(parts[code - 1], value);
  }
  writer.finish();
  return out;
}

}  // namespace iotreg::storage
