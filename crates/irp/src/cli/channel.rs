//! `irp channel …`: the storefront channels (Refurbished Direct, Econocom) — apply their
//! documents, list them, and their Shopware sync by hand (sync, status, check).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Result, bail};
use irp_core::config;
use irp_pipeline::channel;
use irp_store::Store;
use irp_store::catalog::ChannelApply;
use serde_json::{Value, json};

use super::{ChannelCommand, Global, actor, open_store, table};
use crate::views::{ChannelStatus, ChannelSync};

/// Read channels documents; print their diagnostics. `None` when any has errors.
pub fn load_channels(files: &[PathBuf]) -> Result<Option<Vec<config::Channel>>> {
    let mut all = Vec::new();
    let mut errors = 0;
    for f in files {
        let (doc, found) = super::read_document(f, config::parse_channels, |d| &d.diagnostics)?;
        errors += found;
        all.extend(doc.channels);
    }
    Ok(super::no_errors(errors).then_some(all))
}

/// Apply channels documents. `None` when a document has errors (nothing applied).
///
/// # Errors
/// A file cannot be read; the store refuses (an unknown refurbisher).
pub async fn apply_channels(
    store: &Store,
    files: &[PathBuf],
    actor: &str,
) -> Result<Option<Vec<ChannelApply>>> {
    let Some(channels) = load_channels(files)? else {
        return Ok(None);
    };
    Ok(Some(
        irp_pipeline::catalog::apply_channels(store, &channels, actor).await?,
    ))
}

