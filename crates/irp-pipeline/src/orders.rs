//! Orders: taking them in ([`take_in`]) and placing supplier orders at refurbishers (the outbox
//! submitter).
//!
//! Intake is one transaction around a pure decision: the store writes the order row and reads
//! each line's candidate offer locked, [`irp_core::orders::routing::route`] decides where each
//! line goes, and the store writes the plan (lines, reservations, supplier orders) and commits.
//!
//! A supplier order enters the outbox (`pending`) in the transaction that takes the customer
//! order in. The submitter claims one (committed: `submitting`, a lease, an attempt row
//! `sending`), builds the body with the refurbisher's `order_object` from the supplier-order
//! context, sends it with the connector's auth and the supplier order's idempotency key, checks
//! the answer against `response_object.asserts`, and records the outcome — only while its
//! claim still holds:
//!
//! | What happened | Outcome |
//! |---|---|
//! | 2xx and every assert holds (no asserts: any 2xx) | `submitted`, `fields` copied (`externalOrderReference`) |
//! | nothing was sent (no connection, token endpoint down), 5xx, 429 | `pending` again after a capped exponential backoff with jitter (`Retry-After` honoured); `failed` after `max_attempts` |
//! | any other status, or an assert fails | `failed` with the reason, no retry |
//! | sent without an answer (timeout, reset) | `needs_attention` — never a blind resend — unless `retry_unknown` |
//! | the body cannot be built, a secret is missing | `failed` with the reason |
//!
//! A process that dies during a call leaves its supplier order `submitting`; when the lease
//! expires, [`recover`] moves it to `needs_attention` (or back to `pending` with
//! `retry_unknown`). So an order is placed once, or waits for an operator — never twice.

use std::time::Duration;

use chrono::{TimeDelta, Utc};
use irp_clients::order_call::{self, CallResult};
use irp_core::config::model::OrderConfig;
use irp_core::mapping::{asserts, render};
use irp_core::orders::OrderDocument;
use irp_core::orders::routing;
use irp_core::orders::status::AttemptResult;
use irp_store::Store;
use irp_store::orders::{AttemptOutcome, Claimed, IntakeStart, OrderIntake};
use irp_store::refurbishers::StoredRefurbisher;
use irp_store::secrets::SecretKey;
use serde_json::Value;

use crate::feed::ResolveFailure;

/// Take in an order: route each line, freeze what it was routed to, create one supplier order
/// per refurbisher, reserve the units — in one transaction. A repeat (same channel and order
/// number) answers the stored order and changes nothing.
///
/// # Errors
/// [`irp_store::StoreError::Invalid`] for a channel that is not configured; a database error.
pub async fn take_in(
    store: &Store,
    doc: &OrderDocument,
    raw: &Value,
    actor: &str,
) -> Result<OrderIntake, irp_store::StoreError> {
    // Two intakes locking the same offers in opposite orders deadlock on PostgreSQL; it aborts
    // one, which rolled back whole and is simply taken in again.
    let mut tries = 0;
    loop {
        match take_in_once(store, doc, raw, actor).await {
            Err(e) if tries < 3 && e.is_transient_conflict() => {
                tries += 1;
                tracing::warn!(order = %doc.order_number, tries, "Order intake met a deadlock; taking it in again");
            }
            other => return other,
        }
    }
}

async fn take_in_once(
    store: &Store,
    doc: &OrderDocument,
    raw: &Value,
    actor: &str,
) -> Result<OrderIntake, irp_store::StoreError> {
    let mut intake = match store.orders().intake_begin(doc, raw).await? {
        IntakeStart::Exists(order) => {
            return Ok(OrderIntake {
                order,
                created: false,
            });
        }
        IntakeStart::New(intake) => intake,
    };
    let found = intake.find(doc).await?;
    let plan = routing::route(doc, &intake.channel, &intake.refurbishers, &found);
    intake.write(doc, &plan, actor).await
}

/// How long a claim holds beyond four times the longest `timeout_secs` of any order
/// connector (at most two token requests and two calls, each bounded by it): time to record
/// the outcome. A process that dies during a call leaves its supplier order to be recovered
/// once the lease passed; a live one never outlasts its lease.
pub const LEASE_MARGIN: TimeDelta = TimeDelta::seconds(15);

