// The C++ layer of the iotreg plugin SDK: write a check as a small class, list the checks in
// IOTREG_PLUGIN, and the C ABI of plugin.h is generated for you (header-only, C++17).
//
//   struct SupportEndDate {
//     static constexpr const char* id = "support-end-date";
//     static constexpr const char* title = "Support period has an end date";
//     static constexpr const char* requirement = "PSTI Sch.1 §3";
//     static constexpr const char* version = "1.0.0";
//     static iotreg::Finding run(const iotreg::CheckInput& input) {
//       if (!input.declaration().text("support.end_date"))
//         return iotreg::Finding::fail("no support end date is declared", "support.end_date");
//       return iotreg::Finding::pass();
//     }
//   };
//   IOTREG_PLUGIN("example", "1.0.0", "An example check", SupportEndDate)
//
// Views (DeclarationView, CheckInput) borrow the host's data for the duration of one run; do
// not keep them. run() may be called from several threads at once: keep it free of shared
// mutable state. An exception escaping run() is caught at the boundary and recorded by the host
// as an `error` finding naming the exception's type and, for a std::exception, its what():
// "the check failed while judging: it threw std::out_of_range: vector::_M_range_check ...".
#ifndef IOTREG_CHECK_HPP
#define IOTREG_CHECK_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>
#include <vector>

#include "iotreg/plugin.h"

#if defined(__GNUC__)
#include <cxxabi.h>
#endif

namespace iotreg {

enum class Outcome : std::uint32_t {
  kPass = IOTREG_PASS,
  kFail = IOTREG_FAIL,
  kWarn = IOTREG_WARN,
  kNotApplicable = IOTREG_NOT_APPLICABLE,
};

// What a check concludes about one declaration.
struct Finding {
  Outcome outcome = Outcome::kPass;
  std::string message;
  std::string field;

  static Finding pass(std::string message = {}, std::string field = {}) {
    return {Outcome::kPass, std::move(message), std::move(field)};
  }
  static Finding fail(std::string message, std::string field = {}) {
    return {Outcome::kFail, std::move(message), std::move(field)};
  }
  static Finding warn(std::string message, std::string field = {}) {
    return {Outcome::kWarn, std::move(message), std::move(field)};
  }
  static Finding not_applicable(std::string message = {}, std::string field = {}) {
    return {Outcome::kNotApplicable, std::move(message), std::move(field)};
  }
};

// Builds the one finding of a run that checks several rules: each failed rule (or, when none
// failed, each warning) adds a sentence joined with "; ", and the finding's field is the first
// such rule's. Failures win over warnings; nothing recorded is a pass.
class Findings {
 public:
  void fail(std::string_view field, std::initializer_list<std::string_view> sentence) {
    append(failures_, failure_field_, field, sentence);
  }
  void warn(std::string_view field, std::initializer_list<std::string_view> sentence) {
    append(warnings_, warning_field_, field, sentence);
  }
  bool empty() const { return failures_.empty() && warnings_.empty(); }
  Finding finding() && {
    if (!failures_.empty()) return Finding::fail(std::move(failures_), std::move(failure_field_));
    if (!warnings_.empty()) return Finding::warn(std::move(warnings_), std::move(warning_field_));
    return Finding::pass();
  }

 private:
  static void append(std::string& message, std::string& first_field, std::string_view field,
                     std::initializer_list<std::string_view> sentence) {
    if (message.empty()) {
      first_field = field;
    } else {
      message += "; ";
    }
    for (std::string_view piece : sentence) message.append(piece);
  }

  std::string failures_;
  std::string failure_field_;
  std::string warnings_;
  std::string warning_field_;
};

inline std::string_view view(iotreg_text text) { return {text.data, text.size}; }

// ASCII letters lower-cased; every other byte (including UTF-8) unchanged.
inline char ascii_lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
}

// Equal but for the case of ASCII letters (enum-like values, deny-list entries, codes).
inline bool equals_ignoring_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  }
  return true;
}

// `value` in double quotes for a message, cut at a UTF-8 character boundary to at most
// `max_bytes` bytes (an ellipsis marks the cut): declared values are untrusted and may be long.
inline std::string quoted(std::string_view value, std::size_t max_bytes = 60) {
  std::string out = "\"";
  if (value.size() <= max_bytes) {
    out.append(value);
  } else {
    std::size_t end = max_bytes;
    while (end > 0 && (static_cast<unsigned char>(value[end]) & 0xC0) == 0x80) --end;
    out.append(value.substr(0, end));
    out.append("\xE2\x80\xA6");
  }
  out += '"';
  return out;
}

