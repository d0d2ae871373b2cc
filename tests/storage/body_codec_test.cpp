// The stored form of declarations: exact round trips, a pinned byte layout, and damaged blobs
// and payloads refused as corruption rather than misread.
#include "registry/storage/body_codec.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "importers/importer.h"
#include "importers/schema/compiled_schema.h"

namespace iotreg::storage {
namespace {

const std::shared_ptr<const model::FieldCatalog>& catalog() {
  return importers::CompiledSchema::builtin()->catalog();
}

const BodyEncoder& encoder() {
  static const BodyEncoder instance = BodyEncoder::create(*catalog()).value();
  return instance;
}

std::string round_trip_json(const model::Declaration& declaration) {
  auto payload = decompress_body(compress_body(encoder().payload(declaration)));
  REQUIRE_MESSAGE(payload.is_ok(), payload.status().message());
  auto json = payload_to_json(payload.value());
  REQUIRE_MESSAGE(json.is_ok(), json.status().message());
  return json.value();
}

// Checks every accepted record of a file: its stored form decodes to its canonical JSON.
class RoundTripSink : public importers::RecordSink {
 public:
  void accept(const model::Declaration& declaration, const importers::RecordLocation&) override {
    CHECK(round_trip_json(declaration) == declaration.to_canonical_json());
    ++checked;
  }
  void reject(importers::RejectedRecord&&) override {}
  int checked = 0;
};

model::Declaration small_declaration() {
  model::Declaration declaration(catalog());
  declaration.set(*catalog()->index_of("manufacturer.name"), std::string("A"));
  declaration.set(*catalog()->index_of("product.brand"), std::string("B"));
  declaration.set(*catalog()->index_of("product.model"), std::string("C"));
  return declaration;
}

TEST_CASE("every sample declaration decodes to exactly its canonical JSON") {
  int total = 0;
  for (const auto& entry : std::filesystem::directory_iterator(IOTREG_SOURCE_DIR "/samples")) {
    auto format = importers::format_from_path(entry.path().string());
    if (!format) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    RoundTripSink sink;
    (void)importers::read_declarations(in, *format, *importers::CompiledSchema::builtin(), sink);
    total += sink.checked;
  }
  CHECK(total >= 60);
}

TEST_CASE("values of every type survive, including edge values") {
  model::Declaration declaration = small_declaration();
  declaration.set(*catalog()->index_of("vulnerability.acknowledge_days"), std::int64_t{0});
  declaration.set(*catalog()->index_of("label.level"), std::int64_t{-9223372036854775807 - 1});
  declaration.set(*catalog()->index_of("vulnerability.update_days"),
                  std::int64_t{9223372036854775807});
  declaration.set(*catalog()->index_of("product.cellular"), false);
  declaration.set(*catalog()->index_of("product.updatable"), true);
  declaration.set(*catalog()->index_of("passwords.examples"),
                  model::StringList{"", "a|b", "ünï\\cødé", std::string("nul\0byte", 8)});
  declaration.set(*catalog()->index_of("statement.standards"), model::StringList{});
  declaration.set(*catalog()->index_of("product.type"), std::string(70000, 'x'));
  CHECK(round_trip_json(declaration) == declaration.to_canonical_json());
}

TEST_CASE("identical declarations have equal payloads and different ones do not") {
  auto first = small_declaration();
  auto second = small_declaration();
  CHECK(encoder().payload(first) == encoder().payload(second));
  second.set(*catalog()->index_of("product.firmware_version"), std::string("1.0"));
  CHECK(encoder().payload(first) != encoder().payload(second));
}

TEST_CASE("the payload layout is pinned: field code, type tag, length, bytes") {
  // Stored bodies must decode forever: this fails if a field code or tag changes.
  const std::string expected(
      "\x01\x00\x01"
      "A"
      "\x06\x00\x01"
      "B"
      "\x07\x00\x01"
      "C",
      12);
  CHECK(encoder().payload(small_declaration()) == expected);
  auto json = payload_to_json(expected);
  REQUIRE(json.is_ok());
  CHECK(json.value() == R"({"manufacturer":{"name":"A"},"product":{"brand":"B","model":"C"}})");
  auto blob = compress_body(expected);
  CHECK(blob[0] == '\x01');
  CHECK(blob[1] == '\x0c');
}

TEST_CASE("a catalog field without a storage code is refused by name") {
  model::FieldCatalog unknown({{"manufacturer.name", model::ValueType::kString},
                               {"product.brand", model::ValueType::kString},
                               {"product.model", model::ValueType::kString},
                               {"product.type", model::ValueType::kString},
                               {"product.colour", model::ValueType::kString}});
  auto created = BodyEncoder::create(unknown);
  REQUIRE_FALSE(created.is_ok());
  CHECK(created.status().message().find("product.colour") != std::string::npos);
}

TEST_CASE("damaged blobs are corruption, never a wrong declaration") {
  const std::string payload = encoder().payload(small_declaration());
  const std::string blob = compress_body(payload);
  auto refused = [](std::string_view bad) {
    auto result = decompress_body(bad);
    return !result.is_ok() && result.status().code() == Status::Code::kCorruption;
  };
  CHECK(refused(""));
  CHECK(refused(std::string("\x02") + blob.substr(1)));        // unknown format
  CHECK(refused(blob.substr(0, blob.size() - 1)));             // truncated stream
  CHECK(refused(blob + "x"));                                  // stray bytes after the stream
  CHECK(refused(std::string("\x01\x0d") + blob.substr(2)));    // announced size too large
  CHECK(refused(std::string("\x01\x0b") + blob.substr(2)));    // announced size too small
  CHECK(refused(std::string("\x01\xff\xff\xff\xff\x7f", 6)));  // absurd size
}

TEST_CASE("damaged payloads are corruption, never a wrong declaration") {
  auto refused = [](std::string_view bad) {
    auto result = payload_to_json(bad);
    return !result.is_ok() && result.status().code() == Status::Code::kCorruption;
  };
  CHECK(
      refused(std::string("\x00\x00\x01"
                          "A",
                          4)));  // code 0
  CHECK(
      refused(std::string("\x7f\x00\x01"
                          "A",
                          4)));  // unknown code
  CHECK(
      refused(std::string("\x06\x00\x01"
                          "B\x01\x00\x01"
                          "A",
                          8)));  // out of order
  CHECK(
      refused(std::string("\x01\x09\x01"
                          "A",
                          4)));  // unknown tag
  CHECK(
      refused(std::string("\x01\x00\x05"
                          "A",
                          4)));                // text runs past the end
  CHECK(refused(std::string("\x01\x03", 2)));  // integer missing
  CHECK(
      refused(std::string("\x01\x04\x02\x01"
                          "A",
                          5)));  // list item missing

  // Random damage: every result is either a valid object or a corruption error.
  const std::string good = encoder().payload(small_declaration());
  std::mt19937 random(7);
  for (int round = 0; round < 5000; ++round) {
    std::string damaged = good;
    damaged[random() % damaged.size()] = static_cast<char>(random());
    if (random() % 4 == 0) damaged.resize(random() % damaged.size());
    auto result = payload_to_json(damaged);
    if (result.is_ok()) {
      CHECK(result.value().front() == '{');
      CHECK(result.value().back() == '}');
    } else {
      CHECK(result.status().code() == Status::Code::kCorruption);
    }
  }
}

}  // namespace
}  // namespace iotreg::storage
