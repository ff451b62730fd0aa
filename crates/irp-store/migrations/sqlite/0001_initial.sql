-- IRP schema, SQLite flavour. Keep in step with ../postgres/0001_initial.sql: same tables,
-- same columns, same constraint names. Timestamps are RFC 3339 TEXT written by sqlx (UTC),
-- money is INTEGER minor units with its currency, JSON is TEXT.

CREATE TABLE refurbishers (
    id               INTEGER PRIMARY KEY,            -- the refurbisher id of the seeds (15 = FlexIT)
    key              TEXT NOT NULL,                  -- connector key, `flexit`
    name             TEXT NOT NULL,
    supplier_id      INTEGER,
    odoo_vendor_id   INTEGER,
    enabled          BOOLEAN NOT NULL DEFAULT TRUE,
    approved         BOOLEAN NOT NULL DEFAULT FALSE,
    internal         BOOLEAN NOT NULL DEFAULT FALSE,
    document         TEXT NOT NULL,                  -- canonical refurbisher document (JSON)
    version          INTEGER NOT NULL DEFAULT 1,     -- +1 on every change
    webhook_token_hash        TEXT,
    webhook_token_created_at  TEXT,
    webhook_prev_token_hash   TEXT,
    webhook_prev_token_until  TEXT,
    next_poll_at     TEXT,
    lease_owner      TEXT,
    lease_until      TEXT,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    CONSTRAINT refurbishers_key_unique UNIQUE (key),
    CONSTRAINT refurbishers_supplier_id_unique UNIQUE (supplier_id)
);

CREATE TABLE secrets (
    name        TEXT PRIMARY KEY,
    ciphertext  TEXT NOT NULL,                       -- v1:base64(nonce || ciphertext)
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE feed_runs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    refurbisher_id  INTEGER NOT NULL REFERENCES refurbishers (id),
    triggered_by    TEXT NOT NULL,                   -- schedule | manual | upload | api
    status          TEXT NOT NULL,                   -- running | succeeded | partial | unchanged | quarantined | failed
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    http_status     INTEGER,
    fetch_outcome   TEXT,
    bytes           INTEGER NOT NULL DEFAULT 0,
    duration_ms     INTEGER,
    content_hash    TEXT,
    rows_read       INTEGER NOT NULL DEFAULT 0,
    rows_accepted   INTEGER NOT NULL DEFAULT 0,
    rows_rejected   INTEGER NOT NULL DEFAULT 0,
    created         INTEGER NOT NULL DEFAULT 0,
    updated         INTEGER NOT NULL DEFAULT 0,
    unchanged       INTEGER NOT NULL DEFAULT 0,
    removed         INTEGER NOT NULL DEFAULT 0,
    errors_dropped  INTEGER NOT NULL DEFAULT 0,      -- row errors beyond the first 1,000
    message         TEXT,
    applied_at      TEXT
);
CREATE INDEX feed_runs_refurbisher_started ON feed_runs (refurbisher_id, started_at);

CREATE TABLE feed_row_errors (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    feed_run_id  INTEGER NOT NULL REFERENCES feed_runs (id) ON DELETE CASCADE,
    row_number   INTEGER NOT NULL,
    field        TEXT,
    value        TEXT,
    message      TEXT NOT NULL
);
CREATE INDEX feed_row_errors_run ON feed_row_errors (feed_run_id);

CREATE TABLE offers (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    refurbisher_id        INTEGER NOT NULL REFERENCES refurbishers (id),
    sku                   TEXT NOT NULL,
    ean                   TEXT,
    name                  TEXT NOT NULL,
    stock_available       INTEGER NOT NULL,
    price_purchase_minor  INTEGER NOT NULL,          -- excl. VAT
    price_consumer_minor  INTEGER,                   -- excl. VAT
    currency              TEXT NOT NULL,
    tax_percentage        TEXT,                      -- exact decimal as text
    attributes            TEXT NOT NULL DEFAULT '{}',
    content_hash          TEXT NOT NULL,
    active                BOOLEAN NOT NULL DEFAULT TRUE,
    first_seen_at         TEXT NOT NULL,
    last_seen_at          TEXT NOT NULL,
    last_changed_at       TEXT NOT NULL,
    CONSTRAINT offers_refurbisher_sku_unique UNIQUE (refurbisher_id, sku)
);
CREATE INDEX offers_ean ON offers (ean);

CREATE TABLE products (
    ean            TEXT PRIMARY KEY,
    name           TEXT,
    brand          TEXT,
    model          TEXT,
    category       TEXT,
    attributes     TEXT NOT NULL DEFAULT '{}',
    best_offer_id  INTEGER REFERENCES offers (id),
    pim_synced_at  TEXT,
    updated_at     TEXT NOT NULL
);

CREATE TABLE orders (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    channel           TEXT NOT NULL,
    order_number      TEXT NOT NULL,
    placed_at         TEXT NOT NULL,
    customer_email    TEXT NOT NULL,
    shipping_address  TEXT NOT NULL,
    billing_address   TEXT,
    status            TEXT NOT NULL,
    document          TEXT NOT NULL,                 -- the order as received
    created_at        TEXT NOT NULL,
    CONSTRAINT orders_channel_number_unique UNIQUE (channel, order_number)
);

