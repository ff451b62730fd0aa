//! The Ergonode PIM client: one page of a product stream per request, through Ergonode's
//! GraphQL API (`POST …/api/graphql/`, header `X-API-KEY`). 429 and 5xx answers and network
//! errors are retried with backoff (honouring `Retry-After`); the API key is never logged nor
//! part of an error, nor sent to another origin: a redirect is followed only within the
//! endpoint's origin. A private network is reached only when `IRP_ALLOW_PRIVATE_NETWORKS`
//! allows it; answers are read with [`MAX_ANSWER_BYTES`] counted after decompression.

use std::sync::Arc;
use std::time::{Duration, Instant};

use irp_core::pim::{Page, Stream, parse_page, stream_request};
use reqwest::header::{HeaderValue, RETRY_AFTER};
use reqwest::{Client, StatusCode, Url};
use serde_json::Value;

use crate::http::{backoff, retry_after, shown_url, without_url};
use crate::net::{self, NetPolicy, ReadError, Redirects, excerpt};

/// Requests per page, retries included (Ergonode allows 500 requests a minute).
pub const MAX_ATTEMPTS: u32 = 5;
/// The largest answer read, counted after decompression (a page of 200 products with their
/// attributes is a few MB).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PimError {
    /// The API key was refused.
    #[error(
        "Ergonode refused the API key (HTTP {status}): check `api_key` (System Settings → API keys in Ergonode)"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
    },
    /// Another unsuccessful status (after retries where retryable).
    #[error("Ergonode answered HTTP {status} at {url}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        /// The status.
        status: u16,
        /// The endpoint (without query).
        url: String,
        /// The start of the answer.
        body: String,
    },
    /// The answer is not JSON (often a wrong `url`: it must end in `/api/graphql/`).
    #[error(
        "Ergonode's answer at {url} is not JSON ({why}): is `url` the GraphQL endpoint, ending in /api/graphql/?"
    )]
    NotJson {
        /// The endpoint.
        url: String,
        /// The parse error.
        why: String,
    },
    /// GraphQL errors or an answer of another shape.
    #[error("{0}")]
    Answer(String),
    /// The network failed (after retries), or the request timed out.
    #[error("{0}")]
    Network(String),
    /// The configuration cannot be used.
    #[error("{0}")]
    Config(String),
}

/// An Ergonode GraphQL endpoint with its API key. `Debug` hides the key.
pub struct Ergonode {
    client: Client,
    net: Arc<NetPolicy>,
    url: Url,
    api_key: HeaderValue,
    /// Requests made (retries included), for the sync report.
    requests: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for Ergonode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ergonode")
            .field("url", &shown_url(&self.url))
            .field("api_key", &"********")
            .finish_non_exhaustive()
    }
}

impl Ergonode {
    /// A client for `url` (the GraphQL endpoint) sending `api_key` (already resolved).
    ///
    /// # Errors
    /// `url` is not a URL, the key cannot be a header value, or `IRP_ALLOW_PRIVATE_NETWORKS`
    /// is malformed.
    pub fn new(url: &str, api_key: &str, timeout: Duration) -> Result<Self, PimError> {
        let policy = NetPolicy::global().map_err(|e| PimError::Config(e.to_string()))?;
        Self::with_policy(url, api_key, timeout, policy)
    }

