// JSON and JSON Lines readers. JSON Lines is read line by line; a JSON file holding an array is
// cut into its elements by a scanner that honours strings and brackets, so that each element is
// a record of its own: bounded by ReaderLimits::max_record_bytes, and rejected alone when it is
// not valid JSON. Each record's text is parsed with nlohmann::json's SAX interface, which
// catches duplicate keys (the DOM parser silently keeps the last one).
#include <bit>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "importers/detail/byte_reader.h"
#include "importers/detail/readers.h"
#include "importers/text_encoding.h"

namespace iotreg::importers::detail {
namespace {

using nlohmann::json;

std::string without_exception_prefix(std::string_view what) {
  // nlohmann messages start with "[json.exception.parse_error.101] ".
  if (!what.empty() && what.front() == '[') {
    auto end = what.find("] ");
    if (end != std::string_view::npos) what.remove_prefix(end + 2);
  }
  return std::string(what);
}

// Builds the JSON value of one record and hands it to a Receiver once it is complete. Knows,
// at any point of the parse, the path of the value being read (for messages about input that
// stops there).
class ElementBuilder : public nlohmann::json_sax<json> {
 public:
  class Receiver {
   public:
    virtual ~Receiver() = default;
    virtual void on_element(json&& element, std::vector<FieldIssue>&& issues) = 0;
  };

  explicit ElementBuilder(Receiver* receiver) : receiver_(receiver) {}

  const std::string& error() const { return error_; }
  // Byte offset in the text just after the byte at which parsing failed.
  std::size_t error_position() const { return error_position_; }
  // True when the parse stopped where an object expects a key.
  bool expecting_key() const {
    return !stack_.empty() && stack_.back()->is_object() && expecting_key_;
  }

  // "product.model", "passwords.examples[2]": the value being read where the parse stopped.
  // At a key, the path of the object holding it.
  std::string path_here() const {
    std::string path;
    std::size_t object_level = 0;
    for (std::size_t depth = 0; depth < stack_.size(); ++depth) {
      const json& container = *stack_[depth];
      const bool top = depth + 1 == stack_.size();
      if (container.is_object()) {
        const auto& seen = keys_[object_level++];
        if ((top && expecting_key_) || seen.empty()) continue;
        if (!path.empty()) path += '.';
        path += seen.back();
      } else {
        const std::size_t index = top ? container.size() : container.size() - 1;
        path += "[" + std::to_string(index) + "]";
      }
    }
    return path;
  }

  bool null() override { return value(json(nullptr)); }
  bool boolean(bool flag) override { return value(json(flag)); }
  bool number_integer(number_integer_t number) override { return value(json(number)); }
  bool number_unsigned(number_unsigned_t number) override { return value(json(number)); }
  bool number_float(number_float_t number, const string_t&) override { return value(json(number)); }
  bool string(string_t& text) override { return value(json(std::move(text))); }
  bool binary(binary_t&) override { return value(json(nullptr)); }

  bool start_object(std::size_t) override {
    begin_container(json::object());
    keys_.emplace_back();
    expecting_key_ = true;
    return true;
  }
  bool key(string_t& name) override {
    auto& seen = keys_.back();
    for (const auto& existing : seen) {
      if (existing == name) {
        issues_.push_back({key_path(name), "duplicate key (each field may appear once)"});
        break;
      }
    }
    seen.push_back(name);
    pending_key_ = std::move(name);
    expecting_key_ = false;
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    return end_container();
  }
  bool start_array(std::size_t) override {
    begin_container(json::array());
    return true;
  }
  bool end_array() override { return end_container(); }
  bool parse_error(std::size_t position, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    error_ = without_exception_prefix(ex.what());
    // nlohmann's word for bytes that are not UTF-8 inside a string.
    if (error_.find("ill-formed UTF-8") != std::string::npos) error_ += kNotUtf8Hint;
    error_position_ = position;
    return false;
  }

