//! The poller on both databases: due feeds are imported once, claims never overlap between
//! instances, and a crashed instance's claim expires.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use chrono::TimeDelta;
use irp_core::config::parse_document;
use irp_pipeline::feed::RunStatus;
use irp_pipeline::poller::{LEASE, Outcome, poll_once};
use irp_store::db_tests;
use irp_store::testkit::TestDb;

const HEAD: &str = "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n";

/// A directory below the feed root of this test process (`file` connections read only there).
fn feed_dir() -> tempfile::TempDir {
    let root = std::env::temp_dir().join("irp-poller-feed-root");
    std::fs::create_dir_all(&root).unwrap();
    irp_pipeline::feed_root::set_feed_root(&root);
    tempfile::tempdir_in(irp_pipeline::feed_root::feed_root()).unwrap()
}

async fn file_refurbisher(db: &TestDb, dir: &std::path::Path) {
    let feed = dir.join("feed.csv");
    std::fs::write(&feed, format!("{HEAD}A;Device;5;4006381333931;1,00;2,00\n")).unwrap();
    let doc = format!(
        r#"{{ "local": {{ "default_margin": 10, "poll_interval_secs": 600, "offers": {{ "connection": "file", "path": {}, "type": "csv",
        "separator": ";", "price_locale": "nl_NL", "mapping": {{ "name": "Description", "sku": "Flex IT Part Number", "stock_available": "Stock Quantity",
        "ean": "EAN", "price_purchase_amount": "Sales Price", "price_consumer_amount": "SRP" }} }} }},
        "manual": {{ "default_margin": 10, "offers": {{ "connection": "upload", "type": "csv", "mapping": {{ "name": "n", "sku": "s",
        "stock_available": "q", "ean": "e", "price_purchase_amount": "p", "price_consumer_amount": "c" }} }} }} }}"#,
        serde_json::to_string(&feed.display().to_string()).unwrap()
    );
    let d = parse_document(&doc);
    assert!(d.is_ok(), "{:?}", d.diagnostics);
    irp_pipeline::catalog::apply_refurbishers(&db.store, &d.refurbishers, "test")
        .await
        .unwrap();
}

db_tests!(
    due_feeds_are_polled_once_and_then_wait_their_interval,
    claims_never_overlap_and_expire_with_their_lease,
    a_claim_is_renewed_while_its_work_runs_and_runs_out_after
);

/// `renewing` keeps a short lease while the work takes several of them; once the work ends
/// (or its instance died) the lease runs out and another instance takes it.
async fn a_claim_is_renewed_while_its_work_runs_and_runs_out_after(db: TestDb) {
    use irp_pipeline::lease::{Claim, renewing};
    let s = &db.store;
    let lease = TimeDelta::milliseconds(800);
    assert!(s.instances().acquire("job", "a", lease).await.unwrap());
    let claim = Claim::Job {
        name: "job",
        owner: "a",
    };
    // The work takes three leases; another instance tries to take it every 200 ms.
    let taken = renewing(s, claim, lease, async {
        let mut taken = 0;
        for _ in 0..12 {
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if s.instances().acquire("job", "b", lease).await.unwrap() {
                taken += 1;
            }
        }
        taken
    })
    .await;
    assert_eq!(taken, 0, "the claim was taken over while its work ran");
    assert!(!s.instances().acquire("job", "b", lease).await.unwrap());
    // Nobody renews it any more: it runs out, and another instance takes it.
    tokio::time::sleep(std::time::Duration::from_millis(900)).await;
    assert!(s.instances().acquire("job", "b", lease).await.unwrap());
}

async fn due_feeds_are_polled_once_and_then_wait_their_interval(db: TestDb) {
    let dir = feed_dir();
    file_refurbisher(&db, dir.path()).await;
    let mut outcomes = Vec::new();
    loop {
        match poll_once(&db.store, "instance-a", None).await.unwrap() {
            Outcome::Idle => break,
            o => outcomes.push(o),
        }
    }
    assert_eq!(
        outcomes,
        [
            Outcome::Polled {
                key: "local".into(),
                status: RunStatus::Succeeded
            },
            Outcome::Skipped {
                key: "manual".into()
            }
        ]
    );
    let r = db.store.refurbishers().get("local").await.unwrap().unwrap();
    assert_eq!(
        db.store
            .offers()
            .list(r.id, false, 10, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        db.store.feed_runs().list(r.id, 10).await.unwrap()[0].triggered_by,
        "schedule"
    );
    // Nothing is due now; applying a changed document makes it due again.
    assert_eq!(
        poll_once(&db.store, "instance-a", None).await.unwrap(),
        Outcome::Idle
    );
    let mut changed = r.model.clone();
    changed.poll_interval_secs = 900;
    irp_pipeline::catalog::apply_refurbishers(&db.store, &[changed], "test")
        .await
        .unwrap();
    assert!(matches!(
        poll_once(&db.store, "instance-a", None).await.unwrap(),
        Outcome::Polled { .. }
    ));
}

async fn claims_never_overlap_and_expire_with_their_lease(db: TestDb) {
    let dir = feed_dir();
    file_refurbisher(&db, dir.path()).await;
    let now = irp_store::now();
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = db.store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .refurbishers()
                .poll_claim(&format!("instance-{i}"), now, now + LEASE)
                .await
                .unwrap()
        }));
    }
    let mut claimed = Vec::new();
    for t in tasks {
        if let Some(c) = t.await.unwrap() {
            claimed.push(c.key);
        }
    }
    claimed.sort();
    assert_eq!(
        claimed,
        ["local", "manual"],
        "each due refurbisher is claimed exactly once"
    );
    assert_eq!(
        db.store
            .refurbishers()
            .poll_claim("late", now, now + LEASE)
            .await
            .unwrap(),
        None
    );
    // The instance holding `local` dies; after its lease another instance takes over.
    let later = now + LEASE + TimeDelta::minutes(1);
    let taken = db
        .store
        .refurbishers()
        .poll_claim("survivor", later, later + LEASE)
        .await
        .unwrap()
        .unwrap();
    let version = db
        .store
        .refurbishers()
        .get(&taken.key)
        .await
        .unwrap()
        .unwrap()
        .version;
    assert!(
        !db.store
            .refurbishers()
            .poll_release(taken.refurbisher_id, "someone-else", later, version)
            .await
            .unwrap(),
        "only the owner releases"
    );
    // The document was applied again while the feed was polled (the poll read the version
    // before): it stays due at once rather than waiting its interval.
    assert!(
        db.store
            .refurbishers()
            .poll_release(
                taken.refurbisher_id,
                "survivor",
                later + TimeDelta::hours(1),
                version - 1
            )
            .await
            .unwrap()
    );
    // (The other refurbisher's claim has run out too: claimable as well.)
    let claimable = async || {
        let mut keys = Vec::new();
        while let Some(c) = db
            .store
            .refurbishers()
            .poll_claim("survivor", later, later + LEASE)
            .await
            .unwrap()
        {
            keys.push(c.key);
        }
        keys
    };
    assert!(claimable().await.contains(&taken.key), "due at once");
    // Released after polling the current version: due after its interval.
    assert!(
        db.store
            .refurbishers()
            .poll_release(
                taken.refurbisher_id,
                "survivor",
                later + TimeDelta::hours(1),
                version
            )
            .await
            .unwrap()
    );
    assert!(
        !claimable().await.contains(&taken.key),
        "due after its interval"
    );
}
