#include "registry/http/detail/reply_writer.h"

#include <Poco/DateTime.h>
#include <Poco/DateTimeFormat.h>
#include <Poco/DateTimeParser.h>
#include <Poco/Net/HTTPResponse.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <functional>
#include <optional>

namespace iotreg::http {
namespace {

// An IMF-fixdate (RFC 9110 5.6.7) of `time`.
std::string http_date(std::time_t time) {
  std::tm utc{};
  gmtime_r(&time, &utc);
  char text[40];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return text;
}

std::string http_date() { return http_date(std::time(nullptr)); }

// The time an If-Modified-Since field names, in any of the three forms RFC 9110 5.6.7 asks a
// recipient to accept; nullopt when it names none, or a time still to come (no copy can be
// from then).
std::optional<std::time_t> modified_since(const std::string& field) {
  Poco::DateTime parsed;
  int zone = 0;
  if (!Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::HTTP_FORMAT, field, parsed, zone) &&
      !Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::RFC850_FORMAT, field, parsed, zone) &&
      !Poco::DateTimeParser::tryParse(Poco::DateTimeFormat::ASCTIME_FORMAT, field, parsed, zone)) {
    return std::nullopt;
  }
  parsed.makeUTC(zone);
  const std::time_t since = parsed.timestamp().epochTime();
  if (since > std::time(nullptr)) return std::nullopt;
  return since;
}

// "0123456789abcdef": a 64-bit hash of `bytes`, in hex. The standard library's string hash
// (MurmurHash64A in libstdc++) reads 8 bytes a step: a search reply of 30 KB costs microseconds.
// It is the same for the same bytes in every process of one build, which is what an ETag shared
// by several servers of a registry needs.
std::string body_hash(std::string_view bytes) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx",
                static_cast<unsigned long long>(std::hash<std::string_view>{}(bytes)));
  return text;
}

// Whether an If-None-Match field (`*`, or entity tags separated by commas, weak or strong)
// names `etag`; compared weakly, as RFC 9110 13.1.2 asks for GET.
bool names_tag(std::string_view field, std::string_view etag) {
  std::size_t start = 0;
  while (start < field.size()) {
    std::size_t end = field.find(',', start);
    if (end == std::string_view::npos) end = field.size();
    std::string_view tag = field.substr(start, end - start);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag == "*") return true;
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == etag) return true;
    start = end + 1;
  }
  return false;
}

}  // namespace

void add_validators(const Request& request, std::chrono::seconds public_max_age, Reply& reply) {
  if ((request.method != "GET" && request.method != "HEAD") || reply.status != 200 ||
      reply.stream) {
    return;
  }
  const std::string etag = "\"" + body_hash(reply.body) + "\"";
  reply.headers.emplace_back("ETag", etag);
  std::optional<std::time_t> last_modified;
  if (reply.last_modified) {
    last_modified = std::chrono::system_clock::to_time_t(*reply.last_modified);
    reply.headers.emplace_back("Last-Modified", http_date(*last_modified));
  }
  const bool has_cache_control =
      std::any_of(reply.headers.begin(), reply.headers.end(),
                  [](const auto& header) { return header.first == "Cache-Control"; });
  if (!has_cache_control) {
    reply.headers.emplace_back("Cache-Control",
                               request.path.starts_with("/public/")
                                   ? "public, max-age=" + std::to_string(public_max_age.count())
                                   : std::string("private, no-cache"));
  }
  // If-None-Match, when sent, decides alone (RFC 9110 13.2.2).
  bool unchanged = false;
  if (!request.if_none_match.empty()) {
    unchanged = names_tag(request.if_none_match, etag);
  } else if (last_modified && !request.if_modified_since.empty()) {
    const auto since = modified_since(request.if_modified_since);
    unchanged = since && *last_modified <= *since;
  }
  if (unchanged) {
    reply.status = 304;
    reply.body.clear();
  }
}

std::string reply_head(const Reply& reply, std::string_view request_id, bool keep_alive,
                       std::optional<std::size_t> content_length) {
  std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " +
                     Poco::Net::HTTPResponse::getReasonForStatus(
                         static_cast<Poco::Net::HTTPResponse::HTTPStatus>(reply.status)) +
                     "\r\n";
  auto field = [&head](std::string_view name, std::string_view value) {
    head.append(name).append(": ").append(value).append("\r\n");
  };
  field("Date", http_date());
  // A 304 has no content, and says nothing of the length the 200 would have had.
  if (reply.status != 304) {
    field("Content-Type", reply.content_type);
    if (content_length) {
      field("Content-Length", std::to_string(*content_length));
    } else {
      field("Transfer-Encoding", "chunked");
    }
  }
  field("Connection", keep_alive ? "keep-alive" : "close");
  field("X-Request-Id", request_id);
  field("X-Content-Type-Options", "nosniff");
  field("Referrer-Policy", "no-referrer");
  for (const auto& [name, value] : reply.headers) field(name, value);
  head += "\r\n";
  return head;
}

void add_request_id(Reply& reply, std::string_view request_id) {
  Json body = Json::parse(reply.body, nullptr, /*allow_exceptions=*/false);
  if (!body.is_object() || !body.contains("error") || !body["error"].is_object()) return;
  body["error"]["request_id"] = request_id;
  reply.body = views::dump(body);
}

std::string error_reply(int status, std::string_view message, std::string_view request_id,
                        int retry_after_seconds) {
  Reply reply = Reply::error(status, message);
  add_request_id(reply, request_id);
  if (retry_after_seconds > 0) {
    reply.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  }
  return reply_head(reply, request_id, /*keep_alive=*/false, reply.body.size()) + reply.body;
}

}  // namespace iotreg::http
