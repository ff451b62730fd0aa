//! Feed runs: what each import of a refurbisher's feed read, changed and refused, what
//! applying a quarantined run did, and what a feed would give (a preview).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use irp_core::feed::FeedRunStatus;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A feed run as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedRun {
    /// Run id.
    pub id: i64,
    /// The refurbisher.
    pub refurbisher_id: i64,
    /// What started it: `schedule`, `manual`, `upload`, `api`.
    pub triggered_by: String,
    /// `running`, `succeeded`, `partial`, `unchanged`, `quarantined`, `failed`.
    #[schema(schema_with = super::names::<FeedRunStatus>)]
    pub status: FeedRunStatus,
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
    #[schema(value_type = Object)]
    pub field_changes: Value,
    /// Why it failed or was quarantined.
    pub message: Option<String>,
    /// When its offers were applied.
    pub applied_at: Option<DateTime<Utc>>,
}

impl From<irp_store::offers::FeedRun> for FeedRun {
    fn from(r: irp_store::offers::FeedRun) -> Self {
        FeedRun {
            id: r.id,
            refurbisher_id: r.refurbisher_id,
            triggered_by: r.triggered_by,
            status: r.status,
            started_at: r.started_at,
            finished_at: r.finished_at,
            http_status: r.http_status,
            bytes: r.bytes,
            duration_ms: r.duration_ms,
            rows_read: r.rows_read,
            rows_accepted: r.rows_accepted,
            rows_rejected: r.rows_rejected,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            removed: r.removed,
            errors_dropped: r.errors_dropped,
            field_changes: r.field_changes.0,
            message: r.message,
            applied_at: r.applied_at,
        }
    }
}

/// A row error as stored with its run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RowError {
    /// Row (CSV: line) number.
    pub row_number: i64,
    /// Canonical field, when one.
    pub field: Option<String>,
    /// Raw value, when one.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl From<irp_store::offers::StoredRowError> for RowError {
    fn from(e: irp_store::offers::StoredRowError) -> Self {
        RowError {
            row_number: e.row_number,
            field: e.field,
            value: e.value,
            message: e.message,
        }
    }
}

/// A page of feed runs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunList {
    /// Newest first.
    pub runs: Vec<FeedRun>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_offset: Option<i64>,
}

/// A run with its stored row errors.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunShow {
    /// The run.
    pub run: FeedRun,
    /// Where it stands, while it runs (reported every second; absent once it ended, and for
    /// work that has run less than a second).
    pub progress: Option<Progress>,
    /// Its row errors.
    pub errors: Vec<RowError>,
}

/// Where long work stands while it runs.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Progress {
    /// `starting`, `downloading`, `reading`, `applying`, `pricing` or `pushing`.
    pub phase: String,
    /// What the phase counts: `rows` (reading), `products` (pricing, pushing), or empty.
    pub unit: String,
    /// Counted so far in this phase.
    pub done: i64,
    /// What the phase expects to count, when known (pricing a whole catalog: an estimate from
    /// the offers, several of which may share a product).
    pub total: Option<i64>,
    /// Counted per second since the phase began.
    pub rate_per_second: Option<f64>,
    /// Seconds left at that rate, when the total is known.
    pub eta_seconds: Option<i64>,
    /// When the phase began.
    pub phase_started_at: DateTime<Utc>,
    /// When the work last reported; older than a few seconds means it is stuck or its process
    /// is gone.
    pub updated_at: DateTime<Utc>,
}

impl Progress {
    /// Where `run` stands, while it runs (`None` once it ended, or before its first report).
    ///
    /// # Errors
    /// The store fails.
    pub async fn of_run(
        store: &irp_store::Store,
        run: &irp_store::offers::FeedRun,
    ) -> Result<Option<Progress>, irp_store::StoreError> {
        if run.status != FeedRunStatus::Running {
            return Ok(None);
        }
        Ok(store
            .progress()
            .get(&irp_store::progress::feed_run_work(run.id))
            .await?
            .map(Into::into))
    }

