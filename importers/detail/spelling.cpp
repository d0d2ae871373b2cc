#include "importers/detail/spelling.h"

#include <algorithm>

namespace iotreg::importers::detail {
namespace {

char folded(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Optimal string alignment distance: insertions, deletions, substitutions and swaps of
// neighbours, each one edit.
std::size_t edits(std::string_view a, std::string_view b) {
  std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
  for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = folded(a[i - 1]) == folded(b[j - 1]) ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && folded(a[i - 1]) == folded(b[j - 2]) &&
          folded(a[i - 2]) == folded(b[j - 1])) {
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.size()][b.size()];
}

}  // namespace

std::optional<std::string> nearest_spelling(std::string_view name,
                                            const std::vector<std::string_view>& candidates) {
  constexpr std::size_t kMostEdits = 2;
  // Names far longer than any field path are not typos of one; this also bounds the work.
  constexpr std::size_t kLongestName = 200;
  if (name.size() > kLongestName) return std::nullopt;
  std::optional<std::string> best;
  std::size_t best_edits = kMostEdits + 1;
  for (std::string_view candidate : candidates) {
    if (candidate == name) return std::nullopt;
    // At least as many edits as the lengths differ: most candidates need no comparison.
    const std::size_t shorter = std::min(name.size(), candidate.size());
    if (std::max(name.size(), candidate.size()) - shorter > kMostEdits) continue;
    const std::size_t distance = edits(name, candidate);
    const std::size_t longer = std::max(name.size(), candidate.size());
    if (distance < best_edits && distance * 3 < longer) {
      best = std::string(candidate);
      best_edits = distance;
    }
  }
  return best;
}

}  // namespace iotreg::importers::detail
