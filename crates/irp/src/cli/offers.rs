//! `irp offers …`: a refurbisher's stored offers, and one offer with its selling price
//! explained step by step.

use std::process::ExitCode;

use anyhow::Result;
use irp_core::money;
use irp_store::Store;
use serde_json::json;

use super::refurbisher::refurbisher_or_hint;
use super::{Global, OffersCommand, open_store, table};
use crate::views::{OfferDetail, OfferPricing};

/// `minor` units of `currency` as a decimal (`160.23`).
fn amount(minor: i64, currency: &str) -> String {
    money::from_minor(minor, money::minor_digits(currency)).to_string()
}

/// `irp offers …`.
pub async fn offers(global: &Global, cmd: OffersCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    let (key, all, limit, offset, json) = match cmd {
        OffersCommand::Show { key, sku, json } => {
            return offer_show(&store, &key, &sku, json).await;
        }
        OffersCommand::List {
            key,
            all,
            limit,
            offset,
            json,
        } => (key, all, limit, offset, json),
    };
    let r = refurbisher_or_hint(&store, &key).await?;
    let offers = store.offers().list(r.id, all, limit, offset).await?;
    if json {
        let rows: Vec<serde_json::Value> = offers
            .iter()
            .map(|o| {
                json!({
                    "sku": o.sku,
                    "ean": o.ean,
                    "name": o.name,
                    "stock_available": o.stock_available,
                    "price_purchase_amount": amount(o.price_purchase_minor, &o.currency),
                    "price_consumer_amount": o.price_consumer_minor.map(|m| amount(m, &o.currency)),
                    "currency_iso": o.currency,
                    "tax_percentage": o.tax_percentage,
                    "attributes": o.attributes.0,
                    "active": o.active,
                    "last_seen_at": o.last_seen_at,
                    "last_changed_at": o.last_changed_at,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&rows)?);
    } else if offers.is_empty() {
        outln!("no offers for `{key}`: import its feed with `irp feed import {key}`");
    } else {
        let rows: Vec<Vec<String>> = offers
            .iter()
            .map(|o| {
                vec![
                    o.sku.clone(),
                    o.ean.clone().unwrap_or_default(),
                    o.name.chars().take(40).collect(),
                    o.stock_available.to_string(),
                    amount(o.price_purchase_minor, &o.currency),
                    o.price_consumer_minor
                        .map(|m| amount(m, &o.currency))
                        .unwrap_or_default(),
                    o.currency.clone(),
                    if o.active { "yes" } else { "no" }.into(),
                ]
            })
            .collect();
        table(
            &[
                "SKU", "EAN", "NAME", "STOCK", "PURCHASE", "CONSUMER", "CUR", "ACTIVE",
            ],
            &rows,
        );
    }
    Ok(ExitCode::SUCCESS)
}

async fn offer_show(store: &Store, key: &str, sku: &str, json: bool) -> Result<ExitCode> {
    let r = refurbisher_or_hint(store, key).await?;
    let Some(view) = OfferPricing::load(store, r, sku).await? else {
        eprintln!(
            "error: `{key}` has no offer with SKU {sku:?}; see `irp offers list {key} --all`"
        );
        return Ok(ExitCode::from(1));
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&OfferDetail::from(&view))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let OfferPricing {
        refurbisher: r,
        offer: o,
        breakdown: b,
        sellable,
        digits,
    } = &view;
    let (sellable, digits) = (*sellable, *digits);
    outln!(
        "{} of {key}: {}{}",
        o.sku,
        o.name,
        if o.active {
            ""
        } else {
            " (inactive: the latest feed no longer has it)"
        }
    );
    outln!("  EAN {}", o.ean.as_deref().unwrap_or("-"));
    outln!(
        "  stock {} − stock_threshold {} = {sellable} sellable",
        o.stock_available,
        r.model.stock_threshold
    );
    outln!(
        "  selling price incl. VAT: {} {}",
        b.incl_vat.round_dp(digits),
        o.currency
    );
    for line in b.lines() {
        outln!("    {line}");
    }
    match o.price_hold.as_deref() {
        Some("pending") => outln!(
            "  held: the feed's purchase price {} moved more than max_price_change_ratio {}; \
             `irp prices accept {key} {}` or `irp prices reject {key} {}`",
            irp_core::money::from_minor(o.price_purchase_minor, digits),
            r.model.max_price_change_ratio,
            o.sku,
            o.sku
        ),
        Some("rejected") => outln!(
            "  rejected: the feed's purchase price {} is not used until the feed sends another one",
            irp_core::money::from_minor(o.price_purchase_minor, digits)
        ),
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}
