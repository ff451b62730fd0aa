//! Logins to the portal: `GET /login` (the form), `POST /login` (a session cookie), `POST
//! /logout` (with the session's CSRF token). Accounts come from `irp user add`.
//!
//! The cookie is `HttpOnly`, `SameSite=Strict`, `Path=/`; when IRP is served over HTTPS
//! (`IRP_SECURE_COOKIES`, on unless the listener is a loopback address) it is `Secure` and
//! named [`SECURE_COOKIE`] (`__Host-`: no other host or path can set it), else [`COOKIE`].
//!
//! Guessing is held back in three ways:
//! - per client address (the peer, or behind a trusted proxy the address it names): at most
//!   [`MAX_FAILURES`] failed logins within [`WINDOW`]. Each attempt is counted *before* its
//!   password is checked, so a burst of parallel guesses gets no more checks than that; then
//!   429 with `Retry-After`, with the right password too;
//! - per account: a delay before each check that grows with the account's recent failures
//!   ([`account_delay`], at most [`MAX_ACCOUNT_DELAY`]) — a slow-down, never a lock-out, so
//!   the owner still gets in from another address while the account is being guessed at;
//! - at most `IRP_LOGIN_CONCURRENCY` ([`DEFAULT_HASH_CONCURRENCY`]) password hashes at once;
//!   a login beyond that is answered 503 with `Retry-After` at once.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use irp_store::users::SessionUser;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::AppState;
use super::pages::Page;

/// The session cookie's name over plain HTTP (a loopback listener, or `IRP_SECURE_COOKIES=false`).
pub const COOKIE: &str = "irp_session";

/// The session cookie's name when it is `Secure`.
pub const SECURE_COOKIE: &str = "__Host-irp_session";

/// The session cookie's name: [`SECURE_COOKIE`] when `secure`, else [`COOKIE`].
pub fn cookie_name(secure: bool) -> &'static str {
    if secure { SECURE_COOKIE } else { COOKIE }
}

/// Failed logins allowed per client address within [`WINDOW`].
pub const MAX_FAILURES: usize = 5;

/// The window failed logins are counted in.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// An account's recent failures that cost no delay.
pub const FREE_ACCOUNT_FAILURES: usize = 2;

/// The longest delay before an account's password is checked.
pub const MAX_ACCOUNT_DELAY: Duration = Duration::from_secs(4);

/// Password hashes computed at once unless `IRP_LOGIN_CONCURRENCY` says otherwise.
pub const DEFAULT_HASH_CONCURRENCY: usize = 4;

/// Addresses or accounts remembered at most; past that the expired ones are forgotten.
const MAX_KEYS: usize = 100_000;

/// The delay before checking a password of an account with `failures` recent failed logins:
/// none for the first [`FREE_ACCOUNT_FAILURES`], then 0.5 s doubling per failure up to
/// [`MAX_ACCOUNT_DELAY`].
pub fn account_delay(failures: usize) -> Duration {
    match failures.checked_sub(FREE_ACCOUNT_FAILURES + 1) {
        None => Duration::ZERO,
        Some(n) => Duration::from_millis(500)
            .saturating_mul(1 << n.min(16))
            .min(MAX_ACCOUNT_DELAY),
    }
}

/// The key an address is throttled under: an IPv6 address by its /64 (what one client
/// usually has), an IPv4 one whole.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Times within [`WINDOW`] per key, the oldest first.
struct Recent<K>(HashMap<K, VecDeque<Instant>>);

impl<K: std::hash::Hash + Eq> Recent<K> {
    fn new() -> Self {
        Recent(HashMap::new())
    }

    /// The times of `key` still within the window.
    fn of(&mut self, key: &K, now: Instant) -> usize {
        match self.0.get_mut(key) {
            Some(q) => {
                while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                    q.pop_front();
                }
                q.len()
            }
            None => 0,
        }
    }

    fn push(&mut self, key: K, at: Instant) {
        if self.0.len() >= MAX_KEYS {
            let now = Instant::now();
            self.0
                .retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        }
        self.0.entry(key).or_default().push_back(at);
    }

    fn remove_one(&mut self, key: &K, at: Instant) {
        if let Some(q) = self.0.get_mut(key) {
            if let Some(i) = q.iter().position(|t| *t == at) {
                q.remove(i);
            }
            if q.is_empty() {
                self.0.remove(key);
            }
        }
    }
}

