//! The guards a read feed passes before it is applied, and the snapshot a quarantined run keeps.

use std::path::Path;

use irp_core::config::model::OffersConfig;
use irp_store::Store;
use irp_store::feed_write::OfferBatch;
use irp_store::offers::SnapshotDiff;
use rust_decimal::Decimal;

use crate::sku_index::SkuIndex;

use super::ImportError;
use super::read::read_blocking;

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

/// Stage every accepted row of the feed at `path` for a later `irp feed apply` (a quarantined
/// run keeps its whole snapshot).
pub(super) async fn stage_snapshot(
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
        store.feed_runs().stage(run_id, &rows).await?;
    }
    reader
        .await
        .map_err(|e| ImportError::Worker(e.to_string()))?
        .map_err(|e| ImportError::Worker(e.to_string()))
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
