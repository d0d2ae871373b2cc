#include "importers/text_encoding.h"

#include <Poco/Windows1252Encoding.h>

#include <array>

namespace iotreg::importers {
namespace {

bool equal_ignoring_ascii_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

void append_utf8(std::string& out, int code_point) {
  if (code_point < 0x80) {
    out += static_cast<char>(code_point);
  } else if (code_point < 0x800) {
    out += static_cast<char>(0xC0 | (code_point >> 6));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  } else {
    out += static_cast<char>(0xE0 | (code_point >> 12));
    out += static_cast<char>(0x80 | ((code_point >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (code_point & 0x3F));
  }
}

// Each byte's code point: Poco's Windows-1252 table, with the undefined bytes as C1 controls.
const std::array<int, 256>& windows_1252_code_points() {
  static const std::array<int, 256> table = [] {
    const Poco::Windows1252Encoding encoding;
    const auto& map = encoding.characterMap();
    std::array<int, 256> out{};
    for (int byte = 0; byte < 256; ++byte) out[byte] = map[byte] < 0 ? byte : map[byte];
    return out;
  }();
  return table;
}

}  // namespace

std::optional<TextEncoding> text_encoding_from_label(std::string_view label) {
  for (std::string_view name : {"utf-8", "utf8"}) {
    if (equal_ignoring_ascii_case(label, name)) return TextEncoding::kUtf8;
  }
  for (std::string_view name : {"windows-1252", "cp1252", "iso-8859-1", "latin1", "us-ascii"}) {
    if (equal_ignoring_ascii_case(label, name)) return TextEncoding::kWindows1252;
  }
  return std::nullopt;
}

std::string_view text_encoding_name(TextEncoding encoding) {
  return encoding == TextEncoding::kUtf8 ? "utf-8" : "windows-1252";
}

std::string_view text_encoding_names() { return "utf-8, windows-1252"; }

Windows1252Decoder::int_type Windows1252Decoder::underflow() {
  if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
  char raw[4096];
  source_.read(raw, sizeof raw);
  const std::streamsize got = source_.gcount();
  if (got <= 0) return traits_type::eof();
  const auto& code_points = windows_1252_code_points();
  buffer_.clear();
  for (std::streamsize i = 0; i < got; ++i) {
    append_utf8(buffer_, code_points[static_cast<unsigned char>(raw[i])]);
  }
  setg(buffer_.data(), buffer_.data(), buffer_.data() + buffer_.size());
  return traits_type::to_int_type(*gptr());
}

DecodedInput::DecodedInput(std::istream& source, TextEncoding encoding) : source_(source) {
  if (encoding == TextEncoding::kWindows1252) {
    decoder_ = std::make_unique<Windows1252Decoder>(source);
    decoded_ = std::make_unique<std::istream>(decoder_.get());
  }
}

}  // namespace iotreg::importers
