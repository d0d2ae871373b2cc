#include "importers/yaml/yaml_scalars.h"

#include <charconv>
#include <cstdlib>

namespace iotreg::importers {
namespace {

bool one_of(const std::string& text, std::initializer_list<const char*> words) {
  for (const char* word : words) {
    if (text == word) return true;
  }
  return false;
}

bool is_decimal_integer(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

bool is_float(std::string_view text) {
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) text.remove_prefix(1);
  bool digits = false;
  bool dot = false;
  std::size_t i = 0;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c >= '0' && c <= '9') {
      digits = true;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      break;
    }
  }
  if (!digits) return false;
  if (i == text.size()) return true;
  if (text[i] != 'e' && text[i] != 'E') return false;
  ++i;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  if (i == text.size()) return false;
  for (; i < text.size(); ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
  }
  return true;
}

}  // namespace

nlohmann::json resolve_plain_scalar(const std::string& text) {
  using nlohmann::json;
  if (text.empty() || one_of(text, {"~", "null", "Null", "NULL"})) return json(nullptr);
  if (one_of(text, {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"})) {
    return json(true);
  }
  if (one_of(text, {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"})) {
    return json(false);
  }
  if (is_decimal_integer(text)) {
    std::int64_t number = 0;
    const char* begin = text.data() + (text[0] == '+' ? 1 : 0);
    auto [end, ec] = std::from_chars(begin, text.data() + text.size(), number);
    if (ec == std::errc() && end == text.data() + text.size()) return json(number);
    std::uint64_t big = 0;
    auto [end2, ec2] = std::from_chars(begin, text.data() + text.size(), big);
    if (ec2 == std::errc() && end2 == text.data() + text.size()) return json(big);
    return json(std::strtod(text.c_str(), nullptr));
  }
  if (is_float(text)) return json(std::strtod(text.c_str(), nullptr));
  return json(text);
}

}  // namespace iotreg::importers
