//! `irp webhook token KEY`: a refurbisher's shipment webhook URL, made or rotated.

use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::json;

use super::{Global, WebhookCommand, actor, open_store, time};

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
            let r = store.refurbishers().get(&key).await?.with_context(|| {
                format!("no refurbisher `{key}` (irp refurbisher list shows them)")
            })?;
            let grace = grace_hours.unwrap_or(r.model.shipment.token_grace_hours);
            if !(0..=24 * 30).contains(&grace) {
                anyhow::bail!("--grace-hours must be between 0 and 720, got {grace}");
            }
            let t = store
                .shipments()
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
