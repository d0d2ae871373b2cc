-- Enforcement as DESIGN.md §3: five flag states, remedies, officers' notices, a status history,
-- numbered re-check runs and tokens that name their holder.
--
-- A flag is raised by a non-compliant verdict; withdrawn automatically when its product becomes
-- compliant or excepted before review; confirmed, dismissed or lifted only by an officer. A
-- confirmed flag whose product became compliant is remedied by that version and waits for an
-- officer to lift it. A flag an officer closed covers the versions up to covered_version_id.
ALTER TABLE flags ADD COLUMN remedied_version_id INTEGER REFERENCES declaration_versions(id);
ALTER TABLE flags ADD COLUMN covered_version_id INTEGER REFERENCES declaration_versions(id);
ALTER TABLE flags ADD COLUMN notice TEXT;  -- the stop notice's reference, given on confirm

-- Each product's newest flag, so that listing and judging a product needs no search of flags.
-- Written with the product row before the flag row exists, so without a foreign key.
ALTER TABLE products ADD COLUMN flag_id INTEGER;
UPDATE products SET flag_id = (SELECT max(f.id) FROM flags f WHERE f.product_id = products.id);

-- Until now a compliant verdict lifted an open flag automatically. A raised flag ended that way
-- was withdrawn. A confirmed one should never have ended without an officer: it is confirmed
-- again, remedied by the version that ended it (named in its audit event), and the product is
-- flagged again, waiting in the remedy queue. The audit log records both (migration 6).
CREATE TEMP TABLE migration_6_lifted AS
  SELECT f.id AS flag_id,
         EXISTS (SELECT 1 FROM audit_events c WHERE c.subject_type = 'flag' AND c.subject_id = f.id
                 AND c.action = 'flag.confirm') AS was_confirmed,
         (SELECT CAST(substr(json_extract(l.details, '$.reason'),
                             instr(json_extract(l.details, '$.reason'), 'version id ') + 11)
                      AS INTEGER)
            FROM audit_events l WHERE l.subject_type = 'flag' AND l.subject_id = f.id
            AND l.action = 'flag.lift' ORDER BY l.id DESC LIMIT 1) AS version_id
  FROM flags f WHERE f.state = 'lifted';
UPDATE flags SET state = 'withdrawn'
  WHERE id IN (SELECT flag_id FROM migration_6_lifted WHERE NOT was_confirmed);
UPDATE flags SET state = 'confirmed',
  remedied_version_id = (SELECT version_id FROM migration_6_lifted m WHERE m.flag_id = flags.id
                         AND version_id IN (SELECT id FROM declaration_versions))
  WHERE id IN (SELECT flag_id FROM migration_6_lifted WHERE was_confirmed);
UPDATE products SET flagged = 1
  WHERE flag_id IN (SELECT flag_id FROM migration_6_lifted WHERE was_confirmed);
-- A dismissed flag covers the version it was raised on.
UPDATE flags SET covered_version_id = raised_version_id WHERE state = 'dismissed';

-- Every change of a product's status or flag: what, from, to, on which version, and, through
-- its event, when and why (an automatic cause such as "import run 12", or a person). One import
-- writes one event for all its changes, and its changes get consecutive ids from the event's
-- first_change_id on, so a change row stays small and needs no index to be found by time.
CREATE TABLE change_events (
  id              INTEGER PRIMARY KEY,
  at              TEXT NOT NULL,  -- UTC, ISO 8601
  cause           TEXT NOT NULL,
  first_change_id INTEGER NOT NULL
);
CREATE INDEX change_events_at ON change_events (at);
CREATE TABLE status_changes (
  id         INTEGER PRIMARY KEY,
  event_id   INTEGER NOT NULL REFERENCES change_events(id),
  product_id INTEGER NOT NULL REFERENCES products(id),
  version_id INTEGER NOT NULL,  -- the product's latest version then (no FK: written first)
  kind       INTEGER NOT NULL,  -- 0: status, 1: flag
  from_value TEXT,              -- NULL: none before (a new product, a newly raised flag)
  to_value   TEXT NOT NULL,
  flag_id    INTEGER REFERENCES flags(id),
  reason     TEXT               -- why, for flag changes (a raise: the flag's raise_reason)
);
-- A flag's history after its raise (which the flag's own row records).
CREATE INDEX status_changes_flag ON status_changes (flag_id)
  WHERE flag_id IS NOT NULL AND from_value IS NOT NULL;

-- The flags' history so far, from their audit events (a lift that migration 6 undid left out).
INSERT INTO change_events (id, at, cause, first_change_id)
  SELECT a.id, a.at, a.actor, 0 FROM audit_events a JOIN flags f ON f.id = a.subject_id
  WHERE a.subject_type = 'flag' AND a.action IN ('flag.confirm', 'flag.dismiss', 'flag.lift')
    AND NOT (a.action = 'flag.lift'
             AND a.subject_id IN (SELECT flag_id FROM migration_6_lifted WHERE was_confirmed))
  ORDER BY a.id;
INSERT INTO status_changes (event_id, product_id, version_id, kind, from_value, to_value, flag_id,
                            reason)
  SELECT a.id, f.product_id, f.raised_version_id, 1,
         coalesce(json_extract(a.details, '$.from'), 'raised'),
         CASE a.action WHEN 'flag.confirm' THEN 'confirmed' WHEN 'flag.dismiss' THEN 'dismissed'
                       ELSE 'withdrawn' END,
         f.id, json_extract(a.details, '$.reason')
  FROM audit_events a JOIN flags f ON f.id = a.subject_id
  WHERE a.id IN (SELECT id FROM change_events)
  ORDER BY a.id;
UPDATE change_events
  SET first_change_id = (SELECT min(c.id) FROM status_changes c WHERE c.event_id = change_events.id);

-- Re-checks are numbered runs, like imports; a daily re-check records its date.
CREATE TABLE recheck_runs (
  id             INTEGER PRIMARY KEY,
  started_at     TEXT NOT NULL,
  finished_at    TEXT,
  actor          TEXT NOT NULL,
  daily_date     TEXT,  -- YYYY-MM-DD for the daily re-check; NULL for one asked for
  evaluation_id  INTEGER REFERENCES evaluations(id),
  checked        INTEGER NOT NULL DEFAULT 0,
  status_changes INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX recheck_runs_daily ON recheck_runs (daily_date) WHERE daily_date IS NOT NULL;

-- Every token names the person who holds it; tokens made before get a visible placeholder.
ALTER TABLE tokens ADD COLUMN holder TEXT NOT NULL DEFAULT '';
UPDATE tokens SET holder = 'unnamed holder of token ' || id;
