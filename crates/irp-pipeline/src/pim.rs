//! The PIM sync: read Ergonode's product stream from where the last sync stopped, page by
//! page, map each product onto IRP's product fields and store each page with its cursor; then
//! the deleted stream; then recompute the products whose brand or category changed.
//!
//! A sync that fails halfway (network, API key, an answer of the wrong shape) keeps every page
//! it stored and continues after it next time. Products that cannot be keyed by an EAN are
//! counted and listed in the report, never dropped silently.

use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use irp_clients::ergonode::{Ergonode, PimError};
use irp_core::pim::{Skipped, Stream, deleted_sku, map_product};
use irp_store::Store;
use irp_store::catalog::RecomputeStats;
use irp_store::secrets::SecretKey;
use serde_json::json;

/// Skipped products and EAN reassignments listed in a report (the counts are complete).
pub const EXAMPLES: usize = 50;
/// Pages read per stream in one sync, at most (a safety stop for a cursor that never ends).
pub const MAX_PAGES: u32 = 100_000;

/// What a sync did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PimReport {
    /// `ok`; `partial` (some products skipped); `failed` (stopped by an error; pages stored
    /// before it are kept and the next sync continues after them).
    pub status: String,
    /// Whether the streams were read from the start.
    pub full: bool,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// Milliseconds.
    pub duration_ms: u64,
    /// HTTP requests made, retries included.
    pub requests: u32,
    /// Pages read (both streams).
    pub pages: u32,
    /// Products in Ergonode's product stream, as it says.
    pub total_count: Option<i64>,
    /// Products read from the stream.
    pub products_read: u64,
    /// Products that had no PIM data before.
    pub created: u64,
    /// Products whose PIM data changed.
    pub updated: u64,
    /// Products whose PIM data was already so.
    pub unchanged: u64,
    /// Products read that give no product (no EAN, a bad EAN): how many.
    pub skipped: u64,
    /// The first of them, with the reason.
    pub skipped_examples: Vec<Skipped>,
    /// EANs whose data now comes from another SKU than before: `(ean, old sku, new sku)`.
    pub reassigned: Vec<(String, String, String)>,
    /// Deleted SKUs read from the deleted stream.
    pub deleted_read: u64,
    /// Products that lost their PIM data (deleted, or their SKU moved to another EAN).
    pub cleared: u64,
    /// The catalog recompute after the sync.
    pub catalog: Option<RecomputeStats>,
    /// Why it failed.
    pub error: Option<String>,
}

/// Why a sync could not start.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    /// No PIM document was applied.
    #[error(
        "no PIM source is configured: apply a PIM document with `irp pim apply -f config/pim.json`"
    )]
    NotConfigured,
    /// A reference (`${secret:…}`) has no value.
    #[error("{0}")]
    Missing(String),
    /// The configuration cannot be used (a bad URL, a key with line breaks).
    #[error("{0}")]
    Config(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] irp_store::StoreError),
}

/// Sync product data from the PIM now. `full`: read both streams from the start (after a
/// change of mapping, or to repair). The report is stored as the source's last report; a
/// failed sync returns `Ok` with `status` `failed` and the error in it.
///
/// # Errors
/// See [`SyncError`]; the store failing while storing a page.
pub async fn sync(
    store: &Store,
    secret_key: Option<&SecretKey>,
    full: bool,
) -> Result<PimReport, SyncError> {
    let stored = store.pim().get().await?.ok_or(SyncError::NotConfigured)?;
    match run_sync(store, secret_key, full, &stored).await {
        Err(e @ (SyncError::Missing(_) | SyncError::Config(_))) => {
            // Also a failed sync, to `irp pim show` and the schedule.
            let next = (stored.config.poll_interval_secs > 0)
                .then(|| irp_store::now() + TimeDelta::seconds(stored.config.poll_interval_secs));
            store
                .pim()
                .finish(
                    "failed",
                    &json!({"status": "failed", "full": full, "error": e.to_string()}),
                    next,
                )
                .await?;
            Err(e)
        }
        other => other,
    }
}

