//! `/api/v1/channels`: each channel's Shopware sync state, and syncing one now.

use axum::Json;
use axum::extract::State;
use serde_json::json;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{ApiError, ApiPath, ApiQuery, ErrorCode, Operator};
use crate::server::AppState;
use crate::views::{ChannelList, ChannelStatus, ChannelSync};

/// These operations, for [`super::token_routes`].
pub(super) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_channels))
        .routes(routes!(show_channel))
        .routes(routes!(sync_channel))
}

/// A channel's key in the path.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(super) struct ChannelPath {
    /// The channel key (`refurbished-direct`).
    #[param(pattern = "^[^\\u0000]*$")]
    key: String,
}

/// `full`.
#[derive(serde::Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct SyncQuery {
    /// Push every product, not only the changed ones (and retry the ones the shop did not take).
    full: Option<bool>,
}

/// Every channel with how its Shopware sync stands: rows waiting, the last push, the order
/// poll's position, the last error, products the shop did not take, orders that could not be
/// taken in.
#[utoipa::path(
    get,
    path = "/api/v1/channels",
    tag = "channels",
    responses(
        (status = 200, description = "The channels", body = ChannelList),
        (status = 401, description = "No valid API token", body = ApiError),
    )
)]
pub(super) async fn list_channels(
    State(state): State<AppState>,
) -> Result<Json<ChannelList>, ApiError> {
    let channels = ChannelStatus::list(&state.store, None).await?;
    Ok(Json(ChannelList { channels }))
}

/// One channel's Shopware sync state (as in the list).
#[utoipa::path(
    get,
    path = "/api/v1/channels/{key}",
    tag = "channels",
    params(ChannelPath),
    responses(
        (status = 200, description = "The channel", body = ChannelStatus),
        (status = 400, description = "A bad path parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 404, description = "No such channel", body = ApiError),
    )
)]
pub(super) async fn show_channel(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<ChannelPath>,
) -> Result<Json<ChannelStatus>, ApiError> {
    match ChannelStatus::list(&state.store, Some(&p.key)).await?.pop() {
        Some(channel) => Ok(Json(channel)),
        None => Err(ApiError::not_found(format!(
            "no channel `{}` (GET /api/v1/channels lists them)",
            p.key
        ))),
    }
}

/// Sync a channel with its Shopware shop now (as `irp channel sync`): push changed prices and
/// stock (every product with `full=true`), take in new orders, deliver tracking and
/// cancellations. A push or poll the shop failed is reported in the answer (`push.error`,
/// `orders_error`).
#[utoipa::path(
    post,
    path = "/api/v1/channels/{key}/sync",
    tag = "channels",
    params(ChannelPath, SyncQuery),
    responses(
        (status = 200, description = "What the sync did", body = ChannelSync),
        (status = 400, description = "A bad path or query parameter", body = ApiError),
        (status = 401, description = "No valid API token", body = ApiError),
        (status = 403, description = "A viewer's token", body = ApiError),
        (status = 404, description = "No such channel", body = ApiError),
        (status = 409, description = "The channel has no enabled shop, a credential reference cannot be resolved, or another instance syncs it right now", body = ApiError),
    )
)]
pub(super) async fn sync_channel(
    State(state): State<AppState>,
    ApiPath(p): ApiPath<ChannelPath>,
    ApiQuery(q): ApiQuery<SyncQuery>,
    operator: Operator,
) -> Result<Json<ChannelSync>, ApiError> {
    use irp_pipeline::channel::ChannelSyncError as E;
    let owner = format!("api:{}", operator.actor);
    let done = crate::ops::channel_sync_now(
        &state.store,
        &state.secret_key_file,
        &p.key,
        q.full.unwrap_or(false),
        false,
        &owner,
        None,
    )
    .await
    .map_err(|e| match e {
        crate::ops::ChannelSyncNowError::Sync(E::UnknownChannel(k)) => ApiError::not_found(
            format!("no channel `{k}` (GET /api/v1/channels lists them)"),
        ),
        e @ (crate::ops::ChannelSyncNowError::Busy { .. }
        | crate::ops::ChannelSyncNowError::Sync(E::NotConnected(_) | E::Missing { .. })) => {
            ApiError::conflict(e.to_string())
        }
        e => {
            tracing::error!(error = %e, "A channel sync failed");
            ApiError::new(ErrorCode::Internal, "the sync failed; IRP's log says why")
        }
    })?;
    if let Err(e) = state
        .store
        .audit(
            &operator.actor,
            "channel.sync",
            &p.key,
            json!({"full": q.full.unwrap_or(false), "pushed": done.push.pushed}),
        )
        .await
    {
        tracing::warn!(error = %e, "Auditing a channel sync failed");
    }
    Ok(Json(done.into()))
}
