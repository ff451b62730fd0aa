//! A client of Shopware 6's Admin API (`contracts/EXTERNAL-APIS.md` §1), the storefronts of the
//! channels: OAuth2 client credentials (`POST /api/oauth/token`; the token is reused until
//! shortly before `expires_in` and fetched again once on a 401), the bulk `_action/sync`, the
//! searches, the delivery's tracking codes and state transitions. Every request sends
//! `Accept: application/json` (else Shopware answers JSON:API). Shopware's error envelope
//! `{"errors":[…]}` becomes [`ShopwareError::Refused`] with each error's code, pointer and
//! detail; 429 and 5xx are retried with backoff (honouring `Retry-After`), network errors too.
//! Credentials never appear in errors or logs: only the shop's host does. The client follows no
//! redirect, reaches a private network only when `IRP_ALLOW_PRIVATE_NETWORKS` allows it, and
//! reads at most [`MAX_ANSWER_BYTES`] of an answer ([`crate::net::ERROR_BODY_CAP`] of an
//! error), counted after decompression.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Client, Method, StatusCode, Url};
use serde_json::{Value, json};

use crate::http::{backoff, retry_after, shown_url, without_url};
use crate::net::{self, NetPolicy, ReadError, Redirects};

/// Attempts per request (the first included) on 429, 5xx and network errors.
const MAX_ATTEMPTS: u32 = 4;
/// A token is fetched again this long before Shopware says it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);
/// The largest answer read, counted after decompression.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// One error of Shopware's envelope.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiError {
    /// HTTP status as Shopware writes it ("400").
    pub status: String,
    /// Shopware's code (`FRAMEWORK__WRITE_CONSTRAINT_VIOLATION`, `SYSTEM__ILLEGAL_STATE_TRANSITION`).
    pub code: String,
    /// The message (`detail`, else `title`).
    pub detail: String,
    /// Where in the request (`/products/3/price`), when Shopware says.
    pub pointer: Option<String>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.code.is_empty() {
            write!(f, "{} ", self.code)?;
        }
        if let Some(p) = &self.pointer {
            write!(f, "at {p} ")?;
        }
        write!(f, "{}", self.detail)
    }
}

/// Why a Shopware request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShopwareError {
    /// The settings cannot make a client (not a URL, a credential a header cannot carry).
    #[error("{0}")]
    Config(String),
    /// The integration's credentials were refused.
    #[error("Shopware at {host} refused the integration's credentials (HTTP {status}): check the channel's shopware.client_id and client_secret{}", detail_suffix(.errors))]
    Unauthorized {
        /// The shop's host.
        host: String,
        /// The status.
        status: u16,
        /// What Shopware said.
        errors: Vec<ApiError>,
    },
    /// Shopware answered an error (after retries where retryable).
    #[error("Shopware at {host} answered HTTP {status} to {what}{}", detail_suffix(.errors))]
    Refused {
        /// The shop's host.
        host: String,
        /// What was asked (`POST /api/_action/sync`).
        what: String,
        /// The status.
        status: u16,
        /// Shopware's errors (empty when the body was not the envelope; then `body` says).
        errors: Vec<ApiError>,
        /// The start of a body that was not the envelope.
        body: String,
    },
    /// The network failed (after retries).
    #[error("{0}")]
    Network(String),
    /// The answer is not what the Admin API answers.
    #[error("{0}")]
    Answer(String),
}

fn detail_suffix(errors: &[ApiError]) -> String {
    if errors.is_empty() {
        return String::new();
    }
    let mut shown: Vec<String> = errors.iter().take(5).map(ToString::to_string).collect();
    if errors.len() > 5 {
        shown.push(format!("and {} more", errors.len() - 5));
    }
    format!(": {}", shown.join("; "))
}

impl ShopwareError {
    /// Shopware's errors, when it answered with its envelope.
    pub fn errors(&self) -> &[ApiError] {
        match self {
            ShopwareError::Refused { errors, .. } | ShopwareError::Unauthorized { errors, .. } => {
                errors
            }
            _ => &[],
        }
    }

