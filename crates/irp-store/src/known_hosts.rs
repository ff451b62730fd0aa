//! SSH host keys met on first use (trust on first use for SFTP feeds whose connector names no
//! fingerprint).

use crate::{Result, Store, now, with_db};

impl Store {
    /// The recorded host key fingerprint of an SFTP server.
    ///
    /// # Errors
    /// A database error.
    pub async fn known_host(&self, host: &str, port: u16) -> Result<Option<String>> {
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
    pub async fn known_host_record(&self, host: &str, port: u16, fingerprint: &str) -> Result<()> {
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
