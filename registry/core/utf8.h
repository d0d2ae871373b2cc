// UTF-8 validation shared by every reader of untrusted text.
//
// Strict RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. Pure functions,
// safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace iotreg {

// Returns the byte offset of the first invalid sequence, or text.size() when all is valid.
std::size_t find_invalid_utf8(std::string_view text);

inline bool is_valid_utf8(std::string_view text) { return find_invalid_utf8(text) == text.size(); }

// What makes `text` unfit to be a search, a filter or a name given by a user: "is not valid
// UTF-8 (at byte offset N)" or "contains a NUL character (at byte offset N)"; empty when it is
// fit. Stored text is valid UTF-8 and every backend compares only such text (PostgreSQL refuses
// invalid UTF-8 and NUL in text), so the command line and the API refuse the rest alike.
std::string text_problem(std::string_view text);

// The number of characters (code points) of valid UTF-8 text.
std::size_t count_code_points(std::string_view text);

// `text` without its leading and trailing whitespace: ASCII space, tab, line feed, vertical tab,
// form feed and carriage return, and the Unicode space separators (U+00A0 no-break space,
// U+1680, U+2000 to U+200A, U+202F, U+205F, U+3000), which spreadsheets and word processors
// leave around cell values. Inner whitespace is kept. Bytes that are not valid UTF-8 end the
// trimming there, so the result of any input is a substring of it.
std::string_view trim_whitespace(std::string_view text);

}  // namespace iotreg
