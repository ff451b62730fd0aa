//! `irp status`: the `irp serve` instances running on this database and the claims each holds
//! — which feed it imports, which channel it syncs, which supplier order calls and ERP
//! documents it has under way, and the job leases (the monitor's evaluation).

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::{Global, StatusArgs, open_store, table, time};

/// Instances silent for longer than this are taken for gone (they say they are alive every
/// 5 s) and removed from the list.
const GONE_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

/// `irp status`.
///
/// # Errors
/// The database fails.
pub async fn status(global: &Global, args: StatusArgs) -> Result<ExitCode> {
    let store = open_store(global).await?;
    let instances = store.instances().list(GONE_AFTER).await?;
    let claims = store.instances().claims(None).await?;
    if args.json {
        let instances: Vec<_> = instances
            .iter()
            .map(|i| {
                json!({
                    "instance": i.owner,
                    "version": i.version,
                    "listen": i.listen,
                    "jobs": i.jobs.split(',').filter(|j| !j.is_empty()).collect::<Vec<_>>(),
                    "started_at": i.started_at,
                    "seen_at": i.seen_at,
                })
            })
            .collect();
        let claims: Vec<_> = claims
            .iter()
            .map(|c| json!({"instance": c.owner, "kind": c.kind, "what": c.what, "until": c.until}))
            .collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "database": store.backend().to_string(),
                "instances": instances,
                "claims": claims,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if instances.is_empty() {
        outln!("No `irp serve` instance is running on this database.");
    } else {
        outln!("Instances on this database ({}):", store.backend());
        let rows: Vec<Vec<String>> = instances
            .iter()
            .map(|i| {
                vec![
                    i.owner.clone(),
                    i.version.clone(),
                    i.listen.clone(),
                    time(Some(i.started_at)),
                    time(Some(i.seen_at)),
                    i.jobs.replace(',', " "),
                ]
            })
            .collect();
        table(
            &["INSTANCE", "VERSION", "LISTEN", "STARTED", "SEEN", "JOBS"],
            &rows,
        );
    }
    if claims.is_empty() {
        outln!("No claims held.");
    } else {
        outln!("Claims held:");
        let rows: Vec<Vec<String>> = claims
            .iter()
            .map(|c| {
                let running = instances.iter().any(|i| i.owner == c.owner);
                vec![
                    c.owner.clone(),
                    c.kind.clone(),
                    c.what.clone(),
                    time(Some(c.until)),
                    if running { "" } else { "not running: runs out" }.to_owned(),
                ]
            })
            .collect();
        table(&["INSTANCE", "KIND", "WHAT", "UNTIL", ""], &rows);
    }
    Ok(ExitCode::SUCCESS)
}