    /// One line for people: `reading: 412,000 rows, 51,000.5/s` or `pricing: 120,000 of
    /// ~1,000,000 products, 60,000/s, about 15 s left`.
    #[must_use]
    pub fn describe(&self) -> String {
        let unit = if self.unit.is_empty() {
            String::new()
        } else {
            format!(" {}", self.unit)
        };
        // Counts as people read them: 1,234,567.
        let grouped = |n: i64| indicatif::HumanCount(u64::try_from(n).unwrap_or(0)).to_string();
        let mut line = match self.total {
            Some(t) => format!(
                "{}: {} of ~{}{unit}",
                self.phase,
                grouped(self.done),
                grouped(t)
            ),
            None if self.done > 0 => format!("{}: {}{unit}", self.phase, grouped(self.done)),
            None => self.phase.clone(),
        };
        if let Some(r) = self.rate_per_second {
            #[allow(clippy::cast_possible_truncation)] // a rate, rounded for people
            line.push_str(&format!(", {}/s", grouped(r.round() as i64)));
        }
        if let Some(e) = self.eta_seconds {
            line.push_str(&format!(", about {e} s left"));
        }
        line
    }
}

impl From<irp_store::progress::WorkProgress> for Progress {
    fn from(p: irp_store::progress::WorkProgress) -> Self {
        let unit = irp_pipeline::progress::Phase::parse(&p.phase)
            .map_or("", irp_pipeline::progress::Phase::unit)
            .to_owned();
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let secs = (p.updated_at - p.phase_started_at).num_milliseconds() as f64 / 1000.0;
        #[allow(clippy::cast_precision_loss)]
        let rate = (secs >= 1.0 && p.done > 0).then(|| p.done as f64 / secs);
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        let eta_seconds = match (rate, p.total) {
            (Some(r), Some(t)) if t >= p.done => Some(((t - p.done) as f64 / r).ceil() as i64),
            _ => None,
        };
        Progress {
            phase: p.phase,
            unit,
            done: p.done,
            total: p.total,
            rate_per_second: rate.map(|r| (r * 10.0).round() / 10.0),
            eta_seconds,
            phase_started_at: p.phase_started_at,
            updated_at: p.updated_at,
        }
    }
}

/// A discarded run.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunDiscarded {
    /// The run, as it is now.
    pub run: FeedRun,
}

/// What a catalog recompute did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CatalogRecompute {
    /// EANs recomputed.
    pub eans: u64,
    /// Product rows written (created or changed).
    pub products_changed: u64,
    /// Channel rows written (created or changed; now waiting to be pushed).
    pub channel_rows_changed: u64,
    /// Offers whose feed consumer price is below the computed selling price (excl. VAT).
    pub consumer_below: u64,
    /// Milliseconds.
    pub ms: u64,
}

impl From<irp_store::catalog::RecomputeStats> for CatalogRecompute {
    fn from(c: irp_store::catalog::RecomputeStats) -> Self {
        CatalogRecompute {
            eans: c.eans,
            products_changed: c.products_changed,
            channel_rows_changed: c.channel_rows_changed,
            consumer_below: c.consumer_below,
            ms: c.ms,
        }
    }
}

