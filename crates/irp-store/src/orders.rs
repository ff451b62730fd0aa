//! Orders: intake (idempotent on channel + order number), routing of each line to an offer, one
//! supplier order per refurbisher, and the supplier-order context the order mapping reads.
//!
//! An intake is one transaction in three steps (`Store::orders().intake_begin`, [`Intake::find`],
//! [`Intake::write`]) around the routing decision, which is pure
//! ([`irp_core::orders::routing::route`]); `irp_pipeline::orders::take_in` runs them. It writes
//! the order, its lines with the offer, refurbisher and purchase price frozen on them, and the
//! supplier orders — `pending`
//! (the outbox the submitter sends from) for a refurbisher with an order connector, `internal`
//! for one without (`"order": {}`). A line that cannot be routed is kept as `needs_attention`
//! with the reason; nothing in the order is dropped. Ordered units are reserved on their offers
//! (sellable stock drops) until the refurbisher's next applied feed.

use chrono::{DateTime, Utc};
use irp_core::mapping::context::{
    ItemContext, OfferContext, OrderContext, RefurbisherContext, SupplierOrderContext,
    VariantContext,
};
use irp_core::money;
use irp_core::orders::routing::{
    Candidate, Found, RouteChannel, RoutePlan, RouteRefurbisher, purchase_in_use,
};
use irp_core::orders::status::{AttemptResult, LineStatus, OrderStatus, SupplierOrderStatus};
use irp_core::orders::{FieldError, LineTarget, OrderDocument};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use sqlx::types::Json;

use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};

// The statuses as SQL text (the names of [`OrderStatus`], [`LineStatus`] and
// [`SupplierOrderStatus`]).
pub(crate) const NEEDS_ATTENTION: &str = SupplierOrderStatus::NeedsAttention.as_str();
pub(crate) const PENDING: &str = SupplierOrderStatus::Pending.as_str();
pub(crate) const INTERNAL: &str = SupplierOrderStatus::Internal.as_str();
pub(crate) const SUBMITTING: &str = SupplierOrderStatus::Submitting.as_str();
pub(crate) const SUBMITTED: &str = SupplierOrderStatus::Submitted.as_str();
pub(crate) const FAILED: &str = SupplierOrderStatus::Failed.as_str();
pub(crate) const CANCELLED: &str = SupplierOrderStatus::Cancelled.as_str();

/// A stored customer order.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StoredOrder {
    /// IRP's order id.
    pub id: i64,
    /// The channel key.
    pub channel: String,
    /// The channel's order number.
    pub order_number: String,
    /// When the customer placed it.
    pub placed_at: DateTime<Utc>,
    /// The customer's e-mail address.
    pub customer_email: String,
    /// The shipping address as given.
    pub shipping_address: Json<Value>,
    /// The billing address as given.
    pub billing_address: Option<Json<Value>>,
    /// Routed, or a line needs attention.
    #[sqlx(try_from = "String")]
    pub status: OrderStatus,
    /// The document as received.
    pub document: Json<Value>,
    /// When IRP took it in.
    pub created_at: DateTime<Utc>,
}

/// What `Store::orders().search` filters on; `None` is "any".
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Order status.
    pub status: Option<String>,
    /// Channel key.
    pub channel: Option<String>,
    /// Orders with a supplier order at this refurbisher.
    pub refurbisher_id: Option<i64>,
    /// Placed at or after.
    pub from: Option<DateTime<Utc>>,
    /// Placed before.
    pub until: Option<DateTime<Utc>>,
    /// The order number or the customer's e-mail, exactly.
    pub text: Option<String>,
}

