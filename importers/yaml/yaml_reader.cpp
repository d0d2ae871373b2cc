// YAML reader. The stream is cut into documents at their markers (a line starting with `---` or
// `...`, which YAML forbids inside a document, quoted or not), each at most
// ReaderLimits::max_record_bytes long, and each document is parsed on its own by yaml-cpp's
// event parser: memory is bounded by the limit, and a document that is not valid YAML is
// rejected alone. Events are turned into JSON values with YAML 1.2 core-schema typing of plain
// scalars (plus yes/no/on/off booleans, which people write in declarations), then validated
// exactly like JSON.
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/exceptions.h>
#include <yaml-cpp/mark.h>
#include <yaml-cpp/parser.h>

#include <algorithm>
#include <deque>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "importers/detail/byte_reader.h"
#include "importers/detail/readers.h"
#include "importers/text_encoding.h"
#include "importers/yaml/yaml_scalars.h"
#include "registry/core/utf8.h"

namespace iotreg::importers::detail {
namespace {

using nlohmann::json;

// yaml-cpp cannot read a raw NUL byte (it takes it for an escape), and YAML has none: text holds
// NUL only escaped, as \0. A document's raw NUL bytes are handed to the parser as this byte
// instead, which it passes through, and scalars get them back, so that the schema refuses them
// with the field they are in, as escaped ones.
constexpr char kNulStandIn = '\x01';

// Builds the JSON value of one document from yaml-cpp's events. Lines are those of the whole
// stream: the text parsed starts at line `first_line`.
class DocumentBuilder : public YAML::EventHandler {
 public:
  explicit DocumentBuilder(std::uint64_t first_line) : first_line_(first_line) {}

  void reset() {
    document_ = json();
    stack_.clear();
    issues_.clear();
    field_lines_.clear();
    discarded_.clear();
    too_deep_ = false;
    last_path_.clear();
    started_ = false;
    restored_nul_ = false;
  }

  // Whether scalars get back the NUL bytes that kNulStandIn stands in for.
  void set_restore_nul(bool restore) { restore_nul_ = restore; }
  // Whether a scalar of the current document held one.
  bool restored_nul() const { return restored_nul_; }

  json& document() { return document_; }
  std::vector<FieldIssue>& issues() { return issues_; }
  bool started() const { return started_; }
  std::uint64_t start_line() const { return start_line_; }
  std::uint64_t start_column() const { return start_column_; }
  int start_position() const { return start_position_; }
  std::uint64_t line_of(const std::string& path) const {
    auto it = field_lines_.find(path);
    return it == field_lines_.end() ? 0 : it->second;
  }
  std::uint64_t line_of(const YAML::Mark& mark) const {
    return first_line_ + static_cast<std::uint64_t>(mark.line);
  }

  // Keeps the path of the last value read, for path_here.
  void track_path() { track_path_ = true; }
  // The path of the value being read where the events stopped early (at a key, the mapping's
  // path), or else of the last value read.
  std::string path_here(bool stopped_early) const {
    if (!stopped_early || stack_.empty()) return last_path_;
    const Frame& frame = stack_.back();
    if (frame.container->is_object() && frame.expecting_key) {
      return frame.path;
    }
    return child_path();
  }

