//! Shipments the refurbishers sent to their webhook, and their units.

use chrono::{DateTime, Utc};
use irp_core::shipments::ShipmentStatus;
use irp_store::shipments::{StoredShipment, StoredUnit};
use serde::Serialize;
use utoipa::ToSchema;

/// A shipment a refurbisher sent to its webhook.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Shipment {
    /// Shipment id.
    pub id: i64,
    /// The refurbisher that sent it.
    pub refurbisher_id: i64,
    /// Its connector key.
    pub refurbisher: String,
    /// `matched`, `unmatched` or `dismissed`.
    #[schema(schema_with = super::names::<ShipmentStatus>)]
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
    /// When the tracking left the queue (see `tracking_status`).
    pub tracking_pushed_at: Option<DateTime<Utc>>,
    /// `pushed`, `refused` (by the shop) or `not_applicable` (not a shop's order); null while
    /// queued.
    pub tracking_status: Option<String>,
    /// The shop's refusal, or the last failure while retrying.
    pub tracking_error: Option<String>,
    /// When an operator matched or dismissed it.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who.
    pub resolved_by: Option<String>,
}

impl From<StoredShipment> for Shipment {
    fn from(s: StoredShipment) -> Self {
        Shipment {
            id: s.id,
            refurbisher_id: s.refurbisher_id,
            refurbisher: s.refurbisher,
            status: s.status,
            reason: s.reason,
            supplier_order_id: s.supplier_order_id,
            order_number: s.order_number,
            external_order_id: s.external_order_id,
            track_and_trace: s.track_and_trace,
            carrier: s.carrier,
            bad_imeis: s.bad_imeis,
            method: s.method,
            source: s.source,
            received_at: s.received_at,
            tracking_pushed_at: s.tracking_pushed_at,
            tracking_status: s.tracking_status,
            tracking_error: s.tracking_error,
            resolved_at: s.resolved_at,
            resolved_by: s.resolved_by,
        }
    }
}

/// One unit of a shipment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipmentUnit {
    /// Its serial number.
    pub serial_number: Option<String>,
    /// Its IMEI.
    pub imei: Option<String>,
    /// Whether the IMEI passes its check digit.
    pub imei_valid: Option<bool>,
}

impl From<StoredUnit> for ShipmentUnit {
    fn from(u: StoredUnit) -> Self {
        ShipmentUnit {
            serial_number: u.serial_number,
            imei: u.imei,
            imei_valid: u.imei_valid,
        }
    }
}

/// A page of shipments.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipmentList {
    /// Newest first.
    pub shipments: Vec<Shipment>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_offset: Option<i64>,
}

/// A shipment with its units and the payload as received.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipmentDetail {
    /// The shipment.
    pub shipment: Shipment,
    /// Its units.
    pub units: Vec<ShipmentUnit>,
    /// The webhook body as received.
    pub payload: Option<String>,
}

/// A shipment after it was matched.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ShipmentAnswer {
    /// The shipment.
    pub shipment: Shipment,
}

/// A dismissed shipment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dismissed {
    /// The shipment's id.
    pub dismissed: i64,
}
