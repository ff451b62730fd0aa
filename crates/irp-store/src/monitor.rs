//! Monitoring's storage: the facts each refurbisher is measured by, and alerts — at most one
//! open per refurbisher and metric (a unique index holds this across instances), each with
//! its notifications as an outbox.

use std::collections::HashMap;

use chrono::{DateTime, TimeDelta, Utc};
use irp_core::config::model::Connection;
use irp_core::feed::FeedRunStatus;
use irp_core::monitoring::{Facts, Metric};
use irp_core::orders::status::UnknownStatus;

use crate::orders::{FAILED, NEEDS_ATTENTION};
use crate::refurbishers::StoredRefurbisher;
use crate::{Result, Store, StoreError, now, with_db};

/// The supplier-order statuses that count as open (SQL list).
const OPEN: &str = "'pending', 'submitting', 'submitted', 'needs_attention'";

/// A stored alert.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Alert {
    /// Alert id.
    pub id: i64,
    /// The refurbisher (none for an installation-wide alert).
    pub refurbisher_id: Option<i64>,
    /// Its connector key.
    pub refurbisher: Option<String>,
    /// What is measured.
    #[sqlx(try_from = "String")]
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

const ALERT_SELECT: &str = "SELECT a.id, a.refurbisher_id, r.key AS refurbisher, a.metric, a.value, a.last_value, a.threshold, a.message, \
     a.opened_at, a.resolved_at, a.notified_at, a.resolved_notified_at, a.notify_attempts, a.notify_error \
     FROM alerts a LEFT JOIN refurbishers r ON r.id = a.refurbisher_id";

/// What `Store::monitor().alert_sync` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChange {
    /// A new alert opened.
    Opened(i64),
    /// The open alert was resolved.
    Resolved(i64),
    /// Nothing changed (still open, or still fine).
    None,
}

/// A notification due: an alert that opened or resolved and was not notified yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNotification {
    /// The alert.
    pub alert: Alert,
    /// `opened` or `resolved`.
    pub event: &'static str,
}

/// Totals for `/metrics`, counted in the database (so they include every instance's and CLI
/// command's work and survive restarts).
#[derive(Debug, Clone, Default)]
pub struct MetricTotals {
    /// Finished feed runs by (refurbisher key, status).
    pub feed_runs: Vec<((String, String), u64)>,
    /// Feed rows by (refurbisher key, `accepted` | `rejected`).
    pub feed_rows: Vec<((String, String), u64)>,
    /// Orders by channel.
    pub orders: Vec<(String, u64)>,
    /// Finished supplier-order attempts by (refurbisher key, outcome).
    pub order_attempts: Vec<((String, String), u64)>,
    /// Shipments by (refurbisher key, current status: a gauge, a shipment matched after review
    /// moves from `unmatched` to `matched`).
    pub shipments: Vec<((String, String), u64)>,
    /// Open alerts by (refurbisher key or `-`, metric).
    pub open_alerts: Vec<((String, String), u64)>,
}

fn pairs(rows: Vec<(String, String, i64)>) -> Vec<((String, String), u64)> {
    rows.into_iter()
        .map(|(a, b, n)| ((a, b), u64::try_from(n).unwrap_or(0)))
        .collect()
}

/// The store's handle on readings, alerts and their notifications ([`Store::monitor`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Monitor<'s>(&'s Store);

impl std::ops::Deref for Monitor<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on readings, alerts and their notifications.
    #[must_use]
    pub fn monitor(&self) -> Monitor<'_> {
        Monitor(self)
    }
}

