// Private to importers/xlsx: the parts of an XLSX workbook (an OOXML package, a ZIP archive of
// XML parts) read with Poco::Zip and Poco's SAX parser, in bounded memory.
//
// An XlsxArchive borrows the stream it was opened on, which must outlive it. A part is parsed
// by streaming its inflated bytes through a buffer that stops at a part's byte limit and at a
// window of bytes without an element's end, so that neither a zip bomb nor one endless XML
// token can exhaust memory. One thread at a time.
#pragma once

#include <Poco/SAX/DefaultHandler.h>

#include <cstdint>
#include <istream>
#include <memory>
#include <string>

#include "registry/core/status.h"

namespace Poco::Zip {
class ZipArchive;
}

namespace iotreg::importers::xlsx {

class BoundedPartBuffer;

// Limits on the inflated XML of one part.
struct PartLimits {
  std::uint64_t max_part_bytes = 0;    // the whole part
  std::uint64_t max_window_bytes = 0;  // between two element ends
};

// A SAX handler whose parse the archive bounds. Subclasses call element_done() at every
// element's end, and may stop() the parse early; they must not throw.
class PartHandler : public Poco::XML::DefaultHandler {
 public:
  // Renews the window of bytes allowed before the next element's end.
  void element_done();
  // Ends the parse after the current event; parse_part() then returns `why`.
  void stop(Status why);
  bool stopped() const { return !stop_reason_.is_ok(); }
  const Status& stop_reason() const { return stop_reason_; }

 private:
  friend class XlsxArchive;
  BoundedPartBuffer* buffer_ = nullptr;
  Status stop_reason_;
};

class XlsxArchive {
 public:
  // Reads the archive's directory from `in`. A stream that cannot seek (standard input) is
  // first read into memory, at most `max_buffered_bytes`. kInvalidArgument, saying why, when
  // the bytes are not a ZIP archive.
  static Result<std::unique_ptr<XlsxArchive>> open(std::istream& in,
                                                   std::uint64_t max_buffered_bytes);
  ~XlsxArchive();
  XlsxArchive(const XlsxArchive&) = delete;
  XlsxArchive& operator=(const XlsxArchive&) = delete;

  bool has_part(const std::string& name) const;
  // How far into the archive's bytes reading has come, for progress reports; 0 when unknown.
  std::uint64_t position() const;
  // Parses part `name` (a ZIP entry name such as "xl/workbook.xml") with `handler`. Not ok when
  // the part is missing, is not well-formed XML, cannot be inflated, passes a limit (`what`
  // names the part in messages) or the handler stopped the parse (its reason).
  Status parse_part(const std::string& name, const std::string& what, PartHandler& handler,
                    const PartLimits& limits);

 private:
  XlsxArchive() = default;
  std::unique_ptr<std::istream> buffered_;  // the bytes of a stream that cannot seek
  std::istream* in_ = nullptr;
  std::unique_ptr<Poco::Zip::ZipArchive> zip_;
};

}  // namespace iotreg::importers::xlsx
