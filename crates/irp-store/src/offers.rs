//! Offers and feed runs: runs, their reports and row errors, alerts, listings, and the staging
//! table. A run is normally written as it is read ([`crate::feed_write`]); a quarantined run's
//! whole snapshot is staged here, diffed against the refurbisher's stored offers, and applied in
//! one transaction when an operator says so ([`Store::feed_apply`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};

/// One accepted feed row, as stored (money in minor units of `currency`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedOffer {
    /// The refurbisher's SKU.
    pub sku: String,
    /// Row (CSV: line) number in the feed.
    pub row_number: i64,
    /// EAN/GTIN.
    pub ean: String,
    /// Name.
    pub name: String,
    /// Stock the refurbisher reports.
    pub stock_available: i64,
    /// Purchase price excl. VAT, minor units.
    pub price_purchase_minor: i64,
    /// Consumer price excl. VAT, minor units.
    pub price_consumer_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// VAT percentage as an exact decimal string.
    pub tax_percentage: Option<String>,
    /// Further attributes (brand, category, grade, extra), sorted by name.
    pub attributes: BTreeMap<String, String>,
}

impl StagedOffer {
    /// A hash of every stored field, to tell unchanged offers apart cheaply: XXH3-64 (a
    /// specified, stable algorithm) over the fields, each followed by a separator byte.
    pub fn content_hash64(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in [self.ean.as_str(), self.name.as_str()] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        for n in [
            self.stock_available,
            self.price_purchase_minor,
            self.price_consumer_minor,
        ] {
            h.update(&n.to_le_bytes());
        }
        for part in [
            self.currency.as_str(),
            self.tax_percentage.as_deref().unwrap_or("-"),
        ] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        for (k, v) in &self.attributes {
            h.update(k.as_bytes());
            h.update(&[1]);
            h.update(v.as_bytes());
            h.update(&[0]);
        }
        h.digest()
    }

    /// [`Self::content_hash64`] as stored: 16 lowercase hex digits.
    pub fn content_hash(&self) -> String {
        hash_hex(self.content_hash64())
    }
}

/// A content hash as stored: 16 lowercase hex digits.
pub fn hash_hex(hash: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..16)
        .rev()
        .map(|i| char::from(HEX[((hash >> (i * 4)) & 0xf) as usize]))
        .collect()
}

/// A stored content hash read back; `None` for one written in an older form (it then never
/// matches, and the offer's fields are compared instead).
pub fn hash_parse(text: &str) -> Option<u64> {
    if text.len() == 16 {
        u64::from_str_radix(text, 16).ok()
    } else {
        None
    }
}

/// A row error as stored with its run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct StoredRowError {
    /// Row (CSV: line) number.
    pub row_number: i64,
    /// Canonical field, when one.
    pub field: Option<String>,
    /// Raw value, when one.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// How a run's staged offers differ from the stored ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotDiff {
    /// Offers the feed has and the store does not (or has inactive).
    pub created: i64,
    /// Offers whose stored fields change.
    pub updated: i64,
    /// Offers that stay as they are.
    pub unchanged: i64,
    /// Active offers the feed no longer has (they are deactivated, never deleted).
    pub removed: i64,
    /// Active offers before the run.
    pub active_before: i64,
    /// Per canonical field, how many updated offers change it.
    pub field_changes: BTreeMap<String, i64>,
}

/// A feed run as stored.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct FeedRun {
    /// Run id.
    pub id: i64,
    /// The refurbisher.
    pub refurbisher_id: i64,
    /// What started it: `schedule`, `manual`, `upload`, `api`.
    pub triggered_by: String,
    /// `running`, `succeeded`, `partial`, `unchanged`, `quarantined`, `failed`.
    pub status: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: Option<DateTime<Utc>>,
    /// HTTP status of the fetch, when HTTP.
    pub http_status: Option<i64>,
    /// Bytes fetched.
    pub bytes: i64,
    /// Duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// Records read.
    pub rows_read: i64,
    /// Records accepted.
    pub rows_accepted: i64,
    /// Records rejected.
    pub rows_rejected: i64,
    /// Offers created.
    pub created: i64,
    /// Offers updated.
    pub updated: i64,
    /// Offers unchanged.
    pub unchanged: i64,
    /// Offers removed (deactivated).
    pub removed: i64,
    /// Row errors beyond the stored ones.
    pub errors_dropped: i64,
    /// Per field, how many offers changed it.
    pub field_changes: Json<Value>,
    /// Why it failed or was quarantined.
    pub message: Option<String>,
    /// When its offers were applied.
    pub applied_at: Option<DateTime<Utc>>,
}

