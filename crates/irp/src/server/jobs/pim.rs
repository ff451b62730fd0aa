//! `pim`: the PIM sync — runs when the PIM source's interval has passed.

use std::time::Duration;

use irp_pipeline::pim::sync_if_due;
use irp_store::Store;
use irp_store::secrets::SecretKey;

use super::{Job, JobError, StepReport};

/// The PIM sync: every tick (`IRP_POLL_TICK_SECS`) it syncs when a source is configured,
/// enabled, scheduled and due, and this instance gets the claim.
pub struct Pim {
    store: Store,
    owner: String,
    secret_key: Option<SecretKey>,
    tick: Duration,
}

impl Pim {
    /// The PIM sync of this instance (`owner` in its claim).
    pub fn new(store: Store, owner: &str, secret_key: Option<SecretKey>, tick: Duration) -> Self {
        Self {
            store,
            owner: owner.to_owned(),
            secret_key,
            tick,
        }
    }
}

impl Job for Pim {
    fn name(&self) -> &'static str {
        "pim"
    }

    fn tick(&self) -> Duration {
        self.tick
    }

    /// Items: 1 when a sync ran (its report is stored with the PIM source).
    async fn step(&mut self) -> Result<StepReport, JobError> {
        match sync_if_due(&self.store, &self.owner, self.secret_key.as_ref()).await {
            Ok(Some(_)) => Ok(StepReport::done(1)),
            Ok(None) => Ok(StepReport::idle()),
            Err(e) => Err(JobError::retry("PIM sync could not run", e)),
        }
    }
}
