//! `channels`: the channels' Shopware sync — changed prices and stock out, orders in,
//! tracking and cancellations out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use irp_core::config::model::ShopwareConfig;
use irp_pipeline::channel::{LEASE, Shop, connect, round};
use irp_store::Store;
use irp_store::secrets::SecretKey;
use tokio::sync::Notify;

use super::{Job, JobError, StepReport};

use irp_pipeline::channel::RECONNECT_EVERY;

/// The channels' sync: every tick (`IRP_CHANNEL_TICK_SECS`), and at once when a recompute
/// changed channel rows or a shipment was matched in this process, a round for each channel
/// with an enabled `shopware` block. With several instances on one database each channel is
/// synced by one of them at a time (a claim per round).
pub struct Channels {
    store: Store,
    owner: String,
    secret_key: Option<SecretKey>,
    tick: Duration,
    signal: Arc<Notify>,
    /// Per channel: the settings its client was made from, the client, when.
    shops: HashMap<String, (ShopwareConfig, Arc<Shop>, Instant)>,
}

impl Channels {
    /// The sync of this instance (`owner` in its claims).
    pub fn new(store: Store, owner: &str, secret_key: Option<SecretKey>, tick: Duration) -> Self {
        let signal = store.channels_signal();
        Self {
            store,
            owner: owner.to_owned(),
            secret_key,
            tick,
            signal,
            shops: HashMap::new(),
        }
    }

    /// The client of channel `key` (kept, or made now); `None` when it cannot be made (logged
    /// and recorded on the channel).
    async fn shop(&mut self, key: &str, cfg: ShopwareConfig) -> Option<Arc<Shop>> {
        if let Some((old, shop, since)) = self.shops.get(key)
            && *old == cfg
            && since.elapsed() < RECONNECT_EVERY
        {
            return Some(shop.clone());
        }
        match connect(&self.store, self.secret_key.as_ref(), key).await {
            Ok(s) => {
                let s = Arc::new(s);
                self.shops
                    .insert(key.to_owned(), (cfg, s.clone(), Instant::now()));
                Some(s)
            }
            Err(e) => {
                tracing::error!(channel = %key, error = %e, "Channel sync cannot start");
                let _ = self.store.channel_sync().error(key, &e.to_string()).await;
                None
            }
        }
    }
}

impl Job for Channels {
    fn name(&self) -> &'static str {
        "channels"
    }

    fn tick(&self) -> Duration {
        self.tick
    }

    async fn wake(&mut self) {
        self.signal.notified().await;
    }

    /// Items: the channels synced (a round each). A channel that fails does not stop the
    /// others: it is logged, recorded on the channel where it concerns the shop, and counted as
    /// an error.
    async fn step(&mut self) -> Result<StepReport, JobError> {
        let channels = self
            .store
            .channels()
            .list()
            .await
            .map_err(|e| JobError::retry("Channel sync could not read the channels", e))?;
        let mut report = StepReport::idle();
        for c in channels {
            let Some(cfg) = c.channel.shopware.clone().filter(|s| s.enabled) else {
                continue;
            };
            let key = c.channel.key.clone();
            let Some(shop) = self.shop(&key, cfg).await else {
                report.errors += 1;
                continue;
            };
            match self
                .store
                .channel_sync()
                .claim(&key, &self.owner, irp_store::now() + LEASE)
                .await
            {
                Ok(true) => {}
                // Another instance syncs it now.
                Ok(false) => continue,
                Err(e) => {
                    tracing::error!(channel = %key, error = %e, "Claiming the channel sync failed");
                    report.errors += 1;
                    continue;
                }
            }
            shop.hold(Some(&self.owner));
            let claim = irp_pipeline::lease::Claim::ChannelRound {
                channel: &key,
                owner: &self.owner,
            };
            match irp_pipeline::lease::renewing(
                &self.store,
                claim,
                LEASE,
                round(&self.store, &shop),
            )
            .await
            {
                Ok(()) => report.items += 1,
                Err(e) => {
                    tracing::error!(channel = %key, error = %e, "Channel sync round failed");
                    report.errors += 1;
                }
            }
            if let Err(e) = self.store.channel_sync().release(&key, &self.owner).await {
                tracing::warn!(channel = %key, error = %e, "Releasing the channel sync claim failed; it expires by itself");
            }
        }
        Ok(report)
    }
}
