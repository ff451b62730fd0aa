//! `/api/v1/refurbishers` and `/api/v1/config`: the registry (list, show, apply a document),
//! `config check` and the preview of an unsaved document, the webhook token, replacing a
//! credential. Each calls the same code as the page and the CLI.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use irp_core::config::{self, Severity};
use irp_core::orders::FieldError;
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiBody, ApiError, ApiPath, ErrorCode, Operator};
use crate::server::AppState;
use crate::views::{
    Applied, CheckAnswer, CredentialStored, Finding, NewToken, Preview, RefurbisherList,
    RefurbisherShow, RefurbisherStatus,
};

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_refurbishers, apply_refurbishers))
        .routes(routes!(show_refurbisher))
        .routes(routes!(config_check))
        .routes(routes!(config_preview))
        .routes(routes!(webhook_token))
        .routes(routes!(replace_credential))
}

/// A refurbisher's key in the path.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct KeyPath {
    /// The connector key (`flexit`).
    #[param(pattern = "^[^\\u0000]*$")]
    pub(super) key: String,
}

/// The refurbisher `key`, or the 404 answer.
pub(super) async fn refurbisher(
    state: &AppState,
    key: &str,
) -> Result<irp_store::refurbishers::StoredRefurbisher, ApiError> {
    state.store.refurbishers().get(key).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no refurbisher `{key}` (GET /api/v1/refurbishers lists them)"
        ))
    })
}

/// The status of `r`.
async fn status_of(
    state: &AppState,
    r: &irp_store::refurbishers::StoredRefurbisher,
) -> Result<RefurbisherStatus, irp_store::StoreError> {
    let webhook = state.store.shipments().webhook_state(r.id).await?;
    Ok(RefurbisherStatus::of(r, &webhook))
}

/// The registry, by key.
#[utoipa::path(
    get,
    path = "/api/v1/refurbishers",
    tag = "refurbishers",
    responses(
        (status = 200, description = "Every refurbisher with its status", body = RefurbisherList),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
pub(super) async fn list_refurbishers(
    State(state): State<AppState>,
) -> Result<Json<RefurbisherList>, ApiError> {
    let all = state.store.refurbishers().list().await?;
    let mut refurbishers = Vec::with_capacity(all.len());
    for r in &all {
        refurbishers.push(status_of(&state, r).await?);
    }
    Ok(Json(RefurbisherList { refurbishers }))
}

/// One refurbisher with its connector document (credentials redacted).
#[utoipa::path(
    get,
    path = "/api/v1/refurbishers/{key}",
    tag = "refurbishers",
    params(KeyPath),
    responses(
        (status = 200, description = "The refurbisher", body = RefurbisherShow),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
    )
)]
pub(super) async fn show_refurbisher(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
) -> Result<Json<RefurbisherShow>, ApiError> {
    let r = refurbisher(&state, &p.key).await?;
    let status = status_of(&state, &r).await?;
    Ok(Json(RefurbisherShow {
        status,
        document: json!({ (r.key.clone()): config::redact(&r.document) }),
    }))
}

/// `text` parsed and checked, and what the check found.
fn check(text: &str) -> (config::Document, CheckAnswer) {
    let doc = config::parse_document(text.trim_start_matches('\u{feff}'));
    let findings: Vec<Finding> = doc
        .diagnostics
        .iter()
        .map(|d| Finding {
            severity: if d.severity == Severity::Error {
                "error"
            } else {
                "warning"
            }
            .into(),
            path: d.path.to_string(),
            line: d.position.map(|p| p.line),
            column: d.position.map(|p| p.column),
            message: d.message.clone(),
            help: d.help.clone(),
        })
        .collect();
    let errors = doc.diagnostics.error_count();
    let answer = CheckAnswer {
        ok: errors == 0,
        errors,
        warnings: findings.len() - errors,
        refurbishers: doc.refurbishers.iter().map(|r| r.key.clone()).collect(),
        findings,
    };
    (doc, answer)
}

/// Check a connector document (the body, as `irp config check` does) without applying it.
#[utoipa::path(
    post,
    path = "/api/v1/config/check",
    tag = "refurbishers",
    request_body(content = Object, content_type = "application/json", description = "A connector document: `{\"<key>\": {…}}`"),
    responses(
        (status = 200, description = "What the check found (also for a document with errors)", body = CheckAnswer),
        (status = 400, description = "The body could not be read", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
pub(super) async fn config_check(ApiBody(body): ApiBody) -> Result<Json<CheckAnswer>, ApiError> {
    let text = String::from_utf8_lossy(&body);
    Ok(Json(check(&text).1))
}

/// Preview the feed of a connector document that is not saved (as onboarding does): its first
/// refurbisher with an `offers` connector is read as if registered; nothing is written.
#[utoipa::path(
    post,
    path = "/api/v1/config/preview",
    tag = "refurbishers",
    request_body(content = Object, content_type = "application/json", description = "A connector document: `{\"<key>\": {…}}`"),
    responses(
        (status = 200, description = "What the feed would give", body = Preview),
        (status = 400, description = "The body could not be read", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 409, description = "No offers connector, or the feed could not be read", body = ApiError),
        (status = 422, description = "The document has errors: `errors` names each JSON path", body = ApiError),
    )
)]
pub(super) async fn config_preview(
    State(state): State<AppState>,
    _: Operator,
    ApiBody(body): ApiBody,
) -> Result<Json<Preview>, ApiError> {
    let text = String::from_utf8_lossy(&body);
    let (doc, answer) = check(&text);
    if !answer.ok {
        return Err(ApiError::invalid(
            "the document has errors",
            field_errors(&answer),
        ));
    }
    let preview = crate::ops::preview_unsaved(&state.store, &state.secret_key_file, &text, &doc)
        .await
        .map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    Ok(Json(preview.into()))
}

