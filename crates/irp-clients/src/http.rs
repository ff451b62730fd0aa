//! HTTP feeds: `web` (GET) and `web_post` (POST of `body` with a JSON content type).
//!
//! The client comes from [`crate::net::client_builder`]: private networks only when allowed, a
//! redirect to another origin followed only by a plain GET without credentials (no `auth`, no
//! query string or user info in the endpoint), never from https to http. The feed is capped by
//! `max_bytes` after decompression, a page of a paginated feed also by
//! [`crate::net::FEED_PAGE_CAP`], an error answer and an OAuth2 token answer by the caps of
//! [`crate::net`].

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use irp_core::config::model::{Connection, HttpAuth, OffersAuth, OffersConfig, Pagination};
use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Client, Response, StatusCode, Url};
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use crate::net::{self, Capped, NetPolicy, ReadError, Redirects};
use crate::{FetchError, FetchFailure, FetchRecord};

/// Requests per page, retries included.
pub const MAX_ATTEMPTS: u32 = 3;
const MAX_RETRY_WAIT: Duration = Duration::from_secs(60);

/// What a fetch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// How it went.
    pub record: FetchRecord,
    /// For a paginated feed the file holds the offers of all pages as one JSON array, so the
    /// reader must use this `offer_location` (empty: the document is the array).
    pub offer_location: Option<String>,
}

/// The URL without its query string and user info, for logs and messages (query parameters
/// may be credentials); a non-default port is kept.
pub fn shown_url(url: &Url) -> String {
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}{}",
        url.scheme(),
        url.host_str().unwrap_or(""),
        url.path()
    )
}

struct Ctx<'a> {
    client: Client,
    net: Arc<NetPolicy>,
    offers: &'a OffersConfig,
    deadline: Instant,
    timeout: Duration,
    record: FetchRecord,
    started: Instant,
}

impl Ctx<'_> {
    fn fail(&mut self, error: FetchError) -> FetchFailure {
        self.record.duration_ms =
            u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        FetchFailure {
            error,
            record: self.record.clone(),
        }
    }

    fn remaining(&self) -> Result<Duration, FetchError> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or(FetchError::Timeout(self.timeout.as_secs()))
    }

    /// How long to wait for the next bytes of a body, and the error when they do not come:
    /// `read_timeout_secs`, or what is left of `timeout_secs` when that is shorter.
    fn next_read(&self) -> Result<(Duration, FetchError), FetchError> {
        let remaining = self.remaining()?;
        let read = Duration::from_secs(u64::try_from(self.offers.read_timeout_secs).unwrap_or(60));
        Ok(if read < remaining {
            (read, FetchError::Stalled(read.as_secs()))
        } else {
            (remaining, FetchError::Timeout(self.timeout.as_secs()))
        })
    }
}

fn token_cache() -> &'static Mutex<HashMap<String, (String, Instant)>> {
    static CACHE: OnceLock<Mutex<HashMap<String, (String, Instant)>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

