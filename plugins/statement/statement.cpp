// Check "statement": the statement of compliance is complete, not post-dated and, where the
// policy asks, names each standard relied on with its version and date (PSTI Act 2022 s.9;
// Regulations 2023 Sch.4).
//
// Policy parameter standards_need_version_and_date: when true, every entry of
// statement.standards must name a version ("V2.1.1": a word that starts with V or v and a digit)
// and a date in brackets ("(2020-06)" or "(2020-06-30)"); default false.
//
// Dates are ISO YYYY-MM-DD strings validated on import, so they compare as strings. The check
// keeps no state between runs and allocates only to describe a failure.
#include <cstddef>
#include <cstdio>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "iotreg/check.hpp"

namespace {

using iotreg::quoted;

constexpr std::string_view kDateField = "statement.date";
constexpr std::string_view kStandardsField = "statement.standards";

// What a statement of compliance must have, in the order missing items are reported.
struct RequiredItem {
  std::string_view field;
  std::string_view description;
};
constexpr RequiredItem kRequiredItems[] = {
    {"manufacturer.address", "the manufacturer's postal address"},
    {"statement.signatory", "the signatory"},
    {"statement.role", "the signatory's role"},
    {"statement.place", "the place of issue"},
    {kDateField, "the date of issue"}};

// A failure names at most this many of the standards cited without version or date.
constexpr std::size_t kNamedStandards = 5;

bool is_ascii_digit(char c) { return c >= '0' && c <= '9'; }
bool is_ascii_alphanumeric(char c) {
  return is_ascii_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// Whether `standard` names its version: a word that starts with V or v followed by a digit.
bool names_version(std::string_view standard) {
  for (std::size_t i = 0; i + 1 < standard.size(); ++i) {
    if ((standard[i] == 'V' || standard[i] == 'v') && is_ascii_digit(standard[i + 1]) &&
        (i == 0 || !is_ascii_alphanumeric(standard[i - 1]))) {
      return true;
    }
  }
  return false;
}

// Whether `text` starts with `count` ASCII digits.
bool starts_with_digits(std::string_view text, std::size_t count) {
  if (text.size() < count) return false;
  for (std::size_t i = 0; i < count; ++i) {
    if (!is_ascii_digit(text[i])) return false;
  }
  return true;
}

// Whether `standard` names its date in brackets: "(YYYY-MM)" or "(YYYY-MM-DD)", with a month
// 01-12 and a day 01-31.
bool names_date(std::string_view standard) {
  for (std::size_t open = standard.find('('); open != std::string_view::npos;
       open = standard.find('(', open + 1)) {
    std::string_view rest = standard.substr(open + 1);
    if (!starts_with_digits(rest, 4) || rest.size() < 8 || rest[4] != '-' ||
        !starts_with_digits(rest.substr(5), 2)) {
      continue;
    }
    const int month = (rest[5] - '0') * 10 + (rest[6] - '0');
    if (month < 1 || month > 12) continue;
    if (rest[7] == ')') return true;
    if (rest.size() >= 11 && rest[7] == '-' && starts_with_digits(rest.substr(8), 2) &&
        rest[10] == ')') {
      const int day = (rest[8] - '0') * 10 + (rest[9] - '0');
      if (day >= 1 && day <= 31) return true;
    }
  }
  return false;
}

// Rule 3: adds a failure for each standard cited without its version or date, naming at most
// kNamedStandards of them so that the message stays short.
void check_standards(const iotreg_field* standards, iotreg::Findings& failures) {
  if (!standards || standards->type != IOTREG_VALUE_TEXT_LIST) return;
  std::size_t named = 0;
  std::size_t unnamed = 0;
  for (std::size_t i = 0; i < standards->item_count; ++i) {
    const std::string_view standard = iotreg::view(standards->items[i]);
    const bool has_version = names_version(standard);
    const bool has_date = names_date(standard);
    if (has_version && has_date) continue;
    if (named == kNamedStandards) {
      ++unnamed;
      continue;
    }
    ++named;
    failures.fail(kStandardsField, {"the standard ", quoted(standard), " is cited without its ",
                                    has_version ? "date, e.g. (2020-06)"
                                    : has_date  ? "version, e.g. V2.1.1"
                                                : "version and date, e.g. V2.1.1 (2020-06)",
                                    " (statement.standards)"});
  }
  if (unnamed > 0) {
    char count[24];
    std::snprintf(count, sizeof count, "%zu", unnamed);
    failures.fail(kStandardsField,
                  {count, unnamed == 1 ? " more standard is" : " more standards are",
                   " cited without a version or date (statement.standards)"});
  }
}

struct Statement {
  static constexpr const char* id = "statement";
  static constexpr const char* title = "Complete statement of compliance";
  static constexpr const char* requirement = "PSTI Act 2022 s.9; Regulations Sch.4";
  static constexpr const char* version = "1.0.0";

  static iotreg::Finding run(const iotreg::CheckInput& input) {
    const iotreg::DeclarationView& declaration = input.declaration();
    iotreg::Findings failures;

    std::string missing;
    std::string_view first_missing_field;
    for (const RequiredItem& item : kRequiredItems) {
      if (declaration.has(item.field)) continue;
      if (missing.empty()) {
        first_missing_field = item.field;
      } else {
        missing += ", ";
      }
      missing.append(item.description).append(" (").append(item.field).append(")");
    }
    if (!missing.empty()) {
      failures.fail(first_missing_field, {"the statement of compliance lacks ", missing});
    }

    const std::optional<std::string_view> date = declaration.text(kDateField);
    if (date && *date > input.as_of()) {
      failures.fail(kDateField, {"the statement of compliance is dated after the evaluation date "
                                 "(statement.date ",
                                 *date, " is after ", input.as_of(), ")"});
    }

    if (input.flag("standards_need_version_and_date", false)) {
      check_standards(declaration.find(kStandardsField), failures);
    }

    if (!failures.empty()) return std::move(failures).finding();
    return iotreg::Finding::pass();
  }
};

}  // namespace

IOTREG_PLUGIN("iotreg.statement", "1.0.0",
              "Statement of compliance: complete, not post-dated, standards cited precisely",
              Statement)
