#include "registry/http/detail/reply_writer.h"

#include <Poco/Net/HTTPResponse.h>

#include <ctime>

namespace iotreg::http {
namespace {

// An IMF-fixdate (RFC 9110 5.6.7) of now.
std::string http_date() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char text[40];
  std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
  return text;
}

}  // namespace

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
  field("Content-Type", reply.content_type);
  if (content_length) {
    field("Content-Length", std::to_string(*content_length));
  } else {
    field("Transfer-Encoding", "chunked");
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
