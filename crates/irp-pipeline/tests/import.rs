//! Feed runs end to end on both databases: files in, offers out, and every way a feed can be
//! bad leaves the stored offers as they were.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_core::config::parse_document;
use irp_pipeline::feed::{RunStatus, import_file};
use irp_store::db_tests;
use irp_store::refurbishers::StoredRefurbisher;
use irp_store::testkit::TestDb;

async fn refurbisher(db: &TestDb, file: &str) -> StoredRefurbisher {
    let path = format!(
        "{}/../../config/refurbishers/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc = parse_document(&std::fs::read_to_string(path).unwrap());
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

const HEAD: &str = "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n";

fn flexit_feed(rows: &[(&str, i64, &str)]) -> String {
    let mut s = HEAD.to_owned();
    for (sku, stock, price) in rows {
        s.push_str(&format!(
            "{sku};Device {sku};{stock};4006381333931;{price};999,00\n"
        ));
    }
    s
}

struct Feed(tempfile::TempDir);

impl Feed {
    fn new() -> Feed {
        Feed(tempfile::tempdir().unwrap())
    }
    fn write(&self, text: &str) -> std::path::PathBuf {
        let p = self.0.path().join(format!("feed-{}.csv", text.len()));
        std::fs::write(&p, text).unwrap();
        p
    }
}

async fn skus(db: &TestDb, rid: i64) -> Vec<(String, i64, i64)> {
    db.store
        .offers()
        .list(rid, false, 1000, 0)
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.sku, o.stock_available, o.price_purchase_minor))
        .collect()
}

db_tests!(
    a_flexit_feed_imports_then_reimports_unchanged,
    bad_rows_are_reported_and_the_rest_applied,
    an_empty_feed_is_quarantined_and_removes_nothing,
    mass_removal_is_quarantined_until_applied_on_purpose,
    an_unreadable_feed_fails_and_removes_nothing,
    a_reimport_updates_reactivates_and_removes_with_field_counts,
    a_large_feed_streams_through_many_batches,
    text_with_tabs_backslashes_and_line_breaks_is_stored_as_read,
);

