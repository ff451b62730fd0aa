//! A client of Odoo (`contracts/EXTERNAL-APIS.md` §3), the back office, directly or through
//! Alumio's HTTP proxies (`POST {alumio}/api/v1/http-proxy/{identifier}`, which forward the
//! body to Odoo and return Odoo's answer). Two protocols, chosen by configuration:
//!
//! - **JSON-RPC** (`POST /jsonrpc`, Odoo ≤ 18): `common.authenticate` once for the user id,
//!   then `object.execute_kw` with database, user id and API key in every call. Odoo answers
//!   HTTP 200 also for an error: the envelope's `error` object is an error here, with its message.
//! - **JSON-2** (`POST /json/2/<model>/<method>`, Odoo 19+): named arguments, the API key as
//!   `Authorization: bearer …` (through Alumio, its proxy adds it), `X-Odoo-Database`.
//!
//! Network errors, 429 and 5xx are retried with backoff; credentials never appear in errors.
//! The client follows no redirect (Odoo's API key and Alumio's header stay with their host),
//! reaches a private network only when `IRP_ALLOW_PRIVATE_NETWORKS` allows it (an Odoo on the
//! internal network needs it), and reads at most [`crate::net::ODOO_ANSWER_CAP`] of an answer,
//! counted after decompression.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use irp_core::config::model::OdooProtocol;
use reqwest::{Client, StatusCode, Url};
use serde_json::{Map, Value, json};

use crate::http::{backoff, retry_after, shown_url, without_url};
use crate::net::{self, NetPolicy, ReadError, Redirects};

/// Attempts per request (the first included) on 429, 5xx and network errors.
const MAX_ATTEMPTS: u32 = 3;

/// Why an Odoo call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OdooError {
    /// The settings cannot make a client.
    #[error("{0}")]
    Config(String),
    /// Odoo refused the credentials (`authenticate` answered false, or 401 / AccessDenied).
    #[error("Odoo ({host}) refused the credentials of {login}: {detail}")]
    Unauthorized {
        /// Where.
        host: String,
        /// The user.
        login: String,
        /// What Odoo said.
        detail: String,
    },
    /// Odoo answered with its error object (`model.method` failed: a validation error, an
    /// unknown field, a missing record).
    #[error("Odoo ({host}) refused {model}.{method}: {message} ({name})")]
    Refused {
        /// Where.
        host: String,
        /// The model called.
        model: String,
        /// The method called.
        method: String,
        /// Odoo's exception name (`odoo.exceptions.ValidationError`).
        name: String,
        /// Odoo's message.
        message: String,
    },
    /// An HTTP status that is not Odoo's answer (Alumio or a gateway), after retries.
    #[error("{host} answered HTTP {status} to {what}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Http {
        /// Where.
        host: String,
        /// What was asked.
        what: String,
        /// The status.
        status: u16,
        /// The start of the body.
        body: String,
    },
    /// The network failed (after retries).
    #[error("{0}")]
    Network(String),
    /// The answer is not what Odoo answers.
    #[error("{0}")]
    Answer(String),
}

impl OdooError {
    /// Whether trying again later may help (the network, 429, 5xx); a refusal or bad
    /// credentials need someone to change something first.
    pub fn is_transient(&self) -> bool {
        match self {
            OdooError::Network(_) => true,
            OdooError::Http { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}

/// How to reach Odoo, references already resolved.
#[derive(Clone)]
pub struct OdooSettings {
    /// The protocol.
    pub protocol: OdooProtocol,
    /// Alumio's base URL (with `alumio`) or Odoo's.
    pub url: String,
    /// Alumio: (header, value, the JSON-RPC proxy, the JSON-2 proxies by `model/method`).
    pub alumio: Option<AlumioSettings>,
    /// Odoo's database.
    pub database: String,
    /// The user.
    pub login: String,
    /// The user's API key.
    pub api_key: String,
    /// Per request.
    pub timeout: Duration,
}

/// Alumio's part of [`OdooSettings`].
#[derive(Clone)]
pub struct AlumioSettings {
    /// The header Alumio checks.
    pub header: String,
    /// Its value.
    pub value: String,
    /// The proxy forwarding to `/jsonrpc`.
    pub proxy: Option<String>,
    /// The proxies forwarding to `/json/2/<model>/<method>`, by `model/method`.
    pub proxies: std::collections::BTreeMap<String, String>,
}

/// An Odoo client. Cheap to share (`&self` everywhere).
pub struct Odoo {
    client: Client,
    net: Arc<NetPolicy>,
    base: Url,
    settings: OdooSettings,
    uid: tokio::sync::Mutex<Option<i64>>,
    next_id: AtomicU64,
    requests: AtomicU64,
}

impl std::fmt::Debug for Odoo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Odoo")
            .field("base", &shown_url(&self.base))
            .finish_non_exhaustive()
    }
}

impl Odoo {
    /// A client.
    ///
    /// # Errors
    /// [`OdooError::Config`]: the URL is not http(s), or `IRP_ALLOW_PRIVATE_NETWORKS` is
    /// malformed.
    pub fn new(settings: OdooSettings) -> Result<Self, OdooError> {
        let policy = NetPolicy::global().map_err(|e| OdooError::Config(e.to_string()))?;
        Self::with_policy(settings, policy)
    }

