//! The portal server: the operator pages ([`pages`], behind a login: [`auth`]), `/healthz`,
//! `/metrics`, the REST API under `/api/v1` ([`api`]) and the shipment webhook ([`webhook`]).
//!
//! Connections are served by [`serve_http`]: HTTP/1.1 with a deadline for a request's headers
//! (`IRP_HEADER_TIMEOUT_SECS`), a stall limit for its body (`IRP_BODY_TIMEOUT_SECS`), and caps
//! on open connections in all and per client address, so slow or idle clients cannot hold the
//! server.
//!
//! The background work of `serve` (catalog recompute, order submitter, feed poller, PIM sync,
//! channel sync, ERP rounds, monitor) runs as [`jobs`], supervised together with the HTTP
//! servers: one that ends while the instance runs shuts it down with exit code 1.

pub mod api;
pub mod auth;
mod http;
pub mod jobs;
mod openapi;
pub mod pages;
pub mod shopware_hook;
pub mod webhook;

use std::sync::OnceLock;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use irp_store::Store;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use tower_http::trace::TraceLayer;

use crate::cli::{Global, ServeArgs};
use http::shutdown_signal;
pub use http::{Limits, serve_http};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
    /// When the server started.
    pub started: Instant,
    /// The shipment webhook's rate limiter and settings.
    pub webhook: std::sync::Arc<webhook::WebhookSettings>,
    /// Login attempts and failures, for throttling; the password hashes running at once.
    pub logins: std::sync::Arc<auth::LoginThrottle>,
    /// Whether the session cookie is marked `Secure` (IRP served over HTTPS; then named
    /// `__Host-irp_session`, and `Strict-Transport-Security` is sent).
    pub secure_cookies: bool,
    /// `IRP_METRICS_TOKEN`: `/metrics` needs `Authorization: Bearer` with it.
    pub metrics_token: Option<std::sync::Arc<str>>,
    /// Whether the main listener serves `/metrics` (not when `IRP_METRICS_LISTEN` is set).
    pub metrics_on_main: bool,
    /// Where a first start wrote the first account's password (named on the login page).
    pub first_password_file: std::path::PathBuf,
    /// The secret key's file (feeds fetched from the portal resolve their secrets with it).
    pub secret_key_file: std::path::PathBuf,
    /// `IRP_PUBLIC_URL`, without a trailing slash.
    pub public_url: Option<String>,
    /// Feed uploads being received now (at most [`UPLOADS_AT_ONCE`]).
    pub uploads: std::sync::Arc<tokio::sync::Semaphore>,
}

/// Feed uploads (up to 1 GiB each, written to a temporary file) received at once by one
/// instance; more are answered 429.
pub const UPLOADS_AT_ONCE: usize = 2;

/// The address refurbishers and browsers reach IRP at: `IRP_PUBLIC_URL`, else the scheme and
/// `Host` of the request.
pub fn public_base(state: &AppState, headers: &axum::http::HeaderMap) -> String {
    state.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1:8080");
        let scheme = if state.secure_cookies {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{host}")
    })
}

/// Who this process is in claims and leases, in `irp status` and as the `irp_instance` label
/// of its metrics: host, process id, a random part (`web-1:4711:9f3c…`).
pub fn instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| {
        format!(
            "{}:{}:{:x}",
            std::fs::read_to_string("/etc/hostname")
                .map(|h| h.trim().to_owned())
                .unwrap_or_else(|_| "irp".into()),
            std::process::id(),
            std::hash::BuildHasher::hash_one(
                &std::hash::RandomState::new(),
                std::time::SystemTime::now()
            )
        )
    })
}

/// The process-wide metrics recorder (installed once, however many apps a test starts). Every
/// series carries `irp_instance` ([`instance_id`]): with several instances behind one load
/// balancer, each one's counters stay apart (Prometheus' own `instance` label names the
/// scraped address).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .add_global_label("irp_instance", instance_id())
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may already be installed (tests); ours still renders its own.
            let _ = metrics::set_global_recorder(recorder);
            metrics::gauge!("irp_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
            handle
        })
        .clone()
}

