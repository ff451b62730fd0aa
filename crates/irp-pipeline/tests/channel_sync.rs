//! The channels' Shopware sync against the contract-faithful fake Shopware, on both databases:
//! only changed products are pushed; products the shop lacks are reported (or created with
//! `create_missing`); a row the shop refuses is isolated from its batch and the rest goes
//! through; an expired token is fetched again; 5xx is retried and a shop that stays down stops
//! the push with the rows still marked; orders come in by the poll (once), an order IRP cannot
//! read goes to the inbox with its reasons; tracking the shop refuses (an illegal transition)
//! is reported once, not retried; a cancelled supplier order cancels the shop's delivery.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_core::config::{parse_channels, parse_document};
use irp_pipeline::channel::{self, TakeIn};
use irp_pipeline::feed::import_file;
use irp_store::db_tests;
use irp_store::refurbishers::StoredRefurbisher;
use irp_store::testkit::TestDb;
use irp_testkit::fake_shopware::{FakeOrder, FakeShopware, FakeShopwareConfig};
use serde_json::json;

const E1: &str = "8712345678906";
const E2: &str = "8712345678913";
const E3: &str = "8712345678920";
const E4: &str = "8712345678937";
/// Sold by iUsed Stores only.
const E5: &str = "8712345678944";
const TAX_ID: &str = "a5da76b447db4d0aba62e6512dadf45b";

async fn flexit(db: &TestDb) -> StoredRefurbisher {
    let text = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/flexit.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let doc = parse_document(&text);
    irp_pipeline::catalog::apply_refurbishers(&db.store, &doc.refurbishers, "test")
        .await
        .unwrap();
    db.store
        .refurbishers()
        .get("flexit")
        .await
        .unwrap()
        .unwrap()
}

async fn channel(db: &TestDb, key: &str, shop: &FakeShopware, extra: serde_json::Value) {
    let cfg = FakeShopwareConfig::default();
    let mut sw =
        json!({"url": shop.url, "client_id": cfg.client_id, "client_secret": cfg.client_secret});
    for (k, v) in extra.as_object().unwrap() {
        sw[k] = v.clone();
    }
    let doc = json!({"channels": {key: {"shopware": sw}}});
    let parsed = parse_channels(&doc.to_string());
    assert!(parsed.is_ok(), "{:?}", parsed.diagnostics);
    irp_pipeline::catalog::apply_channels(&db.store, &parsed.channels, "test")
        .await
        .unwrap();
}

async fn feed(db: &TestDb, r: &StoredRefurbisher, prices: [u32; 4]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.csv");
    let mut text =
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n".to_owned();
    for (i, (ean, euros)) in [E1, E2, E3, E4].iter().zip(prices).enumerate() {
        text.push_str(&format!("FLX-{i};Phone {i};10;{ean};{euros},00;999,00\n"));
    }
    std::fs::write(&path, text).unwrap();
    let rep = import_file(&db.store, r, &path, "manual").await.unwrap();
    assert!(
        matches!(rep.status.as_str(), "succeeded" | "unchanged"),
        "{rep:?}"
    );
}

fn sync_rows(shop: &FakeShopware) -> usize {
    shop.requests()
        .iter()
        .filter(|r| r.path == "/api/_action/sync" && r.status == 200)
        .map(|r| r.sync_rows)
        .sum()
}

db_tests!(
    changed_prices_reach_the_shop_and_what_it_does_not_take_is_reported,
    orders_come_in_by_the_poll_once_and_unreadable_ones_wait_in_the_inbox,
    a_refused_tracking_is_reported_once_and_cancellations_reach_the_shop,
    a_partly_shipped_delivery_is_shipped_once_the_rest_is_cancelled,
    a_push_under_way_says_where_it_stands,
    a_full_resync_corrects_the_shops_stock_of_products_the_channel_never_sold,
    product_content_from_the_pim_reaches_the_shop_once_per_change,
);

/// PIM data for the channel's products as Ergonode gives it: `name` with `suffix`, and a
/// description.
fn pim_products(suffix: &str) -> Vec<irp_core::pim::PimProduct> {
    [E1, E2, E3, E4]
        .iter()
        .enumerate()
        .map(|(i, ean)| irp_core::pim::PimProduct {
            sku: format!("SKU-{i}"),
            ean: (*ean).to_owned(),
            name: Some(format!("Phone {i} {suffix}")),
            brand: Some("Apple".into()),
            model: None,
            category: None,
            attributes: json!({"description": format!("Refurbished phone {i}")})
                .as_object()
                .unwrap()
                .clone(),
            edited_at: None,
        })
        .collect()
}

