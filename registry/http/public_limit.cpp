#include "registry/http/detail/public_limit.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <cmath>

#include "registry/access/session.h"

namespace iotreg::http {
namespace {

constexpr std::string_view kPublicPrefix = "/public/";

std::string rate_text(double rate) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", rate);
  return text;
}

}  // namespace

bool is_public_target(std::string_view target) {
  const std::string_view path = target.substr(0, target.find('?'));
  // The usual case needs no decoding: an origin-form path without percent-escapes.
  if (!path.empty() && path.front() == '/' && path.find('%') == std::string_view::npos) {
    return path.starts_with(kPublicPrefix);
  }
  try {
    // Decoded as the router sees it, so that /%70ublic/ is covered too.
    return Poco::URI(std::string(target)).getPath().starts_with(kPublicPrefix);
  } catch (const Poco::Exception&) {
    return false;  // answered 400 by the worker
  }
}

bool carries_credentials(const RequestHead& head) {
  if (head.find("authorization") != nullptr) return true;
  const std::string* cookies = head.find("cookie");
  if (cookies == nullptr) return false;
  return cookies->find(std::string(access::kSessionCookie) + "=") != std::string::npos;
}

ClientKey request_client(const RequestHead& head, const std::string& peer,
                         const TrustedProxies& proxies) {
  if (proxies.empty() || !proxies.trusts(peer)) return client_key(peer);
  std::string forwarded_for;
  for (const auto& [name, value] : head.fields) {
    if (name != "x-forwarded-for") continue;
    if (!forwarded_for.empty()) forwarded_for += ',';
    forwarded_for += value;
  }
  return client_key(proxies.client_of(peer, forwarded_for));
}

Reply too_many_requests(const ServerOptions& options, std::chrono::seconds retry_after) {
  const auto seconds = std::max<std::int64_t>(1, retry_after.count());
  Reply reply = Reply::error(429, "too many requests from your address: the public pages answer " +
                                      rate_text(options.public_rate) +
                                      " a second per client, in bursts of up to " +
                                      rate_text(std::floor(options.public_burst)) +
                                      "; try again in " + std::to_string(seconds) + " s");
  reply.headers.emplace_back("Retry-After", std::to_string(seconds));
  reply.headers.emplace_back("Cache-Control", "no-store");
  return reply;
}

}  // namespace iotreg::http
