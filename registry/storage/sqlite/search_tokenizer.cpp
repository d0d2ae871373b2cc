#include "registry/storage/sqlite/search_tokenizer.h"

#include <climits>
#include <new>

namespace iotreg::storage::sqlite {
namespace {

// The fts5_api of a connection, as its documentation says to obtain it: a pointer bound to
// `SELECT fts5(?1)` with the type "fts5_api_ptr". Null when FTS5 is not compiled in.
Result<fts5_api*> fts5_api_of(Database& db) {
  auto statement = db.prepare("SELECT fts5(?1)");
  if (!statement.is_ok()) return statement.status();
  fts5_api* api = nullptr;
  statement->bind_pointer(1, &api, "fts5_api_ptr");
  auto stepped = statement->step();
  if (!stepped.is_ok()) return stepped.status();
  return api;
}

struct Collector {
  std::string_view text;
  std::vector<SearchToken>* tokens;
};

// Called by the tokenizer for each token; no exception may cross back into SQLite. A token that
// folds to nothing, or whose offsets are not within the text, is not taken as a search word.
int collect_token(void* context, int /*flags*/, const char* token, int token_bytes, int begin,
                  int end) noexcept {
  auto* collector = static_cast<Collector*>(context);
  if (token_bytes <= 0 || begin < 0 || end < begin ||
      static_cast<std::size_t>(end) > collector->text.size()) {
    return SQLITE_OK;
  }
  try {
    collector->tokens->push_back({std::string(token, static_cast<std::size_t>(token_bytes)),
                                  static_cast<std::size_t>(begin), static_cast<std::size_t>(end)});
  } catch (const std::bad_alloc&) {
    return SQLITE_NOMEM;
  }
  return SQLITE_OK;
}

}  // namespace

Result<std::unique_ptr<SearchTokenizer>> SearchTokenizer::create(Database& db) {
  auto api = fts5_api_of(db);
  if (!api.is_ok()) return api.status();
  if (api.value() == nullptr || api.value()->iVersion < 2) {
    return Status::internal(
        "this SQLite has no FTS5 module (version 2 or later), which search "
        "needs");
  }
  void* user_data = nullptr;
  fts5_tokenizer methods{};
  if (api.value()->xFindTokenizer(api.value(), kSearchTokenizerName, &user_data, &methods) !=
      SQLITE_OK) {
    return Status::internal(std::string("this SQLite's FTS5 has no ") + kSearchTokenizerName +
                            " tokenizer, which search needs");
  }
  std::array<const char*, kSearchTokenizerArguments.size()> arguments = kSearchTokenizerArguments;
  Fts5Tokenizer* instance = nullptr;
  int rc =
      methods.xCreate(user_data, arguments.data(), static_cast<int>(arguments.size()), &instance);
  if (rc != SQLITE_OK) return status_from(nullptr, rc, "cannot create the search tokenizer");
  return std::unique_ptr<SearchTokenizer>(new SearchTokenizer(methods, instance));
}

SearchTokenizer::~SearchTokenizer() { methods_.xDelete(instance_); }

Result<std::vector<SearchToken>> SearchTokenizer::tokenize(std::string_view text) const {
  std::vector<SearchToken> tokens;
  if (text.size() > static_cast<std::size_t>(INT_MAX)) {
    return Status::invalid_argument("the search text is longer than " + std::to_string(INT_MAX) +
                                    " bytes");
  }
  Collector collector{text, &tokens};
  int rc = methods_.xTokenize(instance_, &collector, FTS5_TOKENIZE_QUERY, text.data(),
                              static_cast<int>(text.size()), collect_token);
  if (rc != SQLITE_OK) return status_from(nullptr, rc, "cannot split the search text into words");
  return tokens;
}

std::string prefix_term(std::string_view source, const SearchToken& token) {
  std::string term = "\"";
  for (char c : source.substr(token.begin, token.end - token.begin)) {
    if (c == '"') term += '"';  // FTS5 escapes a quote inside a string by doubling it
    term += c;
  }
  term += "\"*";
  return term;
}

}  // namespace iotreg::storage::sqlite
