-- The support end date of each product's latest declaration, for statistics by quarter, and an
-- index by manufacturer that also covers facet counts (status, type), so that neither a
-- manufacturer's products nor the counts need the product rows. Existing products get their
-- date from their stored declaration right after this migration.
ALTER TABLE products ADD COLUMN support_end TEXT;  -- YYYY-MM-DD; NULL when not declared
CREATE INDEX products_manufacturer ON products (manufacturer_id, status, type);
