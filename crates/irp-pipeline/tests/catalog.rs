//! The catalog behind feed runs, on both databases: each run recomputes the products of the
//! EANs it touched (and only those), the best offer follows stock, price and approval, channels
//! sell only their refurbishers and mark what changed for the sync, and the price guard holds
//! implausible purchase prices until an operator decides.

#![allow(clippy::unwrap_used)] // a panic is how a test fails
// Amounts in cents read best as euros_cents: 160_23 is €160.23.
#![allow(clippy::inconsistent_digit_grouping)]

use irp_core::config::{parse_channels, parse_document};
use irp_pipeline::feed::{ImportReport, import_file};
use irp_store::catalog::ChannelProduct;
use irp_store::db_tests;
use irp_store::refurbishers::StoredRefurbisher;
use irp_store::testkit::TestDb;

const E1: &str = "8712345678906";
const E2: &str = "8712345678913";
const E3: &str = "8712345678920";

async fn apply(db: &TestDb, text: &str) -> StoredRefurbisher {
    let doc = parse_document(text);
    assert!(doc.is_ok(), "{:?}", doc.diagnostics);
    let out = irp_pipeline::catalog::apply_refurbishers(&db.store, &doc.refurbishers, "test")
        .await
        .unwrap();
    db.store
        .refurbishers()
        .get(&out[0].key)
        .await
        .unwrap()
        .unwrap()
}

fn config(file: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// FlexIT (id 15: 17 %, €10.00 shipping, €3.18 home copy tax, threshold 1) and iUsed (id 1:
/// 99 %, €4.38 home copy tax, threshold 0), as the seeds configure them.
async fn seed_refurbishers(db: &TestDb) -> (StoredRefurbisher, StoredRefurbisher) {
    (
        apply(db, &config("flexit.json")).await,
        apply(db, &config("iused-stores.json")).await,
    )
}

/// Refurbished Direct selling every refurbisher, Econocom only FlexIT with 2 points less margin.
const TWO_CHANNELS: &str = r#"{"channels": {
    "refurbished-direct": {"name": "Refurbished Direct"},
    "econocom": {"name": "Econocom", "refurbishers": ["flexit"], "margin_adjustment": -2}
}}"#;

async fn channels(db: &TestDb, text: &str) {
    let doc = parse_channels(text);
    assert!(doc.is_ok(), "{:?}", doc.diagnostics);
    irp_pipeline::catalog::apply_channels(&db.store, &doc.channels, "test")
        .await
        .unwrap();
}

struct Files(tempfile::TempDir, std::cell::Cell<u32>);

impl Files {
    fn new() -> Files {
        Files(tempfile::tempdir().unwrap(), std::cell::Cell::new(0))
    }
    fn write(&self, ext: &str, text: &str) -> std::path::PathBuf {
        self.1.set(self.1.get() + 1);
        let p = self.0.path().join(format!("feed-{}.{ext}", self.1.get()));
        std::fs::write(&p, text).unwrap();
        p
    }
}

/// A FlexIT CSV feed of (sku, ean, stock, purchase price in Dutch notation).
fn flexit_csv(rows: &[(&str, &str, i64, &str)]) -> String {
    let mut s = "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n".to_owned();
    for (sku, ean, stock, price) in rows {
        s.push_str(&format!(
            "{sku};Device {sku};{stock};{ean};{price};9999,00\n"
        ));
    }
    s
}

/// An iUsed JSON feed of (sku, ean, stock, purchase price).
fn iused_json(rows: &[(&str, &str, i64, f64)]) -> String {
    let offers: Vec<serde_json::Value> = rows
        .iter()
        .map(|(sku, ean, stock, price)| {
            serde_json::json!({"description": format!("iUsed {sku}"), "sku": sku, "quantity": stock, "ean": ean,
                "costPrice": price, "priceConsumer": 9999, "currencyIso": "EUR", "taxPercentage": 21})
        })
        .collect();
    serde_json::json!({ "offers": offers }).to_string()
}

async fn import(
    db: &TestDb,
    r: &StoredRefurbisher,
    files: &Files,
    ext: &str,
    text: &str,
) -> ImportReport {
    let rep = import_file(&db.store, r, &files.write(ext, text), "manual")
        .await
        .unwrap();
    assert!(
        matches!(rep.status.as_str(), "succeeded" | "unchanged"),
        "{rep:?}"
    );
    rep
}

