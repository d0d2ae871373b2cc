#include "registry/enforcement/enforcement.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "registry/core/sha256.h"

namespace iotreg::enforcement {
namespace {

constexpr std::array<std::string_view, kFlagStates.size()> kFlagStateNames = {
    "raised", "withdrawn", "confirmed", "dismissed", "lifted"};

std::string version_text(std::int64_t version_id) {
  return "declaration version id " + std::to_string(version_id);
}

}  // namespace

std::string_view flag_state_name(FlagState state) {
  return kFlagStateNames[static_cast<std::size_t>(state)];
}

std::optional<FlagState> parse_flag_state(std::string_view name) {
  for (FlagState state : kFlagStates) {
    if (flag_state_name(state) == name) return state;
  }
  return std::nullopt;
}

bool is_open(FlagState state) {
  return state == FlagState::kRaised || state == FlagState::kConfirmed;
}

std::string flag_state_list() {
  std::string list;
  for (std::size_t i = 0; i < kFlagStates.size(); ++i) {
    if (i > 0) list += i + 1 == kFlagStates.size() ? " or " : ", ";
    list += flag_state_name(kFlagStates[i]);
  }
  return list;
}

Consequences follow_verdict(const Regime& regime, const ProductFacts& product,
                            const VerdictFacts& verdict) {
  Consequences out;
  out.status = verdict.status;
  if (product.status != verdict.status) {
    out.changes.push_back({Change::Kind::kStatus, product.status, verdict.status, 0});
  }
  const std::optional<FlagFacts>& flag = product.newest_flag;
  out.flagged = flag && is_open(flag->state);
  if (!regime.prohibition) {
    if (verdict.status == "compliant") out.label_id = label_id(product.product_id);
    return out;
  }
  auto raise = [&] {
    out.raise_reason = "non-compliant under " + regime.policy_id + " as of " + regime.as_of +
                       ": failed " + verdict.failed;
    out.changes.push_back({Change::Kind::kFlag, "", "raised", 0});
    out.flagged = true;
  };
  auto update = [&](FlagState to, std::int64_t remedied, std::string reason) {
    out.update = Consequences::FlagUpdate{flag->id, to, remedied, reason};
    if (to != flag->state) {
      out.changes.push_back({Change::Kind::kFlag, std::string(flag_state_name(flag->state)),
                             std::string(flag_state_name(to)), flag->id});
    }
  };
  if (verdict.status == "non_compliant") {
    if (!flag) return raise(), out;
    switch (flag->state) {
      case FlagState::kRaised:
        break;  // already under review
      case FlagState::kConfirmed:
        if (flag->remedied_version_id != 0) {
          update(FlagState::kConfirmed, 0,
                 "the remedy no longer holds: " + version_text(verdict.version_id) +
                     " is non-compliant (failed " + verdict.failed + ")");
        }
        break;
      case FlagState::kWithdrawn:
        raise();
        break;
      case FlagState::kDismissed:
      case FlagState::kLifted:
        // An officer's decision covers the versions up to the one it was made on.
        if (verdict.version_id > flag->covered_version_id) raise();
        break;
    }
  } else if (verdict.status == "compliant" || verdict.status == "excepted") {
    if (!flag) return out;
    const std::string why =
        "the product became " + verdict.status + " (" + version_text(verdict.version_id) + ")";
    if (flag->state == FlagState::kRaised) {
      update(FlagState::kWithdrawn, 0, why + " before an officer reviewed the flag");
      out.flagged = false;
    } else if (flag->state == FlagState::kConfirmed && flag->remedied_version_id == 0) {
      update(FlagState::kConfirmed, verdict.version_id,
             why + ": the prohibition stays in force until an officer lifts it");
    }
  }
  return out;
}

std::string_view action_name(OfficerAction action) {
  switch (action) {
    case OfficerAction::kConfirm:
      return "confirm";
    case OfficerAction::kDismiss:
      return "dismiss";
    case OfficerAction::kLift:
      return "lift";
  }
  return "act on";
}

Result<FlagState> officer_transition(std::int64_t flag_id, FlagState from, OfficerAction action) {
  const std::string flag =
      "flag " + std::to_string(flag_id) + " is " + std::string(flag_state_name(from)) + "; ";
  switch (action) {
    case OfficerAction::kConfirm:
      if (from == FlagState::kRaised) return FlagState::kConfirmed;
      return Status::conflict(flag + "only a raised flag can be confirmed");
    case OfficerAction::kDismiss:
      if (from == FlagState::kRaised || from == FlagState::kConfirmed) {
        return FlagState::kDismissed;
      }
      return Status::conflict(flag + "only a raised or confirmed flag can be dismissed");
    case OfficerAction::kLift:
      if (from == FlagState::kConfirmed) return FlagState::kLifted;
      return Status::conflict(flag + "only a confirmed flag can be lifted");
  }
  return Status::internal("unknown flag action");
}

std::string label_id(std::int64_t product_id) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "LBL-%08lld", static_cast<long long>(product_id));
  return buffer;
}

std::string token_actor(std::string_view holder, std::string_view role, std::int64_t token_id) {
  return std::string(holder) + " (" + std::string(role) + ", token " + std::to_string(token_id) +
         ")";
}

std::string cli_actor(std::string_view person) { return std::string(person) + " (command line)"; }

std::string import_cause(std::int64_t run_id) { return "import run " + std::to_string(run_id); }

std::string recheck_cause(std::int64_t run_id) { return "re-check run " + std::to_string(run_id); }

std::string daily_recheck_cause(std::string_view date) {
  return "daily re-check " + std::string(date);
}

std::string audit_hash(std::string_view previous_hash, const AuditContent& event) {
  const nlohmann::json content = {event.id,          event.at,           event.actor,
                                  event.action,      event.subject_type, event.subject_id,
                                  event.details_json};
  return sha256_hex(std::string(previous_hash) + "\n" +
                    content.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

bool AuditChainVerifier::add(const AuditContent& event, std::string_view stored_previous_hash,
                             std::string_view stored_hash) {
  if (first_bad_id_ != 0) return false;
  ++events_;
  auto fail = [&](std::string problem) {
    first_bad_id_ = event.id;
    problem_ = std::move(problem);
    return false;
  };
  if (stored_previous_hash != previous_hash_ || event.id != previous_id_ + 1) {
    return fail(previous_id_ == 0
                    ? "audit event " + std::to_string(event.id) +
                          " should be the first event, but events before it are missing"
                    : "audit event " + std::to_string(event.id) + " does not follow audit event " +
                          std::to_string(previous_id_) +
                          ": an event between them was deleted, or the order was changed");
  }
  if (audit_hash(previous_hash_, event) != stored_hash) {
    return fail("audit event " + std::to_string(event.id) +
                " was altered: its content does not match its hash");
  }
  previous_hash_ = std::string(stored_hash);
  previous_id_ = event.id;
  return true;
}

}  // namespace iotreg::enforcement
