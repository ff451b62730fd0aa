//! `feeds`: the feed poller — imports the feeds that are due, one after another.

use std::time::Duration;

use irp_pipeline::poller::{Outcome, poll_once};
use irp_store::Store;
use irp_store::secrets::SecretKey;

use super::{Job, JobError, StepReport};

/// The feed poller: a step claims one due refurbisher and imports its feed; while feeds are
/// due it steps again at once, then every tick (`IRP_POLL_TICK_SECS`).
pub struct Feeds {
    store: Store,
    owner: String,
    secret_key: Option<SecretKey>,
    tick: Duration,
}

impl Feeds {
    /// The poller of this instance (`owner` in its claims).
    pub fn new(store: Store, owner: &str, secret_key: Option<SecretKey>, tick: Duration) -> Self {
        Self {
            store,
            owner: owner.to_owned(),
            secret_key,
            tick,
        }
    }
}

impl Job for Feeds {
    fn name(&self) -> &'static str {
        "feeds"
    }

    fn tick(&self) -> Duration {
        self.tick
    }

    /// Items: the feeds imported (whatever the run's status).
    async fn step(&mut self) -> Result<StepReport, JobError> {
        match poll_once(&self.store, &self.owner, self.secret_key.as_ref()).await {
            Ok(Outcome::Polled { key, status }) => {
                tracing::info!(refurbisher = %key, status = status.as_str(), "Polled feed");
                Ok(StepReport::done(1).more())
            }
            Ok(Outcome::Skipped { key }) => {
                tracing::debug!(refurbisher = %key, "Nothing to poll");
                Ok(StepReport::idle().more())
            }
            Ok(Outcome::Idle) => Ok(StepReport::idle()),
            Err(e) => Err(JobError::retry("Polling a feed failed", e)),
        }
    }
}
