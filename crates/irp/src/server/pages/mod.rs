//! Server-rendered pages of the portal, through one [`Page`] responder over askama's
//! auto-escaping templates. Every page but the login form needs a signed-in user
//! ([`Viewer`]); every change needs an operator, a same-site request and the session's CSRF
//! token ([`super::auth::Act`]) and goes to the audit log.
//!
//! Pages work without JavaScript (plain links and forms); htmx (vendored, served from
//! `/static/`) only makes some actions update in place.

pub mod account;
pub mod activity;
pub mod channels;
pub mod dashboard;
pub mod onboarding;
pub mod orders;
pub mod products;
pub mod refurbishers;

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use chrono::{DateTime, Utc};

use super::auth::Viewer;

/// Renders a template as an HTML response; a render failure is a logged 500.
pub struct Page<T: Template>(pub T);

impl<T: Template> IntoResponse for Page<T> {
    fn into_response(self) -> Response {
        match self.0.render() {
            Ok(html) => Html(html).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "Rendering a page failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
            }
        }
    }
}

/// What the layout (`app.html`) shows around every signed-in page.
pub struct Ctx {
    /// Who is signed in.
    pub email: String,
    /// `viewer` or `operator`.
    pub role: String,
    /// The session's CSRF token, for forms and htmx.
    pub csrf: String,
    /// Whether this user may change things (action buttons are shown).
    pub operator: bool,
    /// The active navigation entry.
    pub nav: &'static str,
}

impl Ctx {
    /// The layout context of `viewer` on the `nav` section.
    pub fn new(viewer: &Viewer, nav: &'static str) -> Ctx {
        Ctx::of(&viewer.0, nav)
    }

    /// The layout context of the session `user` on the `nav` section.
    pub fn of(user: &irp_store::users::SessionUser, nav: &'static str) -> Ctx {
        Ctx {
            email: user.user.email.clone(),
            role: user.user.role.to_string(),
            csrf: user.csrf.clone(),
            operator: user.user.role.may_change(),
            nav,
        }
    }
}

/// A link to page `page` of a list at `path` with the filters `pairs` (empty ones left out).
pub fn page_link(path: &str, pairs: &[(&str, &str)], page: u32) -> String {
    let page = page.to_string();
    let parts: Vec<(&str, &str)> = pairs
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .chain((page != "0").then_some(("page", page.as_str())))
        .collect();
    format!(
        "{path}?{}",
        serde_urlencoded::to_string(&parts).unwrap_or_default()
    )
}

#[derive(Template)]
#[template(path = "refused.html")]
struct Refused<'a> {
    message: &'a str,
}

/// A refusal or failure as a page: `status` with `message` (for people).
pub fn refused(status: StatusCode, message: &str) -> Response {
    (status, Page(Refused { message })).into_response()
}

/// A failure of the database (or another part of IRP) behind a page: logged, and a 500 page
/// that says so without details.
pub fn failed(e: &dyn std::fmt::Display) -> Response {
    tracing::error!(error = %e, "A page failed");
    refused(
        StatusCode::INTERNAL_SERVER_ERROR,
        "This page could not be made: IRP failed on its side (see its log). Try again in a moment.",
    )
}

/// Store errors as pages: not found 404, conflict 409, the rest [`failed`].
pub fn store_failed(e: &irp_store::StoreError) -> Response {
    match e {
        irp_store::StoreError::NotFound(m) => refused(StatusCode::NOT_FOUND, m),
        irp_store::StoreError::Conflict(m) => refused(StatusCode::CONFLICT, m),
        other => failed(other),
    }
}

/// A time for a table: `2026-11-23 14:05` (UTC).
pub fn at(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M").to_string()
}

/// How long ago `t` was, for people: `just now`, `5 min ago`, `3 h ago`, `2 d ago`.
pub fn ago(t: &DateTime<Utc>, now: DateTime<Utc>) -> String {
    let s = (now - *t).num_seconds();
    match s {
        ..60 => "just now".into(),
        60..3600 => format!("{} min ago", s / 60),
        3600..172_800 => format!("{} h ago", s / 3600),
        _ => format!("{} d ago", s / 86_400),
    }
}

/// The CSS class of a status badge: green, amber, red or grey.
pub fn status_class<S: AsRef<str> + ?Sized>(status: &S) -> &'static str {
    match status.as_ref() {
        "succeeded" | "unchanged" | "submitted" | "routed" | "placed" | "shipped" | "matched"
        | "resolved" | "complete" | "open_ok" | "done" => "ok",
        "partial" | "pending" | "submitting" | "running" | "quarantined" | "unmatched"
        | "working" => "warn",
        "failed" | "needs_attention" | "rejected" | "interrupted" => "bad",
        _ => "off",
    }
}

#[derive(Template)]
#[template(path = "not_found.html")]
pub struct NotFound;

/// The fallback: 404 page.
pub async fn not_found() -> (StatusCode, Page<NotFound>) {
    (StatusCode::NOT_FOUND, Page(NotFound))
}

/// `/static/…`: the stylesheet and htmx, compiled into the binary.
pub async fn static_file(axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    let (body, kind): (&'static [u8], &str) = match name.as_str() {
        "irp.css" => (
            include_bytes!("../../../static/irp.css"),
            "text/css; charset=utf-8",
        ),
        "htmx-4.0.1.min.js" => (
            include_bytes!("../../../static/htmx-4.0.1.min.js"),
            "text/javascript; charset=utf-8",
        ),
        "htmx-LICENSE.txt" => (
            include_bytes!("../../../static/htmx-LICENSE.txt"),
            "text/plain; charset=utf-8",
        ),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}
