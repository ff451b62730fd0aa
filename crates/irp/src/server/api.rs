//! The REST API under `/api/v1`, authenticated with API tokens (`Authorization: Bearer …`,
//! made with `irp token create NAME`).
//!
//! | Method and path | What |
//! |---|---|
//! | `POST /api/v1/orders` | take in an order document: 201 (new) or 200 (a repeat of channel + order number), 422 naming each bad field |
//! | `GET /api/v1/orders?status=&limit=` | the newest orders |
//! | `GET /api/v1/orders/{id}` | an order, its lines, supplier orders and their attempts |
//! | `GET /api/v1/supplier-orders?status=&limit=` | supplier orders, newest first |
//! | `POST /api/v1/supplier-orders/{id}/retry` | send a `failed` / `needs_attention` one again |
//! | `POST /api/v1/supplier-orders/{id}/cancel` | cancel one that is not under way or placed |
//! | `GET /api/v1/shipments?status=&refurbisher=&limit=` | shipments from the webhook, newest first |
//! | `GET /api/v1/shipments/{id}` | a shipment, its units and the payload as received |
//! | `POST /api/v1/shipments/{id}/match` | `{"supplier_order_id": N}`: link an unmatched shipment |
//! | `POST /api/v1/shipments/{id}/dismiss` | set an unmatched shipment aside |
//! | `GET /api/v1/alerts?all=true&refurbisher=&limit=` | open (or all) alerts |
//! | `GET /api/v1/monitor` | every refurbisher's metrics against its thresholds |
//! | `GET /api/v1/products?query=&sellable=&limit=&offset=` | products with their best offer |
//! | `GET /api/v1/products/{ean}` | a product: every offer priced with its breakdown and verdict, each channel |
//! | `GET /api/v1/offers/{refurbisher}/{sku}` | an offer and its price breakdown (each input, its source, each step) |
//!
//! Errors are JSON: `{"error": "…"}`, with `errors: [{field, value, expected}]` for 422.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use irp_store::StoreError;
use serde_json::{Value, json};

use super::AppState;

/// Who made a request: `token:<name>` for the audit log, and whether the token may change
/// things.
#[derive(Clone)]
struct Caller {
    actor: String,
    operator: bool,
}

impl Caller {
    /// The 403 answer unless the token is an operator's.
    fn refused(&self) -> Option<Response> {
        (!self.operator).then(|| {
            error(
                StatusCode::FORBIDDEN,
                "this token is a viewer's; taking orders in, retrying and cancelling need an operator token",
            )
        })
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({ "error": message.into() }))).into_response()
}

fn store_error(e: &StoreError) -> Response {
    match e {
        StoreError::NotFound(m) => error(StatusCode::NOT_FOUND, m.clone()),
        StoreError::Conflict(m) => error(StatusCode::CONFLICT, m.clone()),
        StoreError::Invalid(errors) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({ "error": "the order was not taken in", "errors": errors })),
        )
            .into_response(),
        other => {
            tracing::error!(error = %other, "API request failed");
            error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request failed on IRP's side; see IRP's log",
            )
        }
    }
}

/// The `/api/v1` routes.
pub fn routes(state: AppState) -> axum::Router<AppState> {
    axum::Router::new()
        .route("/api/v1/orders", post(create_order).get(list_orders))
        .route("/api/v1/orders/{id}", get(show_order))
        .route("/api/v1/supplier-orders", get(list_supplier_orders))
        .route("/api/v1/supplier-orders/{id}/retry", post(retry))
        .route("/api/v1/supplier-orders/{id}/cancel", post(cancel))
        .route("/api/v1/shipments", get(list_shipments))
        .route("/api/v1/shipments/{id}", get(show_shipment))
        .route("/api/v1/shipments/{id}/match", post(match_shipment))
        .route("/api/v1/shipments/{id}/dismiss", post(dismiss_shipment))
        .route("/api/v1/alerts", get(list_alerts))
        .route("/api/v1/monitor", get(monitor))
        .route("/api/v1/products", get(list_products))
        .route("/api/v1/products/{ean}", get(show_product))
        .route("/api/v1/offers/{refurbisher}/{sku}", get(show_offer))
        .route_layer(axum::middleware::from_fn_with_state(state, authenticate))
}