  void OnDocumentStart(const YAML::Mark& mark) override {
    reset();
    started_ = true;
    start_line_ = line_of(mark);
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
    if (restore_nul_ && text.find(kNulStandIn) != std::string::npos) {
      std::string restored = text;
      std::replace(restored.begin(), restored.end(), kNulStandIn, '\0');
      restored_nul_ = true;
      scalar(mark, tag, restored);
      return;
    }
    scalar(mark, tag, text);
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
  void scalar(const YAML::Mark& mark, const std::string& tag, const std::string& text) {
    if (!is_valid_utf8(text)) {
      issue(mark, "invalid UTF-8 in a value" + std::string(kNotUtf8Hint));
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
      // Paths name keys as the schema's messages do, so that line_of(path) finds their lines.
      if (frame.key.find('\0') != std::string::npos) {
        return (frame.path.empty() ? "" : frame.path + ".") + visible_field_name(frame.key);
      }
      return frame.path.empty() ? frame.key : frame.path + "." + frame.key;
    }
    return frame.path + "[" + std::to_string(frame.container->size()) + "]";
  }

  void issue(const YAML::Mark& mark, std::string reason) {
    issues_.push_back({child_path(), std::move(reason), line_of(mark)});
  }

  void key(const YAML::Mark& mark, const std::string& name) {
    Frame& frame = stack_.back();
    frame.expecting_key = false;
    frame.key = name;
    frame.key_is_valid = true;
    frame.key_line = line_of(mark);
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

  void value(const YAML::Mark& mark, json&& item) {
    if (track_path_) last_path_ = child_path();
    place(mark, std::move(item));
  }

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
  std::uint64_t first_line_;
  bool started_ = false;
  bool restore_nul_ = false;
  bool restored_nul_ = false;
  bool track_path_ = false;
  std::string last_path_;  // of the last scalar placed, when track_path_
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

// Bytes as a stream buffer, for yaml-cpp's parser; they must outlive it.
class TextBuffer : public std::streambuf {
 public:
  TextBuffer(char* data, std::size_t size) { setg(data, data, data + size); }
};

// Cuts the stream into documents and reads each one with a parser of its own.
class YamlStreamReader {
 public:
  YamlStreamReader(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                   const ReaderLimits& limits)
      : reader_(*in.rdbuf()),
        schema_(schema),
        sink_(sink),
        limits_(limits),
        scratch_(schema.catalog()) {}

  Status read() {
    std::string line;
    for (;;) {
      const std::uint64_t line_number = reader_.line();
      const auto got = reader_.read_line(line, limits_.max_record_bytes);
      if (got == ByteReader::Line::kEnd) break;
      std::string_view content = line;
      if (line_number == 1 && content.rfind("\xEF\xBB\xBF", 0) == 0) content.remove_prefix(3);
      if (is_marker(content, "---") && has_content_) read_document();
      if (text_.empty()) text_line_ = line_number;
      if (!has_content_ && !is_preamble(content)) {
        has_content_ = true;
        document_line_ = line_number;
      }
      // A document's bytes, without the terminator of its last line, must fit in the limit.
      if (got == ByteReader::Line::kTooLong ||
          text_.size() + line.size() > limits_.max_record_bytes) {
        return too_long(line);
      }
      text_ += line;
      text_ += '\n';
      if (is_marker(content, "...")) read_document();
      if (reader_.line() % 4096 == 0) sink_.progress(reader_.consumed());
    }
    if (!text_.empty()) read_document();
    sink_.progress(reader_.consumed());
    return Status::ok();
  }

 private:
  // `---` or `...` at the start of a line, alone or followed by a space or tab.
  static bool is_marker(std::string_view line, std::string_view marker) {
    return line.substr(0, 3) == marker && (line.size() == 3 || line[3] == ' ' || line[3] == '\t');
  }
  // Lines that may stand before a document's content: blank lines, comments and directives.
  static bool is_preamble(std::string_view line) {
    const auto first = line.find_first_not_of(" \t\r");
    return first == std::string_view::npos || line[first] == '#' || line[0] == '%';
  }

  // Reads text_, normally one document and whatever comments precede it, then clears it. A
  // failure rejects the document being read.
  void read_document() {
    const std::uint64_t content_line = has_content_ ? document_line_ : text_line_;
    has_content_ = false;
    // The line of the first raw NUL byte, if any (see kNulStandIn).
    std::uint64_t nul_line = 0;
    if (const auto nul = text_.find('\0'); nul != std::string::npos) {
      nul_line =
          text_line_ + static_cast<std::uint64_t>(std::count(
                           text_.begin(), text_.begin() + static_cast<std::ptrdiff_t>(nul), '\n'));
      std::replace(text_.begin(), text_.end(), '\0', kNulStandIn);
    }
    TextBuffer buffer(text_.data(), text_.size());
    std::istream stream(&buffer);
    DocumentBuilder builder(text_line_);
    builder.set_restore_nul(nul_line != 0);
    try {
      YAML::Parser parser(stream);
      int previous_start = -1;
      for (;;) {
        builder.reset();
        if (!parser.HandleNextDocument(builder)) break;
        // yaml-cpp 0.7 can stop advancing (for example at a ',' outside brackets) and then
        // reports the same empty document forever.
        if (builder.start_position() == previous_start) {
          --documents_;  // the empty document it reported before does not count
          begin_record(builder.start_line());
          sink_.reject({location_,
                        {{"",
                          "not valid YAML: the parser cannot go on from column " +
                              std::to_string(builder.start_column()) +
                              " (is there a ',' or other flow indicator outside brackets?)",
                          builder.start_line()}}});
          break;
        }
        previous_start = builder.start_position();
        ++documents_;
        if (nul_line != 0 && !builder.restored_nul()) {
          builder.issues().push_back(
              {"", "a NUL character (U+0000) outside text, which YAML does not allow", nul_line});
        }
        if (builder.document().is_null() && builder.issues().empty()) continue;  // empty
        deliver(builder);
      }
    } catch (const YAML::Exception& error) {
      begin_record(builder.started() ? builder.start_line() : content_line);
      sink_.reject({location_,
                    {{"",
                      "not valid YAML: " + error.msg + " (column " +
                          std::to_string(error.mark.column + 1) + ")",
                      builder.line_of(error.mark)}}});
    }
    text_.clear();
  }

  // Counts a document that could not be read whole as a record.
  void begin_record(std::uint64_t line) {
    location_.document_number = ++documents_;
    ++location_.ordinal;
    location_.line = line;
  }

  void deliver(DocumentBuilder& builder) {
    location_.document_number = documents_;
    ++location_.ordinal;
    location_.line = builder.start_line();
    std::vector<FieldIssue> issues = std::move(builder.issues());
    bool valid = schema_.validate_document(builder.document(), scratch_, issues);
    name_each_field_once(issues);
    if (valid && issues.empty()) {
      sink_.accept(scratch_, location_);
      return;
    }
    for (auto& found : issues) {
      if (found.line == 0) found.line = builder.line_of(found.field);
    }
    std::stable_sort(issues.begin(), issues.end(),
                     [](const FieldIssue& a, const FieldIssue& b) { return a.line < b.line; });
    auto identity = identity_of(scratch_, issues);
    sink_.reject({location_, std::move(issues), std::move(identity)});
  }

  // The path of the value being read at byte `offset` of text_, from a parse of what precedes it.
  std::string path_at(std::size_t offset) {
    std::string prefix = text_.substr(0, offset);
    std::replace(prefix.begin(), prefix.end(), '\0', kNulStandIn);
    TextBuffer buffer(prefix.data(), prefix.size());
    std::istream stream(&buffer);
    DocumentBuilder builder(text_line_);
    builder.track_path();
    bool stopped_early = false;
    try {
      YAML::Parser parser(stream);
      parser.HandleNextDocument(builder);
    } catch (const YAML::Exception&) {
      stopped_early = true;
    }
    return builder.path_here(stopped_early);
  }

  Status too_long(const std::string& partial_line) {
    text_ += partial_line;
    const std::string field = path_at(std::min(text_.size(), limits_.max_record_bytes));
    return Status::invalid_argument("document " + std::to_string(documents_ + 1) + " (line " +
                                    std::to_string(has_content_ ? document_line_ : text_line_) +
                                    ")" + (field.empty() ? "" : ", field " + field) + ": " +
                                    record_too_long(limits_.max_record_bytes) + "; the " +
                                    std::to_string(documents_) +
                                    " document(s) before it were read, nothing after it");
  }

  ByteReader reader_;
  const CompiledSchema& schema_;
  RecordSink& sink_;
  const ReaderLimits& limits_;
  model::Declaration scratch_;
  RecordLocation location_;
  std::uint64_t documents_ = 0;      // documents numbered so far
  std::string text_;                 // the document being collected
  std::uint64_t text_line_ = 1;      // line of text_'s first byte
  std::uint64_t document_line_ = 0;  // line of its first content (or `---`) line
  bool has_content_ = false;         // text_ holds more than blank lines, comments, directives
};

}  // namespace

Status read_yaml(std::istream& in, const CompiledSchema& schema, RecordSink& sink,
                 const ReaderLimits& limits) {
  if (!in.rdbuf()) return Status::io_error("input cannot be read");
  YamlStreamReader reader(in, schema, sink, limits);
  return reader.read();
}

}  // namespace iotreg::importers::detail