/// (best offer's SKU, price incl. VAT, sellable) of a product.
async fn best(db: &TestDb, ean: &str) -> (Option<String>, Option<i64>, i64) {
    let p = db.store.catalog().product(ean).await.unwrap().unwrap();
    (p.best_sku, p.price_incl_minor, p.sellable)
}

async fn channel_row(db: &TestDb, channel: &str, ean: &str) -> Option<ChannelProduct> {
    db.store
        .catalog()
        .channel_rows_of(ean)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.channel == channel)
}

db_tests!(
    the_best_offer_follows_each_feed_run_and_only_touched_products_are_recomputed,
    channels_sell_their_refurbishers_and_mark_changes_for_the_sync,
    a_purchase_price_jump_is_held_until_an_operator_decides,
    settings_and_approval_changes_reprice_the_refurbishers_products,
    the_walk_over_the_whole_catalog_computes_what_marks_per_ean_compute,
);

async fn the_best_offer_follows_each_feed_run_and_only_touched_products_are_recomputed(db: TestDb) {
    let (flexit, iused) = seed_refurbishers(&db).await;
    let f = Files::new();
    let rep = import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[
            ("A", E1, 5, "100,00"),
            ("B", E2, 3, "50,00"),
            ("C", E3, 2, "10,00"),
        ]),
    )
    .await;
    assert_eq!(rep.catalog.as_ref().unwrap().eans, 3);
    // The seed's worked example: FlexIT €100 → €160.23, 5 in stock − threshold 1.
    assert_eq!(best(&db, E1).await, (Some("A".into()), Some(160_23), 4));

    // iUsed offers E1 and E2: €60 → (60 + 4.38) × 1.99 × 1.21 = 155.02 beats 160.23.
    let rep = import(
        &db,
        &iused,
        &f,
        "json",
        &iused_json(&[("IU-1", E1, 1, 60.0), ("IU-2", E2, 9, 90.0)]),
    )
    .await;
    assert_eq!(rep.catalog.as_ref().unwrap().eans, 2, "E3 is not touched");
    assert_eq!(best(&db, E1).await, (Some("IU-1".into()), Some(155_02), 1));
    assert_eq!(best(&db, E2).await.0.as_deref(), Some("B"));
    let p = db.store.catalog().product(E1).await.unwrap().unwrap();
    assert_eq!((p.offers_count, p.display_name()), (2, "iUsed IU-1"));

    // iUsed sells out of E1: FlexIT wins it back. Only the changed offer's product is
    // recomputed.
    let rep = import(
        &db,
        &iused,
        &f,
        "json",
        &iused_json(&[("IU-1", E1, 0, 60.0), ("IU-2", E2, 9, 90.0)]),
    )
    .await;
    assert_eq!(rep.catalog.as_ref().unwrap().eans, 1);
    assert_eq!(best(&db, E1).await.0.as_deref(), Some("A"));

    // An offer moves to another EAN: both products are recomputed. FlexIT's B leaves E2
    // (iUsed's IU-2 remains) and joins E3, where C (€10) stays the cheaper one.
    let rep = import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[
            ("A", E1, 5, "100,00"),
            ("B", E3, 3, "50,00"),
            ("C", E3, 2, "10,00"),
        ]),
    )
    .await;
    assert_eq!(rep.catalog.as_ref().unwrap().eans, 2, "E2 and E3");
    assert_eq!(best(&db, E2).await.0.as_deref(), Some("IU-2"));
    assert_eq!(best(&db, E3).await.0.as_deref(), Some("C"));
    assert_eq!(
        db.store
            .catalog()
            .product(E3)
            .await
            .unwrap()
            .unwrap()
            .offers_count,
        2
    );

    // A removed offer's product loses it; a product with no sellable offer has no best offer.
    let rep = import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 5, "100,00"), ("B", E3, 3, "50,00")]),
    )
    .await;
    assert_eq!(rep.removed, 1);
    assert_eq!(best(&db, E3).await.0.as_deref(), Some("B"));
    let rep = import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 5, "100,00"), ("B", E3, 1, "50,00")]),
    )
    .await;
    assert_eq!(rep.updated, 1);
    assert_eq!(
        best(&db, E3).await,
        (None, None, 0),
        "1 unit is the threshold"
    );
    assert_eq!(db.store.catalog().dirty_count().await.unwrap(), 0);
}

