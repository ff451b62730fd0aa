//! `irp prices …`: purchase price changes held by the price guard (`max_price_change_ratio`),
//! to accept or reject.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Result;
use irp_core::money;
use irp_store::Store;
use irp_store::offers::StoredOffer;
use serde_json::{Value, json};

use super::products::{amount, opt_amount};
use super::refurbisher::refurbisher_or_hint;
use super::{Global, PricesCommand, actor, open_store, table};

fn held_json(o: &StoredOffer, key: &str) -> Value {
    let digits = money::minor_digits(&o.currency);
    json!({
        "refurbisher": key,
        "sku": o.sku,
        "ean": o.ean,
        "name": o.name,
        "status": o.price_hold,
        "applied_purchase_price": o.applied_purchase_minor.map(|m| money::from_minor(m, digits)),
        "feed_purchase_price": money::from_minor(o.price_purchase_minor, digits),
        "currency_iso": o.currency,
        "held_at": o.price_held_at,
    })
}

/// `irp prices …`.
pub async fn prices(global: &Global, cmd: PricesCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        PricesCommand::Held {
            key,
            all,
            limit,
            json,
        } => {
            let rid = match &key {
                Some(k) => Some(refurbisher_or_hint(&store, k).await?.id),
                None => None,
            };
            let keys: HashMap<i64, String> = store
                .refurbishers()
                .list()
                .await?
                .into_iter()
                .map(|r| (r.id, r.key))
                .collect();
            let held = store.offers().held_prices(rid, all, limit).await?;
            let key_of = |id: i64| keys.get(&id).cloned().unwrap_or_else(|| id.to_string());
            if json {
                let out: Vec<Value> = held
                    .iter()
                    .map(|o| held_json(o, &key_of(o.refurbisher_id)))
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&out)?);
            } else if held.is_empty() {
                outln!("no held purchase price changes");
            } else {
                let rows: Vec<Vec<String>> = held
                    .iter()
                    .map(|o| {
                        let applied = o.applied_purchase_minor.unwrap_or(o.price_purchase_minor);
                        let change = if applied > 0 {
                            format!(
                                "{:+.0}%",
                                (o.price_purchase_minor - applied) as f64 * 100.0 / applied as f64
                            )
                        } else {
                            "-".into()
                        };
                        vec![
                            key_of(o.refurbisher_id),
                            o.sku.clone(),
                            amount(applied, &o.currency),
                            amount(o.price_purchase_minor, &o.currency),
                            change,
                            o.price_hold.clone().unwrap_or_default(),
                            o.price_held_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "REFURBISHER",
                        "SKU",
                        "APPLIED PURCHASE",
                        "FEED PURCHASE",
                        "CHANGE",
                        "STATUS",
                        "HELD AT",
                    ],
                    &rows,
                );
                outln!(
                    "accept with `irp prices accept KEY SKU`, reject with `irp prices reject KEY SKU`"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        PricesCommand::Accept { key, sku } => decide(&store, &key, &sku, true).await,
        PricesCommand::Reject { key, sku } => decide(&store, &key, &sku, false).await,
    }
}

async fn decide(store: &Store, key: &str, sku: &str, accept: bool) -> Result<ExitCode> {
    let r = refurbisher_or_hint(store, key).await?;
    let o = match irp_pipeline::catalog::decide_price(store, r.id, sku, accept, &actor()).await {
        Ok(o) => o,
        Err(irp_store::StoreError::NotFound(m)) => {
            eprintln!("error: {key}: {m}; see `irp prices held {key} --all`");
            return Ok(ExitCode::from(1));
        }
        Err(e) => return Err(e.into()),
    };
    let feed = amount(o.price_purchase_minor, &o.currency);
    if accept {
        outln!("accepted: {key} {sku} is now priced from its feed purchase price {feed}");
    } else {
        outln!(
            "rejected: {key} {sku} keeps the purchase price {} until its feed sends another price than {feed}",
            opt_amount(o.applied_purchase_minor, Some(&o.currency))
        );
    }
    Ok(ExitCode::SUCCESS)
}
