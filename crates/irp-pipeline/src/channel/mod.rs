//! The storefront channels' Shopware sync (seed 003: Refurbished Direct, Econocom):
//!
//! - **prices and stock out**: the channel rows the catalog recompute marked dirty go to the
//!   shop through `_action/sync` upserts addressed by product number, in batches of
//!   `batch_size` with queue indexing. Products the shop lacks are reported (or created from
//!   PIM data with `create_missing`). A batch the shop refuses (all or nothing since 6.5) loses
//!   the rows its error pointers name, else is split in halves, until the bad rows are
//!   isolated and reported; the rest goes through. One instance syncs a channel at a time and
//!   records each row's revision, so an older value never overwrites a newer one.
//! - **orders in**: the `checkout.order.placed` app webhook ([`take_in_webhook`]) and a poll of
//!   `POST /api/search/order` since the newest order seen ([`poll_orders`]); both re-read the
//!   order with every association IRP needs and take it in through the orders intake
//!   (idempotent on channel + order number). An order IRP cannot read goes to the channel
//!   inbox, never lost.
//! - **tracking out**: matched shipments put every tracking code of the order on its Shopware
//!   delivery and move it with `ship` (all parts shipped) or `ship_partially`; a refusal (an
//!   illegal transition) is recorded and reported, not retried forever.
//! - **cancellations**: when every supplier order of an order is cancelled, the delivery or the
//!   order is cancelled in the shop, per `on_supplier_cancel`.

use std::time::Duration;

use chrono::TimeDelta;
use irp_clients::shopware::{Shopware, ShopwareError};
use irp_core::config::Channel;
use irp_core::config::model::ShopwareConfig;
use irp_core::shopware as sw;
use irp_store::Store;
use irp_store::secrets::SecretKey;
use serde_json::json;

mod content;
mod intake;
mod push;
mod tracking;

pub use content::{ContentReport, push_content};
pub use intake::{
    PollReport, TakeIn, order_criteria, poll_orders, retry_inbox, take_in, take_in_by_id,
    take_in_webhook,
};
pub use push::{PushReport, push, push_with};
pub use tracking::{TrackingReport, push_tracking, report_cancellations};

use intake::INBOX_RETRY;

/// How long a channel's sync claim lasts past its last renewal: renewed while the round runs
/// ([`crate::lease::renewing`], as `serve`'s channels job runs it) and before every batch and
/// poll page (which stops a round whose claim another instance took over).
pub const LEASE: TimeDelta = crate::lease::LEASE;

/// Why a channel cannot be synced.
#[derive(Debug, thiserror::Error)]
pub enum ChannelSyncError {
    /// No such channel.
    #[error("no channel `{0}`: `irp channel list` shows the configured ones")]
    UnknownChannel(String),
    /// The channel has no (enabled) `shopware` block.
    #[error(
        "channel `{0}` has no enabled `shopware` block: add one to its channels document and apply it"
    )]
    NotConnected(String),
    /// A reference in the `shopware` block cannot be resolved.
    #[error("channel `{channel}`: {why}")]
    Missing {
        /// Channel key.
        channel: String,
        /// Which references.
        why: String,
    },
    /// Shopware failed.
    #[error("channel `{channel}`: {error}")]
    Shopware {
        /// Channel key.
        channel: String,
        /// What failed.
        error: ShopwareError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] irp_store::StoreError),
}

/// A channel with its shop's client.
#[derive(Debug)]
pub struct Shop {
    /// The channel.
    pub channel: Channel,
    /// Its `shopware` block.
    pub config: ShopwareConfig,
    /// The shop's client (references resolved).
    pub api: Shopware,
    /// The shop secret for webhook signatures, resolved.
    shop_secret: Option<String>,
    /// Shows references instead of the resolved credentials in what is stored and shown.
    scrubber: irp_core::secret_ref::Scrubber,
    /// Who holds the channel's sync claim for the work done with this shop (renewed before
    /// every batch; the work stops when another instance took the claim over).
    holder: std::sync::Mutex<Option<String>>,
}

impl Shop {
    /// Whether `signature` is the shop's signature of `body` (false without a shop secret).
    pub fn verify(&self, body: &[u8], signature: &str) -> bool {
        self.shop_secret
            .as_deref()
            .is_some_and(|s| sw::verify(body, signature, s))
    }

    /// `message` (an error of the shop, which may echo a request) as it may be stored and shown.
    pub fn scrub(&self, message: &str) -> String {
        self.scrubber.scrub(message)
    }

    fn err(&self, error: ShopwareError) -> ChannelSyncError {
        ChannelSyncError::Shopware {
            channel: self.channel.key.clone(),
            error,
        }
    }
}

