// Actions: what an officer does to sale-prohibition flags (DESIGN.md §3), from the command line
// or the API, decided by the enforcement rules and written by the storage in one transaction.
// Several flags in one action are all acted on or none. Stateless functions; each uses the given
// Storage from the calling thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "registry/core/status.h"
#include "registry/enforcement/enforcement.h"
#include "registry/storage/storage.h"

namespace iotreg::actions {

struct FlagActionRequest {
  enforcement::OfficerAction action = enforcement::OfficerAction::kConfirm;
  std::vector<std::int64_t> flag_ids;  // at least one, each once
  std::string reason;                  // required
  std::string notice;                  // confirm only: the stop notice's reference, optional
  std::string actor;                   // the person, e.g. "Jane Smith (officer, token 3)"
};

// The longest reason and notice accepted, in bytes.
inline constexpr std::size_t kMaxReasonBytes = 4000;
inline constexpr std::size_t kMaxNoticeBytes = 200;

// Acts on every flag of the request, or on none: kInvalidArgument for a request that is not
// well-formed (no flag, a repeated one, an empty or overlong reason, a notice with an action
// other than confirm); kNotFound naming the first unknown flag; kConflict naming the first flag
// whose state does not allow the action; kBusy when another writer holds the registry.
Status act_on_flags(storage::Storage& storage, const FlagActionRequest& request);

}  // namespace iotreg::actions
