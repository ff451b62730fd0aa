//! One feed run end to end: read the feed (an SFTP feed while it arrives), compare every
//! accepted row with an in-memory index of the stored offers ([`crate::sku_index`]), write what
//! is new or changed in one transaction ([`irp_store::feed_write`]), and commit it when the
//! feed was read whole and passed its guards — or fail, or quarantine, without touching the
//! offers.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use irp_core::config::model::{Connection, OffersConfig};
use irp_core::feed::{Offer, RowError};
use irp_core::money;
use irp_core::secret_ref::Scrubber;
use irp_store::Store;
use irp_store::feed_write::{Batches, FeedWrite, IndexVersion, OfferBatch, ReadCounts};
use irp_store::offers::{RunReport, SnapshotDiff, StagedOffer, StoredRowError, hash_parse};
use irp_store::refurbishers::StoredRefurbisher;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::sku_index::{Seen, SkuIndex};
use crate::{FeedError, RowOutcome, read_offers};
use irp_sources::follow::{FinishOnDrop, FollowReader, Growing};

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

/// Decide whether a read feed may be applied: `Some(reason)` quarantines it.
pub fn guard(
    rows_read: u64,
    rows_accepted: u64,
    diff: &SnapshotDiff,
    max_removal_ratio: Decimal,
) -> Option<String> {
    if rows_accepted == 0 {
        return Some(if rows_read == 0 {
            "the feed has no offers; applying it would deactivate every offer".to_owned()
        } else {
            format!(
                "none of the {rows_read} rows of the feed is valid; applying it would deactivate every offer"
            )
        });
    }
    if diff.active_before > 0 && diff.removed > 0 {
        let limit = max_removal_ratio * Decimal::from(diff.active_before);
        if Decimal::from(diff.removed) > limit {
            let pct = Decimal::from(diff.removed * 100) / Decimal::from(diff.active_before);
            return Some(format!(
                "the feed would deactivate {} of {} active offers ({}%), more than max_removal_ratio {} allows",
                diff.removed,
                diff.active_before,
                pct.round_dp(1).normalize(),
                max_removal_ratio
            ));
        }
    }
    None
}

/// Convert an offer to its stored form (prices in minor units of its currency).
///
/// # Errors
/// A price with more decimals than the currency has.
pub fn stage(offer: Offer, row: u64) -> Result<StagedOffer, Vec<RowError>> {
    let digits = money::minor_digits(&offer.currency_iso);
    let mut errors = Vec::new();
    let mut minor = |field: &str, d: Decimal| {
        money::to_minor(d, digits).or_else(|| {
            errors.push(RowError {
                row,
                field: Some(field.to_owned()),
                value: Some(d.to_string()),
                message: format!(
                    "has more decimals than {} has ({digits})",
                    offer.currency_iso
                ),
            });
            None
        })
    };
    let p = minor("price_purchase_amount", offer.price_purchase_amount);
    let c = minor("price_consumer_amount", offer.price_consumer_amount);
    match (p, c) {
        (Some(p), Some(c)) => Ok(StagedOffer {
            sku: offer.sku,
            row_number: i64::try_from(row).unwrap_or(i64::MAX),
            ean: offer.ean,
            name: offer.name,
            stock_available: offer.stock_available,
            price_purchase_minor: p,
            price_consumer_minor: c,
            currency: offer.currency_iso,
            tax_percentage: offer.tax_percentage.map(|t| t.to_string()),
            attributes: offer.attributes,
        }),
        _ => Err(errors),
    }
}

/// What the reader found besides the batches it sent.
struct Tally {
    rows_read: u64,
    rows_accepted: u64,
    rows_rejected: u64,
    counts: ReadCounts,
    errors: Vec<RowError>,
    errors_dropped: u64,
}

/// Offers per batch handed to the writer.
const BATCH: usize = 2000;
/// Rows held back before the apply transaction is opened (on SQLite it locks out other
/// writers): a re-import that changes fewer rows opens it only once the feed is read.
const HOLD_ROWS: usize = 20_000;