// A list of texts borrowed from the host (list field items, parameter values): no copies.
class TextList {
 public:
  class iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using value_type = std::string_view;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = std::string_view;

    iterator() = default;
    explicit iterator(const iotreg_text* at) : at_(at) {}
    std::string_view operator*() const { return view(*at_); }
    std::string_view operator[](difference_type n) const { return view(at_[n]); }
    iterator& operator++() {
      ++at_;
      return *this;
    }
    iterator operator++(int) {
      iterator old = *this;
      ++at_;
      return old;
    }
    iterator& operator--() {
      --at_;
      return *this;
    }
    iterator operator--(int) {
      iterator old = *this;
      --at_;
      return old;
    }
    iterator& operator+=(difference_type n) {
      at_ += n;
      return *this;
    }
    iterator& operator-=(difference_type n) {
      at_ -= n;
      return *this;
    }
    friend iterator operator+(iterator it, difference_type n) { return it += n; }
    friend iterator operator+(difference_type n, iterator it) { return it += n; }
    friend iterator operator-(iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(iterator a, iterator b) { return a.at_ - b.at_; }
    friend bool operator==(iterator a, iterator b) { return a.at_ == b.at_; }
    friend bool operator!=(iterator a, iterator b) { return a.at_ != b.at_; }
    friend bool operator<(iterator a, iterator b) { return a.at_ < b.at_; }
    friend bool operator>(iterator a, iterator b) { return a.at_ > b.at_; }
    friend bool operator<=(iterator a, iterator b) { return a.at_ <= b.at_; }
    friend bool operator>=(iterator a, iterator b) { return a.at_ >= b.at_; }

   private:
    const iotreg_text* at_ = nullptr;
  };

  TextList() = default;
  TextList(const iotreg_text* items, std::size_t size) : items_(items), size_(size) {}
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::string_view operator[](std::size_t index) const { return view(items_[index]); }
  iterator begin() const { return iterator(items_); }
  iterator end() const { return iterator(items_ + size_); }

 private:
  const iotreg_text* items_ = nullptr;
  std::size_t size_ = 0;
};

// Read access to one declaration's fields by dotted path.
class DeclarationView {
 public:
  explicit DeclarationView(const iotreg_declaration& declaration) : declaration_(&declaration) {}

  // The field, or nullptr when it is not declared.
  const iotreg_field* find(std::string_view path) const {
    const iotreg_field* begin = declaration_->fields;
    const iotreg_field* end = begin + declaration_->field_count;
    const iotreg_field* it = std::lower_bound(
        begin, end, path,
        [](const iotreg_field& field, std::string_view key) { return view(field.path) < key; });
    return it != end && view(it->path) == path ? it : nullptr;
  }
  bool has(std::string_view path) const { return find(path) != nullptr; }

  std::optional<std::string_view> text(std::string_view path) const {
    const iotreg_field* field = find(path);
    if (!field || field->type != IOTREG_VALUE_TEXT) return std::nullopt;
    return view(field->text_value);
  }
  std::optional<bool> boolean(std::string_view path) const {
    const iotreg_field* field = find(path);
    if (!field || field->type != IOTREG_VALUE_BOOLEAN) return std::nullopt;
    return field->boolean_value != 0;
  }
  std::optional<std::int64_t> integer(std::string_view path) const {
    const iotreg_field* field = find(path);
    if (!field || field->type != IOTREG_VALUE_INTEGER) return std::nullopt;
    return field->integer_value;
  }
  // The items of a list field; empty when it is not declared.
  TextList list(std::string_view path) const {
    const iotreg_field* field = find(path);
    if (!field || field->type != IOTREG_VALUE_TEXT_LIST) return {};
    return TextList(field->items, field->item_count);
  }

 private:
  const iotreg_declaration* declaration_;
};

// Everything a check may look at: the declaration, the product's earlier versions (oldest
// first), the evaluation date and this check's parameters in the active policy.
class CheckInput {
 public:
  explicit CheckInput(const iotreg_check_input& input)
      : input_(&input), declaration_(*input.declaration) {}

