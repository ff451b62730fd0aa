//! The monitor: every minute (in `irp serve`), each refurbisher's facts against its thresholds;
//! a breach opens one alert (not one per minute), recovery resolves it, and both are posted
//! to the notification webhook when one is configured. Unmatched shipments are tried again on
//! the same tick (their supplier order may have been placed since).
//!
//! The time is a parameter of [`tick`], so tests drive every threshold with their own clock.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use irp_core::feed::FeedRunStatus;
use irp_core::monitoring::{self, Reading};
use irp_store::Store;
use irp_store::monitor::{AlertChange, DueNotification};
use serde::Serialize;
use serde_json::json;

/// The readings of one refurbisher.
#[derive(Debug, Clone, Serialize)]
pub struct RefurbisherReadings {
    /// Refurbisher id.
    pub refurbisher_id: i64,
    /// Connector key.
    pub key: String,
    /// Whether it is enabled (a disabled refurbisher is not monitored: no readings breach).
    pub enabled: bool,
    /// Each metric.
    pub readings: Vec<Reading>,
}

/// Every refurbisher's readings at `now`.
///
/// # Errors
/// The store fails.
pub async fn readings(
    store: &Store,
    now: DateTime<Utc>,
) -> Result<Vec<RefurbisherReadings>, irp_store::StoreError> {
    let refurbishers = store.refurbishers().list().await?;
    let facts = store.monitor().facts(&refurbishers).await?;
    Ok(refurbishers
        .iter()
        .map(|r| {
            let f = facts.get(&r.id).cloned().unwrap_or_default();
            let mut readings = monitoring::evaluate(&r.key, &r.model.monitoring, &f, now);
            if !r.model.enabled {
                for reading in &mut readings {
                    reading.breach = false;
                }
            }
            RefurbisherReadings {
                refurbisher_id: r.id,
                key: r.key.clone(),
                enabled: r.model.enabled,
                readings,
            }
        })
        .collect())
}

/// What one tick did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TickReport {
    /// Alerts opened: (refurbisher key, metric).
    pub opened: Vec<(String, monitoring::Metric)>,
    /// Alerts resolved: (refurbisher key, metric).
    pub resolved: Vec<(String, monitoring::Metric)>,
    /// Unmatched shipments matched now.
    pub shipments_matched: u64,
}

/// Evaluate every refurbisher at `now` and open or resolve its alerts; try unmatched shipments
/// again.
///
/// # Errors
/// The store fails.
pub async fn tick(store: &Store, now: DateTime<Utc>) -> Result<TickReport, irp_store::StoreError> {
    let mut report = TickReport::default();
    // Runs whose process died are closed first, so what is read below sees them ended.
    crate::feed::close_interrupted(store).await?;
    for r in readings(store, now).await? {
        for reading in &r.readings {
            // The feed-run metrics read one run (their value is its id): open only while that
            // run still is as read, and resolve only while no later run has ended.
            let run = reading.value.map_or(0, |id| id as i64);
            let basis = match reading.metric {
                monitoring::Metric::FeedFailed => Some((run, FeedRunStatus::Failed)),
                monitoring::Metric::FeedQuarantined => Some((run, FeedRunStatus::Quarantined)),
                _ => None,
            };
            let change = store
                .monitor()
                .alert_sync(
                    Some(r.refurbisher_id),
                    reading.metric,
                    reading.breach,
                    &reading.value_text(),
                    &reading.threshold_text(),
                    &reading.message,
                    now,
                    basis,
                )
                .await?;
            match change {
                AlertChange::Opened(id) => {
                    tracing::warn!(alert = id, refurbisher = %r.key, metric = %reading.metric, message = %reading.message, "Alert opened");
                    report.opened.push((r.key.clone(), reading.metric));
                }
                AlertChange::Resolved(id) => {
                    tracing::info!(alert = id, refurbisher = %r.key, metric = %reading.metric, message = %reading.message, "Alert resolved");
                    report.resolved.push((r.key.clone(), reading.metric));
                }
                AlertChange::None => {}
            }
        }
    }
    report.shipments_matched = crate::shipments::rematch(store).await?;
    if report.shipments_matched > 0 {
        tracing::info!(
            matched = report.shipments_matched,
            "Unmatched shipments matched to their supplier orders"
        );
    }
    Ok(report)
}

