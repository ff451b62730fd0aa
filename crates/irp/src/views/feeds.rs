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
    /// Its row errors.
    pub errors: Vec<RowError>,
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
