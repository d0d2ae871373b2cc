-- Two columns for officers' filters and facets, derived from data the product row already has:
-- the class of its declared type (registry/model/product_class.h) and the checks its latest
-- verdict failed (' id id ', or '' when none). Stored products get both right after this
-- migration, from their type and their stored findings.
ALTER TABLE products ADD COLUMN class TEXT NOT NULL DEFAULT 'other',
                     ADD COLUMN failing_checks TEXT NOT NULL DEFAULT '';
CREATE INDEX products_class ON products (class);
