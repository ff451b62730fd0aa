//! Shipment updates: the refurbishers' webhook tokens, shipments matched to their supplier
//! orders (or kept for review), refused webhook requests, and the tracking queue for the
//! channels.
//!
//! A webhook token is shown once by `irp webhook token KEY`; only its SHA-256 is stored, and a
//! token is checked by comparing hashes in constant time. Rotating keeps the previous token
//! working for a grace period, so the refurbisher can switch without losing a shipment.

use chrono::{DateTime, TimeDelta, Utc};
use irp_core::shipments::{Shipment, ShipmentStatus};
use subtle::ConstantTimeEq as _;

use crate::refurbishers::StoredRefurbisher;
use crate::tokens::{hash as sha256_hex, random_hex};
use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};
use irp_core::orders::status::{SupplierOrderStatus, UnknownStatus};
use irp_core::shipments::matching::{Match, MatchCandidate};

/// What starts every webhook token (recognisable in logs and by secret scanners).
pub const WEBHOOK_TOKEN_PREFIX: &str = "irpwh_";

/// Supplier-order status: the refurbisher reported it shipped.
pub const SHIPPED: &str = "shipped";

// The shipment statuses as SQL text (the names of [`ShipmentStatus`]).
pub(crate) const MATCHED: &str = ShipmentStatus::Matched.as_str();
const UNMATCHED: &str = ShipmentStatus::Unmatched.as_str();
const DISMISSED: &str = ShipmentStatus::Dismissed.as_str();

/// The supplier-order statuses a shipment moves to `shipped`
/// ([`SupplierOrderStatus::shippable`]: statuses never move backwards; `pending` and
/// `submitting` are still being placed, `cancelled` was given up), as an SQL list.
fn shippable_sql() -> String {
    SupplierOrderStatus::ALL
        .iter()
        .filter(|s| s.shippable())
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether two hex hashes are equal, in time independent of where they differ.
fn same_hash(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A refurbisher's webhook token state, without the token.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WebhookState {
    /// When the current token was made; `None`: no token (the webhook is not configured).
    pub token_created_at: Option<DateTime<Utc>>,
    /// Until when the previous token still works, when that is in the future.
    pub previous_valid_until: Option<DateTime<Utc>>,
}

impl WebhookState {
    /// The seeds' Status-table wording: "Configured" or "Not configured".
    pub fn label(&self) -> String {
        match self.token_created_at {
            Some(at) => format!("Configured (token of {})", at.format("%Y-%m-%d %H:%M UTC")),
            None => "Not configured".into(),
        }
    }
}

/// A new webhook token, shown once.
#[derive(Debug, Clone)]
pub struct NewWebhookToken {
    /// The token (the last path segment of the webhook URL).
    pub token: String,
    /// The supplier id (the segment before it).
    pub supplier_id: i64,
    /// Until when the previous token keeps working, when there was one.
    pub previous_valid_until: Option<DateTime<Utc>>,
}

/// Where a valid shipment went.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ShipmentOutcome {
    /// Stored and linked to its supplier order, now `shipped`.
    Matched {
        /// The shipment.
        shipment_id: i64,
        /// Its supplier order.
        supplier_order_id: i64,
    },
    /// Stored for review: no (single, shippable) supplier order has this reference.
    Unmatched {
        /// The shipment.
        shipment_id: i64,
        /// Why.
        reason: String,
    },
    /// The same shipment was stored before; nothing changed.
    Repeat {
        /// The shipment stored the first time.
        shipment_id: i64,
        /// Its status.
        status: String,
    },
}