/// Login attempts per client address and failures per account, and the permits to hash.
pub struct LoginThrottle {
    addresses: Mutex<Recent<IpAddr>>,
    accounts: Mutex<Recent<String>>,
    hashing: Arc<Semaphore>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new(DEFAULT_HASH_CONCURRENCY)
    }
}

/// An attempt counted against an address before its password is checked.
#[must_use]
pub struct Attempt {
    key: Option<(IpAddr, Instant)>,
}

impl LoginThrottle {
    /// A throttle that lets `hashes` password hashes run at once (at least 1).
    pub fn new(hashes: usize) -> Self {
        Self {
            addresses: Mutex::new(Recent::new()),
            accounts: Mutex::new(Recent::new()),
            hashing: Arc::new(Semaphore::new(hashes.max(1))),
        }
    }

    /// Count an attempt from `ip`: `Err(how long until one may)` when the address has had
    /// [`MAX_FAILURES`] within the window (attempts under way count).
    pub fn attempt(&self, ip: Option<IpAddr>) -> Result<Attempt, Duration> {
        let Some(ip) = ip.map(address_key) else {
            return Ok(Attempt { key: None });
        };
        let now = Instant::now();
        let Ok(mut map) = self.addresses.lock() else {
            return Ok(Attempt { key: None });
        };
        if map.of(&ip, now) >= MAX_FAILURES {
            let oldest = map.0.get(&ip).and_then(|q| q.front().copied());
            let wait = oldest.map_or(WINDOW, |t| WINDOW.saturating_sub(now.duration_since(t)));
            return Err(wait.max(Duration::from_secs(1)));
        }
        map.push(ip, now);
        Ok(Attempt {
            key: Some((ip, now)),
        })
    }

    /// The attempt did not fail (it succeeded, or its password was never checked): it no
    /// longer counts.
    pub fn forget(&self, attempt: Attempt) {
        if let Some((ip, at)) = attempt.key
            && let Ok(mut map) = self.addresses.lock()
        {
            map.remove_one(&ip, at);
        }
    }

    /// The delay before checking a password of `email`.
    pub fn delay(&self, email: &str) -> Duration {
        self.accounts.lock().map_or(Duration::ZERO, |mut m| {
            account_delay(m.of(&email.to_owned(), Instant::now()))
        })
    }

    /// A failed login of `email` (its address's attempt stays counted).
    pub fn failed(&self, email: &str) {
        if let Ok(mut m) = self.accounts.lock() {
            m.push(email.to_owned(), Instant::now());
        }
    }

    /// A successful login of `email`: its failures are forgotten (not its address's).
    pub fn succeeded(&self, email: &str) {
        if let Ok(mut m) = self.accounts.lock() {
            m.0.remove(email);
        }
    }

    /// A permit to hash a password, if one is free now.
    pub fn hash_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.hashing.clone().try_acquire_owned().ok()
    }
}

/// The session cookie `name`'s value in `headers`.
pub fn session_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// The session cookie's value in `headers`, under the name this server uses.
pub fn session_token(state: &AppState, headers: &HeaderMap) -> Option<String> {
    session_cookie(headers, cookie_name(state.secure_cookies))
}

/// The signed-in user of a request, if any (a database error reads as signed out, logged).
pub async fn current_user(state: &AppState, headers: &HeaderMap) -> Option<SessionUser> {
    let token = session_token(state, headers)?;
    match state.store.users().session_user(&token).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "Reading a session failed");
            None
        }
    }
}

fn cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let text = format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        cookie_name(secure),
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("irp_session=; Max-Age=0"))
}

/// A form posted from another site is refused: the browser's `Origin` must be this host.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        // No Origin (an older client, curl): SameSite=Strict and the CSRF token still hold.
        return true;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

/// The common passwords refused (lower-case, one a line): `data/common-passwords.txt`.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../../data/common-passwords.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
});

