#include "importers/xlsx/xlsx_archive.h"

#include <Poco/Exception.h>
#include <Poco/SAX/InputSource.h>
#include <Poco/SAX/SAXException.h>
#include <Poco/SAX/SAXParser.h>
#include <Poco/Zip/ZipArchive.h>
#include <Poco/Zip/ZipStream.h>

#include <algorithm>
#include <sstream>
#include <streambuf>

namespace iotreg::importers::xlsx {

// Hands the parser a part's inflated bytes until a limit is passed or the handler stops it,
// then reports the end of input.
class BoundedPartBuffer : public std::streambuf {
 public:
  BoundedPartBuffer(std::istream& source, const PartLimits& limits)
      : source_(source), limits_(limits), window_end_(limits.max_window_bytes) {}

  void renew_window() { window_end_ = delivered_ + limits_.max_window_bytes; }
  void stop() { stopped_ = true; }
  bool over_part() const { return over_part_; }
  bool over_window() const { return over_window_; }

 protected:
  int_type underflow() override {
    if (stopped_) return traits_type::eof();
    if (delivered_ >= limits_.max_part_bytes) {
      over_part_ = true;
      return traits_type::eof();
    }
    if (delivered_ >= window_end_) {
      over_window_ = true;
      return traits_type::eof();
    }
    const std::uint64_t allowed =
        std::min({static_cast<std::uint64_t>(sizeof buffer_), limits_.max_part_bytes - delivered_,
                  window_end_ - delivered_});
    source_.read(buffer_, static_cast<std::streamsize>(allowed));
    const auto got = source_.gcount();
    if (got <= 0) return traits_type::eof();
    delivered_ += static_cast<std::uint64_t>(got);
    setg(buffer_, buffer_, buffer_ + got);
    return traits_type::to_int_type(buffer_[0]);
  }

 private:
  std::istream& source_;
  PartLimits limits_;
  std::uint64_t delivered_ = 0;
  std::uint64_t window_end_;
  bool stopped_ = false;
  bool over_part_ = false;
  bool over_window_ = false;
  char buffer_[16384];
};

void PartHandler::element_done() {
  if (buffer_) buffer_->renew_window();
}

void PartHandler::stop(Status why) {
  if (stopped()) return;
  stop_reason_ = std::move(why);
  if (buffer_) buffer_->stop();
}

XlsxArchive::~XlsxArchive() = default;

Result<std::unique_ptr<XlsxArchive>> XlsxArchive::open(std::istream& in,
                                                       std::uint64_t max_buffered_bytes) {
  std::unique_ptr<XlsxArchive> archive(new XlsxArchive());
  archive->in_ = &in;
  if (in.tellg() == std::istream::pos_type(-1)) {
    in.clear();
    std::string bytes;
    char chunk[65536];
    while (in.read(chunk, sizeof chunk) || in.gcount() > 0) {
      bytes.append(chunk, static_cast<std::size_t>(in.gcount()));
      if (bytes.size() > max_buffered_bytes) {
        return Status::invalid_argument(
            "the workbook is longer than " + std::to_string(max_buffered_bytes) +
            " bytes, the limit for a workbook read from a stream; import it from a file");
      }
    }
    archive->buffered_ = std::make_unique<std::istringstream>(std::move(bytes));
    archive->in_ = archive->buffered_.get();
  }
  try {
    archive->zip_ = std::make_unique<Poco::Zip::ZipArchive>(*archive->in_);
  } catch (const Poco::Exception& error) {
    return Status::invalid_argument("not an XLSX workbook: not a readable ZIP archive (" +
                                    error.displayText() + ")");
  } catch (const std::exception& error) {
    return Status::invalid_argument(
        std::string("not an XLSX workbook: not a readable ZIP archive (") + error.what() + ")");
  }
  if (archive->zip_->headerBegin() == archive->zip_->headerEnd()) {
    return Status::invalid_argument("not an XLSX workbook: not a ZIP archive (no entries)");
  }
  // Entries are read from their local headers; a complete archive ends with its directory.
  if (archive->zip_->fileInfoBegin() == archive->zip_->fileInfoEnd()) {
    return Status::invalid_argument(
        "not an XLSX workbook: the ZIP archive is cut short (it has no central directory)");
  }
  return archive;
}

std::uint64_t XlsxArchive::position() const {
  const auto at = in_->tellg();
  return at == std::istream::pos_type(-1) ? 0 : static_cast<std::uint64_t>(at);
}

bool XlsxArchive::has_part(const std::string& name) const {
  return zip_->findHeader(name) != zip_->headerEnd();
}

Status XlsxArchive::parse_part(const std::string& name, const std::string& what,
                               PartHandler& handler, const PartLimits& limits) {
  auto header = zip_->findHeader(name);
  if (header == zip_->headerEnd()) {
    return Status::invalid_argument("not an XLSX workbook: it has no " + name);
  }
  in_->clear();
  try {
    Poco::Zip::ZipInputStream inflated(*in_, header->second);
    BoundedPartBuffer bounded(inflated, limits);
    std::istream xml(&bounded);
    handler.buffer_ = &bounded;
    handler.stop_reason_ = Status::ok();
    Poco::XML::SAXParser parser;
    parser.setFeature(Poco::XML::XMLReader::FEATURE_NAMESPACES, true);
    parser.setFeature(Poco::XML::XMLReader::FEATURE_EXTERNAL_GENERAL_ENTITIES, false);
    parser.setFeature(Poco::XML::XMLReader::FEATURE_EXTERNAL_PARAMETER_ENTITIES, false);
    parser.setContentHandler(&handler);
    Poco::XML::InputSource source(xml);
    Status outcome;
    try {
      parser.parse(&source);
    } catch (const Poco::Exception& error) {
      outcome =
          Status::invalid_argument(what + " is not well-formed XML (" + error.displayText() + ")");
    }
    handler.buffer_ = nullptr;
    if (handler.stopped()) return handler.stop_reason();
    if (bounded.over_part()) {
      return Status::invalid_argument(what + " is longer than " +
                                      std::to_string(limits.max_part_bytes) +
                                      " bytes uncompressed, the limit for it");
    }
    if (bounded.over_window()) {
      return Status::invalid_argument(what + " holds more than " +
                                      std::to_string(limits.max_window_bytes) +
                                      " bytes of XML in one element, the limit");
    }
    return outcome;
  } catch (const Poco::Exception& error) {
    handler.buffer_ = nullptr;
    return Status::invalid_argument(what + " cannot be read from the ZIP archive (" +
                                    error.displayText() + ")");
  } catch (const std::exception& error) {
    handler.buffer_ = nullptr;
    return Status::invalid_argument(what + " cannot be read from the ZIP archive (" + error.what() +
                                    ")");
  }
}

}  // namespace iotreg::importers::xlsx
