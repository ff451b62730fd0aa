//! Order pages: the list (`/orders`, filtered by status, refurbisher, channel, date, order
//! number or e-mail, paginated, with orders per day as a chart) and one order (`/orders/{id}`:
//! its lines, each supplier order with every attempt's request and response as recorded
//! (credentials redacted when recorded), retry and cancel, and its shipments with IMEIs).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{NaiveDate, TimeDelta};
use irp_store::orders::{OrderFilter, StoredAttempt, StoredLine, StoredOrder, StoredSupplierOrder};
use irp_store::shipments::{StoredShipment, StoredUnit};

use super::refurbishers::Empty;
use super::{Ctx, Page, at, failed, refused, status_class, store_failed};
use crate::server::AppState;
use crate::server::auth::{Act, Viewer};

/// Rows per page.
const PAGE: i64 = 50;

/// The list's filters, as the form sends them (empty = any).
#[derive(serde::Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    refurbisher: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: u32,
}

/// One order in the list.
pub struct ListRow {
    id: i64,
    number: String,
    channel: String,
    placed: String,
    email: String,
    status: String,
    class: &'static str,
}

#[derive(Template)]
#[template(path = "orders.html")]
pub struct List {
    ctx: Ctx,
    rows: Vec<ListRow>,
    f: ListQuery,
    refurbishers: Vec<String>,
    channels: Vec<String>,
    statuses: &'static [&'static str],
    error: Option<String>,
    prev: Option<String>,
    next: Option<String>,
    chart: String,
}

/// Order statuses, for the filter.
const STATUSES: &[&str] = &[
    irp_core::orders::status::OrderStatus::Routed.as_str(),
    irp_core::orders::status::OrderStatus::NeedsAttention.as_str(),
];

fn day(s: &str) -> Result<Option<NaiveDate>, String> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| format!("{s:?} is not a date; expected YYYY-MM-DD"))
}

impl ListQuery {
    /// The query string of this filter on page `page`.
    fn link(&self, page: u32) -> String {
        let pairs = [
            ("status", self.status.as_str()),
            ("refurbisher", self.refurbisher.as_str()),
            ("channel", self.channel.as_str()),
            ("from", self.from.as_str()),
            ("until", self.until.as_str()),
            ("q", self.q.as_str()),
        ];
        super::page_link("/orders", &pairs, page)
    }
}

/// Orders per day over 30 days as a bar chart (server-rendered SVG).
fn per_day_chart(days: &[(String, i64)], today: NaiveDate) -> String {
    let n = 30;
    let counts: Vec<(String, i64)> = (0..n)
        .rev()
        .map(|back| {
            let d = (today - TimeDelta::days(back))
                .format("%Y-%m-%d")
                .to_string();
            let c = days.iter().find(|(k, _)| *k == d).map_or(0, |(_, c)| *c);
            (d, c)
        })
        .collect();
    let highest = counts.iter().map(|(_, c)| *c).max().unwrap_or(0);
    let total: i64 = counts.iter().map(|(_, c)| *c).sum();
    let max = highest.max(1) as f64;
    let (w, h, pad) = (560.0_f64, 100.0_f64, 16.0_f64);
    let bw = (w - 2.0 * pad) / n as f64;
    let mut bars = String::new();
    for (i, (d, c)) in counts.iter().enumerate() {
        let bh = (*c as f64 / max) * (h - 2.0 * pad);
        bars.push_str(&format!(
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bh:.1}" fill="#2456a6"><title>{d}: {c} orders</title></rect>"##,
            pad + bw * i as f64 + 1.0,
            h - pad - bh,
            (bw - 2.0).max(1.0),
        ));
    }
    let first = counts.first().map(|(d, _)| d.clone()).unwrap_or_default();
    let last = counts.last().map(|(d, _)| d.clone()).unwrap_or_default();
    format!(
        r##"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="Orders per day, last 30 days">{bars}
<text x="{pad}" y="11">orders per day, last 30 days: {total} in all, at most {highest} a day</text><text x="{pad}" y="{ty}">{first}</text><text x="{lx}" y="{ty}" text-anchor="end">{last}</text></svg>"##,
        ty = h - 3.0,
        lx = w - pad,
    )
}

/// `GET /orders`.
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
    let channels = match store.channels().list().await {
        Ok(c) => c.into_iter().map(|c| c.channel.key).collect(),
        Err(e) => return failed(&e),
    };
    let mut error = None;
    let mut filter = OrderFilter {
        status: Some(f.status.clone()).filter(|s| !s.is_empty()),
        channel: Some(f.channel.clone()).filter(|s| !s.is_empty()),
        text: Some(f.q.trim().to_owned()).filter(|s| !s.is_empty()),
        ..OrderFilter::default()
    };
    if !f.refurbisher.is_empty() {
        match refurbishers.iter().find(|r| r.key == f.refurbisher) {
            Some(r) => filter.refurbisher_id = Some(r.id),
            None => error = Some(format!("There is no refurbisher `{}`.", f.refurbisher)),
        }
    }
    match (day(&f.from), day(&f.until)) {
        (Ok(from), Ok(until)) => {
            filter.from = from
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
            filter.until = until
                .and_then(|d| d.succ_opt())
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|t| t.and_utc());
        }
        (Err(e), _) | (_, Err(e)) => error = Some(format!("From/until: {e}.")),
    }
    let offset = i64::from(f.page) * PAGE;
    let mut orders = if error.is_some() {
        Vec::new()
    } else {
        match store.orders().search(&filter, PAGE + 1, offset).await {
            Ok(o) => o,
            Err(e) => return failed(&e),
        }
    };
    let more = orders.len() as i64 > PAGE;
    orders.truncate(usize::try_from(PAGE).unwrap_or(50));
    let now = irp_store::now();
    let days = match store.orders().per_day(now - TimeDelta::days(30)).await {
        Ok(d) => d,
        Err(e) => return failed(&e),
    };
    let rows = orders
        .iter()
        .map(|o: &StoredOrder| ListRow {
            id: o.id,
            number: o.order_number.clone(),
            channel: o.channel.clone(),
            placed: at(&o.placed_at),
            email: o.customer_email.clone(),
            status: o.status.to_string(),
            class: status_class(o.status.as_str()),
        })
        .collect();
    Page(List {
        ctx: Ctx::new(&viewer, "orders"),
        rows,
        prev: (f.page > 0).then(|| f.link(f.page - 1)),
        next: more.then(|| f.link(f.page + 1)),
        f,
        refurbishers: refurbishers.into_iter().map(|r| r.key).collect(),
        channels,
        statuses: STATUSES,
        error,
        chart: per_day_chart(&days, now.date_naive()),
    })
    .into_response()
}

