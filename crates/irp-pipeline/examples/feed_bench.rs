//! Feed import benchmark: a generated FlexIT-format CSV served by a local OpenSSH
//! sshd, imported end to end (SFTP download, parse, check, stage, diff, apply) into an empty
//! store, then again with 1 % of the rows changed; peak RSS of each import; on SQLite and
//! PostgreSQL. References measured in the same run: `sqlite3 .import` and PostgreSQL `\copy` of
//! the same file into a plain 6-column table.
//!
//! ```sh
//! cargo run --release -p irp-pipeline --example feed_bench -- 1000000
//! ```
//! (as root: it starts sshd and uses the `irptest` user; PostgreSQL from IRP_TEST_PG_URL or
//! 127.0.0.1:5432, as the tests.)

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark program

use std::io::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use irp_core::config::parse_document;
use irp_pipeline::feed::import_fetched;
use irp_store::Backend;
use irp_store::secrets::SecretKey;
use irp_store::testkit::TestDb;
use irp_testkit::feeds::{ean, nl_price as price};
use irp_testkit::sshd::{PASSWORD, Sshd};

fn generate(path: &std::path::Path, rows: u64, changed_every: Option<u64>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP"
    )
    .unwrap();
    for i in 0..rows {
        let mut buy = 5_000 + (i * 7919) % 150_000;
        if changed_every.is_some_and(|n| i % n == 0) {
            buy += 100;
        }
        writeln!(
            f,
            "FLX-{i:07};Refurbished smartphone model {} 128GB Grade A;{};{};{};{}",
            i % 5000,
            i % 50,
            ean(i),
            price(buy),
            price(buy * 13 / 10)
        )
        .unwrap();
    }
    f.flush().unwrap();
}

fn peak_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kb: f64 = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn time_cmd(cmd: &mut Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t.elapsed()
}

/// One import in a process of its own, so that its peak RSS is its own: prints
/// `<seconds> <peak MiB> <report JSON>`.
async fn child(url: &str, key: &str) {
    let store = irp_store::Store::connect(url).await.unwrap();
    let key = SecretKey::from_base64(key).unwrap();
    let r = store.refurbishers().get("flexit").await.unwrap().unwrap();
    let t = Instant::now();
    let rep = import_fetched(&store, &r, "bench", Some(&key))
        .await
        .unwrap();
    let elapsed = t.elapsed();
    let peak = peak_mib();
    println!(
        "{} {peak:.1} {}",
        elapsed.as_secs_f64(),
        serde_json::to_string(&rep).unwrap()
    );
}

