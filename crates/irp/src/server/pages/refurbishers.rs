//! Refurbisher pages: the list (`/refurbishers`), one refurbisher (`/refurbishers/{key}`:
//! settings, thresholds, connector config with credentials hidden, feed runs, webhook state,
//! open alerts), one feed run (`/runs/{id}`: its report and row errors, filterable), and the
//! actions: import now, preview the feed, apply or discard a quarantined run, rotate the
//! webhook token.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use irp_store::offers::{FeedRun, StoredRowError};
use irp_store::refurbishers::StoredRefurbisher;
use serde_json::json;

use super::dashboard::{MetricCell, RunCell, metric_cell, run_cell};
use super::{Ctx, Page, at, failed, refused, status_class, store_failed};
use crate::server::AppState;
use crate::server::auth::{Act, Viewer};

/// A form with nothing but the CSRF token.
#[derive(serde::Deserialize)]
pub struct Empty {}

/// One row of the refurbisher list.
pub struct ListRow {
    key: String,
    name: String,
    id: i64,
    supplier: String,
    enabled: bool,
    approved: bool,
    internal: bool,
    margin: String,
    shipping: String,
    home_copy_tax: String,
    stock_threshold: i64,
    offer_connector: String,
    order_connector: String,
}

#[derive(Template)]
#[template(path = "refurbishers.html")]
pub struct List {
    ctx: Ctx,
    rows: Vec<ListRow>,
}

fn percent(d: rust_decimal::Decimal) -> String {
    format!("{} %", (d * rust_decimal::Decimal::ONE_HUNDRED).normalize())
}

/// `GET /refurbishers`.
pub async fn list(State(state): State<AppState>, viewer: Viewer) -> Response {
    let all = match state.store.refurbishers().list().await {
        Ok(a) => a,
        Err(e) => return failed(&e),
    };
    let rows = all
        .iter()
        .map(|r| {
            let m = &r.model;
            ListRow {
                key: r.key.clone(),
                name: m.name.clone(),
                id: r.id,
                supplier: m.supplier_id.map_or("—".into(), |s| format!("ID {s}")),
                enabled: m.enabled,
                approved: m.approved_refurbished,
                internal: m.internal,
                margin: format!("{} %", m.default_margin.normalize()),
                shipping: format!("{} {}", m.shipping_costs.normalize(), m.currency),
                home_copy_tax: format!("{} {}", m.home_copy_tax.normalize(), m.currency),
                stock_threshold: m.stock_threshold,
                offer_connector: m.offer_connector_label(),
                order_connector: m.order_connector_label(),
            }
        })
        .collect();
    Page(List {
        ctx: Ctx::new(&viewer, "refurbishers"),
        rows,
    })
    .into_response()
}

/// One credential of the connector config.
pub struct Credential {
    /// Where it is (`offers.auth.password`).
    path: String,
    /// The secret it references (`${secret:NAME}`), or none for a literal in the document.
    reference: Option<String>,
    /// Whether the referenced secret is stored.
    stored: bool,
}

/// A label and a value.
pub struct Field {
    label: &'static str,
    value: String,
}

#[derive(Template)]
#[template(path = "refurbisher.html")]
pub struct Show {
    ctx: Ctx,
    key: String,
    name: String,
    id: i64,
    enabled: bool,
    approved: bool,
    settings: Vec<Field>,
    thresholds: Vec<Field>,
    metrics: Vec<MetricCell>,
    offer_connector: String,
    order_connector: String,
    has_offers: bool,
    upload_only: bool,
    document: String,
    credentials: Vec<Credential>,
    runs: Vec<RunCell>,
    quarantined: Vec<RunCell>,
    chart: String,
    webhook: String,
    webhook_previous: Option<String>,
    supplier_id: Option<i64>,
    alerts: Vec<(irp_core::monitoring::Metric, String)>,
    version: i64,
    updated: String,
}

/// The refurbisher `key`, or a 404 page.
async fn refurbisher(state: &AppState, key: &str) -> Result<StoredRefurbisher, Response> {
    match state.store.refurbishers().get(key).await {
        Ok(Some(r)) => Ok(r),
        Ok(None) => Err(refused(
            StatusCode::NOT_FOUND,
            &format!("There is no refurbisher `{key}`."),
        )),
        Err(e) => Err(failed(&e)),
    }
}

