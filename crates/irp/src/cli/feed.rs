//! `irp feed …`: a refurbisher's offer feed — preview it, import it now, its runs, and apply
//! or discard a quarantined run.

use std::process::ExitCode;

use anyhow::{Result, bail};
use irp_pipeline::feed::{ImportReport, RunStatus};

use super::refurbisher::refurbisher_or_hint;
use super::{FeedCommand, Global, actor, catalog_line, open_store, print_views, table};
use crate::views;

fn print_errors(errors: &[(u64, Option<String>, Option<String>, String)], total: u64) {
    if errors.is_empty() {
        return;
    }
    outln!("  rejected rows: {total}; errors:");
    for (row, field, value, message) in errors {
        let field = field.as_deref().unwrap_or("-");
        match value {
            Some(v) => outln!(
                "    row {row}  {field} {}: {message}",
                serde_json::Value::String(v.clone())
            ),
            None => outln!("    row {row}  {field}: {message}"),
        }
    }
}

fn print_report(key: &str, rep: &ImportReport) {
    outln!("run {} of {key}: {}", rep.run_id, rep.status.as_str());
    if let Some(m) = &rep.message {
        outln!("  {m}");
    }
    if matches!(rep.status, RunStatus::Unchanged) {
        return;
    }
    outln!(
        "  rows: {} read, {} accepted, {} rejected ({} bytes, {} ms)",
        rep.rows_read,
        rep.rows_accepted,
        rep.rows_rejected,
        rep.bytes,
        rep.duration_ms
    );
    if rep.status != RunStatus::Failed {
        let fields = if rep.field_changes.is_empty() {
            String::new()
        } else {
            format!(
                " ({})",
                rep.field_changes
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let verb = if rep.status == RunStatus::Quarantined {
            "would be"
        } else {
            "offers"
        };
        outln!(
            "  {verb}: {} created, {} updated{fields}, {} unchanged, {} removed",
            rep.created,
            rep.updated,
            rep.unchanged,
            rep.removed
        );
    }
    if rep.price_holds > 0 {
        outln!(
            "  prices: {} purchase price change(s) beyond max_price_change_ratio held; see `irp prices held {key}`",
            rep.price_holds
        );
    }
    if let Some(c) = &rep.catalog {
        outln!("  {} ({} ms)", catalog_line(c), c.ms);
    }
    let errors: Vec<_> = rep
        .errors
        .iter()
        .map(|e| (e.row, e.field.clone(), e.value.clone(), e.message.clone()))
        .collect();
    print_errors(&errors, rep.rows_rejected);
}

/// `irp feed …`.
pub async fn feed(global: &Global, cmd: FeedCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        FeedCommand::Preview {
            key,
            file,
            limit,
            json,
        } => {
            let r = refurbisher_or_hint(&store, &key).await?;
            let p = crate::ops::preview(&store, &global.secret_key_file, &r, file, limit).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&p)?);
            } else {
                if let Some(e) = &p.error {
                    outln!("the feed cannot be read: {e}");
                    return Ok(ExitCode::FAILURE);
                }
                outln!(
                    "{}: {} rows read, {} accepted, {} rejected (nothing was written)",
                    p.file,
                    p.rows_read,
                    p.rows_accepted,
                    p.rows_rejected
                );
                let rows: Vec<Vec<String>> = p
                    .offers
                    .iter()
                    .map(|x| {
                        let (row, o) = (x.row, &x.offer);
                        vec![
                            row.to_string(),
                            o.sku.clone(),
                            o.ean.clone(),
                            o.name.chars().take(40).collect(),
                            o.stock_available.to_string(),
                            o.price_purchase_amount.to_string(),
                            o.price_consumer_amount.to_string(),
                            o.currency_iso.clone(),
                        ]
                    })
                    .collect();
                if !rows.is_empty() {
                    table(
                        &[
                            "ROW", "SKU", "EAN", "NAME", "STOCK", "PURCHASE", "CONSUMER", "CUR",
                        ],
                        &rows,
                    );
                }
                let errs: Vec<_> = p
                    .errors
                    .iter()
                    .take(50)
                    .map(|e| (e.row, e.field.clone(), e.value.clone(), e.message.clone()))
                    .collect();
                print_errors(&errs, p.rows_rejected);
            }
            Ok(if p.error.is_some() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        FeedCommand::Import { key, file, json } => {
            let r = refurbisher_or_hint(&store, &key).await?;
            let progress = irp_pipeline::progress::Progress::new();
            let shown = super::progress::show(&progress);
            let source = match &file {
                Some(path) => crate::ops::FeedSource::File {
                    path,
                    shown: path.display().to_string(),
                },
                None => crate::ops::FeedSource::Fetch,
            };
            let trigger = if file.is_some() { "upload" } else { "manual" };
            let result = crate::ops::import(
                &store,
                &global.secret_key_file,
                &r,
                source,
                trigger,
                &actor(),
                Some(&progress),
            )
            .await;
            shown.finish();
            let rep = result?;
            let code = match rep.status {
                RunStatus::Succeeded | RunStatus::Partial | RunStatus::Unchanged => {
                    ExitCode::SUCCESS
                }
                RunStatus::Failed | RunStatus::Quarantined => ExitCode::FAILURE,
            };
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&views::ImportReport::from(rep))?
                );
            } else {
                print_report(&key, &rep);
            }
            Ok(code)
        }
        FeedCommand::Runs { key, limit, json } => {
            let r = refurbisher_or_hint(&store, &key).await?;
            let runs = store.feed_runs().list(r.id, limit).await?;
            if json {
                print_views::<views::FeedRun, _>(runs)?;
            } else if runs.is_empty() {
                outln!("no feed runs for `{key}` yet: run `irp feed import {key}`");
            } else {
                let rows: Vec<Vec<String>> = runs
                    .iter()
                    .map(|run| {
                        vec![
                            run.id.to_string(),
                            run.started_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                            run.triggered_by.clone(),
                            run.status.to_string(),
                            run.http_status.map_or("-".into(), |s| s.to_string()),
                            run.rows_read.to_string(),
                            run.rows_rejected.to_string(),
                            format!("+{} ~{} -{}", run.created, run.updated, run.removed),
                            run.message
                                .clone()
                                .unwrap_or_default()
                                .chars()
                                .take(60)
                                .collect(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "RUN",
                        "STARTED (UTC)",
                        "TRIGGER",
                        "STATUS",
                        "HTTP",
                        "ROWS",
                        "REJECTED",
                        "OFFERS",
                        "MESSAGE",
                    ],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        FeedCommand::Show { run_id, json } => {
            let Some(run) = store.feed_runs().get(run_id).await? else {
                bail!("no feed run {run_id}")
            };
            let errors = store.feed_runs().row_errors(run_id).await?;
            let progress = crate::views::feeds::Progress::of_run(&store, &run).await?;
            if json {
                let mut v = serde_json::to_value(&run)?;
                v["progress"] = serde_json::to_value(&progress)?;
                v["errors"] = serde_json::to_value(&errors)?;
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                outln!("run {} ({}): {}", run.id, run.triggered_by, run.status);
                if let Some(m) = &run.message {
                    outln!("  {m}");
                }
                if let Some(p) = &progress {
                    outln!(
                        "  now {} (reported {})",
                        p.describe(),
                        p.updated_at.format("%H:%M:%S UTC")
                    );
                }
                outln!(
                    "  started {}, {} bytes, {} ms",
                    run.started_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    run.bytes,
                    run.duration_ms.unwrap_or(0)
                );
                outln!(
                    "  rows: {} read, {} accepted, {} rejected",
                    run.rows_read,
                    run.rows_accepted,
                    run.rows_rejected
                );
                outln!(
                    "  offers: {} created, {} updated, {} unchanged, {} removed",
                    run.created,
                    run.updated,
                    run.unchanged,
                    run.removed
                );
                let errs: Vec<_> = errors
                    .iter()
                    .map(|e| {
                        (
                            u64::try_from(e.row_number).unwrap_or(0),
                            e.field.clone(),
                            e.value.clone(),
                            e.message.clone(),
                        )
                    })
                    .collect();
                print_errors(&errs, u64::try_from(run.rows_rejected).unwrap_or(0));
            }
            Ok(ExitCode::SUCCESS)
        }
        FeedCommand::Apply { run_id } => {
            let a = crate::ops::apply_quarantined(&store, run_id, &actor()).await?;
            outln!(
                "applied run {run_id}: {} created, {} updated, {} unchanged, {} removed",
                a.diff.created,
                a.diff.updated,
                a.diff.unchanged,
                a.diff.removed
            );
            if a.price_holds > 0 {
                outln!(
                    "{} purchase price change(s) held for review: irp prices held {}",
                    a.price_holds,
                    a.refurbisher
                );
            }
            match &a.catalog {
                Ok(stats) => outln!("{}", catalog_line(stats)),
                Err(e) => eprintln!(
                    "warning: recomputing the catalog failed ({e}); `irp catalog recompute` retries it"
                ),
            }
            Ok(ExitCode::SUCCESS)
        }
        FeedCommand::Discard { run_id } => {
            let run = store.feed_runs().discard(run_id, &actor()).await?;
            outln!(
                "discarded run {run_id} ({} rows staged); the offers stay as they were",
                run.rows_accepted
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