    /// [`Odoo::new`] under `policy`.
    ///
    /// # Errors
    /// [`OdooError::Config`]: the URL is not http(s).
    pub fn with_policy(settings: OdooSettings, policy: Arc<NetPolicy>) -> Result<Self, OdooError> {
        let base = Url::parse(settings.url.trim_end_matches('/'))
            .map_err(|e| OdooError::Config(format!("erp.url is not a URL ({e})")))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(OdooError::Config(format!(
                "erp.url must be http:// or https://, got {}",
                shown_url(&base)
            )));
        }
        let client = net::client_builder(Arc::clone(&policy), Redirects::None)
            .timeout(settings.timeout)
            .build()
            .map_err(|e| OdooError::Network(e.to_string()))?;
        Ok(Odoo {
            client,
            net: policy,
            base,
            settings,
            uid: tokio::sync::Mutex::new(None),
            next_id: AtomicU64::new(1),
            requests: AtomicU64::new(0),
        })
    }

    /// Requests made so far (retries included).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// The host errors name.
    pub fn host(&self) -> String {
        self.base.host_str().unwrap_or("?").to_owned()
    }

    fn url(&self, path: &str) -> Result<Url, OdooError> {
        let base = self.base.as_str().trim_end_matches('/');
        Url::parse(&format!("{base}{path}"))
            .map_err(|e| OdooError::Config(format!("building the URL of {path}: {e}")))
    }

    /// Where a call goes: the URL and whether Odoo's own credentials travel as a header.
    fn target(&self, model: &str, method: &str) -> Result<Url, OdooError> {
        match (&self.settings.alumio, self.settings.protocol) {
            (None, OdooProtocol::Jsonrpc) => self.url("/jsonrpc"),
            (None, OdooProtocol::Json2) => self.url(&format!("/json/2/{model}/{method}")),
            (Some(a), OdooProtocol::Jsonrpc) => {
                let proxy = a.proxy.as_deref().ok_or_else(|| {
                    OdooError::Config("erp.alumio.proxy is missing (protocol jsonrpc)".into())
                })?;
                self.url(&format!("/api/v1/http-proxy/{proxy}"))
            }
            (Some(a), OdooProtocol::Json2) => {
                let call = format!("{model}/{method}");
                let proxy = a.proxies.get(&call).ok_or_else(|| {
                    OdooError::Config(format!("erp.alumio.proxies has no proxy for {call}"))
                })?;
                self.url(&format!("/api/v1/http-proxy/{proxy}"))
            }
        }
    }

