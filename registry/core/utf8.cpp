#include "registry/core/utf8.h"

namespace iotreg {

std::size_t find_invalid_utf8(std::string_view text) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t size = text.size();
  std::size_t i = 0;
  while (i < size) {
    unsigned char lead = bytes[i];
    if (lead < 0x80) {
      ++i;
      continue;
    }
    std::size_t length = 0;
    unsigned char low = 0x80;
    unsigned char high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      if (lead == 0xE0) low = 0xA0;   // no overlongs
      if (lead == 0xED) high = 0x9F;  // no surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      if (lead == 0xF0) low = 0x90;   // no overlongs
      if (lead == 0xF4) high = 0x8F;  // nothing above U+10FFFF
    } else {
      return i;
    }
    if (i + length > size) return i;
    if (bytes[i + 1] < low || bytes[i + 1] > high) return i;
    for (std::size_t k = 2; k < length; ++k) {
      if ((bytes[i + k] & 0xC0) != 0x80) return i;
    }
    i += length;
  }
  return size;
}

std::string text_problem(std::string_view text) {
  if (std::size_t invalid = find_invalid_utf8(text); invalid != text.size()) {
    return "is not valid UTF-8 (at byte offset " + std::to_string(invalid) + ")";
  }
  if (std::size_t nul = text.find('\0'); nul != std::string_view::npos) {
    return "contains a NUL character (at byte offset " + std::to_string(nul) + ")";
  }
  return {};
}

std::size_t count_code_points(std::string_view text) {
  std::size_t count = 0;
  for (char c : text) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

namespace {

// The length of the whitespace character that `text` starts with, or 0.
std::size_t leading_space_length(std::string_view text) {
  if (text.empty()) return 0;
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  switch (byte(0)) {
    case ' ':
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
      return 1;
    case 0xC2:  // U+00A0
      return text.size() >= 2 && byte(1) == 0xA0 ? 2 : 0;
    case 0xE1:  // U+1680
      return text.size() >= 3 && byte(1) == 0x9A && byte(2) == 0x80 ? 3 : 0;
    case 0xE2:  // U+2000..U+200A, U+202F, U+205F
      if (text.size() < 3) return 0;
      if (byte(1) == 0x80 && (byte(2) <= 0x8A || byte(2) == 0xAF)) return 3;
      return byte(1) == 0x81 && byte(2) == 0x9F ? 3 : 0;
    case 0xE3:  // U+3000
      return text.size() >= 3 && byte(1) == 0x80 && byte(2) == 0x80 ? 3 : 0;
    default:
      return 0;
  }
}

// The length of the whitespace character that `text` ends with, or 0.
std::size_t trailing_space_length(std::string_view text) {
  for (std::size_t length = 1; length <= 3 && length <= text.size(); ++length) {
    std::string_view last = text.substr(text.size() - length);
    if (leading_space_length(last) == length) return length;
  }
  return 0;
}

}  // namespace

std::string_view trim_whitespace(std::string_view text) {
  while (std::size_t length = leading_space_length(text)) text.remove_prefix(length);
  while (std::size_t length = trailing_space_length(text)) text.remove_suffix(length);
  return text;
}

}  // namespace iotreg
