#include "registry/views/views.h"

#include <charconv>
#include <iterator>

#include "registry/checks/checks.h"
#include "registry/core/utf8.h"
#include "registry/model/declaration.h"

namespace iotreg::views {
namespace {

Json or_null(const std::string& text) { return text.empty() ? Json(nullptr) : Json(text); }

// Stored JSON (declaration bodies, audit details) as a value; null if it cannot be parsed.
Json parse_stored(const std::string& text) {
  auto parsed = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return parsed.is_discarded() ? Json(nullptr) : parsed;
}

void append_string(std::string& out, std::string_view text) {
  if (is_valid_utf8(text)) {
    model::append_json_string(out, text);
  } else {
    out += Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

template <typename Integer>
void append_integer(std::string& out, Integer number) {
  char digits[24];
  const auto written = std::to_chars(std::begin(digits), std::end(digits), number);
  out.append(digits, written.ptr);
}

// The binary subtype that marks stored JSON text (stored_object).
constexpr std::uint8_t kStoredJsonSubtype = 0x4A;

// JSON text held in a tree as it is, for dump() to copy.
Json written(std::string_view text) {
  return Json::binary(Json::binary_t::container_type(text.begin(), text.end()), kStoredJsonSubtype);
}

bool is_stored_json(const Json& value) {
  if (!value.is_binary()) return false;
  const auto& bytes = value.get_binary();
  return bytes.has_subtype() && bytes.subtype() == kStoredJsonSubtype;
}

std::string_view stored_text(const Json& value) {
  const auto& bytes = value.get_binary();
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

// `value` with each stored JSON text in it parsed, for nlohmann's pretty printer.
Json with_stored_json_parsed(const Json& value) {
  if (is_stored_json(value)) return parse_stored(std::string(stored_text(value)));
  if (value.is_object()) {
    ObjectBuilder out(value.size());
    for (const auto& [key, member] : value.items()) out.add(key, with_stored_json_parsed(member));
    return out.take();
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const Json& element : value) out.push_back(with_stored_json_parsed(element));
    return out;
  }
  return value;
}

// The compact form of `value`, byte for byte what nlohmann's dump(-1) with replacement of
// invalid UTF-8 writes, without its per-byte UTF-8 decoder on valid text: a reply's bodies are
// mostly strings, and that decoder was the largest single cost of writing a product's detail.
// Stored JSON text is copied as it is (it was written in this same form).
void append_compact(std::string& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, member] : value.get_ref<const Json::object_t&>()) {
        if (!first) out.push_back(',');
        first = false;
        append_string(out, key);
        out.push_back(':');
        append_compact(out, member);
      }
      out.push_back('}');
      return;
    }
    case Json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const Json& element : value) {
        if (!first) out.push_back(',');
        first = false;
        append_compact(out, element);
      }
      out.push_back(']');
      return;
    }
    case Json::value_t::string:
      append_string(out, value.get_ref<const std::string&>());
      return;
    case Json::value_t::boolean:
      out += value.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
      append_integer(out, value.get<std::int64_t>());
      return;
    case Json::value_t::number_unsigned:
      append_integer(out, value.get<std::uint64_t>());
      return;
    case Json::value_t::null:
      out += "null";
      return;
    case Json::value_t::binary:
      if (is_stored_json(value)) {
        out += stored_text(value);
        return;
      }
      [[fallthrough]];
    default:  // floating point, binary, discarded: rare, and written as nlohmann writes them
      out += value.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
}

}  // namespace

std::string dump(const Json& value, int indent) {
  if (indent >= 0) {
    return with_stored_json_parsed(value).dump(indent, ' ', false, Json::error_handler_t::replace);
  }
  std::string out;
  append_compact(out, value);
  return out;
}

Json stored_object(const std::string& text) {
  // Text that is not one JSON object (damaged or altered in the database) is not copied into
  // a reply: it is parsed, as every stored text was before.
  // (nlohmann's lexer refuses invalid UTF-8 too.)
  if (text.size() < 2 || text.front() != '{' || text.back() != '}' || !Json::accept(text)) {
    return parse_stored(text);
  }
  return written(text);
}

Json declaration_object(const std::string& text) {
  if (text.size() < 2 || text.front() != '{' || text.back() != '}' || !is_valid_utf8(text)) {
    return parse_stored(text);
  }
  return written(text);
}

Json readable(const Json& value) { return with_stored_json_parsed(value); }

Json as_written(const Json& value) { return written(dump(value)); }

