//! The background jobs of `irp serve`, all of one shape.
//!
//! Each job is a type implementing [`Job`]: a name, a tick, and a [`Job::step`] that does one
//! round of its work and says what it did ([`StepReport`]). One loop, [`run`], runs any job:
//!
//! 1. it calls `step()`; what the step did is counted on `/metrics` (steps, items, errors, the
//!    last step's duration, per job) and, when it did anything, logged at debug;
//! 2. it waits for the job's tick, or less when the step asked for it ([`StepReport::wait`]),
//!    or not at all when more work is waiting ([`StepReport::again`]); the job's
//!    [`Job::wake`] cuts the wait short (a signal from this process: an order taken in,
//!    products marked for recomputing);
//! 3. and again, until `serve` stops it; then [`Job::finish`] lets work under way end.
//!
//! A failed step ([`JobError::Retry`]) is logged and tried again at the next tick; a job that
//! cannot go on ([`JobError::Fatal`]) or panics ends, and the [`Supervisor`] that runs the jobs
//! (with the HTTP servers) names it and why, after which the instance shuts down and exits 1.
//!
//! The jobs ([`start_all`]), their ticks and their switches:
//!
//! | Job | Does | Tick | Woken early by |
//! |---|---|---|---|
//! | `catalog` | recomputes the products marked by order intake and cancels ([`catalog`]) | 5 s | a mark in this process (after 250 ms, for a burst) |
//! | `orders` | places due supplier orders, up to 8 calls at a time ([`orders`]) | 1 s | an order taken in here, a call that ended |
//! | `feeds` | imports due feeds, one after another ([`feeds`]) | `IRP_POLL_TICK_SECS` | — |
//! | `pim` | syncs the PIM when it is due ([`pim`]) | `IRP_POLL_TICK_SECS` | — |
//! | `channels` | the channels' Shopware sync ([`channels`]) | `IRP_CHANNEL_TICK_SECS` | a recompute that changed channel rows, a matched shipment |
//! | `erp` | records placed supplier orders in the ERP ([`erp`]) | `IRP_ERP_TICK_SECS` | — |
//! | `monitor` | thresholds every `IRP_MONITOR_TICK_SECS` (one instance of several: a job lease), notifications every 5 s ([`monitor`]) | ≤ 5 s | — |
//! | `presence` | says this instance is alive, for `irp status` ([`presence`]) | 5 s | — |
//!
//! A tick of `0` switches that job off in this instance.

pub mod catalog;
pub mod channels;
pub mod erp;
pub mod feeds;
pub mod monitor;
pub mod orders;
pub mod pim;
pub mod presence;
mod runner;
mod supervisor;

use std::future::Future;
use std::time::Duration;

use irp_store::Store;
use irp_store::secrets::SecretKey;
use tokio::sync::watch;

use crate::cli::ServeArgs;

pub use runner::run;
pub use supervisor::{Exit, Supervisor};

/// A background job: one round of work at a time, run by [`run`].
///
/// The futures are `Send`, so a job runs on any of the runtime's threads. Implementations write
/// the methods as `async fn`.
pub trait Job: Send + 'static {
    /// Its name in logs and metrics (`catalog`, `orders`, …).
    fn name(&self) -> &'static str;

    /// The longest wait between two steps.
    fn tick(&self) -> Duration;

    /// Resolves when there is work before the tick is up; the default never does. It races the
    /// tick and the stop, so it must be cancel-safe: dropped unfinished, it loses nothing.
    fn wake(&mut self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }

    /// One round: does what is due and says what it did.
    ///
    /// # Errors
    /// [`JobError::Retry`]: the round failed, it is tried again at the next tick;
    /// [`JobError::Fatal`]: the job cannot go on.
    fn step(&mut self) -> impl Future<Output = Result<StepReport, JobError>> + Send;

    /// Called once when the job ends (stopped, or after a fatal step): work it started and
    /// that still runs (an order call) ends here. The default has none.
    fn finish(&mut self) -> impl Future<Output = ()> + Send {
        async {}
    }
}

/// What one [`Job::step`] did: counted on `/metrics` and logged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StepReport {
    /// Things done: products recomputed, feeds imported, supplier order calls made, ERP
    /// documents worked on, alerts opened, resolved or notified. 0: nothing was due.
    pub items: u64,
    /// Failures within the step that were logged and did not stop it (one channel of several,
    /// say); a step that failed as a whole returns [`JobError::Retry`] instead.
    pub errors: u64,
    /// More work is waiting: the next step runs at once, without waiting for the tick.
    pub again: bool,
    /// Wait at most this long before the next step (a retry due before the tick).
    pub wait: Option<Duration>,
}

