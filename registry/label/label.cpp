#include "registry/label/label.h"

#include <qrencode.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <optional>

#include "registry/core/utf8.h"

namespace iotreg::label {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD
constexpr int kQuietZoneModules = 4;

// ---- Escaping -------------------------------------------------------------------------------

// Appends valid UTF-8 `text`, escaped for HTML text and attribute values and for XML. Characters
// XML 1.0 forbids (C0 controls other than tab, LF and CR; DEL; U+FFFE and U+FFFF) become U+FFFD
// so that a hostile value cannot make the SVG unreadable.
void append_escaped_valid(std::string& out, std::string_view text) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '&':
        out += "&amp;";
        continue;
      case '<':
        out += "&lt;";
        continue;
      case '>':
        out += "&gt;";
        continue;
      case '"':
        out += "&quot;";
        continue;
      case '\'':
        out += "&#39;";
        continue;
      default:
        break;
    }
    if ((byte < 0x20 && c != '\t' && c != '\n' && c != '\r') || byte == 0x7F) {
      out += kReplacementCharacter;
    } else if (byte == 0xEF && i + 2 < text.size() && text[i + 1] == '\xBF' &&
               (text[i + 2] == '\xBE' || text[i + 2] == '\xBF')) {
      out += kReplacementCharacter;
      i += 2;
    } else {
      out.push_back(c);
    }
  }
}

// `text` escaped for HTML and XML; invalid UTF-8 bytes become U+FFFD.
std::string escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + text.size() / 8);
  for (;;) {
    const std::size_t valid = find_invalid_utf8(text);
    append_escaped_valid(out, text.substr(0, valid));
    if (valid == text.size()) break;
    out += kReplacementCharacter;
    text.remove_prefix(valid + 1);
  }
  return out;
}

// At most `max_characters` code points of `text`, with an ellipsis when shortened. Cuts only
// between code points.
std::string shorten(std::string_view text, std::size_t max_characters) {
  std::size_t characters = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const bool starts_character = (static_cast<unsigned char>(text[i]) & 0xC0) != 0x80;
    if (starts_character && ++characters == max_characters) {
      // Room for max_characters - 1 characters and the ellipsis, unless the rest fits exactly.
      std::size_t end = i + 1;
      while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
      if (end == text.size()) return std::string(text);
      return std::string(text.substr(0, i)) + "\xE2\x80\xA6";  // U+2026
    }
  }
  return std::string(text);
}

// ---- Dates ----------------------------------------------------------------------------------

struct CalendarDate {
  int year = 0;
  int month = 0;
  int day = 0;
};

// A YYYY-MM-DD date that exists, or nullopt.
std::optional<CalendarDate> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto number = [&](std::size_t from, std::size_t length) -> std::optional<int> {
    int value = 0;
    for (std::size_t i = from; i < from + length; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
      value = value * 10 + (text[i] - '0');
    }
    return value;
  };
  const auto year = number(0, 4);
  const auto month = number(5, 2);
  const auto day = number(8, 2);
  if (!year || !month || !day || *month < 1 || *month > 12 || *day < 1) return std::nullopt;
  static constexpr std::array<int, 12> kDaysInMonth = {31, 28, 31, 30, 31, 30,
                                                       31, 31, 30, 31, 30, 31};
  const bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
  const int days = kDaysInMonth[static_cast<std::size_t>(*month - 1)] + (*month == 2 && leap);
  if (*day > days) return std::nullopt;
  return CalendarDate{*year, *month, *day};
}

// "31 March 2028".
std::string long_date(const CalendarDate& date) {
  static constexpr std::array<std::string_view, 12> kMonths = {
      "January", "February", "March",     "April",   "May",      "June",
      "July",    "August",   "September", "October", "November", "December"};
  std::string out = std::to_string(date.day);
  out += ' ';
  out += kMonths[static_cast<std::size_t>(date.month - 1)];
  out += ' ';
  out += std::to_string(date.year);
  return out;
}

// ---- Links ----------------------------------------------------------------------------------

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  if (text.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    char c = text[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != prefix[i]) return false;
  }
  return true;
}

bool has_space_or_control(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte <= 0x20 || byte == 0x7F) return true;
  }
  return false;
}

// An address that a mailto: link can carry as is: one @, no URL syntax, no header fields.
bool is_plain_email(std::string_view text) {
  const std::size_t at = text.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < text.size() &&
         text.find('@', at + 1) == std::string_view::npos && !has_space_or_control(text) &&
         text.find_first_of("?#&%/\\:;,\"'<>()[]") == std::string_view::npos;
}

