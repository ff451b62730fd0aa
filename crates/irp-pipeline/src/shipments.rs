//! Shipments: a refurbisher's shipment update taken in and matched to its supplier order.
//!
//! The store answers whether a shipment repeats a stored one and which supplier orders its
//! order id names; [`irp_core::shipments::matching::match_shipment`] decides which one it
//! belongs to; the store writes it (the webhook batches the writes of requests that arrive
//! together into one commit, `Store::shipments().write`).

use irp_core::shipments::Shipment;
use irp_core::shipments::matching::{self, Match};
use irp_store::shipments::{PreparedShipment, ShipmentOutcome};
use irp_store::{Store, StoreError};

/// The reads and the decision before a shipment is written (outside the write, so SQLite's
/// one writer is not held for them): a repeat is answered as such; otherwise the supplier
/// order is matched. `payload` is the body as sent, `method` and `source` describe the request.
///
/// # Errors
/// A database error.
pub async fn prepare(
    store: &Store,
    refurbisher_id: i64,
    shipment: Shipment,
    payload: &str,
    method: &str,
    source: Option<&str>,
) -> Result<PreparedShipment, StoreError> {
    let (repeat, candidates) = store.shipments().lookup(refurbisher_id, &shipment).await?;
    let target = if repeat.is_some() {
        Match::Unmatched(String::new())
    } else {
        matching::match_shipment(&shipment.external_order_id, &candidates)
    };
    Ok(PreparedShipment::new(
        refurbisher_id,
        shipment,
        repeat,
        target,
        payload,
        method,
        source,
    ))
}

/// Store a valid shipment of refurbisher `refurbisher_id` and link it to its supplier order,
/// which becomes `shipped`; without one, store it `unmatched` for review. A repeat of a stored
/// shipment changes nothing.
///
/// # Errors
/// A database error.
pub async fn record(
    store: &Store,
    refurbisher_id: i64,
    shipment: &Shipment,
    payload: &str,
    method: &str,
    source: Option<&str>,
) -> Result<ShipmentOutcome, StoreError> {
    let prepared = prepare(
        store,
        refurbisher_id,
        shipment.clone(),
        payload,
        method,
        source,
    )
    .await?;
    store
        .shipments()
        .write(vec![prepared])
        .await?
        .pop()
        .ok_or_else(|| StoreError::NotFound("no outcome for the shipment".into()))
}

/// Try unmatched shipments again (their supplier order may have been placed since, with the
/// reference they quote): at most 200 a call, picked at random. Returns how many were matched.
///
/// # Errors
/// A database error.
pub async fn rematch(store: &Store) -> Result<u64, StoreError> {
    let mut matched = 0;
    for (id, refurbisher_id, external) in store.shipments().unmatched(200).await? {
        let candidates = store
            .shipments()
            .candidates(refurbisher_id, &external)
            .await?;
        if let Match::Found(supplier_order_id) = matching::match_shipment(&external, &candidates)
            && store.shipments().link(id, supplier_order_id).await?
        {
            matched += 1;
        }
    }
    Ok(matched)
}