/// The channel leaves names and EANs to IRP, not descriptions. One content pass pushes the
/// PIM's names to the products the shop has, and nothing to the one it lacks; nothing is
/// pushed again until the PIM changes, and then only the product that changed; the shop's
/// descriptions are never touched; a full content resync pushes every product again.
async fn product_content_from_the_pim_reaches_the_shop_once_per_change(db: TestDb) {
    let r = flexit(&db).await;
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    for ean in [E1, E2, E3] {
        shop.add_product(ean, ean, 0, 1.0);
    }
    channel(
        &db,
        "refurbished-direct",
        &shop,
        json!({"content": {"fields": ["name", "ean"]}}),
    )
    .await;
    feed(&db, &r, [100, 200, 300, 400]).await;
    db.store
        .pim()
        .write_products(&pim_products("A"), None)
        .await
        .unwrap();
    let sw = channel::connect(&db.store, None, "refurbished-direct")
        .await
        .unwrap();
    let name = |ean: &str| shop.product(ean).unwrap()["name"].clone();

    let rep = channel::push_content(&db.store, &sw, false).await.unwrap();
    assert_eq!(
        (rep.checked, rep.pushed, rep.unknown, rep.refused),
        (4, 3, 1, 0),
        "{rep:?}"
    );
    assert_eq!(name(E1), json!("Phone 0 A"));
    assert_eq!(name(E3), json!("Phone 2 A"));
    assert!(shop.product(E4).is_none(), "nothing created by the content");
    for ean in [E1, E2, E3] {
        let p = shop.product(ean).unwrap();
        assert_eq!(p["ean"], json!(ean));
        assert!(
            p["description"].is_null(),
            "the description is the shop's: {p}"
        );
    }
    // Nothing changed: nothing is checked or sent.
    let syncs = sync_rows(&shop);
    let rep = channel::push_content(&db.store, &sw, false).await.unwrap();
    assert_eq!((rep.checked, rep.pushed), (0, 0), "{rep:?}");
    assert_eq!(sync_rows(&shop), syncs);

    // The PIM renames one product (the others come again unchanged): that one is sent.
    let mut next = pim_products("A");
    next[1].name = Some("Phone 1 B".into());
    db.store.pim().write_products(&next, None).await.unwrap();
    let rep = channel::push_content(&db.store, &sw, false).await.unwrap();
    assert_eq!((rep.checked, rep.pushed), (1, 1), "{rep:?}");
    assert_eq!(sync_rows(&shop), syncs + 1);
    assert_eq!(name(E2), json!("Phone 1 B"));
    assert_eq!(name(E1), json!("Phone 0 A"));

    // A full content resync: every product the shop has, again.
    let rep = channel::push_content(&db.store, &sw, true).await.unwrap();
    assert_eq!((rep.checked, rep.pushed, rep.unknown), (4, 3, 1), "{rep:?}");
    // The shop refuses one product's writes: the others go through, the refused one is
    // recorded with Shopware's error (and the content it still has), and is not sent again
    // until its content changes.
    shop.refuse_product(E3);
    let mut next = pim_products("C");
    next[0].name = Some("Phone 0 A".into());
    next[1].name = Some("Phone 1 B".into());
    db.store.pim().write_products(&next, None).await.unwrap();
    let rep = channel::push_content(&db.store, &sw, false).await.unwrap();
    assert_eq!(
        (rep.checked, rep.pushed, rep.refused),
        (2, 0, 1),
        "E1 and E2 are unchanged, E3 (and E4, not in the shop) changed: {rep:?}"
    );
    assert_eq!(name(E3), json!("Phone 2 A"), "the shop keeps what it had");
    let problems = db
        .store
        .channel_sync()
        .content_problems("refurbished-direct", 10)
        .await
        .unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0].0, E3);
    assert!(
        problems[0].1.contains("Shopware refused the content"),
        "{problems:?}"
    );
    let rep = channel::push_content(&db.store, &sw, false).await.unwrap();
    assert_eq!(rep.checked, 0, "not sent again: {rep:?}");

    // A channel that takes no content gets none.
    channel(&db, "econocom", &shop, json!({})).await;
    let eco = channel::connect(&db.store, None, "econocom").await.unwrap();
    let rep = channel::push_content(&db.store, &eco, false).await.unwrap();
    assert_eq!(rep, channel::ContentReport::default());
}