/// One line of an order, with what it was routed to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct StoredLine {
    /// Line id.
    pub id: i64,
    /// The order.
    pub order_id: i64,
    /// 1-based position in the order.
    pub line_number: i64,
    /// The supplier order it is placed with (none while it needs attention).
    pub supplier_order_id: Option<i64>,
    /// EAN.
    pub ean: Option<String>,
    /// The refurbisher's SKU.
    pub sku: Option<String>,
    /// The offer's feed name.
    pub name: Option<String>,
    /// The refurbisher.
    pub refurbisher_id: Option<i64>,
    /// The offer.
    pub offer_id: Option<i64>,
    /// Units.
    pub quantity: i64,
    /// What the customer paid per unit incl. VAT, minor units of `currency`.
    pub unit_price_incl_minor: i64,
    /// The purchase price per unit excl. VAT, frozen at intake, minor units of
    /// `purchase_currency`.
    pub purchase_price_minor: Option<i64>,
    /// Its currency.
    pub purchase_currency: Option<String>,
    /// VAT percentage.
    pub tax_percentage: Option<String>,
    /// The channel's currency.
    pub currency: String,
    /// Routed, or it needs attention.
    #[sqlx(try_from = "String")]
    pub status: LineStatus,
    /// Why it needs attention.
    pub attention_reason: Option<String>,
}

/// A supplier order: the part of an order one refurbisher fulfils.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StoredSupplierOrder {
    /// Supplier order id.
    pub id: i64,
    /// The customer order.
    pub order_id: i64,
    /// The refurbisher.
    pub refurbisher_id: i64,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub status: SupplierOrderStatus,
    /// Sent with every attempt so the refurbisher can recognise a repeat.
    pub idempotency_key: String,
    /// Attempts made.
    pub attempts: i64,
    /// When the next attempt is due.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// The refurbisher's own order id.
    pub external_order_reference: Option<String>,
    /// Values copied from the refurbisher's answer.
    pub external_fields: Json<Value>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// `attempts` when an operator last retried it (automatic retries count from there).
    pub retry_from: i64,
    /// Who holds the claim while `submitting`.
    pub lease_owner: Option<String>,
    /// Until when.
    pub lease_until: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// What an intake did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OrderIntake {
    /// The order (the existing one for a repeat).
    pub order: StoredOrder,
    /// False when the order was already taken in (same channel and order number).
    pub created: bool,
}

const ORDER_SELECT: &str = "SELECT id, channel, order_number, placed_at, customer_email, shipping_address, billing_address, status, \
     document, created_at FROM orders";
const LINE_SELECT: &str = "SELECT id, order_id, line_number, supplier_order_id, ean, sku, name, refurbisher_id, offer_id, quantity, \
     unit_price_incl_minor, purchase_price_minor, purchase_currency, tax_percentage, currency, status, attention_reason FROM order_lines";
pub(crate) const SUPPLIER_ORDER_SELECT: &str = "SELECT id, order_id, refurbisher_id, status, idempotency_key, attempts, next_attempt_at, \
     external_order_reference, external_fields, last_error, retry_from, lease_owner, lease_until, created_at, updated_at FROM supplier_orders";
pub(crate) const ATTEMPT_SELECT: &str = "SELECT id, supplier_order_id, attempt_number, started_at, finished_at, request, response_status, response_body, \
     outcome, error FROM supplier_order_attempts";

/// One call (or the claim of one) to a refurbisher's order API.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct StoredAttempt {
    /// Attempt id.
    pub id: i64,
    /// The supplier order.
    pub supplier_order_id: i64,
    /// 1, 2, …
    pub attempt_number: i64,
    /// When it was claimed.
    pub started_at: DateTime<Utc>,
    /// When its outcome was recorded.
    pub finished_at: Option<DateTime<Utc>>,
    /// The request as sent, credentials redacted.
    pub request: Option<Json<Value>>,
    /// The answer's HTTP status.
    pub response_status: Option<i64>,
    /// The answer's body (at most 64 KiB).
    pub response_body: Option<String>,
    /// `sending` while under way, then how it ended (`unknown`: the process stopped during the
    /// call).
    #[sqlx(try_from = "String")]
    pub outcome: AttemptResult,
    /// What went wrong.
    pub error: Option<String>,
}

/// A claimed supplier order: the submitter owns it until `lease_until`.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The supplier order (status `submitting`).
    pub supplier_order: StoredSupplierOrder,
    /// The attempt this claim is.
    pub attempt: i64,
}

