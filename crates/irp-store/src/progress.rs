//! Where long work stands while it runs: a feed run's or a channel push's phase and counts,
//! written by the work every second so that the portal, the API and other instances can show
//! it, and removed when the work ends.
//!
//! On PostgreSQL the board is the `work_progress` table. On SQLite it is the same table in a
//! file of its own beside the database (`<database>-progress`): a feed run holds the database's
//! one write lock while it reads the feed and prices the catalog, and its progress has to be
//! written meanwhile. What the board holds is transient; losing the file loses nothing else.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

use crate::{Db, Result, Store, StoreError};

/// The board's table on SQLite, created when the store opens (PostgreSQL: migration 0017).
const PROGRESS_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS work_progress (
    work              TEXT PRIMARY KEY,
    phase             TEXT NOT NULL,
    done              INTEGER NOT NULL,
    total             INTEGER,
    phase_started_at  TEXT NOT NULL,
    updated_at        TEXT NOT NULL
)";

/// Where one piece of work stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkProgress {
    /// What the work is: `feed_run:42`, `channel_sync:refurbished-direct`.
    pub work: String,
    /// Its phase (`downloading`, `reading`, `applying`, `pricing`, `pushing`, …).
    pub phase: String,
    /// Counted so far in the phase.
    pub done: i64,
    /// What the phase expects to count, when known.
    pub total: Option<i64>,
    /// When the phase began.
    pub phase_started_at: DateTime<Utc>,
    /// When the work last reported (every second while it runs).
    pub updated_at: DateTime<Utc>,
}

/// The key of a feed run on the board.
#[must_use]
pub fn feed_run_work(run_id: i64) -> String {
    format!("feed_run:{run_id}")
}

/// The key of a channel's push on the board.
#[must_use]
pub fn channel_sync_work(channel_key: &str) -> String {
    format!("channel_sync:{channel_key}")
}

/// Open the SQLite board beside the database file `database` (in memory beside an in-memory
/// database).
pub(crate) async fn open_sqlite_board(database: &std::path::Path) -> Result<SqlitePool> {
    let name = database.to_string_lossy();
    let in_memory = name.is_empty() || name == ":memory:";
    let opts = if in_memory {
        SqliteConnectOptions::from_str("sqlite::memory:")?
    } else {
        SqliteConnectOptions::new()
            .filename(format!("{name}-progress"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
    }
    // Transient state: a lost write costs a second of progress, never data.
    .synchronous(sqlx::sqlite::SqliteSynchronous::Off)
    .busy_timeout(Duration::from_secs(2));
    let pool = SqlitePoolOptions::new()
        // One connection in memory (each would have a board of its own), and never closed.
        .max_connections(if in_memory { 1 } else { 2 })
        .min_connections(u32::from(in_memory))
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(opts)
        .await?;
    sqlx::query(PROGRESS_SCHEMA).execute(&pool).await?;
    Ok(pool)
}

/// The store's handle on the progress board ([`Store::progress`]).
#[derive(Clone, Copy)]
pub struct ProgressBoard<'s>(&'s Store);

impl Store {
    /// The handle on the progress board.
    #[must_use]
    pub fn progress(&self) -> ProgressBoard<'_> {
        ProgressBoard(self)
    }
}

/// The board's pool: PostgreSQL's own, SQLite's file beside the database.
enum Board<'a> {
    Sqlite(&'a SqlitePool),
    Postgres(&'a sqlx::PgPool),
}

macro_rules! with_board {
    ($board:expr, |$p:ident| $body:expr) => {
        match $board {
            Board::Sqlite($p) => $body,
            Board::Postgres($p) => $body,
        }
    };
}

impl ProgressBoard<'_> {
    fn board(&self) -> Result<Board<'_>> {
        match (self.0.db(), &self.0.progress_board) {
            (Db::Postgres(p), _) => Ok(Board::Postgres(p)),
            (Db::Sqlite(_), Some(p)) => Ok(Board::Sqlite(p)),
            (Db::Sqlite(_), None) => Err(StoreError::Corrupt(
                "the SQLite progress board is not open".into(),
            )),
        }
    }

    /// Record where `p.work` stands (replacing what it said before).
    ///
    /// # Errors
    /// A database error.
    pub async fn record(&self, p: &WorkProgress) -> Result<()> {
        const SQL: &str = "INSERT INTO work_progress (work, phase, done, total, phase_started_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (work) DO UPDATE SET phase = excluded.phase, \
             done = excluded.done, total = excluded.total, phase_started_at = excluded.phase_started_at, \
             updated_at = excluded.updated_at";
        with_board!(self.board()?, |b| sqlx::query(SQL)
            .bind(&p.work)
            .bind(&p.phase)
            .bind(p.done)
            .bind(p.total)
            .bind(p.phase_started_at)
            .bind(p.updated_at)
            .execute(b)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Where `work` stands, if it is running (or ended without clearing its entry).
    ///
    /// # Errors
    /// A database error.
    pub async fn get(&self, work: &str) -> Result<Option<WorkProgress>> {
        const SQL: &str = "SELECT work, phase, done, total, phase_started_at, updated_at FROM work_progress WHERE work = $1";
        type Row = (
            String,
            String,
            i64,
            Option<i64>,
            DateTime<Utc>,
            DateTime<Utc>,
        );
        let row: Option<Row> = with_board!(self.board()?, |b| sqlx::query_as(SQL)
            .bind(work)
            .fetch_optional(b)
            .await)?;
        Ok(row.map(
            |(work, phase, done, total, phase_started_at, updated_at)| WorkProgress {
                work,
                phase,
                done,
                total,
                phase_started_at,
                updated_at,
            },
        ))
    }

    /// Remove `work`'s entry (it ended).
    ///
    /// # Errors
    /// A database error.
    pub async fn clear(&self, work: &str) -> Result<()> {
        const SQL: &str = "DELETE FROM work_progress WHERE work = $1";
        with_board!(self.board()?, |b| sqlx::query(SQL)
            .bind(work)
            .execute(b)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
