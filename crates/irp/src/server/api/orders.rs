//! `/api/v1/orders`: take an order in, list orders, show one with its supplier orders.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use irp_store::StoreError;
use irp_store::orders::{StoredAttempt, StoredLine, StoredOrder, StoredSupplierOrder};
use irp_store::shipments::StoredShipment;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiBody, ApiError, ApiPath, ApiQuery, IdPath, MAX_OFFSET, Operator, Page, StatusQuery,
    json_body, schema,
};
use crate::server::AppState;

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_order, list_orders))
        .routes(routes!(show_order))
}

/// A page of orders.
#[derive(Serialize, ToSchema)]
struct OrderList {
    /// Newest first.
    #[schema(value_type = Vec<schema::Order>)]
    orders: Vec<StoredOrder>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true)]
    next_offset: Option<i64>,
}

/// An order with its lines and supplier orders.
#[derive(Serialize, ToSchema)]
struct OrderDetail {
    /// The order.
    #[schema(value_type = schema::Order)]
    order: StoredOrder,
    /// Its lines.
    #[schema(value_type = Vec<schema::OrderLine>)]
    lines: Vec<StoredLine>,
    /// Its supplier orders, each with its attempts and shipments.
    #[schema(value_type = Vec<schema::SupplierOrderDetail>)]
    supplier_orders: Vec<SupplierOrderDetail>,
}

/// A supplier order with its attempts and shipments (its fields, then `attempts_made` and
/// `shipments`).
#[derive(Serialize)]
struct SupplierOrderDetail {
    #[serde(flatten)]
    supplier_order: StoredSupplierOrder,
    attempts_made: Vec<StoredAttempt>,
    shipments: Vec<StoredShipment>,
    erp: Option<irp_store::erp::ErpDocument>,
}

/// An order just taken in (or taken in before: `created` is false).
#[derive(Serialize, ToSchema)]
struct OrderTaken {
    #[serde(flatten)]
    detail: OrderDetail,
    /// False for a repeat of an order taken in before (same channel and order number).
    created: bool,
}

/// Take in an order.
///
/// The document is checked whole; every bad field is named in the 422 answer. An order with
/// the channel and order number of one taken in before answers 200 with that order and
/// changes nothing.
#[utoipa::path(
    post,
    path = "/api/v1/orders",
    tag = "orders",
    request_body(content = schema::OrderDocument, content_type = "application/json"),
    responses(
        (status = 201, description = "Taken in", body = OrderTaken),
        (status = 200, description = "Taken in before (a repeat); nothing changed", body = OrderTaken),
        (status = 400, description = "The body is not JSON", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 409, description = "Conflicts with what is stored", body = ApiError),
        (status = 422, description = "Not a valid order document; `errors` names each bad field", body = ApiError),
    )
)]
async fn create_order(
    State(state): State<AppState>,
    operator: Operator,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<OrderTaken>), ApiError> {
    let raw = json_body(&body)?;
    let doc = irp_core::orders::parse_order(&raw).map_err(StoreError::Invalid)?;
    let intake = irp_pipeline::orders::take_in(&state.store, &doc, &raw, &operator.actor).await?;
    let detail = order_detail(&state, intake.order.id).await?;
    let status = if intake.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(OrderTaken {
            detail,
            created: intake.created,
        }),
    ))
}

async fn order_detail(state: &AppState, id: i64) -> Result<OrderDetail, StoreError> {
    let store = &state.store;
    let order = store
        .order_get(id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no order {id}")))?;
    let lines = store.order_lines(id).await?;
    let mut supplier_orders = Vec::new();
    for so in store.supplier_orders_of(id).await? {
        let attempts_made = store.supplier_order_attempts(so.id).await?;
        let shipments = store.shipments_of(so.id).await?;
        let erp = store.erp_document(so.id).await?;
        supplier_orders.push(SupplierOrderDetail {
            supplier_order: so,
            attempts_made,
            shipments,
            erp,
        });
    }
    Ok(OrderDetail {
        order,
        lines,
        supplier_orders,
    })
}

/// The newest orders.
#[utoipa::path(
    get,
    path = "/api/v1/orders",
    tag = "orders",
    params(StatusQuery),
    responses(
        (status = 200, description = "A page of orders, newest first", body = OrderList),
        (status = 400, description = "A bad query parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
async fn list_orders(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<StatusQuery>,
) -> Result<Json<OrderList>, ApiError> {
    let page = Page::new(q.limit, q.offset, MAX_OFFSET)?;
    let rows = state
        .store
        .orders_list(q.status.as_deref(), page.rows_through())
        .await?;
    let (orders, next_offset) = page.cut(rows);
    Ok(Json(OrderList {
        orders,
        next_offset,
    }))
}

/// An order with its lines, its supplier orders and each of their attempts and shipments.
#[utoipa::path(
    get,
    path = "/api/v1/orders/{id}",
    tag = "orders",
    params(IdPath),
    responses(
        (status = 200, description = "The order", body = OrderDetail),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such order", body = ApiError),
    )
)]
async fn show_order(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
) -> Result<Json<OrderDetail>, ApiError> {
    Ok(Json(order_detail(&state, p.id).await?))
}
