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
pub struct Monitor {
    store: Store,
    interval: Duration,
    notifier: Option<Notifier>,
    next_evaluation: Instant,
}

impl Monitor {
    /// Thresholds every `interval`; notifications with `notifier`.
    pub fn new(store: Store, interval: Duration, notifier: Option<Notifier>) -> Self {
        Self {
            store,
            interval,
            notifier,
            next_evaluation: Instant::now(),
        }
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
            match tick(&self.store, irp_store::now()).await {
                Ok(t) => {
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
