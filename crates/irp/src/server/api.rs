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
