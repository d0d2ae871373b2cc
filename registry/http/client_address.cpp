#include "registry/http/detail/client_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace iotreg::http {
namespace {

constexpr std::array<std::uint8_t, 12> kMappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool is_mapped_ipv4(const std::array<std::uint8_t, 16>& bytes) {
  return std::memcmp(bytes.data(), kMappedPrefix.data(), kMappedPrefix.size()) == 0;
}

std::string_view trimmed(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// An X-Forwarded-For entry: an address, or one in brackets or with a port as some proxies write
// it ("[2001:db8::1]:4711", "192.0.2.1:4711").
std::optional<std::array<std::uint8_t, 16>> parse_forwarded_entry(std::string_view entry) {
  entry = trimmed(entry);
  if (auto plain = parse_ip(entry)) return plain;
  if (entry.size() > 2 && entry.front() == '[') {
    const std::size_t close = entry.find(']');
    if (close != std::string_view::npos) return parse_ip(entry.substr(1, close - 1));
  }
  const std::size_t colon = entry.rfind(':');
  if (colon != std::string_view::npos && entry.find(':') == colon) {
    return parse_ip(entry.substr(0, colon));
  }
  return std::nullopt;
}

std::string address_text(const std::array<std::uint8_t, 16>& bytes) {
  char text[INET6_ADDRSTRLEN] = "?";
  if (is_mapped_ipv4(bytes)) {
    inet_ntop(AF_INET, bytes.data() + 12, text, sizeof text);
  } else {
    inet_ntop(AF_INET6, bytes.data(), text, sizeof text);
  }
  return text;
}

}  // namespace

std::size_t ClientKeyHash::operator()(const ClientKey& key) const {
  std::uint64_t hash = 14695981039346656037ULL;  // FNV-1a
  for (std::uint8_t byte : key.bytes) {
    hash ^= byte;
    hash *= 1099511628211ULL;
  }
  return static_cast<std::size_t>(hash);
}

std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view text) {
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
  char terminated[INET6_ADDRSTRLEN] = {};
  std::memcpy(terminated, text.data(), text.size());
  std::array<std::uint8_t, 16> bytes{};
  if (inet_pton(AF_INET6, terminated, bytes.data()) == 1) return bytes;
  std::memcpy(bytes.data(), kMappedPrefix.data(), kMappedPrefix.size());
  if (inet_pton(AF_INET, terminated, bytes.data() + 12) == 1) return bytes;
  return std::nullopt;
}

ClientKey client_key(std::string_view address) {
  ClientKey key;
  auto parsed = parse_ip(address);
  if (!parsed) return key;
  key.bytes = *parsed;
  if (!is_mapped_ipv4(key.bytes)) std::fill(key.bytes.begin() + 8, key.bytes.end(), 0);
  return key;
}

Result<TrustedProxies> TrustedProxies::parse(const std::vector<std::string>& networks) {
  TrustedProxies proxies;
  for (const std::string& text : networks) {
    const std::string_view whole(text);
    const std::size_t slash = whole.find('/');
    auto address = parse_ip(whole.substr(0, slash));
    Network network;
    bool ok = address.has_value();
    if (ok) {
      network.bytes = *address;
      const bool v4 = is_mapped_ipv4(network.bytes);
      network.prefix_bits = 128;
      if (slash != std::string_view::npos) {
        const std::string_view bits = whole.substr(slash + 1);
        int value = -1;
        auto [end, error] = std::from_chars(bits.data(), bits.data() + bits.size(), value);
        ok = error == std::errc() && end == bits.data() + bits.size() && !bits.empty() &&
             value >= 0 && value <= (v4 ? 32 : 128);
        network.prefix_bits = v4 ? 96 + value : value;
      }
    }
    if (!ok) {
      return Status::invalid_argument("--trusted-proxy " + text +
                                      ": expected an IP address or a network in CIDR form "
                                      "(10.0.0.0/8, 2001:db8::/32)");
    }
    proxies.networks_.push_back(network);
  }
  return proxies;
}

bool TrustedProxies::trusts(std::string_view address) const {
  if (networks_.empty()) return false;
  auto parsed = parse_ip(address);
  if (!parsed) return false;
  for (const Network& network : networks_) {
    bool inside = true;
    for (int bit = 0; bit < network.prefix_bits && inside; bit += 8) {
      const int bits = std::min(8, network.prefix_bits - bit);
      const auto mask = static_cast<std::uint8_t>(0xff << (8 - bits));
      inside = ((*parsed)[bit / 8] & mask) == (network.bytes[bit / 8] & mask);
    }
    if (inside) return true;
  }
  return false;
}

std::string TrustedProxies::client_of(std::string_view peer, std::string_view forwarded_for) const {
  if (forwarded_for.empty() || !trusts(peer)) return std::string(peer);
  std::vector<std::string_view> entries;
  for (std::size_t start = 0;;) {
    const std::size_t comma = forwarded_for.find(',', start);
    entries.push_back(forwarded_for.substr(start, comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  // From the right: each entry was appended by the hop after it, trusted so far.
  std::string client(peer);
  for (auto entry = entries.rbegin(); entry != entries.rend(); ++entry) {
    auto address = parse_forwarded_entry(*entry);
    if (!address) return client;
    client = address_text(*address);
    if (!trusts(client)) return client;
  }
  return client;
}

}  // namespace iotreg::http