/// A supplier order with its attempts and shipments.
pub struct SupplierBlock {
    so: StoredSupplierOrder,
    refurbisher: String,
    class: &'static str,
    retryable: bool,
    cancellable: bool,
    attempts: Vec<AttemptView>,
    shipments: Vec<(StoredShipment, Vec<StoredUnit>, &'static str)>,
    erp: Option<irp_store::erp::ErpDocument>,
    erp_class: &'static str,
}

/// One attempt, its request and response as text.
pub struct AttemptView {
    a: StoredAttempt,
    started: String,
    request: String,
    class: &'static str,
}

#[derive(Template)]
#[template(path = "order.html")]
pub struct Show {
    ctx: Ctx,
    order: StoredOrder,
    placed: String,
    class: &'static str,
    lines: Vec<StoredLine>,
    blocks: Vec<SupplierBlock>,
    address: String,
}

/// `GET /orders/{id}`.
pub async fn show(State(state): State<AppState>, viewer: Viewer, Path(id): Path<i64>) -> Response {
    let store = &state.store;
    let order = match store.orders().get(id).await {
        Ok(Some(o)) => o,
        Ok(None) => return refused(StatusCode::NOT_FOUND, &format!("There is no order {id}.")),
        Err(e) => return failed(&e),
    };
    match gather(&state, order).await {
        Ok((lines, blocks)) => Page(Show {
            ctx: Ctx::new(&viewer, "orders"),
            placed: at(&lines.0.placed_at),
            class: status_class(lines.0.status.as_str()),
            address: serde_json::to_string_pretty(&lines.0.shipping_address.0).unwrap_or_default(),
            order: lines.0,
            lines: lines.1,
            blocks,
        })
        .into_response(),
        Err(e) => store_failed(&e),
    }
}

type Gathered = ((StoredOrder, Vec<StoredLine>), Vec<SupplierBlock>);

async fn gather(state: &AppState, order: StoredOrder) -> Result<Gathered, irp_store::StoreError> {
    let store = &state.store;
    let lines = store.orders().lines(order.id).await?;
    let refurbishers = store.refurbishers().list().await?;
    let mut blocks = Vec::new();
    for so in store.orders().supplier_orders_of(order.id).await? {
        let attempts = store
            .supplier_orders()
            .attempts(so.id)
            .await?
            .into_iter()
            .map(|a| AttemptView {
                started: at(&a.started_at),
                request: a
                    .request
                    .as_ref()
                    .map(|r| serde_json::to_string_pretty(&r.0).unwrap_or_default())
                    .unwrap_or_default(),
                class: status_class(&a.outcome),
                a,
            })
            .collect();
        let mut shipments = Vec::new();
        for s in store.shipments().of_supplier_order(so.id).await? {
            let units = store
                .shipments()
                .get(s.id)
                .await?
                .map(|(_, u)| u)
                .unwrap_or_default();
            let class = status_class(&s.status);
            shipments.push((s, units, class));
        }
        let erp = store.erp().document(so.id).await?;
        blocks.push(SupplierBlock {
            refurbisher: refurbishers
                .iter()
                .find(|r| r.id == so.refurbisher_id)
                .map_or_else(|| so.refurbisher_id.to_string(), |r| r.key.clone()),
            class: status_class(so.status.as_str()),
            retryable: so.status.retryable(),
            cancellable: so.status.cancellable(),
            attempts,
            shipments,
            erp_class: erp.as_ref().map_or("", |e| status_class(&e.status)),
            erp,
            so,
        });
    }
    Ok(((order, lines), blocks))
}

/// `POST /supplier-orders/{id}/retry`.
pub async fn retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    act: Act<Empty>,
) -> Response {
    match state.store.supplier_orders().retry(id, &act.actor()).await {
        Ok(so) => {
            Redirect::to(&format!("/orders/{}#supplier-order-{id}", so.order_id)).into_response()
        }
        Err(e) => store_failed(&e),
    }
}

/// `POST /supplier-orders/{id}/erp-retry`: record a failed Odoo document again.
pub async fn erp_retry(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    act: Act<Empty>,
) -> Response {
    match state.store.erp().retry(id, &act.actor()).await {
        Ok(d) => {
            Redirect::to(&format!("/orders/{}#supplier-order-{id}", d.order_id)).into_response()
        }
        Err(e) => store_failed(&e),
    }
}

/// `POST /supplier-orders/{id}/cancel`.
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    act: Act<Empty>,
) -> Response {
    match state.store.supplier_orders().cancel(id, &act.actor()).await {
        Ok(so) => {
            Redirect::to(&format!("/orders/{}#supplier-order-{id}", so.order_id)).into_response()
        }
        Err(e) => store_failed(&e),
    }
}
