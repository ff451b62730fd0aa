//! Monitoring: a refurbisher's facts (when it last got an order, when its offers were last
//! refreshed, …) against its thresholds (the seeds' "Monitoring Thresholds"), as readings that
//! breach or not. Pure: the time is a parameter, so every threshold is tested with a clock the
//! test controls.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::model::Monitoring;
use crate::feed::FeedRunStatus;
use crate::orders::status::status_enum;

status_enum! {
    /// A metric the monitor evaluates (and whose alerts it opens and resolves), stored on
    /// alerts by its name.
    Metric, "metric" {
        /// Hours without an order.
        LatestOrder => "latest_order_hours",
        /// Hours since the offers were last refreshed.
        OffersStock => "offers_stock_hours",
        /// Days the oldest open supplier order is open.
        OpenOrder => "open_order_days",
        /// The offers endpoint's last HTTP status.
        HttpStatus => "offers_endpoint_http_status",
        /// The latest feed run failed.
        FeedFailed => "feed_failed",
        /// The latest feed run was quarantined.
        FeedQuarantined => "feed_quarantined",
        /// Supplier orders that are `failed` or `needs_attention`.
        OrdersAttention => "orders_need_attention",
        /// A feed run held purchase-price changes beyond `max_price_change_ratio` (raised by the
        /// import, resolved when the held prices are decided; not evaluated by the monitor).
        PriceChangeHeld => "price_change_held",
    }
}

impl Metric {
    /// The metrics the monitor evaluates from a refurbisher's [`Facts`].
    pub const EVALUATED: [Metric; 7] = [
        Metric::LatestOrder,
        Metric::OffersStock,
        Metric::OpenOrder,
        Metric::HttpStatus,
        Metric::FeedFailed,
        Metric::FeedQuarantined,
        Metric::OrdersAttention,
    ];
}

/// What the store knows about one refurbisher.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Facts {
    /// When the refurbisher was registered: the start of "since" when nothing happened yet.
    pub registered_at: DateTime<Utc>,
    /// When its latest supplier order was made.
    pub latest_order_at: Option<DateTime<Utc>>,
    /// When a feed run last refreshed its offers (`succeeded`, `partial` or `unchanged`).
    pub last_refresh_at: Option<DateTime<Utc>>,
    /// When its oldest open supplier order (`pending`, `submitting`, `submitted`,
    /// `needs_attention`) was made.
    pub oldest_open_order_at: Option<DateTime<Utc>>,
    /// The supplier order that is.
    pub oldest_open_order_id: Option<i64>,
    /// Whether its offers come over HTTP (`web`, `web_post`): only then is there a status.
    pub offers_over_http: bool,
    /// The HTTP status of the latest feed run that got an HTTP answer, with the run's id.
    pub last_http_status: Option<(i64, i64)>,
    /// The latest finished feed run: its id and status.
    pub last_run: Option<(i64, FeedRunStatus)>,
    /// Its supplier orders in `failed`.
    pub orders_failed: i64,
    /// Its supplier orders in `needs_attention`.
    pub orders_needs_attention: i64,
}

/// One metric of one refurbisher, evaluated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// Which metric.
    pub metric: Metric,
    /// The measured value (hours, days, a status, a count); `None` when there is nothing to
    /// measure (no HTTP answer yet, not an HTTP feed).
    pub value: Option<f64>,
    /// The threshold; `None` when the metric is switched off (0).
    pub threshold: Option<f64>,
    /// Whether the value breaches the threshold.
    pub breach: bool,
    /// One line for a person: what was measured against what.
    pub message: String,
}

impl Reading {
    /// The value as text (for alerts): whole numbers without decimals.
    pub fn value_text(&self) -> String {
        self.value.map_or_else(|| "none".into(), number)
    }

    /// The threshold as text: `off` for a metric switched off (0), `-` for one that has none
    /// (the latest feed run's state).
    pub fn threshold_text(&self) -> String {
        match self.threshold {
            Some(t) => number(t),
            None if matches!(self.metric, Metric::FeedFailed | Metric::FeedQuarantined) => {
                "-".into()
            }
            None => "off".into(),
        }
    }
}

fn number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.1}")
    }
}

fn hours(from: DateTime<Utc>, to: DateTime<Utc>) -> f64 {
    // Millisecond precision is plenty for hours; a clock step back reads as 0, not negative.
    ((to - from).num_milliseconds().max(0) as f64) / 3_600_000.0
}

/// `value > threshold` for an enabled (non-zero) threshold.
fn over(value: f64, threshold: i64) -> (Option<f64>, bool) {
    if threshold == 0 {
        (None, false)
    } else {
        let t = threshold as f64;
        (Some(t), value > t)
    }
}

