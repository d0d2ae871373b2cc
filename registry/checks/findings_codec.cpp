// Stored form of findings: per finding, the check index, the outcome, the message and the field,
// as varints and length-prefixed text (registry/core/varint.h). The first byte is the format.
#include "registry/checks/checks.h"
#include "registry/core/utf8.h"
#include "registry/core/varint.h"

namespace iotreg::checks {
namespace {

constexpr unsigned char kFindingsFormat = 1;
constexpr std::uint64_t kMaxFindings = 1 << 16;

}  // namespace

void encode_findings(const std::vector<Finding>& findings, std::string& out) {
  out.clear();
  out.push_back(static_cast<char>(kFindingsFormat));
  put_varint(out, findings.size());
  for (const auto& finding : findings) {
    put_varint(out, finding.check);
    out.push_back(static_cast<char>(finding.outcome));
    put_text(out, finding.message);
    put_text(out, finding.field);
  }
}

Result<std::vector<Finding>> decode_findings(std::string_view stored) {
  auto damaged = [](std::size_t offset) {
    return Status::corruption("stored findings are damaged at byte " + std::to_string(offset));
  };
  ByteReader reader(stored);
  unsigned char format = 0;
  std::uint64_t count = 0;
  if (!reader.byte(format) || format != kFindingsFormat) return damaged(0);
  if (!reader.varint(count) || count > kMaxFindings) return damaged(reader.position());
  std::vector<Finding> findings(count);
  for (auto& finding : findings) {
    std::size_t offset = reader.position();
    std::uint64_t check = 0;
    unsigned char outcome = 0;
    std::string_view message, field;
    if (!reader.varint(check) || check > kMaxFindings || !reader.byte(outcome) ||
        outcome > static_cast<unsigned char>(Outcome::kError) || !reader.text(message) ||
        !reader.text(field) || !is_valid_utf8(message) || !is_valid_utf8(field)) {
      return damaged(offset);
    }
    finding.check = static_cast<std::uint32_t>(check);
    finding.outcome = static_cast<Outcome>(outcome);
    finding.message.assign(message);
    finding.field.assign(field);
  }
  if (!reader.done()) return damaged(reader.position());
  return findings;
}

}  // namespace iotreg::checks
