//! The supplier-order outbox: claims (a lease per attempt, several instances take turns),
//! recorded outcomes, recovery of attempts a dead process left, and an operator's retry or
//! cancel. Intake fills it ([`crate::orders`]); the submitter in `irp_pipeline::orders` drains
//! it.

use chrono::{DateTime, Utc};
use serde_json::json;
use sqlx::types::Json;

use crate::orders::{
    ATTEMPT_SELECT, AttemptOutcome, CANCELLED, Claimed, FAILED, INTERNAL, NEEDS_ATTENTION, PENDING,
    SUBMITTING, SUPPLIER_ORDER_SELECT, StoredAttempt, StoredSupplierOrder,
};
use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};

/// The store's handle on the supplier-order outbox ([`Store::supplier_orders`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct SupplierOrders<'s>(&'s Store);

impl std::ops::Deref for SupplierOrders<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on the supplier-order outbox.
    #[must_use]
    pub fn supplier_orders(&self) -> SupplierOrders<'_> {
        SupplierOrders(self)
    }
}

impl SupplierOrders<'_> {
    /// Claim the supplier order that is due first: `submitting`, leased to `owner` until
    /// now + `lease`, one more attempt, its attempt row `sending` — committed before anything
    /// is sent, so a crash during the call leaves a trace. Several instances never claim the
    /// same one (`FOR UPDATE SKIP LOCKED`; SQLite has one writer).
    ///
    /// # Errors
    /// A database error.
    pub async fn claim(&self, owner: &str, lease: chrono::TimeDelta) -> Result<Option<Claimed>> {
        Ok(self
            .supplier_orders()
            .claim_due(owner, lease, 1)
            .await?
            .into_iter()
            .next())
    }

    /// Claim up to `limit` due supplier orders at once, as [`Self::claim`]
    /// does one: one durable commit for all of them.
    ///
    /// # Errors
    /// A database error.
    pub async fn claim_due(
        &self,
        owner: &str,
        lease: chrono::TimeDelta,
        limit: i64,
    ) -> Result<Vec<Claimed>> {
        let mut tx = self.begin().await?;
        // The lease runs from when the claim holds the database, not from before it waited.
        let at = now();
        let lease_until = at + lease;
        let lock = if matches!(tx, Tx::Postgres(_)) {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE supplier_orders SET status = '{SUBMITTING}', lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM supplier_orders WHERE status = '{PENDING}' AND next_attempt_at <= $3 \
                          ORDER BY next_attempt_at, id LIMIT $4{lock}) \
             RETURNING id, attempts"
        );
        let mut claimed: Vec<(i64, i64)> =
            with_tx!(&mut tx, |t| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(owner)
                .bind(lease_until)
                .bind(at)
                .bind(limit)
                .fetch_all(&mut **t)
                .await)?;
        if claimed.is_empty() {
            return Ok(Vec::new());
        }
        claimed.sort_unstable();
        let ids: Vec<String> = claimed.iter().map(|(id, _)| id.to_string()).collect();
        // One statement for every attempt row (ids are integers the database returned).
        let sql = format!(
            "INSERT INTO supplier_order_attempts (supplier_order_id, attempt_number, started_at, outcome) \
             SELECT id, attempts, $1, 'sending' FROM supplier_orders WHERE id IN ({})",
            ids.join(", ")
        );
        with_tx!(&mut tx, |t| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(at)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        let sql = format!(
            "{SUPPLIER_ORDER_SELECT} WHERE id IN ({}) ORDER BY id",
            ids.join(", ")
        );
        let rows: Vec<StoredSupplierOrder> =
            with_tx!(&mut tx, |t| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut **t)
                .await)?;
        tx.commit().await?;
        Ok(rows
            .into_iter()
            .zip(claimed)
            .map(|(supplier_order, (_, attempt))| Claimed {
                supplier_order,
                attempt,
            })
            .collect())
    }

    /// Record how a claimed attempt ended — only while the claim is still `owner`'s (a claim
    /// that expired and was recovered meanwhile is not overwritten). Returns whether it was
    /// recorded.
    ///
    /// # Errors
    /// A database error.
    pub async fn finish(&self, claimed: &Claimed, owner: &str, o: &AttemptOutcome) -> Result<bool> {
        let status = o.outcome.supplier_order_status().as_str();
        let at = now();
        let id = claimed.supplier_order.id;
        let mut tx = self.begin().await?;
        let n = with_tx!(&mut tx, |t| {
            sqlx::query(
            "UPDATE supplier_orders SET status = $4, lease_owner = NULL, lease_until = NULL, next_attempt_at = $5, \
                 external_order_reference = COALESCE($6, external_order_reference), external_fields = $7, last_error = $8, updated_at = $9 \
             WHERE id = $1 AND status = 'submitting' AND lease_owner = $2 AND attempts = $3"
        )
        .bind(id)
        .bind(owner)
        .bind(claimed.attempt)
        .bind(status)
        .bind(o.next_attempt_at)
        .bind(&o.external_order_reference)
        .bind(Json(&o.external_fields))
        .bind(&o.error)
        .bind(at)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Ok(false);
        }
        with_tx!(&mut tx, |t| {
            sqlx::query(
            "UPDATE supplier_order_attempts SET finished_at = $3, request = $4, response_status = $5, response_body = $6, outcome = $7, error = $8 \
             WHERE supplier_order_id = $1 AND attempt_number = $2"
        )
        .bind(id)
        .bind(claimed.attempt)
        .bind(at)
        .bind(o.request.as_ref().map(Json))
        .bind(o.response_status)
        .bind(&o.response_body)
        .bind(o.outcome.as_str())
        .bind(&o.error)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        tx.commit().await?;
        Ok(true)
    }

    /// Supplier orders left `submitting` after their claim expired: the process that claimed
    /// them stopped during the call, so whether the refurbisher got the order is unknown.
    /// Each goes to `needs_attention`, or back to `pending` when `decide` (given the
    /// refurbisher id) says its connector has `retry_unknown`, by returning its
    /// `max_attempts`, and that budget is not used up. Returns the ids moved.
    ///
    /// # Errors
    /// A database error.
    pub async fn recover(&self, decide: impl Fn(i64) -> Option<i64>) -> Result<Vec<i64>> {
        let at = now();
        let sql = format!(
            "{SUPPLIER_ORDER_SELECT} WHERE status = '{SUBMITTING}' AND lease_until < $1 ORDER BY id"
        );
        let expired: Vec<StoredSupplierOrder> =
            with_db!(self.db(), |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(at)
                .fetch_all(p)
                .await)?;
        let mut moved = Vec::new();
        for so in expired {
            let retry = decide(so.refurbisher_id)
                .is_some_and(|max_attempts| so.attempts - so.retry_from < max_attempts);
            let (status, error) = if retry {
                (
                    PENDING,
                    "the process stopped during the call; sending again (retry_unknown)",
                )
            } else {
                (
                    NEEDS_ATTENTION,
                    "the process stopped during the call: the refurbisher may have the order; check with them, then retry or cancel",
                )
            };
            let mut tx = self.begin().await?;
            let n = with_tx!(&mut tx, |t| {
                sqlx::query(
                "UPDATE supplier_orders SET status = $3, lease_owner = NULL, lease_until = NULL, next_attempt_at = $4, last_error = $5, updated_at = $4 \
                 WHERE id = $1 AND status = 'submitting' AND attempts = $2 AND lease_until < $4"
            )
            .bind(so.id)
            .bind(so.attempts)
            .bind(status)
            .bind(at)
            .bind(error)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected())
            })?;
            if n == 1 {
                with_tx!(&mut tx, |t| {
                    sqlx::query(
                    "UPDATE supplier_order_attempts SET finished_at = $3, outcome = 'unknown', error = $4 \
                     WHERE supplier_order_id = $1 AND attempt_number = $2 AND outcome = 'sending'"
                )
                .bind(so.id)
                .bind(so.attempts)
                .bind(at)
                .bind(error)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected())
                })?;
                tx.commit().await?;
                tracing::warn!(
                    supplier_order = so.id,
                    status,
                    "A supplier order's call was interrupted"
                );
                moved.push(so.id);
            }
        }
        if !moved.is_empty() {
            self.outbox.notify_one();
        }
        Ok(moved)
    }

    /// When the next pending supplier order is due (none: the outbox is empty).
    ///
    /// # Errors
    /// A database error.
    pub async fn next_due(&self) -> Result<Option<DateTime<Utc>>> {
        let sql =
            format!("SELECT MIN(next_attempt_at) FROM supplier_orders WHERE status = '{PENDING}'");
        Ok(with_db!(self.db(), |p| sqlx::query_scalar(
            sqlx::AssertSqlSafe(sql)
        )
        .fetch_one(p)
        .await)?)
    }

    /// The attempts of a supplier order, first first.
    ///
    /// # Errors
    /// A database error.
    pub async fn attempts(&self, id: i64) -> Result<Vec<StoredAttempt>> {
        let sql = format!("{ATTEMPT_SELECT} WHERE supplier_order_id = $1 ORDER BY attempt_number");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(id)
        .fetch_all(p)
        .await)?)
    }

    /// Supplier orders, newest first, optionally only those with `status`.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(&self, status: Option<&str>, limit: i64) -> Result<Vec<StoredSupplierOrder>> {
        let sql = format!(
            "{SUPPLIER_ORDER_SELECT} WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(status)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// An operator sends a `failed` or `needs_attention` supplier order again: `pending`, due
    /// now, with a fresh budget of automatic retries.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] naming the status it is in; a
    /// database error.
    pub async fn retry(&self, id: i64, actor: &str) -> Result<StoredSupplierOrder> {
        self.supplier_order_move(id, actor, &[FAILED, NEEDS_ATTENTION], PENDING, "retry")
            .await
    }

    /// An operator cancels a supplier order that is not under way or placed: `cancelled`, its
    /// units no longer reserved.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] naming the status it is in; a
    /// database error.
    pub async fn cancel(&self, id: i64, actor: &str) -> Result<StoredSupplierOrder> {
        self.supplier_order_move(
            id,
            actor,
            &[PENDING, FAILED, NEEDS_ATTENTION, INTERNAL],
            CANCELLED,
            "cancel",
        )
        .await
    }

    async fn supplier_order_move(
        &self,
        id: i64,
        actor: &str,
        from: &[&str],
        to: &str,
        action: &str,
    ) -> Result<StoredSupplierOrder> {
        let so = self
            .orders()
            .supplier_order(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no supplier order {id}")))?;
        let conflict = |status: &str| {
            StoreError::Conflict(format!(
                "supplier order {id} is {status}; {action} works on {}",
                from.join(", ")
            ))
        };
        if !from.contains(&so.status.as_str()) {
            return Err(conflict(so.status.as_str()));
        }
        let at = now();
        let mut tx = self.begin().await?;
        let list = from
            .iter()
            .map(|s| format!("'{s}'"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "UPDATE supplier_orders SET status = $2, next_attempt_at = $3, retry_from = attempts, updated_at = $3 \
             WHERE id = $1 AND status IN ({list})"
        );
        let n = with_tx!(&mut tx, |t| sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(to)
            .bind(at)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            drop(tx);
            let now_status = self
                .orders()
                .supplier_order(id)
                .await?
                .map_or_else(|| "gone".to_owned(), |s| s.status.to_string());
            return Err(conflict(&now_status));
        }
        if to == CANCELLED {
            // Its units are not coming: give them back to the offers (not below zero).
            let eans: Vec<Option<String>> = with_tx!(&mut tx, |t| {
                sqlx::query_scalar(
                "UPDATE offers SET reserved = CASE WHEN reserved > l.q THEN reserved - l.q ELSE 0 END \
                 FROM (SELECT offer_id, SUM(reserved) AS q FROM order_lines WHERE supplier_order_id = $1 AND reserved > 0 GROUP BY offer_id) AS l \
                 WHERE offers.id = l.offer_id RETURNING offers.ean"
            )
            .bind(id)
            .fetch_all(&mut **t)
            .await
            })?;
            // (Only what its lines still hold: a feed run since released the rest.)
            with_tx!(&mut tx, |t| sqlx::query(
                "UPDATE order_lines SET reserved = 0 WHERE supplier_order_id = $1 AND reserved > 0"
            )
            .bind(id)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
            let eans: Vec<String> = eans.into_iter().flatten().collect();
            crate::marks::mark_dirty(&mut tx, &eans).await?;
        }
        tx.audit(
            actor,
            &format!("supplier_order.{action}"),
            &id.to_string(),
            json!({ "from": so.status, "to": to }),
        )
        .await?;
        tx.commit().await?;
        if to == PENDING {
            self.outbox.notify_one();
        } else {
            self.catalog.notify_one();
        }
        self.orders()
            .supplier_order(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no supplier order {id}")))
    }
}