    /// The HTTP status Shopware answered, when it did.
    pub fn status(&self) -> Option<u16> {
        match self {
            ShopwareError::Refused { status, .. } | ShopwareError::Unauthorized { status, .. } => {
                Some(*status)
            }
            _ => None,
        }
    }

    /// Whether Shopware refused the request itself (4xx other than 401/429): sending it again
    /// unchanged gets the same answer.
    pub fn is_refusal(&self) -> bool {
        matches!(self, ShopwareError::Refused { status, .. } if (400..500).contains(status) && *status != 429)
    }
}

/// How `_action/sync` indexes what it wrote (header `indexing-behavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Indexing {
    /// Synchronously (no header).
    Sync,
    /// `use-queue-indexing`: in the message queue, after the answer.
    Queue,
}

/// A Shopware Admin API client for one shop. Cheap to share (`&self` everywhere).
pub struct Shopware {
    client: Client,
    net: Arc<NetPolicy>,
    base: Url,
    client_id: String,
    client_secret: String,
    token: tokio::sync::Mutex<Option<(HeaderValue, Instant)>>,
    requests: AtomicU32,
}

impl std::fmt::Debug for Shopware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shopware")
            .field("base", &shown_url(&self.base))
            .finish_non_exhaustive()
    }
}

impl Shopware {
    /// A client for the shop at `url` (its base URL; the API is under `/api`) with the
    /// integration's access key id and secret (already resolved).
    ///
    /// # Errors
    /// [`ShopwareError::Config`]: `url` is not an http(s) URL, or `IRP_ALLOW_PRIVATE_NETWORKS`
    /// is malformed.
    pub fn new(
        url: &str,
        client_id: &str,
        client_secret: &str,
        timeout: Duration,
    ) -> Result<Self, ShopwareError> {
        let policy = NetPolicy::global().map_err(|e| ShopwareError::Config(e.to_string()))?;
        Self::with_policy(url, client_id, client_secret, timeout, policy)
    }

