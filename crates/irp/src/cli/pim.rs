//! `irp pim …`: where product data comes from (Ergonode) — apply its document, see where the
//! sync stands, sync now.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use irp_core::config::{self, PimConfig};
use irp_pipeline::pim::{PimReport, SyncError};
use irp_store::Store;
use serde_json::{Value, json};

use super::{Global, PimCommand, actor, catalog_line, open_store};

/// Read and validate a PIM document, printing its diagnostics. `None` when it has errors.
///
/// # Errors
/// The file cannot be read.
pub fn load_pim(file: &Path) -> Result<Option<PimConfig>> {
    let (doc, errors) = super::read_document(file, config::parse_pim, |d| &d.diagnostics)?;
    Ok(if super::no_errors(errors) {
        doc.pim
    } else {
        None
    })
}

/// Apply a PIM document: `created`, `updated` or `unchanged`; `None` when it has errors.
///
/// # Errors
/// The file cannot be read; the store fails.
pub async fn apply_pim(store: &Store, file: &Path, actor: &str) -> Result<Option<&'static str>> {
    let Some(cfg) = load_pim(file)? else {
        return Ok(None);
    };
    Ok(Some(store.pim().apply(&cfg, actor).await?))
}

fn seconds(ms: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let s = ms as f64 / 1000.0;
    format!("{s:.1} s")
}

/// The report as operators read it.
pub fn print_report(r: &PimReport) {
    outln!(
        "PIM sync {}{}: {} read ({} created, {} updated, {} unchanged), {} skipped; {} deleted in Ergonode; {} cleared; {} pages, {} requests, {}",
        r.status,
        if r.full { " (full)" } else { "" },
        r.products_read,
        r.created,
        r.updated,
        r.unchanged,
        r.skipped,
        r.deleted_read,
        r.cleared,
        r.pages,
        r.requests,
        seconds(r.duration_ms)
    );
    if let Some(e) = &r.error {
        outln!("  error: {e}");
        if r.pages > 0 {
            outln!("  the pages stored before it are kept; the next sync continues after them");
        }
    }
    if !r.skipped_examples.is_empty() {
        outln!(
            "  skipped (no product in IRP){}:",
            if r.skipped > r.skipped_examples.len() as u64 {
                format!(", the first {}", r.skipped_examples.len())
            } else {
                String::new()
            }
        );
        for s in &r.skipped_examples {
            outln!(
                "    {}: {}",
                s.sku.as_deref().unwrap_or("(no sku)"),
                s.reason
            );
        }
    }
    for (ean, old, new) in &r.reassigned {
        outln!(
            "  EAN {ean} came from SKU {old}, now from SKU {new} (two Ergonode products share it?)"
        );
    }
    if let Some(c) = &r.catalog {
        outln!("  {}", catalog_line(c));
    }
}

fn fields_line(cfg: &PimConfig) -> String {
    let f = &cfg.fields;
    let opt = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_owned());
    format!(
        "ean={} name={} brand={} model={} category={}",
        f.ean,
        f.name,
        opt(&f.brand, "(not read)"),
        opt(&f.model, "(not read)"),
        opt(&f.category, "(first category)")
    )
}

/// `irp pim …`.
pub async fn pim(global: &Global, cmd: PimCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        PimCommand::Apply { file, json } => {
            let Some(action) = apply_pim(&store, &file, &actor()).await? else {
                return Ok(ExitCode::FAILURE);
            };
            if json {
                outln!(
                    "{}",
                    json!({ "pim": irp_store::pim::SOURCE_KEY, "action": action })
                );
            } else {
                outln!("{action} pim source {}", irp_store::pim::SOURCE_KEY);
                if action != "unchanged" {
                    outln!("sync now with `irp pim sync`; `irp serve` syncs on its schedule");
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        PimCommand::Show { json } => {
            let Some(s) = store.pim().get().await? else {
                if json {
                    outln!("null");
                } else {
                    outln!("no PIM source yet: apply one with `irp pim apply -f config/pim.json`");
                }
                return Ok(ExitCode::SUCCESS);
            };
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "pim": s.config.redacted(),
                        "version": s.version,
                        "product_cursor": s.product_cursor,
                        "deleted_cursor": s.deleted_cursor,
                        "next_sync_at": s.next_sync_at,
                        "last_sync_at": s.last_sync_at,
                        "last_ok_at": s.last_ok_at,
                        "last_status": s.last_status,
                        "last_report": s.last_report,
                    }))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            let c = &s.config;
            let redacted = c.redacted();
            outln!("{} at {}", c.source, c.url);
            outln!(
                "  api_key: {}",
                redacted["api_key"].as_str().unwrap_or_default()
            );
            outln!("  languages: {}", c.languages.join(", "));
            outln!("  fields: {}", fields_line(c));
            outln!(
                "  other attributes: {}",
                match &c.attributes {
                    config::model::PimAttributes::All => "all".to_owned(),
                    config::model::PimAttributes::Only(codes) => codes.join(", "),
                }
            );
            outln!(
                "  page size {}, {}",
                c.page_size,
                match (c.enabled, c.poll_interval_secs) {
                    (false, _) => "not synced by serve (enabled: false)".to_owned(),
                    (true, 0) => "synced only by `irp pim sync` (poll_interval_secs: 0)".to_owned(),
                    (true, n) => format!("synced by serve every {n} s"),
                }
            );
            let at = |t: Option<chrono::DateTime<chrono::Utc>>| {
                t.map_or_else(
                    || "never".to_owned(),
                    |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                )
            };
            outln!(
                "  last sync: {} ({}); last without failure: {}; next: {}",
                at(s.last_sync_at),
                s.last_status.as_deref().unwrap_or("-"),
                at(s.last_ok_at),
                s.next_sync_at
                    .map_or_else(|| "-".to_owned(), |t| at(Some(t)))
            );
            if let Some(e) = s
                .last_report
                .as_ref()
                .and_then(|r| r.get("error"))
                .and_then(Value::as_str)
            {
                outln!("  last error: {e}");
            }
            outln!(
                "  read up to: product stream {}, deleted stream {}",
                s.product_cursor.as_deref().unwrap_or("(start)"),
                s.deleted_cursor.as_deref().unwrap_or("(start)")
            );
            Ok(ExitCode::SUCCESS)
        }
        PimCommand::Sync { full, json } => {
            let secret_key = crate::secret_key::load(&global.secret_key_file, false).ok();
            let report = match irp_pipeline::pim::sync(&store, secret_key.as_ref(), full).await {
                Ok(r) => r,
                Err(
                    e @ (SyncError::NotConfigured | SyncError::Missing(_) | SyncError::Config(_)),
                ) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::FAILURE);
                }
                Err(SyncError::Store(e)) => return Err(e.into()),
            };
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
            Ok(if report.status == "failed" {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
    }
}
