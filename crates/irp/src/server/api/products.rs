//! `/api/v1/products` and `/api/v1/offers`: the catalog, each offer's price breakdown.

use axum::Json;
use axum::extract::State;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiPath, ApiQuery, MAX_PRODUCT_OFFSET, Page};
use crate::server::AppState;
use crate::views::{OfferDetail, OfferPricing, Product, ProductDetail, ProductList};

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_products))
        .routes(routes!(show_product))
        .routes(routes!(show_offer))
}

/// `query`, `sellable`, `limit`, `offset` of the product list.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ProductQuery {
    /// An EAN prefix or part of the name.
    #[param(pattern = "^[^\\u0000]*$")]
    query: Option<String>,
    /// Only products with a best offer.
    sellable: Option<bool>,
    /// Page size.
    #[param(minimum = 1, maximum = 500, default = 50)]
    limit: Option<i64>,
    /// Rows to skip.
    #[param(minimum = 0, maximum = 1_000_000_000, default = 0)]
    offset: Option<i64>,
}

/// A product's EAN in the path.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct EanPath {
    /// The EAN.
    #[param(pattern = "^[^\\u0000]*$")]
    ean: String,
}

/// An offer in the path.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
struct OfferPath {
    /// The refurbisher's key.
    #[param(pattern = "^[^\\u0000]*$")]
    refurbisher: String,
    /// The refurbisher's SKU.
    #[param(pattern = "^[^\\u0000]*$")]
    sku: String,
}

/// Products (by EAN or name) with their best offer, by EAN (as `irp products list --json`).
#[utoipa::path(
    get,
    path = "/api/v1/products",
    tag = "catalog",
    params(ProductQuery),
    responses(
        (status = 200, description = "A page of products, by EAN", body = ProductList),
        (status = 400, description = "A bad query parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
async fn list_products(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ProductQuery>,
) -> Result<Json<ProductList>, ApiError> {
    let page = Page::new(q.limit, q.offset, MAX_PRODUCT_OFFSET)?;
    let rows = Product::list(
        &state.store,
        q.query.as_deref(),
        q.sellable.unwrap_or(false),
        page.limit + 1,
        page.offset,
    )
    .await?;
    let (products, next_offset) = page.cut_from_offset(rows);
    Ok(Json(ProductList {
        products,
        next_offset,
    }))
}

/// A product: every offer priced with its breakdown, verdict and reason, and each channel's
/// view (as `irp products show EAN --json`).
#[utoipa::path(
    get,
    path = "/api/v1/products/{ean}",
    tag = "catalog",
    params(EanPath),
    responses(
        (status = 200, description = "The product", body = ProductDetail),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No product or offer with this EAN", body = ApiError),
    )
)]
async fn show_product(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<EanPath>,
) -> Result<Json<ProductDetail>, ApiError> {
    let ean = p.ean;
    match ProductDetail::load(&state.store, &ean).await? {
        Some(detail) => Ok(Json(detail)),
        None => Err(ApiError::not_found(format!("no product with EAN {ean:?}"))),
    }
}

/// An offer and its price breakdown: each input with its value and where it came from, each
/// step (as `irp offers show KEY SKU --json`).
#[utoipa::path(
    get,
    path = "/api/v1/offers/{refurbisher}/{sku}",
    tag = "catalog",
    params(OfferPath),
    responses(
        (status = 200, description = "The offer", body = OfferDetail),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such refurbisher or offer", body = ApiError),
    )
)]
async fn show_offer(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<OfferPath>,
) -> Result<Json<OfferDetail>, ApiError> {
    let (key, sku) = (p.refurbisher, p.sku);
    let Some(r) = state.store.refurbishers().get(&key).await? else {
        return Err(ApiError::not_found(format!("no refurbisher `{key}`")));
    };
    match OfferPricing::load(&state.store, r, &sku).await? {
        Some(p) => Ok(Json(OfferDetail::from(&p))),
        None => Err(ApiError::not_found(format!(
            "`{key}` has no offer with SKU {sku:?}"
        ))),
    }
}
