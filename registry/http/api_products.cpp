// Products: search with facets, one product in full, export, statistics, and declarations
// submitted over HTTP.
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/NameValueCollection.h>

#include <charconv>
#include <functional>
#include <sstream>

#include "importers/schema/compiled_schema.h"
#include "importers/text_encoding.h"
#include "registry/core/utf8.h"
#include "registry/http/detail/api.h"
#include "registry/http/detail/request_reader.h"
#include "registry/ingest/ingest.h"
#include "registry/model/declaration.h"
#include "registry/model/product_class.h"
#include "registry/views/product_filters.h"
#include "registry/views/xlsx_export.h"

namespace iotreg::http {
namespace {

constexpr std::string_view kStatuses[] = {"pending", "compliant", "non_compliant", "excepted",
                                          "check_error"};
constexpr std::size_t kMaxRejectedInReply = 1000;
constexpr std::size_t kExportBatch = 1000;
constexpr std::size_t kMaxFilterCharacters = 1000;
constexpr std::size_t kTopManufacturers = 10;  // on the dashboard
constexpr const char* kXlsxMediaType =
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

// The product filters shared by /products and /export, confined to the caller's manufacturer
// when the token is a manufacturer's.
std::variant<storage::ProductQuery, Reply> product_query(Context& context,
                                                         const QueryParameters& parameters) {
  storage::ProductQuery query;
  if (auto status = parameters.get("status")) {
    bool known = false;
    for (auto candidate : kStatuses) known = known || candidate == *status;
    if (!known) {
      return Reply::error(400,
                          "status must be one of pending, compliant, non_compliant, "
                          "excepted, check_error");
    }
    query.status = *status;
  }
  if (auto flagged = parameters.get("flagged")) {
    if (*flagged != "true" && *flagged != "false") {
      return Reply::error(400, "flagged must be true or false");
    }
    query.flagged = *flagged == "true";
  }
  if (auto state = parameters.get("flag_state")) {
    query.flag_state = enforcement::parse_flag_state(*state);
    if (!query.flag_state) {
      return Reply::error(400, "flag_state must be " + enforcement::flag_state_list());
    }
  }
  if (auto remedied = parameters.get("remedied")) {
    if (*remedied != "true" && *remedied != "false") {
      return Reply::error(400, "remedied must be true or false");
    }
    query.remedied = *remedied == "true";
  }
  for (auto [name, target] : {std::pair{"manufacturer", &query.manufacturer},
                              std::pair{"type", &query.type}, std::pair{"q", &query.search}}) {
    if (auto value = parameters.get(name)) {
      if (auto problem = text_problem(*value); !problem.empty()) {
        return Reply::error(400, std::string(name) + " " + problem);
      }
      if (count_code_points(*value) > kMaxFilterCharacters) {
        return Reply::error(400, std::string(name) + " is longer than " +
                                     std::to_string(kMaxFilterCharacters) + " characters");
      }
      *target = *value;
    }
  }
  for (auto [name, target] : {std::pair{"support_ends_before", &query.support_ends_before},
                              std::pair{"support_ends_after", &query.support_ends_after},
                              std::pair{"changed_since", &query.changed_since}}) {
    if (auto value = parameters.get(name)) {
      if (!importers::is_calendar_date(*value)) {
        return Reply::error(400, std::string(name) + " must be a calendar date written YYYY-MM-DD");
      }
      *target = *value;
    }
  }
  if (auto value = parameters.get("class")) {
    if (auto known = views::check_product_class("class", *value); !known.is_ok()) {
      return Reply::error(400, known.message());
    }
    query.product_class = *value;
  }
  if (auto value = parameters.get("failing")) {
    if (auto known =
            views::check_failing_check("failing", *value, *context.server().evaluator.get());
        !known.is_ok()) {
      return Reply::error(400, known.message());
    }
    query.failing = *value;
  }
  query.only_manufacturer_key = context.only_manufacturer_key();
  return query;
}

Json counts_json(const std::map<std::string, std::uint64_t>& counts) {
  Json out = Json::object();
  for (const auto& [name, count] : counts) out[name] = count;
  return out;
}

// Collects the rejected records of an import for the reply (ingest stops at the cap).
class ReplyObserver : public ingest::ImportObserver {
 public:
  void on_rejected(const std::string& /*file*/,
                   const importers::RejectedRecord& rejected) override {
    rejected_.push_back(views::rejected_record_json(rejected));
  }
  void on_file_error(const std::string& /*file*/, const std::string& /*message*/) override {}
  Json take() { return std::move(rejected_); }

