// Test support: GeneratedInput, a stream buffer that serves a long input without holding it:
// `prefix`, then `unit` repeated `repeat` times, then `suffix`, one block at a time. It counts
// what it served, so a test can show that a reader stopped long before the end. One thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <streambuf>
#include <string>
#include <utility>

namespace iotreg::testing {

class GeneratedInput : public std::streambuf {
 public:
  GeneratedInput(std::string prefix, std::string unit, std::size_t repeat, std::string suffix)
      : prefix_(std::move(prefix)),
        unit_(std::move(unit)),
        repeat_(repeat),
        suffix_(std::move(suffix)) {}

  std::uint64_t total_bytes() const {
    return prefix_.size() + static_cast<std::uint64_t>(unit_.size()) * repeat_ + suffix_.size();
  }
  // Bytes handed to the reader so far (whole blocks: at most one block more than it consumed).
  std::uint64_t bytes_served() const { return served_; }

 protected:
  int_type underflow() override {
    block_.clear();
    while (block_.size() < kBlockBytes && stage_ < 3) {
      if (stage_ == 0) {
        block_ += prefix_;
        stage_ = 1;
      } else if (stage_ == 1 && emitted_ < repeat_) {
        block_ += unit_;
        ++emitted_;
      } else if (stage_ == 1) {
        stage_ = 2;
      } else {
        block_ += suffix_;
        stage_ = 3;
      }
    }
    if (block_.empty()) return traits_type::eof();
    served_ += block_.size();
    setg(block_.data(), block_.data(), block_.data() + block_.size());
    return traits_type::to_int_type(block_[0]);
  }

 private:
  static constexpr std::size_t kBlockBytes = 16 * 1024;
  std::string prefix_;
  std::string unit_;
  std::size_t repeat_;
  std::string suffix_;
  std::string block_;
  int stage_ = 0;
  std::size_t emitted_ = 0;
  std::uint64_t served_ = 0;
};

}  // namespace iotreg::testing
