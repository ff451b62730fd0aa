//! `orders`: the order submitter — places due supplier orders at the refurbishers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use irp_pipeline::orders::{CONCURRENCY, Submitted, recover, submit_one};
use irp_store::secrets::SecretKey;
use irp_store::{Store, StoreError};
use tokio::sync::Notify;
use tokio::task::{JoinError, JoinSet};

use super::{Job, JobError, StepReport};

/// Supplier orders taken in by other instances are found within this; interrupted claims are
/// recovered this often.
const TICK: Duration = Duration::from_secs(1);

/// After a call started for a due supplier order, the wait before looking whether more are due
/// (the call has claimed its supplier order by then; should it not have, the next call finds
/// nothing and ends).
const CLAIM_GRACE: Duration = Duration::from_millis(20);

/// One call: `submit_one`'s claim of the supplier order due first, and the order API call.
type Call = Result<Option<Submitted>, StoreError>;

/// The order submitter: up to [`CONCURRENCY`] order calls at a time, each claiming the
/// supplier order due first and placing it. Woken at once by an order taken in in this process
/// and by a call that ends; polls every second for other instances' orders and for retries
/// that fall due. Every second it also recovers supplier orders whose claim expired during a
/// call (`needs_attention`, or `pending` again with `retry_unknown`).
///
/// A step starts one call while a supplier order is due and a slot is free, and looks again
/// shortly after, so a burst fills the slots within a few steps.
pub struct Orders {
    store: Store,
    owner: Arc<str>,
    secret_key: Arc<Option<SecretKey>>,
    signal: Arc<Notify>,
    calls: JoinSet<Call>,
    /// Calls that ended while the job waited, counted at the next step.
    ended: Vec<Result<Call, JoinError>>,
    /// Woken by an order taken in here: one is due now.
    signalled: bool,
    last_recover: Option<Instant>,
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
            signalled: false,
            last_recover: None,
        }
    }

    fn start_call(&mut self) {
        let (store, owner, key) = (
            self.store.clone(),
            self.owner.clone(),
            self.secret_key.clone(),
        );
        self.calls
            .spawn(async move { submit_one(&store, key.as_ref().as_ref(), &owner).await });
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
            () = self.signal.notified() => self.signalled = true,
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
            self.last_recover = Some(Instant::now());
        }
        let failed = self.tally(&mut report);
        // Every slot busy: a call that ends wakes the job. A call that failed: the next tick,
        // not at once.
        if self.calls.len() >= CONCURRENCY || failed {
            return Ok(report);
        }
        if std::mem::take(&mut self.signalled) {
            // Taken in here just now: due, no need to ask.
            self.start_call();
            return Ok(report.within(CLAIM_GRACE));
        }
        match self.store.supplier_orders().next_due().await {
            Ok(Some(due)) if until(due).is_zero() => {
                self.start_call();
                Ok(report.within(CLAIM_GRACE))
            }
            Ok(Some(due)) => Ok(report.within(until(due))),
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