/// The errors of a check as the 422 field map.
fn field_errors(answer: &CheckAnswer) -> Vec<FieldError> {
    answer
        .findings
        .iter()
        .filter(|f| f.severity == "error")
        .map(|f| FieldError {
            field: f.path.clone(),
            value: match (f.line, f.column) {
                (Some(l), Some(c)) => format!("line {l}, column {c}"),
                _ => String::new(),
            },
            expected: match &f.help {
                Some(h) => format!("{} ({h})", f.message),
                None => f.message.clone(),
            },
        })
        .collect()
}

/// Apply a connector document: create or update its refurbishers (all or nothing).
#[utoipa::path(
    put,
    path = "/api/v1/refurbishers",
    tag = "refurbishers",
    request_body(content = Object, content_type = "application/json", description = "A connector document: `{\"<key>\": {…}}`"),
    responses(
        (status = 200, description = "Applied", body = Applied),
        (status = 400, description = "The body could not be read", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 409, description = "An id conflict with another refurbisher", body = ApiError),
        (status = 422, description = "The document has errors: `errors` names each JSON path", body = ApiError),
    )
)]
pub(super) async fn apply_refurbishers(
    State(state): State<AppState>,
    operator: Operator,
    ApiBody(body): ApiBody,
) -> Result<Json<Applied>, ApiError> {
    let text = String::from_utf8_lossy(&body);
    let (doc, answer) = check(&text);
    if !answer.ok {
        let errors = field_errors(&answer);
        return Err(ApiError::invalid(
            "the document has errors; nothing was applied",
            errors,
        ));
    }
    let outcomes =
        irp_pipeline::catalog::apply_refurbishers(&state.store, &doc.refurbishers, &operator.actor)
            .await?;
    Ok(Json(Applied {
        applied: outcomes.into_iter().map(Into::into).collect(),
        check: answer,
    }))
}

/// Make (or rotate) the refurbisher's shipment webhook token; answers the URL once.
#[utoipa::path(
    post,
    path = "/api/v1/refurbishers/{key}/webhook-token",
    tag = "refurbishers",
    params(KeyPath),
    responses(
        (status = 200, description = "The new URL (shown once)", body = NewToken),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
        (status = 409, description = "The refurbisher has no supplier_id", body = ApiError),
    )
)]
pub(super) async fn webhook_token(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiPath(p): ApiPath<KeyPath>,
    operator: Operator,
) -> Result<([(HeaderName, HeaderValue); 1], Json<NewToken>), ApiError> {
    let r = refurbisher(&state, &p.key).await?;
    let grace = chrono::TimeDelta::hours(r.model.shipment.token_grace_hours);
    let t = state
        .store
        .shipments()
        .webhook_token_rotate(&r.key, grace, &operator.actor)
        .await?;
    let base = crate::server::public_base(&state, &headers);
    Ok((
        [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))],
        Json(NewToken {
            refurbisher: r.key.clone(),
            supplier_id: t.supplier_id,
            url: format!("{base}/webhook/shipment/{}/{}", t.supplier_id, t.token),
            previous_valid_until: t.previous_valid_until,
        }),
    ))
}

/// A new credential value.
#[derive(serde::Deserialize, ToSchema)]
pub(super) struct CredentialBody {
    /// Where the credential is in the refurbisher's document: `offers.auth.password`.
    #[schema(example = "offers.auth.password", pattern = "^[^\\u0000]*$")]
    path: String,
    /// The new value; stored encrypted, never answered.
    #[schema(pattern = "^[^\\u0000]*$")]
    value: String,
}

/// Replace one credential of a refurbisher (as the page's Replace control): the value goes to
/// the encrypted secret store; a literal in the document becomes a reference to it.
#[utoipa::path(
    post,
    path = "/api/v1/refurbishers/{key}/credentials",
    tag = "refurbishers",
    params(KeyPath),
    request_body(content = CredentialBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Stored", body = CredentialStored),
        (status = 400, description = "The body is not JSON", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such refurbisher or credential", body = ApiError),
        (status = 422, description = "An empty value or a body without path and value", body = ApiError),
    )
)]
pub(super) async fn replace_credential(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
    operator: Operator,
    ApiBody(body): ApiBody,
) -> Result<Json<CredentialStored>, ApiError> {
    use crate::ops::CredentialError;
    let r = refurbisher(&state, &p.key).await?;
    let b: CredentialBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) if e.is_syntax() || e.is_eof() => {
            return Err(ApiError::bad_request(format!("the body is not JSON: {e}")));
        }
        Err(e) => {
            return Err(ApiError::new(
                ErrorCode::Invalid,
                format!("expected {{\"path\": \"offers.auth.password\", \"value\": \"…\"}}: {e}"),
            ));
        }
    };
    if b.path.contains('\0') || b.value.contains('\0') {
        return Err(ApiError::bad_request("a NUL character in the body"));
    }
    let secret = crate::ops::replace_credential(
        &state.store,
        &state.secret_key_file,
        &r,
        &b.path,
        &b.value,
        &operator.actor,
    )
    .await
    .map_err(|e| match e {
        CredentialError::NoSuch(m) => ApiError::not_found(m),
        CredentialError::Invalid(m) => ApiError::new(ErrorCode::Invalid, m),
        CredentialError::Failed(e) => ApiError::from(e),
    })?;
    Ok(Json(CredentialStored { secret }))
}