/// The client of `key`'s shop, with every reference of its `shopware` block resolved.
///
/// # Errors
/// See [`ChannelSyncError`].
pub async fn connect(
    store: &Store,
    secret_key: Option<&SecretKey>,
    key: &str,
) -> Result<Shop, ChannelSyncError> {
    let channel = store
        .channels()
        .list()
        .await?
        .into_iter()
        .map(|c| c.channel)
        .find(|c| c.key == key)
        .ok_or_else(|| ChannelSyncError::UnknownChannel(key.to_owned()))?;
    let config = channel
        .shopware
        .clone()
        .filter(|s| s.enabled)
        .ok_or_else(|| ChannelSyncError::NotConnected(key.to_owned()))?;
    let doc = json!({"channels": {key: {"shopware": {
        "url": config.url, "client_id": config.client_id, "client_secret": config.client_secret,
        "shop_secret": config.shop_secret,
    }}}});
    let namespace = format!("channel.{key}");
    let scope = irp_store::secrets::Scope::of(&namespace);
    let resolved = match store
        .secrets()
        .resolve_references(secret_key, scope, &doc)
        .await
    {
        Ok(r) => r,
        Err(irp_store::StoreError::NotFound(why)) => {
            return Err(ChannelSyncError::Missing {
                channel: key.to_owned(),
                why,
            });
        }
        Err(e) => return Err(e.into()),
    };
    let v = &resolved.expose()["channels"][key]["shopware"];
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let api = Shopware::new(
        &text("url"),
        &text("client_id"),
        &text("client_secret"),
        Duration::from_secs(u64::try_from(config.timeout_secs).unwrap_or(30)),
    )
    .map_err(|error| ChannelSyncError::Shopware {
        channel: key.to_owned(),
        error,
    })?;
    let shop_secret = v["shop_secret"].as_str().map(str::to_owned);
    Ok(Shop {
        channel,
        config,
        api,
        shop_secret,
        scrubber: resolved.scrubber().clone(),
        holder: std::sync::Mutex::new(None),
    })
}

impl Shop {
    /// The work that follows is done holding the channel's claim as `owner` (`None`: unclaimed,
    /// as in tests and the webhook's single order).
    pub fn hold(&self, owner: Option<&str>) {
        if let Ok(mut h) = self.holder.lock() {
            *h = owner.map(str::to_owned);
        }
    }

    /// Extend the claim before the next step; an error when another instance holds it now.
    async fn renew(&self, store: &Store) -> Result<(), ChannelSyncError> {
        let owner = self.holder.lock().ok().and_then(|h| h.clone());
        let Some(owner) = owner else {
            return Ok(());
        };
        if store
            .channel_sync()
            .claim(&self.channel.key, &owner, irp_store::now() + LEASE)
            .await?
        {
            Ok(())
        } else {
            Err(self.err(ShopwareError::Answer(format!(
                "the channel's sync claim of {owner} expired and another instance holds it now; stopped (it goes on with the rest)"
            ))))
        }
    }
}

/// One round for one channel: push what changed, poll orders when due, deliver tracking and
/// cancellations. Errors of one part are recorded and do not stop the others.
///
/// # Errors
/// The store failed.
pub async fn round(store: &Store, shop: &Shop) -> Result<(), ChannelSyncError> {
    let key = &shop.channel.key;
    if store.channel_sync().dirty_count(key).await? > 0 {
        push(store, shop, false).await?;
    }
    // The content that changed (after the prices: a product the push just created is there).
    match push_content(store, shop, false).await {
        Ok(_) => {}
        Err(ChannelSyncError::Shopware { error, .. }) => {
            tracing::warn!(channel = %key, error = %error, "Pushing product content to Shopware failed");
            store
                .channel_sync()
                .error(key, &shop.scrub(&error.to_string()))
                .await?;
        }
        Err(e) => return Err(e),
    }
    let state = store.channel_sync().state(key).await?;
    let due = shop.config.order_poll_secs > 0
        && state
            .next_order_poll_at
            .is_none_or(|t| t <= irp_store::now());
    if due {
        match poll_orders(store, shop).await {
            Ok(r) if r.created > 0 || r.inbox > 0 => {
                tracing::info!(channel = %key, read = r.read, created = r.created, inbox = r.inbox, "Polled Shopware for orders");
            }
            Ok(_) => {}
            Err(ChannelSyncError::Shopware { error, .. }) => {
                tracing::warn!(channel = %key, error = %error, "Polling Shopware for orders failed");
                store
                    .channel_sync()
                    .error(key, &shop.scrub(&error.to_string()))
                    .await?;
            }
            Err(e) => return Err(e),
        }
    }
    retry_inbox(store, shop, INBOX_RETRY).await?;
    push_tracking(store, shop).await?;
    report_cancellations(store, shop).await?;
    Ok(())
}

/// How long the channel sync keeps a shop's client before setting it up again (re-reading its
/// secrets).
pub const RECONNECT_EVERY: Duration = Duration::from_secs(300);
