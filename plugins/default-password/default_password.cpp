// Check "default-password": no universal default password, and per-device passwords that are
// neither common, repeated, sequential nor derived from public information (DCMS-2019 P1; PSTI
// Regulations 2023 Sch.1 §1; EN 303 645 5.1-1, 5.1-2).
//
// Policy parameters:
//   deny_list                             known default and common passwords, compared
//                                         ASCII-case-insensitively; the Mirai list plus common
//                                         weak passwords and "" when the policy sets none
//   universal_allowed_with_forced_change  a universal password passes when a change before first
//                                         use is forced (default false)
//   factory_reset_must_be_declared        what a factory reset restores must be declared unless
//                                         there is no default password (default true)
//
// The check keeps no state between runs and allocates only to describe a failure or a warning,
// and to read the deny list when samples are declared.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iotreg/check.hpp"

namespace {

using iotreg::ascii_lower;
using iotreg::equals_ignoring_case;
using iotreg::quoted;

constexpr std::string_view kDefaultField = "passwords.default";
constexpr std::string_view kFactoryResetField = "passwords.factory_reset";
constexpr std::string_view kForcedChangeField = "passwords.forced_change";
constexpr std::string_view kGenerationField = "passwords.generation";
constexpr std::string_view kExamplesField = "passwords.examples";

// The deny list used when the policy sets none: REGULATION's minimum list.
constexpr std::string_view kBuiltinDenyList[] = {
    "admin",   "root",     "1234",       "12345",        "123456",       "54321",   "666666",
    "888888",  "00000000", "1111111",    "password",     "default",      "guest",   "user",
    "support", "service",  "supervisor", "tech",         "ubnt",         "pass",    "system",
    "xc3511",  "vizxv",    "xmhdipc",    "juantech",     "klv123",       "klv1234", "Zte521",
    "hi3518",  "jvbzd",    "anko",       "7ujMko0vizxv", "7ujMko0admin", "ikwb",    "dreambox",
    "realtek", "meinsm",   "smcadmin",   "admin1234",    "qwerty",       "letmein", "password1",
    ""};

// Brand and model designation count as public information only from this many characters on.
constexpr std::size_t kMinimumPublicNameCharacters = 4;
// Trailing numbers with more significant digits than this are not compared as counters.
constexpr std::size_t kMaximumCounterDigits = 18;

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }

bool contains_ignoring_case(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  if (needle.size() > haystack.size()) return false;
  const char first = ascii_lower(needle[0]);
  for (std::size_t start = 0; start + needle.size() <= haystack.size(); ++start) {
    if (ascii_lower(haystack[start]) == first &&
        equals_ignoring_case(haystack.substr(start, needle.size()), needle)) {
      return true;
    }
  }
  return false;
}

// Number of UTF-8 characters (bytes that do not continue a multi-byte sequence).
std::size_t utf8_length(std::string_view text) {
  std::size_t characters = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++characters;
  }
  return characters;
}

// The declared sample passwords, borrowed from the declaration.
class Samples {
 public:
  explicit Samples(const iotreg_field* field)
      : items_(field && field->type == IOTREG_VALUE_TEXT_LIST ? field->items : nullptr),
        count_(items_ ? field->item_count : 0) {}
  std::size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  std::string_view operator[](std::size_t index) const { return iotreg::view(items_[index]); }

 private:
  const iotreg_text* items_;
  std::size_t count_;
};

// A sample split into the text before its trailing run of digits and the value of those digits.
struct CountedSample {
  std::string_view prefix;
  std::uint64_t number = 0;
};

// `sample` as prefix and trailing number; false when it does not end in a digit or the number has
// more than kMaximumCounterDigits significant digits.
bool split_trailing_number(std::string_view sample, CountedSample& out) {
  std::size_t digits_begin = sample.size();
  while (digits_begin > 0 && is_ascii_digit(sample[digits_begin - 1])) --digits_begin;
  if (digits_begin == sample.size()) return false;
  std::size_t significant_begin = digits_begin;
  while (significant_begin + 1 < sample.size() && sample[significant_begin] == '0') {
    ++significant_begin;
  }
  if (sample.size() - significant_begin > kMaximumCounterDigits) return false;
  out.prefix = sample.substr(0, digits_begin);
  out.number = 0;
  for (std::size_t i = significant_begin; i < sample.size(); ++i) {
    out.number = out.number * 10 + static_cast<std::uint64_t>(sample[i] - '0');
  }
  return true;
}