/// The stored PIM source with its references resolved (binding its secrets to its URL on
/// their first use).
///
/// # Errors
/// A reference without a value, or a store failure.
pub async fn resolved_source(
    store: &Store,
    secret_key: Option<&SecretKey>,
    stored: &irp_store::pim::StoredPim,
) -> Result<irp_store::secrets::Resolved, SyncError> {
    let cfg = &stored.config;
    match store
        .secrets()
        .resolve_references(
            secret_key,
            irp_store::secrets::Scope::of("pim"),
            &json!({"pim": {"url": cfg.url, "api_key": cfg.api_key}}),
        )
        .await
    {
        Ok(r) => Ok(r),
        Err(irp_store::StoreError::NotFound(why)) => Err(SyncError::Missing(why)),
        Err(e) => Err(e.into()),
    }
}

async fn run_sync(
    store: &Store,
    secret_key: Option<&SecretKey>,
    full: bool,
    stored: &irp_store::pim::StoredPim,
) -> Result<PimReport, SyncError> {
    let cfg = &stored.config;
    let resolved = resolved_source(store, secret_key, stored).await?;
    let v = resolved.expose();
    let client = Ergonode::new(
        v["pim"]["url"].as_str().unwrap_or_default(),
        v["pim"]["api_key"].as_str().unwrap_or_default(),
        Duration::from_secs(u64::try_from(cfg.timeout_secs).unwrap_or(60)),
    )
    .map_err(|e| SyncError::Config(e.to_string()))?;
    if full {
        store.pim().reset_cursors().await?;
    }
    let started = Instant::now();
    let mut report = PimReport {
        full,
        started_at: Some(irp_store::now()),
        ..PimReport::default()
    };
    let (product_cursor, deleted_cursor) = if full {
        (None, None)
    } else {
        (stored.product_cursor.clone(), stored.deleted_cursor.clone())
    };
    let result = async {
        read_stream(
            store,
            &client,
            cfg,
            Stream::Products,
            product_cursor,
            &mut report,
        )
        .await?;
        read_stream(
            store,
            &client,
            cfg,
            Stream::Deleted,
            deleted_cursor,
            &mut report,
        )
        .await
    }
    .await;
    report.requests = client.requests();
    if let Err(e) = result {
        match e {
            StreamError::Pim(e) => report.error = Some(resolved.scrubber().scrub(&e.to_string())),
            StreamError::Store(e) => return Err(e.into()),
        }
    }
    // Nothing marked: the recompute finds that out with one cheap check.
    let recomputed = crate::catalog::recompute(store).await?;
    if recomputed.eans > 0 {
        report.catalog = Some(recomputed);
    }
    report.status = if report.error.is_some() {
        "failed"
    } else if report.skipped > 0 {
        "partial"
    } else {
        "ok"
    }
    .to_owned();
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let next = (cfg.poll_interval_secs > 0)
        .then(|| irp_store::now() + TimeDelta::seconds(cfg.poll_interval_secs));
    store
        .pim()
        .finish(
            &report.status,
            &serde_json::to_value(&report).unwrap_or_default(),
            next,
        )
        .await?;
    match &report.error {
        Some(e) => tracing::warn!(error = %e, pages = report.pages, "PIM sync failed"),
        None => tracing::info!(
            read = report.products_read,
            created = report.created,
            updated = report.updated,
            skipped = report.skipped,
            cleared = report.cleared,
            "PIM sync done"
        ),
    }
    Ok(report)
}

enum StreamError {
    Pim(PimError),
    Store(irp_store::StoreError),
}

