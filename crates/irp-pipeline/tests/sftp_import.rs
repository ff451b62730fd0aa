//! The FlexIT seed connector end to end over real SFTP (OpenSSH sshd on loopback), on both
//! databases: its CSV with the seed's exact column names and Dutch prices becomes offers.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_core::config::parse_document;
use irp_pipeline::feed::{RunStatus, import_fetched};
use irp_store::db_tests;
use irp_store::secrets::SecretKey;
use irp_store::testkit::TestDb;
use irp_testkit::sshd::{PASSWORD, Sshd};

const FEED: &str = "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\r\n\
FLX-IPH13-128;Apple iPhone 13 128GB Midnight;5;0194252707234;1.234,56;1.499,00\r\n\
FLX-S21;\"Samsung Galaxy S21; 5G\";0;4006381333931;299,95;399,00\r\n\
FLX-BAD;Broken row;x;123;abc;1,00\r\n";

db_tests!(
    the_flexit_feed_imports_over_sftp_with_its_password_in_the_secret_store,
    a_feed_still_growing_on_the_server_fails_and_changes_nothing,
);

async fn the_flexit_feed_imports_over_sftp_with_its_password_in_the_secret_store(db: TestDb) {
    let sshd = Sshd::start();
    let path = sshd.write("FlexIT_Feed.csv", FEED.as_bytes());
    let doc = parse_document(&sshd.flexit_document(
        &path,
        r#""password": "${secret:flexit.offers.auth.password}""#,
    ));
    assert!(doc.is_ok(), "{:?}", doc.diagnostics);
    irp_pipeline::catalog::apply_refurbishers(&db.store, &doc.refurbishers, "test")
        .await
        .unwrap();
    let key = SecretKey::generate().unwrap();
    db.store
        .secrets()
        .set(&key, "flexit.offers.auth.password", PASSWORD)
        .await
        .unwrap();
    let r = db
        .store
        .refurbishers()
        .get("flexit")
        .await
        .unwrap()
        .unwrap();

    let rep = import_fetched(&db.store, &r, "schedule", Some(&key))
        .await
        .unwrap();
    assert_eq!(rep.status, RunStatus::Partial, "{rep:?}");
    assert_eq!(
        (
            rep.rows_read,
            rep.rows_accepted,
            rep.rows_rejected,
            rep.created
        ),
        (3, 2, 1, 2)
    );
    assert_eq!(rep.bytes, FEED.len() as u64);
    let errors: Vec<String> = rep
        .errors
        .iter()
        .map(|e| format!("{} {}", e.row, e.field.as_deref().unwrap_or("-")))
        .collect();
    assert_eq!(
        errors,
        ["4 ean", "4 stock_available", "4 price_purchase_amount"]
    );
    let offers = db.store.offers().list(r.id, false, 10, 0).await.unwrap();
    let got: Vec<(&str, i64, i64)> = offers
        .iter()
        .map(|o| (o.sku.as_str(), o.stock_available, o.price_purchase_minor))
        .collect();
    assert_eq!(got, [("FLX-IPH13-128", 5, 123_456), ("FLX-S21", 0, 29_995)]);
    assert_eq!(offers[1].name, "Samsung Galaxy S21; 5G");

    // The host key was recorded on first use; the same file again is unchanged.
    assert_eq!(
        db.store
            .known_hosts()
            .get("127.0.0.1", sshd.port)
            .await
            .unwrap(),
        Some(sshd.host_fingerprint())
    );
    let again = import_fetched(&db.store, &r, "schedule", Some(&key))
        .await
        .unwrap();
    assert_eq!(again.status, RunStatus::Unchanged);
}

/// The feed is read while it arrives; a file that grows meanwhile fails the run at the end of
/// the download, and what was read and written until then is rolled back.
async fn a_feed_still_growing_on_the_server_fails_and_changes_nothing(db: TestDb) {
    let sshd = Sshd::start();
    let path = sshd.write("FlexIT_Feed.csv", FEED.as_bytes());
    let doc = parse_document(&sshd.flexit_document(&path, &format!(r#""password": "{PASSWORD}""#)));
    irp_pipeline::catalog::apply_refurbishers(&db.store, &doc.refurbishers, "test")
        .await
        .unwrap();
    let r = db
        .store
        .refurbishers()
        .get("flexit")
        .await
        .unwrap()
        .unwrap();
    let first = import_fetched(&db.store, &r, "schedule", None)
        .await
        .unwrap();
    assert_eq!(first.created, 2, "{first:?}");

    // 300,000 rows (more than the writer holds back), then rows keep being appended.
    let mut big = FEED.as_bytes().to_vec();
    for i in 0..300_000 {
        big.extend_from_slice(
            format!("FLX-{i};Device {i};1;0194252707234;1,00;2,00\r\n").as_bytes(),
        );
    }
    sshd.write("FlexIT_Feed.csv", &big);
    let appending = sshd.keep_appending(
        "FlexIT_Feed.csv",
        b"FLX-late;Late;1;0194252707234;1,00;2,00\r\n",
    );
    let rep = import_fetched(&db.store, &r, "schedule", None)
        .await
        .unwrap();
    drop(appending);
    assert_eq!(rep.status, RunStatus::Failed, "{rep:?}");
    assert!(
        rep.message
            .as_deref()
            .unwrap()
            .contains("changed while it was read"),
        "{:?}",
        rep.message
    );
    let offers = db.store.offers().list(r.id, true, 10, 0).await.unwrap();
    assert_eq!(offers.len(), 2, "nothing of the growing feed was applied");
}