  const DeclarationView& declaration() const { return declaration_; }
  std::size_t earlier_count() const { return input_->earlier_count; }
  DeclarationView earlier(std::size_t index) const {
    return DeclarationView(input_->earlier[index]);
  }
  std::string_view as_of() const { return view(input_->as_of); }
  std::string_view policy_id() const { return view(input_->policy_id); }

  // Whether the policy sets the parameter (possibly to an empty list).
  bool has_parameter(std::string_view name) const { return find_parameter(name) != nullptr; }
  // The values of a parameter; empty when the policy does not set it.
  TextList parameter_values(std::string_view name) const {
    const iotreg_parameter* parameter = find_parameter(name);
    if (!parameter) return {};
    return TextList(parameter->values, parameter->value_count);
  }
  std::optional<std::string_view> parameter(std::string_view name) const {
    const iotreg_parameter* parameter = find_parameter(name);
    if (!parameter || parameter->value_count != 1) return std::nullopt;
    return view(parameter->values[0]);
  }
  // A boolean parameter: true for "true", false for "false", else `fallback`.
  bool flag(std::string_view name, bool fallback) const {
    auto value = parameter(name);
    if (value == std::string_view("true")) return true;
    if (value == std::string_view("false")) return false;
    return fallback;
  }

 private:
  const iotreg_parameter* find_parameter(std::string_view name) const {
    for (std::size_t i = 0; i < input_->parameter_count; ++i) {
      if (view(input_->parameters[i].name) == name) return &input_->parameters[i];
    }
    return nullptr;
  }

  const iotreg_check_input* input_;
  DeclarationView declaration_;
};

namespace detail {

inline iotreg_text text_of(const std::string& text) { return {text.data(), text.size()}; }

// The type of the exception being handled, demangled where the compiler allows it.
inline std::string current_exception_type() {
#if defined(__GNUC__)
  const std::type_info* type = abi::__cxa_current_exception_type();
  if (!type) return "an unknown exception";
  int status = 0;
  char* demangled = abi::__cxa_demangle(type->name(), nullptr, nullptr, &status);
  std::string name = status == 0 && demangled ? demangled : type->name();
  std::free(demangled);
  return name;
#else
  return "an exception";
#endif
}

// Inside a catch block: why the check could not judge, e.g. "it threw std::out_of_range:
// vector::_M_range_check", reported (with a non-zero return) for the host's `error` finding.
inline void report_exception(iotreg_report_fn report, void* host_context) noexcept {
  try {
    std::string why = "it threw " + current_exception_type();
    try {
      throw;
    } catch (const std::exception& error) {
      why += ": ";
      why += error.what();
    } catch (...) {
    }
    const iotreg_finding out{IOTREG_FAIL, text_of(why), {"", 0}};
    report(host_context, &out);
  } catch (...) {  // no memory left to say why: the host records the bare error
  }
}

// The C entry of one check: runs it and reports its finding; nothing is thrown across.
template <class Check>
int run_check(const iotreg_check_input* input, iotreg_report_fn report,
              void* host_context) noexcept {
  try {
    CheckInput view_of_input(*input);
    Finding finding = Check::run(view_of_input);
    iotreg_finding out{static_cast<std::uint32_t>(finding.outcome), text_of(finding.message),
                       text_of(finding.field)};
    report(host_context, &out);
    return 0;
  } catch (...) {
    report_exception(report, host_context);
    return 1;
  }
}

template <class... Checks>
const iotreg_plugin* describe_plugin(const char* id, const char* version,
                                     const char* description) noexcept {
  static const iotreg_check checks[] = {
      {Checks::id, Checks::title, Checks::requirement, Checks::version, &run_check<Checks>}...};
  static const iotreg_plugin plugin = {IOTREG_PLUGIN_ABI_VERSION,
                                       static_cast<std::uint32_t>(sizeof(iotreg_plugin)),
                                       id,
                                       version,
                                       description,
                                       checks,
                                       sizeof...(Checks)};
  return &plugin;
}

}  // namespace detail
}  // namespace iotreg

// Defines the plugin's entry point: its id, version, description and its check classes.
#define IOTREG_PLUGIN(ID, VERSION, DESCRIPTION, ...)                                        \
  extern "C" IOTREG_PLUGIN_EXPORT const iotreg_plugin* iotreg_plugin_entry(void) noexcept { \
    return ::iotreg::detail::describe_plugin<__VA_ARGS__>(ID, VERSION, DESCRIPTION);        \
  }

#endif  // IOTREG_CHECK_HPP
