#include "importers/csv/csv_tokenizer.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <ios>
#include <limits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace iotreg::importers {
namespace {

// Extra room beyond one record and one read: lookahead for CR LF, `""` and UTF-8 sequences.
constexpr std::size_t kLookaheadSlack = 8;

using Byte = unsigned char;

// Bytes that end a run of plain field content. Outside quotes: separator, quote, CR, LF;
// inside quotes: quote, CR, LF. NUL and every byte >= 0x80 stop both: NUL to be noted, the
// others to be validated.
constexpr std::array<bool, 256> make_stop_table(bool in_quotes) {
  std::array<bool, 256> table{};
  table['"'] = true;
  table['\n'] = true;
  table['\r'] = true;
  table[0] = true;
  if (!in_quotes) table[','] = true;
  for (int byte = 0x80; byte < 256; ++byte) table[byte] = true;
  return table;
}
constexpr std::array<bool, 256> kUnquotedStops = make_stop_table(false);
constexpr std::array<bool, 256> kQuotedStops = make_stop_table(true);

constexpr std::uint64_t repeat_byte(Byte byte) { return 0x0101010101010101ULL * byte; }

// High bit set in each byte of `word` that is zero. Bytes above the lowest zero byte may be
// flagged spuriously, so only the lowest flag is meaningful.
constexpr std::uint64_t zero_bytes(std::uint64_t word) {
  return (word - repeat_byte(0x01)) & ~word & repeat_byte(0x80);
}

// First byte in [p, end) that is a stop byte, or `end`. Scans 16 bytes at a time with SSE2
// where available, else 8 at a time in a 64-bit word; the tail one by one.
template <bool kInQuotes>
const Byte* find_stop(const Byte* p, const Byte* end) {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i line_feed = _mm_set1_epi8('\n');
  const __m128i carriage_return = _mm_set1_epi8('\r');
  const __m128i comma = _mm_set1_epi8(',');
  const __m128i nul = _mm_setzero_si128();
  while (end - p >= 16) {
    const __m128i block = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    __m128i hits = _mm_or_si128(
        _mm_or_si128(_mm_cmpeq_epi8(block, quote), _mm_cmpeq_epi8(block, line_feed)),
        _mm_or_si128(_mm_cmpeq_epi8(block, carriage_return), _mm_cmpeq_epi8(block, nul)));
    if constexpr (!kInQuotes) hits = _mm_or_si128(hits, _mm_cmpeq_epi8(block, comma));
    // movemask of the block itself flags the bytes >= 0x80.
    const auto mask = static_cast<unsigned>(_mm_movemask_epi8(hits) | _mm_movemask_epi8(block));
    if (mask != 0) return p + std::countr_zero(mask);
    p += 16;
  }
#endif
  if constexpr (std::endian::native == std::endian::little) {
    while (end - p >= 8) {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);
      std::uint64_t hits = zero_bytes(word) | zero_bytes(word ^ repeat_byte('"')) |
                           zero_bytes(word ^ repeat_byte('\n')) |
                           zero_bytes(word ^ repeat_byte('\r')) | (word & repeat_byte(0x80));
      if constexpr (!kInQuotes) hits |= zero_bytes(word ^ repeat_byte(','));
      if (hits != 0) return p + std::countr_zero(hits) / 8;
      p += 8;
    }
  }
  const auto& stops = kInQuotes ? kQuotedStops : kUnquotedStops;
  while (p < end && !stops[*p]) ++p;
  return p;
}

struct Utf8Sequence {
  std::size_t length;     // bytes in the sequence, 0 if it is invalid
  const char* complaint;  // why it is invalid
};

// Validates the UTF-8 sequence starting at the non-ASCII byte *p; [p, end) is all the input
// there is, or at least four bytes of it.
Utf8Sequence check_utf8_sequence(const Byte* p, const Byte* end) {
  const Byte lead = p[0];
  std::size_t length = 0;
  Byte second_low = 0x80;
  Byte second_high = 0xBF;
  const char* second_complaint = nullptr;
  if (lead < 0xC0) return {0, "unexpected continuation byte"};
  if (lead < 0xC2) return {0, "overlong encoding"};
  if (lead < 0xE0) {
    length = 2;
  } else if (lead < 0xF0) {
    length = 3;
    if (lead == 0xE0) {
      second_low = 0xA0;
      second_complaint = "overlong encoding";
    } else if (lead == 0xED) {
      second_high = 0x9F;
      second_complaint = "UTF-16 surrogate code point";
    }
  } else if (lead < 0xF5) {
    length = 4;
    if (lead == 0xF0) {
      second_low = 0x90;
      second_complaint = "overlong encoding";
    } else if (lead == 0xF4) {
      second_high = 0x8F;
      second_complaint = "code point above U+10FFFF";
    }
  } else if (lead < 0xF8) {
    return {0, "code point above U+10FFFF"};
  } else {
    return {0, "byte that never occurs in UTF-8"};
  }
  const auto available = static_cast<std::size_t>(end - p);
  for (std::size_t i = 1; i < length; ++i) {
    if (i >= available || (p[i] & 0xC0) != 0x80) return {0, "truncated multi-byte sequence"};
  }
  if (p[1] < second_low || p[1] > second_high) return {0, second_complaint};
  return {length, nullptr};
}

