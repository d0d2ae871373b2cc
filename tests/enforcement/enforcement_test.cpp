// The enforcement rules on their own (DESIGN.md §3): what every verdict does to every flag
// state, the officer's transitions, label ids, actor names and the audit chain.
#include "registry/enforcement/enforcement.h"

#include <doctest/doctest.h>

namespace iotreg::enforcement {
namespace {

const Regime kProhibition{true, "dcms-2019", "2026-11-29"};
const Regime kLabelling{false, "sg-cls", "2026-11-29"};

FlagFacts flag(FlagState state, std::int64_t covered = 0, std::int64_t remedied = 0) {
  return {7, state, 10, covered, remedied};
}

ProductFacts product(std::string status, std::optional<FlagFacts> newest = std::nullopt) {
  return {42, std::move(status), newest};
}

VerdictFacts verdict(const std::string& status, std::int64_t version = 11) {
  return {status, status == "non_compliant" ? "support-period" : "", version};
}

TEST_SUITE("enforcement") {
  TEST_CASE("enforcement: flag state names round-trip and only raised and confirmed are open") {
    for (FlagState state : kFlagStates) {
      CHECK(parse_flag_state(flag_state_name(state)) == state);
    }
    CHECK_FALSE(parse_flag_state("Raised").has_value());
    CHECK(is_open(FlagState::kRaised));
    CHECK(is_open(FlagState::kConfirmed));
    CHECK_FALSE(is_open(FlagState::kWithdrawn));
    CHECK_FALSE(is_open(FlagState::kDismissed));
    CHECK_FALSE(is_open(FlagState::kLifted));
    CHECK(flag_state_list() == "raised, withdrawn, confirmed, dismissed or lifted");
  }

  TEST_CASE("enforcement: a non-compliant verdict raises a flag unless one is open or covers it") {
    auto first = follow_verdict(kProhibition, product(""), verdict("non_compliant"));
    CHECK(first.flagged);
    CHECK(first.raise_reason ==
          "non-compliant under dcms-2019 as of 2026-11-29: failed support-period");
    REQUIRE(first.changes.size() == 2);
    CHECK(first.changes[0].kind == Change::Kind::kStatus);
    CHECK(first.changes[0].to == "non_compliant");
    CHECK(first.changes[1].kind == Change::Kind::kFlag);
    CHECK(first.changes[1].to == "raised");

    for (FlagState open : {FlagState::kRaised, FlagState::kConfirmed}) {
      auto again = follow_verdict(kProhibition, product("non_compliant", flag(open)),
                                  verdict("non_compliant"));
      CHECK_FALSE(again.raise_reason.has_value());
      CHECK_FALSE(again.update.has_value());
      CHECK(again.flagged);
      CHECK(again.changes.empty());
    }
    // A withdrawn flag covers nothing; a dismissed or lifted one the versions up to its close.
    CHECK(follow_verdict(kProhibition, product("compliant", flag(FlagState::kWithdrawn)),
                         verdict("non_compliant"))
              .raise_reason.has_value());
    for (FlagState closed : {FlagState::kDismissed, FlagState::kLifted}) {
      CHECK_FALSE(follow_verdict(kProhibition, product("non_compliant", flag(closed, 11)),
                                 verdict("non_compliant", 11))
                      .raise_reason.has_value());
      auto later = follow_verdict(kProhibition, product("non_compliant", flag(closed, 11)),
                                  verdict("non_compliant", 12));
      CHECK(later.raise_reason.has_value());
      CHECK(later.flagged);
    }
  }

  TEST_CASE(
      "enforcement: a compliant verdict withdraws a raised flag and remedies a confirmed one") {
    auto withdrawn = follow_verdict(
        kProhibition, product("non_compliant", flag(FlagState::kRaised)), verdict("compliant", 12));
    CHECK_FALSE(withdrawn.flagged);
    REQUIRE(withdrawn.update.has_value());
    CHECK(withdrawn.update->flag_id == 7);
    CHECK(withdrawn.update->state == FlagState::kWithdrawn);
    CHECK(withdrawn.update->reason ==
          "the product became compliant (declaration version id 12) before an officer reviewed "
          "the flag");
    REQUIRE(withdrawn.changes.size() == 2);
    CHECK(withdrawn.changes[1].from == "raised");
    CHECK(withdrawn.changes[1].to == "withdrawn");

    auto remedied =
        follow_verdict(kProhibition, product("non_compliant", flag(FlagState::kConfirmed)),
                       verdict("excepted", 12));
    CHECK(remedied.flagged);  // the prohibition stays in force
    REQUIRE(remedied.update.has_value());
    CHECK(remedied.update->state == FlagState::kConfirmed);
    CHECK(remedied.update->remedied_version_id == 12);
    REQUIRE(remedied.changes.size() == 1);  // the status; the flag's state did not change
    CHECK(remedied.changes[0].to == "excepted");

    // Already remedied: the first remedying version stays.
    CHECK_FALSE(follow_verdict(kProhibition,
                               product("compliant", flag(FlagState::kConfirmed, 0, 12)),
                               verdict("compliant", 13))
                    .update.has_value());
    // A later failing version takes the remedy back.
    auto relapse =
        follow_verdict(kProhibition, product("compliant", flag(FlagState::kConfirmed, 0, 12)),
                       verdict("non_compliant", 14));
    REQUIRE(relapse.update.has_value());
    CHECK(relapse.update->remedied_version_id == 0);
    CHECK(relapse.flagged);
    CHECK_FALSE(relapse.raise_reason.has_value());
  }

  TEST_CASE("enforcement: nothing automatic changes a dismissed or lifted flag or a check error") {
    for (FlagState closed : {FlagState::kDismissed, FlagState::kLifted}) {
      auto compliant = follow_verdict(kProhibition, product("non_compliant", flag(closed, 11)),
                                      verdict("compliant", 12));
      CHECK_FALSE(compliant.update.has_value());
      CHECK_FALSE(compliant.flagged);
    }
    for (FlagState any : kFlagStates) {
      auto error = follow_verdict(kProhibition, product("non_compliant", flag(any)),
                                  verdict("check_error", 12));
      CHECK_FALSE(error.update.has_value());
      CHECK_FALSE(error.raise_reason.has_value());
      CHECK(error.flagged == is_open(any));
    }
  }

  TEST_CASE("enforcement: under labelling no flag is raised and a compliant product gets a label") {
    auto failing = follow_verdict(kLabelling, product(""), verdict("non_compliant"));
    CHECK_FALSE(failing.raise_reason.has_value());
    CHECK_FALSE(failing.flagged);
    CHECK(failing.label_id.empty());
    auto compliant = follow_verdict(kLabelling, product("non_compliant"), verdict("compliant"));
    CHECK(compliant.label_id == "LBL-00000042");
    CHECK(label_id(123456789) == "LBL-123456789");
  }

  TEST_CASE("enforcement: officers confirm raised flags and lift confirmed ones and nothing else") {
    CHECK(officer_transition(1, FlagState::kRaised, OfficerAction::kConfirm).value() ==
          FlagState::kConfirmed);
    CHECK(officer_transition(1, FlagState::kRaised, OfficerAction::kDismiss).value() ==
          FlagState::kDismissed);
    CHECK(officer_transition(1, FlagState::kConfirmed, OfficerAction::kDismiss).value() ==
          FlagState::kDismissed);
    CHECK(officer_transition(1, FlagState::kConfirmed, OfficerAction::kLift).value() ==
          FlagState::kLifted);
    auto refused = officer_transition(5, FlagState::kWithdrawn, OfficerAction::kConfirm);
    REQUIRE_FALSE(refused.is_ok());
    CHECK(refused.status().code() == Status::Code::kConflict);
    CHECK(refused.status().message() == "flag 5 is withdrawn; only a raised flag can be confirmed");
    CHECK(officer_transition(5, FlagState::kRaised, OfficerAction::kLift).status().message() ==
          "flag 5 is raised; only a confirmed flag can be lifted");
    CHECK(officer_transition(5, FlagState::kLifted, OfficerAction::kDismiss).status().message() ==
          "flag 5 is lifted; only a raised or confirmed flag can be dismissed");
  }

  TEST_CASE("enforcement: actors are people or named causes") {
    CHECK(token_actor("Jane Smith", "officer", 3) == "Jane Smith (officer, token 3)");
    CHECK(cli_actor("alice") == "alice (command line)");
    CHECK(import_cause(12) == "import run 12");
    CHECK(recheck_cause(4) == "re-check run 4");
    CHECK(daily_recheck_cause("2026-12-05") == "daily re-check 2026-12-05");
  }

  TEST_CASE("enforcement: the audit chain detects edits, deletions and reordering") {
    std::vector<AuditContent> events;
    std::vector<std::string> hashes;
    std::string previous;
    for (std::int64_t id = 1; id <= 4; ++id) {
      events.push_back({id, "2026-12-0" + std::to_string(id) + "T10:00:00Z", "Jane Smith",
                        "flag.confirm", "flag", id,
                        "{\"reason\":\"r" + std::to_string(id) + "\"}"});
      hashes.push_back(audit_hash(previous, events.back()));
      previous = hashes.back();
    }
    // The hash of an event is fixed forever: stored chains must keep verifying.
    CHECK(audit_hash("", events[0]) == hashes[0]);
    CHECK(hashes[0].size() == 64);
    auto verify = [&](const std::vector<std::size_t>& order,
                      const std::vector<AuditContent>& content) {
      AuditChainVerifier verifier;
      for (std::size_t i : order) {
        if (!verifier.add(content[i], i == 0 ? "" : hashes[i - 1], hashes[i])) break;
      }
      return verifier;
    };
    CHECK(verify({0, 1, 2, 3}, events).first_bad_id() == 0);
    CHECK(verify({0, 1, 2, 3}, events).events() == 4);
    auto edited = events;
    edited[2].details_json = "{\"reason\":\"changed\"}";
    auto bad = verify({0, 1, 2, 3}, edited);
    CHECK(bad.first_bad_id() == 3);
    CHECK(bad.problem() == "audit event 3 was altered: its content does not match its hash");
    auto deleted = verify({0, 2, 3}, events);
    CHECK(deleted.first_bad_id() == 3);
    CHECK(deleted.problem() ==
          "audit event 3 does not follow audit event 1: an event between them was deleted, or the "
          "order was changed");
    CHECK(verify({1, 2, 3}, events).problem() ==
          "audit event 2 should be the first event, but events before it are missing");
  }
}

}  // namespace
}  // namespace iotreg::enforcement
