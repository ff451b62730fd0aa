//! `irp webhook token KEY` and `irp shipments …`.

use std::process::ExitCode;

use anyhow::{Context, Result};
use irp_store::Store;
use irp_store::shipments::StoredShipment;
use serde_json::json;

use crate::cli::{Global, ShipmentsCommand, WebhookCommand};
use crate::commands::{actor, open_store, table};
use crate::orders_cmd::time;

pub(crate) async fn refurbisher_id(store: &Store, key: Option<&str>) -> Result<Option<i64>> {
    let Some(key) = key else { return Ok(None) };
    let r = store
        .refurbisher_get(key)
        .await?
        .with_context(|| format!("no refurbisher `{key}` (irp refurbisher list shows them)"))?;
    Ok(Some(r.id))
}

/// `irp webhook …`.
///
/// # Errors
/// The database fails or the refurbisher cannot have a webhook.
pub async fn webhook(global: &Global, cmd: WebhookCommand) -> Result<ExitCode> {
    match cmd {
        WebhookCommand::Token {
            key,
            base_url,
            grace_hours,
            json,
        } => {
            let (base, guessed) = match base_url.as_deref().map(str::trim) {
                Some(b) if !b.is_empty() => {
                    if !(b.starts_with("https://") || b.starts_with("http://")) {
                        anyhow::bail!(
                            "--base-url / IRP_PUBLIC_URL must start with https:// (or http://), got {b:?}"
                        );
                    }
                    (b.trim_end_matches('/').to_owned(), false)
                }
                _ => ("http://127.0.0.1:8080".to_owned(), true),
            };
            let store = open_store(global).await?;
            let r = store.refurbisher_get(&key).await?.with_context(|| {
                format!("no refurbisher `{key}` (irp refurbisher list shows them)")
            })?;
            let grace = grace_hours.unwrap_or(r.model.shipment.token_grace_hours);
            if !(0..=24 * 30).contains(&grace) {
                anyhow::bail!("--grace-hours must be between 0 and 720, got {grace}");
            }
            let t = store
                .webhook_token_rotate(&key, chrono::TimeDelta::hours(grace), &actor())
                .await?;
            let url = format!("{base}/webhook/shipment/{}/{}", t.supplier_id, t.token);
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "refurbisher": key,
                        "supplier_id": t.supplier_id,
                        "url": url,
                        "previous_valid_until": t.previous_valid_until,
                    }))?
                );
            } else {
                outln!(
                    "Shipment webhook of {} (supplier {}). The URL is shown once; only a hash of its token is kept.\n",
                    r.model.name,
                    t.supplier_id
                );
                outln!("  {url}\n");
                outln!(
                    "Methods: POST, PUT or PATCH, a JSON body (docs/operations.md, \"Shipments\")."
                );
                match t.previous_valid_until {
                    Some(u) => outln!(
                        "The previous token keeps working until {} ({grace} h).",
                        time(Some(u))
                    ),
                    None => outln!("No other token works for this refurbisher."),
                }
            }
            if guessed {
                eprintln!(
                    "note: the URL starts with {base}; give --base-url or IRP_PUBLIC_URL for the address refurbishers reach IRP at"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn shipment_row(s: &StoredShipment) -> Vec<String> {
    vec![
        s.id.to_string(),
        s.refurbisher.clone(),
        s.status.clone(),
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
            let list = store.shipments_list(rid, status.as_deref(), limit).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
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
            let Some((s, units)) = store.shipment_get(id).await? else {
                anyhow::bail!("no shipment {id}");
            };
            let payload = store.shipment_payload(id).await?.unwrap_or_default();
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
            let s = store.shipment_match(id, supplier_order, &actor()).await?;
            outln!(
                "Shipment {id} matched to supplier order {supplier_order}{}; it is shipped.",
                s.order_number
                    .as_deref()
                    .map(|n| format!(" (order {n})"))
                    .unwrap_or_default()
            );
        }
        ShipmentsCommand::Dismiss { id } => {
            store.shipment_dismiss(id, &actor()).await?;
            outln!("Shipment {id} dismissed (it stays stored).");
        }
        ShipmentsCommand::Inbox {
            refurbisher,
            limit,
            json,
        } => {
            let rid = refurbisher_id(&store, refurbisher.as_deref()).await?;
            let list = store.webhook_inbox_list(rid, limit).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else if list.is_empty() {
                outln!("No refused webhook requests.");
            } else {
                let keys: std::collections::HashMap<i64, String> = store
                    .refurbisher_list()
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
