// Search in the SQLite backend: user text is split by SQLite's own FTS5 tokenizer into the words
// the index holds, so punctuation inside a word, any script, invalid UTF-8 and query syntax are
// all searched (or refused with kInvalidArgument), never a database error.
#include <doctest/doctest.h>

#include <set>

#include "importers/schema/compiled_schema.h"
#include "registry/storage/sqlite/database.h"
#include "registry/storage/sqlite/search_tokenizer.h"
#include "registry/storage/storage.h"
#include "support/registry.h"
#include "support/temp_files.h"

namespace iotreg::storage {
namespace {

using testing::ScratchDir;

struct Product {
  std::string manufacturer, brand, model, type;
};

// A registry of the run's backend (support/registry.h) holding `products`, in order (ids
// from 1); used as a Storage through * and ->.
struct SearchRegistry {
  std::unique_ptr<test::TestRegistry> backing;
  std::unique_ptr<Storage> storage;
  Storage& operator*() const { return *storage; }
  Storage* operator->() const { return storage.get(); }
};
SearchRegistry registry_of(const ScratchDir& dir, const std::vector<Product>& products) {
  SearchRegistry registry{std::make_unique<test::TestRegistry>(dir), nullptr};
  auto opened = open_storage(registry.backing->location(), OpenMode::kReadWrite);
  REQUIRE_MESSAGE(opened.is_ok(), opened.status().message());
  auto catalog = importers::CompiledSchema::builtin()->catalog();
  static const BodyEncoder encoder = BodyEncoder::create(*catalog).value();
  auto session = opened.value()->begin_import({"search.csv", "csv", "test"}, nullptr, {}, {});
  REQUIRE(session.is_ok());
  for (const auto& product : products) {
    model::Declaration declaration(catalog);
    declaration.set(*catalog->index_of("manufacturer.name"), product.manufacturer);
    declaration.set(*catalog->index_of("product.brand"), product.brand);
    declaration.set(*catalog->index_of("product.model"), product.model);
    if (!product.type.empty()) declaration.set(*catalog->index_of("product.type"), product.type);
    StagedDeclaration staged;
    stage(encoder, declaration, "line 2", staged);
    auto stored = session.value()->store(staged);
    REQUIRE_MESSAGE(stored.is_ok(), stored.status().message());
  }
  REQUIRE(session.value()->commit({}).is_ok());
  session.value().reset();
  registry.storage = std::move(opened).value();
  return registry;
}

Result<std::vector<std::string>> search(Storage& storage, const std::string& text) {
  ProductQuery query;
  query.search = text;
  auto products = storage.list_products(query);
  if (!products.is_ok()) return products.status();
  std::vector<std::string> models;
  for (const auto& product : products.value()) models.push_back(product.model);
  return models;
}

std::vector<std::string> found(Storage& storage, const std::string& text) {
  auto models = search(storage, text);
  REQUIRE_MESSAGE(models.is_ok(), text << ": " << models.status().message());
  return models.value();
}

std::vector<std::string> folded(const sqlite::SearchTokenizer& tokenizer, std::string_view text) {
  auto tokens = tokenizer.tokenize(text);
  REQUIRE_MESSAGE(tokens.is_ok(), tokens.status().message());
  std::vector<std::string> words;
  for (const auto& token : tokens.value()) words.push_back(token.folded);
  return words;
}

// A connection to a registry at `path` (created), for the tokenizer and the FTS5 vocabulary.
std::unique_ptr<sqlite::Database> connection(const std::string& path) {
  REQUIRE(open_sqlite_storage(path, OpenMode::kReadWrite).is_ok());
  auto db = sqlite::Database::open(path, /*read_only=*/false);
  REQUIRE(db.is_ok());
  return std::move(db).value();
}

using Words = std::vector<std::string>;

}  // namespace

TEST_SUITE("storage") {
  TEST_CASE("search: the tokenizer splits text into words at punctuation, in any script" *
            doctest::test_suite("sqlite_only")) {
    ScratchDir dir;
    auto db = connection(dir.file("r.db"));
    auto tokenizer = sqlite::SearchTokenizer::create(*db);
    REQUIRE_MESSAGE(tokenizer.is_ok(), tokenizer.status().message());
    const auto& words = *tokenizer.value();

    // The five words that once answered 500: one word each for a person, two for the index.
    CHECK(folded(words, "O\u2019Neill") == Words{"o", "neill"});
    CHECK(folded(words, "Wi\u2011Fi") == Words{"wi", "fi"});
    CHECK(folded(words, "10\u00d7zoom") == Words{"10", "zoom"});
    CHECK(folded(words, "a\u00b0b") == Words{"a", "b"});
    CHECK(folded(words, "TP\u00aeLink") == Words{"tp", "link"});
    CHECK(folded(words, "O'Neill Audio") == Words{"o", "neill", "audio"});
    // Case and diacritics do not count, composed or combining; nothing else is normalised.
    CHECK(folded(words, "Caf\u00e9") == Words{"cafe"});
    CHECK(folded(words, "CAFE\u0301") == Words{"cafe"});
    CHECK(folded(words, "\u0130stanbul") == Words{"istanbul"});
    CHECK(folded(words, "Stra\u00dfe") == Words{"stra\u00dfe"});
    CHECK(folded(words, "\uff2c\uff36-C210") == Words{"\uff4c\uff56", "c210"});
    // Letters of any script; symbols, emoji, marks and controls separate.
    CHECK(folded(words, "\u6444\u50cf\u5934") == Words{"\u6444\u50cf\u5934"});
    CHECK(folded(words, "\u200f\u0645\u0631\u062d\u0628\u0627\u200e") ==
          Words{"\u0645\u0631\u062d\u0628\u0627"});
    CHECK(folded(words, "\U0001f4f7cam\U0001f4f7") == Words{"cam"});
    CHECK(folded(words, "!!! \u2014 \u00ae \u201d * \"\" ( ) : ^ -").empty());
    CHECK(folded(words, "").empty());
    // Bytes that are not text separate words too.
    CHECK(folded(words,
                 "ab\xff"
                 "cd") == Words{"ab", "cd"});
    CHECK(folded(words, std::string("a\0b", 3)) == Words{"a", "b"});
    CHECK(folded(words, "\xed\xa0\x80x\xc0\x80y") == Words{"x", "y"});

    auto tokens = words.tokenize("O\u2019Neill");
    REQUIRE(tokens.is_ok());
    REQUIRE(tokens->size() == 2);
    CHECK(tokens.value()[1].begin == 4);  // after "O" and the three bytes of U+2019
    CHECK(tokens.value()[1].end == 9);
    CHECK(sqlite::prefix_term("O\u2019Neill", tokens.value()[1]) == "\"Neill\"*");
    CHECK(sqlite::prefix_term("x\"y", {"", 0, 3}) == "\"x\"\"y\"*");
  }

  TEST_CASE("search: the tokenizer is the FTS5 tables' and its words are the indexed terms" *
            doctest::test_suite("sqlite_only")) {
    ScratchDir dir;
    const std::vector<Product> products = {
        {"O\u2019Neill Audio Ltd", "TP\u00aeLink", "10\u00d7zoom", "Wi\u2011Fi camera"},
        {"Caf\u00e9 M\u00fcller GmbH", "\u6444\u50cf\u5934", "a\u00b0b \U0001f4f7", "Stra\u00dfe"},
        {"CAFE\u0301 MULLER GMBH", "\uff2c\uff36", "X\u0301-1 \u2160", "\u0130stanbul"},
    };
    auto storage = registry_of(dir, products);
    auto db = sqlite::Database::open(storage.backing->location(), /*read_only=*/false);
    REQUIRE(db.is_ok());

    std::string tokenize = std::string("tokenize = '") + sqlite::kSearchTokenizerName;
    for (const char* argument : sqlite::kSearchTokenizerArguments)
      tokenize += std::string(" ") + argument;
    tokenize += "'";
    for (const char* table : {"products_fts", "manufacturers_fts"}) {
      auto sql = db.value()->prepare("SELECT sql FROM sqlite_master WHERE name = ?1");
      REQUIRE(sql.is_ok());
      sql->bind(1, std::string_view(table));
      REQUIRE(sql->step().value());
      CHECK_MESSAGE(sql->text(0).find(tokenize) != std::string::npos, sql->text(0));
    }

    auto tokenizer = sqlite::SearchTokenizer::create(*db.value());
    REQUIRE(tokenizer.is_ok());
    std::set<std::string> expected;
    for (const auto& product : products) {
      for (const auto& text : {product.manufacturer, product.brand, product.model, product.type}) {
        for (auto& word : folded(*tokenizer.value(), text)) expected.insert(word);
      }
    }
    std::set<std::string> indexed;
    REQUIRE(db.value()
                ->exec("CREATE VIRTUAL TABLE temp.product_terms USING "
                       "fts5vocab(main, products_fts, row);"
                       "CREATE VIRTUAL TABLE temp.manufacturer_terms USING "
                       "fts5vocab(main, manufacturers_fts, row)")
                .is_ok());
    for (const char* sql :
         {"SELECT term FROM temp.product_terms", "SELECT term FROM temp.manufacturer_terms"}) {
      auto terms = db.value()->prepare(sql);
      REQUIRE(terms.is_ok());
      while (terms->step().value()) indexed.insert(terms->text(0));
    }
    CHECK(indexed == expected);
    for (const char* word : {"o", "neill", "tp", "link", "10", "zoom", "fi", "cafe", "muller",
                             "istanbul", "\u2170", "\uff4c\uff56", "x"}) {
      CHECK_MESSAGE(indexed.count(word) == 1, word);
    }
  }

  TEST_CASE("search: a word split by punctuation finds the products that hold both parts") {
    ScratchDir dir;
    auto storage = registry_of(dir, {
                                        {"Audio Ltd", "O'Neill Audio", "OA-1", ""},
                                        {"Audio Ltd", "O\u2019Neill", "OA-2", ""},
                                        {"Netz GmbH", "TP-Link", "Archer C6", "Wi-Fi router"},
                                        {"Netz GmbH", "Netz", "NZ-7", "WiFi extender"},
                                        {"Optik AG", "Optik", "Zoom 10x", "camera"},
                                        {"Kaffee KG", "Caf\u00e9", "CF-1", "kettle"},
                                        {"Byte AG", "A\u00b0B", "AB-1", "switch"},
                                    });
    // "O’Neill" and "O'Neill" are the words "o" and "neill": both spellings are found.
    CHECK(found(*storage, "O\u2019Neill") == Words{"OA-1", "OA-2"});
    CHECK(found(*storage, "O'Neill") == Words{"OA-1", "OA-2"});
    CHECK(found(*storage, "o neill") == Words{"OA-1", "OA-2"});
    // "wi" and "fi": "WiFi" is one word, and no word of NZ-7 starts with "fi".
    CHECK(found(*storage, "Wi\u2011Fi") == Words{"Archer C6"});
    CHECK(found(*storage, "wifi") == Words{"NZ-7"});
    CHECK(found(*storage, "wi") == Words{"Archer C6", "NZ-7"});
    // Each word is a prefix: "10" of "10x".
    CHECK(found(*storage, "10\u00d7zoom") == Words{"Zoom 10x"});
    CHECK(found(*storage, "TP\u00aeLink") == Words{"Archer C6"});
    CHECK(found(*storage, "a\u00b0b") == Words{"AB-1"});
    CHECK(found(*storage, "CAF\u00c9") == Words{"CF-1"});
    CHECK(found(*storage, "cafe\u0301 kettle") == Words{"CF-1"});
    CHECK(found(*storage, "\u201cOptik\u201d") == Words{"Zoom 10x"});
  }

  TEST_CASE("search: text without words is no search condition, for lists and facets alike") {
    ScratchDir dir;
    auto storage =
        registry_of(dir, {{"Acme", "Acme", "A1", "camera"}, {"Acme", "Acme", "A2", "router"}});
    const Words all = {"A1", "A2"};
    for (const char* text : {"", "   ", "!!!", "\u2014 \u00ae \u00b0", "\U0001f4f7", "\"*\"", "-",
                             "\xff\xfe", "\xed\xa0\x80"}) {
      CHECK_MESSAGE(found(*storage, text) == all, text);
      ProductQuery query;
      query.search = text;
      auto facets = storage->product_facets(query);
      REQUIRE(facets.is_ok());
      CHECK(facets->status == std::map<std::string, std::uint64_t>{{"pending", 2}});
    }
    ProductQuery camera;
    camera.search = "\u00ae cam \u00ae";
    auto facets = storage->product_facets(camera);
    REQUIRE(facets.is_ok());
    CHECK(facets->type == std::map<std::string, std::uint64_t>{{"camera", 1}});
  }

  TEST_CASE("search: a page with its facets is the page and the facets asked for apart") {
    ScratchDir dir;
    std::vector<Product> products;
    const char* types[] = {"camera", "router", "smart lock", ""};
    for (int i = 0; i < 90; ++i) {
      products.push_back({"Maker" + std::to_string(i % 4), "Brand" + std::to_string(i % 7),
                          "M" + std::to_string(i), types[i % 4]});
    }
    auto storage = registry_of(dir, products);
    auto page_of = [](const std::vector<ProductSummary>& listed) {
      std::vector<std::int64_t> ids;
      for (const auto& product : listed) ids.push_back(product.id);
      return ids;
    };
    int compared = 0;
    for (const char* text : {"", "brand3", "maker1 camera", "lock", "nothing"}) {
      // A status condition makes the facets group a second time, without it.
      for (const auto& [type, status] :
           {std::pair{"", ""}, std::pair{"router", ""}, std::pair{"", "pending"},
            std::pair{"camera", "pending"}}) {
        for (std::size_t limit : {1, 2, 7, 8, 9, 17, 50, 200}) {
          for (std::int64_t after : {0, 5, 60}) {
            ProductQuery query;
            if (*text) query.search = text;
            if (*type) query.type = type;
            if (*status) query.status = status;
            query.limit = limit;
            if (after > 0) query.after_id = after;
            auto together = storage->list_products_with_facets(query);
            auto listed = storage->list_products(query);
            auto facets = storage->product_facets(query);
            REQUIRE(together.is_ok());
            REQUIRE(listed.is_ok());
            REQUIRE(facets.is_ok());
            CAPTURE(text);
            CAPTURE(type);
            CAPTURE(status);
            CAPTURE(limit);
            CAPTURE(after);
            CHECK(page_of(together->products) == page_of(listed.value()));
            for (std::size_t i = 0; i < together->products.size(); ++i) {
              CHECK(together->products[i].model == listed.value()[i].model);
              CHECK(together->products[i].type == listed.value()[i].type);
            }
            CHECK(together->facets.status == facets->status);
            CHECK(together->facets.type == facets->type);
            CHECK(together->facets.product_class == facets->product_class);
            CHECK(together->facets.failing_check == facets->failing_check);
            CHECK(together->facets.flag_state == facets->flag_state);
            compared += listed->empty() ? 0 : 1;
          }
        }
      }
    }
    CHECK(compared > 200);  // most combinations find products
  }

  TEST_CASE("search: the limit of 16 words counts the words of the index, each once") {
    ScratchDir dir;
    auto storage = registry_of(dir, {{"Acme", "Acme", "w0 w1 w2 w3 w4 w5 w6 w7", ""}});
    std::string sixteen = "w0";
    for (int i = 1; i < 16; ++i) sixteen += "\u2011w" + std::to_string(i);  // one word to a person
    CHECK(found(*storage, sixteen).empty());
    auto seventeen = search(*storage, sixteen + "\u00d7w16");
    REQUIRE_FALSE(seventeen.is_ok());
    CHECK(seventeen.status().code() == Status::Code::kInvalidArgument);
    CHECK(seventeen.status().message() ==
          "the search has 17 different words; at most 16 are allowed");
    // A word repeated in other spellings is one word.
    std::string repeated;
    for (int i = 0; i < 100; ++i) repeated += i % 2 ? "W1 " : "w1\u00ae";
    CHECK(found(*storage, repeated) == Words{"w0 w1 w2 w3 w4 w5 w6 w7"});
  }

  TEST_CASE("search: very long text and hostile bytes are searched or refused, never an error") {
    ScratchDir dir;
    auto storage = registry_of(dir, {{"Acme", "Acme", "A1", "camera"}});
    CHECK(found(*storage, std::string(100000, 'a')).empty());
    CHECK(found(*storage, std::string(100000, 'c')).empty());
    std::string long_word = "cam";
    long_word += std::string(40000, 'e');  // longer than FTS5's longest token
    CHECK(found(*storage, long_word).empty());
    std::string same_word;
    for (int i = 0; i < 50000; ++i) same_word += "cam ";
    CHECK(found(*storage, same_word) == Words{"A1"});
    std::string many_words;
    for (int i = 0; i < 20000; ++i) many_words += "x" + std::to_string(i) + ".";
    auto refused = search(*storage, many_words);
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().message() ==
          "the search has 20000 different words; at most 16 are allowed");
    for (std::string text :
         {std::string("cam\0era", 7), std::string("\0", 1), std::string("\x80\x80\x80"),
          std::string("ca\xccm"), std::string("NEAR(cam camera)"), std::string("cam*"),
          std::string("\"cam"), std::string("cam OR router"), std::string("{brand}: cam"),
          std::string("\xef\xbb\xbf"
                      "cam")}) {
      auto result = search(*storage, text);
      CHECK_MESSAGE(result.is_ok(), result.status().message());
    }
    CHECK(found(*storage,
                "\xef\xbb\xbf"
                "cam") == Words{"A1"});               // a byte order mark separates
    CHECK(found(*storage, "cam OR router").empty());  // "or" is a word like any other
  }
}

}  // namespace iotreg::storage
