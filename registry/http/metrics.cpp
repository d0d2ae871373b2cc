#include <cstdio>

#include "registry/http/detail/api.h"

namespace iotreg::http {

void Metrics::record(const std::string& route, int status, double seconds) {
  std::lock_guard lock(mutex_);
  ++requests_[{route, status}];
  Histogram& histogram = latency_[route];
  for (std::size_t i = 0; i < std::size(kBuckets); ++i) {
    if (seconds <= kBuckets[i]) ++histogram.counts[i];
  }
  ++histogram.total;
  histogram.sum += seconds;
}

std::string Metrics::render(const std::map<std::string, std::uint64_t>& products_by_status) const {
  auto label = [](std::string_view text) {
    std::string out;
    for (char c : text) {
      if (c == '\\' || c == '"') out.push_back('\\');
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out.push_back(c);
    }
    return out;
  };
  std::string out =
      "# HELP iotreg_http_requests_total HTTP requests answered, by route and status.\n"
      "# TYPE iotreg_http_requests_total counter\n";
  std::lock_guard lock(mutex_);
  for (const auto& [key, count] : requests_) {
    out += "iotreg_http_requests_total{route=\"" + label(key.first) + "\",status=\"" +
           std::to_string(key.second) + "\"} " + std::to_string(count) + "\n";
  }
  out +=
      "# HELP iotreg_http_request_duration_seconds Time from reading a request to answering it.\n"
      "# TYPE iotreg_http_request_duration_seconds histogram\n";
  for (const auto& [route, histogram] : latency_) {
    const std::string name = "iotreg_http_request_duration_seconds";
    const std::string route_label = "route=\"" + label(route) + "\"";
    for (std::size_t i = 0; i < std::size(kBuckets); ++i) {
      char bound[32];
      std::snprintf(bound, sizeof bound, "%g", kBuckets[i]);
      out += name + "_bucket{" + route_label + ",le=\"" + bound + "\"} " +
             std::to_string(histogram.counts[i]) + "\n";
    }
    out +=
        name + "_bucket{" + route_label + ",le=\"+Inf\"} " + std::to_string(histogram.total) + "\n";
    char sum[64];
    std::snprintf(sum, sizeof sum, "%.6f", histogram.sum);
    out += name + "_sum{" + route_label + "} " + sum + "\n";
    out += name + "_count{" + route_label + "} " + std::to_string(histogram.total) + "\n";
  }
  out +=
      "# HELP iotreg_products Registered products by status.\n"
      "# TYPE iotreg_products gauge\n";
  for (const auto& [status, count] : products_by_status) {
    out += "iotreg_products{status=\"" + label(status) + "\"} " + std::to_string(count) + "\n";
  }
  return out;
}

}  // namespace iotreg::http