/// Why `password` is refused for the account `email`, if it is: shorter than
/// [`irp_store::users::MIN_PASSWORD_CHARS`], one of the common passwords (case aside), or
/// the address itself.
pub fn password_refused(password: &str, email: &str) -> Option<String> {
    let min = irp_store::users::MIN_PASSWORD_CHARS;
    let n = password.chars().count();
    if n < min {
        return Some(format!(
            "the password has {n} characters; at least {min} are needed"
        ));
    }
    let lower = password.trim().to_lowercase();
    if COMMON_PASSWORDS.contains(lower.as_str()) {
        return Some(
            "the password is on the list of the 20,000 most common passwords, which are guessed first; choose another"
                .into(),
        );
    }
    let email = email.trim().to_lowercase();
    if !email.is_empty() && lower.contains(&email) {
        return Some("the password contains the account's e-mail address; choose another".into());
    }
    None
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct Login {
    email: String,
    error: Option<String>,
    /// Where to go after logging in.
    next: String,
    /// On a first start: where the first account's password is.
    first_start: Option<String>,
}

/// `?next=` of the login form.
#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /login`.
pub async fn login_form(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<NextQuery>,
) -> Page<Login> {
    Page(Login {
        email: String::new(),
        error: None,
        next: safe_next(q.next.as_deref()),
        first_start: first_start_hint(&state).await,
    })
}

/// While the first start's account is the only one and has never logged in: where its
/// password is (a path on the server, not the password).
async fn first_start_hint(state: &AppState) -> Option<String> {
    let users = state.store.users().list().await.ok()?;
    match users.as_slice() {
        [only] if only.email == super::FIRST_ACCOUNT && only.last_login_at.is_none() => {
            Some(format!(
                "First start: log in as {} with the password in {} on the server.",
                super::FIRST_ACCOUNT,
                state.first_password_file.display()
            ))
        }
        _ => None,
    }
}

/// The login form.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    /// Where to go after logging in.
    #[serde(default)]
    next: Option<String>,
}

/// An answer with `Retry-After: secs`.
fn retry_after(mut r: Response, secs: u64) -> Response {
    if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The client address of a request: the peer, or behind a trusted proxy the address it names.
pub fn client_ip(
    state: &AppState,
    headers: &HeaderMap,
    peer: Option<&axum::Extension<ConnectInfo<SocketAddr>>>,
) -> Option<IpAddr> {
    super::webhook::source(state, headers, peer.map(|p| p.0.0))
}

/// `POST /login`.
pub async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    Form(form): Form<LoginForm>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site login refused").into_response();
    }
    let ip = client_ip(&state, &headers, peer.as_ref());
    let email = form.email.trim().to_lowercase();
    let next = safe_next(form.next.as_deref());
    let form_again = |email: String, error: String| Login {
        email,
        error: Some(error),
        next: next.clone(),
        first_start: None,
    };
    // Counted before the password is checked: parallel guesses cannot outrun the limit.
    let attempt = match state.logins.attempt(ip) {
        Ok(a) => a,
        Err(wait) => {
            let minutes = wait.as_secs().div_ceil(60).max(1);
            tracing::info!(%email, ip = ?ip, "Login refused: too many failed logins from the address");
            return retry_after(
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    Page(form_again(
                        email,
                        format!("Too many failed logins; try again in {minutes} minute(s)."),
                    )),
                )
                    .into_response(),
                wait.as_secs(),
            );
        }
    };
    // An account being guessed at answers more slowly, from every address alike.
    let delay = state.logins.delay(&email);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let Some(permit) = state.logins.hash_permit() else {
        state.logins.forget(attempt);
        tracing::warn!("Login refused: the password hashes at once are all in use");
        return retry_after(
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Page(form_again(
                    email,
                    "IRP is busy checking other logins; try again in a moment.".into(),
                )),
            )
                .into_response(),
            1,
        );
    };
    let source = ip.map(|i| i.to_string());
    let outcome = state
        .store
        .users()
        .login(&email, &form.password, source.as_deref())
        .await;
    drop(permit);
    match outcome {
        Ok(Some(session)) => {
            state.logins.forget(attempt);
            state.logins.succeeded(&email);
            tracing::info!(user = %session.user.email, "Logged in");
            if session.user.email == super::FIRST_ACCOUNT {
                super::forget_first_password(&state.first_password_file);
            }
            let target = if session.user.must_change_password {
                super::pages::account::change_url(&next)
            } else {
                next
            };
            let mut r = Redirect::to(&target).into_response();
            r.headers_mut().insert(
                header::SET_COOKIE,
                cookie(
                    &session.token,
                    irp_store::users::SESSION_LIFETIME.num_seconds(),
                    state.secure_cookies,
                ),
            );
            r
        }
        Ok(None) => {
            state.logins.failed(&email);
            tracing::info!(%email, ip = ?ip, "Login refused");
            let mut page = form_again(email, "The e-mail address or the password is wrong.".into());
            page.first_start = first_start_hint(&state).await;
            (StatusCode::UNAUTHORIZED, Page(page)).into_response()
        }
        Err(e) => {
            state.logins.forget(attempt);
            tracing::error!(error = %e, "Logging in failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Page(form_again(
                    email,
                    "Logging in failed on IRP's side; see its log.".into(),
                )),
            )
                .into_response()
        }
    }
}

