//! `irp monitor`: every refurbisher's metrics against its thresholds; `irp alerts …`: the alerts
//! opened by the monitor, the feed guards and the price guard.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::refurbisher::refurbisher_id;
use super::{AlertsCommand, Global, MonitorArgs, open_store, print_views, table, time};
use crate::views;

/// `irp monitor`: every refurbisher's metrics against its thresholds, and the open alerts.
/// Exits 0 when nothing breaches, 2 when something does.
///
/// # Errors
/// The database fails.
pub async fn monitor(global: &Global, args: MonitorArgs) -> Result<ExitCode> {
    let store = open_store(global).await?;
    let mut all = irp_pipeline::monitor::readings(&store, irp_store::now()).await?;
    if let Some(key) = &args.refurbisher {
        all.retain(|r| &r.key == key);
        if all.is_empty() {
            anyhow::bail!("no refurbisher `{key}` (irp refurbisher list shows them)");
        }
    }
    let alerts = store.monitor().alerts_list(true, None, 1000).await?;
    let breach = all.iter().any(|r| r.readings.iter().any(|m| m.breach));
    if args.json {
        let readings: Vec<views::RefurbisherReadings> =
            all.iter().cloned().map(Into::into).collect();
        let open: Vec<views::Alert> = alerts.iter().cloned().map(Into::into).collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({ "refurbishers": readings, "open_alerts": open })
            )?
        );
    } else {
        for r in &all {
            outln!(
                "{} (refurbisher {}){}",
                r.key,
                r.refurbisher_id,
                if r.enabled {
                    ""
                } else {
                    " — disabled, not monitored"
                }
            );
            let rows: Vec<Vec<String>> = r
                .readings
                .iter()
                .map(|m| {
                    vec![
                        format!("  {}", m.metric),
                        m.value_text(),
                        m.threshold_text(),
                        if m.breach { "BREACH" } else { "OK" }.to_owned(),
                        m.message
                            .strip_prefix(&format!("{}: ", r.key))
                            .unwrap_or(&m.message)
                            .to_owned(),
                    ]
                })
                .collect();
            table(&["  METRIC", "VALUE", "THRESHOLD", "STATE", "WHY"], &rows);
            outln!();
        }
        if alerts.is_empty() {
            outln!("No open alerts.");
        } else {
            outln!("Open alerts:");
            for a in &alerts {
                outln!(
                    "  {} {} {} since {}: {}",
                    a.id,
                    a.refurbisher.as_deref().unwrap_or("-"),
                    a.metric,
                    time(Some(a.opened_at)),
                    a.message
                );
            }
        }
    }
    Ok(if breach {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `irp alerts …`.
///
/// # Errors
/// The database fails.
pub async fn alerts(global: &Global, cmd: AlertsCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        AlertsCommand::List {
            all,
            refurbisher,
            limit,
            json,
        } => {
            let rid = refurbisher_id(&store, refurbisher.as_deref()).await?;
            let list = store.monitor().alerts_list(!all, rid, limit).await?;
            if json {
                print_views::<views::Alert, _>(list)?;
            } else if list.is_empty() {
                outln!("{}", if all { "No alerts." } else { "No open alerts." });
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|a| {
                        vec![
                            a.id.to_string(),
                            a.refurbisher.clone().unwrap_or_else(|| "-".into()),
                            a.metric.to_string(),
                            a.last_value.clone().or(a.value.clone()).unwrap_or_default(),
                            a.threshold.clone().unwrap_or_default(),
                            time(Some(a.opened_at)),
                            time(a.resolved_at),
                            match (&a.notify_error, a.notified_at) {
                                (Some(e), _) => format!("failed: {e}"),
                                (None, Some(_)) => "sent".into(),
                                (None, None) => "-".into(),
                            },
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "REFURBISHER",
                        "METRIC",
                        "VALUE",
                        "THRESHOLD",
                        "OPENED",
                        "RESOLVED",
                        "NOTIFIED",
                    ],
                    &rows,
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
