-- A mark for the whole catalog: set instead of one `catalog_dirty` row per EAN when a change
-- touches most of it (a channel change, a full recompute, a large refurbisher's feed or pricing
-- change). The recompute then walks every product in EAN order and clears it with the per-EAN
-- marks it covers. At most one row. Keep in step with the other backend's
-- 0016_catalog_dirty_all.sql.

CREATE TABLE catalog_dirty_all (
    id  INTEGER PRIMARY KEY CHECK (id = 1)
);
