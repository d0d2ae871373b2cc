// libFuzzer target: the xlsx reader with the built-in schema (ZIP container, XML parts and
// cell conversion alike). The replay build (IOTREG_REPLAY_MUTATIONS) also reads deterministic
// byte mutations of each input; seeds with stored (uncompressed) entries let them reach the XML.
#include <random>
#include <string>

#include "reader_fuzzing.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  iotreg::fuzzing::fuzz_reader(iotreg::importers::Format::kXlsx, data, size);
#ifdef IOTREG_REPLAY_MUTATIONS
  if (size > 0) {
    const std::string input(reinterpret_cast<const char*>(data), size);
    std::mt19937 random(static_cast<std::uint32_t>(size));
    std::string mutated;
    for (int round = 0; round < IOTREG_REPLAY_MUTATIONS; ++round) {
      mutated = input;
      for (unsigned changes = 1 + random() % 4; changes > 0; --changes) {
        mutated[random() % size] = static_cast<char>(random() % 256);
      }
      iotreg::fuzzing::fuzz_reader(iotreg::importers::Format::kXlsx,
                                   reinterpret_cast<const std::uint8_t*>(mutated.data()),
                                   mutated.size());
    }
  }
#endif
  return 0;
}