impl StepReport {
    /// Nothing was due.
    pub fn idle() -> Self {
        Self::default()
    }

    /// `items` things were done.
    pub fn done(items: u64) -> Self {
        Self {
            items,
            ..Self::default()
        }
    }

    /// More work is waiting: step again at once.
    #[must_use]
    pub fn more(self) -> Self {
        Self {
            again: true,
            ..self
        }
    }

    /// Step again within `wait` (or the tick, if that comes first).
    #[must_use]
    pub fn within(self, wait: Duration) -> Self {
        Self {
            wait: Some(wait),
            ..self
        }
    }
}

/// Why a [`Job::step`] did not do its round.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobError {
    /// The round failed: logged as `what` with the error, and tried again at the next tick.
    #[error("{what}: {error}")]
    Retry {
        /// The log message (`Polling a feed failed`).
        what: &'static str,
        /// Why.
        error: String,
    },
    /// The job cannot go on: it ends, and the instance shuts down and exits 1. (No job gives up
    /// on its own today: each retries until it is stopped.)
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "for a job that cannot go on; none gives up today")
    )]
    #[error("{0}")]
    Fatal(String),
}

impl JobError {
    /// A round that failed with `error`, logged as `what`.
    pub fn retry(what: &'static str, error: impl std::fmt::Display) -> Self {
        Self::Retry {
            what,
            error: error.to_string(),
        }
    }
}

/// Starts the background jobs of `serve` under `supervisor`, as `args` switches them on; each
/// stops when `stop` turns true. `owner` names this instance in claims and leases; it listens
/// on `listen`.
pub fn start_all(
    supervisor: &mut Supervisor,
    store: &Store,
    owner: &str,
    listen: &str,
    secret_key: Option<SecretKey>,
    args: &ServeArgs,
    stop: &watch::Receiver<bool>,
) {
    // Products marked by order intake (reserved units) and cancels, and those a previous
    // process marked but did not recompute (the first step, at start).
    supervisor.start(catalog::Catalog::new(store.clone()), stop.clone());
    // Always: a supplier order taken in here is sent at once; one taken in by another
    // instance is found within a second.
    supervisor.start(
        orders::Orders::new(store.clone(), owner, secret_key.clone()),
        stop.clone(),
    );
    if args.poll_tick_secs > 0 {
        let tick = Duration::from_secs(args.poll_tick_secs);
        // The PIM sync checks its schedule every tick too (it runs when its interval passed).
        supervisor.start(
            pim::Pim::new(store.clone(), owner, secret_key.clone(), tick),
            stop.clone(),
        );
        supervisor.start(
            feeds::Feeds::new(store.clone(), owner, secret_key.clone(), tick),
            stop.clone(),
        );
    } else {
        tracing::info!(
            "Feed polling and the PIM sync are off in this instance (IRP_POLL_TICK_SECS=0)"
        );
    }
    if args.channel_tick_secs > 0 {
        supervisor.start(
            channels::Channels::new(
                store.clone(),
                owner,
                secret_key.clone(),
                Duration::from_secs(args.channel_tick_secs),
            ),
            stop.clone(),
        );
    } else {
        tracing::info!(
            "The channels' Shopware sync is off in this instance (IRP_CHANNEL_TICK_SECS=0)"
        );
    }
    if args.erp_tick_secs > 0 {
        supervisor.start(
            erp::ErpRounds::new(
                store.clone(),
                owner,
                secret_key,
                Duration::from_secs(args.erp_tick_secs),
            ),
            stop.clone(),
        );
    }
    if args.monitor_tick_secs > 0 {
        let notifier = args
            .notify_url
            .clone()
            .filter(|u| !u.trim().is_empty())
            .map(irp_pipeline::monitor::Notifier::new);
        if let Some(n) = &notifier {
            tracing::info!(to = %irp_clients::notify::shown_host(&n.url), "Alerts are posted to the notification webhook");
        }
        supervisor.start(
            monitor::Monitor::new(
                store.clone(),
                owner,
                Duration::from_secs(args.monitor_tick_secs),
                notifier,
            ),
            stop.clone(),
        );
    }
    let jobs = supervisor.job_names();
    supervisor.start(
        presence::Presence::new(store.clone(), owner, listen, &jobs),
        stop.clone(),
    );
    tracing::info!(%owner, ?jobs, "Background jobs started");
}
