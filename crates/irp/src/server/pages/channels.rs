//! The storefront channels (`/channels`): each channel's Shopware sync — rows waiting, the last
//! push, the order poll, the last error — with the products its shop did not take and the
//! orders that could not be taken in; operators run a sync (or a full resync) from here.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Ctx, Page, failed, refused};
use crate::server::AppState;
use crate::server::auth::{Act, Viewer};
use crate::views::ChannelStatus;

#[derive(Template)]
#[template(path = "channels.html")]
pub struct Channels {
    ctx: Ctx,
    channels: Vec<Row>,
    message: Option<String>,
}

/// A channel as the page shows it.
pub struct Row {
    key: String,
    name: String,
    shop_url: Option<String>,
    shop_disabled: bool,
    waiting: String,
    /// The push under way, as one line.
    pushing: Option<String>,
    last_push_at: String,
    last_push: Option<String>,
    orders_seen_until: String,
    last_error: Option<String>,
    problems: Vec<Problem>,
    inbox: Vec<Inbox>,
}

/// A product the shop did not take.
pub struct Problem {
    ean: String,
    kind: String,
    detail: String,
    since: String,
}

/// An order that could not be taken in.
pub struct Inbox {
    number: String,
    remote_id: String,
    source: String,
    error: String,
    received: String,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A timestamp as `2026-12-03 02:06:23` (UTC), `—` when none.
fn when(t: Option<DateTime<Utc>>) -> String {
    t.map_or_else(
        || "—".to_owned(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

impl Row {
    fn of(c: &ChannelStatus) -> Row {
        Row {
            key: c.channel.clone(),
            name: c.name.clone(),
            shop_url: c.shop.as_ref().map(|s| s.url.clone()),
            shop_disabled: c.shop.as_ref().is_some_and(|s| !s.enabled),
            waiting: c.waiting_rows.to_string(),
            pushing: c
                .pushing
                .as_ref()
                .map(crate::views::feeds::Progress::describe),
            last_push_at: when(c.last_push_at),
            last_push: c.last_push.as_ref().and_then(Value::as_object).map(|p| {
                format!(
                    "{} pushed of {}",
                    text(p.get("pushed").unwrap_or(&Value::Null)),
                    text(p.get("rows").unwrap_or(&Value::Null))
                )
            }),
            orders_seen_until: when(c.orders_seen_until),
            last_error: c.last_error.clone(),
            problems: c
                .problems
                .iter()
                .map(|p| Problem {
                    ean: p.ean.clone(),
                    kind: p.kind.clone(),
                    detail: p.detail.clone(),
                    since: when(Some(p.first_seen_at)),
                })
                .collect(),
            inbox: c
                .inbox
                .iter()
                .map(|e| Inbox {
                    number: e.order_number.clone().unwrap_or_else(|| "?".to_owned()),
                    remote_id: e.remote_order_id.clone(),
                    source: e.source.clone(),
                    error: e.error.clone(),
                    received: when(Some(e.received_at)),
                })
                .collect(),
        }
    }
}

/// `?done=` after a sync.
#[derive(serde::Deserialize, Default)]
pub struct ChannelsQuery {
    #[serde(default)]
    done: String,
}

/// `GET /channels`.
pub async fn list(
    State(state): State<AppState>,
    viewer: Viewer,
    axum::extract::Query(q): axum::extract::Query<ChannelsQuery>,
) -> Response {
    match ChannelStatus::list(&state.store, None).await {
        Ok(channels) => Page(Channels {
            ctx: Ctx::new(&viewer, "channels"),
            channels: channels.iter().map(Row::of).collect(),
            message: Some(q.done).filter(|d| !d.is_empty()),
        })
        .into_response(),
        Err(e) => failed(&e),
    }
}

/// The sync form: `full` when a full resync is asked for.
#[derive(serde::Deserialize)]
pub struct SyncForm {
    #[serde(default)]
    full: String,
}

/// `POST /channels/{key}/sync`.
pub async fn sync(
    State(state): State<AppState>,
    Path(key): Path<String>,
    act: Act<SyncForm>,
) -> Response {
    use irp_pipeline::channel::ChannelSyncError as E;
    let full = !act.form.full.is_empty();
    let owner = format!("portal:{}", act.actor());
    match crate::ops::channel_sync_now(
        &state.store,
        &state.secret_key_file,
        &key,
        full,
        false,
        &owner,
        None,
    )
    .await
    {
        Ok(done) => {
            if let Err(e) = state
                .store
                .audit(
                    &act.actor(),
                    "channel.sync",
                    &key,
                    serde_json::json!({"full": full, "pushed": done.push.pushed}),
                )
                .await
            {
                tracing::warn!(error = %e, "Auditing a channel sync failed");
            }
            let mut text = format!(
                "{key}: {} pushed, {} unknown to the shop, {} refused; {} order(s) taken in; {} tracking delivered",
                done.push.pushed,
                done.push.unknown,
                done.push.refused,
                done.orders.created,
                done.tracking.pushed
            );
            if let Some(e) = done.push.error.as_ref().or(done.orders_error.as_ref()) {
                text.push_str(&format!(" — stopped: {e}"));
            }
            let q = serde_urlencoded::to_string([("done", text)]).unwrap_or_default();
            Redirect::to(&format!("/channels?{q}")).into_response()
        }
        Err(crate::ops::ChannelSyncNowError::Sync(E::UnknownChannel(k))) => refused(
            StatusCode::NOT_FOUND,
            &format!("There is no channel `{k}`."),
        ),
        Err(
            e @ (crate::ops::ChannelSyncNowError::Busy { .. }
            | crate::ops::ChannelSyncNowError::Sync(E::NotConnected(_) | E::Missing { .. })),
        ) => refused(StatusCode::CONFLICT, &e.to_string()),
        Err(e) => failed(&e),
    }
}
