//! The REST API for what the portal's pages do with refurbishers and their feeds: the
//! registry (list, show, apply a document), `config check`, feed runs (list, show, apply or
//! discard a quarantined one), preview, import now, upload a feed file, the webhook token,
//! held purchase prices, and the audit log. Each calls the same code as the page and the CLI.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use irp_core::config::{self, Severity};
use irp_core::orders::FieldError;
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use super::{ApiBody, ApiError, ApiPath, ApiQuery, ErrorCode, IdPath, MAX_OFFSET, Operator, Page};
use crate::server::AppState;

/// A refurbisher's key in the path.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct KeyPath {
    /// The connector key (`flexit`).
    #[param(pattern = "^[^\\u0000]*$")]
    key: String,
}

/// `limit`, `offset`.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct PageQuery {
    /// Page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Rows to skip.
    #[param(minimum = 0, maximum = 10000, default = 0)]
    offset: Option<i64>,
}

/// The refurbisher `key`, or the 404 answer.
async fn refurbisher(
    state: &AppState,
    key: &str,
) -> Result<irp_store::refurbishers::StoredRefurbisher, ApiError> {
    state.store.refurbisher_get(key).await?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no refurbisher `{key}` (GET /api/v1/refurbishers lists them)"
        ))
    })
}

/// A refurbisher's status: the seeds' Status table and its pricing settings.
#[derive(Serialize, ToSchema)]
pub(super) struct RefurbisherStatus {
    refurbisher_id: i64,
    key: String,
    name: String,
    supplier_id: Option<i64>,
    odoo_vendor_id: Option<i64>,
    enabled: bool,
    approved_refurbished: bool,
    internal: bool,
    /// "SFTP · CSV · SFTP credentials".
    offer_connector: String,
    /// "Web POST · Client credentials", "Not integrated".
    order_connector: String,
    /// "Configured" or "Not configured".
    shipment_webhook: String,
    version: i64,
    updated_at: chrono::DateTime<chrono::Utc>,
}

async fn status_of(
    state: &AppState,
    r: &irp_store::refurbishers::StoredRefurbisher,
) -> Result<RefurbisherStatus, irp_store::StoreError> {
    let w = state.store.webhook_state(r.id).await?;
    let m = &r.model;
    Ok(RefurbisherStatus {
        refurbisher_id: r.id,
        key: r.key.clone(),
        name: m.name.clone(),
        supplier_id: m.supplier_id,
        odoo_vendor_id: m.odoo_vendor_id,
        enabled: m.enabled,
        approved_refurbished: m.approved_refurbished,
        internal: m.internal,
        offer_connector: m.offer_connector_label(),
        order_connector: m.order_connector_label(),
        shipment_webhook: if w.token_created_at.is_some() {
            "Configured".into()
        } else {
            "Not configured".into()
        },
        version: r.version,
        updated_at: r.updated_at,
    })
}

/// Every refurbisher.
#[derive(Serialize, ToSchema)]
pub(super) struct RefurbisherList {
    refurbishers: Vec<RefurbisherStatus>,
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
    let all = state.store.refurbisher_list().await?;
    let mut refurbishers = Vec::with_capacity(all.len());
    for r in &all {
        refurbishers.push(status_of(&state, r).await?);
    }
    Ok(Json(RefurbisherList { refurbishers }))
}

