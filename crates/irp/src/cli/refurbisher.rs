//! `irp refurbisher …`: the refurbisher registry — apply documents, list, show one; and the
//! look-ups by connector key the other commands share.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use irp_core::config::{self, Refurbisher};
use irp_store::Store;
use irp_store::refurbishers::{ApplyAction, StoredRefurbisher};
use serde_json::{Value, json};

use super::config::{load_documents, print_diagnostics};
use super::{Global, RefurbisherCommand, actor, open_store, plural, table};
use crate::views;

fn show_value(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => v.to_string(),
    }
}

/// What applying refurbisher documents did: each document's outcome, and the recompute of the
/// products their pricing changed (an error leaves those products marked).
pub type Applied = (
    Vec<irp_store::refurbishers::ApplyOutcome>,
    Result<irp_store::catalog::RecomputeStats, irp_store::StoreError>,
);

/// Apply documents: validate all, then write all in one transaction, then recompute what their
/// pricing changed (counted on `progress`). Prints diagnostics to stderr; returns what was
/// done, or `None` when the documents have errors.
pub async fn apply_files(
    store: &Store,
    files: &[PathBuf],
    actor: &str,
    progress: Option<&irp_pipeline::progress::Progress>,
) -> Result<Option<Applied>> {
    let loaded = load_documents(files)?;
    for l in &loaded {
        let other = if !l.channels.is_empty() {
            Some("a channels document: apply it with `irp channel apply -f`")
        } else if l.pim.is_some() {
            Some("a PIM document: apply it with `irp pim apply -f`")
        } else {
            None
        };
        if let Some(why) = other {
            eprintln!("{}: {why}; nothing was applied", l.file);
            return Ok(None);
        }
    }
    print_diagnostics(&loaded, true);
    let errors: usize = loaded.iter().map(|l| l.doc.diagnostics.error_count()).sum();
    if errors > 0 {
        eprintln!("{}; nothing was applied", plural(errors, "error"));
        return Ok(None);
    }
    let all: Vec<Refurbisher> = loaded
        .into_iter()
        .flat_map(|l| l.doc.refurbishers)
        .collect();
    Ok(Some(
        irp_pipeline::catalog::apply_refurbishers_with(store, &all, actor, progress).await?,
    ))
}

fn status_json(r: &StoredRefurbisher, webhook: &irp_store::shipments::WebhookState) -> Value {
    let m = &r.model;
    json!({
        "refurbisher_id": r.id,
        "key": r.key,
        "name": m.name,
        "public_name": m.public_name,
        "supplier_id": m.supplier_id,
        "odoo_vendor_id": m.odoo_vendor_id,
        "enabled": m.enabled,
        "approved_refurbished": m.approved_refurbished,
        "internal": m.internal,
        "offer_connector": m.offer_connector_label(),
        "order_connector": m.order_connector_label(),
        "shipment_webhook": if webhook.token_created_at.is_some() { "Configured" } else { "Not configured" },
        "webhook_token_created_at": webhook.token_created_at,
        "webhook_previous_token_valid_until": webhook.previous_valid_until,
        "version": r.version,
        "updated_at": r.updated_at,
    })
}