async fn read_stream(
    store: &Store,
    client: &Ergonode,
    cfg: &irp_core::config::PimConfig,
    stream: Stream,
    mut cursor: Option<String>,
    report: &mut PimReport,
) -> Result<(), StreamError> {
    for _ in 0..MAX_PAGES {
        let page = client
            .page(stream, cfg.page_size, cursor.as_deref())
            .await
            .map_err(StreamError::Pim)?;
        report.pages += 1;
        if stream == Stream::Products {
            report.total_count = page.total_count.or(report.total_count);
        }
        if page.edges.is_empty() && page.end_cursor.is_none() && !page.has_next_page {
            // Nothing new since the last sync: nothing to write.
            return Ok(());
        }
        match stream {
            Stream::Products => {
                let mut products = Vec::with_capacity(page.edges.len());
                for (_, node) in &page.edges {
                    report.products_read += 1;
                    match map_product(node, cfg) {
                        Ok(p) => products.push(p),
                        Err(skip) => {
                            report.skipped += 1;
                            if report.skipped_examples.len() < EXAMPLES {
                                report.skipped_examples.push(skip);
                            }
                        }
                    }
                }
                let w = store
                    .pim()
                    .write_products(&products, page.end_cursor.as_deref())
                    .await
                    .map_err(StreamError::Store)?;
                report.created += w.created;
                report.updated += w.updated;
                report.unchanged += w.unchanged;
                report.cleared += w.cleared;
                for r in w.reassigned {
                    if report.reassigned.len() < EXAMPLES {
                        report.reassigned.push(r);
                    }
                }
            }
            Stream::Deleted => {
                let mut skus = Vec::with_capacity(page.edges.len());
                for (i, (_, node)) in page.edges.iter().enumerate() {
                    let sku = deleted_sku(node).map_err(|e| {
                        StreamError::Pim(PimError::Answer(format!(
                            "data.productDeletedStream.edges[{i}].node: {e}"
                        )))
                    })?;
                    skus.push(sku);
                }
                report.deleted_read += skus.len() as u64;
                report.cleared += store
                    .pim()
                    .write_deleted(&skus, page.end_cursor.as_deref())
                    .await
                    .map_err(StreamError::Store)?;
            }
        }
        if !page.has_next_page {
            return Ok(());
        }
        if page.end_cursor.is_none() || page.end_cursor == cursor {
            return Err(StreamError::Pim(PimError::Answer(format!(
                "Ergonode's {} says more pages follow but its endCursor does not move ({})",
                stream.field(),
                cursor.as_deref().unwrap_or("start")
            ))));
        }
        cursor = page.end_cursor;
    }
    Err(StreamError::Pim(PimError::Answer(format!(
        "{} has more than {MAX_PAGES} pages: stopped",
        stream.field()
    ))))
}

/// One step of `serve`'s `pim` job: sync when a source is configured, enabled, scheduled and due, and this
/// instance gets the claim. Returns the report of a sync that ran.
///
/// # Errors
/// As [`sync`].
pub async fn sync_if_due(
    store: &Store,
    owner: &str,
    secret_key: Option<&SecretKey>,
) -> Result<Option<PimReport>, SyncError> {
    let Some(stored) = store.pim().get().await? else {
        return Ok(None);
    };
    if !stored.config.enabled || stored.config.poll_interval_secs == 0 {
        return Ok(None);
    }
    let now = irp_store::now();
    if !store
        .pim()
        .claim(owner, now, now + crate::lease::LEASE)
        .await?
    {
        return Ok(None);
    }
    // A sync that ran, or could not start, has recorded its end and the next due time
    // (`pim_finish`) before the claim is released.
    let result = crate::lease::renewing(
        store,
        crate::lease::Claim::PimSync { owner },
        crate::lease::LEASE,
        sync(store, secret_key, false),
    )
    .await;
    if let Err(e) = store.pim().release(owner).await {
        tracing::warn!(error = %e, "Releasing the PIM sync claim failed; it expires by itself");
    }
    result.map(Some)
}
