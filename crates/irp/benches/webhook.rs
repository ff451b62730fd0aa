//! Shipment webhook load test, with `wrk` (Debian package `wrk`) against `irp serve`.
//! Every request is a distinct shipment (its own track & trace code) for one of 1,000 orders
//! routed to iUsed Stores (internal supplier orders, matched by order number), so each
//! accepted request is a new shipment stored and matched. Then: the stored count against
//! wrk's count of 2xx answers (every accepted one stored exactly once: the store's unique key
//! forbids a second copy, and 500 of the sent bodies sent again must all answer `repeat`).
//! Reference measured in the same run: the same load with a wrong token (404 — HTTP, routing,
//! the rate limiter and the token check, no write).
//!
//! ```sh
//! cargo bench -p irp --bench webhook   # IRP_BENCH_SECS=20, IRP_BENCH_CONNECTIONS=32
//! ```
//! IRP_BENCH_ONLY=sqlite|postgres runs one store (PostgreSQL from IRP_TEST_PG_URL or
//! 127.0.0.1:5432; `psql` from postgresql-client for an `ANALYZE` before the load).

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // a benchmark program

use std::io::Write as _;
use std::process::Command;

mod common;
use common::{Irp, analyze};
use irp_store::Backend;
use irp_store::testkit::TestDb;
use serde_json::{Value, json};

const ORDERS: usize = 1000;

/// The wrk script: a distinct shipment per request; prints the counts and latency
/// percentiles wrk measured as one JSON line.
const SCRIPT: &str = r#"
local counter = 0
local threads = {}
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function request()
  counter = counter + 1
  local order = counter % 1000
  local body = string.format(
    '{"external_order_id":"WH-%05d","track_and_trace":"3S%02d%010d","carrier":"PostNL","imei":"490154203237518"}',
    order, id, counter)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"}, body)
end
function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"non_2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"#;

fn wrk(url: &str, script: &std::path::Path, secs: u64, connections: u64) -> Value {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{secs}s"),
            "--timeout",
            "5s",
            "-s",
            script.to_str().unwrap(),
            url,
        ])
        .output()
        .expect("wrk is not installed: apt-get install wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no summary from wrk:\n{text}"));
    serde_json::from_str(line).unwrap()
}

fn per_sec(v: &Value, count: i64) -> f64 {
    count as f64 / (v["duration_us"].as_f64().unwrap() / 1e6)
}

fn ms(us: &Value) -> String {
    format!("{:.1} ms", us.as_f64().unwrap() / 1000.0)
}

async fn bench(backend: Backend, secs: u64, connections: u64) {
    let db = TestDb::new(backend).await;
    let irp = Irp {
        db_url: db.url.clone(),
        dir: tempfile::tempdir().unwrap(),
    };
    let feed = irp.dir.path().join("iused.json");
    std::fs::write(
        &feed,
        json!({"offers": [{"description": "iUsed iPhone 12", "sku": "IU-1", "quantity": 1_000_000,
            "ean": "8712345678913", "costPrice": 90.0, "priceConsumer": 9999, "currencyIso": "EUR", "taxPercentage": 21}]})
        .to_string(),
    )
    .unwrap();
    irp.run(&[
        "refurbisher",
        "apply",
        "-f",
        "config/refurbishers/iused-stores.json",
    ]);
    irp.run(&["channel", "apply", "-f", "config/channels.json"]);
    irp.run(&[
        "feed",
        "import",
        "iused-alumio",
        "--file",
        feed.to_str().unwrap(),
    ]);
    let token = irp.run(&["token", "create", "bench"]).trim().to_owned();
    let out = irp.run(&[
        "webhook",
        "token",
        "iused-alumio",
        "--base-url",
        "http://x",
        "--json",
    ]);
    let hook: Value = serde_json::from_str(&out).unwrap();
    let path = hook["url"].as_str().unwrap().replace("http://x", "");

    let (mut serve, base) = irp.serve();
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..ORDERS {
        let req = client
            .post(format!("{base}/api/v1/orders"))
            .bearer_auth(&token)
            .json(&json!({
                "channel": "refurbished-direct", "order_number": format!("WH-{i:05}"),
                "placed_at": "2026-11-23T10:00:00Z", "customer": {"email": "jan@example.nl"},
                "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
                    "house_number": "1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
                "lines": [{"refurbisher": "iused-alumio", "sku": "IU-1", "quantity": 1, "unit_price_incl_vat": "250.00"}]
            }));
        tasks.spawn(async move { req.send().await.map(|r| r.status().as_u16()) });
        if tasks.len() >= 16 {
            assert_eq!(tasks.join_next().await.unwrap().unwrap().unwrap(), 201);
        }
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap(), 201);
    }
    // PostgreSQL: statistics brought up to date after the orders table grew from nothing, as
    // autovacuum's analyze has them in a database that grew at a shop's pace (with the empty
    // table's, each lookup walks all of the refurbisher's supplier orders).
    if backend == Backend::Postgres {
        analyze(&db.url);
    }
    let script = irp.dir.path().join("shipments.lua");
    std::fs::write(&script, SCRIPT).unwrap();

    // The reference: the same load, a wrong token.
    let wrong = format!("{base}{}x", path);
    let reference = wrk(&wrong, &script, secs.min(10), connections);
    let run = wrk(&format!("{base}{path}"), &script, secs, connections);
    let accepted = run["requests"].as_i64().unwrap() - run["non_2xx"].as_i64().unwrap();
    let stored = db
        .store
        .shipments()
        .list(None, None, i64::MAX)
        .await
        .unwrap();
    let matched = stored.iter().filter(|s| s.status == "matched").count();
    // 500 of the sent bodies again (thread 1's first ones): each must be a repeat.
    let mut repeats = 0;
    for counter in 1..=500 {
        let body = format!(
            r#"{{"external_order_id":"WH-{:05}","track_and_trace":"3S{:02}{:010}","carrier":"PostNL","imei":"490154203237518"}}"#,
            counter % 1000,
            1,
            counter
        );
        let v: Value = client
            .post(format!("{base}{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if v["status"] == "repeat" {
            repeats += 1;
        }
    }
    let _ = serve.kill();
    let _ = serve.wait();
    let errors: i64 = ["connect", "read", "write", "timeout"]
        .iter()
        .map(|k| run[k].as_i64().unwrap())
        .sum();
    println!(
        "| {backend:?} | {connections} | {:.0} /s | {} / {} / {} / {} | {} | {} | {} | {} | {repeats} / 500 | {:.0} /s, p50 {} / p99 {} |",
        per_sec(&run, accepted),
        ms(&run["p50_us"]),
        ms(&run["p90_us"]),
        ms(&run["p99_us"]),
        ms(&run["max_us"]),
        accepted,
        stored.len(),
        matched,
        run["non_2xx"].as_i64().unwrap() + errors,
        per_sec(&reference, reference["requests"].as_i64().unwrap()),
        ms(&reference["p50_us"]),
        ms(&reference["p99_us"]),
    );
    std::io::stdout().flush().unwrap();
}

fn main() {
    let secs: u64 = std::env::var("IRP_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let connections: u64 = std::env::var("IRP_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(32);
    let only = std::env::var("IRP_BENCH_ONLY").ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| Store | connections | accepted shipments | latency p50 / p90 / p99 / max | accepted (2xx) | stored | matched | not accepted | resent → repeat | reference (wrong token, 404) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_lowercase();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        rt.block_on(bench(backend, secs, connections));
    }
}
