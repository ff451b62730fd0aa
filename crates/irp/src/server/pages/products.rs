//! Offers and products: the list (`/products`: search by EAN, SKU or name, sort, paginate),
//! one product (`/products/{ean}`: every offer priced with its breakdown, which one wins and
//! why, each channel), and the held purchase price changes with accept/reject.
//!
//! The product page shows the same view as `GET /api/v1/products/{ean}` and
//! `irp products show --json` ([`crate::views::ProductDetail`]).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use irp_store::catalog::ProductSort;

use super::{Ctx, Page, at, failed, refused, store_failed};
use crate::server::AppState;
use crate::server::auth::{Act, Viewer};
use crate::views::ProductDetail;

/// Rows per page.
const PAGE: i64 = 50;

/// `?q=&sellable=&sort=&page=&held=`.
#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    sellable: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    page: u32,
    /// Only the held prices of this refurbisher (the alert links here).
    #[serde(default)]
    held: String,
}

impl ListQuery {
    fn sort(&self) -> ProductSort {
        match self.sort.as_str() {
            "name" => ProductSort::Name,
            "price" => ProductSort::PriceAsc,
            "-price" => ProductSort::PriceDesc,
            "sellable" => ProductSort::Sellable,
            _ => ProductSort::Ean,
        }
    }

    fn link(&self, page: u32) -> String {
        super::page_link(
            "/products",
            &[
                ("q", &self.q),
                ("sellable", &self.sellable),
                ("sort", &self.sort),
                ("held", &self.held),
            ],
            page,
        )
    }
}

/// One product in the list.
pub struct Row {
    ean: String,
    name: String,
    brand: String,
    price: String,
    sellable: i64,
    offers: i64,
    best: String,
}

/// One held purchase price change.
pub struct Held {
    refurbisher: String,
    sku: String,
    name: String,
    ean: String,
    old: String,
    new: String,
    since: String,
}

#[derive(Template)]
#[template(path = "products.html")]
pub struct List {
    ctx: Ctx,
    rows: Vec<Row>,
    held: Vec<Held>,
    f: ListQuery,
    prev: Option<String>,
    next: Option<String>,
}

fn money(minor: Option<i64>, currency: Option<&str>) -> String {
    match (minor, currency) {
        (Some(m), Some(c)) => format!(
            "{} {c}",
            irp_core::money::from_minor(m, irp_core::money::minor_digits(c))
        ),
        _ => "—".into(),
    }
}

