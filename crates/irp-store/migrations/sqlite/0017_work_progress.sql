-- Where long work stands while it runs is kept on SQLite in a file of its own beside the
-- database (`<database>-progress`, created when the store opens; see `PROGRESS_SCHEMA` in
-- src/progress.rs): a feed run holds the database's write lock while it reads, and its progress
-- has to be written meanwhile. Nothing changes here; the version keeps both backends in step
-- with PostgreSQL's 0017_work_progress.sql.
SELECT 1;
