//! `catalog`: recomputes the products marked by order intake (reserved units) and cancels.

use std::sync::Arc;
use std::time::Duration;

use irp_store::Store;
use tokio::sync::Notify;

use super::{Job, JobError, StepReport};

/// Other instances' marks are found within this.
const TICK: Duration = Duration::from_secs(5);

/// After a mark in this process, the wait for the rest of a burst of orders: one recompute for
/// all of them (each intake is a transaction of its own).
const BURST: Duration = Duration::from_millis(250);

/// The catalog recompute. Its first step, at start, recomputes what a previous process marked
/// but did not recompute (it stopped in between); the portal answers meanwhile.
pub struct Catalog {
    store: Store,
    signal: Arc<Notify>,
}

impl Catalog {
    /// The recompute of `store`'s marked products.
    pub fn new(store: Store) -> Self {
        let signal = store.catalog_signal();
        Self { store, signal }
    }
}

impl Job for Catalog {
    fn name(&self) -> &'static str {
        "catalog"
    }

    fn tick(&self) -> Duration {
        TICK
    }

    async fn wake(&mut self) {
        self.signal.notified().await;
        tokio::time::sleep(BURST).await;
    }

    /// Items: the EANs recomputed.
    async fn step(&mut self) -> Result<StepReport, JobError> {
        let stats = irp_pipeline::catalog::recompute(&self.store)
            .await
            .map_err(|e| {
                JobError::retry("Recomputing the marked products failed; retried in 5 s", e)
            })?;
        Ok(StepReport::done(stats.eans))
    }
}
