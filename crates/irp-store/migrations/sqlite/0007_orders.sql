-- Orders taken in (issue 5). Keep in step with the other backend's 0007_orders.sql.

-- Units ordered from an offer since its refurbisher's last applied feed: sellable stock is
-- stock_available - reserved - stock_threshold until the next feed run resets it.
ALTER TABLE offers ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0;
CREATE INDEX offers_reserved ON offers (refurbisher_id) WHERE reserved > 0;

-- What a line was routed to, frozen at intake, and why a line was not routed.
ALTER TABLE order_lines ADD COLUMN name TEXT;                    -- the offer's feed name
ALTER TABLE order_lines ADD COLUMN purchase_currency TEXT;       -- of purchase_price_minor
ALTER TABLE order_lines ADD COLUMN attention_reason TEXT;        -- status needs_attention: why
ALTER TABLE order_lines ADD COLUMN reserved INTEGER NOT NULL DEFAULT 0; -- units it still holds on its offer (0 after the next feed run)
CREATE INDEX order_lines_order ON order_lines (order_id);
CREATE INDEX order_lines_supplier_order ON order_lines (supplier_order_id);
CREATE INDEX supplier_orders_order ON supplier_orders (order_id);

-- The outbox: `attempts` at the operator's last retry (automatic retries count from there).
ALTER TABLE supplier_orders ADD COLUMN retry_from INTEGER NOT NULL DEFAULT 0;

-- API tokens (`irp token create NAME`, table of 0001): the token's first characters, to
-- recognise it in a list.
ALTER TABLE api_tokens ADD COLUMN prefix TEXT;
