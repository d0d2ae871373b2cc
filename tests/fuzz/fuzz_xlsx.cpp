// libFuzzer target: the xlsx reader with the built-in schema (ZIP container, XML parts and
// cell conversion alike).
#include "reader_fuzzing.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return iotreg::fuzzing::fuzz_reader(iotreg::importers::Format::kXlsx, data, size);
}