/// Run one import in a child process: (duration, peak RSS in MiB, report).
fn import_in_child(url: &str, key: &SecretKey) -> (Duration, f64, serde_json::Value) {
    let out = Command::new(std::env::current_exe().unwrap())
        .arg("--child")
        .arg(url)
        .arg(key.to_base64())
        .stderr(std::process::Stdio::inherit())
        .output()
        .unwrap();
    assert!(out.status.success(), "the import process failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text.lines().last().unwrap();
    let mut parts = line.splitn(3, ' ');
    let secs: f64 = parts.next().unwrap().parse().unwrap();
    let peak: f64 = parts.next().unwrap().parse().unwrap();
    let report: serde_json::Value = serde_json::from_str(parts.next().unwrap()).unwrap();
    (Duration::from_secs_f64(secs), peak, report)
}

#[tokio::main]
async fn main() {
    if std::env::var_os("IRP_BENCH_LOG").is_some() {
        tracing_subscriber_init();
    }
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        return child(&args[2], &args[3]).await;
    }
    let rows: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let sshd = Sshd::start();
    let path = sshd.write("FlexIT_Feed.csv", b"");
    let local = sshd.files.join("Outbound/FlexIT_Feed.csv");
    let t = Instant::now();
    generate(&local, rows, None);
    let size = std::fs::metadata(&local).unwrap().len();
    println!(
        "generated {rows} rows, {:.1} MB, in {}",
        size as f64 / 1e6,
        secs(t.elapsed())
    );
    let doc = parse_document(&sshd.flexit_document(
        &path,
        r#""password": "${secret:flexit.offers.auth.password}""#,
    ));
    let key = SecretKey::generate().unwrap();

    // Parse and check alone (no store), for the profile of where the time goes.
    {
        let offers = doc.refurbishers[0].offers.clone().unwrap();
        let t = Instant::now();
        let file = std::io::BufReader::new(std::fs::File::open(&local).unwrap());
        let mut n = 0u64;
        irp_pipeline::read_offers(&offers, "EUR", file, &mut |o| {
            if let irp_pipeline::RowOutcome::Offer { offer, row } = o {
                n += 1;
                let _ = irp_pipeline::feed::stage(offer, row).map(|s| s.content_hash());
            }
        })
        .unwrap();
        println!(
            "parse + check + hash alone: {n} offers in {}",
            secs(t.elapsed())
        );
    }
    if std::env::var_os("IRP_BENCH_PARSE_ONLY").is_some() {
        return;
    }

    let mut results = Vec::new();
    let only = std::env::var("IRP_BENCH_ONLY").ok();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        if only.as_deref().is_some_and(|o| o != backend.to_string()) {
            continue;
        }
        generate(&local, rows, None);
        let db = TestDb::new(backend).await;
        irp_pipeline::catalog::apply_refurbishers(&db.store, &doc.refurbishers, "bench")
            .await
            .unwrap();
        db.store
            .secrets()
            .set(&key, "flexit.offers.auth.password", PASSWORD)
            .await
            .unwrap();

        let (full, peak_full, rep) = import_in_child(&db.url, &key);
        assert_eq!(rep["rows_accepted"], rows, "{rep}");
        assert_eq!(rep["created"], rows, "{rep}");

        generate(&local, rows, Some(100));
        let (delta, peak_delta, rep) = import_in_child(&db.url, &key);
        assert_eq!(rep["updated"], rows.div_ceil(100), "{rep}");
        assert_eq!(rep["unchanged"], rows - rows.div_ceil(100), "{rep}");
        println!(
            "{backend}: full import {}, 1% changed {}, peak RSS {peak_full:.0} / {peak_delta:.0} MiB",
            secs(full),
            secs(delta)
        );
        results.push((backend, full, delta, peak_full.max(peak_delta)));
    }

    // References on the same file.
    generate(&local, rows, None);
    let dir = tempfile::tempdir().unwrap();
    let refdb = dir.path().join("ref.db");
    let sqlite_ref = time_cmd(
        Command::new("sqlite3")
            .arg(&refdb)
            .arg("CREATE TABLE t(sku TEXT, name TEXT, stock TEXT, ean TEXT, buy TEXT, srp TEXT);")
            .arg(".mode csv")
            .arg(".separator ;")
            .arg(format!(".import --skip 1 {} t", local.display())),
    );
    let pg = TestDb::new(Backend::Postgres).await;
    let psql = |sql: &str| {
        let mut c = Command::new("psql");
        c.arg(&pg.url)
            .arg("-q")
            .arg("-v")
            .arg("ON_ERROR_STOP=1")
            .arg("-c")
            .arg(sql);
        c
    };
    time_cmd(&mut psql(
        "CREATE TABLE t(sku TEXT, name TEXT, stock TEXT, ean TEXT, buy TEXT, srp TEXT)",
    ));
    let pg_ref = time_cmd(&mut psql(&format!(
        "\\copy t FROM '{}' WITH (FORMAT csv, DELIMITER ';', HEADER true)",
        local.display()
    )));
    println!(
        "references: sqlite3 .import {}, PostgreSQL \\copy {}",
        secs(sqlite_ref),
        secs(pg_ref)
    );

    // Floors: the same rows written into IRP's own `offers` table (its columns, indexes and,
    // on SQLite, WAL journal) by the database alone, with nothing to parse or check.
    const COLS: &str = "refurbisher_id, sku, ean, name, stock_available, price_purchase_minor, price_consumer_minor, \
        currency, tax_percentage, attributes, content_hash, active, first_seen_at, last_seen_at, last_changed_at";
    const AT: &str = "2026-11-23T10:00:00.000000+00:00";
    let lite = TestDb::new(Backend::Sqlite).await;
    let lite_path = lite.url.trim_start_matches("sqlite:").to_owned();
    lite.store.close().await;
    let sqlite_floor = time_cmd(
        Command::new("sqlite3")
            .arg(&lite_path)
            .arg(format!("ATTACH '{}' AS r", refdb.display()))
            .arg(format!(
                "INSERT INTO offers ({COLS}) SELECT 15, sku, ean, name, CAST(stock AS INTEGER), \
                 CAST(replace(replace(buy, '.', ''), ',', '') AS INTEGER), CAST(replace(replace(srp, '.', ''), ',', '') AS INTEGER), \
                 'EUR', NULL, '{{}}', '0123456789abcdef', 1, '{AT}', '{AT}', '{AT}' FROM r.t"
            )),
    );
    let tsv = dir.path().join("offers.tsv");
    time_cmd(&mut psql(&format!(
        "\\copy (SELECT 15, sku, ean, name, stock::bigint, replace(replace(buy, '.', ''), ',', '')::bigint, \
         replace(replace(srp, '.', ''), ',', '')::bigint, 'EUR', NULL, '{{}}', '0123456789abcdef', true, '{AT}', '{AT}', '{AT}' FROM t) TO '{}'",
        tsv.display()
    )));
    let pg_floor = time_cmd(&mut psql(&format!(
        "\\copy offers ({COLS}) FROM '{}'",
        tsv.display()
    )));
    println!(
        "floors (the same rows into IRP's offers table, by the database alone): SQLite INSERT … SELECT {}, PostgreSQL \\copy {}",
        secs(sqlite_floor),
        secs(pg_floor)
    );

    println!();
    println!(
        "| Store | (a) full import | target | (b) 1 % changed | target ≤ 0.5×(a) | (c) peak RSS | target |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (backend, full, delta, peak) in results {
        let (reference, factor, name) = match backend {
            Backend::Sqlite => (sqlite_ref, 1.5, "sqlite3 .import"),
            Backend::Postgres => (pg_ref, 2.0, "\\copy"),
        };
        let limit = reference.mul_f64(factor);
        let mark = |ok: bool| if ok { "met" } else { "MISSED" };
        println!(
            "| {backend} | {} | ≤ {factor}× {name} = {} ({}) | {} | {} ({}) | {peak:.0} MiB | ≤ 100 MiB ({}) |",
            secs(full),
            secs(limit),
            mark(full <= limit),
            secs(delta),
            secs(full.mul_f64(0.5)),
            mark(delta <= full.mul_f64(0.5)),
            mark(peak <= 100.0)
        );
    }
}

fn tracing_subscriber_init() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter("irp_pipeline=debug,irp_store=debug,irp_clients=info")
        .try_init();
}