/// Counts a finished run reports.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// Final status.
    pub status: String,
    /// HTTP status of the fetch, when HTTP.
    pub http_status: Option<i64>,
    /// Bytes read.
    pub bytes: i64,
    /// Duration in milliseconds.
    pub duration_ms: i64,
    /// Records read.
    pub rows_read: i64,
    /// Records accepted.
    pub rows_accepted: i64,
    /// Records rejected.
    pub rows_rejected: i64,
    /// The diff, when one was made.
    pub diff: Option<SnapshotDiff>,
    /// Row errors beyond the stored ones.
    pub errors_dropped: i64,
    /// Why it failed or was quarantined.
    pub message: Option<String>,
    /// SHA-256 of the feed's bytes, to recognise an identical feed next time.
    pub content_hash: Option<String>,
}

/// One stored offer, for listings.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct StoredOffer {
    /// Offer id.
    pub id: i64,
    /// The refurbisher.
    pub refurbisher_id: i64,
    /// SKU.
    pub sku: String,
    /// EAN.
    pub ean: Option<String>,
    /// Name.
    pub name: String,
    /// Stock in the refurbisher's latest applied feed.
    pub stock_available: i64,
    /// Units ordered from this offer since that feed (not sellable until the next one).
    pub reserved: i64,
    /// Purchase price excl. VAT, minor units.
    pub price_purchase_minor: i64,
    /// Consumer price excl. VAT, minor units.
    pub price_consumer_minor: Option<i64>,
    /// Currency.
    pub currency: String,
    /// VAT percentage.
    pub tax_percentage: Option<String>,
    /// Attributes.
    pub attributes: Json<Value>,
    /// Whether the latest applied feed had it.
    pub active: bool,
    /// First seen.
    pub first_seen_at: DateTime<Utc>,
    /// When an applied feed last wrote this offer (created, changed or brought back). An
    /// active offer is in the refurbisher's latest applied feed.
    pub last_seen_at: DateTime<Utc>,
    /// Last changed.
    pub last_changed_at: DateTime<Utc>,
    /// While a purchase price change is held: the purchase price pricing still uses.
    pub applied_purchase_minor: Option<i64>,
    /// `pending` (held, waiting for an operator) or `rejected` (the old price stays).
    pub price_hold: Option<String>,
    /// When the change was held.
    pub price_held_at: Option<DateTime<Utc>>,
}

