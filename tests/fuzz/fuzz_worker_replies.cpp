// libFuzzer target: the host's decoders of what a check worker sends back (plugin descriptions
// and findings), bytes that an untrusted plugin may have written. Whatever the bytes, a decoder
// either decodes or refuses with a reason; what it decodes keeps the protocol's limits; nothing
// is read outside the input, which is copied to a buffer of exactly its size so that the
// sanitizers see any overrun. Each input is decoded whole and cut at every length; the replay
// build (IOTREG_REPLAY_MUTATIONS) also decodes deterministic byte mutations of each input.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "registry/checks/detail/worker_protocol.h"

namespace {

using iotreg::Result;
using iotreg::checks::Finding;
using iotreg::checks::Outcome;
using iotreg::checks::detail::DescriptorTexts;

constexpr std::size_t kMaxCutInput = 4096;

void decode(const char* data, std::size_t size) {
  std::unique_ptr<char[]> exact(new char[size == 0 ? 1 : size]);
  if (size > 0) std::memcpy(exact.get(), data, size);
  const std::string_view payload(exact.get(), size);
  std::vector<Result<DescriptorTexts>> described;
  for (std::size_t plugins = 1; plugins <= 3; ++plugins) {
    std::string refused = iotreg::checks::protocol::decode_description(payload, plugins, described);
    if (refused.empty() && described.size() != plugins) std::abort();
    if (!refused.empty() && refused.find("garbage") == std::string::npos) std::abort();
  }
  std::vector<Finding> findings;
  for (auto [items, checks] : {std::pair<std::size_t, std::size_t>{1, 1}, {2, 2}, {3, 1}}) {
    std::string refused =
        iotreg::checks::protocol::decode_results(payload, items, checks, findings);
    if (!refused.empty()) continue;
    if (findings.empty() || findings.size() > items * checks || findings.size() % checks != 0) {
      std::abort();
    }
    for (const auto& finding : findings) {
      if (finding.outcome > Outcome::kError ||
          finding.message.size() > iotreg::checks::detail::kMaxMessageBytes ||
          finding.field.size() > iotreg::checks::detail::kMaxFieldBytes) {
        std::abort();
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const char* bytes = reinterpret_cast<const char*>(data);
  decode(bytes, size);
  if (size <= kMaxCutInput) {
    for (std::size_t cut = 0; cut < size; ++cut) decode(bytes, cut);
  }
#ifdef IOTREG_REPLAY_MUTATIONS
  if (size > 0) {
    std::mt19937 random(static_cast<std::uint32_t>(size));
    std::string mutated;
    for (int round = 0; round < IOTREG_REPLAY_MUTATIONS; ++round) {
      mutated.assign(bytes, size);
      for (unsigned changes = 1 + random() % 4; changes > 0; --changes) {
        mutated[random() % size] = static_cast<char>(random() % 256);
      }
      decode(mutated.data(), mutated.size());
    }
  }
#endif
  return 0;
}
