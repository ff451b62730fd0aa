//! The REST API under `/api/v1`, authenticated with API tokens (`Authorization: Bearer …`,
//! made with `irp token create NAME`). Its OpenAPI document, generated from these handlers, is
//! at `GET /api/v1/openapi.json` (no token needed; it holds no data).
//!
//! | Method and path | What |
//! |---|---|
//! | `GET /api/v1/openapi.json` | the OpenAPI 3.1 document of this API (no token) |
//! | `POST /api/v1/orders` | take in an order document: 201 (new) or 200 (a repeat of channel + order number), 422 naming each bad field |
//! | `GET /api/v1/orders?status=&limit=&offset=` | the newest orders |
//! | `GET /api/v1/orders/{id}` | an order, its lines, supplier orders and their attempts |
//! | `GET /api/v1/supplier-orders?status=&limit=&offset=` | supplier orders, newest first |
//! | `POST /api/v1/supplier-orders/{id}/retry` | send a `failed` / `needs_attention` one again |
//! | `POST /api/v1/supplier-orders/{id}/erp-retry` | record a `failed` Odoo document again |
//! | `POST /api/v1/supplier-orders/{id}/cancel` | cancel one that is not under way or placed |
//! | `GET /api/v1/shipments?status=&refurbisher=&limit=&offset=` | shipments from the webhook, newest first |
//! | `GET /api/v1/shipments/{id}` | a shipment, its units and the payload as received |
//! | `POST /api/v1/shipments/{id}/match` | `{"supplier_order_id": N}`: link an unmatched shipment |
//! | `POST /api/v1/shipments/{id}/dismiss` | set an unmatched shipment aside |
//! | `GET /api/v1/alerts?all=true&refurbisher=&limit=&offset=` | open (or all) alerts |
//! | `GET /api/v1/monitor` | every refurbisher's metrics against its thresholds |
//! | `GET /api/v1/products?query=&sellable=&limit=&offset=` | products with their best offer |
//! | `GET /api/v1/products/{ean}` | a product: every offer priced with its breakdown and verdict, each channel |
//! | `GET /api/v1/offers/{refurbisher}/{sku}` | an offer and its price breakdown (each input, its source, each step) |
//!
//! What the portal's pages do with refurbishers, feed runs, previews, imports, uploads, webhook
//! tokens, credentials, held prices, channels and the audit log is in [`refurbishers`],
//! [`feeds`], [`prices`], [`channels`] and [`audit`]; the OpenAPI document lists every
//! operation. Each resource's handlers live in their own module (`orders`, `supplier_orders`,
//! `shipments`, `monitoring`, `products`, …), whose `routes()` [`token_routes`] merges.
//!
//! Handlers return `Result<Json<V>, ApiError>`, where `V` is a view from [`crate::views`] — the
//! same types `irp … --json` prints and, through their `ToSchema`, the schemas of the OpenAPI
//! document ([`super::openapi`]). A store error or an `anyhow` error becomes the answer below
//! with `?`, and an operation that changes something takes the [`Operator`] extractor, which
//! answers a viewer's token 403.
//!
//! **Lists** take `limit` (1 to 500, default 50) and `offset` (0 to 10,000; for products up to
//! 1,000,000,000) and answer `{"<things>": [...], "next_offset": N}`: `next_offset` is the
//! `offset` of the next page, `null` on the last one.
//!
//! **Errors** are JSON: `{"code": "…", "error": "…"}`. `error` is for people; `code` is stable:
//!
//! | `code` | HTTP status | When |
//! |---|---|---|
//! | `unauthorized` | 401 | no API token, or one that is revoked or mistyped (with `WWW-Authenticate: Bearer`) |
//! | `forbidden` | 403 | a viewer's token on an operation that changes something |
//! | `not_found` | 404 | no such order, supplier order, shipment, refurbisher, product, offer or path |
//! | `conflict` | 409 | the thing is not in a state that allows it (retrying a submitted supplier order, …) |
//! | `invalid` | 422 | a body that is JSON but not what is expected; `errors: [{field, value, expected}]` names each bad field |
//! | `bad_request` | 400 | a body that is not JSON, a bad query or path parameter (the message names it); also 405 for a method the path does not take and 413 for a body over 2 MiB |
//! | `rate_limited` | 429 | too many requests (not answered by `/api/v1` today) |
//! | `internal` | 500 | IRP failed (its log says why) |