async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let refused = |why: &str| {
        let mut r = error(StatusCode::UNAUTHORIZED, why);
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    };
    let Some(token) = token else {
        return refused(
            "send an API token as `Authorization: Bearer <token>` (irp token create NAME)",
        );
    };
    match state.store.token_verify(token).await {
        Ok(Some(owner)) => {
            req.extensions_mut().insert(Caller {
                actor: format!("token:{}", owner.name),
                operator: owner.role == "operator",
            });
            next.run(req).await
        }
        Ok(None) => refused("the API token is not valid (revoked or mistyped)"),
        Err(e) => store_error(&e),
    }
}

#[derive(serde::Deserialize)]
struct ListQuery {
    status: Option<String>,
    limit: Option<i64>,
}

async fn create_order(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    body: Bytes,
) -> Response {
    if let Some(r) = caller.refused() {
        return r;
    }
    let raw: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body is not JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            );
        }
    };
    let doc = match irp_core::orders::parse_order(&raw) {
        Ok(d) => d,
        Err(errors) => return store_error(&StoreError::Invalid(errors)),
    };
    let intake = match state.store.order_create(&doc, &raw, &caller.actor).await {
        Ok(i) => i,
        Err(e) => return store_error(&e),
    };
    match order_body(&state, intake.order.id).await {
        Ok(mut v) => {
            v["created"] = Value::Bool(intake.created);
            let status = if intake.created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            (status, Json(v)).into_response()
        }
        Err(e) => store_error(&e),
    }
}

async fn order_body(state: &AppState, id: i64) -> Result<Value, StoreError> {
    let store = &state.store;
    let order = store
        .order_get(id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no order {id}")))?;
    let lines = store.order_lines(id).await?;
    let mut sos = Vec::new();
    for so in store.supplier_orders_of(id).await? {
        let attempts = store.supplier_order_attempts(so.id).await?;
        let mut v = serde_json::to_value(&so).unwrap_or(Value::Null);
        v["attempts_made"] = serde_json::to_value(attempts).unwrap_or(Value::Null);
        v["shipments"] =
            serde_json::to_value(store.shipments_of(so.id).await?).unwrap_or(Value::Null);
        sos.push(v);
    }
    Ok(json!({ "order": order, "lines": lines, "supplier_orders": sos }))
}

async fn list_orders(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Response {
    match state
        .store
        .orders_list(q.status.as_deref(), q.limit.unwrap_or(50).clamp(1, 1000))
        .await
    {
        Ok(list) => Json(json!({ "orders": list })).into_response(),
        Err(e) => store_error(&e),
    }
}

async fn show_order(State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    match order_body(&state, id).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => store_error(&e),
    }
}

async fn list_supplier_orders(
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Response {
    match state
        .store
        .supplier_orders_list(q.status.as_deref(), q.limit.unwrap_or(50).clamp(1, 1000))
        .await
    {
        Ok(list) => Json(json!({ "supplier_orders": list })).into_response(),
        Err(e) => store_error(&e),
    }
}

async fn retry(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = caller.refused() {
        return r;
    }
    match state.store.supplier_order_retry(id, &caller.actor).await {
        Ok(so) => Json(json!({ "supplier_order": so })).into_response(),
        Err(e) => store_error(&e),
    }
}

async fn cancel(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = caller.refused() {
        return r;
    }
    match state.store.supplier_order_cancel(id, &caller.actor).await {
        Ok(so) => Json(json!({ "supplier_order": so })).into_response(),
        Err(e) => store_error(&e),
    }
}

#[derive(serde::Deserialize)]
struct ShipmentQuery {
    status: Option<String>,
    refurbisher: Option<String>,
    all: Option<bool>,
    limit: Option<i64>,
}

/// The id of refurbisher `key`, or the 404 answer.
async fn refurbisher_id(state: &AppState, key: Option<&str>) -> Result<Option<i64>, Response> {
    let Some(key) = key else { return Ok(None) };
    match state.store.refurbisher_get(key).await {
        Ok(Some(r)) => Ok(Some(r.id)),
        Ok(None) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no refurbisher `{key}`"),
        )),
        Err(e) => Err(store_error(&e)),
    }
}

async fn list_shipments(State(state): State<AppState>, Query(q): Query<ShipmentQuery>) -> Response {
    let rid = match refurbisher_id(&state, q.refurbisher.as_deref()).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match state
        .store
        .shipments_list(
            rid,
            q.status.as_deref(),
            q.limit.unwrap_or(50).clamp(1, 1000),
        )
        .await
    {
        Ok(list) => Json(json!({ "shipments": list })).into_response(),
        Err(e) => store_error(&e),
    }
}