/// How an attempt ended, as the submitter records it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    /// `submitted`, `retry`, `failed` or `needs_attention`.
    pub outcome: AttemptResult,
    /// The request, redacted.
    pub request: Option<Value>,
    /// The answer's status.
    pub response_status: Option<i64>,
    /// The answer's body.
    pub response_body: Option<String>,
    /// What went wrong.
    pub error: Option<String>,
    /// `retry`: when.
    pub next_attempt_at: Option<DateTime<Utc>>,
    /// `submitted`: the refurbisher's order id.
    pub external_order_reference: Option<String>,
    /// `submitted`: every value `response_object.fields` copied.
    pub external_fields: Value,
}

/// The offer a line is routed to, as read for intake.
#[derive(sqlx::FromRow)]
struct RouteOffer {
    id: i64,
    refurbisher_id: i64,
    sku: String,
    ean: Option<String>,
    name: String,
    active: bool,
    price_purchase_minor: i64,
    applied_purchase_minor: Option<i64>,
    currency: String,
    tax_percentage: Option<String>,
    stock_available: i64,
    reserved: i64,
}

impl From<RouteOffer> for Candidate {
    fn from(o: RouteOffer) -> Self {
        Candidate {
            id: o.id,
            refurbisher_id: o.refurbisher_id,
            sku: o.sku,
            ean: o.ean,
            name: o.name,
            active: o.active,
            purchase_minor: purchase_in_use(o.price_purchase_minor, o.applied_purchase_minor).0,
            currency: o.currency,
            tax_percentage: o.tax_percentage,
            stock_available: o.stock_available,
            reserved: o.reserved,
        }
    }
}

const ROUTE_OFFER_SELECT: &str = "SELECT id, refurbisher_id, sku, ean, name, active, price_purchase_minor, applied_purchase_minor, \
     currency, tax_percentage, stock_available, reserved FROM offers";

/// How an intake begins: the order was taken in before, or a new intake is under way.
pub enum IntakeStart {
    /// The order (same channel and order number) exists; nothing was changed.
    Exists(StoredOrder),
    /// The order row is written in an open transaction; find, route, write.
    New(Intake),
}

/// An order intake under way, in one transaction: `Store::orders().intake_begin` wrote the
/// order row, [`Intake::find`] reads each line's candidate offer (locked on PostgreSQL, so
/// concurrent intakes take turns on an offer), the caller routes
/// ([`irp_core::orders::routing::route`]) and [`Intake::write`] writes the plan and commits.
/// Dropped without `write`, nothing is stored.
pub struct Intake {
    store: Store,
    tx: Tx,
    order_id: i64,
    /// The channel, as routing needs it.
    pub channel: RouteChannel,
    /// The refurbishers, as routing needs them.
    pub refurbishers: Vec<RouteRefurbisher>,
}

/// The store's handle on orders: intake, reads, the supplier-order context ([`Store::orders`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Orders<'s>(&'s Store);

impl std::ops::Deref for Orders<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on orders: intake, reads, the supplier-order context.
    #[must_use]
    pub fn orders(&self) -> Orders<'_> {
        Orders(self)
    }
}

