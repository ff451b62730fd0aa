//! Scaling out: order intake and the shipment webhook with one and with three `irp serve`
//! instances on one PostgreSQL, in the same run, under the same load (`wrk`, Debian package
//! `wrk`; one wrk per instance, the connections split between them, as a round-robin load
//! balancer would).
//!
//! - **Order intake**: `POST /api/v1/orders`, every request a new order (one line of iUsed
//!   Stores' offer: an internal supplier order, no call out), so each 201 is an order, its
//!   supplier order, its reservation and its catalog mark committed. Checked after: orders
//!   stored = 201s counted by wrk.
//! - **Shipment webhook**: every request a new shipment of one of 1,000 orders, stored and
//!   matched. Checked after: shipments stored = 2xx counted.
//!
//! ```sh
//! cargo bench -p irp --bench instances   # IRP_BENCH_SECS=15, IRP_BENCH_CONNECTIONS=48
//! ```
//! PostgreSQL from IRP_TEST_PG_URL or 127.0.0.1:5432; `psql` (postgresql-client) for an
//! `ANALYZE` between the two loads.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // a benchmark program

use std::io::Write as _;
use std::process::{Child, Command, Stdio};

mod common;
use common::{Irp, analyze};
use irp_store::Backend;
use irp_store::testkit::TestDb;
use serde_json::{Value, json};

const ORDERS: usize = 1000;

/// Products on offer (iUsed Stores' offers `IU-0` … `IU-199`).
const SKUS: usize = 200;

/// The EAN-13 of the 12 digits `first12`, with its check digit.
fn ean(first12: u64) -> String {
    let digits = format!("{first12:012}");
    let sum: u32 = digits
        .chars()
        .enumerate()
        .map(|(i, c)| c.to_digit(10).unwrap() * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

/// New orders: `args` = the token and this wrk's prefix; each thread numbers its own.
const ORDERS_SCRIPT: &str = r#"
local counter = 0
local token = ""
local prefix = ""
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  token = args[1]
  prefix = args[2]
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"channel":"refurbished-direct","order_number":"%s-%d-%d","placed_at":"2026-11-23T10:00:00Z","customer":{"email":"jan@example.nl"},"shipping_address":{"first_name":"Jan","last_name":"de Vries","street":"Damrak","house_number":"1","zipcode":"1012 LG","city":"Amsterdam","country":"NL"},"lines":[{"refurbisher":"iused-alumio","sku":"IU-%d","quantity":1,"unit_price_incl_vat":"250.00"}]}',
    prefix, id, counter, (counter * 7 + id * 13) % 200)
  return wrk.format("POST", "/api/v1/orders", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end
"#;

/// New shipments of the 1,000 orders `WH-…`: `args` = the webhook path and this wrk's prefix.
const SHIPMENTS_SCRIPT: &str = r#"
local counter = 0
local path = ""
local prefix = ""
local next_id = 0
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
end
function init(args)
  path = args[1]
  prefix = args[2]
end
function request()
  counter = counter + 1
  local body = string.format(
    '{"external_order_id":"WH-%05d","track_and_trace":"3S%s%02d%010d","carrier":"PostNL","imei":"490154203237518"}',
    counter % 1000, prefix, id, counter)
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end
"#;

/// Appended to each script: the counts and latency percentiles as one JSON line.
const DONE: &str = r#"
function done(summary, latency, requests)
  io.write(string.format(
    '{"requests":%d,"non_2xx":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"#;

/// What the wrks measured together.
struct Load {
    accepted: i64,
    failed: i64,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

/// One wrk per base URL, at once, `connections` split between them; `args(i)` for the i-th.
fn load(
    bases: &[String],
    script: &std::path::Path,
    secs: u64,
    connections: u64,
    args: impl Fn(usize) -> Vec<String>,
) -> Load {
    let each = (connections / bases.len() as u64).max(1);
    let children: Vec<Child> = bases
        .iter()
        .enumerate()
        .map(|(i, base)| {
            let mut a = vec![
                "-t1".to_owned(),
                format!("-c{each}"),
                format!("-d{secs}s"),
                "--timeout".into(),
                "10s".into(),
                "-s".into(),
                script.to_str().unwrap().to_owned(),
                base.clone(),
                "--".into(),
            ];
            a.extend(args(i));
            Command::new("wrk")
                .args(&a)
                .stdout(Stdio::piped())
                .spawn()
                .expect("wrk is not installed: apt-get install wrk")
        })
        .collect();
    let runs: Vec<Value> = children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let line = text
                .lines()
                .find(|l| l.starts_with('{'))
                .unwrap_or_else(|| panic!("no summary from wrk:\n{text}"));
            serde_json::from_str(line).unwrap()
        })
        .collect();
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap();
    let accepted: i64 = runs
        .iter()
        .map(|r| n(r, "requests") - n(r, "non_2xx"))
        .sum();
    let failed: i64 = runs
        .iter()
        .map(|r| {
            ["non_2xx", "connect", "read", "write", "timeout"]
                .iter()
                .map(|k| n(r, k))
                .sum::<i64>()
        })
        .sum();
    let secs = runs
        .iter()
        .map(|r| r["duration_us"].as_f64().unwrap() / 1e6)
        .fold(0.0, f64::max);
    // Each wrk had the same share: the median of their medians, the worst p99.
    let mut p50: Vec<f64> = runs
        .iter()
        .map(|r| r["p50_us"].as_f64().unwrap() / 1000.0)
        .collect();
    p50.sort_by(f64::total_cmp);
    Load {
        accepted,
        failed,
        per_sec: accepted as f64 / secs,
        p50_ms: p50[p50.len() / 2],
        p99_ms: runs
            .iter()
            .map(|r| r["p99_us"].as_f64().unwrap() / 1000.0)
            .fold(0.0, f64::max),
    }
}

/// The busy CPU time of the machine so far (user + system + …, in clock ticks).
fn cpu_busy() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu: Vec<u64> = stat
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap())
        .collect();
    let idle = cpu[3] + cpu.get(4).copied().unwrap_or(0);
    (cpu.iter().sum::<u64>() - idle, cpu.iter().sum())
}