use std::sync::OnceLock;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, RawPathParams, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use irp_store::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use utoipa::{IntoParams, OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

mod audit;
mod channels;
mod feeds;
mod monitoring;
mod order_document;
mod orders;
mod prices;
mod products;
mod refurbishers;
mod shipments;
mod supplier_orders;

use super::AppState;
use crate::views::FieldError;

// ---------------------------------------------------------------------------------------------
// Errors.

/// The machine-readable kind of an error answer; stable, unlike the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 401: no API token, or not a valid one.
    Unauthorized,
    /// 403: the token may not do this (a viewer's token changing something).
    Forbidden,
    /// 404: no such thing (or path).
    NotFound,
    /// 409: the thing is not in a state that allows this.
    Conflict,
    /// 422: JSON that is not what is expected; `errors` names each bad field.
    Invalid,
    /// 400: a body that is not JSON, a bad query or path parameter (405 for a method the path
    /// does not take, 413 for a body that is too large).
    BadRequest,
    /// 429: too many requests.
    RateLimited,
    /// 500: IRP failed; its log says why.
    Internal,
}

impl ErrorCode {
    /// The HTTP status this code is usually answered with.
    pub fn status(self) -> StatusCode {
        match self {
            ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorCode::Forbidden => StatusCode::FORBIDDEN,
            ErrorCode::NotFound => StatusCode::NOT_FOUND,
            ErrorCode::Conflict => StatusCode::CONFLICT,
            ErrorCode::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorCode::BadRequest => StatusCode::BAD_REQUEST,
            ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The message of every 500 answer (the log says why).
const INTERNAL_MESSAGE: &str = "the request failed on IRP's side; see IRP's log";

// Its status and headers (`Retry-After`, `WWW-Authenticate`) are not serialized; the body is
// `{"code", "error", "errors"?}`. Handlers return `Result<_, ApiError>`; a `StoreError` or an
// `anyhow::Error` becomes one with `?`. (The doc comment is the schema's description.)
/// Every error answer of the API.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiError {
    /// The answer's status (usually the code's).
    #[serde(skip)]
    status: StatusCode,
    /// Headers the answer carries besides the body's.
    #[serde(skip)]
    headers: Vec<(HeaderName, HeaderValue)>,
    /// What kind of error; stable.
    code: ErrorCode,
    /// What went wrong, for people.
    #[schema(example = "no order 12")]
    error: String,
    /// With `invalid`: each bad field, its value and what was expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<Vec<FieldError>>,
}

impl ApiError {
    /// An error answered with `code`'s usual status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError::with_status(code.status(), code, message)
    }

    /// An error answered with another status than `code`'s (405 and 413 are `bad_request`).
    pub fn with_status(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            headers: Vec::new(),
            code,
            error: message.into(),
            errors: None,
        }
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::NotFound, message)
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::Conflict, message)
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(ErrorCode::BadRequest, message)
    }

    /// 422 `invalid`, naming each bad field.
    pub fn invalid(
        message: impl Into<String>,
        errors: Vec<irp_core::orders::FieldError>,
    ) -> ApiError {
        ApiError {
            errors: Some(errors.into_iter().map(Into::into).collect()),
            ..ApiError::new(ErrorCode::Invalid, message)
        }
    }

    /// 500 `internal` with the generic message, after logging `why`.
    pub fn internal(why: &dyn std::fmt::Display) -> ApiError {
        tracing::error!(error = %why, "API request failed");
        ApiError::new(ErrorCode::Internal, INTERNAL_MESSAGE)
    }

    /// The answer with a header too.
    pub fn header(mut self, name: HeaderName, value: HeaderValue) -> ApiError {
        self.headers.push((name, value));
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        let headers = std::mem::take(&mut self.headers);
        let mut r = (self.status, Json(self)).into_response();
        for (name, value) in headers {
            r.headers_mut().insert(name, value);
        }
        r
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(m) => ApiError::not_found(m),
            StoreError::Conflict(m) => ApiError::conflict(m),
            StoreError::Invalid(errors) => ApiError::invalid("the order was not taken in", errors),
            other => ApiError::internal(&other),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(&e)
    }
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::BadRequest,
        format!(
            "{} does not take {method} (the Allow header lists what it takes; see /api/v1/openapi.json)",
            uri.path()
        ),
    )
}