// Where a link to `url` may point: http(s) and mailto URLs only; nullopt for anything else
// (javascript:, data:, relative references), which is then shown as text.
std::optional<std::string> link_target(std::string_view url) {
  if (has_space_or_control(url)) return std::nullopt;
  for (std::string_view scheme : {"https://", "http://"}) {
    if (starts_with_ignoring_case(url, scheme) && url.size() > scheme.size()) {
      return std::string(url);
    }
  }
  constexpr std::string_view kMailto = "mailto:";
  if (starts_with_ignoring_case(url, kMailto) && is_plain_email(url.substr(kMailto.size()))) {
    return std::string(url);
  }
  return std::nullopt;
}

// `text` as a link to `target` when that is a safe link target, else as plain text.
std::string link_or_text(std::string_view text, std::optional<std::string> target) {
  if (!target) return escape(text);
  return "<a href=\"" + escape(*target) + "\" rel=\"nofollow noopener noreferrer\">" +
         escape(text) + "</a>";
}

// ---- Status ---------------------------------------------------------------------------------

struct StatusWording {
  std::string headline;    // the page's verdict
  std::string short_text;  // fits on the label
  std::string detail;
  std::string_view css_class;
  std::string_view colour;  // of the label's band; white text on it is readable
};

// Only an officer's decision is published as an enforcement action; an automatic verdict is
// shown as the manufacturer's declaration, with no judgement (DESIGN.md §3).
StatusWording status_wording(const LabelData& data) {
  if (!data.prohibited_since.empty()) {
    const auto since = parse_date(data.prohibited_since);
    std::string detail =
        "The market-surveillance authority has prohibited the sale of this "
        "product in the UK since " +
        (since ? long_date(*since) : data.prohibited_since) + ".";
    if (!data.prohibition_notice.empty()) {
      detail += " Stop notice " + data.prohibition_notice + ".";
    }
    return {"Sale prohibited in the UK", "Sale prohibited in the UK", std::move(detail),
            "prohibited", "#b10e1e"};
  }
  if (data.status == "compliant") {
    return {"Meets the UK security requirements, as declared by the manufacturer",
            "Meets UK security requirements",
            "The manufacturer declares that this product has no universal default password, "
            "a published way to report security problems, and a stated period of security "
            "updates, and the register's checks of that declaration found nothing missing.",
            "compliant", "#00703c"};
  }
  return {"Declaration registered", "Declaration registered",
          "The manufacturer's declaration of how this product meets the UK security "
          "requirements is in the register.",
          "neutral", "#505a5f"};
}

// ---- Pages ----------------------------------------------------------------------------------

