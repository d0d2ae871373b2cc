// libFuzzer target for CsvTokenizer. The first input byte picks a read size and the limits, the
// rest is CSV. Each input is tokenized twice, with large and with tiny reads, checking that both
// runs agree and that every result respects the limits, the UTF-8 promise and line ordering.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "importers/csv/csv_tokenizer.h"

namespace {

using iotreg::importers::CsvProblem;
using iotreg::importers::CsvRow;
using iotreg::importers::CsvTokenizer;
using Status = CsvTokenizer::Status;

void require(bool condition) {
  if (!condition) std::abort();
}

// Decodes code points, independently of the tokenizer's own check.
bool is_valid_text(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    if (lead < 0x80) {
      ++i;
      continue;
    }
    int continuation_bytes;
    if (lead >= 0xF8 || lead < 0xC0) return false;
    if (lead >= 0xF0) {
      continuation_bytes = 3;
    } else if (lead >= 0xE0) {
      continuation_bytes = 2;
    } else {
      continuation_bytes = 1;
    }
    std::uint32_t code_point = lead & (0x3F >> continuation_bytes);
    for (int k = 1; k <= continuation_bytes; ++k) {
      if (i + k >= text.size()) return false;
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code_point = (code_point << 6) | (next & 0x3F);
    }
    static constexpr std::uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallest[continuation_bytes]) return false;
    if (code_point >= 0xD800 && code_point <= 0xDFFF) return false;
    if (code_point > 0x10FFFF) return false;
    i += continuation_bytes + 1;
  }
  return true;
}

struct Outcome {
  Status status;
  std::vector<std::string> fields;
  std::uint64_t start_line;
  CsvProblem problem;
};

std::vector<Outcome> tokenize(const std::string& input, CsvTokenizer::Limits limits) {
  std::istringstream in(input);
  CsvTokenizer tokenizer(in, limits);
  const std::size_t buffer_bound = limits.max_record_bytes + limits.read_chunk_bytes + 8;

  std::vector<Outcome> outcomes;
  CsvRow row;
  std::uint64_t previous_start_line = 0;
  std::uint64_t previous_consumed = 0;
  for (;;) {
    const Status status = tokenizer.next(row);
    require(tokenizer.bytes_consumed() >= previous_consumed);
    require(tokenizer.bytes_consumed() <= input.size());
    require(tokenizer.buffer_capacity() <= buffer_bound);
    previous_consumed = tokenizer.bytes_consumed();
    if (status == Status::End) {
      require(row.fields.empty());
      break;
    }
    // Each record or problem consumes at least one byte, so this bounds the number of calls.
    require(outcomes.size() <= input.size());
    require(row.start_line > previous_start_line);
    previous_start_line = row.start_line;

    Outcome outcome{status, {}, row.start_line, {}};
    if (status == Status::Record) {
      require(!row.fields.empty());
      require(row.fields.size() <= limits.max_fields);
      std::size_t total = 0;
      for (std::string_view field : row.fields) {
        require(is_valid_text(field));
        total += field.size();
        outcome.fields.emplace_back(field);
      }
      require(total <= limits.max_record_bytes);
    } else {
      require(row.fields.empty());
      const CsvProblem& problem = tokenizer.problem();
      require(problem.line >= row.start_line);
      require(problem.column >= 1);
      require(!problem.message.empty());
      outcome.problem = problem;
    }
    outcomes.push_back(std::move(outcome));
    if (status == Status::Fatal) {
      require(tokenizer.next(row) == Status::End);
      require(tokenizer.next(row) == Status::End);
      break;
    }
  }
  return outcomes;
}

bool same(const Outcome& a, const Outcome& b) {
  return a.status == b.status && a.fields == b.fields && a.start_line == b.start_line &&
         a.problem.line == b.problem.line && a.problem.column == b.problem.column &&
         a.problem.field == b.problem.field && a.problem.message == b.problem.message;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static constexpr std::size_t kMaxRecordBytes[] = {4096, 256, 32, 8};
  static constexpr std::size_t kMaxFields[] = {64, 8, 3, 1};
  CsvTokenizer::Limits limits;
  limits.max_record_bytes = kMaxRecordBytes[(data[0] >> 4) & 3];
  limits.max_fields = kMaxFields[data[0] >> 6];
  const std::size_t small_chunk = 1 + (data[0] & 0xF);
  const std::string input(reinterpret_cast<const char*>(data) + 1, size - 1);

  limits.read_chunk_bytes = 64 * 1024;
  const std::vector<Outcome> large_reads = tokenize(input, limits);
  limits.read_chunk_bytes = small_chunk;
  const std::vector<Outcome> small_reads = tokenize(input, limits);
  require(large_reads.size() == small_reads.size());
  for (std::size_t i = 0; i < large_reads.size(); ++i) {
    require(same(large_reads[i], small_reads[i]));
  }
  return 0;
}
