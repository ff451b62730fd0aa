//! IRP persistence: one schema and one query layer over SQLite (the embedded default) and
//! PostgreSQL (production, several instances).
//!
//! The backend is picked once, from the database URL's scheme, and held as two typed pools
//! behind [`Db`]; every query is the same SQL text (`$1..$N` placeholders) run through
//! [`with_db!`], so both backends are exercised by the same test suite. Migrations are
//! embedded per backend (`migrations/sqlite`, `migrations/postgres`) with the same versions.
//!
//! The store stores: business decisions (routing an order, matching a shipment, the price
//! guard, pricing a product) are pure functions in `irp-core`. Where a decision needs reads and
//! writes in one transaction, the store offers it as a unit of work the pipeline drives
//! ([`orders::Intake`], [`catalog::Recompute`]).
//!
//! One module per aggregate, and their imports form a tree, never a circle (the test
//! `tests/layering.rs` keeps it so): the leaves `dialect` (where SQLite and PostgreSQL differ)
//! and `marks` (the catalog's dirty marks, the settings lock, released reservations) serve
//! every aggregate; `orders`, `refurbishers`, `catalog` and `tokens` use nothing else;
//! `monitor` reads `orders` and `refurbishers`; `offers` resolves alerts through `monitor`;
//! `outbox` and `erp` read `orders`; `shipments` reads `refurbishers` and `tokens`; `feed_write`
//! writes `offers`; `feed_runs` uses `feed_write`, `offers` and `monitor`; `channels` and
//! `channel_sync` read `catalog` (and the sync, `orders` and `shipments`); `progress` (where
//! running work stands) stands alone.

pub mod audit;
pub mod catalog;
pub mod channel_sync;
pub mod channels;
mod dialect;
pub mod erp;
pub mod feed_runs;
pub mod feed_write;
pub mod instances;
pub mod known_hosts;
mod marks;
pub mod monitor;
pub mod offers;
pub mod orders;
pub mod outbox;
pub mod pim;
pub mod progress;
pub mod refurbishers;
pub mod secrets;
pub mod shipments;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod tokens;
pub mod users;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Errors of the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL names no supported backend.
    #[error(
        "unsupported database URL scheme in {0}: expected sqlite:PATH, postgres://… or postgresql://…"
    )]
    UnsupportedUrl(String),
    /// Connecting failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL, with any password removed.
        url: String,
        /// The driver's error.
        source: sqlx::Error,
    },
    /// Running migrations failed.
    #[error("migrating the database failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A query failed.
    #[error("database error: {0}")]
    Query(#[from] sqlx::Error),
    /// A request conflicts with what is stored (a taken id, an immutable field).
    #[error("{0}")]
    Conflict(String),
    /// Something that should exist does not.
    #[error("{0}")]
    NotFound(String),
    /// Input that cannot be taken (each problem names its field).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<irp_core::orders::FieldError>),
    /// A stored value could not be read back.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Encryption or decryption of a secret failed.
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
}

impl StoreError {
    /// A deadlock or a serialization failure (PostgreSQL aborted the transaction, which rolled
    /// back whole): running it again is safe.
    #[must_use]
    pub fn is_transient_conflict(&self) -> bool {
        matches!(self, StoreError::Query(sqlx::Error::Database(e))
            if matches!(e.code().as_deref(), Some("40P01" | "40001")))
    }
}

/// The result type of the store.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// The two backends, each with its own typed pool.
#[derive(Clone)]
pub enum Db {
    /// SQLite (one file, WAL).
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Run `$body` with `$p` bound to the backend's pool; the body is compiled once per backend.
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$p:ident| $body:expr) => {
        match $db {
            $crate::Db::Sqlite($p) => $body,
            $crate::Db::Postgres($p) => $body,
        }
    };
}

/// A transaction on either backend.
pub enum Tx {
    /// SQLite transaction (begun with `BEGIN IMMEDIATE`).
    Sqlite(sqlx::Transaction<'static, sqlx::Sqlite>),
    /// PostgreSQL transaction.
    Postgres(sqlx::Transaction<'static, sqlx::Postgres>),
}

/// Run `$body` with `$t` bound to `&mut *transaction` of the backend.
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$t:ident| $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite($t) => $body,
            $crate::Tx::Postgres($t) => $body,
        }
    };
}

impl Tx {
    /// Commit.
    ///
    /// # Errors
    /// The database refused the commit.
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }
}

/// Which backend a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}

