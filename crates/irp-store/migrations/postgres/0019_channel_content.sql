-- The product content pushed to each channel's shop (name, description, EAN from the PIM, as
-- the channel's `shopware.content` owns them): per product, the hash of the content last
-- pushed, the PIM data's time it was built from and the content settings it was checked with.
-- A product whose PIM data is newer, or that was checked under other settings, is checked
-- again; it is pushed only when its hash changed. Keep in step with SQLite's
-- 0019_channel_content.sql.

CREATE TABLE channel_content (
    channel        TEXT NOT NULL,
    ean            TEXT NOT NULL,
    hash           TEXT,                 -- the content last pushed; NULL: not pushed (the shop lacks the product)
    content        TEXT,                 -- that content (JSON), to show what changed since
    settings       TEXT NOT NULL,        -- fingerprint of the content settings it was checked with
    pim_synced_at  TIMESTAMPTZ,          -- the product's PIM data it was built from
    checked_at     TIMESTAMPTZ NOT NULL,
    pushed_at      TIMESTAMPTZ,
    problem        TEXT,                 -- why the shop refused the content last sent (Shopware's field and error)
    PRIMARY KEY (channel, ean)
);
