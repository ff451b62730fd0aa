//! `irp catalog recompute`: the products marked as changed (or all) computed again.

use std::process::ExitCode;

use anyhow::Result;

use super::{CatalogCommand, Global, open_store};
use crate::views::CatalogRecompute;

/// `irp catalog …`.
pub async fn catalog(global: &Global, cmd: CatalogCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    let CatalogCommand::Recompute { all, json } = cmd;
    if all {
        store.catalog().mark_all().await?;
    }
    let progress = irp_pipeline::progress::Progress::new();
    let shown = super::progress::show(&progress);
    let stats = irp_pipeline::catalog::recompute_with(&store, Some(&progress)).await;
    shown.finish();
    let stats = stats?;
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&CatalogRecompute::from(stats))?
        );
    } else {
        outln!(
            "{} product(s) recomputed in {} ms: {} changed, {} channel row(s) to push, {} offer(s) with a consumer price below the selling price",
            stats.eans,
            stats.ms,
            stats.products_changed,
            stats.channel_rows_changed,
            stats.consumer_below
        );
    }
    Ok(ExitCode::SUCCESS)
}
