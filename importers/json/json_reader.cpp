// JSON and JSON Lines readers, built on nlohmann::json's SAX interface so that a JSON array of
// any length is read one element at a time and duplicate keys are caught (the DOM parser
// silently keeps the last one).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "importers/detail/readers.h"

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

// Builds one JSON value per top-level element. With `outer_array_is_file` the elements of a
// top-level array are the elements; otherwise the whole input is one element.
class ElementBuilder : public nlohmann::json_sax<json> {
 public:
  class Receiver {
   public:
    virtual ~Receiver() = default;
    // `in_outer_array`: the element is an item of the file's top-level array.
    virtual void on_element(json&& element, std::vector<FieldIssue>&& issues,
                            bool in_outer_array) = 0;
  };

  ElementBuilder(bool outer_array_is_file, Receiver& receiver)
      : outer_array_is_file_(outer_array_is_file), receiver_(receiver) {}

  const std::string& error() const { return error_; }
  bool saw_outer_array() const { return in_outer_array_; }

  bool null() override { return value(json(nullptr)); }
  bool boolean(bool flag) override { return value(json(flag)); }
  bool number_integer(number_integer_t number) override { return value(json(number)); }
  bool number_unsigned(number_unsigned_t number) override { return value(json(number)); }
  bool number_float(number_float_t number, const string_t&) override { return value(json(number)); }
  bool string(string_t& text) override { return value(json(std::move(text))); }
  bool binary(binary_t&) override { return value(json(nullptr)); }

  bool start_object(std::size_t) override {
    if (!begin_container(json::object())) return true;
    keys_.emplace_back();
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
    return true;
  }
  bool end_object() override {
    keys_.pop_back();
    return end_container();
  }
  bool start_array(std::size_t) override {
    if (outer_array_is_file_ && !started_) {
      started_ = true;
      in_outer_array_ = true;
      return true;
    }
    begin_container(json::array());
    return true;
  }
  bool end_array() override {
    if (stack_.empty() && in_outer_array_) return true;  // the file's outer array
    return end_container();
  }
  bool parse_error(std::size_t, const std::string&,
                   const nlohmann::detail::exception& ex) override {
    error_ = without_exception_prefix(ex.what());
    return false;
  }