 private:
  void begin_container(json container) {
    if (stack_.empty()) {
      element_ = std::move(container);
      stack_.push_back(&element_);
      return;
    }
    json* parent = stack_.back();
    json* child = nullptr;
    if (parent->is_array()) {
      parent->push_back(std::move(container));
      child = &parent->back();
    } else {
      child = &(*parent)[pending_key_];
      *child = std::move(container);
    }
    stack_.push_back(child);
  }

  bool end_container() {
    stack_.pop_back();
    expecting_key_ = true;  // an object above has its value
    if (stack_.empty()) finish();
    return true;
  }

  bool value(json&& scalar) {
    if (stack_.empty()) {
      element_ = std::move(scalar);
      finish();
    } else if (stack_.back()->is_array()) {
      stack_.back()->push_back(std::move(scalar));
    } else {
      (*stack_.back())[pending_key_] = std::move(scalar);
      expecting_key_ = true;
    }
    return true;
  }

  void finish() {
    if (receiver_) receiver_->on_element(std::move(element_), std::move(issues_));
    element_ = json();
    issues_.clear();
    keys_.clear();
  }

  std::string key_path(const std::string& name) const {
    std::string path;
    // The keys currently open above this one: each open object's most recent key.
    for (std::size_t depth = 0; depth + 1 < keys_.size(); ++depth) {
      if (!keys_[depth].empty()) path += keys_[depth].back() + ".";
    }
    return path + name;
  }

  Receiver* receiver_;
  json element_;
  std::vector<json*> stack_;
  std::vector<std::vector<std::string>> keys_;
  std::string pending_key_;
  bool expecting_key_ = false;
  std::vector<FieldIssue> issues_;
  std::string error_;
  std::size_t error_position_ = 0;
};

// The path of the value being read at the end of `prefix` (the start of a record cut short).
std::string path_at_end(std::string_view prefix, bool* at_key = nullptr) {
  ElementBuilder tracker(nullptr);
  json::sax_parse(prefix, &tracker, nlohmann::detail::input_format_t::json, /*strict=*/true,
                  /*ignore_comments=*/false);
  if (at_key) *at_key = tracker.expecting_key();
  return tracker.path_here();
}

// The issue for the first raw NUL byte of a record's text, at `offset`. JSON has no raw NUL
// (text holds it only escaped, as \u0000), so the record is not valid JSON; the issue names the
// value or field name the byte is in, as the schema does for an escaped NUL.
FieldIssue raw_nul_issue(std::string_view text, std::size_t offset) {
  // Is the byte inside a string, and where does that string start?
  bool in_string = false;
  std::size_t string_start = 0;
  for (std::size_t i = 0; i < offset; ++i) {
    if (in_string) {
      if (text[i] == '\\') {
        ++i;
      } else if (text[i] == '"') {
        in_string = false;
      }
    } else if (text[i] == '"') {
      in_string = true;
      string_start = i;
    }
  }
  if (!in_string) {
    return {path_at_end(text.substr(0, offset)),
            "a NUL character (U+0000) outside text, which JSON does not allow"};
  }
  bool at_key = false;
  std::string path = path_at_end(text.substr(0, string_start), &at_key);
  if (!at_key) return {std::move(path), kNulInValue};
  // The field name as written, up to its closing quote.
  std::size_t end = string_start + 1;
  while (end < text.size() && text[end] != '"') end += text[end] == '\\' ? 2 : 1;
  std::string_view name =
      text.substr(string_start + 1, std::min(end, text.size()) - string_start - 1);
  return {(path.empty() ? "" : path + ".") + visible_field_name(name), kNulInName};
}

// Validates and delivers the records it is given; holds a lone value handed over by the parser
// until the caller knows that the value is all its text holds.
class Delivery : public ElementBuilder::Receiver {
 public:
  Delivery(const CompiledSchema& schema, RecordSink& sink)
      : schema_(schema), sink_(sink), scratch_(schema.catalog()) {}