    /// POST `body` to `url`, retrying 429/5xx/network errors. Returns the status and JSON body.
    async fn post(
        &self,
        url: &Url,
        body: &Value,
        what: &str,
        bearer: bool,
        repeatable: bool,
    ) -> Result<(StatusCode, Value), OdooError> {
        self.net
            .check_url(url)
            .map_err(|r| OdooError::Config(format!("erp.url: {r}")))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.requests.fetch_add(1, Ordering::Relaxed);
            let mut req = self
                .client
                .post(url.clone())
                .header("accept", "application/json")
                .json(body);
            if let Some(a) = &self.settings.alumio {
                req = req.header(a.header.as_str(), a.value.as_str());
            } else if bearer {
                req = req.header("authorization", format!("bearer {}", self.settings.api_key));
            }
            if self.settings.protocol == OdooProtocol::Json2 {
                req = req.header("x-odoo-database", self.settings.database.as_str());
            }
            let wait = match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    // A call that writes (`create`) is sent again only when it cannot have been
                    // carried out (429); after a 5xx or a lost answer it may have been: the
                    // caller searches for it before trying again.
                    let retryable = status == StatusCode::TOO_MANY_REQUESTS
                        || (repeatable && status.is_server_error());
                    if retryable && attempt < MAX_ATTEMPTS {
                        retry_after(resp.headers()).unwrap_or_else(|| backoff(attempt))
                    } else {
                        let bytes = net::read_capped(resp, net::ODOO_ANSWER_CAP).await.map_err(
                            |e| match e {
                                ReadError::TooLarge { .. } => OdooError::Answer(format!(
                                    "{} answered {what}: {e}",
                                    self.host()
                                )),
                                ReadError::Body(_) => OdooError::Network(format!(
                                    "reading Odoo's answer to {what} at {}: {e}",
                                    self.host()
                                )),
                            },
                        )?;
                        let json = serde_json::from_slice::<Value>(&bytes).ok();
                        return match json {
                            Some(v) => Ok((status, v)),
                            None => {
                                let text = String::from_utf8_lossy(&bytes[..bytes.len().min(300)]);
                                let body = text.split_whitespace().collect::<Vec<_>>().join(" ");
                                if status.is_success() {
                                    Err(OdooError::Answer(format!(
                                        "{} answered {what} with something that is not JSON: {body}",
                                        self.host()
                                    )))
                                } else {
                                    Err(OdooError::Http {
                                        host: self.host(),
                                        what: what.to_owned(),
                                        status: status.as_u16(),
                                        body,
                                    })
                                }
                            }
                        };
                    }
                }
                Err(e) => {
                    if let Some(r) = net::refusal(&e) {
                        return Err(OdooError::Config(format!("erp.url: {r}")));
                    }
                    if attempt >= MAX_ATTEMPTS || (!repeatable && !e.is_connect()) {
                        return Err(OdooError::Network(format!(
                            "{what} at {} failed after {attempt} attempts: {}",
                            self.host(),
                            without_url(&e)
                        )));
                    }
                    backoff(attempt)
                }
            };
            tracing::warn!(host = %self.host(), what, attempt, "Odoo request failed, retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// One JSON-RPC call: the `result`, or the `error` object as an error.
    async fn jsonrpc(
        &self,
        service: &str,
        method: &str,
        args: Value,
        what: (&str, &str),
    ) -> Result<Value, OdooError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let body = json!({"jsonrpc": "2.0", "method": "call", "id": id,
            "params": {"service": service, "method": method, "args": args}});
        let url = self.target(what.0, what.1)?;
        let label = format!("{}.{}", what.0, what.1);
        let repeatable = !matches!(what.1, "create" | "button_confirm" | "action_confirm");
        let (status, v) = self.post(&url, &body, &label, false, repeatable).await?;
        if !status.is_success() {
            return Err(OdooError::Http {
                host: self.host(),
                what: label,
                status: status.as_u16(),
                body: shown(&v),
            });
        }
        if let Some(err) = v.get("error") {
            return Err(self.refusal(what.0, what.1, err, true));
        }
        v.get("result").cloned().ok_or_else(|| {
            OdooError::Answer(format!(
                "{} answered {label} with neither `result` nor `error`",
                self.host()
            ))
        })
    }

    fn refusal(&self, model: &str, method: &str, err: &Value, rpc: bool) -> OdooError {
        // JSON-RPC: {"code", "message": "Odoo Server Error", "data": {"name", "message"}};
        // JSON-2: {"name", "message", "arguments"}.
        let data = if rpc {
            err.get("data").unwrap_or(err)
        } else {
            err
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
        let name = text(data.get("name"));
        let mut message = text(data.get("message"));
        if message.is_empty() {
            message = text(err.get("message"));
        }
        if name.ends_with("AccessDenied") || name.ends_with("Unauthorized") {
            return OdooError::Unauthorized {
                host: self.host(),
                login: self.settings.login.clone(),
                detail: message,
            };
        }
        OdooError::Refused {
            host: self.host(),
            model: model.to_owned(),
            method: method.to_owned(),
            name,
            message,
        }
    }

    /// The user id (JSON-RPC: `common.authenticate`, once; JSON-2: not needed, 0).
    ///
    /// # Errors
    /// See [`OdooError`]; wrong credentials are [`OdooError::Unauthorized`].
    pub async fn authenticate(&self) -> Result<i64, OdooError> {
        if self.settings.protocol == OdooProtocol::Json2 {
            return Ok(0);
        }
        let mut slot = self.uid.lock().await;
        if let Some(uid) = *slot {
            return Ok(uid);
        }
        let s = &self.settings;
        let result = self
            .jsonrpc(
                "common",
                "authenticate",
                json!([s.database, s.login, s.api_key, {}]),
                ("common", "authenticate"),
            )
            .await?;
        match result.as_i64() {
            Some(uid) if uid > 0 => {
                *slot = Some(uid);
                Ok(uid)
            }
            _ => Err(OdooError::Unauthorized {
                host: self.host(),
                login: s.login.clone(),
                detail: format!(
                    "authenticate answered {} for database {}",
                    shown(&result),
                    Value::String(s.database.clone())
                ),
            }),
        }
    }

    /// Call `model.method` with positional `args` and keyword `kwargs` (JSON-RPC's
    /// `execute_kw`); for JSON-2 `named` gives the same call's named arguments.
    async fn call(
        &self,
        model: &str,
        method: &str,
        args: Value,
        kwargs: Map<String, Value>,
        named: Map<String, Value>,
    ) -> Result<Value, OdooError> {
        match self.settings.protocol {
            OdooProtocol::Jsonrpc => {
                let uid = self.authenticate().await?;
                let s = &self.settings;
                self.jsonrpc(
                    "object",
                    "execute_kw",
                    json!([s.database, uid, s.api_key, model, method, args, kwargs]),
                    (model, method),
                )
                .await
            }
            OdooProtocol::Json2 => {
                let url = self.target(model, method)?;
                let label = format!("{model}.{method}");
                let repeatable = !matches!(method, "create" | "button_confirm" | "action_confirm");
                let (status, v) = self
                    .post(&url, &Value::Object(named), &label, true, repeatable)
                    .await?;
                if status.is_success() {
                    Ok(v)
                } else if status.as_u16() != 429
                    && !status.is_server_error()
                    && (v.get("name").is_some() || v.get("message").is_some())
                {
                    Err(self.refusal(model, method, &v, false))
                } else {
                    Err(OdooError::Http {
                        host: self.host(),
                        what: label,
                        status: status.as_u16(),
                        body: shown(&v),
                    })
                }
            }
        }
    }

    /// `search_read` with a domain, fields and a limit.
    ///
    /// # Errors
    /// See [`OdooError`].
    pub async fn search_read(
        &self,
        model: &str,
        domain: Value,
        fields: &[&str],
        limit: i64,
    ) -> Result<Vec<Value>, OdooError> {
        let mut kwargs = Map::new();
        kwargs.insert("fields".into(), json!(fields));
        kwargs.insert("limit".into(), json!(limit));
        let mut named = kwargs.clone();
        named.insert("domain".into(), domain.clone());
        let v = self
            .call(model, "search_read", json!([domain]), kwargs, named)
            .await?;
        v.as_array().cloned().ok_or_else(|| {
            OdooError::Answer(format!(
                "Odoo answered {model}.search_read with {} instead of a list",
                shown(&v)
            ))
        })
    }

    /// `create` one record; its id.
    ///
    /// # Errors
    /// See [`OdooError`].
    pub async fn create(&self, model: &str, vals: Value) -> Result<i64, OdooError> {
        let mut named = Map::new();
        named.insert("vals_list".into(), json!([vals.clone()]));
        let v = self
            .call(model, "create", json!([vals]), Map::new(), named)
            .await?;
        v.as_i64()
            .or_else(|| v.as_array().and_then(|a| a.first()).and_then(Value::as_i64))
            .ok_or_else(|| {
                OdooError::Answer(format!(
                    "Odoo answered {model}.create with {} instead of an id",
                    shown(&v)
                ))
            })
    }

    /// A method on records (`button_confirm`, `action_confirm`).
    ///
    /// # Errors
    /// See [`OdooError`].
    pub async fn call_on(
        &self,
        model: &str,
        method: &str,
        ids: &[i64],
    ) -> Result<Value, OdooError> {
        let mut named = Map::new();
        named.insert("ids".into(), json!(ids));
        self.call(model, method, json!([ids]), Map::new(), named)
            .await
    }
}

fn shown(v: &Value) -> String {
    let t = v.to_string();
    if t.chars().count() > 200 {
        format!("{}…", t.chars().take(200).collect::<String>())
    } else {
        t
    }
}