/// An OAuth2 client-credentials token for `token_url`, cached until a minute before it expires.
async fn oauth_token(
    (client, net): (&Client, &NetPolicy),
    remaining: Duration,
    token_url: &str,
    client_id: &str,
    client_secret: &str,
    scope: Option<&str>,
    fresh: bool,
) -> Result<String, FetchError> {
    // A token is reused only by a request with the same credentials: another document naming
    // the same token URL and client id but not knowing the secret gets none.
    let key = {
        use sha2::{Digest as _, Sha256};
        let digest = Sha256::digest(format!("{token_url}\u{0}{client_id}\u{0}{client_secret}"));
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    if !fresh
        && let Ok(cache) = token_cache().lock()
        && let Some((token, until)) = cache.get(&key)
        && Instant::now() < *until
    {
        return Ok(token.clone());
    }
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_id", client_id),
        ("client_secret", client_secret),
    ];
    if let Some(s) = scope {
        form.push(("scope", s));
    }
    let url = Url::parse(token_url)
        .map_err(|e| FetchError::Unsupported(format!("token_url is not a URL: {e}")))?;
    net.check_url(&url)
        .map_err(|r| FetchError::Network(format!("the token endpoint: {r}")))?;
    let resp = client
        .post(url.clone())
        .form(&form)
        .timeout(remaining)
        .send()
        .await
        .map_err(|e| {
            if let Some(r) = net::refusal(&e) {
                return FetchError::Network(format!("the token endpoint: {r}"));
            }
            FetchError::Network(format!(
                "requesting a token from {}: {}",
                shown_url(&url),
                without_url(&e)
            ))
        })?;
    let status = resp.status();
    if !status.is_success() {
        return Err(FetchError::Status {
            status: status.as_u16(),
            body: format!("(from the token endpoint {})", shown_url(&url)),
        });
    }
    let bytes = net::read_capped(resp, net::TOKEN_ANSWER_CAP)
        .await
        .map_err(|e| {
            FetchError::Network(format!(
                "reading the answer of the token endpoint {}: {e}",
                shown_url(&url)
            ))
        })?;
    let body: Value = serde_json::from_slice(&bytes).map_err(|e| {
        FetchError::Network(format!(
            "the token endpoint {} did not answer JSON: {e}",
            shown_url(&url)
        ))
    })?;
    let token = body["access_token"]
        .as_str()
        .ok_or_else(|| {
            FetchError::Network(format!(
                "the token endpoint {} answered without access_token",
                shown_url(&url)
            ))
        })?
        .to_owned();
    let lifetime = body["expires_in"].as_u64().unwrap_or(300);
    let until = Instant::now() + Duration::from_secs(lifetime.saturating_sub(60).max(1));
    if let Ok(mut cache) = token_cache().lock() {
        cache.insert(key, (token.clone(), until));
    }
    Ok(token)
}

/// A configured URL as logs and records may show it: without its query string (a URL that
/// does not parse is shown as written: configured text holds references, never secrets).
pub fn shown_endpoint(url: &str) -> String {
    Url::parse(url).map_or_else(|_| url.to_owned(), |u| shown_url(&u))
}

/// A reqwest error's text without the URL in it (the URL may carry a query credential).
pub(crate) fn without_url(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    if let Some(u) = e.url() {
        text = text.replace(u.as_str(), &shown_url(u));
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if e.is_timeout() {
        text = "timed out".into();
    } else if e.is_connect() {
        text = format!("cannot connect ({text})");
    }
    text
}

fn header(
    name: &str,
    value: &str,
) -> Result<(reqwest::header::HeaderName, HeaderValue), FetchError> {
    let n = reqwest::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| FetchError::Unsupported(format!("`{name}` is not a valid header name")))?;
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        FetchError::Unsupported(format!(
            "the value of header `{name}` is not a valid header value"
        ))
    })?;
    v.set_sensitive(true);
    Ok((n, v))
}

/// One request with auth, retried on network errors, 5xx and 429.
async fn request(ctx: &mut Ctx<'_>, url: &Url) -> Result<Response, FetchError> {
    let mut refreshed_token = false;
    let mut attempt = 0;
    loop {
        attempt += 1;
        ctx.record.attempts += 1;
        let mut url = url.clone();
        let mut headers = HeaderMap::new();
        if let Some(OffersAuth::Http(auth)) = ctx.offers.auth.as_ref() {
            let remaining = ctx.remaining()?;
            apply_auth(
                &ctx.client,
                &ctx.net,
                auth,
                &mut url,
                &mut headers,
                remaining,
                refreshed_token,
            )
            .await?;
        }
        let builder = match ctx.offers.connection {
            Connection::WebPost => ctx
                .client
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(ctx.offers.body.clone().unwrap_or_default()),
            _ => ctx.client.get(url.clone()),
        };
        ctx.net
            .check_url(&url)
            .map_err(|r| FetchError::Network(r.to_string()))?;
        let result = builder
            .headers(headers)
            .timeout(ctx.remaining()?)
            .send()
            .await;
        let retry_in = match result {
            Ok(resp) => {
                let status = resp.status();
                ctx.record.http_status = Some(status.as_u16());
                if status.is_success() {
                    return Ok(resp);
                }
                let oauth = matches!(
                    ctx.offers.auth,
                    Some(OffersAuth::Http(HttpAuth::ClientIdSecret {
                        token_url: Some(_),
                        ..
                    }))
                );
                if status == StatusCode::UNAUTHORIZED && oauth && !refreshed_token {
                    refreshed_token = true;
                    attempt -= 1;
                    continue;
                }
                let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                if !retryable || attempt >= MAX_ATTEMPTS {
                    let body = net::excerpt(resp).await;
                    return Err(FetchError::Status {
                        status: status.as_u16(),
                        body,
                    });
                }
                retry_after(resp.headers()).unwrap_or_else(|| backoff(attempt))
            }
            Err(e) => {
                if let Some(r) = net::refusal(&e) {
                    // Asking again gets the same refusal.
                    return Err(FetchError::Network(r.to_string()));
                }
                if e.is_timeout() && ctx.remaining().is_err() {
                    return Err(FetchError::Timeout(ctx.timeout.as_secs()));
                }
                if attempt >= MAX_ATTEMPTS {
                    return Err(FetchError::Network(format!(
                        "fetching {} failed after {attempt} attempts: {}",
                        shown_url(&url),
                        without_url(&e)
                    )));
                }
                backoff(attempt)
            }
        };
        tracing::warn!(url = %shown_url(&url), attempt, wait_ms = u64::try_from(retry_in.as_millis()).unwrap_or(u64::MAX), "Feed request failed, retrying");
        let wait = retry_in.min(ctx.remaining()?);
        tokio::time::sleep(wait).await;
    }
}