namespace {

// The members of product_json, in order, given to `sink`, which has text(key, text),
// text_or_null(key, text) (null when empty), integer(key, n), integer_or_null(key, n) (null when
// 0), boolean(key, b) and json(key, value): one description of the shape for a tree and for
// text.
template <class Sink>
void product_members(const storage::ProductSummary& product, const PrintedFindings& findings,
                     Sink& sink) {
  sink.integer("id", product.id);
  sink.text("manufacturer", product.manufacturer);
  sink.text("brand", product.brand);
  sink.text("model", product.model);
  sink.text_or_null("type", product.type);
  sink.text("class", product.product_class);
  sink.text("status", product.status);
  sink.boolean("flagged", product.flagged);
  sink.text_or_null("flag_state", product.flag_state
                                      ? enforcement::flag_state_name(*product.flag_state)
                                      : std::string_view());
  sink.boolean("remedied", product.remedied);
  sink.integer_or_null("flag_id", product.flag_id);
  sink.text_or_null("support_end", product.support_end);
  sink.text_or_null("label_id", product.label_id);
  sink.json("failing_checks", findings.failing);
  sink.json("findings", findings.written);
  sink.integer("version_count", product.version_count);
  sink.text("created_at", product.created_at);
  sink.text("updated_at", product.updated_at);
  sink.text_or_null("last_declared", std::string_view(product.updated_at).substr(0, 10));
}
constexpr std::size_t kProductMembers = 19;

// Members into an object of a tree.
class TreeSink {
 public:
  explicit TreeSink(std::size_t room) : object_(room) {}
  void text(const char* key, std::string_view value) { object_.add(key, std::string(value)); }
  void text_or_null(const char* key, std::string_view value) {
    object_.add(key, value.empty() ? Json(nullptr) : Json(std::string(value)));
  }
  void integer(const char* key, std::int64_t value) { object_.add(key, value); }
  void integer_or_null(const char* key, std::int64_t value) {
    object_.add(key, value == 0 ? Json(nullptr) : Json(value));
  }
  void boolean(const char* key, bool value) { object_.add(key, value); }
  void json(const char* key, const Json& value) { object_.add(key, value); }
  Json take() { return object_.take(); }

 private:
  ObjectBuilder object_;
};

// Members written as compact JSON text, as dump() writes them.
class TextSink {
 public:
  void text(const char* key, std::string_view value) {
    start(key);
    append_string(out_, value);
  }
  void text_or_null(const char* key, std::string_view value) {
    if (value.empty()) return null(key);
    text(key, value);
  }
  void integer(const char* key, std::int64_t value) {
    start(key);
    append_integer(out_, value);
  }
  void integer_or_null(const char* key, std::int64_t value) {
    if (value == 0) return null(key);
    integer(key, value);
  }
  void boolean(const char* key, bool value) {
    start(key);
    out_ += value ? "true" : "false";
  }
  void json(const char* key, const Json& value) {
    start(key);
    append_compact(out_, value);
  }
  std::string take() {
    out_ += out_.empty() ? "{}" : "}";
    return std::move(out_);
  }

 private:
  void start(const char* key) {
    out_ += out_.empty() ? '{' : ',';
    append_string(out_, key);
    out_ += ':';
  }
  void null(const char* key) {
    start(key);
    out_ += "null";
  }
  std::string out_;
};

}  // namespace

Json product_json(const storage::ProductSummary& product, const PrintedFindings& findings,
                  std::size_t room_for_more) {
  TreeSink sink(kProductMembers + room_for_more);
  product_members(product, findings, sink);
  return sink.take();
}

Json written_product_json(const storage::ProductSummary& product, const PrintedFindings& findings) {
  TextSink sink;
  product_members(product, findings, sink);
  return written(sink.take());
}

std::shared_ptr<const Provenance> ProvenanceCache::find(std::int64_t evaluation_id) const {
  std::lock_guard lock(mutex_);
  auto found = entries_.find(evaluation_id);
  return found == entries_.end() ? nullptr : found->second;
}

std::shared_ptr<const Provenance> ProvenanceCache::add(std::int64_t evaluation_id,
                                                       Provenance provenance) {
  std::lock_guard lock(mutex_);
  auto& entry = entries_[evaluation_id];
  if (!entry) entry = std::make_shared<const Provenance>(std::move(provenance));
  return entry;
}

