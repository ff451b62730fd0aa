//! Claims that hold while their work runs, and run out soon after their holder dies.
//!
//! With several instances on one database, work that one instance does at a time — a feed
//! import, a channel's round, the PIM sync, an ERP document — is claimed with a lease: an owner
//! and a time until which the claim holds. [`renewing`] runs the work and extends the lease
//! every quarter of it while the work runs, so a lease can be short (a minute) however long
//! the work takes: an instance killed in the middle of it stops renewing, and another instance
//! takes the work over within a minute instead of waiting out a lease sized for the slowest
//! run.

use std::future::Future;
use std::time::Duration;

use chrono::TimeDelta;
use irp_store::{Store, StoreError};

/// How long a claim renewed by [`renewing`] holds past its last renewal: what another instance
/// waits before it takes over the work of one that died.
pub const LEASE: TimeDelta = TimeDelta::seconds(60);

/// A claim that [`renewing`] keeps.
#[derive(Debug, Clone, Copy)]
pub enum Claim<'a> {
    /// A refurbisher's feed poll ([`crate::poller`]).
    FeedPoll {
        /// The refurbisher.
        refurbisher_id: i64,
        /// The instance.
        owner: &'a str,
    },
    /// A channel's round ([`crate::channel::round`]).
    ChannelRound {
        /// The channel's key.
        channel: &'a str,
        /// The instance.
        owner: &'a str,
    },
    /// The PIM sync ([`crate::pim::sync_if_due`]).
    PimSync {
        /// The instance.
        owner: &'a str,
    },
    /// A supplier order's ERP document ([`crate::erp`]).
    ErpDocument {
        /// The supplier order.
        supplier_order_id: i64,
        /// The instance.
        owner: &'a str,
    },
    /// A job lease (`irp_store::instances`).
    Job {
        /// The job's name.
        name: &'a str,
        /// The instance.
        owner: &'a str,
    },
}

impl Claim<'_> {
    /// Extend the claim to `lease` from now; `false` when the owner does not hold it any more.
    ///
    /// # Errors
    /// The store fails.
    pub async fn renew(&self, store: &Store, lease: TimeDelta) -> Result<bool, StoreError> {
        let until = irp_store::now() + lease;
        match *self {
            Claim::FeedPoll {
                refurbisher_id,
                owner,
            } => {
                store
                    .refurbishers()
                    .poll_renew(refurbisher_id, owner, until)
                    .await
            }
            Claim::ChannelRound { channel, owner } => {
                store.channel_sync().claim(channel, owner, until).await
            }
            Claim::PimSync { owner } => store.pim().renew(owner, until).await,
            Claim::ErpDocument {
                supplier_order_id,
                owner,
            } => store.erp().renew(supplier_order_id, owner, lease).await,
            Claim::Job { name, owner } => store.instances().acquire(name, owner, lease).await,
        }
    }
}

/// Runs `work` while renewing `claim` for `lease` every quarter of `lease`. A renewal that
/// fails or finds the claim taken over is logged; the work goes on (it checks its claim itself
/// where a second instance doing the same would do harm, as a channel push before each batch
/// and an ERP document before creating it).
pub async fn renewing<T>(
    store: &Store,
    claim: Claim<'_>,
    lease: TimeDelta,
    work: impl Future<Output = T>,
) -> T {
    let every = lease
        .to_std()
        .map_or(Duration::from_secs(15), |l| l / 4)
        .max(Duration::from_millis(100));
    // The renewals run beside the work, not between its steps: one waiting for the database
    // (SQLite's write lock, held by the very import it renews) never holds the work up.
    tokio::select! {
        out = work => out,
        never = keep(store, claim, lease, every) => match never {},
    }
}

/// Renews `claim` every `every`, for ever.
async fn keep(
    store: &Store,
    claim: Claim<'_>,
    lease: TimeDelta,
    every: Duration,
) -> std::convert::Infallible {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match claim.renew(store, lease).await {
            Ok(true) => {}
            Ok(false) => tracing::warn!(
                ?claim,
                "A claim was taken over by another instance while its work ran"
            ),
            Err(e) => {
                tracing::warn!(?claim, error = %e, "Renewing a claim failed; trying again shortly");
            }
        }
    }
}
