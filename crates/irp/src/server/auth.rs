//! Logins to the portal: `GET /login` (the form), `POST /login` (a session cookie), `POST
//! /logout` (with the session's CSRF token). Accounts come from `irp user add`.
//!
//! The cookie `irp_session` is `HttpOnly`, `SameSite=Strict`, `Path=/`, and `Secure` when IRP is
//! served over HTTPS (`IRP_SECURE_COOKIES`). Failed logins are throttled per address and per
//! account: after [`MAX_FAILURES`] within [`WINDOW`], logins are refused (429) until the oldest
//! failure leaves the window — with the right password too.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use askama::Template;
use axum::Form;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use irp_store::users::SessionUser;

use super::AppState;
use super::pages::Page;

/// The session cookie's name.
pub const COOKIE: &str = "irp_session";

/// Failed logins allowed per address and per account within [`WINDOW`].
pub const MAX_FAILURES: usize = 5;

/// The window failed logins are counted in.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failed logins by key (`ip:…`, `email:…`), the oldest first.
#[derive(Default)]
pub struct LoginThrottle {
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl LoginThrottle {
    /// `None` when `keys` may try; else how long until one may.
    fn blocked(&self, keys: &[String]) -> Option<Duration> {
        let now = Instant::now();
        let mut map = self.failures.lock().ok()?;
        let mut wait = None;
        for k in keys {
            if let Some(q) = map.get_mut(k) {
                while q.front().is_some_and(|t| now.duration_since(*t) > WINDOW) {
                    q.pop_front();
                }
                if q.len() >= MAX_FAILURES
                    && let Some(oldest) = q.front()
                {
                    let w = WINDOW.saturating_sub(now.duration_since(*oldest));
                    wait = Some(wait.map_or(w, |x: Duration| x.max(w)));
                }
            }
        }
        map.retain(|_, q| !q.is_empty());
        wait
    }

    fn failed(&self, keys: &[String]) {
        if let Ok(mut map) = self.failures.lock() {
            for k in keys {
                map.entry(k.clone()).or_default().push_back(Instant::now());
            }
        }
    }

    fn succeeded(&self, email_key: &str) {
        if let Ok(mut map) = self.failures.lock() {
            map.remove(email_key);
        }
    }
}

/// The session cookie's value in `headers`.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

/// The signed-in user of a request, if any (a database error reads as signed out, logged).
pub async fn current_user(state: &AppState, headers: &HeaderMap) -> Option<SessionUser> {
    let token = session_cookie(headers)?;
    match state.store.session_user(&token).await {
        Ok(u) => u,
        Err(e) => {
            tracing::warn!(error = %e, "Reading a session failed");
            None
        }
    }
}

fn cookie(value: &str, max_age: i64, secure: bool) -> HeaderValue {
    let text = format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    );
    HeaderValue::from_str(&text)
        .unwrap_or_else(|_| HeaderValue::from_static("irp_session=; Max-Age=0"))
}

/// A form posted from another site is refused: the browser's `Origin` must be this host.
fn same_origin(headers: &HeaderMap) -> bool {
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
    let users = state.store.user_list().await.ok()?;
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
    let ip = peer.map(|p| p.0.0.ip().to_string());
    let email = form.email.trim().to_lowercase();
    let email_key = format!("email:{email}");
    let keys: Vec<String> = ip
        .iter()
        .map(|i| format!("ip:{i}"))
        .chain([email_key.clone()])
        .collect();
    if let Some(wait) = state.logins.blocked(&keys) {
        let minutes = wait.as_secs().div_ceil(60).max(1);
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            Page(Login {
                email,
                error: Some(format!(
                    "Too many failed logins; try again in {minutes} minute(s)."
                )),
                next: safe_next(form.next.as_deref()),
                first_start: None,
            }),
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    match state
        .store
        .user_login(&email, &form.password, ip.as_deref())
        .await
    {
        Ok(Some(session)) => {
            state.logins.succeeded(&email_key);
            tracing::info!(user = %session.user.email, "Logged in");
            let mut r = Redirect::to(&safe_next(form.next.as_deref())).into_response();
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
            state.logins.failed(&keys);
            tracing::info!(%email, "Login refused");
            (
                StatusCode::UNAUTHORIZED,
                Page(Login {
                    email,
                    error: Some("The e-mail address or the password is wrong.".into()),
                    next: safe_next(form.next.as_deref()),
                    first_start: first_start_hint(&state).await,
                }),
            )
                .into_response()
        }
        Err(e) => {
            tracing::error!(error = %e, "Logging in failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Page(Login {
                    email,
                    error: Some("Logging in failed on IRP's side; see its log.".into()),
                    next: safe_next(form.next.as_deref()),
                    first_start: None,
                }),
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
    let Some(token) = session_cookie(&headers) else {
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
    if let Err(e) = state.store.session_end(&token).await {
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
pub struct Viewer(pub SessionUser);

impl axum::extract::FromRequestParts<AppState> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &AppState,
    ) -> Result<Self, Response> {
        match current_user(state, &parts.headers).await {
            Some(u) => Ok(Viewer(u)),
            None => Err(to_login(&parts.uri, &parts.headers)),
        }
    }
}

/// The way to the login form from `uri`: a redirect, or for htmx an `HX-Redirect`.
fn to_login(uri: &axum::http::Uri, headers: &HeaderMap) -> Response {
    let back = uri
        .path_and_query()
        .map_or("/", axum::http::uri::PathAndQuery::as_str);
    let target = if back == "/" {
        "/login".to_owned()
    } else {
        format!("/login?next={}", encode_component(back))
    };
    if headers.contains_key("hx-request") {
        let mut r = StatusCode::UNAUTHORIZED.into_response();
        if let Ok(v) = HeaderValue::from_str(&target) {
            r.headers_mut().insert("hx-redirect", v);
        }
        return r;
    }
    Redirect::to(&target).into_response()
}

/// Percent-encodes everything but unreserved characters and `/`.
fn encode_component(s: &str) -> String {
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

/// Where to go after logging in: a local path only (never another site).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/".to_owned(),
    }
}

/// The refusal for a user who is not an operator.
pub fn not_an_operator(user: &SessionUser) -> Option<Response> {
    (user.user.role != "operator").then(|| {
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
            HeaderValue::from_static("a=1; irp_session=irps_abc; b=2"),
        );
        assert_eq!(session_cookie(&h).as_deref(), Some("irps_abc"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }

    #[test]
    fn five_failures_block_the_sixth_try() {
        let t = LoginThrottle::default();
        let keys = vec!["ip:1".to_owned(), "email:a@b.nl".to_owned()];
        for _ in 0..MAX_FAILURES {
            assert_eq!(t.blocked(&keys), None);
            t.failed(&keys);
        }
        assert!(t.blocked(&keys).is_some());
        // The same account from another address is blocked too; another account is not.
        assert!(
            t.blocked(&["ip:2".to_owned(), "email:a@b.nl".to_owned()])
                .is_some()
        );
        assert_eq!(
            t.blocked(&["ip:3".to_owned(), "email:c@d.nl".to_owned()]),
            None
        );
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
