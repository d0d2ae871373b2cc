// CsvTokenizer splits an RFC 4180 CSV byte stream into records of UTF-8 fields, reading the
// stream in fixed-size chunks so that memory is bounded by the longest allowed record, not by
// the file. It borrows the stream (which must outlive it) and owns its buffers; one instance must
// only be used by one thread at a time, distinct instances are independent.
//
// Format accepted:
// - A UTF-8 byte order mark at the very start of the input is skipped and not counted in columns.
// - A record ends at LF, CR LF, or a CR not followed by LF (files written by classic Mac OS
//   software); each of these also ends a physical line, inside quoted fields as well.
// - Lines with no bytes at all are skipped; a line holding only separators is a record of empty
//   fields. The last record may lack a line terminator.
// - A field that starts with `"` is quoted: it may hold separators, line breaks and `""` (one
//   literal quote), and must be followed by a separator, a line terminator or the end of input.
//   Whitespace around fields is data.
// - Field bytes must be valid UTF-8 (no overlong forms, surrogates, code points above U+10FFFF
//   or truncated sequences). NUL is valid UTF-8 and passes through, and the record says it
//   holds one: whoever gives fields a meaning decides about it (the declaration schema refuses
//   it in every value, and need not look for it in a record without).
//
// Bad input never raises an exception: a malformed record yields Status::BadRecord with a
// CsvProblem, and tokenizing resumes at the next record. A stray quote or a character after a
// closing quote makes the rest of that physical line unreliable, so it is skipped; other problems
// (invalid UTF-8, too many fields) skip to the real end of the record, still honouring quotes.
// Two things are fatal, because the end of the record cannot be found within bounded memory: a
// quoted field left open at the end of input, and a record longer than max_record_bytes. The
// latter is found at the byte that crosses the limit, so a stream that never ends a record is
// read no further than the limit and one read.

#ifndef IOTREG_IMPORTERS_CSV_CSV_TOKENIZER_H_
#define IOTREG_IMPORTERS_CSV_CSV_TOKENIZER_H_

#include <cstddef>
#include <cstdint>
#include <istream>
#include <string>
#include <string_view>
#include <vector>

namespace iotreg::importers {

// One record. The views point into the tokenizer's buffers.
struct CsvRow {
  std::vector<std::string_view> fields;  // valid until the next call to CsvTokenizer::next
  std::uint64_t start_line = 0;          // 1-based physical line where the record starts
  bool has_nul = false;                  // a field holds NUL
};

// Why a record was rejected, or why tokenizing stopped.
struct CsvProblem {
  std::uint64_t line = 0;    // 1-based physical line of the problem
  std::uint64_t column = 0;  // 1-based byte column within that line
  std::size_t field = 0;     // 0-based index within its record of the field the problem is in
  std::string message;       // plain English, e.g. "unterminated quoted field opened at line 7"
  bool not_utf8 = false;     // the problem is bytes that are not UTF-8
};

class CsvTokenizer {
 public:
  struct Limits {
    // Raw bytes of one record, quotes included, line terminator excluded. A longer record is
    // fatal; its problem names the line where the field that crosses the limit starts.
    std::size_t max_record_bytes = 1 << 20;
    std::size_t max_fields = 4096;
    // Bytes requested from the stream per read. The input buffer never grows beyond
    // max_record_bytes + read_chunk_bytes + 8, whatever the input.
    std::size_t read_chunk_bytes = 64 * 1024;
  };

  enum class Status {
    Record,     // `row` holds the next record
    BadRecord,  // problem() says why; row.start_line is set; the next call reads the next record
    End,        // no more input
    Fatal,      // problem() says why; every further call returns End
  };

  // `in` must outlive the tokenizer. (Two constructors rather than a `Limits limits = {}`
  // default argument, which GCC rejects for a nested class with member initialisers.)
  explicit CsvTokenizer(std::istream& in);
  CsvTokenizer(std::istream& in, Limits limits);
  CsvTokenizer(const CsvTokenizer&) = delete;
  CsvTokenizer& operator=(const CsvTokenizer&) = delete;

  Status next(CsvRow& row);

  // The problem behind the last BadRecord or Fatal.
  const CsvProblem& problem() const { return problem_; }

  // Bytes of the stream consumed so far, the byte order mark included; for progress reporting.
  std::uint64_t bytes_consumed() const { return base_offset_ + pos_; }

  // Bytes currently allocated for the input buffer; bounded by the limits, never by the input.
  std::size_t buffer_capacity() const { return buf_.capacity(); }

 private:
  // A field's place in the buffer, relative to the start of the current record.
  struct FieldSpan {
    std::size_t offset;
    std::size_t length;
  };
  enum class FieldEnd { Separator, RecordEnd, InputEnd, Resync, Unterminated, TooLong };

  FieldEnd parse_unquoted();
  FieldEnd parse_quoted();
  void check_text_byte();
  void add_field(std::size_t offset, std::size_t length);
  bool end_field(std::size_t offset, std::size_t length);
  void consume_cr();
  bool skip_line();
  bool ensure(std::size_t count);
  bool fill();
  void new_line();
  std::uint64_t column_at(std::size_t index) const;
  bool past_limit() const;
  // Index of the field being read, in its record.
  std::size_t field_index() const { return spans_.size() + skipped_fields_; }
  void report(std::string message);
  FieldEnd too_long(std::uint64_t line, std::uint64_t column, bool in_quotes);
  FieldEnd unquoted_too_long(std::size_t begin);
  Status read_error();

  std::istream& in_;
  Limits limits_;
  std::size_t chunk_bytes_;
  std::size_t max_buffer_bytes_;

  // buf_[pos_, end_) is unread input; buf_[record_start_, pos_) is the current record so far,
  // unescaped in place, unless the record is already known to be bad and is being skipped.
  std::vector<char> buf_;
  std::size_t pos_ = 0;
  std::size_t end_ = 0;
  std::size_t record_start_ = 0;
  std::uint64_t base_offset_ = 0;  // stream offset of buf_[0]

  // Index of the first byte past the current record's length limit (saturating), and where
  // scans stop: the lower of it and end_. pos_ passes scan_end_ only once the record is too long.
  std::size_t limit_index_ = 0;
  std::size_t scan_end_ = 0;

  std::uint64_t line_ = 1;
  std::uint64_t line_start_offset_ = 0;  // stream offset of the current line's first byte
  std::uint64_t record_line_ = 0;
  std::size_t skipped_fields_ = 0;  // fields ended in the current record after it went bad

  std::vector<FieldSpan> spans_;
  CsvProblem problem_;
  bool record_bad_ = false;
  bool has_nul_ = false;  // the current record holds NUL
  bool stream_ended_ = false;
  bool read_failed_ = false;
  bool started_ = false;
  bool finished_ = false;
};

}  // namespace iotreg::importers

#endif  // IOTREG_IMPORTERS_CSV_CSV_TOKENIZER_H_
