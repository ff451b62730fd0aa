//! Progress of long work (a feed run, a catalog recompute, a channel push): the phase it is
//! in and how far it got, shared between the work, which counts, and whoever shows it (the
//! CLI's bar or its log lines). Counting is an atomic add, so the work pays nothing for it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// What long work is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not started yet.
    Starting,
    /// Fetching the feed (HTTP, SFTP).
    Downloading,
    /// Reading, checking and writing the feed's rows (counted: rows read).
    Reading,
    /// Comparing with the stored offers and applying the run.
    Applying,
    /// Pricing the products whose offers or pricing changed (counted: products).
    Pricing,
    /// Sending products to a shop (counted: products).
    Pushing,
}

impl Phase {
    /// The phase as shown.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Starting => "starting",
            Phase::Downloading => "downloading",
            Phase::Reading => "reading",
            Phase::Applying => "applying",
            Phase::Pricing => "pricing",
            Phase::Pushing => "pushing",
        }
    }

    /// The phase named `name` (as [`Phase::as_str`] shows it).
    #[must_use]
    pub fn parse(name: &str) -> Option<Phase> {
        [
            Phase::Starting,
            Phase::Downloading,
            Phase::Reading,
            Phase::Applying,
            Phase::Pricing,
            Phase::Pushing,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }

    /// What the phase counts.
    #[must_use]
    pub const fn unit(self) -> &'static str {
        match self {
            Phase::Reading => "rows",
            Phase::Pricing | Phase::Pushing => "products",
            Phase::Starting | Phase::Downloading | Phase::Applying => "",
        }
    }
}

/// Where long work stands: cheap to clone (one shared state).
#[derive(Debug, Clone)]
pub struct Progress(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    phase: Mutex<Phase>,
    done: AtomicU64,
    /// 0: not known.
    total: AtomicU64,
}

/// A reading of a [`Progress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    /// The phase.
    pub phase: Phase,
    /// Counted so far in this phase.
    pub done: u64,
    /// What the phase expects to count, when known (an estimate for a walk over the whole
    /// catalog: the offers, of which several may share a product).
    pub total: Option<u64>,
}

impl Default for Progress {
    fn default() -> Self {
        Progress(Arc::new(Inner {
            phase: Mutex::new(Phase::Starting),
            done: AtomicU64::new(0),
            total: AtomicU64::new(0),
        }))
    }
}

impl Progress {
    /// A new progress, `starting`.
    #[must_use]
    pub fn new() -> Self {
        Progress::default()
    }

    /// Enter `phase`, expecting `total` (when known); its count starts at 0.
    pub fn enter(&self, phase: Phase, total: Option<u64>) {
        // Under the lock, so a reading never pairs the new phase with the old counts.
        let mut guard = self.0.phase.lock();
        self.0.done.store(0, Ordering::Relaxed);
        self.0.total.store(total.unwrap_or(0), Ordering::Relaxed);
        if let Ok(p) = guard.as_mut() {
            **p = phase;
        }
    }

    /// Count `n` more.
    pub fn add(&self, n: u64) {
        self.0.done.fetch_add(n, Ordering::Relaxed);
    }

    /// Where it stands now.
    #[must_use]
    pub fn snapshot(&self) -> Snapshot {
        // Under the lock, so the phase and its counts are read together.
        let guard = self.0.phase.lock();
        let phase = guard.as_ref().map_or(Phase::Starting, |p| **p);
        let total = self.0.total.load(Ordering::Relaxed);
        Snapshot {
            phase,
            done: self.0.done.load(Ordering::Relaxed),
            total: (total > 0).then_some(total),
        }
    }
}

/// How often a [`Reporter`] writes where its work stands.
pub const REPORT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// Writes where a piece of work stands to the store's progress board (see
/// [`irp_store::progress`]) every [`REPORT_EVERY`] while it runs, so that the portal, the API
/// and other instances can show it; [`Reporter::finish`] takes the entry down. Work that ends
/// within the first second never shows up. A failed write is logged and skipped: showing
/// progress never stops the work.
#[derive(Debug)]
pub struct Reporter {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
    store: irp_store::Store,
    work: String,
    cleared: bool,
}

impl Reporter {
    /// Start reporting `progress` as `work` (an [`irp_store::progress::feed_run_work`] key).
    #[must_use]
    pub fn start(store: &irp_store::Store, work: String, progress: &Progress) -> Reporter {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let task = tokio::spawn(report_loop(
            store.clone(),
            work.clone(),
            progress.clone(),
            stopped,
        ));
        Reporter {
            task,
            stop,
            store: store.clone(),
            work,
            cleared: false,
        }
    }

    /// Stop reporting and take the entry down.
    pub async fn finish(mut self) {
        // The loop may be inside a write: it ends after it, so the entry is not put back after
        // it was taken down.
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
        if let Err(e) = self.store.progress().clear(&self.work).await {
            tracing::debug!(work = %self.work, error = %e, "Clearing progress failed");
        }
        self.cleared = true;
    }
}

impl Drop for Reporter {
    /// Work that ended by an error (without [`Reporter::finish`]) stops reporting too; its
    /// entry is taken down in the background.
    fn drop(&mut self) {
        self.task.abort();
        if !self.cleared
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let (store, work) = (self.store.clone(), std::mem::take(&mut self.work));
            rt.spawn(async move {
                let _ = store.progress().clear(&work).await;
            });
        }
    }
}

async fn report_loop(
    store: irp_store::Store,
    work: String,
    progress: Progress,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut phase = None;
    let mut phase_started_at = irp_store::now();
    let mut warned = false;
    loop {
        tokio::select! {
            () = tokio::time::sleep(REPORT_EVERY) => {}
            _ = stopped.changed() => return,
        }
        let s = progress.snapshot();
        let now = irp_store::now();
        if phase != Some(s.phase) {
            phase = Some(s.phase);
            phase_started_at = now;
        }
        let entry = irp_store::progress::WorkProgress {
            work: work.clone(),
            phase: s.phase.as_str().to_owned(),
            done: i64::try_from(s.done).unwrap_or(i64::MAX),
            total: s.total.and_then(|t| i64::try_from(t).ok()),
            phase_started_at,
            updated_at: now,
        };
        if let Err(e) = store.progress().record(&entry).await
            && !warned
        {
            warned = true;
            tracing::warn!(work = %work, error = %e, "Recording progress failed; the work goes on");
        }
    }
}

/// Enter `phase` on `progress`, if there is one.
pub(crate) fn enter(progress: Option<&Progress>, phase: Phase, total: Option<u64>) {
    if let Some(p) = progress {
        p.enter(phase, total);
    }
}

/// Count `n` on `progress`, if there is one.
pub(crate) fn add(progress: Option<&Progress>, n: u64) {
    if let Some(p) = progress {
        p.add(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_count_from_zero_and_clones_share_the_state() {
        let p = Progress::new();
        let shown = p.clone();
        assert_eq!(shown.snapshot().phase, Phase::Starting);
        p.enter(Phase::Reading, None);
        p.add(5);
        p.add(2);
        assert_eq!(
            shown.snapshot(),
            Snapshot {
                phase: Phase::Reading,
                done: 7,
                total: None
            }
        );
        p.enter(Phase::Pricing, Some(100));
        p.add(40);
        assert_eq!(
            shown.snapshot(),
            Snapshot {
                phase: Phase::Pricing,
                done: 40,
                total: Some(100)
            }
        );
    }
}
