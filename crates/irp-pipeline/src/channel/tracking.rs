//! Tracking and cancellations out: matched shipments and cancelled supplier orders reach the
//! shop's deliveries and orders.

use chrono::TimeDelta;
use irp_clients::shopware::ShopwareError;
use irp_core::config::model::OnSupplierCancel;
use irp_store::Store;
use irp_store::channel_sync as cs;

use super::{ChannelSyncError, Shop};

/// What a tracking push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrackingReport {
    /// Orders whose delivery got its tracking.
    pub pushed: u64,
    /// Orders the shop refused (reported).
    pub refused: u64,
    /// Orders to try again later.
    pub later: u64,
    /// Orders that did not come from the shop.
    pub not_applicable: u64,
}

/// Put the tracking of newly matched shipments on their orders' Shopware deliveries.
///
/// # Errors
/// The store failed.
pub async fn push_tracking(store: &Store, shop: &Shop) -> Result<TrackingReport, ChannelSyncError> {
    let mut report = TrackingReport::default();
    complete_deliveries(store, shop, &mut report).await?;
    for order_id in store
        .channel_sync()
        .tracking_due(&shop.channel.key, 100)
        .await?
    {
        let t = store.channel_sync().order_tracking(order_id).await?;
        if t.queued.is_empty() {
            continue;
        }
        let Some(remote) = t.remote.clone() else {
            report.not_applicable += 1;
            store
                .channel_sync()
                .tracking_settled(&t.queued, cs::TRACKING_NOT_APPLICABLE, None)
                .await?;
            continue;
        };
        let Some(delivery) = remote.remote_delivery_id.clone() else {
            report.refused += 1;
            store
                .channel_sync()
                .tracking_settled(
                    &t.queued,
                    cs::TRACKING_REFUSED,
                    Some("the Shopware order has no delivery to put tracking on"),
                )
                .await?;
            continue;
        };
        match deliver_tracking(shop, &t, &remote, &delivery).await {
            Ok(state) => {
                report.pushed += 1;
                store
                    .channel_sync()
                    .tracking_settled(&t.queued, cs::TRACKING_PUSHED, None)
                    .await?;
                store
                    .channel_sync()
                    .order_tracked(order_id, &t.codes, state.as_deref())
                    .await?;
                tracing::info!(channel = %shop.channel.key, order_id, codes = ?t.codes, state = state.as_deref().unwrap_or(""), "Tracking on the Shopware delivery");
            }
            Err(e) if e.is_refusal() => {
                report.refused += 1;
                let why = shop.scrub(&e.to_string());
                tracing::warn!(channel = %shop.channel.key, order_id, error = %why, "The shop refused the tracking; reported, not retried");
                store
                    .channel_sync()
                    .tracking_settled(&t.queued, cs::TRACKING_REFUSED, Some(&why))
                    .await?;
                store.channel_sync().error(&shop.channel.key, &why).await?;
            }
            Err(e) => {
                // The shop is down or the credentials are refused: the tracking waits (never
                // given up: it goes as soon as the shop answers again), retried with backoff
                // up to an hour apart.
                let why = shop.scrub(&e.to_string());
                let attempts = store.channel_sync().tracking_attempts(t.queued[0]).await? + 1;
                report.later += 1;
                let wait = TimeDelta::seconds((30 * (1_i64 << attempts.clamp(0, 7))).min(3600));
                store
                    .channel_sync()
                    .tracking_later(&t.queued, &why, irp_store::now() + wait)
                    .await?;
                store.channel_sync().error(&shop.channel.key, &why).await?;
            }
        }
    }
    Ok(report)
}

/// Deliveries left `shipped_partially` whose other supplier orders were cancelled after the
/// first shipped: moved on to `shipped` (nothing new is queued for them otherwise).
async fn complete_deliveries(
    store: &Store,
    shop: &Shop,
    report: &mut TrackingReport,
) -> Result<(), ChannelSyncError> {
    for order_id in store
        .channel_sync()
        .tracking_completions_due(&shop.channel.key, 20)
        .await?
    {
        let t = store.channel_sync().order_tracking(order_id).await?;
        let (Some(remote), true) = (t.remote.clone(), t.all_shipped) else {
            continue;
        };
        let Some(delivery) = remote.remote_delivery_id.clone() else {
            continue;
        };
        match deliver_tracking(shop, &t, &remote, &delivery).await {
            Ok(state) => {
                report.pushed += 1;
                store
                    .channel_sync()
                    .order_tracked(order_id, &t.codes, state.as_deref())
                    .await?;
            }
            Err(e) if e.is_refusal() => {
                // Not moved again: the shop's answer is in the channel's last error.
                report.refused += 1;
                let why = shop.scrub(&e.to_string());
                store
                    .channel_sync()
                    .order_tracked(order_id, &t.codes, Some("refused"))
                    .await?;
                store.channel_sync().error(&shop.channel.key, &why).await?;
            }
            Err(e) => {
                report.later += 1;
                store
                    .channel_sync()
                    .error(&shop.channel.key, &shop.scrub(&e.to_string()))
                    .await?;
            }
        }
    }
    Ok(())
}