/// Add `auth` to a request: headers into `headers`, a query credential onto `url`. An OAuth2
/// client-credentials token is fetched (or taken from the cache unless `fresh_token`) within
/// `remaining`. Every credential header is marked sensitive.
pub(crate) async fn apply_auth(
    client: &Client,
    net: &NetPolicy,
    auth: &HttpAuth,
    url: &mut Url,
    headers: &mut HeaderMap,
    remaining: Duration,
    fresh_token: bool,
) -> Result<(), FetchError> {
    match auth {
        HttpAuth::None => {}
        HttpAuth::Bearer { token } => {
            let (n, v) = header("authorization", &format!("Bearer {token}"))?;
            headers.insert(n, v);
        }
        HttpAuth::Basic { username, password } => {
            let raw = format!("{username}:{password}");
            let (n, v) = header(
                "authorization",
                &format!("Basic {}", base64_encode(raw.as_bytes())),
            )?;
            headers.insert(n, v);
        }
        HttpAuth::Header { name, value } => {
            let (n, v) = header(name, value)?;
            headers.insert(n, v);
        }
        HttpAuth::Query { name, value } => {
            url.query_pairs_mut().append_pair(name, value);
        }
        HttpAuth::ClientIdSecret {
            client_id,
            client_secret,
            token_url: Some(token_url),
            scope,
            ..
        } => {
            let token = oauth_token(
                (client, net),
                remaining,
                token_url,
                client_id,
                client_secret,
                scope.as_deref(),
                fresh_token,
            )
            .await?;
            let (n, v) = header("authorization", &format!("Bearer {token}"))?;
            headers.insert(n, v);
        }
        HttpAuth::ClientIdSecret {
            client_id,
            client_secret,
            token_url: None,
            client_id_header,
            client_secret_header,
            ..
        } => {
            let (n, v) = header(client_id_header, client_id)?;
            headers.insert(n, v);
            let (n, v) = header(client_secret_header, client_secret)?;
            headers.insert(n, v);
        }
    }
    Ok(())
}

pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18, 12, 6, 0].iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> shift) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

pub(crate) fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500 * 2u64.pow(attempt.saturating_sub(1).min(6))).min(MAX_RETRY_WAIT)
}

pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_WAIT))
}

/// The next chunk of a feed's body within `read_timeout_secs` (and `timeout_secs`), counted
/// into the record; `too_large` once the body passes its cap.
async fn next_chunk(
    ctx: &mut Ctx<'_>,
    body: &mut Capped,
    too_large: &FetchError,
) -> Result<Option<Vec<u8>>, FetchError> {
    let (wait, stalled) = ctx.next_read()?;
    let before = body.read();
    match tokio::time::timeout(wait, body.chunk()).await {
        Err(_) => Err(stalled),
        Ok(Err(ReadError::Body(e))) => Err(FetchError::Network(format!(
            "the feed download broke off: {}",
            without_url(&e)
        ))),
        Ok(Err(ReadError::TooLarge { .. })) => Err(too_large.clone()),
        Ok(Ok(c)) => {
            ctx.record.bytes += body.read() - before;
            Ok(c)
        }
    }
}

