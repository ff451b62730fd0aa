//! Orders in: the app webhook, the order poll and the channel inbox.

use chrono::{DateTime, TimeDelta, Utc};
use irp_clients::shopware::ShopwareError;
use irp_core::shopware as sw;
use irp_store::Store;
use serde_json::{Value, json};

use super::{ChannelSyncError, Shop};

/// The order poll starts this far before the newest order seen: orders committed late with an
/// earlier `orderDateTime` are not missed (repeats are recognised).
const POLL_OVERLAP: TimeDelta = TimeDelta::minutes(10);
/// Orders per poll page.
const POLL_PAGE: usize = 50;

/// What an order poll did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PollReport {
    /// Orders read.
    pub read: u64,
    /// Orders taken in now.
    pub created: u64,
    /// Orders IRP had already.
    pub known: u64,
    /// Orders that went to the inbox.
    pub inbox: u64,
}

/// What happened to one Shopware order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum TakeIn {
    /// Taken in as IRP order `order_id`.
    Created {
        /// IRP's order id.
        order_id: i64,
    },
    /// IRP has it already.
    Known,
    /// IRP cannot read it: kept in the channel inbox.
    Inbox {
        /// Why.
        error: String,
    },
    /// Not this channel's: placed in a sales channel outside `sales_channel_ids`.
    Ignored {
        /// Why.
        reason: String,
    },
}

/// The criteria reading orders with every association IRP reads.
pub fn order_criteria(filter: Value, limit: usize, page: usize) -> Value {
    json!({
        "limit": limit,
        "page": page,
        "filter": filter,
        "sort": [{"field": "orderDateTime", "order": "ASC"}, {"field": "id", "order": "ASC"}],
        "associations": {
            "lineItems": {"associations": {"product": {}}},
            "deliveries": {"associations": {
                "shippingOrderAddress": {"associations": {"country": {}}},
                "stateMachineState": {},
            }},
            "addresses": {"associations": {"country": {}}},
            "billingAddress": {"associations": {"country": {}}},
            "orderCustomer": {},
            "stateMachineState": {},
            "currency": {},
        },
    })
}

/// Take in one Shopware order (as read with [`order_criteria`]).
///
/// # Errors
/// The store failed.
pub async fn take_in(
    store: &Store,
    shop: &Shop,
    order: &Value,
    source: &str,
) -> Result<TakeIn, ChannelSyncError> {
    let key = &shop.channel.key;
    let remote_id = order.get("id").and_then(Value::as_str).unwrap_or_default();
    if !remote_id.is_empty() && store.channel_sync().order_known(key, remote_id).await? {
        return Ok(TakeIn::Known);
    }
    let number = order.get("orderNumber").and_then(Value::as_str);
    let how = sw::order::OrderReading {
        channel: key,
        product_number_prefix: &shop.config.product_number_prefix,
        currency: &shop.channel.currency,
    };
    let inbox = |error: String| async move {
        tracing::warn!(channel = %key, order = number.unwrap_or(remote_id), error = %error, "A Shopware order could not be taken in; kept in the channel inbox");
        store
            .channel_sync()
            .inbox_add(key, remote_id, number, source, &error, order)
            .await
            .map(|()| TakeIn::Inbox { error })
    };
    let read = match sw::order::order_document(order, &how) {
        Ok(r) => r,
        Err(errors) => return Ok(inbox(join(&errors)).await?),
    };
    let doc = match irp_core::orders::parse_order(&read.document) {
        Ok(d) => d,
        Err(errors) => return Ok(inbox(join(&errors)).await?),
    };
    let actor = format!("shopware:{key}");
    let intake = match crate::orders::take_in(store, &doc, &read.document, &actor).await {
        Ok(i) => i,
        Err(irp_store::StoreError::Invalid(errors)) => return Ok(inbox(join(&errors)).await?),
        Err(e) => return Err(e.into()),
    };
    store
        .channel_sync()
        .order_link(
            intake.order.id,
            key,
            &read.order_id,
            read.delivery_id.as_deref(),
            read.delivery_state.as_deref(),
        )
        .await?;
    store
        .channel_sync()
        .inbox_resolve(key, &read.order_id)
        .await?;
    if intake.created {
        tracing::info!(channel = %key, order = %doc.order_number, id = intake.order.id, source, "Took in a Shopware order");
        Ok(TakeIn::Created {
            order_id: intake.order.id,
        })
    } else {
        Ok(TakeIn::Known)
    }
}