// Rule 7: whether all samples (two or more) form an incremental counter: the same prefix before
// a trailing number, and numbers that, in some order, advance by one constant non-zero step
// (e.g. Cam0001, Cam0002, Cam0003, in any order). Two samples suffice: any two distinct numbers
// behind the same prefix are two steps of a counter.
bool form_incremental_counter(const Samples& samples) {
  if (samples.size() < 2) return false;
  CountedSample first;
  if (!split_trailing_number(samples[0], first)) return false;
  std::uint64_t lowest = first.number;
  std::uint64_t highest = first.number;
  for (std::size_t i = 1; i < samples.size(); ++i) {
    CountedSample sample;
    if (!split_trailing_number(samples[i], sample) || sample.prefix != first.prefix) return false;
    lowest = std::min(lowest, sample.number);
    highest = std::max(highest, sample.number);
  }
  const std::uint64_t steps = samples.size() - 1;
  const std::uint64_t span = highest - lowest;
  if (span == 0 || span % steps != 0) return false;

  std::vector<std::uint64_t> numbers;
  numbers.reserve(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    CountedSample sample;
    split_trailing_number(samples[i], sample);
    numbers.push_back(sample.number);
  }
  std::sort(numbers.begin(), numbers.end());
  const std::uint64_t step = span / steps;
  for (std::size_t i = 1; i < numbers.size(); ++i) {
    if (numbers[i] - numbers[i - 1] != step) return false;
  }
  return true;
}

// Rule 5: the index of the first sample on the deny list (the policy's when it sets one, else
// the built-in list), or samples.size().
std::size_t first_denied(const Samples& samples, const iotreg::CheckInput& input) {
  auto denied = [&](std::string_view sample, const auto& list) {
    for (std::string_view entry : list) {
      if (entry.size() == sample.size() && equals_ignoring_case(sample, entry)) return true;
    }
    return false;
  };
  const bool from_policy = input.has_parameter("deny_list");
  const iotreg::TextList policy_list = input.parameter_values("deny_list");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    if (from_policy ? denied(samples[i], policy_list) : denied(samples[i], kBuiltinDenyList)) {
      return i;
    }
  }
  return samples.size();
}

// Rule 6: a sample that occurs more than once, if any. Compares pairwise for the few samples a
// declaration usually has, and sorts copies of the views for long lists.
std::optional<std::string_view> repeated_sample(const Samples& samples) {
  constexpr std::size_t kPairwiseLimit = 16;
  if (samples.size() <= kPairwiseLimit) {
    for (std::size_t i = 1; i < samples.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (samples[i] == samples[j]) return samples[i];
      }
    }
    return std::nullopt;
  }
  std::vector<std::string_view> sorted;
  sorted.reserve(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) sorted.push_back(samples[i]);
  std::sort(sorted.begin(), sorted.end());
  auto repeated = std::adjacent_find(sorted.begin(), sorted.end());
  if (repeated == sorted.end()) return std::nullopt;
  return *repeated;
}

