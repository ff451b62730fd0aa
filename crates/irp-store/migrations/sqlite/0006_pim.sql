-- Product data from the PIM (Ergonode). Keep in step with ../postgres/0006_pim.sql.

-- The PIM source (one per installation): its canonical document, where each of its streams was
-- last read up to (Ergonode moves a created or edited product to the end of its product
-- stream, so the last cursor read is where the next sync continues), the schedule and lease of
-- `irp serve`, and how the last sync went.
CREATE TABLE pim_source (
    key             TEXT PRIMARY KEY,          -- the source: 'ergonode'
    document        TEXT NOT NULL,             -- canonical PIM document (JSON)
    version         INTEGER NOT NULL DEFAULT 1,
    product_cursor  TEXT,                      -- productStream: read up to here
    deleted_cursor  TEXT,                      -- productDeletedStream: read up to here
    next_sync_at    TEXT,
    lease_owner     TEXT,
    lease_until     TEXT,
    last_sync_at    TEXT,
    last_ok_at      TEXT,
    last_status     TEXT,                      -- ok | partial | failed
    last_report     TEXT,                      -- the last sync's report (JSON)
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
