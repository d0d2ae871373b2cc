// Character encodings of input files. Declarations are UTF-8; a file saved by an older
// spreadsheet or editor in Windows-1252 (the Western European "ANSI" code page) is decoded to
// UTF-8 on the way in, when the sender says so (`import --encoding windows-1252`, or
// `charset=windows-1252` on the API's Content-Type). Nothing guesses: an undeclared
// Windows-1252 file is invalid UTF-8 and its records are refused with a hint.
#pragma once

#include <istream>
#include <memory>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>

namespace iotreg::importers {

enum class TextEncoding { kUtf8, kWindows1252 };

// An encoding by one of its labels, without regard to ASCII case: utf-8 and utf8; windows-1252,
// cp1252, iso-8859-1, latin1 and us-ascii (which the WHATWG Encoding Standard decodes as
// Windows-1252, as browsers do). Nothing for other labels.
std::optional<TextEncoding> text_encoding_from_label(std::string_view label);
std::string_view text_encoding_name(TextEncoding encoding);
// "utf-8, windows-1252": the names for messages.
std::string_view text_encoding_names();

// What to say of bytes that are not UTF-8, after the reader's complaint.
inline constexpr std::string_view kNotUtf8Hint =
    "; the file is not UTF-8: save it as \"CSV UTF-8\" (Excel) or UTF-8, or import it with "
    "--encoding windows-1252 (HTTP: charset=windows-1252) if that is how it was saved";

// Reads `source` as Windows-1252 and gives its text as UTF-8. The five bytes Windows-1252 leaves
// undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) become the C1 control characters of the same value,
// as the WHATWG Encoding Standard decodes them; the readers refuse control characters in values,
// naming the field. `source` must outlive the decoder.
class Windows1252Decoder : public std::streambuf {
 public:
  explicit Windows1252Decoder(std::istream& source) : source_(source) {}

 protected:
  int_type underflow() override;

 private:
  std::istream& source_;
  std::string buffer_;
};

// An input stream that decodes `source` from `encoding` into UTF-8; `source` itself for UTF-8.
// `source` must outlive the returned stream.
class DecodedInput {
 public:
  DecodedInput(std::istream& source, TextEncoding encoding);
  std::istream& stream() { return decoded_ ? *decoded_ : source_; }

 private:
  std::istream& source_;
  std::unique_ptr<Windows1252Decoder> decoder_;
  std::unique_ptr<std::istream> decoded_;
};

}  // namespace iotreg::importers
