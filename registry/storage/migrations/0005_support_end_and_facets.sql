-- The support end date of each product's latest declaration, for statistics by quarter, and an
-- index that serves facet counts by status and type without reading the product rows. Existing
-- products get their date from their stored declaration right after this migration.
ALTER TABLE products ADD COLUMN support_end TEXT;  -- YYYY-MM-DD; NULL when not declared
CREATE INDEX products_status_type ON products (status, type);
