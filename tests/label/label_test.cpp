// The consumer page and the security label: fields taken from a declaration, escaping of
// hostile values, safe links, support-period wording, and a QR code that really decodes.
#include "registry/label/label.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

namespace {

using iotreg::label::LabelData;
using Json = nlohmann::ordered_json;

// Line `line` (1-based) of samples/03-tessellate.jsonl, parsed.
Json sample_declaration(int line) {
  std::ifstream in(std::string(IOTREG_SOURCE_DIR) + "/samples/03-tessellate.jsonl");
  REQUIRE(in.good());
  std::string text;
  for (int i = 0; i < line; ++i) REQUIRE(std::getline(in, text));
  return Json::parse(text);
}

iotreg::storage::ProductSummary summary(std::string status, bool flagged = false) {
  iotreg::storage::ProductSummary product;
  product.id = 42;
  product.manufacturer = "Tessellate Computing, Inc.";
  product.brand = "Tessellate";
  product.model = "TX-11 LTE";
  product.status = std::move(status);
  product.flagged = flagged;
  return product;
}

LabelData plain_data() {
  LabelData data;
  data.product_id = 7;
  data.manufacturer = "Kestrel Home Networks GmbH";
  data.brand = "Kestrel";
  data.model = "KR-1200";
  data.type = "Wi-Fi 5 router";
  data.status = "compliant";
  data.support_end_date = "2028-03-31";
  data.vulnerability_contact_url = "https://kestrel-net.example/psirt";
  data.vulnerability_contact_email = "psirt@kestrel-net.example";
  return data;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

bool contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

std::size_t count(const std::string& text, std::string_view part) {
  std::size_t found = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++found;
  return found;
}

// A public page's product part: its <main>, without the footer every page shares.
std::string main_part(const std::string& page) {
  const auto begin = page.find("<main");
  const auto end = page.find("</main>");
  REQUIRE(begin != std::string::npos);
  REQUIRE(end != std::string::npos);
  return page.substr(begin, end - begin);
}

// A fresh directory for one test's files, removed with the object.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("iotreg-label-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::filesystem::path file(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Renders `svg` with rsvg-convert and returns what zbarimg decodes from the picture.
std::string decode_label_qr(const std::string& svg) {
  TempDir dir;
  const auto svg_path = dir.file("label.svg");
  const auto png_path = dir.file("label.png");
  const auto out_path = dir.file("decoded.txt");
  {
    std::ofstream out(svg_path, std::ios::binary);
    out << svg;
  }
  const auto error_path = dir.file("errors.txt");
  const std::string render = "rsvg-convert -w 600 -b white '" + svg_path.string() + "' -o '" +
                             png_path.string() + "' 2> '" + error_path.string() + "'";
  REQUIRE_MESSAGE(std::system(render.c_str()) == 0,
                  "rsvg-convert failed: " << read_file(error_path));
  // zbarimg's stderr holds only noise (D-Bus) when it works; it is shown when it does not.
  const std::string decode = "zbarimg --raw -q '" + png_path.string() + "' > '" +
                             out_path.string() + "' 2> '" + error_path.string() + "'";
  REQUIRE_MESSAGE(std::system(decode.c_str()) == 0,
                  "zbarimg found no code: " << read_file(error_path));
  std::string decoded = read_file(out_path);
  if (!decoded.empty() && decoded.back() == '\n') decoded.pop_back();
  return decoded;
}

}  // namespace

TEST_SUITE("label") {
  TEST_CASE("label_data takes identity from the product and the rest from the declaration") {
    const Json declaration = sample_declaration(2);
    REQUIRE(declaration["product"]["model"] == "TX-11 LTE");
    auto product = summary("compliant");
    product.label_id = "UK-PSTI-000042";

    const LabelData data = iotreg::label::label_data(product, declaration, nullptr);
    CHECK(data.product_id == 42);
    CHECK(data.manufacturer == "Tessellate Computing, Inc.");
    CHECK(data.brand == "Tessellate");
    CHECK(data.model == "TX-11 LTE");
    CHECK(data.type == "tablet (LTE)");  // the summary has none: from the declaration
    CHECK(data.status == "compliant");
    CHECK(data.prohibited_since.empty());
    // The registry's label id, not the third-party label (US-CTM) in the declaration.
    CHECK(data.label_id == "UK-PSTI-000042");
    CHECK(data.support_end_date == "2030-10-31");
    CHECK(data.support_published_url ==
          "https://tessellate.example/support/security-update-policy");
    CHECK(data.vulnerability_contact_url == "https://tessellate.example/security/report");
    CHECK(data.vulnerability_contact_email == "psirt@tessellate.example");
    CHECK(data.vulnerability_contact_phone.empty());
    CHECK(data.vulnerability_policy_url == "https://tessellate.example/security/cvd");
  }

  TEST_CASE("label_data without a declaration or with odd values") {
    auto product = summary("non_compliant", true);
    product.type = "tablet";
    product.label_id = "stale-label";

    const LabelData none = iotreg::label::label_data(product, Json(), nullptr);
    CHECK(none.brand == "Tessellate");
    CHECK(none.type == "tablet");
    CHECK(none.status == "non_compliant");
    CHECK(none.prohibited_since.empty());  // no flag given: nothing is prohibited
    CHECK(none.label_id.empty());          // only a compliant product shows a label id
    CHECK(none.support_end_date.empty());
    CHECK(none.vulnerability_contact_url.empty());

    Json odd = sample_declaration(1);
    odd["support"]["end_date"] = "2027-02-30";  // does not exist
    odd["vulnerability"] = "not an object";
    odd["product"]["type"] = 12;
    const LabelData data = iotreg::label::label_data(product, odd, nullptr);
    CHECK(data.type == "tablet");  // the summary's type wins
    CHECK(data.support_end_date.empty());
    CHECK(data.vulnerability_contact_email.empty());
    CHECK(data.support_published_url ==
          "https://tessellate.example/support/security-update-policy");
  }

  TEST_CASE("every field is HTML-escaped on the public page") {
    LabelData data;
    data.product_id = 3;
    data.manufacturer = "<b id=\"m1\">Evil & Co's</b>";
    data.brand = "<script>alert(\"brand\")</script>";
    data.model = "<img src=x onerror='model'>";
    data.type = "<i id=\"type\">&amp;</i>";
    data.status = "compliant";
    data.label_id = "<u id=\"label\">";
    data.support_end_date = "<s id=\"date\">";
    data.support_published_url = "https://example.test/\"><b id=\"support\">";
    data.vulnerability_contact_url = "https://example.test/?a=1&b=\"><b/id=\"contact\">";
    data.vulnerability_contact_email = "<b id=\"email\">@example.test";
    data.vulnerability_contact_phone = "<b id=\"phone\">";
    data.vulnerability_policy_url = "<b id=\"policy\">";
    const std::string page =
        iotreg::label::public_page_html(data, "2026-01-01", "/label.svg\"><b id=\"img\">");

    for (std::string_view id :
         {"m1", "type", "label", "date", "support", "contact", "email", "phone", "policy", "img"}) {
      CAPTURE(id);
      CHECK_FALSE(contains(page, std::string("id=\"") + std::string(id) + "\""));
      CHECK(contains(page, std::string("id=&quot;") + std::string(id) + "&quot;"));
    }
    CHECK_FALSE(contains(lower(page), "<script"));
    CHECK(contains(page, "&lt;script&gt;alert(&quot;brand&quot;)&lt;/script&gt;"));
    CHECK_FALSE(contains(page, "<img src=x"));
    CHECK(contains(page, "onerror=&#39;model&#39;"));
    CHECK(contains(page, "Evil &amp; Co&#39;s"));
    CHECK(contains(page, "&amp;amp;"));
    CHECK(contains(page, "href=\"https://example.test/?a=1&amp;b=&quot;&gt;"));
    // The only element carrying a src is the label image.
    CHECK(count(page, "src=\"") == 1);

    const std::string missing = iotreg::label::not_found_page_html("No product <b>&\"");
    CHECK(contains(missing, "No product &lt;b&gt;&amp;&quot;"));
    CHECK_FALSE(contains(missing, "<b>"));
  }

  TEST_CASE("the pages are complete documents without scripts or external resources") {
    const std::string page =
        iotreg::label::public_page_html(plain_data(), "2026-01-01", "/public/products/7/label.svg");
    CHECK(page.rfind("<!DOCTYPE html>\n<html lang=\"en\">", 0) == 0);
    CHECK(contains(page, "<meta charset=\"utf-8\">"));
    CHECK(contains(page, "<title>Security information: Kestrel KR-1200</title>"));
    CHECK(contains(page, "</html>\n"));
    CHECK(contains(page, "<img src=\"/public/products/7/label.svg\""));
    CHECK(contains(page, "alt=\"Security label of Kestrel KR-1200"));
    CHECK(contains(page, "Kestrel Home Networks GmbH"));
    CHECK(contains(page, "Wi-Fi 5 router"));
    const std::string lowered = lower(page);
    CHECK_FALSE(contains(lowered, "<script"));
    CHECK_FALSE(contains(lowered, "<link"));
    CHECK_FALSE(contains(lowered, "@import"));
    CHECK_FALSE(contains(lowered, "url("));

    const std::string missing =
        iotreg::label::not_found_page_html("No product with id 9 is registered");
    CHECK(missing.rfind("<!DOCTYPE html>", 0) == 0);
    CHECK(contains(missing, "<h1>Product not found</h1>"));
    CHECK(contains(missing, "<p>No product with id 9 is registered</p>"));
    CHECK(contains(missing, "</html>\n"));
  }

  TEST_CASE("contacts are links only for http(s) and mailto URLs") {
    LabelData data = plain_data();
    CHECK(contains(iotreg::label::public_page_html(data, "2026-01-01", "/l.svg"),
                   "<a href=\"https://kestrel-net.example/psirt\""));
    CHECK(contains(iotreg::label::public_page_html(data, "2026-01-01", "/l.svg"),
                   "<a href=\"mailto:psirt@kestrel-net.example\""));

    for (std::string_view hostile :
         {"javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
          "java\tscript:alert(1)", "data:text/html,<b>x</b>", "//evil.example/x",
          "mailto:a@b.example?subject=x", "vbscript:msgbox(1)"}) {
      CAPTURE(hostile);
      data.vulnerability_contact_url = hostile;
      data.vulnerability_policy_url = hostile;
      data.support_published_url = hostile;
      data.vulnerability_contact_email = "x@y.example\" onclick=\"alert(1)";
      const std::string page = iotreg::label::public_page_html(data, "2026-01-01", "/l.svg");
      // None of them becomes a link: the page's only link is the footer's.
      CHECK(count(main_part(page), "<a ") == 0);
      CHECK(count(page, "<a ") == 1);
      CHECK_FALSE(contains(lower(page), "href=\"java"));
      CHECK_FALSE(contains(page, "onclick=\""));
    }
    data.vulnerability_contact_url = "mailto:psirt@kestrel-net.example";
    CHECK(contains(iotreg::label::public_page_html(data, "2026-01-01", "/l.svg"),
                   "<a href=\"mailto:psirt@kestrel-net.example\""));
    data.vulnerability_contact_url = "HTTPS://Kestrel-net.example/report";
    CHECK(contains(iotreg::label::public_page_html(data, "2026-01-01", "/l.svg"),
                   "<a href=\"HTTPS://Kestrel-net.example/report\""));
  }

  TEST_CASE("no contact at all says so") {
    LabelData data = plain_data();
    data.vulnerability_contact_url.clear();
    data.vulnerability_contact_email.clear();
    const std::string page = iotreg::label::public_page_html(data, "2026-01-01", "/l.svg");
    CHECK(contains(page, "has not published a way to report security vulnerabilities"));
    CHECK(count(main_part(page), "<a ") == 0);
  }

  TEST_CASE("support period wording depends on today") {
    LabelData data = plain_data();
    const std::string future = iotreg::label::public_page_html(data, "2026-05-04", "/l.svg");
    CHECK(contains(future,
                   "Security updates until <time datetime=\"2028-03-31\">31 March 2028</time>"));
    CHECK_FALSE(contains(future, "has ended"));

    const std::string last_day = iotreg::label::public_page_html(data, "2028-03-31", "/l.svg");
    CHECK(contains(last_day, "Security updates until"));
    CHECK_FALSE(contains(last_day, "has ended"));

    const std::string ended = iotreg::label::public_page_html(data, "2028-04-01", "/l.svg");
    CHECK(contains(ended, "Security update period has ended"));
    CHECK(contains(ended, "31 March 2028"));
    CHECK_FALSE(contains(ended, "Security updates until"));

    data.support_end_date = "2028-02-29";
    CHECK(contains(iotreg::label::public_page_html(data, "2026-05-04", "/l.svg"),
                   ">29 February 2028</time>"));

    data.support_end_date.clear();
    const std::string none = iotreg::label::public_page_html(data, "2026-05-04", "/l.svg");
    CHECK(contains(none, "No security update period declared"));
    CHECK_FALSE(contains(none, "Security updates until"));
  }

  TEST_CASE("the public page judges no one unheard: its wording for every status and flag state") {
    using iotreg::enforcement::FlagState;
    const std::string prohibited = "Sale prohibited in the UK";
    const std::string meets = "Meets the UK security requirements, as declared by the manufacturer";
    const std::string registered = "Declaration registered";
    auto product = summary("non_compliant", true);
    auto flag_in = [](FlagState state) {
      iotreg::storage::FlagRecord flag;
      flag.id = 3;
      flag.state = state;
      flag.updated_at = "2026-11-30T09:00:00Z";
      flag.history.push_back({FlagState::kRaised, "2026-11-20T08:00:00Z", "import run 1", "r"});
      if (state != FlagState::kRaised && state != FlagState::kWithdrawn) {
        flag.history.push_back(
            {FlagState::kConfirmed, "2026-11-21T10:00:00Z", "Jane Smith (officer, token 1)", "c"});
      }
      if (state == FlagState::kConfirmed) flag.notice = "SN-2026-0141";
      return flag;
    };
    struct Case {
      std::string status;
      std::optional<FlagState> flag;
      std::string headline;
    };
    const std::vector<Case> cases = {
        {"non_compliant", std::nullopt, registered},
        {"non_compliant", FlagState::kRaised, registered},  // unreviewed: never published
        {"compliant", FlagState::kWithdrawn, meets},
        {"non_compliant", FlagState::kConfirmed, prohibited},
        {"compliant", FlagState::kConfirmed, prohibited},  // remedied, until an officer lifts it
        {"non_compliant", FlagState::kDismissed, registered},
        {"compliant", FlagState::kLifted, meets},
        {"non_compliant", FlagState::kLifted, registered},
        {"compliant", std::nullopt, meets},
        {"excepted", std::nullopt, registered},
        {"check_error", std::nullopt, registered},
        {"pending", std::nullopt, registered},
    };
    for (const auto& c : cases) {
      CAPTURE(c.status);
      CAPTURE(c.flag ? std::string(iotreg::enforcement::flag_state_name(*c.flag)) : "none");
      product.status = c.status;
      iotreg::storage::FlagRecord flag;
      if (c.flag) flag = flag_in(*c.flag);
      const LabelData data =
          iotreg::label::label_data(product, sample_declaration(2), c.flag ? &flag : nullptr);
      const std::string page = iotreg::label::public_page_html(data, "2026-12-01", "/l.svg");
      auto svg = iotreg::label::label_svg(data, "https://registry.example/public/products/42");
      REQUIRE(svg.is_ok());
      CHECK(contains(page, c.headline));
      for (const auto* other : {&prohibited, &meets, &registered}) {
        if (*other != c.headline) CHECK_FALSE(contains(page, *other));
      }
      // The label carries the same verdict, in its short form.
      CHECK(contains(*svg, c.headline == prohibited ? "Sale prohibited in the UK"
                           : c.headline == meets    ? "Meets UK security requirements"
                                                    : "Declaration registered"));
      // No wording of the old automatic verdicts, nor any unreviewed judgement.
      CHECK_FALSE(contains(page, "Flagged"));
      CHECK_FALSE(contains(page, "Does not meet"));
      CHECK_FALSE(contains(*svg, "Flagged"));
      if (c.headline == prohibited) {
        CHECK(contains(page, "since 21 November 2026"));
        if (c.flag == FlagState::kConfirmed) CHECK(contains(page, "Stop notice SN-2026-0141."));
      }
    }
  }

  TEST_CASE("the label shows the product and draws the QR code as one path") {
    LabelData data = plain_data();
    data.label_id = "UK-PSTI-000007";
    auto svg = iotreg::label::label_svg(data, "https://registry.example/public/products/7");
    REQUIRE(svg.is_ok());
    CHECK(svg->rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=", 0) == 0);
    CHECK(contains(*svg, ">Kestrel KR-1200<"));
    CHECK(contains(*svg, ">Kestrel Home Networks GmbH<"));
    CHECK(contains(*svg, ">31 March 2028<"));
    CHECK(contains(*svg, ">Meets UK security requirements<"));
    CHECK(contains(*svg, ">Label ID: UK-PSTI-000007<"));
    CHECK(count(*svg, "<path") == 1);
    CHECK(contains(*svg, "<path fill=\"#000\" d=\"M4 4h7v1h-7z"));  // the finder pattern's top

    // 16 bytes fit a version 1 symbol (21 modules) at level L but need version 2 (25 modules) at
    // level M; with the quiet zone of 4 modules on each side that is 33.
    auto small = iotreg::label::label_svg(data, "https://r.ex/p/1");
    REQUIRE(small.is_ok());
    CHECK(contains(*small, "viewBox=\"0 0 33 33\""));
  }

  TEST_CASE("the label's QR code decodes to the page URL") {
    LabelData data = plain_data();
    for (const std::string& url :
         {std::string("https://registry.example/public/products/7"),
          std::string("https://registry.example/public/products/7?lang=en&src=label#top%20x"),
          std::string("http://127.0.0.1:8080/public/products/123456?a=%3Cb%3E&b='q'&c=\"d\""),
          "https://registry.example/public/products/9?" + std::string(300, 'z')}) {
      CAPTURE(url);
      auto svg = iotreg::label::label_svg(data, url);
      REQUIRE(svg.is_ok());
      CHECK(decode_label_qr(*svg) == url);
    }
  }

  TEST_CASE("a label with hostile text is still a valid SVG whose QR code decodes") {
    LabelData data;
    data.product_id = 5;
    data.manufacturer = "Evil & Co <b> \"quoted\" 'single' \x01\x7F";
    data.brand = "</text><script>alert(1)</script>";
    data.model = "\xFF\xFE broken UTF-8 \xEF\xBF\xBF";
    data.type = "]]><!ENTITY x SYSTEM \"file:///etc/passwd\">";
    data.status = "non_compliant";
    data.prohibited_since = "2026-11-21";
    data.prohibition_notice = "</text><script>alert(2)</script>";
    data.label_id = "<label>";
    data.support_end_date = "<never>";
    const std::string url = "https://registry.example/public/products/5?x=<&y=>";
    auto svg = iotreg::label::label_svg(data, url);
    REQUIRE(svg.is_ok());
    CHECK_FALSE(contains(*svg, "<script"));
    CHECK_FALSE(contains(*svg, "<b>"));
    CHECK_FALSE(contains(*svg, "<!ENTITY"));
    CHECK_FALSE(contains(*svg, "\x01"));
    CHECK(contains(*svg, "Sale prohibited in the UK"));
    CHECK(decode_label_qr(*svg) == url);  // rsvg-convert fails on malformed XML
  }

  TEST_CASE("a URL too long for any QR code gives an error and no crash") {
    const LabelData data = plain_data();
    const auto too_long =
        iotreg::label::label_svg(data, "https://registry.example/?" + std::string(4000, 'a'));
    REQUIRE_FALSE(too_long.is_ok());
    CHECK(too_long.status().code() == iotreg::Status::Code::kInvalidArgument);
    CHECK(contains(too_long.status().message(), "too long"));

    const auto empty = iotreg::label::label_svg(data, "");
    CHECK_FALSE(empty.is_ok());
    const auto with_nul = iotreg::label::label_svg(data, std::string_view("https://a\0b", 11));
    CHECK_FALSE(with_nul.is_ok());
  }
}