/// A metric in hours since `since` (with the words for what happened then), against
/// `threshold` hours.
fn hours_since(
    key: &str,
    metric: Metric,
    (since, what): (DateTime<Utc>, &str),
    threshold: i64,
    now: DateTime<Utc>,
) -> Reading {
    let exact = hours(since, now);
    let (threshold, breach) = over(exact, threshold);
    let v = round1(exact);
    Reading {
        metric,
        value: Some(v),
        threshold,
        breach,
        message: format!(
            "{key}: {} h {what} (threshold {})",
            number(v),
            threshold.map_or("off".into(), |t| format!("{} h", number(t)))
        ),
    }
}

/// Evaluate every metric of one refurbisher at time `now`.
pub fn evaluate(key: &str, m: &Monitoring, f: &Facts, now: DateTime<Utc>) -> Vec<Reading> {
    let mut out = Vec::with_capacity(Metric::EVALUATED.len());

    out.push(hours_since(
        key,
        Metric::LatestOrder,
        f.latest_order_at
            .map(|at| (at, "since the latest order"))
            .unwrap_or((f.registered_at, "without any order since it was registered")),
        m.latest_order_hours,
        now,
    ));
    out.push(hours_since(
        key,
        Metric::OffersStock,
        f.last_refresh_at
            .map(|at| (at, "since the offers were last refreshed"))
            .unwrap_or((
                f.registered_at,
                "without a successful feed run since it was registered",
            )),
        m.offers_stock_hours,
        now,
    ));

    let v = f
        .oldest_open_order_at
        .map_or(0.0, |at| hours(at, now) / 24.0);
    let (threshold, breach) = over(v, m.open_order_days);
    out.push(Reading {
        metric: Metric::OpenOrder,
        value: Some(round1(v)),
        threshold,
        breach,
        message: match f.oldest_open_order_id {
            Some(id) => format!(
                "{key}: the oldest open supplier order ({id}) is {} days open (threshold {})",
                number(round1(v)),
                threshold.map_or("off".into(), |t| format!("{} days", number(t)))
            ),
            None => format!("{key}: no open supplier order"),
        },
    });

    let expected = m.offers_endpoint_http_status;
    let reading = match (f.offers_over_http, f.last_http_status, expected) {
        (_, _, 0) => Reading {
            metric: Metric::HttpStatus,
            value: f.last_http_status.map(|(_, s)| s as f64),
            threshold: None,
            breach: false,
            message: format!("{key}: the offers endpoint's status is not checked (threshold 0)"),
        },
        (false, _, _) => Reading {
            metric: Metric::HttpStatus,
            value: None,
            threshold: Some(expected as f64),
            breach: false,
            message: format!("{key}: the offers do not come over HTTP; no status to check"),
        },
        (true, None, _) => Reading {
            metric: Metric::HttpStatus,
            value: None,
            threshold: Some(expected as f64),
            breach: false,
            message: format!("{key}: the offers endpoint has not answered yet"),
        },
        (true, Some((run, status)), _) => Reading {
            metric: Metric::HttpStatus,
            value: Some(status as f64),
            threshold: Some(expected as f64),
            breach: status != expected,
            message: format!(
                "{key}: the offers endpoint answered {status} in feed run {run} (expected {expected})"
            ),
        },
    };
    out.push(reading);

    let (failed, quarantined) = match &f.last_run {
        Some((_, s)) => (
            *s == FeedRunStatus::Failed,
            *s == FeedRunStatus::Quarantined,
        ),
        None => (false, false),
    };
    let run = f.last_run.as_ref().map(|(id, _)| *id);
    out.push(Reading {
        metric: Metric::FeedFailed,
        value: run.map(|id| id as f64),
        threshold: None,
        breach: failed,
        message: match (run, failed) {
            (Some(id), true) => {
                format!("{key}: the latest feed run ({id}) failed; see `irp feed runs {key}`")
            }
            (Some(id), false) => format!("{key}: the latest feed run ({id}) did not fail"),
            (None, _) => format!("{key}: no feed run yet"),
        },
    });
    out.push(Reading {
        metric: Metric::FeedQuarantined,
        value: run.map(|id| id as f64),
        threshold: None,
        breach: quarantined,
        message: match (run, quarantined) {
            (Some(id), true) => format!(
                "{key}: the latest feed run ({id}) was quarantined; nothing was applied (`irp feed apply {id}` applies it anyway)"
            ),
            (Some(id), false) => format!("{key}: the latest feed run ({id}) was not quarantined"),
            (None, _) => format!("{key}: no feed run yet"),
        },
    });

    let n = f.orders_failed + f.orders_needs_attention;
    out.push(Reading {
        metric: Metric::OrdersAttention,
        value: Some(n as f64),
        threshold: Some(0.0),
        breach: n > 0,
        message: if n > 0 {
            format!(
                "{key}: {} supplier order(s) failed and {} need attention; see `irp orders supplier --status failed` / `--status needs_attention`",
                f.orders_failed, f.orders_needs_attention
            )
        } else {
            format!("{key}: no supplier order failed or needs attention")
        },
    });
    out
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t0() -> DateTime<Utc> {
        DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default()
    }

    fn reading(rs: &[Reading], metric: Metric) -> Reading {
        match rs.iter().find(|r| r.metric == metric) {
            Some(r) => r.clone(),
            None => panic!("no {metric}"),
        }
    }

    #[test]
    fn hours_since_the_latest_order_breach_only_past_the_threshold() {
        let m = Monitoring::default(); // 48 h
        let f = Facts {
            registered_at: t0(),
            latest_order_at: Some(t0()),
            ..Facts::default()
        };
        let at = |h: i64| evaluate("flexit", &m, &f, t0() + TimeDelta::hours(h));
        assert!(!reading(&at(48), Metric::LatestOrder).breach);
        let r = reading(&at(49), Metric::LatestOrder);
        assert!(r.breach);
        assert_eq!(r.value, Some(49.0));
        assert_eq!(
            r.message,
            "flexit: 49 h since the latest order (threshold 48 h)"
        );
    }

    #[test]
    fn without_any_order_the_time_counts_from_registration() {
        let m = Monitoring::default();
        let f = Facts {
            registered_at: t0(),
            ..Facts::default()
        };
        let r = reading(
            &evaluate("x", &m, &f, t0() + TimeDelta::minutes(49 * 60 + 30)),
            Metric::LatestOrder,
        );
        assert!(r.breach);
        assert_eq!(
            r.message,
            "x: 49.5 h without any order since it was registered (threshold 48 h)"
        );
    }

    #[test]
    fn a_zero_threshold_switches_a_metric_off() {
        let m = Monitoring {
            latest_order_hours: 0,
            offers_stock_hours: 0,
            open_order_days: 0,
            offers_endpoint_http_status: 0,
        };
        let f = Facts {
            registered_at: t0(),
            oldest_open_order_at: Some(t0()),
            oldest_open_order_id: Some(1),
            offers_over_http: true,
            last_http_status: Some((1, 500)),
            ..Facts::default()
        };
        let rs = evaluate("x", &m, &f, t0() + TimeDelta::days(400));
        for metric in [
            Metric::LatestOrder,
            Metric::OffersStock,
            Metric::OpenOrder,
            Metric::HttpStatus,
        ] {
            let r = reading(&rs, metric);
            assert!(!r.breach, "{metric}");
            assert_eq!(r.threshold, None, "{metric}");
        }
    }

    #[test]
    fn open_orders_are_measured_in_days() {
        let m = Monitoring::default(); // 4 days
        let f = Facts {
            registered_at: t0(),
            oldest_open_order_at: Some(t0()),
            oldest_open_order_id: Some(7),
            ..Facts::default()
        };
        let r = reading(
            &evaluate("x", &m, &f, t0() + TimeDelta::hours(4 * 24 + 12)),
            Metric::OpenOrder,
        );
        assert!(r.breach);
        assert_eq!(r.value, Some(4.5));
        assert_eq!(
            r.message,
            "x: the oldest open supplier order (7) is 4.5 days open (threshold 4 days)"
        );
        let none = Facts {
            registered_at: t0(),
            ..Facts::default()
        };
        assert!(
            !reading(
                &evaluate("x", &m, &none, t0() + TimeDelta::days(100)),
                Metric::OpenOrder
            )
            .breach
        );
    }

    #[test]
    fn the_http_status_is_checked_for_http_feeds_only() {
        let m = Monitoring::default(); // 200
        let mut f = Facts {
            registered_at: t0(),
            offers_over_http: true,
            last_http_status: Some((3, 503)),
            ..Facts::default()
        };
        let r = reading(&evaluate("x", &m, &f, t0()), Metric::HttpStatus);
        assert!(r.breach);
        assert_eq!(
            r.message,
            "x: the offers endpoint answered 503 in feed run 3 (expected 200)"
        );
        f.last_http_status = Some((4, 200));
        assert!(!reading(&evaluate("x", &m, &f, t0()), Metric::HttpStatus).breach);
        f.offers_over_http = false;
        f.last_http_status = None;
        let r = reading(&evaluate("x", &m, &f, t0()), Metric::HttpStatus);
        assert!(!r.breach);
        assert_eq!(r.value, None);
    }

    #[test]
    fn the_latest_feed_run_and_the_orders_that_need_attention_breach_at_once() {
        let m = Monitoring::default();
        let f = Facts {
            registered_at: t0(),
            last_run: Some((9, FeedRunStatus::Quarantined)),
            orders_failed: 1,
            orders_needs_attention: 2,
            ..Facts::default()
        };
        let rs = evaluate("x", &m, &f, t0());
        assert!(!reading(&rs, Metric::FeedFailed).breach);
        assert!(reading(&rs, Metric::FeedQuarantined).breach);
        let r = reading(&rs, Metric::OrdersAttention);
        assert!(r.breach);
        assert_eq!(r.value, Some(3.0));
        let ok = Facts {
            registered_at: t0(),
            last_run: Some((10, FeedRunStatus::Unchanged)),
            ..Facts::default()
        };
        let rs = evaluate("x", &m, &ok, t0());
        assert!(rs.iter().all(|r| !r.breach), "{rs:?}");
    }
}