/// The store: a connection pool on one backend.
#[derive(Clone)]
pub struct Store {
    db: Db,
    url: String,
    /// SQLite: the WAL checkpointer, stopped when the last clone of the store goes.
    _checkpointer: Option<std::sync::Arc<Checkpointer>>,
    /// Woken when a supplier order enters the outbox (see [`Store::outbox_signal`]).
    outbox: std::sync::Arc<tokio::sync::Notify>,
    /// Woken when products were marked for recomputing and nobody recomputed them yet.
    catalog: std::sync::Arc<tokio::sync::Notify>,
    /// Woken when a channel has something new to send its shop (see [`Store::channels_signal`]).
    channels: std::sync::Arc<tokio::sync::Notify>,
    /// Parsed refurbisher documents.
    models: std::sync::Arc<refurbishers::ModelCache>,
    /// SQLite: the one connection write transactions take turns on. SQLite has one writer at
    /// a time anyway; queueing for this connection is first come, first served, where
    /// connections competing for SQLite's lock back off in growing sleeps and a writer can
    /// starve for seconds under a steady stream of orders.
    writer: Option<sqlx::SqlitePool>,
    /// SQLite: the progress board's own file (see [`progress`]).
    progress_board: Option<sqlx::SqlitePool>,
}

/// SQLite's WAL checkpoints, moved out of commits: by default the connection whose commit takes
/// the WAL past 1,000 pages copies them into the database file inside that commit (0.3–0.6 s
/// after a feed run or a catalog recompute that changed scattered rows). Connections are opened
/// with `wal_autocheckpoint = 0` instead, and this task runs a `PASSIVE` checkpoint (which
/// never blocks readers or writers) every half second. Closing the last connection checkpoints
/// the rest, as SQLite always does.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn checkpoint_loop(pool: SqlitePool) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            break;
        }
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            if pool.is_closed() {
                break;
            }
            tracing::warn!(error = %e, "SQLite WAL checkpoint failed; retrying");
        }
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

/// `url` with any password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = rest
        .split_once('/')
        .map_or((rest, None), |(a, p)| (a, Some(p)));
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let query_free = path.map(|p| {
        let (p, q) = p.split_once('?').map_or((p, None), |(p, q)| (p, Some(q)));
        match q {
            Some(q) if q.contains("password") => format!("{p}?***"),
            Some(q) => format!("{p}?{q}"),
            None => p.to_owned(),
        }
    });
    match query_free {
        Some(p) => format!("{scheme}://{authority}/{p}"),
        None => format!("{scheme}://{authority}"),
    }
}

/// Now, truncated to microseconds so that PostgreSQL and SQLite store the same instant.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