/// CPU time (clock ticks) used so far by the PostgreSQL server processes, the `irp`
/// processes, and this program's waited-for children (the wrks).
fn cpu_by_part() -> [u64; 3] {
    let ticks = |stat: &str| -> Option<(String, u64, u64)> {
        let open = stat.find('(')?;
        let close = stat.rfind(')')?;
        let name = stat[open + 1..close].to_owned();
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        // Fields 14–17 of proc(5): utime stime cutime cstime (here from index 11).
        let own = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
        let children = f.get(13)?.parse::<u64>().ok()? + f.get(14)?.parse::<u64>().ok()?;
        Some((name, own, children))
    };
    let mut parts = [0; 3];
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((name, own, _)) = ticks(&stat) {
            if name.starts_with("postgres") {
                parts[0] += own;
            } else if name == "irp" {
                parts[1] += own;
            }
        }
    }
    if let Some((_, _, children)) = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .as_deref()
        .and_then(ticks)
    {
        parts[2] = children;
    }
    parts
}

/// Each part's share of the machine's busy time between `a` and `b`: "PostgreSQL 40 %, IRP 45 %, wrk 12 %".
fn shares(a: ([u64; 3], (u64, u64)), b: ([u64; 3], (u64, u64))) -> String {
    let busy = (b.1.0 - a.1.0).max(1) as f64;
    let total = (b.1.1 - a.1.1).max(1) as f64;
    let pct = |i: usize| 100.0 * (b.0[i] - a.0[i]) as f64 / busy;
    format!(
        "{:.0} % busy: PostgreSQL {:.0} %, IRP {:.0} %, wrk {:.0} %",
        100.0 * busy / total,
        pct(0),
        pct(1),
        pct(2)
    )
}

