//! Applying a read feed: the run's apply transaction, and what follows an applied run.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use irp_core::config::model::OffersConfig;
use irp_core::monitoring::Metric;
use irp_store::Store;
use irp_store::feed_write::{Batches, FeedWrite, IndexVersion, OfferBatch};
use irp_store::offers::{SnapshotDiff, hash_parse};
use irp_store::refurbishers::StoredRefurbisher;
use rust_decimal::Decimal;

use crate::progress::{self, Phase, Progress};
use crate::sku_index::SkuIndex;
use irp_clients::follow::FollowReader;

use super::diff::{guard, stage_snapshot};
use super::read::{Hashing, Input, read_blocking, run_hash, sha256_file};
use super::run::{Run, done, empty_report, finish, run_report, stored_errors};
use super::{ImportError, ImportReport, RunStatus};

/// Rows held back before the apply transaction is opened (on SQLite it locks out other
/// writers): a re-import that changes fewer rows opens it only once the feed is read.
const HOLD_ROWS: usize = 20_000;

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
    progress: Option<&Progress>,
) -> Result<irp_store::catalog::RecomputeStats, irp_store::StoreError> {
    if price_holds > 0 {
        let open = store.monitor().alerts_open(refurbisher_id).await?;
        if !open
            .iter()
            .any(|(metric, _)| *metric == Metric::PriceChangeHeld)
        {
            store
                .monitor().alert_open(
                    Some(refurbisher_id),
                    Metric::PriceChangeHeld,
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
    crate::catalog::recompute_with(store, progress).await
}

pub(super) async fn import_into_run(
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
    let current = store.feed_runs().current_hash(r.id).await?;
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
    let stored = store.feed_write().offers_count(r.id).await?;
    let mut index = SkuIndex::with_capacity(
        usize::try_from(stored.max(bytes / 64).saturating_mul(9) / 8).unwrap_or(0),
    );
    let mut full = None;
    let version = store
        .feed_write()
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
    progress::enter(progress, Phase::Reading, None);
    let reading = progress.cloned();
    // A file arriving while it is read is hashed as it is read (a local one was already).
    let hash_while_reading = known_hash.is_none();
    let reader = tokio::task::spawn_blocking(move || {
        let mut input = Hashing::new(file, hash_while_reading);
        let read = read_blocking(&cfg, &currency, &mut input, &mut index, &tx, reading);
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
        // The run is recorded quarantined before its alert opens: the monitor, which resolves
        // the alert while the latest recorded run is not quarantined, never sees one without
        // the other.
        let report = done(store, report, &tally.errors, Some(diff), hash, started).await?;
        store
            .monitor()
            .alert_open(
                Some(r.id),
                Metric::FeedQuarantined,
                &run_id.to_string(),
                &offers.max_removal_ratio.to_string(),
                &format!("feed run {run_id} of `{}` quarantined: {reason}", r.key),
            )
            .await?;
        return Ok(report);
    }
    report.status = if tally.rows_rejected > 0 {
        RunStatus::Partial
    } else {
        RunStatus::Succeeded
    };
    let removed: Vec<String> = index.removed().collect();
    drop(index);
    progress::enter(progress, Phase::Applying, None);
    // The report and row errors are committed with the offers (a run killed after the commit
    // still says what it applied); the report is written again, timed, once the catalog is
    // recomputed.
    report.errors = tally.errors.iter().map(super::ErrorEntry::from).collect();
    let stored = run_report(&mut report, Some(diff.clone()), Some(hash.clone()), started);
    match writer
        .commit(&removed, &stored, &stored_errors(&tally.errors))
        .await
    {
        Ok(applied) => {
            report.price_holds = applied.price_holds;
            match after_apply(store, r.id, &r.key, run_id, applied.price_holds, progress).await {
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
    finish(store, &mut report, Some(diff), Some(hash), started).await?;
    Ok(report)
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
        .feed_write()
        .start(refurbisher_id, run_id, version, max_price_change_ppm)
        .await?;
    if let Err(e) = w.write_all(batches).await {
        let _ = w.rollback().await;
        return Err(e);
    }
    Ok(w)
}
