//! Feed runs, staging, snapshot diff and apply, on both backends.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::collections::BTreeMap;

use irp_core::config::parse_document;
use irp_store::db_tests;
use irp_store::offers::{RunReport, StagedOffer, StoredRowError};
use irp_store::testkit::TestDb;

/// `max_price_change_ratio` 0.5 in millionths.
const PPM: i64 = 500_000;

async fn flexit(db: &TestDb) -> i64 {
    let path = format!(
        "{}/../../config/refurbishers/flexit.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc = parse_document(&std::fs::read_to_string(path).unwrap());
    db.store
        .refurbishers()
        .apply(&doc.refurbishers, "test")
        .await
        .unwrap()[0]
        .refurbisher_id
}

fn offer(sku: &str, stock: i64, price: i64) -> StagedOffer {
    StagedOffer {
        sku: sku.into(),
        row_number: 1,
        ean: "4006381333931".into(),
        name: format!("Device {sku}"),
        stock_available: stock,
        price_purchase_minor: price,
        price_consumer_minor: price * 2,
        currency: "EUR".into(),
        tax_percentage: None,
        attributes: BTreeMap::new(),
    }
}

async fn run_with(db: &TestDb, rid: i64, offers: &[StagedOffer]) -> i64 {
    let run = db.store.feed_runs().start(rid, "manual").await.unwrap();
    db.store.feed_runs().stage(run, offers).await.unwrap();
    run
}

db_tests!(
    a_first_run_creates_and_a_second_diffs_field_by_field,
    removed_offers_are_deactivated_not_deleted_and_come_back,
    a_run_is_applied_once_and_only_for_its_refurbisher,
    staging_counts_its_rows,
    runs_keep_their_report_and_row_errors,
    a_run_whose_index_went_stale_is_refused,
    the_index_reads_every_offer_with_any_sku,
);

async fn a_first_run_creates_and_a_second_diffs_field_by_field(db: TestDb) {
    let rid = flexit(&db).await;
    let s = &db.store;
    let run = run_with(&db, rid, &[offer("A", 5, 1000), offer("B", 1, 2000)]).await;
    let d = s
        .feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap()
        .0;
    assert_eq!(
        (
            d.created,
            d.updated,
            d.unchanged,
            d.removed,
            d.active_before
        ),
        (2, 0, 0, 0, 0)
    );

    let run = run_with(
        &db,
        rid,
        &[offer("A", 4, 1000), offer("B", 1, 2100), offer("C", 9, 500)],
    )
    .await;
    let d = s.feed_runs().diff(rid, run).await.unwrap();
    assert_eq!(
        (
            d.created,
            d.updated,
            d.unchanged,
            d.removed,
            d.active_before
        ),
        (1, 2, 0, 0, 2)
    );
    assert_eq!(
        d.field_changes,
        BTreeMap::from([
            ("price_consumer_amount".to_owned(), 1),
            ("price_purchase_amount".to_owned(), 1),
            ("stock_available".to_owned(), 1)
        ])
    );
    s.feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap();
    let offers = s.offers().list(rid, false, 100, 0).await.unwrap();
    let shown: Vec<(String, i64, i64)> = offers
        .iter()
        .map(|o| (o.sku.clone(), o.stock_available, o.price_purchase_minor))
        .collect();
    assert_eq!(
        shown,
        [
            ("A".into(), 4, 1000),
            ("B".into(), 1, 2100),
            ("C".into(), 9, 500)
        ]
    );

    // The same feed again: everything unchanged.
    let run = run_with(
        &db,
        rid,
        &[offer("A", 4, 1000), offer("B", 1, 2100), offer("C", 9, 500)],
    )
    .await;
    let d = s
        .feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap()
        .0;
    assert_eq!((d.created, d.updated, d.unchanged, d.removed), (0, 0, 3, 0));
}

async fn removed_offers_are_deactivated_not_deleted_and_come_back(db: TestDb) {
    let rid = flexit(&db).await;
    let s = &db.store;
    let run = run_with(&db, rid, &[offer("A", 5, 1000), offer("B", 1, 2000)]).await;
    s.feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap();
    let run = run_with(&db, rid, &[offer("A", 5, 1000)]).await;
    let d = s
        .feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap()
        .0;
    assert_eq!((d.removed, d.unchanged), (1, 1));
    assert_eq!(s.offers().list(rid, false, 100, 0).await.unwrap().len(), 1);
    let all = s.offers().list(rid, true, 100, 0).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|o| (o.sku.as_str(), o.active))
            .collect::<Vec<_>>(),
        [("A", true), ("B", false)]
    );
    // B returns: it is created again (from the store's point of view it was not on sale).
    let run = run_with(&db, rid, &[offer("A", 5, 1000), offer("B", 1, 2000)]).await;
    let d = s
        .feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap()
        .0;
    assert_eq!((d.created, d.unchanged, d.removed), (1, 1, 0));
    assert!(
        s.offers()
            .list(rid, false, 100, 0)
            .await
            .unwrap()
            .iter()
            .all(|o| o.active)
    );
}

