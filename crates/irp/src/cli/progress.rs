//! Long CLI work shown while it runs: on a terminal, a bar on stderr (phase, count, rate and,
//! when the total is known, ETA); otherwise a log line every [`LOG_EVERY`] with the same
//! figures, so a job runner's log shows that a large import is moving.

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use irp_pipeline::progress::{Phase, Progress, Snapshot};

/// How often a log line is written when stderr is not a terminal.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The display of a [`Progress`] while the work runs; [`Shown::finish`] clears it.
pub(crate) struct Shown {
    task: tokio::task::JoinHandle<()>,
    bar: Option<ProgressBar>,
}

/// Show `progress` until [`Shown::finish`].
pub(crate) fn show(progress: &Progress) -> Shown {
    let progress = progress.clone();
    if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let shown = bar.clone();
        let task = tokio::spawn(async move {
            let mut phase = (Phase::Starting, Instant::now());
            restyle(&shown, progress.snapshot());
            loop {
                let now = progress.snapshot();
                if phase.0 != now.phase {
                    phase = (now.phase, Instant::now());
                    restyle(&shown, now);
                }
                shown.set_position(now.done);
                let secs = phase.1.elapsed().as_secs_f64().max(0.001);
                shown.set_prefix(format!("{:.0}/s", now.done as f64 / secs));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Shown {
            task,
            bar: Some(bar),
        }
    } else {
        let task = tokio::spawn(async move {
            let mut since = (Phase::Starting, Instant::now());
            loop {
                tokio::time::sleep(LOG_EVERY).await;
                let now = progress.snapshot();
                if now.phase != since.0 {
                    since = (now.phase, Instant::now());
                }
                log_line(now, since.1.elapsed());
            }
        });
        Shown { task, bar: None }
    }
}

impl Shown {
    /// Stop showing; the bar is cleared from the terminal.
    pub(crate) fn finish(self) {
        self.task.abort();
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// The bar's look for a new phase: a bar with ETA when the total is known, else a spinner.
fn restyle(bar: &ProgressBar, now: Snapshot) {
    let unit = now.phase.unit();
    let template = match now.total {
        Some(_) => format!(
            "{{msg:>11}} [{{bar:30}}] {{human_pos}}/{{human_len}} {unit}, {{prefix}}, ETA {{eta}}"
        ),
        None if unit.is_empty() => "{spinner} {msg:>11} {elapsed}".to_owned(),
        None => format!("{{spinner}} {{msg:>11}} {{human_pos}} {unit}, {{prefix}}"),
    };
    if let Ok(style) = ProgressStyle::with_template(&template) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.reset();
    bar.set_length(now.total.unwrap_or(0));
    bar.set_message(now.phase.as_str());
}

fn log_line(now: Snapshot, in_phase: Duration) {
    let secs = in_phase.as_secs_f64().max(0.001);
    let rate = now.done as f64 / secs;
    let unit = now.phase.unit();
    match now.total {
        Some(total) if now.done > 0 && rate > 0.0 => {
            let left = total.saturating_sub(now.done) as f64 / rate;
            tracing::info!(
                phase = now.phase.as_str(),
                done = now.done,
                total,
                unit,
                rate = rate.round(),
                eta_s = left.round(),
                "Progress"
            );
        }
        _ => tracing::info!(
            phase = now.phase.as_str(),
            done = now.done,
            unit,
            rate = rate.round(),
            "Progress"
        ),
    }
}