/// A feed's body capped by what is left of `max_bytes` and by `page_cap`, and the error for
/// a body passing that cap.
fn capped(
    ctx: &Ctx<'_>,
    resp: Response,
    page_cap: u64,
) -> Result<(Capped, FetchError), FetchError> {
    let limit = u64::try_from(ctx.offers.max_bytes).unwrap_or(u64::MAX);
    let left = limit.saturating_sub(ctx.record.bytes);
    let too_large = if left <= page_cap {
        FetchError::TooLarge { limit }
    } else {
        FetchError::Pagination(format!(
            "page {}: answer larger than {page_cap} bytes after decompression",
            ctx.record.pages
        ))
    };
    match Capped::new(resp, left.min(page_cap)) {
        Ok(body) => Ok((body, too_large)),
        Err(_) => Err(too_large),
    }
}

async fn body_to_file(
    ctx: &mut Ctx<'_>,
    resp: Response,
    file: &mut tokio::fs::File,
) -> Result<(), FetchError> {
    let (mut body, too_large) = capped(ctx, resp, u64::MAX)?;
    while let Some(chunk) = next_chunk(ctx, &mut body, &too_large).await? {
        file.write_all(&chunk)
            .await
            .map_err(|e| FetchError::Io(e.to_string()))?;
    }
    Ok(())
}

/// One page of a paginated feed, held in memory: capped by [`net::FEED_PAGE_CAP`] and by what
/// is left of `max_bytes`.
async fn body_bytes(ctx: &mut Ctx<'_>, resp: Response) -> Result<Vec<u8>, FetchError> {
    let (mut body, too_large) = capped(ctx, resp, net::FEED_PAGE_CAP as u64)?;
    let mut out = Vec::new();
    while let Some(c) = next_chunk(ctx, &mut body, &too_large).await? {
        out.extend_from_slice(&c);
    }
    Ok(out)
}

fn at_path<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    if path.is_empty() {
        return Some(v);
    }
    path.split('.').try_fold(v, |v, seg| match v {
        Value::Object(m) => m.get(seg),
        Value::Array(a) => a.get(seg.parse::<usize>().ok()?),
        _ => None,
    })
}

fn link_next(headers: &HeaderMap) -> Option<String> {
    let link = headers.get(reqwest::header::LINK)?.to_str().ok()?;
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next")
            .then(|| {
                target
                    .trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_owned()
            })
    })
}

/// Fetch the feed `offers` describes (with its references already resolved) into `dest`,
/// under the process's [`NetPolicy::global`].
///
/// # Errors
/// The failure and what was recorded up to it.
pub async fn fetch(offers: &OffersConfig, dest: &Path) -> Result<Fetched, FetchFailure> {
    match NetPolicy::global() {
        Ok(policy) => fetch_with_policy(offers, dest, policy).await,
        Err(e) => Err(FetchFailure {
            error: FetchError::Network(e.to_string()),
            record: FetchRecord::default(),
        }),
    }
}

/// Which redirects a feed's requests follow: to another origin only for a plain GET without
/// credentials — no `auth`, no body, no query string or user info in the endpoint (which may
/// hold a key).
fn feed_redirects(offers: &OffersConfig) -> Redirects {
    let credentialed = match &offers.auth {
        None | Some(OffersAuth::Http(HttpAuth::None)) => false,
        Some(_) => true,
    };
    let plain_endpoint = offers
        .endpoint
        .as_deref()
        .and_then(|e| Url::parse(e).ok())
        .is_some_and(|u| u.query().is_none() && u.username().is_empty() && u.password().is_none());
    if credentialed || offers.connection == Connection::WebPost || !plain_endpoint {
        Redirects::SameOrigin
    } else {
        Redirects::Any
    }
}

