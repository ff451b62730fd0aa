//! Several `irp serve` instances on one database: who is running, the leases on work one
//! instance does for all, and every claim an instance holds.
//!
//! - [`Instances::heartbeat`]: each running instance says every few seconds that it is alive
//!   (its version, address and background jobs); [`Instances::leave`] on a graceful stop
//!   removes it and releases its claims at once instead of letting them run out.
//! - [`Instances::acquire`]: a lease on a job (`monitor`) that one instance at a time does, with
//!   the outbox's semantics: held until a time, renewed by the holder while it works, taken
//!   over by another instance once it has run out (its holder died).
//! - [`Instances::claims`]: every claim held — job leases, feed polls, channel rounds, the PIM
//!   sync, supplier order calls, ERP documents — per instance (`irp status`).

use chrono::{DateTime, TimeDelta, Utc};

use crate::{Result, Store, now, with_db};

/// A running instance, as it last said.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Instance {
    /// Who it is in claims and leases (`host:pid:random`).
    pub owner: String,
    /// Its version.
    pub version: String,
    /// Where it listens.
    pub listen: String,
    /// Its background jobs, comma-separated.
    pub jobs: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// When it last said it is alive.
    pub seen_at: DateTime<Utc>,
}

/// A claim or lease held by an instance.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct Claim {
    /// What kind of work: `job`, `feed_poll`, `channel_round`, `pim_sync`, `supplier_order`,
    /// `erp_document`.
    pub kind: String,
    /// Which: the job's name, the refurbisher's or channel's key, the supplier order's id.
    pub what: String,
    /// The instance holding it.
    pub owner: String,
    /// When it runs out unless renewed.
    pub until: DateTime<Utc>,
}

/// The store's handle on instances and their claims ([`Store::instances`]).
#[derive(Clone, Copy)]
pub struct Instances<'s>(&'s Store);

impl Store {
    /// Instances, job leases and claims.
    #[must_use]
    pub fn instances(&self) -> Instances<'_> {
        Instances(self)
    }
}

/// Every claim held and not run out: one row per claim, from each table that has them.
const CLAIMS: &str = "SELECT kind, what, owner, until FROM ( \
      SELECT 'job' AS kind, job AS what, owner, until FROM job_leases \
      UNION ALL SELECT 'feed_poll', key, lease_owner, lease_until FROM refurbishers WHERE lease_owner IS NOT NULL \
      UNION ALL SELECT 'channel_round', channel, lease_owner, lease_until FROM channel_sync WHERE lease_owner IS NOT NULL \
      UNION ALL SELECT 'pim_sync', key, lease_owner, lease_until FROM pim_source WHERE lease_owner IS NOT NULL \
      UNION ALL SELECT 'supplier_order', CAST(id AS TEXT), lease_owner, lease_until FROM supplier_orders \
          WHERE status = 'submitting' AND lease_owner IS NOT NULL \
      UNION ALL SELECT 'erp_document', CAST(supplier_order_id AS TEXT), lease_owner, lease_until FROM erp_documents \
          WHERE status = 'working' AND lease_owner IS NOT NULL \
    ) c WHERE until >= $1 AND ($2 IS NULL OR owner = $2) ORDER BY owner, kind, what";

impl Instances<'_> {
    /// Instance `owner` is alive: its row is written (made on the first call).
    ///
    /// # Errors
    /// A database error.
    pub async fn heartbeat(
        &self,
        owner: &str,
        version: &str,
        listen: &str,
        jobs: &str,
        started_at: DateTime<Utc>,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO instances (owner, version, listen, jobs, started_at, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (owner) DO UPDATE SET \
             version = excluded.version, listen = excluded.listen, jobs = excluded.jobs, seen_at = excluded.seen_at";
        with_db!(self.0.db(), |p| sqlx::query(SQL)
            .bind(owner)
            .bind(version)
            .bind(listen)
            .bind(jobs)
            .bind(started_at)
            .bind(now())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The instances seen within `within`, oldest first; instances silent for longer (killed,
    /// or their machine gone) are removed.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(&self, within: TimeDelta) -> Result<Vec<Instance>> {
        let since = now() - within;
        Ok(with_db!(self.0.db(), |p| {
            sqlx::query("DELETE FROM instances WHERE seen_at < $1")
                .bind(since)
                .execute(p)
                .await?;
            sqlx::query_as(
                "SELECT owner, version, listen, jobs, started_at, seen_at FROM instances ORDER BY started_at, owner",
            )
            .fetch_all(p)
            .await
        })?)
    }

    /// Take or renew the lease on `job` for `owner`, for `lease` from now: granted when nobody
    /// holds it, `owner` holds it already, or its holder's lease has run out.
    ///
    /// # Errors
    /// A database error.
    pub async fn acquire(&self, job: &str, owner: &str, lease: TimeDelta) -> Result<bool> {
        const SQL: &str = "INSERT INTO job_leases (job, owner, since, until) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (job) DO UPDATE SET owner = excluded.owner, until = excluded.until, \
             since = CASE WHEN job_leases.owner = excluded.owner THEN job_leases.since ELSE excluded.since END \
             WHERE job_leases.owner = excluded.owner OR job_leases.until < excluded.since";
        let at = now();
        let n = with_db!(self.0.db(), |p| sqlx::query(SQL)
            .bind(job)
            .bind(owner)
            .bind(at)
            .bind(at + lease)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Give up `owner`'s lease on `job` (another instance may take it at once).
    ///
    /// # Errors
    /// A database error.
    pub async fn release(&self, job: &str, owner: &str) -> Result<()> {
        with_db!(self.0.db(), |p| sqlx::query(
            "DELETE FROM job_leases WHERE job = $1 AND owner = $2"
        )
        .bind(job)
        .bind(owner)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// The claims held and not run out, of one instance or of all.
    ///
    /// # Errors
    /// A database error.
    pub async fn claims(&self, owner: Option<&str>) -> Result<Vec<Claim>> {
        Ok(with_db!(self.0.db(), |p| sqlx::query_as(CLAIMS)
            .bind(now())
            .bind(owner)
            .fetch_all(p)
            .await)?)
    }

    /// A stopping instance leaves: its row is removed and its job leases, feed polls, channel
    /// rounds and PIM sync claim are released, so other instances take that work over at once
    /// (a feed poll released this way is due again at once). Claims on supplier order calls
    /// and ERP documents are left to run out: a call this instance made may still be
    /// answered, and the lease is what keeps another instance from making it a second time.
    /// Returns how many claims were released.
    ///
    /// # Errors
    /// A database error.
    pub async fn leave(&self, owner: &str) -> Result<u64> {
        const RELEASE: [&str; 5] = [
            "DELETE FROM instances WHERE owner = $1",
            "DELETE FROM job_leases WHERE owner = $1",
            "UPDATE refurbishers SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            "UPDATE channel_sync SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
            "UPDATE pim_source SET lease_owner = NULL, lease_until = NULL WHERE lease_owner = $1",
        ];
        let mut released = 0;
        for (i, sql) in RELEASE.into_iter().enumerate() {
            let n = with_db!(self.0.db(), |p| sqlx::query(sql)
                .bind(owner)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))?;
            if i > 0 {
                released += n;
            }
        }
        Ok(released)
    }
}