    /// [`Shopware::new`] under `policy`.
    ///
    /// # Errors
    /// [`ShopwareError::Config`]: `url` is not an http(s) URL.
    pub fn with_policy(
        url: &str,
        client_id: &str,
        client_secret: &str,
        timeout: Duration,
        policy: Arc<NetPolicy>,
    ) -> Result<Self, ShopwareError> {
        let mut base = Url::parse(url.trim_end_matches('/'))
            .map_err(|e| ShopwareError::Config(format!("shopware.url is not a URL ({e})")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(ShopwareError::Config(format!(
                "shopware.url must be http:// or https://, got {}",
                shown_url(&base)
            )));
        }
        if !base.path().ends_with('/') {
            let p = format!("{}/", base.path());
            base.set_path(&p);
        }
        let client = net::client_builder(Arc::clone(&policy), Redirects::None)
            .timeout(timeout)
            .build()
            .map_err(|e| ShopwareError::Network(e.to_string()))?;
        Ok(Shopware {
            client,
            net: policy,
            base,
            client_id: client_id.trim().to_owned(),
            client_secret: client_secret.trim().to_owned(),
            token: tokio::sync::Mutex::new(None),
            requests: AtomicU32::new(0),
        })
    }

    /// Requests made so far (token requests and retries included).
    pub fn requests(&self) -> u32 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The shop's host, as errors name it.
    pub fn host(&self) -> String {
        self.base.host_str().unwrap_or("?").to_owned()
    }

    fn url(&self, path: &str) -> Result<Url, ShopwareError> {
        self.base
            .join(path.trim_start_matches('/'))
            .map_err(|e| ShopwareError::Config(format!("building the URL of {path}: {e}")))
    }

    /// A token, fetched when there is none or it is about to expire (`fresh`: always).
    async fn token(&self, fresh: bool) -> Result<HeaderValue, ShopwareError> {
        let mut slot = self.token.lock().await;
        if !fresh
            && let Some((t, until)) = slot.as_ref()
            && Instant::now() < *until
        {
            return Ok(t.clone());
        }
        let url = self.url("api/oauth/token")?;
        let body = json!({
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        });
        let answer = self
            .send(
                Method::POST,
                &url,
                Some(&body),
                None,
                &[],
                "POST /api/oauth/token",
            )
            .await
            .map_err(|e| match e {
                ShopwareError::Refused {
                    host,
                    status: status @ (400 | 401 | 403),
                    errors,
                    ..
                } => ShopwareError::Unauthorized {
                    host,
                    status,
                    errors,
                },
                other => other,
            })?;
        let token = answer
            .as_ref()
            .and_then(|a| a.get("access_token"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                ShopwareError::Answer(format!(
                    "Shopware at {} answered the token request without an access_token",
                    self.host()
                ))
            })?;
        let expires_in = answer
            .as_ref()
            .and_then(|a| a.get("expires_in"))
            .and_then(Value::as_u64)
            .unwrap_or(600);
        let mut header = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            ShopwareError::Answer("Shopware's access token cannot be a header value".into())
        })?;
        header.set_sensitive(true);
        let life = Duration::from_secs(expires_in).saturating_sub(TOKEN_MARGIN);
        *slot = Some((header.clone(), Instant::now() + life));
        Ok(header)
    }

    /// One Admin API call with the token: refreshed once on a 401. `Ok(None)` for an empty
    /// answer (204).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Option<Value>, ShopwareError> {
        let url = self.url(path)?;
        let what = format!("{method} /{}", path.trim_start_matches('/'));
        let token = self.token(false).await?;
        match self
            .send(method.clone(), &url, body, Some(token), headers, &what)
            .await
        {
            Err(ShopwareError::Refused { status: 401, .. }) => {
                let token = self.token(true).await?;
                self.send(method, &url, body, Some(token), headers, &what)
                    .await
                    .map_err(|e| match e {
                        ShopwareError::Refused {
                            host,
                            status: 401,
                            errors,
                            ..
                        } => ShopwareError::Unauthorized {
                            host,
                            status: 401,
                            errors,
                        },
                        other => other,
                    })
            }
            other => other,
        }
    }

    /// Send with retries on 429, 5xx and network errors.
    async fn send(
        &self,
        method: Method,
        url: &Url,
        body: Option<&Value>,
        token: Option<HeaderValue>,
        headers: &[(&str, &str)],
        what: &str,
    ) -> Result<Option<Value>, ShopwareError> {
        let started = Instant::now();
        self.net
            .check_url(url)
            .map_err(|r| ShopwareError::Config(format!("Shopware at {}: {r}", self.host())))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let mut req = self
                .client
                .request(method.clone(), url.clone())
                .header(ACCEPT, "application/json");
            if let Some(t) = &token {
                req = req.header(reqwest::header::AUTHORIZATION, t.clone());
            }
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let wait = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        return self.read(resp, what).await;
                    }
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if !retryable || attempt >= MAX_ATTEMPTS {
                        return Err(self.refused(resp, what).await);
                    }
                    retry_after(resp.headers()).unwrap_or_else(|| backoff(attempt))
                }
                Err(e) => {
                    if let Some(r) = net::refusal(&e) {
                        return Err(ShopwareError::Config(format!(
                            "Shopware at {}: {r}",
                            self.host()
                        )));
                    }
                    if attempt >= MAX_ATTEMPTS {
                        return Err(ShopwareError::Network(format!(
                            "{what} at Shopware {} failed after {attempt} attempts in {} s: {}",
                            self.host(),
                            started.elapsed().as_secs(),
                            without_url(&e)
                        )));
                    }
                    backoff(attempt)
                }
            };
            tracing::warn!(host = %self.host(), what, attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "Shopware request failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }

    async fn read(
        &self,
        resp: reqwest::Response,
        what: &str,
    ) -> Result<Option<Value>, ShopwareError> {
        let bytes = match net::read_capped(resp, MAX_ANSWER_BYTES).await {
            Ok(b) => b,
            Err(e @ ReadError::TooLarge { .. }) => {
                return Err(ShopwareError::Answer(format!(
                    "Shopware at {} answered {what}: {e}",
                    self.host()
                )));
            }
            Err(e) => {
                return Err(ShopwareError::Network(format!(
                    "reading Shopware's answer to {what} at {}: {e}",
                    self.host()
                )));
            }
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(None);
        }
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            ShopwareError::Answer(format!(
                "Shopware at {} answered {what} with something that is not JSON ({e})",
                self.host()
            ))
        })
    }

    async fn refused(&self, resp: reqwest::Response, what: &str) -> ShopwareError {
        let status = resp.status().as_u16();
        let (bytes, too_large) = match net::read_capped(resp, net::ERROR_BODY_CAP).await {
            Ok(b) => (b, None),
            Err(e @ ReadError::TooLarge { .. }) => (Vec::new(), Some(format!("({e})"))),
            Err(ReadError::Body(_)) => (Vec::new(), None),
        };
        let errors = serde_json::from_slice::<Value>(&bytes)
            .ok()
            .map(|v| parse_errors(&v))
            .unwrap_or_default();
        let body = if let Some(t) = too_large {
            t
        } else if errors.is_empty() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]);
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            String::new()
        };
        ShopwareError::Refused {
            host: self.host(),
            what: what.to_owned(),
            status,
            errors,
            body,
        }
    }

    /// Check the credentials: fetch a token now.
    ///
    /// # Errors
    /// See [`ShopwareError`].
    pub async fn check(&self) -> Result<(), ShopwareError> {
        self.token(true).await.map(|_| ())
    }

    /// `POST /api/_action/sync` with one upsert operation of `rows` of `entity`, keyed `key`.
    /// All or nothing (Shopware ≥ 6.5): an error means nothing of it was written.
    ///
    /// # Errors
    /// See [`ShopwareError`].
    pub async fn upsert(
        &self,
        key: &str,
        entity: &str,
        rows: Vec<Value>,
        indexing: Indexing,
    ) -> Result<Value, ShopwareError> {
        let body = json!({ key: {"entity": entity, "action": "upsert", "payload": rows} });
        let headers: &[(&str, &str)] = match indexing {
            Indexing::Sync => &[],
            Indexing::Queue => &[("indexing-behavior", "use-queue-indexing")],
        };
        self.call(Method::POST, "api/_action/sync", Some(&body), headers)
            .await?
            .ok_or_else(|| ShopwareError::Answer("Shopware answered a sync with no body".into()))
    }

    /// `POST /api/search/{entity}` with `criteria`: the `data` array and `total`.
    ///
    /// # Errors
    /// See [`ShopwareError`].
    pub async fn search(
        &self,
        entity: &str,
        criteria: &Value,
    ) -> Result<(Vec<Value>, i64), ShopwareError> {
        let answer = self
            .call(
                Method::POST,
                &format!("api/search/{entity}"),
                Some(criteria),
                &[],
            )
            .await?
            .unwrap_or(Value::Null);
        let Some(data) = answer.get("data").and_then(Value::as_array) else {
            return Err(ShopwareError::Answer(format!(
                "Shopware's answer to the search of {entity} has no `data` list"
            )));
        };
        let total = answer
            .get("total")
            .and_then(Value::as_i64)
            .unwrap_or(i64::try_from(data.len()).unwrap_or(i64::MAX));
        Ok((data.clone(), total))
    }

    /// Which of `numbers` Shopware has as product numbers (`search-ids` would not say which,
    /// so this reads the product numbers of `/api/search/product`).
    ///
    /// # Errors
    /// See [`ShopwareError`].
    pub async fn known_product_numbers(
        &self,
        numbers: &[String],
    ) -> Result<std::collections::HashSet<String>, ShopwareError> {
        let mut known = std::collections::HashSet::new();
        for chunk in numbers.chunks(500) {
            let criteria = json!({
                "limit": chunk.len(),
                "filter": [{"type": "equalsAny", "field": "productNumber", "value": chunk}],
                "includes": {"product": ["id", "productNumber"]},
            });
            let (data, _) = self.search("product", &criteria).await?;
            known.extend(
                data.iter()
                    .filter_map(|p| p.get("productNumber").and_then(Value::as_str))
                    .map(str::to_owned),
            );
        }
        Ok(known)
    }

    /// Replace the tracking codes of a delivery (`PATCH /api/order-delivery/{id}`, 204).
    ///
    /// # Errors
    /// See [`ShopwareError`].
    pub async fn set_tracking_codes(
        &self,
        delivery_id: &str,
        codes: &[String],
    ) -> Result<(), ShopwareError> {
        self.call(
            Method::PATCH,
            &format!("api/order-delivery/{}", path_id(delivery_id)?),
            Some(&json!({ "trackingCodes": codes })),
            &[],
        )
        .await
        .map(|_| ())
    }

    /// Move an entity through its state machine: `entity` is `order` or `order_delivery`,
    /// `transition` an action name (`ship`, `ship_partially`, `cancel`). No mail to the
    /// customer is asked for. Returns the new state's technical name.
    ///
    /// # Errors
    /// See [`ShopwareError`]; an illegal transition is a `Refused` with code
    /// `SYSTEM__ILLEGAL_STATE_TRANSITION`.
    pub async fn transition(
        &self,
        entity: &str,
        id: &str,
        transition: &str,
    ) -> Result<String, ShopwareError> {
        let answer = self
            .call(
                Method::POST,
                &format!(
                    "api/_action/{entity}/{}/state/{}",
                    path_id(id)?,
                    path_id(transition)?
                ),
                Some(&json!({"sendMail": false})),
                &[],
            )
            .await?
            .unwrap_or(Value::Null);
        Ok(answer
            .get("technicalName")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned())
    }
}

