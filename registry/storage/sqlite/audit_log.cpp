#include "registry/storage/sqlite/audit_log.h"

#include "registry/enforcement/enforcement.h"

namespace iotreg::storage::sqlite {
namespace {

std::string event_hash(const std::string& previous_hash, std::int64_t id,
                       const AuditRecord& event) {
  return enforcement::audit_hash(previous_hash, records::audit_content(id, event));
}

AuditRecord read_record(const Statement& row, int first) {
  return {row.text(first),     row.text(first + 1),  row.text(first + 2),
          row.text(first + 3), row.int64(first + 4), row.text(first + 5)};
}

}  // namespace

Result<std::int64_t> append_audit_event(Database& db, const AuditRecord& event) {
  auto last = db.prepare("SELECT id, hash FROM audit_events ORDER BY id DESC LIMIT 1");
  if (!last.is_ok()) return last.status();
  auto row = last->step();
  if (!row.is_ok()) return row.status();
  std::int64_t id = 1;
  std::string previous_hash;
  if (row.value()) {
    id = last->int64(0) + 1;
    previous_hash = last->text(1);
  }
  last->reset();
  auto insert = db.prepare(
      "INSERT INTO audit_events (id, at, actor, action, subject_type, subject_id, details, "
      "previous_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!insert.is_ok()) return insert.status();
  std::string hash = event_hash(previous_hash, id, event);
  insert->bind(1, id)
      .bind(2, event.at)
      .bind(3, event.actor)
      .bind(4, event.action)
      .bind(5, event.subject_type)
      .bind(6, event.subject_id)
      .bind(7, event.details_json)
      .bind(8, previous_hash)
      .bind(9, hash);
  if (auto status = insert->run(); !status.is_ok()) return status;
  return id;
}

Status chain_unhashed_audit_events(Database& db) {
  auto events = db.prepare(
      "SELECT id, at, actor, action, subject_type, subject_id, details, hash FROM audit_events "
      "ORDER BY id");
  if (!events.is_ok()) return events.status();
  auto update = db.prepare("UPDATE audit_events SET previous_hash = ?1, hash = ?2 WHERE id = ?3");
  if (!update.is_ok()) return update.status();
  std::string previous_hash;
  for (;;) {
    auto row = events->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    std::int64_t id = events->int64(0);
    std::string stored_hash = events->text(7);
    if (stored_hash.empty()) {
      stored_hash = event_hash(previous_hash, id, read_record(*events, 1));
      update->bind(1, previous_hash).bind(2, stored_hash).bind(3, id);
      if (auto status = update->run(); !status.is_ok()) return status;
    }
    previous_hash = stored_hash;
  }
  return Status::ok();
}

Result<AuditVerification> verify_audit_chain(Database& db) {
  auto events = db.prepare(
      "SELECT id, at, actor, action, subject_type, subject_id, details, previous_hash, hash "
      "FROM audit_events ORDER BY id");
  if (!events.is_ok()) return events.status();
  enforcement::AuditChainVerifier verifier;
  for (;;) {
    auto row = events->step();
    if (!row.is_ok()) return row.status();
    if (!row.value()) break;
    if (!verifier.add(records::audit_content(events->int64(0), read_record(*events, 1)),
                      events->text_view(7), events->text_view(8))) {
      break;
    }
  }
  AuditVerification verification;
  verification.events = verifier.events();
  verification.first_bad_id = verifier.first_bad_id();
  verification.problem = verifier.problem();
  return verification;
}

}  // namespace iotreg::storage::sqlite