/// The lease of a claim: 4 × the longest `timeout_secs` of the refurbishers' order
/// connectors + [`LEASE_MARGIN`].
///
/// # Errors
/// A database error.
pub async fn lease(store: &Store) -> Result<TimeDelta, irp_store::StoreError> {
    let longest = store
        .refurbishers()
        .list()
        .await?
        .iter()
        .filter_map(|r| r.model.order.as_ref().map(|o| o.timeout_secs))
        .max()
        .unwrap_or(30);
    Ok(TimeDelta::seconds(4 * longest) + LEASE_MARGIN)
}
/// The longest wait between automatic attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// The longest `Retry-After` honoured.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// Supplier orders sent at the same time by one submitter.
pub const CONCURRENCY: usize = 8;

/// What one submission did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Submitted {
    /// The supplier order.
    pub supplier_order_id: i64,
    /// The attempt.
    pub attempt: i64,
    /// How the attempt ended.
    pub outcome: AttemptResult,
    /// The answer's status.
    pub status: Option<u16>,
    /// What went wrong.
    pub error: Option<String>,
    /// The refurbisher's order id.
    pub external_order_reference: Option<String>,
    /// False when the claim had expired and another process recovered the order meanwhile.
    pub recorded: bool,
}

/// The wait before automatic attempt `n + 1` after `n` failed ones: 1 s, 2 s, 4 s, … capped at
/// [`MAX_BACKOFF`], times a jitter between 0.5 and 1.
pub fn backoff(n: i64, jitter: f64) -> Duration {
    let exp = u32::try_from(n.clamp(1, 20) - 1).unwrap_or(0);
    let base = Duration::from_secs(1u64 << exp).min(MAX_BACKOFF);
    base.mul_f64(jitter.clamp(0.5, 1.0))
}

fn jitter() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    0.5 + f64::from(nanos % 1000) / 2000.0
}

/// The refurbisher's `order` connector with its references resolved, for the call only: never
/// store, print or log it.
///
/// # Errors
/// A reference without a value, or a store failure.
pub async fn resolved_order(
    store: &Store,
    r: &StoredRefurbisher,
    secret_key: Option<&SecretKey>,
) -> Result<Option<crate::feed::ResolvedPart<OrderConfig>>, ResolveFailure> {
    if r.model.order.is_none() {
        return Ok(None);
    }
    let part = crate::feed::resolved_part(store, r, "order", secret_key, true).await?;
    Ok(part.model.order.map(|model| crate::feed::ResolvedPart {
        model,
        scrubber: part.scrubber,
    }))
}