/// Read `input` on a blocking thread: map and check every row, compare it with `index` (the
/// stored offers), and send what is new or changed to `tx` in batches. Duplicate SKUs and
/// prices too precise for the currency are row errors here. Unchanged rows are only counted.
fn read_blocking(
    offers: &OffersConfig,
    currency: &str,
    input: impl Read,
    index: &mut SkuIndex,
    tx: &tokio::sync::mpsc::Sender<OfferBatch>,
    progress: Option<Arc<AtomicU64>>,
) -> Result<Tally, FeedError> {
    let mut tally = Tally {
        rows_read: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        counts: ReadCounts::default(),
        errors: Vec::new(),
        errors_dropped: 0,
    };
    let mut new = Vec::with_capacity(BATCH);
    let mut changed = Vec::new();
    let mut stopped: Option<FeedError> = None;
    let reject = |tally: &mut Tally, errors: Vec<RowError>| {
        tally.rows_rejected += 1;
        for e in errors {
            if tally.errors.len() < MAX_STORED_ROW_ERRORS {
                tally.errors.push(e);
            } else {
                tally.errors_dropped += 1;
            }
        }
    };
    let t_start = Instant::now();
    let blocked = std::cell::Cell::new(std::time::Duration::ZERO);
    let send = |batch: OfferBatch, stopped: &mut Option<FeedError>| {
        let t = Instant::now();
        if stopped.is_none() && tx.blocking_send(batch).is_err() {
            *stopped = Some(FeedError::Io("the import was stopped".into()));
        }
        blocked.set(blocked.get() + t.elapsed());
    };
    read_offers(offers, currency, input, &mut |o| {
        tally.rows_read += 1;
        if let Some(p) = &progress {
            p.fetch_add(1, Ordering::Relaxed);
        }
        let (row, offer) = match o {
            RowOutcome::Rejected(errors) => return reject(&mut tally, errors),
            RowOutcome::Offer { row, offer } => (row, offer),
        };
        let staged = match stage(offer, row) {
            Err(errors) => return reject(&mut tally, errors),
            Ok(s) => s,
        };
        let seen = match index.observe(&staged.sku, staged.content_hash64(), row) {
            Ok(seen) => seen,
            Err(full) => {
                stopped.get_or_insert(FeedError::Structure(full.to_string()));
                return;
            }
        };
        match seen {
            Seen::Duplicate { first_row } => {
                let sku = staged.sku;
                return reject(
                    &mut tally,
                    vec![RowError {
                        row,
                        field: Some("sku".into()),
                        value: Some(sku),
                        message: format!(
                            "SKU already seen in this feed at row {first_row}; this row is skipped"
                        ),
                    }],
                );
            }
            Seen::Unchanged => tally.counts.unchanged += 1,
            Seen::New => {
                tally.counts.new += 1;
                new.push(staged);
                if new.len() == BATCH {
                    let full = std::mem::replace(&mut new, Vec::with_capacity(BATCH));
                    send(OfferBatch::New(full), &mut stopped);
                }
            }
            Seen::Changed | Seen::Reactivated => {
                if seen == Seen::Changed {
                    tally.counts.changed += 1;
                } else {
                    tally.counts.reactivated += 1;
                }
                changed.push(staged);
                if changed.len() == BATCH {
                    send(
                        OfferBatch::Changed(std::mem::take(&mut changed)),
                        &mut stopped,
                    );
                }
            }
        }
        tally.rows_accepted += 1;
    })?;
    if let Some(e) = stopped {
        return Err(e);
    }
    let mut stopped = None;
    for batch in [OfferBatch::New(new), OfferBatch::Changed(changed)] {
        if !batch.is_empty() {
            send(batch, &mut stopped);
        }
    }
    tracing::debug!(
        total_ms = t_start.elapsed().as_millis(),
        blocked_ms = blocked.get().as_millis(),
        "Reader done"
    );
    match stopped {
        Some(e) => Err(e),
        None => Ok(tally),
    }
}

/// Stage every accepted row of the feed at `path` for a later `irp feed apply` (a quarantined
/// run keeps its whole snapshot).
async fn stage_snapshot(
    store: &Store,
    run_id: i64,
    offers: &OffersConfig,
    currency: &str,
    path: &Path,
) -> Result<(), ImportError> {
    let file = std::fs::File::open(path).map_err(|source| ImportError::Open {
        path: path.to_owned(),
        source,
    })?;
    let (tx, mut rx) = tokio::sync::mpsc::channel::<OfferBatch>(4);
    let cfg = offers.clone();
    let currency = currency.to_owned();
    let reader = tokio::task::spawn_blocking(move || {
        let mut index = SkuIndex::new();
        read_blocking(&cfg, &currency, file, &mut index, &tx, None).map(|_| ())
    });
    while let Some(batch) = rx.recv().await {
        let (OfferBatch::New(rows) | OfferBatch::Changed(rows)) = batch;
        store.feed_stage(run_id, &rows).await?;
    }
    reader
        .await
        .map_err(|e| ImportError::Worker(e.to_string()))?
        .map_err(|e| ImportError::Worker(e.to_string()))
}

fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut input = Hashing::new(std::fs::File::open(path)?, true);
    std::io::copy(&mut input, &mut std::io::sink())?;
    Ok(input.finish())
}

/// Import a feed file for a refurbisher (an upload, or a `file` connection): one run, stored
/// with its report.
///
/// # Errors
/// The refurbisher has no offers connector, the file cannot be opened, or the store fails.
/// A feed that cannot be read is not an error here: the run ends `failed` and says why.
pub async fn import_file(
    store: &Store,
    r: &StoredRefurbisher,
    path: &Path,
    trigger: &str,
) -> Result<ImportReport, ImportError> {
    import_file_counting(store, r, path, trigger, None).await
}

