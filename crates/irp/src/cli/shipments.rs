//! `irp shipments …`: shipments received by the webhook — list, show, match an unmatched one to
//! its supplier order, dismiss one, and the refused webhook requests.

use std::process::ExitCode;

use anyhow::Result;
use irp_store::shipments::StoredShipment;

use super::refurbisher::refurbisher_id;
use super::{Global, ShipmentsCommand, actor, open_store, print_views, table, time};
use crate::views;

fn shipment_row(s: &StoredShipment) -> Vec<String> {
    vec![
        s.id.to_string(),
        s.refurbisher.clone(),
        s.status.to_string(),
        s.external_order_id.clone().unwrap_or_default(),
        s.supplier_order_id
            .map_or_else(|| "-".into(), |id| id.to_string()),
        s.track_and_trace.clone().unwrap_or_default(),
        if s.bad_imeis > 0 {
            format!("{} bad IMEI", s.bad_imeis)
        } else {
            String::new()
        },
        s.received_at.format("%Y-%m-%d %H:%M").to_string(),
    ]
}

/// `irp shipments …`.
///
/// # Errors
/// The database fails, or the shipment cannot be matched or dismissed.
pub async fn shipments(global: &Global, cmd: ShipmentsCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        ShipmentsCommand::List {
            refurbisher,
            status,
            limit,
            json,
        } => {
            let rid = refurbisher_id(&store, refurbisher.as_deref()).await?;
            let list = store
                .shipments()
                .list(rid, status.as_deref(), limit)
                .await?;
            if json {
                print_views::<views::Shipment, _>(list)?;
            } else if list.is_empty() {
                outln!("No shipments.");
            } else {
                let rows: Vec<Vec<String>> = list.iter().map(shipment_row).collect();
                table(
                    &[
                        "ID",
                        "REFURBISHER",
                        "STATUS",
                        "THEIR ORDER",
                        "SUPPLIER ORDER",
                        "TRACK & TRACE",
                        "FLAGS",
                        "RECEIVED",
                    ],
                    &rows,
                );
                let unmatched = list.iter().filter(|s| s.status == "unmatched").count();
                if unmatched > 0 {
                    outln!(
                        "\n{unmatched} unmatched: `irp shipments show ID` says why; `irp shipments match ID --supplier-order N` or `irp shipments dismiss ID`."
                    );
                }
            }
        }
        ShipmentsCommand::Show { id, json } => {
            let Some((s, units)) = store.shipments().get(id).await? else {
                anyhow::bail!("no shipment {id}");
            };
            let payload = store.shipments().payload(id).await?.unwrap_or_default();
            if json {
                let mut v = serde_json::to_value(&s)?;
                v["units"] = serde_json::to_value(&units)?;
                v["payload"] = serde_json::Value::String(payload);
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                outln!("Shipment {} from {} ({})", s.id, s.refurbisher, s.status);
                if let Some(r) = &s.reason {
                    outln!("  why unmatched:  {r}");
                }
                outln!(
                    "  their order:    {}",
                    s.external_order_id.as_deref().unwrap_or("-")
                );
                outln!(
                    "  supplier order: {}{}",
                    s.supplier_order_id
                        .map_or_else(|| "-".into(), |i| i.to_string()),
                    s.order_number
                        .as_deref()
                        .map(|n| format!(" (order {n})"))
                        .unwrap_or_default()
                );
                outln!(
                    "  track & trace:  {}{}",
                    s.track_and_trace.as_deref().unwrap_or("-"),
                    s.carrier
                        .as_deref()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                );
                outln!(
                    "  received:       {} ({} from {})",
                    time(Some(s.received_at)),
                    s.method.as_deref().unwrap_or("?"),
                    s.source.as_deref().unwrap_or("?")
                );
                outln!(
                    "  tracking to the channel: {}",
                    match (
                        s.status.as_str(),
                        s.tracking_status.as_deref(),
                        s.tracking_pushed_at
                    ) {
                        (_, Some("refused"), t) => format!(
                            "refused by the shop {}: {}",
                            time(t),
                            s.tracking_error.as_deref().unwrap_or("")
                        ),
                        (_, Some("not_applicable"), _) =>
                            "not applicable (the order did not come from a shop)".into(),
                        (_, _, Some(t)) => format!("sent {}", time(Some(t))),
                        ("matched", _, None) => match &s.tracking_error {
                            Some(e) => format!("queued, retrying after: {e}"),
                            None => "queued".into(),
                        },
                        _ => "not until matched".into(),
                    }
                );
                if let Some(by) = &s.resolved_by {
                    outln!("  resolved:       {} by {by}", time(s.resolved_at));
                }
                outln!("  units:");
                for u in &units {
                    outln!(
                        "    serial {:<20} IMEI {}{}",
                        u.serial_number.as_deref().unwrap_or("-"),
                        u.imei.as_deref().unwrap_or("-"),
                        match u.imei_valid {
                            Some(false) => "  ← fails its check digit",
                            _ => "",
                        }
                    );
                }
                outln!("  payload as received:\n    {payload}");
            }
        }
        ShipmentsCommand::Match { id, supplier_order } => {
            let s = store
                .shipments()
                .match_to(id, supplier_order, &actor())
                .await?;
            outln!(
                "Shipment {id} matched to supplier order {supplier_order}{}; it is shipped.",
                s.order_number
                    .as_deref()
                    .map(|n| format!(" (order {n})"))
                    .unwrap_or_default()
            );
        }
        ShipmentsCommand::Dismiss { id } => {
            store.shipments().dismiss(id, &actor()).await?;
            outln!("Shipment {id} dismissed (it stays stored).");
        }
        ShipmentsCommand::Inbox {
            refurbisher,
            limit,
            json,
        } => {
            let rid = refurbisher_id(&store, refurbisher.as_deref()).await?;
            let list = store.shipments().webhook_inbox_list(rid, limit).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                outln!("No refused webhook requests.");
            } else {
                let keys: std::collections::HashMap<i64, String> = store
                    .refurbishers()
                    .list()
                    .await?
                    .into_iter()
                    .map(|r| (r.id, r.key))
                    .collect();
                for e in list {
                    outln!(
                        "{} {} {} from {}: {}\n    {}",
                        e.id,
                        time(Some(e.received_at)),
                        e.refurbisher_id
                            .and_then(|i| keys.get(&i).cloned())
                            .unwrap_or_else(|| "?".into()),
                        e.source.as_deref().unwrap_or("?"),
                        e.reason,
                        e.payload.chars().take(300).collect::<String>()
                    );
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