/// A stored shipment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct StoredShipment {
    /// Shipment id.
    pub id: i64,
    /// The refurbisher that sent it.
    pub refurbisher_id: i64,
    /// Its connector key.
    pub refurbisher: String,
    /// Matched, unmatched or dismissed.
    #[sqlx(try_from = "String")]
    pub status: ShipmentStatus,
    /// Why it is unmatched.
    pub reason: Option<String>,
    /// The supplier order it belongs to.
    pub supplier_order_id: Option<i64>,
    /// The channel order number of that supplier order.
    pub order_number: Option<String>,
    /// The refurbisher's order reference, as sent.
    pub external_order_id: Option<String>,
    /// The tracking code.
    pub track_and_trace: Option<String>,
    /// The carrier, when sent.
    pub carrier: Option<String>,
    /// Units whose IMEI fails its check digit.
    pub bad_imeis: i64,
    /// `POST`, `PUT` or `PATCH`.
    pub method: Option<String>,
    /// The sender's address.
    pub source: Option<String>,
    /// When it came in.
    pub received_at: DateTime<Utc>,
    /// When the tracking left the queue (the Shopware sync sets it): see `tracking_status`.
    pub tracking_pushed_at: Option<DateTime<Utc>>,
    /// How the tracking went to the channel: `pushed`, `refused` (by the shop; see
    /// `tracking_error`) or `not_applicable` (the order did not come from a shop); `None` while
    /// queued.
    pub tracking_status: Option<String>,
    /// The shop's refusal, or the last failure while retrying.
    pub tracking_error: Option<String>,
    /// When an operator matched or dismissed it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who.
    pub resolved_by: Option<String>,
}

/// One unit of a stored shipment.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct StoredUnit {
    /// Its serial number.
    pub serial_number: Option<String>,
    /// Its IMEI.
    pub imei: Option<String>,
    /// Whether the IMEI passes its check digit.
    pub imei_valid: Option<bool>,
}

/// A refused webhook request of a known refurbisher, kept for review.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct InboxEntry {
    /// Entry id.
    pub id: i64,
    /// The refurbisher.
    pub refurbisher_id: Option<i64>,
    /// `POST`, `PUT`, `PATCH`.
    pub method: String,
    /// The body as received (lossy UTF-8).
    pub payload: String,
    /// What was wrong with it.
    pub reason: String,
    /// The sender's address.
    pub source: Option<String>,
    /// When.
    pub received_at: DateTime<Utc>,
}

const SHIPMENT_SELECT: &str = "SELECT s.id, s.refurbisher_id, r.key AS refurbisher, s.status, s.reason, s.supplier_order_id, \
     o.order_number, s.external_order_id, s.track_and_trace, s.carrier, s.bad_imeis, s.method, s.source, s.received_at, \
     s.tracking_pushed_at, s.tracking_status, s.tracking_error, s.resolved_at, s.resolved_by \
     FROM shipments s JOIN refurbishers r ON r.id = s.refurbisher_id \
     LEFT JOIN supplier_orders so ON so.id = s.supplier_order_id LEFT JOIN orders o ON o.id = so.order_id";

/// A shipment checked against what is stored, ready for `Store::shipments().write`: whether it
/// repeats a stored one (`Store::shipments().lookup`) and, if not, which supplier order it
/// belongs to ([`irp_core::shipments::matching::match_shipment`] over
/// `Store::shipments().candidates`).
#[derive(Debug, Clone)]
pub struct PreparedShipment {
    refurbisher_id: i64,
    dedupe: String,
    repeat: Option<(i64, String)>,
    target: Match,
    shipment: Shipment,
    payload: String,
    method: String,
    source: Option<String>,
}

impl PreparedShipment {
    /// A shipment of refurbisher `refurbisher_id` as received (`payload` the body as sent,
    /// `method` and `source` of the request), with what was decided about it: `repeat` from
    /// `Store::shipments().lookup`, `target` the match (ignored for a repeat).
    #[must_use]
    pub fn new(
        refurbisher_id: i64,
        shipment: Shipment,
        repeat: Option<(i64, String)>,
        target: Match,
        payload: &str,
        method: &str,
        source: Option<&str>,
    ) -> Self {
        PreparedShipment {
            refurbisher_id,
            dedupe: dedupe_key(&shipment),
            repeat,
            target,
            shipment,
            payload: payload.to_owned(),
            method: method.to_owned(),
            source: source.map(str::to_owned),
        }
    }
}

/// The key a shipment is stored once under: a hash of its identity.
fn dedupe_key(shipment: &Shipment) -> String {
    sha256_hex(&shipment.identity())
}