  RecordLocation location;

  void on_element(json&& element, std::vector<FieldIssue>&& issues) override {
    held_ = std::move(element);
    held_issues_ = std::move(issues);
  }

  // Parses one record's text and delivers it, or rejects it for a raw NUL byte. Returns false,
  // delivering nothing, when the text is not one JSON value; `builder` then says why.
  bool parse(std::string_view text, ElementBuilder& builder) {
    ++location.ordinal;
    if (const auto nul = text.find('\0'); nul != std::string_view::npos) {
      sink_.reject({location, {raw_nul_issue(text, nul)}});
      return true;
    }
    if (!json::sax_parse(text, &builder, nlohmann::detail::input_format_t::json,
                         /*strict=*/true, /*ignore_comments=*/false)) {
      return false;
    }
    deliver_document(held_, schema_, location, std::move(held_issues_), scratch_, sink_);
    return true;
  }

  void reject(std::string reason) { sink_.reject({location, {{"", std::move(reason)}}}); }

  std::uint64_t records() const { return location.ordinal; }

 private:
  const CompiledSchema& schema_;
  RecordSink& sink_;
  model::Declaration scratch_;
  json held_;
  std::vector<FieldIssue> held_issues_;
};

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

// The first '"' or '\\' in [p, end), or `end`: where a run of plain string bytes stops. Scans 16
// bytes at a time with SSE2 where available (most of a declaration's bytes are in strings).
const char* find_string_stop(const char* p, const char* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  while (end - p >= 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(
        _mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, backslash))));
    if (mask != 0) return p + std::countr_zero(mask);
    p += 16;
  }
#endif
  while (p < end && *p != '"' && *p != '\\') ++p;
  return p;
}

bool is_json_space(int byte) { return byte == ' ' || byte == '\t' || byte == '\n' || byte == '\r'; }

std::string describe_byte(int byte) {
  if (byte < 0) return "the end of the file";
  if (byte > 0x20 && byte < 0x7F) return std::string("'") + static_cast<char>(byte) + "'";
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string("byte 0x") + kHex[(byte >> 4) & 0xF] + kHex[byte & 0xF];
}

// Cuts a JSON file into records: the elements of its top-level array, or the one value it holds.
class JsonFileReader {
 public:
  JsonFileReader(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                 const ReaderLimits& limits)
      : reader_(*in.rdbuf()), sink_(sink), limits_(limits), delivery_(schema, sink) {}

  Status read() {
    if (reader_.peek() == 0xEF) {  // a UTF-8 byte order mark
      for (char expected : {'\xEF', '\xBB', '\xBF'}) {
        if (reader_.get() != static_cast<unsigned char>(expected)) {
          return not_a_json_file("the file starts with bytes that are not UTF-8 text");
        }
      }
    }
    start_record();
    if (!skip_space()) return too_long("");
    const int first = reader_.peek();
    if (first < 0) return not_a_json_file("the file is empty");
    if (first != '[') return read_single_value();

    reader_.get();
    delivery_.location.array_index = 0;
    start_record();
    if (!skip_space()) return too_long("");
    if (reader_.peek() == ']') {
      reader_.get();
      return after_array();
    }
    for (;;) {
      element_line_ = reader_.line();
      element_column_ = reader_.column();
      switch (read_element()) {
        case Element::kTooLong:
          return too_long(path_at_end(text_));
        case Element::kEnd:
          return broken_off("the file ends inside this record");
        case Element::kComplete:
          break;
      }
      ElementBuilder builder(&delivery_);
      if (!delivery_.parse(text_, builder)) {
        delivery_.reject("not valid JSON at " + position_in_text(builder.error_position()) + ": " +
                         without_position(builder.error()));
      }
      if (delivery_.records() % 4096 == 0) sink_.progress(reader_.consumed());
      ++*delivery_.location.array_index;
      start_record();
      if (!skip_space()) return too_long("");
      const int next = reader_.get();
      if (next == ']') return after_array();
      if (next != ',') {
        return broken_off("expected ',' or ']' after the record before it, found " +
                          describe_byte(next) + " at line " + std::to_string(reader_.line()));
      }
      start_record();
      if (!skip_space()) return too_long("");
      if (reader_.peek() == ']') {
        return broken_off("a ',' at the end of the array, where a record should follow");
      }
    }
  }

