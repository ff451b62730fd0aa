//! Onboarding (`/refurbishers/new`): paste a connector document, check it (every error and
//! warning with its line, column and JSON path, as `irp config check` gives them), preview its
//! feed before anything is saved, and save it — a new refurbisher in minutes.
//!
//! The page is one form with three buttons; each posts the whole document back, so it works
//! without JavaScript and the text is never lost.

use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use irp_core::config::{self, Severity};

use super::refurbishers::ctx_of;
use super::{Ctx, Page, failed};
use crate::server::AppState;
use crate::server::auth::{Act, Viewer};

/// One problem of the document.
pub struct Problem {
    error: bool,
    at: String,
    path: String,
    message: String,
    help: String,
}

/// A refurbisher the document defines.
pub struct Found {
    key: String,
    name: String,
    exists: bool,
}

#[derive(Template)]
#[template(path = "onboard.html")]
pub struct Onboard {
    ctx: Ctx,
    document: String,
    checked: bool,
    problems: Vec<Problem>,
    errors: usize,
    found: Vec<Found>,
    preview: Option<crate::ops::Preview>,
    preview_error: Option<String>,
    saved_error: Option<String>,
}

/// `GET /refurbishers/new`.
pub async fn form(viewer: Viewer) -> Response {
    if let Some(refusal) = crate::server::auth::not_an_operator(&viewer.0) {
        return refusal;
    }
    Page(Onboard {
        ctx: Ctx::new(&viewer, "refurbishers"),
        document: String::new(),
        checked: false,
        problems: Vec::new(),
        errors: 0,
        found: Vec::new(),
        preview: None,
        preview_error: None,
        saved_error: None,
    })
    .into_response()
}

/// The onboarding form.
#[derive(serde::Deserialize)]
pub struct OnboardForm {
    #[serde(default)]
    document: String,
    /// `check`, `preview` or `save`.
    #[serde(default)]
    action: String,
}

/// `POST /refurbishers/new`: check, preview or save the pasted document.
pub async fn submit(State(state): State<AppState>, act: Act<OnboardForm>) -> Response {
    let text = act.form.document.trim_start_matches('\u{feff}').to_owned();
    let doc = config::parse_document(&text);
    let mut page = Onboard {
        ctx: ctx_of(&act, "refurbishers"),
        document: act.form.document.clone(),
        checked: true,
        problems: doc
            .diagnostics
            .iter()
            .map(|d| Problem {
                error: d.severity == Severity::Error,
                at: d
                    .position
                    .map(|p| format!("line {}, column {}", p.line, p.column))
                    .unwrap_or_default(),
                path: d.path.to_string(),
                message: d.message.clone(),
                help: d.help.clone().unwrap_or_default(),
            })
            .collect(),
        errors: doc.diagnostics.error_count(),
        found: Vec::new(),
        preview: None,
        preview_error: None,
        saved_error: None,
    };
    if text.trim().is_empty() {
        page.problems.clear();
        page.errors = 1;
        page.problems.push(Problem {
            error: true,
            at: String::new(),
            path: "(document)".into(),
            message: "the document is empty".into(),
            help: "paste a connector document: {\"<key>\": {…}}, like the files in config/refurbishers/".into(),
        });
    }
    for r in &doc.refurbishers {
        let exists = match state.store.refurbishers().get(&r.key).await {
            Ok(e) => e.is_some(),
            Err(e) => return failed(&e),
        };
        page.found.push(Found {
            key: r.key.clone(),
            name: r.name.clone(),
            exists,
        });
    }
    let status = if page.errors > 0 {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    };
    if page.errors > 0 {
        return (status, Page(page)).into_response();
    }
    match act.form.action.as_str() {
        "save" => match irp_pipeline::catalog::apply_refurbishers(
            &state.store,
            &doc.refurbishers,
            &act.actor(),
        )
        .await
        {
            Ok(outcomes) => {
                let first = outcomes.first().map_or("", |o| o.key.as_str());
                return Redirect::to(&format!("/refurbishers/{first}")).into_response();
            }
            Err(irp_store::StoreError::Conflict(m)) => {
                page.saved_error = Some(m);
                return (StatusCode::CONFLICT, Page(page)).into_response();
            }
            Err(e) => return failed(&e),
        },
        "preview" => {
            match crate::ops::preview_unsaved(&state.store, &state.secret_key_file, &text, &doc)
                .await
            {
                Ok(p) => page.preview = Some(p),
                Err(e) => page.preview_error = Some(format!("{e:#}")),
            }
        }
        _ => {}
    }
    (status, Page(page)).into_response()
}
