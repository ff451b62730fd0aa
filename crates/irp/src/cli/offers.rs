//! `irp offers …`: a refurbisher's stored offers, and one offer with its selling price
//! explained step by step.

use std::process::ExitCode;

use anyhow::Result;
use irp_core::money;
use irp_store::Store;
use serde_json::json;

use super::refurbisher::refurbisher_or_hint;
use super::{Global, OffersCommand, open_store, table};

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
    let offers = store.offers_list(r.id, all, limit, offset).await?;
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

/// Everything `irp offers show` and `GET /api/v1/offers/{key}/{sku}` show of one offer.
pub(crate) struct OfferView {
    r: irp_store::refurbishers::StoredRefurbisher,
    o: irp_store::offers::StoredOffer,
    b: irp_core::pricing::Breakdown,
    sellable: i64,
    digits: u32,
}

impl OfferView {
    /// Offer `sku` of refurbisher `r`, priced; `None` when it has no such offer.
    pub(crate) async fn load(
        store: &Store,
        r: irp_store::refurbishers::StoredRefurbisher,
        sku: &str,
    ) -> Result<Option<OfferView>> {
        let Some(o) = store.offer_get(r.id, sku).await? else {
            return Ok(None);
        };
        let digits = irp_core::money::minor_digits(&o.currency);
        let pim = match o.ean.as_deref() {
            Some(ean) => store.product_get(ean).await?.map(|p| (p.brand, p.category)),
            None => None,
        };
        let may_sell = r.model.approved_refurbished && r.model.enabled;
        let seller = irp_core::catalog::Seller::new(r.model.clone(), may_sell);
        let b = irp_core::catalog::explain(
            &seller,
            &o.facts(pim),
            irp_core::catalog::Scope::Catalog(irp_store::catalog::CATALOG_CURRENCY),
        );
        let sellable = irp_core::pricing::sellable(o.stock_available, r.model.stock_threshold);
        Ok(Some(OfferView {
            r,
            o,
            b,
            sellable,
            digits,
        }))
    }

    /// The offer as JSON, with its price breakdown: each input with its value and where it
    /// came from, and each step.
    pub(crate) fn to_json(&self) -> serde_json::Value {
        let (o, b, digits) = (&self.o, &self.b, self.digits);
        json!({
            "refurbisher": self.r.key,
            "sku": o.sku,
            "ean": o.ean,
            "name": o.name,
            "active": o.active,
            "currency_iso": o.currency,
            "stock_available": o.stock_available,
            "stock_threshold": self.r.model.stock_threshold,
            "sellable": self.sellable,
            "price_hold": o.price_hold,
            "feed_purchase_price": irp_core::money::from_minor(o.price_purchase_minor, digits),
            "price": {
                "cost": b.cost.normalize(),
                "excl_vat": b.excl_vat.normalize(),
                "incl_vat": b.incl_vat.round_dp(digits),
                "inputs": b.inputs.iter().map(|(name, s)| json!({"name": name, "value": s.value.normalize(), "source": s.source})).collect::<Vec<_>>(),
                "steps": b.steps,
            },
        })
    }
}

async fn offer_show(store: &Store, key: &str, sku: &str, json: bool) -> Result<ExitCode> {
    let r = refurbisher_or_hint(store, key).await?;
    let Some(view) = OfferView::load(store, r, sku).await? else {
        eprintln!(
            "error: `{key}` has no offer with SKU {sku:?}; see `irp offers list {key} --all`"
        );
        return Ok(ExitCode::from(1));
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&view.to_json())?);
        return Ok(ExitCode::SUCCESS);
    }
    let OfferView {
        r,
        o,
        b,
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
