//! Feed runs: their start, staging, diff, application and end, their reports and row errors,
//! and the quarantine. A run is normally written as it is read ([`crate::feed_write`]); a
//! quarantined run's whole snapshot is staged, diffed against the refurbisher's stored offers,
//! and applied in one transaction when an operator says so (`Store::feed_runs().apply`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use irp_core::feed::FeedRunStatus;

use crate::feed_write::{holds_opened, mark_applied, record_report, record_row_errors};
use crate::monitor::RESOLVE_ALERT;
use crate::offers::{FIELD_CHECKS, FeedRun, RunReport, SnapshotDiff, StagedOffer, StoredRowError};
use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};

async fn diff_in(tx: &mut Tx, refurbisher_id: i64, run_id: i64) -> Result<SnapshotDiff> {
    const COUNTS: &str = "SELECT \
        CAST((SELECT COUNT(*) FROM feed_staging s LEFT JOIN offers o ON o.refurbisher_id = $1 AND o.sku = s.sku \
              WHERE s.feed_run_id = $2 AND (o.id IS NULL OR NOT o.active)) AS BIGINT), \
        CAST((SELECT COUNT(*) FROM feed_staging s JOIN offers o ON o.refurbisher_id = $1 AND o.sku = s.sku \
              WHERE s.feed_run_id = $2 AND o.active AND o.content_hash <> s.content_hash) AS BIGINT), \
        CAST((SELECT COUNT(*) FROM feed_staging s JOIN offers o ON o.refurbisher_id = $1 AND o.sku = s.sku \
              WHERE s.feed_run_id = $2 AND o.active AND o.content_hash = s.content_hash) AS BIGINT), \
        CAST((SELECT COUNT(*) FROM offers o WHERE o.refurbisher_id = $1 AND o.active AND NOT EXISTS \
              (SELECT 1 FROM feed_staging s WHERE s.feed_run_id = $2 AND s.sku = o.sku)) AS BIGINT), \
        CAST((SELECT COUNT(*) FROM offers o WHERE o.refurbisher_id = $1 AND o.active) AS BIGINT)";
    let (created, updated, unchanged, removed, active_before): (i64, i64, i64, i64, i64) =
        with_tx!(tx, |t| sqlx::query_as(COUNTS)
            .bind(refurbisher_id)
            .bind(run_id)
            .fetch_one(&mut **t)
            .await)?;
    let mut field_changes = BTreeMap::new();
    if updated > 0 {
        let sums: Vec<String> = FIELD_CHECKS
            .iter()
            .map(|(_, cond)| format!("CAST(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS BIGINT)"))
            .collect();
        let sql = format!(
            "SELECT {} FROM feed_staging s JOIN offers o ON o.refurbisher_id = $1 AND o.sku = s.sku \
             WHERE s.feed_run_id = $2 AND o.active AND o.content_hash <> s.content_hash",
            sums.join(", ")
        );
        let row: (i64, i64, i64, i64, i64, i64, i64, i64) =
            with_tx!(tx, |t| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                .bind(refurbisher_id)
                .bind(run_id)
                .fetch_one(&mut **t)
                .await)?;
        let counts = [row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7];
        for ((field, _), n) in FIELD_CHECKS.iter().zip(counts) {
            if n > 0 {
                field_changes.insert((*field).to_owned(), n);
            }
        }
    }
    Ok(SnapshotDiff {
        created,
        updated,
        unchanged,
        removed,
        active_before,
        field_changes,
    })
}

/// The store's handle on feed runs: start, staging, diff, apply, reports (`Store::feed_runs().list`). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct FeedRuns<'s>(&'s Store);

impl std::ops::Deref for FeedRuns<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on feed runs: start, staging, diff, apply, reports.
    #[must_use]
    pub fn feed_runs(&self) -> FeedRuns<'_> {
        FeedRuns(self)
    }
}

