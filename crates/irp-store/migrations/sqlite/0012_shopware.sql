-- The storefront channels' Shopware sync (issue 8). Keep in step with the other backend's
-- 0012_shopware.sql.

-- Per channel: who syncs it now (one instance at a time, so an older value is never pushed
-- after a newer one), where the order poll stands, and how the last push went.
CREATE TABLE channel_sync (
    channel             TEXT PRIMARY KEY REFERENCES channels (key),
    lease_owner         TEXT,
    lease_until         TEXT,
    orders_seen_until   TEXT,                -- orderDateTime of the newest order the poll read
    next_order_poll_at  TEXT,
    full_requested_at   TEXT,                -- `irp channel sync KEY --full` asked for this
    last_push_at        TEXT,
    last_push           TEXT,              -- the last push's report
    last_error          TEXT,
    last_error_at       TEXT
);

-- Products a channel's shop did not take: unknown there (and not created), or refused in a
-- sync (the bad row isolated from its batch). Kept until the product is pushed.
CREATE TABLE channel_problems (
    channel        TEXT NOT NULL REFERENCES channels (key),
    ean            TEXT NOT NULL,
    kind           TEXT NOT NULL,           -- unknown_product | refused
    detail         TEXT NOT NULL,
    revision       BIGINT NOT NULL,         -- the channel row's revision it is about
    first_seen_at   TEXT NOT NULL,
    last_seen_at    TEXT NOT NULL,
    PRIMARY KEY (channel, ean)
);

-- An IRP order taken in from a Shopware shop: where its tracking goes.
CREATE TABLE channel_orders (
    order_id            BIGINT PRIMARY KEY REFERENCES orders (id),
    channel             TEXT NOT NULL,
    remote_order_id     TEXT NOT NULL,
    remote_delivery_id  TEXT,
    delivery_state      TEXT,               -- as last known (open, shipped_partially, shipped, cancelled)
    tracking_codes      TEXT,              -- the codes last set on the delivery
    cancel_reported_at  TEXT,
    cancel_error        TEXT,
    CONSTRAINT channel_orders_remote_unique UNIQUE (channel, remote_order_id)
);

-- Shopware orders that could not be taken in (a field IRP cannot read), kept for review.
CREATE TABLE channel_inbox (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    channel          TEXT NOT NULL,
    remote_order_id  TEXT NOT NULL,
    order_number     TEXT,
    source           TEXT NOT NULL,         -- webhook | poll
    error            TEXT NOT NULL,
    payload           TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    resolved_at      TEXT,
    CONSTRAINT channel_inbox_remote_unique UNIQUE (channel, remote_order_id)
);

-- Tracking to the channel: how the push went (pushed | refused | not_applicable) and retries.
ALTER TABLE shipments ADD COLUMN tracking_status TEXT;
ALTER TABLE shipments ADD COLUMN tracking_error TEXT;
ALTER TABLE shipments ADD COLUMN tracking_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE shipments ADD COLUMN tracking_next_at TEXT;

CREATE INDEX channel_inbox_open ON channel_inbox (channel, received_at) WHERE resolved_at IS NULL;
CREATE INDEX shipments_tracking_due ON shipments (tracking_next_at) WHERE tracking_next_at IS NOT NULL;
