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
}

/// `GET /login`.
pub async fn login_form() -> Page<Login> {
    Page(Login {
        email: String::new(),
        error: None,
    })
}

/// The login form.
#[derive(serde::Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
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
            let mut r = Redirect::to("/").into_response();
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
