#include "registry/http/detail/request_reader.h"

#include <algorithm>

namespace iotreg::http {
namespace {

// Bytes of a request head (request line and fields) at most: a larger one is refused with 431,
// or with 414 while the request line alone has not ended.
constexpr std::size_t kMaxHeadBytes = 64 * 1024;
constexpr std::size_t kMaxChunkLine = 1024;
constexpr std::size_t kMaxTrailerBytes = 8 * 1024;

bool is_token_char(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

bool is_token(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) {
    return is_token_char(static_cast<unsigned char>(c));
  });
}

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// The comma-separated elements of a field value, trimmed and in lower case; empty ones dropped.
std::vector<std::string> list_elements(std::string_view value) {
  std::vector<std::string> elements;
  while (!value.empty()) {
    std::size_t comma = value.find(',');
    std::string_view element = trim(value.substr(0, comma));
    if (!element.empty()) elements.push_back(lower(element));
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return elements;
}

}  // namespace

std::string printable_request_text(std::string_view text, std::size_t at_most) {
  std::string out;
  for (unsigned char c : text.substr(0, at_most)) {
    if (c >= 0x20 && c < 0x7f) {
      out.push_back(static_cast<char>(c));
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  if (text.size() > at_most) out += "...";
  return out;
}

const std::string* RequestHead::find(std::string_view lower_case_name) const {
  for (const auto& [name, value] : fields) {
    if (name == lower_case_name) return &value;
  }
  return nullptr;
}

std::size_t RequestReader::feed(std::string_view input) {
  switch (state_) {
    case State::kHead:
      return feed_head(input);
    case State::kBody:
      return head_.chunked ? feed_chunked(input) : feed_body(input);
    default:
      return 0;
  }
}

void RequestReader::reset() {
  const RequestLimits limits = limits_;
  *this = RequestReader(limits);
}

void RequestReader::fail(int status, std::string message) {
  state_ = State::kFailed;
  error_ = {status, std::move(message)};
}

std::size_t RequestReader::feed_head(std::string_view input) {
  std::size_t consumed = 0;
  // Empty lines before a request line are ignored (RFC 9112 2.2), e.g. after a body's CRLF.
  if (head_bytes_.empty()) {
    while (consumed < input.size() && (input[consumed] == '\r' || input[consumed] == '\n')) {
      ++consumed;
    }
    input.remove_prefix(consumed);
    if (input.empty()) return consumed;
  }
  started_ = true;
  const std::size_t before = head_bytes_.size();
  head_bytes_.append(input.substr(0, kMaxHeadBytes + 1 - std::min(before, kMaxHeadBytes)));
  // The head ends with an empty line: LF, an optional CR, LF.
  std::size_t from = scanned_ > 2 ? scanned_ - 2 : 0;
  std::size_t end = std::string::npos;
  for (std::size_t lf = head_bytes_.find('\n', from); lf != std::string::npos;
       lf = head_bytes_.find('\n', lf + 1)) {
    std::size_t next = lf + 1;
    if (next < head_bytes_.size() && head_bytes_[next] == '\r') ++next;
    if (next < head_bytes_.size() && head_bytes_[next] == '\n') {
      end = next + 1;
      break;
    }
  }
  if (end == std::string::npos) {
    scanned_ = head_bytes_.size();
    if (head_bytes_.size() > kMaxHeadBytes) {
      if (head_bytes_.find('\n') == std::string::npos) {
        fail(414, "the request target is too long (at most " +
                      std::to_string(limits_.max_target / 1024) + " KiB)");
      } else {
        fail(431, "the request header is too large (at most " +
                      std::to_string(kMaxHeadBytes / 1024) + " KiB)");
      }
    }
    return consumed + (head_bytes_.size() - before);
  }
  head_bytes_.resize(end);
  parse_head();
  return consumed + (end - before);
}

void RequestReader::parse_head() {
  std::vector<std::string_view> lines;
  std::string_view rest(head_bytes_);
  while (!rest.empty()) {
    std::size_t lf = rest.find('\n');
    std::string_view line = rest.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find('\r') != std::string_view::npos) {
      return fail(400, "malformed HTTP request: a carriage return inside a line");
    }
    lines.push_back(line);
    rest.remove_prefix(lf + 1);
  }
  lines.pop_back();  // the empty line that ends the head

  // request-line = method SP request-target SP HTTP-version
  const std::string_view request_line = lines.front();
  const std::size_t first_space = request_line.find(' ');
  const std::size_t last_space = request_line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) {
    return fail(400, "malformed HTTP request line '" + printable_request_text(request_line) +
                         "' (expected: METHOD /path HTTP/1.1)");
  }
  const std::string_view method = request_line.substr(0, first_space);
  const std::string_view target =
      request_line.substr(first_space + 1, last_space - first_space - 1);
  const std::string_view version = request_line.substr(last_space + 1);
  if (target.size() > limits_.max_target) {
    return fail(414, "the request target is too long (at most " +
                         std::to_string(limits_.max_target / 1024) + " KiB)");
  }
  if (!is_token(method) || method.size() > 32) {
    return fail(400, "malformed HTTP request: the method '" + printable_request_text(method) +
                         "' is not a method name");
  }
  if (version == "HTTP/1.1") {
    head_.minor_version = 1;
  } else if (version == "HTTP/1.0") {
    head_.minor_version = 0;
  } else {
    return fail(400, "unsupported HTTP version '" + printable_request_text(version) +
                         "' (this server speaks HTTP/1.1 and HTTP/1.0)");
  }
  if (target.empty() || target.front() != '/') {
    return fail(400, target.find("://") != std::string_view::npos
                         ? "the request target must be a path: absolute-form targets ('" +
                               printable_request_text(target) +
                               "') are for proxies, which this server is not"
                         : "the request target must be a path starting with '/', not '" +
                               printable_request_text(target) + "'");
  }
  for (unsigned char c : target) {
    if (c <= 0x20 || c >= 0x7f) {
      return fail(400, "the request target contains a character that must be percent-encoded: '" +
                           printable_request_text(target) + "'");
    }
  }
  head_.method = method;
  head_.target = target;

  for (std::size_t i = 1; i < lines.size(); ++i) {
    std::string_view line = lines[i];
    if (line.front() == ' ' || line.front() == '\t') {
      return fail(400, "a header field continued on the next line (obs-fold) is not allowed: '" +
                           printable_request_text(line) + "'");
    }
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos) {
      return fail(400,
                  "malformed header field line '" + printable_request_text(line) + "' (no colon)");
    }
    const std::string_view name = line.substr(0, colon);
    if (name.size() > limits_.max_name) {
      return fail(431, "the request header is too large (a field name over " +
                           std::to_string(limits_.max_name) + " bytes)");
    }
    if (!is_token(name)) {
      return fail(400, "malformed header field name '" + printable_request_text(name) +
                           "' (no whitespace is allowed before the colon)");
    }
    const std::string_view value = trim(line.substr(colon + 1));
    if (value.size() > limits_.max_value) {
      return fail(431, "the request header is too large (field " + printable_request_text(name) +
                           " is over " + std::to_string(limits_.max_value / 1024) + " KiB)");
    }
    for (unsigned char c : value) {
      if ((c < 0x20 && c != '\t') || c == 0x7f) {
        return fail(
            400, "header field " + printable_request_text(name) + " contains a control character");
      }
    }
    if (head_.fields.size() == limits_.max_fields) {
      return fail(431, "the request header is too large (more than " +
                           std::to_string(limits_.max_fields) + " fields)");
    }
    head_.fields.emplace_back(lower(name), std::string(value));
  }