async fn a_run_is_applied_once_and_only_for_its_refurbisher(db: TestDb) {
    let rid = flexit(&db).await;
    let s = &db.store;
    let run = run_with(&db, rid, &[offer("A", 5, 1000)]).await;
    s.feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap();
    let err = s
        .feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("feed run {run} was applied already")),
        "{err}"
    );
    let run = run_with(&db, rid, &[offer("A", 5, 1000)]).await;
    assert_eq!(
        s.feed_runs()
            .apply(rid + 1, run, "succeeded", PPM)
            .await
            .unwrap_err()
            .to_string(),
        format!("feed run {run} belongs to another refurbisher")
    );
    assert_eq!(
        s.feed_runs()
            .apply(rid, 9999, "succeeded", PPM)
            .await
            .unwrap_err()
            .to_string(),
        "no feed run 9999"
    );
}

async fn staging_counts_its_rows(db: TestDb) {
    let rid = flexit(&db).await;
    let run = db.store.feed_runs().start(rid, "manual").await.unwrap();
    let mut tricky = offer("C", 1, 1);
    tricky.name = "tab\there, newline\nthere, backslash \\ and ; too".into();
    tricky.tax_percentage = Some("21".into());
    tricky.attributes.insert("grade".into(), "A\tB".into());
    assert_eq!(
        db.store
            .feed_runs()
            .stage(run, &[offer("A", 1, 1), offer("B", 2, 2)])
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        db.store
            .feed_runs()
            .stage(run, std::slice::from_ref(&tricky))
            .await
            .unwrap(),
        1
    );
    db.store
        .feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap();
    let stored = db.store.offers().list(rid, false, 10, 0).await.unwrap();
    assert_eq!(
        stored[2].name, tricky.name,
        "COPY escaping keeps the text exact"
    );
    assert_eq!(stored[2].tax_percentage.as_deref(), Some("21"));
    assert_eq!(stored[2].attributes.0["grade"], "A\tB");
}

async fn runs_keep_their_report_and_row_errors(db: TestDb) {
    let rid = flexit(&db).await;
    let s = &db.store;
    let run = run_with(&db, rid, &[offer("A", 5, 1000)]).await;
    s.feed_runs()
        .add_row_errors(
            run,
            &[StoredRowError {
                row_number: 3,
                field: Some("ean".into()),
                value: Some("123".into()),
                message: "bad".into(),
            }],
        )
        .await
        .unwrap();
    let diff = s
        .feed_runs()
        .apply(rid, run, "partial", PPM)
        .await
        .unwrap()
        .0;
    s.feed_runs()
        .finish(
            run,
            &RunReport {
                status: irp_core::feed::FeedRunStatus::Partial,
                rows_read: 2,
                rows_accepted: 1,
                rows_rejected: 1,
                bytes: 120,
                duration_ms: 7,
                diff: Some(diff),
                ..RunReport::default()
            },
        )
        .await
        .unwrap();
    let r = s.feed_runs().get(run).await.unwrap().unwrap();
    assert_eq!(
        (
            r.status.as_str(),
            r.rows_read,
            r.rows_accepted,
            r.rows_rejected,
            r.created
        ),
        ("partial", 2, 1, 1, 1)
    );
    assert!(r.applied_at.is_some() && r.finished_at.is_some());
    assert_eq!(
        s.feed_runs().row_errors(run).await.unwrap()[0]
            .value
            .as_deref(),
        Some("123")
    );
    assert_eq!(s.feed_runs().list(rid, 10).await.unwrap().len(), 1);
}

