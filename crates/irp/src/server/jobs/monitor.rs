//! `monitor`: thresholds → alerts, and the alerts' notifications.

use std::time::Duration;

use irp_pipeline::monitor::{Notifier, notify_due, tick};
use irp_store::Store;
use tokio::time::Instant;

use super::{Job, JobError, StepReport};

/// How often due notifications are sent (and the most the job waits between steps).
const NOTIFY_EVERY: Duration = Duration::from_secs(5);

/// The monitor: every `IRP_MONITOR_TICK_SECS` it evaluates every refurbisher against its
/// thresholds (alerts opened and resolved) and tries unmatched shipments again; every few
/// seconds it sends the notifications that are due (when a notification webhook is set).
///
/// With several instances on one database one of them evaluates, the one holding the
/// `monitor` job lease (renewed at each evaluation; taken over by another instance when it
/// runs out, two ticks after its holder stopped). Every instance sends notifications: each is
/// claimed by one.
pub struct Monitor {
    store: Store,
    owner: String,
    interval: Duration,
    notifier: Option<Notifier>,
    next_evaluation: Instant,
}

/// The name of the monitor's job lease.
const LEASE_NAME: &str = "monitor";

impl Monitor {
    /// Thresholds every `interval`; notifications with `notifier`; `owner` in the job lease.
    pub fn new(store: Store, owner: &str, interval: Duration, notifier: Option<Notifier>) -> Self {
        Self {
            store,
            owner: owner.to_owned(),
            interval,
            notifier,
            next_evaluation: Instant::now(),
        }
    }

    /// The job lease: two intervals and some, so a slow evaluation does not lose it.
    fn lease(&self) -> chrono::TimeDelta {
        chrono::TimeDelta::from_std(self.interval * 2 + Duration::from_secs(10))
            .unwrap_or(chrono::TimeDelta::minutes(5))
    }
}

impl Job for Monitor {
    fn name(&self) -> &'static str {
        "monitor"
    }

    fn tick(&self) -> Duration {
        self.interval.min(NOTIFY_EVERY)
    }

    /// Items: alerts opened and resolved, shipments matched, notifications sent. The
    /// evaluation and the notifications fail apart (each is logged, and counted as an error).
    async fn step(&mut self) -> Result<StepReport, JobError> {
        let mut report = StepReport::idle();
        if Instant::now() >= self.next_evaluation {
            let held = self
                .store
                .instances()
                .acquire(LEASE_NAME, &self.owner, self.lease())
                .await;
            let evaluation = match held {
                Ok(true) => tick(&self.store, irp_store::now()).await.map(Some),
                // Another instance evaluates.
                Ok(false) => Ok(None),
                Err(e) => Err(e),
            };
            match evaluation {
                Ok(None) => {}
                Ok(Some(t)) => {
                    report.items +=
                        (t.opened.len() + t.resolved.len()) as u64 + t.shipments_matched;
                }
                Err(e) => {
                    tracing::error!(error = %e, "The monitor could not evaluate the thresholds; trying again next tick");
                    report.errors += 1;
                }
            }
            self.next_evaluation = Instant::now() + self.interval;
        }
        if let Some(n) = &self.notifier {
            match notify_due(&self.store, n).await {
                Ok(sent) => report.items += sent,
                Err(e) => {
                    tracing::error!(error = %e, "Sending alert notifications failed; trying again shortly");
                    report.errors += 1;
                }
            }
        }
        Ok(report.within(
            self.next_evaluation
                .saturating_duration_since(Instant::now()),
        ))
    }
}