async fn unknown_path(uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no API operation at {}; see /api/v1/openapi.json",
        uri.path()
    ))
}

// ---------------------------------------------------------------------------------------------
// Extractors that answer JSON errors naming the parameter (axum's own answer plain text).

/// `Query<T>`, refusing a bad query string with a JSON `bad_request` that names the parameter,
/// and any parameter with a NUL character (no stored text has one; PostgreSQL refuses them).
struct ApiQuery<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let raw = parts.uri.query().unwrap_or("");
        if let Ok(pairs) = serde_urlencoded::from_str::<Vec<(String, String)>>(raw)
            && let Some((name, _)) = pairs
                .iter()
                .find(|(k, v)| k.contains('\0') || v.contains('\0'))
        {
            return Err(ApiError::bad_request(format!(
                "query parameter `{name}` contains a NUL character"
            )));
        }
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(t)) => Ok(ApiQuery(t)),
            Err(e) => {
                let text = e.body_text();
                let detail = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text);
                // serde_path_to_error puts the parameter first: `limit: invalid digit …`.
                let message = match detail.split_once(": ") {
                    Some((name, why)) if !name.is_empty() && !name.contains(' ') => {
                        format!("query parameter `{name}`: {why}")
                    }
                    _ => format!("bad query string: {detail}"),
                };
                Err(ApiError::bad_request(message))
            }
        }
    }
}

/// `Path<T>`, refusing a bad path parameter with a JSON `bad_request` that names it, and one
/// with a NUL character.
struct ApiPath<T>(T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::path::ErrorKind;
        use axum::extract::rejection::PathRejection;
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await
            && let Some((name, _)) = raw.iter().find(|(_, v)| v.contains('\0'))
        {
            return Err(ApiError::bad_request(format!(
                "path parameter `{name}` contains a NUL character"
            )));
        }
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(ApiPath(t)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => {
                let message = match e.kind() {
                    ErrorKind::ParseErrorAtKey {
                        key,
                        value,
                        expected_type,
                    } => format!(
                        "path parameter `{key}`: {value:?} is not {}",
                        expected(expected_type)
                    ),
                    ErrorKind::InvalidUtf8InPathParam { key } => {
                        format!("path parameter `{key}` is not UTF-8")
                    }
                    other => format!("bad path parameter: {other}"),
                };
                Err(ApiError::bad_request(message))
            }
            Err(other) => {
                tracing::error!(error = %other.body_text(), "API path parameters missing");
                Err(ApiError::new(ErrorCode::Internal, INTERNAL_MESSAGE))
            }
        }
    }
}

/// What a Rust type name means to a caller.
fn expected(rust_type: &str) -> &'static str {
    match rust_type {
        "i64" | "i32" | "u64" | "u32" => "a whole number",
        "bool" => "true or false",
        _ => "valid",
    }
}

/// The request body as bytes, refusing one that is too large (413) or cannot be read with a
/// JSON `bad_request`.
struct ApiBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        match Bytes::from_request(req, state).await {
            Ok(b) => Ok(ApiBody(b)),
            Err(e) => Err(ApiError::with_status(
                e.status(),
                ErrorCode::BadRequest,
                format!("the body could not be read: {}", e.body_text()),
            )),
        }
    }
}

/// The body as JSON, or the 400 answer naming where it stops being JSON.
fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not JSON: {e} (line {}, column {})",
            e.line(),
            e.column()
        ))
    })
}

// ---------------------------------------------------------------------------------------------
// Pagination.

/// Default page size.
const DEFAULT_LIMIT: i64 = 50;
/// Largest page.
const MAX_LIMIT: i64 = 500;
/// Largest offset of the lists whose store query has no offset (IRP reads the rows before the
/// page too).
const MAX_OFFSET: i64 = 10_000;
/// Largest offset of the product list (its store query has an offset).
const MAX_PRODUCT_OFFSET: i64 = 1_000_000_000;

/// A checked `limit` and `offset`.
#[derive(Debug, Clone, Copy)]
struct Page {
    limit: i64,
    offset: i64,
}

