-- Where long work stands while it runs (a feed run, a channel push): its phase, how far it
-- got, and when it last said so (a heartbeat every second). One row per piece of work, removed
-- when it ends. On SQLite the same table lives in a file of its own beside the database
-- (`<database>-progress`), because a feed run holds SQLite's write lock while it reads; keep
-- in step with `PROGRESS_SCHEMA` in src/progress.rs.

CREATE TABLE work_progress (
    work              TEXT PRIMARY KEY,
    phase             TEXT NOT NULL,
    done              BIGINT NOT NULL,
    total             BIGINT,
    phase_started_at  TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL
);

-- The runs still under way, looked up by every run's start and every monitor round to close
-- those a dead process left `running`.
CREATE INDEX feed_runs_running ON feed_runs (started_at) WHERE status = 'running';
