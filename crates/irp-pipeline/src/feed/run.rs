//! A run's lifecycle: it is started (for a file, or by fetching the feed), reported and
//! finished.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use irp_clients::follow::{FinishOnDrop, Growing};
use irp_core::config::model::Connection;
use irp_core::feed::RowError;
use irp_store::Store;
use irp_store::offers::{RunReport, SnapshotDiff, StoredRowError};
use irp_store::refurbishers::StoredRefurbisher;

use super::apply::import_into_run;
use super::fetch::{
    Downloaded, ResolveFailure, confined_file, download, download_growing, record_host,
    resolved_offers,
};
use super::read::Input;
use super::{ErrorEntry, ImportError, ImportReport, RunStatus};
use crate::progress::{self, Phase, Progress, Reporter};
use irp_store::progress::feed_run_work;

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

/// [`import_file`], with its phase and counts on `progress` as it goes (for a progress display).
///
/// # Errors
/// As [`import_file`].
pub async fn import_file_counting(
    store: &Store,
    r: &StoredRefurbisher,
    path: &Path,
    trigger: &str,
    progress: Option<&Progress>,
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
    let run_id = start_run(store, r, trigger).await?;
    let progress = progress.cloned().unwrap_or_default();
    let reporter = Reporter::start(store, feed_run_work(run_id), &progress);
    let run = Run {
        id: run_id,
        http_status: None,
        started: Instant::now(),
        progress: Some(&progress),
    };
    let report = import_into_run(store, r, &offers, path, run, Input::File).await;
    reporter.finish().await;
    report
}

/// How long a running run may go without reporting on the progress board (it reports every
/// second) before it counts as interrupted: its process is gone.
pub const RUN_LEASE: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// Close the runs whose process ended before them (see
/// [`irp_store::feed_runs::FeedRuns::close_interrupted`]), logging each.
///
/// # Errors
/// The store fails.
pub async fn close_interrupted(store: &Store) -> Result<Vec<i64>, irp_store::StoreError> {
    let closed = store.feed_runs().close_interrupted(RUN_LEASE).await?;
    for id in &closed {
        tracing::warn!(
            run = id,
            "Feed run interrupted: its process ended before it; nothing of it was applied"
        );
    }
    Ok(closed)
}

/// Start a run of `r`, after closing the runs a dead process left `running`.
async fn start_run(
    store: &Store,
    r: &StoredRefurbisher,
    trigger: &str,
) -> Result<i64, ImportError> {
    close_interrupted(store).await?;
    Ok(store.feed_runs().start(r.id, trigger).await?)
}

pub(super) fn empty_report(run_id: i64, http_status: Option<i64>) -> ImportReport {
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

/// [`import_fetched`], with its phase and counts on `progress` as it goes.
///
/// # Errors
/// As [`import_fetched`].
pub async fn import_fetched_counting(
    store: &Store,
    r: &StoredRefurbisher,
    trigger: &str,
    secret_key: Option<&irp_store::secrets::SecretKey>,
    progress: Option<&Progress>,
) -> Result<ImportReport, ImportError> {
    let offers = r
        .model
        .offers
        .clone()
        .ok_or_else(|| ImportError::NoConnector(r.key.clone()))?;
    let started = Instant::now();
    let run_id = start_run(store, r, trigger).await?;
    let progress = progress.cloned().unwrap_or_default();
    let reporter = Reporter::start(store, feed_run_work(run_id), &progress);
    let report = fetch_into_run(
        store,
        r,
        &offers,
        secret_key,
        run_id,
        started,
        Some(&progress),
    )
    .await;
    reporter.finish().await;
    report
}

/// The fetch and import of a started run.
async fn fetch_into_run(
    store: &Store,
    r: &StoredRefurbisher,
    offers: &irp_core::config::model::OffersConfig,
    secret_key: Option<&irp_store::secrets::SecretKey>,
    run_id: i64,
    started: Instant,
    progress: Option<&Progress>,
) -> Result<ImportReport, ImportError> {
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
    if offers.connection != Connection::File {
        progress::enter(progress, Phase::Downloading, None);
    }
    if offers.connection == Connection::File {
        let path = match confined_file(offers, &resolved_offers) {
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
        import_into_run(store, r, offers, &path, run, Input::File).await
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
            let report = import_into_run(store, r, offers, &dest, run, input).await?;
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

/// A started run: its id, the fetch's HTTP status, when it started, and where to count rows.
pub(super) struct Run<'a> {
    pub(super) id: i64,
    pub(super) http_status: Option<i64>,
    pub(super) started: Instant,
    pub(super) progress: Option<&'a Progress>,
}

/// The run's row errors as stored.
pub(super) fn stored_errors(errors: &[RowError]) -> Vec<StoredRowError> {
    errors
        .iter()
        .map(|e| StoredRowError {
            row_number: i64::try_from(e.row).unwrap_or(i64::MAX),
            field: e.field.clone(),
            value: e.value.clone(),
            message: e.message.clone(),
        })
        .collect()
}

/// Store the run's row errors and its report.
pub(super) async fn done(
    store: &Store,
    mut report: ImportReport,
    errors: &[RowError],
    diff: Option<SnapshotDiff>,
    hash: String,
    started: Instant,
) -> Result<ImportReport, ImportError> {
    report.errors = errors.iter().map(ErrorEntry::from).collect();
    store
        .feed_runs()
        .add_row_errors(report.run_id, &stored_errors(errors))
        .await?;
    finish(store, &mut report, diff, Some(hash), started).await?;
    Ok(report)
}

/// The run's report as stored, with `diff` and `hash`, timed from `started`.
pub(super) fn run_report(
    report: &mut ImportReport,
    diff: Option<SnapshotDiff>,
    hash: Option<String>,
    started: Instant,
) -> RunReport {
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    if let Some(d) = &diff {
        report.created = d.created;
        report.updated = d.updated;
        report.unchanged = d.unchanged;
        report.removed = d.removed;
        report.field_changes = d.field_changes.clone();
    }
    let as_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    RunReport {
        status: report.status.into(),
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
    }
}

pub(super) async fn finish(
    store: &Store,
    report: &mut ImportReport,
    diff: Option<SnapshotDiff>,
    hash: Option<String>,
    started: Instant,
) -> Result<(), ImportError> {
    let stored = run_report(report, diff, hash, started);
    store.feed_runs().finish(report.run_id, &stored).await?;
    tracing::info!(
        run = report.run_id,
        status = report.status.as_str(),
        rows_read = report.rows_read,
        rows_rejected = report.rows_rejected,
        "Feed run finished"
    );
    Ok(())
}
