-- Where long work stands while it runs is kept on SQLite in a file of its own beside the
-- database (`<database>-progress`, created when the store opens; see `PROGRESS_SCHEMA` in
-- src/progress.rs): a feed run holds the database's write lock while it reads, and its progress
-- has to be written meanwhile. Keep in step with PostgreSQL's 0017_work_progress.sql.

-- The runs still under way, looked up by every run's start and every monitor round to close
-- those a dead process left `running`.
CREATE INDEX feed_runs_running ON feed_runs (started_at) WHERE status = 'running';
