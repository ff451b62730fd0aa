//! The one loop that runs any [`Job`], and the metrics it keeps.

use std::time::Instant;

use tokio::sync::watch;

use super::{Job, JobError, StepReport};

/// Counted per job on `/metrics` (label `job`).
struct Metrics {
    /// `irp_job_steps_total`: steps run, failed ones included.
    steps: metrics::Counter,
    /// `irp_job_items_total`: [`StepReport::items`] summed.
    items: metrics::Counter,
    /// `irp_job_errors_total`: failed steps, and failures within steps
    /// ([`StepReport::errors`]).
    errors: metrics::Counter,
    /// `irp_job_last_step_seconds`: how long the last step took.
    last_step: metrics::Gauge,
}

impl Metrics {
    fn of(job: &'static str) -> Self {
        // Registered now, so a job that has not stepped yet shows 0.
        Self {
            steps: metrics::counter!("irp_job_steps_total", "job" => job),
            items: metrics::counter!("irp_job_items_total", "job" => job),
            errors: metrics::counter!("irp_job_errors_total", "job" => job),
            last_step: metrics::gauge!("irp_job_last_step_seconds", "job" => job),
        }
    }
}

/// Runs `job` until `stop` turns true (or its sender is gone): a step, then a wait for the
/// tick — shorter when the step asked for it or the job is woken, none when more is waiting.
/// A failed step is logged and tried again at the next tick. Ends with [`Job::finish`].
///
/// # Errors
/// The job cannot go on ([`JobError::Fatal`]): why.
pub async fn run<J: Job>(mut job: J, mut stop: watch::Receiver<bool>) -> Result<(), String> {
    let name = job.name();
    let tick = job.tick();
    let metrics = Metrics::of(name);
    tracing::debug!(
        job = name,
        tick_ms = tick.as_millis(),
        "Background job started"
    );
    loop {
        if *stop.borrow() {
            break;
        }
        let started = Instant::now();
        let result = job.step().await;
        let took = started.elapsed();
        metrics.steps.increment(1);
        metrics.last_step.set(took.as_secs_f64());
        let report = match result {
            Ok(report) => report,
            Err(JobError::Retry { what, error }) => {
                metrics.errors.increment(1);
                tracing::error!(job = name, error = %error, "{what}");
                StepReport::idle()
            }
            Err(JobError::Fatal(why)) => {
                metrics.errors.increment(1);
                job.finish().await;
                return Err(why);
            }
        };
        metrics.items.increment(report.items);
        metrics.errors.increment(report.errors);
        if report.items > 0 || report.errors > 0 {
            tracing::debug!(
                job = name,
                items = report.items,
                errors = report.errors,
                ms = took.as_millis(),
                "Background job step"
            );
        }
        if report.again {
            continue;
        }
        let wait = report.wait.map_or(tick, |w| w.min(tick));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = job.wake() => {}
            changed = stop.changed() => {
                if changed.is_err() {
                    // Nobody can tell it to stop any more: stop now.
                    break;
                }
            }
        }
    }
    job.finish().await;
    tracing::debug!(job = name, "Background job stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use tokio::sync::{Notify, watch};

    use super::run;
    use crate::server::jobs::{Job, JobError, StepReport, Supervisor};

    /// What a scripted step does.
    #[derive(Clone)]
    enum Do {
        Report(StepReport),
        Fail(JobError),
        Panic,
    }

    /// Counts its steps (and when they ran); each step does what `plan` says for that step (the
    /// last entry is repeated).
    struct Scripted {
        name: &'static str,
        tick: Duration,
        plan: Vec<Do>,
        steps: Arc<Mutex<Vec<Instant>>>,
        finished: Arc<AtomicU64>,
        wake: Option<Arc<Notify>>,
    }

    impl Scripted {
        fn new(name: &'static str, tick: Duration) -> Self {
            Self {
                name,
                tick,
                plan: vec![Do::Report(StepReport::done(1))],
                steps: Arc::default(),
                finished: Arc::default(),
                wake: None,
            }
        }

        fn plan(mut self, plan: Vec<Do>) -> Self {
            self.plan = plan;
            self
        }
    }

    impl Job for Scripted {
        fn name(&self) -> &'static str {
            self.name
        }

        fn tick(&self) -> Duration {
            self.tick
        }

        async fn wake(&mut self) {
            match &self.wake {
                Some(n) => n.notified().await,
                None => std::future::pending().await,
            }
        }

        async fn step(&mut self) -> Result<StepReport, JobError> {
            let n = {
                let mut steps = self.steps.lock().unwrap();
                steps.push(Instant::now());
                steps.len()
            };
            match self.plan[(n - 1).min(self.plan.len() - 1)].clone() {
                Do::Report(r) => Ok(r),
                Do::Fail(e) => Err(e),
                Do::Panic => panic!("the database vanished"),
            }
        }

        async fn finish(&mut self) {
            self.finished.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Waits (at most 10 s) until `n` steps ran; their times.
    async fn steps_reach(steps: &Mutex<Vec<Instant>>, n: usize) -> Vec<Instant> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = steps.lock().unwrap().clone();
            if s.len() >= n {
                return s;
            }
            assert!(Instant::now() < deadline, "only {} steps", s.len());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn a_job_steps_every_tick_until_stopped() {
        let job = Scripted::new("counts", Duration::from_millis(20));
        let (steps, finished) = (job.steps.clone(), job.finished.clone());
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(job, stop));
        let at = steps_reach(&steps, 4).await;
        // A step, then the tick: never two steps closer than the tick.
        for pair in at.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(15), "{at:?}");
        }
        stop_tx.send(true).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert_eq!(ended.unwrap().unwrap(), Ok(()));
        assert_eq!(finished.load(Ordering::SeqCst), 1, "finish runs once");
    }

    #[tokio::test]
    async fn a_failed_step_is_tried_again_at_the_next_tick() {
        let job = Scripted::new("flaky", Duration::from_millis(50)).plan(vec![
            Do::Fail(JobError::retry(
                "Polling a feed failed",
                "connection refused",
            )),
            Do::Report(StepReport::done(2)),
        ]);
        let steps = job.steps.clone();
        let (_stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(job, stop));
        let at = steps_reach(&steps, 3).await;
        assert!(at[1] - at[0] >= Duration::from_millis(40), "{at:?}");
        assert!(!task.is_finished(), "an error does not end the job");
        task.abort();
    }

    #[tokio::test]
    async fn a_shutdown_stops_a_job_waiting_for_its_tick() {
        let hour = Duration::from_secs(3600);
        let job = Scripted::new("sleepy", hour);
        let (steps, finished) = (job.steps.clone(), job.finished.clone());
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(job, stop));
        steps_reach(&steps, 1).await;
        stop_tx.send(true).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(5), task).await;
        assert_eq!(ended.unwrap().unwrap(), Ok(()));
        assert_eq!(steps.lock().unwrap().len(), 1);
        assert_eq!(finished.load(Ordering::SeqCst), 1);
        // A job told to stop before it started does not step at all.
        let job = Scripted::new("late", hour);
        let steps = job.steps.clone();
        let (_stop_tx, stop) = watch::channel(true);
        assert_eq!(run(job, stop).await, Ok(()));
        assert!(steps.lock().unwrap().is_empty());
        // Nor does one whose stop can no longer be sent go on.
        let (stop_tx, stop) = watch::channel(false);
        drop(stop_tx);
        let ended = tokio::time::timeout(
            Duration::from_secs(5),
            run(Scripted::new("orphan", hour), stop),
        )
        .await;
        assert_eq!(ended.unwrap(), Ok(()));
    }

    #[tokio::test]
    async fn a_wake_up_more_work_or_a_shorter_wait_steps_before_the_tick() {
        let hour = Duration::from_secs(3600);
        // Woken.
        let mut job = Scripted::new("woken", hour);
        let notify = Arc::new(Notify::new());
        job.wake = Some(notify.clone());
        let steps = job.steps.clone();
        let (_stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(job, stop));
        steps_reach(&steps, 1).await;
        notify.notify_one();
        steps_reach(&steps, 2).await;
        task.abort();
        // More waiting: three steps back to back, then the tick.
        let job = Scripted::new("busy", hour).plan(vec![
            Do::Report(StepReport::done(1).more()),
            Do::Report(StepReport::done(1).more()),
            Do::Report(StepReport::idle()),
        ]);
        let steps = job.steps.clone();
        let (_stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(job, stop));
        steps_reach(&steps, 3).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(steps.lock().unwrap().len(), 3);
        task.abort();
        // A retry due before the tick.
        let job = Scripted::new("soon", hour).plan(vec![Do::Report(
            StepReport::idle().within(Duration::from_millis(10)),
        )]);
        let steps = job.steps.clone();
        let (_stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(job, stop));
        steps_reach(&steps, 3).await;
        task.abort();
    }

    #[tokio::test]
    async fn a_job_that_panics_or_cannot_go_on_is_reported_by_name() {
        let mut jobs = Supervisor::default();
        let (stop_tx, stop) = watch::channel(false);
        jobs.start(
            Scripted::new("steady", Duration::from_secs(3600)),
            stop.clone(),
        );
        jobs.start(
            Scripted::new("panics", Duration::from_millis(10))
                .plan(vec![Do::Report(StepReport::idle()), Do::Panic]),
            stop.clone(),
        );
        let exit = jobs.next_exit().await;
        assert_eq!(
            (exit.name, exit.why.as_str(), exit.server),
            ("panics", "it panicked: the database vanished", false)
        );
        let fatal = Scripted::new("gives-up", Duration::from_millis(10)).plan(vec![Do::Fail(
            JobError::Fatal("the schema is too new".into()),
        )]);
        let finished = fatal.finished.clone();
        jobs.start(fatal, stop);
        let exit = jobs.next_exit().await;
        assert_eq!(
            (exit.name, exit.why.as_str()),
            ("gives-up", "it failed: the schema is too new")
        );
        assert_eq!(finished.load(Ordering::SeqCst), 1, "work under way ends");
        stop_tx.send(true).unwrap();
        let t = Instant::now();
        jobs.stop(Duration::from_secs(5)).await;
        assert!(
            t.elapsed() < Duration::from_secs(4),
            "the steady job stopped when told"
        );
    }

    #[tokio::test]
    async fn steps_items_and_errors_are_counted_on_metrics() {
        let handle = crate::server::metrics_handle();
        let job = Scripted::new("metered", Duration::from_millis(10)).plan(vec![
            Do::Report(StepReport::done(3)),
            Do::Fail(JobError::retry("It failed", "why")),
            Do::Report(StepReport {
                items: 1,
                errors: 2,
                ..StepReport::default()
            }),
            Do::Report(StepReport::idle()),
        ]);
        let steps = job.steps.clone();
        let (stop_tx, stop) = watch::channel(false);
        let task = tokio::spawn(run(job, stop));
        steps_reach(&steps, 4).await;
        stop_tx.send(true).unwrap();
        task.await.unwrap().unwrap();
        let n = steps.lock().unwrap().len();
        let text = handle.render();
        let value = |metric: &str| {
            let prefix = format!(
                "{metric}{{irp_instance=\"{}\",job=\"metered\"}} ",
                crate::server::instance_id()
            );
            text.lines()
                .find_map(|l| l.strip_prefix(prefix.as_str()))
                .unwrap_or_else(|| panic!("no {metric} in {text}"))
                .parse::<f64>()
                .unwrap()
        };
        assert_eq!(value("irp_job_steps_total"), n as f64);
        assert_eq!(value("irp_job_items_total"), 4.0);
        assert_eq!(value("irp_job_errors_total"), 3.0);
        assert!(value("irp_job_last_step_seconds") >= 0.0);
    }
}