impl Monitor<'_> {
    /// The totals of [`MetricTotals`].
    ///
    /// # Errors
    /// A database error.
    pub async fn metric_totals(&self) -> Result<MetricTotals> {
        let runs: Vec<(String, String, i64)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT r.key, f.status, COUNT(*) FROM feed_runs f JOIN refurbishers r ON r.id = f.refurbisher_id \
             WHERE f.finished_at IS NOT NULL GROUP BY r.key, f.status"
        )
        .fetch_all(p)
        .await
        })?;
        let rows: Vec<(String, i64, i64)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT r.key, CAST(COALESCE(SUM(f.rows_accepted), 0) AS BIGINT), CAST(COALESCE(SUM(f.rows_rejected), 0) AS BIGINT) \
             FROM feed_runs f JOIN refurbishers r ON r.id = f.refurbisher_id WHERE f.finished_at IS NOT NULL GROUP BY r.key"
        )
        .fetch_all(p)
        .await
        })?;
        let orders: Vec<(String, i64)> = with_db!(self.db(), |p| sqlx::query_as(
            "SELECT channel, COUNT(*) FROM orders GROUP BY channel"
        )
        .fetch_all(p)
        .await)?;
        let attempts: Vec<(String, String, i64)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT r.key, a.outcome, COUNT(*) FROM supplier_order_attempts a JOIN supplier_orders s ON s.id = a.supplier_order_id \
             JOIN refurbishers r ON r.id = s.refurbisher_id WHERE a.finished_at IS NOT NULL GROUP BY r.key, a.outcome"
        )
        .fetch_all(p)
        .await
        })?;
        let shipments: Vec<(String, String, i64)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT r.key, s.status, COUNT(*) FROM shipments s JOIN refurbishers r ON r.id = s.refurbisher_id GROUP BY r.key, s.status"
        )
        .fetch_all(p)
        .await
        })?;
        let alerts: Vec<(String, String, i64)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT COALESCE(r.key, '-'), a.metric, COUNT(*) FROM alerts a LEFT JOIN refurbishers r ON r.id = a.refurbisher_id \
             WHERE a.resolved_at IS NULL GROUP BY COALESCE(r.key, '-'), a.metric"
        )
        .fetch_all(p)
        .await
        })?;
        let to_u = |n: i64| u64::try_from(n).unwrap_or(0);
        Ok(MetricTotals {
            feed_runs: pairs(runs),
            feed_rows: rows
                .into_iter()
                .flat_map(|(k, a, r)| {
                    [
                        ((k.clone(), "accepted".to_owned()), to_u(a)),
                        ((k, "rejected".to_owned()), to_u(r)),
                    ]
                })
                .collect(),
            orders: orders.into_iter().map(|(c, n)| (c, to_u(n))).collect(),
            order_attempts: pairs(attempts),
            shipments: pairs(shipments),
            open_alerts: pairs(alerts),
        })
    }

    /// The monitoring facts of every refurbisher, by id.
    ///
    /// # Errors
    /// A database error.
    pub async fn facts(&self, refurbishers: &[StoredRefurbisher]) -> Result<HashMap<i64, Facts>> {
        let mut out: HashMap<i64, Facts> = refurbishers
            .iter()
            .map(|r| {
                let http =
                    r.model.offers.as_ref().is_some_and(|o| {
                        matches!(o.connection, Connection::Web | Connection::WebPost)
                    });
                (
                    r.id,
                    Facts {
                        registered_at: r.created_at,
                        offers_over_http: http,
                        ..Facts::default()
                    },
                )
            })
            .collect();
        let latest: Vec<(i64, Option<DateTime<Utc>>)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT refurbisher_id, MAX(created_at) FROM supplier_orders GROUP BY refurbisher_id"
        )
        .fetch_all(p)
        .await
        })?;
        for (id, at) in latest {
            if let Some(f) = out.get_mut(&id) {
                f.latest_order_at = at;
            }
        }
        // The oldest open supplier order per refurbisher: its time by aggregate, then the
        // order at that time (an index on the open statuses serves both).
        let open_sql = format!(
            "SELECT s.refurbisher_id, MIN(s.id), s.created_at FROM supplier_orders s \
             JOIN (SELECT refurbisher_id, MIN(created_at) AS oldest FROM supplier_orders \
                   WHERE status IN ({OPEN}) GROUP BY refurbisher_id) o \
               ON o.refurbisher_id = s.refurbisher_id AND s.created_at = o.oldest \
             WHERE s.status IN ({OPEN}) GROUP BY s.refurbisher_id, s.created_at"
        );
        let open: Vec<(i64, i64, DateTime<Utc>)> = with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(open_sql.as_str())
        )
        .fetch_all(p)
        .await)?;
        for (rid, id, at) in open {
            if let Some(f) = out.get_mut(&rid) {
                f.oldest_open_order_at = Some(at);
                f.oldest_open_order_id = Some(id);
            }
        }
        let attention_sql = format!(
            "SELECT refurbisher_id, status, COUNT(*) FROM supplier_orders WHERE status IN ('{FAILED}', '{NEEDS_ATTENTION}') \
             GROUP BY refurbisher_id, status"
        );
        let attention: Vec<(i64, String, i64)> = with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(attention_sql.as_str())
        )
        .fetch_all(p)
        .await)?;
        for (rid, status, n) in attention {
            if let Some(f) = out.get_mut(&rid) {
                if status == FAILED {
                    f.orders_failed = n;
                } else {
                    f.orders_needs_attention = n;
                }
            }
        }
        let refreshed: Vec<(i64, Option<DateTime<Utc>>)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT refurbisher_id, MAX(finished_at) FROM feed_runs WHERE status IN ('succeeded', 'partial', 'unchanged') \
             GROUP BY refurbisher_id"
        )
        .fetch_all(p)
        .await
        })?;
        for (rid, at) in refreshed {
            if let Some(f) = out.get_mut(&rid) {
                f.last_refresh_at = at;
            }
        }
        let http: Vec<(i64, i64, i64)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT f.refurbisher_id, f.id, f.http_status FROM feed_runs f WHERE f.id IN \
             (SELECT MAX(g.id) FROM feed_runs g WHERE g.http_status IS NOT NULL GROUP BY g.refurbisher_id)"
        )
        .fetch_all(p)
        .await
        })?;
        for (rid, run, status) in http {
            if let Some(f) = out.get_mut(&rid) {
                f.last_http_status = Some((run, status));
            }
        }
        let last: Vec<(i64, i64, String)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT f.refurbisher_id, f.id, f.status FROM feed_runs f WHERE f.id IN \
             (SELECT MAX(g.id) FROM feed_runs g WHERE g.finished_at IS NOT NULL GROUP BY g.refurbisher_id)"
        )
        .fetch_all(p)
        .await
        })?;
        for (rid, run, status) in last {
            if let Some(f) = out.get_mut(&rid) {
                f.last_run = Some((run, status.parse().map_err(corrupt)?));
            }
        }
        Ok(out)
    }

    /// Bring the alert of (`refurbisher_id`, `metric`) in line with a reading: open one when
    /// it breaches and none is open (a concurrent instance's open wins, not a second alert),
    /// note the latest value while it stays open, resolve it when it no longer breaches.
    ///
    /// `basis` (feed run id, status): the reading is about that run (id 0: no run yet); the
    /// alert opens only while the run still has that status — an operator who applied or
    /// discarded it since the reading (and so resolved its alert) does not see it open again —
    /// and opens or resolves only while no later run of the refurbisher has ended: a run that
    /// ended quarantined after the reading (and opened its alert itself) keeps its alert open,
    /// and a failed run followed by a good one does not open an alert the next tick resolves.
    ///
    /// # Errors
    /// A database error.
    #[allow(clippy::too_many_arguments)]
    pub async fn alert_sync(
        &self,
        refurbisher_id: Option<i64>,
        metric: Metric,
        breach: bool,
        value: &str,
        threshold: &str,
        message: &str,
        at: DateTime<Utc>,
        basis: Option<(i64, FeedRunStatus)>,
    ) -> Result<AlertChange> {
        if breach {
            let opened: Option<(i64,)> = with_db!(self.db(), |p| {
                sqlx::query_as(
                "INSERT INTO alerts (refurbisher_id, metric, value, last_value, threshold, message, opened_at, notify_next_at) \
                 SELECT $1, $2, $3, $3, $4, $5, $6, $6 \
                 WHERE ($7 IS NULL OR (EXISTS (SELECT 1 FROM feed_runs WHERE id = $7 AND status = $8) \
                     AND NOT EXISTS (SELECT 1 FROM feed_runs f WHERE f.refurbisher_id = $1 AND f.id > $7 AND f.finished_at IS NOT NULL))) \
                 AND NOT EXISTS (SELECT 1 FROM alerts a WHERE COALESCE(a.refurbisher_id, 0) = COALESCE($1, 0) \
                     AND a.metric = $2 AND a.resolved_at IS NULL) \
                 ON CONFLICT DO NOTHING RETURNING id"
            )
            .bind(refurbisher_id)
            .bind(metric.as_str())
            .bind(value)
            .bind(threshold)
            .bind(message)
            .bind(at)
            .bind(basis.map(|b| b.0))
            .bind(basis.map(|b| b.1.as_str()))
            .fetch_optional(p)
            .await
            })?;
            if let Some((id,)) = opened {
                return Ok(AlertChange::Opened(id));
            }
            with_db!(self.db(), |p| {
                sqlx::query(
                "UPDATE alerts SET last_value = $3 WHERE COALESCE(refurbisher_id, 0) = COALESCE($1, 0) AND metric = $2 \
                 AND resolved_at IS NULL AND (last_value IS NULL OR last_value <> $3)"
            )
            .bind(refurbisher_id)
            .bind(metric.as_str())
            .bind(value)
            .execute(p)
            .await
            .map(|r| r.rows_affected())
            })?;
            return Ok(AlertChange::None);
        }
        let resolved: Option<(i64,)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "UPDATE alerts SET resolved_at = $3, last_value = $4, notify_next_at = COALESCE(notify_next_at, $3) \
             WHERE COALESCE(refurbisher_id, 0) = COALESCE($1, 0) AND metric = $2 AND resolved_at IS NULL \
             AND ($5 IS NULL OR NOT EXISTS (SELECT 1 FROM feed_runs f WHERE f.refurbisher_id = $1 \
                  AND f.id > $5 AND f.finished_at IS NOT NULL)) RETURNING id"
        )
        .bind(refurbisher_id)
        .bind(metric.as_str())
        .bind(at)
        .bind(value)
        .bind(basis.map(|b| b.0))
        .fetch_optional(p)
        .await
        })?;
        Ok(resolved.map_or(AlertChange::None, |(id,)| AlertChange::Resolved(id)))
    }

    /// Alerts, newest first: the open ones only, or all.
    ///
    /// # Errors
    /// A database error.
    pub async fn alerts_list(
        &self,
        open_only: bool,
        refurbisher_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Alert>> {
        let sql = format!(
            "{ALERT_SELECT} WHERE ($1 = FALSE OR a.resolved_at IS NULL) AND ($2 IS NULL OR a.refurbisher_id = $2) \
             ORDER BY a.id DESC LIMIT $3"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(open_only)
        .bind(refurbisher_id)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Claim the next alert whose notification is due (for `lease`, so one instance sends
    /// it): its opening when that was not notified yet, else its resolution.
    ///
    /// # Errors
    /// A database error.
    pub async fn alert_notification_claim(
        &self,
        lease: TimeDelta,
    ) -> Result<Option<DueNotification>> {
        let at = now();
        let due: Option<(i64,)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT id FROM alerts WHERE notify_next_at IS NOT NULL AND notify_next_at <= $1 ORDER BY notify_next_at, id LIMIT 1"
        )
        .bind(at)
        .fetch_optional(p)
        .await
        })?;
        let Some((id,)) = due else {
            return Ok(None);
        };
        // The claim: push the due time past the lease, only if nobody else did.
        let n = with_db!(self.db(), |p| sqlx::query(
            "UPDATE alerts SET notify_next_at = $3 WHERE id = $1 AND notify_next_at <= $2"
        )
        .bind(id)
        .bind(at)
        .bind(at + lease)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Ok(None);
        }
        let sql = format!("{ALERT_SELECT} WHERE a.id = $1");
        let alert: Alert = with_db!(self.db(), |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(id)
        .fetch_one(p)
        .await)?;
        let event = if alert.notified_at.is_none() {
            "opened"
        } else {
            "resolved"
        };
        Ok(Some(DueNotification { alert, event }))
    }

    /// Note how a notification went: delivered (`error` is `None`; the next event of the
    /// alert, if any, is due at once) or failed (due again at `retry_at`; `None` gives up).
    ///
    /// # Errors
    /// A database error.
    pub async fn alert_notification_done(
        &self,
        id: i64,
        event: &str,
        error: Option<&str>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let at = now();
        match error {
            None => {
                let column = if event == "opened" {
                    "notified_at"
                } else {
                    "resolved_notified_at"
                };
                let sql = format!(
                    "UPDATE alerts SET {column} = $2, notify_attempts = 0, notify_error = NULL, \
                     notify_next_at = CASE WHEN resolved_at IS NOT NULL AND resolved_notified_at IS NULL AND $3 \
                     THEN $2 ELSE NULL END WHERE id = $1"
                );
                // The event is a bound value, never part of the SQL text.
                let opened = event == "opened";
                with_db!(self.db(), |p| sqlx::query(sqlx::AssertSqlSafe(
                    sql.as_str()
                ))
                .bind(id)
                .bind(at)
                .bind(opened)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))?;
            }
            Some(e) => {
                with_db!(self.db(), |p| {
                    sqlx::query(
                    "UPDATE alerts SET notify_attempts = notify_attempts + 1, notify_error = $2, notify_next_at = $3 WHERE id = $1"
                )
                .bind(id)
                .bind(e)
                .bind(retry_at)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
                })?;
            }
        }
        Ok(())
    }
}