/// `GET /products`.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(f): Query<ListQuery>,
) -> Response {
    let store = &state.store;
    let refurbishers = match store.refurbishers().list().await {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let key_of = |id: i64| {
        refurbishers
            .iter()
            .find(|r| r.id == id)
            .map_or_else(|| id.to_string(), |r| r.key.clone())
    };
    let mut list = match store
        .catalog()
        .search_products(
            &f.q,
            f.sellable == "1",
            f.sort(),
            PAGE + 1,
            i64::from(f.page) * PAGE,
        )
        .await
    {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    let more = list.len() as i64 > PAGE;
    list.truncate(usize::try_from(PAGE).unwrap_or(50));
    let held_of = refurbishers.iter().find(|r| r.key == f.held).map(|r| r.id);
    let held = match store.offers().held_prices(held_of, false, 200).await {
        Ok(h) => h,
        Err(e) => return failed(&e),
    };
    let rows = list
        .iter()
        .map(|p| Row {
            ean: p.ean.clone(),
            name: p.display_name().to_owned(),
            brand: p.brand.clone().unwrap_or_default(),
            price: money(p.price_incl_minor, p.currency.as_deref()),
            sellable: p.sellable,
            offers: p.offers_count,
            best: match (p.best_refurbisher_id, &p.best_sku) {
                (Some(r), Some(sku)) => format!("{} {sku}", key_of(r)),
                _ => "none".into(),
            },
        })
        .collect();
    let held = held
        .iter()
        .map(|o| Held {
            refurbisher: key_of(o.refurbisher_id),
            sku: o.sku.clone(),
            name: o.name.clone(),
            ean: o.ean.clone().unwrap_or_default(),
            old: money(o.applied_purchase_minor, Some(&o.currency)),
            new: money(Some(o.price_purchase_minor), Some(&o.currency)),
            since: o.price_held_at.as_ref().map(at).unwrap_or_default(),
        })
        .collect();
    Page(List {
        ctx: Ctx::new(&viewer, "products"),
        rows,
        held,
        prev: (f.page > 0).then(|| f.link(f.page - 1)),
        next: more.then(|| f.link(f.page + 1)),
        f,
    })
    .into_response()
}

/// One offer of a product, priced.
pub struct OfferRow {
    refurbisher: String,
    sku: String,
    name: String,
    price_incl: String,
    price_excl: String,
    vat: String,
    sellable: String,
    verdict: String,
    reason: String,
    hold: String,
    consumer_below: bool,
    steps: Vec<String>,
}

/// One channel's view of a product.
pub struct ChannelRow {
    key: String,
    name: String,
    offers: Vec<(String, String, String, String, String)>,
    /// The content IRP owns in the shop: fields, state in words, last pushed, problem, and
    /// each field the next push changes (field, before, after).
    content: Option<ContentRow>,
}

/// The content IRP owns of a product in one channel's shop, as the page shows it.
pub struct ContentRow {
    fields: String,
    state: &'static str,
    state_class: &'static str,
    pushed_at: String,
    problem: String,
    changes: Vec<(String, String, String)>,
}

/// A content value as text: a string as it is, anything else as JSON, nothing as "—".
fn content_text(v: Option<&serde_json::Value>) -> String {
    match v {
        None | Some(serde_json::Value::Null) => "—".into(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

#[derive(Template)]
#[template(path = "product.html")]
pub struct Show {
    ctx: Ctx,
    ean: String,
    name: String,
    fields: Vec<(&'static str, String)>,
    attributes: Vec<(String, String)>,
    offers: Vec<OfferRow>,
    channels: Vec<ChannelRow>,
}

/// `v` for a page: empty for none.
fn or_empty<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// `GET /products/{ean}`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(ean): Path<String>,
) -> Response {
    let detail = match ProductDetail::load(&state.store, &ean).await {
        Ok(Some(d)) => d,
        Ok(None) => {
            return refused(
                StatusCode::NOT_FOUND,
                &format!("There is no product with EAN {ean:?}."),
            );
        }
        Err(e) => return failed(&e),
    };
    let offers = detail
        .offer_list
        .iter()
        .map(|o| OfferRow {
            refurbisher: o.refurbisher.clone(),
            sku: o.sku.clone(),
            name: o.name.clone(),
            price_incl: format!("{} {}", o.price_incl_vat, o.currency_iso),
            price_excl: o.price_excl_vat.to_string(),
            vat: o.tax_percentage.to_string(),
            sellable: o.sellable.to_string(),
            verdict: o.verdict.clone(),
            reason: o.reason.clone(),
            hold: o.price_hold.clone().unwrap_or_default(),
            consumer_below: o.consumer_price_below_selling_price,
            steps: o.steps.clone().unwrap_or_default(),
        })
        .collect();
    let channels = detail
        .channels
        .iter()
        .map(|c| ChannelRow {
            content: c.content.as_ref().map(|v| {
                let (state, state_class) = match v.state.as_str() {
                    "up_to_date" => ("up to date in the shop", "yes"),
                    "waiting" => ("changed: goes out at the next round", "warn"),
                    "refused" => ("refused by the shop", "bad"),
                    "not_in_shop" => ("the shop does not have the product", "off"),
                    _ => ("no PIM data yet", "off"),
                };
                ContentRow {
                    fields: v.fields.join(", "),
                    state,
                    state_class,
                    pushed_at: v.pushed_at.map_or_else(
                        || "never".to_owned(),
                        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
                    ),
                    problem: v.problem.clone().unwrap_or_default(),
                    changes: v
                        .changes
                        .iter()
                        .map(|ch| {
                            (
                                ch.field.clone(),
                                content_text(ch.before.as_ref()),
                                content_text(ch.after.as_ref()),
                            )
                        })
                        .collect(),
                }
            }),
            key: c.channel.clone(),
            name: c.name.clone(),
            offers: c
                .offers
                .iter()
                .map(|o| {
                    (
                        format!("{} {}", o.refurbisher, o.sku),
                        o.price_incl_vat.to_string(),
                        o.sellable.to_string(),
                        o.verdict.clone(),
                        o.reason.clone(),
                    )
                })
                .collect(),
        })
        .collect();
    let attributes = detail
        .attributes
        .iter()
        .map(|(k, v)| {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            (k.clone(), v)
        })
        .collect();
    let product = detail.product.computed();
    let fields = vec![
        ("Brand", or_empty(product.and_then(|p| p.brand.as_ref()))),
        ("Model", or_empty(product.and_then(|p| p.model.as_ref()))),
        (
            "Category",
            or_empty(product.and_then(|p| p.category.as_ref())),
        ),
        (
            "Best price incl. VAT",
            format!(
                "{} {}",
                or_empty(product.and_then(|p| p.price_incl_vat)),
                or_empty(product.and_then(|p| p.currency_iso.as_ref()))
            ),
        ),
        ("Sellable", or_empty(product.map(|p| p.sellable))),
        ("Name from", or_empty(product.map(|p| &p.name_source))),
    ];
    Page(Show {
        ctx: Ctx::new(&viewer, "products"),
        name: or_empty(product.map(|p| &p.name)),
        ean,
        fields,
        attributes,
        offers,
        channels,
    })
    .into_response()
}

/// The decision form: which offer.
#[derive(serde::Deserialize)]
pub struct DecideForm {
    refurbisher: String,
    sku: String,
    decision: String,
}

/// `POST /prices/decide`: accept or reject a held purchase price change.
pub async fn decide(State(state): State<AppState>, act: Act<DecideForm>) -> Response {
    let accept = match act.form.decision.as_str() {
        "accept" => true,
        "reject" => false,
        other => {
            return refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("decision {other:?}: expected accept or reject"),
            );
        }
    };
    let r = match state.store.refurbishers().get(&act.form.refurbisher).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return refused(
                StatusCode::NOT_FOUND,
                &format!("There is no refurbisher `{}`.", act.form.refurbisher),
            );
        }
        Err(e) => return failed(&e),
    };
    match irp_pipeline::catalog::decide_price(
        &state.store,
        r.id,
        &act.form.sku,
        accept,
        &act.actor(),
    )
    .await
    {
        Ok(_) => {
            state.store.catalog_signal().notify_one();
            Redirect::to("/products#held").into_response()
        }
        Err(e) => store_failed(&e),
    }
}
