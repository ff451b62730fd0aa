//! The storefront channels' Shopware sync (seed 003: Refurbished Direct, Econocom):
//!
//! - **prices and stock out**: the channel rows the catalog recompute marked dirty go to the
//!   shop through `_action/sync` upserts addressed by product number, in batches of
//!   `batch_size` with queue indexing. Products the shop lacks are reported (or created from
//!   PIM data with `create_missing`). A batch the shop refuses (all or nothing since 6.5) loses
//!   the rows its error pointers name, else is split in halves, until the bad rows are
//!   isolated and reported; the rest goes through. One instance syncs a channel at a time and
//!   records each row's revision, so an older value never overwrites a newer one.
//! - **orders in**: the `checkout.order.placed` app webhook ([`take_in_webhook`]) and a poll of
//!   `POST /api/search/order` since the newest order seen ([`poll_orders`]); both re-read the
//!   order with every association IRP needs and take it in through the orders intake
//!   (idempotent on channel + order number). An order IRP cannot read goes to the channel
//!   inbox, never lost.
//! - **tracking out**: matched shipments put every tracking code of the order on its Shopware
//!   delivery and move it with `ship` (all parts shipped) or `ship_partially`; a refusal (an
//!   illegal transition) is recorded and reported, not retried forever.
//! - **cancellations**: when every supplier order of an order is cancelled, the delivery or the
//!   order is cancelled in the shop, per `on_supplier_cancel`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use irp_core::config::Channel;
use irp_core::config::model::{OnSupplierCancel, ShopwareConfig};
use irp_core::shopware::{self as sw, ProductValues};
use irp_sources::shopware::{Indexing, Shopware, ShopwareError};
use irp_store::Store;
use irp_store::catalog::ChannelProduct;
use irp_store::channel_sync as cs;
use irp_store::secrets::SecretKey;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// How long a channel's sync claim lasts: renewed before every batch and poll page, and longer
/// than one request can take with its retries (4 attempts of `timeout_secs` 30 and backoff).
pub const LEASE: TimeDelta = TimeDelta::minutes(5);
/// The order poll starts this far before the newest order seen: orders committed late with an
/// earlier `orderDateTime` are not missed (repeats are recognised).
const POLL_OVERLAP: TimeDelta = TimeDelta::minutes(10);
/// Orders per poll page.
const POLL_PAGE: usize = 50;
/// The operation key of IRP's product upserts.
const OP_KEY: &str = "irp-products";

/// Why a channel cannot be synced.
#[derive(Debug, thiserror::Error)]
pub enum ChannelSyncError {
    /// No such channel.
    #[error("no channel `{0}`: `irp channel list` shows the configured ones")]
    UnknownChannel(String),
    /// The channel has no (enabled) `shopware` block.
    #[error(
        "channel `{0}` has no enabled `shopware` block: add one to its channels document and apply it"
    )]
    NotConnected(String),
    /// A reference in the `shopware` block cannot be resolved.
    #[error("channel `{channel}`: {why}")]
    Missing {
        /// Channel key.
        channel: String,
        /// Which references.
        why: String,
    },
    /// Shopware failed.
    #[error("channel `{channel}`: {error}")]
    Shopware {
        /// Channel key.
        channel: String,
        /// What failed.
        error: ShopwareError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] irp_store::StoreError),
}

/// A channel with its shop's client.
#[derive(Debug)]
pub struct Shop {
    /// The channel.
    pub channel: Channel,
    /// Its `shopware` block.
    pub config: ShopwareConfig,
    /// The shop's client (references resolved).
    pub api: Shopware,
    /// The shop secret for webhook signatures, resolved.
    shop_secret: Option<String>,
    /// Shows references instead of the resolved credentials in what is stored and shown.
    scrubber: irp_core::secret_ref::Scrubber,
    /// Who holds the channel's sync claim for the work done with this shop (renewed before
    /// every batch; the work stops when another instance took the claim over).
    holder: std::sync::Mutex<Option<String>>,
}

impl Shop {
    /// Whether `signature` is the shop's signature of `body` (false without a shop secret).
    pub fn verify(&self, body: &[u8], signature: &str) -> bool {
        self.shop_secret
            .as_deref()
            .is_some_and(|s| sw::verify(body, signature, s))
    }