// Rule 8: appends a failure for the first sample that contains the model designation or the
// brand (each only from kMinimumPublicNameCharacters characters on; ASCII-case-insensitive), or
// the GTIN.
void check_public_information(const iotreg::DeclarationView& declaration, const Samples& samples,
                              iotreg::Findings& failures) {
  struct PublicName {
    std::string_view what;
    std::string_view value;
  };
  const PublicName candidates[] = {
      {"model designation", declaration.text("product.model").value_or("")},
      {"brand", declaration.text("product.brand").value_or("")},
  };
  const std::string_view gtin = declaration.text("product.gtin").value_or("");
  for (std::size_t i = 0; i < samples.size(); ++i) {
    for (const PublicName& name : candidates) {
      if (utf8_length(name.value) < kMinimumPublicNameCharacters) continue;
      if (contains_ignoring_case(samples[i], name.value)) {
        failures.fail(kExamplesField,
                      {"the sample password ", quoted(samples[i]), " contains the ", name.what, " ",
                       quoted(name.value), ", which is public (passwords.examples)"});
        return;
      }
    }
    if (!gtin.empty() && samples[i].find(gtin) != std::string_view::npos) {
      failures.fail(kExamplesField, {"the sample password ", quoted(samples[i]),
                                     " contains the GTIN, which is public (passwords.examples)"});
      return;
    }
  }
}

// Words of a passwords.generation description are maximal runs of ASCII letters and digits,
// compared ASCII-case-insensitively through their first kLongestKeyword characters, lower-cased.
constexpr std::size_t kLongestKeyword = 12;
// Per byte: its lower-case form when it is an ASCII letter or digit, else 0 (a word separator).
constexpr std::array<char, 256> kLoweredWordCharacters = [] {
  std::array<char, 256> table{};
  for (char c = '0'; c <= '9'; ++c) table[static_cast<unsigned char>(c)] = c;
  for (char c = 'a'; c <= 'z'; ++c) {
    table[static_cast<unsigned char>(c)] = c;
    table[static_cast<unsigned char>(c - 'a' + 'A')] = c;
  }
  return table;
}();
constexpr std::string_view kIdentifierWords[] = {"serial", "serials", "serialnumber", "serialno",
                                                 "mac",    "macs",    "macaddress",   "ssid",
                                                 "ssids",  "bssid",   "imei"};
constexpr std::string_view kProtectionPrefixes[] = {"hmac", "cmac", "keyed", "encrypt"};

// The set of first letters of lower-case keywords, one bit per letter a-z: words that start with
// another letter need not be compared.
template <std::size_t kCount>
constexpr std::uint32_t first_letters(const std::string_view (&keywords)[kCount]) {
  std::uint32_t letters = 0;
  for (std::string_view keyword : keywords) letters |= std::uint32_t{1} << (keyword[0] - 'a');
  return letters;
}
constexpr std::uint32_t kIdentifierFirstLetters = first_letters(kIdentifierWords);
constexpr std::uint32_t kProtectionFirstLetters = first_letters(kProtectionPrefixes);

// Whether the lower-cased word names a public identifier: a serial number, MAC address, SSID or
// IMEI.
bool names_public_identifier(std::string_view lowered_word) {
  for (std::string_view identifier : kIdentifierWords) {
    if (lowered_word == identifier) return true;
  }
  return false;
}

// Whether the lower-cased start of a word names a keyed hash or encryption.
bool names_key_or_encryption(std::string_view lowered_head) {
  for (std::string_view prefix : kProtectionPrefixes) {
    if (lowered_head.substr(0, prefix.size()) == prefix) return true;
  }
  return false;
}

// The warn rule: the description says passwords derive from a serial number, MAC address or SSID
// and names no keyed hash or encryption.
bool derives_from_public_identifier(std::string_view generation) {
  bool names_identifier = false;
  std::size_t i = 0;
  while (i < generation.size()) {
    char lowered[kLongestKeyword];
    std::size_t length = 0;
    for (; i < generation.size(); ++i, ++length) {
      const char c = kLoweredWordCharacters[static_cast<unsigned char>(generation[i])];
      if (c == 0) break;
      if (length < kLongestKeyword) lowered[length] = c;
    }
    if (length == 0) {
      ++i;
      continue;
    }
    if (is_ascii_digit(lowered[0])) continue;
    const std::uint32_t first_letter = std::uint32_t{1} << (lowered[0] - 'a');
    const std::string_view head(lowered, std::min(length, kLongestKeyword));
    if ((first_letter & kProtectionFirstLetters) && names_key_or_encryption(head)) return false;
    if ((first_letter & kIdentifierFirstLetters) && length <= kLongestKeyword &&
        names_public_identifier(head)) {
      names_identifier = true;
    }
  }
  return names_identifier;
}