/// [`fetch`] under `policy`.
///
/// # Errors
/// The failure and what was recorded up to it.
pub async fn fetch_with_policy(
    offers: &OffersConfig,
    dest: &Path,
    policy: Arc<NetPolicy>,
) -> Result<Fetched, FetchFailure> {
    let started = Instant::now();
    let timeout = Duration::from_secs(u64::try_from(offers.timeout_secs).unwrap_or(600));
    let fail = |error| FetchFailure {
        error,
        record: FetchRecord::default(),
    };
    let client = net::client_builder(Arc::clone(&policy), feed_redirects(offers))
        .connect_timeout(Duration::from_secs(
            u64::try_from(offers.connect_timeout_secs).unwrap_or(10),
        ))
        .build()
        .map_err(|e| fail(FetchError::Network(e.to_string())))?;
    let mut ctx = Ctx {
        client,
        net: policy,
        offers,
        deadline: started + timeout,
        timeout,
        record: FetchRecord::default(),
        started,
    };
    let endpoint = offers.endpoint.as_deref().unwrap_or_default();
    let url = Url::parse(endpoint).map_err(|e| {
        ctx.fail(FetchError::Unsupported(format!(
            "endpoint is not a URL: {e}"
        )))
    })?;
    let mut file = tokio::fs::File::create(dest)
        .await
        .map_err(|e| ctx.fail(FetchError::Io(e.to_string())))?;
    let result = match &offers.paginate {
        Pagination::None => single(&mut ctx, &url, &mut file).await.map(|()| None),
        p if offers.format == irp_core::config::model::Format::Csv => {
            paginated_csv(&mut ctx, &url, p, &mut file)
                .await
                .map(|()| None)
        }
        p => paginated(&mut ctx, &url, p, &mut file)
            .await
            .map(|()| Some(String::new())),
    };
    let flushed = file.flush().await;
    match result.and_then(|loc| {
        flushed
            .map(|()| loc)
            .map_err(|e| FetchError::Io(e.to_string()))
    }) {
        Ok(offer_location) => {
            ctx.record.duration_ms =
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            tracing::info!(url = %shown_url(&url), status = ?ctx.record.http_status, bytes = ctx.record.bytes, pages = ctx.record.pages, "Feed fetched");
            Ok(Fetched {
                record: ctx.record,
                offer_location,
            })
        }
        Err(e) => Err(ctx.fail(e)),
    }
}

async fn single(
    ctx: &mut Ctx<'_>,
    url: &Url,
    file: &mut tokio::fs::File,
) -> Result<(), FetchError> {
    let resp = request(ctx, url).await?;
    ctx.record.pages = 1;
    body_to_file(ctx, resp, file).await
}

async fn paginated(
    ctx: &mut Ctx<'_>,
    base: &Url,
    p: &Pagination,
    file: &mut tokio::fs::File,
) -> Result<(), FetchError> {
    let location = ctx.offers.offer_location.clone().unwrap_or_default();
    if ctx.offers.format != irp_core::config::model::Format::Json {
        return Err(FetchError::Unsupported(
            "`paginate` is supported for `json` and `csv` feeds".into(),
        ));
    }
    let (max_pages, mut page_no) = page_limits(p);
    file.write_all(b"[")
        .await
        .map_err(|e| FetchError::Io(e.to_string()))?;
    let mut first_offer = true;
    let mut next: Option<Url> = Some(base.clone());
    let mut offset: i64 = 0;
    let mut cursor: Option<String> = None;
    while let Some(current) = next.take() {
        if ctx.record.pages >= max_pages {
            return Err(FetchError::Pagination(format!(
                "the feed has more than max_pages ({max_pages}) pages; raise `paginate.max_pages` if it is really this long"
            )));
        }
        let mut url = page_url(&current, p, page_no, offset);
        if let (Pagination::Cursor { param, .. }, Some(c)) = (p, &cursor) {
            url.query_pairs_mut().append_pair(param, c);
        }
        let resp = request(ctx, &url).await?;
        ctx.record.pages += 1;
        let link = link_next(resp.headers());
        let bytes = body_bytes(ctx, resp).await?;
        let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
            FetchError::Pagination(format!("page {} is not JSON: {e}", ctx.record.pages))
        })?;
        let offers = match at_path(&doc, &location) {
            Some(Value::Array(a)) => a,
            _ => {
                return Err(FetchError::Pagination(format!(
                    "page {} has no array of offers at offer_location `{location}`",
                    ctx.record.pages
                )));
            }
        };
        for o in offers {
            if !first_offer {
                file.write_all(b",")
                    .await
                    .map_err(|e| FetchError::Io(e.to_string()))?;
            }
            first_offer = false;
            let text = serde_json::to_vec(o).map_err(|e| FetchError::Io(e.to_string()))?;
            file.write_all(&text)
                .await
                .map_err(|e| FetchError::Io(e.to_string()))?;
        }
        let n = i64::try_from(offers.len()).unwrap_or(i64::MAX);
        next = match p {
            Pagination::Cursor { cursor_path, .. } => {
                cursor = match at_path(&doc, cursor_path) {
                    Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                cursor.as_ref().map(|_| current.clone())
            }
            Pagination::Link {
                next_path: Some(path),
                ..
            } => {
                let target = at_path(&doc, path)
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                next_link(&current, target)?
            }
            _ => next_page(&current, p, n, &mut page_no, &mut offset, link)?,
        };
    }
    file.write_all(b"]")
        .await
        .map_err(|e| FetchError::Io(e.to_string()))?;
    Ok(())
}