/// `irp channel …`.
pub async fn channel(global: &Global, cmd: ChannelCommand) -> Result<ExitCode> {
    let store = open_store(global).await?;
    match cmd {
        ChannelCommand::Sync {
            key,
            full,
            content,
            json,
        } => sync(global, &store, &key, full, content, json).await,
        ChannelCommand::Status { key, json } => status(&store, key.as_deref(), json).await,
        ChannelCommand::Check { key } => check(global, &store, &key).await,
        ChannelCommand::Apply { files, json } => {
            let Some(out) = apply_channels(&store, &files, &actor()).await? else {
                return Ok(ExitCode::FAILURE);
            };
            if json {
                outln!("{}", serde_json::to_string_pretty(&out)?);
            } else {
                for o in &out {
                    outln!("{} {}", o.action, o.key);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        ChannelCommand::List { json } => {
            let channels = store.channels().list().await?;
            if json {
                let out: Vec<Value> = channels
                    .iter()
                    .map(|c| {
                        json!({
                            "channel": config::redact(&serde_json::to_value(&c.channel).unwrap_or(Value::Null)),
                            "version": c.version,
                        })
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&out)?);
            } else if channels.is_empty() {
                outln!(
                    "no channels yet: apply them with `irp channel apply -f config/channels.json`"
                );
            } else {
                let rows: Vec<Vec<String>> = channels
                    .iter()
                    .map(|c| {
                        let ch = &c.channel;
                        vec![
                            ch.key.clone(),
                            ch.name.clone(),
                            ch.currency.clone(),
                            format!("{}%", ch.default_tax_percentage.normalize()),
                            ch.refurbishers
                                .as_ref()
                                .map_or_else(|| "all".into(), |r| r.join(", ")),
                            format!("{:+}", ch.margin_adjustment.normalize()),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "KEY",
                        "NAME",
                        "CURRENCY",
                        "VAT",
                        "REFURBISHERS",
                        "MARGIN ADJ.",
                    ],
                    &rows,
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Who the CLI is in the channel's sync claim.
fn owner() -> String {
    format!("cli:{}", std::process::id())
}

async fn connect(global: &Global, store: &Store, key: &str) -> Result<channel::Shop> {
    let secret_key = crate::secret_key::load(&global.secret_key_file, false).ok();
    Ok(channel::connect(store, secret_key.as_ref(), key).await?)
}

/// `irp channel sync KEY [--full] [--content]`.
async fn sync(
    global: &Global,
    store: &Store,
    key: &str,
    full: bool,
    content: bool,
    json: bool,
) -> Result<ExitCode> {
    let done = {
        let progress = irp_pipeline::progress::Progress::new();
        let shown = super::progress::show(&progress);
        let done = crate::ops::channel_sync_now(
            store,
            &global.secret_key_file,
            key,
            full,
            content,
            &owner(),
            Some(&progress),
        )
        .await;
        shown.finish();
        done?
    };
    let failed = done.push.error.is_some() || done.orders_error.is_some();
    if json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&ChannelSync::from(done))?
        );
    } else {
        let (push, orders, orders_error, tracking, cancelled) = (
            &done.push,
            &done.orders,
            &done.orders_error,
            &done.tracking,
            done.cancellations_reported,
        );
        outln!(
            "{key}: {} row(s) read, {} pushed, {} created, {} unknown to the shop, {} not sold and not in the shop, {} refused, in {} sync request(s) ({} requests in all, {} ms){}",
            push.rows,
            push.pushed,
            push.created,
            push.unknown,
            push.skipped,
            push.refused,
            push.batches,
            push.requests,
            push.ms,
            if full { " — full resync" } else { "" }
        );
        if let Some(e) = &push.error {
            outln!("  push stopped: {e}");
        }
        let c = &done.content;
        if c.checked > 0 || content {
            outln!(
                "  content: {} product(s) checked, {} pushed, {} unchanged, {} not in the shop, {} refused{}",
                c.checked,
                c.pushed,
                c.unchanged,
                c.unknown,
                c.refused,
                if content && full {
                    " — full content resync"
                } else {
                    ""
                }
            );
        }
        match orders_error {
            Some(e) => outln!("  orders: the poll failed: {e}"),
            None => outln!(
                "  orders: {} read, {} taken in, {} known already, {} kept in the inbox",
                orders.read,
                orders.created,
                orders.known,
                orders.inbox
            ),
        }
        outln!(
            "  tracking: {} delivered, {} refused, {} to retry, {} not from the shop; cancellations reported: {cancelled}",
            tracking.pushed,
            tracking.refused,
            tracking.later,
            tracking.not_applicable
        );
        if push.unknown > 0 || push.refused > 0 {
            outln!("  `irp channel status {key}` lists the products the shop did not take");
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `irp channel status [KEY]`.
async fn status(store: &Store, key: Option<&str>, json: bool) -> Result<ExitCode> {
    let list = ChannelStatus::list(store, key).await?;
    if let Some(k) = key
        && list.is_empty()
    {
        bail!("no channel `{k}`: `irp channel list` shows the configured ones");
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    // The table shows the values as the JSON has them.
    let out: Vec<Value> = list
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()?;
    let rows: Vec<Vec<String>> = out
        .iter()
        .map(|o| {
            let text = |v: &Value| v.as_str().unwrap_or("-").to_owned();
            vec![
                text(&o["channel"]),
                o["shop"]["url"].as_str().map_or_else(
                    || "no shop".into(),
                    |u| {
                        if o["shop"]["enabled"] == json!(false) {
                            format!("{u} (disabled)")
                        } else {
                            u.to_owned()
                        }
                    },
                ),
                o["waiting_rows"].to_string(),
                text(&o["last_push_at"]),
                o["problems"].as_array().map_or(0, Vec::len).to_string(),
                o["inbox"].as_array().map_or(0, Vec::len).to_string(),
                text(&o["last_error"]),
            ]
        })
        .collect();
    table(
        &[
            "CHANNEL",
            "SHOP",
            "WAITING",
            "LAST PUSH",
            "NOT TAKEN",
            "INBOX",
            "LAST ERROR",
        ],
        &rows,
    );
    for c in &list {
        if let Some(p) = &c.pushing {
            outln!("{}: pushing now, {}", c.channel, p.describe());
        }
        if let Some(n) = c.content_waiting {
            outln!("{}: content of {n} product(s) waiting", c.channel);
        }
        for p in &c.content_problems {
            outln!(
                "{}: content of {} not taken: {}",
                c.channel,
                p.ean,
                p.problem
            );
        }
    }
    for o in &out {
        for p in o["problems"].as_array().into_iter().flatten() {
            outln!(
                "{}: EAN {} {}: {}",
                o["channel"].as_str().unwrap_or(""),
                p["ean"].as_str().unwrap_or(""),
                p["kind"].as_str().unwrap_or(""),
                p["detail"].as_str().unwrap_or("")
            );
        }
        for e in o["inbox"].as_array().into_iter().flatten() {
            outln!(
                "{}: order {} ({}) not taken in: {}",
                o["channel"].as_str().unwrap_or(""),
                e["order_number"].as_str().unwrap_or("?"),
                e["remote_order_id"].as_str().unwrap_or(""),
                e["error"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `irp channel check KEY`.
async fn check(global: &Global, store: &Store, key: &str) -> Result<ExitCode> {
    let shop = connect(global, store, key).await?;
    match shop.api.check().await {
        Ok(()) => {
            outln!(
                "{key}: Shopware at {} accepted the integration's credentials",
                shop.api.host()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("error: {key}: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