Result<std::shared_ptr<const Provenance>> FindingsPrinter::provenance_of(
    std::int64_t evaluation_id) {
  if (auto cached = provenance_.find(evaluation_id); cached != provenance_.end()) {
    return cached->second;
  }
  std::shared_ptr<const Provenance> parsed = shared_ ? shared_->find(evaluation_id) : nullptr;
  if (!parsed) {
    auto text = storage_.evaluation_provenance(evaluation_id);
    if (!text.is_ok()) return text.status();
    auto json = Json::parse(text.value(), nullptr, false);
    if (json.is_discarded() || !json.is_object() || !json.contains("checks") ||
        !json["checks"].is_array()) {
      return Status::corruption("evaluation " + std::to_string(evaluation_id) +
                                " has damaged provenance");
    }
    Provenance provenance{written(dump(json)), std::move(json)};
    parsed = shared_ ? shared_->add(evaluation_id, std::move(provenance))
                     : std::make_shared<const Provenance>(std::move(provenance));
  }
  provenance_.emplace(evaluation_id, parsed);
  return parsed;
}

Result<Json> FindingsPrinter::provenance(std::int64_t evaluation_id) {
  if (evaluation_id == 0) return Json(nullptr);
  auto parsed = provenance_of(evaluation_id);
  if (!parsed.is_ok()) return parsed.status();
  return parsed.value()->written;
}

std::string FindingsMemo::key_of(std::int64_t evaluation_id, std::string_view stored) {
  std::string key(reinterpret_cast<const char*>(&evaluation_id), sizeof evaluation_id);
  key += stored;
  return key;
}

std::shared_ptr<const PrintedFindings> FindingsMemo::find(std::int64_t evaluation_id,
                                                          std::string_view stored) const {
  if (stored.size() > kLargestForm) return nullptr;
  const std::string key = key_of(evaluation_id, stored);
  std::lock_guard lock(mutex_);
  auto found = entries_.find(key);
  return found == entries_.end() ? nullptr : found->second;
}

void FindingsMemo::add(std::int64_t evaluation_id, std::string_view stored,
                       std::shared_ptr<const PrintedFindings> printed) {
  if (stored.size() > kLargestForm) return;
  std::string key = key_of(evaluation_id, stored);
  const std::size_t bytes =
      key.size() + (printed->written.is_binary() ? printed->written.get_binary().size()
                                                 : dump(printed->written).size());
  std::lock_guard lock(mutex_);
  if (entries_.size() >= kMostEntries || bytes_ + bytes > kMostBytes) {
    entries_.clear();
    bytes_ = 0;
  }
  if (entries_.emplace(std::move(key), std::move(printed)).second) bytes_ += bytes;
}

Result<std::shared_ptr<const PrintedFindings>> FindingsPrinter::findings(
    const storage::ProductSummary& product) {
  FindingsMemo& memo = shared_ != nullptr ? shared_->findings() : own_findings_;
  if (auto printed = memo.find(product.evaluation_id, product.findings)) return printed;
  auto printed = print(product);
  if (!printed.is_ok()) return printed.status();
  auto shared = std::make_shared<const PrintedFindings>(std::move(printed).value());
  memo.add(product.evaluation_id, product.findings, shared);
  return shared;
}

Result<PrintedFindings> FindingsPrinter::print(const storage::ProductSummary& product) {
  Json out = Json::array();
  Json failing = Json::array();
  auto printed = [&]() { return PrintedFindings{written(dump(out)), std::move(failing)}; };
  if (product.evaluation_id == 0) return printed();
  auto evaluation = provenance_of(product.evaluation_id);
  if (!evaluation.is_ok()) return evaluation.status();
  const auto& checks = evaluation.value()->parsed["checks"];
  auto findings = checks::decode_findings(product.findings);
  if (!findings.is_ok()) return findings.status();
  for (const auto& finding : findings.value()) {
    if (finding.check >= checks.size()) {
      return Status::corruption("findings of product " + std::to_string(product.id) +
                                " name a check its evaluation does not have");
    }
    const auto& check = checks[finding.check];
    if (finding.outcome == checks::Outcome::kFail) failing.push_back(check.value("check", ""));
    out.push_back(ObjectBuilder(6)
                      .add("check", check.value("check", ""))
                      .add("outcome", checks::outcome_name(finding.outcome))
                      .add("requirement", check.value("requirement", ""))
                      .add("message", finding.message)
                      .add("field", or_null(finding.field))
                      .add("level", check.value("level", ""))
                      .take());
  }
  return printed();
}

