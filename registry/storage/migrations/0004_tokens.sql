-- API bearer tokens. Only the SHA-256 of a token is stored; the token itself is shown once, when
-- it is created. A manufacturer token is bound to one manufacturer (by identity key).
CREATE TABLE tokens (
  id                INTEGER PRIMARY KEY,
  token_hash        TEXT NOT NULL UNIQUE,  -- SHA-256 of the token, hex
  role              TEXT NOT NULL,         -- officer, manufacturer or admin
  manufacturer_key  TEXT,                  -- role manufacturer: identity key of the manufacturer
  manufacturer_name TEXT,                  -- as given when the token was created
  created_at        TEXT NOT NULL,
  created_by        TEXT NOT NULL,
  expires           TEXT,                  -- last valid day, YYYY-MM-DD; NULL: does not expire
  revoked_at        TEXT
);