impl Page {
    /// The page asked for, or the 400 answer naming the parameter out of range.
    fn new(limit: Option<i64>, offset: Option<i64>, max_offset: i64) -> Result<Page, ApiError> {
        let limit = limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::bad_request(format!(
                "query parameter `limit`: {limit} is not from 1 to {MAX_LIMIT}"
            )));
        }
        let offset = offset.unwrap_or(0);
        if !(0..=max_offset).contains(&offset) {
            return Err(ApiError::bad_request(format!(
                "query parameter `offset`: {offset} is not from 0 to {max_offset}"
            )));
        }
        Ok(Page { limit, offset })
    }

    /// How many rows to ask a store query without an offset for: the rows before this page,
    /// the page, and one more to know whether a next page exists.
    fn rows_through(self) -> i64 {
        self.offset + self.limit + 1
    }

    /// This page of `rows` (read from the first row, [`Page::rows_through`] of them) and the
    /// next page's offset.
    fn cut<T>(self, rows: Vec<T>) -> (Vec<T>, Option<i64>) {
        let skip = usize::try_from(self.offset).unwrap_or(usize::MAX);
        self.cut_from_offset(rows.into_iter().skip(skip).collect())
    }

    /// This page of `rows` read from `offset` (`limit + 1` of them) and the next page's offset.
    fn cut_from_offset<T>(self, mut rows: Vec<T>) -> (Vec<T>, Option<i64>) {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        if rows.len() > limit {
            rows.truncate(limit);
            (rows, Some(self.offset + self.limit))
        } else {
            (rows, None)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Routes and authentication.

/// Who made a request: `token:<name>` for the audit log, and whether the token may change
/// things. [`authenticate`] puts it into the request's extensions.
#[derive(Clone)]
struct Caller {
    actor: String,
    operator: bool,
}

/// A caller whose token may change things (an operator's): the extractor of every operation
/// that changes something, answering a viewer's token 403. It comes after the path and query
/// extractors (a bad parameter is answered 400 first).
struct Operator {
    /// `token:<name>`, for the audit log.
    actor: String,
}

impl<S: Send + Sync> FromRequestParts<S> for Operator {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(caller) = parts.extensions.get::<Caller>() else {
            return Err(ApiError::internal(
                &"an operation that changes something is not behind `authenticate`",
            ));
        };
        if !caller.operator {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this token is a viewer's; taking orders in, retrying, cancelling, matching and dismissing need an operator token",
            ));
        }
        Ok(Operator {
            actor: caller.actor.clone(),
        })
    }
}

/// The operations that need a token, with their documentation.
fn token_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(super::openapi::ApiDoc::openapi())
        .merge(orders::routes())
        .merge(supplier_orders::routes())
        .merge(shipments::routes())
        .merge(monitoring::routes())
        .merge(products::routes())
        .merge(refurbishers::routes())
        .merge(feeds::routes())
        .merge(prices::routes())
        .merge(audit::routes())
        .merge(channels::routes())
}

/// The operations that need no token.
fn open_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The OpenAPI document of every `/api/v1` operation [`routes`] serves.
pub fn document() -> utoipa::openapi::OpenApi {
    token_routes().merge(open_routes()).into_openapi()
}

/// The `/api/v1` routes: the documented operations (all but `openapi.json` behind a token),
/// JSON answers for a method a path does not take (405) and for an unknown `/api/v1` path.
pub fn routes(state: AppState) -> axum::Router<AppState> {
    let (with_token, _) = token_routes().split_for_parts();
    let (open, _) = open_routes().split_for_parts();
    with_token
        .method_not_allowed_fallback(method_not_allowed)
        .route_layer(axum::middleware::from_fn_with_state(state, authenticate))
        .merge(open)
        .route("/api/v1/{*rest}", axum::routing::any(unknown_path))
        .method_not_allowed_fallback(method_not_allowed)
}

