-- Shipment webhook and monitoring (issue 6). Keep in step with the other backend's
-- 0008_shipments_monitoring.sql.

-- Shipments (table of 0001): every valid shipment update, matched to its supplier order or
-- kept for review (`unmatched`) until an operator matches or dismisses it.
-- The payload exactly as received (JSONB would reorder its keys).
ALTER TABLE shipments ALTER COLUMN payload TYPE TEXT USING payload::text;
ALTER TABLE shipments ADD COLUMN status TEXT NOT NULL DEFAULT 'matched';  -- matched | unmatched | dismissed
ALTER TABLE shipments ADD COLUMN reason TEXT;                             -- unmatched: why
ALTER TABLE shipments ADD COLUMN method TEXT;                             -- POST | PUT | PATCH
ALTER TABLE shipments ADD COLUMN source TEXT;                             -- the sender's address
ALTER TABLE shipments ADD COLUMN bad_imeis BIGINT NOT NULL DEFAULT 0;    -- units whose IMEI fails its check
ALTER TABLE shipments ADD COLUMN resolved_at TIMESTAMPTZ;                        -- matched or dismissed by an operator
ALTER TABLE shipments ADD COLUMN resolved_by TEXT;
CREATE INDEX shipments_supplier_order ON shipments (supplier_order_id);
CREATE INDEX shipments_unmatched ON shipments (refurbisher_id) WHERE status = 'unmatched';
-- Tracking waiting for the channel (the Shopware sync delivers it and sets tracking_pushed_at).
CREATE INDEX shipments_tracking_queue ON shipments (id) WHERE status = 'matched' AND tracking_pushed_at IS NULL;

ALTER TABLE shipment_units ADD COLUMN position BIGINT NOT NULL DEFAULT 0;
CREATE INDEX shipment_units_shipment ON shipment_units (shipment_id);

-- Webhook requests of a known refurbisher that were refused (a bad body), kept for review.
ALTER TABLE webhook_inbox ADD COLUMN source TEXT;
CREATE INDEX webhook_inbox_refurbisher ON webhook_inbox (refurbisher_id, received_at);

-- Alerts (table of 0001): at most one open alert per refurbisher and metric, also when several
-- instances evaluate at once; delivery to the notification webhook is an outbox.
UPDATE alerts SET resolved_at = opened_at
 WHERE resolved_at IS NULL
   AND id NOT IN (SELECT MAX(id) FROM alerts WHERE resolved_at IS NULL GROUP BY COALESCE(refurbisher_id, 0), metric);
CREATE UNIQUE INDEX alerts_one_open ON alerts (COALESCE(refurbisher_id, 0), metric) WHERE resolved_at IS NULL;
ALTER TABLE alerts ADD COLUMN last_value TEXT;               -- the latest evaluation's value
ALTER TABLE alerts ADD COLUMN resolved_notified_at TIMESTAMPTZ;
ALTER TABLE alerts ADD COLUMN notify_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE alerts ADD COLUMN notify_next_at TIMESTAMPTZ;           -- when the next delivery is due
ALTER TABLE alerts ADD COLUMN notify_error TEXT;
CREATE INDEX alerts_notify ON alerts (notify_next_at) WHERE notify_next_at IS NOT NULL;
CREATE INDEX supplier_orders_refurbisher_created ON supplier_orders (refurbisher_id, created_at);
-- Shipments quote our order number when they do not quote their own reference.
CREATE INDEX orders_order_number ON orders (order_number);
-- The monitor's oldest open supplier order per refurbisher.
CREATE INDEX supplier_orders_open ON supplier_orders (refurbisher_id, created_at) WHERE status IN ('pending', 'submitting', 'submitted', 'needs_attention');