impl Orders<'_> {
    /// Begin taking in an order: a repeat (same channel and order number) answers the stored
    /// order; otherwise the order row is written in a new transaction.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] for a channel that is not configured; a database error.
    pub async fn intake_begin(&self, doc: &OrderDocument, raw: &Value) -> Result<IntakeStart> {
        if let Some(order) = self
            .orders()
            .by_number(&doc.channel, &doc.order_number)
            .await?
        {
            return Ok(IntakeStart::Exists(order));
        }
        let channels = self.channels().list().await?;
        let Some(channel) = channels
            .iter()
            .map(|c| &c.channel)
            .find(|c| c.key == doc.channel)
        else {
            let known: Vec<&str> = channels.iter().map(|c| c.channel.key.as_str()).collect();
            return Err(StoreError::Invalid(vec![FieldError {
                field: "channel".into(),
                value: Value::String(doc.channel.clone()).to_string(),
                expected: if known.is_empty() {
                    "a configured channel; none is configured (irp channel apply -f channels.json)"
                        .into()
                } else {
                    format!("a configured channel: {}", known.join(", "))
                },
            }]));
        };
        let channel = RouteChannel {
            key: channel.key.clone(),
            currency: channel.currency.clone(),
            default_tax_percentage: channel.default_tax_percentage,
        };
        let refurbishers = self
            .refurbishers()
            .list()
            .await?
            .into_iter()
            .map(|r| RouteRefurbisher {
                id: r.id,
                integrated: r.model.order.is_some(),
                stock_threshold: r.model.stock_threshold,
                key: r.key,
            })
            .collect();
        let mut tx = self.begin().await?;
        // The order first: a concurrent intake of the same order waits here, then finds it.
        let billing = doc
            .billing_address
            .as_ref()
            .map(|a| Json(serde_json::to_value(a).unwrap_or(Value::Null)));
        let inserted: Option<i64> = with_tx!(&mut tx, |t| {
            sqlx::query_scalar(
            "INSERT INTO orders (channel, order_number, placed_at, customer_email, shipping_address, billing_address, status, document, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (channel, order_number) DO NOTHING RETURNING id"
        )
        .bind(&doc.channel)
        .bind(&doc.order_number)
        .bind(doc.placed_at)
        .bind(&doc.email)
        .bind(Json(serde_json::to_value(&doc.shipping_address).unwrap_or(Value::Null)))
        .bind(billing)
        .bind(OrderStatus::Routed.as_str())
        .bind(Json(raw))
        .bind(now())
        .fetch_optional(&mut **t)
        .await
        })?;
        let Some(order_id) = inserted else {
            drop(tx);
            let order = self
                .orders()
                .by_number(&doc.channel, &doc.order_number)
                .await?
                .ok_or_else(|| StoreError::NotFound("the order vanished".into()))?;
            return Ok(IntakeStart::Exists(order));
        };
        Ok(IntakeStart::New(Intake {
            store: Store::clone(self),
            tx,
            order_id,
            channel,
            refurbishers,
        }))
    }
}

impl Intake {
    /// What each line of `doc` may be routed to: by EAN the channel's best offer, by SKU the
    /// refurbisher's offer — read locked on PostgreSQL.
    ///
    /// # Errors
    /// A database error.
    pub async fn find(&mut self, doc: &OrderDocument) -> Result<Vec<Found>> {
        let lock = crate::dialect::for_update(&self.tx);
        let tx = &mut self.tx;
        let mut found = Vec::with_capacity(doc.lines.len());
        for line in &doc.lines {
            match &line.target {
                LineTarget::Ean { ean } => {
                    let best: Option<(Option<i64>, bool, Option<String>)> = with_tx!(tx, |t| {
                        sqlx::query_as(
                            "SELECT offer_id, active, tax_percentage FROM channel_products WHERE channel = $1 AND ean = $2",
                        )
                        .bind(&self.channel.key)
                        .bind(ean)
                        .fetch_optional(&mut **t)
                        .await
                    })?;
                    let (offer, tax_percentage) = match best {
                        Some((Some(offer_id), true, tax)) => {
                            let sql = format!("{ROUTE_OFFER_SELECT} WHERE id = $1{lock}");
                            let offer: Option<RouteOffer> =
                                with_tx!(tx, |t| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                                    .bind(offer_id)
                                    .fetch_optional(&mut **t)
                                    .await)?;
                            (offer.map(Candidate::from), tax)
                        }
                        _ => (None, None),
                    };
                    found.push(Found::Ean {
                        offer,
                        tax_percentage,
                    });
                }
                LineTarget::Offer { refurbisher, sku } => {
                    let Some(r) = self.refurbishers.iter().find(|x| &x.key == refurbisher) else {
                        found.push(Found::Nothing);
                        continue;
                    };
                    let sql = format!(
                        "{ROUTE_OFFER_SELECT} WHERE refurbisher_id = $1 AND sku = $2{lock}"
                    );
                    let offer: Option<RouteOffer> =
                        with_tx!(tx, |t| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                            .bind(r.id)
                            .bind(sku)
                            .fetch_optional(&mut **t)
                            .await)?;
                    found.push(Found::Offer(offer.map(Candidate::from)));
                }
            }
        }
        Ok(found)
    }

