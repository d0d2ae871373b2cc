// What answers without a token: health, metrics, the consumer page and label of a product, the
// accessibility statement, and the officer web UI's files.
#include <algorithm>
#include <chrono>

#include "registry/core/clock.h"
#include "registry/http/detail/api.h"
#include "registry/http/detail/web_assets.h"
#include "registry/label/label.h"

namespace iotreg::http {
namespace {

// The UI loads only its own files and talks only to this server.
constexpr std::string_view kUiPolicy =
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'";
// A public page is self-contained: its own inline style and the product's label, nothing else.
constexpr std::string_view kPublicPagePolicy =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
    "form-action 'none'";

Reply html(int status, std::string body, std::string_view policy = kPublicPagePolicy) {
  Reply reply;
  reply.status = status;
  reply.content_type = "text/html; charset=utf-8";
  reply.body = std::move(body);
  reply.headers.emplace_back("Content-Security-Policy", std::string(policy));
  return reply;
}

// The label data of a product, or the HTML or JSON reply that says why there is none.
std::variant<label::LabelData, Reply> product_label(Context& context, bool as_html) {
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  const std::int64_t id = context.ids()[0];
  auto product = storage.value()->product(id);
  if (!product.is_ok()) {
    if (product.status().code() != Status::Code::kNotFound || !as_html) {
      return Reply::from_status(product.status());
    }
    return html(404, label::not_found_page_html("No product with id " + std::to_string(id) +
                                                " is registered."));
  }
  auto versions = storage.value()->versions(id);
  if (!versions.is_ok()) return Reply::from_status(versions.status());
  Json declaration = nullptr;
  if (!versions->empty()) {
    declaration = Json::parse(versions->back().body_json, nullptr, /*allow_exceptions=*/false);
    if (declaration.is_discarded()) declaration = nullptr;
  }
  auto flags = storage.value()->product_flags(id);
  if (!flags.is_ok()) return Reply::from_status(flags.status());
  return label::label_data(product.value(), declaration, flags->empty() ? nullptr : &flags->back());
}

std::string page_url(Context& context, std::int64_t id) {
  return context.server().base_url + "/public/products/" + std::to_string(id);
}

// A time no earlier than the last change of any public page or label (Reply::last_modified):
// the registry's last change, the start of today (a page says what holds today, such as a
// support period that has ended) and this server's start (another build may write a page
// differently). Conservative for one product, and cheap: one indexed read.
Result<std::chrono::system_clock::time_point> public_content_changed(Context& context) {
  auto storage = context.storage();
  if (!storage.is_ok()) return storage.status();
  auto changed_at = storage.value()->state_changed_at();
  if (!changed_at.is_ok()) return changed_at.status();
  auto latest = std::max(context.server().started, start_of_local_day());
  if (auto changed = parse_utc_timestamp(changed_at.value())) latest = std::max(latest, *changed);
  return latest;
}

// `reply` with its Last-Modified time (public_content_changed), or the failure to find it.
Reply with_last_modified(Context& context, Reply reply) {
  auto changed = public_content_changed(context);
  if (!changed.is_ok()) return Reply::from_status(changed.status());
  reply.last_modified = changed.value();
  return reply;
}

}  // namespace

Reply get_healthz(Context& context) {
  auto storage = context.storage();
  if (!storage.is_ok()) {
    Reply reply = Reply::error(503, "the registry database cannot be opened");
    reply.headers.emplace_back("Retry-After", "30");
    reply.log_detail = storage.status().message();
    return reply;
  }
  return Reply::json(200, {{"status", "ok"}});
}

Reply get_metrics(Context& context) {
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto facets = storage.value()->product_facets({});
  if (!facets.is_ok()) return Reply::from_status(facets.status());
  Reply reply;
  reply.content_type = "text/plain; version=0.0.4; charset=utf-8";
  reply.body = context.server().metrics.render(facets->status);
  return reply;
}

Reply get_public_product(Context& context) {
  if (!context.request().query.empty()) {
    return html(400, label::not_found_page_html("This page takes no query parameters."));
  }
  IOTREG_HTTP_TRY_ASSIGN(data, product_label(context, /*as_html=*/true));
  const std::int64_t id = context.ids()[0];
  return with_last_modified(
      context,
      html(200, label::public_page_html(data, local_date(),
                                        "/public/products/" + std::to_string(id) + "/label.svg")));
}

Reply get_public_label(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters, QueryParameters::parse(context.request(), {}));
  (void)parameters;
  IOTREG_HTTP_TRY_ASSIGN(data, product_label(context, /*as_html=*/false));
  auto svg = label::label_svg(data, page_url(context, context.ids()[0]));
  if (!svg.is_ok()) return Reply::from_status(svg.status());
  Reply reply;
  reply.content_type = "image/svg+xml";
  reply.body = std::move(svg).value();
  reply.headers.emplace_back("Content-Security-Policy",
                             "default-src 'none'; style-src 'unsafe-inline'");
  return with_last_modified(context, std::move(reply));
}

Reply get_accessibility_statement(Context& context) {
  // The statement's text is registry/http/web/accessibility.html; the query is ignored.
  for (const auto& file : web_assets()) {
    if (file.name != "accessibility.html") continue;
    Reply reply = html(
        200, label::public_document(
                 "Accessibility statement – UK register of consumer connectable product security",
                 file.text));
    reply.headers.emplace_back(
        "Cache-Control",
        "public, max-age=" + std::to_string(context.server().options.public_max_age.count()));
    return reply;
  }
  return Reply::error(404, "the accessibility statement is not built into this binary");
}

Reply get_web_index(Context& context) {
  (void)context;
  for (const auto& file : web_assets()) {
    if (file.name == "index.html") return html(200, std::string(file.text), kUiPolicy);
  }
  return Reply::error(404, "the web UI is not built into this binary");
}

Reply get_web_asset(Context& context) {
  // Only the files of the route table reach here: the name is one of them, never a path.
  const std::string& path = context.request().path;
  const std::string_view name = std::string_view(path).substr(path.rfind('/') + 1);
  for (const auto& file : web_assets()) {
    if (file.name != name) continue;
    Reply reply;
    reply.content_type =
        name.ends_with(".js") ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8";
    reply.body = std::string(file.text);
    reply.headers.emplace_back("Cache-Control", "no-cache");
    return reply;
  }
  return Reply::error(404, "no such file: " + path);
}

}  // namespace iotreg::http
