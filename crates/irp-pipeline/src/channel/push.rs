//! Prices and stock out: the channel rows the catalog recompute marked dirty go to the shop.

use std::collections::HashMap;
use std::time::Instant;

use irp_clients::shopware::{Indexing, ShopwareError};
use irp_core::shopware::{self as sw, ProductValues};
use irp_store::Store;
use irp_store::catalog::ChannelProduct;
use irp_store::channel_sync as cs;
use rust_decimal::Decimal;
use serde_json::Value;

use super::{ChannelSyncError, Shop};
use crate::progress::{Phase, Progress, Reporter};
use irp_store::progress::channel_sync_work;

/// The operation key of IRP's product upserts.
const OP_KEY: &str = "irp-products";

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
    /// Products the channel does not sell and the shop does not have: nothing to correct,
    /// nothing created, not reported.
    pub skipped: u64,
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
    push_with(store, shop, full, None).await
}

/// [`push`], counting the products sent on `progress` (phase `pushing`).
///
/// # Errors
/// As [`push`].
pub async fn push_with(
    store: &Store,
    shop: &Shop,
    full: bool,
    progress: Option<&Progress>,
) -> Result<PushReport, ChannelSyncError> {
    let key = &shop.channel.key;
    // What is waiting is counted for a full push, or when someone watches.
    let count_waiting = full || progress.is_some();
    let progress = progress.cloned().unwrap_or_default();
    let reporter = Reporter::start(store, channel_sync_work(key), &progress);
    let report = push_counting(store, shop, full, count_waiting, &progress).await;
    reporter.finish().await;
    report
}

async fn push_counting(
    store: &Store,
    shop: &Shop,
    full: bool,
    count_waiting: bool,
    progress: &Progress,
) -> Result<PushReport, ChannelSyncError> {
    let progress = Some(progress);
    let started = Instant::now();
    let requests_before = shop.api.requests();
    let key = &shop.channel.key;
    if full {
        let not_sold = irp_core::catalog::step::not_sold(&shop.channel.currency);
        store.channel_sync().mark_all(key, &not_sold).await?;
    }
    if count_waiting {
        let waiting = store.channel_sync().dirty_count(key).await?;
        crate::progress::enter(progress, Phase::Pushing, u64::try_from(waiting).ok());
    } else {
        crate::progress::enter(progress, Phase::Pushing, None);
    }
    let mut report = PushReport {
        channel: key.clone(),
        full,
        ..PushReport::default()
    };
    let result = push_rows(store, shop, &mut report, progress).await;
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
            .channel_sync()
            .pushed(
                key,
                &serde_json::to_value(&report).unwrap_or(Value::Null),
                report.error.as_deref(),
            )
            .await?;
        tracing::info!(channel = %key, rows = report.rows, pushed = report.pushed, created = report.created,
            unknown = report.unknown, skipped = report.skipped, refused = report.refused, batches = report.batches, ms = report.ms,
            error = report.error.as_deref().unwrap_or(""), "Pushed prices and stock to Shopware");
    }
    Ok(report)
}

async fn push_rows(
    store: &Store,
    shop: &Shop,
    report: &mut PushReport,
    progress: Option<&Progress>,
) -> Result<(), ChannelSyncError> {
    let key = &shop.channel.key;
    let prefix = &shop.config.product_number_prefix;
    let mut seen = std::collections::HashSet::new();
    loop {
        let rows = store
            .catalog()
            .dirty_channel_rows(key, shop.config.batch_size)
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
        let sent = rows.len() as u64;
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
        let mut skipped = Vec::new();
        for (row, number) in rows.into_iter().zip(numbers) {
            if known.contains(&number) {
                batch.push((row.clone(), update_row(&row, &number)));
            } else if !row.active {
                // Not sold here, and not in the shop: nothing to correct, nothing to create.
                skipped.push(row);
            } else if let (true, Some(tax_id)) =
                (shop.config.create_missing, shop.config.tax_id.as_deref())
            {
                let name = store
                    .catalog()
                    .product(&row.ean)
                    .await?
                    .map(|p| p.display_name().to_owned())
                    .unwrap_or_default();
                // Its content (when the channel takes content) goes at the same round.
                store
                    .channel_sync()
                    .content_forget(key, std::slice::from_ref(&row.ean))
                    .await?;
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
                    .channel_sync().product_problem(
                        &row,
                        cs::UNKNOWN_PRODUCT,
                        &format!(
                            "the shop has no product with product number {number}: create it in Shopware (or set create_missing)"
                        ),
                    )
                    .await?;
            }
        }
        if !skipped.is_empty() {
            report.skipped += skipped.len() as u64;
            store.channel_sync().products_pushed(&skipped).await?;
        }
        send(store, shop, batch, report).await?;
        crate::progress::add(progress, sent);
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
                store.channel_sync().products_pushed(&rows).await?;
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
                                    .channel_sync()
                                    .product_problem(&item.0, cs::REFUSED, &why)
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
