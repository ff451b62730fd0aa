//! One call to a refurbisher's order API: the rendered body sent with the connector's method
//! and auth and the supplier order's idempotency key, and what came back — an answer, a
//! failure before anything was sent (safe to retry), or an unknown outcome (the request may
//! have reached the refurbisher).

use std::sync::Arc;
use std::time::Duration;

use irp_core::config::model::{Method, OrderConfig};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};
use serde_json::Value;

use crate::http::apply_auth;
use crate::net::{self, NetPolicy, ReadError, Redirects};

/// The most of an answer's body that is read (and checked against the asserts), counted after
/// decompression.
pub const MAX_BODY: usize = 1024 * 1024;

/// What the call gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallResult {
    /// The refurbisher answered (any status).
    Answered {
        /// HTTP status.
        status: u16,
        /// The body (lossy UTF-8).
        body: String,
        /// The `Retry-After` of a 429 or 503, when given in seconds.
        retry_after: Option<Duration>,
        /// The `Allow` header (the methods the endpoint takes), when it answered one.
        allow: Option<String>,
    },
    /// Nothing was sent: no connection, the token endpoint failed, a header could not be built.
    NotSent(String),
    /// The request was (or may have been) sent, but no answer came: a timeout or a connection
    /// reset. The refurbisher may have placed the order.
    Unknown(String),
}

/// The request as it is recorded: credentials redacted, the URL without its query.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallRecord {
    /// `POST`, `PUT` or `PATCH`.
    pub method: String,
    /// The endpoint without its query string.
    pub url: String,
    /// The headers sent; credential values are `[redacted]`.
    pub headers: Vec<(String, String)>,
    /// The body sent.
    pub body: Value,
}

fn method_name(m: Method) -> &'static str {
    match m {
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
    }
}

/// The client every order call shares: building one loads the TLS root certificates, far
/// dearer than a call to a nearby refurbisher. Connections are not kept for reuse: a kept
/// connection the refurbisher closed meanwhile fails after the request was written, which
/// would make an order's outcome unknown for nothing.
fn shared_client() -> Result<(Client, Arc<NetPolicy>), String> {
    type Shared = Result<(Client, Arc<NetPolicy>), String>;
    static CLIENT: std::sync::OnceLock<Shared> = std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let policy = NetPolicy::global().map_err(|e| e.to_string())?;
            Ok((new_client(Arc::clone(&policy))?, policy))
        })
        .clone()
}

fn new_client(policy: Arc<NetPolicy>) -> Result<Client, String> {
    // A redirect would send the order again somewhere else: none are followed.
    net::client_builder(policy, Redirects::None)
        .pool_max_idle_per_host(0)
        .build()
        .map_err(|e| e.to_string())
}

/// Send `body` to `order.endpoint`. `order` must have its references resolved; what is
/// recorded and said comes from the connector as configured instead — `shown` (its endpoint
/// with references unresolved, no query) and `record_body` (the body built from it) — so no
/// resolved secret reaches a record, an error or a log.
pub async fn place(
    order: &OrderConfig,
    idempotency_key: &str,
    body: &Value,
    shown: &str,
    record_body: Value,
) -> (CallRecord, CallResult) {
    let client = shared_client();
    place_with(client, order, idempotency_key, body, shown, record_body).await
}

/// [`place`] under `policy`, with a client of its own.
pub async fn place_with_policy(
    policy: Arc<NetPolicy>,
    order: &OrderConfig,
    idempotency_key: &str,
    body: &Value,
    shown: &str,
    record_body: Value,
) -> (CallRecord, CallResult) {
    let client = new_client(Arc::clone(&policy)).map(|c| (c, policy));
    place_with(client, order, idempotency_key, body, shown, record_body).await
}

