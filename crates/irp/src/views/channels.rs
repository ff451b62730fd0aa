//! The storefront channels' Shopware sync: how each channel's sync stands, and what a sync run
//! by hand did.

use chrono::{DateTime, Utc};
use irp_store::Store;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// How a channel's Shopware sync stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelStatus {
    /// Channel key.
    pub channel: String,
    /// Channel name.
    pub name: String,
    /// Its Shopware shop, if it has one.
    pub shop: Option<Shop>,
    /// Channel rows changed since the last push.
    pub waiting_rows: i64,
    /// Where the push under way stands (reported every second; absent when none runs, and for
    /// a push shorter than a second).
    pub pushing: Option<super::feeds::Progress>,
    /// When products were last pushed (or a push was tried).
    pub last_push_at: Option<DateTime<Utc>>,
    /// The last push's report.
    pub last_push: Option<Value>,
    /// `orderDateTime` of the newest order the poll read.
    pub orders_seen_until: Option<DateTime<Utc>>,
    /// The last error of any part of the sync.
    pub last_error: Option<String>,
    /// When.
    pub last_error_at: Option<DateTime<Utc>>,
    /// Products the shop did not take (50 at most).
    pub problems: Vec<ChannelProblem>,
    /// Orders that could not be taken in (50 at most).
    pub inbox: Vec<ChannelInboxOrder>,
    /// Products whose content (the fields the channel leaves to IRP) waits to be checked and
    /// pushed; absent when the channel takes no content from IRP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_waiting: Option<i64>,
    /// Products whose content the shop refused, with Shopware's field and error (50 at most).
    pub content_problems: Vec<ContentProblem>,
}

/// A channel's Shopware shop.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Shop {
    /// Its address.
    pub url: String,
    /// Whether the sync runs.
    pub enabled: bool,
}

/// A product a channel's shop did not take.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelProblem {
    /// Channel key.
    pub channel: String,
    /// EAN.
    pub ean: String,
    /// `unknown_product` or `refused`.
    pub kind: String,
    /// What the shop said.
    pub detail: String,
    /// The channel row's revision it is about.
    pub revision: i64,
    /// First seen.
    pub first_seen_at: DateTime<Utc>,
    /// Last seen.
    pub last_seen_at: DateTime<Utc>,
}

impl From<irp_store::channel_sync::ChannelProblem> for ChannelProblem {
    fn from(p: irp_store::channel_sync::ChannelProblem) -> Self {
        ChannelProblem {
            channel: p.channel,
            ean: p.ean,
            kind: p.kind,
            detail: p.detail,
            revision: p.revision,
            first_seen_at: p.first_seen_at,
            last_seen_at: p.last_seen_at,
        }
    }
}

/// A product whose content the shop refused.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContentProblem {
    /// EAN.
    pub ean: String,
    /// Shopware's field and error.
    pub problem: String,
}

/// A Shopware order that could not be taken in.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelInboxOrder {
    /// Shopware's order id.
    pub remote_order_id: String,
    /// Its order number, when readable.
    pub order_number: Option<String>,
    /// `webhook` or `poll`.
    pub source: String,
    /// Why it could not be taken in.
    pub error: String,
    /// When it was (last) received.
    pub received_at: DateTime<Utc>,
}

impl From<irp_store::channel_sync::ChannelInboxEntry> for ChannelInboxOrder {
    fn from(e: irp_store::channel_sync::ChannelInboxEntry) -> Self {
        ChannelInboxOrder {
            remote_order_id: e.remote_order_id,
            order_number: e.order_number,
            source: e.source,
            error: e.error,
            received_at: e.received_at,
        }
    }
}

impl ChannelStatus {
    /// How each channel's shop sync stands (only `key` when given): the shop, rows waiting, the
    /// last push, the order poll's position, the last error, products the shop did not take and
    /// orders that could not be taken in (50 of each at most).
    ///
    /// # Errors
    /// The store fails.
    pub async fn list(
        store: &Store,
        key: Option<&str>,
    ) -> Result<Vec<ChannelStatus>, irp_store::StoreError> {
        let channels: Vec<_> = store
            .channels()
            .list()
            .await?
            .into_iter()
            .map(|c| c.channel)
            .filter(|c| key.is_none_or(|k| k == c.key))
            .collect();
        let mut out = Vec::new();
        for c in channels {
            let state = store.channel_sync().state(&c.key).await?;
            let waiting_rows = store.channel_sync().dirty_count(&c.key).await?;
            let problems = store.channel_sync().problems(&c.key, 50).await?;
            let inbox = store
                .channel_sync()
                .inbox_list(Some(&c.key), false, 50)
                .await?;
            let content = c
                .shopware
                .as_ref()
                .map(|s| &s.content)
                .filter(|cfg| !cfg.is_off());
            let content_waiting = match content {
                Some(cfg) => Some(
                    store
                        .channel_sync()
                        .content_waiting(&c.key, &cfg.fingerprint())
                        .await?,
                ),
                None => None,
            };
            let content_problems = store
                .channel_sync()
                .content_problems(&c.key, 50)
                .await?
                .into_iter()
                .map(|(ean, problem)| ContentProblem { ean, problem })
                .collect();
            // A push reports every second: an entry silent for longer than the lease was left
            // by a process that died mid-push.
            let pushing = store
                .progress()
                .get(&irp_store::progress::channel_sync_work(&c.key))
                .await?
                .filter(|p| p.updated_at > irp_store::now() - irp_pipeline::feed::RUN_LEASE)
                .map(Into::into);
            out.push(ChannelStatus {
                pushing,
                shop: c.shopware.as_ref().map(|s| Shop {
                    url: s.url.clone(),
                    enabled: s.enabled,
                }),
                channel: c.key,
                name: c.name,
                waiting_rows,
                last_push_at: state.last_push_at,
                last_push: state.last_push.map(|j| j.0),
                orders_seen_until: state.orders_seen_until,
                last_error: state.last_error,
                last_error_at: state.last_error_at,
                problems: problems.into_iter().map(Into::into).collect(),
                inbox: inbox.into_iter().map(Into::into).collect(),
                content_waiting,
                content_problems,
            });
        }
        Ok(out)
    }
}