/// The request cap of a pagination, and its first page number.
fn page_limits(p: &Pagination) -> (u32, i64) {
    match p {
        Pagination::Page {
            max_pages, start, ..
        } => (u32::try_from(*max_pages).unwrap_or(u32::MAX), *start),
        Pagination::Offset { max_pages, .. }
        | Pagination::Cursor { max_pages, .. }
        | Pagination::Link { max_pages, .. } => (u32::try_from(*max_pages).unwrap_or(u32::MAX), 0),
        Pagination::None => (1, 0),
    }
}

/// The query of the next page for page-number and offset pagination.
fn page_url(current: &Url, p: &Pagination, page_no: i64, offset: i64) -> Url {
    let mut url = current.clone();
    match p {
        Pagination::Page {
            param,
            size_param,
            size,
            ..
        } => {
            url.query_pairs_mut()
                .append_pair(param, &page_no.to_string());
            if let (Some(sp), Some(n)) = (size_param, size) {
                url.query_pairs_mut().append_pair(sp, &n.to_string());
            }
        }
        Pagination::Offset {
            param,
            limit_param,
            limit,
            ..
        } => {
            url.query_pairs_mut()
                .append_pair(param, &offset.to_string())
                .append_pair(limit_param, &limit.to_string());
        }
        Pagination::Cursor { .. } | Pagination::Link { .. } | Pagination::None => {}
    }
    url
}

/// The next page after one with `n` offers: page-number and offset pagination ask again (with
/// the next number or offset) until a page comes back empty (or, for offsets, short); `Link`
/// pagination follows `link`, the next page's URL (relative to `current`), while there is one.
fn next_page(
    current: &Url,
    p: &Pagination,
    n: i64,
    page_no: &mut i64,
    offset: &mut i64,
    link: Option<String>,
) -> Result<Option<Url>, FetchError> {
    Ok(match p {
        Pagination::Page { .. } => {
            *page_no += 1;
            (n > 0).then(|| current.clone())
        }
        Pagination::Offset { limit, .. } => {
            *offset += n;
            (n > 0 && n >= *limit).then(|| current.clone())
        }
        Pagination::Link { .. } => next_link(current, link)?,
        Pagination::Cursor { .. } | Pagination::None => None,
    })
}

/// The next page's URL from a `Link` header or a `next_path` value, relative to `current`. Pages
/// are read only from the feed's own origin (scheme, host and port): the request carries the
/// feed's credentials, so a page that names another server is an error, not a request.
fn next_link(current: &Url, target: Option<String>) -> Result<Option<Url>, FetchError> {
    let Some(t) = target.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let next = current
        .join(&t)
        .map_err(|e| FetchError::Pagination(format!("the next-page link is not a URL: {e}")))?;
    if next.origin() != current.origin() {
        return Err(FetchError::Pagination(format!(
            "the next-page link leads to {}, another server than the feed's {}; pages are read only from the feed's own server, which its credentials are for",
            shown_url(&next),
            shown_url(current)
        )));
    }
    Ok(Some(next))
}

/// The records of a CSV text (quoted fields may hold separators and line breaks), blank lines
/// not counted.
fn csv_records(text: &[u8], delimiter: u8) -> Result<i64, FetchError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text);
    let mut n = 0;
    for r in reader.byte_records() {
        let r = r.map_err(|e| FetchError::Pagination(format!("a page is not valid CSV: {e}")))?;
        if !r.iter().all(<[u8]>::is_empty) {
            n += 1;
        }
    }
    Ok(n)
}