async fn place_with(
    client: Result<(Client, Arc<NetPolicy>), String>,
    order: &OrderConfig,
    idempotency_key: &str,
    body: &Value,
    shown: &str,
    record_body: Value,
) -> (CallRecord, CallResult) {
    let mut record = CallRecord {
        method: method_name(order.method).to_owned(),
        url: shown.to_owned(),
        headers: Vec::new(),
        body: record_body,
    };
    let mut url = match Url::parse(&order.endpoint) {
        Ok(u) => u,
        Err(_) => {
            return (
                record,
                CallResult::NotSent(format!("the endpoint {shown} is not a URL")),
            );
        }
    };
    let timeout = Duration::from_secs(u64::try_from(order.timeout_secs).unwrap_or(30));
    let (client, policy) = match client {
        Ok(c) => c,
        Err(e) => return (record, CallResult::NotSent(e)),
    };
    let oauth = matches!(
        order.auth,
        Some(irp_core::config::model::HttpAuth::ClientIdSecret {
            token_url: Some(_),
            ..
        })
    );
    let mut fresh_token = false;
    loop {
        let mut headers = HeaderMap::new();
        let mut target = url.clone();
        if let Some(auth) = &order.auth
            && let Err(e) = apply_auth(
                &client,
                &policy,
                auth,
                &mut target,
                &mut headers,
                timeout,
                fresh_token,
            )
            .await
        {
            return (record, CallResult::NotSent(format!("authentication: {e}")));
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(name) = &order.idempotency_header {
            match (
                reqwest::header::HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(idempotency_key),
            ) {
                (Ok(n), Ok(v)) => {
                    headers.insert(n, v);
                }
                _ => {
                    return (
                        record,
                        CallResult::NotSent(format!("`{name}` is not a valid header name")),
                    );
                }
            }
        }
        record.headers = headers
            .iter()
            .map(|(n, v)| {
                let shown = if v.is_sensitive() {
                    "[redacted]".to_owned()
                } else {
                    v.to_str().unwrap_or("[binary]").to_owned()
                };
                (n.as_str().to_owned(), shown)
            })
            .collect();
        if target.query().is_some() {
            record.headers.push(("(query)".into(), "[redacted]".into()));
        }
        if let Err(r) = policy.check_url(&target) {
            return (record, CallResult::NotSent(format!("{shown}: {r}")));
        }
        let builder = match order.method {
            Method::Post => client.post(target),
            Method::Put => client.put(target),
            Method::Patch => client.patch(target),
        };
        let sent = builder
            .headers(headers)
            .body(body.to_string())
            .timeout(timeout)
            .send()
            .await;
        let resp = match sent {
            Ok(r) => r,
            Err(e) if net::refusal(&e).is_some() => {
                let r = net::refusal(&e).map(|r| r.to_string()).unwrap_or_default();
                return (record, CallResult::NotSent(format!("{shown}: {r}")));
            }
            Err(e) if e.is_connect() || e.is_builder() => {
                return (
                    record,
                    CallResult::NotSent(format!("{shown}: {}", connect_error(&e))),
                );
            }
            Err(e) => {
                return (
                    record,
                    CallResult::Unknown(format!(
                        "{} {shown}: no answer ({}); the refurbisher may have received the order",
                        method_name(order.method),
                        if e.is_timeout() {
                            "timed out"
                        } else {
                            "the connection failed"
                        }
                    )),
                );
            }
        };
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED && oauth && !fresh_token {
            // A stale token: the order was refused, not placed. Once more with a new token.
            fresh_token = true;
            url = resp.url().clone();
            continue;
        }
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let allow = resp
            .headers()
            .get(reqwest::header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(100).collect::<String>());
        let (body, complete) = read_body(resp).await;
        if let (Err(e), true) = (complete, status.is_success()) {
            // It said yes, but what it answered (the order reference) did not arrive whole.
            return (
                record,
                CallResult::Unknown(format!(
                    "{shown} answered HTTP {} but its answer could not be read whole ({e}); the refurbisher has the order",
                    status.as_u16()
                )),
            );
        }
        return (
            record,
            CallResult::Answered {
                status: status.as_u16(),
                body,
                retry_after,
                allow,
            },
        );
    }
}

/// The body, and whether it arrived whole (not cut off by an error or [`MAX_BODY`], counted
/// after decompression; an answer passing it is not read further).
async fn read_body(resp: reqwest::Response) -> (String, Result<(), ReadError>) {
    let mut out: Vec<u8> = Vec::new();
    let complete = match net::Capped::new(resp, MAX_BODY as u64) {
        Err(e) => Err(e),
        Ok(mut body) => loop {
            match body.chunk().await {
                Ok(Some(c)) => out.extend_from_slice(&c),
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        },
    };
    (String::from_utf8_lossy(&out).into_owned(), complete)
}

/// A connection error without its URL (which may hold a resolved secret).
fn connect_error(e: &reqwest::Error) -> String {
    let mut text = String::from("cannot connect");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
