// GET /public/lookup: a consumer looks up the product in hand by the GTIN under its barcode
// (?gtin=) or by its brand and model (?brand=&model=).
//
// One product found: 302 to its public page (/public/products/{id}), the page the label's QR
// code opens, so that every way to a product ends at one address that a CDN keeps once; the
// redirect itself may be kept as long as a page. Several (one GTIN or brand and model declared
// by several manufacturers): a page listing them. None: a "not registered" page, 404 and never
// stored by a cache, and the lookup is counted for officers (LookupTally): what was looked up,
// never who looked. Without parameters: the lookup form. A bad parameter: 400 with a page that
// says what is wrong and offers the form again.
#include <cctype>

#include "registry/core/clock.h"
#include "registry/core/utf8.h"
#include "registry/http/detail/api.h"
#include "registry/label/label.h"
#include "registry/model/lookup_keys.h"

namespace iotreg::http {
namespace {

// Pages with the lookup form may submit it to this server, and only that.
constexpr std::string_view kLookupPagePolicy =
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; base-uri 'none'; "
    "form-action 'self'";
constexpr std::size_t kListed = 20;              // products listed when several match
constexpr std::size_t kMaxNameCharacters = 200;  // of a brand or a model looked up

std::string escaped(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

// What the consumer entered, to show again in the forms.
struct Entered {
  std::string gtin;
  std::string brand;
  std::string model;
};

// The two lookup forms. They submit to "lookup", relative to this page, so that they work
// under any path a proxy serves the public pages at.
std::string forms_html(const Entered& entered) {
  return "<form method=\"get\" action=\"lookup\">\n<h2>By barcode number</h2>\n"
         "<p><label for=\"gtin\">Barcode number (GTIN): the 8, 12, 13 or 14 digits under the "
         "barcode</label><br>\n<input id=\"gtin\" name=\"gtin\" inputmode=\"numeric\" "
         "autocomplete=\"off\" spellcheck=\"false\" maxlength=\"40\" required value=\"" +
         escaped(entered.gtin) +
         "\"></p>\n<p><button type=\"submit\">Look up the barcode number</button></p>\n"
         "</form>\n<form method=\"get\" action=\"lookup\">\n<h2>By brand and model</h2>\n"
         "<p><label for=\"brand\">Brand</label><br>\n<input id=\"brand\" name=\"brand\" "
         "autocomplete=\"off\" maxlength=\"200\" required value=\"" +
         escaped(entered.brand) +
         "\"></p>\n<p><label for=\"model\">Model, as printed on the product or its box</label>"
         "<br>\n<input id=\"model\" name=\"model\" autocomplete=\"off\" spellcheck=\"false\" "
         "maxlength=\"200\" required value=\"" +
         escaped(entered.model) +
         "\"></p>\n<p><button type=\"submit\">Look up the brand and model</button></p>\n"
         "</form>\n";
}

Reply page(int status, std::string_view title, const std::string& body) {
  Reply reply;
  reply.status = status;
  reply.content_type = "text/html; charset=utf-8";
  reply.body = label::public_document(title, "<h1>" + escaped(title) + "</h1>\n" + body);
  reply.headers.emplace_back("Content-Security-Policy", std::string(kLookupPagePolicy));
  // A 200 gets the public pages' Cache-Control with its ETag (reply_writer.h).
  if (status != 200) reply.headers.emplace_back("Cache-Control", "no-store");
  return reply;
}

Reply form_page() {
  return page(200, "Look up a product",
              "<p>Find a connectable product in the register by the number under its barcode, "
              "or by its brand and model.</p>\n" +
                  forms_html({}));
}

Reply bad_request(const std::string& message, const Entered& entered) {
  return page(400, "Check what you entered",
              "<p class=\"lead\">" + escaped(message) + "</p>\n" + forms_html(entered));
}

Reply not_registered(const std::string& what, const Entered& entered) {
  return page(
      404, "Not in the register",
      "<p class=\"lead\">No product " + escaped(what) +
          " is registered.</p>\n<p>Manufacturers declare the security of the connectable "
          "products they sell in the UK to this register. Check the number or the spelling on "
          "the product or its box, or look it up the other way.</p>\n<p>The register counts "
          "lookups of products it does not hold, so that officers can follow them up. It does "
          "not record who looked.</p>\n" +
          forms_html(entered));
}

Reply several_found(const std::vector<storage::ProductSummary>& products, const std::string& what,
                    bool more) {
  std::string list = "<p>" + std::to_string(products.size()) + (more ? " or more" : "") +
                     " registered products " + escaped(what) + ":</p>\n<ul>\n";
  for (const auto& product : products) {
    list += "<li><a href=\"products/" + std::to_string(product.id) + "\">" +
            escaped(product.brand + " " + product.model) + "</a>, by " +
            escaped(product.manufacturer) +
            (product.type.empty() ? std::string() : " (" + escaped(product.type) + ")") + "</li>\n";
  }
  list += "</ul>\n";
  return page(200, "Products found", list);
}

// A brand or model as looked up: trimmed valid text, or the 400 reply saying why not.
std::variant<std::string, Reply> name_parameter(std::string_view name, const std::string& value,
                                                const Entered& entered) {
  if (auto problem = text_problem(value); !problem.empty()) {
    return bad_request("The " + std::string(name) + " " + problem + ".", entered);
  }
  const std::string trimmed(trim_whitespace(value));
  if (trimmed.empty()) {
    return bad_request("The " + std::string(name) +
                           " is empty: enter it as printed on the "
                           "product or its box.",
                       entered);
  }
  if (count_code_points(trimmed) > kMaxNameCharacters) {
    return bad_request("The " + std::string(name) + " is longer than " +
                           std::to_string(kMaxNameCharacters) + " characters.",
                       entered);
  }
  return trimmed;
}

}  // namespace

Reply get_public_lookup(Context& context) {
  const Request& request = context.request();
  std::optional<std::string> gtin, brand, model;
  Entered entered;
  for (const auto& [name, value] : request.query) {
    std::optional<std::string>* slot = name == "gtin"    ? &gtin
                                       : name == "brand" ? &brand
                                       : name == "model" ? &model
                                                         : nullptr;
    if (slot == nullptr) {
      return bad_request("This page takes gtin, or brand and model, and nothing else.", {});
    }
    if (*slot) return bad_request("Give the " + name + " once.", {});
    *slot = value;
  }
  // Shown again in the forms only when it is text.
  auto shown = [](const std::optional<std::string>& value) {
    return value && text_problem(*value).empty() ? std::string(trim_whitespace(*value))
                                                 : std::string();
  };
  entered = {shown(gtin), shown(brand), shown(model)};
  if (!gtin && !brand && !model) return form_page();
  if (gtin && (brand || model)) {
    return bad_request("Look up by barcode number, or by brand and model, not both.", entered);
  }

  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  Result<std::vector<storage::ProductSummary>> found = Status::not_found("");
  std::string what;
  if (gtin) {
    if (!text_problem(*gtin).empty() || trim_whitespace(*gtin).empty()) {
      return bad_request("Enter the barcode number: the 8, 12, 13 or 14 digits under the barcode.",
                         entered);
    }
    auto normalized = model::normalized_gtin(trim_whitespace(*gtin));
    if (!normalized.is_ok()) {
      std::string message = normalized.status().message();
      message.front() =
          static_cast<char>(std::toupper(static_cast<unsigned char>(message.front())));
      return bad_request(message + ".", entered);
    }
    found = storage.value()->products_by_gtin(normalized.value(), kListed + 1);
    if (!found.is_ok()) return Reply::from_status(found.status());
    what = "with the barcode number " + entered.gtin;
    if (found->empty()) {
      context.server().unregistered_lookups.count(normalized.value(), "", "", utc_timestamp());
    }
  } else {
    if (!brand) {
      return bad_request("A lookup by model needs the brand too.", entered);
    }
    if (!model) {
      return bad_request(
          "A lookup by brand needs the model too: enter the model as printed on "
          "the product or its box.",
          entered);
    }
    IOTREG_HTTP_TRY_ASSIGN(brand_name, name_parameter("brand", *brand, entered));
    IOTREG_HTTP_TRY_ASSIGN(model_name, name_parameter("model", *model, entered));
    found = storage.value()->products_by_brand_model(brand_name, model_name, kListed + 1);
    if (!found.is_ok()) return Reply::from_status(found.status());
    what = "of the brand \u201c" + brand_name + "\u201d and model \u201c" + model_name + "\u201d";
    if (found->empty()) {
      context.server().unregistered_lookups.count("", brand_name, model_name, utc_timestamp());
    }
  }
  if (found->empty()) return not_registered(what, entered);
  if (found->size() == 1) {
    Reply reply;
    reply.status = 302;
    reply.content_type = "text/html; charset=utf-8";
    // Relative to /public/lookup, so that it holds under any path a proxy serves the pages at.
    reply.headers.emplace_back("Location", "products/" + std::to_string(found->front().id));
    reply.headers.emplace_back(
        "Cache-Control",
        "public, max-age=" + std::to_string(context.server().options.public_max_age.count()));
    return reply;
  }
  const bool more = found->size() > kListed;
  if (more) found->resize(kListed);
  return several_found(found.value(), what, more);
}

}  // namespace iotreg::http
