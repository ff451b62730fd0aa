//! One feed run end to end: read the feed (an SFTP feed while it arrives), compare every
//! accepted row with an in-memory index of the stored offers ([`crate::sku_index`]), write what
//! is new or changed in one transaction ([`irp_store::feed_write`]), and commit it when the
//! feed was read whole and passed its guards — or fail, or quarantine, without touching the
//! offers.
//!
//! `fetch` downloads the feed (the connector with its references resolved), `read` turns the
//! file into staged offers, `diff` holds the guards and the quarantine, `apply` writes a run,
//! and `run` starts, reports and finishes it.

use std::path::PathBuf;

use irp_core::feed::RowError;

mod apply;
mod diff;
mod fetch;
mod read;
mod run;

pub use apply::{after_apply, price_change_ppm};
pub use diff::guard;
pub(crate) use fetch::resolved_part;
pub use fetch::{
    Downloaded, ResolveFailure, ResolvedPart, confined_file, download, download_growing,
    resolved_offers, resolved_offers_as,
};
pub use read::stage;
pub use run::{
    RUN_LEASE, close_interrupted, import_fetched, import_fetched_counting, import_file,
    import_file_counting,
};

/// Row errors stored per run; the rest are counted.
pub const MAX_STORED_ROW_ERRORS: usize = 1000;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Applied; every row was accepted.
    Succeeded,
    /// Applied; some rows were rejected.
    Partial,
    /// The feed is identical to the one already applied; nothing to do.
    Unchanged,
    /// Suspicious (empty, or removing too much): nothing applied, kept for an operator.
    Quarantined,
    /// The feed could not be read: nothing applied.
    Failed,
}

impl From<RunStatus> for irp_core::feed::FeedRunStatus {
    fn from(s: RunStatus) -> Self {
        use irp_core::feed::FeedRunStatus as F;
        match s {
            RunStatus::Succeeded => F::Succeeded,
            RunStatus::Partial => F::Partial,
            RunStatus::Unchanged => F::Unchanged,
            RunStatus::Quarantined => F::Quarantined,
            RunStatus::Failed => F::Failed,
        }
    }
}

impl RunStatus {
    /// The status as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Succeeded => "succeeded",
            RunStatus::Partial => "partial",
            RunStatus::Unchanged => "unchanged",
            RunStatus::Quarantined => "quarantined",
            RunStatus::Failed => "failed",
        }
    }
}

/// The report of one run, as `irp feed import --json` prints it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImportReport {
    /// The run id.
    pub run_id: i64,
    /// How it ended.
    pub status: RunStatus,
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
    pub field_changes: std::collections::BTreeMap<String, i64>,
    /// The first row errors.
    pub errors: Vec<ErrorEntry>,
    /// Row errors beyond those listed.
    pub errors_dropped: u64,
    /// Why it failed or was quarantined.
    pub message: Option<String>,
    /// Milliseconds the run took.
    pub duration_ms: u64,
    /// Offers whose new purchase price moved more than `max_price_change_ratio` and was held
    /// for an operator (`irp prices held`).
    pub price_holds: u64,
    /// What the recompute after the run did: the products of the offers the run changed, and
    /// any others marked as changed by then (another run, the PIM sync).
    pub catalog: Option<irp_store::catalog::RecomputeStats>,
}

/// One row error in a report.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ErrorEntry {
    /// Row (CSV: line) number.
    pub row: u64,
    /// Canonical field, when one.
    pub field: Option<String>,
    /// Raw value, when one.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl From<&RowError> for ErrorEntry {
    fn from(e: &RowError) -> Self {
        ErrorEntry {
            row: e.row,
            field: e.field.clone(),
            value: e.value.clone(),
            message: e.message.clone(),
        }
    }
}

/// Errors that stop a run before it starts.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The refurbisher has no offers connector.
    #[error("refurbisher `{0}` has no `offers` connector")]
    NoConnector(String),
    /// The feed file cannot be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] irp_store::StoreError),
    /// A worker failed.
    #[error("the feed reader stopped unexpectedly: {0}")]
    Worker(String),
}
