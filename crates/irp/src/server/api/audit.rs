//! `/api/v1/audit`: the audit log.

use axum::Json;
use axum::extract::State;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiQuery, MAX_OFFSET, Page};
use crate::server::AppState;
use crate::views::AuditPage;

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(audit))
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
        (status = 200, description = "A page of entries", body = AuditPage),
        (status = 400, description = "A bad query parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
pub(super) async fn audit(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<AuditPage>, ApiError> {
    let page = Page::new(q.limit, q.offset, MAX_OFFSET)?;
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let rows = state
        .store
        .audit_search(text, page.rows_through(), 0)
        .await?;
    let (entries, next_offset) = page.cut(rows);
    Ok(Json(AuditPage {
        entries: entries.into_iter().map(Into::into).collect(),
        next_offset,
    }))
}