/// The router with all routes and middleware.
pub fn router(state: AppState) -> Router {
    let mut app = Router::new()
        .merge(api::routes(state.clone()))
        .merge(webhook::routes())
        .merge(shopware_hook::routes())
        .merge(pages_router())
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", axum::routing::post(auth::logout))
        .route("/healthz", get(healthz));
    if state.metrics_on_main {
        app = app.route("/metrics", get(metrics_endpoint));
    }
    app.fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), page_headers))
        .layer(middleware::from_fn(count_requests))
        .layer(TraceLayer::new_for_http().make_span_with(RedactedSpan))
        .with_state(state)
}

/// The router of the metrics listener (`IRP_METRICS_LISTEN`): `/metrics` only.
fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics_endpoint))
        .layer(middleware::from_fn_with_state(state.clone(), page_headers))
        .with_state(state)
}

/// The portal's pages (each needs a login; actions an operator and the CSRF token).
fn pages_router() -> Router<AppState> {
    use axum::routing::post;
    use pages::{activity, channels, dashboard, onboarding, orders, products, refurbishers};
    Router::new()
        .route("/", get(dashboard::page))
        .route("/refurbishers", get(refurbishers::list))
        .route(
            "/refurbishers/new",
            get(onboarding::form).post(onboarding::submit),
        )
        .route("/refurbishers/{key}", get(refurbishers::show))
        .route("/refurbishers/{key}/import", post(refurbishers::import))
        .route(
            "/refurbishers/{key}/upload",
            // Feeds are large: up to 1 GiB, streamed to a file.
            post(refurbishers::upload).layer(axum::extract::DefaultBodyLimit::max(1 << 30)),
        )
        .route(
            "/refurbishers/{key}/credential",
            post(refurbishers::replace_credential),
        )
        .route("/refurbishers/{key}/preview", post(refurbishers::preview))
        .route(
            "/refurbishers/{key}/webhook-token",
            post(refurbishers::rotate_token),
        )
        .route("/runs/{id}", get(refurbishers::run))
        .route(
            "/runs/{id}/progress",
            get(refurbishers::run_progress_fragment),
        )
        .route("/runs/{id}/apply", post(refurbishers::apply_run))
        .route("/runs/{id}/discard", post(refurbishers::discard_run))
        .route("/orders", get(orders::list))
        .route("/orders/{id}", get(orders::show))
        .route("/supplier-orders/{id}/retry", post(orders::retry))
        .route("/supplier-orders/{id}/cancel", post(orders::cancel))
        .route("/supplier-orders/{id}/erp-retry", post(orders::erp_retry))
        .route("/alerts", get(activity::alerts))
        .route("/channels", get(channels::list))
        .route("/channels/{key}/sync", post(channels::sync))
        .route("/shipments", get(activity::shipments))
        .route("/shipments/{id}/match", post(activity::match_shipment))
        .route("/shipments/{id}/dismiss", post(activity::dismiss_shipment))
        .route("/audit", get(activity::audit))
        .route("/products", get(products::list))
        .route("/products/{ean}", get(products::show))
        .route("/prices/decide", post(products::decide))
        .route(
            "/account/password",
            get(pages::account::form).post(pages::account::change),
        )
        .route("/static/{file}", get(pages::static_file))
}

/// The `Content-Security-Policy` of every answer: scripts, styles, images and requests from
/// IRP itself only (htmx is served from `/static/`), no inline scripts, inline `style`
/// attributes only (no `<style>` elements), no plugins, no `<base>`, forms posted to IRP only,
/// never framed.
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; style-src-attr 'unsafe-inline'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Headers of every answer (pages, the login form, static files, 404s, the API): the
/// [`CSP`], no framing, no MIME sniffing, no referrer to other sites, HSTS when served over
/// HTTPS; answers show data that changes and may show secrets (a new webhook URL), so no
/// cache keeps them (`no-store`) unless the handler said otherwise (static files).
async fn page_headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, header};
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    if state.secure_cookies {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}

