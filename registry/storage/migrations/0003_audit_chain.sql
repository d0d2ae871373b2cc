-- A tamper-evident audit log. Every event holds the hash of the event before it (previous_hash,
-- empty for the first) and its own hash over that and its content (hash), both SHA-256 in hex,
-- so that an edited, deleted or reordered event breaks the chain (`iotreg audit verify`).
-- Events recorded before this migration are chained when it runs.
ALTER TABLE audit_events ADD COLUMN previous_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_events ADD COLUMN hash TEXT NOT NULL DEFAULT '';
