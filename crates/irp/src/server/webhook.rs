//! The shipment webhook: `POST`, `PUT` or `PATCH /webhook/shipment/{supplier_id}/{secure_token}`
//! (seed 001).
//!
//! | Answer | When |
//! |---|---|
//! | 200 `{"status": "shipped", …}` | stored and matched; the supplier order is `shipped` |
//! | 200 `{"status": "repeat", …}` | the same shipment was stored before; nothing changed |
//! | 202 `{"status": "stored_for_review", …}` | stored; no supplier order has its order id yet |
//! | 404 | unknown supplier or wrong token (the same answer for both) |
//! | 413 | a body over [`MAX_BODY`] |
//! | 422 `{"errors": [{field, value, expected}]}` | a bad body; kept in the webhook inbox for review |
//! | 429 | over the rate limit of the sender's address (`Retry-After`) |
//! | 503 | IRP could not store it (`Retry-After`): send it again |
//!
//! A shipment is stored before any 2xx is answered. The token never reaches a log: request
//! spans show the path with it replaced by `***`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::Instant;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use irp_core::shipments::parse_shipment;
use irp_store::shipments::ShipmentOutcome;
use serde_json::{Value, json};

use super::AppState;

/// The largest body taken: 256 KiB (a shipment of a thousand devices fits many times).
pub const MAX_BODY: usize = 256 * 1024;

/// The path pattern.
pub const ROUTE: &str = "/webhook/shipment/{supplier_id}/{secure_token}";

/// `path` with the token segment of a webhook URL replaced by `***` (for logs).
pub fn redact_path(path: &str) -> std::borrow::Cow<'_, str> {
    const PREFIX: &str = "/webhook/shipment/";
    match path.strip_prefix(PREFIX) {
        Some(rest) => {
            let supplier = rest.split('/').next().unwrap_or("");
            if rest.len() > supplier.len() {
                format!("{PREFIX}{supplier}/***").into()
            } else {
                path.into()
            }
        }
        None => path.into(),
    }
}

/// Token buckets per sender address: `rate` requests a second, bursts of `burst`.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter of `rate` requests a second per address (0: no limit), bursts of twice that.
    pub fn new(rate: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(rate) * 2.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Take one request of `ip`: `Ok`, or `Err(seconds until the next one is allowed)`.
    pub fn check(&self, ip: IpAddr) -> Result<(), u64> {
        if self.rate <= 0.0 {
            return Ok(());
        }
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() > 100_000 {
            // Forget addresses whose bucket has refilled: they are as if new.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.duration_since(*at).as_secs_f64() * rate < burst
            });
        }
        let (tokens, at) = buckets.entry(ip).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / self.rate).ceil().max(1.0) as u64)
        }
    }
}

/// An address range: `10.0.0.0/8`, `::1/128`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpRange {
    net: IpAddr,
    bits: u8,
}

impl IpRange {
    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, bits) = s.split_once('/').map_or((s, None), |(a, b)| (a, Some(b)));
        let net: IpAddr = addr
            .parse()
            .map_err(|_| format!("{s:?} is not an address or a CIDR range such as 10.0.0.0/8"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length is 0 to {max}"))?,
        };
        Ok(IpRange {
            net: net.to_canonical(),
            bits,
        })
    }
}

