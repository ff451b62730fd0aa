//! Server-rendered pages, through one [`Page`] responder over askama's auto-escaping templates.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;

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

/// One row of the status table.
pub struct StatusRow {
    pub id: i64,
    pub key: String,
    pub name: String,
    pub supplier: String,
    pub offer_connector: String,
    pub order_connector: String,
    /// "Configured" once a webhook token exists, else "Not configured".
    pub webhook: String,
    pub enabled: bool,
    pub approved: bool,
}

/// Who is signed in, for the page header.
pub struct SignedIn {
    pub email: String,
    pub role: String,
    /// The session's CSRF token, for the logout form.
    pub csrf: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct Home {
    pub user: Option<SignedIn>,
    pub version: &'static str,
    pub database: String,
    pub rows: Vec<StatusRow>,
    pub error: Option<String>,
}

pub async fn home(State(state): State<AppState>, headers: axum::http::HeaderMap) -> Page<Home> {
    let user = super::auth::current_user(&state, &headers)
        .await
        .map(|u| SignedIn {
            email: u.user.email,
            role: u.user.role,
            csrf: u.csrf,
        });
    let listed = match state.store.refurbisher_list().await {
        Ok(all) => {
            let mut with_webhook = Vec::with_capacity(all.len());
            let mut failed = None;
            for r in all {
                match state.store.webhook_state(r.id).await {
                    Ok(w) => with_webhook.push((r, w)),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                None => Ok(with_webhook),
                Some(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let (rows, error) = match listed {
        Ok(all) => (
            all.into_iter()
                .map(|(r, w)| StatusRow {
                    id: r.id,
                    key: r.key.clone(),
                    name: r.model.name.clone(),
                    supplier: r
                        .model
                        .supplier_id
                        .map_or("—".into(), |s| format!("ID {s}")),
                    offer_connector: r.model.offer_connector_label(),
                    order_connector: r.model.order_connector_label(),
                    webhook: if w.token_created_at.is_some() {
                        "Configured".into()
                    } else {
                        "Not configured".into()
                    },
                    enabled: r.model.enabled,
                    approved: r.model.approved_refurbished,
                })
                .collect(),
            None,
        ),
        Err(e) => {
            tracing::error!(error = %e, "Listing refurbishers failed");
            (
                Vec::new(),
                Some("The refurbisher list could not be read; see the server log.".to_owned()),
            )
        }
    };
    Page(Home {
        user,
        version: env!("CARGO_PKG_VERSION"),
        database: state.store.backend().to_string(),
        rows,
        error,
    })
}

#[derive(Template)]
#[template(path = "not_found.html")]
pub struct NotFound;

pub async fn not_found() -> (StatusCode, Page<NotFound>) {
    (StatusCode::NOT_FOUND, Page(NotFound))
}