async fn channels_sell_their_refurbishers_and_mark_changes_for_the_sync(db: TestDb) {
    let (flexit, iused) = seed_refurbishers(&db).await;
    channels(&db, TWO_CHANNELS).await;
    let f = Files::new();
    import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 5, "100,00")]),
    )
    .await;
    import(
        &db,
        &iused,
        &f,
        "json",
        &iused_json(&[("IU-1", E1, 3, 60.0), ("IU-2", E2, 3, 60.0)]),
    )
    .await;
    let rd = channel_row(&db, "refurbished-direct", E1).await.unwrap();
    assert_eq!(
        (rd.price_incl_minor, rd.stock, rd.active),
        (Some(155_02), 3, true)
    );
    // Econocom sells FlexIT only, at 15 % instead of 17 %: 113.18 × 1.15 × 1.21 = 157.49.
    let eco = channel_row(&db, "econocom", E1).await.unwrap();
    assert_eq!((eco.price_incl_minor, eco.stock), (Some(157_49), 4));
    assert_eq!(eco.tax_percentage.as_deref(), Some("21"));
    assert_eq!(eco.purchase_minor, Some(100_00));
    assert!(
        channel_row(&db, "econocom", E2).await.is_none(),
        "never sold there, nothing to push"
    );
    assert!(eco.dirty && eco.pushed_revision.is_none());

    // The sync pushes what is dirty and records it; a push of an older revision is ignored.
    let dirty = db
        .store
        .catalog()
        .dirty_channel_rows("econocom", 100)
        .await
        .unwrap();
    assert_eq!(dirty.len(), 1);
    assert!(
        db.store
            .catalog()
            .channel_row_pushed(&dirty[0])
            .await
            .unwrap()
    );
    assert!(
        db.store
            .catalog()
            .dirty_channel_rows("econocom", 100)
            .await
            .unwrap()
            .is_empty()
    );
    let stale = ChannelProduct {
        revision: dirty[0].revision - 1,
        ..dirty[0].clone()
    };
    assert!(!db.store.catalog().channel_row_pushed(&stale).await.unwrap());

    // A run that changes nothing a channel sells leaves its rows alone…
    import(
        &db,
        &iused,
        &f,
        "json",
        &iused_json(&[("IU-1", E1, 3, 60.0), ("IU-2", E2, 4, 60.0)]),
    )
    .await;
    assert!(!channel_row(&db, "econocom", E1).await.unwrap().dirty);
    // …and one that does makes them dirty with a new revision; selling out deactivates.
    import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 1, "100,00")]),
    )
    .await;
    let eco2 = channel_row(&db, "econocom", E1).await.unwrap();
    assert_eq!((eco2.active, eco2.stock, eco2.dirty), (false, 0, true));
    assert_eq!(eco2.revision, eco.revision + 1);
    assert_eq!(eco2.pushed_revision, Some(eco.revision));
    assert_eq!(eco2.pushed_stock, Some(4));
    // Refurbished Direct still sells iUsed's unit.
    let rd2 = channel_row(&db, "refurbished-direct", E1).await.unwrap();
    assert_eq!((rd2.active, rd2.offer_id), (true, rd.offer_id));

    // A channel naming an unknown refurbisher is refused with the known ones.
    let doc = parse_channels(r#"{"channels": {"econocom": {"refurbishers": ["flexlt"]}}}"#);
    let err = irp_pipeline::catalog::apply_channels(&db.store, &doc.channels, "test")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no refurbisher `flexlt`"), "{err}");
    assert!(err.contains("did you mean `flexit`?"), "{err}");
}

