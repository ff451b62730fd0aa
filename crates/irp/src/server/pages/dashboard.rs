//! The dashboard (`/`): every refurbisher with its status badges and monitoring metrics
//! against their thresholds, its last feed run, the open alerts and the supplier orders that
//! need an operator.

use askama::Template;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use irp_store::Store;

use super::{Ctx, Page, ago, at, failed, status_class};
use crate::server::AppState;
use crate::server::auth::Viewer;

/// One metric of one refurbisher against its threshold.
pub struct MetricCell {
    /// Short label.
    pub label: &'static str,
    /// The value, as text.
    pub value: String,
    /// `ok`, `bad` or `off` (switched off / nothing to measure).
    pub class: &'static str,
    /// The reading for people (tooltip).
    pub message: String,
}

/// A feed run in one line.
pub struct RunCell {
    /// Run id.
    pub id: i64,
    /// Its status.
    pub status: String,
    /// The status badge's class.
    pub class: &'static str,
    /// When it started, relative.
    pub ago: String,
    /// When it started.
    pub at: String,
    /// Rows read / rejected.
    pub rows_read: i64,
    /// Rows rejected.
    pub rows_rejected: i64,
}

/// One refurbisher on the dashboard.
pub struct Row {
    /// Refurbisher id.
    pub id: i64,
    /// Connector key.
    pub key: String,
    /// Name.
    pub name: String,
    /// "ID 151" or "—".
    pub supplier: String,
    /// The seeds' "Offer connector" column.
    pub offer_connector: String,
    /// The seeds' "Order connector" column.
    pub order_connector: String,
    /// Whether a webhook token exists.
    pub webhook: bool,
    /// Enabled.
    pub enabled: bool,
    /// Approved refurbished.
    pub approved: bool,
    /// The monitoring metrics.
    pub metrics: Vec<MetricCell>,
    /// Whether any metric breaches.
    pub breach: bool,
    /// The last feed run.
    pub last_run: Option<RunCell>,
    /// Open alerts.
    pub open_alerts: usize,
}

/// An open alert.
pub struct AlertRow {
    /// Alert id.
    pub id: i64,
    /// Refurbisher key, if any.
    pub refurbisher: String,
    /// Metric.
    pub metric: String,
    /// What it is about.
    pub message: String,
    /// Opened, relative.
    pub ago: String,
}

/// A supplier order that needs an operator.
pub struct AttentionRow {
    /// Supplier order id.
    pub id: i64,
    /// The customer order.
    pub order_id: i64,
    /// Refurbisher key.
    pub refurbisher: String,
    /// Status.
    pub status: String,
    /// Why.
    pub last_error: String,
    /// Last change, relative.
    pub ago: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct Dashboard {
    ctx: Ctx,
    rows: Vec<Row>,
    alerts: Vec<AlertRow>,
    attention: Vec<AttentionRow>,
    version: &'static str,
    database: String,
}

/// The short label of a monitoring metric.
pub fn metric_label(metric: irp_core::monitoring::Metric) -> &'static str {
    use irp_core::monitoring as m;
    match metric {
        m::Metric::LatestOrder => "Last order",
        m::Metric::OffersStock => "Stock update",
        m::Metric::OpenOrder => "Open order",
        m::Metric::HttpStatus => "Feed HTTP",
        m::Metric::FeedFailed => "Feed failed",
        m::Metric::FeedQuarantined => "Quarantine",
        m::Metric::OrdersAttention => "Attention",
        m::Metric::PriceChangeHeld => "Held prices",
    }
}

/// A reading as a cell.
pub fn metric_cell(r: &irp_core::monitoring::Reading) -> MetricCell {
    let class = if r.breach {
        "bad"
    } else if r.threshold.is_none() && r.value.is_none() {
        "off"
    } else {
        "ok"
    };
    use irp_core::monitoring as m;
    let value = match (r.metric, r.value) {
        (_, None) => "—".to_owned(),
        // The value is the latest run's id; what matters is whether that run failed.
        (m::Metric::FeedFailed | m::Metric::FeedQuarantined, Some(_)) => {
            if r.breach { "yes" } else { "no" }.to_owned()
        }
        (m::Metric::LatestOrder | m::Metric::OffersStock, Some(_)) => {
            format!("{} h", r.value_text())
        }
        (m::Metric::OpenOrder, Some(_)) => format!("{} d", r.value_text()),
        _ => r.value_text(),
    };
    MetricCell {
        label: metric_label(r.metric),
        value,
        class,
        message: r.message.clone(),
    }
}

