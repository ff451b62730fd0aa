//! Test support: a fresh, migrated database per test on either backend.
//!
//! SQLite gets a temporary file. PostgreSQL gets a new database on the server at
//! `IRP_TEST_PG_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), dropped when the
//! [`TestDb`] goes away. When that server cannot be reached the test fails loudly: the test
//! command (`scripts/test`) starts one where none runs, so PostgreSQL is never skipped.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Backend, Store};

/// Default server for PostgreSQL tests.
pub const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A fresh database for one test.
pub struct TestDb {
    /// The migrated store.
    pub store: Store,
    /// The URL of the database (to hand to the `irp` binary in CLI tests).
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_drop: Option<(String, String)>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// The server URL PostgreSQL tests use.
pub fn pg_server_url() -> String {
    std::env::var("IRP_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_URL.to_owned())
}

/// `server` (a PostgreSQL URL) with its database replaced by `db`, its query kept.
pub fn with_database(server: &str, db: &str) -> String {
    let (base, query) = server
        .split_once('?')
        .map_or((server, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{db}?{q}"),
        None => format!("{root}/{db}"),
    }
}

impl TestDb {
    /// A fresh, migrated database on `backend`.
    ///
    /// # Panics
    /// When the database cannot be created — tests must fail, not skip.
    pub async fn new(backend: Backend) -> TestDb {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a temporary directory");
                let url = format!("sqlite:{}", dir.path().join("irp.db").display());
                let store = Store::connect(&url).await.expect("opening SQLite");
                store.migrate().await.expect("migrating SQLite");
                TestDb {
                    store,
                    url,
                    _dir: Some(dir),
                    pg_drop: None,
                }
            }
            Backend::Postgres => {
                let server = pg_server_url();
                let name = format!(
                    "irp_test_{}_{}_{}",
                    std::process::id(),
                    COUNTER.fetch_add(1, Ordering::Relaxed),
                    chrono::Utc::now().timestamp_micros() % 1_000_000
                );
                let admin = sqlx::PgPool::connect(&server).await.unwrap_or_else(|e| {
                    panic!(
                        "PostgreSQL is not reachable at {} ({e}); run the tests with scripts/test, which starts one, or set IRP_TEST_PG_URL",
                        crate::redact_url(&server)
                    )
                });
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&admin)
                    .await
                    .expect("creating the test database");
                admin.close().await;
                let url = with_database(&server, &name);
                let store = Store::connect(&url).await.expect("opening PostgreSQL");
                store.migrate().await.expect("migrating PostgreSQL");
                TestDb {
                    store,
                    url,
                    _dir: None,
                    pg_drop: Some((server, name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((server, name)) = self.pg_drop.take() else {
            return;
        };
        // Drop the database from a thread of its own: Drop cannot await, and the test's
        // runtime is blocked here. `WITH (FORCE)` ends the test pool's open connections.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(admin) = sqlx::PgPool::connect(&server).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                    )))
                    .execute(&admin)
                    .await;
                    admin.close().await;
                }
            });
        })
        .join();
    }
}

/// Define each listed async test fn (taking a `TestDb`) once per backend:
/// `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! db_tests {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn sqlite() {
                    super::$name($crate::testkit::TestDb::new($crate::Backend::Sqlite).await).await
                }
                #[tokio::test]
                async fn postgres() {
                    super::$name($crate::testkit::TestDb::new($crate::Backend::Postgres).await).await
                }
            }
        )*
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_replace_the_path() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(with_database("postgres://u@h", "x"), "postgres://u@h/x");
        assert_eq!(
            with_database("postgres://u@h/db?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
    }
}
