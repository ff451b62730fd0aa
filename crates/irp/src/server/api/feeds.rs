//! Feed runs (list, show, apply or discard a quarantined one), preview, import now, upload a
//! feed file. Each calls the same code as the page and the CLI.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::refurbishers::{KeyPath, refurbisher};
use super::{ApiError, ApiPath, ApiQuery, ErrorCode, IdPath, MAX_OFFSET, Operator, Page};
use crate::server::AppState;
use crate::views::{ImportReport, Preview, RunApplied, RunDiscarded, RunList, RunShow};

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_runs))
        .routes(routes!(show_run))
        .routes(routes!(apply_run))
        .routes(routes!(discard_run))
        .routes(routes!(preview))
        .routes(routes!(import))
        .routes(routes!(upload))
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
    let rows = state
        .store
        .feed_runs()
        .list(r.id, page.rows_through())
        .await?;
    let (runs, next_offset) = page.cut(rows);
    Ok(Json(RunList {
        runs: runs.into_iter().map(Into::into).collect(),
        next_offset,
    }))
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
    let Some(run) = state.store.feed_runs().get(p.id).await? else {
        return Err(ApiError::not_found(format!("no feed run {}", p.id)));
    };
    let errors = state.store.feed_runs().row_errors(p.id).await?;
    let progress = crate::views::feeds::Progress::of_run(&state.store, &run).await?;
    Ok(Json(RunShow {
        run: run.into(),
        progress,
        errors: errors.into_iter().map(Into::into).collect(),
    }))
}

/// Apply a quarantined run (its offers become the refurbisher's offers).
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/apply",
    tag = "feeds",
    params(IdPath),
    responses(
        (status = 200, description = "Applied: the offer changes and the catalog recompute", body = RunApplied),
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
) -> Result<Json<RunApplied>, ApiError> {
    let applied = crate::ops::apply_quarantined(&state.store, p.id, &operator.actor)
        .await
        .map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    Ok(Json(applied.into()))
}

/// Discard a quarantined run (the offers stay as they were).
#[utoipa::path(
    post,
    path = "/api/v1/runs/{id}/discard",
    tag = "feeds",
    params(IdPath),
    responses(
        (status = 200, description = "Discarded", body = RunDiscarded),
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
) -> Result<Json<RunDiscarded>, ApiError> {
    let run = state
        .store
        .feed_runs()
        .discard(p.id, &operator.actor)
        .await?;
    Ok(Json(RunDiscarded { run: run.into() }))
}

/// Read the refurbisher's feed now and answer what it would give (the first 50 offers and up
/// to 1,000 row errors); nothing is written.
#[utoipa::path(
    post,
    path = "/api/v1/refurbishers/{key}/preview",
    tag = "feeds",
    params(KeyPath),
    responses(
        (status = 200, description = "What the feed would give", body = Preview),
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
) -> Result<Json<Preview>, ApiError> {
    let r = refurbisher(&state, &p.key).await?;
    let preview = crate::ops::preview(&state.store, &state.secret_key_file, &r, None, 50)
        .await
        .map_err(|e| ApiError::conflict(format!("{e:#}")))?;
    Ok(Json(preview.into()))
}

/// Fetch and import the refurbisher's feed now (as the poller would); answers the run's report.
#[utoipa::path(
    post,
    path = "/api/v1/refurbishers/{key}/import",
    tag = "feeds",
    params(KeyPath),
    responses(
        (status = 200, description = "The run's report (its status may be failed — e.g. for a refurbisher whose offers come by upload — or quarantined)", body = ImportReport),
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
) -> Result<Json<ImportReport>, ApiError> {
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
    result: Result<irp_pipeline::feed::ImportReport, crate::ops::ImportRefused>,
) -> Result<Json<ImportReport>, ApiError> {
    match result {
        Ok(rep) => Ok(Json(rep.into())),
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
        (status = 200, description = "The run's report", body = ImportReport),
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
) -> Result<Json<ImportReport>, ApiError> {
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