/// Request spans as tower-http's default (method, path, version) with the webhook token of a
/// path replaced by `***`, and no query string (which may carry anything).
#[derive(Clone, Copy)]
struct RedactedSpan;

impl<B> tower_http::trace::MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, req: &axum::http::Request<B>) -> tracing::Span {
        tracing::debug_span!(
            "request",
            method = %req.method(),
            path = %webhook::redact_path(req.uri().path()),
            version = ?req.version(),
        )
    }
}

async fn count_requests(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = req.method().to_string();
    let res = next.run(req).await;
    metrics::counter!(
        "irp_http_requests_total",
        "method" => method,
        "route" => route,
        "status" => res.status().as_u16().to_string()
    )
    .increment(1);
    res
}

async fn healthz(State(state): State<AppState>) -> Response {
    match state.store.ping().await {
        Ok(()) => Json(json!({
            "status": "ok",
            "instance": instance_id(),
            "database": state.store.backend().to_string(),
            "uptime_secs": state.started.elapsed().as_secs(),
        }))
        .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "Health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "database": state.store.backend().to_string() })),
            )
                .into_response()
        }
    }
}

/// Whether `headers` carry `Authorization: Bearer <token>` (compared in constant time).
fn bearer_matches(headers: &axum::http::HeaderMap, token: &str) -> bool {
    let sent = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or("");
    !sent.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            sent.as_bytes(),
            token.as_bytes(),
        ))
}

async fn metrics_endpoint(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some(token) = &state.metrics_token
        && !bearer_matches(&headers, token)
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(axum::http::header::WWW_AUTHENTICATE, "Bearer")],
            "/metrics needs `Authorization: Bearer <IRP_METRICS_TOKEN>`\n",
        )
            .into_response();
    }
    match state.store.refurbishers().list().await {
        Ok(all) => {
            let enabled = all.iter().filter(|r| r.model.enabled).count();
            metrics::gauge!("irp_refurbishers", "state" => "enabled").set(enabled as f64);
            metrics::gauge!("irp_refurbishers", "state" => "disabled")
                .set((all.len() - enabled) as f64);
        }
        Err(e) => tracing::warn!(error = %e, "Could not count refurbishers for /metrics"),
    }
    if let Err(e) = monitor_metrics(&state.store).await {
        tracing::warn!(error = %e, "Could not read the monitoring metrics for /metrics");
    }
    state.metrics.run_upkeep();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// The monitor's readings as gauges, and the totals kept in the database as counters (so they
/// count what every instance and CLI command did, and survive restarts).
async fn monitor_metrics(store: &Store) -> Result<(), irp_store::StoreError> {
    let all = irp_pipeline::monitor::readings(store, irp_store::now()).await?;
    for r in &all {
        // Every metric's open-alert gauge starts at 0, so a resolved alert reads 0, not its
        // last open value.
        for metric in irp_core::monitoring::Metric::ALL {
            metrics::gauge!("irp_alerts_open", "refurbisher" => r.key.clone(), "metric" => metric.as_str())
                .set(0.0);
        }
        // A disabled refurbisher's readings never breach.
        for reading in &r.readings {
            let labels = [
                ("refurbisher", r.key.clone()),
                ("metric", reading.metric.to_string()),
            ];
            // Nothing to measure, or switched off: NaN, not the last number.
            metrics::gauge!("irp_monitor_value", &labels).set(reading.value.unwrap_or(f64::NAN));
            metrics::gauge!("irp_monitor_threshold", &labels)
                .set(reading.threshold.unwrap_or(f64::NAN));
            metrics::gauge!("irp_monitor_breach", &labels).set(f64::from(u8::from(reading.breach)));
        }
    }
    let totals = store.monitor().metric_totals().await?;
    for ((refurbisher, status), n) in totals.feed_runs {
        metrics::counter!("irp_feed_runs_total", "refurbisher" => refurbisher, "status" => status)
            .absolute(n);
    }
    for ((refurbisher, outcome), n) in totals.feed_rows {
        metrics::counter!("irp_feed_rows_total", "refurbisher" => refurbisher, "outcome" => outcome)
            .absolute(n);
    }
    for (channel, n) in totals.orders {
        metrics::counter!("irp_orders_total", "channel" => channel).absolute(n);
    }
    for ((refurbisher, outcome), n) in totals.order_attempts {
        metrics::counter!("irp_supplier_order_attempts_total", "refurbisher" => refurbisher, "outcome" => outcome)
            .absolute(n);
    }
    for ((refurbisher, status), n) in totals.shipments {
        metrics::gauge!("irp_shipments", "refurbisher" => refurbisher, "status" => status)
            .set(n as f64);
    }
    for ((refurbisher, metric), n) in totals.open_alerts {
        metrics::gauge!("irp_alerts_open", "refurbisher" => refurbisher, "metric" => metric)
            .set(n as f64);
    }
    Ok(())
}