/// Resolve the open alerts of refurbisher `$1` for metric `$2` at `$3`.
/// Resolve the open alert of a refurbisher (`$1`) and metric (`$2`) at `$3`.
pub(crate) const RESOLVE_ALERT: &str = "UPDATE alerts SET resolved_at = $3, notify_next_at = COALESCE(notify_next_at, $3) WHERE refurbisher_id = $1 AND metric = $2 AND resolved_at IS NULL";

impl Monitor<'_> {
    /// Open an alert, unless one of this refurbisher and metric is open already; returns the
    /// new alert's id.
    ///
    /// # Errors
    /// A database error.
    pub async fn alert_open(
        &self,
        refurbisher_id: Option<i64>,
        metric: Metric,
        value: &str,
        threshold: &str,
        message: &str,
    ) -> Result<Option<i64>> {
        match self
            .monitor()
            .alert_sync(
                refurbisher_id,
                metric,
                true,
                value,
                threshold,
                message,
                now(),
                None,
            )
            .await?
        {
            AlertChange::Opened(id) => Ok(Some(id)),
            _ => Ok(None),
        }
    }

    /// Resolve the open alerts of a refurbisher for `metric`; returns how many.
    ///
    /// # Errors
    /// A database error.
    pub async fn alerts_resolve(&self, refurbisher_id: i64, metric: Metric) -> Result<u64> {
        let at = now();
        Ok(with_db!(self.db(), |p| sqlx::query(RESOLVE_ALERT)
            .bind(refurbisher_id)
            .bind(metric.as_str())
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?)
    }

    /// Open alerts of a refurbisher, newest first: (metric, message).
    ///
    /// # Errors
    /// A database error.
    pub async fn alerts_open(&self, refurbisher_id: i64) -> Result<Vec<(Metric, String)>> {
        const SQL: &str = "SELECT metric, message FROM alerts WHERE refurbisher_id = $1 AND resolved_at IS NULL ORDER BY id DESC";
        let rows: Vec<(String, String)> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(refurbisher_id)
            .fetch_all(p)
            .await)?;
        rows.into_iter()
            .map(|(metric, message)| Ok((metric.parse().map_err(corrupt)?, message)))
            .collect()
    }
}

fn corrupt(e: UnknownStatus) -> StoreError {
    StoreError::Corrupt(e.to_string())
}
