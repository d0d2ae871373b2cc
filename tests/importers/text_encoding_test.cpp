// Decoding Windows-1252 input to UTF-8 as it is read.
#include <doctest/doctest.h>

#include <sstream>
#include <string>

#include "importers/text_encoding.h"

namespace iotreg::importers {
namespace {

std::string decoded(const std::string& bytes, TextEncoding encoding) {
  std::istringstream source(bytes);
  DecodedInput input(source, encoding);
  std::ostringstream out;
  out << input.stream().rdbuf();
  return out.str();
}

}  // namespace

TEST_SUITE("text encoding") {
  TEST_CASE("labels name the two encodings without regard to case") {
    CHECK(text_encoding_from_label("UTF-8") == TextEncoding::kUtf8);
    CHECK(text_encoding_from_label("utf8") == TextEncoding::kUtf8);
    for (const char* label : {"windows-1252", "Windows-1252", "CP1252", "iso-8859-1", "latin1"}) {
      CAPTURE(label);
      CHECK(text_encoding_from_label(label) == TextEncoding::kWindows1252);
    }
    CHECK_FALSE(text_encoding_from_label("koi8-r"));
    CHECK_FALSE(text_encoding_from_label("utf-16"));
    CHECK_FALSE(text_encoding_from_label(""));
  }

  TEST_CASE("windows-1252 bytes become their characters in UTF-8") {
    CHECK(decoded("Dom\xF3tica \x80 5\x96"
                  "6 \x93q\x94 \x9F",
                  TextEncoding::kWindows1252) ==
          "Dom\u00F3tica \u20AC 5\u20136 \u201Cq\u201D \u0178");
    // ASCII is unchanged; the bytes Windows-1252 leaves undefined are C1 controls.
    CHECK(decoded("a,b\r\n", TextEncoding::kWindows1252) == "a,b\r\n");
    CHECK(decoded("\x81\x8D\x8F\x90\x9D", TextEncoding::kWindows1252) ==
          "\u0081\u008D\u008F\u0090\u009D");
    // Every byte from 0xA0 up is the code point of the same value.
    std::string latin, expected;
    for (int byte = 0xA0; byte <= 0xFF; ++byte) {
      latin += static_cast<char>(byte);
      expected += static_cast<char>(0xC0 | (byte >> 6));
      expected += static_cast<char>(0x80 | (byte & 0x3F));
    }
    CHECK(decoded(latin, TextEncoding::kWindows1252) == expected);
  }

  TEST_CASE("input longer than the decoder's buffer is decoded whole, and UTF-8 passes through") {
    const std::string bytes(10000, '\xE9');
    std::string expected;
    for (int i = 0; i < 10000; ++i) expected += "\u00E9";
    CHECK(decoded(bytes, TextEncoding::kWindows1252) == expected);
    CHECK(decoded("caf\xC3\xA9", TextEncoding::kUtf8) == "caf\xC3\xA9");
    CHECK(decoded("", TextEncoding::kWindows1252).empty());
  }
}

}  // namespace iotreg::importers