Result<Json> product_detail(storage::Storage& storage, std::int64_t product_id,
                            ProvenanceCache* shared) {
  auto product = storage.product(product_id);
  if (!product.is_ok()) return product.status();
  auto versions = storage.versions(product_id);
  if (!versions.is_ok()) return versions.status();
  storage::AuditQuery trail;
  trail.product_id = product_id;
  auto events = storage.audit_events(trail);
  if (!events.is_ok()) return events.status();
  auto flags = storage.product_flags(product_id);
  if (!flags.is_ok()) return flags.status();
  FindingsPrinter printer(storage, shared);
  auto findings = printer.findings(product.value());
  if (!findings.is_ok()) return findings.status();
  auto provenance = printer.provenance(product->evaluation_id);
  if (!provenance.is_ok()) return provenance.status();

  Json out = product_json(product.value(), *findings.value(), 6);
  out["checked_version"] =
      product->evaluated_version == 0 ? Json(nullptr) : Json(product->evaluated_version);
  out["evaluation"] = std::move(provenance).value();

  // Each flag with its history.
  Json& flag_list = out["flags"] = Json::array();
  for (const auto& flag : flags.value()) flag_list.push_back(flag_json(flag));
  Json version_list = Json::array();
  for (const auto& version : versions.value()) {
    version_list.push_back({{"version", version.version},
                            {"imported_at", version.imported_at},
                            {"import_run", version.import_run_id},
                            {"source", version.source},
                            {"location", version.source_location},
                            {"declaration", declaration_object(version.body_json)}});
  }
  out["declaration"] = version_list.empty() ? Json(nullptr) : version_list.back()["declaration"];
  out["versions"] = std::move(version_list);
  Json& audit = out["audit"] = Json::array();
  for (const auto& event : events.value()) audit.push_back(audit_event_json(event));
  return out;
}

Json flag_counts_json(const storage::FlagCounts& counts) {
  Json out = Json::object();
  for (const auto& [state, count] : counts.by_state) {
    out[std::string(enforcement::flag_state_name(state))] = count;
  }
  out["remedied"] = counts.remedied;
  return out;
}

Json flag_json(const storage::FlagRecord& flag) {
  Json history = Json::array();
  for (const auto& entry : flag.history) {
    history.push_back({{"state", enforcement::flag_state_name(entry.state)},
                       {"at", entry.at},
                       {"actor", entry.actor},
                       {"reason", entry.reason}});
  }
  return {{"id", flag.id},
          {"product_id", flag.product_id},
          {"state", enforcement::flag_state_name(flag.state)},
          {"remedied", flag.remedied_version != 0},
          {"remedied_version",
           flag.remedied_version == 0 ? Json(nullptr) : Json(flag.remedied_version)},
          {"notice", or_null(flag.notice)},
          {"manufacturer", flag.manufacturer},
          {"brand", flag.brand},
          {"model", flag.model},
          {"version", flag.raised_version},
          {"raised_at", flag.raised_at},
          {"raised_by", flag.raised_by},
          {"reason", flag.raise_reason},
          {"updated_at", flag.updated_at},
          {"history", std::move(history)}};
}

Json unregistered_lookup_json(const storage::UnregisteredLookup& entry) {
  const bool by_gtin = !entry.gtin.empty();
  return {{"id", entry.id},
          {"kind", by_gtin ? "gtin" : "brand_model"},
          {"gtin", by_gtin ? Json(entry.gtin) : Json(nullptr)},
          {"brand", by_gtin ? Json(nullptr) : Json(entry.brand)},
          {"model", by_gtin ? Json(nullptr) : Json(entry.model)},
          {"lookups", entry.lookups},
          {"first_seen", entry.first_seen},
          {"last_seen", entry.last_seen}};
}

Json change_json(const storage::ChangeRecord& change) {
  Json out = change.id != 0 ? Json{{"id", change.id}} : Json::object();
  out.update(Json{{"product_id", change.product_id},
                  {"manufacturer", change.manufacturer},
                  {"brand", change.brand},
                  {"model", change.model},
                  {"version", change.version},
                  {"kind", change.kind},
                  {"from", or_null(change.from)},
                  {"to", change.to},
                  {"at", change.at},
                  {"cause", change.cause}});
  if (change.kind == "flag") {
    out["flag_id"] = change.flag_id == 0 ? Json(nullptr) : Json(change.flag_id);
    out["reason"] = or_null(change.reason);
  }
  return out;
}

