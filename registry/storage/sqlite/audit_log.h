// The audit log's storage in the SQLite backend. Each event is stored with its predecessor's
// hash and its own, computed by the chain's rule (enforcement::audit_hash), so changing,
// removing or reordering any event breaks every hash after it. Appends must run inside the
// caller's write transaction (the one of the change they record).
#pragma once

#include <cstdint>
#include <string>

#include "registry/core/status.h"
#include "registry/storage/session_records.h"
#include "registry/storage/sqlite/database.h"
#include "registry/storage/storage.h"

namespace iotreg::storage::sqlite {

using records::AuditRecord;

// Appends one event after the last one; returns its id.
Result<std::int64_t> append_audit_event(Database& db, const AuditRecord& event);
// Chains events that have no hash yet (recorded before the chain existed), in id order.
Status chain_unhashed_audit_events(Database& db);
// Walks the whole chain and names the first event that does not fit.
Result<AuditVerification> verify_audit_chain(Database& db);

}  // namespace iotreg::storage::sqlite