    /// [`Ergonode::new`] under `policy`.
    ///
    /// # Errors
    /// `url` is not a URL, or the key cannot be a header value.
    pub fn with_policy(
        url: &str,
        api_key: &str,
        timeout: Duration,
        policy: Arc<NetPolicy>,
    ) -> Result<Self, PimError> {
        let url =
            Url::parse(url).map_err(|e| PimError::Config(format!("pim.url is not a URL: {e}")))?;
        let mut api_key = HeaderValue::from_str(api_key.trim()).map_err(|_| {
            PimError::Config(
                "pim.api_key holds characters a header cannot carry (line breaks?)".into(),
            )
        })?;
        api_key.set_sensitive(true);
        // The key travels in every request: a redirect is followed within the origin only.
        let client = net::client_builder(Arc::clone(&policy), Redirects::SameOrigin)
            .timeout(timeout)
            .build()
            .map_err(|e| PimError::Network(e.to_string()))?;
        Ok(Ergonode {
            client,
            net: policy,
            url,
            api_key,
            requests: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// Requests made so far, retries included.
    pub fn requests(&self) -> u32 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// One page of `stream`: `first` nodes after `after` (the start when `None`).
    ///
    /// # Errors
    /// See [`PimError`].
    pub async fn page(
        &self,
        stream: Stream,
        first: i64,
        after: Option<&str>,
    ) -> Result<Page, PimError> {
        let body = self.post(&stream_request(stream, first, after)).await?;
        parse_page(stream, &body).map_err(PimError::Answer)
    }

    /// Whether the endpoint answers GraphQL with this key (`{ __typename }`).
    ///
    /// # Errors
    /// See [`PimError`].
    pub async fn check(&self) -> Result<(), PimError> {
        let body = self
            .post(&serde_json::json!({"query": "query IrpConnectionTest { __typename }"}))
            .await?;
        match body.pointer("/data/__typename").and_then(Value::as_str) {
            Some(s) if !s.is_empty() => Ok(()),
            _ => Err(PimError::Answer(format!(
                "Ergonode's answer to {{ __typename }} has no data.__typename: {}",
                truncate(&body.to_string())
            ))),
        }
    }

    async fn post(&self, request: &Value) -> Result<Value, PimError> {
        let started = Instant::now();
        self.net
            .check_url(&self.url)
            .map_err(|r| PimError::Config(format!("pim.url: {r}")))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = self
                .client
                .post(self.url.clone())
                .header("X-API-KEY", self.api_key.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .json(request)
                .send()
                .await;
            let wait = match result {
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        return read_json(resp, &self.url).await;
                    }
                    if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
                        return Err(PimError::Unauthorized {
                            status: status.as_u16(),
                        });
                    }
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if !retryable || attempt >= MAX_ATTEMPTS {
                        let waited = resp.headers().get(RETRY_AFTER).is_some();
                        let mut body = excerpt(resp).await;
                        if waited && status == StatusCode::TOO_MANY_REQUESTS {
                            body.push_str(" (rate limited: Ergonode allows 500 requests a minute)");
                        }
                        return Err(PimError::Status {
                            status: status.as_u16(),
                            url: shown_url(&self.url),
                            body,
                        });
                    }
                    retry_after(resp.headers()).unwrap_or_else(|| backoff(attempt))
                }
                Err(e) => {
                    if let Some(r) = net::refusal(&e) {
                        return Err(PimError::Config(format!("pim.url: {r}")));
                    }
                    if attempt >= MAX_ATTEMPTS {
                        return Err(PimError::Network(format!(
                            "requesting {} failed after {attempt} attempts in {} s: {}",
                            shown_url(&self.url),
                            started.elapsed().as_secs(),
                            without_url(&e)
                        )));
                    }
                    backoff(attempt)
                }
            };
            tracing::warn!(url = %shown_url(&self.url), attempt, wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "Ergonode request failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }
}

async fn read_json(resp: reqwest::Response, url: &Url) -> Result<Value, PimError> {
    let bytes = match net::read_capped(resp, MAX_ANSWER_BYTES).await {
        Ok(b) => b,
        Err(e @ ReadError::TooLarge { .. }) => {
            return Err(PimError::Answer(format!(
                "Ergonode at {}: {e}: lower pim.page_size",
                shown_url(url)
            )));
        }
        Err(e) => {
            return Err(PimError::Network(format!(
                "reading Ergonode's answer at {}: {e}",
                shown_url(url)
            )));
        }
    };
    serde_json::from_slice(&bytes).map_err(|e| PimError::NotJson {
        url: shown_url(url),
        why: e.to_string(),
    })
}

fn truncate(s: &str) -> String {
    s.chars().take(300).collect()
}
