// The PostgreSQL backend's registry: opening one (identity, version and migrations), the write
// lock every write transaction takes, and the audit log's chain. Private to the backend.
//
// A PostgreSQL database is an iotreg registry when it holds the table iotreg_schema, whose one
// row records the schema version. An empty database becomes a registry when opened read-write;
// a database with other tables is refused, as is one written by a newer iotreg. Migrations run
// under an advisory lock, so several processes opening one database at once migrate it once.
//
// Writes are serialised, as in the embedded backend: every write transaction first takes the
// registry's write lock (a transaction-level advisory lock), waiting at most
// $IOTREG_BUSY_TIMEOUT_MS (default 5000) and failing with kBusy after. Readers never wait. One
// writer at a time keeps the audit chain and every file's import whole, however many
// processes (servers, command lines) share the database. The lock's key is kWriterLockKey: an
// operator who holds it (`SELECT pg_advisory_lock(7597419129372409858)`) holds every writer off.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "registry/storage/postgresql/connection.h"
#include "registry/storage/session_records.h"
#include "registry/storage/storage.h"

namespace iotreg::storage::postgresql {

// The advisory lock keys of a registry ("iotr" and a number): its write lock, and the lock its
// migrations run under.
inline constexpr std::int64_t kWriterLockKey = 0x696F747200000002;  // 7597419129372409858
inline constexpr std::int64_t kMigrationLockKey = 0x696F747200000001;

// True when `location` is a libpq connection URI (postgresql:// or postgres://).
bool is_postgresql_location(const std::string& location);
// The URI without its password, for messages.
std::string printable_uri(const std::string& uri);

// The PostgreSQL backend (open_storage's for a postgresql:// URI).
Result<std::unique_ptr<Storage>> open_postgresql_storage(const std::string& uri, OpenMode mode);

// Connects and makes sure the database is a current registry (see above).
Result<std::unique_ptr<Connection>> open_registry(const std::string& uri, OpenMode mode);

// Takes the registry's write lock for the transaction in progress (see above).
Status lock_writer(Connection& connection);

using records::AuditRecord;

// Appends one event after the last one, inside the caller's write transaction (which holds the
// write lock); returns its id.
Result<std::int64_t> append_audit_event(Connection& connection, const AuditRecord& event);
// Walks the whole chain and names the first event that does not fit.
Result<AuditVerification> verify_audit_chain(Connection& connection);

}  // namespace iotreg::storage::postgresql
