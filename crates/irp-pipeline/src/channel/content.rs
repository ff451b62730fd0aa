//! Product content out: what a channel leaves to IRP of its products' Shopware pages (name,
//! description, EAN; `shopware.content`), built from the PIM's data
//! ([`irp_core::shopware::content`]) and pushed when its hash changed — a PIM sync that changes
//! 1 % of the products pushes 1 %. A field the channel does not leave to IRP is never sent.

use irp_clients::shopware::Indexing;
use irp_core::shopware::{self as sw, content as sc};
use irp_store::Store;
use irp_store::channel_sync::ContentChecked;
use serde_json::Value;

use super::{ChannelSyncError, Shop};

/// The operation key of IRP's content upserts.
const OP_KEY: &str = "irp-content";

/// What a content pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ContentReport {
    /// Products checked (PIM data newer than what was pushed, or never checked).
    pub checked: u64,
    /// Products whose content the shop took.
    pub pushed: u64,
    /// Products whose content had not changed.
    pub unchanged: u64,
    /// Products the shop does not have (their content goes once the product exists).
    pub unknown: u64,
    /// Products whose content the shop refused (with why: `irp channel status`).
    pub refused: u64,
    /// `_action/sync` requests sent.
    pub batches: u64,
}

/// Push the content that changed in `shop`'s channel (every product's with `full`). Does
/// nothing for a channel that leaves no content to IRP.
///
/// # Errors
/// The store failed, or the shop failed as a whole (what was pushed is recorded).
pub async fn push_content(
    store: &Store,
    shop: &Shop,
    full: bool,
) -> Result<ContentReport, ChannelSyncError> {
    let cfg = &shop.config.content;
    let mut report = ContentReport::default();
    if cfg.is_off() {
        return Ok(report);
    }
    let key = &shop.channel.key;
    if full {
        store.channel_sync().content_reset(key).await?;
    }
    let settings = cfg.fingerprint();
    let prefix = &shop.config.product_number_prefix;
    let mut after = String::new();
    loop {
        let rows = store
            .channel_sync()
            .content_due(key, &settings, &after, shop.config.batch_size)
            .await?;
        let Some(last) = rows.last() else {
            break;
        };
        after.clone_from(&last.ean);
        report.checked += rows.len() as u64;
        let mut checked = Vec::with_capacity(rows.len());
        let mut changed = Vec::new();
        for r in &rows {
            let attributes = r.attributes.0.as_object().cloned().unwrap_or_default();
            let facts = sc::PimFacts {
                ean: &r.ean,
                name: r.name.as_deref(),
                brand: r.brand.as_deref(),
                category: r.category.as_deref(),
                attributes: &attributes,
            };
            let content = sc::content(&facts, cfg);
            let hash = content.hash();
            let mut done = ContentChecked {
                ean: r.ean.clone(),
                hash: Some(hash.clone()),
                content: None,
                pim_synced_at: r.pim_synced_at,
                pushed: false,
                problem: None,
            };
            if r.hash.as_deref() == Some(hash.as_str()) {
                report.unchanged += 1;
                checked.push(done);
            } else {
                let number = sw::product_number(prefix, &r.ean);
                let row = sc::content_row(&number, &content, &sc::ContentIds::default());
                done.pushed = true;
                done.content = serde_json::to_string(&content).ok();
                // What the shop has if this push is refused.
                changed.push((number, done, row, r.hash.clone()));
            }
        }
        if !changed.is_empty() {
            shop.renew(store).await?;
            let numbers: Vec<String> = changed.iter().map(|c| c.0.clone()).collect();
            let known = shop
                .api
                .known_product_numbers(&numbers)
                .await
                .map_err(|e| shop.err(e))?;
            let mut batch = Vec::new();
            for (number, mut done, row, before) in changed {
                if known.contains(&number) {
                    batch.push((done, row, before));
                } else {
                    report.unknown += 1;
                    done.hash = None;
                    done.content = None;
                    done.pushed = false;
                    checked.push(done);
                }
            }
            send(store, shop, batch, &mut report, &mut checked).await?;
        }
        store
            .channel_sync()
            .content_checked(key, &settings, &checked)
            .await?;
    }
    if report.checked > 0 {
        tracing::info!(channel = %key, checked = report.checked, pushed = report.pushed,
            unchanged = report.unchanged, unknown = report.unknown, refused = report.refused,
            "Pushed product content to Shopware");
    }
    Ok(report)
}

/// Send `batch` (checked row, sync row, the hash the shop had); a refused batch is split in
/// halves until each refused row is alone, and that row is recorded with Shopware's error (the
/// field and why) and the hash the shop still has.
async fn send(
    store: &Store,
    shop: &Shop,
    batch: Vec<(ContentChecked, Value, Option<String>)>,
    report: &mut ContentReport,
    checked: &mut Vec<ContentChecked>,
) -> Result<(), ChannelSyncError> {
    let mut queue = vec![batch];
    while let Some(batch) = queue.pop() {
        if batch.is_empty() {
            continue;
        }
        shop.renew(store).await?;
        report.batches += 1;
        let payload: Vec<Value> = batch.iter().map(|(_, v, _)| v.clone()).collect();
        match shop
            .api
            .upsert(OP_KEY, "product", payload, Indexing::Queue)
            .await
        {
            Ok(_) => {
                report.pushed += batch.len() as u64;
                checked.extend(batch.into_iter().map(|(c, _, _)| c));
            }
            // Refused as a whole, not for a row's values (403: the integration may not write
            // products): every row would be refused alike — stop.
            Err(e)
                if e.is_refusal()
                    && e.status() != Some(400)
                    && e.errors().iter().all(|x| x.pointer.is_none()) =>
            {
                return Err(shop.err(e));
            }
            Err(e) if e.is_refusal() && batch.len() > 1 => {
                let mut left = batch;
                let right = left.split_off(left.len() / 2);
                queue.push(right);
                queue.push(left);
            }
            Err(e) if e.is_refusal() => {
                report.refused += 1;
                for (mut c, _, before) in batch {
                    c.problem = Some(shop.scrub(&format!(
                        "Shopware refused the content (HTTP {}): {e}",
                        e.status().unwrap_or_default()
                    )));
                    c.hash = before;
                    c.content = None;
                    c.pushed = false;
                    checked.push(c);
                }
            }
            Err(e) => return Err(shop.err(e)),
        }
    }
    Ok(())
}
