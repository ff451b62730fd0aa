//! The portal server: the operator pages ([`pages`], behind a login: [`auth`]), `/healthz`,
//! `/metrics`, the REST API under `/api/v1` ([`api`]) and the shipment webhook ([`webhook`]).

pub mod api;
pub mod auth;
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
    /// Failed logins, for throttling.
    pub logins: std::sync::Arc<auth::LoginThrottle>,
    /// Whether the session cookie is marked `Secure` (IRP served over HTTPS).
    pub secure_cookies: bool,
    /// Where a first start wrote the first account's password (named on the login page).
    pub first_password_file: std::path::PathBuf,
    /// The secret key's file (feeds fetched from the portal resolve their secrets with it).
    pub secret_key_file: std::path::PathBuf,
    /// `IRP_PUBLIC_URL`, without a trailing slash.
    pub public_url: Option<String>,
}

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

/// The process-wide metrics recorder (installed once, however many apps a test starts).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
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
    Router::new()
        .merge(api::routes(state.clone()))
        .merge(webhook::routes())
        .merge(shopware_hook::routes())
        .merge(pages_router())
        .route("/login", get(auth::login_form).post(auth::login))
        .route("/logout", axum::routing::post(auth::logout))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics_endpoint))
        .fallback(pages::not_found)
        .layer(middleware::from_fn(count_requests))
        .layer(TraceLayer::new_for_http().make_span_with(RedactedSpan))
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
        .route("/static/{file}", get(pages::static_file))
        .layer(middleware::from_fn(page_headers))
}

/// Headers of every page: no framing, no inline scripts, no referrer to other sites; pages
/// show data that changes, so no cache keeps them.
async fn page_headers(req: Request, next: Next) -> Response {
    use axum::http::{HeaderValue, header};
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'",
        ),
    );
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
        .or_insert(HeaderValue::from_static("no-cache"));
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

