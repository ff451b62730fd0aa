-- Pricing, the catalog and the storefront channels. Keep in step with ../postgres/0005_catalog.sql.

-- The price guard: a purchase price that moved more than the refurbisher's
-- max_price_change_ratio is held. `applied_purchase_minor` is then the purchase price pricing
-- keeps using (NULL: the feed's price applies); `price_hold` is `pending` until an operator
-- accepts (the hold goes) or rejects it (`rejected`: the old price stays until the feed
-- sends another price).
ALTER TABLE offers ADD COLUMN applied_purchase_minor INTEGER;
ALTER TABLE offers ADD COLUMN price_hold TEXT;
ALTER TABLE offers ADD COLUMN price_held_at TEXT;
CREATE INDEX offers_price_hold ON offers (price_hold) WHERE price_hold IS NOT NULL;

-- What the catalog computed for a product (name, brand, … come from the PIM).
ALTER TABLE products ADD COLUMN feed_name TEXT;                         -- the best offer's feed name
ALTER TABLE products ADD COLUMN price_incl_minor INTEGER;               -- best offer, incl. VAT
ALTER TABLE products ADD COLUMN currency TEXT;
ALTER TABLE products ADD COLUMN sellable INTEGER NOT NULL DEFAULT 0;    -- of the best offer
ALTER TABLE products ADD COLUMN offers_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE products ADD COLUMN computed_at TEXT;
ALTER TABLE products ADD COLUMN pim_sku TEXT;
CREATE INDEX products_pim_sku ON products (pim_sku);

-- EANs whose product must be recomputed: written in the same transaction as what changed them
-- (a feed run, a refurbisher's settings, a decision on a held price, PIM data), drained right
-- after by the catalog recompute.
CREATE TABLE catalog_dirty (
    ean  TEXT PRIMARY KEY
);

-- Storefront channels (seed 003: Shopware Refurbished Direct, Econocom).
CREATE TABLE channels (
    key         TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    document    TEXT NOT NULL,                      -- canonical channel document (JSON)
    version     INTEGER NOT NULL DEFAULT 1,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- What each channel sells of each product, and what was last pushed to it. `revision` counts
-- changes of the computed values; a push records the revision it sent, so a late push never
-- overwrites a newer value, and `dirty` marks rows whose computed values were not pushed yet.
CREATE TABLE channel_products (
    channel                  TEXT NOT NULL REFERENCES channels (key),
    ean                      TEXT NOT NULL,
    offer_id                 INTEGER,
    refurbisher_id           INTEGER,
    price_incl_minor         INTEGER,
    tax_percentage           TEXT,
    purchase_minor           INTEGER,
    currency                 TEXT NOT NULL,
    stock                    INTEGER NOT NULL,
    active                   BOOLEAN NOT NULL,
    revision                 INTEGER NOT NULL DEFAULT 1,
    computed_at              TEXT NOT NULL,
    dirty                    BOOLEAN NOT NULL DEFAULT TRUE,
    pushed_revision          INTEGER,
    pushed_price_incl_minor  INTEGER,
    pushed_stock             INTEGER,
    pushed_active            BOOLEAN,
    pushed_at                TEXT,
    PRIMARY KEY (channel, ean)
);
CREATE INDEX channel_products_dirty ON channel_products (channel, ean) WHERE dirty;
CREATE INDEX channel_products_ean ON channel_products (ean);
