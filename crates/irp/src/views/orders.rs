//! Orders, their lines, the supplier orders placed at refurbishers, each call made to a
//! refurbisher and each supplier order's document in Odoo.

use chrono::{DateTime, Utc};
use irp_core::erp::ErpStatus;
use irp_core::orders::status::{LineStatus, OrderStatus, SupplierOrderStatus};
use irp_store::orders::{StoredAttempt, StoredLine, StoredOrder, StoredSupplierOrder};
use irp_store::{Store, StoreError};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use super::Shipment;

/// A customer order as stored.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Order {
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
    #[schema(value_type = Object)]
    pub shipping_address: Value,
    /// The billing address as given.
    #[schema(value_type = Option<Object>)]
    pub billing_address: Option<Value>,
    /// `routed` or `needs_attention`.
    #[schema(schema_with = super::names::<OrderStatus>)]
    pub status: OrderStatus,
    /// The document as received.
    #[schema(value_type = Object)]
    pub document: Value,
    /// When IRP took it in.
    pub created_at: DateTime<Utc>,
}

impl From<StoredOrder> for Order {
    fn from(o: StoredOrder) -> Self {
        Order {
            id: o.id,
            channel: o.channel,
            order_number: o.order_number,
            placed_at: o.placed_at,
            customer_email: o.customer_email,
            shipping_address: o.shipping_address.0,
            billing_address: o.billing_address.map(|a| a.0),
            status: o.status,
            document: o.document.0,
            created_at: o.created_at,
        }
    }
}

/// One line of an order, with what it was routed to.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderLine {
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
    /// VAT percentage, a decimal as text.
    pub tax_percentage: Option<String>,
    /// The channel's currency.
    pub currency: String,
    /// `routed` or `needs_attention`.
    #[schema(schema_with = super::names::<LineStatus>)]
    pub status: LineStatus,
    /// Why it needs attention.
    pub attention_reason: Option<String>,
}

impl From<StoredLine> for OrderLine {
    fn from(l: StoredLine) -> Self {
        OrderLine {
            id: l.id,
            order_id: l.order_id,
            line_number: l.line_number,
            supplier_order_id: l.supplier_order_id,
            ean: l.ean,
            sku: l.sku,
            name: l.name,
            refurbisher_id: l.refurbisher_id,
            offer_id: l.offer_id,
            quantity: l.quantity,
            unit_price_incl_minor: l.unit_price_incl_minor,
            purchase_price_minor: l.purchase_price_minor,
            purchase_currency: l.purchase_currency,
            tax_percentage: l.tax_percentage,
            currency: l.currency,
            status: l.status,
            attention_reason: l.attention_reason,
        }
    }
}

/// A supplier order: the part of an order one refurbisher fulfils.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SupplierOrder {
    /// Supplier order id.
    pub id: i64,
    /// The customer order.
    pub order_id: i64,
    /// The refurbisher.
    pub refurbisher_id: i64,
    /// `pending`, `submitting`, `submitted`, `needs_attention`, `failed`, `internal`, `shipped`,
    /// `cancelled`.
    #[schema(schema_with = super::names::<SupplierOrderStatus>)]
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
    pub external_fields: Value,
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

