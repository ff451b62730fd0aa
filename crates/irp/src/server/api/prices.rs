//! `/api/v1/prices`: purchase price changes held for an operator, and deciding one.

use axum::Json;
use axum::extract::State;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::refurbishers::refurbisher;
use super::{ApiError, ApiPath, ApiQuery, Operator};
use crate::server::AppState;
use crate::views::{HeldPrices, PriceDecided};

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(prices_held))
        .routes(routes!(decide_price))
}

/// `refurbisher`.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct HeldQuery {
    /// Only this refurbisher's.
    #[param(pattern = "^[^\\u0000]*$")]
    refurbisher: Option<String>,
}

/// Purchase price changes held for an operator (beyond `max_price_change_ratio`), oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/prices/held",
    tag = "catalog",
    params(HeldQuery),
    responses(
        (status = 200, description = "The held offers", body = HeldPrices),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such refurbisher", body = ApiError),
    )
)]
pub(super) async fn prices_held(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<HeldQuery>,
) -> Result<Json<HeldPrices>, ApiError> {
    let id = match q.refurbisher.as_deref() {
        Some(k) => Some(refurbisher(&state, k).await?.id),
        None => None,
    };
    let held = state.store.offers().held_prices(id, false, 500).await?;
    Ok(Json(HeldPrices {
        held: held.into_iter().map(Into::into).collect(),
    }))
}

/// The offer of a decision.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct OfferPath {
    /// The refurbisher's key.
    #[param(pattern = "^[^\\u0000]*$")]
    refurbisher: String,
    /// The offer's SKU.
    #[param(pattern = "^[^\\u0000]*$")]
    sku: String,
    /// `accept` (the feed's price applies) or `reject` (the old one stays).
    #[param(pattern = "^(accept|reject)$")]
    decision: String,
}

/// Decide a held purchase price change.
#[utoipa::path(
    post,
    path = "/api/v1/prices/{refurbisher}/{sku}/{decision}",
    tag = "catalog",
    params(OfferPath),
    responses(
        (status = 200, description = "The offer as it is now", body = PriceDecided),
        (status = 400, description = "A decision other than accept or reject", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such refurbisher or offer, or nothing held", body = ApiError),
    )
)]
pub(super) async fn decide_price(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<OfferPath>,
    operator: Operator,
) -> Result<Json<PriceDecided>, ApiError> {
    let accept = match p.decision.as_str() {
        "accept" => true,
        "reject" => false,
        other => {
            return Err(ApiError::bad_request(format!(
                "decision {other:?}: expected accept or reject"
            )));
        }
    };
    let r = refurbisher(&state, &p.refurbisher).await?;
    let o =
        irp_pipeline::catalog::decide_price(&state.store, r.id, &p.sku, accept, &operator.actor)
            .await?;
    state.store.catalog_signal().notify_one();
    Ok(Json(PriceDecided { offer: o.into() }))
}
