//! `/api/v1/supplier-orders`: list them, retry one, record its Odoo document again, cancel one.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiPath, ApiQuery, IdPath, MAX_OFFSET, Operator, Page, StatusQuery};
use crate::server::AppState;
use crate::views::{ErpAnswer, SupplierOrderAnswer, SupplierOrderList};

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_supplier_orders))
        .routes(routes!(retry))
        .routes(routes!(erp_retry))
        .routes(routes!(cancel))
}

/// Supplier orders, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/supplier-orders",
    tag = "supplier-orders",
    params(StatusQuery),
    responses(
        (status = 200, description = "A page of supplier orders, newest first", body = SupplierOrderList),
        (status = 400, description = "A bad query parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
async fn list_supplier_orders(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Result<Json<SupplierOrderList>, ApiError> {
    let page = Page::new(q.limit, q.offset, MAX_OFFSET)?;
    let rows = state
        .store
        .supplier_orders()
        .list(q.status.as_deref(), page.rows_through())
        .await?;
    let (supplier_orders, next_offset) = page.cut(rows);
    Ok(Json(SupplierOrderList {
        supplier_orders: supplier_orders.into_iter().map(Into::into).collect(),
        next_offset,
    }))
}

/// Send a `failed` or `needs_attention` supplier order again.
#[utoipa::path(
    post,
    path = "/api/v1/supplier-orders/{id}/retry",
    tag = "supplier-orders",
    params(IdPath),
    responses(
        (status = 200, description = "Pending again; the submitter sends it", body = SupplierOrderAnswer),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such supplier order", body = ApiError),
        (status = 409, description = "Not `failed` or `needs_attention`", body = ApiError),
    )
)]
async fn retry(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
    operator: Operator,
) -> Result<Json<SupplierOrderAnswer>, ApiError> {
    let supplier_order = state
        .store
        .supplier_orders()
        .retry(p.id, &operator.actor)
        .await?;
    Ok(Json(SupplierOrderAnswer {
        supplier_order: supplier_order.into(),
    }))
}

/// Record a `failed` Odoo document again (after fixing what Odoo refused).
#[utoipa::path(
    post,
    path = "/api/v1/supplier-orders/{id}/erp-retry",
    tag = "supplier-orders",
    params(IdPath),
    responses(
        (status = 200, description = "Pending again; the ERP round records it", body = ErpAnswer),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such supplier order, or it has no Odoo document", body = ApiError),
        (status = 409, description = "Its document is not `failed`", body = ApiError),
    )
)]
async fn erp_retry(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
    operator: Operator,
) -> Result<Json<ErpAnswer>, ApiError> {
    let erp = state.store.erp().retry(p.id, &operator.actor).await?;
    Ok(Json(ErpAnswer { erp: erp.into() }))
}

/// Cancel a supplier order that is not under way or placed.
#[utoipa::path(
    post,
    path = "/api/v1/supplier-orders/{id}/cancel",
    tag = "supplier-orders",
    params(IdPath),
    responses(
        (status = 200, description = "Cancelled; its units are no longer reserved", body = SupplierOrderAnswer),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such supplier order", body = ApiError),
        (status = 409, description = "Under way, placed, shipped or cancelled already", body = ApiError),
    )
)]
async fn cancel(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
    operator: Operator,
) -> Result<Json<SupplierOrderAnswer>, ApiError> {
    let supplier_order = state
        .store
        .supplier_orders()
        .cancel(p.id, &operator.actor)
        .await?;
    Ok(Json(SupplierOrderAnswer {
        supplier_order: supplier_order.into(),
    }))
}