/// The first operator account's address, made on a first start.
pub const FIRST_ACCOUNT: &str = "admin@irp.local";

/// The file beside the secret key that holds the first account's password.
pub fn first_password_file(secret_key_file: &std::path::Path) -> std::path::PathBuf {
    secret_key_file
        .parent()
        .unwrap_or_else(|| std::path::Path::new("."))
        .join("initial-admin-password")
}

/// On a first start (no account yet), make [`FIRST_ACCOUNT`] with a random password written to
/// [`first_password_file`] (a new file readable by this user only) — never to the log. The
/// account must choose a new password at its first login, which removes the file.
async fn first_start_account(store: &Store, secret_key_file: &std::path::Path) {
    let file = first_password_file(secret_key_file);
    match store.users().bootstrap(FIRST_ACCOUNT, "serve").await {
        Ok(Some(password)) => match write_private(&file, &format!("{password}\n")) {
            Ok(()) => tracing::warn!(
                account = FIRST_ACCOUNT,
                password_file = %file.display(),
                "First start: made the operator account {FIRST_ACCOUNT}; its password is in {}. Log in (you will choose a new password; the file is then removed), then make your own accounts with `irp user add EMAIL` and disable this one with `irp user disable {FIRST_ACCOUNT}`",
                file.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => tracing::error!(
                "First start: made {FIRST_ACCOUNT}, but {} exists already (from an earlier start) and is never overwritten; delete it and set the account's password with `irp user add {FIRST_ACCOUNT}`",
                file.display()
            ),
            Err(e) => tracing::error!(
                error = %e,
                "First start: made {FIRST_ACCOUNT} but could not write its password to {}; set one with `irp user add {FIRST_ACCOUNT}`",
                file.display()
            ),
        },
        Ok(None) => {}
        Err(e) => {
            tracing::warn!(error = %e, "Could not check for a first operator account; make one with `irp user add EMAIL`")
        }
    }
}

/// Writes `text` to a new file only its owner can read: created by this call (never an
/// existing file or what a link points at), mode 0600 from the start.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()
}

/// Removes the first start's password file once its account has logged in (it has served
/// its purpose; the account must choose a new password).
pub fn forget_first_password(file: &std::path::Path) {
    match std::fs::remove_file(file) {
        Ok(()) => tracing::info!(file = %file.display(), "Removed the first start's password file"),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(error = %e, file = %file.display(), "Could not remove the first start's password file; delete it")
        }
    }
}

