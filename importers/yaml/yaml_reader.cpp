// YAML reader: yaml-cpp's event parser, one document at a time, so memory is bounded by the
// largest document. Events are turned into JSON values with YAML 1.2 core-schema typing of
// plain scalars (plus yes/no/on/off booleans, which people write in declarations), then
// validated exactly like JSON.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <deque>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "importers/detail/readers.h"
#include "importers/yaml/yaml_scalars.h"
#include "registry/core/utf8.h"

namespace iotreg::importers::detail {
namespace {

using nlohmann::json;

class DocumentBuilder : public YAML::EventHandler {
 public:
  void reset() {
    document_ = json();
    stack_.clear();
    issues_.clear();
    field_lines_.clear();
    discarded_.clear();
    too_deep_ = false;
  }

  json& document() { return document_; }
  std::vector<FieldIssue>& issues() { return issues_; }
  std::uint64_t start_line() const { return start_line_; }
  std::uint64_t start_column() const { return start_column_; }
  int start_position() const { return start_position_; }
  std::uint64_t line_of(const std::string& path) const {
    auto it = field_lines_.find(path);
    return it == field_lines_.end() ? 0 : it->second;
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    reset();
    start_line_ = static_cast<std::uint64_t>(mark.line) + 1;
    start_column_ = static_cast<std::uint64_t>(mark.column) + 1;
    start_position_ = mark.pos;
  }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { value(mark, json(nullptr)); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override {
    issue(mark, "aliases (*name) are not allowed in declarations");
    value(mark, json(nullptr));
  }
  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t,
                const std::string& text) override {
    if (!is_valid_utf8(text)) {
      issue(mark, "invalid UTF-8 in a value");
      value(mark, json(nullptr));
      return;
    }
    if (expecting_key()) {
      key(mark, text);
      return;
    }
    if (tag == "?") {
      value(mark, resolve_plain_scalar(text));
    } else if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      value(mark, json(text));
    } else {
      value(mark, resolve_plain_scalar(text));  // explicit core tags resolve like plain ones
    }
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    begin(mark, json::array());
  }
  void OnSequenceEnd() override { end(); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    begin(mark, json::object());
  }
  void OnMapEnd() override { end(); }

 private:
  struct Frame {
    json* container;
    std::string path;
    bool expecting_key = true;  // maps only
    std::string key;
    bool key_is_valid = true;
    std::uint64_t key_line = 0;
  };

  bool expecting_key() const {
    return !stack_.empty() && stack_.back().container->is_object() && stack_.back().expecting_key;
  }

  std::string child_path() const {
    if (stack_.empty()) return "";
    const Frame& frame = stack_.back();
    if (frame.container->is_object()) {
      return frame.path.empty() ? frame.key : frame.path + "." + frame.key;
    }
    return frame.path + "[" + std::to_string(frame.container->size()) + "]";
  }

  void issue(const YAML::Mark& mark, std::string reason) {
    issues_.push_back({child_path(), std::move(reason), static_cast<std::uint64_t>(mark.line) + 1});
  }

  void key(const YAML::Mark& mark, const std::string& name) {
    Frame& frame = stack_.back();
    frame.expecting_key = false;
    frame.key = name;
    frame.key_is_valid = true;
    frame.key_line = static_cast<std::uint64_t>(mark.line) + 1;
    if (frame.container->contains(name)) {
      issue(mark, "duplicate key (each field may appear once)");
      frame.key_is_valid = false;
    }
  }

  // Places a finished value into the current container, or makes it the document.
  json* place(const YAML::Mark& mark, json&& item) {
    if (stack_.empty()) {
      document_ = std::move(item);
      return &document_;
    }
    Frame& frame = stack_.back();
    if (frame.container->is_array()) {
      frame.container->push_back(std::move(item));
      return &frame.container->back();
    }
    if (frame.expecting_key) {
      // A non-scalar used as a key.
      issue(mark, "a key must be plain text");
      frame.expecting_key = false;
      frame.key = "?";
      frame.key_is_valid = false;
      return discard(std::move(item));
    }
    frame.expecting_key = true;
    std::string path = child_path();
    field_lines_[path] = frame.key_line;
    if (!frame.key_is_valid) {
      return discard(std::move(item));
    }
    json& slot = (*frame.container)[frame.key];
    slot = std::move(item);
    return &slot;
  }

