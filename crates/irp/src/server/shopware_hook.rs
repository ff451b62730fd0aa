//! Orders from the channels' Shopware shops: `POST /webhook/shopware/{channel}`, where IRP's
//! Shopware app registers the `checkout.order.placed` webhook
//! (`contracts/EXTERNAL-APIS.md` §1.9).
//!
//! | Answer | When |
//! |---|---|
//! | 200 `{"status": "created", "order_id": …}` | the order was read from the shop and taken in |
//! | 200 `{"status": "repeat"}` | IRP has the order already |
//! | 200 `{"status": "ignored"}` | another event than `checkout.order.placed` |
//! | 202 `{"status": "stored_for_review", "error": …}` | IRP cannot read the order: kept in the channel inbox (`irp channel status`) |
//! | 401 `{"error": "unauthorized"}` | the `shopware-shop-signature` is not the HMAC-SHA256 of the body with the shop secret, or there is no such channel, or it has no `shopware.shop_secret` — the same answer for each, so a caller cannot tell which channels exist |
//! | 413 | a body over [`MAX_BODY`] |
//! | 422 | a signed body that is not a webhook body |
//! | 429 | over the rate limit of the sender's address (`Retry-After`) |
//! | 503 | the shop or IRP's database failed (`Retry-After`): Shopware sends it again, and the order poll takes it in anyway |
//!
//! The signature is checked before anything else is done with the request: only the
//! channel's shop secret is looked up before it, and the body is not parsed until it holds.
//! The webhook only says which order was placed: IRP reads the order from the Admin API with
//! every association it needs (the webhook's copy is the store API's and lacks fields).

use std::net::SocketAddr;

use axum::Json;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use irp_pipeline::channel::{self, ChannelSyncError, TakeIn};
use serde_json::{Value, json};

use super::AppState;

/// The largest body taken: 2 MiB (an order with its associations).
pub const MAX_BODY: usize = 2 * 1024 * 1024;

/// The path pattern.
pub const ROUTE: &str = "/webhook/shopware/{channel}";

fn count(outcome: &'static str) {
    metrics::counter!("irp_shopware_webhooks_total", "outcome" => outcome).increment(1);
}

fn answer(status: StatusCode, body: Value) -> Response {
    (status, Json(body)).into_response()
}

/// The one answer to an unknown channel, a channel without a shop secret and a bad signature.
fn unauthorized() -> Response {
    answer(StatusCode::UNAUTHORIZED, json!({"error": "unauthorized"}))
}

fn retry_later(why: &dyn std::fmt::Display) -> Response {
    count("error");
    tracing::warn!(error = %why, "A Shopware order webhook could not be handled; Shopware sends it again");
    let mut r = answer(
        StatusCode::SERVICE_UNAVAILABLE,
        json!({"error": "the order could not be taken in now; send it again"}),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    r
}

/// The handler of [`ROUTE`].
pub async fn order_placed(
    State(state): State<AppState>,
    Path(channel): Path<String>,
    req: Request<Body>,
) -> Response {
    let (parts, body) = req.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0);
    if let Some(ip) = super::webhook::source(&state, &parts.headers, peer)
        && let Err(wait) = state.webhook.limiter.check(ip)
    {
        count("rate_limited");
        let mut r = answer(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "error": format!("too many requests from {ip}; wait {wait} s") }),
        );
        if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        count("too_large");
        return answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            json!({"error": format!("the body is larger than {} MiB", MAX_BODY / 1024 / 1024)}),
        );
    };
    let signature = parts
        .headers
        .get("shopware-shop-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if signature.is_empty() {
        count("bad_signature");
        return unauthorized();
    }
    // The channel's shop secret, and nothing else, before the signature is checked.
    let secret_key = crate::secret_key::load(&state.secret_key_file, false).ok();
    let shop = match channel::connect(&state.store, secret_key.as_ref(), &channel).await {
        Ok(s) => s,
        Err(ChannelSyncError::UnknownChannel(_) | ChannelSyncError::NotConnected(_)) => {
            count("bad_signature");
            return unauthorized();
        }
        Err(e) => return retry_later(&e),
    };
    if !shop.verify(&bytes, signature) {
        count("bad_signature");
        tracing::warn!(channel = %channel, "A Shopware webhook with a wrong or missing signature was refused");
        return unauthorized();
    }
    let body: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            count("rejected");
            return answer(
                StatusCode::UNPROCESSABLE_ENTITY,
                json!({"error": format!("the body is not JSON ({e})")}),
            );
        }
    };
    let event = body.pointer("/data/event").and_then(Value::as_str);
    if event != Some("checkout.order.placed") {
        count("ignored");
        return answer(StatusCode::OK, json!({"status": "ignored", "event": event}));
    }
    let order_id = match irp_core::shopware::order::order_of_webhook(&body) {
        Ok((id, _)) => id.to_owned(),
        Err(why) => {
            count("rejected");
            return answer(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": why}));
        }
    };
    match channel::take_in_by_id(&state.store, &shop, &order_id, "webhook").await {
        Ok(TakeIn::Created { order_id }) => {
            count("created");
            answer(
                StatusCode::OK,
                json!({"status": "created", "order_id": order_id}),
            )
        }
        Ok(TakeIn::Known) => {
            count("repeat");
            answer(StatusCode::OK, json!({"status": "repeat"}))
        }
        Ok(TakeIn::Ignored { reason }) => {
            count("ignored");
            answer(
                StatusCode::OK,
                json!({"status": "ignored", "reason": reason}),
            )
        }
        Ok(TakeIn::Inbox { error }) => {
            count("inbox");
            answer(
                StatusCode::ACCEPTED,
                json!({"status": "stored_for_review", "error": error}),
            )
        }
        Err(e) => retry_later(&e),
    }
}

/// The router of [`ROUTE`].
pub fn routes() -> axum::Router<AppState> {
    axum::Router::new().route(ROUTE, axum::routing::post(order_placed))
}