async fn show_shipment(State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    let found = match state.store.shipment_get(id).await {
        Ok(f) => f,
        Err(e) => return store_error(&e),
    };
    let Some((s, units)) = found else {
        return error(StatusCode::NOT_FOUND, format!("no shipment {id}"));
    };
    let payload = state.store.shipment_payload(id).await.ok().flatten();
    Json(json!({ "shipment": s, "units": units, "payload": payload })).into_response()
}

#[derive(serde::Deserialize)]
struct MatchBody {
    supplier_order_id: i64,
}

async fn match_shipment(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<i64>,
    body: Bytes,
) -> Response {
    if let Some(r) = caller.refused() {
        return r;
    }
    let b: MatchBody = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": "the body must be {\"supplier_order_id\": N}",
                    "errors": [{"field": "supplier_order_id", "value": String::from_utf8_lossy(&body).chars().take(60).collect::<String>(),
                        "expected": format!("a supplier order id ({e})")}]
                })),
            )
                .into_response();
        }
    };
    match state
        .store
        .shipment_match(id, b.supplier_order_id, &caller.actor)
        .await
    {
        Ok(s) => Json(json!({ "shipment": s })).into_response(),
        Err(e) => store_error(&e),
    }
}

async fn dismiss_shipment(
    State(state): State<AppState>,
    axum::Extension(caller): axum::Extension<Caller>,
    Path(id): Path<i64>,
) -> Response {
    if let Some(r) = caller.refused() {
        return r;
    }
    match state.store.shipment_dismiss(id, &caller.actor).await {
        Ok(()) => Json(json!({ "dismissed": id })).into_response(),
        Err(e) => store_error(&e),
    }
}

async fn list_alerts(State(state): State<AppState>, Query(q): Query<ShipmentQuery>) -> Response {
    let rid = match refurbisher_id(&state, q.refurbisher.as_deref()).await {
        Ok(r) => r,
        Err(r) => return r,
    };
    match state
        .store
        .alerts_list(
            !q.all.unwrap_or(false),
            rid,
            q.limit.unwrap_or(50).clamp(1, 1000),
        )
        .await
    {
        Ok(list) => Json(json!({ "alerts": list })).into_response(),
        Err(e) => store_error(&e),
    }
}

async fn monitor(State(state): State<AppState>) -> Response {
    match irp_pipeline::monitor::readings(&state.store, irp_store::now()).await {
        Ok(r) => Json(json!({ "refurbishers": r })).into_response(),
        Err(e) => store_error(&e),
    }
}

fn internal(e: &anyhow::Error) -> Response {
    tracing::error!(error = %e, "API request failed");
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the request failed on IRP's side; see IRP's log",
    )
}

#[derive(serde::Deserialize)]
struct ProductQuery {
    query: Option<String>,
    sellable: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list_products(State(state): State<AppState>, Query(q): Query<ProductQuery>) -> Response {
    match crate::catalog_cmd::products_json(
        &state.store,
        q.query.as_deref(),
        q.sellable.unwrap_or(false),
        q.limit.unwrap_or(50).clamp(1, 1000),
        q.offset.unwrap_or(0).max(0),
    )
    .await
    {
        Ok(list) => Json(json!({ "products": list })).into_response(),
        Err(e) => internal(&e),
    }
}

async fn show_product(State(state): State<AppState>, Path(ean): Path<String>) -> Response {
    let view = match crate::catalog_cmd::ProductView::load(&state.store, &ean).await {
        Ok(Some(v)) => v,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no product with EAN {ean:?}"),
            );
        }
        Err(e) => return internal(&e),
    };
    match view.to_json(&state.store).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(&e),
    }
}

async fn show_offer(
    State(state): State<AppState>,
    Path((key, sku)): Path<(String, String)>,
) -> Response {
    let r = match state.store.refurbisher_get(&key).await {
        Ok(Some(r)) => r,
        Ok(None) => return error(StatusCode::NOT_FOUND, format!("no refurbisher `{key}`")),
        Err(e) => return store_error(&e),
    };
    match crate::feed_cmd::OfferView::load(&state.store, r, &sku).await {
        Ok(Some(v)) => Json(v.to_json()).into_response(),
        Ok(None) => error(
            StatusCode::NOT_FOUND,
            format!("`{key}` has no offer with SKU {sku:?}"),
        ),
        Err(e) => internal(&e),
    }
}