  // Framing (RFC 9112 6.1-6.3), strictly: anything two parties could read differently is
  // refused.
  std::size_t hosts = 0;
  std::vector<std::string> lengths;
  std::vector<std::string> codings;
  std::vector<std::string> connection;
  for (const auto& [name, value] : head_.fields) {
    if (name == "host") ++hosts;
    if (name == "content-length") lengths.push_back(value);
    if (name == "transfer-encoding") {
      auto elements = list_elements(value);
      if (elements.empty()) elements.emplace_back();  // an empty coding: refused below
      codings.insert(codings.end(), elements.begin(), elements.end());
    }
    if (name == "connection") {
      for (auto& option : list_elements(value)) connection.push_back(std::move(option));
    }
    if (name == "expect") head_.expect_continue = lower(value) == "100-continue";
  }
  if (hosts == 0 && head_.minor_version == 1) {
    return fail(400, "an HTTP/1.1 request must have a Host field");
  }
  if (hosts > 1) return fail(400, "the request has more than one Host field");
  if (lengths.size() > 1) {
    std::string all;
    for (const auto& length : lengths)
      all += (all.empty() ? "" : ", ") + printable_request_text(length);
    return fail(400, "the request has more than one Content-Length field (" + all + ")");
  }
  if (!codings.empty()) {
    if (head_.minor_version == 0) {
      return fail(400, "Transfer-Encoding is not allowed in an HTTP/1.0 request");
    }
    if (!lengths.empty()) {
      return fail(400, "the request has both Content-Length and Transfer-Encoding");
    }
    if (codings.back() != "chunked") {
      return fail(400, "chunked must be the final transfer coding of a request");
    }
    if (codings.size() > 1) {
      return fail(400, "unsupported transfer coding '" + printable_request_text(codings.front()) +
                           "' (only chunked is accepted)");
    }
    head_.chunked = true;
  }
  if (!lengths.empty()) {
    const std::string& length = lengths.front();
    if (length.empty() || length.size() > 18 ||
        length.find_first_not_of("0123456789") != std::string::npos) {
      return fail(400, "Content-Length must be a whole number of bytes, not '" +
                           printable_request_text(length) + "'");
    }
    head_.content_length = std::stoull(length);
  }
  const bool close = std::count(connection.begin(), connection.end(), "close") > 0;
  const bool keep = std::count(connection.begin(), connection.end(), "keep-alive") > 0;
  head_.keep_alive = head_.minor_version == 1 ? !close : keep && !close;
  state_ = State::kHeadRead;
}