// `byte` as a user can read it, whatever it is.
std::string describe_byte(Byte byte) {
  if (byte >= 0x21 && byte <= 0x7E) return std::string("'") + static_cast<char>(byte) + "'";
  if (byte == ' ') return "space";
  if (byte == '\t') return "tab";
  static constexpr char kHex[] = "0123456789ABCDEF";
  return std::string("byte 0x") + kHex[byte >> 4] + kHex[byte & 0xF];
}

std::size_t saturating_add(std::size_t a, std::size_t b) {
  return a > std::numeric_limits<std::size_t>::max() - b ? std::numeric_limits<std::size_t>::max()
                                                         : a + b;
}

}  // namespace

CsvTokenizer::CsvTokenizer(std::istream& in) : CsvTokenizer(in, Limits{}) {}

CsvTokenizer::CsvTokenizer(std::istream& in, Limits limits)
    : in_(in),
      limits_(limits),
      chunk_bytes_(std::max<std::size_t>(limits.read_chunk_bytes, 1)),
      max_buffer_bytes_(
          saturating_add(limits.max_record_bytes, saturating_add(chunk_bytes_, kLookaheadSlack))) {}

CsvTokenizer::Status CsvTokenizer::next(CsvRow& row) {
  row.fields.clear();
  if (finished_) return Status::End;
  record_bad_ = false;
  spans_.clear();
  skipped_fields_ = 0;
  has_nul_ = false;

  if (!started_) {
    started_ = true;
    if (ensure(3) && std::memcmp(buf_.data() + pos_, "\xEF\xBB\xBF", 3) == 0) {
      pos_ += 3;
      line_start_offset_ = base_offset_ + pos_;
    }
  }

  // Skip empty lines; stop at the first byte of a record or at the end of input.
  for (;;) {
    record_start_ = pos_;
    if (!ensure(1)) {
      finished_ = true;
      return read_failed_ ? read_error() : Status::End;
    }
    const char first = buf_[pos_];
    if (first == '\n') {
      ++pos_;
      new_line();
    } else if (first == '\r') {
      consume_cr();
    } else {
      break;
    }
  }

  limit_index_ = saturating_add(record_start_, saturating_add(limits_.max_record_bytes, 1));
  scan_end_ = std::min(end_, limit_index_);
  record_line_ = line_;
  row.start_line = line_;
  for (;;) {
    if (spans_.size() >= limits_.max_fields) {
      report("record has more than " + std::to_string(limits_.max_fields) + " fields");
    }
    FieldEnd field_end;
    if (!ensure(1)) {
      field_end = end_field(pos_ - record_start_, 0)
                      ? FieldEnd::InputEnd
                      : too_long(line_, column_at(pos_), /*in_quotes=*/false);
    } else if (buf_[pos_] == '"') {
      field_end = parse_quoted();
    } else {
      field_end = parse_unquoted();
    }
    if (field_end == FieldEnd::Separator) continue;
    if (field_end == FieldEnd::TooLong || field_end == FieldEnd::Unterminated) {
      finished_ = true;
      return Status::Fatal;
    }
    if (field_end == FieldEnd::Resync) return Status::BadRecord;
    if (field_end == FieldEnd::InputEnd && read_failed_) {
      finished_ = true;
      return read_error();
    }
    break;
  }
  if (record_bad_) return Status::BadRecord;

  const char* record = buf_.data() + record_start_;
  row.has_nul = has_nul_;
  row.fields.reserve(spans_.size());
  for (const FieldSpan& span : spans_) row.fields.emplace_back(record + span.offset, span.length);
  return Status::Record;
}

CsvTokenizer::FieldEnd CsvTokenizer::parse_unquoted() {
  const std::size_t begin = pos_ - record_start_;
  for (;;) {
    const auto* data = reinterpret_cast<const Byte*>(buf_.data());
    const Byte* stop = find_stop<false>(data + pos_, data + scan_end_);
    pos_ = static_cast<std::size_t>(stop - data);
    if (pos_ >= scan_end_) {
      if (past_limit()) return unquoted_too_long(begin);
      if (fill()) continue;
      if (!end_field(begin, pos_ - record_start_ - begin)) return unquoted_too_long(begin);
      return FieldEnd::InputEnd;
    }
    // A byte the scan stops at lies within the limit.
    switch (*stop) {
      case ',':
        add_field(begin, pos_ - record_start_ - begin);
        ++pos_;
        return FieldEnd::Separator;
      case '\n':
        add_field(begin, pos_ - record_start_ - begin);
        ++pos_;
        new_line();
        return FieldEnd::RecordEnd;
      case '\r':
        add_field(begin, pos_ - record_start_ - begin);
        consume_cr();
        return FieldEnd::RecordEnd;
      case '"':
        report(
            "quote inside an unquoted field (a field holding quotes must be enclosed in quotes, "
            "with each quote doubled)");
        return skip_line() ? FieldEnd::Resync : unquoted_too_long(begin);
      default:
        check_text_byte();
        break;
    }
  }
}

