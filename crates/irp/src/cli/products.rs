//! `irp products …`: the catalog as operators see it — each product's offers priced and ranked
//! with the reason for each verdict, and what each channel sells.

use std::collections::HashMap;
use std::process::ExitCode;

use anyhow::Result;
use irp_core::catalog::{self, OfferFacts, Scope};
use irp_core::money;
use irp_store::Store;
use irp_store::catalog::{CATALOG_CURRENCY, CatalogContext, StoredProduct};
use irp_store::offers::StoredOffer;
use serde_json::{Value, json};

use super::{Global, ProductsCommand, open_store, table};

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

/// Refurbisher keys by refurbisher id.
fn keys_of(ctx: &CatalogContext) -> HashMap<i64, String> {
    ctx.sellers
        .iter()
        .map(|(id, s)| (*id, s.model.key.clone()))
        .collect()
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
            let ctx = store.catalog_context().await?;
            let keys = keys_of(&ctx);
            let rows = store
                .products_list(query.as_deref(), sellable, limit, offset)
                .await?;
            if json {
                let out: Vec<Value> = rows.iter().map(|p| product_json(p, &keys)).collect();
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

/// Products matching `query` (EAN or name), as `irp products list --json` and the API list them.
pub(crate) async fn products_json(
    store: &Store,
    query: Option<&str>,
    sellable: bool,
    limit: i64,
    offset: i64,
) -> Result<Vec<Value>> {
    let ctx = store.catalog_context().await?;
    let keys = keys_of(&ctx);
    let rows = store.products_list(query, sellable, limit, offset).await?;
    Ok(rows.iter().map(|p| product_json(p, &keys)).collect())
}

fn product_json(p: &StoredProduct, keys: &HashMap<i64, String>) -> Value {
    json!({
        "ean": p.ean,
        "name": p.display_name(),
        "name_source": if p.name.is_some() { "pim" } else { "feed" },
        "brand": p.brand,
        "model": p.model,
        "category": p.category,
        "best_offer": p.best_offer_id.map(|id| json!({
            "offer_id": id,
            "refurbisher": p.best_refurbisher_id.and_then(|r| keys.get(&r)),
            "sku": p.best_sku,
        })),
        "price_incl_vat": p.price_incl_minor.zip(p.currency.as_deref()).map(|(m, c)| money::from_minor(m, money::minor_digits(c))),
        "currency_iso": p.currency,
        "sellable": p.sellable,
        "offers": p.offers_count,
        "pim_synced_at": p.pim_synced_at,
        "computed_at": p.computed_at,
    })
}

/// Everything `irp products show` and `GET /api/v1/products/{ean}` show of one product.
pub(crate) struct ProductView {
    ean: String,
    ctx: CatalogContext,
    keys: HashMap<i64, String>,
    product: Option<StoredProduct>,
    stored: Vec<StoredOffer>,
    facts: Vec<OfferFacts>,
    overview: catalog::Evaluation,
    channel_rows: Vec<irp_store::catalog::ChannelProduct>,
}

impl ProductView {
    /// The product with EAN `ean`; `None` when there is neither a product nor an offer.
    pub(crate) async fn load(store: &Store, ean: &str) -> Result<Option<ProductView>> {
        let ctx = store.catalog_context().await?;
        let keys = keys_of(&ctx);
        let product = store.product_get(ean).await?;
        let stored = store.product_offers(ean).await?;
        if product.is_none() && stored.is_empty() {
            return Ok(None);
        }
        let pim = product
            .as_ref()
            .map(|p| (p.brand.clone(), p.category.clone()));
        let facts: Vec<OfferFacts> = stored.iter().map(|o| o.facts(pim.clone())).collect();
        let overview = catalog::evaluate(&facts, &ctx.sellers, Scope::Catalog(CATALOG_CURRENCY));
        let channel_rows = store.channel_products_of(ean).await?;
        Ok(Some(ProductView {
            ean: ean.to_owned(),
            ctx,
            keys,
            product,
            stored,
            facts,
            overview,
            channel_rows,
        }))
    }

    fn key_of(&self, id: i64) -> String {
        self.keys
            .get(&id)
            .cloned()
            .unwrap_or_else(|| id.to_string())
    }

    /// The product as JSON: its fields, attributes, every offer priced with its breakdown and
    /// verdict, and each channel's view.
    pub(crate) async fn to_json(&self, store: &Store) -> Result<Value> {
        let name = |o: &OfferFacts| format!("{} {}", self.key_of(o.refurbisher_id), o.sku);
        let (stored, facts, ctx) = (&self.stored, &self.facts, &self.ctx);
        let offer_rows = |e: &catalog::Evaluation| -> Vec<Value> {
            stored
                .iter()
                .zip(facts)
                .zip(&e.offers)
                .enumerate()
                .map(|(i, ((o, f), r))| {
                    let digits = money::minor_digits(&o.currency);
                    let breakdown = ctx
                        .sellers
                        .get(&o.refurbisher_id)
                        .map(|s| catalog::explain(s, f, Scope::Catalog(CATALOG_CURRENCY)));
                    json!({
                        "offer_id": o.id,
                        "refurbisher": self.key_of(o.refurbisher_id),
                        "sku": o.sku,
                        "name": o.name,
                        "active": o.active,
                        "currency_iso": o.currency,
                        "price_incl_vat": money::from_minor(r.price_incl_minor, digits),
                        "price_excl_vat": money::from_minor(r.price_excl_minor, digits),
                        "tax_percentage": r.vat.normalize(),
                        "sellable": r.sellable,
                        "verdict": r.verdict.name(),
                        "reason": catalog::reason(facts, e, i, name),
                        "consumer_price_below_selling_price": r.consumer_below,
                        "price_hold": o.price_hold,
                        "steps": breakdown.map(|b| b.lines()),
                    })
                })
                .collect()
        };
        let channels: Vec<Value> = ctx
            .channels
            .iter()
            .map(|ch| {
                let e = catalog::evaluate(facts, &ctx.sellers, Scope::Channel(ch));
                let row = self.channel_rows.iter().find(|r| r.channel == ch.key);
                json!({
                    "channel": ch.key,
                    "name": ch.name,
                    "stored": row,
                    "offers": e.offers.iter().zip(stored).enumerate().map(|(i, (r, o))| json!({
                        "offer_id": o.id,
                        "refurbisher": self.key_of(o.refurbisher_id),
                        "sku": o.sku,
                        "price_incl_vat": money::from_minor(r.price_incl_minor, money::minor_digits(&o.currency)),
                        "sellable": r.sellable,
                        "verdict": r.verdict.name(),
                        "reason": catalog::reason(facts, &e, i, name),
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let mut out = self.product.as_ref().map_or_else(
            || json!({ "ean": self.ean }),
            |p| product_json(p, &self.keys),
        );
        out["attributes"] = Value::Object(store.product_attributes(&self.ean).await?);
        out["offer_list"] = Value::Array(offer_rows(&self.overview));
        out["channels"] = Value::Array(channels);
        Ok(out)
    }
}

async fn product_show(store: &Store, ean: &str, json: bool) -> Result<ExitCode> {
    let Some(view) = ProductView::load(store, ean).await? else {
        eprintln!("error: no product with EAN {ean:?}; see `irp products list --query …`");
        return Ok(ExitCode::from(1));
    };
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&view.to_json(store).await?)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ProductView {
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
            let attributes = store.product_attributes(ean).await?;
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