/// The logout form: the session's CSRF token.
#[derive(serde::Deserialize)]
pub struct LogoutForm {
    csrf: String,
}

/// `POST /logout`: ends the session (with its CSRF token) and clears the cookie.
pub async fn logout(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<LogoutForm>,
) -> Response {
    let Some(token) = session_token(&state, &headers) else {
        return Redirect::to("/login").into_response();
    };
    let Some(user) = current_user(&state, &headers).await else {
        return Redirect::to("/login").into_response();
    };
    let ok = !form.csrf.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            form.csrf.as_bytes(),
            user.csrf.as_bytes(),
        ))
        && same_origin(&headers);
    if !ok {
        return (
            StatusCode::FORBIDDEN,
            "the form's CSRF token does not match the session; reload the page and try again",
        )
            .into_response();
    }
    if let Err(e) = state.store.users().session_end(&token).await {
        tracing::error!(error = %e, "Logging out failed");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "logging out failed; try again",
        )
            .into_response();
    }
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, cookie("", 0, state.secure_cookies));
    r
}

/// The signed-in user of a page request. An anonymous request is sent to the login form (and
/// back to the page afterwards); an htmx request gets `HX-Redirect` so the whole page moves.
/// An account that must change its password is sent to the form for that first.
pub struct Viewer(pub SessionUser);

impl axum::extract::FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        match current_user(state, &parts.headers).await {
            Some(u) if u.user.must_change_password => {
                Err(to_password_change(&parts.uri, &parts.headers))
            }
            Some(u) => Ok(Viewer(u)),
            None => Err(to_login(&parts.uri, &parts.headers)),
        }
    }
}

/// The signed-in user of a request, also one that must change its password (the password
/// form's own extractor).
pub struct SignedIn(pub SessionUser);

impl axum::extract::FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        match current_user(state, &parts.headers).await {
            Some(u) => Ok(SignedIn(u)),
            None => Err(to_login(&parts.uri, &parts.headers)),
        }
    }
}

/// `uri`'s path and query, the page to come back to.
fn back_of(uri: &axum::http::Uri) -> &str {
    uri.path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str)
}

/// The way to the login form from `uri`: a redirect, or for htmx an `HX-Redirect`.
fn to_login(uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
    let back = back_of(uri);
    let target = if back == "/" {
        "/login".to_owned()
    } else {
        format!("/login?next={}", encode_component(back))
    };
    redirect_page(&target, headers)
}

/// The way to the password form from `uri`, for an account that must change its password.
fn to_password_change(uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
    let back = if uri.path().starts_with('/') && !uri.path().starts_with("/static/") {
        back_of(uri)
    } else {
        "/"
    };
    redirect_page(&super::pages::account::change_url(back), headers)
}

/// A redirect to `target`, or for an htmx request an `HX-Redirect` (the whole page moves).
fn redirect_page(target: &str, headers: &HeaderMap) -> Response {
    if headers.contains_key("hx-request") {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = HeaderValue::from_str(target) {
            r.headers_mut().insert("hx-redirect", v);
        }
        return r;
    }
    Redirect::to(target).into_response()
}

