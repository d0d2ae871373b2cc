// Where each product was first declared in one input, by product identity hash, for the
// duplicate warnings of an import. 16 bytes a product in one open-addressed table (linear
// probing, kept at most three-quarters full), where a node-based map took about five times that:
// a file of a million products costs 32 MiB. Not thread-safe; owned by one reader.
#pragma once

#include <cstdint>
#include <vector>

namespace iotreg::ingest::detail {

class FirstRecords {
 public:
  struct Found {
    bool added = false;           // not met before: stored now
    std::uint32_t position = 0;   // the first record's line, array index or document number
    std::uint32_t* payload_hash;  // of what the product's latest record declared; updatable
  };

  // Looks `identity` up, adding it with `position` and `payload_hash` when it is not there. The
  // pointer in the answer is valid until the next call.
  Found find_or_add(std::uint64_t identity, std::uint32_t position, std::uint32_t payload_hash) {
    if ((count_ + 1) * 4 > slots_.size() * 3) grow();
    Slot& slot = probe(identity);
    if (slot.position_plus_one != 0) {
      return {false, slot.position_plus_one - 1, &slot.payload_hash};
    }
    slot = {identity, position + 1, payload_hash};
    ++count_;
    return {true, position, &slot.payload_hash};
  }

 private:
  struct Slot {
    std::uint64_t identity = 0;
    std::uint32_t position_plus_one = 0;  // 0: an empty slot
    std::uint32_t payload_hash = 0;
  };
  static_assert(sizeof(Slot) == 16);

  Slot& probe(std::uint64_t identity) {
    // Identity hashes are FNV-1a of the identity keys: their low bits are well mixed.
    const std::size_t mask = slots_.size() - 1;
    for (std::size_t at = identity & mask;; at = (at + 1) & mask) {
      Slot& slot = slots_[at];
      if (slot.position_plus_one == 0 || slot.identity == identity) return slot;
    }
  }

  void grow() {
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(old.empty() ? 1024 : old.size() * 2, Slot{});
    for (const Slot& slot : old) {
      if (slot.position_plus_one != 0) probe(slot.identity) = slot;
    }
  }

  std::vector<Slot> slots_;
  std::size_t count_ = 0;
};

}  // namespace iotreg::ingest::detail
