//! Order benchmark: 1,000 orders posted to `irp serve`'s API at 100 per second; each
//! is placed at a local fake refurbisher by the outbox. Measures, per order, the time from
//! sending the POST to the refurbisher receiving the supplier order (intake, commit, claim,
//! render, call), p50 / p99 / max, and counts orders lost and placed twice. Reference measured
//! in the same run: the same POSTs sent straight to the fake refurbisher (the HTTP floor).
//!
//! ```sh
//! cargo bench -p irp --bench orders            # IRP_BENCH_ORDERS=1000, IRP_BENCH_RATE=100
//! ```
//! PostgreSQL from IRP_TEST_PG_URL or 127.0.0.1:5432; IRP_BENCH_ONLY=sqlite|postgres runs one.

#![allow(clippy::unwrap_used, clippy::print_stdout, clippy::print_stderr)] // a benchmark program

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use irp_store::Backend;
use irp_store::testkit::TestDb;
use serde_json::{Value, json};

type Seen = Arc<Mutex<HashMap<String, Vec<Instant>>>>;

/// A refurbisher order API on its own thread: 201 `{"OrderNumber": …}`, each arrival recorded.
fn fake_refurbisher() -> (String, Seen) {
    let seen: Seen = Arc::new(Mutex::new(HashMap::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let s = seen.clone();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/order",
                axum::routing::post(move |body: String| {
                    let s = s.clone();
                    async move {
                        let at = Instant::now();
                        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                        // IRP's supplier order carries the order number as yourReference; the
                        // reference POSTs are the order documents themselves.
                        let r = v["yourReference"]
                            .as_str()
                            .or(v["order_number"].as_str())
                            .unwrap_or("")
                            .to_owned();
                        s.lock().unwrap().entry(r.clone()).or_default().push(at);
                        (
                            axum::http::StatusCode::CREATED,
                            format!("{{\"OrderNumber\": \"SO-{r}\"}}"),
                        )
                    }
                }),
            );
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (format!("http://{}/order", rx.recv().unwrap()), seen)
}

struct Irp {
    db_url: String,
    dir: tempfile::TempDir,
}

impl Irp {
    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_irp"));
        c.args(args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .env("IRP_DATABASE_URL", &self.db_url)
            .env("IRP_SECRET_KEY_FILE", self.dir.path().join("secret.key"))
            .env("IRP_POLL_TICK_SECS", "0")
            // The fake refurbisher is on this machine.
            .env("IRP_ALLOW_PRIVATE_NETWORKS", "127.0.0.0/8,::1/128")
            .env_remove("IRP_SECRET_KEY");
        c
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).unwrap();
        }
        drop(input);
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "irp {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn serve(&self) -> (Child, String) {
        let mut child = self
            .cmd(&["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("serve exited").unwrap();
            if let Some(i) = line.find("listening on http://") {
                break line[i + 20..].split('/').next().unwrap().to_owned();
            }
        };
        // IRP_BENCH_SERVE_LOG=FILE keeps serve's log (with IRP_LOG set, its detail).
        let keep = std::env::var("IRP_BENCH_SERVE_LOG").ok();
        std::thread::spawn(move || {
            let mut file = keep.map(|f| std::fs::File::create(f).unwrap());
            for line in lines.by_ref().map_while(Result::ok) {
                if let Some(f) = file.as_mut() {
                    let _ = writeln!(f, "{line}");
                }
            }
        });
        (child, format!("http://{addr}"))
    }
}

fn order(number: &str) -> Value {
    json!({
        "channel": "refurbished-direct",
        "order_number": number,
        "placed_at": "2026-11-23T10:00:00Z",
        "customer": {"email": "jan@example.nl"},
        "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
            "house_number": "1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
        "lines": [{"ean": "8712345678906", "quantity": 1, "unit_price_incl_vat": "160.23"}]
    })
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

/// Post `n` documents to `url` at `rate` per second; returns when each POST was sent, by
/// order number, how long each took to be answered, and the POSTs that failed.
async fn post_all(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    prefix: &str,
    n: usize,
    rate: u64,
) -> (HashMap<String, Instant>, Vec<Duration>, usize) {
    let mut sent = HashMap::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    for i in 0..n {
        tick.tick().await;
        let number = format!("{prefix}-{i:05}");
        let mut req = client.post(url).json(&order(&number));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let at = Instant::now();
        sent.insert(number, at);
        tasks.spawn(async move {
            let ok = req.send().await.map(|r| r.status().is_success());
            (ok, at.elapsed())
        });
    }
    let mut failed = 0;
    let mut answered = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok((Ok(true), took)) => answered.push(took),
            _ => failed += 1,
        }
    }
    answered.sort();
    (sent, answered, failed)
}