/// Percent-encodes everything but unreserved characters and `/`.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Whether `path` is a path of this site as a browser reads it: starting with one `/` (not
/// `//` or `/\\`, which browsers take for another host), without a backslash or a control
/// character (browsers drop tabs and newlines, so `/\t/evil` would become `//evil`).
fn local_path(path: &str) -> bool {
    path.starts_with('/')
        && !path.starts_with("//")
        && !path.chars().any(|c| c == '\\' || c.is_control())
}

/// `s` with its percent-escapes decoded (an invalid escape kept as it is).
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| char::from(c).to_digit(16);
        if b[i] == b'%'
            && let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Where to go after logging in: a path of this site only, else `/`. Refused: anything that
/// is not printable ASCII (control characters, a newline), `//…` and `/\…` (another host to
/// a browser), a scheme (`javascript:`, `https:`) — and the same once percent-escapes are
/// decoded, however often (`/%2F%2Fevil.example`).
pub fn safe_next(next: Option<&str>) -> String {
    let Some(n) = next else {
        return "/".to_owned();
    };
    // As sent: printable ASCII only (it goes into a `Location` header).
    if n.len() > 2048 || !n.bytes().all(|b| b.is_ascii_graphic()) || !local_path(n) {
        return "/".to_owned();
    }
    let mut text = n.to_owned();
    for _ in 0..4 {
        let decoded = percent_decode(&text);
        let Ok(decoded) = String::from_utf8(decoded) else {
            return "/".to_owned();
        };
        if !local_path(&decoded) {
            return "/".to_owned();
        }
        if decoded == text {
            return n.to_owned();
        }
        text = decoded;
    }
    // Still changing after four rounds of decoding: not a path anyone types.
    "/".to_owned()
}

/// The refusal for a user who is not an operator.
pub fn not_an_operator(user: &SessionUser) -> Option<Response> {
    (!user.user.role.may_change()).then(|| {
        super::pages::refused(
            StatusCode::FORBIDDEN,
            "Your account is a viewer's: only operators change things. Ask an operator.",
        )
    })
}

/// The refusal of a change whose CSRF token `sent` is not the session's, or that comes from
/// another site.
pub fn csrf_refused(user: &SessionUser, sent: &str, headers: &HeaderMap) -> Option<Response> {
    let ok = !sent.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            sent.as_bytes(),
            user.csrf.as_bytes(),
        ))
        && same_origin(headers);
    (!ok).then(|| {
        super::pages::refused(
            StatusCode::FORBIDDEN,
            "The form's CSRF token does not match your session (it may have ended); reload the page and try again.",
        )
    })
}

/// A state change from a page: a signed-in operator, a same-site request, the session's CSRF
/// token (the `csrf` form field or the `X-CSRF-Token` header htmx sends), and the form `T`.
pub struct Act<T> {
    /// Who acts.
    pub user: SessionUser,
    /// The form.
    pub form: T,
}

impl<T> Act<T> {
    /// The audit log's actor: `user:<email>`.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.user.email)
    }
}

#[derive(serde::Deserialize)]
struct CsrfField {
    csrf: Option<String>,
}

impl<T: serde::de::DeserializeOwned> axum::extract::FromRequest<AppState> for Act<T> {
    type Rejection = Response;