async fn a_purchase_price_jump_is_held_until_an_operator_decides(db: TestDb) {
    let (flexit, _) = seed_refurbishers(&db).await;
    let f = Files::new();
    import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 5, "100,00"), ("B", E2, 5, "100,00")]),
    )
    .await;
    // A decimal point read as a thousands separator: 100.00 becomes 10,000.
    let rep = import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 5, "10.000"), ("B", E2, 5, "140,00")]),
    )
    .await;
    assert_eq!(rep.price_holds, 1, "B moved 40 %: within 50 %");
    assert_eq!(best(&db, E1).await.1, Some(160_23), "the old price stays");
    let a = db.store.offers().get(15, "A").await.unwrap().unwrap();
    assert_eq!(
        (
            a.price_purchase_minor,
            a.applied_purchase_minor,
            a.price_hold.as_deref()
        ),
        (10_000_00, Some(100_00), Some("pending"))
    );
    let alerts = db.store.monitor().alerts_open(15).await.unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0].0, "price_change_held");
    assert!(alerts[0].1.contains("irp prices held flexit"), "{alerts:?}");
    let held = db
        .store
        .offers()
        .held_prices(None, false, 10)
        .await
        .unwrap();
    assert_eq!(held.len(), 1);

    // Rejected: the old price stays, also when the feed repeats the rejected price with other
    // stock; the alert is resolved.
    irp_pipeline::catalog::decide_price(&db.store, 15, "A", false, "test")
        .await
        .unwrap();
    assert!(db.store.monitor().alerts_open(15).await.unwrap().is_empty());
    import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 6, "10.000"), ("B", E2, 5, "140,00")]),
    )
    .await;
    let a = db.store.offers().get(15, "A").await.unwrap().unwrap();
    assert_eq!(a.price_hold.as_deref(), Some("rejected"));
    assert_eq!(best(&db, E1).await, (Some("A".into()), Some(160_23), 5));
    assert!(
        db.store
            .offers()
            .held_prices(None, false, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.store
            .offers()
            .held_prices(None, true, 10)
            .await
            .unwrap()
            .len(),
        1
    );

    // A price back within the ratio of the applied one lifts the hold.
    import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 6, "110,00"), ("B", E2, 5, "140,00")]),
    )
    .await;
    let a = db.store.offers().get(15, "A").await.unwrap().unwrap();
    assert_eq!((a.applied_purchase_minor, a.price_hold), (None, None));
    // (110 + 13.18) × 1.17 × 1.21 = 174.39.
    assert_eq!(best(&db, E1).await.1, Some(174_39));

    // Another jump, accepted: priced from the new price at once.
    import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 6, "20,00"), ("B", E2, 5, "140,00")]),
    )
    .await;
    assert_eq!(best(&db, E1).await.1, Some(174_39));
    let a = irp_pipeline::catalog::decide_price(&db.store, 15, "A", true, "test")
        .await
        .unwrap();
    assert_eq!((a.applied_purchase_minor, a.price_hold), (None, None));
    // (20 + 13.18) × 1.17 × 1.21 = 46.97.
    assert_eq!(best(&db, E1).await.1, Some(46_97));
    assert!(db.store.monitor().alerts_open(15).await.unwrap().is_empty());
    let err = irp_pipeline::catalog::decide_price(&db.store, 15, "A", true, "test")
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("no held price change"), "{err}");
    let audit = db.store.audit_list(10).await.unwrap();
    assert!(audit.iter().any(|e| e.action == "price.accept"));
    assert!(audit.iter().any(|e| e.action == "price.reject"));
}

async fn settings_and_approval_changes_reprice_the_refurbishers_products(db: TestDb) {
    let (flexit, iused) = seed_refurbishers(&db).await;
    let f = Files::new();
    import(
        &db,
        &flexit,
        &f,
        "csv",
        &flexit_csv(&[("A", E1, 5, "100,00")]),
    )
    .await;
    import(
        &db,
        &iused,
        &f,
        "json",
        &iused_json(&[("IU-1", E1, 3, 60.0)]),
    )
    .await;
    assert_eq!(best(&db, E1).await.0.as_deref(), Some("IU-1"));

    // iUsed is no longer approved: FlexIT sells E1.
    let doc = config("iused-stores.json").replace(
        "\"approved_refurbished\": true",
        "\"approved_refurbished\": false",
    );
    assert_ne!(doc, config("iused-stores.json"));
    apply(&db, &doc).await;
    assert_eq!(best(&db, E1).await.0.as_deref(), Some("A"));

    // FlexIT's margin rule for E1 and rounding to .99: 113.18 × 1.10 × 1.21 = 150.64 → 150.99.
    let doc = config("flexit.json").replace(
        "\"default_margin\": 17,",
        &format!(
            "\"default_margin\": 17, \"margin_rules\": [{{\"ean\": \"{E1}\", \"margin\": 10}}], \"price_rounding\": \".99\","
        ),
    );
    assert_ne!(doc, config("flexit.json"));
    apply(&db, &doc).await;
    assert_eq!(best(&db, E1).await.1, Some(150_99));
    assert_eq!(db.store.catalog().dirty_count().await.unwrap(), 0);
}

/// What the catalog computed, without the times and revisions: every product, and every
/// channel row of every product.
async fn computed(db: &TestDb) -> Vec<String> {
    let mut out = Vec::new();
    for p in db
        .store
        .catalog()
        .products(None, false, 100_000, 0)
        .await
        .unwrap()
    {
        out.push(format!(
            "{} {:?} {:?} {:?} {} {} {:?}",
            p.ean,
            p.best_sku,
            p.price_incl_minor,
            p.currency,
            p.sellable,
            p.offers_count,
            p.feed_name
        ));
        for c in db.store.catalog().channel_rows_of(&p.ean).await.unwrap() {
            out.push(format!(
                "  {} {:?} {:?} {:?} {:?} {} {} {}",
                c.channel,
                c.offer_id,
                c.price_incl_minor,
                c.tax_percentage,
                c.purchase_minor,
                c.stock,
                c.active,
                c.dirty
            ));
        }
    }
    out
}