async fn bench(backend: Backend, n: usize, rate: u64) {
    let db = TestDb::new(backend).await;
    let (fake_url, seen) = fake_refurbisher();
    let irp = Irp {
        db_url: db.url.clone(),
        dir: tempfile::tempdir().unwrap(),
    };
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let doc = std::fs::read_to_string(format!("{root}/config/refurbishers/flexit.json"))
        .unwrap()
        .replace(
            "https://api.flexitdistribution.com/order/api/order",
            &fake_url,
        );
    let doc_path = irp.dir.path().join("flexit.json");
    std::fs::write(&doc_path, doc).unwrap();
    let feed = irp.dir.path().join("feed.csv");
    std::fs::write(
        &feed,
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;1000000;8712345678906;100,00;999,00\n",
    )
    .unwrap();
    irp.run(
        &["refurbisher", "apply", "-f", doc_path.to_str().unwrap()],
        None,
    );
    irp.run(&["channel", "apply", "-f", "config/channels.json"], None);
    irp.run(
        &["feed", "import", "flexit", "--file", feed.to_str().unwrap()],
        None,
    );
    for name in [
        "flexit.order.auth.client_id",
        "flexit.order.auth.client_secret",
    ] {
        irp.run(&["secret", "set", name], Some("bench"));
    }
    let token = irp
        .run(&["token", "create", "bench"], None)
        .trim()
        .to_owned();
    let (mut serve, base) = irp.serve();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();

    // Reference: the same POSTs straight to the fake refurbisher.
    let (ref_sent, _, _) = post_all(&client, &fake_url, None, "REF", n, rate).await;
    let mut reference: Vec<Duration> = {
        let s = seen.lock().unwrap();
        ref_sent
            .iter()
            .filter_map(|(k, t)| s.get(k).and_then(|v| v.first()).map(|a| *a - *t))
            .collect()
    };
    reference.sort();

    let started = Instant::now();
    let (sent, answered, failed) = post_all(
        &client,
        &format!("{base}/api/v1/orders"),
        Some(&token),
        "RD",
        n,
        rate,
    )
    .await;
    let post_secs = started.elapsed().as_secs_f64();
    // Wait until every order arrived (or 30 s passed).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let arrived = {
            let s = seen.lock().unwrap();
            sent.keys().filter(|k| s.contains_key(*k)).count()
        };
        if arrived == n || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await; // a late duplicate would show now
    let (mut latencies, lost, duplicated) = {
        let s = seen.lock().unwrap();
        let mut lat = Vec::new();
        let (mut lost, mut dup) = (0, 0);
        for (k, t) in &sent {
            match s.get(k) {
                None => lost += 1,
                Some(v) => {
                    lat.push(v[0] - *t);
                    if v.len() > 1 {
                        dup += 1;
                    }
                }
            }
        }
        (lat, lost, dup)
    };
    latencies.sort();
    let submitted = db
        .store
        .supplier_orders()
        .list(Some("submitted"), 1_000_000)
        .await
        .unwrap()
        .len();
    // Where the time goes: intake commit → claim (the outbox wait), as the database saw it.
    let mut waits = Vec::new();
    for so in db
        .store
        .supplier_orders()
        .list(None, 1_000_000)
        .await
        .unwrap()
    {
        if let Some(a) = db
            .store
            .supplier_orders()
            .attempts(so.id)
            .await
            .unwrap()
            .first()
        {
            waits.push((a.started_at - so.created_at).to_std().unwrap_or_default());
        }
    }
    waits.sort();
    eprintln!(
        "{backend:?}: intake → claim p50 {} p99 {}",
        ms(percentile(&waits, 0.5)),
        ms(percentile(&waits, 0.99))
    );
    let _ = serve.kill();
    let _ = serve.wait();
    println!(
        "| {backend:?} | {n} at {rate}/s ({post_secs:.1} s) | {} / {} / {} | {} / {} | {} / {} | {lost} | {duplicated} | {failed} | {submitted} |",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().unwrap_or(&Duration::ZERO)),
        ms(percentile(&answered, 0.5)),
        ms(percentile(&answered, 0.99)),
        ms(percentile(&reference, 0.5)),
        ms(percentile(&reference, 0.99)),
    );
}

fn main() {
    let n: usize = std::env::var("IRP_BENCH_ORDERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let rate: u64 = std::env::var("IRP_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let only = std::env::var("IRP_BENCH_ONLY").ok();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    println!(
        "| Store | orders | intake → refurbisher call p50 / p99 / max | POST answered p50 / p99 | reference (POST straight to the fake) p50 / p99 | lost | placed twice | POSTs failed | submitted in the database |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_lowercase();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        rt.block_on(bench(backend, n, rate));
    }
}
