//! `/api/v1/alerts` and `/api/v1/monitor`: alerts and every refurbisher's metrics.

use axum::Json;
use axum::extract::State;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiQuery, MAX_OFFSET, Page, refurbisher_id};
use crate::server::AppState;
use crate::views::{AlertList, MonitorAnswer};

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_alerts))
        .routes(routes!(monitor))
}

/// `all`, `refurbisher`, `limit`, `offset` of the alert list.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AlertQuery {
    /// Resolved alerts too (default: only open ones).
    all: Option<bool>,
    /// Only this refurbisher's (its key; 404 when there is none).
    #[param(pattern = "^[^\\u0000]*$")]
    refurbisher: Option<String>,
    /// Page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Rows to skip.
    #[param(minimum = 0, maximum = 10000, default = 0)]
    offset: Option<i64>,
}

/// Open alerts (or all), newest first.
#[utoipa::path(
    get,
    path = "/api/v1/alerts",
    tag = "monitoring",
    params(AlertQuery),
    responses(
        (status = 200, description = "A page of alerts, newest first", body = AlertList),
        (status = 400, description = "A bad query parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
    )
)]
async fn list_alerts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AlertQuery>,
) -> Result<Json<AlertList>, ApiError> {
    let page = Page::new(q.limit, q.offset, MAX_OFFSET)?;
    let rid = refurbisher_id(&state, q.refurbisher.as_deref()).await?;
    let rows = state
        .store
        .monitor()
        .alerts_list(!q.all.unwrap_or(false), rid, page.rows_through())
        .await?;
    let (alerts, next_offset) = page.cut(rows);
    Ok(Json(AlertList {
        alerts: alerts.into_iter().map(Into::into).collect(),
        next_offset,
    }))
}

/// Every refurbisher's metrics against its thresholds (as `irp monitor --json`).
#[utoipa::path(
    get,
    path = "/api/v1/monitor",
    tag = "monitoring",
    responses(
        (status = 200, description = "The readings", body = MonitorAnswer),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
async fn monitor(State(state): State<AppState>) -> Result<Json<MonitorAnswer>, ApiError> {
    let refurbishers = irp_pipeline::monitor::readings(&state.store, irp_store::now()).await?;
    Ok(Json(MonitorAnswer {
        refurbishers: refurbishers.into_iter().map(Into::into).collect(),
    }))
}