/// The report of one feed run (as `irp feed import --json`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    /// The run id.
    pub run_id: i64,
    /// How it ended: `succeeded`, `partial`, `unchanged`, `quarantined` or `failed`.
    #[schema(schema_with = super::names::<FeedRunStatus>)]
    pub status: FeedRunStatus,
    /// HTTP status of the fetch, when HTTP.
    pub http_status: Option<i64>,
    /// Bytes read.
    pub bytes: u64,
    /// Records read (= accepted + rejected, always).
    pub rows_read: u64,
    /// Records that became offers.
    pub rows_accepted: u64,
    /// Records rejected.
    pub rows_rejected: u64,
    /// Offers created.
    pub created: i64,
    /// Offers updated.
    pub updated: i64,
    /// Offers unchanged.
    pub unchanged: i64,
    /// Offers removed (deactivated).
    pub removed: i64,
    /// Per field, how many offers changed it.
    pub field_changes: BTreeMap<String, i64>,
    /// The first row errors.
    pub errors: Vec<FeedRowError>,
    /// Row errors beyond those listed.
    pub errors_dropped: u64,
    /// Why it failed or was quarantined.
    pub message: Option<String>,
    /// Milliseconds the run took.
    pub duration_ms: u64,
    /// Offers whose new purchase price moved more than `max_price_change_ratio` and was held
    /// for an operator.
    pub price_holds: u64,
    /// What the recompute after the run did.
    pub catalog: Option<CatalogRecompute>,
}

impl From<irp_pipeline::feed::ImportReport> for ImportReport {
    fn from(r: irp_pipeline::feed::ImportReport) -> Self {
        ImportReport {
            run_id: r.run_id,
            status: r.status.into(),
            http_status: r.http_status,
            bytes: r.bytes,
            rows_read: r.rows_read,
            rows_accepted: r.rows_accepted,
            rows_rejected: r.rows_rejected,
            created: r.created,
            updated: r.updated,
            unchanged: r.unchanged,
            removed: r.removed,
            field_changes: r.field_changes,
            errors: r
                .errors
                .into_iter()
                .map(|e| FeedRowError {
                    row: e.row,
                    field: e.field,
                    value: e.value,
                    message: e.message,
                })
                .collect(),
            errors_dropped: r.errors_dropped,
            message: r.message,
            duration_ms: r.duration_ms,
            price_holds: r.price_holds,
            catalog: r.catalog.map(Into::into),
        }
    }
}

/// Why one record of a feed did not become an offer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedRowError {
    /// Row (record) number in the feed; for CSV the line number.
    pub row: u64,
    /// The canonical field, when the problem is one field.
    pub field: Option<String>,
    /// The raw value, when there was one.
    pub value: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

impl From<irp_core::feed::RowError> for FeedRowError {
    fn from(e: irp_core::feed::RowError) -> Self {
        FeedRowError {
            row: e.row,
            field: e.field,
            value: e.value,
            message: e.message,
        }
    }
}

/// How a run's offers differ from the stored ones.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OfferChanges {
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
    /// Per field, how many updated offers change it.
    pub field_changes: BTreeMap<String, i64>,
}

impl From<irp_store::offers::SnapshotDiff> for OfferChanges {
    fn from(d: irp_store::offers::SnapshotDiff) -> Self {
        OfferChanges {
            created: d.created,
            updated: d.updated,
            unchanged: d.unchanged,
            removed: d.removed,
            active_before: d.active_before,
            field_changes: d.field_changes,
        }
    }
}

/// The catalog recompute after applying a run, or why it failed (its marks stay for the next
/// one): `{"Ok": {…}}` or `{"Err": "…"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub enum RecomputeOutcome {
    /// What the recompute did.
    Ok(CatalogRecompute),
    /// Why it failed.
    Err(String),
}

/// What applying a quarantined run did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RunApplied {
    /// The run.
    pub run_id: i64,
    /// The refurbisher's key.
    pub refurbisher: String,
    /// Offers created, updated, unchanged, removed.
    pub diff: OfferChanges,
    /// Purchase price changes held for review.
    pub price_holds: u64,
    /// The catalog recompute, or why it failed.
    pub catalog: RecomputeOutcome,
}

impl From<crate::ops::Applied> for RunApplied {
    fn from(a: crate::ops::Applied) -> Self {
        RunApplied {
            run_id: a.run_id,
            refurbisher: a.refurbisher,
            diff: a.diff.into(),
            price_holds: a.price_holds,
            catalog: match a.catalog {
                Ok(c) => RecomputeOutcome::Ok(c.into()),
                Err(e) => RecomputeOutcome::Err(e),
            },
        }
    }
}

