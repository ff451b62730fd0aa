-- Offers of a feed run before they are applied: the pipeline writes every accepted row here,
-- the snapshot diff compares it with `offers`, and an apply copies it over in one transaction.
-- A quarantined run keeps its rows here until it is applied or discarded.
CREATE TABLE feed_staging (
    feed_run_id           INTEGER NOT NULL REFERENCES feed_runs (id) ON DELETE CASCADE,
    sku                   TEXT NOT NULL,
    row_number            INTEGER NOT NULL,
    ean                   TEXT NOT NULL,
    name                  TEXT NOT NULL,
    stock_available       INTEGER NOT NULL,
    price_purchase_minor  INTEGER NOT NULL,
    price_consumer_minor  INTEGER NOT NULL,
    currency              TEXT NOT NULL,
    tax_percentage        TEXT,
    attributes            TEXT NOT NULL,
    content_hash          TEXT NOT NULL,
    CONSTRAINT feed_staging_run_sku PRIMARY KEY (feed_run_id, sku)
);

-- Per field, how many offers a run changed: {"price_purchase_amount": 12, "stock_available": 40}.
ALTER TABLE feed_runs ADD COLUMN field_changes TEXT NOT NULL DEFAULT '{}';
