//! `/api/v1/shipments`: shipments from the webhook; match an unmatched one, dismiss one.

use axum::Json;
use axum::extract::State;
use irp_core::orders::FieldError;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{
    ApiBody, ApiError, ApiPath, ApiQuery, IdPath, MAX_OFFSET, Operator, Page, json_body,
    refurbisher_id,
};
use crate::server::AppState;
use crate::views::{Dismissed, ShipmentAnswer, ShipmentDetail, ShipmentList};

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_shipments))
        .routes(routes!(show_shipment))
        .routes(routes!(match_shipment))
        .routes(routes!(dismiss_shipment))
}

/// `status`, `refurbisher`, `limit`, `offset` of the shipment list.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ShipmentQuery {
    /// Only this status: `matched`, `unmatched` or `dismissed`.
    #[param(pattern = "^[^\\u0000]*$")]
    status: Option<String>,
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

/// The body of `POST /api/v1/shipments/{id}/match`.
#[derive(ToSchema)]
struct MatchRequest {
    /// The supplier order the shipment belongs to.
    #[allow(dead_code)] // read from the JSON by hand, to name a bad field in a 422
    supplier_order_id: i64,
}

/// Shipments from the webhook, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/shipments",
    tag = "shipments",
    params(ShipmentQuery),
    responses(
        (status = 200, description = "A page of shipments, newest first", body = ShipmentList),
        (status = 400, description = "A bad query parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
    )
)]
async fn list_shipments(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ShipmentQuery>,
) -> Result<Json<ShipmentList>, ApiError> {
    let page = Page::new(q.limit, q.offset, MAX_OFFSET)?;
    let rid = refurbisher_id(&state, q.refurbisher.as_deref()).await?;
    let rows = state
        .store
        .shipments()
        .list(rid, q.status.as_deref(), page.rows_through())
        .await?;
    let (shipments, next_offset) = page.cut(rows);
    Ok(Json(ShipmentList {
        shipments: shipments.into_iter().map(Into::into).collect(),
        next_offset,
    }))
}

/// A shipment, its units and the payload as received.
#[utoipa::path(
    get,
    path = "/api/v1/shipments/{id}",
    tag = "shipments",
    params(IdPath),
    responses(
        (status = 200, description = "The shipment", body = ShipmentDetail),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such shipment", body = ApiError),
    )
)]
async fn show_shipment(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
) -> Result<Json<ShipmentDetail>, ApiError> {
    let id = p.id;
    let Some((shipment, units)) = state.store.shipments().get(id).await? else {
        return Err(ApiError::not_found(format!("no shipment {id}")));
    };
    let payload = state.store.shipments().payload(id).await.ok().flatten();
    Ok(Json(ShipmentDetail {
        shipment: shipment.into(),
        units: units.into_iter().map(Into::into).collect(),
        payload,
    }))
}

/// Link an unmatched (or dismissed) shipment to its supplier order.
#[utoipa::path(
    post,
    path = "/api/v1/shipments/{id}/match",
    tag = "shipments",
    params(IdPath),
    request_body(content = MatchRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Matched; the supplier order is `shipped`", body = ShipmentAnswer),
        (status = 400, description = "The body is not JSON, or a bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such shipment or supplier order", body = ApiError),
        (status = 409, description = "It cannot be matched to that supplier order", body = ApiError),
        (status = 422, description = "No whole-number `supplier_order_id`", body = ApiError),
    )
)]
async fn match_shipment(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
    operator: Operator,
    ApiBody(body): ApiBody,
) -> Result<Json<ShipmentAnswer>, ApiError> {
    let raw = json_body(&body)?;
    let given = raw.get("supplier_order_id");
    // JSON Schema counts 12.0 as an integer too.
    let whole = |v: &Value| {
        v.as_i64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
    };
    let Some(supplier_order_id) = given.and_then(whole) else {
        return Err(ApiError::invalid(
            "the body must be {\"supplier_order_id\": N}",
            vec![FieldError {
                field: "supplier_order_id".into(),
                value: given.map_or_else(|| "nothing".into(), |v| shortened(&v.to_string())),
                expected: "a supplier order id (a whole number)".into(),
            }],
        ));
    };
    let shipment = state
        .store
        .shipments()
        .match_to(p.id, supplier_order_id, &operator.actor)
        .await?;
    Ok(Json(ShipmentAnswer {
        shipment: shipment.into(),
    }))
}

/// At most 60 characters of `s`, with `…` when cut.
fn shortened(s: &str) -> String {
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s.to_owned()
    }
}

/// Set an unmatched shipment aside.
#[utoipa::path(
    post,
    path = "/api/v1/shipments/{id}/dismiss",
    tag = "shipments",
    params(IdPath),
    responses(
        (status = 200, description = "Dismissed", body = Dismissed),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such shipment", body = ApiError),
        (status = 409, description = "Not unmatched", body = ApiError),
    )
)]
async fn dismiss_shipment(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<IdPath>,
    operator: Operator,
) -> Result<Json<Dismissed>, ApiError> {
    state
        .store
        .shipments()
        .dismiss(p.id, &operator.actor)
        .await?;
    Ok(Json(Dismissed { dismissed: p.id }))
}
