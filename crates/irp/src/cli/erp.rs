//! `irp erp …`: the back office (Odoo, through Alumio) — apply the ERP document, check it,
//! record what is due, list the documents, retry a failed one.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use irp_core::config::{self, ErpConfig};
use irp_store::Store;
use irp_store::erp::ErpDocument;
use serde_json::json;

use super::{ErpCommand, Global, actor, open_store, print_views, table};
use crate::views;

/// Read and validate an ERP document, printing its diagnostics. `None` when it has errors.
///
/// # Errors
/// The file cannot be read.
pub fn load_erp(file: &Path) -> Result<Option<ErpConfig>> {
    let (doc, errors) = super::read_document(file, config::parse_erp, |d| &d.diagnostics)?;
    Ok(if super::no_errors(errors) {
        doc.erp
    } else {
        None
    })
}

/// Apply an ERP document: `created`, `updated` or `unchanged`; `None` when it has errors.
///
/// # Errors
/// The file cannot be read; the store fails.
pub async fn apply_erp(store: &Store, file: &Path, actor: &str) -> Result<Option<&'static str>> {
    let Some(cfg) = load_erp(file)? else {
        return Ok(None);
    };
    Ok(Some(store.erp().apply(&cfg, actor).await?))
}

fn owner() -> String {
    format!("cli:{}", std::process::id())
}

async fn connect(global: &Global, store: &Store) -> Result<irp_pipeline::erp::Erp> {
    let secret_key = crate::secret_key::load(&global.secret_key_file, false).ok();
    Ok(irp_pipeline::erp::connect(store, secret_key.as_ref()).await?)
}

/// A document as a table row.
fn row(d: &ErpDocument) -> Vec<String> {
    vec![
        d.supplier_order_id.to_string(),
        format!("{}/{}", d.channel, d.order_number),
        d.refurbisher.clone(),
        d.kind.clone(),
        d.status.to_string(),
        match (&d.odoo_model, d.odoo_id) {
            (Some(m), Some(id)) => format!(
                "{m} {id}{}",
                d.odoo_name
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ),
            _ => "-".into(),
        },
        (d.attempts - d.retry_from).to_string(),
        d.last_error.clone().unwrap_or_else(|| "-".into()),
    ]
}

/// `irp erp …`.
pub async fn erp(global: &Global, cmd: ErpCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        ErpCommand::Apply { file, json } => {
            let Some(action) = apply_erp(&store, &file, &actor()).await? else {
                return Ok(ExitCode::FAILURE);
            };
            if json {
                outln!(
                    "{}",
                    json!({ "erp": irp_store::erp::ERP_KEY, "action": action })
                );
            } else {
                outln!("{action} erp connector {}", irp_store::erp::ERP_KEY);
                if action == "created" {
                    outln!(
                        "supplier orders placed from now on get their Odoo document; check the credentials with `irp erp check`"
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ErpCommand::Show { json } => {
            let Some(s) = store.erp().get().await? else {
                if json {
                    outln!("null");
                } else {
                    outln!(
                        "no ERP connector yet: apply one with `irp erp apply -f config/erp.json`"
                    );
                }
                return Ok(ExitCode::SUCCESS);
            };
            let counts: std::collections::BTreeMap<String, i64> =
                store.erp().status_counts().await?.into_iter().collect();
            if json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"erp": s.config.redacted(),
                        "created_at": s.created_at, "updated_at": s.updated_at, "documents": counts}))?
                );
            } else {
                outln!("{}", serde_json::to_string_pretty(&s.config.redacted())?);
                outln!(
                    "documents for supplier orders placed since {}: {}",
                    s.created_at.format("%Y-%m-%d %H:%M UTC"),
                    if counts.is_empty() {
                        "none yet".to_owned()
                    } else {
                        counts
                            .iter()
                            .map(|(k, v)| format!("{v} {k}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ErpCommand::Check => {
            let erp = connect(global, &store).await?;
            let said = irp_pipeline::erp::check(&erp).await?;
            outln!("{said}");
            Ok(ExitCode::SUCCESS)
        }
        ErpCommand::Sync { json } => {
            let erp = connect(global, &store).await?;
            let report = irp_pipeline::erp::round(&store, &erp, &owner()).await?;
            if json {
                outln!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                outln!(
                    "{} supplier order(s) newly due, {} recorded in Odoo, {} to retry later, {} failed",
                    report.enqueued,
                    report.done,
                    report.retrying,
                    report.failed
                );
                if report.failed > 0 || report.retrying > 0 {
                    outln!(
                        "  `irp erp list --status failed` shows why; `irp erp retry ID` tries again"
                    );
                }
            }
            Ok(if report.failed > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            })
        }
        ErpCommand::List {
            status,
            limit,
            json,
        } => {
            let docs = store
                .erp()
                .documents(status.as_deref(), limit.clamp(1, 10_000))
                .await?;
            if json {
                print_views::<views::ErpDocument, _>(docs)?;
            } else if docs.is_empty() {
                outln!(
                    "no ERP documents{}",
                    status.map(|s| format!(" {s}")).unwrap_or_default()
                );
            } else {
                table(
                    &[
                        "SUPPLIER ORDER",
                        "ORDER",
                        "REFURBISHER",
                        "DOCUMENT",
                        "STATUS",
                        "IN ODOO",
                        "ATTEMPTS",
                        "LAST ERROR",
                    ],
                    &docs.iter().map(row).collect::<Vec<_>>(),
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        ErpCommand::Retry { supplier_order } => {
            let d = store.erp().retry(supplier_order, &actor()).await?;
            outln!(
                "the {} of supplier order {} is due again (`irp erp sync` now, or `serve` within seconds)",
                d.kind.replace('_', " "),
                d.supplier_order_id
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}
