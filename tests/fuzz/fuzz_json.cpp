// libFuzzer target: the json reader with the built-in schema.
#include "reader_fuzzing.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return iotreg::fuzzing::fuzz_reader(iotreg::importers::Format::kJson, data, size);
}