impl FeedRuns<'_> {
    /// Start a feed run (status `running`).
    ///
    /// # Errors
    /// A database error.
    pub async fn start(&self, refurbisher_id: i64, triggered_by: &str) -> Result<i64> {
        const SQL: &str = "INSERT INTO feed_runs (refurbisher_id, triggered_by, status, started_at) VALUES ($1, $2, 'running', $3) RETURNING id";
        let at = now();
        let (id,): (i64,) = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(refurbisher_id)
            .bind(triggered_by)
            .bind(at)
            .fetch_one(p)
            .await)?;
        Ok(id)
    }

    /// Stage accepted rows of a run (a batch; call as often as needed). The caller has made the
    /// SKUs of a run unique (a repeated SKU is a row error); on SQLite a SKU already staged is
    /// skipped, on PostgreSQL (where rows arrive by `COPY`) it is an error. Returns the number of
    /// rows staged.
    ///
    /// # Errors
    /// A database error.
    pub async fn stage(&self, run_id: i64, rows: &[StagedOffer]) -> Result<u64> {
        if rows.is_empty() {
            return Ok(0);
        }
        match self.db() {
            crate::Db::Postgres(pool) => {
                let mut conn = pool.acquire().await?;
                crate::feed_write::pg_stage(&mut conn, run_id, rows).await
            }
            crate::Db::Sqlite(pool) => {
                let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
                let n = crate::feed_write::sqlite_stage(&mut tx, run_id, rows, true).await?;
                tx.commit().await?;
                Ok(n)
            }
        }
    }

    /// Store row errors of a run.
    ///
    /// # Errors
    /// A database error.
    pub async fn add_row_errors(&self, run_id: i64, errors: &[StoredRowError]) -> Result<()> {
        if errors.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        record_row_errors(&mut tx, run_id, errors).await?;
        tx.commit().await
    }

    /// How the staged rows of `run_id` differ from the stored offers.
    ///
    /// # Errors
    /// A database error.
    pub async fn diff(&self, refurbisher_id: i64, run_id: i64) -> Result<SnapshotDiff> {
        let mut tx = self.begin().await?;
        let d = diff_in(&mut tx, refurbisher_id, run_id).await?;
        tx.commit().await?;
        Ok(d)
    }

    /// Apply the staged rows of `run_id` in one transaction: create and update offers,
    /// deactivate the ones the feed no longer has, mark the run applied with `status`, and
    /// drop its staging rows, and mark the products of the EANs it touched for the catalog.
    /// Returns the diff that was applied and how many price changes it held.
    ///
    /// # Errors
    /// The run is not the refurbisher's or was applied already; a database error.
    pub async fn apply(
        &self,
        refurbisher_id: i64,
        run_id: i64,
        status: &str,
        max_price_change_ppm: i64,
    ) -> Result<(SnapshotDiff, crate::feed_write::Applied)> {
        let mut tx = self.begin().await?;
        const CHECK: &str = "SELECT refurbisher_id, applied_at FROM feed_runs WHERE id = $1";
        let row: Option<(i64, Option<DateTime<Utc>>)> =
            with_tx!(&mut tx, |t| sqlx::query_as(CHECK)
                .bind(run_id)
                .fetch_optional(&mut **t)
                .await)?;
        match row {
            None => return Err(StoreError::NotFound(format!("no feed run {run_id}"))),
            Some((r, _)) if r != refurbisher_id => {
                return Err(StoreError::Conflict(format!(
                    "feed run {run_id} belongs to another refurbisher"
                )));
            }
            Some((_, Some(at))) => {
                return Err(StoreError::Conflict(format!(
                    "feed run {run_id} was applied already, at {at}"
                )));
            }
            Some(_) => {}
        }
        let diff = diff_in(&mut tx, refurbisher_id, run_id).await?;
        let at = now();
        let [hold_price, hold, held_at] =
            crate::feed_write::price_guard("offers", "excluded.price_purchase_minor");
        let upsert = format!(
            "INSERT INTO offers (refurbisher_id, sku, ean, name, stock_available, price_purchase_minor, price_consumer_minor, \
                 currency, tax_percentage, attributes, content_hash, active, first_seen_at, last_seen_at, last_changed_at) \
             SELECT $1, s.sku, s.ean, s.name, s.stock_available, s.price_purchase_minor, s.price_consumer_minor, s.currency, s.tax_percentage, \
                 s.attributes, s.content_hash, TRUE, $3, $3, $3 FROM feed_staging s \
                 LEFT JOIN offers o ON o.refurbisher_id = $1 AND o.sku = s.sku \
             WHERE s.feed_run_id = $2 AND (o.id IS NULL OR NOT o.active OR o.content_hash <> s.content_hash) \
             ON CONFLICT (refurbisher_id, sku) DO UPDATE SET ean = excluded.ean, name = excluded.name, stock_available = excluded.stock_available, \
                 applied_purchase_minor = {hold_price}, price_hold = {hold}, price_held_at = {held_at}, \
                 price_purchase_minor = excluded.price_purchase_minor, price_consumer_minor = excluded.price_consumer_minor, \
                 currency = excluded.currency, tax_percentage = excluded.tax_percentage, attributes = excluded.attributes, \
                 last_changed_at = CASE WHEN offers.content_hash <> excluded.content_hash OR NOT offers.active THEN excluded.last_changed_at ELSE offers.last_changed_at END, \
                 content_hash = excluded.content_hash, active = TRUE, last_seen_at = excluded.last_seen_at"
        );
        const DEACTIVATE: &str = "UPDATE offers SET active = FALSE, last_changed_at = $3 WHERE refurbisher_id = $1 AND active \
             AND NOT EXISTS (SELECT 1 FROM feed_staging s WHERE s.feed_run_id = $2 AND s.sku = offers.sku)";
        const CLEAN: &str = "DELETE FROM feed_staging WHERE feed_run_id = $1";
        // The products of every EAN the refurbisher had and gets (an operator's apply of a
        // quarantined run is rare: all of them).
        crate::marks::mark_refurbisher_dirty(&mut tx, refurbisher_id).await?;
        with_tx!(&mut tx, |t| sqlx::query(sqlx::AssertSqlSafe(upsert))
            .bind(refurbisher_id)
            .bind(run_id)
            .bind(at)
            .bind(max_price_change_ppm)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        with_tx!(&mut tx, |t| sqlx::query(DEACTIVATE)
            .bind(refurbisher_id)
            .bind(run_id)
            .bind(at)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        let applied = crate::feed_write::Applied {
            price_holds: holds_opened(&mut tx, refurbisher_id, at).await?,
        };
        crate::marks::mark_refurbisher_dirty(&mut tx, refurbisher_id).await?;
        mark_applied(&mut tx, run_id, status, at, &diff).await?;
        with_tx!(&mut tx, |t| sqlx::query(CLEAN)
            .bind(run_id)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        tx.commit().await?;
        Ok((diff, applied))
    }

    /// Record how a run ended (counts, status, message). Applying is separate: see
    /// `Store::feed_runs().apply`.
    ///
    /// # Errors
    /// A database error.
    pub async fn finish(&self, run_id: i64, report: &RunReport) -> Result<()> {
        let mut tx = self.begin().await?;
        record_report(&mut tx, run_id, report).await?;
        tx.commit().await
    }

    /// Close the runs left `running` by a process that ended before them (killed, crashed):
    /// a run that has not reported on the progress board for `silent_for` (a running run
    /// reports every second) becomes `interrupted`, with what it had recorded. A run whose
    /// offers were applied is never `running` (its report is committed with them), so an
    /// interrupted run applied nothing. Returns the closed runs' ids.
    ///
    /// # Errors
    /// A database error.
    pub async fn close_interrupted(&self, silent_for: chrono::TimeDelta) -> Result<Vec<i64>> {
        const RUNNING: &str =
            "SELECT id FROM feed_runs WHERE status = 'running' AND started_at < $1 ORDER BY id";
        const CLOSE: &str = "UPDATE feed_runs SET status = 'interrupted', finished_at = $2, message = $3 \
             WHERE id = $1 AND status = 'running' AND applied_at IS NULL";
        const CLEAN: &str = "DELETE FROM feed_staging WHERE feed_run_id = $1";
        let at = now();
        let before = at - silent_for;
        let running: Vec<(i64,)> = with_db!(self.db(), |p| sqlx::query_as(RUNNING)
            .bind(before)
            .fetch_all(p)
            .await)?;
        let mut closed = Vec::new();
        for (id,) in running {
            let last = self
                .progress()
                .get(&crate::progress::feed_run_work(id))
                .await?
                .map(|p| p.updated_at);
            if last.is_some_and(|t| t >= before) {
                continue;
            }
            let message = match last {
                Some(t) => format!(
                    "interrupted: the process running it stopped reporting at {} (killed, crashed or shut down); nothing of it was applied",
                    t.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                None => "interrupted: the process running it ended before it (killed, crashed or shut down); nothing of it was applied".to_owned(),
            };
            let mut tx = self.begin().await?;
            let n = with_tx!(&mut tx, |t| sqlx::query(CLOSE)
                .bind(id)
                .bind(at)
                .bind(&message)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()))?;
            with_tx!(&mut tx, |t| sqlx::query(CLEAN)
                .bind(id)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()))?;
            tx.commit().await?;
            if n > 0 {
                self.progress()
                    .clear(&crate::progress::feed_run_work(id))
                    .await?;
                closed.push(id);
            }
        }
        Ok(closed)
    }

    /// The content hash of the refurbisher's latest run whose offers are what is stored
    /// (applied, or found identical to the applied one).
    ///
    /// # Errors
    /// A database error.
    pub async fn current_hash(&self, refurbisher_id: i64) -> Result<Option<String>> {
        const SQL: &str = "SELECT content_hash FROM feed_runs WHERE refurbisher_id = $1 AND status IN ('succeeded', 'partial', 'unchanged') \
             AND content_hash IS NOT NULL ORDER BY id DESC LIMIT 1";
        let row: Option<(Option<String>,)> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(refurbisher_id)
            .fetch_optional(p)
            .await)?;
        Ok(row.and_then(|r| r.0))
    }

    /// Drop the staged rows of a run that will not be applied (failed or discarded).
    ///
    /// # Errors
    /// A database error.
    pub async fn discard_staged(&self, run_id: i64) -> Result<()> {
        const SQL: &str = "DELETE FROM feed_staging WHERE feed_run_id = $1";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(run_id)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// An operator discards a quarantined run: its staged rows are dropped, it becomes
    /// `discarded` (the offers stay as they were) and the quarantine alert is resolved; audited.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] when the run is not quarantined; a
    /// database error.
    pub async fn discard(&self, run_id: i64, actor: &str) -> Result<FeedRun> {
        let Some(run) = self.feed_runs().get(run_id).await? else {
            return Err(StoreError::NotFound(format!("no feed run {run_id}")));
        };
        if run.status != "quarantined" {
            return Err(StoreError::Conflict(format!(
                "feed run {run_id} is {}, not quarantined; only quarantined runs are discarded",
                run.status
            )));
        }
        let at = now();
        let mut tx = self.begin().await?;
        let n = with_tx!(&mut tx, |t| sqlx::query(
            "UPDATE feed_runs SET status = 'discarded' WHERE id = $1 AND status = 'quarantined'"
        )
        .bind(run_id)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "feed run {run_id} was applied or discarded meanwhile"
            )));
        }
        with_tx!(&mut tx, |t| sqlx::query(
            "DELETE FROM feed_staging WHERE feed_run_id = $1"
        )
        .bind(run_id)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
        with_tx!(&mut tx, |t| sqlx::query(RESOLVE_ALERT)
            .bind(run.refurbisher_id)
            .bind(irp_core::monitoring::Metric::FeedQuarantined.as_str())
            .bind(at)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        tx.audit(
            actor,
            "feed.discard",
            &run_id.to_string(),
            serde_json::json!({ "refurbisher_id": run.refurbisher_id }),
        )
        .await?;
        tx.commit().await?;
        Ok(FeedRun {
            status: FeedRunStatus::Discarded,
            ..run
        })
    }

    /// A run.
    ///
    /// # Errors
    /// A database error.
    pub async fn get(&self, run_id: i64) -> Result<Option<FeedRun>> {
        const SQL: &str = "SELECT id, refurbisher_id, triggered_by, status, started_at, finished_at, http_status, bytes, duration_ms, rows_read, \
             rows_accepted, rows_rejected, created, updated, unchanged, removed, errors_dropped, field_changes, message, applied_at \
             FROM feed_runs WHERE id = $1";
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(run_id)
            .fetch_optional(p)
            .await)?)
    }

    /// The latest `limit` runs of a refurbisher, newest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(&self, refurbisher_id: i64, limit: i64) -> Result<Vec<FeedRun>> {
        const SQL: &str = "SELECT id, refurbisher_id, triggered_by, status, started_at, finished_at, http_status, bytes, duration_ms, rows_read, \
             rows_accepted, rows_rejected, created, updated, unchanged, removed, errors_dropped, field_changes, message, applied_at \
             FROM feed_runs WHERE refurbisher_id = $1 ORDER BY id DESC LIMIT $2";
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(refurbisher_id)
            .bind(limit)
            .fetch_all(p)
            .await)?)
    }

    /// The stored row errors of a run, by row.
    ///
    /// # Errors
    /// A database error.
    pub async fn row_errors(&self, run_id: i64) -> Result<Vec<StoredRowError>> {
        const SQL: &str = "SELECT row_number, field, value, message FROM feed_row_errors WHERE feed_run_id = $1 ORDER BY row_number, id";
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(run_id)
            .fetch_all(p)
            .await)?)
    }
}
