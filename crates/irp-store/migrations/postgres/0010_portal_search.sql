-- The portal's searches and sorts (issue 7): offers by SKU prefix across refurbishers,
-- products by name and by price. Keep in step with the other backend's 0010_portal_search.sql.
CREATE INDEX offers_sku ON offers (sku);
CREATE INDEX products_display_name ON products (LOWER(COALESCE(name, feed_name, '')));
CREATE INDEX products_price ON products (price_incl_minor);
CREATE INDEX audit_log_actor ON audit_log (actor);
