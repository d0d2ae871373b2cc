#include "registry/cli/output.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>

#include "registry/core/utf8.h"

namespace iotreg::cli {

namespace {

// `text` cut to `width` characters, its last one ~, when it is longer.
std::string cut(const std::string& text, std::size_t width) {
  if (count_code_points(text) <= width) return text;
  std::string out;
  std::size_t kept = 0;
  for (char c : text) {
    const bool starts = (static_cast<unsigned char>(c) & 0xC0) != 0x80;
    if (starts && kept++ == width - 1) break;
    out.push_back(c);
  }
  return out + "~";
}

constexpr std::size_t kGap = 2;
constexpr std::size_t kNarrowest = 8;

}  // namespace

TextTable::TextTable(std::vector<Column> columns) : columns_(std::move(columns)) {}

void TextTable::add_row(std::vector<std::string> cells) {
  cells.resize(columns_.size());
  for (std::string& text : cells) text = printable(text);
  rows_.push_back(std::move(cells));
}

void TextTable::print(std::ostream& out, std::optional<std::size_t> width) const {
  std::vector<std::size_t> widths(columns_.size()), narrowest(columns_.size());
  std::size_t total = 0;
  for (std::size_t column = 0; column < columns_.size(); ++column) {
    widths[column] = count_code_points(columns_[column].header);
    for (const auto& row : rows_)
      widths[column] = std::max(widths[column], count_code_points(row[column]));
    narrowest[column] =
        columns_[column].may_cut
            ? std::min(widths[column],
                       std::max(kNarrowest, count_code_points(columns_[column].header)))
            : widths[column];
    total += widths[column] + (column > 0 ? kGap : 0);
  }
  while (width && total > *width) {
    std::size_t widest = columns_.size();
    for (std::size_t column = 0; column < columns_.size(); ++column) {
      if (widths[column] > narrowest[column] &&
          (widest == columns_.size() || widths[column] > widths[widest])) {
        widest = column;
      }
    }
    if (widest == columns_.size()) break;  // nothing left to cut: the terminal wraps
    --widths[widest];
    --total;
  }
  auto print_row = [&](const auto& text_of) {
    std::string line;
    for (std::size_t column = 0; column < columns_.size(); ++column) {
      const std::string text = cut(text_of(column), widths[column]);
      line += text;
      if (column + 1 < columns_.size())
        line.append(widths[column] - count_code_points(text) + kGap, ' ');
    }
    out << line << "\n";
  };
  print_row([&](std::size_t column) { return columns_[column].header; });
  for (const auto& row : rows_) print_row([&](std::size_t column) { return row[column]; });
}

std::optional<std::size_t> output_width() {
  if (!isatty(STDOUT_FILENO)) return std::nullopt;
  winsize size{};
  if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &size) != 0 || size.ws_col == 0) return std::nullopt;
  return size.ws_col;
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