/// The notification webhook.
#[derive(Clone)]
pub struct Notifier {
    /// Where alerts are posted (a secret: never logged).
    pub url: String,
    /// How long one post may take.
    pub timeout: Duration,
    /// Attempts before a notification is given up (its error stays on the alert).
    pub max_attempts: i64,
}

impl Notifier {
    /// A notifier posting to `url`, with 10 s per post and 10 attempts.
    pub fn new(url: String) -> Self {
        Self {
            url,
            timeout: Duration::from_secs(10),
            max_attempts: 10,
        }
    }
}

/// Events older than this when first due are not sent (they are from before the webhook was
/// configured; a chat flooded with yesterday's alerts helps nobody).
const STALE: TimeDelta = TimeDelta::hours(24);

/// The JSON posted for an alert event: `text` for Slack-compatible receivers, the rest for
/// machines.
pub fn notification_body(n: &DueNotification) -> serde_json::Value {
    let a = &n.alert;
    let who = a.refurbisher.as_deref().unwrap_or("IRP");
    let text = match n.event {
        "opened" => format!(
            ":rotating_light: IRP alert opened — {}: {}",
            a.metric, a.message
        ),
        _ => format!(
            ":white_check_mark: IRP alert resolved — {} ({who}), open since {}",
            a.metric,
            a.opened_at.format("%Y-%m-%d %H:%M UTC")
        ),
    };
    json!({
        "text": text,
        "event": n.event,
        "alert": {
            "id": a.id,
            "refurbisher": a.refurbisher,
            "metric": a.metric,
            "value": a.value,
            "last_value": a.last_value,
            "threshold": a.threshold,
            "message": a.message,
            "opened_at": a.opened_at,
            "resolved_at": a.resolved_at,
        }
    })
}

/// Send the notifications that are due, one after the other; returns how many were sent.
/// A failed post is retried with growing pauses (30 s, 1 min, 2 min, … up to an hour).
///
/// # Errors
/// The store fails.
pub async fn notify_due(store: &Store, notifier: &Notifier) -> Result<u64, irp_store::StoreError> {
    let mut sent = 0;
    while let Some(due) = store
        .monitor()
        .alert_notification_claim(TimeDelta::seconds(
            i64::try_from(notifier.timeout.as_secs()).unwrap_or(60) + 30,
        ))
        .await?
    {
        let a = &due.alert;
        let event_at = if due.event == "opened" {
            a.opened_at
        } else {
            a.resolved_at.unwrap_or(a.opened_at)
        };
        if a.notify_attempts == 0 && irp_store::now() - event_at > STALE {
            store
                .monitor()
                .alert_notification_done(a.id, due.event, None, None)
                .await?;
            tracing::info!(
                alert = a.id,
                event = due.event,
                "Alert older than a day not notified"
            );
            continue;
        }
        match irp_clients::notify::post(&notifier.url, &notification_body(&due), notifier.timeout)
            .await
        {
            Ok(_) => {
                store
                    .monitor()
                    .alert_notification_done(a.id, due.event, None, None)
                    .await?;
                sent += 1;
            }
            Err(e) => {
                let attempts = a.notify_attempts + 1;
                let retry = (attempts < notifier.max_attempts).then(|| {
                    let secs = (30_i64 << (attempts - 1).min(7)).min(3600);
                    irp_store::now() + TimeDelta::seconds(secs)
                });
                tracing::warn!(alert = a.id, event = due.event, attempts, error = %e, gives_up = retry.is_none(), "Notifying an alert failed");
                store
                    .monitor()
                    .alert_notification_done(a.id, due.event, Some(&e), retry)
                    .await?;
            }
        }
    }
    Ok(sent)
}
