// GET /api/v1/lookups/unregistered: what consumers looked up on the public lookup page and did
// not find (a GTIN, or a brand and model), with how often and when: leads for officers.
#include <Poco/Base64Decoder.h>
#include <Poco/Base64Encoder.h>

#include <charconv>
#include <sstream>

#include "importers/schema/compiled_schema.h"
#include "registry/http/detail/api.h"

namespace iotreg::http {
namespace {

constexpr std::string_view kCursorKind = "unregistered:";

// The list is in order of lookups, then id: its cursor names both of the last entry shown.
std::string lookup_cursor(std::uint64_t lookups, std::int64_t id) {
  std::ostringstream out;
  Poco::Base64Encoder encoder(out, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
  encoder << kCursorKind << lookups << ':' << id;
  encoder.close();
  return out.str();
}

bool parse_number(std::string_view text, std::uint64_t& value) {
  auto [next, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && next == text.data() + text.size() && !text.empty();
}

// The query's position after a cursor; false when `cursor` is not one of this list.
bool parse_lookup_cursor(const std::string& cursor, storage::UnregisteredLookupQuery& query) {
  if (cursor.empty() || cursor.size() > 80 ||
      cursor.find_first_not_of(
          "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") !=
          std::string::npos) {
    return false;
  }
  std::string decoded;
  try {
    std::istringstream in(cursor);
    Poco::Base64Decoder decoder(in, Poco::BASE64_URL_ENCODING | Poco::BASE64_NO_PADDING);
    decoded.assign(std::istreambuf_iterator<char>(decoder), {});
  } catch (const std::exception&) {
    return false;
  }
  std::string_view rest(decoded);
  if (!rest.starts_with(kCursorKind)) return false;
  rest.remove_prefix(kCursorKind.size());
  const std::size_t colon = rest.find(':');
  std::uint64_t lookups = 0, id = 0;
  if (colon == std::string_view::npos || !parse_number(rest.substr(0, colon), lookups) ||
      !parse_number(rest.substr(colon + 1), id) || id == 0 ||
      id > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
    return false;
  }
  query.after_lookups = lookups;
  query.after_id = static_cast<std::int64_t>(id);
  return true;
}

}  // namespace

Reply list_unregistered_lookups(Context& context) {
  IOTREG_HTTP_TRY_ASSIGN(parameters,
                         QueryParameters::parse(context.request(), {"since", "limit", "cursor"}));
  storage::UnregisteredLookupQuery query;
  std::size_t limit = 50;
  if (auto text = parameters.get("limit")) {
    std::uint64_t value = 0;
    if (!parse_number(*text, value) || value < 1 || value > 500) {
      return Reply::error(400, "limit must be a whole number from 1 to 500");
    }
    limit = static_cast<std::size_t>(value);
  }
  if (auto cursor = parameters.get("cursor"); cursor && !parse_lookup_cursor(*cursor, query)) {
    return Reply::error(400,
                        "cursor: not a cursor of this list (pass next_cursor from the previous "
                        "page unchanged)");
  }
  if (auto since = parameters.get("since")) {
    if (!importers::is_calendar_date(*since)) {
      return Reply::error(400, "since must be a date, YYYY-MM-DD");
    }
    query.seen_since = *since;
  }
  // What this server gathered goes to the registry first; other servers' within their interval.
  static_cast<void>(context.server().unregistered_lookups.flush(context.server().pool));
  query.limit = limit + 1;
  auto storage = context.storage();
  if (!storage.is_ok()) return Reply::from_status(storage.status());
  auto entries = storage.value()->unregistered_lookups(query);
  if (!entries.is_ok()) return Reply::from_status(entries.status());
  Json items = Json::array();
  for (std::size_t i = 0; i < entries->size() && i < limit; ++i) {
    items.push_back(views::unregistered_lookup_json(entries.value()[i]));
  }
  Json cursor = nullptr;
  if (entries->size() > limit) {
    const auto& last = entries.value()[limit - 1];
    cursor = lookup_cursor(last.lookups, last.id);
  }
  return Reply::json(200, {{"items", std::move(items)}, {"next_cursor", std::move(cursor)}});
}

}  // namespace iotreg::http