  json* discard(json&& item) {
    discarded_.push_back(std::move(item));
    return &discarded_.back();
  }

  void value(const YAML::Mark& mark, json&& item) { place(mark, std::move(item)); }

  void begin(const YAML::Mark& mark, json&& container) {
    // A declaration nests a few levels; deeper input is rejected, and is not given a path per
    // level (paths of a deep hostile document would take memory quadratic in its depth).
    if (stack_.size() >= kMaxDepth) {
      if (!too_deep_) {
        issue(mark, "nested deeper than " + std::to_string(kMaxDepth) + " levels");
        too_deep_ = true;
      }
      stack_.push_back(Frame{discard(std::move(container)), std::string(), true, {}, true, 0});
      return;
    }
    std::string path = child_path();
    json* placed = place(mark, std::move(container));
    stack_.push_back(Frame{placed, path, true, {}, true, 0});
  }

  void end() { stack_.pop_back(); }

  static constexpr std::size_t kMaxDepth = 32;
  bool too_deep_ = false;
  json document_;
  // Values under keys that are not stored (duplicates, non-text keys) are kept here until the
  // document ends: a deque, so that containers on the stack keep their addresses.
  std::deque<json> discarded_;
  std::vector<Frame> stack_;
  std::vector<FieldIssue> issues_;
  std::unordered_map<std::string, std::uint64_t> field_lines_;
  std::uint64_t start_line_ = 0;
  std::uint64_t start_column_ = 0;
  int start_position_ = -1;
};

}  // namespace

Status read_yaml(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                 const ReaderLimits&) {
  DocumentBuilder builder;
  model::Declaration scratch(schema.catalog());
  RecordLocation location;
  location.document_number = 0;
  auto documents_read = [&] {
    return *location.document_number > 0 ? "; the " + std::to_string(*location.document_number) +
                                               " document(s) before it were read, nothing after it"
                                         : std::string();
  };
  try {
    YAML::Parser parser(in);
    int previous_start = -1;
    for (;;) {
      builder.reset();
      if (!parser.HandleNextDocument(builder)) break;
      // yaml-cpp 0.7 can stop advancing (for example at a ',' outside brackets) and then
      // reports the same empty document forever.
      if (builder.start_position() == previous_start) {
        --*location.document_number;  // the empty document it reported before does not count
        return Status::invalid_argument(
            "not valid YAML at line " + std::to_string(builder.start_line()) + ", column " +
            std::to_string(builder.start_column()) +
            ": the parser cannot go on from here (is there a ',' or other flow indicator "
            "outside brackets?)" +
            documents_read());
      }
      previous_start = builder.start_position();
      ++*location.document_number;
      if (builder.document().is_null() && builder.issues().empty()) continue;  // empty document
      ++location.ordinal;
      location.line = builder.start_line();
      std::vector<FieldIssue> issues = std::move(builder.issues());
      bool valid = schema.validate_document(builder.document(), scratch, issues);
      if (valid && issues.empty()) {
        sink.accept(scratch, location);
        continue;
      }
      for (auto& found : issues) {
        if (found.line == 0) found.line = builder.line_of(found.field);
      }
      std::stable_sort(issues.begin(), issues.end(),
                       [](const FieldIssue& a, const FieldIssue& b) { return a.line < b.line; });
      sink.reject({location, std::move(issues)});
    }
  } catch (const YAML::Exception& error) {
    return Status::invalid_argument(
        "not valid YAML at line " + std::to_string(error.mark.line + 1) + ", column " +
        std::to_string(error.mark.column + 1) + ": " + error.msg + documents_read());
  }
  return Status::ok();
}

}  // namespace iotreg::importers::detail
