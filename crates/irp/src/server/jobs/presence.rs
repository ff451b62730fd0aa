//! `presence`: this instance says every few seconds that it is alive, so that `irp status`
//! lists the running instances with the claims each holds.

use std::time::Duration;

use chrono::{DateTime, Utc};
use irp_store::Store;

use super::{Job, JobError, StepReport};

/// How often the instance says it is alive.
pub const EVERY: Duration = Duration::from_secs(5);

/// The instance's heartbeat (`instances` table).
pub struct Presence {
    store: Store,
    owner: String,
    listen: String,
    jobs: String,
    started_at: DateTime<Utc>,
}

impl Presence {
    /// The heartbeat of instance `owner`, listening on `listen`, running `jobs`.
    pub fn new(store: Store, owner: &str, listen: &str, jobs: &[&str]) -> Self {
        Self {
            store,
            owner: owner.to_owned(),
            listen: listen.to_owned(),
            jobs: jobs.join(","),
            started_at: irp_store::now(),
        }
    }
}

impl Job for Presence {
    fn name(&self) -> &'static str {
        "presence"
    }

    fn tick(&self) -> Duration {
        EVERY
    }

    async fn step(&mut self) -> Result<StepReport, JobError> {
        self.store
            .instances()
            .heartbeat(
                &self.owner,
                env!("CARGO_PKG_VERSION"),
                &self.listen,
                &self.jobs,
                self.started_at,
            )
            .await
            .map_err(|e| JobError::retry("Saying this instance is alive failed", e))?;
        Ok(StepReport::idle())
    }
}
