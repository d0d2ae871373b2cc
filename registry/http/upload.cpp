// Reading the file of a multipart/form-data upload (the web UI's declaration upload) from a
// body that was read whole, within the body limits of raw uploads.
#include <Poco/Net/MessageHeader.h>
#include <Poco/Net/MultipartReader.h>
#include <Poco/Net/NameValueCollection.h>

#include <algorithm>
#include <sstream>

#include "registry/core/utf8.h"
#include "registry/http/detail/api.h"
#include "registry/http/detail/request_reader.h"

namespace iotreg::http {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

// The media type a file name's extension stands for, as the command line reads it; "" for
// another extension.
std::string media_type_of_name(const std::string& filename) {
  const std::size_t dot = filename.rfind('.');
  if (dot == std::string::npos) return {};
  const std::string extension = lower(filename.substr(dot + 1));
  if (extension == "csv") return "text/csv";
  if (extension == "json") return "application/json";
  if (extension == "jsonl" || extension == "ndjson") return "application/x-ndjson";
  if (extension == "yaml" || extension == "yml") return "application/yaml";
  if (extension == "xlsx")
    return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
  return {};
}

// Untrusted text as a message may show it: at most 60 bytes.
std::string printable(std::string_view text) { return printable_request_text(text, 60); }

}  // namespace

std::variant<UploadedFile, Reply> read_uploaded_file(const Request& request) {
  std::string value;
  Poco::Net::NameValueCollection parameters;
  Poco::Net::MessageHeader::splitParameters(request.content_type_field, value, parameters);
  const std::string boundary = parameters.get("boundary", "");
  if (boundary.empty() || boundary.size() > 70) {
    return Reply::error(400,
                        "multipart/form-data needs a boundary parameter of 1 to 70 characters");
  }
  // Poco's reader skips text before the first boundary: a body without one is not multipart.
  if (request.body.find("--" + boundary) == std::string::npos) {
    return Reply::error(400, "the body is not multipart/form-data: the boundary '" +
                                 printable(boundary) + "' does not occur in it");
  }
  std::optional<UploadedFile> file;
  try {
    std::istringstream in(request.body);
    Poco::Net::MultipartReader reader(in, boundary);
    while (reader.hasNextPart()) {
      Poco::Net::MessageHeader header;
      reader.nextPart(header);
      std::string disposition;
      Poco::Net::NameValueCollection disposition_parameters;
      Poco::Net::MessageHeader::splitParameters(header.get("Content-Disposition", ""), disposition,
                                                disposition_parameters);
      const std::string name = disposition_parameters.get("name", "");
      if (lower(disposition) != "form-data" || !disposition_parameters.has("filename")) {
        return Reply::error(400, "the multipart body may hold only the file to import; part '" +
                                     printable(name) + "' is not a file");
      }
      if (file) return Reply::error(400, "the multipart body holds more than one file: send one");
      UploadedFile part;
      part.filename = disposition_parameters.get("filename");
      if (auto problem = text_problem(part.filename); !problem.empty()) {
        return Reply::error(400, "the file name " + problem);
      }
      std::string type = header.get("Content-Type", "");
      type = lower(type.substr(0, type.find(';')));
      while (!type.empty() && type.back() == ' ') type.pop_back();
      part.media_type = type.empty() || type == "application/octet-stream"
                            ? media_type_of_name(part.filename)
                            : type;
      part.body.assign(std::istreambuf_iterator<char>(reader.stream()), {});
      file = std::move(part);
    }
  } catch (const Poco::Exception& error) {
    return Reply::error(400, "the multipart body is malformed: " + printable(error.message()));
  } catch (const std::exception& error) {
    return Reply::error(400, std::string("the multipart body is malformed: ") + error.what());
  }
  if (!file)
    return Reply::error(400, "the multipart body holds no file part (one with a filename)");
  return std::move(*file);
}

}  // namespace iotreg::http
