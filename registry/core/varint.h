// Little-endian base-128 integers and length-prefixed text: the building blocks of iotreg's
// compact stored forms. ByteReader never reads past its end: every read reports failure
// instead. Plain values, no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace iotreg {

inline void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7F) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

inline void put_text(std::string& out, std::string_view text) {
  put_varint(out, text.size());
  out.append(text);
}

class ByteReader {
 public:
  explicit ByteReader(std::string_view data) : data_(data) {}
  bool done() const { return position_ == data_.size(); }
  std::size_t position() const { return position_; }
  std::string_view rest() const { return data_.substr(position_); }

  bool varint(std::uint64_t& value) {
    value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (position_ == data_.size()) return false;
      auto byte = static_cast<unsigned char>(data_[position_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7F) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  }
  bool byte(unsigned char& value) {
    if (position_ == data_.size()) return false;
    value = static_cast<unsigned char>(data_[position_++]);
    return true;
  }
  // A length-prefixed text, viewed in place.
  bool text(std::string_view& value) {
    std::uint64_t size = 0;
    if (!varint(size) || size > data_.size() - position_) return false;
    value = data_.substr(position_, size);
    position_ += size;
    return true;
  }

 private:
  std::string_view data_;
  std::size_t position_ = 0;
};

}  // namespace iotreg
