//! Channel sync benchmark: a channel of N products (default 100,000) in a fake
//! Shopware on loopback that knows every product. First a full sync pushes them all; then a
//! feed run changes 1 % of the offers (a new purchase price) and the delta sync pushes only the
//! products it changed — the fake counts the rows it received. Reference in the same run: the
//! full sync itself (every product), and a delta sync with nothing changed.
//!
//! ```sh
//! cargo run --release -p irp-pipeline --example channel_bench -- 100000
//! ```
//! (IRP_BENCH_ONLY=sqlite or postgres runs one backend; PostgreSQL as in the tests.)

#![allow(clippy::unwrap_used, clippy::print_stdout)] // a benchmark program

use std::io::Write as _;
use std::time::Instant;

use irp_core::config::{parse_channels, parse_document};
use irp_core::values::gtin::check_digit;
use irp_pipeline::channel;
use irp_pipeline::feed::import_file;
use irp_store::Backend;
use irp_store::testkit::TestDb;
use irp_testkit::fake_shopware::{FakeShopware, FakeShopwareConfig};

fn ean(i: u64) -> String {
    let body: Vec<u8> = format!("872{:09}", i % 1_000_000_000)
        .bytes()
        .map(|b| b - b'0')
        .collect();
    let mut s: String = body.iter().map(|d| char::from(b'0' + d)).collect();
    s.push(char::from(b'0' + check_digit(&body)));
    s
}

fn generate(path: &std::path::Path, rows: u64, changed_every: Option<u64>) {
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    writeln!(
        f,
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP"
    )
    .unwrap();
    for i in 0..rows {
        let mut euros = 50 + (i * 7919) % 1500;
        if changed_every.is_some_and(|n| i % n == 0) {
            euros += 1;
        }
        writeln!(
            f,
            "SKU-{i:07};Refurbished phone {};{};{};{euros},00;{},00",
            i % 5000,
            2 + i % 7,
            ean(i),
            euros * 2
        )
        .unwrap();
    }
    f.flush().unwrap();
}

async fn bench(backend: Backend, products: u64) {
    let db = TestDb::new(backend).await;
    let store = &db.store;
    let dir = tempfile::tempdir().unwrap();
    let flexit = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/flexit.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let doc = parse_document(&flexit);
    irp_pipeline::catalog::apply_refurbishers(store, &doc.refurbishers, "bench")
        .await
        .unwrap();
    let seller = store.refurbishers().get("flexit").await.unwrap().unwrap();
    let cfg = FakeShopwareConfig::default();
    let shop = FakeShopware::start(cfg.clone()).await;
    for i in 0..products {
        shop.add_product(&ean(i), &ean(i), 0, 1.0);
    }
    let channels = format!(
        r#"{{"channels": {{"refurbished-direct": {{"name": "Refurbished Direct", "shopware": {{
            "url": "{}", "client_id": "{}", "client_secret": "{}"}}}}}}}}"#,
        shop.url, cfg.client_id, cfg.client_secret
    );
    let parsed = parse_channels(&channels);
    assert!(parsed.is_ok(), "{:?}", parsed.diagnostics);
    irp_pipeline::catalog::apply_channels(store, &parsed.channels, "bench")
        .await
        .unwrap();
    let path = dir.path().join("feed.csv");
    generate(&path, products, None);
    let t = Instant::now();
    let rep = import_file(store, &seller, &path, "bench").await.unwrap();
    println!(
        "## {backend:?}: {products} products in one channel; build: import of {} offers {:.1} s",
        rep.created,
        t.elapsed().as_secs_f64()
    );
    let sw = channel::connect(store, None, "refurbished-direct")
        .await
        .unwrap();

    let report = |what: &str, r: &channel::PushReport, rows_at_shop: usize| {
        println!(
            "{what}: {} products pushed in {} sync requests ({} requests in all), {:.2} s, {:.0} products/s; the shop received {} product rows",
            r.pushed,
            r.batches,
            r.requests,
            r.ms as f64 / 1000.0,
            r.pushed as f64 / (r.ms.max(1) as f64 / 1000.0),
            rows_at_shop
        );
    };
    let rows_at_shop = |shop: &FakeShopware| -> usize {
        shop.requests()
            .iter()
            .filter(|r| r.path == "/api/_action/sync")
            .map(|r| r.sync_rows)
            .sum()
    };

    shop.clear_requests();
    let full = channel::push(store, &sw, true).await.unwrap();
    assert!(full.error.is_none(), "{full:?}");
    report("full sync (reference)", &full, rows_at_shop(&shop));

    shop.clear_requests();
    let idle = channel::push(store, &sw, false).await.unwrap();
    report(
        "delta with nothing changed (reference)",
        &idle,
        rows_at_shop(&shop),
    );

    for round in 1..=3u64 {
        let path = dir.path().join(format!("change-{round}.csv"));
        generate(&path, products, (round % 2 == 1).then_some(100));
        let rep = import_file(store, &seller, &path, "bench").await.unwrap();
        let changed = rep.catalog.as_ref().map_or(0, |c| c.channel_rows_changed);
        shop.clear_requests();
        let delta = channel::push(store, &sw, false).await.unwrap();
        assert!(delta.error.is_none(), "{delta:?}");
        let received = rows_at_shop(&shop);
        assert_eq!(
            received as u64, changed,
            "the delta pushes exactly the changed rows"
        );
        report(
            &format!(
                "delta after a 1 % feed change, round {round} ({} offers updated, {changed} channel rows changed)",
                rep.updated
            ),
            &delta,
            received,
        );
    }
}

#[tokio::main]
async fn main() {
    let products: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(100_000);
    let only = std::env::var("IRP_BENCH_ONLY").ok();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let name = format!("{backend:?}").to_lowercase();
        if only.as_deref().is_some_and(|o| o != name) {
            continue;
        }
        bench(backend, products).await;
    }
}
