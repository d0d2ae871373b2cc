-- Manufacturers, products, every declaration version, import runs and the audit log.
CREATE TABLE manufacturers (
  id       INTEGER PRIMARY KEY,
  name     TEXT NOT NULL,         -- as first declared
  name_key TEXT NOT NULL UNIQUE   -- identity: lower-case ASCII, whitespace collapsed
);

CREATE TABLE import_runs (
  id           INTEGER PRIMARY KEY,
  started_at   TEXT NOT NULL,
  finished_at  TEXT,
  source       TEXT NOT NULL,
  format       TEXT NOT NULL,
  actor        TEXT NOT NULL,
  records_read INTEGER NOT NULL DEFAULT 0,
  accepted     INTEGER NOT NULL DEFAULT 0,
  rejected     INTEGER NOT NULL DEFAULT 0,
  new_products INTEGER NOT NULL DEFAULT 0,
  new_versions INTEGER NOT NULL DEFAULT 0,
  unchanged    INTEGER NOT NULL DEFAULT 0,
  file_error   TEXT
);

-- A product is (manufacturer, brand, model) compared by identity key. identity_hash is
-- model::ProductIdentity::hash (64-bit FNV-1a of the three keys); lookups compare the keys
-- themselves, so a hash collision never merges two products.
CREATE TABLE products (
  id                INTEGER PRIMARY KEY,
  manufacturer_id   INTEGER NOT NULL REFERENCES manufacturers(id),
  identity_hash     INTEGER NOT NULL,
  brand             TEXT NOT NULL,  -- as first declared
  model             TEXT NOT NULL,  -- as first declared
  type              TEXT,           -- from the latest version
  status            TEXT NOT NULL DEFAULT 'pending',
  flagged           INTEGER NOT NULL DEFAULT 0,
  latest_version_id INTEGER NOT NULL,  -- declaration_versions.id of the latest version
  version_count     INTEGER NOT NULL,
  created_run_id    INTEGER NOT NULL REFERENCES import_runs(id),
  updated_run_id    INTEGER NOT NULL REFERENCES import_runs(id)
);
CREATE INDEX products_identity ON products (identity_hash);

-- Every version of every declaration, kept forever. The versions of one product form a chain
-- from products.latest_version_id through previous_id back to version 1.
CREATE TABLE declaration_versions (
  id              INTEGER PRIMARY KEY,
  product_id      INTEGER NOT NULL REFERENCES products(id),
  version         INTEGER NOT NULL,
  previous_id     INTEGER REFERENCES declaration_versions(id),
  import_run_id   INTEGER NOT NULL REFERENCES import_runs(id),
  source_location TEXT,
  body            BLOB NOT NULL  -- the declaration, compact and compressed (body_codec.h)
);

CREATE TABLE audit_events (
  id           INTEGER PRIMARY KEY,
  at           TEXT NOT NULL,
  actor        TEXT NOT NULL,
  action       TEXT NOT NULL,
  subject_type TEXT NOT NULL,
  subject_id   INTEGER NOT NULL,
  details      TEXT NOT NULL      -- JSON object
);
CREATE INDEX audit_events_subject ON audit_events (subject_type, subject_id);

-- Full-text search. Contentless and without positions: the tables only answer "which rows
-- hold a word starting with ...", which is all the search needs, at a fraction of the cost of
-- a full index. Manufacturers are indexed once each, not once per product.
CREATE VIRTUAL TABLE products_fts USING fts5 (
  brand, model, type,
  content = '', columnsize = 0, detail = none,
  tokenize = 'unicode61 remove_diacritics 2'
);
CREATE VIRTUAL TABLE manufacturers_fts USING fts5 (
  name,
  content = '', columnsize = 0, detail = none,
  tokenize = 'unicode61 remove_diacritics 2'
);
