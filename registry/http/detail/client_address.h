// Who a request comes from, for per-client limits: the client's address as a ClientKey, and the
// proxies whose X-Forwarded-For is believed. Private to registry/http.
//
// A ClientKey is an IPv4 address, or the /64 network of an IPv6 address (one subscriber's
// allocation, in which a host may pick a new address at will; an IPv4-mapped IPv6 address is its
// IPv4 address). X-Forwarded-For is read only from a connection whose peer is a trusted proxy
// (`--trusted-proxy`): anyone else could write any address there and get a new key per request.
// Plain values; TrustedProxies is immutable after parse() and safe to share between threads.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"

namespace iotreg::http {

struct ClientKey {
  // IPv4 addresses as IPv4-mapped IPv6 (::ffff:a.b.c.d); IPv6 with the last 64 bits zero.
  std::array<std::uint8_t, 16> bytes{};
  bool operator==(const ClientKey& other) const { return bytes == other.bytes; }
};

struct ClientKeyHash {
  std::size_t operator()(const ClientKey& key) const;
};

// An IP address in textual form (as inet_ntop writes it, "?" for an unknown family): its 16
// bytes in IPv6 form, IPv4 mapped; nullopt when it is not an address.
std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view text);

// The key of an address (see above). Text that is not an address is one key of its own (all
// zeros), so that it is limited too.
ClientKey client_key(std::string_view address);

class TrustedProxies {
 public:
  // From addresses and networks in CIDR form ("10.0.0.0/8", "2001:db8::/32", "192.0.2.7");
  // kInvalidArgument naming the first one that is not.
  static Result<TrustedProxies> parse(const std::vector<std::string>& networks);

  bool empty() const { return networks_.empty(); }
  bool trusts(std::string_view address) const;

  // The client a request comes from: its peer, unless the peer is a trusted proxy and the
  // request has X-Forwarded-For (`forwarded_for`: every such field's value, in order, joined by
  // commas). Then it is the rightmost address of that list that is not a trusted proxy (each
  // proxy appends the address it received from; only the entries the trusted ones appended can
  // be believed), or the leftmost when all are trusted. A list that holds something other than
  // addresses names the last trusted hop as the client.
  std::string client_of(std::string_view peer, std::string_view forwarded_for) const;

 private:
  struct Network {
    std::array<std::uint8_t, 16> bytes{};
    int prefix_bits = 128;
  };
  std::vector<Network> networks_;
};

}  // namespace iotreg::http