/// [`import_file`], counting the rows read into `progress` as it goes (for a progress display).
///
/// # Errors
/// As [`import_file`].
pub async fn import_file_counting(
    store: &Store,
    r: &StoredRefurbisher,
    path: &Path,
    trigger: &str,
    progress: Option<&Arc<AtomicU64>>,
) -> Result<ImportReport, ImportError> {
    let offers = r
        .model
        .offers
        .clone()
        .ok_or_else(|| ImportError::NoConnector(r.key.clone()))?;
    std::fs::File::open(path).map_err(|source| ImportError::Open {
        path: path.to_owned(),
        source,
    })?;
    let run_id = store.feed_run_start(r.id, trigger).await?;
    let run = Run {
        id: run_id,
        http_status: None,
        started: Instant::now(),
        progress,
    };
    import_into_run(store, r, &offers, path, run, Input::File).await
}

/// Why a connector's references could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveFailure {
    /// A reference has no value (named, never the value).
    #[error("{0}")]
    Missing(String),
    /// The store failed.
    #[error(transparent)]
    Store(irp_store::StoreError),
}

/// One connector of a refurbisher with its references resolved, for using that connector only
/// — never store, print or log it — and the [`Scrubber`] that turns any message about it back
/// into one naming references (`${secret:…}`) and hiding literal credentials.
pub struct ResolvedPart<T> {
    /// The connector, references resolved.
    pub model: T,
    /// Shows references instead of their values, `********` instead of literal credentials.
    pub scrubber: Scrubber,
}

impl<T> ResolvedPart<T> {
    /// `message` as it may be stored and shown.
    pub fn scrub(&self, message: &str) -> String {
        self.scrubber.scrub(message)
    }
}

/// The refurbisher's document with the references (`${secret:…}` / `${env:…}`) of one part
/// (`offers` or `order`) resolved and read back. Only that part is resolved, so a missing
/// secret of the other does not stop it; only the refurbisher's own secrets (`KEY.…`) and the
/// environment variables the host allows resolve.
///
/// # Errors
/// A reference without a value or out of bounds, or a store failure.
pub(crate) async fn resolved_part(
    store: &Store,
    r: &StoredRefurbisher,
    part: &str,
    secret_key: Option<&irp_store::secrets::SecretKey>,
    saved: bool,
) -> Result<ResolvedPart<irp_core::config::Refurbisher>, ResolveFailure> {
    let doc = serde_json::json!({ (r.key.clone()): { (part): r.document[part] } });
    let scope = if saved {
        irp_store::secrets::Scope::of(&r.key)
    } else {
        irp_store::secrets::Scope::unsaved(&r.key)
    };
    let resolved = match store.resolve_references(secret_key, scope, &doc).await {
        Ok(v) => v,
        Err(irp_store::StoreError::NotFound(why)) => return Err(ResolveFailure::Missing(why)),
        Err(e) => return Err(ResolveFailure::Store(e)),
    };
    let model = irp_core::config::parse_document(&resolved.expose().to_string())
        .refurbishers
        .into_iter()
        .next()
        .ok_or_else(|| {
            ResolveFailure::Missing(format!(
                "the {part} connector with its references resolved is not valid"
            ))
        })?;
    let mut scrubber = resolved.scrubber().clone();
    // Literal credentials (accepted with a warning) are hidden too.
    for value in literal_credentials(&r.document[part]) {
        scrubber.add(&value, irp_core::config::REDACTED);
    }
    Ok(ResolvedPart { model, scrubber })
}

/// The literal (not referenced) credential values in a connector's `auth` block.
fn literal_credentials(part: &serde_json::Value) -> Vec<String> {
    let Some(auth) = part.get("auth").and_then(|a| a.as_object()) else {
        return Vec::new();
    };
    auth.iter()
        .filter(|(k, _)| irp_core::config::validate::CREDENTIAL_KEYS.contains(&k.as_str()))
        .filter_map(|(_, v)| v.as_str())
        .filter(|v| !irp_core::secret_ref::has_references(v))
        .map(str::to_owned)
        .collect()
}

/// The refurbisher's `offers` connector with its references resolved, for fetching only.
///
/// # Errors
/// A reference without a value, or a store failure.
pub async fn resolved_offers(
    store: &Store,
    r: &StoredRefurbisher,
    secret_key: Option<&irp_store::secrets::SecretKey>,
) -> Result<ResolvedPart<OffersConfig>, ResolveFailure> {
    resolved_offers_as(store, r, secret_key, true).await
}

/// [`resolved_offers`] of a stored (`saved`) document, or of one that is not saved (a preview
/// while onboarding), which uses only secrets already bound to where it points.
///
/// # Errors
/// A reference without a value, or a store failure.
pub async fn resolved_offers_as(
    store: &Store,
    r: &StoredRefurbisher,
    secret_key: Option<&irp_store::secrets::SecretKey>,
    saved: bool,
) -> Result<ResolvedPart<OffersConfig>, ResolveFailure> {
    let part = resolved_part(store, r, "offers", secret_key, saved).await?;
    let scrubber = part.scrubber;
    let model = part.model.offers.ok_or_else(|| {
        ResolveFailure::Missing(
            "the offers connector with its references resolved is not valid".into(),
        )
    })?;
    Ok(ResolvedPart { model, scrubber })
}