async fn a_flexit_feed_imports_then_reimports_unchanged(db: TestDb) {
    let r = refurbisher(&db, "flexit.json").await;
    let f = Feed::new();
    let path = f.write(&flexit_feed(&[("A", 5, "1.234,56"), ("B", 0, "10,00")]));
    let rep = import_file(&db.store, &r, &path, "manual").await.unwrap();
    assert_eq!(rep.status, RunStatus::Succeeded, "{rep:?}");
    assert_eq!(
        (
            rep.rows_read,
            rep.rows_accepted,
            rep.rows_rejected,
            rep.created
        ),
        (2, 2, 0, 2)
    );
    assert_eq!(
        skus(&db, r.id).await,
        [("A".into(), 5, 123_456), ("B".into(), 0, 1000)]
    );
    let again = import_file(&db.store, &r, &path, "manual").await.unwrap();
    assert_eq!(again.status, RunStatus::Unchanged);
    let run = db
        .store
        .feed_runs()
        .get(again.run_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(run.status, "unchanged");

    // The same file read with another mapping is another feed: it is read again, not skipped.
    let mut remapped = r.model.clone();
    remapped
        .offers
        .as_mut()
        .unwrap()
        .mapping
        .insert("name".into(), "Flex IT Part Number".into());
    irp_pipeline::catalog::apply_refurbishers(&db.store, &[remapped], "test")
        .await
        .unwrap();
    let r = db
        .store
        .refurbishers()
        .get("flexit")
        .await
        .unwrap()
        .unwrap();
    let rep = import_file(&db.store, &r, &path, "manual").await.unwrap();
    assert_eq!(
        (rep.status, rep.updated),
        (RunStatus::Succeeded, 2),
        "{rep:?}"
    );
}

async fn bad_rows_are_reported_and_the_rest_applied(db: TestDb) {
    let r = refurbisher(&db, "flexit.json").await;
    let f = Feed::new();
    let mut text = flexit_feed(&[("A", 5, "12,50"), ("A", 6, "12,50"), ("C", -1, "1,00")]);
    text.push_str("D;x;1;4006381333931;12.50;1,00\n");
    let rep = import_file(&db.store, &r, &f.write(&text), "manual")
        .await
        .unwrap();
    assert_eq!(rep.status, RunStatus::Partial);
    assert_eq!(rep.rows_read, rep.rows_accepted + rep.rows_rejected);
    assert_eq!((rep.rows_accepted, rep.rows_rejected), (1, 3));
    let errors: Vec<String> = rep
        .errors
        .iter()
        .map(|e| {
            format!(
                "{} {}={:?}: {}",
                e.row,
                e.field.as_deref().unwrap_or("-"),
                e.value.as_deref().unwrap_or(""),
                e.message
            )
        })
        .collect();
    assert_eq!(
        errors,
        [
            "3 sku=\"A\": SKU already seen in this feed at row 2; this row is skipped",
            "4 stock_available=\"-1\": must not be negative",
            "5 price_purchase_amount=\"12.50\": expected a price written as in nl_NL (like 1.234,56)",
        ]
    );
    assert_eq!(
        db.store
            .feed_runs()
            .row_errors(rep.run_id)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(skus(&db, r.id).await, [("A".into(), 5, 1250)]);
}

async fn an_empty_feed_is_quarantined_and_removes_nothing(db: TestDb) {
    let r = refurbisher(&db, "flexit.json").await;
    let f = Feed::new();
    import_file(
        &db.store,
        &r,
        &f.write(&flexit_feed(&[("A", 5, "1,00")])),
        "manual",
    )
    .await
    .unwrap();
    let rep = import_file(&db.store, &r, &f.write(HEAD), "manual")
        .await
        .unwrap();
    assert_eq!(rep.status, RunStatus::Quarantined);
    assert!(
        rep.message
            .as_deref()
            .unwrap()
            .starts_with("the feed has no offers"),
        "{:?}",
        rep.message
    );
    assert_eq!(skus(&db, r.id).await, [("A".into(), 5, 100)]);
    let alerts = db.store.monitor().alerts_open(r.id).await.unwrap();
    assert_eq!(alerts[0].0, "feed_quarantined");
}

async fn mass_removal_is_quarantined_until_applied_on_purpose(db: TestDb) {
    let r = refurbisher(&db, "flexit.json").await;
    let f = Feed::new();
    import_file(
        &db.store,
        &r,
        &f.write(&flexit_feed(&[
            ("A", 1, "1,00"),
            ("B", 1, "1,00"),
            ("C", 1, "1,00"),
        ])),
        "manual",
    )
    .await
    .unwrap();
    let rep = import_file(
        &db.store,
        &r,
        &f.write(&flexit_feed(&[("A", 1, "1,00")])),
        "manual",
    )
    .await
    .unwrap();
    assert_eq!(rep.status, RunStatus::Quarantined);
    assert_eq!(rep.removed, 2);
    assert_eq!(skus(&db, r.id).await.len(), 3, "nothing applied");
    // An operator looks at it and applies it anyway.
    db.store
        .feed_runs()
        .apply(r.id, rep.run_id, "succeeded", 500_000)
        .await
        .unwrap();
    assert_eq!(skus(&db, r.id).await, [("A".into(), 1, 100)]);
}

async fn an_unreadable_feed_fails_and_removes_nothing(db: TestDb) {
    let r = refurbisher(&db, "iused-stores.json").await;
    let f = Feed::new();
    let good = r#"{"offers":[{"description":"iPad","sku":"IU-1","quantity":3,"ean":"4006381333931","costPrice":199.95,"priceConsumer":329,"currencyIso":"EUR","taxPercentage":21}]}"#;
    assert_eq!(
        import_file(&db.store, &r, &f.write(good), "manual")
            .await
            .unwrap()
            .status,
        RunStatus::Succeeded
    );
    let truncated = &good[..good.len() - 10];
    let rep = import_file(&db.store, &r, &f.write(truncated), "manual")
        .await
        .unwrap();
    assert_eq!(rep.status, RunStatus::Failed);
    assert!(
        rep.message
            .as_deref()
            .unwrap()
            .starts_with("JSON is not valid at line 1"),
        "{:?}",
        rep.message
    );
    assert_eq!(
        db.store
            .offers()
            .list(r.id, false, 10, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    let rep = import_file(&db.store, &r, &f.write(r#"{"data": []}"#), "manual")
        .await
        .unwrap();
    assert_eq!(rep.status, RunStatus::Failed);
    assert_eq!(
        rep.message.as_deref(),
        Some("offer_location `offers` is not in the feed; check `offer_location`")
    );
}

async fn a_reimport_updates_reactivates_and_removes_with_field_counts(db: TestDb) {
    let r = refurbisher(&db, "flexit.json").await;
    let f = Feed::new();
    let first = flexit_feed(&[
        ("A", 1, "1,00"),
        ("B", 1, "1,00"),
        ("C", 1, "1,00"),
        ("D", 1, "1,00"),
    ]);
    import_file(&db.store, &r, &f.write(&first), "manual")
        .await
        .unwrap();
    // D goes (1 of 4 is within the default max_removal_ratio), B changes stock, C its price.
    let second = flexit_feed(&[("A", 1, "1,00"), ("B", 7, "1,00"), ("C", 1, "2,50")]);
    let rep = import_file(&db.store, &r, &f.write(&second), "manual")
        .await
        .unwrap();
    assert_eq!(rep.status, RunStatus::Succeeded, "{rep:?}");
    assert_eq!(
        (rep.created, rep.updated, rep.unchanged, rep.removed),
        (0, 2, 1, 1),
        "{rep:?}"
    );
    assert_eq!(
        rep.field_changes.into_iter().collect::<Vec<_>>(),
        [
            ("price_purchase_amount".to_owned(), 1),
            ("stock_available".to_owned(), 1)
        ]
    );
    assert_eq!(
        skus(&db, r.id).await,
        [
            ("A".into(), 1, 100),
            ("B".into(), 7, 100),
            ("C".into(), 1, 250)
        ]
    );
    let run = db.store.feed_runs().get(rep.run_id).await.unwrap().unwrap();
    assert_eq!(
        (run.status.as_str(), run.updated, run.removed),
        ("succeeded", 2, 1)
    );
    assert!(run.applied_at.is_some());

    // D comes back: created again, with the feed's values.
    let third = flexit_feed(&[
        ("A", 1, "1,00"),
        ("B", 7, "1,00"),
        ("C", 1, "2,50"),
        ("D", 3, "4,00"),
    ]);
    let rep = import_file(&db.store, &r, &f.write(&third), "manual")
        .await
        .unwrap();
    assert_eq!(
        (rep.created, rep.updated, rep.unchanged, rep.removed),
        (1, 0, 3, 0),
        "{rep:?}"
    );
    assert_eq!(skus(&db, r.id).await[3], ("D".into(), 3, 400));
}

fn numbered_feed(rows: u64, price: impl Fn(u64) -> u64) -> String {
    let mut s = HEAD.to_owned();
    for i in 0..rows {
        let cents = price(i);
        s.push_str(&format!(
            "N{i:06};Device {i};{};4006381333931;{},{:02};999,00\n",
            i % 7,
            cents / 100,
            cents % 100
        ));
    }
    s
}

/// More rows than the writer holds back and many batches of both kinds: the transaction opens
/// while the feed is still read, new and changed batches alternate, and the counts still add up.
async fn a_large_feed_streams_through_many_batches(db: TestDb) {
    let r = refurbisher(&db, "flexit.json").await;
    let f = Feed::new();
    let rows = 70_000;
    let rep = import_file(
        &db.store,
        &r,
        &f.write(&numbered_feed(rows, |_| 100)),
        "manual",
    )
    .await
    .unwrap();
    assert_eq!(
        (rep.status, rep.created),
        (RunStatus::Succeeded, 70_000),
        "{rep:?}"
    );
    // Every third row changes its price, and 10,000 new rows follow; the last 5,000 go.
    let mut text = numbered_feed(rows - 5_000, |i| if i % 3 == 0 { 250 } else { 100 });
    for i in 0..10_000u64 {
        text.push_str(&format!("M{i:06};New {i};1;4006381333931;1,00;2,00\n"));
    }
    let rep = import_file(&db.store, &r, &f.write(&text), "manual")
        .await
        .unwrap();
    assert_eq!(rep.status, RunStatus::Succeeded, "{rep:?}");
    assert_eq!(rep.rows_read, 75_000);
    assert_eq!(
        (rep.created, rep.updated, rep.unchanged, rep.removed),
        (10_000, 21_667, 43_333, 5_000),
        "{rep:?}"
    );
    let active = db
        .store
        .offers()
        .list(r.id, false, 100_000, 0)
        .await
        .unwrap();
    assert_eq!(active.len(), 75_000);
    assert_eq!(
        active
            .iter()
            .filter(|o| o.price_purchase_minor == 250)
            .count(),
        21_667
    );
    let all = db
        .store
        .offers()
        .list(r.id, true, 100_000, 0)
        .await
        .unwrap();
    assert_eq!(
        all.len(),
        80_000,
        "removed offers are deactivated, not deleted"
    );
}

/// PostgreSQL receives new offers as `COPY` text, where tabs, backslashes and line breaks are
/// special: they must arrive as they were in the feed (also when staged as changes).
async fn text_with_tabs_backslashes_and_line_breaks_is_stored_as_read(db: TestDb) {
    let r = refurbisher(&db, "flexit.json").await;
    let f = Feed::new();
    let odd = "Tab\there \\N back\\slash \"two\nlines\" ünïcödé";
    let feed = |name: &str| {
        format!(
            "{HEAD}T-1;\"{}\";1;4006381333931;1,00;2,00\nT-\\2;plain;1;4006381333931;1,00;2,00\n",
            name.replace('"', "\"\"")
        )
    };
    let rep = import_file(&db.store, &r, &f.write(&feed(odd)), "manual")
        .await
        .unwrap();
    assert_eq!(
        (rep.status, rep.created),
        (RunStatus::Succeeded, 2),
        "{rep:?}"
    );
    let offers = db.store.offers().list(r.id, false, 10, 0).await.unwrap();
    assert_eq!(offers[0].name, odd);
    assert_eq!(offers[1].sku, "T-\\2");
    // Changed: the new name goes through the staging COPY and the merge.
    let changed = format!("{odd} v2");
    let rep = import_file(&db.store, &r, &f.write(&feed(&changed)), "manual")
        .await
        .unwrap();
    assert_eq!((rep.updated, rep.unchanged), (1, 1), "{rep:?}");
    let offers = db.store.offers().list(r.id, false, 10, 0).await.unwrap();
    assert_eq!(offers[0].name, changed);
}
