//! `irp products …`: the catalog as operators see it — each product's offers priced and ranked
//! with the reason for each verdict, and what each channel sells.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Result;
use irp_core::catalog::{self, OfferFacts};
use irp_core::money;
use irp_store::Store;
use irp_store::catalog::{CATALOG_CURRENCY, StoredProduct};
use serde_json::Value;

use super::{Global, ProductsCommand, open_store, table};
use crate::views::{Product, ProductPricing, refurbisher_keys};

/// `minor` units of `currency` with the currency: `160.23 EUR`.
pub(super) fn amount(minor: i64, currency: &str) -> String {
    format!(
        "{} {currency}",
        money::from_minor(minor, money::minor_digits(currency))
    )
}

/// [`amount`], or `-` without one.
pub(super) fn opt_amount(minor: Option<i64>, currency: Option<&str>) -> String {
    match (minor, currency) {
        (Some(m), Some(c)) => amount(m, c),
        _ => "-".into(),
    }
}

/// `irp products …`.
pub async fn products(global: &Global, cmd: ProductsCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        ProductsCommand::List {
            query,
            sellable,
            limit,
            offset,
            json,
        } => {
            let keys = refurbisher_keys(&store.catalog().context().await?);
            let rows = store
                .catalog()
                .products(query.as_deref(), sellable, limit, offset)
                .await?;
            if json {
                let out: Vec<Product> = rows.iter().map(|p| Product::of(p, &keys)).collect();
                outln!("{}", serde_json::to_string_pretty(&out)?);
            } else if rows.is_empty() {
                outln!(
                    "no products{}: products appear when a feed brings offers with an EAN",
                    if query.is_some() || sellable {
                        " match"
                    } else {
                        " yet"
                    }
                );
            } else {
                let rows: Vec<Vec<String>> = rows
                    .iter()
                    .map(|p| {
                        vec![
                            p.ean.clone(),
                            p.display_name().chars().take(40).collect(),
                            best_label(p, &keys),
                            opt_amount(p.price_incl_minor, p.currency.as_deref()),
                            p.sellable.to_string(),
                            p.offers_count.to_string(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "EAN",
                        "NAME",
                        "BEST OFFER",
                        "PRICE INCL. VAT",
                        "SELLABLE",
                        "OFFERS",
                    ],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ProductsCommand::Show { ean, json } => product_show(&store, &ean, json).await,
    }
}

fn best_label(p: &StoredProduct, keys: &HashMap<i64, String>) -> String {
    match (p.best_refurbisher_id, &p.best_sku) {
        (Some(r), Some(sku)) => format!(
            "{} {sku}",
            keys.get(&r).map_or_else(|| r.to_string(), Clone::clone)
        ),
        _ => "none".into(),
    }
}

async fn product_show(store: &Store, ean: &str, json: bool) -> Result<ExitCode> {
    let Some(view) = ProductPricing::load(store, ean).await? else {
        eprintln!("error: no product with EAN {ean:?}; see `irp products list --query …`");
        return Ok(ExitCode::from(1));
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&view.detail(store).await?)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ProductPricing {
        ctx,
        keys,
        product,
        stored,
        facts,
        overview,
        channel_rows,
        ..
    } = &view;
    let key_of = |id: i64| view.key_of(id);
    let name = |o: &OfferFacts| format!("{} {}", key_of(o.refurbisher_id), o.sku);
    match &product {
        Some(p) => {
            outln!(
                "{ean}  {} ({})",
                p.display_name(),
                if p.name.is_some() {
                    "name from the PIM"
                } else {
                    "name from the best offer's feed"
                }
            );
            for (label, v) in [
                ("brand", &p.brand),
                ("model", &p.model),
                ("category", &p.category),
            ] {
                if let Some(v) = v {
                    outln!("  {label}: {v}");
                }
            }
            let attributes = store.pim().product_attributes(ean).await?;
            if !attributes.is_empty() {
                let shown: Vec<String> = attributes
                    .iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => format!("{k}={s}"),
                        other => format!("{k}={other}"),
                    })
                    .collect();
                outln!("  attributes: {}", shown.join(", "));
            }
            if let Some(t) = p.pim_synced_at {
                outln!("  PIM data from {}", t.format("%Y-%m-%d %H:%M:%S UTC"));
            }
            match p.best_offer_id {
                Some(_) => outln!(
                    "  best offer: {} at {} incl. VAT, {} sellable",
                    best_label(p, keys),
                    opt_amount(p.price_incl_minor, p.currency.as_deref()),
                    p.sellable
                ),
                None => outln!("  best offer: none (no offer is active, in stock and sold)"),
            }
        }
        None => outln!("{ean}  (not computed yet: run `irp catalog recompute`)"),
    }
    outln!("");
    outln!("offers (catalog, in {CATALOG_CURRENCY}):");
    let rows: Vec<Vec<String>> = stored
        .iter()
        .zip(&overview.offers)
        .enumerate()
        .map(|(i, (o, r))| {
            vec![
                key_of(o.refurbisher_id),
                o.sku.clone(),
                amount(r.price_incl_minor, &o.currency),
                r.sellable.to_string(),
                format!(
                    "{}{}",
                    catalog::reason(facts, overview, i, name),
                    match o.price_hold.as_deref() {
                        Some("pending") => " [purchase price change held]",
                        Some("rejected") => " [new purchase price rejected]",
                        _ => "",
                    }
                ),
            ]
        })
        .collect();
    table(
        &[
            "REFURBISHER",
            "SKU",
            "PRICE INCL. VAT",
            "SELLABLE",
            "VERDICT",
        ],
        &rows,
    );
    for (o, r) in stored.iter().zip(&overview.offers) {
        if r.consumer_below
            && let Some(c) = o.price_consumer_minor
        {
            outln!(
                "  note: {} {}: the feed's consumer price {} excl. VAT is below the selling price {} excl. VAT",
                key_of(o.refurbisher_id),
                o.sku,
                amount(c, &o.currency),
                amount(r.price_excl_minor, &o.currency)
            );
        }
    }
    if !ctx.channels.is_empty() {
        outln!("");
        outln!("channels:");
        let rows: Vec<Vec<String>> = ctx
            .channels
            .iter()
            .map(|ch| {
                let row = channel_rows.iter().find(|r| r.channel == ch.key);
                let (offer, price, stock, state) = match row {
                    None => ("none".into(), "-".into(), "0".into(), "not sold".into()),
                    Some(r) => (
                        match (r.refurbisher_id, r.offer_id) {
                            (Some(rid), Some(oid)) => format!(
                                "{} {}",
                                key_of(rid),
                                stored
                                    .iter()
                                    .find(|o| o.id == oid)
                                    .map_or("?", |o| o.sku.as_str())
                            ),
                            _ => "none".into(),
                        },
                        opt_amount(r.price_incl_minor, Some(&r.currency)),
                        r.stock.to_string(),
                        format!(
                            "{}, revision {}, {}",
                            if r.active { "active" } else { "inactive" },
                            r.revision,
                            match r.pushed_revision {
                                None => "never pushed".to_owned(),
                                Some(p) if r.dirty => format!("pushed revision {p}, changed since"),
                                Some(p) => format!("pushed revision {p}"),
                            }
                        ),
                    ),
                };
                vec![ch.key.clone(), offer, price, stock, state]
            })
            .collect();
        table(
            &["CHANNEL", "BEST OFFER", "PRICE INCL. VAT", "STOCK", "STATE"],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}