CREATE TABLE supplier_orders (
    id                        INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id                  INTEGER NOT NULL REFERENCES orders (id),
    refurbisher_id            INTEGER NOT NULL REFERENCES refurbishers (id),
    status                    TEXT NOT NULL,         -- pending | submitting | submitted | needs_attention | failed | internal | shipped | cancelled
    idempotency_key           TEXT NOT NULL,
    attempts                  INTEGER NOT NULL DEFAULT 0,
    next_attempt_at           TEXT,
    lease_owner               TEXT,
    lease_until               TEXT,
    external_order_reference  TEXT,
    external_fields           TEXT NOT NULL DEFAULT '{}',
    erp_document_id           TEXT,
    last_error                TEXT,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    shipped_at                TEXT,
    CONSTRAINT supplier_orders_order_refurbisher_unique UNIQUE (order_id, refurbisher_id),
    CONSTRAINT supplier_orders_idempotency_key_unique UNIQUE (idempotency_key)
);
CREATE INDEX supplier_orders_status_next ON supplier_orders (status, next_attempt_at);
CREATE INDEX supplier_orders_external_ref ON supplier_orders (refurbisher_id, external_order_reference);

CREATE TABLE order_lines (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id               INTEGER NOT NULL REFERENCES orders (id),
    line_number            INTEGER NOT NULL,
    supplier_order_id      INTEGER REFERENCES supplier_orders (id),
    ean                    TEXT,
    sku                    TEXT,
    refurbisher_id         INTEGER REFERENCES refurbishers (id),
    offer_id               INTEGER REFERENCES offers (id),
    quantity               INTEGER NOT NULL,
    unit_price_incl_minor  INTEGER NOT NULL,
    purchase_price_minor   INTEGER,
    tax_percentage         TEXT,
    currency               TEXT NOT NULL,
    status                 TEXT NOT NULL,            -- routed | needs_attention
    CONSTRAINT order_lines_order_line_unique UNIQUE (order_id, line_number)
);

CREATE TABLE supplier_order_attempts (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    supplier_order_id  INTEGER NOT NULL REFERENCES supplier_orders (id),
    attempt_number     INTEGER NOT NULL,
    started_at         TEXT NOT NULL,
    finished_at        TEXT,
    request            TEXT,                         -- redacted
    response_status    INTEGER,
    response_body      TEXT,
    outcome            TEXT NOT NULL,
    error              TEXT,
    CONSTRAINT supplier_order_attempts_unique UNIQUE (supplier_order_id, attempt_number)
);

CREATE TABLE shipments (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    refurbisher_id     INTEGER NOT NULL REFERENCES refurbishers (id),
    supplier_order_id  INTEGER REFERENCES supplier_orders (id),
    external_order_id  TEXT,
    track_and_trace    TEXT,
    carrier            TEXT,
    dedupe_key         TEXT NOT NULL,
    payload            TEXT NOT NULL,
    received_at        TEXT NOT NULL,
    tracking_pushed_at TEXT,
    CONSTRAINT shipments_dedupe_unique UNIQUE (refurbisher_id, dedupe_key)
);

CREATE TABLE shipment_units (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    shipment_id    INTEGER NOT NULL REFERENCES shipments (id) ON DELETE CASCADE,
    serial_number  TEXT,
    imei           TEXT,
    imei_valid     BOOLEAN
);

CREATE TABLE webhook_inbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    refurbisher_id  INTEGER REFERENCES refurbishers (id),
    method          TEXT NOT NULL,
    payload         TEXT NOT NULL,                  -- as received, even when not JSON
    reason          TEXT NOT NULL,
    dedupe_key      TEXT,
    received_at     TEXT NOT NULL,
    resolved_at     TEXT,
    resolved_by     TEXT
);

CREATE TABLE alerts (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    refurbisher_id  INTEGER REFERENCES refurbishers (id),
    metric          TEXT NOT NULL,
    value           TEXT,
    threshold       TEXT,
    message         TEXT NOT NULL,
    opened_at       TEXT NOT NULL,
    resolved_at     TEXT,
    notified_at     TEXT
);
CREATE INDEX alerts_open ON alerts (refurbisher_id, metric, resolved_at);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL,                     -- SHA-256, hex
    role          TEXT NOT NULL,                     -- viewer | operator
    created_at    TEXT NOT NULL,
    last_used_at  TEXT,
    revoked_at    TEXT,
    CONSTRAINT api_tokens_name_unique UNIQUE (name),
    CONSTRAINT api_tokens_hash_unique UNIQUE (token_hash)
);

CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    at       TEXT NOT NULL,
    actor    TEXT NOT NULL,                          -- cli:<os user>, user:<email>, token:<name>
    action   TEXT NOT NULL,                          -- refurbisher.apply, secret.set, …
    target   TEXT NOT NULL,
    details  TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log (at);
