#include "importers/detail/byte_reader.h"

#include <cstring>

namespace iotreg::importers::detail {
namespace {
constexpr std::size_t kBufferBytes = 64 * 1024;
}  // namespace

ByteReader::ByteReader(std::streambuf& in) : in_(in), buffer_(kBufferBytes) {}

bool ByteReader::refill() {
  if (ended_) return false;
  base_ += end_;
  pos_ = 0;
  end_ = 0;
  const std::streamsize got = in_.sgetn(buffer_.data(), static_cast<std::streamsize>(kBufferBytes));
  if (got <= 0) {
    ended_ = true;
    return false;
  }
  end_ = static_cast<std::size_t>(got);
  return true;
}

void ByteReader::skip(std::size_t count) {
  const char* const start = buffer_.data() + pos_;
  for (const char* p = start; (p = static_cast<const char*>(std::memchr(
                                   p, '\n', static_cast<std::size_t>(start + count - p))));
       ++p) {
    ++line_;
    line_start_ = base_ + pos_ + static_cast<std::size_t>(p - start) + 1;
  }
  pos_ += count;
}

ByteReader::Line ByteReader::read_line(std::string& line, std::size_t max_bytes) {
  line.clear();
  if (peek() < 0) return Line::kEnd;
  // One byte more than the limit may be a CR that belongs to the terminator.
  const std::size_t room = max_bytes < SIZE_MAX ? max_bytes + 1 : max_bytes;
  for (;;) {
    if (pos_ == end_ && !refill()) break;  // a last line without a terminator
    const char* start = buffer_.data() + pos_;
    const auto* newline = static_cast<const char*>(std::memchr(start, '\n', end_ - pos_));
    const std::size_t length = newline ? static_cast<std::size_t>(newline - start) : end_ - pos_;
    if (length > room - line.size()) {
      const std::size_t taken = room - line.size();
      line.append(start, taken);
      pos_ += taken;
      return Line::kTooLong;
    }
    line.append(start, length);
    pos_ += length;
    if (newline) {
      ++pos_;
      new_line();
      break;
    }
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line.size() > max_bytes ? Line::kTooLong : Line::kRead;
}

}  // namespace iotreg::importers::detail