/// The client's address: the peer's, or — when the peer is a trusted proxy and a client-IP
/// header is configured — the right-most address of that header that is not a trusted proxy
/// (a proxy appends the address it saw; what the client wrote stands to its left).
pub(crate) fn source(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Option<IpAddr> {
    let peer = peer.map(|p| p.ip().to_canonical());
    let settings = &state.webhook;
    let (Some(h), Some(p)) = (&settings.client_ip_header, peer) else {
        return peer;
    };
    if !settings.trusts(p) {
        return peer;
    }
    let named: Vec<&str> = headers
        .get_all(h.as_str())
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut found = peer;
    for text in named.iter().rev() {
        let Ok(ip) = text.parse::<IpAddr>().map(|i| i.to_canonical()) else {
            break;
        };
        found = Some(ip);
        if !settings.trusts(ip) {
            break;
        }
    }
    found
}

fn count(outcome: &'static str) {
    metrics::counter!("irp_shipment_webhooks_total", "outcome" => outcome).increment(1);
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

fn not_found() -> Response {
    count("not_found");
    answer(StatusCode::NOT_FOUND, json!({ "error": "not found" }))
}

fn unavailable(e: &dyn std::fmt::Display) -> Response {
    count("error");
    tracing::error!(error = %e, "Storing a shipment webhook failed");
    let mut r = answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({ "error": "the shipment could not be stored; send it again" }),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// The handler of [`ROUTE`].
pub async fn shipment(
    State(state): State<AppState>,
    Path((supplier_id, token)): Path<(String, String)>,
    req: Request<Body>,
) -> Response {
    let (parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    let ip = source(&state, &parts.headers, peer);
    if let Some(ip) = ip
        && let Err(wait) = state.webhook.limiter.check(ip)
    {
        count("rate_limited");
        let mut r = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "error": format!("too many requests from {ip}; wait {wait} s") }),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    // A supplier id that is not a number is as unknown as any other.
    let Ok(supplier_id) = supplier_id.parse::<i64>() else {
        return not_found();
    };
    let refurbisher = match state
        .store
        .shipments()
        .webhook_authenticate(supplier_id, &token)
        .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return not_found(),
        Err(e) => return unavailable(&e),
    };
    let method = parts.method.as_str().to_owned();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            count("too_large");
            return answer(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({ "error": format!("the body is larger than {} KiB", MAX_BODY / 1024) }),
            );
        }
    };
    let source = ip.map(|i| i.to_string());
    // As received, readable: invalid UTF-8 and U+0000 (which PostgreSQL cannot store) become
    // U+FFFD.
    let text = String::from_utf8_lossy(&bytes).replace('\0', "\u{FFFD}");
    let parsed: Result<Value, _> = serde_json::from_slice(&bytes);
    let result = match &parsed {
        Ok(v) => parse_shipment(v, &refurbisher.model.shipment.mapping),
        Err(e) => Err(vec![irp_core::orders::FieldError {
            field: "(body)".into(),
            value: if bytes.is_empty() {
                "nothing".into()
            } else {
                format!("not JSON ({e})")
            },
            expected: "a JSON object".into(),
        }]),
    };
    let shipment = match result {
        Ok(s) => s,
        Err(errors) => {
            count("rejected");
            let reason = errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            // Kept for review: the refurbisher may insist it sent the shipment.
            if let Err(e) = state
                .store
                .shipments()
                .webhook_inbox_add(refurbisher.id, &method, &text, &reason, source.as_deref())
                .await
            {
                tracing::warn!(error = %e, refurbisher = %refurbisher.key, "Keeping a refused shipment webhook failed");
            }
            tracing::info!(refurbisher = %refurbisher.key, %reason, "Shipment webhook refused");
            return answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({ "error": "the shipment was not taken", "errors": errors }),
            );
        }
    };
    let units = shipment.units.len();
    let bad_imeis = shipment.bad_imeis();
    let prepared = match irp_pipeline::shipments::prepare(
        &state.store,
        refurbisher.id,
        shipment,
        &text,
        &method,
        source.as_deref(),
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return unavailable(&e),
    };
    match state.webhook.writer.write(prepared).await {
        Ok(ShipmentOutcome::Matched {
            shipment_id,
            supplier_order_id,
        }) => {
            count("matched");
            tracing::info!(refurbisher = %refurbisher.key, shipment_id, supplier_order_id, "Shipment received");
            answer(
                StatusCode::OK,
                json!({
                    "status": "shipped",
                    "shipment_id": shipment_id,
                    "supplier_order_id": supplier_order_id,
                    "units": units,
                    "imei_check_failed": bad_imeis,
                }),
            )
        }
        Ok(ShipmentOutcome::Unmatched {
            shipment_id,
            reason,
        }) => {
            count("unmatched");
            tracing::warn!(refurbisher = %refurbisher.key, shipment_id, %reason, "Shipment stored for review");
            answer(
                StatusCode::ACCEPTED,
                json!({
                    "status": "stored_for_review",
                    "shipment_id": shipment_id,
                    "reason": reason,
                }),
            )
        }
        Ok(ShipmentOutcome::Repeat {
            shipment_id,
            status,
        }) => {
            count("repeat");
            answer(
                StatusCode::OK,
                json!({ "status": "repeat", "shipment_id": shipment_id, "shipment_status": status }),
            )
        }
        Err(e) => unavailable(&e),
    }
}

/// The method router of [`ROUTE`]: POST, PUT and PATCH.
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::{patch, post, put};
    axum::Router::new().route(
        ROUTE,
        post(shipment).merge(put(shipment)).merge(patch(shipment)),
    )
}

/// The webhook's settings.
pub struct WebhookSettings {
    /// Per-address rate limit.
    pub limiter: RateLimiter,
    /// A header naming the client address (`X-Forwarded-For`) when IRP is behind a proxy.
    pub client_ip_header: Option<String>,
    /// The peers whose client-IP header is believed (`IRP_TRUSTED_PROXIES`; loopback unless
    /// set).
    pub trusted_proxies: Vec<IpRange>,
    /// Writes shipments, those that arrive together in one transaction.
    pub writer: ShipmentWriter,
}

