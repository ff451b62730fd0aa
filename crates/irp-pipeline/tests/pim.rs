//! The PIM sync against the fake Ergonode, on both databases: products get their name, brand,
//! model, category and attributes; a sync continues from its cursor (also after a failure
//! halfway); deleted products lose their PIM data; products without an EAN are reported; a
//! brand from the PIM reprices offers through a margin rule by brand.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_core::config::{parse_document, parse_pim};
use irp_pipeline::feed::import_file;
use irp_pipeline::pim::{sync, sync_if_due};
use irp_store::db_tests;
use irp_store::secrets::SecretKey;
use irp_store::testkit::TestDb;
use irp_testkit::fake_ergonode::{FakeErgonode, FakeProduct, FakeValue};

const E13: &str = "0194252707227";
const E14: &str = "0194253401186";
const E15: &str = "0195949038235";

fn phone(sku: &str, ean: &str, name: &str, brand: &str) -> FakeProduct {
    FakeProduct::simple(
        sku,
        &["smartphones"],
        vec![
            FakeValue::local("name", &[("en_GB", name), ("nl_NL", &format!("{name} NL"))]),
            FakeValue::text("ean", ean),
            FakeValue::Select {
                code: "brand".into(),
                option: brand.to_lowercase(),
                names: vec![("en_GB".into(), brand.into())],
            },
            FakeValue::text("model", name),
            FakeValue::Number {
                code: "storage_gb".into(),
                value: 128.0,
            },
        ],
    )
}

/// A fake Ergonode and the store configured for it (the key in the secret store).
async fn setup(db: &TestDb, page_size: u32) -> (FakeErgonode, SecretKey) {
    let fake = FakeErgonode::start("ergo-key-123").await;
    let key = SecretKey::generate().unwrap();
    db.store
        .secrets()
        .set(&key, "pim.api_key", "ergo-key-123")
        .await
        .unwrap();
    let doc = parse_pim(&format!(
        r#"{{"pim": {{"source": "ergonode", "url": "{}", "api_key": "${{secret:pim.api_key}}", "languages": ["nl_NL", "en_GB"], "page_size": {page_size}}}}}"#,
        fake.url
    ));
    assert!(
        doc.diagnostics.iter().next().is_none(),
        "{:?}",
        doc.diagnostics
    );
    db.store
        .pim()
        .apply(&doc.pim.unwrap(), "test")
        .await
        .unwrap();
    (fake, key)
}

db_tests!(
    a_sync_imports_products_continues_from_its_cursor_and_clears_deleted_ones,
    a_failed_sync_keeps_the_pages_it_stored_and_the_next_one_continues,
    a_brand_from_the_pim_reprices_offers_through_a_margin_rule,
    serve_syncs_when_due_and_one_instance_at_a_time,
);