Json change_summary_json(const storage::ChangeSummary& summary) {
  Json changed = Json::array();
  for (const auto& change : summary.first) changed.push_back(change_json(change));
  return {{"flags_raised", summary.flags_raised},
          {"flags_withdrawn", summary.flags_withdrawn},
          {"flags_remedied", summary.flags_remedied},
          {"products_changed", summary.products_changed},
          {"changed", std::move(changed)},
          {"changed_not_listed", summary.products_changed - summary.first.size()}};
}

Json audit_event_json(const storage::AuditEvent& event) {
  return {{"id", event.id},
          {"at", event.at},
          {"actor", event.actor},
          {"action", event.action},
          {"subject_type", event.subject_type},
          {"subject_id", event.subject_id},
          {"details", stored_object(event.details_json)}};
}

Json token_json(const storage::TokenRecord& token) {
  return {{"id", token.id},
          {"role", token.role},
          {"holder", token.holder},
          {"manufacturer", or_null(token.manufacturer_name)},
          {"created_at", token.created_at},
          {"created_by", token.created_by},
          {"expires", or_null(token.expires)},
          {"revoked_at", or_null(token.revoked_at)}};
}

Json rejected_record_json(const importers::RejectedRecord& record) {
  Json out = {{"record", record.where.ordinal}, {"location", record.where.describe()}};
  if (record.where.line) out["line"] = record.where.line;
  if (!record.where.sheet.empty()) out["sheet"] = record.where.sheet;
  if (record.where.document_number) out["document"] = *record.where.document_number;
  if (record.where.array_index) out["array_index"] = *record.where.array_index;
  if (record.identity) {
    out["product"] = {{"manufacturer", record.identity->manufacturer},
                      {"brand", record.identity->brand},
                      {"model", record.identity->model}};
  }
  Json& issues = out["issues"] = Json::array();
  for (const auto& issue : record.issues) {
    Json item = {{"field", issue.field}, {"reason", issue.reason}};
    if (issue.line) item["line"] = issue.line;
    issues.push_back(std::move(item));
  }
  return out;
}

std::string_view import_outcome(const ingest::FileResult& result) {
  if (result.counts.accepted == 0) return "rejected";
  return result.counts.rejected == 0 && result.counts.file_error.empty() ? "complete" : "partial";
}

std::string duplicate_warning(const ingest::DuplicateRecord& duplicate) {
  return "declares the same product as " + duplicate.first.describe() + " (" +
         duplicate.product.describe() + ")" +
         (duplicate.identical ? "; identical, it changed nothing"
                              : "; it differs, and is stored as the product's later version");
}

Json duplicate_record_json(const ingest::DuplicateRecord& duplicate) {
  Json out = {{"record", duplicate.where.ordinal},
              {"location", duplicate.where.describe()},
              {"first_location", duplicate.first.describe()},
              {"product",
               {{"manufacturer", duplicate.product.manufacturer},
                {"brand", duplicate.product.brand},
                {"model", duplicate.product.model}}},
              {"identical", duplicate.identical},
              {"warning", duplicate_warning(duplicate)}};
  if (duplicate.where.line) out["line"] = duplicate.where.line;
  if (duplicate.first.line) out["first_line"] = duplicate.first.line;
  return out;
}

Json import_counts_json(const storage::ImportCounts& counts) {
  return {{"records", counts.records_read},      {"accepted", counts.accepted},
          {"rejected", counts.rejected},         {"new_products", counts.new_products},
          {"new_versions", counts.new_versions}, {"unchanged", counts.unchanged}};
}

Json import_report_json(const ingest::FileResult& result, bool dry_run) {
  Json statuses = Json::object();
  for (const auto& [status, count] : result.statuses) statuses[status] = count;
  Json out = {{"run_id", dry_run || result.run_id == 0 ? Json(nullptr) : Json(result.run_id)},
              {"outcome", import_outcome(result)},
              {"format", result.format},
              {"dry_run", dry_run},
              {"counts", import_counts_json(result.counts)},
              {"statuses", std::move(statuses)}};
  out.update(change_summary_json(result.changes));
  out["file_error"] = or_null(result.counts.file_error);
  out["rejected_not_listed"] = result.rejections_not_reported;
  Json& duplicates = out["duplicates"] = Json::array();
  for (const auto& duplicate : result.duplicates)
    duplicates.push_back(duplicate_record_json(duplicate));
  out["duplicates_not_listed"] = result.duplicates_not_reported;
  Json& plugin_output = out["plugin_output"] = Json::array();
  for (const auto& output : result.plugin_output) {
    plugin_output.push_back({{"plugin_files", output.plugin_files}, {"text", output.text}});
  }
  return out;
}

