#include "registry/model/lookup_keys.h"

#include "registry/model/declaration.h"

namespace iotreg::model {

std::optional<char> gtin_check_digit(std::string_view digits) {
  if (digits.size() != 8 && digits.size() != 12 && digits.size() != 13 && digits.size() != 14) {
    return std::nullopt;
  }
  int sum = 0;
  const std::size_t payload = digits.size() - 1;
  for (std::size_t i = 0; i < payload; ++i) {
    if (digits[i] < '0' || digits[i] > '9') return std::nullopt;
    const int weight = ((payload - i) % 2 == 1) ? 3 : 1;  // the rightmost payload digit weighs 3
    sum += (digits[i] - '0') * weight;
  }
  const char last = digits.back();
  if (last < '0' || last > '9') return std::nullopt;
  return static_cast<char>('0' + (10 - sum % 10) % 10);
}

bool has_valid_gtin_check_digit(std::string_view digits) {
  const auto expected = gtin_check_digit(digits);
  return expected && *expected == digits.back();
}

Result<std::string> normalized_gtin(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c == ' ' || c == '-') continue;
    if (c < '0' || c > '9') {
      return Status::invalid_argument(
          "a GTIN is the 8, 12, 13 or 14 digits under the barcode, and nothing else");
    }
    digits.push_back(c);
  }
  if (digits.size() != 8 && digits.size() != 12 && digits.size() != 13 && digits.size() != 14) {
    return Status::invalid_argument("a GTIN has 8, 12, 13 or 14 digits; this one has " +
                                    std::to_string(digits.size()));
  }
  if (const char expected = gtin_check_digit(digits).value_or('0'); expected != digits.back()) {
    return Status::invalid_argument(
        "the GTIN " + digits + " has a wrong check digit (its last digit would be " + expected +
        ", not " + digits.back() + "): check the number under the barcode");
  }
  return std::string(14 - digits.size(), '0') + digits;
}

std::uint64_t brand_model_hash(std::string_view brand, std::string_view model) {
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a offset basis
  auto mix = [&hash](std::string_view text) {
    for (unsigned char c : text) {
      hash ^= c;
      hash *= 1099511628211ULL;  // FNV prime
    }
    hash ^= 0;  // the separator byte
    hash *= 1099511628211ULL;
  };
  mix(identity_key(brand));
  mix(identity_key(model));
  return hash;
}

}  // namespace iotreg::model