impl Store {
    /// Connect to `url`: `sqlite:PATH` (the file and its directory are created if missing;
    /// WAL journal) or `postgres://…`.
    ///
    /// # Errors
    /// An unsupported scheme or a failed connection.
    pub async fn connect(url: &str) -> Result<Store> {
        let shown = redact_url(url);
        let connect_err = |source| StoreError::Connect {
            url: shown.clone(),
            source,
        };
        let mut sqlite_writer = None;
        let mut progress_board = None;
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)
                .map_err(connect_err)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10))
                .pragma("wal_autocheckpoint", "0");
            if let Some(dir) = std::path::Path::new(opts.get_filename()).parent()
                && !dir.as_os_str().is_empty()
                && !dir.exists()
            {
                std::fs::create_dir_all(dir).map_err(|e| connect_err(sqlx::Error::Io(e)))?;
            }
            let writer = SqlitePoolOptions::new()
                .max_connections(1)
                .acquire_timeout(Duration::from_secs(60))
                .connect_with(opts.clone())
                .await
                .map_err(connect_err)?;
            sqlite_writer = Some(writer);
            progress_board = Some(
                progress::open_sqlite_board(opts.get_filename())
                    .await
                    .map_err(|e| match e {
                        StoreError::Query(source) => connect_err(source),
                        other => other,
                    })?,
            );
            Db::Sqlite(
                SqlitePoolOptions::new()
                    .max_connections(8)
                    .connect_with(opts)
                    .await
                    .map_err(connect_err)?,
            )
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Db::Postgres(
                PgPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect(url)
                    .await
                    .map_err(connect_err)?,
            )
        } else {
            return Err(StoreError::UnsupportedUrl(shown));
        };
        let checkpointer = match &db {
            Db::Sqlite(pool) => Some(std::sync::Arc::new(Checkpointer(tokio::spawn(
                checkpoint_loop(pool.clone()),
            )))),
            Db::Postgres(_) => None,
        };
        Ok(Store {
            db,
            url: shown,
            _checkpointer: checkpointer,
            outbox: std::sync::Arc::new(tokio::sync::Notify::new()),
            catalog: std::sync::Arc::new(tokio::sync::Notify::new()),
            channels: std::sync::Arc::new(tokio::sync::Notify::new()),
            models: std::sync::Arc::default(),
            writer: sqlite_writer,
            progress_board,
        })
    }

    /// The URL this store was opened with, password redacted.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Woken whenever a supplier order enters the outbox in this process (a submitter waits on
    /// it; other instances find the order by polling).
    pub fn outbox_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.outbox.clone()
    }

    /// Woken when products were marked for recomputing by a change that leaves the recompute
    /// to a background task (order intake, a cancel, a change of pricing): `serve` recomputes then.
    pub fn catalog_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.catalog.clone()
    }

    /// Woken in this process when channel rows changed in a catalog recompute or a shipment
    /// was matched: the channel sync pushes within seconds instead of at its next tick.
    pub fn channels_signal(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.channels.clone()
    }

    /// The pools, for modules of this crate.
    pub(crate) fn db(&self) -> &Db {
        &self.db
    }

    /// Run the embedded migrations of this backend; returns the versions that were applied now.
    ///
    /// # Errors
    /// A migration failed, or the database holds migrations this binary does not know.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let before = self.applied_migrations().await.unwrap_or_default();
        match &self.db {
            Db::Sqlite(p) => sqlx::migrate!("migrations/sqlite").run(p).await?,
            Db::Postgres(p) => sqlx::migrate!("migrations/postgres").run(p).await?,
        }
        let after = self.applied_migrations().await?;
        Ok(after.into_iter().filter(|v| !before.contains(v)).collect())
    }

    /// Versions of the migrations applied to this database.
    ///
    /// # Errors
    /// The query failed (for instance before the first migration).
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        const SQL: &str = "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version";
        let rows: Vec<(i64,)> = with_db!(&self.db, |p| sqlx::query_as(SQL).fetch_all(p).await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// Versions of the migrations embedded in this binary for this backend.
    pub fn embedded_migrations(&self) -> Vec<i64> {
        let m = match self.db {
            Db::Sqlite(_) => sqlx::migrate!("migrations/sqlite"),
            Db::Postgres(_) => sqlx::migrate!("migrations/postgres"),
        };
        m.iter().map(|m| m.version).collect()
    }

    /// Check that the database answers.
    ///
    /// # Errors
    /// It does not.
    pub async fn ping(&self) -> Result<()> {
        let _: (i64,) = with_db!(&self.db, |p| sqlx::query_as("SELECT CAST(1 AS BIGINT)")
            .fetch_one(p)
            .await)?;
        Ok(())
    }

    /// Begin a write transaction (`BEGIN IMMEDIATE` on SQLite, so concurrent writers wait
    /// instead of failing when a read lock would be upgraded).
    ///
    /// # Errors
    /// The database refused.
    pub async fn begin(&self) -> Result<Tx> {
        Ok(match &self.db {
            Db::Sqlite(p) => Tx::Sqlite(
                self.writer
                    .as_ref()
                    .unwrap_or(p)
                    .begin_with("BEGIN IMMEDIATE")
                    .await?,
            ),
            Db::Postgres(p) => Tx::Postgres(p.begin().await?),
        })
    }

    /// Close the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        if let Some(w) = &self.writer {
            w.close().await;
        }
        with_db!(&self.db, |p| p.close().await);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords() {
        assert_eq!(
            redact_url("postgres://irp:s3cret@db.example:5432/irp"),
            "postgres://irp:***@db.example:5432/irp"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/test"),
            "postgres://postgres@127.0.0.1/test"
        );
        assert_eq!(
            redact_url("postgres://db/irp?user=a&password=b"),
            "postgres://db/irp?***"
        );
        assert_eq!(redact_url("sqlite:data/irp.db"), "sqlite:data/irp.db");
    }

    #[test]
    fn both_backends_embed_the_same_migration_versions() {
        let versions = |m: sqlx::migrate::Migrator| {
            m.iter()
                .map(|m| (m.version, m.description.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            versions(sqlx::migrate!("migrations/sqlite")),
            versions(sqlx::migrate!("migrations/postgres"))
        );
    }
}