    /// Write the routed order — its lines with the offer, refurbisher and purchase price
    /// frozen on them, the reservations, one supplier order per refurbisher, the dirty marks of
    /// the reserved EANs and the audit entry — and commit. Wakes the outbox submitter and the
    /// catalog task.
    ///
    /// # Errors
    /// A database error; nothing is stored then.
    pub async fn write(
        mut self,
        doc: &OrderDocument,
        plan: &RoutePlan,
        actor: &str,
    ) -> Result<OrderIntake> {
        let (tx, order_id, at) = (&mut self.tx, self.order_id, now());
        for (offer_id, units) in plan.reservations() {
            with_tx!(tx, |t| sqlx::query(
                "UPDATE offers SET reserved = reserved + $2 WHERE id = $1"
            )
            .bind(offer_id)
            .bind(units)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        }
        let mut supplier_orders: Vec<(i64, i64)> = Vec::new(); // (refurbisher id, supplier order id)
        for planned in &plan.supplier_orders {
            let pending = planned.status == SupplierOrderStatus::Pending;
            let id: i64 = with_tx!(tx, |t| {
                sqlx::query_scalar(
                "INSERT INTO supplier_orders (order_id, refurbisher_id, status, idempotency_key, next_attempt_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id"
            )
            .bind(order_id)
            .bind(planned.refurbisher_id)
            .bind(planned.status.as_str())
            .bind(&planned.idempotency_key)
            .bind(pending.then_some(at))
            .bind(at)
            .fetch_one(&mut **t)
            .await
            })?;
            supplier_orders.push((planned.refurbisher_id, id));
        }
        for l in &plan.lines {
            let supplier_order_id =
                l.refurbisher_id
                    .filter(|_| l.offer_id.is_some())
                    .and_then(|rid| {
                        supplier_orders
                            .iter()
                            .find(|(r, _)| *r == rid)
                            .map(|(_, id)| *id)
                    });
            with_tx!(tx, |t| {
                sqlx::query(
                "INSERT INTO order_lines (order_id, line_number, supplier_order_id, ean, sku, name, refurbisher_id, offer_id, quantity, \
                     unit_price_incl_minor, purchase_price_minor, purchase_currency, tax_percentage, currency, status, attention_reason, reserved) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
            )
            .bind(order_id)
            .bind(l.line_number)
            .bind(supplier_order_id)
            .bind(&l.ean)
            .bind(&l.sku)
            .bind(&l.name)
            .bind(l.offer_id.and(l.refurbisher_id))
            .bind(l.offer_id)
            .bind(l.quantity)
            .bind(l.unit_price_incl_minor)
            .bind(l.purchase_minor)
            .bind(&l.purchase_currency)
            .bind(&l.tax_percentage)
            .bind(&self.channel.currency)
            .bind(l.status.as_str())
            .bind(&l.reason)
            .bind(l.reserved)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected())
            })?;
        }
        if plan.status != OrderStatus::Routed {
            with_tx!(tx, |t| sqlx::query(
                "UPDATE orders SET status = $2 WHERE id = $1"
            )
            .bind(order_id)
            .bind(plan.status.as_str())
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        }
        let reserved_eans = plan.reserved_eans();
        crate::marks::mark_dirty(tx, &reserved_eans).await?;
        tx.audit(
            actor,
            "order.create",
            &format!("{}/{}", doc.channel, doc.order_number),
            json!({
                "order_id": order_id,
                "lines": plan.lines.len(),
                "needs_attention": plan.needs_attention(),
                "supplier_orders": supplier_orders.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
            }),
        )
        .await?;
        self.tx.commit().await?;
        let store = self.store;
        if !supplier_orders.is_empty() {
            store.outbox.notify_one();
        }
        if !reserved_eans.is_empty() {
            // The reserved units leave the sellable stock at the next recompute: `serve`'s
            // catalog task runs it (coalescing a burst of orders), the CLI right away. Intake
            // does not wait for it.
            store.catalog.notify_one();
        }
        let order = store
            .orders()
            .get(order_id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("order {order_id}")))?;
        Ok(OrderIntake {
            order,
            created: true,
        })
    }
}

