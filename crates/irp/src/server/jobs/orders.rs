//! `orders`: the order submitter — places due supplier orders at the refurbishers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use irp_pipeline::orders::{CONCURRENCY, Submitted, lease, place, recover};
use irp_store::secrets::SecretKey;
use irp_store::{Store, StoreError};
use tokio::sync::Notify;
use tokio::task::{JoinError, JoinSet};

use super::{Job, JobError, StepReport};

/// Supplier orders taken in by other instances are found within this; interrupted claims are
/// recovered this often.
const TICK: Duration = Duration::from_secs(1);

/// The lease of a claim until the order connectors were read (4 × the longest timeout allowed
/// + the margin).
const DEFAULT_LEASE: TimeDelta = TimeDelta::seconds(1210);

/// One call: a claimed supplier order placed at its refurbisher.
type Call = Result<Option<Submitted>, StoreError>;

/// The order submitter: up to [`CONCURRENCY`] order calls at a time. A step claims as many due
/// supplier orders as slots are free, in one commit, and starts a call for each. Woken at once
/// by an order taken in in this process and by a call that ends; polls every second for other
/// instances' orders and for retries that fall due. Every second it also recovers supplier
/// orders whose claim expired during a call (`needs_attention`, or `pending` again with
/// `retry_unknown`) and reads the connectors' timeouts again (the lease of a claim).
pub struct Orders {
    store: Store,
    owner: Arc<str>,
    secret_key: Arc<Option<SecretKey>>,
    signal: Arc<Notify>,
    calls: JoinSet<Call>,
    /// Calls that ended while the job waited, counted at the next step.
    ended: Vec<Result<Call, JoinError>>,
    last_recover: Option<Instant>,
    lease: TimeDelta,
}

impl Orders {
    /// The submitter of this instance (`owner` in its claims).
    pub fn new(store: Store, owner: &str, secret_key: Option<SecretKey>) -> Self {
        let signal = store.outbox_signal();
        Self {
            store,
            owner: Arc::from(owner),
            secret_key: Arc::new(secret_key),
            signal,
            calls: JoinSet::new(),
            ended: Vec::new(),
            last_recover: None,
            lease: DEFAULT_LEASE,
        }
    }

    /// Claim due supplier orders for the free slots and start their calls; how many.
    async fn claim_and_start(&mut self) -> Result<usize, StoreError> {
        let free = i64::try_from(CONCURRENCY.saturating_sub(self.calls.len())).unwrap_or(1);
        let batch = self
            .store
            .supplier_orders()
            .claim_due(&self.owner, self.lease, free)
            .await?;
        let n = batch.len();
        for claimed in batch {
            let (store, owner, key) = (
                self.store.clone(),
                self.owner.clone(),
                self.secret_key.clone(),
            );
            self.calls.spawn(async move {
                place(&store, key.as_ref().as_ref(), &owner, &claimed)
                    .await
                    .map(Some)
            });
        }
        Ok(n)
    }

    /// Counts the calls that ended into `report`: whether any failed.
    fn tally(&mut self, report: &mut StepReport) -> bool {
        while let Some(ended) = self.calls.try_join_next() {
            self.ended.push(ended);
        }
        let mut failed = false;
        for ended in self.ended.drain(..) {
            match ended {
                Ok(Ok(Some(_))) => report.items += 1,
                // Another call or instance took it first.
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "Placing a supplier order failed; a claim it made expires and is recovered");
                    report.errors += 1;
                    failed = true;
                }
                Err(e) => {
                    tracing::error!(error = %e, "A supplier order call ended badly; a claim it made expires and is recovered");
                    report.errors += 1;
                    failed = true;
                }
            }
        }
        failed
    }
}

impl Job for Orders {
    fn name(&self) -> &'static str {
        "orders"
    }

    fn tick(&self) -> Duration {
        TICK
    }

    async fn wake(&mut self) {
        tokio::select! {
            () = self.signal.notified() => {}
            Some(ended) = self.calls.join_next(), if !self.calls.is_empty() => {
                self.ended.push(ended);
            }
        }
    }

    /// Items: the order calls made (each recorded as an attempt, whatever its outcome).
    async fn step(&mut self) -> Result<StepReport, JobError> {
        let mut report = StepReport::idle();
        if self.last_recover.is_none_or(|t| t.elapsed() >= TICK) {
            if let Err(e) = recover(&self.store).await {
                tracing::error!(error = %e, "Recovering interrupted supplier orders failed");
                report.errors += 1;
            }
            // The connectors' timeouts, read again each tick (a changed connector counts from
            // its next claim).
            self.lease = match lease(&self.store).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::error!(error = %e, "Reading the order connectors failed");
                    report.errors += 1;
                    DEFAULT_LEASE
                }
            };
            self.last_recover = Some(Instant::now());
        }
        let failed = self.tally(&mut report);
        // Every slot busy: a call that ends wakes the job. A call that failed: the next tick,
        // not at once.
        if self.calls.len() >= CONCURRENCY || failed {
            return Ok(report);
        }
        match self.claim_and_start().await {
            // More may be due than there were slots: look again at once.
            Ok(n) if n > 0 => return Ok(report.more()),
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "Claiming supplier orders failed");
                report.errors += 1;
                return Ok(report);
            }
        }
        match self.store.supplier_orders().next_due().await {
            Ok(Some(due)) => Ok(report.within(until(due).max(Duration::from_millis(1)))),
            Ok(None) => Ok(report),
            Err(e) => {
                tracing::error!(error = %e, "Reading when the next supplier order is due failed");
                report.errors += 1;
                Ok(report)
            }
        }
    }

    /// Calls under way end (their outcome recorded); none is started any more.
    async fn finish(&mut self) {
        while let Some(ended) = self.calls.join_next().await {
            self.ended.push(ended);
        }
        let mut report = StepReport::idle();
        self.tally(&mut report);
    }
}

fn until(t: DateTime<Utc>) -> Duration {
    (t - Utc::now()).to_std().unwrap_or(Duration::ZERO)
}
