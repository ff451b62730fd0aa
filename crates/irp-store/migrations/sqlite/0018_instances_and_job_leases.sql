-- Several instances on one database. `job_leases`: work that one instance does at a time for
-- all (the monitor's evaluation), held by its `owner` until `until` and renewed while it runs;
-- another instance takes it over once the lease has run out. `instances`: each running
-- `irp serve` says it is alive every few seconds (`irp status` lists them with what they hold);
-- a stopping instance removes its row and releases its leases.
-- Keep in step with PostgreSQL's 0018_instances_and_job_leases.sql.

CREATE TABLE job_leases (
    job    TEXT PRIMARY KEY,
    owner  TEXT NOT NULL,
    since  TEXT NOT NULL,
    until  TEXT NOT NULL
);

CREATE TABLE instances (
    owner       TEXT PRIMARY KEY,
    version     TEXT NOT NULL,
    listen      TEXT NOT NULL,
    jobs        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    seen_at     TEXT NOT NULL
);