    /// `message` (an error of the shop, which may echo a request) as it may be stored and shown.
    pub fn scrub(&self, message: &str) -> String {
        self.scrubber.scrub(message)
    }

    fn err(&self, error: ShopwareError) -> ChannelSyncError {
        ChannelSyncError::Shopware {
            channel: self.channel.key.clone(),
            error,
        }
    }
}

/// The client of `key`'s shop, with every reference of its `shopware` block resolved.
///
/// # Errors
/// See [`ChannelSyncError`].
pub async fn connect(
    store: &Store,
    secret_key: Option<&SecretKey>,
    key: &str,
) -> Result<Shop, ChannelSyncError> {
    let channel = store
        .channels_list()
        .await?
        .into_iter()
        .map(|c| c.channel)
        .find(|c| c.key == key)
        .ok_or_else(|| ChannelSyncError::UnknownChannel(key.to_owned()))?;
    let config = channel
        .shopware
        .clone()
        .filter(|s| s.enabled)
        .ok_or_else(|| ChannelSyncError::NotConnected(key.to_owned()))?;
    let doc = json!({"channels": {key: {"shopware": {
        "url": config.url, "client_id": config.client_id, "client_secret": config.client_secret,
        "shop_secret": config.shop_secret,
    }}}});
    let namespace = format!("channel.{key}");
    let scope = irp_store::secrets::Scope::of(&namespace);
    let resolved = match store.resolve_references(secret_key, scope, &doc).await {
        Ok(r) => r,
        Err(irp_store::StoreError::NotFound(why)) => {
            return Err(ChannelSyncError::Missing {
                channel: key.to_owned(),
                why,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let v = &resolved.expose()["channels"][key]["shopware"];
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let api = Shopware::new(
        &text("url"),
        &text("client_id"),
        &text("client_secret"),
        Duration::from_secs(u64::try_from(config.timeout_secs).unwrap_or(30)),
    )
    .map_err(|error| ChannelSyncError::Shopware {
        channel: key.to_owned(),
        error,
    })?;
    let shop_secret = v["shop_secret"].as_str().map(str::to_owned);
    Ok(Shop {
        channel,
        config,
        api,
        shop_secret,
        scrubber: resolved.scrubber().clone(),
        holder: std::sync::Mutex::new(None),
    })
}

impl Shop {
    /// The work that follows is done holding the channel's claim as `owner` (`None`: unclaimed,
    /// as in tests and the webhook's single order).
    pub fn hold(&self, owner: Option<&str>) {
        if let Ok(mut h) = self.holder.lock() {
            *h = owner.map(str::to_owned);
        }
    }

    /// Extend the claim before the next step; an error when another instance holds it now.
    async fn renew(&self, store: &Store) -> Result<(), ChannelSyncError> {
        let owner = self.holder.lock().ok().and_then(|h| h.clone());
        let Some(owner) = owner else {
            return Ok(());
        };
        if store
            .channel_sync_claim(&self.channel.key, &owner, irp_store::now() + LEASE)
            .await?
        {
            Ok(())
        } else {
            Err(self.err(ShopwareError::Answer(format!(
                "the channel's sync claim of {owner} expired and another instance holds it now; stopped (it goes on with the rest)"
            ))))
        }
    }
}

/// What a push did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushReport {
    /// Channel key.
    pub channel: String,
    /// Whether every product was sent (`--full`).
    pub full: bool,
    /// Rows read to push.
    pub rows: u64,
    /// Rows the shop took (created ones included).
    pub pushed: u64,
    /// Products created in the shop (`create_missing`).
    pub created: u64,
    /// Products the shop does not have (reported).
    pub unknown: u64,
    /// Rows the shop refused (reported).
    pub refused: u64,
    /// `_action/sync` requests sent (refused ones included).
    pub batches: u64,
    /// All requests to the shop (searches, token, retries).
    pub requests: u64,
    /// Milliseconds.
    pub ms: u64,
    /// Why it stopped early, when it did (the rest stays marked for the next push).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Push what changed in `shop`'s channel (every product with `full`). The report is stored
/// as the channel's last push; a push stopped by the shop or the network returns the report
/// with its `error` (what was pushed is recorded, the rest stays marked).
///
/// # Errors
/// The store failed.
pub async fn push(store: &Store, shop: &Shop, full: bool) -> Result<PushReport, ChannelSyncError> {
    let started = Instant::now();
    let requests_before = shop.api.requests();
    let key = &shop.channel.key;
    if full {
        store.channel_mark_all(key).await?;
    }
    let mut report = PushReport {
        channel: key.clone(),
        full,
        ..PushReport::default()
    };
    let result = push_rows(store, shop, &mut report).await;
    report.requests = u64::from(shop.api.requests() - requests_before);
    report.ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Ok(()) => {}
        Err(ChannelSyncError::Shopware { error, .. }) => {
            report.error = Some(shop.scrub(&error.to_string()));
        }
        Err(e) => return Err(e),
    }
    if report.rows > 0 || report.error.is_some() || full {
        store
            .channel_sync_pushed(
                key,
                &serde_json::to_value(&report).unwrap_or(Value::Null),
                report.error.as_deref(),
            )
            .await?;
        tracing::info!(channel = %key, rows = report.rows, pushed = report.pushed, created = report.created,
            unknown = report.unknown, refused = report.refused, batches = report.batches, ms = report.ms,
            error = report.error.as_deref().unwrap_or(""), "Pushed prices and stock to Shopware");
    }
    Ok(report)
}

async fn push_rows(
    store: &Store,
    shop: &Shop,
    report: &mut PushReport,
) -> Result<(), ChannelSyncError> {
    let key = &shop.channel.key;
    let prefix = &shop.config.product_number_prefix;
    let mut seen = std::collections::HashSet::new();
    loop {
        let rows = store
            .channel_products_dirty(key, shop.config.batch_size)
            .await?;
        if rows.is_empty() {
            return Ok(());
        }
        // Every row is recorded as pushed or reported, so none comes back unchanged; if one
        // did, stop rather than send it forever.
        if !rows
            .iter()
            .any(|r| seen.insert((r.ean.clone(), r.revision)))
        {
            return Err(shop.err(ShopwareError::Answer(format!(
                "{} row(s) stayed marked after they were pushed (EAN {} first); stopped",
                rows.len(),
                rows[0].ean
            ))));
        }
        report.rows += rows.len() as u64;
        let numbers: Vec<String> = rows
            .iter()
            .map(|r| sw::product_number(prefix, &r.ean))
            .collect();
        let known = shop
            .api
            .known_product_numbers(&numbers)
            .await
            .map_err(|e| shop.err(e))?;
        let mut batch = Vec::with_capacity(rows.len());
        for (row, number) in rows.into_iter().zip(numbers) {
            if known.contains(&number) {
                batch.push((row.clone(), update_row(&row, &number)));
            } else if let (true, Some(tax_id)) =
                (shop.config.create_missing, shop.config.tax_id.as_deref())
            {
                let name = store
                    .product_get(&row.ean)
                    .await?
                    .map(|p| p.display_name().to_owned())
                    .unwrap_or_default();
                let id = sw::created_product_id(key, &row.ean);
                let values = values(&row, &number);
                batch.push((
                    row.clone(),
                    sw::product_create(&values, &id, &name, &row.ean, tax_id),
                ));
                report.created += 1;
            } else {
                report.unknown += 1;
                store
                    .channel_product_problem(
                        &row,
                        cs::UNKNOWN_PRODUCT,
                        &format!(
                            "the shop has no product with product number {number}: create it in Shopware (or set create_missing)"
                        ),
                    )
                    .await?;
            }
        }
        send(store, shop, batch, report).await?;
    }
}

fn values<'a>(row: &ChannelProduct, number: &'a str) -> ProductValues<'a> {
    ProductValues {
        number,
        price_incl_minor: row.price_incl_minor,
        tax_percentage: row
            .tax_percentage
            .as_deref()
            .and_then(|t| t.parse::<Decimal>().ok()),
        purchase_minor: row.purchase_minor,
        stock: row.stock,
        active: row.active,
    }
}

fn update_row(row: &ChannelProduct, number: &str) -> Value {
    sw::product_update(&values(row, number))
}

/// Send `batch`; on a refusal, report the rows the error points at (or split the batch in
/// halves) and send the rest, until every row went through or was reported.
async fn send(
    store: &Store,
    shop: &Shop,
    batch: Vec<(ChannelProduct, Value)>,
    report: &mut PushReport,
) -> Result<(), ChannelSyncError> {
    let mut queue = vec![batch];
    while let Some(batch) = queue.pop() {
        if batch.is_empty() {
            continue;
        }
        shop.renew(store).await?;
        report.batches += 1;
        let payload: Vec<Value> = batch.iter().map(|(_, v)| v.clone()).collect();
        match shop
            .api
            .upsert(OP_KEY, "product", payload, Indexing::Queue)
            .await
        {
            Ok(_) => {
                let rows: Vec<ChannelProduct> = batch.into_iter().map(|(r, _)| r).collect();
                report.pushed += rows.len() as u64;
                store.channel_products_pushed(&rows).await?;
            }
            // Refused without naming a row, and not for a row's values (403: the integration
            // may not write products; an envelope the shop does not take): every row would
            // be refused alike — stop, the rows stay marked.
            Err(e)
                if e.is_refusal()
                    && e.errors().iter().all(|x| x.pointer.is_none())
                    && (e.status() != Some(400)
                        || e.errors()
                            .iter()
                            .any(|x| x.code == "FRAMEWORK__INVALID_SYNC_OPERATION")) =>
            {
                return Err(shop.err(e));
            }
            Err(e) if e.is_refusal() => {
                let mut named: HashMap<usize, Vec<String>> = HashMap::new();
                for err in e.errors() {
                    if let Some(i) = err
                        .pointer
                        .as_deref()
                        .and_then(|p| sw::row_of_pointer(p, OP_KEY))
                        .filter(|i| *i < batch.len())
                    {
                        named.entry(i).or_default().push(format!(
                            "Shopware refused the row (HTTP {}): {err}",
                            e.status().unwrap_or_default()
                        ));
                    }
                }
                if batch.len() == 1 || !named.is_empty() {
                    let whole = shop.scrub(&e.to_string());
                    let mut rest = Vec::new();
                    for (i, item) in batch.into_iter().enumerate() {
                        let why = match named.get(&i) {
                            Some(list) => Some(list.join("; ")),
                            None if named.is_empty() => Some(whole.clone()),
                            None => None,
                        };
                        match why {
                            Some(why) => {
                                report.refused += 1;
                                store
                                    .channel_product_problem(&item.0, cs::REFUSED, &why)
                                    .await?;
                            }
                            None => rest.push(item),
                        }
                    }
                    queue.push(rest);
                } else {
                    let mut left = batch;
                    let right = left.split_off(left.len() / 2);
                    queue.push(right);
                    queue.push(left);
                }
            }
            Err(e) => return Err(shop.err(e)),
        }
    }
    Ok(())
}

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
    if !remote_id.is_empty() && store.channel_order_known(key, remote_id).await? {
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
            .channel_inbox_add(key, remote_id, number, source, &error, order)
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
    let intake = match store.order_create(&doc, &read.document, &actor).await {
        Ok(i) => i,
        Err(irp_store::StoreError::Invalid(errors)) => return Ok(inbox(join(&errors)).await?),
        Err(e) => return Err(e.into()),
    };
    store
        .channel_order_link(
            intake.order.id,
            key,
            &read.order_id,
            read.delivery_id.as_deref(),
            read.delivery_state.as_deref(),
        )
        .await?;
    store.channel_inbox_resolve(key, &read.order_id).await?;
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
        .channel_order_known(&shop.channel.key, order_id)
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
    let state = store.channel_sync_state(key).await?;
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
    store.channel_orders_seen(key, newest, next).await?;
    result.map(|()| report)
}

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
    for order_id in store.tracking_due(&shop.channel.key, 100).await? {
        let t = store.order_tracking(order_id).await?;
        if t.queued.is_empty() {
            continue;
        }
        let Some(remote) = t.remote.clone() else {
            report.not_applicable += 1;
            store
                .tracking_settled(&t.queued, cs::TRACKING_NOT_APPLICABLE, None)
                .await?;
            continue;
        };
        let Some(delivery) = remote.remote_delivery_id.clone() else {
            report.refused += 1;
            store
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
                    .tracking_settled(&t.queued, cs::TRACKING_PUSHED, None)
                    .await?;
                store
                    .channel_order_tracked(order_id, &t.codes, state.as_deref())
                    .await?;
                tracing::info!(channel = %shop.channel.key, order_id, codes = ?t.codes, state = state.as_deref().unwrap_or(""), "Tracking on the Shopware delivery");
            }
            Err(e) if e.is_refusal() => {
                report.refused += 1;
                let why = shop.scrub(&e.to_string());
                tracing::warn!(channel = %shop.channel.key, order_id, error = %why, "The shop refused the tracking; reported, not retried");
                store
                    .tracking_settled(&t.queued, cs::TRACKING_REFUSED, Some(&why))
                    .await?;
                store.channel_sync_error(&shop.channel.key, &why).await?;
            }
            Err(e) => {
                // The shop is down or the credentials are refused: the tracking waits (never
                // given up: it goes as soon as the shop answers again), retried with backoff
                // up to an hour apart.
                let why = shop.scrub(&e.to_string());
                let attempts = store.tracking_attempts(t.queued[0]).await? + 1;
                report.later += 1;
                let wait = TimeDelta::seconds((30 * (1_i64 << attempts.clamp(0, 7))).min(3600));
                store
                    .tracking_later(&t.queued, &why, irp_store::now() + wait)
                    .await?;
                store.channel_sync_error(&shop.channel.key, &why).await?;
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
        .tracking_completions_due(&shop.channel.key, 20)
        .await?
    {
        let t = store.order_tracking(order_id).await?;
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
                    .channel_order_tracked(order_id, &t.codes, state.as_deref())
                    .await?;
            }
            Err(e) if e.is_refusal() => {
                // Not moved again: the shop's answer is in the channel's last error.
                report.refused += 1;
                let why = shop.scrub(&e.to_string());
                store
                    .channel_order_tracked(order_id, &t.codes, Some("refused"))
                    .await?;
                store.channel_sync_error(&shop.channel.key, &why).await?;
            }
            Err(e) => {
                report.later += 1;
                store
                    .channel_sync_error(&shop.channel.key, &shop.scrub(&e.to_string()))
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
        .channel_cancellations_due(&shop.channel.key, 100)
        .await?
    {
        let id = if entity == "order" {
            Some(co.remote_order_id.clone())
        } else {
            co.remote_delivery_id.clone()
        };
        let Some(id) = id else {
            store
                .channel_cancel_reported(
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
                    .channel_cancel_reported(co.order_id, None, delivery_state)
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
                    .channel_cancel_reported(co.order_id, None, delivery_state)
                    .await?;
            }
            Err(e) if e.is_refusal() => {
                store
                    .channel_cancel_reported(co.order_id, Some(&shop.scrub(&e.to_string())), None)
                    .await?;
            }
            Err(e) => {
                store
                    .channel_sync_error(&shop.channel.key, &shop.scrub(&e.to_string()))
                    .await?;
            }
        }
    }
    Ok(n)
}

/// One round for one channel: push what changed, poll orders when due, deliver tracking and
/// cancellations. Errors of one part are recorded and do not stop the others.
///
/// # Errors
/// The store failed.
pub async fn round(store: &Store, shop: &Shop) -> Result<(), ChannelSyncError> {
    let key = &shop.channel.key;
    if store.channel_dirty_count(key).await? > 0 {
        push(store, shop, false).await?;
    }
    let state = store.channel_sync_state(key).await?;
    let due = shop.config.order_poll_secs > 0
        && state
            .next_order_poll_at
            .is_none_or(|t| t <= irp_store::now());
    if due {
        match poll_orders(store, shop).await {
            Ok(r) if r.created > 0 || r.inbox > 0 => {
                tracing::info!(channel = %key, read = r.read, created = r.created, inbox = r.inbox, "Polled Shopware for orders");
            }
            Ok(_) => {}
            Err(ChannelSyncError::Shopware { error, .. }) => {
                tracing::warn!(channel = %key, error = %error, "Polling Shopware for orders failed");
                store
                    .channel_sync_error(key, &shop.scrub(&error.to_string()))
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    retry_inbox(store, shop, INBOX_RETRY).await?;
    push_tracking(store, shop).await?;
    report_cancellations(store, shop).await?;
    Ok(())
}

/// How long `run` keeps a shop's client before setting it up again (re-reading its secrets).
const RECONNECT_EVERY: Duration = Duration::from_secs(300);

/// How long an inbox entry waits before it is tried again.
const INBOX_RETRY: TimeDelta = TimeDelta::minutes(5);

/// Try the channel's inbox again (orders IRP could not read, once the cause may be fixed: a
/// product's EAN, the prefix): each entry last tried longer than `age` ago (rounds use
/// [`INBOX_RETRY`]); returns how many came in.
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
        .channel_inbox_due(key, irp_store::now() - age, 20)
        .await?
    {
        match take_in_by_id(store, shop, &e.remote_order_id, &e.source).await {
            Ok(TakeIn::Created { .. }) => taken += 1,
            Ok(TakeIn::Known | TakeIn::Ignored { .. }) => {
                store.channel_inbox_resolve(key, &e.remote_order_id).await?;
            }
            Ok(TakeIn::Inbox { .. }) => {}
            Err(ChannelSyncError::Shopware { error, .. }) => {
                store
                    .channel_inbox_tried(key, &e.remote_order_id, &shop.scrub(&error.to_string()))
                    .await?;
            }
            Err(other) => return Err(other),
        }
    }
    Ok(taken)
}

/// Keep every channel with an enabled `shopware` block in sync until `stop` turns true: a
/// round per channel every `tick`, and at once when the catalog changed channel rows or a
/// shipment was matched. With several instances on one database each channel is synced by
/// one of them at a time.
pub async fn run(
    store: Store,
    owner: String,
    secret_key: Option<SecretKey>,
    tick: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let signal = store.channels_signal();
    let mut shops: HashMap<String, (ShopwareConfig, Arc<Shop>, Instant)> = HashMap::new();
    loop {
        if *stop.borrow() {
            break;
        }
        match store.channels_list().await {
            Ok(channels) => {
                for c in channels {
                    let Some(cfg) = c.channel.shopware.clone().filter(|s| s.enabled) else {
                        continue;
                    };
                    let key = c.channel.key.clone();
                    // Set up again when the settings changed, and every few minutes so a
                    // secret rotated behind an unchanged `${secret:…}` reference is read.
                    let shop = match shops.get(&key) {
                        Some((old, shop, since))
                            if *old == cfg && since.elapsed() < RECONNECT_EVERY =>
                        {
                            shop.clone()
                        }
                        _ => match connect(&store, secret_key.as_ref(), &key).await {
                            Ok(s) => {
                                let s = Arc::new(s);
                                shops.insert(key.clone(), (cfg, s.clone(), Instant::now()));
                                s
                            }
                            Err(e) => {
                                tracing::error!(channel = %key, error = %e, "Channel sync cannot start");
                                let _ = store.channel_sync_error(&key, &e.to_string()).await;
                                continue;
                            }
                        },
                    };
                    match store
                        .channel_sync_claim(&key, &owner, irp_store::now() + LEASE)
                        .await
                    {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            tracing::error!(channel = %key, error = %e, "Claiming the channel sync failed");
                            continue;
                        }
                    }
                    shop.hold(Some(&owner));
                    if let Err(e) = round(&store, &shop).await {
                        tracing::error!(channel = %key, error = %e, "Channel sync round failed");
                    }
                    if let Err(e) = store.channel_sync_release(&key, &owner).await {
                        tracing::warn!(channel = %key, error = %e, "Releasing the channel sync claim failed; it expires by itself");
                    }
                }
            }
            Err(e) => tracing::error!(error = %e, "Channel sync could not read the channels"),
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = signal.notified() => {}
            _ = stop.changed() => {}
        }
    }
}