/// Every channel with how its Shopware sync stands.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelList {
    /// By key.
    pub channels: Vec<ChannelStatus>,
}

/// What a channel sync run by hand did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ChannelSync {
    /// The push of prices and stock.
    pub push: PushReport,
    /// The order poll.
    pub orders: PollReport,
    /// Why the order poll failed, when it did.
    pub orders_error: Option<String>,
    /// Tracking delivered.
    pub tracking: TrackingReport,
    /// Cancellations reported to the shop.
    pub cancellations_reported: u64,
    /// The push of product content (the fields the channel leaves to IRP).
    pub content: ContentReport,
}

/// What a push of product content to a shop did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ContentReport {
    /// Products checked (PIM data newer than what was pushed, or never checked).
    pub checked: u64,
    /// Products whose content the shop took.
    pub pushed: u64,
    /// Products whose content had not changed.
    pub unchanged: u64,
    /// Products the shop does not have.
    pub unknown: u64,
    /// Products whose content the shop refused (with why: the channel's status).
    pub refused: u64,
    /// `_action/sync` requests sent.
    pub batches: u64,
}

impl From<irp_pipeline::channel::ContentReport> for ContentReport {
    fn from(c: irp_pipeline::channel::ContentReport) -> Self {
        ContentReport {
            checked: c.checked,
            pushed: c.pushed,
            unchanged: c.unchanged,
            unknown: c.unknown,
            refused: c.refused,
            batches: c.batches,
        }
    }
}

impl From<crate::ops::ChannelSyncNow> for ChannelSync {
    fn from(s: crate::ops::ChannelSyncNow) -> Self {
        ChannelSync {
            content: s.content.into(),
            push: s.push.into(),
            orders: s.orders.into(),
            orders_error: s.orders_error,
            tracking: s.tracking.into(),
            cancellations_reported: s.cancellations_reported,
        }
    }
}

/// What a push of prices and stock to a shop did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PushReport {
    /// Channel key.
    pub channel: String,
    /// Whether every product was sent (`full`).
    pub full: bool,
    /// Rows read to push.
    pub rows: u64,
    /// Rows the shop took (created ones included).
    pub pushed: u64,
    /// Products created in the shop (`create_missing`).
    pub created: u64,
    /// Products the shop does not have (reported).
    pub unknown: u64,
    /// Products the channel does not sell and the shop does not have: nothing to correct,
    /// nothing created, not reported.
    pub skipped: u64,
    /// Rows the shop refused (reported).
    pub refused: u64,
    /// `_action/sync` requests sent (refused ones included).
    pub batches: u64,
    /// All requests to the shop (searches, token, retries).
    pub requests: u64,
    /// Milliseconds.
    pub ms: u64,
    /// Why it stopped early, when it did (the rest stays marked for the next push); absent
    /// when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<irp_pipeline::channel::PushReport> for PushReport {
    fn from(p: irp_pipeline::channel::PushReport) -> Self {
        PushReport {
            channel: p.channel,
            full: p.full,
            rows: p.rows,
            pushed: p.pushed,
            created: p.created,
            unknown: p.unknown,
            skipped: p.skipped,
            refused: p.refused,
            batches: p.batches,
            requests: p.requests,
            ms: p.ms,
            error: p.error,
        }
    }
}

/// What a poll of a shop's orders did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PollReport {
    /// Orders read.
    pub read: u64,
    /// Orders taken in now.
    pub created: u64,
    /// Orders IRP had already.
    pub known: u64,
    /// Orders that went to the inbox.
    pub inbox: u64,
}

impl From<irp_pipeline::channel::PollReport> for PollReport {
    fn from(p: irp_pipeline::channel::PollReport) -> Self {
        PollReport {
            read: p.read,
            created: p.created,
            known: p.known,
            inbox: p.inbox,
        }
    }
}

/// What delivering tracking to a shop did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TrackingReport {
    /// Orders whose delivery got its tracking.
    pub pushed: u64,
    /// Orders the shop refused (reported).
    pub refused: u64,
    /// Orders to try again later.
    pub later: u64,
    /// Orders that did not come from the shop.
    pub not_applicable: u64,
}

impl From<irp_pipeline::channel::TrackingReport> for TrackingReport {
    fn from(t: irp_pipeline::channel::TrackingReport) -> Self {
        TrackingReport {
            pushed: t.pushed,
            refused: t.refused,
            later: t.later,
            not_applicable: t.not_applicable,
        }
    }
}