/// `irp refurbisher …`.
pub async fn refurbisher(global: &Global, cmd: RefurbisherCommand) -> Result<ExitCode> {
    match cmd {
        RefurbisherCommand::Apply { files, json } => {
            let store = open_store(global).await?;
            let progress = irp_pipeline::progress::Progress::new();
            let shown = super::progress::show(&progress);
            let applied = apply_files(&store, &files, &actor(), Some(&progress)).await;
            shown.finish();
            let Some((outcomes, recomputed)) = applied? else {
                return Ok(ExitCode::FAILURE);
            };
            if json {
                let outcomes: Vec<views::ApplyOutcome> =
                    outcomes.into_iter().map(Into::into).collect();
                outln!("{}", serde_json::to_string_pretty(&outcomes)?);
            } else {
                for o in &outcomes {
                    let verb = match o.action {
                        ApplyAction::Created => "created",
                        ApplyAction::Updated => "updated",
                        ApplyAction::Unchanged => "unchanged",
                    };
                    outln!("{verb} {} (refurbisher_id {})", o.key, o.refurbisher_id);
                    for c in &o.changes {
                        match (&c.old, &c.new) {
                            (None, new) => outln!("  + {}: {}", c.path, show_value(new)),
                            (old, None) => outln!("  - {}: {}", c.path, show_value(old)),
                            (old, new) => {
                                outln!("  ~ {}: {} -> {}", c.path, show_value(old), show_value(new))
                            }
                        }
                    }
                }
                if let Ok(stats) = &recomputed
                    && stats.eans > 0
                {
                    outln!(
                        "catalog: {} product(s) recomputed in {} ms: {} changed, {} channel row(s) to push",
                        stats.eans,
                        stats.ms,
                        stats.products_changed,
                        stats.channel_rows_changed
                    );
                }
            }
            match recomputed {
                Ok(_) => Ok(ExitCode::SUCCESS),
                Err(e) => {
                    eprintln!(
                        "the documents are applied, but recomputing the catalog failed: {e}; \
                         the products stay marked: run `irp catalog recompute`"
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        RefurbisherCommand::List { json } => {
            let store = open_store(global).await?;
            let all = store.refurbishers().list().await?;
            let mut webhooks = Vec::with_capacity(all.len());
            for r in &all {
                webhooks.push(store.shipments().webhook_state(r.id).await?);
            }
            if json {
                let rows: Vec<Value> = all
                    .iter()
                    .zip(&webhooks)
                    .map(|(r, w)| status_json(r, w))
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&rows)?);
            } else if all.is_empty() {
                outln!("no refurbishers yet: apply one with `irp refurbisher apply -f FILE`");
            } else {
                let rows: Vec<Vec<String>> = all
                    .iter()
                    .zip(&webhooks)
                    .map(|(r, w)| {
                        let m = &r.model;
                        vec![
                            r.id.to_string(),
                            r.key.clone(),
                            m.name.clone(),
                            m.supplier_id.map_or("-".into(), |s| s.to_string()),
                            m.odoo_vendor_id.map_or("-".into(), |s| s.to_string()),
                            if m.enabled { "yes" } else { "no" }.into(),
                            if m.approved_refurbished { "yes" } else { "no" }.into(),
                            m.offer_connector_label(),
                            m.order_connector_label(),
                            if w.token_created_at.is_some() {
                                "Configured"
                            } else {
                                "Not configured"
                            }
                            .into(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "KEY",
                        "NAME",
                        "SUPPLIER",
                        "ODOO",
                        "ENABLED",
                        "APPROVED",
                        "OFFER CONNECTOR",
                        "ORDER CONNECTOR",
                        "SHIPMENT WEBHOOK",
                    ],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        RefurbisherCommand::Show { key, json } => {
            let store = open_store(global).await?;
            let r = refurbisher_or_hint(&store, &key).await?;
            let webhook = store.shipments().webhook_state(r.id).await?;
            let document = json!({ (r.key.clone()): config::redact(&r.document) });
            if json {
                let mut v = status_json(&r, &webhook);
                v["created_at"] = json!(r.created_at);
                v["document"] = document;
                outln!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                let m = &r.model;
                let rows = [
                    ("Refurbisher", format!("{} · ID {}", m.name, r.id)),
                    (
                        "Supplier",
                        m.supplier_id
                            .map_or("not set".into(), |s| format!("ID {s}")),
                    ),
                    (
                        "Odoo vendor",
                        m.odoo_vendor_id
                            .map_or("not set".into(), |s| format!("ID {s}")),
                    ),
                    ("Offer connector", m.offer_connector_label()),
                    ("Order connector", m.order_connector_label()),
                    ("Shipment webhook", {
                        let mut l = webhook.label();
                        if let Some(u) = webhook.previous_valid_until {
                            l.push_str(&format!(
                                "; the previous token works until {}",
                                u.format("%Y-%m-%d %H:%M UTC")
                            ));
                        }
                        l
                    }),
                    ("Enabled", if m.enabled { "yes" } else { "no" }.into()),
                    (
                        "Version",
                        format!(
                            "{} (updated {})",
                            r.version,
                            r.updated_at.format("%Y-%m-%d %H:%M:%S UTC")
                        ),
                    ),
                ];
                for (k, v) in rows {
                    outln!("{k:<17} {v}");
                }
                outln!();
                outln!("{}", serde_json::to_string_pretty(&document)?);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The refurbisher `key`, or an error that suggests a close key.
pub async fn refurbisher_or_hint(store: &Store, key: &str) -> Result<StoredRefurbisher> {
    if let Some(r) = store.refurbishers().get(key).await? {
        return Ok(r);
    }
    let known: Vec<String> = store
        .refurbishers()
        .list()
        .await?
        .into_iter()
        .map(|r| r.key)
        .collect();
    let hint = irp_core::config::suggest::did_you_mean(key, known.iter().map(String::as_str))
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_else(|| {
            format!(
                "; known: {}",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )
        });
    bail!("no refurbisher `{key}`{hint}")
}

/// The id of refurbisher `key` (`None` without one), or an error naming it.
pub async fn refurbisher_id(store: &Store, key: Option<&str>) -> Result<Option<i64>> {
    let Some(key) = key else { return Ok(None) };
    let r = store
        .refurbishers()
        .get(key)
        .await?
        .with_context(|| format!("no refurbisher `{key}` (irp refurbisher list shows them)"))?;
    Ok(Some(r.id))
}
