-- Check results and the prohibition workflow.
--
-- An evaluation is what judged: the policy, the plugin set and the as-of date (its provenance,
-- with every check's plugin, version and file hash, is stored once). Each product holds the
-- verdict on its latest declaration: the evaluation, the judged version, the status and the
-- findings in their compact stored form (registry/checks/checks.h).
CREATE TABLE evaluations (
  id         INTEGER PRIMARY KEY,
  key        TEXT NOT NULL UNIQUE,  -- equal keys give equal verdicts
  policy_id  TEXT NOT NULL,
  as_of      TEXT NOT NULL,
  created_at TEXT NOT NULL,
  provenance TEXT NOT NULL          -- JSON object
);

ALTER TABLE products ADD COLUMN evaluation_id INTEGER REFERENCES evaluations(id);
-- Like latest_version_id, written before its version row exists, so without a foreign key.
ALTER TABLE products ADD COLUMN evaluated_version_id INTEGER;
ALTER TABLE products ADD COLUMN findings BLOB;
ALTER TABLE products ADD COLUMN label_id TEXT;  -- under a labelling regime, when compliant

-- Sale-prohibition flags. A flag is raised (by an import or a re-check) when the product's
-- latest declaration is non-compliant under a prohibition regime; an officer confirms or
-- dismisses it; a later compliant declaration lifts it. The raise is recorded in the row; every
-- later transition is an audit event about the flag (subject_type 'flag').
CREATE TABLE flags (
  id                INTEGER PRIMARY KEY,
  product_id        INTEGER NOT NULL REFERENCES products(id),
  state             TEXT NOT NULL,  -- raised, confirmed, dismissed, lifted
  raised_at         TEXT NOT NULL,
  raised_by         TEXT NOT NULL,
  raised_version_id INTEGER NOT NULL REFERENCES declaration_versions(id),
  raise_reason      TEXT NOT NULL,
  updated_at        TEXT NOT NULL
);
CREATE INDEX flags_product ON flags (product_id);
CREATE INDEX flags_state ON flags (state, id);