// Unescapes in place: bytes of the field move left over the opening quote and each dropped
// quote of a `""` pair, so the field ends up contiguous at its original offset.
CsvTokenizer::FieldEnd CsvTokenizer::parse_quoted() {
  const std::uint64_t open_line = line_;
  const std::uint64_t open_column = column_at(pos_);
  ++pos_;
  const std::size_t begin = pos_ - record_start_;
  std::size_t written_end = begin;  // end of the unescaped bytes
  std::size_t pending = begin;      // start of scanned bytes not yet moved to written_end
  auto move_pending = [&](std::size_t upto) {
    if (record_bad_) return;
    char* record = buf_.data() + record_start_;
    if (written_end != pending)
      std::memmove(record + written_end, record + pending, upto - pending);
    written_end += upto - pending;
    pending = upto;
  };

  for (;;) {
    const auto* data = reinterpret_cast<const Byte*>(buf_.data());
    const Byte* stop = find_stop<true>(data + pos_, data + scan_end_);
    pos_ = static_cast<std::size_t>(stop - data);
    if (pos_ >= scan_end_) {
      if (past_limit()) return too_long(open_line, open_column, /*in_quotes=*/true);
      if (fill()) continue;
      problem_ = {open_line, open_column, field_index(),
                  "unterminated quoted field opened at line " + std::to_string(open_line)};
      return FieldEnd::Unterminated;
    }
    switch (*stop) {
      case '"': {
        const bool followed = ensure(2);
        if (followed && buf_[pos_ + 1] == '"') {
          move_pending(pos_ + 1 - record_start_);
          pos_ += 2;
          pending = pos_ - record_start_;
          break;
        }
        move_pending(pos_ - record_start_);
        ++pos_;
        const char after = followed ? buf_[pos_] : '\0';
        if (!followed || after == ',' || after == '\n' || after == '\r') {
          // The closing quote itself may be the byte that makes the record too long.
          if (!end_field(begin, written_end - begin)) {
            return too_long(open_line, open_column, /*in_quotes=*/false);
          }
          if (!followed) return FieldEnd::InputEnd;
          if (after == ',') {
            ++pos_;
            return FieldEnd::Separator;
          }
          if (after == '\n') {
            ++pos_;
            new_line();
          } else {
            consume_cr();
          }
          return FieldEnd::RecordEnd;
        }
        report("unexpected " + describe_byte(static_cast<Byte>(after)) +
               " after a closing quote (expected a comma or the end of the line)");
        return skip_line() ? FieldEnd::Resync
                           : too_long(open_line, open_column, /*in_quotes=*/false);
      }
      case '\n':
        ++pos_;
        new_line();
        break;
      case '\r':
        consume_cr();
        break;
      default:
        check_text_byte();
        break;
    }
  }
}

// Moves past the NUL or non-ASCII byte at pos_: notes a NUL, validates the rest.
void CsvTokenizer::check_text_byte() {
  if (record_bad_) {
    ++pos_;
    return;
  }
  if (buf_[pos_] == '\0') {
    has_nul_ = true;
    ++pos_;
    return;
  }
  ensure(4);
  const auto* data = reinterpret_cast<const Byte*>(buf_.data());
  const Utf8Sequence sequence = check_utf8_sequence(data + pos_, data + end_);
  if (sequence.length == 0) {
    report(std::string("invalid UTF-8 text: ") + sequence.complaint);
    problem_.not_utf8 = true;
    ++pos_;
    return;
  }
  pos_ += sequence.length;
}

// Ends the field being read, whose bytes lie within the limit.
void CsvTokenizer::add_field(std::size_t offset, std::size_t length) {
  if (record_bad_) {
    ++skipped_fields_;
  } else {
    spans_.push_back({offset, length});
  }
}

// Ends the field being read, with pos_ at the byte after it (separator, terminator or end).
// Returns false, ending nothing, when the bytes before pos_ make the record too long.
bool CsvTokenizer::end_field(std::size_t offset, std::size_t length) {
  if (past_limit()) return false;
  add_field(offset, length);
  return true;
}

