//! Alerts and the monitor's readings.

use chrono::{DateTime, Utc};
use irp_core::monitoring::Metric;
use serde::Serialize;
use utoipa::ToSchema;

/// An alert opened by the monitor, the feed guards or the price guard.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Alert {
    /// Alert id.
    pub id: i64,
    /// The refurbisher (none for an installation-wide alert).
    pub refurbisher_id: Option<i64>,
    /// Its connector key.
    pub refurbisher: Option<String>,
    /// What is measured.
    #[schema(schema_with = super::names::<Metric>)]
    pub metric: Metric,
    /// The value when it opened.
    pub value: Option<String>,
    /// The latest value while open.
    pub last_value: Option<String>,
    /// The threshold.
    pub threshold: Option<String>,
    /// What it is about.
    pub message: String,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// When its opening was notified.
    pub notified_at: Option<DateTime<Utc>>,
    /// When its resolution was notified.
    pub resolved_notified_at: Option<DateTime<Utc>>,
    /// Failed notification attempts.
    pub notify_attempts: i64,
    /// Why the last notification attempt failed.
    pub notify_error: Option<String>,
}

impl From<irp_store::monitor::Alert> for Alert {
    fn from(a: irp_store::monitor::Alert) -> Self {
        Alert {
            id: a.id,
            refurbisher_id: a.refurbisher_id,
            refurbisher: a.refurbisher,
            metric: a.metric,
            value: a.value,
            last_value: a.last_value,
            threshold: a.threshold,
            message: a.message,
            opened_at: a.opened_at,
            resolved_at: a.resolved_at,
            notified_at: a.notified_at,
            resolved_notified_at: a.resolved_notified_at,
            notify_attempts: a.notify_attempts,
            notify_error: a.notify_error,
        }
    }
}

/// The monitor's readings of one refurbisher.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefurbisherReadings {
    /// Refurbisher id.
    pub refurbisher_id: i64,
    /// Connector key.
    pub key: String,
    /// Whether it is enabled (a disabled refurbisher's readings never breach).
    pub enabled: bool,
    /// Each metric.
    pub readings: Vec<Reading>,
}

impl From<irp_pipeline::monitor::RefurbisherReadings> for RefurbisherReadings {
    fn from(r: irp_pipeline::monitor::RefurbisherReadings) -> Self {
        RefurbisherReadings {
            refurbisher_id: r.refurbisher_id,
            key: r.key,
            enabled: r.enabled,
            readings: r.readings.into_iter().map(Into::into).collect(),
        }
    }
}

/// One metric of one refurbisher, evaluated.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Reading {
    /// The metric.
    #[schema(schema_with = super::names::<Metric>)]
    pub metric: Metric,
    /// The measured value; `null` when there is nothing to measure.
    pub value: Option<f64>,
    /// The threshold; `null` when the metric is switched off.
    pub threshold: Option<f64>,
    /// Whether the value breaches the threshold.
    pub breach: bool,
    /// What was measured against what, in words.
    pub message: String,
}

impl From<irp_core::monitoring::Reading> for Reading {
    fn from(r: irp_core::monitoring::Reading) -> Self {
        Reading {
            metric: r.metric,
            value: r.value,
            threshold: r.threshold,
            breach: r.breach,
            message: r.message,
        }
    }
}

/// A page of alerts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertList {
    /// Newest first.
    pub alerts: Vec<Alert>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_offset: Option<i64>,
}

/// Every refurbisher's readings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MonitorAnswer {
    /// One per refurbisher.
    pub refurbishers: Vec<RefurbisherReadings>,
}