/// Recompute as `irp_pipeline::catalog::recompute` does, with a walk of `walk_step` offers per
/// step (so a small catalog crosses many ranges).
async fn recompute_walking(db: &TestDb, walk_step: i64) -> irp_store::catalog::RecomputeStats {
    let mut run = db.store.catalog().recompute_begin().await.unwrap().unwrap();
    assert!(run.walks_everything());
    run.set_walk_step(walk_step);
    while let Some(input) = run.next_step().await.unwrap() {
        let ctx = run.context();
        let writes = irp_core::catalog::step::decide(
            &ctx.sellers,
            &ctx.channels,
            irp_store::catalog::CATALOG_CURRENCY,
            &input,
        );
        run.write(&input, &writes).await.unwrap();
    }
    run.commit().await.unwrap()
}

async fn the_walk_over_the_whole_catalog_computes_what_marks_per_ean_compute(db: TestDb) {
    let (flexit, iused) = seed_refurbishers(&db).await;
    channels(&db, TWO_CHANNELS).await;
    let f = Files::new();
    // 60 FlexIT offers, 30 iUsed offers on every other EAN (cheaper on some), stock 0 on some.
    let eans: Vec<String> = (0..60).map(irp_testkit::feeds::ean).collect();
    let skus: Vec<String> = (0..60).map(|i| format!("F{i}")).collect();
    let prices: Vec<String> = (0..60).map(|i| format!("{},00", 100 + i * 3)).collect();
    let rows: Vec<(&str, &str, i64, &str)> = (0..60)
        .map(|i| {
            (
                skus[i].as_str(),
                eans[i].as_str(),
                (i % 7) as i64,
                prices[i].as_str(),
            )
        })
        .collect();
    import(&db, &flexit, &f, "csv", &flexit_csv(&rows)).await;
    let iskus: Vec<String> = (0..30).map(|i| format!("IU{i}")).collect();
    let irows: Vec<(&str, &str, i64, f64)> = (0..30)
        .map(|i| {
            (
                iskus[i].as_str(),
                eans[i * 2].as_str(),
                (i % 3) as i64,
                90.0 + i as f64 * 5.0,
            )
        })
        .collect();
    import(&db, &iused, &f, "json", &iused_json(&irows)).await;
    // FlexIT drops ten offers (they stay, inactive).
    import(&db, &flexit, &f, "csv", &flexit_csv(&rows[10..])).await;
    let by_marks = computed(&db).await;
    assert!(by_marks.len() > 60 + 60, "{by_marks:#?}");

    // The whole catalog walked, 7 offers per step: every EAN visited, nothing to write.
    db.store.catalog().mark_all().await.unwrap();
    assert_eq!(db.store.catalog().dirty_count().await.unwrap(), 60);
    let stats = recompute_walking(&db, 7).await;
    assert_eq!(
        (
            stats.eans,
            stats.products_changed,
            stats.channel_rows_changed
        ),
        (60, 0, 0)
    );
    assert_eq!(computed(&db).await, by_marks);
    assert_eq!(db.store.catalog().dirty_count().await.unwrap(), 0);

    // A margin change priced EAN by EAN, and back.
    let changed = config("flexit.json").replace("\"default_margin\": 17", "\"default_margin\": 25");
    assert_ne!(changed, config("flexit.json"));
    apply(&db, &changed).await;
    let margin_by_marks = computed(&db).await;
    assert_ne!(margin_by_marks, by_marks);
    apply(&db, &config("flexit.json")).await;
    // The same change priced by a walk over everything (the whole-catalog mark is there when
    // the change commits): the same rows.
    db.store.catalog().mark_all().await.unwrap();
    let doc = parse_document(&changed);
    db.store
        .refurbishers()
        .apply(&doc.refurbishers, "test")
        .await
        .unwrap();
    let stats = recompute_walking(&db, 11).await;
    assert_eq!(stats.eans, 60);
    assert!(stats.products_changed > 0 && stats.channel_rows_changed > 0);
    assert_eq!(computed(&db).await, margin_by_marks);
}