/// Page-number, offset and `Link`-header pagination of a CSV feed: the pages are joined into
/// one file with one heading row (every page must repeat the first page's heading row).
async fn paginated_csv(
    ctx: &mut Ctx<'_>,
    base: &Url,
    p: &Pagination,
    file: &mut tokio::fs::File,
) -> Result<(), FetchError> {
    if matches!(p, Pagination::Cursor { .. } | Pagination::None) {
        return Err(FetchError::Unsupported(
            "a `csv` feed pages by `page`, `offset` or the `Link` header".into(),
        ));
    }
    let (max_pages, start) = page_limits(p);
    let heading = ctx.offers.heading.unwrap_or(true);
    let delimiter = u8::try_from(ctx.offers.separator.unwrap_or(',')).unwrap_or(b',');
    let mut first_heading: Option<Vec<u8>> = None;
    let (mut page_no, mut offset) = (start, 0i64);
    let mut next = Some(base.clone());
    while let Some(current) = next.take() {
        if ctx.record.pages >= max_pages {
            return Err(FetchError::Pagination(format!(
                "the feed has more than max_pages ({max_pages}) pages; raise `paginate.max_pages` if it is really this long"
            )));
        }
        let url = page_url(&current, p, page_no, offset);
        let resp = request(ctx, &url).await?;
        ctx.record.pages += 1;
        let link = link_next(resp.headers());
        let bytes = body_bytes(ctx, resp).await?;
        let body = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let rows: &[u8] = if heading && !body.is_empty() {
            let end = body
                .iter()
                .position(|&b| b == b'\n')
                .map_or(body.len(), |i| i + 1);
            let line = body[..end].strip_suffix(b"\n").unwrap_or(&body[..end]);
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            match &first_heading {
                None => {
                    file.write_all(line)
                        .await
                        .map_err(|e| FetchError::Io(e.to_string()))?;
                    file.write_all(b"\n")
                        .await
                        .map_err(|e| FetchError::Io(e.to_string()))?;
                    first_heading = Some(line.to_vec());
                }
                Some(h) if h.as_slice() == line => {}
                Some(h) => {
                    return Err(FetchError::Pagination(format!(
                        "page {} starts with another heading row than page 1: {:?} instead of {:?}",
                        ctx.record.pages,
                        String::from_utf8_lossy(line),
                        String::from_utf8_lossy(h)
                    )));
                }
            }
            &body[end..]
        } else {
            body
        };
        let n = csv_records(rows, delimiter)?;
        if n > 0 {
            file.write_all(rows)
                .await
                .map_err(|e| FetchError::Io(e.to_string()))?;
            if !rows.ends_with(b"\n") {
                file.write_all(b"\n")
                    .await
                    .map_err(|e| FetchError::Io(e.to_string()))?;
            }
        }
        next = next_page(&current, p, n, &mut page_no, &mut offset, link)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth_is_base64() {
        assert_eq!(base64_encode(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64_encode(b"a"), "YQ==");
        assert_eq!(base64_encode(b"ab"), "YWI=");
    }

    #[test]
    fn link_headers_name_the_next_page() {
        let mut h = HeaderMap::new();
        h.insert(
            reqwest::header::LINK,
            HeaderValue::from_static("</feed?page=1>; rel=\"prev\", </feed?page=3>; rel=\"next\""),
        );
        assert_eq!(link_next(&h).as_deref(), Some("/feed?page=3"));
    }

    #[test]
    fn pages_come_only_from_the_feeds_own_server() {
        let current = Url::parse("https://feed.example/offers?page=1").unwrap();
        let next = next_link(&current, Some("/offers?page=2".into())).unwrap();
        assert_eq!(next.unwrap().as_str(), "https://feed.example/offers?page=2");
        for elsewhere in [
            "https://attacker.example/page2",
            "http://feed.example/offers?page=2",
            "https://feed.example:8443/offers?page=2",
            "//attacker.example/page2",
        ] {
            let err = next_link(&current, Some(elsewhere.into()))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains("another server than the feed's"),
                "{elsewhere}: {err}"
            );
        }
        assert_eq!(next_link(&current, Some(String::new())).unwrap(), None);
    }

    #[test]
    fn shown_urls_drop_the_query() {
        let u = Url::parse("https://feed.example/offers.json?api_key=s3cret").unwrap();
        assert_eq!(shown_url(&u), "https://feed.example/offers.json");
        let u = Url::parse("https://user:pw@api.example:8443/order?x=1").unwrap();
        assert_eq!(shown_url(&u), "https://api.example:8443/order");
    }
}
