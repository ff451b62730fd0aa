-- The portal's "sellable stock" order (issue 7), read in index order. Keep in step with the
-- other backend's 0011_products_sellable.sql.
CREATE INDEX products_sellable ON products (sellable DESC, ean);
