//! Catalog benchmark: a catalog of N offers (default 1,000,000) from two refurbishers
//! offering the same N/2 EANs, sold in two channels. After it is built, a feed run changes 1 %
//! of the catalog (N/100 offers of one refurbisher: a new purchase price); the run recomputes
//! the prices and best offers of the products it touched (catalog + both channels). Reference
//! measured in the same run: recomputing the whole catalog.
//!
//! ```sh
//! cargo run --release -p irp-pipeline --example catalog_bench -- 1000000
//! ```
//! (PostgreSQL from IRP_TEST_PG_URL or 127.0.0.1:5432, as the tests; IRP_BENCH_ONLY=sqlite or
//! postgres runs one backend; IRP_BENCH_LOG=1 logs each step (IRP_BENCH_FILTER sets the log
//! filter, default `irp_store::catalog=debug,irp_pipeline=warn`); IRP_BENCH_KEEP=1 keeps the
//! database after the 1 % rounds, skipping the reference, to look at query plans.)

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark program

use std::io::Write as _;
use std::time::Instant;

use irp_core::config::{parse_channels, parse_document};
use irp_pipeline::feed::import_file;
use irp_store::Backend;
use irp_store::testkit::TestDb;
use irp_testkit::feeds::ean;

/// A FlexIT-format feed of `rows` offers, one per EAN; every `changed_every`th row gets a
/// purchase price one euro higher (within max_price_change_ratio: applied, not held).
fn generate(path: &std::path::Path, rows: u64, seed: u64, changed_every: Option<u64>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP"
    )
    .unwrap();
    for i in 0..rows {
        let mut euros = 50 + (i * 7919 + seed * 104_729) % 1500;
        if changed_every.is_some_and(|n| i % n == 0) {
            euros += 1;
        }
        writeln!(
            f,
            "SKU-{i:07};Refurbished smartphone model {} 128GB Grade A;{};{};{euros},{:02};{},00",
            i % 5000,
            (i + seed) % 7,
            ean(i),
            (i + seed) % 100,
            euros * 2
        )
        .unwrap();
    }
    f.flush().unwrap();
}

fn refurbisher_doc(key: &str, id: i64, margin: i64) -> String {
    let flexit = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/flexit.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    flexit
        .replacen("\"flexit\"", &format!("\"{key}\""), 1)
        .replace(
            "\"refurbisher_id\": 15",
            &format!("\"refurbisher_id\": {id}"),
        )
        .replace(
            "\"supplier_id\": 10",
            &format!("\"supplier_id\": {}", id + 100),
        )
        .replace(
            "\"default_margin\": 17",
            &format!("\"default_margin\": {margin}"),
        )
}

async fn bench(backend: Backend, offers: u64) {
    let db = TestDb::new(backend).await;
    let store = &db.store;
    let dir = tempfile::tempdir().unwrap();
    let per = offers / 2;
    let mut sellers = Vec::new();
    for (key, id, margin) in [("flexit", 15, 17), ("second", 16, 15)] {
        let doc = parse_document(&refurbisher_doc(key, id, margin));
        assert!(doc.is_ok(), "{:?}", doc.diagnostics);
        irp_pipeline::catalog::apply_refurbishers(store, &doc.refurbishers, "bench")
            .await
            .unwrap();
        sellers.push(store.refurbishers().get(key).await.unwrap().unwrap());
    }
    let channels = std::fs::read_to_string(format!(
        "{}/../../config/channels.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    irp_pipeline::catalog::apply_channels(store, &parse_channels(&channels).channels, "bench")
        .await
        .unwrap();

    println!("## {backend:?}: {offers} offers, {per} products, 2 channels");
    for (n, r) in sellers.iter().enumerate() {
        let path = dir.path().join(format!("{}.csv", r.key));
        generate(&path, per, n as u64, None);
        let t = Instant::now();
        let rep = import_file(store, r, &path, "bench").await.unwrap();
        let c = rep.catalog.clone().unwrap();
        println!(
            "build: import of {} ({} offers) {:.2} s, of which catalog recompute of {} products {:.2} s",
            r.key,
            rep.created,
            t.elapsed().as_secs_f64(),
            c.eans,
            c.ms as f64 / 1000.0
        );
    }

    // 1 % of all offers = every 50th offer of one refurbisher's half.
    let every = 50;
    for round in 1..=3u64 {
        let path = dir.path().join(format!("change-{round}.csv"));
        // Alternate between the changed and the original prices so every round changes 1 %.
        generate(&path, per, 0, (round % 2 == 1).then_some(every));
        let t = Instant::now();
        let rep = import_file(store, &sellers[0], &path, "bench")
            .await
            .unwrap();
        let c = rep.catalog.clone().unwrap();
        println!(
            "1 % change, round {round}: {} offers updated ({:.1} % of {offers}); run {:.2} s; \
             catalog recompute of {} products: {} ms ({} products and {} channel rows written)",
            rep.updated,
            rep.updated as f64 * 100.0 / offers as f64,
            t.elapsed().as_secs_f64(),
            c.eans,
            c.ms,
            c.products_changed,
            c.channel_rows_changed
        );
    }

    if std::env::var_os("IRP_BENCH_KEEP").is_some() {
        // Keep the database for a look at the query plans.
        println!("kept: {}", db.url);
        std::mem::forget(db);
        return;
    }

    // Reference: the whole catalog.
    let t = Instant::now();
    store.catalog().mark_all().await.unwrap();
    let c = irp_pipeline::catalog::recompute(store).await.unwrap();
    println!(
        "reference, whole catalog: {} products recomputed in {:.2} s (marking included: {:.2} s)",
        c.eans,
        c.ms as f64 / 1000.0,
        t.elapsed().as_secs_f64()
    );
}

#[tokio::main]
async fn main() {
    if std::env::var_os("IRP_BENCH_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_env_filter(
                std::env::var("IRP_BENCH_FILTER")
                    .unwrap_or_else(|_| "irp_store::catalog=debug,irp_pipeline=warn".into()),
            )
            .try_init();
    }
    let offers: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let only = std::env::var("IRP_BENCH_ONLY").ok();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_lowercase();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        bench(backend, offers).await;
    }
}