async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let refused = |why: &str| {
        ApiError::new(ErrorCode::Unauthorized, why)
            .header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
            .into_response()
    };
    let Some(token) = token else {
        return refused(
            "send an API token as `Authorization: Bearer <token>` (irp token create NAME)",
        );
    };
    match state.store.tokens().verify(token).await {
        Ok(Some(owner)) => {
            req.extensions_mut().insert(Caller {
                actor: format!("token:{}", owner.name),
                operator: owner.role.may_change(),
            });
            next.run(req).await
        }
        Ok(None) => refused("the API token is not valid (revoked or mistyped)"),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    tag = "meta",
    security(()),
    responses((status = 200, description = "The OpenAPI document of this API", body = Object))
)]
async fn openapi_json() -> Response {
    static DOC: OnceLock<String> = OnceLock::new();
    let doc = DOC.get_or_init(|| {
        document()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"code\":\"internal\",\"error\":\"{e}\"}}"))
    });
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        doc.clone(),
    )
        .into_response()
}

// ---------------------------------------------------------------------------------------------
// Parameters and answers.

/// A numeric id in the path.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct IdPath {
    /// The id.
    id: i64,
}

/// `status`, `limit`, `offset`.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct StatusQuery {
    /// Only this status (`routed` / `needs_attention` for orders; `pending`, `submitting`,
    /// `submitted`, `needs_attention`, `failed`, `internal`, `shipped`, `cancelled` for supplier
    /// orders).
    #[param(pattern = "^[^\\u0000]*$")]
    status: Option<String>,
    /// Page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Rows to skip.
    #[param(minimum = 0, maximum = 10000, default = 0)]
    offset: Option<i64>,
}

/// The id of refurbisher `key` (`None` without one), or the 404 answer.
async fn refurbisher_id(state: &AppState, key: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(key) = key else { return Ok(None) };
    match state.store.refurbishers().get(key).await? {
        Some(r) => Ok(Some(r.id)),
        None => Err(ApiError::not_found(format!("no refurbisher `{key}`"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_is_cut_from_the_rows_before_it_and_names_the_next() {
        let page = Page::new(Some(2), Some(3), MAX_OFFSET).unwrap_or_else(|_| unreachable!());
        assert_eq!(page.rows_through(), 6);
        assert_eq!(page.cut((0..6).collect()), (vec![3, 4], Some(5)));
        assert_eq!(page.cut((0..5).collect()), (vec![3, 4], None));
        assert_eq!(page.cut((0..2).collect()), (Vec::<i32>::new(), None));
        assert_eq!(page.cut_from_offset(vec![3, 4, 5]), (vec![3, 4], Some(5)));
        assert_eq!(page.cut_from_offset(vec![3]), (vec![3], None));
    }

    #[test]
    fn limits_and_offsets_out_of_range_are_refused() {
        for (limit, offset) in [(0, 0), (501, 0), (1, -1), (1, MAX_OFFSET + 1)] {
            let Err(r) = Page::new(Some(limit), Some(offset), MAX_OFFSET) else {
                panic!("{limit}, {offset} taken");
            };
            assert_eq!(r.code, ErrorCode::BadRequest);
        }
        let page = Page::new(None, None, MAX_OFFSET).unwrap_or_else(|_| unreachable!());
        assert_eq!((page.limit, page.offset), (DEFAULT_LIMIT, 0));
    }

    #[test]
    fn error_codes_are_snake_case_and_documented_as_an_enum() {
        let v = serde_json::to_value(ErrorCode::NotFound).unwrap_or_default();
        assert_eq!(v, "not_found");
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
        assert_eq!(
            codes,
            &serde_json::json!([
                "unauthorized",
                "forbidden",
                "not_found",
                "conflict",
                "invalid",
                "bad_request",
                "rate_limited",
                "internal"
            ]),
            "{doc:#}"
        );
        assert_eq!(doc["info"]["title"], super::super::openapi::TITLE);
    }

    #[test]
    fn every_answer_but_the_document_itself_is_a_named_view() {
        let doc = serde_json::to_value(document()).unwrap_or_default();
        let schemas = &doc["components"]["schemas"];
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().into_iter().flatten() {
            for (method, op) in item.as_object().into_iter().flatten() {
                for (status, answer) in op["responses"].as_object().into_iter().flatten() {
                    if !status.starts_with('2') || path.ends_with("/openapi.json") {
                        continue;
                    }
                    let schema = &answer["content"]["application/json"]["schema"]["$ref"];
                    let name = schema
                        .as_str()
                        .and_then(|r| r.strip_prefix("#/components/schemas/"));
                    assert!(
                        name.is_some_and(|n| schemas[n].is_object()),
                        "{method} {path} {status}: {answer}"
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen > 30, "{seen}");
    }
}