fn join(errors: &[irp_core::orders::FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Read the order `order_id` from the shop (with every association IRP needs) and take it in:
/// what the `checkout.order.placed` webhook leads to, since the webhook's own copy lacks
/// fields.
///
/// # Errors
/// The shop or the store failed (the webhook should be answered with a 5xx so Shopware sends
/// it again; the poll takes the order in anyway).
pub async fn take_in_by_id(
    store: &Store,
    shop: &Shop,
    order_id: &str,
    source: &str,
) -> Result<TakeIn, ChannelSyncError> {
    if store
        .channel_sync()
        .order_known(&shop.channel.key, order_id)
        .await?
    {
        return Ok(TakeIn::Known);
    }
    let criteria = order_criteria(
        json!([{"type": "equals", "field": "id", "value": order_id}]),
        1,
        1,
    );
    let (data, _) = shop
        .api
        .search("order", &criteria)
        .await
        .map_err(|e| shop.err(e))?;
    match data.first() {
        Some(order) => {
            let sales_channel = order
                .get("salesChannelId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if let Some(ids) = &shop.config.sales_channel_ids
                && !ids.iter().any(|id| id == sales_channel)
            {
                return Ok(TakeIn::Ignored {
                    reason: format!(
                        "placed in sales channel {sales_channel}, not one of the channel's sales_channel_ids"
                    ),
                });
            }
            take_in(store, shop, order, source).await
        }
        None => Err(shop.err(ShopwareError::Answer(format!(
            "the shop has no order {order_id} (the webhook named it)"
        )))),
    }
}

/// The body of a `checkout.order.placed` webhook, signature already checked: take the order in.
///
/// # Errors
/// A body that is not such a webhook ([`ChannelSyncError::Shopware`] with an `Answer`); the
/// shop or the store failed.
pub async fn take_in_webhook(
    store: &Store,
    shop: &Shop,
    body: &Value,
) -> Result<TakeIn, ChannelSyncError> {
    let (order_id, _) =
        sw::order::order_of_webhook(body).map_err(|why| shop.err(ShopwareError::Answer(why)))?;
    let order_id = order_id.to_owned();
    take_in_by_id(store, shop, &order_id, "webhook").await
}

/// Poll the shop for orders placed since the newest one seen (the first poll looks back
/// `order_lookback_hours`) and take them in.
///
/// # Errors
/// The shop or the store failed; orders read before the failure are taken in.
pub async fn poll_orders(store: &Store, shop: &Shop) -> Result<PollReport, ChannelSyncError> {
    let key = &shop.channel.key;
    let state = store.channel_sync().state(key).await?;
    let since = state.orders_seen_until.map_or_else(
        || irp_store::now() - TimeDelta::hours(shop.config.order_lookback_hours),
        |t| t - POLL_OVERLAP,
    );
    let mut filter = vec![json!({"type": "range", "field": "orderDateTime",
        "parameters": {"gte": since.format("%Y-%m-%dT%H:%M:%S%.3f+00:00").to_string()}})];
    if let Some(ids) = &shop.config.sales_channel_ids {
        filter.push(json!({"type": "equalsAny", "field": "salesChannelId", "value": ids}));
    }
    let mut report = PollReport::default();
    let mut newest: Option<DateTime<Utc>> = state.orders_seen_until;
    let mut page = 1;
    let result = async {
        loop {
            shop.renew(store).await?;
            let criteria = order_criteria(Value::Array(filter.clone()), POLL_PAGE, page);
            let (data, _) = shop
                .api
                .search("order", &criteria)
                .await
                .map_err(|e| shop.err(e))?;
            for order in &data {
                report.read += 1;
                match take_in(store, shop, order, "poll").await? {
                    TakeIn::Created { .. } => report.created += 1,
                    TakeIn::Known => report.known += 1,
                    TakeIn::Inbox { .. } => report.inbox += 1,
                    TakeIn::Ignored { .. } => {}
                }
                if let Some(at) = order
                    .get("orderDateTime")
                    .and_then(Value::as_str)
                    .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                {
                    // An order dated in the future (clock skew, an edit) must not move the
                    // poll past orders still to come.
                    let at = at.with_timezone(&Utc).min(irp_store::now());
                    newest = Some(newest.map_or(at, |n| n.max(at)));
                }
            }
            if data.len() < POLL_PAGE {
                return Ok::<_, ChannelSyncError>(());
            }
            page += 1;
        }
    }
    .await;
    let next = (shop.config.order_poll_secs > 0)
        .then(|| irp_store::now() + TimeDelta::seconds(shop.config.order_poll_secs));
    store.channel_sync().orders_seen(key, newest, next).await?;
    result.map(|()| report)
}

/// How long an inbox entry waits before it is tried again.
pub(super) const INBOX_RETRY: TimeDelta = TimeDelta::minutes(5);

/// Try the channel's inbox again (orders IRP could not read, once the cause may be fixed: a
/// product's EAN, the prefix): each entry last tried longer than `age` ago (rounds use
/// `INBOX_RETRY`); returns how many came in.
///
/// # Errors
/// The store failed.
pub async fn retry_inbox(
    store: &Store,
    shop: &Shop,
    age: TimeDelta,
) -> Result<u64, ChannelSyncError> {
    let key = &shop.channel.key;
    let mut taken = 0;
    for e in store
        .channel_sync()
        .inbox_due(key, irp_store::now() - age, 20)
        .await?
    {
        match take_in_by_id(store, shop, &e.remote_order_id, &e.source).await {
            Ok(TakeIn::Created { .. }) => taken += 1,
            Ok(TakeIn::Known | TakeIn::Ignored { .. }) => {
                store
                    .channel_sync()
                    .inbox_resolve(key, &e.remote_order_id)
                    .await?;
            }
            Ok(TakeIn::Inbox { .. }) => {}
            Err(ChannelSyncError::Shopware { error, .. }) => {
                store
                    .channel_sync()
                    .inbox_tried(key, &e.remote_order_id, &shop.scrub(&error.to_string()))
                    .await?;
            }
            Err(other) => return Err(other),
        }
    }
    Ok(taken)
}