async fn bench(instances: usize, secs: u64, connections: u64) {
    let db = TestDb::new(Backend::Postgres).await;
    let irp = Irp {
        db_url: db.url.clone(),
        dir: tempfile::tempdir().unwrap(),
    };
    // SKUS products, so that orders spread over them as a shop's do (one product for all would
    // queue every intake on its offer's row lock).
    let feed = irp.dir.path().join("iused.json");
    let offers: Vec<Value> = (0..SKUS)
        .map(|i| {
            json!({"description": format!("iUsed iPhone 12 #{i}"), "sku": format!("IU-{i}"),
                "quantity": 100_000_000, "ean": ean(871_234_500_000 + i as u64), "costPrice": 90.0,
                "priceConsumer": 9999, "currencyIso": "EUR", "taxPercentage": 21})
        })
        .collect();
    std::fs::write(&feed, json!({ "offers": offers }).to_string()).unwrap();
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

    let mut serves: Vec<(Child, String)> = (0..instances).map(|_| irp.serve()).collect();
    let bases: Vec<String> = serves.iter().map(|(_, b)| b.clone()).collect();
    // The 1,000 orders the shipments are for.
    let client = reqwest::Client::new();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..ORDERS {
        let req = client
            .post(format!("{}/api/v1/orders", bases[i % bases.len()]))
            .bearer_auth(&token)
            .json(&json!({
                "channel": "refurbished-direct", "order_number": format!("WH-{i:05}"),
                "placed_at": "2026-11-23T10:00:00Z", "customer": {"email": "jan@example.nl"},
                "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
                    "house_number": "1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
                "lines": [{"refurbisher": "iused-alumio", "sku": format!("IU-{}", i % SKUS), "quantity": 1, "unit_price_incl_vat": "250.00"}]
            }));
        tasks.spawn(async move { req.send().await.map(|r| r.status().as_u16()) });
        if tasks.len() >= 16 {
            assert_eq!(tasks.join_next().await.unwrap().unwrap().unwrap(), 201);
        }
    }
    while let Some(r) = tasks.join_next().await {
        assert_eq!(r.unwrap().unwrap(), 201);
    }

    let orders_script = irp.dir.path().join("orders.lua");
    std::fs::write(&orders_script, format!("{ORDERS_SCRIPT}{DONE}")).unwrap();
    let shipments_script = irp.dir.path().join("shipments.lua");
    std::fs::write(&shipments_script, format!("{SHIPMENTS_SCRIPT}{DONE}")).unwrap();

    let cpu0 = (cpu_by_part(), cpu_busy());
    let orders = load(&bases, &orders_script, secs, connections, |i| {
        vec![token.clone(), format!("I{i}")]
    });
    // The orders table grew tenfold in seconds, faster than autovacuum's analyze follows: its
    // statistics brought up to date, as they are in a database that grew at a shop's pace
    // (with stale ones the shipment lookup walks all of the refurbisher's supplier orders).
    analyze(&db.url);
    let cpu1 = (cpu_by_part(), cpu_busy());
    let shipments = load(&bases, &shipments_script, secs, connections, |i| {
        vec![path.clone(), format!("{i}")]
    });
    let cpu2 = (cpu_by_part(), cpu_busy());

    let stored_orders =
        db.store.orders().list(None, i64::MAX).await.unwrap().len() as i64 - ORDERS as i64;
    let stored_shipments = db
        .store
        .shipments()
        .list(None, None, i64::MAX)
        .await
        .unwrap()
        .len() as i64;
    for (mut child, _) in serves.drain(..) {
        let _ = child.kill();
        let _ = child.wait();
    }
    println!(
        "| {instances} | {connections} | {:.0} /s | {:.1} / {:.1} ms | {} / {} | {} | {} | {:.0} /s | {:.1} / {:.1} ms | {} / {} | {} | {} |",
        orders.per_sec,
        orders.p50_ms,
        orders.p99_ms,
        orders.accepted,
        stored_orders,
        orders.failed,
        shares(cpu0, cpu1),
        shipments.per_sec,
        shipments.p50_ms,
        shipments.p99_ms,
        shipments.accepted,
        stored_shipments,
        shipments.failed,
        shares(cpu1, cpu2),
    );
    std::io::stdout().flush().unwrap();
    // wrk does not count the answers of requests still in flight when its time is up (at most
    // one per connection); IRP finishes and stores them. Nothing accepted is missing.
    let in_flight = connections as i64;
    assert!(
        (orders.accepted..=orders.accepted + in_flight).contains(&stored_orders),
        "orders: {} accepted, {stored_orders} stored",
        orders.accepted
    );
    assert!(
        (shipments.accepted..=shipments.accepted + in_flight).contains(&stored_shipments),
        "shipments: {} accepted, {stored_shipments} stored",
        shipments.accepted
    );
}

fn main() {
    let secs: u64 = std::env::var("IRP_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let connections: u64 = std::env::var("IRP_BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(48);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| instances | connections | orders taken in | p50 / p99 | 201 counted / stored | not accepted | CPU (machine; share of the busy time) | shipments stored | p50 / p99 | 2xx counted / stored | not accepted | CPU (machine; share of the busy time) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for instances in [1, 3] {
        rt.block_on(bench(instances, secs, connections));
    }
}