/// A refurbisher and its document.
#[derive(Serialize, ToSchema)]
pub(super) struct RefurbisherShow {
    #[serde(flatten)]
    status: RefurbisherStatus,
    /// The connector document, `{"<key>": {…}}`, with literal credentials as `********`
    /// (secret references `${secret:NAME}` are kept: they name a secret, not its value).
    #[schema(value_type = Object)]
    document: Value,
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

/// One finding of `config check`.
#[derive(Serialize, ToSchema)]
pub(super) struct Finding {
    /// `error` or `warning`.
    severity: String,
    /// The JSON path: `flexit.offers.mapping.ean`.
    path: String,
    /// Line of the document, from 1.
    line: Option<usize>,
    /// Column, from 1.
    column: Option<usize>,
    /// What is wrong.
    message: String,
    /// How to fix it.
    help: Option<String>,
}

/// What `config check` found.
#[derive(Serialize, ToSchema)]
pub(super) struct CheckAnswer {
    /// No errors: the document can be applied.
    ok: bool,
    errors: usize,
    warnings: usize,
    /// The refurbisher keys the document defines (those without errors).
    refurbishers: Vec<String>,
    findings: Vec<Finding>,
}

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
pub(super) async fn config_check(ApiBody(body): ApiBody) -> Json<CheckAnswer> {
    let text = String::from_utf8_lossy(&body);
    Json(check(&text).1)
}

/// Preview the feed of a connector document that is not saved (as onboarding does): its first
/// refurbisher with an `offers` connector is read as if registered; nothing is written.
#[utoipa::path(
    post,
    path = "/api/v1/config/preview",
    tag = "refurbishers",
    request_body(content = Object, content_type = "application/json", description = "A connector document: `{\"<key>\": {…}}`"),
    responses(
        (status = 200, description = "What the feed would give", body = Object),
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
) -> Result<impl IntoResponse, ApiError> {
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
    Ok(Json(preview))
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

/// What applying a document did.
#[derive(Serialize, ToSchema)]
pub(super) struct Applied {
    /// Per refurbisher: its key, id, `Created` / `Updated` / `Unchanged` and the changed fields.
    #[schema(value_type = Vec<Object>)]
    applied: Value,
    /// The check's findings (warnings).
    check: CheckAnswer,
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
    let outcomes = state
        .store
        .refurbisher_apply(&doc.refurbishers, &operator.actor)
        .await?;
    Ok(Json(Applied {
        applied: serde_json::to_value(&outcomes).unwrap_or(Value::Null),
        check: answer,
    }))
}

/// A page of feed runs.
#[derive(Serialize, ToSchema)]
pub(super) struct RunList {
    /// Newest first.
    #[schema(value_type = Vec<Object>)]
    runs: Vec<irp_store::offers::FeedRun>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true)]
    next_offset: Option<i64>,
}

/// A refurbisher's feed runs, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/refurbishers/{key}/runs",
    tag = "feeds",
    params(KeyPath, PageQuery),
    responses(
        (status = 200, description = "A page of runs", body = RunList),
        (status = 400, description = "A bad parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
    )
)]
pub(super) async fn list_runs(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<RunList>, ApiError> {
    let page = Page::new(q.limit, q.offset, MAX_OFFSET)?;
    let r = refurbisher(&state, &p.key).await?;
    let rows = state.store.feed_runs(r.id, page.rows_through()).await?;
    let (runs, next_offset) = page.cut(rows);
    Ok(Json(RunList { runs, next_offset }))
}

/// A run with its stored row errors.
#[derive(Serialize, ToSchema)]
pub(super) struct RunShow {
    #[schema(value_type = Object)]
    run: irp_store::offers::FeedRun,
    /// Row errors: row number, field, value, message.
    #[schema(value_type = Vec<Object>)]
    errors: Vec<irp_store::offers::StoredRowError>,
}

/// One feed run: its report and row errors.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{id}",
    tag = "feeds",
    params(IdPath),
    responses(
        (status = 200, description = "The run", body = RunShow),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such run", body = ApiError),
    )
)]
pub(super) async fn show_run(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
) -> Result<Json<RunShow>, ApiError> {
    let Some(run) = state.store.feed_run(p.id).await? else {
        return Err(ApiError::not_found(format!("no feed run {}", p.id)));
    };
    let errors = state.store.feed_row_errors(p.id).await?;
    Ok(Json(RunShow { run, errors }))
}

/// Apply a quarantined run (its offers become the refurbisher's offers).
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/apply",
    tag = "feeds",
    params(IdPath),
    responses(
        (status = 200, description = "Applied: the offer changes and the catalog recompute", body = Object),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 409, description = "No such run, or not quarantined", body = ApiError),
    )
)]
pub(super) async fn apply_run(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
    operator: Operator,
) -> Result<impl IntoResponse, ApiError> {
    let applied = crate::ops::apply_quarantined(&state.store, p.id, &operator.actor)
        .await
        .map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    Ok(Json(applied))
}

/// Discard a quarantined run (the offers stay as they were).
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/discard",
    tag = "feeds",
    params(IdPath),
    responses(
        (status = 200, description = "Discarded", body = Object),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such run", body = ApiError),
        (status = 409, description = "Not quarantined", body = ApiError),
    )
)]
pub(super) async fn discard_run(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
    operator: Operator,
) -> Result<Json<Value>, ApiError> {
    let run = state.store.feed_run_discard(p.id, &operator.actor).await?;
    Ok(Json(json!({ "run": run })))
}

