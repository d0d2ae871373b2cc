#include "registry/cli/output.h"

#include <iostream>

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

std::string counted(std::uint64_t count, std::string_view one, std::string_view many) {
  return std::to_string(count) + " " + std::string(count == 1 ? one : many);
}

void print_change_summary(const storage::ChangeSummary& summary, bool would) {
  std::cout << "  flags: " << std::to_string(summary.flags_raised) << (would ? " would be" : "")
            << " raised, " << std::to_string(summary.flags_withdrawn) << " withdrawn, "
            << std::to_string(summary.flags_remedied) << " confirmed remedied\n";
  if (summary.products_changed == 0) return;
  std::cout << "  " << counted(summary.products_changed, "product", "products")
            << (would ? " would change status or flag:" : " changed status or flag:") << "\n";
  for (const auto& change : summary.first) {
    std::cout << "    " << change.product_id << " " << printable(change.manufacturer) << " / "
              << printable(change.brand) << " " << printable(change.model) << ": " << change.kind
              << " " << (change.from.empty() ? "(new)" : change.from) << " -> " << change.to
              << "\n";
  }
  if (summary.products_changed > summary.first.size()) {
    std::cout << "    ... and " << std::to_string(summary.products_changed - summary.first.size())
              << " more\n";
  }
}

}  // namespace iotreg::cli