 private:
  enum class Element { kComplete, kEnd, kTooLong };

  // Skips JSON whitespace; false when the current record outgrows the limit doing so.
  bool skip_space() {
    for (;;) {
      const std::string_view window = reader_.window();
      std::size_t spaces = 0;
      while (spaces < window.size() && is_json_space(window[spaces])) ++spaces;
      reader_.skip(spaces);
      if (record_bytes() > limits_.max_record_bytes) return false;
      if (spaces < window.size() || window.empty()) return true;
    }
  }

  // The window, cut to the bytes the current record may still take, and one more.
  std::string_view record_window() {
    std::string_view window = reader_.window();
    const std::uint64_t room = limits_.max_record_bytes + 1 - record_bytes();
    return window.size() > room ? window.substr(0, static_cast<std::size_t>(room)) : window;
  }

  std::uint64_t record_bytes() const { return reader_.consumed() - record_start_; }

  // A record counts every byte from the end of the one before it (or of the '[').
  void start_record() {
    record_start_ = reader_.consumed();
    element_line_ = reader_.line();
    element_column_ = reader_.column();
  }

  // Reads one value into text_: an object or array to its matching bracket (strings may hold
  // brackets), a string to its closing quote, anything else up to a separator or whitespace.
  Element read_element() {
    text_.clear();
    int depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (;;) {
      const std::string_view window = record_window();
      if (window.empty()) {
        return depth == 0 && !in_string && !text_.empty() ? Element::kComplete : Element::kEnd;
      }
      std::size_t taken = 0;
      bool complete = false;
      while (taken < window.size() && !complete) {
        if (in_string) {
          if (escaped) {
            escaped = false;
            ++taken;
            continue;
          }
          taken = static_cast<std::size_t>(
              find_string_stop(window.data() + taken, window.data() + window.size()) -
              window.data());
          if (taken == window.size()) break;
          if (window[taken++] == '\\') {
            escaped = true;
          } else {
            in_string = false;
            complete = depth == 0;
          }
          continue;
        }
        const char byte = window[taken];
        if (depth == 0 && text_.size() + taken > 0 &&
            (byte == ',' || byte == ']' || byte == '}' || is_json_space(byte))) {
          complete = true;  // the separator is not part of the value
          break;
        }
        ++taken;
        if (byte == '"') {
          in_string = true;
        } else if (byte == '{' || byte == '[') {
          ++depth;
        } else if (byte == '}' || byte == ']') {
          complete = --depth <= 0;
        }
      }
      text_.append(window.data(), taken);
      reader_.skip(taken);
      if (record_bytes() > limits_.max_record_bytes) return Element::kTooLong;
      if (complete) return Element::kComplete;
    }
  }

  // A file that is one value: the value is the one record.
  Status read_single_value() {
    text_.clear();
    for (std::string_view window; !(window = record_window()).empty();) {
      text_.append(window);
      reader_.skip(window.size());
      if (record_bytes() > limits_.max_record_bytes) return too_long(path_at_end(text_));
    }
    ElementBuilder builder(&delivery_);
    if (delivery_.parse(text_, builder)) return Status::ok();
    // Not valid JSON: the file is refused rather than the record, as it may be another format.
    return not_a_json_file(builder.error());
  }

