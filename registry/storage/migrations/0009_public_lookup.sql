-- Consumers look a product up by the GTIN under its barcode or by its brand and model
-- (GET /public/lookup; registry/model/lookup_keys.h): each product's GTIN from its latest
-- declaration, as 14 digits, and a hash of its brand and model by identity key (the keys are
-- compared on the rows found, so a collision never matches another product). Stored products
-- get both right after this migration.
ALTER TABLE products ADD COLUMN gtin TEXT;  -- NULL when the latest declaration has none
ALTER TABLE products ADD COLUMN lookup_hash INTEGER NOT NULL DEFAULT 0;
CREATE INDEX products_gtin ON products (gtin) WHERE gtin IS NOT NULL;
CREATE INDEX products_lookup ON products (lookup_hash);

-- Lookups that found no product: a lead for officers. One entry per GTIN (brand and model
-- empty) or per brand and model by identity key (gtin empty), with how often and between when
-- it was looked up; nothing about who looked. Not audited state.
CREATE TABLE unregistered_lookups (
  id         INTEGER PRIMARY KEY,
  gtin       TEXT NOT NULL,  -- 14 digits, or ''
  brand      TEXT NOT NULL,  -- as first looked up, or ''
  model      TEXT NOT NULL,
  brand_key  TEXT NOT NULL,  -- identity keys (model::identity_key), or ''
  model_key  TEXT NOT NULL,
  lookups    INTEGER NOT NULL,
  first_seen TEXT NOT NULL,  -- UTC, ISO 8601
  last_seen  TEXT NOT NULL,
  UNIQUE (gtin, brand_key, model_key)
);
CREATE INDEX unregistered_lookups_rank ON unregistered_lookups (lookups DESC, id);
