//! `irp channel sync | status | check`: the storefront channels' Shopware sync by hand.

use std::process::ExitCode;

use anyhow::{Result, bail};
use irp_pipeline::channel;
use irp_store::Store;
use serde_json::{Value, json};

use crate::cli::Global;
use crate::commands::table;

/// Who the CLI is in the channel's sync claim.
fn owner() -> String {
    format!("cli:{}", std::process::id())
}

async fn connect(global: &Global, store: &Store, key: &str) -> Result<channel::Shop> {
    let secret_key = crate::secret_key::load(&global.secret_key_file, false).ok();
    Ok(channel::connect(store, secret_key.as_ref(), key).await?)
}

/// `irp channel sync KEY [--full]`.
pub async fn sync(
    global: &Global,
    store: &Store,
    key: &str,
    full: bool,
    json: bool,
) -> Result<ExitCode> {
    let done =
        crate::ops::channel_sync_now(store, &global.secret_key_file, key, full, &owner()).await?;
    let (push, orders, orders_error, tracking, cancelled) = (
        &done.push,
        &done.orders,
        &done.orders_error,
        &done.tracking,
        done.cancellations_reported,
    );
    if json {
        outln!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        outln!(
            "{key}: {} row(s) read, {} pushed, {} created, {} unknown to the shop, {} refused, in {} sync request(s) ({} requests in all, {} ms){}",
            push.rows,
            push.pushed,
            push.created,
            push.unknown,
            push.refused,
            push.batches,
            push.requests,
            push.ms,
            if full { " — full resync" } else { "" }
        );
        if let Some(e) = &push.error {
            outln!("  push stopped: {e}");
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
    let failed = push.error.is_some() || orders_error.is_some();
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// `irp channel status [KEY]`.
pub async fn status(store: &Store, key: Option<&str>, json: bool) -> Result<ExitCode> {
    let out = crate::ops::channel_status(store, key).await?;
    if let Some(k) = key
        && out.is_empty()
    {
        bail!("no channel `{k}`: `irp channel list` shows the configured ones");
    }
    if json {
        outln!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(ExitCode::SUCCESS);
    }
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
pub async fn check(global: &Global, store: &Store, key: &str) -> Result<ExitCode> {
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