/// What a feed would give, without writing anything.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Preview {
    /// The file read, or `KEY (fetched)`.
    pub file: String,
    /// Why the feed as a whole cannot be read, if so.
    pub error: Option<String>,
    /// Records read.
    pub rows_read: u64,
    /// Records that would become offers.
    pub rows_accepted: u64,
    /// Records rejected.
    pub rows_rejected: u64,
    /// The first offers, with their record numbers.
    pub offers: Vec<PreviewOffer>,
    /// The row errors (at most 1,000).
    pub errors: Vec<FeedRowError>,
}

impl From<crate::ops::Preview> for Preview {
    fn from(p: crate::ops::Preview) -> Self {
        Preview {
            file: p.file,
            error: p.error,
            rows_read: p.rows_read,
            rows_accepted: p.rows_accepted,
            rows_rejected: p.rows_rejected,
            offers: p
                .offers
                .into_iter()
                .map(|o| PreviewOffer {
                    row: o.row,
                    offer: o.offer.into(),
                })
                .collect(),
            errors: p.errors.into_iter().map(Into::into).collect(),
        }
    }
}

/// One previewed offer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PreviewOffer {
    /// Record number.
    pub row: u64,
    /// The offer as read.
    pub offer: FeedOffer,
}

/// An offer as read from one record of a feed.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FeedOffer {
    /// The refurbisher's SKU (unique within its feed).
    pub sku: String,
    /// Product name.
    pub name: String,
    /// EAN/GTIN, check digit verified, as written (leading zeros kept).
    pub ean: String,
    /// Stock the refurbisher reports.
    pub stock_available: i64,
    /// Purchase price excl. VAT, a decimal as text.
    #[schema(value_type = String)]
    pub price_purchase_amount: Decimal,
    /// Consumer price excl. VAT, a decimal as text.
    #[schema(value_type = String)]
    pub price_consumer_amount: Decimal,
    /// ISO 4217 currency (from the feed, else the refurbisher's).
    pub currency_iso: String,
    /// VAT percentage, when the feed states it, a decimal as text.
    #[schema(value_type = Option<String>)]
    pub tax_percentage: Option<Decimal>,
    /// Brand, category, grade, and the `extra` attributes, by name.
    pub attributes: BTreeMap<String, String>,
}

impl From<irp_core::feed::Offer> for FeedOffer {
    fn from(o: irp_core::feed::Offer) -> Self {
        FeedOffer {
            sku: o.sku,
            name: o.name,
            ean: o.ean,
            stock_available: o.stock_available,
            price_purchase_amount: o.price_purchase_amount,
            price_consumer_amount: o.price_consumer_amount,
            currency_iso: o.currency_iso,
            tax_percentage: o.tax_percentage,
            attributes: o.attributes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    #[test]
    fn progress_reads_as_counts_rate_and_time_left() {
        let p: Progress = irp_store::progress::WorkProgress {
            work: "feed_run:1".into(),
            phase: "pricing".into(),
            done: 250_000,
            total: Some(1_000_000),
            phase_started_at: at(0),
            updated_at: at(5),
        }
        .into();
        assert_eq!(p.unit, "products");
        assert_eq!(p.rate_per_second, Some(50_000.0));
        assert_eq!(p.eta_seconds, Some(15));
        assert_eq!(
            p.describe(),
            "pricing: 250,000 of ~1,000,000 products, 50,000/s, about 15 s left"
        );
        let reading: Progress = irp_store::progress::WorkProgress {
            phase: "reading".into(),
            total: None,
            done: 1_234,
            updated_at: at(0),
            ..irp_store::progress::WorkProgress {
                work: "feed_run:1".into(),
                phase: String::new(),
                done: 0,
                total: None,
                phase_started_at: at(0),
                updated_at: at(0),
            }
        }
        .into();
        // Less than a second into the phase: no rate yet.
        assert_eq!(reading.describe(), "reading: 1,234 rows");
    }
}
