// Suggestions for misspelt names: the nearest of a set of known names, for "did you mean".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iotreg::importers::detail {

// The candidate nearest to `name` when it is near enough to be a typo of it: at most two edits
// (a character inserted, deleted, replaced, or two neighbours swapped; ASCII case ignored) and
// fewer edits than a third of the longer of the two. Of equally near candidates, the first.
// Empty when none is near enough, or `name` is one of them.
std::optional<std::string> nearest_spelling(std::string_view name,
                                            const std::vector<std::string_view>& candidates);

}  // namespace iotreg::importers::detail
