//! What happened: alerts (`/alerts`, open and resolved, with where to act), shipments
//! (`/shipments`, with match and dismiss for unmatched ones) and the audit log (`/audit`:
//! who changed what, when).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use irp_store::audit::AuditEntry;
use irp_store::monitor::Alert;
use irp_store::shipments::StoredShipment;

use super::refurbishers::Empty;
use super::{Ctx, Page, ago, at, failed, status_class, store_failed};
use crate::server::AppState;
use crate::server::auth::{Act, Viewer};

/// Rows per page.
const PAGE: i64 = 100;

/// `?state=open|all&refurbisher=KEY`.
#[derive(serde::Deserialize, Default)]
pub struct AlertQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    refurbisher: String,
}

/// One alert, with where to act on it.
pub struct AlertRow {
    a: Alert,
    opened: String,
    opened_ago: String,
    resolved: String,
    act_url: String,
    act_label: &'static str,
    notified: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
pub struct Alerts {
    ctx: Ctx,
    rows: Vec<AlertRow>,
    all: bool,
    refurbisher: String,
    refurbishers: Vec<String>,
}

/// Where an operator acts on an alert of `metric` about refurbisher `key`.
fn act_on(metric: irp_core::monitoring::Metric, key: Option<&str>) -> (String, &'static str) {
    use irp_core::monitoring as m;
    let r = key.unwrap_or_default();
    match metric {
        m::Metric::FeedQuarantined => (
            format!("/refurbishers/{r}#quarantined"),
            "Review the quarantined run",
        ),
        m::Metric::FeedFailed | m::Metric::HttpStatus | m::Metric::OffersStock => {
            (format!("/refurbishers/{r}#runs"), "See the feed runs")
        }
        m::Metric::OrdersAttention | m::Metric::OpenOrder => {
            (format!("/orders?refurbisher={r}"), "See its orders")
        }
        m::Metric::LatestOrder => (format!("/orders?refurbisher={r}"), "See its orders"),
        m::Metric::PriceChangeHeld => (format!("/products?held={r}"), "Decide the held prices"),
    }
}

/// `GET /alerts`.
pub async fn alerts(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AlertQuery>,
) -> Response {
    let store = &state.store;
    let refurbishers = match store.refurbishers().list().await {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let id = refurbishers
        .iter()
        .find(|r| r.key == q.refurbisher)
        .map(|r| r.id);
    let all = q.state == "all";
    let list = match store.monitor().alerts_list(!all, id, 500).await {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    let now = irp_store::now();
    let rows = list
        .into_iter()
        .map(|a| {
            let (act_url, act_label) = act_on(a.metric, a.refurbisher.as_deref());
            AlertRow {
                opened: at(&a.opened_at),
                opened_ago: ago(&a.opened_at, now),
                resolved: a.resolved_at.as_ref().map(at).unwrap_or_default(),
                notified: match (&a.notified_at, &a.notify_error) {
                    (Some(t), _) => format!("notified {}", at(t)),
                    (None, Some(e)) => format!("notification failing: {e}"),
                    (None, None) => String::new(),
                },
                act_url,
                act_label,
                a,
            }
        })
        .collect();
    Page(Alerts {
        ctx: Ctx::new(&viewer, "alerts"),
        rows,
        all,
        refurbisher: q.refurbisher,
        refurbishers: refurbishers.into_iter().map(|r| r.key).collect(),
    })
    .into_response()
}

/// `?status=&refurbisher=`.
#[derive(serde::Deserialize, Default)]
pub struct ShipmentQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    refurbisher: String,
}

#[derive(Template)]
#[template(path = "shipments.html")]
pub struct Shipments {
    ctx: Ctx,
    rows: Vec<(StoredShipment, &'static str)>,
    status: String,
    refurbisher: String,
    refurbishers: Vec<String>,
}

/// `GET /shipments`.
pub async fn shipments(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ShipmentQuery>,
) -> Response {
    let store = &state.store;
    let refurbishers = match store.refurbishers().list().await {
        Ok(r) => r,
        Err(e) => return failed(&e),
    };
    let id = refurbishers
        .iter()
        .find(|r| r.key == q.refurbisher)
        .map(|r| r.id);
    let status = Some(q.status.as_str()).filter(|s| !s.is_empty());
    let list = match store.shipments().list(id, status, 200).await {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    Page(Shipments {
        ctx: Ctx::new(&viewer, "shipments"),
        rows: list
            .into_iter()
            .map(|s| {
                let c = status_class(&s.status);
                (s, c)
            })
            .collect(),
        status: q.status,
        refurbisher: q.refurbisher,
        refurbishers: refurbishers.into_iter().map(|r| r.key).collect(),
    })
    .into_response()
}

/// The match form: the supplier order to link.
#[derive(serde::Deserialize)]
pub struct MatchForm {
    supplier_order_id: i64,
}

/// `POST /shipments/{id}/match`.
pub async fn match_shipment(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    act: Act<MatchForm>,
) -> Response {
    match state
        .store
        .shipments()
        .match_to(id, act.form.supplier_order_id, &act.actor())
        .await
    {
        Ok(_) => Redirect::to("/shipments?status=unmatched").into_response(),
        Err(e) => store_failed(&e),
    }
}

/// `POST /shipments/{id}/dismiss`.
pub async fn dismiss_shipment(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    act: Act<Empty>,
) -> Response {
    match state.store.shipments().dismiss(id, &act.actor()).await {
        Ok(()) => Redirect::to("/shipments?status=unmatched").into_response(),
        Err(e) => store_failed(&e),
    }
}

/// `?q=&page=`.
#[derive(serde::Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: u32,
}

#[derive(Template)]
#[template(path = "audit.html")]
pub struct Audit {
    ctx: Ctx,
    rows: Vec<(AuditEntry, String, String)>,
    q: String,
    prev: Option<String>,
    next: Option<String>,
}

/// `GET /audit`.
pub async fn audit(
    State(state): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AuditQuery>,
) -> Response {
    let text = Some(q.q.trim()).filter(|t| !t.is_empty());
    let mut list = match state
        .store
        .audit_search(text, PAGE + 1, i64::from(q.page) * PAGE)
        .await
    {
        Ok(l) => l,
        Err(e) => return failed(&e),
    };
    let more = list.len() as i64 > PAGE;
    list.truncate(usize::try_from(PAGE).unwrap_or(100));
    let link = |page: u32| super::page_link("/audit", &[("q", q.q.as_str())], page);
    Page(Audit {
        ctx: Ctx::new(&viewer, "audit"),
        rows: list
            .into_iter()
            .map(|e| {
                let when = at(&e.at);
                let details = serde_json::to_string(&e.details.0).unwrap_or_default();
                (e, when, details)
            })
            .collect(),
        prev: (q.page > 0).then(|| link(q.page - 1)),
        next: more.then(|| link(q.page + 1)),
        q: q.q,
    })
    .into_response()
}