impl From<StoredSupplierOrder> for SupplierOrder {
    fn from(s: StoredSupplierOrder) -> Self {
        SupplierOrder {
            id: s.id,
            order_id: s.order_id,
            refurbisher_id: s.refurbisher_id,
            status: s.status,
            idempotency_key: s.idempotency_key,
            attempts: s.attempts,
            next_attempt_at: s.next_attempt_at,
            external_order_reference: s.external_order_reference,
            external_fields: s.external_fields.0,
            last_error: s.last_error,
            retry_from: s.retry_from,
            lease_owner: s.lease_owner,
            lease_until: s.lease_until,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

/// One call (or the claim of one) to a refurbisher's order API.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Attempt {
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
    pub request: Option<Value>,
    /// The answer's HTTP status.
    pub response_status: Option<i64>,
    /// The answer's body (at most 64 KiB).
    pub response_body: Option<String>,
    /// `sending` while under way, then `submitted`, `retry`, `failed`, `needs_attention` or
    /// `unknown` (the process stopped during the call).
    pub outcome: String,
    /// What went wrong.
    pub error: Option<String>,
}

impl From<StoredAttempt> for Attempt {
    fn from(a: StoredAttempt) -> Self {
        Attempt {
            id: a.id,
            supplier_order_id: a.supplier_order_id,
            attempt_number: a.attempt_number,
            started_at: a.started_at,
            finished_at: a.finished_at,
            request: a.request.map(|r| r.0),
            response_status: a.response_status,
            response_body: a.response_body,
            outcome: a.outcome.to_string(),
            error: a.error,
        }
    }
}

/// A supplier order's document in Odoo: a purchase order (drop-ship) or a sales order
/// (internal fulfilment).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErpDocument {
    /// The supplier order.
    pub supplier_order_id: i64,
    /// Its customer order.
    pub order_id: i64,
    /// That order's channel.
    pub channel: String,
    /// Its order number.
    pub order_number: String,
    /// The refurbisher's key.
    pub refurbisher: String,
    /// `purchase_order`, `sales_order` or `none`.
    pub kind: String,
    /// `pending`, `working`, `done`, `failed` or `skipped`.
    #[schema(schema_with = super::names::<ErpStatus>)]
    pub status: ErpStatus,
    /// IRP's reference on the Odoo document (`IRP-SO-<id>`), which a retry searches for.
    pub reference: String,
    /// `purchase.order` or `sale.order`, once created.
    pub odoo_model: Option<String>,
    /// The Odoo record id, once created.
    pub odoo_id: Option<i64>,
    /// The Odoo document's name (`P00012`).
    pub odoo_name: Option<String>,
    /// Attempts made.
    pub attempts: i64,
    /// `attempts` when an operator last retried it.
    pub retry_from: i64,
    /// When the next attempt is due.
    pub next_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (Odoo's message).
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When it reached Odoo.
    pub done_at: Option<DateTime<Utc>>,
}

impl From<irp_store::erp::ErpDocument> for ErpDocument {
    fn from(d: irp_store::erp::ErpDocument) -> Self {
        ErpDocument {
            supplier_order_id: d.supplier_order_id,
            order_id: d.order_id,
            channel: d.channel,
            order_number: d.order_number,
            refurbisher: d.refurbisher,
            kind: d.kind,
            status: d.status,
            reference: d.reference,
            odoo_model: d.odoo_model,
            odoo_id: d.odoo_id,
            odoo_name: d.odoo_name,
            attempts: d.attempts,
            retry_from: d.retry_from,
            next_at: d.next_at,
            last_error: d.last_error,
            created_at: d.created_at,
            updated_at: d.updated_at,
            done_at: d.done_at,
        }
    }
}

/// A supplier order with each call made to the refurbisher and the shipments it has (its
/// fields, then `attempts_made`, `shipments` and `erp`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SupplierOrderDetail {
    /// The supplier order.
    #[serde(flatten)]
    pub supplier_order: SupplierOrder,
    /// Each call (or the claim of one) to the refurbisher's order API.
    pub attempts_made: Vec<Attempt>,
    /// The shipments linked to it.
    pub shipments: Vec<Shipment>,
    /// Its document in the back office (Odoo), once the ERP connector gave it one.
    pub erp: Option<ErpDocument>,
}

/// An order with its lines and supplier orders.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderDetail {
    /// The order.
    pub order: Order,
    /// Its lines.
    pub lines: Vec<OrderLine>,
    /// Its supplier orders, each with its attempts and shipments.
    pub supplier_orders: Vec<SupplierOrderDetail>,
}

impl OrderDetail {
    /// Order `id` with its lines, supplier orders, their attempts, shipments and Odoo
    /// documents.
    ///
    /// # Errors
    /// `NotFound` when there is no order `id`; the store fails.
    pub async fn load(store: &Store, id: i64) -> Result<OrderDetail, StoreError> {
        let order = store
            .orders()
            .get(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no order {id}")))?;
        let lines = store.orders().lines(id).await?;
        let mut supplier_orders = Vec::new();
        for so in store.orders().supplier_orders_of(id).await? {
            let attempts_made = store.supplier_orders().attempts(so.id).await?;
            let shipments = store.shipments().of_supplier_order(so.id).await?;
            let erp = store.erp().document(so.id).await?;
            supplier_orders.push(SupplierOrderDetail {
                supplier_order: so.into(),
                attempts_made: attempts_made.into_iter().map(Into::into).collect(),
                shipments: shipments.into_iter().map(Into::into).collect(),
                erp: erp.map(Into::into),
            });
        }
        Ok(OrderDetail {
            order: order.into(),
            lines: lines.into_iter().map(Into::into).collect(),
            supplier_orders,
        })
    }
}

/// An order just taken in (or taken in before: `created` is false).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderTaken {
    /// The order, its lines and supplier orders.
    #[serde(flatten)]
    pub detail: OrderDetail,
    /// False for a repeat of an order taken in before (same channel and order number).
    pub created: bool,
}

/// A page of orders.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrderList {
    /// Newest first.
    pub orders: Vec<Order>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_offset: Option<i64>,
}

/// A page of supplier orders.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SupplierOrderList {
    /// Newest first.
    pub supplier_orders: Vec<SupplierOrder>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_offset: Option<i64>,
}

/// A supplier order after a retry or cancel.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SupplierOrderAnswer {
    /// The supplier order.
    pub supplier_order: SupplierOrder,
}

/// A supplier order's Odoo document after a retry.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErpAnswer {
    /// The document, pending again.
    pub erp: ErpDocument,
}