// Rules 5 to 8, on the declared sample passwords.
void check_samples(const iotreg::CheckInput& input, const Samples& samples,
                   iotreg::Findings& failures) {
  if (std::size_t denied = first_denied(samples, input); denied != samples.size()) {
    failures.fail(kExamplesField, {"the sample password ", quoted(samples[denied]),
                                   " is on the deny list of known default and common passwords"
                                   " (passwords.examples)"});
  }
  if (std::optional<std::string_view> repeated = repeated_sample(samples)) {
    failures.fail(kExamplesField, {"the sample password ", quoted(*repeated),
                                   " occurs more than once: passwords are not unique per device"
                                   " (passwords.examples)"});
  }
  if (form_incremental_counter(samples)) {
    failures.fail(kExamplesField, {"the sample passwords form an incremental counter (",
                                   quoted(samples[0]), ", ", quoted(samples[1]),
                                   samples.size() > 2 ? ", ...)" : ")", " (passwords.examples)"});
  }
  check_public_information(input.declaration(), samples, failures);
}

struct DefaultPassword {
  static constexpr const char* id = "default-password";
  static constexpr const char* title = "No universal or guessable default passwords";
  static constexpr const char* requirement = "DCMS-2019 P1; PSTI Sch.1 §1; EN 303 645 5.1-1, 5.1-2";
  static constexpr const char* version = "1.0.0";

  static iotreg::Finding run(const iotreg::CheckInput& input) {
    const iotreg::DeclarationView& declaration = input.declaration();
    const std::optional<std::string_view> default_kind = declaration.text(kDefaultField);
    const std::optional<std::string_view> reset_kind = declaration.text(kFactoryResetField);
    const Samples samples(declaration.find(kExamplesField));

    if (default_kind == "none" && (!reset_kind || reset_kind == "none") && samples.empty()) {
      return iotreg::Finding::not_applicable(
          "the product has no password, neither by default nor after a factory reset",
          std::string(kDefaultField));
    }

    // Under a policy that allows a universal password when its change is forced, a failure
    // says that the change is not forced.
    const bool allowed_with_forced_change =
        input.flag("universal_allowed_with_forced_change", false);
    const bool universal_allowed =
        allowed_with_forced_change && declaration.boolean(kForcedChangeField).value_or(false);
    const char* const unforced =
        allowed_with_forced_change
            ? " and no change before first use is forced (passwords.forced_change)"
            : "";
    iotreg::Findings failures;
    if (!default_kind) {
      failures.fail(kDefaultField, {"the kind of default password is not declared "
                                    "(passwords.default)"});
    } else if (*default_kind == "universal" && !universal_allowed) {
      failures.fail(kDefaultField,
                    {"the default password is universal (passwords.default: universal)", unforced});
    }
    if (reset_kind == "universal" && !universal_allowed) {
      failures.fail(kFactoryResetField, {"a factory reset restores a universal password "
                                         "(passwords.factory_reset: universal)",
                                         unforced});
    }
    if (!reset_kind && default_kind != "none" &&
        input.flag("factory_reset_must_be_declared", true)) {
      failures.fail(kFactoryResetField, {"what a factory reset restores is not declared "
                                         "(passwords.factory_reset)"});
    }
    if (!samples.empty()) check_samples(input, samples, failures);
    if (!failures.empty()) return std::move(failures).finding();

    if (std::optional<std::string_view> generation = declaration.text(kGenerationField);
        generation && derives_from_public_identifier(*generation)) {
      return iotreg::Finding::warn(
          "passwords are derived from a serial number, MAC address or SSID without a keyed hash "
          "or encryption, so they may be guessable (passwords.generation)",
          std::string(kGenerationField));
    }
    return iotreg::Finding::pass();
  }
};

}  // namespace

IOTREG_PLUGIN("iotreg.default-password", "1.0.0",
              "Default passwords: not universal, not common, unique per device, not guessable",
              DefaultPassword)
