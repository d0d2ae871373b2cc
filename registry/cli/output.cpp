#include "registry/cli/output.h"

namespace iotreg::cli {

// A table cell of `width` characters: the text, cut with ~ to leave at least one space before
// the next column, then padded. Counts UTF-8 characters rather than bytes so columns line up.
std::string cell(std::string_view text, std::size_t width) {
  std::string clean = printable(text);
  auto is_start = [&](std::size_t i) {
    return (static_cast<unsigned char>(clean[i]) & 0xC0) != 0x80;
  };
  std::size_t characters = 0;
  for (std::size_t i = 0; i < clean.size(); ++i) characters += is_start(i);
  std::string out;
  if (characters < width) {
    out = clean;
  } else {
    std::size_t kept = 0;
    for (std::size_t i = 0; i < clean.size(); ++i) {
      if (is_start(i) && kept++ == width - 2) break;
      out.push_back(clean[i]);
    }
    out += "~";
    characters = width - 1;
  }
  out.append(width - characters, ' ');
  return out;
}

std::string grouped(std::uint64_t count) {
  std::string digits = std::to_string(count);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    out.push_back(byte < 0x20 || byte == 0x7F ? ' ' : c);
  }
  return out;
}

}  // namespace iotreg::cli