    async fn from_request(req: axum::extract::Request, state: &AppState) -> Result<Self, Response> {
        let (parts, body) = req.into_parts();
        let Some(user) = current_user(state, &parts.headers).await else {
            return Err(to_login(&parts.uri, &parts.headers));
        };
        if user.user.must_change_password {
            return Err(to_password_change(
                &axum::http::Uri::from_static("/"),
                &parts.headers,
            ));
        }
        if let Some(refusal) = not_an_operator(&user) {
            return Err(refusal);
        }
        let bytes = axum::body::to_bytes(body, 4 * 1024 * 1024)
            .await
            .map_err(|_| {
                super::pages::refused(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "The form is larger than 4 MiB.",
                )
            })?;
        let sent = parts
            .headers
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| {
                serde_urlencoded::from_bytes::<CsrfField>(&bytes)
                    .ok()
                    .and_then(|f| f.csrf)
            })
            .unwrap_or_default();
        if let Some(refusal) = csrf_refused(&user, &sent, &parts.headers) {
            return Err(refusal);
        }
        let form = serde_urlencoded::from_bytes::<T>(&bytes).map_err(|e| {
            super::pages::refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("The form could not be read: {e}."),
            )
        })?;
        Ok(Act { user, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; irp_session=irps_abc; b=2; __Host-irp_session=irps_x"),
        );
        assert_eq!(session_cookie(&h, COOKIE).as_deref(), Some("irps_abc"));
        assert_eq!(session_cookie(&h, SECURE_COOKIE).as_deref(), Some("irps_x"));
        assert_eq!(session_cookie(&HeaderMap::new(), COOKIE), None);
    }

    #[test]
    fn attempts_count_before_the_check_and_only_failures_stay() {
        let t = LoginThrottle::default();
        let ip = Some("192.0.2.1".parse().unwrap());
        // Five attempts under way at once: the sixth is refused before any is checked.
        let attempts: Vec<Attempt> = (0..MAX_FAILURES).map(|_| t.attempt(ip).unwrap()).collect();
        assert!(t.attempt(ip).is_err());
        // Another address is not affected.
        assert!(t.attempt(Some("192.0.2.2".parse().unwrap())).is_ok());
        // One of them succeeded (or was never checked): one more may try.
        let mut attempts = attempts.into_iter();
        t.forget(attempts.next().unwrap());
        let again = t.attempt(ip).unwrap();
        assert!(t.attempt(ip).is_err());
        t.forget(again);
        // An IPv6 client is one /64.
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let b: IpAddr = "2001:db8::ffff:2".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
    }

    #[test]
    fn an_account_is_slowed_down_never_locked() {
        assert_eq!(account_delay(0), Duration::ZERO);
        assert_eq!(account_delay(FREE_ACCOUNT_FAILURES), Duration::ZERO);
        assert_eq!(account_delay(3), Duration::from_millis(500));
        assert_eq!(account_delay(4), Duration::from_secs(1));
        assert_eq!(account_delay(1000), MAX_ACCOUNT_DELAY);
        let t = LoginThrottle::default();
        for _ in 0..50 {
            t.failed("a@b.nl");
        }
        assert_eq!(t.delay("a@b.nl"), MAX_ACCOUNT_DELAY);
        assert_eq!(t.delay("c@d.nl"), Duration::ZERO);
        t.succeeded("a@b.nl");
        assert_eq!(t.delay("a@b.nl"), Duration::ZERO);
    }

    #[test]
    fn only_so_many_hashes_run_at_once() {
        let t = LoginThrottle::new(2);
        let a = t.hash_permit().unwrap();
        let _b = t.hash_permit().unwrap();
        assert!(t.hash_permit().is_none());
        drop(a);
        assert!(t.hash_permit().is_some());
    }

    #[test]
    fn next_is_a_path_of_this_site_only() {
        for ok in [
            "/",
            "/orders?status=failed",
            "/refurbishers/flexit",
            "/products?q=a%20b",
        ] {
            assert_eq!(safe_next(Some(ok)), ok, "{ok:?}");
        }
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "/%2F%2Fevil.example",
            "/%2f/evil.example",
            "/%5Cevil.example",
            "/%252F%252Fevil.example",
            "javascript:alert(1)",
            "https://evil.example/",
            "/\nSet-Cookie: a=b",
            "/%0d%0aSet-Cookie:a=b",
            "/\t/evil.example",
            "/é",
            "",
            "evil.example",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn common_and_short_passwords_are_refused() {
        assert!(
            password_refused("short", "a@b.nl")
                .unwrap()
                .contains("at least 12")
        );
        assert!(
            password_refused("Password1234", "a@b.nl")
                .unwrap()
                .contains("common")
        );
        assert!(password_refused("QWERTY123456", "a@b.nl").is_some());
        assert!(
            password_refused("anna@iused.nl!", "anna@iused.nl")
                .unwrap()
                .contains("e-mail")
        );
        assert_eq!(password_refused("correct horse battery", "a@b.nl"), None);
    }

    #[test]
    fn only_a_same_origin_form_is_taken() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("portal.iused.nl"));
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://portal.iused.nl"),
        );
        assert!(same_origin(&h));
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!same_origin(&h));
    }
}