impl StoredOffer {
    /// The offer as pricing sees it; `pim` is the product's brand and category from the PIM,
    /// which win over the feed's attributes.
    pub fn facts(
        &self,
        pim: Option<(Option<String>, Option<String>)>,
    ) -> irp_core::catalog::OfferFacts {
        let attr = |k: &str| {
            self.attributes
                .0
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let (brand, category) = pim.unwrap_or_default();
        let (purchase, held) =
            crate::catalog::priced_purchase(self.price_purchase_minor, self.applied_purchase_minor);
        irp_core::catalog::OfferFacts {
            offer_id: self.id,
            refurbisher_id: self.refurbisher_id,
            sku: self.sku.clone(),
            ean: self.ean.clone().unwrap_or_default(),
            name: self.name.clone(),
            active: self.active,
            stock_available: self.stock_available - self.reserved,
            purchase_minor: purchase,
            held_purchase_minor: held,
            consumer_minor: self.price_consumer_minor,
            currency: self.currency.clone(),
            tax_percentage: self
                .tax_percentage
                .as_deref()
                .and_then(irp_core::money::parse_plain_decimal),
            brand: brand.or_else(|| attr("brand")),
            category: category.or_else(|| attr("category")),
        }
    }
}

/// The columns of [`StoredOffer`].
pub(crate) const OFFER_SELECT: &str = "SELECT id, refurbisher_id, sku, ean, name, stock_available, reserved, price_purchase_minor, price_consumer_minor, currency, \
     tax_percentage, attributes, active, first_seen_at, last_seen_at, last_changed_at, applied_purchase_minor, price_hold, price_held_at FROM offers";

pub(crate) const FIELD_CHECKS: [(&str, &str); 8] = [
    ("name", "o.name IS DISTINCT FROM s.name"),
    ("ean", "o.ean IS DISTINCT FROM s.ean"),
    (
        "stock_available",
        "o.stock_available IS DISTINCT FROM s.stock_available",
    ),
    (
        "price_purchase_amount",
        "o.price_purchase_minor IS DISTINCT FROM s.price_purchase_minor",
    ),
    (
        "price_consumer_amount",
        "o.price_consumer_minor IS DISTINCT FROM s.price_consumer_minor",
    ),
    ("currency_iso", "o.currency IS DISTINCT FROM s.currency"),
    (
        "tax_percentage",
        "o.tax_percentage IS DISTINCT FROM s.tax_percentage",
    ),
    ("attributes", "o.attributes IS DISTINCT FROM s.attributes"),
];

/// Offers of the refurbisher whose price change was held at `at` (by the run applying now).
///
/// # Errors
/// A database error.
pub(crate) async fn holds_opened(
    tx: &mut Tx,
    refurbisher_id: i64,
    at: DateTime<Utc>,
) -> Result<u64> {
    const SQL: &str = "SELECT COUNT(*) FROM offers WHERE price_hold = 'pending' AND refurbisher_id = $1 AND price_held_at = $2";
    let (n,): (i64,) = with_tx!(tx, |t| sqlx::query_as(SQL)
        .bind(refurbisher_id)
        .bind(at)
        .fetch_one(&mut **t)
        .await)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Mark a run applied, in the transaction that applies it, with its status and diff.
pub(crate) async fn mark_applied(
    tx: &mut Tx,
    run_id: i64,
    status: &str,
    at: DateTime<Utc>,
    diff: &SnapshotDiff,
) -> Result<()> {
    const MARK: &str = "UPDATE feed_runs SET status = $2, applied_at = $3, created = $4, updated = $5, unchanged = $6, removed = $7, \
         field_changes = $8 WHERE id = $1";
    with_tx!(tx, |t| sqlx::query(MARK)
        .bind(run_id)
        .bind(status)
        .bind(at)
        .bind(diff.created)
        .bind(diff.updated)
        .bind(diff.unchanged)
        .bind(diff.removed)
        .bind(Json(&diff.field_changes))
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

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

/// Resolve the open alerts of refurbisher `$1` for metric `$2` at `$3`.
const RESOLVE_ALERT: &str = "UPDATE alerts SET resolved_at = $3, notify_next_at = COALESCE(notify_next_at, $3) WHERE refurbisher_id = $1 AND metric = $2 AND resolved_at IS NULL";

impl Store {
    /// Start a feed run (status `running`).
    ///
    /// # Errors
    /// A database error.
    pub async fn feed_run_start(&self, refurbisher_id: i64, triggered_by: &str) -> Result<i64> {
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
    pub async fn feed_stage(&self, run_id: i64, rows: &[StagedOffer]) -> Result<u64> {
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
    pub async fn feed_row_errors_add(&self, run_id: i64, errors: &[StoredRowError]) -> Result<()> {
        const HEAD: &str =
            "INSERT INTO feed_row_errors (feed_run_id, row_number, field, value, message) ";
        for chunk in errors.chunks(500) {
            with_db!(self.db(), |p| {
                let mut qb = sqlx::QueryBuilder::new(HEAD);
                qb.push_values(chunk, |mut b, e| {
                    b.push_bind(run_id)
                        .push_bind(e.row_number)
                        .push_bind(e.field.clone())
                        .push_bind(e.value.clone())
                        .push_bind(e.message.clone());
                });
                qb.build().execute(p).await.map(|r| r.rows_affected())
            })?;
        }
        Ok(())
    }

    /// How the staged rows of `run_id` differ from the stored offers.
    ///
    /// # Errors
    /// A database error.
    pub async fn feed_diff(&self, refurbisher_id: i64, run_id: i64) -> Result<SnapshotDiff> {
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
    pub async fn feed_apply(
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
        crate::catalog::mark_refurbisher_dirty(&mut tx, refurbisher_id).await?;
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
        crate::catalog::mark_refurbisher_dirty(&mut tx, refurbisher_id).await?;
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
    /// [`Store::feed_apply`].
    ///
    /// # Errors
    /// A database error.
    pub async fn feed_run_finish(&self, run_id: i64, report: &RunReport) -> Result<()> {
        const SQL: &str = "UPDATE feed_runs SET status = CASE WHEN applied_at IS NULL THEN $2 ELSE status END, finished_at = $3, http_status = $4, \
             bytes = $5, duration_ms = $6, rows_read = $7, rows_accepted = $8, rows_rejected = $9, created = $10, updated = $11, \
             unchanged = $12, removed = $13, errors_dropped = $14, message = $15, field_changes = $16, content_hash = $17 WHERE id = $1";
        let d = report.diff.clone().unwrap_or_default();
        let at = now();
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(run_id)
            .bind(&report.status)
            .bind(at)
            .bind(report.http_status)
            .bind(report.bytes)
            .bind(report.duration_ms)
            .bind(report.rows_read)
            .bind(report.rows_accepted)
            .bind(report.rows_rejected)
            .bind(d.created)
            .bind(d.updated)
            .bind(d.unchanged)
            .bind(d.removed)
            .bind(report.errors_dropped)
            .bind(&report.message)
            .bind(Json(&d.field_changes))
            .bind(&report.content_hash)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// The content hash of the refurbisher's latest run whose offers are what is stored
    /// (applied, or found identical to the applied one).
    ///
    /// # Errors
    /// A database error.
    pub async fn feed_current_hash(&self, refurbisher_id: i64) -> Result<Option<String>> {
        const SQL: &str = "SELECT content_hash FROM feed_runs WHERE refurbisher_id = $1 AND status IN ('succeeded', 'partial', 'unchanged') \
             AND content_hash IS NOT NULL ORDER BY id DESC LIMIT 1";
        let row: Option<(Option<String>,)> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(refurbisher_id)
            .fetch_optional(p)
            .await)?;
        Ok(row.and_then(|r| r.0))
    }

    /// Offers with a held purchase price change (`pending`; also `rejected` ones when
    /// `include_rejected`), of one refurbisher or all, oldest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn prices_held(
        &self,
        refurbisher_id: Option<i64>,
        include_rejected: bool,
        limit: i64,
    ) -> Result<Vec<StoredOffer>> {
        let sql = format!(
            "{OFFER_SELECT} WHERE price_hold IS NOT NULL AND (price_hold = 'pending' OR $2) \
             AND ($1 IS NULL OR refurbisher_id = $1) ORDER BY price_held_at, id LIMIT $3"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(refurbisher_id)
        .bind(include_rejected)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// An operator's decision on a held purchase price change: `accept` applies the feed's
    /// price (the product is recomputed), reject keeps the old one until the feed sends another
    /// price. Audited; the refurbisher's `price_change_held` alert is resolved when nothing is
    /// pending any more. Returns the offer as it is now.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the offer does not exist or holds nothing to decide; a
    /// database error.
    pub async fn price_decide(
        &self,
        refurbisher_id: i64,
        sku: &str,
        accept: bool,
        actor: &str,
    ) -> Result<StoredOffer> {
        let Some(offer) = self.offer_get(refurbisher_id, sku).await? else {
            return Err(StoreError::NotFound(format!("no offer with SKU {sku:?}")));
        };
        let decidable = match offer.price_hold.as_deref() {
            Some("pending") => true,
            Some("rejected") => accept,
            _ => false,
        };
        if !decidable {
            return Err(StoreError::NotFound(format!(
                "offer {sku:?} has no {} price change to {}",
                if accept { "held" } else { "pending" },
                if accept { "accept" } else { "reject" }
            )));
        }
        let mut tx = self.begin().await?;
        // Only the hold the operator saw: a feed run may have changed it since.
        let sql = if accept {
            "UPDATE offers SET applied_purchase_minor = NULL, price_hold = NULL, price_held_at = NULL \
             WHERE id = $1 AND price_hold = $2 AND price_purchase_minor = $3"
        } else {
            "UPDATE offers SET price_hold = 'rejected' WHERE id = $1 AND price_hold = $2 AND price_purchase_minor = $3"
        };
        let n = with_tx!(&mut tx, |t| sqlx::query(sql)
            .bind(offer.id)
            .bind(offer.price_hold.as_deref())
            .bind(offer.price_purchase_minor)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "offer {sku:?} changed while you decided (a feed run?); look at it again with `irp prices held`"
            )));
        }
        if accept && let Some(ean) = &offer.ean {
            crate::catalog::mark_dirty(&mut tx, std::slice::from_ref(ean)).await?;
        }
        tx.audit(
            actor,
            if accept {
                "price.accept"
            } else {
                "price.reject"
            },
            &format!("{refurbisher_id}/{sku}"),
            serde_json::json!({
                "applied_purchase_minor": offer.applied_purchase_minor,
                "feed_purchase_minor": offer.price_purchase_minor,
            }),
        )
        .await?;
        const PENDING: &str =
            "SELECT COUNT(*) FROM offers WHERE price_hold = 'pending' AND refurbisher_id = $1";
        let (pending,): (i64,) = with_tx!(&mut tx, |t| sqlx::query_as(PENDING)
            .bind(refurbisher_id)
            .fetch_one(&mut **t)
            .await)?;
        if pending == 0 {
            let at = now();
            with_tx!(&mut tx, |t| sqlx::query(RESOLVE_ALERT)
                .bind(refurbisher_id)
                .bind("price_change_held")
                .bind(at)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()))?;
        }
        tx.commit().await?;
        if accept {
            self.recompute_after_commit().await;
        }
        self.offer_get(refurbisher_id, sku)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no offer with SKU {sku:?}")))
    }

    /// Open an alert, unless one of this refurbisher and metric is open already; returns the
    /// new alert's id.
    ///
    /// # Errors
    /// A database error.
    pub async fn alert_open(
        &self,
        refurbisher_id: Option<i64>,
        metric: &str,
        value: &str,
        threshold: &str,
        message: &str,
    ) -> Result<Option<i64>> {
        match self
            .alert_sync(
                refurbisher_id,
                metric,
                true,
                value,
                threshold,
                message,
                now(),
                None,
            )
            .await?
        {
            crate::monitor::AlertChange::Opened(id) => Ok(Some(id)),
            _ => Ok(None),
        }
    }

    /// Resolve the open alerts of a refurbisher for `metric`; returns how many.
    ///
    /// # Errors
    /// A database error.
    pub async fn alerts_resolve(&self, refurbisher_id: i64, metric: &str) -> Result<u64> {
        let at = now();
        Ok(with_db!(self.db(), |p| sqlx::query(RESOLVE_ALERT)
            .bind(refurbisher_id)
            .bind(metric)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Open alerts of a refurbisher, newest first: (metric, message).
    ///
    /// # Errors
    /// A database error.
    pub async fn alerts_open(&self, refurbisher_id: i64) -> Result<Vec<(String, String)>> {
        const SQL: &str = "SELECT metric, message FROM alerts WHERE refurbisher_id = $1 AND resolved_at IS NULL ORDER BY id DESC";
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(refurbisher_id)
            .fetch_all(p)
            .await)?)
    }

    /// Drop the staged rows of a run that will not be applied (failed or discarded).
    ///
    /// # Errors
    /// A database error.
    pub async fn feed_discard(&self, run_id: i64) -> Result<()> {
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
    pub async fn feed_run_discard(&self, run_id: i64, actor: &str) -> Result<FeedRun> {
        let Some(run) = self.feed_run(run_id).await? else {
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
            .bind("feed_quarantined")
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
            status: "discarded".into(),
            ..run
        })
    }

    /// A run.
    ///
    /// # Errors
    /// A database error.
    pub async fn feed_run(&self, run_id: i64) -> Result<Option<FeedRun>> {
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
    pub async fn feed_runs(&self, refurbisher_id: i64, limit: i64) -> Result<Vec<FeedRun>> {
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
    pub async fn feed_row_errors(&self, run_id: i64) -> Result<Vec<StoredRowError>> {
        const SQL: &str = "SELECT row_number, field, value, message FROM feed_row_errors WHERE feed_run_id = $1 ORDER BY row_number, id";
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(run_id)
            .fetch_all(p)
            .await)?)
    }

    /// One offer of a refurbisher, active or not.
    ///
    /// # Errors
    /// A database error.
    pub async fn offer_get(&self, refurbisher_id: i64, sku: &str) -> Result<Option<StoredOffer>> {
        let sql = format!("{OFFER_SELECT} WHERE refurbisher_id = $1 AND sku = $2");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(refurbisher_id)
        .bind(sku)
        .fetch_optional(p)
        .await)?)
    }

    /// Offers of a refurbisher by SKU; inactive ones only when `include_inactive`.
    ///
    /// # Errors
    /// A database error.
    pub async fn offers_list(
        &self,
        refurbisher_id: i64,
        include_inactive: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredOffer>> {
        let sql = format!(
            "{OFFER_SELECT} WHERE refurbisher_id = $1 AND (active OR $2) ORDER BY sku LIMIT $3 OFFSET $4"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(refurbisher_id)
        .bind(include_inactive)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)?)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_hash_is_stable_and_round_trips() {
        let o = StagedOffer {
            sku: "FLX-1".into(),
            row_number: 2,
            ean: "8710000000017".into(),
            name: "iPhone 13".into(),
            stock_available: 5,
            price_purchase_minor: 123_456,
            price_consumer_minor: 149_900,
            currency: "EUR".into(),
            tax_percentage: None,
            attributes: BTreeMap::new(),
        };
        // Stored hashes are compared with new ones: the value must not change between builds.
        assert_eq!(o.content_hash(), "d844c35ee8ba3c25");
        assert_eq!(hash_parse(&o.content_hash()), Some(o.content_hash64()));
        assert_eq!(hash_parse("0123456789abcdef0123456789abcdef"), None);
        let mut p = o.clone();
        p.stock_available = 6;
        assert_ne!(p.content_hash64(), o.content_hash64());
    }
}