/// Read the refurbisher's feed now and answer what it would give (the first 50 offers and up
/// to 1,000 row errors); nothing is written.
#[utoipa::path(
    post,
    path = "/api/v1/refurbishers/{key}/preview",
    tag = "feeds",
    params(KeyPath),
    responses(
        (status = 200, description = "What the feed would give", body = Object),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
        (status = 409, description = "No offers connector, an upload connection, or the feed could not be fetched", body = ApiError),
    )
)]
pub(super) async fn preview(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
    _: Operator,
) -> Result<impl IntoResponse, ApiError> {
    let r = refurbisher(&state, &p.key).await?;
    let preview = crate::ops::preview(&state.store, &state.secret_key_file, &r, None, 50)
        .await
        .map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    Ok(Json(preview))
}

/// Fetch and import the refurbisher's feed now (as the poller would); answers the run's report.
#[utoipa::path(
    post,
    path = "/api/v1/refurbishers/{key}/import",
    tag = "feeds",
    params(KeyPath),
    responses(
        (status = 200, description = "The run's report (its status may be failed — e.g. for a refurbisher whose offers come by upload — or quarantined)", body = Object),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
        (status = 409, description = "The run could not start (no offers connector)", body = ApiError),
    )
)]
pub(super) async fn import(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
    operator: Operator,
) -> Result<impl IntoResponse, ApiError> {
    let r = refurbisher(&state, &p.key).await?;
    imported(
        crate::ops::import(
            &state.store,
            &state.secret_key_file,
            &r,
            crate::ops::FeedSource::Fetch,
            "api",
            &operator.actor,
            None,
        )
        .await,
    )
}

/// The answer to an import: its report, or why it did not run.
fn imported(
    result: Result<irp_pipeline::import::ImportReport, crate::ops::ImportRefused>,
) -> Result<Json<irp_pipeline::import::ImportReport>, ApiError> {
    match result {
        Ok(rep) => Ok(Json(rep)),
        Err(crate::ops::ImportRefused::Store(e)) => Err(e.into()),
        Err(e) => Err(ApiError::conflict(e.to_string())),
    }
}

/// The most an uploaded feed may be.
const MAX_UPLOAD: u64 = 1 << 30;

/// Import a feed file sent as the body (any content type; up to 1 GiB, streamed to disk):
/// for a refurbisher whose connection is `upload`, or a one-off import of another's.
#[utoipa::path(
    post,
    path = "/api/v1/refurbishers/{key}/upload",
    tag = "feeds",
    params(KeyPath),
    request_body(content = String, content_type = "application/octet-stream", description = "The feed file, in the refurbisher's format"),
    responses(
        (status = 200, description = "The run's report", body = Object),
        (status = 400, description = "The body could not be read", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
        (status = 409, description = "The refurbisher has no offers connector", body = ApiError),
        (status = 429, description = "Two uploads are being received already (`Retry-After`)", body = ApiError),
    )
)]
pub(super) async fn upload(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<KeyPath>,
    operator: Operator,
    body: Body,
) -> Result<impl IntoResponse, ApiError> {
    use futures_util::StreamExt as _;
    use tokio::io::AsyncWriteExt as _;
    // A few uploads at a time: each may be large, and the disk is shared.
    let Ok(_upload) = std::sync::Arc::clone(&state.uploads).try_acquire_owned() else {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            format!(
                "{} uploads are being received already; send this one when one of them is done",
                crate::server::UPLOADS_AT_ONCE
            ),
        )
        .header(
            axum::http::header::RETRY_AFTER,
            axum::http::HeaderValue::from_static("10"),
        ));
    };
    let r = refurbisher(&state, &p.key).await?;
    let dir = tempfile::tempdir().map_err(anyhow::Error::from)?;
    let path = dir.path().join("upload");
    let written: Result<u64, String> = async {
        let mut out = tokio::fs::File::create(&path)
            .await
            .map_err(|e| e.to_string())?;
        let mut stream = body.into_data_stream();
        let mut n = 0u64;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| e.to_string())?;
            n += chunk.len() as u64;
            if n > MAX_UPLOAD {
                return Err(format!("the file is larger than {MAX_UPLOAD} bytes"));
            }
            out.write_all(&chunk).await.map_err(|e| e.to_string())?;
        }
        out.flush().await.map_err(|e| e.to_string())?;
        Ok(n)
    }
    .await;
    match written {
        Ok(0) => {
            return Err(ApiError::bad_request(
                "the body is empty: send the feed file",
            ));
        }
        Ok(_) => {}
        Err(e) => {
            return Err(ApiError::bad_request(format!(
                "the upload could not be read: {e}"
            )));
        }
    }
    let source = crate::ops::FeedSource::File {
        path: &path,
        shown: "upload".to_owned(),
    };
    imported(
        crate::ops::import(
            &state.store,
            &state.secret_key_file,
            &r,
            source,
            "upload",
            &operator.actor,
            None,
        )
        .await,
    )
}