/// Every credential in the document's `auth` blocks, with the secret it references.
pub(crate) fn credentials(doc: &serde_json::Value) -> Vec<(String, Option<String>)> {
    fn walk(
        v: &serde_json::Value,
        path: &str,
        in_auth: bool,
        out: &mut Vec<(String, Option<String>)>,
    ) {
        if let serde_json::Value::Object(m) = v {
            for (k, x) in m {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match x {
                    serde_json::Value::String(s)
                        if in_auth
                            && irp_core::config::validate::CREDENTIAL_KEYS
                                .contains(&k.as_str()) =>
                    {
                        let reference = s
                            .strip_prefix("${secret:")
                            .and_then(|r| r.strip_suffix('}'))
                            .map(str::to_owned);
                        out.push((p, reference));
                    }
                    _ => walk(x, &p, in_auth || k == "auth", out),
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(doc, "", false, &mut out);
    out
}

/// The document as shown: credentials (literal or not) as `••••`.
fn shown_document(key: &str, doc: &serde_json::Value) -> String {
    let red = irp_core::config::redact(doc);
    let text = serde_json::to_string_pretty(&json!({ key: red })).unwrap_or_default();
    text.replace(irp_core::config::REDACTED, "••••")
}

/// Server-rendered SVG: offers accepted and rows rejected per feed run, oldest left.
pub fn runs_chart(runs: &[FeedRun]) -> String {
    let runs: Vec<&FeedRun> = runs.iter().rev().collect();
    if runs.is_empty() {
        return String::new();
    }
    let (w, h, pad) = (560.0_f64, 120.0_f64, 24.0_f64);
    let max = runs
        .iter()
        .map(|r| r.rows_accepted.max(r.rows_rejected))
        .max()
        .unwrap_or(0)
        .max(1) as f64;
    let step = (w - 2.0 * pad) / (runs.len().max(2) - 1) as f64;
    let point = |i: usize, v: i64| {
        let x = pad + step * i as f64;
        let y = h - pad - (v as f64 / max) * (h - 2.0 * pad);
        format!("{x:.1},{y:.1}")
    };
    let line = |f: &dyn Fn(&FeedRun) -> i64| {
        runs.iter()
            .enumerate()
            .map(|(i, r)| point(i, f(r)))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let accepted = line(&|r| r.rows_accepted);
    let rejected = line(&|r| r.rows_rejected);
    let first = runs.first().map(|r| at(&r.started_at)).unwrap_or_default();
    let last = runs.last().map(|r| at(&r.started_at)).unwrap_or_default();
    format!(
        r##"<svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="Offers accepted and rows rejected per feed run">
<polyline fill="none" stroke="#2456a6" stroke-width="2" points="{accepted}"/>
<polyline fill="none" stroke="#a33" stroke-width="2" points="{rejected}"/>
<text x="{pad}" y="12">max {max} rows</text>
<text x="{pad}" y="{ty}">{first}</text><text x="{lx}" y="{ty}" text-anchor="end">{last}</text>
<text x="{lx}" y="12" text-anchor="end"><tspan fill="#2456a6">■ accepted</tspan> <tspan fill="#a33">■ rejected</tspan></text>
</svg>"##,
        ty = h - 6.0,
        lx = w - pad,
    )
}

/// `GET /refurbishers/{key}`.
pub async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> Response {
    let r = match refurbisher(&state, &key).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match gather(&state, &viewer, r).await {
        Ok(page) => Page(page).into_response(),
        Err(e) => store_failed(&e),
    }
}

async fn gather(
    state: &AppState,
    viewer: &Viewer,
    r: StoredRefurbisher,
) -> Result<Show, irp_store::StoreError> {
    let store = &state.store;
    let now = irp_store::now();
    let m = &r.model;
    let runs = store.feed_runs().list(r.id, 30).await?;
    let webhook = store.shipments().webhook_state(r.id).await?;
    let readings = irp_pipeline::monitor::readings(store, now).await?;
    let mut creds = Vec::new();
    for (path, reference) in credentials(&r.document) {
        let stored = match &reference {
            Some(name) => store.secrets().info(name).await?.is_some(),
            None => true,
        };
        creds.push(Credential {
            path,
            reference,
            stored,
        });
    }
    let settings = vec![
        Field {
            label: "Public name",
            value: m.public_name.clone(),
        },
        Field {
            label: "Supplier",
            value: m
                .supplier_id
                .map_or("not set".into(), |s| format!("ID {s}")),
        },
        Field {
            label: "Odoo vendor",
            value: m
                .odoo_vendor_id
                .map_or("not set".into(), |s| format!("ID {s}")),
        },
        Field {
            label: "Currency",
            value: m.currency.clone(),
        },
        Field {
            label: "Shipping costs",
            value: format!("{} {}", m.shipping_costs.normalize(), m.currency),
        },
        Field {
            label: "Home copy tax",
            value: format!("{} {}", m.home_copy_tax.normalize(), m.currency),
        },
        Field {
            label: "Default margin",
            value: format!("{} %", m.default_margin.normalize()),
        },
        Field {
            label: "Margin rules",
            value: m.margin_rules.len().to_string(),
        },
        Field {
            label: "Default VAT",
            value: format!("{} %", m.default_tax_percentage.normalize()),
        },
        Field {
            label: "Price rounding",
            value: m.price_rounding.clone(),
        },
        Field {
            label: "Max price change",
            value: percent(m.max_price_change_ratio),
        },
        Field {
            label: "Stock threshold",
            value: m.stock_threshold.to_string(),
        },
        Field {
            label: "Approved refurbished",
            value: if m.approved_refurbished { "yes" } else { "no" }.into(),
        },
        Field {
            label: "Drop ship",
            value: if m.drop_ship { "yes" } else { "no" }.into(),
        },
        Field {
            label: "Internal (own store)",
            value: if m.internal { "yes" } else { "no" }.into(),
        },
        Field {
            label: "Poll interval",
            value: format!("{} min", m.poll_interval_secs / 60),
        },
    ];
    let off = |v: i64, unit: &str| {
        if v == 0 {
            "off".to_owned()
        } else {
            format!("{v}{unit}")
        }
    };
    let thresholds = vec![
        Field {
            label: "Latest order within",
            value: off(m.monitoring.latest_order_hours, " h"),
        },
        Field {
            label: "Offers stock updated within",
            value: off(m.monitoring.offers_stock_hours, " h"),
        },
        Field {
            label: "Open order at most",
            value: off(m.monitoring.open_order_days, " days"),
        },
        Field {
            label: "Offers endpoint HTTP status",
            value: off(m.monitoring.offers_endpoint_http_status, ""),
        },
    ];
    let metrics = readings
        .iter()
        .find(|x| x.refurbisher_id == r.id)
        .map(|x| x.readings.iter().map(metric_cell).collect())
        .unwrap_or_default();
    let run_cells: Vec<RunCell> = runs.iter().map(|run| run_cell(run, now)).collect();
    let quarantined = runs
        .iter()
        .filter(|run| run.status == "quarantined")
        .map(|run| run_cell(run, now))
        .collect();
    Ok(Show {
        ctx: Ctx::new(viewer, "refurbishers"),
        key: r.key.clone(),
        name: m.name.clone(),
        id: r.id,
        enabled: m.enabled,
        approved: m.approved_refurbished,
        settings,
        thresholds,
        metrics,
        offer_connector: m.offer_connector_label(),
        order_connector: m.order_connector_label(),
        has_offers: m.offers.is_some(),
        upload_only: m
            .offers
            .as_ref()
            .is_some_and(|o| o.connection == irp_core::config::model::Connection::Upload),
        document: shown_document(&r.key, &r.document),
        credentials: creds,
        chart: runs_chart(&runs),
        runs: run_cells,
        quarantined,
        webhook: webhook.label(),
        webhook_previous: webhook
            .previous_valid_until
            .map(|u| format!("{} UTC", at(&u))),
        supplier_id: m.supplier_id,
        alerts: store.monitor().alerts_open(r.id).await?,
        version: r.version,
        updated: at(&r.updated_at),
    })
}

#[derive(Template)]
#[template(path = "run.html")]
pub struct RunPage {
    ctx: Ctx,
    key: String,
    name: String,
    run: FeedRun,
    class: &'static str,
    started: String,
    finished: String,
    field_changes: Vec<(String, String)>,
    errors: Vec<StoredRowError>,
    total_errors: usize,
    fields: Vec<String>,
    field: String,
    q: String,
    /// Where the run stands, while it runs.
    now: Option<RunProgressFragment>,
}

/// Where a running run stands (swapped in every two seconds by htmx; the page reloads itself
/// once the run has ended).
#[derive(Template)]
#[template(path = "run_progress.html")]
pub struct RunProgressFragment {
    id: i64,
    /// One line: phase, counts, rate, time left (empty before the first report).
    line: String,
    /// When the run last reported.
    reported: String,
    /// Share done, 0–100, when the total is known.
    percent: Option<i64>,
}

/// Where run `id` stands, while it runs.
async fn run_progress(store: &irp_store::Store, run: &FeedRun) -> Option<RunProgressFragment> {
    if run.status != irp_core::feed::FeedRunStatus::Running {
        return None;
    }
    // A board that cannot be read shows the run as started, without figures.
    let entry = crate::views::feeds::Progress::of_run(store, run)
        .await
        .ok()
        .flatten();
    Some(RunProgressFragment {
        id: run.id,
        line: entry
            .as_ref()
            .map(crate::views::feeds::Progress::describe)
            .unwrap_or_default(),
        reported: entry
            .as_ref()
            .map(|p| p.updated_at.format("%H:%M:%S UTC").to_string())
            .unwrap_or_default(),
        percent: entry.and_then(|p| {
            p.total
                .filter(|t| *t > 0)
                .map(|t| (p.done.saturating_mul(100) / t).clamp(0, 100))
        }),
    })
}

/// `GET /runs/{id}/progress`: where the run stands (an htmx fragment); once it has ended, a
/// reload of the page (`HX-Refresh`), which then shows its report.
pub async fn run_progress_fragment(
    State(state): State<AppState>,
    _viewer: Viewer,
    Path(id): Path<i64>,
) -> Response {
    match state.store.feed_runs().get(id).await {
        Ok(Some(run)) => match run_progress(&state.store, &run).await {
            Some(f) => Page(f).into_response(),
            None => ([("HX-Refresh", "true")], "").into_response(),
        },
        Ok(None) => refused(
            StatusCode::NOT_FOUND,
            &format!("There is no feed run {id}."),
        ),
        Err(e) => failed(&e),
    }
}

/// Filters of the row errors.
#[derive(serde::Deserialize, Default)]
pub struct ErrorFilter {
    /// Only errors of this field.
    #[serde(default)]
    field: String,
    /// Only errors whose message or value contains this (case-insensitive).
    #[serde(default)]
    q: String,
}

/// `GET /runs/{id}`.
pub async fn run(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<i64>,
    Query(filter): Query<ErrorFilter>,
) -> Response {
    let store = &state.store;
    let run = match store.feed_runs().get(id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return refused(
                StatusCode::NOT_FOUND,
                &format!("There is no feed run {id}."),
            );
        }
        Err(e) => return failed(&e),
    };
    let all = match store.feed_runs().row_errors(id).await {
        Ok(e) => e,
        Err(e) => return failed(&e),
    };
    let (key, name) = match store.refurbishers().list().await {
        Ok(list) => list
            .into_iter()
            .find(|r| r.id == run.refurbisher_id)
            .map_or_else(
                || (String::new(), format!("refurbisher {}", run.refurbisher_id)),
                |r| (r.key, r.model.name),
            ),
        Err(e) => return failed(&e),
    };
    let mut fields: Vec<String> = all.iter().filter_map(|e| e.field.clone()).collect();
    fields.sort();
    fields.dedup();
    let q = filter.q.trim().to_lowercase();
    let total_errors = all.len();
    let errors = all
        .into_iter()
        .filter(|e| filter.field.is_empty() || e.field.as_deref() == Some(filter.field.as_str()))
        .filter(|e| {
            q.is_empty()
                || e.message.to_lowercase().contains(&q)
                || e.value
                    .as_deref()
                    .is_some_and(|v| v.to_lowercase().contains(&q))
        })
        .take(1000)
        .collect();
    let field_changes = run
        .field_changes
        .0
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect())
        .unwrap_or_default();
    let now = run_progress(store, &run).await;
    Page(RunPage {
        now,
        ctx: Ctx::new(&viewer, "refurbishers"),
        key,
        name,
        class: status_class(&run.status),
        started: at(&run.started_at),
        finished: run.finished_at.as_ref().map(at).unwrap_or_default(),
        field_changes,
        errors,
        total_errors,
        fields,
        field: filter.field,
        q: filter.q,
        run,
    })
    .into_response()
}

/// `POST /refurbishers/{key}/import`: fetch and import now; then the run's page.
pub async fn import(
    State(state): State<AppState>,
    Path(key): Path<String>,
    act: Act<Empty>,
) -> Response {
    let r = match refurbisher(&state, &key).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match crate::ops::import(
        &state.store,
        &state.secret_key_file,
        &r,
        crate::ops::FeedSource::Fetch,
        "manual",
        &act.actor(),
        None,
    )
    .await
    {
        Ok(rep) => Redirect::to(&format!("/runs/{}", rep.run_id)).into_response(),
        Err(crate::ops::ImportRefused::Store(e)) => failed(&e),
        Err(e) => refused(StatusCode::BAD_GATEWAY, &format!("{e}.")),
    }
}

#[derive(Template)]
#[template(path = "preview.html")]
pub struct PreviewPage {
    ctx: Ctx,
    key: String,
    name: String,
    p: crate::ops::Preview,
}

/// A failed preview alone (for htmx, swapped into the refurbisher page).
#[derive(Template)]
#[template(
    source = r#"<p class="error" id="preview-result">{{ message }}</p>"#,
    ext = "html"
)]
pub struct PreviewFailed {
    message: String,
}

/// The preview's result alone (for htmx, swapped into the refurbisher page).
#[derive(Template)]
#[template(path = "preview_body.html")]
pub struct PreviewFragment {
    p: crate::ops::Preview,
}

/// `POST /refurbishers/{key}/preview`: what the feed would give, nothing written. For htmx,
/// only the result (swapped into the refurbisher page).
pub async fn preview(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    act: Act<Empty>,
) -> Response {
    let r = match refurbisher(&state, &key).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match crate::ops::preview(&state.store, &state.secret_key_file, &r, None, 50).await {
        Ok(p) if headers.contains_key("hx-request") => Page(PreviewFragment { p }).into_response(),
        Ok(p) => Page(PreviewPage {
            ctx: ctx_of(&act, "refurbishers"),
            key: r.key.clone(),
            name: r.model.name.clone(),
            p,
        })
        .into_response(),
        Err(e) if headers.contains_key("hx-request") => (
            StatusCode::BAD_GATEWAY,
            Page(PreviewFailed {
                message: format!("The feed of `{key}` could not be previewed: {e:#}"),
            }),
        )
            .into_response(),
        Err(e) => refused(
            StatusCode::BAD_GATEWAY,
            &format!("The feed of `{key}` could not be previewed: {e:#}"),
        ),
    }
}

/// The layout context of an acting user.
pub fn ctx_of<T>(act: &Act<T>, nav: &'static str) -> Ctx {
    Ctx::of(&act.user, nav)
}

/// `POST /runs/{id}/apply`: apply a quarantined run.
pub async fn apply_run(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    act: Act<Empty>,
) -> Response {
    match crate::ops::apply_quarantined(&state.store, id, &act.actor()).await {
        Ok(_) => Redirect::to(&format!("/runs/{id}")).into_response(),
        Err(e) => refused(StatusCode::CONFLICT, &format!("{e:#}")),
    }
}

/// `POST /runs/{id}/discard`: discard a quarantined run.
pub async fn discard_run(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    act: Act<Empty>,
) -> Response {
    match state.store.feed_runs().discard(id, &act.actor()).await {
        Ok(_) => Redirect::to(&format!("/runs/{id}")).into_response(),
        Err(e) => store_failed(&e),
    }
}

#[derive(Template)]
#[template(path = "webhook_token.html")]
pub struct TokenPage {
    ctx: Ctx,
    key: String,
    name: String,
    url: String,
    previous_until: Option<String>,
}

/// `POST /refurbishers/{key}/webhook-token`: a new token; its URL is shown once.
pub async fn rotate_token(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    act: Act<Empty>,
) -> Response {
    let r = match refurbisher(&state, &key).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let grace = chrono::TimeDelta::hours(r.model.shipment.token_grace_hours);
    let t = match state
        .store
        .shipments()
        .webhook_token_rotate(&key, grace, &act.actor())
        .await
    {
        Ok(t) => t,
        Err(e) => return store_failed(&e),
    };
    let base = crate::server::public_base(&state, &headers);
    let mut page = Page(TokenPage {
        ctx: ctx_of(&act, "refurbishers"),
        key: key.clone(),
        name: r.model.name.clone(),
        url: format!("{base}/webhook/shipment/{}/{}", t.supplier_id, t.token),
        previous_until: t.previous_valid_until.map(|u| format!("{} UTC", at(&u))),
    })
    .into_response();
    // The URL holds a secret: no cache keeps this page.
    page.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    page
}

/// The replace form of one credential.
#[derive(serde::Deserialize)]
pub struct ReplaceForm {
    /// Where the credential is (`offers.auth.password`).
    path: String,
    /// The new value (never shown again).
    value: String,
}

/// `POST /refurbishers/{key}/credential`: a new value for one credential. It goes to the
/// secret store (encrypted); a credential written literally in the document becomes a
/// reference to that secret (the document is applied again). Audited without the value.
pub async fn replace_credential(
    State(state): State<AppState>,
    Path(key): Path<String>,
    act: Act<ReplaceForm>,
) -> Response {
    let r = match refurbisher(&state, &key).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    match crate::ops::replace_credential(
        &state.store,
        &state.secret_key_file,
        &r,
        &act.form.path,
        &act.form.value,
        &act.actor(),
    )
    .await
    {
        Ok(_) => Redirect::to(&format!("/refurbishers/{key}#credentials")).into_response(),
        Err(crate::ops::CredentialError::NoSuch(m)) => refused(StatusCode::NOT_FOUND, &m),
        Err(crate::ops::CredentialError::Invalid(m)) => {
            refused(StatusCode::UNPROCESSABLE_ENTITY, &m)
        }
        Err(crate::ops::CredentialError::Failed(e)) => failed(&format!("{e:#}")),
    }
}

/// `POST /refurbishers/{key}/upload` (multipart: `csrf`, then `file`): import an uploaded feed
/// file through the same pipeline as a fetched one; then the run's page.
pub async fn upload(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    mut multipart: axum::extract::Multipart,
) -> Response {
    let Some(user) = crate::server::auth::current_user(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    if user.user.must_change_password {
        // Until the first start's password is changed, nothing but the password form.
        return Redirect::to("/account/password").into_response();
    }
    if let Some(refusal) = crate::server::auth::not_an_operator(&user) {
        return refusal;
    }
    // A few uploads at a time: each may be large, and the disk is shared.
    let Ok(_upload) = std::sync::Arc::clone(&state.uploads).try_acquire_owned() else {
        return refused(
            StatusCode::TOO_MANY_REQUESTS,
            &format!(
                "{} uploads are being received already; upload this file when one of them is done.",
                crate::server::UPLOADS_AT_ONCE
            ),
        );
    };
    let r = match refurbisher(&state, &key).await {
        Ok(r) => r,
        Err(resp) => return resp,
    };
    let dir = match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => return failed(&e),
    };
    let path = dir.path().join("upload");
    let mut csrf = String::new();
    let mut file_name = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) => {
                return refused(
                    StatusCode::BAD_REQUEST,
                    &format!("The upload could not be read: {e}."),
                );
            }
        };
        match field.name() {
            Some("csrf") => csrf = field.text().await.unwrap_or_default(),
            Some("file") => {
                // The token comes first in the form: nothing is written for a forged request.
                if let Some(refusal) = crate::server::auth::csrf_refused(&user, &csrf, &headers) {
                    return refusal;
                }
                file_name = Some(field.file_name().unwrap_or("upload").to_owned());
                if let Err(e) = save_field(field, &path).await {
                    return refused(
                        StatusCode::BAD_REQUEST,
                        &format!("The upload could not be saved: {e}."),
                    );
                }
            }
            _ => {}
        }
    }
    let Some(file_name) = file_name else {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            "No file was sent: choose the feed file to upload.",
        );
    };
    let actor = format!("user:{}", user.user.email);
    let source = crate::ops::FeedSource::File {
        path: &path,
        shown: format!("upload: {file_name}"),
    };
    match crate::ops::import(
        &state.store,
        &state.secret_key_file,
        &r,
        source,
        "upload",
        &actor,
        None,
    )
    .await
    {
        Ok(rep) => Redirect::to(&format!("/runs/{}", rep.run_id)).into_response(),
        Err(crate::ops::ImportRefused::Store(e)) => failed(&e),
        Err(e) => refused(StatusCode::UNPROCESSABLE_ENTITY, &format!("{e}.")),
    }
}

/// Streams a multipart field to `path`.
async fn save_field(
    mut field: axum::extract::multipart::Field<'_>,
    path: &std::path::Path,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt as _;
    let mut out = tokio::fs::File::create(path).await?;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
    {
        out.write_all(&chunk).await?;
    }
    out.flush().await
}