  Status after_array() {
    if (!skip_space()) return too_long("");
    const int after = reader_.peek();
    if (after < 0) return Status::ok();
    return Status::invalid_argument("not valid JSON: found " + describe_byte(after) + " at line " +
                                    std::to_string(reader_.line()) +
                                    " after the array's closing ']'" + records_before());
  }

  Status not_a_json_file(const std::string& problem) {
    return Status::invalid_argument(
        "not valid JSON: " + problem +
        " (a JSON file holds one object or an array of objects; JSON Lines (.jsonl) holds one "
        "object per line)");
  }

  // "array index 4 (line 20)", for messages that stop the file.
  std::string record_here() const {
    const auto& index = delivery_.location.array_index;
    return index ? "array index " + std::to_string(*index) + " (line " +
                       std::to_string(element_line_) + ")"
                 : "line " + std::to_string(element_line_);
  }

  std::string records_before() const {
    return "; the " + std::to_string(delivery_.records()) +
           " record(s) before this point were read, nothing after it";
  }

  Status broken_off(const std::string& problem) {
    return Status::invalid_argument("not valid JSON: " + record_here() + ": " + problem +
                                    records_before());
  }

  Status too_long(const std::string& field) {
    return Status::invalid_argument(record_here() + (field.empty() ? "" : ", field " + field) +
                                    ": " + record_too_long(limits_.max_record_bytes) +
                                    records_before());
  }

  // "line 3, column 7": where byte `position` (1-based) of text_ lies in the file.
  std::string position_in_text(std::size_t position) const {
    std::uint64_t line = element_line_;
    std::uint64_t column = element_column_;
    for (std::size_t i = 0; i + 1 < position && i < text_.size(); ++i) {
      if (text_[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    return "line " + std::to_string(line) + ", column " + std::to_string(column);
  }

  // nlohmann's message without its "parse error at line 1, column 5: " (relative to the record).
  static std::string without_position(const std::string& message) {
    const std::string_view prefix = "parse error at line ";
    if (message.rfind(prefix, 0) != 0) return message;
    const auto colon = message.find(": ");
    return colon == std::string::npos ? message : message.substr(colon + 2);
  }

  ByteReader reader_;
  RecordSink& sink_;
  const ReaderLimits& limits_;
  Delivery delivery_;
  std::string text_;
  std::uint64_t record_start_ = 0;
  std::uint64_t element_line_ = 0;
  std::uint64_t element_column_ = 1;
};

}  // namespace

Status read_json(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                 const ReaderLimits& limits) {
  if (!in.rdbuf()) return Status::io_error("input cannot be read");
  JsonFileReader reader(in, schema, sink, limits);
  Status status = reader.read();
  if (status.is_ok() && in.bad()) return Status::io_error("read error");
  return status;
}

Status read_json_lines(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                       const ReaderLimits& limits) {
  if (!in.rdbuf()) return Status::io_error("input cannot be read");
  ByteReader reader(*in.rdbuf());
  Delivery delivery(schema, sink);
  std::string line;
  std::uint64_t line_number = 0;
  for (;;) {
    const auto read = reader.read_line(line, limits.max_record_bytes);
    if (read == ByteReader::Line::kEnd) break;
    ++line_number;
    if (read == ByteReader::Line::kTooLong) {
      const std::string field = path_at_end(line);
      return Status::invalid_argument(
          "line " + std::to_string(line_number) + (field.empty() ? "" : ", field " + field) + ": " +
          record_too_long(limits.max_record_bytes) + "; nothing from this line on was read");
    }
    if (line_number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (line_number % 4096 == 0) sink.progress(reader.consumed());
    if (is_blank(line)) continue;
    delivery.location.line = line_number;
    ElementBuilder builder(&delivery);
    if (!delivery.parse(line, builder)) delivery.reject("not valid JSON: " + builder.error());
  }
  sink.progress(reader.consumed());
  if (in.bad()) return Status::io_error("read error after line " + std::to_string(line_number));
  return Status::ok();
}

}  // namespace iotreg::importers::detail