 private:
  Json rejected_ = Json::array();
};

std::optional<importers::Format> format_of(std::string_view content_type) {
  if (content_type == "text/csv") return importers::Format::kCsv;
  if (content_type == "application/json") return importers::Format::kJson;
  if (content_type == "application/x-ndjson" || content_type == "application/jsonl" ||
      content_type == "application/json-lines") {
    return importers::Format::kJsonLines;
  }
  if (content_type == "application/yaml" || content_type == "application/x-yaml" ||
      content_type == "text/yaml") {
    return importers::Format::kYaml;
  }
  if (content_type == kXlsxMediaType) return importers::Format::kXlsx;
  return std::nullopt;
}

// The text encoding a Content-Type field's charset parameter names; UTF-8 without one.
std::variant<importers::TextEncoding, Reply> body_encoding(const std::string& content_type_field) {
  std::string media_type;
  Poco::Net::NameValueCollection parameters;
  Poco::Net::MessageHeader::splitParameters(content_type_field, media_type, parameters);
  if (!parameters.has("charset")) return importers::TextEncoding::kUtf8;
  const std::string charset = parameters.get("charset");
  if (auto encoding = importers::text_encoding_from_label(charset)) return *encoding;
  return Reply::error(415, "charset '" + printable_request_text(charset) +
                               "' is not supported (use " +
                               std::string(importers::text_encoding_names()) + ")");
}

// Calls `write` with every product the query matches (limit and after_id aside), in id order,
// with its findings, reading a batch at a time. False when reading failed or `write` did.
bool for_each_product(storage::Storage& registry, views::ProvenanceCache* provenance,
                      storage::ProductQuery query,
                      const std::function<bool(const storage::ProductSummary&,
                                               const views::PrintedFindings&)>& write) {
  views::FindingsPrinter printer(registry, provenance);
  query.limit = kExportBatch;
  query.after_id = 0;
  for (;;) {
    auto batch = registry.list_products(query);
    if (!batch.is_ok()) return false;
    if (batch->empty()) return true;
    for (const auto& product : batch.value()) {
      auto findings = printer.findings(product);
      if (!findings.is_ok() || !write(product, *findings.value())) return false;
    }
    query.after_id = batch->back().id;
  }
}

}  // namespace

Reply list_products(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(
      parameters,
      QueryParameters::parse(context.request(),
                             {"status", "flagged", "flag_state", "remedied", "manufacturer", "type",
                              "class", "failing", "support_ends_before", "support_ends_after",
                              "changed_since", "q", "limit", "cursor"}));
  IOTREG_HTTP_TRY_ASSIGN(page, parse_page(parameters, "products"));
  IOTREG_HTTP_TRY_ASSIGN(query, product_query(context, parameters));
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  query.after_id = page.after_id;
  query.limit = page.limit + 1;
  // The first page carries the facets of everything the filter matches.
  const bool first_page = !parameters.get("cursor");
  std::optional<storage::ProductFacets> facets;
  std::vector<storage::ProductSummary> products;
  if (first_page) {
    auto listed = storage.value()->list_products_with_facets(query);
    if (!listed.is_ok()) return Reply::from_status(listed.status());
    products = std::move(listed->products);
    facets = std::move(listed->facets);
  } else {
    auto listed = storage.value()->list_products(query);
    if (!listed.is_ok()) return Reply::from_status(listed.status());
    products = std::move(listed).value();
  }
  views::FindingsPrinter printer(*storage.value(), &context.server().provenance);
  Json items = Json::array();
  for (const auto& product : products) {
    if (items.size() == page.limit) {  // the next page's first: only tells that there is one
      items.push_back(nullptr);
      break;
    }
    auto findings = printer.findings(product);
    if (!findings.is_ok()) return Reply::from_status(findings.status());
    items.push_back(views::written_product_json(product, *findings.value()));
  }
  std::int64_t last_id = products.size() > page.limit ? products[page.limit - 1].id : 0;
  Json out = page_json(std::move(items), page.limit, "products", last_id);
  if (facets) {
    out["facets"] = {{"status", counts_json(facets->status)},
                     {"class", counts_json(facets->product_class)},
                     {"failing_check", counts_json(facets->failing_check)},
                     {"flag_state", counts_json(facets->flag_state)},
                     {"type", counts_json(facets->type)}};
  }
  return Reply::json(200, out);
}

Reply get_product(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  const std::int64_t id = context.ids()[0];
  auto detail = views::product_detail(*storage.value(), id, &context.server().provenance);
  if (!detail.is_ok()) return Reply::from_status(detail.status());
  // Another manufacturer's product does not exist for a manufacturer's token.
  if (auto only = context.only_manufacturer_key();
      only && model::identity_key(detail.value()["manufacturer"].get<std::string>()) != *only) {
    return Reply::error(404, "no product with id " + std::to_string(id));
  }
  return Reply::json(200, detail.value());
}

Reply export_products(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(
      parameters,
      QueryParameters::parse(
          context.request(),
          {"format", "bom", "status", "flagged", "flag_state", "remedied", "manufacturer", "type",
           "class", "failing", "support_ends_before", "support_ends_after", "changed_since", "q"}));
  IOTREG_HTTP_TRY_ASSIGN(query, product_query(context, parameters));
  const std::string format = parameters.get("format").value_or("ndjson");
  if (format != "csv" && format != "ndjson" && format != "xlsx") {
    return Reply::error(400, "format must be csv, ndjson or xlsx");
  }
  const std::string bom = parameters.get("bom").value_or("false");
  if (bom != "true" && bom != "false") return Reply::error(400, "bom must be true or false");
  if (bom == "true" && format != "csv") return Reply::error(400, "bom applies to format=csv only");
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  // Validate the filter before the reply starts, so that bad input still gets a 400.
  query.limit = 1;
  if (auto probe = storage.value()->list_products(query); !probe.is_ok()) {
    return Reply::from_status(probe.status());
  }
  Reply reply;
  reply.content_type = format == "csv"    ? "text/csv; charset=utf-8"
                       : format == "xlsx" ? kXlsxMediaType
                                          : "application/x-ndjson";
  reply.headers.emplace_back("Content-Disposition",
                             "attachment; filename=\"iotreg-products." + format + "\"");
  storage::Storage* registry = storage.value();
  views::ProvenanceCache* provenance = &context.server().provenance;
  if (format == "xlsx") {
    // The workbook is built in a temporary file (a ZIP archive is written whole at its end),
    // in constant memory, then streamed; the file is removed however the reply ends.
    reply.stream = [registry, provenance, query](std::ostream& out) {
      auto file = views::TemporaryFile::create();
      if (!file.is_ok()) return false;
      auto writer = views::ProductXlsxWriter::create(file.value()->path());
      if (!writer.is_ok()) return false;
      const bool written = for_each_product(
          *registry, provenance, query,
          [&](const storage::ProductSummary& product, const views::PrintedFindings& findings) {
            return writer.value()->add(product, findings).is_ok();
          });
      return written && writer.value()->finish().is_ok() && file.value()->copy_to(out);
    };
    return reply;
  }
  reply.stream = [registry, provenance, query, csv = format == "csv",
                  byte_order_mark = bom == "true"](std::ostream& out) {
    if (csv) out << views::product_csv_header(byte_order_mark);
    return for_each_product(
        *registry, provenance, query,
        [&](const storage::ProductSummary& product, const views::PrintedFindings& findings) {
          if (csv) {
            out << views::product_csv_row(product, findings);
          } else {
            out << views::dump(views::written_product_json(product, findings)) << '\n';
          }
          return static_cast<bool>(out);
        });
  };
  return reply;
}

Reply get_stats(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(
      parameters,
      QueryParameters::parse(
          context.request(),
          {"status", "flagged", "flag_state", "remedied", "manufacturer", "type", "class",
           "failing", "support_ends_before", "support_ends_after", "changed_since", "q"}));
  IOTREG_HTTP_TRY_ASSIGN(query, product_query(context, parameters));
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto facets = storage.value()->product_facets(query);
  if (!facets.is_ok()) return Reply::from_status(facets.status());
  storage::ProductQuery non_compliant = query;
  non_compliant.status = "non_compliant";
  auto manufacturers = storage.value()->top_manufacturers(non_compliant, kTopManufacturers);
  if (!manufacturers.is_ok()) return Reply::from_status(manufacturers.status());
  auto flags = storage.value()->flag_counts(context.only_manufacturer_key());
  if (!flags.is_ok()) return Reply::from_status(flags.status());
  const std::shared_ptr<const checks::Evaluator> evaluator = context.server().evaluator.get();
  const std::string as_of = evaluator->as_of();
  // Twelve quarters from the as-of date's quarter, each listed even when no support ends then.
  int year = std::stoi(as_of.substr(0, 4));
  int quarter = (std::stoi(as_of.substr(5, 2)) - 1) / 3 + 1;
  const int first_month = (quarter - 1) * 3 + 1;
  auto quarters = storage.value()->support_end_by_quarter(
      query,
      as_of.substr(0, 5) + (first_month < 10 ? "0" : "") + std::to_string(first_month) + "-01");
  if (!quarters.is_ok()) return Reply::from_status(quarters.status());
  Json by_quarter = Json::array();
  for (int i = 0; i < 12; ++i) {
    std::string name = std::to_string(year) + "-Q" + std::to_string(quarter);
    auto found = quarters->find(name);
    by_quarter.push_back(
        {{"quarter", name}, {"products", found == quarters->end() ? 0 : found->second}});
    if (++quarter == 5) {
      quarter = 1;
      ++year;
    }
  }
  Json by_manufacturer = Json::array();
  for (const auto& entry : manufacturers.value()) {
    by_manufacturer.push_back({{"manufacturer", entry.manufacturer}, {"products", entry.products}});
  }
  // A check the policy in force runs, with the products whose latest verdict failed it, under the
  // requirement it enforces; the most failed first.
  Json by_requirement = Json::array();
  for (const auto& check : evaluator->checks()) {
    auto failed = facets->failing_check.find(check.id);
    if (failed == facets->failing_check.end()) continue;
    by_requirement.push_back({{"requirement", check.requirement},
                              {"check", check.id},
                              {"title", check.title},
                              {"level", policy::level_name(check.level)},
                              {"products", failed->second}});
  }
  std::stable_sort(by_requirement.begin(), by_requirement.end(), [](const Json& a, const Json& b) {
    return a["products"].get<std::uint64_t>() > b["products"].get<std::uint64_t>();
  });
  std::uint64_t total = 0;
  for (const auto& [status, count] : facets->status) {
    if (!query.status || *query.status == status) total += count;
  }
  return Reply::json(200, {{"as_of", as_of},
                           {"total", total},
                           {"by_status", counts_json(facets->status)},
                           {"by_class", counts_json(facets->product_class)},
                           {"by_flag_state", counts_json(facets->flag_state)},
                           {"by_failing_check", counts_json(facets->failing_check)},
                           {"by_type", counts_json(facets->type)},
                           {"flags_by_state", views::flag_counts_json(flags.value())},
                           {"noncompliant_by_manufacturer", std::move(by_manufacturer)},
                           {"non_compliance_by_requirement", std::move(by_requirement)},
                           {"support_end_by_quarter", std::move(by_quarter)}});
}

Reply post_declarations(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {"dry_run"}));
  const Request& request = context.request();
  bool dry_run = false;
  if (auto value = parameters.get("dry_run")) {
    if (*value != "true" && *value != "false") {
      return Reply::error(400, "dry_run must be true or false");
    }
    dry_run = *value == "true";
  }
  // A browser's upload: the file part's media type and bytes stand for the request's.
  std::optional<UploadedFile> upload;
  if (request.content_type == "multipart/form-data") {
    IOTREG_HTTP_TRY_ASSIGN(file, read_uploaded_file(request));
    upload = std::move(file);
  }
  const std::string& body = upload ? upload->body : request.body;
  auto format = format_of(upload ? upload->media_type : request.content_type);
  if (!format) {
    return Reply::error(415,
                        "Content-Type must be text/csv, application/json, "
                        "application/x-ndjson, application/yaml or " +
                            std::string(kXlsxMediaType) + " (got '" +
                            (upload ? upload->media_type + "' of file '" + upload->filename
                                    : request.content_type) +
                            "')");
  }
  if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Reply::error(400, "the body is empty: send the declarations to import");
  }
  IOTREG_HTTP_TRY_ASSIGN(encoding, body_encoding(request.content_type_field));
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());

  ingest::ImportOptions options;
  options.format = format;
  // A workbook is UTF-8 inside, whatever a charset parameter says.
  if (!upload && *format != importers::Format::kXlsx) options.encoding = encoding;
  options.actor = context.actor();
  const std::shared_ptr<const checks::Evaluator> evaluator = context.server().evaluator.get();
  options.evaluator = evaluator.get();
  options.max_reported_rejections = kMaxRejectedInReply;
  if (context.is_manufacturer()) {
    options.only_manufacturer_key = context.principal()->manufacturer_key;
    options.manufacturer_name = context.principal()->manufacturer_name;
  }
  ReplyObserver observer;
  std::istringstream in(body);
  // A dry run is the import itself, undone: it waits for other writers like one.
  std::unique_lock writer(context.server().write_mutex, std::defer_lock);
  if (!writer.try_lock_for(kWriterWait)) return busy_reply();
  std::unique_ptr<storage::Preview> preview;
  if (dry_run) {
    auto begun = storage.value()->begin_preview();
    if (!begun.is_ok()) return Reply::from_status(begun.status());
    preview = std::move(begun).value();
  }
  options.evaluator->begin_run();
  auto imported = ingest::import_stream(
      storage.value(), in,
      upload && !upload->filename.empty() ? upload->filename : "api:" + options.actor, options,
      observer);
  preview.reset();  // the dry run is undone before the reply
  if (!imported.is_ok()) return Reply::from_status(imported.status());
  const ingest::FileResult& result = imported.value();
  Json report = views::import_report_json(result, dry_run);
  report["rejected"] = observer.take();
  if (result.counts.accepted == 0) {
    std::string why = !result.counts.file_error.empty() ? result.counts.file_error
                      : result.counts.records_read == 0 ? "the body holds no declarations"
                                                        : "every record was rejected";
    return Reply::error(422, "no declaration was accepted: " + why,
                        {{"report", std::move(report)}});
  }
  // Some records were rejected, or the body broke off: a partial success.
  return Reply::json(views::import_outcome(result) == "partial" ? 207 : 200, report);
}

}  // namespace iotreg::http