/// Mark supplier order `id` shipped (from a shippable status only); whether it was.
async fn mark_shipped(tx: &mut Tx, id: i64, at: DateTime<Utc>) -> Result<bool> {
    let sql = format!(
        "UPDATE supplier_orders SET status = '{SHIPPED}', shipped_at = COALESCE(shipped_at, $2), updated_at = $2 \
         WHERE id = $1 AND status IN ({})",
        shippable_sql()
    );
    let n = with_tx!(tx, |t| sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
        .bind(id)
        .bind(at)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// The store's handle on shipments, the webhook tokens and inbox ([`Store::shipments`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Shipments<'s>(&'s Store);

impl std::ops::Deref for Shipments<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on shipments, the webhook tokens and inbox.
    #[must_use]
    pub fn shipments(&self) -> Shipments<'_> {
        Shipments(self)
    }
}

impl Shipments<'_> {
    /// Make a new webhook token for refurbisher `key`, which needs a `supplier_id` (the URL
    /// carries it). The previous token keeps working for `grace` (zero: it stops at once).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown key, [`StoreError::Conflict`] without a supplier
    /// id or randomness; a database error.
    pub async fn webhook_token_rotate(
        &self,
        key: &str,
        grace: TimeDelta,
        actor: &str,
    ) -> Result<NewWebhookToken> {
        let r = self
            .refurbishers()
            .get(key)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no refurbisher `{key}`")))?;
        let Some(supplier_id) = r.model.supplier_id else {
            return Err(StoreError::Conflict(format!(
                "refurbisher `{key}` has no supplier_id; the webhook URL /webhook/shipment/{{supplier_id}}/{{token}} needs one \
                 (set \"supplier_id\" in its document and apply it)"
            )));
        };
        let token = format!("{WEBHOOK_TOKEN_PREFIX}{}", random_hex(32)?);
        let at = now();
        let until = at + grace;
        let mut tx = self.begin().await?;
        let (had,): (Option<String>,) = with_tx!(&mut tx, |t| sqlx::query_as(
            "SELECT webhook_token_hash FROM refurbishers WHERE id = $1"
        )
        .bind(r.id)
        .fetch_one(&mut **t)
        .await)?;
        let keep_previous = had.is_some() && grace > TimeDelta::zero();
        with_tx!(&mut tx, |t| {
            sqlx::query(
            "UPDATE refurbishers SET webhook_prev_token_hash = CASE WHEN $4 THEN webhook_token_hash ELSE NULL END, \
             webhook_prev_token_until = CASE WHEN $4 THEN $3 ELSE NULL END, \
             webhook_token_hash = $2, webhook_token_created_at = $5 WHERE id = $1"
        )
        .bind(r.id)
        .bind(sha256_hex(&token))
        .bind(until)
        .bind(keep_previous)
        .bind(at)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        tx.audit(
            actor,
            if had.is_some() {
                "webhook.token_rotate"
            } else {
                "webhook.token_create"
            },
            key,
            serde_json::json!({
                "previous_valid_until": keep_previous.then_some(until),
            }),
        )
        .await?;
        tx.commit().await?;
        Ok(NewWebhookToken {
            token,
            supplier_id,
            previous_valid_until: keep_previous.then_some(until),
        })
    }

    /// The webhook token state of refurbisher `refurbisher_id`.
    ///
    /// # Errors
    /// A database error.
    pub async fn webhook_state(&self, refurbisher_id: i64) -> Result<WebhookState> {
        type Times = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);
        let row: Option<Times> = with_db!(self.db(), |p| {
            sqlx::query_as(
                "SELECT webhook_token_created_at, webhook_prev_token_until FROM refurbishers WHERE id = $1"
            )
            .bind(refurbisher_id)
            .fetch_optional(p)
            .await
        })?;
        let (created, prev_until) = row.unwrap_or((None, None));
        Ok(WebhookState {
            token_created_at: created,
            previous_valid_until: prev_until.filter(|u| *u > now()),
        })
    }

    /// The refurbisher whose supplier id is `supplier_id` and whose current (or, within its
    /// grace period, previous) webhook token is `token`. An unknown supplier and a wrong token
    /// are the same `None`, and take the same work: a hash is compared either way.
    ///
    /// # Errors
    /// A database error, or a stored document that no longer validates.
    pub async fn webhook_authenticate(
        &self,
        supplier_id: i64,
        token: &str,
    ) -> Result<Option<StoredRefurbisher>> {
        let presented = sha256_hex(token);
        // A hash no token has: compared when there is nothing to compare with.
        const NONE: &str = "0000000000000000000000000000000000000000000000000000000000000000";
        self.refurbishers()
            .by_webhook_token(supplier_id, |current, previous, until| {
                let current_ok = same_hash(&presented, current.unwrap_or(NONE));
                let previous_ok = same_hash(&presented, previous.unwrap_or(NONE))
                    && until.is_some_and(|u| u > now());
                current.is_some() && current_ok || previous.is_some() && previous_ok
            })
            .await
    }

    /// A stored shipment of refurbisher `refurbisher_id` with the same identity as `shipment`
    /// (the same order id, tracking code, carrier and units, however the JSON was written): its
    /// id and status; and the candidate supplier orders as [`Shipments::candidates`] reads
    /// them — in one statement (a webhook call needs both).
    ///
    /// # Errors
    /// A database error; a stored status IRP does not know.
    pub async fn lookup(
        &self,
        refurbisher_id: i64,
        shipment: &Shipment,
    ) -> Result<(Option<(i64, String)>, Vec<MatchCandidate>)> {
        // kind: 2 a stored copy, 1 a supplier order by its reference, 0 by our order number.
        let rows: Vec<(i64, i64, String)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT CAST(2 AS BIGINT), id, status FROM shipments WHERE refurbisher_id = $1 AND dedupe_key = $3 \
             UNION ALL \
             SELECT CAST(1 AS BIGINT), id, status FROM supplier_orders WHERE refurbisher_id = $1 AND external_order_reference = $2 \
             UNION ALL \
             SELECT CAST(0 AS BIGINT), so.id, so.status FROM supplier_orders so JOIN orders o ON o.id = so.order_id \
             WHERE so.refurbisher_id = $1 AND o.order_number = $2 \
             ORDER BY 1 DESC, 2"
        )
        .bind(refurbisher_id)
        .bind(&shipment.external_order_id)
        .bind(dedupe_key(shipment))
        .fetch_all(p)
        .await
        })?;
        let mut repeat = None;
        let mut candidates = Vec::new();
        for (kind, id, status) in rows {
            if kind == 2 {
                repeat = Some((id, status));
                continue;
            }
            candidates.push(MatchCandidate {
                supplier_order_id: id,
                status: status
                    .parse()
                    .map_err(|e: UnknownStatus| StoreError::Corrupt(e.to_string()))?,
                by_reference: kind == 1,
            });
        }
        Ok((repeat, candidates))
    }

    /// The supplier orders of refurbisher `refurbisher_id` that `external_order_id` names: by
    /// its answer's order reference, and by IRP's channel order number (some refurbishers quote
    /// ours). A read outside any write transaction: the write checks the status again.
    ///
    /// # Errors
    /// A database error; a stored status IRP does not know.
    pub async fn candidates(
        &self,
        refurbisher_id: i64,
        external_order_id: &str,
    ) -> Result<Vec<MatchCandidate>> {
        let rows: Vec<(i64, String, i64)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT id, status, CAST(1 AS BIGINT) FROM supplier_orders WHERE refurbisher_id = $1 AND external_order_reference = $2 \
             UNION ALL \
             SELECT so.id, so.status, CAST(0 AS BIGINT) FROM supplier_orders so JOIN orders o ON o.id = so.order_id \
             WHERE so.refurbisher_id = $1 AND o.order_number = $2 \
             ORDER BY 3 DESC, 1"
        )
        .bind(refurbisher_id)
        .bind(external_order_id)
        .fetch_all(p)
        .await
        })?;
        rows.into_iter()
            .map(|(id, status, by_reference)| {
                Ok(MatchCandidate {
                    supplier_order_id: id,
                    status: status
                        .parse()
                        .map_err(|e: UnknownStatus| StoreError::Corrupt(e.to_string()))?,
                    by_reference: by_reference == 1,
                })
            })
            .collect()
    }

    /// Write prepared shipments in one transaction (a batch of webhook calls that arrived
    /// together: one commit for all of them), each outcome in the order given. A shipment
    /// sent twice within the batch is stored once, the later copy a repeat.
    ///
    /// # Errors
    /// A database error: nothing of the batch is stored.
    pub async fn write(&self, items: Vec<PreparedShipment>) -> Result<Vec<ShipmentOutcome>> {
        let mut outcomes: Vec<Option<ShipmentOutcome>> = items
            .iter()
            .map(|p| {
                p.repeat
                    .as_ref()
                    .map(|(shipment_id, status)| ShipmentOutcome::Repeat {
                        shipment_id: *shipment_id,
                        status: status.clone(),
                    })
            })
            .collect();
        let mut todo: Vec<usize> = (0..items.len())
            .filter(|&i| outcomes[i].is_none())
            .collect();
        // Rows in key order: two instances inserting the same shipments lock them in the same
        // order (no deadlock); the first copy of a shipment within the batch stays first.
        todo.sort_by(|&a, &b| {
            (items[a].refurbisher_id, &items[a].dedupe, a).cmp(&(
                items[b].refurbisher_id,
                &items[b].dedupe,
                b,
            ))
        });
        if todo.is_empty() {
            return Ok(outcomes.into_iter().flatten().collect());
        }
        let at = now();
        let mut tx = self.begin().await?;
        // 1. The supplier orders to ship (from a shippable status only).
        let mut targets: Vec<i64> = todo
            .iter()
            .filter_map(|&i| match items[i].target {
                Match::Found(id) => Some(id),
                Match::Unmatched(_) => None,
            })
            .collect();
        targets.sort_unstable();
        targets.dedup();
        let mut shipped = std::collections::HashSet::new();
        if !targets.is_empty() {
            let sql = format!(
                "UPDATE supplier_orders SET status = '{SHIPPED}', shipped_at = COALESCE(shipped_at, $1), updated_at = $1 \
                 WHERE id IN ({}) AND status IN ({}) RETURNING id",
                (0..targets.len())
                    .map(|i| format!("${}", i + 2))
                    .collect::<Vec<_>>()
                    .join(", "),
                shippable_sql()
            );
            let ids: Vec<(i64,)> = with_tx!(&mut tx, |t| {
                let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str())).bind(at);
                for id in &targets {
                    q = q.bind(*id);
                }
                q.fetch_all(&mut **t).await
            })?;
            shipped.extend(ids.into_iter().map(|(id,)| id));
        }
        // 2. The shipments; a conflict on the unique key (a copy already stored, by another
        //    instance or earlier in this batch) inserts nothing.
        let rows: Vec<(Option<i64>, Option<String>)> = todo
            .iter()
            .map(|&i| match &items[i].target {
                Match::Found(id) if shipped.contains(id) => (Some(*id), None),
                Match::Found(id) => (
                    None,
                    Some(format!(
                        "supplier order {id} changed meanwhile; match it by hand"
                    )),
                ),
                Match::Unmatched(why) => (None, Some(why.clone())),
            })
            .collect();
        const COLUMNS: usize = 13;
        let sql = format!(
            "INSERT INTO shipments (refurbisher_id, supplier_order_id, external_order_id, track_and_trace, carrier, dedupe_key, \
             payload, received_at, status, reason, method, source, bad_imeis) VALUES {} \
             ON CONFLICT (refurbisher_id, dedupe_key) DO NOTHING RETURNING id, refurbisher_id, dedupe_key",
            (0..todo.len())
                .map(|r| {
                    let b = r * COLUMNS;
                    format!(
                        "({})",
                        (1..=COLUMNS)
                            .map(|c| format!("${}", b + c))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        );
        let inserted: Vec<(i64, i64, String)> = with_tx!(&mut tx, |t| {
            let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql.as_str()));
            for (k, &i) in todo.iter().enumerate() {
                let p = &items[i];
                let (so, reason) = &rows[k];
                q = q
                    .bind(p.refurbisher_id)
                    .bind(*so)
                    .bind(&p.shipment.external_order_id)
                    .bind(&p.shipment.track_and_trace)
                    .bind(&p.shipment.carrier)
                    .bind(&p.dedupe)
                    .bind(&p.payload)
                    .bind(at)
                    .bind(if so.is_some() { MATCHED } else { UNMATCHED })
                    .bind(reason)
                    .bind(&p.method)
                    .bind(&p.source)
                    .bind(i64::try_from(p.shipment.bad_imeis()).unwrap_or(i64::MAX));
            }
            q.fetch_all(&mut **t).await
        })?;
        let mut new_ids: std::collections::HashMap<(i64, String), i64> = inserted
            .into_iter()
            .map(|(id, rid, dedupe)| ((rid, dedupe), id))
            .collect();
        // 3. Their units, all in as few statements as the parameter limit allows.
        let mut units: Vec<(i64, usize, &irp_core::shipments::ShippedUnit)> = Vec::new();
        let mut repeats_in_batch = Vec::new();
        for (k, &i) in todo.iter().enumerate() {
            let p = &items[i];
            match new_ids.remove(&(p.refurbisher_id, p.dedupe.clone())) {
                Some(id) => {
                    units.extend(
                        p.shipment
                            .units
                            .iter()
                            .enumerate()
                            .map(|(pos, u)| (id, pos, u)),
                    );
                    outcomes[i] = Some(match &rows[k] {
                        (Some(so), _) => ShipmentOutcome::Matched {
                            shipment_id: id,
                            supplier_order_id: *so,
                        },
                        (None, reason) => ShipmentOutcome::Unmatched {
                            shipment_id: id,
                            reason: reason.clone().unwrap_or_default(),
                        },
                    });
                }
                None => repeats_in_batch.push(i),
            }
        }
        for chunk in units.chunks(500) {
            let sql = format!(
                "INSERT INTO shipment_units (shipment_id, serial_number, imei, imei_valid, position) VALUES {}",
                (0..chunk.len())
                    .map(|r| {
                        let b = r * 5;
                        format!(
                            "(${}, ${}, ${}, ${}, ${})",
                            b + 1,
                            b + 2,
                            b + 3,
                            b + 4,
                            b + 5
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            with_tx!(&mut tx, |t| {
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                for (id, pos, u) in chunk {
                    q = q
                        .bind(*id)
                        .bind(&u.serial_number)
                        .bind(&u.imei)
                        .bind(u.imei_valid)
                        .bind(i64::try_from(*pos).unwrap_or(i64::MAX));
                }
                q.execute(&mut **t).await.map(|r| r.rows_affected())
            })?;
        }
        // Copies that were stored already: answered with the stored one (read before the
        // commit, so a failing read cannot turn a stored batch into an error).
        for i in repeats_in_batch {
            let p = &items[i];
            let found: Option<(i64, String)> = with_tx!(&mut tx, |t| sqlx::query_as(
                "SELECT id, status FROM shipments WHERE refurbisher_id = $1 AND dedupe_key = $2"
            )
            .bind(p.refurbisher_id)
            .bind(&p.dedupe)
            .fetch_optional(&mut **t)
            .await)?;
            let (shipment_id, status) =
                found.ok_or_else(|| StoreError::NotFound("the stored shipment vanished".into()))?;
            outcomes[i] = Some(ShipmentOutcome::Repeat {
                shipment_id,
                status,
            });
        }
        tx.commit().await?;
        self.channels.notify_one();
        Ok(outcomes.into_iter().flatten().collect())
    }

    /// Keep a refused webhook request of refurbisher `refurbisher_id` for review.
    ///
    /// # Errors
    /// A database error.
    pub async fn webhook_inbox_add(
        &self,
        refurbisher_id: i64,
        method: &str,
        payload: &str,
        reason: &str,
        source: Option<&str>,
    ) -> Result<i64> {
        let (id,): (i64,) = with_db!(self.db(), |p| {
            sqlx::query_as(
            "INSERT INTO webhook_inbox (refurbisher_id, method, payload, reason, received_at, source) \
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id"
        )
        .bind(refurbisher_id)
        .bind(method)
        .bind(payload)
        .bind(reason)
        .bind(now())
        .bind(source)
        .fetch_one(p)
        .await
        })?;
        Ok(id)
    }

    /// Refused webhook requests, newest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn webhook_inbox_list(
        &self,
        refurbisher_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<InboxEntry>> {
        Ok(with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT id, refurbisher_id, method, payload, reason, source, received_at FROM webhook_inbox \
             WHERE ($1 IS NULL OR refurbisher_id = $1) ORDER BY id DESC LIMIT $2"
        )
        .bind(refurbisher_id)
        .bind(limit)
        .fetch_all(p)
        .await
        })?)
    }

    /// Shipments, newest first, optionally of one refurbisher and/or in one status.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(
        &self,
        refurbisher_id: Option<i64>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<StoredShipment>> {
        let sql = format!(
            "{SHIPMENT_SELECT} WHERE ($1 IS NULL OR s.refurbisher_id = $1) AND ($2 IS NULL OR s.status = $2) \
             ORDER BY s.id DESC LIMIT $3"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(refurbisher_id)
        .bind(status)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Shipment `id` and its units.
    ///
    /// # Errors
    /// A database error.
    pub async fn get(&self, id: i64) -> Result<Option<(StoredShipment, Vec<StoredUnit>)>> {
        let sql = format!("{SHIPMENT_SELECT} WHERE s.id = $1");
        let s: Option<StoredShipment> = with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(id)
        .fetch_optional(p)
        .await)?;
        let Some(s) = s else {
            return Ok(None);
        };
        let units: Vec<StoredUnit> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT serial_number, imei, imei_valid FROM shipment_units WHERE shipment_id = $1 ORDER BY position, id"
        )
        .bind(id)
        .fetch_all(p)
        .await
        })?;
        Ok(Some((s, units)))
    }

    /// The shipments of supplier order `supplier_order_id`, oldest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn of_supplier_order(&self, supplier_order_id: i64) -> Result<Vec<StoredShipment>> {
        let sql = format!("{SHIPMENT_SELECT} WHERE s.supplier_order_id = $1 ORDER BY s.id");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(supplier_order_id)
        .fetch_all(p)
        .await)?)
    }

    /// The raw payload of shipment `id`, as received.
    ///
    /// # Errors
    /// A database error.
    pub async fn payload(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = with_db!(self.db(), |p| sqlx::query_as(
            "SELECT payload FROM shipments WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(p)
        .await)?;
        Ok(row.map(|(p,)| p))
    }

    /// An operator links unmatched shipment `id` to supplier order `supplier_order_id` (of the
    /// same refurbisher), which becomes `shipped` unless it was cancelled or is still being
    /// placed.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] / [`StoreError::Conflict`] with the reason; a database error.
    pub async fn match_to(
        &self,
        id: i64,
        supplier_order_id: i64,
        actor: &str,
    ) -> Result<StoredShipment> {
        let at = now();
        let mut tx = self.begin().await?;
        let row: Option<(i64, String)> = with_tx!(&mut tx, |t| sqlx::query_as(
            "SELECT refurbisher_id, status FROM shipments WHERE id = $1"
        )
        .bind(id)
        .fetch_optional(&mut **t)
        .await)?;
        let Some((refurbisher_id, status)) = row else {
            return Err(StoreError::NotFound(format!("no shipment {id}")));
        };
        if status == MATCHED {
            return Err(StoreError::Conflict(format!(
                "shipment {id} is matched already"
            )));
        }
        let so: Option<(i64, String)> = with_tx!(&mut tx, |t| sqlx::query_as(
            "SELECT refurbisher_id, status FROM supplier_orders WHERE id = $1"
        )
        .bind(supplier_order_id)
        .fetch_optional(&mut **t)
        .await)?;
        let Some((so_refurbisher, so_status)) = so else {
            return Err(StoreError::NotFound(format!(
                "no supplier order {supplier_order_id}"
            )));
        };
        if so_refurbisher != refurbisher_id {
            return Err(StoreError::Conflict(format!(
                "supplier order {supplier_order_id} is another refurbisher's than shipment {id}"
            )));
        }
        if !mark_shipped(&mut tx, supplier_order_id, at).await? {
            return Err(StoreError::Conflict(format!(
                "supplier order {supplier_order_id} is {so_status}; only {} supplier orders can be shipped",
                SupplierOrderStatus::ALL
                    .iter()
                    .filter(|s| s.shippable())
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        // Guarded: a match made meanwhile (another operator, the monitor's rematch) wins.
        let n = with_tx!(&mut tx, |t| {
            sqlx::query(
            "UPDATE shipments SET status = $2, supplier_order_id = $3, reason = NULL, resolved_at = $4, resolved_by = $5 \
             WHERE id = $1 AND status <> $2"
        )
        .bind(id)
        .bind(MATCHED)
        .bind(supplier_order_id)
        .bind(at)
        .bind(actor)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "shipment {id} was matched meanwhile"
            )));
        }
        tx.audit(
            actor,
            "shipment.match",
            &id.to_string(),
            serde_json::json!({ "supplier_order_id": supplier_order_id }),
        )
        .await?;
        tx.commit().await?;
        self.shipments()
            .get(id)
            .await?
            .map(|(s, _)| s)
            .ok_or_else(|| StoreError::NotFound(format!("no shipment {id}")))
    }

    /// An operator sets unmatched shipment `id` aside (it stays stored, as `dismissed`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] / [`StoreError::Conflict`]; a database error.
    pub async fn dismiss(&self, id: i64, actor: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        let n = with_tx!(&mut tx, |t| {
            sqlx::query(
            "UPDATE shipments SET status = $2, resolved_at = $3, resolved_by = $4 WHERE id = $1 AND status = $5"
        )
        .bind(id)
        .bind(DISMISSED)
        .bind(now())
        .bind(actor)
        .bind(UNMATCHED)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Err(match self.shipments().get(id).await? {
                None => StoreError::NotFound(format!("no shipment {id}")),
                Some((s, _)) => StoreError::Conflict(format!(
                    "shipment {id} is {}; only unmatched shipments can be dismissed",
                    s.status
                )),
            });
        }
        tx.audit(
            actor,
            "shipment.dismiss",
            &id.to_string(),
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Unmatched shipments to try again: `(shipment id, refurbisher id, external order id)`, at
    /// most `limit`, picked at random, so shipments that can never match (a cancelled order) do
    /// not keep newer ones from being tried.
    ///
    /// # Errors
    /// A database error.
    pub async fn unmatched(&self, limit: i64) -> Result<Vec<(i64, i64, String)>> {
        let rows: Vec<(i64, i64, Option<String>)> = with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT id, refurbisher_id, external_order_id FROM shipments WHERE status = $1 ORDER BY RANDOM() LIMIT $2"
        )
        .bind(UNMATCHED)
        .bind(limit)
        .fetch_all(p)
        .await
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(id, r, external)| external.map(|e| (id, r, e)))
            .collect())
    }

    /// Link unmatched shipment `id` to supplier order `supplier_order_id`, which becomes
    /// `shipped`; whether both still were what the decision saw (the shipment unmatched, the
    /// supplier order shippable).
    ///
    /// # Errors
    /// A database error.
    pub async fn link(&self, id: i64, supplier_order_id: i64) -> Result<bool> {
        let at = now();
        let mut tx = self.begin().await?;
        if !mark_shipped(&mut tx, supplier_order_id, at).await? {
            return Ok(false);
        }
        let n = with_tx!(&mut tx, |t| {
            sqlx::query(
            "UPDATE shipments SET status = $2, supplier_order_id = $3, reason = NULL WHERE id = $1 AND status = $4"
        )
        .bind(id)
        .bind(MATCHED)
        .bind(supplier_order_id)
        .bind(UNMATCHED)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        if n != 1 {
            return Ok(false);
        }
        tx.commit().await?;
        Ok(true)
    }

    /// Matched shipments whose tracking code the channel has not received yet, oldest first
    /// (the queue the Shopware sync delivers from).
    ///
    /// # Errors
    /// A database error.
    pub async fn tracking_queue(&self, limit: i64) -> Result<Vec<StoredShipment>> {
        let sql = format!(
            "{SHIPMENT_SELECT} WHERE s.status = '{MATCHED}' AND s.tracking_pushed_at IS NULL ORDER BY s.id LIMIT $1"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }
}