/// The file a `file` connection reads, confined to the feed root ([`crate::feed_root`]).
/// `configured` names the path in errors as written in the document (with its references).
///
/// # Errors
/// The path is outside the root, holds `..`, leads out by a symlink, or cannot be opened.
pub fn confined_file(
    configured: &OffersConfig,
    resolved: &OffersConfig,
) -> Result<PathBuf, crate::feed_root::FeedPathError> {
    crate::feed_root::confine(
        crate::feed_root::feed_root(),
        resolved.path.as_deref().unwrap_or_default(),
        configured.path.as_deref().unwrap_or_default(),
    )
}

fn empty_report(run_id: i64, http_status: Option<i64>) -> ImportReport {
    ImportReport {
        run_id,
        status: RunStatus::Failed,
        http_status,
        bytes: 0,
        rows_read: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        created: 0,
        updated: 0,
        unchanged: 0,
        removed: 0,
        field_changes: Default::default(),
        errors: Vec::new(),
        errors_dropped: 0,
        message: None,
        duration_ms: 0,
        price_holds: 0,
        catalog: None,
    }
}

/// `max_price_change_ratio` of a refurbisher in millionths, as the store's price guard takes it.
pub fn price_change_ppm(model: &irp_core::config::Refurbisher) -> i64 {
    (model.max_price_change_ratio * Decimal::from(1_000_000))
        .trunc()
        .try_into()
        .unwrap_or(i64::MAX)
}

/// After a run applied offers: raise the refurbisher's `price_change_held` alert when the run
/// held price changes (one open alert, not one per run), and recompute the products marked as
/// changed (those the run touched, and any others marked by then).
///
/// # Errors
/// The store fails.
pub async fn after_apply(
    store: &Store,
    refurbisher_id: i64,
    key: &str,
    run_id: i64,
    price_holds: u64,
) -> Result<irp_store::catalog::RecomputeStats, irp_store::StoreError> {
    if price_holds > 0 {
        let open = store.alerts_open(refurbisher_id).await?;
        if !open.iter().any(|(metric, _)| metric == "price_change_held") {
            store
                .alert_open(
                    Some(refurbisher_id),
                    "price_change_held",
                    &price_holds.to_string(),
                    "max_price_change_ratio",
                    &format!(
                        "feed run {run_id} of `{key}` held {price_holds} purchase price change(s) beyond max_price_change_ratio; \
                         review them with `irp prices held {key}`"
                    ),
                )
                .await?;
        }
    }
    store.catalog_recompute().await
}

/// Fetch a refurbisher's feed from its connector and import it: one run, stored with its
/// report, the fetch's HTTP status included. References (`${secret:…}`, `${env:…}`) are
/// resolved for the fetch only; a failed fetch ends the run `failed` with the offers untouched.
///
/// # Errors
/// The refurbisher has no offers connector, or the store fails.
pub async fn import_fetched(
    store: &Store,
    r: &StoredRefurbisher,
    trigger: &str,
    secret_key: Option<&irp_store::secrets::SecretKey>,
) -> Result<ImportReport, ImportError> {
    import_fetched_counting(store, r, trigger, secret_key, None).await
}