Json recheck_report_json(const ingest::RecheckReport& report, bool dry_run) {
  Json out = {{"dry_run", dry_run},
              {"run_id", dry_run || report.run_id == 0 ? Json(nullptr) : Json(report.run_id)},
              {"policy", report.policy_id},
              {"as_of", report.as_of},
              {"checked", report.checked},
              {"status_changes", report.status_changes}};
  out.update(change_summary_json(report.summary));
  out["manufacturers"] = Json::array();
  out["changes"] = Json::array();
  for (const auto& [name, counts] : report.impact) {
    out["manufacturers"].push_back({{"manufacturer", name},
                                    {"checked", counts.checked},
                                    {"status_changes", counts.status_changes},
                                    {"newly_flagged", counts.newly_flagged},
                                    {"unflagged", counts.unflagged}});
  }
  for (const auto& change : report.changes) {
    out["changes"].push_back({{"id", change.product_id},
                              {"manufacturer", change.manufacturer},
                              {"brand", change.brand},
                              {"model", change.model},
                              {"from", change.from},
                              {"to", change.to},
                              {"flagged_before", change.was_flagged},
                              {"flagged", change.flagged},
                              {"failed", change.failed}});
  }
  return out;
}

namespace {

constexpr ExportColumn kProductExportColumns[] = {
    {"id", ExportCellType::kInteger, 8},
    {"manufacturer", ExportCellType::kText, 30},
    {"brand", ExportCellType::kText, 18},
    {"model", ExportCellType::kText, 18},
    {"type", ExportCellType::kText, 22},
    {"status", ExportCellType::kText, 16},
    {"flagged", ExportCellType::kBoolean, 9},
    {"label_id", ExportCellType::kText, 16},
    {"version_count", ExportCellType::kInteger, 14},
    {"updated_at", ExportCellType::kTimestamp, 20},
    {"flag_state", ExportCellType::kText, 11},
    {"flag_id", ExportCellType::kInteger, 9},
    {"remedied", ExportCellType::kBoolean, 10},
    {"support_end", ExportCellType::kDate, 12},
    {"failing_checks", ExportCellType::kText, 30},
    {"class", ExportCellType::kText, 14},
    {"last_declared", ExportCellType::kDate, 14},
};

}  // namespace

std::span<const ExportColumn> product_export_columns() { return kProductExportColumns; }

std::vector<std::string> product_export_cells(const storage::ProductSummary& product,
                                              const PrintedFindings& findings) {
  std::string failing;
  for (const auto& check : findings.failing) {
    if (!failing.empty()) failing += ' ';
    failing += check.get<std::string>();
  }
  std::vector<std::string> cells = {
      std::to_string(product.id),
      product.manufacturer,
      product.brand,
      product.model,
      product.type,
      product.status,
      product.flagged ? "true" : "false",
      product.label_id,
      std::to_string(product.version_count),
      product.updated_at,
      product.flag_state ? std::string(enforcement::flag_state_name(*product.flag_state))
                         : std::string(),
      product.flag_id != 0 ? std::to_string(product.flag_id) : std::string(),
      product.remedied ? "true" : "false",
      product.support_end,
      std::move(failing),
      product.product_class,
      product.updated_at.substr(0, 10),
  };
  return cells;
}

std::string product_csv_header(bool byte_order_mark) {
  std::string header = byte_order_mark ? "\xEF\xBB\xBF" : "";
  const char* separator = "";
  for (const auto& column : product_export_columns()) {
    header += separator;
    header += column.name;
    separator = ",";
  }
  return header + '\n';
}

std::string product_csv_row(const storage::ProductSummary& product,
                            const PrintedFindings& findings) {
  std::string row;
  const char* separator = "";
  for (const auto& cell : product_export_cells(product, findings)) {
    row += separator;
    row += csv_field(cell);
    separator = ",";
  }
  return row + '\n';
}

std::string csv_field(std::string_view text) {
  // A spreadsheet runs a cell that starts with = + - @ as a formula: declared values are
  // untrusted, so such a cell is written as text, behind an apostrophe (OWASP's advice).
  const bool formula =
      !text.empty() && std::string_view("=+-@\t\r").find(text[0]) != std::string_view::npos;
  if (formula) return csv_field("'" + std::string(text));
  if (text.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
  return out;
}

}  // namespace iotreg::views
