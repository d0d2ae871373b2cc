// UTF-8 validation shared by every reader of untrusted text.
//
// Strict RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. Pure functions,
// safe from any thread.
#pragma once

#include <cstddef>
#include <string_view>

namespace iotreg {

// Returns the byte offset of the first invalid sequence, or text.size() when all is valid.
std::size_t find_invalid_utf8(std::string_view text);

inline bool is_valid_utf8(std::string_view text) { return find_invalid_utf8(text) == text.size(); }

}  // namespace iotreg
