//! The catalog recompute, and the changes that are followed by one.
//!
//! Whatever changes a product's offers or their pricing marks its EAN dirty in the same
//! transaction; [`recompute`] drains the marks in one transaction, step by step: the store
//! reads a step ([`irp_store::catalog::Recompute::next_step`]), the pure
//! [`irp_core::catalog::step::decide`] prices it, the store writes what changed. `serve` runs it
//! from its catalog task when woken; a command that changed pricing runs it right after
//! ([`apply_refurbishers`], [`apply_channels`], [`decide_price`]).

use irp_core::catalog::step;
use irp_core::config::model::{Channel, Refurbisher};
use irp_store::catalog::{CATALOG_CURRENCY, ChannelApply, RecomputeStats};
use irp_store::offers::StoredOffer;
use irp_store::refurbishers::ApplyOutcome;
use irp_store::{Store, StoreError};

use crate::progress::{self, Phase, Progress};

/// Recompute every product marked dirty, in one transaction, and clear the marks.
///
/// # Errors
/// A database error; nothing is written then and the marks stay.
pub async fn recompute(store: &Store) -> Result<RecomputeStats, StoreError> {
    recompute_with(store, None).await
}

/// [`recompute`], counting the products priced on `progress` (phase `pricing`).
///
/// # Errors
/// As [`recompute`].
pub async fn recompute_with(
    store: &Store,
    progress: Option<&Progress>,
) -> Result<RecomputeStats, StoreError> {
    let Some(mut run) = store.catalog().recompute_begin().await? else {
        return Ok(RecomputeStats::default());
    };
    progress::enter(progress, Phase::Pricing, Some(run.planned()));
    while let Some(input) = run.next_step().await? {
        let ctx = run.context();
        let writes = step::decide(&ctx.sellers, &ctx.channels, CATALOG_CURRENCY, &input);
        run.write(&input, &writes).await?;
        progress::add(progress, input.eans.len() as u64);
    }
    run.commit().await
}

/// The recompute right after a change was committed with its marks: a failure is logged, not
/// returned (the change is applied; its marks stay for the next recompute).
pub async fn recompute_after_change(store: &Store) {
    if let Err(e) = recompute(store).await {
        tracing::error!(error = %e, "Recomputing the catalog failed; the marked products wait for the next recompute");
    }
}

/// Apply refurbisher documents (`Store::refurbishers().apply`) and recompute what their pricing
/// changed.
///
/// # Errors
/// What `Store::refurbishers().apply` refuses.
pub async fn apply_refurbishers(
    store: &Store,
    refurbishers: &[Refurbisher],
    actor: &str,
) -> Result<Vec<ApplyOutcome>, StoreError> {
    let (out, recomputed) = apply_refurbishers_with(store, refurbishers, actor, None).await?;
    if let Err(e) = recomputed {
        tracing::error!(error = %e, "Recomputing the catalog failed; the marked products wait for the next recompute");
    }
    Ok(out)
}

/// [`apply_refurbishers`], with the recompute's products counted on `progress` and its outcome
/// returned beside the documents' (a failed recompute leaves the documents applied and the
/// products marked for the next one).
///
/// # Errors
/// What `Store::refurbishers().apply` refuses.
pub async fn apply_refurbishers_with(
    store: &Store,
    refurbishers: &[Refurbisher],
    actor: &str,
    progress: Option<&Progress>,
) -> Result<(Vec<ApplyOutcome>, Result<RecomputeStats, StoreError>), StoreError> {
    let out = store.refurbishers().apply(refurbishers, actor).await?;
    let recomputed = recompute_with(store, progress).await;
    Ok((out, recomputed))
}

/// Apply the channels document (`Store::channels().apply`) and recompute the channel rows.
///
/// # Errors
/// What `Store::channels().apply` refuses.
pub async fn apply_channels(
    store: &Store,
    channels: &[Channel],
    actor: &str,
) -> Result<Vec<ChannelApply>, StoreError> {
    let out = store.channels().apply(channels, actor).await?;
    recompute_after_change(store).await;
    Ok(out)
}

/// An operator's decision on a held purchase price (`Store::offers().decide_price`); an accepted
/// price is priced at once.
///
/// # Errors
/// What `Store::offers().decide_price` refuses.
pub async fn decide_price(
    store: &Store,
    refurbisher_id: i64,
    sku: &str,
    accept: bool,
    actor: &str,
) -> Result<StoredOffer, StoreError> {
    let offer = store
        .offers()
        .decide_price(refurbisher_id, sku, accept, actor)
        .await?;
    recompute_after_change(store).await;
    Ok(offer)
}