/// Set the codes and move the delivery; returns its new state when it moved.
async fn deliver_tracking(
    shop: &Shop,
    t: &cs::OrderTracking,
    remote: &cs::ChannelOrder,
    delivery: &str,
) -> Result<Option<String>, ShopwareError> {
    let already = remote
        .tracking_codes
        .as_ref()
        .is_some_and(|c| c.0 == t.codes);
    if !already {
        shop.api.set_tracking_codes(delivery, &t.codes).await?;
    }
    let state = remote.delivery_state.as_deref().unwrap_or("open");
    let transition = match (t.all_shipped, state) {
        (true, "open" | "shipped_partially") => "ship",
        (false, "open") => "ship_partially",
        _ => return Ok(None),
    };
    match shop
        .api
        .transition("order_delivery", delivery, transition)
        .await
    {
        Ok(s) => Ok(Some(s)),
        // Our last known state was stale: the delivery is where we wanted it already.
        Err(e)
            if e.errors().iter().any(|x| {
                x.code == "SYSTEM__ILLEGAL_STATE_TRANSITION"
                    && ((transition == "ship" && x.detail.contains("from state \"shipped\""))
                        || (transition == "ship_partially"
                            && x.detail.contains("from state \"shipped_partially\"")))
            }) =>
        {
            Ok(Some(
                if transition == "ship" {
                    "shipped"
                } else {
                    "shipped_partially"
                }
                .to_owned(),
            ))
        }
        Err(e) => Err(e),
    }
}

/// Tell the shop about orders whose every supplier order is cancelled, per
/// `on_supplier_cancel`. Returns how many were reported.
///
/// # Errors
/// The store failed.
pub async fn report_cancellations(store: &Store, shop: &Shop) -> Result<u64, ChannelSyncError> {
    let (entity, transition) = match shop.config.on_supplier_cancel {
        OnSupplierCancel::None => return Ok(0),
        OnSupplierCancel::CancelDelivery => ("order_delivery", "cancel"),
        OnSupplierCancel::CancelOrder => ("order", "cancel"),
    };
    let mut n = 0;
    for co in store
        .channel_sync()
        .cancellations_due(&shop.channel.key, 100)
        .await?
    {
        let id = if entity == "order" {
            Some(co.remote_order_id.clone())
        } else {
            co.remote_delivery_id.clone()
        };
        let Some(id) = id else {
            store
                .channel_sync()
                .cancel_reported(
                    co.order_id,
                    Some("the Shopware order has no delivery"),
                    None,
                )
                .await?;
            continue;
        };
        match shop.api.transition(entity, &id, transition).await {
            Ok(state) => {
                n += 1;
                let delivery_state = (entity == "order_delivery").then_some(state.as_str());
                store
                    .channel_sync()
                    .cancel_reported(co.order_id, None, delivery_state)
                    .await?;
            }
            // Cancelled already (by someone in the shop, or by an earlier try whose answer was
            // lost): what was asked for holds.
            Err(e)
                if e.errors().iter().any(|x| {
                    x.code == "SYSTEM__ILLEGAL_STATE_TRANSITION"
                        && x.detail.contains("from state \"cancelled\"")
                }) =>
            {
                let delivery_state = (entity == "order_delivery").then_some("cancelled");
                store
                    .channel_sync()
                    .cancel_reported(co.order_id, None, delivery_state)
                    .await?;
            }
            Err(e) if e.is_refusal() => {
                store
                    .channel_sync()
                    .cancel_reported(co.order_id, Some(&shop.scrub(&e.to_string())), None)
                    .await?;
            }
            Err(e) => {
                store
                    .channel_sync()
                    .error(&shop.channel.key, &shop.scrub(&e.to_string()))
                    .await?;
            }
        }
    }
    Ok(n)
}
