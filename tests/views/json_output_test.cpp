// The compact JSON of every reply: byte for byte what nlohmann's serializer writes, invalid
// UTF-8 replaced, on values of every type and on strings of every kind of byte.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "importers/schema/compiled_schema.h"
#include "registry/model/declaration.h"
#include "registry/storage/body_codec.h"
#include "registry/views/views.h"

namespace iotreg::views {
namespace {

std::string reference(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// Random bytes drawn mostly from the ones that need care: controls, quotes, backslashes, DEL,
// lead and continuation bytes of UTF-8 (valid sequences and broken ones), and plain letters.
std::string random_text(std::mt19937& random) {
  static const std::string kPieces[] = {"a",
                                        "Z",
                                        " ",
                                        "\"",
                                        "\\",
                                        "\b",
                                        "\f",
                                        "\n",
                                        "\r",
                                        "\t",
                                        "\x01",
                                        "\x1f",
                                        "\x7f",
                                        "é",
                                        "€",
                                        "😀",
                                        "\xc3",
                                        "\xa9",
                                        "\xe2\x82",
                                        "\xf0\x9f\x98",
                                        "\xed\xa0\x80",
                                        "\xc0\xaf",
                                        "\xff",
                                        "\xc2\x80",
                                        "\xc2\x9f",
                                        "\xf4\x8f\xbf\xbf",
                                        "\xf4\x90\x80\x80",
                                        "\xf5",
                                        "\xe0\x80\x80",
                                        "\xe0\xa0\x80",
                                        "\xf0\x80\x80\x80",
                                        "\xf0\x90\x80\x80",
                                        "\xed\x9f\xbf",
                                        "\xee\x80\x80",
                                        std::string(1, '\0')};
  std::uniform_int_distribution<std::size_t> piece(0, std::size(kPieces) - 1);
  std::uniform_int_distribution<int> length(0, 12);
  std::string text;
  for (int i = length(random); i > 0; --i) text += kPieces[piece(random)];
  return text;
}

Json random_value(std::mt19937& random, int depth) {
  std::uniform_int_distribution<int> kind(0, depth > 3 ? 5 : 7);
  switch (kind(random)) {
    case 0:
      return nullptr;
    case 1:
      return random() % 2 == 0;
    case 2:
      return static_cast<std::int64_t>(random()) - (std::int64_t{1} << 31);
    case 3:
      return static_cast<std::uint64_t>(random()) << 32 | random();
    case 4:
      return std::uniform_real_distribution<double>(-1e6, 1e6)(random);
    case 5:
      return random_text(random);
    case 6: {
      Json array = Json::array();
      for (int i = static_cast<int>(random() % 5); i > 0; --i) {
        array.push_back(random_value(random, depth + 1));
      }
      return array;
    }
    default: {
      Json object = Json::object();
      for (int i = static_cast<int>(random() % 5); i > 0; --i) {
        object[random_text(random)] = random_value(random, depth + 1);
      }
      return object;
    }
  }
}

}  // namespace

TEST_SUITE("views") {
  TEST_CASE("compact JSON is written as nlohmann writes it") {
    const Json fixed = {
        {"null", nullptr},
        {"flags", {true, false}},
        {"numbers",
         {0, -1, std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
          std::numeric_limits<std::uint64_t>::max(), 1.5, -0.0, 1e300, 3.0}},
        {"empty", {{"array", Json::array()}, {"object", Json::object()}, {"string", ""}}},
        {"escapes", "quote \" backslash \\ \b\f\n\r\t \x01\x1f\x7f end"},
        {"text", "Domótica € 😀"},
        {"broken",
         "ok \xc3 then \xff and \xed\xa0\x80 and \xc0\xaf, \xf4\x90\x80\x80, \xf5, \xe0\x80\x80, "
         "\xf0\x80\x80\x80"},
        {"edges", "\xc2\x80 \xc2\x9f \xf4\x8f\xbf\xbf \xed\x9f\xbf \xee\x80\x80 \xe0\xa0\x80"},
        {"key \" with \n escapes \xff", "value"}};
    CHECK(dump(fixed) == reference(fixed));
    CHECK(dump(fixed).find("\\u0001") != std::string::npos);
    CHECK(dump(fixed).find("\xef\xbf\xbd") != std::string::npos);  // U+FFFD

    std::mt19937 random(20261205);
    for (int i = 0; i < 2000; ++i) {
      const Json value = random_value(random, 0);
      REQUIRE_MESSAGE(dump(value) == reference(value), reference(value));
    }
  }

  TEST_CASE("a stored declaration is written as stored, as its parsed tree would be written") {
    auto catalog = importers::CompiledSchema::builtin()->catalog();
    const auto encoder = storage::BodyEncoder::create(*catalog).value();
    std::mt19937 random(20261206);
    for (int i = 0; i < 200; ++i) {
      // Fields of every kind, each text valid UTF-8 with escapes, controls and characters beyond
      // ASCII.
      model::Declaration declaration(catalog);
      for (std::size_t field = 0; field < catalog->size(); ++field) {
        if (random() % 3 == 0) continue;
        const model::ValueType type = catalog->field(field).type;
        if (type == model::ValueType::kBoolean) {
          declaration.set(field, random() % 2 == 0);
          continue;
        }
        if (type == model::ValueType::kInteger) {
          declaration.set(field, static_cast<std::int64_t>(random()) - (std::int64_t{1} << 31));
          continue;
        }
        if (type != model::ValueType::kString) continue;
        std::string text;
        for (int piece = static_cast<int>(random() % 6); piece >= 0; --piece) {
          static const char* kPieces[] = {"a", "\"", "\\", "\n", "\x01", "\x7f", "é", "😀", "/"};
          text += kPieces[random() % std::size(kPieces)];
        }
        declaration.set(field, text);
      }
      auto text = storage::payload_to_json(encoder.payload(declaration));
      REQUIRE(text.is_ok());
      const Json parsed = Json::parse(text.value());
      const Json stored = stored_object(text.value());
      CHECK(stored.is_binary());
      CHECK(declaration_object(text.value()) == stored);  // the same, with only UTF-8 checked
      CHECK(dump(stored) == text.value());
      CHECK(dump(stored) == reference(parsed));
      const Json reply = {{"declaration", stored}, {"versions", {{{"declaration", stored}}}}};
      const Json expected = {{"declaration", parsed}, {"versions", {{{"declaration", parsed}}}}};
      CHECK(dump(reply) == reference(expected));
      CHECK(dump(reply, 2) == expected.dump(2));
    }
  }

  TEST_CASE("an audit event's stored details are written as stored") {
    const Json details = {{"source", "a \"b\".csv"},
                          {"records_read", 3},
                          {"flags", {1, 2}},
                          {"nested", {{"note", "é\n\x01"}, {"none", nullptr}, {"ok", true}}}};
    const std::string text = details.dump();
    CHECK(stored_object(text).is_binary());
    CHECK(dump(stored_object(text)) == text);
    CHECK(dump(Json{{"details", stored_object(text)}}, 2) == Json{{"details", details}}.dump(2));
  }

  TEST_CASE("stored text that is not valid UTF-8 or not an object is parsed as before") {
    const std::string broken = "{\"product\":{\"brand\":\"Acme \xff\"}}";
    CHECK(stored_object(broken).is_null());  // nlohmann's parser refuses it, as before
    CHECK(declaration_object(broken).is_null());
    CHECK(stored_object("not json").is_null());
    CHECK(stored_object("[1,2]") == Json::array({1, 2}));
    CHECK(stored_object("").is_null());
  }

  TEST_CASE("printed findings are kept by evaluation and stored form, within their bounds") {
    FindingsMemo memo;
    auto printed = [](const std::string& check) {
      return std::make_shared<const PrintedFindings>(
          PrintedFindings{Json::array({{{"check", check}}}), Json::array({check})});
    };
    const auto first = printed("password-policy");
    memo.add(1, "\x01\x02", first);
    CHECK(memo.find(1, "\x01\x02") == first);
    CHECK_FALSE(memo.find(2, "\x01\x02"));  // another evaluation's checks may differ
    CHECK_FALSE(memo.find(1, std::string_view("\x01\x02\x00", 3)));
    CHECK_FALSE(memo.find(1, std::string_view("\x01", 1)));

    const std::string large(FindingsMemo::kLargestForm + 1, 'x');
    memo.add(1, large, printed("large"));
    CHECK_FALSE(memo.find(1, large));  // never kept

    // At kMostEntries it starts afresh: the oldest form is gone, the newest kept.
    for (std::size_t i = 1; i <= FindingsMemo::kMostEntries; ++i) {
      memo.add(1, "form " + std::to_string(i), printed(std::to_string(i)));
    }
    CHECK_FALSE(memo.find(1, "\x01\x02"));
    const auto newest = memo.find(1, "form " + std::to_string(FindingsMemo::kMostEntries));
    REQUIRE(newest);
    CHECK(readable(newest->written) ==
          Json::array({{{"check", std::to_string(FindingsMemo::kMostEntries)}}}));
  }

  TEST_CASE("a product written as text is the product's tree written out") {
    std::mt19937 random(20261205);
    const char* texts[] = {"",         "Acme",          "a \"quoted\" \\ name",
                           "é😀\n\x01", "bad \xff byte", "2026-11-29T10:00:00Z"};
    auto text = [&] { return std::string(texts[random() % std::size(texts)]); };
    for (int i = 0; i < 300; ++i) {
      storage::ProductSummary product;
      product.id = static_cast<std::int64_t>(random());
      product.manufacturer = text();
      product.brand = text();
      product.model = text();
      product.type = text();
      product.product_class = text();
      product.status = text();
      product.flagged = random() % 2 == 0;
      if (random() % 2 == 0) product.flag_state = enforcement::FlagState::kConfirmed;
      product.remedied = random() % 2 == 0;
      product.flag_id = random() % 2 == 0 ? 0 : static_cast<std::int64_t>(random());
      product.support_end = text();
      product.label_id = text();
      product.version_count = static_cast<std::int64_t>(random() % 5);
      product.created_at = text();
      product.updated_at = text();
      PrintedFindings findings{
          as_written(Json::array({{{"check", "password-policy"}, {"message", text()}}})),
          random() % 2 == 0 ? Json::array() : Json::array({"password-policy"})};
      REQUIRE(findings.written.is_binary());
      const Json written = written_product_json(product, findings);
      REQUIRE(written.is_binary());
      CHECK(dump(written) == dump(product_json(product, findings)));
      CHECK(dump(Json::array({written}), 2) ==
            dump(Json::array({product_json(product, findings)}), 2));
    }
  }

  TEST_CASE("indented JSON is nlohmann's own") {
    const Json value = {{"a", {1, 2}}, {"b", "\xff"}};
    CHECK(dump(value, 2) == value.dump(2, ' ', false, Json::error_handler_t::replace));
  }
}

}  // namespace iotreg::views
