//! `irp products …`, `irp prices …`, `irp channel …`, `irp catalog …`: the catalog as operators
//! see it — each product's offers priced and ranked with the reason for each verdict, held
//! purchase price changes to accept or reject, and the storefront channels.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use irp_core::catalog::{self, OfferFacts, Scope};
use irp_core::config;
use irp_core::money;
use irp_store::Store;
use irp_store::catalog::{CATALOG_CURRENCY, CatalogContext, ChannelApply, StoredProduct};
use irp_store::offers::StoredOffer;
use serde_json::{Value, json};

use crate::cli::{CatalogCommand, ChannelCommand, Global, PricesCommand, ProductsCommand};
use crate::commands::{actor, open_store, refurbisher_or_hint, table};

fn amount(minor: i64, currency: &str) -> String {
    format!(
        "{} {currency}",
        money::from_minor(minor, money::minor_digits(currency))
    )
}

fn opt_amount(minor: Option<i64>, currency: Option<&str>) -> String {
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
                .refurbisher_list()
                .await?
                .into_iter()
                .map(|r| (r.id, r.key))
                .collect();
            let held = store.prices_held(rid, all, limit).await?;
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

/// Read channels documents; print their diagnostics. `None` when any has errors.
pub fn load_channels(files: &[PathBuf]) -> Result<Option<Vec<config::Channel>>> {
    let mut all = Vec::new();
    let mut errors = 0;
    for f in files {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        let doc = config::parse_channels(&text);
        for d in doc.diagnostics.iter() {
            eprintln!("{}", config::render(&f.display().to_string(), d));
        }
        errors += doc.diagnostics.error_count();
        all.extend(doc.channels);
    }
    if errors > 0 {
        eprintln!(
            "{errors} error{}; nothing was applied",
            if errors == 1 { "" } else { "s" }
        );
        return Ok(None);
    }
    Ok(Some(all))
}

/// Apply channels documents. `None` when a document has errors (nothing applied).
///
/// # Errors
/// A file cannot be read; the store refuses (an unknown refurbisher).
pub async fn apply_channels(
    store: &Store,
    files: &[PathBuf],
    actor: &str,
) -> Result<Option<Vec<ChannelApply>>> {
    let Some(channels) = load_channels(files)? else {
        return Ok(None);
    };
    Ok(Some(
        irp_pipeline::catalog::apply_channels(store, &channels, actor).await?,
    ))
}

/// `irp channel …`.
pub async fn channel(global: &Global, cmd: ChannelCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        ChannelCommand::Sync { key, full, json } => {
            crate::channel_cmd::sync(global, &store, &key, full, json).await
        }
        ChannelCommand::Status { key, json } => {
            crate::channel_cmd::status(&store, key.as_deref(), json).await
        }
        ChannelCommand::Check { key } => crate::channel_cmd::check(global, &store, &key).await,
        ChannelCommand::Apply { files, json } => {
            let Some(out) = apply_channels(&store, &files, &actor()).await? else {
                return Ok(ExitCode::FAILURE);
            };
            if json {
                outln!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for o in &out {
                    outln!("{} {}", o.action, o.key);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ChannelCommand::List { json } => {
            let channels = store.channels_list().await?;
            if json {
                let out: Vec<Value> = channels
                    .iter()
                    .map(|c| {
                        json!({
                            "channel": config::redact(&serde_json::to_value(&c.channel).unwrap_or(Value::Null)),
                            "version": c.version,
                        })
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&out)?);
            } else if channels.is_empty() {
                outln!(
                    "no channels yet: apply them with `irp channel apply -f config/channels.json`"
                );
            } else {
                let rows: Vec<Vec<String>> = channels
                    .iter()
                    .map(|c| {
                        let ch = &c.channel;
                        vec![
                            ch.key.clone(),
                            ch.name.clone(),
                            ch.currency.clone(),
                            format!("{}%", ch.default_tax_percentage.normalize()),
                            ch.refurbishers
                                .as_ref()
                                .map_or_else(|| "all".into(), |r| r.join(", ")),
                            format!("{:+}", ch.margin_adjustment.normalize()),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "KEY",
                        "NAME",
                        "CURRENCY",
                        "VAT",
                        "REFURBISHERS",
                        "MARGIN ADJ.",
                    ],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `irp catalog …`.
pub async fn catalog_cmd(global: &Global, cmd: CatalogCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    let CatalogCommand::Recompute { all, json } = cmd;
    if all {
        store.catalog_mark_all().await?;
    }
    let stats = irp_pipeline::catalog::recompute(&store).await?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        outln!(
            "{} product(s) recomputed in {} ms: {} changed, {} channel row(s) to push, {} offer(s) with a consumer price below the selling price",
            stats.eans,
            stats.ms,
            stats.products_changed,
            stats.channel_rows_changed,
            stats.consumer_below
        );
    }
    Ok(ExitCode::SUCCESS)
}
