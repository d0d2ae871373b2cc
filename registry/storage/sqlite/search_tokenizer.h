// The words of a search, as SQLite's own FTS5 tokenizer splits them; private to the SQLite
// backend.
//
// A SearchTokenizer is one instance of the unicode61 tokenizer created with the options of the
// registry's FTS5 tables, found through the fts5_api of one connection, so that user text is
// split into exactly the tokens the index holds rather than by an imitation of the tokenizer.
// It borrows the connection's FTS5 module and must be destroyed before its Database. Not
// thread-safe: one thread at a time, like its connection.
#pragma once

#include <sqlite3.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"
#include "registry/storage/sqlite/database.h"

namespace iotreg::storage::sqlite {

// The `tokenize` option of every FTS5 table (migrations/0001_initial.sql), as a tokenizer name
// and its arguments; a test checks that the tables are declared with exactly these.
inline constexpr const char* kSearchTokenizerName = "unicode61";
inline constexpr std::array<const char*, 2> kSearchTokenizerArguments = {"remove_diacritics", "2"};

// One token: its indexed form (folded: lower case, diacritics removed) and where it stands in
// the text that was split, as byte offsets.
struct SearchToken {
  std::string folded;
  std::size_t begin = 0;
  std::size_t end = 0;
};

class SearchTokenizer {
 public:
  // Creates the tokenizer from the connection's FTS5 module. Fails only when SQLite lacks FTS5
  // or the unicode61 tokenizer (a build of SQLite the registry cannot use).
  static Result<std::unique_ptr<SearchTokenizer>> create(Database& db);
  ~SearchTokenizer();
  SearchTokenizer(const SearchTokenizer&) = delete;
  SearchTokenizer& operator=(const SearchTokenizer&) = delete;

  // The tokens of `text` in order. Any bytes are accepted: invalid UTF-8, NUL and punctuation
  // separate tokens, as they do when the index is built.
  Result<std::vector<SearchToken>> tokenize(std::string_view text) const;

 private:
  SearchTokenizer(fts5_tokenizer methods, Fts5Tokenizer* instance)
      : methods_(methods), instance_(instance) {}
  fts5_tokenizer methods_;
  Fts5Tokenizer* instance_;
};

// The FTS5 query for one token: its text in `source`, quoted, as a prefix term ("tok"*). FTS5
// tokenizes the quoted text again with the same tokenizer and gets back exactly this one token,
// so no input is ever read as query syntax or becomes a phrase.
std::string prefix_term(std::string_view source, const SearchToken& token);

}  // namespace iotreg::storage::sqlite