/// A run compares its feed with an index of the stored offers read before; when another run
/// applies offers in between (here: a quarantined run applied by an operator), writing is
/// refused instead of applying a stale comparison.
async fn a_run_whose_index_went_stale_is_refused(db: TestDb) {
    let rid = flexit(&db).await;
    let s = &db.store;
    let mut seen = Vec::new();
    let version = s
        .feed_write()
        .offers_index(rid, &mut |sku, _, active| {
            seen.push((sku.to_owned(), active))
        })
        .await
        .unwrap();
    assert!(seen.is_empty());
    let late = run_with(&db, rid, &[offer("A", 5, 1000)]).await;
    let reading = s.feed_runs().start(rid, "manual").await.unwrap();
    s.feed_runs()
        .apply(rid, late, "succeeded", PPM)
        .await
        .unwrap();
    let err = match s.feed_write().start(rid, reading, version, PPM).await {
        Ok(_) => panic!("a stale index was accepted"),
        Err(e) => e.to_string(),
    };
    assert_eq!(
        err,
        format!(
            "another feed run applied offers of this refurbisher while run {reading} read its feed; run it again"
        )
    );
    // Read afresh, it may write.
    let mut seen = Vec::new();
    let version = s
        .feed_write()
        .offers_index(rid, &mut |sku, _, active| {
            seen.push((sku.to_owned(), active))
        })
        .await
        .unwrap();
    assert_eq!(seen, [("A".to_owned(), true)]);
    let w = s
        .feed_write()
        .start(rid, reading, version, PPM)
        .await
        .unwrap();
    w.rollback().await.unwrap();
}

/// SKUs with quotes, backslashes, tabs and non-ASCII text come back from the index as stored,
/// with their hash and state, also across the chunks the index is read in.
async fn the_index_reads_every_offer_with_any_sku(db: TestDb) {
    let rid = flexit(&db).await;
    let s = &db.store;
    let odd = ["say \"hi\"", "back\\slash", "tab\there", "Größe-€", "日本"];
    let mut offers: Vec<StagedOffer> = odd.iter().map(|k| offer(k, 1, 100)).collect();
    offers.extend((0..20_000).map(|i| offer(&format!("N{i:05}"), 1, 100)));
    let run = run_with(&db, rid, &offers).await;
    s.feed_runs()
        .apply(rid, run, "succeeded", PPM)
        .await
        .unwrap();
    let gone = run_with(&db, rid, &offers[1..]).await;
    s.feed_runs()
        .apply(rid, gone, "succeeded", PPM)
        .await
        .unwrap();
    let mut seen = BTreeMap::new();
    s.feed_write()
        .offers_index(rid, &mut |sku, hash, active| {
            seen.insert(sku.to_owned(), (hash.to_owned(), active));
        })
        .await
        .unwrap();
    assert_eq!(seen.len(), 20_005);
    assert_eq!(
        seen[odd[0]],
        (offers[0].content_hash(), false),
        "deactivated"
    );
    for (k, o) in odd.iter().zip(&offers).skip(1) {
        assert_eq!(seen[*k], (o.content_hash(), true), "{k}");
    }
    assert_eq!(s.feed_write().offers_count(rid).await.unwrap(), 20_005);
}