void RequestReader::begin_body(std::size_t limit) {
  if (state_ != State::kHeadRead) return;
  body_limit_ = limit;
  if (head_.chunked) {
    state_ = State::kBody;
    return;
  }
  const std::uint64_t length = head_.content_length.value_or(0);
  if (length > limit) {
    return fail(413, "the body is larger than " + std::to_string(limit) + " bytes");
  }
  if (length == 0) {
    state_ = State::kComplete;
    return;
  }
  body_.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(length, 16u << 20)));
  remaining_ = length;
  state_ = State::kBody;
}

bool RequestReader::append_body(std::string_view bytes) {
  if (body_.size() + bytes.size() > body_limit_) {
    fail(413, "the body is larger than " + std::to_string(body_limit_) + " bytes");
    return false;
  }
  body_.append(bytes);
  return true;
}

std::size_t RequestReader::feed_body(std::string_view input) {
  const std::size_t take =
      static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size()));
  body_.append(input.substr(0, take));
  remaining_ -= take;
  if (remaining_ == 0) state_ = State::kComplete;
  return take;
}

std::size_t RequestReader::feed_chunked(std::string_view input) {
  std::size_t at = 0;
  // Reads a line into line_; true once it is complete (its LF consumed, CR dropped).
  auto read_line = [&](std::size_t limit) -> std::optional<bool> {
    const std::size_t lf = input.find('\n', at);
    const std::size_t end = lf == std::string_view::npos ? input.size() : lf;
    line_.append(input.substr(at, end - at));
    at = lf == std::string_view::npos ? input.size() : lf + 1;
    if (line_.size() > limit) return std::nullopt;
    if (lf == std::string_view::npos) return false;
    if (!line_.empty() && line_.back() == '\r') line_.pop_back();
    return true;
  };
  while (at < input.size() && state_ == State::kBody) {
    switch (chunk_) {
      case Chunk::kSize: {
        auto complete = read_line(kMaxChunkLine);
        if (!complete) {
          fail(400, "malformed chunked body: a chunk-size line is too long");
          return at;
        }
        if (!*complete) break;
        const std::size_t digits =
            std::min(line_.find_first_not_of("0123456789abcdefABCDEF"), line_.size());
        const std::string_view extension = trim(std::string_view(line_).substr(digits));
        if (digits == 0 || digits > 15 || (!extension.empty() && extension.front() != ';')) {
          fail(400,
               "malformed chunked body: bad chunk size '" + printable_request_text(line_) + "'");
          return at;
        }
        remaining_ = std::stoull(line_.substr(0, digits), nullptr, 16);
        line_.clear();
        if (remaining_ > body_limit_ - body_.size()) {
          fail(413, "the body is larger than " + std::to_string(body_limit_) + " bytes");
          return at;
        }
        chunk_ = remaining_ == 0 ? Chunk::kTrailer : Chunk::kData;
        break;
      }
      case Chunk::kData: {
        const std::size_t take =
            static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, input.size() - at));
        if (!append_body(input.substr(at, take))) return at;
        at += take;
        remaining_ -= take;
        if (remaining_ == 0) chunk_ = Chunk::kDataEnd;
        break;
      }
      case Chunk::kDataEnd: {
        auto complete = read_line(1);
        if (!complete || (*complete && !line_.empty())) {
          fail(400, "malformed chunked body: a chunk's data is not followed by CRLF");
          return at;
        }
        if (*complete) {
          line_.clear();
          chunk_ = Chunk::kSize;
        }
        break;
      }
      case Chunk::kTrailer: {
        const std::size_t before = at;
        auto complete = read_line(kMaxTrailerBytes);
        trailer_bytes_ += at - before;
        if (!complete || trailer_bytes_ > kMaxTrailerBytes) {
          fail(400, "malformed chunked body: the trailer is too long");
          return at;
        }
        if (!*complete) break;
        if (line_.empty()) state_ = State::kComplete;  // trailer fields are read and ignored
        line_.clear();
        break;
      }
    }
  }
  return at;
}

}  // namespace iotreg::http
