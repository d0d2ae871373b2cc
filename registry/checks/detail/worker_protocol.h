// The framing between the registry and a check worker (`iotreg __check-worker`), private to
// registry/checks. Every message is a frame: a varint payload length, then the payload, whose
// first byte is its type. The host sends one setup message (the checks to run, with their
// parameters, the as-of date and the policy id), then batch messages (a table of field paths,
// then declarations with their earlier versions, fields named by their place in the table); the
// worker answers each batch with results messages, each for the next one or more declarations
// in batch order, holding per declaration and per check in setup order an outcome byte, a
// message and a field. Numbers are varints and texts are length-prefixed (registry/core/
// varint.h). Besides the socket, the worker publishes which check it is running on which
// declaration in a WorkerProgress page the host maps too.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "iotreg/plugin.h"
#include "registry/checks/checks.h"
#include "registry/checks/detail/loaded_check.h"

namespace iotreg::checks::protocol {

// A worker's first message is kSetup (then batches follow) or kDescribe (the worker answers
// with one kDescription and exits).
enum MessageType : unsigned char {
  kSetup = 1,
  kBatch = 2,
  kResults = 3,
  kDescribe = 4,
  kDescription = 5
};

// Appends a frame header for a payload of `size` bytes.
void put_frame_header(std::string& out, std::uint64_t size);

struct SetupCheck {
  std::string_view id;
  const iotreg_parameter* parameters = nullptr;
  std::size_t parameter_count = 0;
};
void encode_setup(std::string_view as_of, std::string_view policy_id,
                  const std::vector<SetupCheck>& checks, std::string& payload);

// A batch names fields by their position in a path table sent at its start: the paths of a
// catalog in `order` (its field indexes sorted by path, the order of the C views).
void encode_path_table(const model::FieldCatalog& catalog, const std::vector<std::size_t>& order,
                       std::string& out);
// One declaration of a batch, as encoded by the host: fields of `table_catalog` by their
// position in its path table, those of another catalog with their path.
void encode_declaration(const model::Declaration& declaration,
                        const std::vector<std::size_t>& order,
                        const model::FieldCatalog* table_catalog, std::string& out);
// Appends the frame header and the start of a batch message (the path table, then `count`)
// of `count` items whose encoded forms (each its declaration, the number of earlier versions,
// then each of them) take `items_bytes` together and follow this start directly.
void encode_batch_header(std::string_view path_table, std::size_t count, std::size_t items_bytes,
                         std::string& out);

// The worker's side: decoded messages point into the payload, which must outlive them.
struct DecodedDeclaration {
  std::vector<iotreg_field> fields;
  std::vector<iotreg_text> items;
  iotreg_declaration view{};
};
struct DecodedItem {
  DecodedDeclaration declaration;
  std::vector<DecodedDeclaration> earlier;
  std::vector<iotreg_declaration> earlier_views;
};
struct DecodedSetup {
  std::string_view as_of;
  std::string_view policy_id;
  struct Check {
    std::string_view id;
    std::vector<std::vector<iotreg_text>> values;
    std::vector<iotreg_parameter> parameters;
  };
  std::vector<Check> checks;
};
bool decode_setup(std::string_view payload, DecodedSetup& setup);
bool decode_batch(std::string_view payload, std::vector<std::string_view>& paths,
                  std::vector<DecodedItem>& items);

// The answer to kDescribe: per plugin file, in the worker's argument order, its description or
// why the worker refused it.
void encode_description(const std::vector<Result<PluginDescription>>& plugins,
                        std::string& payload);
// The host's side: `plugins` results, or what is wrong with the reply (empty on success).
std::string decode_description(std::string_view payload, std::size_t plugins,
                               std::vector<Result<detail::DescriptorTexts>>& out);

// Results of `items` declarations, from findings[first * checks] on, in item-major order
// (items x checks).
void encode_results(std::size_t first, std::size_t items, std::size_t checks,
                    const std::vector<Finding>& findings, std::string& payload);
// The host's side: the findings of 1 to `max_items` declarations (findings.size() / checks of
// them). Empty on success, else what is wrong with the reply.
std::string decode_results(std::string_view payload, std::size_t max_items, std::size_t checks,
                           std::vector<Finding>& findings);

// The page a worker shares with its host (a memfd both map): which batch, declaration and check
// it is judging, and since when (CLOCK_MONOTONIC_COARSE, which lags CLOCK_MONOTONIC, the clock
// of std::chrono::steady_clock, by at most kCoarseClockLag). The
// worker writes it before each check runs; the host reads it to give each check its own
// deadline and, on a fault, to charge the check in progress. A plugin can write it too, so the
// host trusts it only within the batch it sent and bounds a batch's time whatever it says.
inline constexpr std::chrono::milliseconds kCoarseClockLag{10};
struct WorkerProgress {
  std::atomic<std::uint64_t> batch{0};        // batches begun by this worker, 1 for the first
  std::atomic<std::uint32_t> declaration{0};  // its position in the batch
  std::atomic<std::uint32_t> check{0};        // its position in the setup
  std::atomic<std::int64_t> started_ns{0};    // when that check began on that declaration
};

}  // namespace iotreg::checks::protocol