impl Orders<'_> {
    /// An order by id.
    ///
    /// # Errors
    /// A database error.
    pub async fn get(&self, id: i64) -> Result<Option<StoredOrder>> {
        let sql = format!("{ORDER_SELECT} WHERE id = $1");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// An order by channel and order number.
    ///
    /// # Errors
    /// A database error.
    pub async fn by_number(
        &self,
        channel: &str,
        order_number: &str,
    ) -> Result<Option<StoredOrder>> {
        let sql = format!("{ORDER_SELECT} WHERE channel = $1 AND order_number = $2");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(channel)
        .bind(order_number)
        .fetch_optional(p)
        .await)?)
    }

    /// The newest orders first, optionally only those with `status`.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(&self, status: Option<&str>, limit: i64) -> Result<Vec<StoredOrder>> {
        let sql =
            format!("{ORDER_SELECT} WHERE ($1 IS NULL OR status = $1) ORDER BY id DESC LIMIT $2");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(status)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Orders matching `f`, newest first, `limit` from `offset` (for the portal's list).
    ///
    /// # Errors
    /// A database error.
    pub async fn search(
        &self,
        f: &OrderFilter,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredOrder>> {
        let sql = format!(
            "{ORDER_SELECT} WHERE ($1 IS NULL OR status = $1) AND ($2 IS NULL OR channel = $2) \
             AND ($3 IS NULL OR EXISTS (SELECT 1 FROM supplier_orders so WHERE so.order_id = orders.id AND so.refurbisher_id = $3)) \
             AND ($4 IS NULL OR placed_at >= $4) AND ($5 IS NULL OR placed_at < $5) \
             AND ($6 IS NULL OR order_number = $6 OR customer_email = $6) \
             ORDER BY id DESC LIMIT $7 OFFSET $8"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(f.status.as_deref())
        .bind(f.channel.as_deref())
        .bind(f.refurbisher_id)
        .bind(f.from)
        .bind(f.until)
        .bind(f.text.as_deref())
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)?)
    }

    /// Orders per day (UTC) placed since `since`, oldest first: (`YYYY-MM-DD`, count).
    ///
    /// # Errors
    /// A database error.
    pub async fn per_day(&self, since: DateTime<Utc>) -> Result<Vec<(String, i64)>> {
        let rows: Vec<(DateTime<Utc>,)> = with_db!(self.db(), |p| sqlx::query_as(
            "SELECT placed_at FROM orders WHERE placed_at >= $1"
        )
        .bind(since)
        .fetch_all(p)
        .await)?;
        let mut days = std::collections::BTreeMap::<String, i64>::new();
        for (t,) in rows {
            *days.entry(t.format("%Y-%m-%d").to_string()).or_default() += 1;
        }
        Ok(days.into_iter().collect())
    }

    /// The lines of an order, in order.
    ///
    /// # Errors
    /// A database error.
    pub async fn lines(&self, order_id: i64) -> Result<Vec<StoredLine>> {
        let sql = format!("{LINE_SELECT} WHERE order_id = $1 ORDER BY line_number");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(order_id)
        .fetch_all(p)
        .await)?)
    }

    /// The supplier orders of an order.
    ///
    /// # Errors
    /// A database error.
    pub async fn supplier_orders_of(&self, order_id: i64) -> Result<Vec<StoredSupplierOrder>> {
        let sql = format!("{SUPPLIER_ORDER_SELECT} WHERE order_id = $1 ORDER BY id");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(order_id)
        .fetch_all(p)
        .await)?)
    }

    /// A supplier order.
    ///
    /// # Errors
    /// A database error.
    pub async fn supplier_order(&self, id: i64) -> Result<Option<StoredSupplierOrder>> {
        let sql = format!("{SUPPLIER_ORDER_SELECT} WHERE id = $1");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// The supplier-order context the order mapping reads (`docs/order-mapping.md`).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown supplier order; a database error; stored data
    /// that no longer reads.
    pub async fn supplier_order_context(&self, id: i64) -> Result<SupplierOrderContext> {
        let so = self
            .orders()
            .supplier_order(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no supplier order {id}")))?;
        let order = self.orders().get(so.order_id).await?.ok_or_else(|| {
            StoreError::Corrupt(format!("supplier order {id}: its order is gone"))
        })?;
        let refurbisher = self
            .refurbishers()
            .list()
            .await?
            .into_iter()
            .find(|r| r.id == so.refurbisher_id)
            .ok_or_else(|| {
                StoreError::Corrupt(format!("supplier order {id}: its refurbisher is gone"))
            })?;
        let read_address = |v: &Value| -> Result<irp_core::orders::Address> {
            serde_json::from_value::<irp_core::orders::Address>(v.clone())
                .map_err(|e| StoreError::Corrupt(format!("order {}: address: {e}", order.id)))
        };
        let shipping = read_address(&order.shipping_address.0)?;
        let billing = match &order.billing_address {
            Some(b) => read_address(&b.0)?,
            None => shipping.clone(),
        };
        let lines: Vec<StoredLine> = self
            .orders()
            .lines(order.id)
            .await?
            .into_iter()
            .filter(|l| l.supplier_order_id == Some(id))
            .collect();
        let mut items = Vec::with_capacity(lines.len());
        for l in lines {
            let digits = money::minor_digits(l.purchase_currency.as_deref().unwrap_or("EUR"));
            let excl = money::from_minor(l.purchase_price_minor.unwrap_or(0), digits);
            let tax = l
                .tax_percentage
                .as_deref()
                .and_then(money::parse_plain_decimal)
                .unwrap_or(Decimal::ZERO);
            let incl = (excl * (Decimal::ONE + tax / Decimal::ONE_HUNDRED))
                .round_dp_with_strategy(digits, RoundingStrategy::MidpointAwayFromZero);
            let ean = l.ean.clone().unwrap_or_default();
            let product_name = self
                .catalog()
                .product(&ean)
                .await?
                .map(|p| p.display_name().to_owned())
                .filter(|n| !n.is_empty());
            let offer_name = l.name.clone().unwrap_or_default();
            items.push(ItemContext {
                id: l.id,
                quantity: l.quantity,
                unit_price_tax_excl: excl,
                unit_price_tax_incl: incl,
                tax_percentage: tax.normalize(),
                product_variant: VariantContext {
                    ean: ean.clone(),
                    sku: ean.clone(),
                    name: product_name.unwrap_or_else(|| offer_name.clone()),
                    refurbisher_offer: OfferContext {
                        sku: l.sku.clone().unwrap_or_default(),
                        ean,
                        name: offer_name,
                        price_purchase_amount: excl,
                    },
                },
            });
        }
        Ok(SupplierOrderContext {
            id: so.id,
            order: OrderContext {
                id: order.id,
                order_number: order.order_number.clone(),
                channel: order.channel.clone(),
                placed_at: order
                    .placed_at
                    .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                email: order.customer_email.clone(),
            },
            shipping_address: shipping.context(&order.customer_email),
            billing_address: billing.context(&order.customer_email),
            refurbisher: RefurbisherContext {
                key: refurbisher.key.clone(),
                refurbisher_id: refurbisher.id,
                supplier_id: refurbisher.model.supplier_id,
                odoo_vendor_id: refurbisher.model.odoo_vendor_id,
            },
            items,
        })
    }
}
