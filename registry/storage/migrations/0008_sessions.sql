-- Web sessions (access/session.h): a signed-in browser holds a random session id in a cookie;
-- only its SHA-256 is stored. A session stands for the token it was opened with, and ends with
-- it (revoked or expired: the token is checked on every use), at `expires_at`, or when unused
-- for longer than the server's idle time after `last_seen_at`. Timestamps are UTC, ISO 8601.
CREATE TABLE sessions (
  session_hash TEXT PRIMARY KEY,
  token_id     INTEGER NOT NULL REFERENCES tokens (id),
  created_at   TEXT NOT NULL,
  last_seen_at TEXT NOT NULL,
  expires_at   TEXT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);