async fn a_sync_imports_products_continues_from_its_cursor_and_clears_deleted_ones(db: TestDb) {
    let (fake, key) = setup(&db, 2).await;
    fake.put(phone("IPH13", E13, "iPhone 13", "Apple"));
    fake.put(phone("IPH14", E14, "iPhone 14", "Apple"));
    // No EAN attribute and a SKU that is no GTIN; a parent of variants without an EAN.
    fake.put(FakeProduct::simple(
        "CASE-01",
        &["accessories"],
        vec![FakeValue::text("name", "Case")],
    ));
    let mut parent = FakeProduct::simple("IPH15-PARENT", &["smartphones"], vec![]);
    parent.variable = true;
    fake.put(parent);
    fake.put(phone("8712345678906", "", "Galaxy S22", "Samsung"));
    // (An empty EAN attribute: the SKU is a GTIN, so it keys the product.)

    let r = sync(&db.store, Some(&key), false).await.unwrap();
    assert_eq!(r.status, "partial", "{r:?}");
    assert_eq!(r.products_read, 5);
    assert_eq!(r.total_count, Some(5));
    assert_eq!((r.created, r.updated, r.skipped), (3, 0, 2), "{r:?}");
    assert_eq!(
        r.pages,
        3 + 1,
        "5 products in pages of 2, and the deleted stream"
    );
    let reasons: Vec<(Option<String>, String)> = r
        .skipped_examples
        .iter()
        .map(|s| (s.sku.clone(), s.reason.clone()))
        .collect();
    assert_eq!(reasons.len(), 2);
    assert_eq!(reasons[0].0.as_deref(), Some("CASE-01"));
    assert!(reasons[0].1.starts_with("no EAN"), "{}", reasons[0].1);
    assert_eq!(reasons[1].0.as_deref(), Some("IPH15-PARENT"));

    let p = db.store.catalog().product(E13).await.unwrap().unwrap();
    assert_eq!(p.name.as_deref(), Some("iPhone 13 NL"));
    assert_eq!(p.brand.as_deref(), Some("Apple"));
    assert_eq!(p.model.as_deref(), Some("iPhone 13"));
    assert_eq!(p.category.as_deref(), Some("smartphones"));
    assert!(p.pim_synced_at.is_some());
    assert_eq!(
        serde_json::Value::Object(db.store.pim().product_attributes(E13).await.unwrap()),
        serde_json::json!({"storage_gb": 128})
    );
    let galaxy = db
        .store
        .catalog()
        .product("8712345678906")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(galaxy.brand.as_deref(), Some("Samsung"));
    let stored = db.store.pim().get().await.unwrap().unwrap();
    assert_eq!(stored.last_status.as_deref(), Some("partial"));
    assert!(stored.product_cursor.is_some());

    // Nothing changed: one request per stream, nothing read.
    let before = fake.requests();
    let r = sync(&db.store, Some(&key), false).await.unwrap();
    assert_eq!((r.products_read, r.status.as_str()), (0, "ok"), "{r:?}");
    assert_eq!(fake.requests() - before, 2);

    // An edit comes back at the end of the stream; a deletion clears the product's PIM data;
    // an EAN moving to another SKU is reported.
    fake.put(phone("IPH13", E13, "iPhone 13 mini", "Apple"));
    fake.delete("IPH14");
    fake.put(phone("IPH15", E15, "iPhone 15", "Apple"));
    let r = sync(&db.store, Some(&key), false).await.unwrap();
    assert_eq!(
        (
            r.products_read,
            r.created,
            r.updated,
            r.deleted_read,
            r.cleared
        ),
        (2, 1, 1, 1, 1),
        "{r:?}"
    );
    let p = db.store.catalog().product(E13).await.unwrap().unwrap();
    assert_eq!(p.name.as_deref(), Some("iPhone 13 mini NL"));
    let gone = db.store.catalog().product(E14).await.unwrap().unwrap();
    assert_eq!(
        (gone.name, gone.brand, gone.pim_synced_at),
        (None, None, None)
    );

    fake.put(phone("IPH13-B", E13, "iPhone 13 (B)", "Apple"));
    let r = sync(&db.store, Some(&key), false).await.unwrap();
    assert_eq!(
        r.reassigned,
        vec![(E13.to_owned(), "IPH13".to_owned(), "IPH13-B".to_owned())]
    );

    assert_eq!(
        db.store
            .catalog()
            .product(E13)
            .await
            .unwrap()
            .unwrap()
            .name
            .as_deref(),
        Some("iPhone 13 (B) NL"),
        "the SKU edited last wins"
    );

    // Once the duplicate is gone in Ergonode, a full sync reads everything again and changes
    // nothing.
    fake.delete("IPH13");
    let r = sync(&db.store, Some(&key), true).await.unwrap();
    assert_eq!(
        (
            r.products_read,
            r.unchanged,
            r.updated,
            r.created,
            r.cleared
        ),
        (5, 3, 0, 0, 0),
        "{r:?}"
    );
    assert!(r.reassigned.is_empty());
}

async fn a_failed_sync_keeps_the_pages_it_stored_and_the_next_one_continues(db: TestDb) {
    let (fake, key) = setup(&db, 2).await;
    for (sku, ean) in [("A", E13), ("B", E14), ("C", E15)] {
        fake.put(phone(sku, ean, &format!("Phone {sku}"), "Apple"));
    }
    // A missing secret stops the sync before any request, naming the secret.
    db.store.secrets().delete("pim.api_key").await.unwrap();
    let e = sync(&db.store, Some(&key), false).await.unwrap_err();
    assert!(
        e.to_string()
            .contains("secret `pim.api_key` is not in the secret store"),
        "{e}"
    );
    assert_eq!(fake.requests(), 0);

    // A wrong key: failed, said plainly, the key not shown, nothing stored.
    db.store
        .secrets()
        .set(&key, "pim.api_key", "not-the-key")
        .await
        .unwrap();
    let r = sync(&db.store, Some(&key), false).await.unwrap();
    assert_eq!(r.status, "failed");
    let err = r.error.clone().unwrap();
    assert!(err.contains("refused the API key (HTTP 401)"), "{err}");
    assert!(!serde_json::to_string(&r).unwrap().contains("not-the-key"));
    let stored = db.store.pim().get().await.unwrap().unwrap();
    assert_eq!(stored.last_status.as_deref(), Some("failed"));
    assert_eq!(stored.product_cursor, None);

    // Page 1 is served, page 2 is refused: page 1 stays stored with its cursor.
    db.store
        .secrets()
        .set(&key, "pim.api_key", "ergo-key-123")
        .await
        .unwrap();
    fake.fail_after(1, &[400]);
    let r = sync(&db.store, Some(&key), false).await.unwrap();
    assert_eq!(
        (r.status.as_str(), r.products_read, r.created),
        ("failed", 2, 2),
        "{r:?}"
    );
    assert!(r.error.unwrap().contains("HTTP 400"));
    assert!(db.store.catalog().product(E13).await.unwrap().is_some());
    assert!(db.store.catalog().product(E15).await.unwrap().is_none());

    // The next sync continues after page 1.
    let r = sync(&db.store, Some(&key), false).await.unwrap();
    assert_eq!(
        (r.status.as_str(), r.products_read, r.created),
        ("ok", 1, 1),
        "{r:?}"
    );
    let p = db.store.catalog().product(E15).await.unwrap().unwrap();
    assert_eq!(p.name.as_deref(), Some("Phone C NL"));
}