/// [`import_fetched`], counting the rows read into `progress` as it goes.
///
/// # Errors
/// As [`import_fetched`].
pub async fn import_fetched_counting(
    store: &Store,
    r: &StoredRefurbisher,
    trigger: &str,
    secret_key: Option<&irp_store::secrets::SecretKey>,
    progress: Option<&Arc<AtomicU64>>,
) -> Result<ImportReport, ImportError> {
    let offers = r
        .model
        .offers
        .clone()
        .ok_or_else(|| ImportError::NoConnector(r.key.clone()))?;
    let started = Instant::now();
    let run_id = store.feed_run_start(r.id, trigger).await?;
    let fail = |mut report: ImportReport, message: String| async move {
        report.message = Some(message);
        finish(store, &mut report, None, None, started).await?;
        Ok::<_, ImportError>(report)
    };
    if offers.connection == Connection::Upload {
        let message = format!(
            "`{}` receives its offers by upload; there is nothing to fetch",
            r.key
        );
        return fail(empty_report(run_id, None), message).await;
    }
    let resolved = match resolved_offers(store, r, secret_key).await {
        Ok(o) => o,
        Err(ResolveFailure::Missing(why)) => {
            return fail(
                empty_report(run_id, None),
                format!("cannot fetch the feed: {why}"),
            )
            .await;
        }
        Err(ResolveFailure::Store(e)) => return Err(e.into()),
    };
    let scrubber = resolved.scrubber;
    let resolved_offers = resolved.model;
    if offers.connection == Connection::File {
        let path = match confined_file(&offers, &resolved_offers) {
            Ok(p) => p,
            Err(e) => {
                return fail(empty_report(run_id, None), scrubber.scrub(&e.to_string())).await;
            }
        };
        let run = Run {
            id: run_id,
            http_status: None,
            started,
            progress,
        };
        import_into_run(store, r, &offers, &path, run, Input::File).await
    } else {
        let dir = tempfile::tempdir()
            .map_err(|e| ImportError::Worker(format!("creating a temporary directory: {e}")))?;
        let dest = dir.path().join("feed");
        if offers.connection == Connection::Sftp {
            // Read the feed while it arrives: the download writes the file, the reader follows.
            std::fs::File::create(&dest).map_err(|source| ImportError::Open {
                path: dest.clone(),
                source,
            })?;
            let growing = Growing::new();
            // The host key is recorded after the run: on SQLite the run's transaction holds
            // the write lock until the download has ended.
            let first_key = Arc::new(std::sync::Mutex::new(None));
            let download = tokio::spawn({
                let (store, resolved, dest) =
                    (store.clone(), resolved_offers.clone(), dest.clone());
                let guard = FinishOnDrop(Arc::clone(&growing));
                let first_key = Arc::clone(&first_key);
                async move {
                    let d = download_growing(&store, &resolved, &dest, false, Some(&guard.0)).await;
                    drop(guard);
                    if let Ok(Ok(Downloaded {
                        unrecorded_host_key: Some(k),
                        ..
                    })) = &d
                    {
                        *first_key
                            .lock()
                            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(k.clone());
                    }
                    d
                }
            });
            let run = Run {
                id: run_id,
                http_status: None,
                started,
                progress,
            };
            let host = match &resolved_offers.auth {
                Some(irp_core::config::model::OffersAuth::Sftp(a)) => {
                    Some((a.host.clone(), a.port))
                }
                _ => None,
            };
            let input = Input::Growing {
                growing,
                download,
                scrubber,
            };
            let report = import_into_run(store, r, &offers, &dest, run, input).await?;
            let key = first_key
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take();
            if let (Some(k), Some((host, port))) = (key, host) {
                record_host(store, &host, port, &k).await?;
            }
            return Ok(report);
        }
        match download(store, &resolved_offers, &dest, true).await? {
            Err(failure) => {
                let mut report = empty_report(run_id, failure.record.http_status.map(i64::from));
                report.bytes = failure.record.bytes;
                fail(report, scrubber.scrub(&failure.to_string())).await
            }
            Ok(downloaded) => {
                let mut read_cfg = offers.clone();
                if let Some(loc) = downloaded.offer_location {
                    read_cfg.offer_location = Some(loc);
                }
                let run = Run {
                    id: run_id,
                    http_status: downloaded.http_status,
                    started,
                    progress,
                };
                import_into_run(store, r, &read_cfg, &dest, run, Input::File).await
            }
        }
    }
}

/// A feed downloaded into a local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The HTTP status of the last response (HTTP feeds).
    pub http_status: Option<i64>,
    /// The SFTP server's host key fingerprint when none was recorded before and it was not
    /// recorded by the download (`record_host_key` false): the caller records it.
    pub unrecorded_host_key: Option<String>,
    /// For paginated feeds: the `offer_location` to read the file with (the pages' offers are
    /// joined into one array).
    pub offer_location: Option<String>,
}

/// Download the feed of a `web`, `web_post` or `sftp` connector (references resolved) into
/// `dest`. For SFTP, a host key recorded earlier must match; with `record_host_key`, the key is
/// recorded on first use (a preview passes false: it writes nothing).
///
/// # Errors
/// The outer error is a store failure; the inner one how the download failed.
pub async fn download(
    store: &Store,
    resolved: &OffersConfig,
    dest: &Path,
    record_host_key: bool,
) -> Result<Result<Downloaded, irp_sources::FetchFailure>, ImportError> {
    download_growing(store, resolved, dest, record_host_key, None).await
}

/// [`download`], announcing an SFTP download's progress on `growing` as it writes `dest`.
///
/// # Errors
/// As [`download`].
pub async fn download_growing(
    store: &Store,
    resolved: &OffersConfig,
    dest: &Path,
    record_host_key: bool,
    growing: Option<&Growing>,
) -> Result<Result<Downloaded, irp_sources::FetchFailure>, ImportError> {
    if let Some(irp_core::config::model::OffersAuth::Sftp(a)) = &resolved.auth
        && resolved.connection == Connection::Sftp
    {
        let known = store.known_host(&a.host, a.port).await?;
        return Ok(
            match irp_sources::sftp::fetch_growing(resolved, dest, known.as_deref(), growing).await
            {
                Err(failure) => Err(failure),
                Ok(fetched) => {
                    let mut unrecorded = None;
                    if known.is_none() {
                        if record_host_key {
                            record_host(store, &a.host, a.port, &fetched.fingerprint).await?;
                        } else {
                            unrecorded = Some(fetched.fingerprint);
                        }
                    }
                    Ok(Downloaded {
                        http_status: None,
                        unrecorded_host_key: unrecorded,
                        offer_location: None,
                    })
                }
            },
        );
    }
    Ok(irp_sources::http::fetch(resolved, dest)
        .await
        .map(|f| Downloaded {
            http_status: f.record.http_status.map(i64::from),
            unrecorded_host_key: None,
            offer_location: f.offer_location,
        }))
}

/// Record an SFTP server's host key on first use.
async fn record_host(
    store: &Store,
    host: &str,
    port: u16,
    fingerprint: &str,
) -> Result<(), ImportError> {
    store.known_host_record(host, port, fingerprint).await?;
    tracing::info!(%host, port, %fingerprint, "Recorded the SFTP host key on first use");
    Ok(())
}

