//! `/account/password`: a signed-in user changes their own password — the current one, the new
//! one twice, the session's CSRF token. The first start's account is sent here until it has
//! chosen a new password (every other page redirects here).

use askama::Template;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use irp_store::users::SessionUser;

use super::{Ctx, Page};
use crate::server::AppState;
use crate::server::auth::{self, SignedIn};

/// The password form's address, coming back to `next` (a local path) afterwards.
pub fn change_url(next: &str) -> String {
    if next == "/" {
        "/account/password".to_owned()
    } else {
        format!("/account/password?next={}", auth::encode_component(next))
    }
}

#[derive(Template)]
#[template(path = "account_password.html")]
struct PasswordPage {
    ctx: Ctx,
    /// The account must change its password before anything else.
    forced: bool,
    error: Option<String>,
    next: String,
    min: usize,
}

fn page(user: &SessionUser, next: String, error: Option<String>) -> PasswordPage {
    PasswordPage {
        ctx: Ctx::of(user, "account"),
        forced: user.user.must_change_password,
        error,
        next,
        min: irp_store::users::MIN_PASSWORD_CHARS,
    }
}

/// `?next=`.
#[derive(serde::Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

/// `GET /account/password`.
pub async fn form(SignedIn(user): SignedIn, Query(q): Query<NextQuery>) -> Response {
    Page(page(&user, auth::safe_next(q.next.as_deref()), None)).into_response()
}

/// The form posted.
#[derive(serde::Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    confirm: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /account/password`: checks the CSRF token and the current password (counted like a
/// login from the address), refuses a short or common new password, then sets it and ends the
/// account's other sessions.
pub async fn change(
    State(state): State<AppState>,
    SignedIn(user): SignedIn,
    headers: HeaderMap,
    peer: Option<axum::Extension<ConnectInfo<std::net::SocketAddr>>>,
    axum::Form(form): axum::Form<ChangeForm>,
) -> Response {
    if let Some(refusal) = auth::csrf_refused(&user, &form.csrf, &headers) {
        return refusal;
    }
    let next = auth::safe_next(form.next.as_deref());
    let again = |status: StatusCode, error: String| {
        (status, Page(page(&user, next.clone(), Some(error)))).into_response()
    };
    if form.new != form.confirm {
        return again(
            StatusCode::UNPROCESSABLE_ENTITY,
            "The new password and its repetition differ.".into(),
        );
    }
    if let Some(why) = auth::password_refused(&form.new, &user.user.email) {
        return again(StatusCode::UNPROCESSABLE_ENTITY, capitalized(&why));
    }
    let Some(token) = auth::session_token(&state, &headers) else {
        return Redirect::to("/login").into_response();
    };
    // Guessing the current password here is held back like guessing it at the login form.
    let ip = auth::client_ip(&state, &headers, peer.as_ref());
    let attempt = match state.logins.attempt(ip) {
        Ok(a) => a,
        Err(wait) => {
            let mut r = again(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many wrong passwords; try again later.".into(),
            );
            if let Ok(v) = axum::http::HeaderValue::from_str(&wait.as_secs().max(1).to_string()) {
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
            return r;
        }
    };
    let Some(permit) = state.logins.hash_permit() else {
        state.logins.forget(attempt);
        let mut r = again(
            StatusCode::SERVICE_UNAVAILABLE,
            "IRP is busy checking logins; try again in a moment.".into(),
        );
        r.headers_mut().insert(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("1"),
        );
        return r;
    };
    let outcome = state
        .store
        .users()
        .change_password(user.user.id, &form.current, &form.new, &token)
        .await;
    drop(permit);
    match outcome {
        Ok(true) => {
            state.logins.forget(attempt);
            tracing::info!(user = %user.user.email, "Password changed");
            if user.user.email == crate::server::FIRST_ACCOUNT {
                crate::server::forget_first_password(&state.first_password_file);
            }
            Redirect::to(&next).into_response()
        }
        Ok(false) => again(
            StatusCode::UNAUTHORIZED,
            "The current password is wrong.".into(),
        ),
        Err(irp_store::StoreError::Conflict(why)) => {
            state.logins.forget(attempt);
            again(StatusCode::UNPROCESSABLE_ENTITY, capitalized(&why))
        }
        Err(e) => {
            state.logins.forget(attempt);
            super::failed(&e)
        }
    }
}

/// `why` as a sentence: capital first letter, a full stop.
fn capitalized(why: &str) -> String {
    let mut c = why.chars();
    match c.next() {
        Some(f) => format!("{}{}.", f.to_uppercase(), c.as_str()),
        None => String::new(),
    }
}