/// The shop has four products with stale stock; the channel sells two of them. A push sends
/// the two; a full resync also sets the two it never sold to stock 0 and inactive, and skips a
/// product the channel does not sell and the shop does not have.
async fn a_full_resync_corrects_the_shops_stock_of_products_the_channel_never_sold(db: TestDb) {
    let r = flexit(&db).await;
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    for ean in [E1, E2, E3, E4] {
        shop.add_product(ean, ean, 7, 1.0);
    }
    channel(&db, "refurbished-direct", &shop, json!({})).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("feed.csv");
    std::fs::write(
        &path,
        format!(
            "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n\
             FLX-1;Phone 1;10;{E1};100,00;999,00\nFLX-2;Phone 2;10;{E2};200,00;999,00\n\
             FLX-3;Phone 3;0;{E3};300,00;999,00\nFLX-4;Phone 4;0;{E4};400,00;999,00\n\
             FLX-5;Phone 5;0;{E5};500,00;999,00\n"
        ),
    )
    .unwrap();
    import_file(&db.store, &r, &path, "manual").await.unwrap();
    let sw = channel::connect(&db.store, None, "refurbished-direct")
        .await
        .unwrap();
    let stock = |ean: &str| {
        let p = shop.product(ean).unwrap();
        (p["stock"].as_i64().unwrap(), p["active"].as_bool())
    };
    let rep = channel::push(&db.store, &sw, false).await.unwrap();
    assert_eq!((rep.rows, rep.pushed), (2, 2), "{rep:?}");
    // (FlexIT's stock threshold keeps one unit back.)
    let sold = stock(E1);
    assert_eq!(sold, (9, Some(true)));
    assert_eq!(stock(E3).0, 7, "a push sends what the channel sells");

    let rep = channel::push(&db.store, &sw, true).await.unwrap();
    assert_eq!(
        (rep.rows, rep.pushed, rep.skipped, rep.unknown, rep.created),
        (5, 4, 1, 0, 0),
        "{rep:?}"
    );
    for ean in [E3, E4] {
        assert_eq!(stock(ean), (0, Some(false)), "{ean} corrected");
    }
    assert_eq!(stock(E1), sold);
    assert!(
        shop.product(E5).is_none(),
        "nothing created for what is not sold"
    );
    // Nothing waits, nothing is reported.
    assert_eq!(
        db.store
            .channel_sync()
            .dirty_count("refurbished-direct")
            .await
            .unwrap(),
        0
    );
    assert!(
        db.store
            .channel_sync()
            .problems("refurbished-direct", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A push that takes a while (the shop holds each `_action/sync`) says where it stands on the
/// progress board every second — phase, products sent, how many were waiting — and takes the
/// entry down when it ends.
async fn a_push_under_way_says_where_it_stands(db: TestDb) {
    use irp_store::progress::channel_sync_work;
    let r = flexit(&db).await;
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    for ean in [E1, E2, E3, E4] {
        shop.add_product(ean, ean, 0, 1.0);
    }
    channel(&db, "refurbished-direct", &shop, json!({"batch_size": 2})).await;
    feed(&db, &r, [100, 200, 300, 400]).await;
    let sw = channel::connect(&db.store, None, "refurbished-direct")
        .await
        .unwrap();
    let release = std::sync::Arc::new(tokio::sync::Notify::new());
    shop.hold_syncs(Some(release.clone()));
    let store = db.store.clone();
    let push = tokio::spawn(async move { channel::push(&store, &sw, true).await });
    let work = channel_sync_work("refurbished-direct");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let shown = loop {
        if let Some(p) = db.store.progress().get(&work).await.unwrap() {
            break p;
        }
        assert!(std::time::Instant::now() < deadline, "no progress shown");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(shown.phase, "pushing");
    assert_eq!(
        shown.total,
        Some(4),
        "a full push counts what waits: {shown:?}"
    );
    assert_eq!(shown.done, 0, "the first batch is still held: {shown:?}");
    // The first batch goes through; the count moves on at the next report.
    release.notify_one();
    let moved = loop {
        let p = db.store.progress().get(&work).await.unwrap();
        if let Some(p) = p.filter(|p| p.done == 2) {
            break p;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the count did not move"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(moved.updated_at > shown.updated_at);
    release.notify_one();
    let rep = push.await.unwrap().unwrap();
    assert_eq!((rep.pushed, rep.error), (4, None));
    assert_eq!(
        db.store.progress().get(&work).await.unwrap(),
        None,
        "taken down"
    );
}

async fn changed_prices_reach_the_shop_and_what_it_does_not_take_is_reported(db: TestDb) {
    let r = flexit(&db).await;
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    for ean in [E1, E2, E3] {
        shop.add_product(ean, ean, 0, 1.0);
    }
    shop.refuse_product(E3);
    channel(&db, "refurbished-direct", &shop, json!({"batch_size": 3})).await;
    feed(&db, &r, [100, 200, 300, 400]).await;
    let sw = channel::connect(&db.store, None, "refurbished-direct")
        .await
        .unwrap();

    let rep = channel::push(&db.store, &sw, false).await.unwrap();
    assert_eq!(
        (
            rep.rows,
            rep.pushed,
            rep.unknown,
            rep.refused,
            rep.error.as_deref()
        ),
        (4, 2, 1, 1, None),
        "{rep:?}"
    );
    let p1 = shop.product(E1).unwrap();
    assert_eq!(p1["stock"], 9, "10 − threshold 1: {p1}");
    assert_eq!(p1["price"][0]["gross"], json!(160.23), "{p1}");
    assert_eq!(p1["active"], true);
    assert_eq!(shop.product(E3).unwrap()["stock"], 0, "refused: unchanged");
    let problems = db
        .store
        .channel_sync()
        .problems("refurbished-direct", 10)
        .await
        .unwrap();
    let kinds: Vec<(&str, &str)> = problems
        .iter()
        .map(|p| (p.ean.as_str(), p.kind.as_str()))
        .collect();
    assert_eq!(kinds, [(E3, "refused"), (E4, "unknown_product")]);
    assert!(problems[0].detail.contains("HTTP 400"), "{problems:?}");
    assert_eq!(
        db.store
            .channel_sync()
            .dirty_count("refurbished-direct")
            .await
            .unwrap(),
        0
    );

    // Nothing changed: nothing is sent.
    shop.clear_requests();
    let rep = channel::push(&db.store, &sw, false).await.unwrap();
    assert_eq!(rep.rows, 0);
    assert_eq!(sync_rows(&shop), 0);

    // One price changes, and the token expired meanwhile: only that product goes, with a
    // fresh token.
    shop.expire_tokens();
    shop.clear_requests();
    feed(&db, &r, [101, 200, 300, 400]).await;
    let rep = channel::push(&db.store, &sw, false).await.unwrap();
    assert_eq!(
        (rep.rows, rep.pushed, rep.error.as_deref()),
        (1, 1, None),
        "{rep:?}"
    );
    assert_eq!(sync_rows(&shop), 1);
    assert!(shop.requests().iter().any(|q| q.path == "/api/oauth/token"));
    assert_eq!(
        shop.product(E1).unwrap()["price"][0]["gross"],
        json!(161.64)
    );

    // A 503 is retried; a shop that stays down stops the push, the row stays marked.
    feed(&db, &r, [102, 200, 300, 400]).await;
    shop.fail_next(503, 1);
    let rep = channel::push(&db.store, &sw, false).await.unwrap();
    assert_eq!((rep.pushed, rep.error.as_deref()), (1, None), "{rep:?}");
    feed(&db, &r, [103, 200, 300, 400]).await;
    shop.fail_next(500, 20);
    let rep = channel::push(&db.store, &sw, false).await.unwrap();
    let error = rep.error.clone().unwrap();
    assert!(error.contains("HTTP 500"), "{error}");
    assert!(!error.contains(&FakeShopwareConfig::default().client_secret));
    assert_eq!(
        db.store
            .channel_sync()
            .dirty_count("refurbished-direct")
            .await
            .unwrap(),
        1
    );
    let state = db
        .store
        .channel_sync()
        .state("refurbished-direct")
        .await
        .unwrap();
    assert_eq!(state.last_error.as_deref(), Some(error.as_str()));
    shop.fail_next(500, 0);
    let rep = channel::push(&db.store, &sw, false).await.unwrap();
    assert_eq!((rep.pushed, rep.error.as_deref()), (1, None), "{rep:?}");

    // --full sends everything again, reported products included.
    shop.clear_requests();
    let rep = channel::push(&db.store, &sw, true).await.unwrap();
    assert_eq!(
        (rep.rows, rep.pushed, rep.unknown, rep.refused),
        (4, 2, 1, 1),
        "{rep:?}"
    );

    // Another instance holds the channel's claim: a push done for a claim it lost sends nothing
    // and leaves the rows marked.
    assert!(
        db.store
            .channel_sync()
            .claim(
                "refurbished-direct",
                "other-instance",
                irp_store::now() + chrono::TimeDelta::minutes(5)
            )
            .await
            .unwrap()
    );
    sw.hold(Some("this-instance"));
    feed(&db, &r, [104, 200, 300, 400]).await;
    shop.clear_requests();
    let rep = channel::push(&db.store, &sw, false).await.unwrap();
    let error = rep.error.clone().unwrap_or_default();
    assert!(error.contains("another instance holds it"), "{rep:?}");
    assert_eq!(sync_rows(&shop), 0);
    assert_eq!(
        db.store
            .channel_sync()
            .dirty_count("refurbished-direct")
            .await
            .unwrap(),
        1
    );
    db.store
        .channel_sync()
        .release("refurbished-direct", "other-instance")
        .await
        .unwrap();
    let rep = channel::push(&db.store, &sw, false).await.unwrap();
    assert_eq!((rep.pushed, rep.error.as_deref()), (1, None), "{rep:?}");
    sw.hold(None);

    // With create_missing the shop gets the product it lacks.
    channel(
        &db,
        "refurbished-direct",
        &shop,
        json!({"create_missing": true, "tax_id": TAX_ID}),
    )
    .await;
    irp_pipeline::catalog::recompute(&db.store).await.unwrap();
    let sw = channel::connect(&db.store, None, "refurbished-direct")
        .await
        .unwrap();
    let rep = channel::push(&db.store, &sw, true).await.unwrap();
    assert_eq!((rep.created, rep.unknown), (1, 0), "{rep:?}");
    let created = shop.product(E4).unwrap();
    assert_eq!(created["ean"], E4);
    assert_eq!(created["name"], "Phone 3", "{created}");
    assert_eq!(created["stock"], 9);
}

async fn orders_come_in_by_the_poll_once_and_unreadable_ones_wait_in_the_inbox(db: TestDb) {
    let r = flexit(&db).await;
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product(E1, E1, 5, 160.23);
    shop.add_product("GIFTCARD-25", "", 100, 25.0);
    channel(&db, "refurbished-direct", &shop, json!({})).await;
    feed(&db, &r, [100, 200, 300, 400]).await;
    let sw = channel::connect(&db.store, None, "refurbished-direct")
        .await
        .unwrap();
    let order = |number: &str, product: &str| FakeOrder {
        order_number: number.into(),
        email: "jan@example.nl".into(),
        first_name: "Jan".into(),
        last_name: "de Vries".into(),
        street: "Laan van Meerdervoort 1001 bis".into(),
        zipcode: "2564 AZ".into(),
        city: "Den Haag".into(),
        country_iso: "NL".into(),
        phone: None,
        lines: vec![(product.into(), 1, 160.23)],
        placed_at: chrono::Utc::now(),
        sales_channel_id: None,
    };
    let (first, _) = shop.place_order(&order("10001", E1));
    shop.place_order(&order("10002", "GIFTCARD-25"));

    let rep = channel::poll_orders(&db.store, &sw).await.unwrap();
    assert_eq!((rep.read, rep.created, rep.inbox), (2, 1, 1), "{rep:?}");
    let o = db
        .store
        .orders()
        .by_number("refurbished-direct", "10001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(o.customer_email, "jan@example.nl");
    let lines = db.store.orders().lines(o.id).await.unwrap();
    assert_eq!(lines[0].ean.as_deref(), Some(E1));
    assert!(
        lines[0].refurbisher_id.is_some(),
        "routed to FlexIT: {lines:?}"
    );
    let link = db.store.channel_sync().order(o.id).await.unwrap().unwrap();
    assert_eq!(link.remote_order_id, first);
    assert!(link.remote_delivery_id.is_some());

    let inbox = db
        .store
        .channel_sync()
        .inbox_list(Some("refurbished-direct"), false, 10)
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].order_number.as_deref(), Some("10002"));
    assert!(inbox[0].error.contains("GIFTCARD-25"), "{}", inbox[0].error);

    // The next poll reads them again (the overlap) and takes in nothing twice.
    let rep = channel::poll_orders(&db.store, &sw).await.unwrap();
    assert_eq!((rep.created, rep.known, rep.inbox), (0, 1, 1), "{rep:?}");
    assert_eq!(
        channel::take_in_by_id(&db.store, &sw, &first, "webhook")
            .await
            .unwrap(),
        TakeIn::Known
    );
    assert_eq!(db.store.orders().list(None, 10).await.unwrap().len(), 1);

    // The shop's catalog manager gives the gift card product an EAN IRP sells: the next
    // round's inbox retry takes the order in, and the inbox is empty.
    sw.api
        .upsert(
            "fix",
            "product",
            vec![json!({"id": {"resolver": "product.number", "value": "GIFTCARD-25"}, "ean": E2})],
            irp_clients::shopware::Indexing::Sync,
        )
        .await
        .unwrap();
    let taken = channel::retry_inbox(&db.store, &sw, chrono::TimeDelta::zero())
        .await
        .unwrap();
    assert_eq!(taken, 1);
    assert!(
        db.store
            .orders()
            .by_number("refurbished-direct", "10002")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        db.store
            .channel_sync()
            .inbox_list(Some("refurbished-direct"), false, 10)
            .await
            .unwrap()
            .is_empty()
    );
}

/// A FlexIT order API on loopback: 201 `{"OrderNumber": "SO-<n>"}`.
async fn fake_order_api() -> String {
    let n = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let app = axum::Router::new().route(
        "/order",
        axum::routing::post(move || {
            let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            async move {
                (
                    axum::http::StatusCode::CREATED,
                    format!("{{\"OrderNumber\": \"SO-{k}\"}}"),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/order")
}

async fn a_refused_tracking_is_reported_once_and_cancellations_reach_the_shop(db: TestDb) {
    use irp_core::shipments::{ShipmentMapping, parse_shipment};
    use irp_store::secrets::SecretKey;
    use irp_store::shipments::ShipmentOutcome;

    // FlexIT with its order API on loopback, so supplier orders can be placed.
    let endpoint = fake_order_api().await;
    let text = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/flexit.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    doc["flexit"]["order"]["endpoint"] = json!(endpoint);
    let parsed = parse_document(&doc.to_string());
    irp_pipeline::catalog::apply_refurbishers(&db.store, &parsed.refurbishers, "test")
        .await
        .unwrap();
    let r = db
        .store
        .refurbishers()
        .get("flexit")
        .await
        .unwrap()
        .unwrap();
    let key = SecretKey::generate().unwrap();
    for name in [
        "flexit.order.auth.client_id",
        "flexit.order.auth.client_secret",
    ] {
        db.store
            .secrets()
            .set(&key, name, "test-credential")
            .await
            .unwrap();
    }
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product(E1, E1, 5, 160.23);
    channel(
        &db,
        "refurbished-direct",
        &shop,
        json!({"on_supplier_cancel": "cancel_delivery"}),
    )
    .await;
    feed(&db, &r, [100, 200, 300, 400]).await;
    let sw = channel::connect(&db.store, None, "refurbished-direct")
        .await
        .unwrap();
    let order = |number: &str| FakeOrder {
        order_number: number.into(),
        email: "jan@example.nl".into(),
        first_name: "Jan".into(),
        last_name: "de Vries".into(),
        street: "Damrak 1A".into(),
        zipcode: "1012 LG".into(),
        city: "Amsterdam".into(),
        country_iso: "NL".into(),
        phone: None,
        lines: vec![(E1.into(), 1, 160.23)],
        placed_at: chrono::Utc::now(),
        sales_channel_id: None,
    };
    let (_, shipped_delivery) = shop.place_order(&order("20001"));
    let (_, cancelled_delivery) = shop.place_order(&order("20002"));
    let rep = channel::poll_orders(&db.store, &sw).await.unwrap();
    assert_eq!(rep.created, 2, "{rep:?}");
    let supplier_order = |number: &str| {
        let store = db.store.clone();
        let number = number.to_owned();
        async move {
            let o = store
                .orders()
                .by_number("refurbished-direct", &number)
                .await
                .unwrap()
                .unwrap();
            store.orders().supplier_orders_of(o.id).await.unwrap()[0].clone()
        }
    };

    // 20001 is placed at FlexIT and shipped, but someone cancelled its delivery in Shopware
    // meanwhile: the codes go on, the `ship` transition is refused — reported, not retried.
    let so = supplier_order("20001").await;
    let done = irp_pipeline::orders::submit_one(&db.store, Some(&key), "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.outcome, "submitted", "{done:?}");
    let reference = db
        .store
        .orders()
        .supplier_order(so.id)
        .await
        .unwrap()
        .unwrap()
        .external_order_reference
        .unwrap();
    sw.api
        .transition("order_delivery", &shipped_delivery, "cancel")
        .await
        .unwrap();
    let body = json!({"external_order_id": reference, "track_and_trace": "3SRDX0000009", "imei": "490154203237518"});
    let s = parse_shipment(&body, &ShipmentMapping::default()).unwrap();
    let out = irp_pipeline::shipments::record(&db.store, r.id, &s, &body.to_string(), "POST", None)
        .await
        .unwrap();
    assert!(matches!(out, ShipmentOutcome::Matched { .. }), "{out:?}");
    shop.clear_requests();
    let t = channel::push_tracking(&db.store, &sw).await.unwrap();
    assert_eq!((t.pushed, t.refused, t.later), (0, 1, 0), "{t:?}");
    let d = shop.delivery(&shipped_delivery).unwrap();
    assert_eq!(d["trackingCodes"], json!(["3SRDX0000009"]));
    assert_eq!(d["stateMachineState"]["technicalName"], "cancelled");
    let shipments = db.store.shipments().of_supplier_order(so.id).await.unwrap();
    let error = shipments[0].tracking_error.clone().unwrap_or_default();
    assert!(
        error.contains("SYSTEM__ILLEGAL_STATE_TRANSITION"),
        "{shipments:?}"
    );
    shop.clear_requests();
    let t = channel::push_tracking(&db.store, &sw).await.unwrap();
    assert_eq!((t.pushed, t.refused), (0, 0), "not again: {t:?}");
    assert!(shop.requests().is_empty(), "{:?}", shop.requests());

    // 20002's supplier order is cancelled: with on_supplier_cancel = cancel_delivery the
    // shop's delivery is cancelled, once.
    let so = supplier_order("20002").await;
    db.store
        .supplier_orders()
        .cancel(so.id, "test")
        .await
        .unwrap();
    assert_eq!(
        channel::report_cancellations(&db.store, &sw).await.unwrap(),
        1
    );
    assert_eq!(
        shop.delivery(&cancelled_delivery).unwrap()["stateMachineState"]["technicalName"],
        "cancelled"
    );
    assert_eq!(
        channel::report_cancellations(&db.store, &sw).await.unwrap(),
        0
    );
}

async fn a_partly_shipped_delivery_is_shipped_once_the_rest_is_cancelled(db: TestDb) {
    use irp_core::shipments::{ShipmentMapping, parse_shipment};
    use irp_store::secrets::SecretKey;

    // FlexIT (its order API on loopback) and iUsed Stores (internal), each selling one EAN.
    let endpoint = fake_order_api().await;
    let dir = format!("{}/../../config/refurbishers", env!("CARGO_MANIFEST_DIR"));
    let mut flexit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{dir}/flexit.json")).unwrap())
            .unwrap();
    flexit["flexit"]["order"]["endpoint"] = json!(endpoint);
    let iused = std::fs::read_to_string(format!("{dir}/iused-stores.json")).unwrap();
    for text in [flexit.to_string(), iused] {
        let parsed = parse_document(&text);
        irp_pipeline::catalog::apply_refurbishers(&db.store, &parsed.refurbishers, "test")
            .await
            .unwrap();
    }
    let r = db
        .store
        .refurbishers()
        .get("flexit")
        .await
        .unwrap()
        .unwrap();
    let key = SecretKey::generate().unwrap();
    for name in [
        "flexit.order.auth.client_id",
        "flexit.order.auth.client_secret",
    ] {
        db.store
            .secrets()
            .set(&key, name, "test-credential")
            .await
            .unwrap();
    }
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product(E1, E1, 5, 160.23);
    shop.add_product(E5, E5, 5, 500.0);
    channel(&db, "refurbished-direct", &shop, json!({})).await;
    feed(&db, &r, [100, 200, 300, 400]).await;
    let tmp = tempfile::tempdir().unwrap();
    let iused_feed = tmp.path().join("iused.json");
    std::fs::write(
        &iused_feed,
        json!({"offers": [{"description": "Apple iPhone 12", "sku": "IU-12", "quantity": 4, "ean": E5,
            "costPrice": "150.00", "priceConsumer": "999.00", "currencyIso": "EUR", "taxPercentage": "21"}]})
        .to_string(),
    )
    .unwrap();
    let iu = db
        .store
        .refurbishers()
        .get("iused-alumio")
        .await
        .unwrap()
        .unwrap();
    import_file(&db.store, &iu, &iused_feed, "manual")
        .await
        .unwrap();
    let sw = channel::connect(&db.store, None, "refurbished-direct")
        .await
        .unwrap();
    let (_, delivery) = shop.place_order(&FakeOrder {
        order_number: "30001".into(),
        email: "jan@example.nl".into(),
        first_name: "Jan".into(),
        last_name: "de Vries".into(),
        street: "Damrak 1A".into(),
        zipcode: "1012 LG".into(),
        city: "Amsterdam".into(),
        country_iso: "NL".into(),
        phone: None,
        lines: vec![(E1.into(), 1, 160.23), (E5.into(), 1, 500.0)],
        placed_at: chrono::Utc::now(),
        sales_channel_id: None,
    });
    let rep = channel::poll_orders(&db.store, &sw).await.unwrap();
    assert_eq!(rep.created, 1, "{rep:?}");
    let o = db
        .store
        .orders()
        .by_number("refurbished-direct", "30001")
        .await
        .unwrap()
        .unwrap();
    let sos = db.store.orders().supplier_orders_of(o.id).await.unwrap();
    assert_eq!(sos.len(), 2, "{sos:?}");
    let flex = sos.iter().find(|s| s.refurbisher_id == r.id).unwrap().id;
    let internal = sos.iter().find(|s| s.refurbisher_id == iu.id).unwrap().id;
    irp_pipeline::orders::submit_one(&db.store, Some(&key), "test")
        .await
        .unwrap()
        .unwrap();
    let reference = db
        .store
        .orders()
        .supplier_order(flex)
        .await
        .unwrap()
        .unwrap()
        .external_order_reference
        .unwrap();
    let body = json!({"external_order_id": reference, "track_and_trace": "3SPART1", "imei": "490154203237518"});
    let s = parse_shipment(&body, &ShipmentMapping::default()).unwrap();
    irp_pipeline::shipments::record(&db.store, r.id, &s, &body.to_string(), "POST", None)
        .await
        .unwrap();
    channel::push_tracking(&db.store, &sw).await.unwrap();
    assert_eq!(
        shop.delivery(&delivery).unwrap()["stateMachineState"]["technicalName"],
        "shipped_partially"
    );
    // The store's part is cancelled: the delivery is complete, so it is shipped.
    db.store
        .supplier_orders()
        .cancel(internal, "test")
        .await
        .unwrap();
    let t = channel::push_tracking(&db.store, &sw).await.unwrap();
    assert_eq!(t.pushed, 1, "{t:?}");
    let d = shop.delivery(&delivery).unwrap();
    assert_eq!(d["stateMachineState"]["technicalName"], "shipped");
    assert_eq!(d["trackingCodes"], json!(["3SPART1"]));
    shop.clear_requests();
    let t = channel::push_tracking(&db.store, &sw).await.unwrap();
    assert_eq!((t.pushed, t.refused, t.later), (0, 0, 0), "{t:?}");
    assert!(shop.requests().is_empty());
}