async fn a_brand_from_the_pim_reprices_offers_through_a_margin_rule(db: TestDb) {
    let text = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/flexit.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace(
        "\"default_margin\":",
        "\"margin_rules\": [{\"brand\": \"Apple\", \"margin\": 30}], \"default_margin\":",
    );
    let doc = parse_document(&text);
    assert!(doc.is_ok(), "{:?}", doc.diagnostics);
    irp_pipeline::catalog::apply_refurbishers(&db.store, &doc.refurbishers, "test")
        .await
        .unwrap();
    let flexit = db
        .store
        .refurbishers()
        .get("flexit")
        .await
        .unwrap()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("flexit.csv");
    std::fs::write(
        &feed,
        format!(
            "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nF-13;iPhone 13;5;{E13};100,00;9999,00\n"
        ),
    )
    .unwrap();
    import_file(&db.store, &flexit, &feed, "manual")
        .await
        .unwrap();
    // 17 %: (100 + 10 + 3.18) × 1.17 × 1.21.
    let p = db.store.catalog().product(E13).await.unwrap().unwrap();
    assert_eq!(p.price_incl_minor, Some(16023));

    let (fake, key) = setup(&db, 100).await;
    fake.put(phone("IPH13", E13, "iPhone 13", "Apple"));
    let r = sync(&db.store, Some(&key), false).await.unwrap();
    let catalog = r.catalog.clone().unwrap();
    assert_eq!(catalog.eans, 1, "{r:?}");
    // The brand rule: (100 + 10 + 3.18) × 1.30 × 1.21.
    let p = db.store.catalog().product(E13).await.unwrap().unwrap();
    assert_eq!(p.price_incl_minor, Some(17803));
    assert_eq!(
        p.display_name(),
        "iPhone 13 NL",
        "the PIM's name before the feed's"
    );

    // A name change alone does not reprice anything.
    fake.put(phone("IPH13", E13, "iPhone 13 (2021)", "Apple"));
    let r = sync(&db.store, Some(&key), false).await.unwrap();
    assert_eq!((r.updated, r.catalog.is_none()), (1, true), "{r:?}");
}

async fn serve_syncs_when_due_and_one_instance_at_a_time(db: TestDb) {
    let (fake, key) = setup(&db, 100).await;
    fake.put(phone("IPH13", E13, "iPhone 13", "Apple"));
    // Never synced: due. Another instance holding the claim keeps this one out.
    let now = irp_store::now();
    assert!(
        db.store
            .pim()
            .claim("other", now, now + chrono::TimeDelta::minutes(5))
            .await
            .unwrap()
    );
    assert!(
        sync_if_due(&db.store, "me", Some(&key))
            .await
            .unwrap()
            .is_none()
    );
    db.store.pim().release("other").await.unwrap();
    let r = sync_if_due(&db.store, "me", Some(&key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.created, 1);
    // Synced: not due again before poll_interval_secs (900 s) passed.
    assert!(
        sync_if_due(&db.store, "me", Some(&key))
            .await
            .unwrap()
            .is_none()
    );
    let next = db
        .store
        .pim()
        .get()
        .await
        .unwrap()
        .unwrap()
        .next_sync_at
        .unwrap();
    let secs = (next - irp_store::now()).num_seconds();
    assert!((890..=900).contains(&secs), "{secs}");

    // poll_interval_secs 0: serve never syncs; `irp pim sync` still can.
    let doc = parse_pim(&format!(
        r#"{{"pim": {{"url": "{}", "api_key": "${{secret:pim.api_key}}", "poll_interval_secs": 0}}}}"#,
        fake.url
    ));
    db.store
        .pim()
        .apply(&doc.pim.unwrap(), "test")
        .await
        .unwrap();
    assert!(
        sync_if_due(&db.store, "me", Some(&key))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        sync(&db.store, Some(&key), false).await.unwrap().status,
        "ok"
    );
}
