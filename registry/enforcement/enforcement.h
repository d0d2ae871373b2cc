// Enforcement: the rules that turn the checks' verdicts into enforcement records (DESIGN.md §3).
// What a verdict does to a product's sale-prohibition flag (raise, withdraw, mark remedied),
// which transitions an officer may make, how a label id looks, how actors and automatic causes
// are named, and how the audit log's hash chain is computed and verified. Storage backends
// store what these rules decide and never decide themselves, so that no backend repeats a rule.
// Plain values and stateless functions; thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/core/status.h"

namespace iotreg::enforcement {

// The states of a sale-prohibition flag. Raised and confirmed flags are open (the product is
// flagged); the others are closed.
enum class FlagState { kRaised, kWithdrawn, kConfirmed, kDismissed, kLifted };
inline constexpr std::array kFlagStates = {FlagState::kRaised, FlagState::kWithdrawn,
                                           FlagState::kConfirmed, FlagState::kDismissed,
                                           FlagState::kLifted};
std::string_view flag_state_name(FlagState state);
std::optional<FlagState> parse_flag_state(std::string_view name);
bool is_open(FlagState state);
// "raised, withdrawn, confirmed, dismissed or lifted", for messages.
std::string flag_state_list();

// What the rules need to know of a product's newest flag.
struct FlagFacts {
  std::int64_t id = 0;
  FlagState state = FlagState::kRaised;
  std::int64_t raised_version_id = 0;  // the declaration version that raised it
  // Closed by an officer (dismissed, lifted): the latest version of the product then. A flag
  // covers the versions up to this one: they raise no new flag.
  std::int64_t covered_version_id = 0;
  std::int64_t remedied_version_id =
      0;  // confirmed, and this compliant version remedies it; 0: not
};

// What the rules need to know of a product when a new verdict arrives.
struct ProductFacts {
  std::int64_t product_id = 0;
  std::string status;  // its status before the verdict; empty for a new product
  std::optional<FlagFacts> newest_flag;
};

// A verdict on a product's latest declaration.
struct VerdictFacts {
  std::string status;  // excepted, non_compliant, check_error or compliant
  std::string failed;  // the failed mandatory checks, e.g. "default-password, statement"
  std::int64_t version_id = 0;
};

// Under which regime, policy and date verdicts are given.
struct Regime {
  bool prohibition = true;
  std::string policy_id;
  std::string as_of;
};

// A change to record in a product's status history.
struct Change {
  enum class Kind { kStatus, kFlag } kind = Kind::kStatus;
  std::string from;  // a status or flag state; empty: none before
  std::string to;
  std::int64_t flag_id = 0;  // kFlag: the flag; 0 for a flag this verdict raises
};

// What the storage must write after a verdict: the product's new status, whether it is
// flagged, its label id, a flag to raise, and a change to its newest flag.
struct Consequences {
  std::string status;
  bool flagged = false;                     // an open flag after the verdict
  std::string label_id;                     // labelling regime, compliant: the label; else empty
  std::optional<std::string> raise_reason;  // a new raised flag, with this reason
  struct FlagUpdate {
    std::int64_t flag_id = 0;
    FlagState state = FlagState::kRaised;  // unchanged for a remedy
    std::int64_t remedied_version_id = 0;  // the confirmed flag's remedy (0: none)
    std::string reason;                    // for the audit event and the history
  };
  std::optional<FlagUpdate> update;
  std::vector<Change> changes;  // status and flag changes, for the status history
};

// Applies DESIGN.md §3 to one verdict. Under prohibition: a non-compliant verdict raises a flag
// unless one is open or a closed one covers this version; a compliant or excepted verdict
// withdraws a raised flag and marks a confirmed one remedied (a failing verdict on a later
// version takes the remedy back); nothing automatic confirms, dismisses or lifts. A check error
// changes no flag. Under labelling no flag is raised and a compliant product gets its label id.
Consequences follow_verdict(const Regime& regime, const ProductFacts& product,
                            const VerdictFacts& verdict);

// What an officer does to flags.
enum class OfficerAction { kConfirm, kDismiss, kLift };
std::string_view action_name(OfficerAction action);  // confirm, dismiss, lift
// The state `from` goes to under `action`: confirm a raised flag; dismiss a raised or confirmed
// one; lift a confirmed one. kConflict naming the flag's state otherwise.
Result<FlagState> officer_transition(std::int64_t flag_id, FlagState from, OfficerAction action);

// Label ids are derived from the product id: stable for as long as the product is compliant,
// and the same whenever it becomes compliant again.
std::string label_id(std::int64_t product_id);

// The names of actors in audit events, flags and the status history.
// A person acting with an API token: "Jane Smith (officer, token 3)".
std::string token_actor(std::string_view holder, std::string_view role, std::int64_t token_id);
// A person at the command line: "alice (command line)".
std::string cli_actor(std::string_view person);
// The automatic causes: "import run 12", "re-check run 4", "daily re-check 2026-12-05".
std::string import_cause(std::int64_t run_id);
std::string recheck_cause(std::int64_t run_id);
std::string daily_recheck_cause(std::string_view date);

// One audit event as hashed: the chain's content.
struct AuditContent {
  std::int64_t id = 0;
  std::string at;
  std::string actor;
  std::string action;
  std::string subject_type;
  std::int64_t subject_id = 0;
  std::string details_json;
};
// The hash of an event after `previous_hash` (empty for the first): SHA-256 in hex over the
// previous hash and the content as one JSON array, so that no two events serialise alike.
std::string audit_hash(std::string_view previous_hash, const AuditContent& event);

// Walks a chain of events in id order, as stored with their previous and own hashes.
class AuditChainVerifier {
 public:
  // False once an event does not fit; problem() then names it.
  bool add(const AuditContent& event, std::string_view stored_previous_hash,
           std::string_view stored_hash);
  std::uint64_t events() const { return events_; }
  std::int64_t first_bad_id() const { return first_bad_id_; }
  const std::string& problem() const { return problem_; }

 private:
  std::uint64_t events_ = 0;
  std::int64_t previous_id_ = 0;
  std::string previous_hash_;
  std::int64_t first_bad_id_ = 0;
  std::string problem_;
};

}  // namespace iotreg::enforcement