impl WebhookSettings {
    /// `rate` requests a second per address; the address from `client_ip_header` if given;
    /// shipments written to `store`. Call within the runtime (it starts the writer task).
    pub fn new(store: irp_store::Store, rate: u32, client_ip_header: Option<String>) -> Self {
        Self {
            limiter: RateLimiter::new(rate),
            client_ip_header,
            trusted_proxies: ["127.0.0.1/32", "::1/128"]
                .iter()
                .filter_map(|r| r.parse().ok())
                .collect(),
            writer: ShipmentWriter::start(store),
        }
    }

    /// Whether `ip` is a trusted proxy.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|r| r.contains(ip))
    }
}

type Reply = tokio::sync::oneshot::Sender<Result<ShipmentOutcome, String>>;

/// Group commit for shipments: one task takes the shipments waiting to be written, up to
/// [`ShipmentWriter::BATCH`] at a time, and writes them in one transaction, so a burst of
/// webhook calls costs one commit, not one each (SQLite has one writer at a time). A lone
/// shipment is written at once; every caller is answered only after the commit.
#[derive(Clone)]
pub struct ShipmentWriter {
    tx: tokio::sync::mpsc::Sender<(irp_store::shipments::PreparedShipment, Reply)>,
}

impl ShipmentWriter {
    /// The most shipments written in one transaction.
    pub const BATCH: usize = 64;

    fn start(store: irp_store::Store) -> Self {
        let (tx, mut rx) =
            tokio::sync::mpsc::channel::<(irp_store::shipments::PreparedShipment, Reply)>(4096);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < Self::BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let (items, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
                // Kept to write one by one should the batch fail: one shipment the database
                // refuses must not cost the others their answer.
                let single = (items.len() > 1).then(|| items.clone());
                match store.shipments().write(items).await {
                    Ok(outcomes) => {
                        for (reply, outcome) in replies.into_iter().zip(outcomes) {
                            let _ = reply.send(Ok(outcome));
                        }
                    }
                    Err(e) => match single {
                        None => {
                            let _ = replies
                                .into_iter()
                                .next()
                                .map(|r| r.send(Err(e.to_string())));
                        }
                        Some(items) => {
                            tracing::warn!(error = %e, shipments = items.len(), "Writing a batch of shipments failed; writing them one by one");
                            for (item, reply) in items.into_iter().zip(replies) {
                                let one = store
                                    .shipments()
                                    .write(vec![item])
                                    .await
                                    .map_err(|e| e.to_string())
                                    .and_then(|mut o| {
                                        o.pop().ok_or_else(|| "no outcome".to_owned())
                                    });
                                let _ = reply.send(one);
                            }
                        }
                    },
                }
            }
        });
        Self { tx }
    }

    /// Write one shipment (with whatever else is waiting) and return its outcome once it is
    /// committed.
    ///
    /// # Errors
    /// The database failed (nothing of the batch was stored), or the writer stopped.
    pub async fn write(
        &self,
        item: irp_store::shipments::PreparedShipment,
    ) -> Result<ShipmentOutcome, String> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.tx
            .send((item, reply))
            .await
            .map_err(|_| "the shipment writer stopped".to_owned())?;
        answer
            .await
            .map_err(|_| "the shipment writer stopped".to_owned())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_hold_their_addresses() {
        let r: IpRange = "10.1.0.0/16".parse().unwrap();
        assert!(r.contains("10.1.200.3".parse().unwrap()));
        assert!(!r.contains("10.2.0.1".parse().unwrap()));
        assert!(r.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one: IpRange = "::1".parse().unwrap();
        assert!(one.contains("::1".parse().unwrap()));
        assert!(!one.contains("::2".parse().unwrap()));
        let all: IpRange = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains("203.0.113.9".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "::/129", "example.com", "10.0.0.0/x"] {
            assert!(bad.parse::<IpRange>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_token_is_redacted_from_paths() {
        assert_eq!(
            redact_path("/webhook/shipment/18/irpwh_abc"),
            "/webhook/shipment/18/***"
        );
        assert_eq!(
            redact_path("/webhook/shipment/18/irpwh_abc/extra"),
            "/webhook/shipment/18/***"
        );
        assert_eq!(redact_path("/webhook/shipment/18"), "/webhook/shipment/18");
        assert_eq!(redact_path("/api/v1/orders"), "/api/v1/orders");
    }

    #[test]
    fn the_limiter_allows_a_burst_then_refuses() {
        let l = RateLimiter::new(5);
        let ip: IpAddr = [10, 0, 0, 1].into();
        for _ in 0..10 {
            assert_eq!(l.check(ip), Ok(()));
        }
        assert_eq!(l.check(ip), Err(1));
        // Another address has its own bucket.
        assert_eq!(l.check([10, 0, 0, 2].into()), Ok(()));
        assert_eq!(RateLimiter::new(0).check(ip), Ok(()));
    }
}