/// A new webhook URL.
#[derive(Serialize, ToSchema)]
pub(super) struct NewToken {
    refurbisher: String,
    supplier_id: i64,
    /// The full URL with its token; shown once (only a hash is kept).
    url: String,
    /// Until when the previous token still works.
    previous_valid_until: Option<chrono::DateTime<chrono::Utc>>,
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
) -> Result<impl IntoResponse, ApiError> {
    let r = refurbisher(&state, &p.key).await?;
    let grace = chrono::TimeDelta::hours(r.model.shipment.token_grace_hours);
    let t = state
        .store
        .webhook_token_rotate(&r.key, grace, &operator.actor)
        .await?;
    let base = crate::server::public_base(&state, &headers);
    Ok((
        [(
            axum::http::header::CACHE_CONTROL,
            axum::http::HeaderValue::from_static("no-store"),
        )],
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

/// The secret a credential is stored as.
#[derive(Serialize, ToSchema)]
pub(super) struct CredentialStored {
    /// The secret's name (the document references it as `${secret:NAME}`).
    secret: String,
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

/// `refurbisher`.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HeldQuery {
    /// Only this refurbisher's.
    #[param(pattern = "^[^\\u0000]*$")]
    refurbisher: Option<String>,
}

/// Purchase price changes held for an operator (beyond `max_price_change_ratio`), oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/prices/held",
    tag = "catalog",
    params(HeldQuery),
    responses(
        (status = 200, description = "The held offers", body = Object),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
    )
)]
pub(super) async fn prices_held(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HeldQuery>,
) -> Result<Json<Value>, ApiError> {
    let id = match q.refurbisher.as_deref() {
        Some(k) => Some(refurbisher(&state, k).await?.id),
        None => None,
    };
    let held = state.store.prices_held(id, false, 500).await?;
    Ok(Json(json!({ "held": held })))
}

/// The offer of a decision.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct OfferPath {
    /// The refurbisher's key.
    #[param(pattern = "^[^\\u0000]*$")]
    refurbisher: String,
    /// The offer's SKU.
    #[param(pattern = "^[^\\u0000]*$")]
    sku: String,
    /// `accept` (the feed's price applies) or `reject` (the old one stays).
    #[param(pattern = "^(accept|reject)$")]
    decision: String,
}

/// Decide a held purchase price change.
#[utoipa::path(
    post,
    path = "/api/v1/prices/{refurbisher}/{sku}/{decision}",
    tag = "catalog",
    params(OfferPath),
    responses(
        (status = 200, description = "The offer as it is now", body = Object),
        (status = 400, description = "A decision other than accept or reject", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such refurbisher or offer, or nothing held", body = ApiError),
    )
)]
pub(super) async fn decide_price(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<OfferPath>,
    operator: Operator,
) -> Result<Json<Value>, ApiError> {
    let accept = match p.decision.as_str() {
        "accept" => true,
        "reject" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "decision {other:?}: expected accept or reject"
            )));
        }
    };
    let r = refurbisher(&state, &p.refurbisher).await?;
    let o = state
        .store
        .price_decide(r.id, &p.sku, accept, &operator.actor)
        .await?;
    state.store.catalog_signal().notify_one();
    Ok(Json(json!({ "offer": o })))
}

/// `q`, `limit`, `offset`.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct AuditQuery {
    /// Only entries whose actor, action or target contains this.
    #[param(pattern = "^[^\\u0000]*$")]
    q: Option<String>,
    /// Page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Rows to skip.
    #[param(minimum = 0, maximum = 10000, default = 0)]
    offset: Option<i64>,
}

/// The audit log, newest first: who changed what, when.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of entries", body = Object),
        (status = 400, description = "A bad query parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
pub(super) async fn audit(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Value>, ApiError> {
    let page = Page::new(q.limit, q.offset, MAX_OFFSET)?;
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let rows = state
        .store
        .audit_search(text, page.rows_through(), 0)
        .await?;
    let (entries, next_offset) = page.cut(rows);
    Ok(Json(
        json!({ "entries": entries, "next_offset": next_offset }),
    ))
}

/// These operations, for [`super::token_routes`].
/// A channel's key in the path.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct ChannelPath {
    /// The channel key (`refurbished-direct`).
    #[param(pattern = "^[^\\u0000]*$")]
    key: String,
}

/// `full`.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SyncQuery {
    /// Push every product, not only the changed ones (and retry the ones the shop did not take).
    full: Option<bool>,
}