/// The body `irp orders render` shows: what the next attempt would send.
///
/// # Errors
/// A message naming what is missing or which mapping key failed.
pub async fn render_supplier_order(
    store: &Store,
    supplier_order_id: i64,
) -> Result<(StoredRefurbisher, Value), String> {
    let so = store
        .orders()
        .supplier_order(supplier_order_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no supplier order {supplier_order_id}"))?;
    let r = refurbisher_by_id(store, so.refurbisher_id)
        .await
        .map_err(|e| e.to_string())?;
    let Some(order) = &r.model.order else {
        return Err(format!(
            "{} has no order connector (\"order\": {{}}): its supplier orders are internal, nothing is sent",
            r.key
        ));
    };
    let ctx = store
        .orders()
        .supplier_order_context(supplier_order_id)
        .await
        .map_err(|e| e.to_string())?;
    let ctx = serde_json::to_value(&ctx).map_err(|e| e.to_string())?;
    let body = render::render(order, &ctx).map_err(|e| e.to_string())?;
    Ok((r, body))
}

async fn refurbisher_by_id(
    store: &Store,
    id: i64,
) -> Result<StoredRefurbisher, irp_store::StoreError> {
    store
        .refurbishers()
        .list()
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or_else(|| irp_store::StoreError::NotFound(format!("no refurbisher with id {id}")))
}

fn outcome(o: AttemptResult, error: Option<String>) -> AttemptOutcome {
    AttemptOutcome {
        outcome: o,
        request: None,
        response_status: None,
        response_body: None,
        error,
        next_attempt_at: None,
        external_order_reference: None,
        external_fields: Value::Object(serde_json::Map::new()),
    }
}

/// A retry if the budget allows, else `failed`.
fn retry_or_fail(
    claimed: &Claimed,
    max_attempts: i64,
    wait: Duration,
    error: String,
) -> AttemptOutcome {
    let so = &claimed.supplier_order;
    let used = claimed.attempt - so.retry_from;
    if used >= max_attempts {
        return outcome(
            AttemptResult::Failed,
            Some(format!(
                "{error}; gave up after {used} attempts (max_attempts {max_attempts})"
            )),
        );
    }
    let mut o = outcome(AttemptResult::Retry, Some(error));
    o.next_attempt_at = Some(Utc::now() + TimeDelta::from_std(wait).unwrap_or(TimeDelta::zero()));
    o
}

/// Decide what an answer means.
fn judge(
    claimed: &Claimed,
    order: &OrderConfig,
    status: u16,
    body: &str,
    retry_after: Option<Duration>,
    allow: Option<&str>,
) -> AttemptOutcome {
    let json: Option<Value> = serde_json::from_str(body).ok();
    let excerpt: String = body.chars().take(300).collect();
    let mut o = if status == 405 {
        // The connector's method is wrong for this endpoint: nothing was placed, and sending
        // it again the same way cannot succeed.
        let method = match order.method {
            irp_core::config::model::Method::Post => "POST",
            irp_core::config::model::Method::Put => "PUT",
            irp_core::config::model::Method::Patch => "PATCH",
        };
        outcome(
            AttemptResult::Failed,
            Some(format!(
                "the refurbisher's order endpoint does not take {method} (HTTP 405 Method Not Allowed{}); set the order connector's `method` to one it takes, then retry the supplier order",
                allow
                    .map(|a| format!(", it allows {}", a.trim()))
                    .unwrap_or_default()
            )),
        )
    } else if status == 429 || (500..=599).contains(&status) {
        let wait = retry_after
            .map(|d| d.min(MAX_RETRY_AFTER))
            .unwrap_or_else(|| {
                backoff(
                    claimed.attempt - claimed.supplier_order.retry_from,
                    jitter(),
                )
            });
        retry_or_fail(
            claimed,
            order.max_attempts,
            wait,
            format!("the refurbisher answered HTTP {status}: {excerpt}"),
        )
    } else if order.response_object.asserts.is_empty() && !(200..=299).contains(&status) {
        outcome(
            AttemptResult::Failed,
            Some(format!("the refurbisher answered HTTP {status}: {excerpt}")),
        )
    } else if (400..=499).contains(&status) {
        outcome(
            AttemptResult::Failed,
            Some(format!(
                "the refurbisher refused the order: HTTP {status}: {excerpt}"
            )),
        )
    } else {
        match asserts::check_response(&order.response_object.asserts, status, json.as_ref()) {
            Err(failures) => outcome(
                AttemptResult::Failed,
                Some(format!(
                    "the answer (HTTP {status}) fails response_object.asserts: {}",
                    failures.join("; ")
                )),
            ),
            Ok(()) => {
                let fields = asserts::response_fields(&order.response_object.fields, json.as_ref());
                let mut o = outcome(AttemptResult::Submitted, None);
                let mut map = serde_json::Map::new();
                for (k, v) in fields {
                    if k == "externalOrderReference" {
                        o.external_order_reference.clone_from(&v);
                    }
                    map.insert(k, v.map_or(Value::Null, Value::String));
                }
                o.external_fields = Value::Object(map);
                o
            }
        }
    };
    o.response_status = Some(i64::from(status));
    o.response_body = Some(body.to_owned());
    o
}

/// Claim the supplier order due first and place it. `None`: nothing is due.
///
/// # Errors
/// A database error (the claim, if made, expires and is recovered).
pub async fn submit_one(
    store: &Store,
    secret_key: Option<&SecretKey>,
    owner: &str,
) -> Result<Option<Submitted>, irp_store::StoreError> {
    let lease = lease(store).await?;
    let Some(claimed) = store.supplier_orders().claim(owner, lease).await? else {
        return Ok(None);
    };
    Ok(Some(place(store, secret_key, owner, &claimed).await?))
}

/// The most of an answer's body stored with an attempt.
const STORED_BODY: usize = 64 * 1024;

/// What to send and what to record of it: the body built from the resolved connector, and the
/// body and endpoint built from the connector as configured (references unresolved).
struct Prepared {
    order: OrderConfig,
    /// Shows references instead of the credentials in what the refurbisher answers.
    scrubber: irp_core::secret_ref::Scrubber,
    body: Value,
    record_body: Value,
    shown: String,
}

/// Everything before the call. `Err`: the attempt ends here, nothing was sent.
async fn prepare(
    store: &Store,
    r: &StoredRefurbisher,
    secret_key: Option<&SecretKey>,
    claimed: &Claimed,
) -> Result<Prepared, AttemptOutcome> {
    let so = &claimed.supplier_order;
    let not_sent_store = |e: irp_store::StoreError| {
        // The database failed before anything was sent: try again later.
        retry_or_fail(
            claimed,
            r.model.order.as_ref().map_or(1, |o| o.max_attempts),
            backoff(claimed.attempt - so.retry_from, jitter()),
            format!("not sent: reading the order failed: {e}"),
        )
    };
    let order = match resolved_order(store, r, secret_key).await {
        Err(ResolveFailure::Store(e)) => return Err(not_sent_store(e)),
        Err(ResolveFailure::Missing(why)) => {
            return Err(outcome(
                AttemptResult::Failed,
                Some(format!("{}'s order connector cannot be used: {why}", r.key)),
            ));
        }
        Ok(None) | Ok(Some(_)) if r.model.order.is_none() => {
            return Err(outcome(
                AttemptResult::Failed,
                Some(format!(
                    "{} has no order connector any more (\"order\": {{}})",
                    r.key
                )),
            ));
        }
        Ok(None) => {
            return Err(outcome(
                AttemptResult::Failed,
                Some(format!("{}'s order connector cannot be read", r.key)),
            ));
        }
        Ok(Some(order)) => order,
    };
    let (order, scrubber) = (order.model, order.scrubber);
    let ctx = match store.orders().supplier_order_context(so.id).await {
        Ok(c) => serde_json::to_value(c).unwrap_or(Value::Null),
        Err(e @ irp_store::StoreError::Query(_)) => return Err(not_sent_store(e)),
        Err(e) => {
            return Err(outcome(
                AttemptResult::Failed,
                Some(format!("building the request failed: {e}")),
            ));
        }
    };
    let body = render::render(&order, &ctx).map_err(|e| {
        outcome(
            AttemptResult::Failed,
            Some(format!("building the request failed: {e}")),
        )
    })?;
    let configured = r.model.order.as_ref();
    let record_body = configured
        .and_then(|c| render::render(c, &ctx).ok())
        .unwrap_or_else(|| {
            Value::String("[not recorded: the body holds a secret reference]".into())
        });
    let shown = configured.map_or_else(String::new, |c| {
        irp_clients::http::shown_endpoint(&c.endpoint)
    });
    Ok(Prepared {
        order,
        scrubber,
        body,
        record_body,
        shown,
    })
}

/// Place a supplier order this process claimed (`irp_store` outbox `claim_due`): build the
/// body, call the refurbisher, judge the answer and record the outcome while the claim holds.
///
/// # Errors
/// Recording the attempt failed (the claim expires and is recovered).
pub async fn place(
    store: &Store,
    secret_key: Option<&SecretKey>,
    owner: &str,
    claimed: &Claimed,
) -> Result<Submitted, irp_store::StoreError> {
    let so = &claimed.supplier_order;
    let t0 = std::time::Instant::now();
    let mut status = None;
    let mut timings = [0u128; 2];
    let (r, o) = match refurbisher_by_id(store, so.refurbisher_id).await {
        Err(e) => (
            None,
            outcome(
                AttemptResult::Failed,
                Some(format!(
                    "the supplier order's refurbisher cannot be read: {e}"
                )),
            ),
        ),
        Ok(r) => {
            let o = match prepare(store, &r, secret_key, claimed).await {
                Err(o) => o,
                Ok(p) => {
                    timings[0] = t0.elapsed().as_micros();
                    let (record, result) = order_call::place(
                        &p.order,
                        &so.idempotency_key,
                        &p.body,
                        &p.shown,
                        p.record_body,
                    )
                    .await;
                    timings[1] = t0.elapsed().as_micros();
                    let mut o = match result {
                        CallResult::Answered {
                            status: s,
                            body,
                            retry_after,
                            allow,
                        } => {
                            status = Some(s);
                            judge(claimed, &p.order, s, &body, retry_after, allow.as_deref())
                        }
                        CallResult::NotSent(why) => retry_or_fail(
                            claimed,
                            p.order.max_attempts,
                            backoff(claimed.attempt - so.retry_from, jitter()),
                            format!("not sent: {why}"),
                        ),
                        CallResult::Unknown(why) if p.order.retry_unknown => retry_or_fail(
                            claimed,
                            p.order.max_attempts,
                            backoff(claimed.attempt - so.retry_from, jitter()),
                            format!("{why}; sending again (retry_unknown)"),
                        ),
                        CallResult::Unknown(why) => outcome(
                            AttemptResult::NeedsAttention,
                            Some(format!(
                                "{why}. Check with {} whether it has the order, then retry or cancel",
                                r.key
                            )),
                        ),
                    };
                    // A refurbisher that echoes a credential back never gets it shown: scrubbed
                    // whole, before the body is cut (a cut could split a value).
                    o.error = o.error.map(|e| p.scrubber.scrub(&e));
                    o.response_body = o.response_body.map(|b| p.scrubber.scrub(&b));
                    if let Some(b) = &mut o.response_body
                        && b.len() > STORED_BODY
                    {
                        let mut cut = STORED_BODY;
                        while !b.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        b.truncate(cut);
                        b.push_str("…[cut]");
                    }
                    o.request = serde_json::to_value(&record).ok();
                    o
                }
            };
            (Some(r), o)
        }
    };
    // The outcome is known now: record it, however long the database takes (within the
    // lease). Lost, the claim would expire and the order wait for an operator.
    let mut tries = 0;
    let recorded = loop {
        match store.supplier_orders().finish(claimed, owner, &o).await {
            Ok(recorded) => break recorded,
            Err(e) if tries < 5 => {
                tries += 1;
                tracing::warn!(error = %e, supplier_order = so.id, tries, "Recording a supplier order attempt failed; trying again");
                tokio::time::sleep(Duration::from_secs(1 << tries)).await;
            }
            Err(e) => return Err(e),
        }
    };
    tracing::debug!(
        supplier_order = so.id,
        prepare_us = timings[0],
        call_us = timings[1].saturating_sub(timings[0]),
        finish_us = t0.elapsed().as_micros().saturating_sub(timings[1]),
        "Supplier order attempt timings"
    );
    if !recorded {
        tracing::warn!(
            supplier_order = so.id,
            attempt = claimed.attempt,
            "The claim expired before the outcome was recorded"
        );
    }
    let key = r.as_ref().map_or("?", |r| r.key.as_str());
    if o.outcome.is_failure() {
        tracing::error!(supplier_order = so.id, refurbisher = %key, outcome = %o.outcome, error = o.error.as_deref().unwrap_or(""), "Placing a supplier order did not succeed");
    } else {
        tracing::info!(supplier_order = so.id, refurbisher = %key, outcome = %o.outcome, "Supplier order attempt");
    }
    Ok(Submitted {
        supplier_order_id: so.id,
        attempt: claimed.attempt,
        outcome: o.outcome,
        status,
        error: o.error,
        external_order_reference: o.external_order_reference,
        recorded,
    })
}

/// Supplier orders whose claim expired during a call: `needs_attention`, or `pending` again
/// for a connector with `retry_unknown`.
///
/// # Errors
/// A database error.
pub async fn recover(store: &Store) -> Result<Vec<i64>, irp_store::StoreError> {
    let refurbishers = store.refurbishers().list().await?;
    store
        .supplier_orders()
        .recover(|rid| {
            refurbishers
                .iter()
                .find(|r| r.id == rid)
                .and_then(|r| r.model.order.as_ref())
                .filter(|o| o.retry_unknown)
                .map(|o| o.max_attempts)
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_jitter() {
        assert_eq!(backoff(1, 1.0), Duration::from_secs(1));
        assert_eq!(backoff(4, 1.0), Duration::from_secs(8));
        assert_eq!(backoff(30, 1.0), MAX_BACKOFF);
        assert_eq!(backoff(4, 0.5), Duration::from_secs(4));
        assert_eq!(
            backoff(4, 0.1),
            Duration::from_secs(4),
            "jitter is at least 0.5"
        );
        let j = jitter();
        assert!((0.5..=1.0).contains(&j));
    }
}