type DownloadTask =
    tokio::task::JoinHandle<Result<Result<Downloaded, irp_sources::FetchFailure>, ImportError>>;

/// Where a run's feed comes from.
enum Input {
    /// A complete local file.
    File,
    /// A file an SFTP download is still writing.
    Growing {
        /// How far it is.
        growing: Arc<Growing>,
        /// The download; the run applies nothing unless it succeeds.
        download: DownloadTask,
        /// Hides the connector's credentials in the download's messages.
        scrubber: Scrubber,
    },
}

/// Counts what is read through it, and hashes it (SHA-256) when asked to.
struct Hashing<R> {
    inner: R,
    hash: Option<Sha256>,
    bytes: u64,
}

impl<R> Hashing<R> {
    fn new(inner: R, hash: bool) -> Self {
        Hashing {
            inner,
            hash: hash.then(Sha256::new),
            bytes: 0,
        }
    }

    /// The hash in hex (empty when not hashing) and the bytes read.
    fn finish(self) -> (String, u64) {
        (
            self.hash.map(|h| hex(&h.finalize())).unwrap_or_default(),
            self.bytes,
        )
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hash {
            h.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash a run is recognised by: the feed's bytes and the connector config it was read
/// with (the same bytes read with another mapping or locale are another feed).
fn run_hash(file_hash: &str, offers: &OffersConfig) -> String {
    let mut h = Sha256::new();
    h.update(file_hash.as_bytes());
    h.update(serde_json::to_vec(offers).unwrap_or_default());
    hex(&h.finalize())
}

/// A started run: its id, the fetch's HTTP status, when it started, and where to count rows.
struct Run<'a> {
    id: i64,
    http_status: Option<i64>,
    started: Instant,
    progress: Option<&'a Arc<AtomicU64>>,
}

async fn import_into_run(
    store: &Store,
    r: &StoredRefurbisher,
    offers: &OffersConfig,
    path: &Path,
    run: Run<'_>,
    input: Input,
) -> Result<ImportReport, ImportError> {
    let Run {
        id: run_id,
        http_status,
        started,
        progress,
    } = run;
    let mut report = empty_report(run_id, http_status);
    let current = store.feed_current_hash(r.id).await?;
    let mut bytes = 0;
    let mut known_hash = None;
    if matches!(input, Input::File) {
        // A local file is hashed first: an identical feed is not read at all.
        let owned = path.to_owned();
        let (file_hash, size) = tokio::task::spawn_blocking(move || sha256_file(&owned))
            .await
            .map_err(|e| ImportError::Worker(e.to_string()))?
            .map_err(|source| ImportError::Open {
                path: path.to_owned(),
                source,
            })?;
        let hash = run_hash(&file_hash, offers);
        bytes = size;
        if current.as_deref() == Some(hash.as_str()) {
            report.bytes = size;
            report.status = RunStatus::Unchanged;
            report.message = Some(
                "the feed and its connector config are identical to the ones already applied"
                    .into(),
            );
            finish(store, &mut report, None, Some(hash), started).await?;
            return Ok(report);
        }
        known_hash = Some(hash);
    }

    // The stored offers, to compare the feed with as it is read. The table gets room for them,
    // or for as many rows as the file may have (at 64 bytes a row), whichever is more.
    let stored = store.offers_count(r.id).await?;
    let mut index = SkuIndex::with_capacity(
        usize::try_from(stored.max(bytes / 64).saturating_mul(9) / 8).unwrap_or(0),
    );
    let mut full = None;
    let version = store
        .offers_index(r.id, &mut |sku, h, active| {
            if let Err(e) = index.insert_stored(sku, hash_parse(h), active) {
                full = Some(e);
            }
        })
        .await?;
    if let Some(e) = full {
        report.message = Some(e.to_string());
        finish(store, &mut report, None, None, started).await?;
        return Ok(report);
    }
    tracing::debug!(
        run = run_id,
        stored = index.active_before(),
        index_ms = started.elapsed().as_millis(),
        "Stored offers indexed"
    );

    let open_err = |source| ImportError::Open {
        path: path.to_owned(),
        source,
    };
    let file: Box<dyn Read + Send> = match &input {
        Input::File => Box::new(std::fs::File::open(path).map_err(open_err)?),
        Input::Growing { growing, .. } => {
            Box::new(FollowReader::open(path, Arc::clone(growing)).map_err(open_err)?)
        }
    };
    let (tx, rx) = tokio::sync::mpsc::channel::<OfferBatch>(4);
    let currency = r.model.currency.clone();
    let ppm = price_change_ppm(&r.model);
    let cfg = offers.clone();
    let progress = progress.cloned();
    // A file arriving while it is read is hashed as it is read (a local one was already).
    let hash_while_reading = known_hash.is_none();
    let reader = tokio::task::spawn_blocking(move || {
        let mut input = Hashing::new(file, hash_while_reading);
        let read = read_blocking(&cfg, &currency, &mut input, &mut index, &tx, progress);
        let (file_hash, read_bytes) = input.finish();
        (read, index, file_hash, read_bytes)
    });

    // Hold back the first batches; open the transaction once there is enough to write.
    let mut batches = Batches {
        held: std::collections::VecDeque::new(),
        rx,
    };
    let mut held_rows = 0;
    while held_rows < HOLD_ROWS {
        match batches.rx.recv().await {
            Some(b) => {
                held_rows += b.len();
                batches.held.push_back(b);
            }
            None => break,
        }
    }
    let mut writer = None;
    let mut write_error = None;
    if held_rows >= HOLD_ROWS {
        match write(store, r.id, run_id, version, ppm, &mut batches).await {
            Ok(w) => writer = Some(w),
            Err(e) => write_error = Some(e),
        }
        // Stop the reader if writing failed: its sends fail once the channel is gone.
        drop(batches.rx);
        batches = Batches {
            held: std::collections::VecDeque::new(),
            rx: tokio::sync::mpsc::channel(1).1,
        };
    }
    let (read, index, file_hash, read_bytes) = reader
        .await
        .map_err(|e| ImportError::Worker(e.to_string()))?;
    report.bytes = read_bytes;
    let hash = known_hash.unwrap_or_else(|| run_hash(&file_hash, offers));
    let streamed = match input {
        Input::File => false,
        Input::Growing {
            download, scrubber, ..
        } => {
            // Nothing is applied unless the whole file arrived as it was on the server.
            let outcome = download
                .await
                .map_err(|e| ImportError::Worker(e.to_string()))?;
            let failure = match outcome {
                Ok(Ok(_)) => None,
                Ok(Err(failure)) => Some(failure),
                Err(e) => {
                    if let Some(w) = writer {
                        w.rollback().await?;
                    }
                    return Err(e);
                }
            };
            if let Some(failure) = failure {
                if let Some(w) = writer {
                    w.rollback().await?;
                }
                report.http_status = failure.record.http_status.map(i64::from);
                report.bytes = failure.record.bytes;
                report.status = RunStatus::Failed;
                report.message = Some(scrubber.scrub(&failure.to_string()));
                return done(store, report, &[], None, hash, started).await;
            }
            true
        }
    };
    let fail = |mut report: ImportReport, message: String| {
        report.status = RunStatus::Failed;
        report.message = Some(message);
        report
    };
    if let Some(e) = write_error {
        let report = fail(report, format!("writing the offers failed: {e}"));
        return done(store, report, &[], None, hash, started).await;
    }
    let tally = match read {
        Ok(t) => t,
        Err(e) => {
            if let Some(w) = writer {
                w.rollback().await?;
            }
            let report = fail(report, e.to_string());
            return done(store, report, &[], None, hash, started).await;
        }
    };
    report.rows_read = tally.rows_read;
    report.rows_accepted = tally.rows_accepted;
    report.rows_rejected = tally.rows_rejected;
    report.errors_dropped = tally.errors_dropped;
    tracing::debug!(
        run = run_id,
        read_ms = started.elapsed().as_millis(),
        "Feed read"
    );

    // Whatever was held back is written now (the reader is done, so this is the rest).
    let mut writer = match writer {
        Some(w) => w,
        None => match write(store, r.id, run_id, version, ppm, &mut batches).await {
            Ok(w) => w,
            Err(e) => {
                let report = fail(report, format!("writing the offers failed: {e}"));
                return done(store, report, &tally.errors, None, hash, started).await;
            }
        },
    };
    let tsc = Instant::now();
    let (updated, field_changes) = writer.staged_changes().await?;
    tracing::debug!(ms = tsc.elapsed().as_millis(), "staged changes compared");
    let c = &tally.counts;
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let diff = SnapshotDiff {
        created: c.new + c.reactivated,
        updated,
        unchanged: c.unchanged + (c.changed - updated),
        removed: as_i64(index.removed_count()),
        active_before: as_i64(index.active_before()),
        field_changes,
    };
    if streamed
        && current.as_deref() == Some(hash.as_str())
        && diff.created == 0
        && diff.updated == 0
        && diff.removed == 0
    {
        // Read while it arrived, the feed turned out identical to the applied one.
        writer.rollback().await?;
        report.status = RunStatus::Unchanged;
        report.message = Some(
            "the feed and its connector config are identical to the ones already applied".into(),
        );
        return done(store, report, &tally.errors, Some(diff), hash, started).await;
    }
    if let Some(reason) = guard(
        tally.rows_read,
        tally.rows_accepted,
        &diff,
        offers.max_removal_ratio,
    ) {
        writer.rollback().await?;
        stage_snapshot(store, run_id, offers, &r.model.currency, path).await?;
        report.status = RunStatus::Quarantined;
        report.message = Some(format!(
            "{reason}; nothing was applied. Check the feed, then `irp feed apply {run_id}` to apply it anyway"
        ));
        store
            .alert_open(
                Some(r.id),
                "feed_quarantined",
                &run_id.to_string(),
                &offers.max_removal_ratio.to_string(),
                &format!("feed run {run_id} of `{}` quarantined: {reason}", r.key),
            )
            .await?;
        return done(store, report, &tally.errors, Some(diff), hash, started).await;
    }
    report.status = if tally.rows_rejected > 0 {
        RunStatus::Partial
    } else {
        RunStatus::Succeeded
    };
    let removed: Vec<String> = index.removed().collect();
    drop(index);
    match writer.commit(&removed, report.status.as_str(), &diff).await {
        Ok(applied) => {
            report.price_holds = applied.price_holds;
            match after_apply(store, r.id, &r.key, run_id, applied.price_holds).await {
                Ok(stats) => report.catalog = Some(stats),
                // The offers are applied and the products stay marked: the next recompute
                // (the next run, or `serve`) catches up.
                Err(e) => {
                    tracing::warn!(run = run_id, error = %e, "Recomputing the catalog failed")
                }
            }
        }
        Err(e) => {
            let report = fail(report, format!("writing the offers failed: {e}"));
            return done(store, report, &tally.errors, None, hash, started).await;
        }
    }
    tracing::debug!(
        run = run_id,
        applied_ms = started.elapsed().as_millis(),
        "Feed applied"
    );
    done(store, report, &tally.errors, Some(diff), hash, started).await
}

/// Open the run's apply transaction and write `batches` into it.
async fn write(
    store: &Store,
    refurbisher_id: i64,
    run_id: i64,
    version: IndexVersion,
    max_price_change_ppm: i64,
    batches: &mut Batches,
) -> Result<FeedWrite, irp_store::StoreError> {
    let mut w = store
        .feed_write_begin(refurbisher_id, run_id, version, max_price_change_ppm)
        .await?;
    if let Err(e) = w.write_all(batches).await {
        let _ = w.rollback().await;
        return Err(e);
    }
    Ok(w)
}

/// Store the run's row errors and its report.
async fn done(
    store: &Store,
    mut report: ImportReport,
    errors: &[RowError],
    diff: Option<SnapshotDiff>,
    hash: String,
    started: Instant,
) -> Result<ImportReport, ImportError> {
    report.errors = errors.iter().map(ErrorEntry::from).collect();
    let stored: Vec<StoredRowError> = errors
        .iter()
        .map(|e| StoredRowError {
            row_number: i64::try_from(e.row).unwrap_or(i64::MAX),
            field: e.field.clone(),
            value: e.value.clone(),
            message: e.message.clone(),
        })
        .collect();
    store.feed_row_errors_add(report.run_id, &stored).await?;
    finish(store, &mut report, diff, Some(hash), started).await?;
    Ok(report)
}

async fn finish(
    store: &Store,
    report: &mut ImportReport,
    diff: Option<SnapshotDiff>,
    hash: Option<String>,
    started: Instant,
) -> Result<(), ImportError> {
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Some(d) = &diff {
        report.created = d.created;
        report.updated = d.updated;
        report.unchanged = d.unchanged;
        report.removed = d.removed;
        report.field_changes = d.field_changes.clone();
    }
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    store
        .feed_run_finish(
            report.run_id,
            &RunReport {
                status: report.status.as_str().to_owned(),
                http_status: report.http_status,
                bytes: as_i64(report.bytes),
                duration_ms: as_i64(report.duration_ms),
                rows_read: as_i64(report.rows_read),
                rows_accepted: as_i64(report.rows_accepted),
                rows_rejected: as_i64(report.rows_rejected),
                diff,
                errors_dropped: as_i64(report.errors_dropped),
                message: report.message.clone(),
                content_hash: hash,
            },
        )
        .await?;
    tracing::info!(
        run = report.run_id,
        status = report.status.as_str(),
        rows_read = report.rows_read,
        rows_rejected = report.rows_rejected,
        "Feed run finished"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diff(active_before: i64, removed: i64) -> SnapshotDiff {
        SnapshotDiff {
            active_before,
            removed,
            ..SnapshotDiff::default()
        }
    }

    #[test]
    fn literal_credentials_are_found_for_scrubbing() {
        let part = serde_json::json!({ "connection": "web", "endpoint": "https://f.example/x",
            "auth": { "type": "bearer", "token": "tok-123456", "header": "X-Key" } });
        assert_eq!(literal_credentials(&part), vec!["tok-123456".to_owned()]);
        let referenced =
            serde_json::json!({ "auth": { "type": "bearer", "token": "${secret:x.t}" } });
        assert!(literal_credentials(&referenced).is_empty());
    }

    #[test]
    fn guards_quarantine_empty_feeds_and_mass_removal() {
        let half = Decimal::new(5, 1);
        assert_eq!(
            guard(0, 0, &diff(0, 0), half).unwrap(),
            "the feed has no offers; applying it would deactivate every offer"
        );
        assert!(
            guard(10, 0, &diff(0, 0), half)
                .unwrap()
                .starts_with("none of the 10 rows")
        );
        assert_eq!(
            guard(10, 10, &diff(100, 50), half),
            None,
            "exactly half may go"
        );
        assert_eq!(
            guard(10, 10, &diff(100, 51), half).unwrap(),
            "the feed would deactivate 51 of 100 active offers (51%), more than max_removal_ratio 0.5 allows"
        );
        assert_eq!(guard(1, 1, &diff(0, 0), half), None, "a first feed creates");
    }
}
