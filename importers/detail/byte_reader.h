// Private to importers/: ByteReader reads a stream through a buffer of its own, byte by byte or
// line by line, counting lines, so that the text readers can bound every record they collect
// (ReaderLimits::max_record_bytes) instead of letting a parser buffer input without end. It
// borrows the streambuf, which must outlive it; one instance is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

namespace iotreg::importers::detail {

class ByteReader {
 public:
  explicit ByteReader(std::streambuf& in);
  ByteReader(const ByteReader&) = delete;
  ByteReader& operator=(const ByteReader&) = delete;

  // The next byte (0-255) without consuming it, or -1 at the end of input.
  int peek() {
    if (pos_ == end_ && !refill()) return -1;
    return static_cast<unsigned char>(buffer_[pos_]);
  }
  // Consumes and returns the next byte, or -1 at the end of input.
  int get() {
    const int byte = peek();
    if (byte >= 0) {
      ++pos_;
      if (byte == '\n') new_line();
    }
    return byte;
  }

  // The buffered bytes not yet consumed, reading more when there are none; empty at the end of
  // input. Valid until the next call of any other member.
  std::string_view window() {
    if (pos_ == end_ && !refill()) return {};
    return {buffer_.data() + pos_, end_ - pos_};
  }
  // Consumes the first `count` bytes of the window.
  void skip(std::size_t count);

  enum class Line { kRead, kEnd, kTooLong };
  // Reads the next line into `line`, without its LF or CR LF. kEnd when no byte is left;
  // kTooLong when the line holds more than `max_bytes` bytes: then `line` holds the first
  // max_bytes + 1 of them and the rest is left unread.
  Line read_line(std::string& line, std::size_t max_bytes);

  std::uint64_t consumed() const { return base_ + pos_; }  // bytes consumed so far
  std::uint64_t line() const { return line_; }             // 1-based line of the next byte
  std::uint64_t column() const { return consumed() - line_start_ + 1; }  // its byte column

 private:
  bool refill();
  void new_line() {
    ++line_;
    line_start_ = consumed();
  }

  std::streambuf& in_;
  std::vector<char> buffer_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  std::uint64_t base_ = 0;  // stream offset of buffer_[0]
  std::uint64_t line_ = 1;
  std::uint64_t line_start_ = 0;
  bool ended_ = false;
};

}  // namespace iotreg::importers::detail