/// Every channel with how its Shopware sync stands: rows waiting, the last push, the order
/// poll's position, the last error, products the shop did not take, orders that could not be
/// taken in.
#[utoipa::path(
    get,
    path = "/api/v1/channels",
    tag = "channels",
    responses(
        (status = 200, description = "The channels", body = Object),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
pub(super) async fn list_channels(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let list = crate::ops::channel_status(&state.store, None)
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "Reading the channels failed");
            ApiError::new(ErrorCode::Internal, "reading the channels failed")
        })?;
    Ok(Json(json!({ "channels": list })))
}

/// One channel's Shopware sync state (as in the list).
#[utoipa::path(
    get,
    path = "/api/v1/channels/{key}",
    tag = "channels",
    params(ChannelPath),
    responses(
        (status = 200, description = "The channel", body = Object),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such channel", body = ApiError),
    )
)]
pub(super) async fn show_channel(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<ChannelPath>,
) -> Result<impl IntoResponse, ApiError> {
    let mut list = crate::ops::channel_status(&state.store, Some(&p.key))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "Reading a channel failed");
            ApiError::new(ErrorCode::Internal, "reading the channel failed")
        })?;
    if list.is_empty() {
        return Err(ApiError::not_found(format!(
            "no channel `{}` (GET /api/v1/channels lists them)",
            p.key
        )));
    }
    Ok(Json(list.remove(0)))
}

/// Sync a channel with its Shopware shop now (as `irp channel sync`): push changed prices and
/// stock (every product with `full=true`), take in new orders, deliver tracking and
/// cancellations. A push or poll the shop failed is reported in the answer (`push.error`,
/// `orders_error`).
#[utoipa::path(
    post,
    path = "/api/v1/channels/{key}/sync",
    tag = "channels",
    params(ChannelPath, SyncQuery),
    responses(
        (status = 200, description = "What the sync did", body = Object),
        (status = 400, description = "A bad path or query parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such channel", body = ApiError),
        (status = 409, description = "The channel has no enabled shop, a credential reference cannot be resolved, or another instance syncs it right now", body = ApiError),
    )
)]
pub(super) async fn sync_channel(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<ChannelPath>,
    ApiQuery(q): ApiQuery<SyncQuery>,
    operator: Operator,
) -> Result<impl IntoResponse, ApiError> {
    use irp_pipeline::channel_sync::ChannelSyncError as E;
    let owner = format!("api:{}", operator.actor);
    let done = crate::ops::channel_sync_now(
        &state.store,
        &state.secret_key_file,
        &p.key,
        q.full.unwrap_or(false),
        &owner,
    )
    .await
    .map_err(|e| match e {
        crate::ops::ChannelSyncNowError::Sync(E::UnknownChannel(k)) => ApiError::not_found(
            format!("no channel `{k}` (GET /api/v1/channels lists them)"),
        ),
        e @ (crate::ops::ChannelSyncNowError::Busy { .. }
        | crate::ops::ChannelSyncNowError::Sync(E::NotConnected(_) | E::Missing { .. })) => {
            ApiError::conflict(e.to_string())
        }
        e => {
            tracing::error!(error = %e, "A channel sync failed");
            ApiError::new(ErrorCode::Internal, "the sync failed; IRP's log says why")
        }
    })?;
    if let Err(e) = state
        .store
        .audit(
            &operator.actor,
            "channel.sync",
            &p.key,
            json!({"full": q.full.unwrap_or(false), "pushed": done.push.pushed}),
        )
        .await
    {
        tracing::warn!(error = %e, "Auditing a channel sync failed");
    }
    Ok(Json(done))
}

pub(super) fn routes() -> utoipa_axum::router::OpenApiRouter<AppState> {
    use utoipa_axum::routes;
    utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(list_refurbishers, apply_refurbishers))
        .routes(routes!(show_refurbisher))
        .routes(routes!(config_check))
        .routes(routes!(config_preview))
        .routes(routes!(list_runs))
        .routes(routes!(show_run))
        .routes(routes!(apply_run))
        .routes(routes!(discard_run))
        .routes(routes!(preview))
        .routes(routes!(import))
        .routes(routes!(upload))
        .routes(routes!(webhook_token))
        .routes(routes!(replace_credential))
        .routes(routes!(prices_held))
        .routes(routes!(decide_price))
        .routes(routes!(audit))
        .routes(routes!(list_channels))
        .routes(routes!(show_channel))
        .routes(routes!(sync_channel))
}