// Consumes the CR at pos_ and an LF right after it: one line break.
void CsvTokenizer::consume_cr() {
  if (ensure(2) && buf_[pos_ + 1] == '\n') {
    pos_ += 2;
  } else {
    ++pos_;
  }
  new_line();
}

// Skips past the next line break, ignoring quotes. Returns false, at the limit, when the record
// grows too long first.
bool CsvTokenizer::skip_line() {
  for (;;) {
    const char* data = buf_.data();
    const char* p = data + pos_;
    const char* const end = data + scan_end_;
    while (p < end && *p != '\n' && *p != '\r') ++p;
    pos_ = static_cast<std::size_t>(p - data);
    if (pos_ >= scan_end_) {
      if (past_limit()) return false;
      if (fill()) continue;
      return true;
    }
    if (*p == '\n') {
      ++pos_;
      new_line();
    } else {
      consume_cr();
    }
    return true;
  }
}

// Makes at least `count` unread bytes available unless the input ends first; says whether it
// did. Invalidates pointers into buf_.
bool CsvTokenizer::ensure(std::size_t count) {
  while (end_ - pos_ < count) {
    if (!fill()) return false;
  }
  return true;
}

// Reads one more chunk, first dropping the bytes before the current record. Returns false at
// the end of input. Invalidates pointers into buf_. The scans stop at the limit, so the current
// record never holds more than max_record_bytes + 1 bytes, plus a few of lookahead: a read
// always has room.
bool CsvTokenizer::fill() {
  if (stream_ended_) return false;

  const std::size_t keep_from = record_start_;
  if (keep_from > 0) {
    std::memmove(buf_.data(), buf_.data() + keep_from, end_ - keep_from);
    base_offset_ += keep_from;
    pos_ -= keep_from;
    end_ -= keep_from;
    record_start_ = record_start_ > keep_from ? record_start_ - keep_from : 0;
    limit_index_ = limit_index_ > keep_from ? limit_index_ - keep_from : 0;
    scan_end_ = std::min(end_, limit_index_);
  }
  if (buf_.size() - end_ < chunk_bytes_ && buf_.size() < max_buffer_bytes_) {
    const std::size_t wanted =
        std::min(max_buffer_bytes_, std::max(saturating_add(end_, chunk_bytes_), buf_.size() * 2));
    buf_.reserve(wanted);
    buf_.resize(wanted);
  }

  const std::size_t wanted = std::min(chunk_bytes_, buf_.size() - end_);
  try {
    in_.read(buf_.data() + end_, static_cast<std::streamsize>(wanted));
  } catch (const std::ios_base::failure&) {
    // Only a stream told to throw on failbit, eofbit or badbit gets here; gcount() and bad()
    // still tell what happened.
  }
  const auto got = static_cast<std::size_t>(in_.gcount());
  end_ += got;
  scan_end_ = std::min(end_, limit_index_);
  if (got < wanted) {
    stream_ended_ = true;
    read_failed_ = in_.bad();
  }
  return got > 0;
}

void CsvTokenizer::new_line() {
  ++line_;
  line_start_offset_ = base_offset_ + pos_;
}

std::uint64_t CsvTokenizer::column_at(std::size_t index) const {
  return base_offset_ + index - line_start_offset_ + 1;
}

// True when the record holds more than max_record_bytes bytes before pos_.
bool CsvTokenizer::past_limit() const { return pos_ >= limit_index_; }

// Records the first problem of the current record, located at pos_.
void CsvTokenizer::report(std::string message) {
  if (record_bad_) return;
  record_bad_ = true;
  problem_ = {line_, column_at(pos_), field_index(), std::move(message)};
}

// too_long() for the unquoted field at `begin`: it lies on one line, the current one.
CsvTokenizer::FieldEnd CsvTokenizer::unquoted_too_long(std::size_t begin) {
  return too_long(line_, column_at(record_start_ + begin), /*in_quotes=*/false);
}

// Records that the record crossed the length limit in the field being read, which starts at
// `line` and `column` (and is still open when `in_quotes`). This ends tokenizing.
CsvTokenizer::FieldEnd CsvTokenizer::too_long(std::uint64_t line, std::uint64_t column,
                                              bool in_quotes) {
  std::string message = "record longer than " + std::to_string(limits_.max_record_bytes) +
                        " bytes (the limit for one record)";
  if (line != record_line_) message += ", from line " + std::to_string(record_line_);
  if (in_quotes) message += ", in a quoted field (is a closing quote missing?)";
  problem_ = {line, column, field_index(), std::move(message)};
  return FieldEnd::TooLong;
}

CsvTokenizer::Status CsvTokenizer::read_error() {
  problem_ = {line_, column_at(pos_), field_index(),
              "read error after byte " + std::to_string(bytes_consumed())};
  return Status::Fatal;
}

}  // namespace iotreg::importers