async fn metrics_endpoint(State(state): State<AppState>) -> Response {
    match state.store.refurbisher_list().await {
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
        for metric in irp_core::monitoring::METRICS
            .iter()
            .chain(&["price_change_held"])
        {
            metrics::gauge!("irp_alerts_open", "refurbisher" => r.key.clone(), "metric" => *metric)
                .set(0.0);
        }
        // A disabled refurbisher's readings never breach.
        for reading in &r.readings {
            let labels = [
                ("refurbisher", r.key.clone()),
                ("metric", reading.metric.to_owned()),
            ];
            // Nothing to measure, or switched off: NaN, not the last number.
            metrics::gauge!("irp_monitor_value", &labels).set(reading.value.unwrap_or(f64::NAN));
            metrics::gauge!("irp_monitor_threshold", &labels)
                .set(reading.threshold.unwrap_or(f64::NAN));
            metrics::gauge!("irp_monitor_breach", &labels).set(f64::from(u8::from(reading.breach)));
        }
    }
    let totals = store.metric_totals().await?;
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

/// Waits for Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a SIGTERM right after "listening" must shut down gracefully too,
/// not kill the process.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    #[cfg(unix)]
    let interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt());
    async move {
        #[cfg(unix)]
        {
            let term = async {
                match terminate {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            let int = async {
                match interrupt {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                () = int => tracing::info!("Interrupted, shutting down"),
                () = term => tracing::info!("SIGTERM received, shutting down"),
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            tracing::info!("Interrupted, shutting down");
        }
    }
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
/// [`first_password_file`] (readable by this user only) — never to the log.
async fn first_start_account(store: &Store, secret_key_file: &std::path::Path) {
    let file = first_password_file(secret_key_file);
    match store.user_bootstrap(FIRST_ACCOUNT, "serve").await {
        Ok(Some(password)) => match write_private(&file, &format!("{password}\n")) {
            Ok(()) => tracing::warn!(
                account = FIRST_ACCOUNT,
                password_file = %file.display(),
                "First start: made the operator account {FIRST_ACCOUNT}; its password is in {}. Log in, then make your own accounts with `irp user add EMAIL` and disable this one with `irp user disable {FIRST_ACCOUNT}`",
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

/// Writes `text` to a new file only its owner can read.
fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(path)?;
    f.write_all(text.as_bytes())
}

/// `irp serve`: migrate, apply the given documents, serve until SIGTERM or Ctrl-C.
///
/// # Errors
/// The database cannot be opened or migrated, a document does not apply, or the address
/// cannot be bound.
pub async fn run(global: &Global, args: ServeArgs) -> Result<std::process::ExitCode> {
    let store = crate::commands::open_store(global).await?;
    tracing::info!(database = %store.url(), "Database ready");
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
        let Some(outcomes) =
            crate::commands::apply_files(&store, &refurbisher_files, "serve").await?
        else {
            anyhow::bail!(
                "the documents given with --apply have errors; fix them or start without --apply"
            );
        };
        for o in outcomes {
            tracing::info!(refurbisher = %o.key, refurbisher_id = o.refurbisher_id, action = ?o.action, changes = o.changes.len(), "Applied refurbisher");
        }
    }
    if !channel_files.is_empty() {
        let Some(outcomes) =
            crate::catalog_cmd::apply_channels(&store, &channel_files, "serve").await?
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
        let Some(action) = crate::pim_cmd::apply_pim(&store, f, "serve").await? else {
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
        let Some(action) = crate::erp_cmd::apply_erp(&store, f, "serve").await? else {
            anyhow::bail!(
                "the ERP document given with --apply has errors; fix it or start without it"
            );
        };
        tracing::info!(action, "Applied ERP connector");
    }
    // Products a previous process marked but did not recompute (it stopped in between), in the
    // background: the portal answers meanwhile.
    tokio::spawn({
        let store = store.clone();
        async move {
            if let Err(e) = store.catalog_recompute().await {
                tracing::error!(error = %e, "Recomputing the marked products failed; `irp catalog recompute` retries it");
            }
        }
    });
    // Products marked by order intake (reserved units) and cancels: recomputed in the
    // background, a burst of orders at a time (within a quarter of a second); marks of other
    // instances within 5 s.
    tokio::spawn({
        let store = store.clone();
        let signal = store.catalog_signal();
        async move {
            loop {
                tokio::select! {
                    () = signal.notified() => {
                        // Let a burst of orders mark their products first: one recompute for
                        // all of them (each is a transaction of its own).
                        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
                    }
                    () = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                }
                if let Err(e) = store.catalog_recompute().await {
                    tracing::error!(error = %e, "Recomputing the marked products failed; retried in 5 s");
                }
            }
        }
    });
    let state = AppState {
        store: store.clone(),
        metrics: metrics_handle(),
        started: Instant::now(),
        webhook: std::sync::Arc::new(webhook::WebhookSettings::new(
            store.clone(),
            args.webhook_rate,
            args.webhook_client_ip_header.clone(),
        )),
        logins: std::sync::Arc::new(auth::LoginThrottle::default()),
        secure_cookies: args.secure_cookies,
        first_password_file: first_password_file(&global.secret_key_file),
        secret_key_file: global.secret_key_file.clone(),
        public_url: args
            .public_url
            .as_deref()
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty()),
    };
    // Before "listening" is said: from then on a SIGTERM shuts down gracefully.
    let shutdown = shutdown_signal();
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "IRP portal listening on http://{addr}/");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let pim_stop = stop_rx.clone();
    // Who this instance is in leases and claims: host, process, a random part.
    let owner = format!(
        "{}:{}:{:x}",
        std::fs::read_to_string("/etc/hostname")
            .map(|h| h.trim().to_owned())
            .unwrap_or_else(|_| "irp".into()),
        std::process::id(),
        std::hash::BuildHasher::hash_one(
            &std::hash::RandomState::new(),
            std::time::SystemTime::now()
        )
    );
    let secret_key = crate::secret_key::load(&global.secret_key_file, false).ok();
    let (channel_owner, channel_secret_key, channel_stop) =
        (owner.clone(), secret_key.clone(), stop_rx.clone());
    // The back office: each placed supplier order's Odoo document.
    if args.erp_tick_secs > 0 {
        tokio::spawn(irp_pipeline::erp::run(
            store.clone(),
            owner.clone(),
            secret_key.clone(),
            std::time::Duration::from_secs(args.erp_tick_secs),
            stop_rx.clone(),
        ));
    }
    // The order submitter always runs: a supplier order taken in here is sent at once; one
    // taken in by another instance is found within a second.
    let submitter = tokio::spawn(irp_pipeline::orders::run(
        store.clone(),
        owner.clone(),
        secret_key.clone(),
        std::time::Duration::from_secs(1),
        stop_rx.clone(),
    ));
    // The monitor: thresholds every minute, alerts to the notification webhook.
    let monitor = (args.monitor_tick_secs > 0).then(|| {
        let notifier = args
            .notify_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .map(irp_pipeline::monitor::Notifier::new);
        if let Some(n) = &notifier {
            tracing::info!(to = %irp_sources::notify::shown_host(&n.url), "Alerts are posted to the notification webhook");
        }
        tokio::spawn(irp_pipeline::monitor::run(
            store.clone(),
            std::time::Duration::from_secs(args.monitor_tick_secs),
            notifier,
            stop_rx.clone(),
        ))
    });
    let poller = (args.poll_tick_secs > 0).then(|| {
        let tick = std::time::Duration::from_secs(args.poll_tick_secs);
        // The PIM sync checks its schedule every tick too (it runs when its interval passed).
        let pim = tokio::spawn(irp_pipeline::pim::run(
            store.clone(),
            owner.clone(),
            secret_key.clone(),
            tick,
            pim_stop,
        ));
        let feeds = tokio::spawn(irp_pipeline::poller::run(
            store.clone(),
            owner,
            secret_key,
            tick,
            stop_rx,
        ));
        async move {
            let _ = feeds.await;
            let _ = pim.await;
        }
    });
    let poller = poller.map(tokio::spawn);
    // The channels' Shopware sync: changed prices and stock within seconds of a recompute,
    // new orders by the poll, tracking and cancellations.
    if args.channel_tick_secs > 0 {
        tokio::spawn(irp_pipeline::channel_sync::run(
            store.clone(),
            channel_owner,
            channel_secret_key,
            std::time::Duration::from_secs(args.channel_tick_secs),
            channel_stop,
        ));
    } else {
        tracing::info!(
            "The channels' Shopware sync is off in this instance (IRP_CHANNEL_TICK_SECS=0)"
        );
    }
    if poller.is_none() {
        tracing::info!(
            "Feed polling and the PIM sync are off in this instance (IRP_POLL_TICK_SECS=0)"
        );
    }
    axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .context("serving HTTP")?;
    let _ = stop_tx.send(true);
    if let Some(m) = monitor
        && tokio::time::timeout(std::time::Duration::from_secs(15), m)
            .await
            .is_err()
    {
        tracing::warn!("The monitor did not stop within 15 s");
    }
    // A call under way gets a moment to finish; past that its claim expires and the supplier
    // order is recovered (needs_attention: its outcome is unknown).
    if tokio::time::timeout(std::time::Duration::from_secs(30), submitter)
        .await
        .is_err()
    {
        tracing::warn!("The order submitter did not stop within 30 s; its claims will expire");
    }
    if let Some(handle) = poller {
        // A feed being imported gets a moment to finish; past that its claim simply expires.
        if tokio::time::timeout(std::time::Duration::from_secs(30), handle)
            .await
            .is_err()
        {
            tracing::warn!(
                "The feed poller or the PIM sync did not stop within 30 s; its claim will expire"
            );
        }
    }
    store.close().await;
    tracing::info!("Stopped");
    Ok(std::process::ExitCode::SUCCESS)
}