/// `irp serve`: migrate, apply the given documents, serve until SIGTERM or Ctrl-C.
///
/// # Errors
/// The database cannot be opened or migrated, a document does not apply, or the address
/// cannot be bound.
pub async fn run(global: &Global, args: ServeArgs) -> Result<std::process::ExitCode> {
    // Settings that guard outbound requests and documents: a mistake stops the start, not the
    // first feed run hours later.
    irp_clients::net::NetPolicy::global().map_err(|e| anyhow::anyhow!("{e}"))?;
    if let Ok(list) = std::env::var("IRP_ALLOW_ENV") {
        irp_core::secret_ref::EnvAllowList::parse(&list).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let store = crate::cli::open_store(global).await?;
    tracing::info!(database = %store.url(), "Database ready");
    // Where `file` connections read (and operators drop files for them).
    let feed_root = irp_pipeline::feed_root::feed_root();
    if let Err(e) = std::fs::create_dir_all(feed_root) {
        tracing::warn!(feed_root = %feed_root.display(), error = %e, "The feed root cannot be made; `file` connections will fail until it exists");
    }
    first_start_account(&store, &global.secret_key_file).await;
    // Refurbisher documents first, then channels documents (which name refurbishers), then
    // the PIM document.
    let mut channel_files = Vec::new();
    let mut refurbisher_files = Vec::new();
    let mut pim_files = Vec::new();
    let mut erp_files = Vec::new();
    for f in &args.apply {
        let text =
            std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
        if irp_core::config::is_channels_document(&text) {
            channel_files.push(f.clone());
        } else if irp_core::config::is_pim_document(&text) {
            pim_files.push(f.clone());
        } else if irp_core::config::is_erp_document(&text) {
            erp_files.push(f.clone());
        } else {
            refurbisher_files.push(f.clone());
        }
    }
    if !refurbisher_files.is_empty() {
        let Some((outcomes, recomputed)) =
            crate::cli::refurbisher::apply_files(&store, &refurbisher_files, "serve", None).await?
        else {
            anyhow::bail!(
                "the documents given with --apply have errors; fix them or start without --apply"
            );
        };
        for o in outcomes {
            tracing::info!(refurbisher = %o.key, refurbisher_id = o.refurbisher_id, action = ?o.action, changes = o.changes.len(), "Applied refurbisher");
        }
        if let Err(e) = recomputed {
            // The catalog job drains the marks once serve runs.
            tracing::error!(error = %e, "Recomputing the catalog after --apply failed; the marked products wait for the catalog job");
        }
    }
    if !channel_files.is_empty() {
        let Some(outcomes) =
            crate::cli::channel::apply_channels(&store, &channel_files, "serve").await?
        else {
            anyhow::bail!(
                "the channels documents given with --apply have errors; fix them or start without them"
            );
        };
        for o in outcomes {
            tracing::info!(channel = %o.key, action = o.action, "Applied channel");
        }
    }
    if pim_files.len() > 1 {
        anyhow::bail!(
            "--apply names {} PIM documents; an installation has one PIM source",
            pim_files.len()
        );
    }
    for f in &pim_files {
        let Some(action) = crate::cli::pim::apply_pim(&store, f, "serve").await? else {
            anyhow::bail!(
                "the PIM document given with --apply has errors; fix it or start without it"
            );
        };
        tracing::info!(action, "Applied PIM source");
    }
    if erp_files.len() > 1 {
        anyhow::bail!(
            "--apply names {} ERP documents; an installation has one ERP connector",
            erp_files.len()
        );
    }
    for f in &erp_files {
        let Some(action) = crate::cli::erp::apply_erp(&store, f, "serve").await? else {
            anyhow::bail!(
                "the ERP document given with --apply has errors; fix it or start without it"
            );
        };
        tracing::info!(action, "Applied ERP connector");
    }
    let mut trusted_proxies = Vec::new();
    for r in args.trusted_proxies.iter().filter(|r| !r.trim().is_empty()) {
        trusted_proxies.push(
            r.parse::<webhook::IpRange>()
                .map_err(|e| anyhow::anyhow!("IRP_TRUSTED_PROXIES: {e}"))?,
        );
    }
    let mut webhook_settings = webhook::WebhookSettings::new(
        store.clone(),
        args.webhook_rate,
        args.webhook_client_ip_header.clone(),
    );
    webhook_settings.trusted_proxies = trusted_proxies.clone();
    // Over HTTPS unless said otherwise or only reachable from this machine.
    let secure_cookies = args
        .secure_cookies
        .unwrap_or(!args.listen.ip().is_loopback());
    let metrics_token = args
        .metrics_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(std::sync::Arc::<str>::from);
    if args.metrics_listen.is_none() && metrics_token.is_none() && !args.listen.ip().is_loopback() {
        tracing::warn!(
            "/metrics is open to anyone who reaches {}: set IRP_METRICS_TOKEN, or IRP_METRICS_LISTEN to serve it on an internal address only",
            args.listen
        );
    }
    let state = AppState {
        store: store.clone(),
        metrics: metrics_handle(),
        started: Instant::now(),
        webhook: std::sync::Arc::new(webhook_settings),
        logins: std::sync::Arc::new(auth::LoginThrottle::new(args.login_concurrency)),
        secure_cookies,
        metrics_token,
        metrics_on_main: args.metrics_listen.is_none(),
        first_password_file: first_password_file(&global.secret_key_file),
        secret_key_file: global.secret_key_file.clone(),
        public_url: args
            .public_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty()),
        uploads: std::sync::Arc::new(tokio::sync::Semaphore::new(UPLOADS_AT_ONCE)),
    };
    // Before "listening" is said: from then on a SIGTERM shuts down gracefully.
    let shutdown = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    let metrics_listener = match args.metrics_listen {
        Some(a) => {
            let l = tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("listening for /metrics on {a}"))?;
            tracing::info!(addr = %l.local_addr()?, "/metrics served at http://{}/metrics", l.local_addr()?);
            Some(l)
        }
        None => None,
    };
    tracing::info!(%addr, "IRP portal listening on http://{addr}/");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let owner = instance_id().to_owned();
    let secret_key = crate::secret_key::load(&global.secret_key_file, false).ok();
    let limits = Limits {
        header_timeout: std::time::Duration::from_secs(args.header_timeout_secs.max(1)),
        max_connections: args.max_connections.max(1),
        max_per_address: args.max_connections_per_address.max(1),
        trusted_proxies,
    };
    let body_timeout = std::time::Duration::from_secs(args.body_timeout_secs.max(1));
    let (http_stop_tx, http_stop) = tokio::sync::watch::channel(false);
    // The HTTP servers and the background jobs, supervised together.
    let mut tasks = jobs::Supervisor::default();
    if let Some(l) = metrics_listener {
        tasks.serve(
            "metrics",
            serve_http(
                l,
                metrics_router(state.clone()),
                limits.clone(),
                http_stop.clone(),
            ),
        );
    }
    tasks.serve(
        "http",
        serve_http(
            listener,
            router(state).layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
                body_timeout,
            )),
            limits,
            http_stop,
        ),
    );
    jobs::start_all(
        &mut tasks,
        &store,
        &owner,
        &addr.to_string(),
        secret_key,
        &args,
        &stop_rx,
    );
    // Until the instance is told to stop, a job or server that ends (it returned, failed or
    // panicked) stops the instance: a supervisor (systemd, Kubernetes) restarts it whole,
    // rather than it serving on without the work that job did.
    let mut died = tokio::select! {
        () = shutdown => None,
        exit = tasks.next_exit() => Some(exit),
    };
    if let Some(exit) = &died {
        report_exit(exit);
    }
    // Requests in flight finish first (at most 30 s), then the jobs are told to stop.
    let _ = http_stop_tx.send(true);
    if let Some(exit) = tasks.servers_stopped().await
        && died.is_none()
    {
        report_exit(&exit);
        died = Some(exit);
    }
    let _ = stop_tx.send(true);
    // A feed import or an order call under way gets a moment to finish; past that its claim
    // expires (a supplier order whose outcome is unknown is recovered as needs_attention).
    tasks.stop(std::time::Duration::from_secs(30)).await;
    // Other instances take this one's work over at once, instead of when its leases run out.
    match store.instances().leave(&owner).await {
        Ok(released) => tracing::info!(%owner, released, "Left: claims released"),
        Err(e) => {
            tracing::warn!(%owner, error = %e, "Releasing this instance's claims failed; they run out by themselves");
        }
    }
    store.close().await;
    tracing::info!("Stopped");
    Ok(if died.is_some() {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    })
}

/// Logs a job or server that ended while the instance ran.
fn report_exit(exit: &jobs::Exit) {
    if exit.server {
        tracing::error!(server = exit.name, why = %exit.why, "An HTTP server stopped; the instance shuts down so that it is restarted whole");
    } else {
        tracing::error!(job = exit.name, why = %exit.why, "A background job stopped; the instance shuts down so that it is restarted whole");
    }
}
