//! SSH host keys met on first use (trust on first use for SFTP feeds whose connector names no
//! fingerprint).

use crate::{Result, Store, now, with_db};

/// The store's handle on SSH host keys met on first use ([`Store::known_hosts`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct KnownHosts<'s>(&'s Store);

impl std::ops::Deref for KnownHosts<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on SSH host keys met on first use.
    #[must_use]
    pub fn known_hosts(&self) -> KnownHosts<'_> {
        KnownHosts(self)
    }
}

impl KnownHosts<'_> {
    /// The recorded host key fingerprint of an SFTP server.
    ///
    /// # Errors
    /// A database error.
    pub async fn get(&self, host: &str, port: u16) -> Result<Option<String>> {
        const SQL: &str = "SELECT fingerprint FROM known_hosts WHERE host = $1 AND port = $2";
        let row: Option<(String,)> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(host)
            .bind(i64::from(port))
            .fetch_optional(p)
            .await)?;
        Ok(row.map(|r| r.0))
    }

    /// Record an SFTP server's host key fingerprint, unless one is recorded already.
    ///
    /// # Errors
    /// A database error.
    pub async fn record(&self, host: &str, port: u16, fingerprint: &str) -> Result<()> {
        const SQL: &str = "INSERT INTO known_hosts (host, port, fingerprint, recorded_at) VALUES ($1, $2, $3, $4) ON CONFLICT (host, port) DO NOTHING";
        let at = now();
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(host)
            .bind(i64::from(port))
            .bind(fingerprint)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
}
