// The stored form of a declaration: compact and self-describing, so that bodies written today
// decode the same way in ten years whatever the schema becomes.
//
// A body's *payload* lists the declaration's present fields in catalog order, each as a field
// code (a number fixed forever per field path, see body_codec.cpp), a type tag and the value.
// The stored *blob* is a format byte, the payload size and the payload compressed as one LZ4
// block. Two declarations are identical exactly when their payloads are equal; blobs are not
// compared, since another LZ4 release may compress the same payload differently.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"
#include "registry/model/declaration.h"

namespace iotreg::storage {

// Encodes declarations of one catalog. Immutable after creation; safe to share between threads.
class BodyEncoder {
 public:
  // Fails when a catalog field has no field code (a field added to the schema must be given a
  // code in body_codec.cpp before it can be stored).
  static Result<BodyEncoder> create(const model::FieldCatalog& catalog);

  // Replaces `payload` with the declaration's payload (reusing its capacity).
  void encode(const model::Declaration& declaration, std::string& payload) const;
  std::string payload(const model::Declaration& declaration) const;

 private:
  std::vector<std::uint32_t> codes_;  // field code per catalog index
};

// Compresses a payload into a blob, replacing `blob` (reusing its capacity). Thread-safe.
void compress_body(std::string_view payload, std::string& blob);
std::string compress_body(std::string_view payload);
// The payload of a blob; kCorruption when the blob is damaged.
Result<std::string> decompress_body(std::string_view blob);
// The canonical JSON of a payload (the same text as Declaration::to_canonical_json);
// kCorruption when the payload is damaged or holds an unknown field code.
Result<std::string> payload_to_json(std::string_view payload);

}  // namespace iotreg::storage
