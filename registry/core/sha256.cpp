#include "registry/core/sha256.h"

#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace iotreg {

std::string sha256_hex(std::string_view bytes) {
  Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
  engine.update(bytes.data(), static_cast<unsigned>(bytes.size()));
  return Poco::DigestEngine::digestToHex(engine.digest());
}

Result<std::string> sha256_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io_error(path + ": cannot be read: " + std::strerror(errno));
  Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
  char buffer[1 << 16];
  while (in) {
    in.read(buffer, sizeof buffer);
    engine.update(buffer, static_cast<unsigned>(in.gcount()));
  }
  if (in.bad()) return Status::io_error(path + ": read error");
  return Poco::DigestEngine::digestToHex(engine.digest());
}

}  // namespace iotreg