/// A run as a cell.
pub fn run_cell(run: &irp_store::offers::FeedRun, now: chrono::DateTime<chrono::Utc>) -> RunCell {
    RunCell {
        id: run.id,
        status: run.status.to_string(),
        class: status_class(&run.status),
        ago: ago(&run.started_at, now),
        at: at(&run.started_at),
        rows_read: run.rows_read,
        rows_rejected: run.rows_rejected,
    }
}

async fn gather(store: &Store, viewer: &Viewer) -> Result<Dashboard, irp_store::StoreError> {
    let now = irp_store::now();
    let refurbishers = store.refurbishers().list().await?;
    let readings = irp_pipeline::monitor::readings(store, now).await?;
    let open = store.monitor().alerts_list(true, None, 200).await?;
    let mut rows = Vec::with_capacity(refurbishers.len());
    for r in &refurbishers {
        let webhook = store.shipments().webhook_state(r.id).await?;
        let last_run = store.feed_runs().list(r.id, 1).await?.into_iter().next();
        let metrics: Vec<MetricCell> = readings
            .iter()
            .find(|x| x.refurbisher_id == r.id)
            .map(|x| x.readings.iter().map(metric_cell).collect())
            .unwrap_or_default();
        rows.push(Row {
            id: r.id,
            key: r.key.clone(),
            name: r.model.name.clone(),
            supplier: r
                .model
                .supplier_id
                .map_or("—".into(), |s| format!("ID {s}")),
            offer_connector: r.model.offer_connector_label(),
            order_connector: r.model.order_connector_label(),
            webhook: webhook.token_created_at.is_some(),
            enabled: r.model.enabled,
            approved: r.model.approved_refurbished,
            breach: metrics.iter().any(|m| m.class == "bad"),
            metrics,
            last_run: last_run.as_ref().map(|run| run_cell(run, now)),
            open_alerts: open
                .iter()
                .filter(|a| a.refurbisher_id == Some(r.id))
                .count(),
        });
    }
    let alerts = open
        .iter()
        .map(|a| AlertRow {
            id: a.id,
            refurbisher: a.refurbisher.clone().unwrap_or_else(|| "—".into()),
            metric: a.metric.to_string(),
            message: a.message.clone(),
            ago: ago(&a.opened_at, now),
        })
        .collect();
    let key_of = |id: i64| {
        refurbishers
            .iter()
            .find(|r| r.id == id)
            .map_or_else(|| id.to_string(), |r| r.key.clone())
    };
    let mut attention = Vec::new();
    for status in [
        irp_core::orders::status::SupplierOrderStatus::NeedsAttention.as_str(),
        irp_core::orders::status::SupplierOrderStatus::Failed.as_str(),
    ] {
        for so in store.supplier_orders().list(Some(status), 50).await? {
            attention.push(AttentionRow {
                id: so.id,
                order_id: so.order_id,
                refurbisher: key_of(so.refurbisher_id),
                status: so.status.to_string(),
                last_error: so.last_error.clone().unwrap_or_default(),
                ago: ago(&so.updated_at, now),
            });
        }
    }
    Ok(Dashboard {
        ctx: Ctx::new(viewer, "dashboard"),
        rows,
        alerts,
        attention,
        version: env!("CARGO_PKG_VERSION"),
        database: store.backend().to_string(),
    })
}

/// `GET /`.
pub async fn page(State(state): State<AppState>, viewer: Viewer) -> Response {
    match gather(&state.store, &viewer).await {
        Ok(d) => Page(d).into_response(),
        Err(e) => failed(&e),
    }
}