constexpr std::string_view kPageStyle = R"(
body{margin:0;background:#f3f2f1;color:#0b0c0c;font-family:Helvetica,Arial,sans-serif;font-size:1.1875rem;line-height:1.4}
header{background:#0b0c0c;color:#fff;padding:.75rem 1rem}
header p{margin:0 auto;max-width:44rem;font-weight:bold}
main{display:block;margin:0 auto;max-width:44rem;padding:1rem;background:#fff}
h1{font-size:2rem;margin:.5rem 0 .25rem}
h2{font-size:1.5rem;margin:1.75rem 0 .5rem}
.kind{margin:0;color:#505a5f}
.status{border-left:.5rem solid #505a5f;padding:.5rem 1rem;margin-top:1.5rem;background:#f3f2f1}
.status.compliant{border-color:#00703c}
.status.prohibited{border-color:#b10e1e}
.verdict{font-size:1.5rem;font-weight:bold;margin:.25rem 0}
.lead{font-weight:bold;margin-bottom:.25rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1.5rem;margin:0}
dt{font-weight:bold}
dd{margin:0;overflow-wrap:anywhere}
ul{padding-left:1.25rem}
li,p{overflow-wrap:anywhere}
a{color:#1d70b8}
a:focus{outline:3px solid transparent;background:#fd0;color:#0b0c0c;box-shadow:0 -2px #fd0,0 4px #0b0c0c;text-decoration:none}
input:focus,button:focus{outline:3px solid #fd0;outline-offset:0;box-shadow:inset 0 0 0 2px #0b0c0c}
img{max-width:100%;height:auto;border:1px solid #b1b4b6}
footer{margin:0 auto;max-width:44rem;padding:1rem;color:#505a5f;font-size:1rem}
)";

// Opens a document: head with title and style, banner, and <main>.
std::string page_start(std::string_view escaped_title) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
      "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
      "style-src 'unsafe-inline'; img-src 'self'\">\n"
      "<meta name=\"referrer\" content=\"no-referrer\">\n<title>";
  out += escaped_title;
  out += "</title>\n<style>";
  out += kPageStyle;
  out +=
      "</style>\n</head>\n<body>\n<header><p>UK register of consumer connectable product "
      "security</p></header>\n<main>\n";
  return out;
}

// Closes <main> and the document with the footer, which links to the accessibility statement.
void page_end(std::string& out, std::string_view footer_text) {
  out += "</main>\n<footer>";
  if (!footer_text.empty()) out += "<p>" + std::string(footer_text) + "</p>";
  out +=
      "<p><a href=\"/accessibility\">Accessibility statement</a></p></footer>\n</body>\n"
      "</html>\n";
}

constexpr std::string_view kProductFooter =
    "This page shows what the manufacturer declared to the register and the register's latest "
    "assessment of that declaration.";

void append_support_section(std::string& out, const LabelData& data, std::string_view today) {
  out += "<h2>Security updates</h2>\n";
  if (data.support_end_date.empty()) {
    out +=
        "<p class=\"lead\">No security update period declared</p>\n<p>The manufacturer has "
        "not said until when this product will get security updates.</p>\n";
  } else if (const auto end = parse_date(data.support_end_date)) {
    const std::string time =
        "<time datetime=\"" + escape(data.support_end_date) + "\">" + long_date(*end) + "</time>";
    const bool ended = parse_date(today) && data.support_end_date < today;
    if (ended) {
      out +=
          "<p class=\"lead\">Security update period has ended</p>\n<p>The last day of "
          "security updates was " +
          time + ". The manufacturer no longer promises security updates for this product.</p>\n";
    } else {
      out += "<p class=\"lead\">Security updates until " + time +
             "</p>\n<p>The manufacturer promises security updates for this product up to and "
             "including this day.</p>\n";
    }
  } else {
    out += "<p class=\"lead\">Declared end of security updates: " + escape(data.support_end_date) +
           "</p>\n";
  }
  if (!data.support_published_url.empty()) {
    out += "<p>The manufacturer publishes its support period at " +
           link_or_text(data.support_published_url, link_target(data.support_published_url)) +
           ".</p>\n";
  }
}

void append_vulnerability_section(std::string& out, const LabelData& data) {
  out += "<h2>Report a security problem</h2>\n";
  std::string items;
  if (!data.vulnerability_contact_url.empty()) {
    items +=
        "<li>Online: " +
        link_or_text(data.vulnerability_contact_url, link_target(data.vulnerability_contact_url)) +
        "</li>\n";
  }
  if (!data.vulnerability_contact_email.empty()) {
    std::optional<std::string> mailto;
    if (is_plain_email(data.vulnerability_contact_email)) {
      mailto = "mailto:" + data.vulnerability_contact_email;
    }
    items += "<li>Email: " + link_or_text(data.vulnerability_contact_email, mailto) + "</li>\n";
  }
  if (!data.vulnerability_contact_phone.empty()) {
    items += "<li>Phone: " + escape(data.vulnerability_contact_phone) + "</li>\n";
  }
  if (items.empty()) {
    out +=
        "<p>The manufacturer has not published a way to report security vulnerabilities in "
        "this product.</p>\n";
  } else {
    out +=
        "<p>If you find a security vulnerability in this product, tell the manufacturer:</p>\n"
        "<ul>\n" +
        items + "</ul>\n";
  }
  if (!data.vulnerability_policy_url.empty()) {
    out += "<p>How the manufacturer handles reports: " +
           link_or_text(data.vulnerability_policy_url, link_target(data.vulnerability_policy_url)) +
           "</p>\n";
  }
}

// ---- QR code --------------------------------------------------------------------------------

struct QrCodeFree {
  void operator()(QRcode* code) const { QRcode_free(code); }
};
using QrCodePtr = std::unique_ptr<QRcode, QrCodeFree>;

Result<QrCodePtr> encode_qr(std::string_view content) {
  if (content.empty()) return Status::invalid_argument("cannot make a QR code of an empty URL");
  if (content.find('\0') != std::string_view::npos) {
    return Status::invalid_argument("cannot make a QR code of a URL that holds a NUL byte");
  }
  const std::string text(content);
  errno = 0;
  QrCodePtr code(QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1));
  if (code) return code;
  if (errno == ERANGE) {
    return Status::invalid_argument("the URL is too long for a QR code (" +
                                    std::to_string(text.size()) +
                                    " bytes; at most 2331 fit at error correction level M)");
  }
  if (errno == EINVAL) return Status::invalid_argument("the QR encoder rejected the URL");
  return Status::internal(std::string("the QR encoder failed: ") + std::strerror(errno));
}

// The QR code as a nested <svg> of `size` units at (x, y): one path, one subpath per horizontal
// run of dark modules, inside a white quiet zone.
std::string qr_svg(const QRcode& code, int x, int y, int size) {
  const int width = code.width;
  const int total = width + 2 * kQuietZoneModules;
  const std::string modules = std::to_string(total);
  std::string out = "<svg x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) +
                    "\" width=\"" + std::to_string(size) + "\" height=\"" + std::to_string(size) +
                    "\" viewBox=\"0 0 " + modules + " " + modules +
                    "\" shape-rendering=\"crispEdges\">\n<rect width=\"" + modules +
                    "\" height=\"" + modules + "\" fill=\"#fff\"/>\n<path fill=\"#000\" d=\"";
  for (int row = 0; row < width; ++row) {
    const unsigned char* line = code.data + static_cast<std::ptrdiff_t>(row) * width;
    for (int column = 0; column < width;) {
      if ((line[column] & 1) == 0) {
        ++column;
        continue;
      }
      const int start = column;
      while (column < width && (line[column] & 1) != 0) ++column;
      const std::string run = std::to_string(column - start);
      out += 'M' + std::to_string(start + kQuietZoneModules) + ' ' +
             std::to_string(row + kQuietZoneModules) + 'h' + run + "v1h-" + run + 'z';
    }
  }
  out += "\"/>\n</svg>\n";
  return out;
}

// One line of label text; `text` is raw and is shortened to `max_characters`.
std::string svg_text(int y, std::string_view attributes, std::string_view text,
                     std::size_t max_characters) {
  return "<text x=\"16\" y=\"" + std::to_string(y) + "\"" + std::string(attributes) + ">" +
         escape(shorten(text, max_characters)) + "</text>\n";
}

std::string product_name(const LabelData& data) {
  if (data.brand.empty()) return data.model;
  if (data.model.empty()) return data.brand;
  return data.brand + " " + data.model;
}

}  // namespace

LabelData label_data(const storage::ProductSummary& product, const Json& declaration,
                     const storage::FlagRecord* newest_flag) {
  auto field = [&declaration](const char* section, const char* name) -> std::string {
    if (!declaration.is_object()) return {};
    const auto group = declaration.find(section);
    if (group == declaration.end() || !group->is_object()) return {};
    const auto value = group->find(name);
    if (value == group->end() || !value->is_string()) return {};
    return value->get_ref<const std::string&>();
  };
  LabelData data;
  data.product_id = product.id;
  data.manufacturer = product.manufacturer;
  data.brand = product.brand;
  data.model = product.model;
  data.type = product.type.empty() ? field("product", "type") : product.type;
  data.status = product.status;
  if (newest_flag && newest_flag->state == enforcement::FlagState::kConfirmed) {
    // Since the confirmation: the newest history entry that confirmed it.
    for (const auto& entry : newest_flag->history) {
      if (entry.state == enforcement::FlagState::kConfirmed) {
        data.prohibited_since = entry.at.substr(0, 10);
      }
    }
    if (data.prohibited_since.empty())
      data.prohibited_since = newest_flag->updated_at.substr(0, 10);
    data.prohibition_notice = newest_flag->notice;
  }
  if (product.status == "compliant") data.label_id = product.label_id;
  data.support_end_date = field("support", "end_date");
  if (!parse_date(data.support_end_date)) data.support_end_date.clear();
  data.support_published_url = field("support", "published_url");
  data.vulnerability_contact_url = field("vulnerability", "contact_url");
  data.vulnerability_contact_email = field("vulnerability", "contact_email");
  data.vulnerability_contact_phone = field("vulnerability", "contact_phone");
  data.vulnerability_policy_url = field("vulnerability", "policy_url");
  return data;
}

std::string public_page_html(const LabelData& data, std::string_view today,
                             std::string_view label_url) {
  const std::string name = escape(product_name(data));
  const StatusWording wording = status_wording(data);
  std::string out = page_start("Security information: " + name);

  out += "<h1>" + name + "</h1>\n";
  if (!data.type.empty()) out += "<p class=\"kind\">" + escape(data.type) + "</p>\n";

  out += "<section class=\"status " + std::string(wording.css_class) +
         "\" aria-labelledby=\"status-heading\">\n<h2 id=\"status-heading\">Security "
         "status</h2>\n<p class=\"verdict\">" +
         escape(wording.headline) + "</p>\n<p>" + escape(wording.detail) + "</p>\n</section>\n";

  out += "<h2>Product</h2>\n<dl>\n<dt>Manufacturer</dt><dd>" + escape(data.manufacturer) +
         "</dd>\n<dt>Brand</dt><dd>" + escape(data.brand) + "</dd>\n<dt>Model</dt><dd>" +
         escape(data.model) + "</dd>\n";
  if (!data.type.empty()) out += "<dt>Type</dt><dd>" + escape(data.type) + "</dd>\n";
  out += "<dt>Register number</dt><dd>" + std::to_string(data.product_id) + "</dd>\n";
  if (!data.label_id.empty()) {
    out += "<dt>Label ID</dt><dd>" + escape(data.label_id) + "</dd>\n";
  }
  out += "</dl>\n";

  append_support_section(out, data, today);
  append_vulnerability_section(out, data);

  out += "<h2>Security label</h2>\n<p><img src=\"" + escape(label_url) +
         "\" width=\"480\" height=\"260\" alt=\"Security label of " + name + ": " +
         escape(wording.short_text) + ". Its QR code opens this page.\"></p>\n";
  page_end(out, kProductFooter);
  return out;
}

std::string not_found_page_html(std::string_view message) {
  std::string out = page_start("Product not found");
  out += "<h1>Product not found</h1>\n<p>" + escape(message) +
         "</p>\n<p>Check the number or scan the product's security label again.</p>\n";
  page_end(out, kProductFooter);
  return out;
}

std::string public_document(std::string_view title, std::string_view body_html) {
  std::string out = page_start(escape(title));
  out += body_html;
  page_end(out, {});
  return out;
}

Result<std::string> label_svg(const LabelData& data, std::string_view page_url) {
  try {
    auto code = encode_qr(page_url);
    if (!code.is_ok()) return code.status();
    const StatusWording wording = status_wording(data);
    constexpr std::string_view kCaption = " font-size=\"11\" fill=\"#505a5f\"";

    std::string support;
    if (data.support_end_date.empty()) {
      support = "Not declared";
    } else if (const auto end = parse_date(data.support_end_date)) {
      support = long_date(*end);
    } else {
      support = data.support_end_date;
    }

    std::string out =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"480\" height=\"260\" "
        "viewBox=\"0 0 480 260\" role=\"img\" aria-labelledby=\"label-title\">\n"
        "<title id=\"label-title\">Security label: " +
        escape(product_name(data)) + ": " + escape(wording.short_text) +
        "</title>\n"
        "<rect x=\"1\" y=\"1\" width=\"478\" height=\"258\" fill=\"#fff\" stroke=\"#0b0c0c\" "
        "stroke-width=\"2\"/>\n"
        "<rect x=\"2\" y=\"2\" width=\"476\" height=\"40\" fill=\"" +
        std::string(wording.colour) +
        "\"/>\n"
        "<g font-family=\"Helvetica, Arial, sans-serif\" fill=\"#0b0c0c\">\n"
        "<text x=\"16\" y=\"28\" font-size=\"18\" font-weight=\"bold\" fill=\"#fff\">Product "
        "security</text>\n"
        "<text x=\"464\" y=\"28\" font-size=\"13\" fill=\"#fff\" text-anchor=\"end\">Register "
        "no. " +
        std::to_string(data.product_id) + "</text>\n";
    out += svg_text(72, " font-size=\"17\" font-weight=\"bold\"", product_name(data), 26);
    if (!data.type.empty()) out += svg_text(92, " font-size=\"13\"", data.type, 36);
    out += svg_text(120, kCaption, "Manufacturer", 36);
    out += svg_text(136, " font-size=\"13\"", data.manufacturer, 36);
    out += svg_text(160, kCaption, "Security updates until", 36);
    out += svg_text(176, " font-size=\"13\" font-weight=\"bold\"", support, 32);
    out += svg_text(200, kCaption, "Status", 36);
    out += svg_text(216, " font-size=\"13\" font-weight=\"bold\"", wording.short_text, 32);
    if (!data.label_id.empty()) {
      out += svg_text(244, " font-size=\"11\"", "Label ID: " + data.label_id, 40);
    }
    out +=
        "<text x=\"370\" y=\"252\" font-size=\"10\" text-anchor=\"middle\">Scan for security "
        "details</text>\n</g>\n";
    out += qr_svg(*code.value(), 276, 50, 188);
    out += "</svg>\n";
    return out;
  } catch (const std::exception& error) {
    return Status::internal(std::string("cannot draw the label: ") + error.what());
  }
}

}  // namespace iotreg::label
