// Consumer labels: the public product page (/public/products/{id}, DESIGN.md §6) and the
// product's security label, an SVG image whose QR code leads to that page.
//
// LabelData is a plain value the caller owns; every function here is pure, keeps no state and
// is safe to call from any thread. Every value taken from a declaration is untrusted and is
// escaped in what these functions produce.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "registry/core/status.h"
#include "registry/storage/storage.h"

namespace iotreg::label {

// What a consumer label and the public page show about one product.
struct LabelData {
  std::int64_t product_id = 0;
  std::string manufacturer;
  std::string brand;
  std::string model;
  std::string type;    // e.g. "smart camera"; may be empty
  std::string status;  // compliant, non_compliant, excepted, check_error or pending
  // A sale prohibition in force (a confirmed flag): since when (YYYY-MM-DD) and the stop
  // notice's reference; both empty otherwise. An unreviewed flag is never public.
  std::string prohibited_since;
  std::string prohibition_notice;
  std::string label_id;               // under a labelling regime, when compliant; else empty
  std::string support_end_date;       // last day of security updates, YYYY-MM-DD; empty: none
  std::string support_published_url;  // where the manufacturer publishes the support period
  // How to report a security vulnerability; each may be empty.
  std::string vulnerability_contact_url;
  std::string vulnerability_contact_email;
  std::string vulnerability_contact_phone;
  std::string vulnerability_policy_url;  // the published disclosure policy
};

// From a product, the nested JSON object of its latest declaration (null when it has none) and
// its newest flag (null when none). Identity, status and label id come from the product; the
// prohibition from the flag, only when it is confirmed; the rest from the declaration. Fields
// of the wrong type or a malformed support end date are treated as absent.
LabelData label_data(const storage::ProductSummary& product,
                     const nlohmann::ordered_json& declaration,
                     const storage::FlagRecord* newest_flag);

// The public page of a product: a complete, self-contained HTML5 document (inline CSS, no
// scripts, no external resources) that tells a consumer in neutral words what the register
// holds (DESIGN.md §3): "Sale prohibited in the UK" with its date and notice only for a
// prohibition in force; "Meets the UK security requirements, as declared by the manufacturer"
// for a compliant product; else "Declaration registered", with no judgement; until when it gets
// security updates relative to `today` (YYYY-MM-DD), and how to report a vulnerability. Contacts
// are links only when they are http(s) or mailto URLs. Shows the label as an <img> at `label_url`.
std::string public_page_html(const LabelData& data, std::string_view today,
                             std::string_view label_url);

// A small page in the same style for an unknown product; `message` is shown escaped, e.g.
// "No product with id 7 is registered".
std::string not_found_page_html(std::string_view message);

// A public page in the same style as the product page, for the registry's own texts (the
// accessibility statement): `title` is escaped; `body_html` is trusted markup placed in <main> as
// it is. The footer links to the accessibility statement, as every public page's does.
std::string public_document(std::string_view title, std::string_view body_html);

// The label as a standalone SVG image (image/svg+xml): brand and model, manufacturer, support
// end date, status, label id if any, and a QR code (level M, 8-bit mode, quiet zone of 4
// modules) whose content is exactly `page_url`. Fails with kInvalidArgument when `page_url` is
// empty, holds a NUL or is too long for a QR code, kInternal when the encoder fails otherwise.
Result<std::string> label_svg(const LabelData& data, std::string_view page_url);

}  // namespace iotreg::label