 private:
  // Returns false when the container is the element itself (already placed).
  bool begin_container(json container) {
    started_ = true;
    if (stack_.empty()) {
      element_ = std::move(container);
      stack_.push_back(&element_);
      return true;
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
    return true;
  }

  bool end_container() {
    stack_.pop_back();
    if (stack_.empty()) finish();
    return true;
  }

  bool value(json&& scalar) {
    started_ = true;
    if (stack_.empty()) {
      element_ = std::move(scalar);
      finish();
    } else if (stack_.back()->is_array()) {
      stack_.back()->push_back(std::move(scalar));
    } else {
      (*stack_.back())[pending_key_] = std::move(scalar);
    }
    return true;
  }

  void finish() {
    receiver_.on_element(std::move(element_), std::move(issues_), in_outer_array_);
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

  bool outer_array_is_file_;
  Receiver& receiver_;
  bool started_ = false;
  bool in_outer_array_ = false;
  json element_;
  std::vector<json*> stack_;
  std::vector<std::vector<std::string>> keys_;
  std::string pending_key_;
  std::vector<FieldIssue> issues_;
  std::string error_;
};

// Delivers array items as soon as they are complete; holds a lone top-level value until the
// parser has confirmed that nothing but whitespace follows it.
class Delivery : public ElementBuilder::Receiver {
 public:
  Delivery(const CompiledSchema& schema, RecordSink& sink)
      : schema_(schema), sink_(sink), scratch_(schema.catalog()) {}

  RecordLocation location;

  void on_element(json&& element, std::vector<FieldIssue>&& issues, bool in_outer_array) override {
    if (!in_outer_array) {
      held_ = std::move(element);
      held_issues_ = std::move(issues);
      holding_ = true;
      return;
    }
    deliver(element, std::move(issues));
    ++*location.array_index;
  }

  // Delivers the held lone value, if any; returns whether there was one.
  bool deliver_held() {
    if (!holding_) return false;
    holding_ = false;
    deliver(held_, std::move(held_issues_));
    return true;
  }
  void drop_held() { holding_ = false; }
  std::uint64_t delivered() const { return delivered_; }

 private:
  void deliver(const json& element, std::vector<FieldIssue>&& issues) {
    ++location.ordinal;
    ++delivered_;
    deliver_document(element, schema_, location, std::move(issues), scratch_, sink_);
  }

  const CompiledSchema& schema_;
  RecordSink& sink_;
  model::Declaration scratch_;
  json held_;
  std::vector<FieldIssue> held_issues_;
  bool holding_ = false;
  std::uint64_t delivered_ = 0;
};

// Reads one line of at most `max_bytes` into `line` (without the terminator). Returns false at
// end of input. `too_long` is set when the line was longer; the rest of it is skipped.
bool read_bounded_line(std::streambuf& in, std::string& line, std::size_t max_bytes,
                       bool& too_long) {
  line.clear();
  too_long = false;
  bool any = false;
  for (;;) {
    int c = in.sbumpc();
    if (c == std::char_traits<char>::eof()) return any;
    any = true;
    if (c == '\n') break;
    if (line.size() < max_bytes) {
      line.push_back(static_cast<char>(c));
    } else {
      too_long = true;
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r") == std::string_view::npos;
}

}  // namespace

Status read_json(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                 const ReaderLimits&) {
  Delivery delivery(schema, sink);
  delivery.location.array_index = 0;
  ElementBuilder builder(/*outer_array_is_file=*/true, delivery);
  bool complete = json::sax_parse(in, &builder, nlohmann::detail::input_format_t::json,
                                  /*strict=*/true, /*ignore_comments=*/false);
  if (!builder.saw_outer_array()) delivery.location.array_index.reset();
  if (complete) {
    delivery.deliver_held();
    return Status::ok();
  }
  std::string message = "not valid JSON: " + builder.error();
  if (!builder.saw_outer_array()) {
    delivery.drop_held();
    message +=
        " (a JSON file holds one object or an array of objects; JSON Lines (.jsonl) "
        "holds one object per line)";
  } else if (delivery.delivered() > 0) {
    message += "; the " + std::to_string(delivery.delivered()) +
               " record(s) before this point were read, nothing after it";
  }
  return Status::invalid_argument(message);
}

Status read_json_lines(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                       const ReaderLimits& limits) {
  std::streambuf* buffer = in.rdbuf();
  if (!buffer) return Status::io_error("input cannot be read");
  Delivery delivery(schema, sink);
  std::string line;
  bool too_long = false;
  std::uint64_t line_number = 0;
  std::uint64_t bytes = 0;
  while (read_bounded_line(*buffer, line, limits.max_record_bytes, too_long)) {
    ++line_number;
    bytes += line.size() + 1;
    if (line_number == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);
    if (line_number % 4096 == 0) sink.progress(bytes);
    if (!too_long && is_blank(line)) continue;
    delivery.location.line = line_number;
    if (too_long) {
      ++delivery.location.ordinal;
      sink.reject(
          {delivery.location,
           {{"", "line is longer than " + std::to_string(limits.max_record_bytes) + " bytes"}}});
      continue;
    }
    ElementBuilder builder(/*outer_array_is_file=*/false, delivery);
    bool complete = json::sax_parse(line, &builder, nlohmann::detail::input_format_t::json,
                                    /*strict=*/true, /*ignore_comments=*/false);
    if (complete) {
      delivery.deliver_held();
    } else {
      delivery.drop_held();
      ++delivery.location.ordinal;
      sink.reject({delivery.location, {{"", "not valid JSON: " + builder.error()}}});
    }
  }
  sink.progress(bytes);
  if (in.bad()) return Status::io_error("read error after line " + std::to_string(line_number));
  return Status::ok();
}

}  // namespace iotreg::importers::detail