/// An id or name put into a path: only letters, digits, `_` and `-`.
fn path_id(id: &str) -> Result<&str, ShopwareError> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        Err(ShopwareError::Config(format!(
            "{} cannot be a Shopware id",
            Value::String(id.to_owned())
        )))
    }
}

/// The errors of Shopware's envelope `{"errors":[…]}`.
pub fn parse_errors(v: &Value) -> Vec<ApiError> {
    let text = |e: &Value, k: &str| -> String {
        match e.get(k) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        }
    };
    v.get("errors")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .map(|e| {
                    let detail = text(e, "detail");
                    ApiError {
                        status: text(e, "status"),
                        code: text(e, "code"),
                        detail: if detail.is_empty() {
                            let t = text(e, "title");
                            if t.is_empty() {
                                text(e, "description")
                            } else {
                                t
                            }
                        } else {
                            detail
                        },
                        pointer: e
                            .pointer("/source/pointer")
                            .and_then(Value::as_str)
                            .map(str::to_owned),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_envelope_is_read_with_codes_pointers_and_details() {
        let v = json!({"errors": [
            {"code": "c1051bb4", "status": "400", "detail": "This value should not be blank.",
             "source": {"pointer": "/products/0/taxId"}},
            {"code": "9", "status": "401", "title": "Unauthorized", "detail": null},
            {"status": "400", "title": "Bad Request", "description": "Bad parameters"}
        ]});
        let e = parse_errors(&v);
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[0].to_string(),
            "c1051bb4 at /products/0/taxId This value should not be blank."
        );
        assert_eq!(e[1].detail, "Unauthorized");
        assert_eq!(e[2].detail, "Bad Request");
        assert!(parse_errors(&json!({"data": []})).is_empty());
    }

    #[test]
    fn ids_in_paths_are_checked() {
        assert!(path_id("0189c0a5f2e07e1ab3e9bd6a1c8a9f10").is_ok());
        assert!(path_id("ship_partially").is_ok());
        assert!(path_id("../oauth").is_err());
        assert!(path_id("").is_err());
    }
}
