// libFuzzer target: the server's HTTP/1.1 request reader, bytes any client may send. Whatever
// the bytes, reading them whole, a byte at a time or in pieces of 7 gives the same requests and
// the same refusals; a refusal is one of the statuses the reader documents; a body never
// exceeds its limit; and the bytes consumed never exceed those given. The replay build
// (IOTREG_REPLAY_MUTATIONS) also reads deterministic byte mutations of each input.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "registry/http/detail/request_reader.h"

namespace {

using iotreg::http::RequestReader;
constexpr std::size_t kBodyLimit = 1024;

// What reading `input` in pieces of `piece` bytes gave: each request or refusal, summarised.
std::vector<std::string> read_all(std::string_view input, std::size_t piece) {
  std::vector<std::string> requests;
  RequestReader reader;
  std::size_t at = 0;
  while (requests.size() < 8) {
    const std::size_t offered = std::min(piece, input.size() - at);
    const std::size_t used = reader.feed(input.substr(at, offered));
    if (used > offered) std::abort();
    at += used;
    switch (reader.state()) {
      case RequestReader::State::kHeadRead:
        reader.begin_body(kBodyLimit);
        break;
      case RequestReader::State::kComplete: {
        if (reader.body().size() > kBodyLimit) std::abort();
        const auto& head = reader.head();
        if (head.target.empty() || head.target.front() != '/') std::abort();
        requests.push_back(head.method + " " + head.target + " " +
                           std::to_string(head.fields.size()) + " " + reader.body());
        reader.reset();
        break;
      }
      case RequestReader::State::kFailed: {
        const int status = reader.error().status;
        if (status != 400 && status != 413 && status != 414 && status != 431) std::abort();
        if (reader.error().message.empty()) std::abort();
        requests.push_back("refused " + std::to_string(status) + " " + reader.error().message);
        return requests;
      }
      default:
        if (at == input.size()) return requests;  // waiting for more
        break;
    }
  }
  return requests;
}

}  // namespace

namespace {

void check(const std::string& input) {
  const auto whole = read_all(input, input.size() + 1);
  if (read_all(input, 1) != whole) std::abort();
  if (read_all(input, 7) != whole) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  check(input);
#ifdef IOTREG_REPLAY_MUTATIONS
  if (size > 0) {
    std::mt19937 random(static_cast<std::uint32_t>(size));
    std::string mutated;
    for (int round = 0; round < IOTREG_REPLAY_MUTATIONS; ++round) {
      mutated = input;
      for (unsigned changes = 1 + random() % 4; changes > 0; --changes) {
        mutated[random() % size] = static_cast<char>(random() % 256);
      }
      check(mutated);
    }
  }
#endif
  return 0;
}
