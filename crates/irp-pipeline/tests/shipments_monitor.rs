//! Shipments and monitoring on both databases. Shipments: a FlexIT order placed at a loopback
//! FlexIT, then shipped by the refurbisher's webhook data — matched by their order reference
//! or our order number, repeats stored once, unknown references kept for review and matched
//! later, statuses never moving backwards, tokens rotated with a grace period. Monitoring: the
//! seed thresholds of FlexIT and iUsed, each driven past its limit with a test clock, opening
//! one alert and resolving it; notifications posted, retried and not repeated.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use irp_core::config::parse_document;
use irp_core::monitoring::Metric;
use irp_core::orders::parse_order;
use irp_core::shipments::{ShipmentMapping, parse_shipment};
use irp_pipeline::monitor::{Notifier, notify_due, tick};
use irp_store::db_tests;
use irp_store::offers::RunReport;
use irp_store::refurbishers::StoredRefurbisher;
use irp_store::secrets::SecretKey;
use irp_store::shipments::ShipmentOutcome;
use irp_store::testkit::TestDb;
use serde_json::{Value, json};

db_tests!(
    shipments_match_their_supplier_order_once_and_the_rest_waits_for_review,
    webhook_tokens_rotate_with_a_grace_period_and_are_compared_by_hash,
    each_seed_threshold_opens_one_alert_and_resolves_it,
    alerts_are_notified_once_retried_when_the_webhook_fails,
    a_batch_of_shipments_is_written_in_one_transaction_copies_once,
    a_quarantine_the_operator_discarded_does_not_reopen_from_a_stale_reading,
);

fn seed(file: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

async fn apply(db: &TestDb, doc: &Value) -> StoredRefurbisher {
    let parsed = parse_document(&doc.to_string());
    assert!(parsed.is_ok(), "{:?}", parsed.diagnostics);
    let out = irp_pipeline::catalog::apply_refurbishers(&db.store, &parsed.refurbishers, "test")
        .await
        .unwrap();
    db.store
        .refurbishers()
        .get(&out[0].key)
        .await
        .unwrap()
        .unwrap()
}

/// A FlexIT order API on loopback: 201 `{"OrderNumber": "SO-<n>"}`.
async fn fake_flexit() -> String {
    let n = Arc::new(Mutex::new(0));
    let app = axum::Router::new().route(
        "/order",
        axum::routing::post(move || {
            let n = n.clone();
            async move {
                let k = {
                    let mut n = n.lock().unwrap();
                    *n += 1;
                    *n
                };
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

/// FlexIT with its order endpoint at `endpoint`, the secrets set; returns the secret key.
async fn flexit(db: &TestDb, endpoint: &str) -> (StoredRefurbisher, SecretKey) {
    let mut doc = seed("flexit.json");
    doc["flexit"]["order"]["endpoint"] = json!(endpoint);
    let r = apply(db, &doc).await;
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
    (r, key)
}

/// An order of one FlexIT SKU, placed at the fake; returns (supplier order id, their
/// reference).
async fn placed(db: &TestDb, key: &SecretKey, number: &str) -> (i64, String) {
    let so = taken_in(db, number).await;
    let done = irp_pipeline::orders::submit_one(&db.store, Some(key), "test-owner")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(done.outcome, "submitted", "{done:?}");
    let so = db.store.orders().supplier_order(so).await.unwrap().unwrap();
    (so.id, so.external_order_reference.unwrap())
}

/// An order of one FlexIT SKU, taken in (its supplier order `pending`); returns the supplier
/// order id.
async fn taken_in(db: &TestDb, number: &str) -> i64 {
    channels(db).await;
    let raw = json!({
        "channel": "refurbished-direct", "order_number": number, "placed_at": "2026-11-23T10:00:00Z",
        "customer": {"email": "jan@example.nl"},
        "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
            "house_number": "1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
        "lines": [{"refurbisher": "flexit", "sku": "FLX-A", "quantity": 1, "unit_price_incl_vat": "160.23"}]
    });
    let intake =
        irp_pipeline::orders::take_in(&db.store, &parse_order(&raw).unwrap(), &raw, "test")
            .await
            .unwrap();
    db.store
        .orders()
        .supplier_orders_of(intake.order.id)
        .await
        .unwrap()[0]
        .id
}

async fn channels(db: &TestDb) {
    let text = std::fs::read_to_string(format!(
        "{}/../../config/channels.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    irp_pipeline::catalog::apply_channels(
        &db.store,
        &irp_core::config::parse_channels(&text).channels,
        "test",
    )
    .await
    .unwrap();
}

async fn status_of(db: &TestDb, supplier_order: i64) -> String {
    db.store
        .orders()
        .supplier_order(supplier_order)
        .await
        .unwrap()
        .unwrap()
        .status
        .to_string()
}

fn shipment(v: Value) -> irp_core::shipments::Shipment {
    parse_shipment(&v, &ShipmentMapping::default()).unwrap()
}

async fn shipments_match_their_supplier_order_once_and_the_rest_waits_for_review(db: TestDb) {
    let endpoint = fake_flexit().await;
    let (r, key) = flexit(&db, &endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.csv");
    std::fs::write(&feed, "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;50;8712345678906;100,00;999,00\n").unwrap();
    irp_pipeline::feed::import_file(&db.store, &r, &feed, "manual")
        .await
        .unwrap();
    let (so1, ref1) = placed(&db, &key, "RD-1").await;
    assert_eq!(ref1, "SO-1");

    // By their reference: matched, the supplier order shipped, the units kept with the IMEI
    // check.
    let body = json!({"external_order_id": ref1, "track_and_trace": "3SABC123", "carrier": "PostNL",
        "items": [{"imei": "490154203237518"}, {"imei": "490154203237519", "serial_number": "F2LX"}]});
    let s = shipment(body.clone());
    let out = irp_pipeline::shipments::record(
        &db.store,
        r.id,
        &s,
        &body.to_string(),
        "POST",
        Some("127.0.0.1"),
    )
    .await
    .unwrap();
    let ShipmentOutcome::Matched {
        shipment_id,
        supplier_order_id,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(supplier_order_id, so1);
    assert_eq!(status_of(&db, so1).await, "shipped");
    let (stored, units) = db
        .store
        .shipments()
        .get(shipment_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.order_number.as_deref(), Some("RD-1"));
    assert_eq!(stored.bad_imeis, 1);
    assert_eq!(
        units
            .iter()
            .map(|u| (u.imei.clone().unwrap(), u.imei_valid))
            .collect::<Vec<_>>(),
        vec![
            ("490154203237518".to_owned(), Some(true)),
            ("490154203237519".to_owned(), Some(false))
        ]
    );
    assert_eq!(
        db.store.shipments().tracking_queue(10).await.unwrap()[0].id,
        shipment_id,
        "queued for the channel"
    );

    // The same shipment again, written differently: stored once.
    let again = json!({"carrier": "PostNL", "track_and_trace": "3SABC123", "external_order_id": ref1,
        "items": [{"serial_number": "F2LX", "imei": "490154203237519"}, {"imei": 490154203237518_u64}]});
    let out = irp_pipeline::shipments::record(
        &db.store,
        r.id,
        &shipment(again.clone()),
        &again.to_string(),
        "PUT",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        out,
        ShipmentOutcome::Repeat {
            shipment_id,
            status: "matched".into()
        }
    );
    assert_eq!(
        db.store
            .shipments()
            .list(None, None, 100)
            .await
            .unwrap()
            .len(),
        1
    );

    // By our order number, when the refurbisher quotes that.
    let (so2, _) = placed(&db, &key, "RD-2").await;
    let by_number =
        json!({"external_order_id": "RD-2", "track_and_trace": "T2", "serial_number": "SN-2"});
    let out = irp_pipeline::shipments::record(
        &db.store,
        r.id,
        &shipment(by_number.clone()),
        &by_number.to_string(),
        "PATCH",
        None,
    )
    .await
    .unwrap();
    assert!(
        matches!(out, ShipmentOutcome::Matched { supplier_order_id, .. } if supplier_order_id == so2),
        "{out:?}"
    );

    // An unknown reference: kept for review, and matched on a later monitor tick once an
    // order with that reference exists (SO-3 is the next reference the fake hands out).
    let early =
        json!({"external_order_id": "SO-3", "track_and_trace": "T3", "imei": "356938035643809"});
    let out = irp_pipeline::shipments::record(
        &db.store,
        r.id,
        &shipment(early.clone()),
        &early.to_string(),
        "POST",
        None,
    )
    .await
    .unwrap();
    let ShipmentOutcome::Unmatched {
        shipment_id: waiting,
        reason,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        reason,
        "no supplier order of this refurbisher has the reference or order number \"SO-3\""
    );
    assert_eq!(
        db.store
            .shipments()
            .list(Some(r.id), Some("unmatched"), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    let (so3, ref3) = placed(&db, &key, "RD-3").await;
    assert_eq!(ref3, "SO-3");
    let report = tick(&db.store, irp_store::now()).await.unwrap();
    assert_eq!(report.shipments_matched, 1);
    assert_eq!(status_of(&db, so3).await, "shipped");
    let (s, _) = db.store.shipments().get(waiting).await.unwrap().unwrap();
    assert_eq!(
        (s.status.as_str(), s.supplier_order_id),
        ("matched", Some(so3))
    );

    // A cancelled supplier order stays cancelled: the shipment waits for an operator, who
    // dismisses it. Matching by hand refuses a cancelled order too.
    let so4 = taken_in(&db, "RD-4").await;
    let pending =
        json!({"external_order_id": "RD-4", "track_and_trace": "T4", "imei": "356938035643809"});
    let out = irp_pipeline::shipments::record(
        &db.store,
        r.id,
        &shipment(pending.clone()),
        &pending.to_string(),
        "POST",
        None,
    )
    .await
    .unwrap();
    let ShipmentOutcome::Unmatched {
        shipment_id: s4,
        reason,
    } = out
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        reason,
        format!(
            "supplier order {so4} is still pending; the shipment is matched once the order is placed"
        )
    );
    db.store
        .supplier_orders()
        .cancel(so4, "test")
        .await
        .unwrap();
    assert_eq!(
        tick(&db.store, irp_store::now())
            .await
            .unwrap()
            .shipments_matched,
        0
    );
    assert_eq!(status_of(&db, so4).await, "cancelled");
    let err = db
        .store
        .shipments()
        .match_to(s4, so4, "test")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("is cancelled"), "{err}");
    db.store.shipments().dismiss(s4, "test").await.unwrap();
    assert_eq!(
        db.store
            .shipments()
            .get(s4)
            .await
            .unwrap()
            .unwrap()
            .0
            .status,
        "dismissed"
    );
    // A shipped order never goes back: a second shipment for it is stored, still shipped.
    let second =
        json!({"external_order_id": ref1, "track_and_trace": "3SABC999", "serial_number": "EXTRA"});
    let out = irp_pipeline::shipments::record(
        &db.store,
        r.id,
        &shipment(second.clone()),
        &second.to_string(),
        "POST",
        None,
    )
    .await
    .unwrap();
    assert!(matches!(out, ShipmentOutcome::Matched { .. }), "{out:?}");
    assert_eq!(status_of(&db, so1).await, "shipped");
    assert_eq!(
        db.store
            .shipments()
            .of_supplier_order(so1)
            .await
            .unwrap()
            .len(),
        2
    );
}

async fn webhook_tokens_rotate_with_a_grace_period_and_are_compared_by_hash(db: TestDb) {
    let (r, _) = flexit(&db, "http://127.0.0.1:1/order").await;
    assert_eq!(
        db.store
            .shipments()
            .webhook_state(r.id)
            .await
            .unwrap()
            .label(),
        "Not configured"
    );
    let first = db
        .store
        .shipments()
        .webhook_token_rotate("flexit", TimeDelta::hours(24), "test")
        .await
        .unwrap();
    assert_eq!(first.supplier_id, 10);
    assert!(first.previous_valid_until.is_none());
    assert!(first.token.starts_with("irpwh_") && first.token.len() > 60);
    let auth = |supplier: i64, token: String| {
        let store = db.store.clone();
        async move {
            store
                .shipments()
                .webhook_authenticate(supplier, &token)
                .await
                .unwrap()
                .map(|r| r.key)
        }
    };
    assert_eq!(
        auth(10, first.token.clone()).await.as_deref(),
        Some("flexit")
    );
    assert_eq!(
        auth(11, first.token.clone()).await,
        None,
        "another supplier id"
    );
    assert_eq!(auth(10, format!("{}x", first.token)).await, None);
    assert_eq!(auth(10, String::new()).await, None);
    // Only a hash is stored.
    let stored: Vec<String> = db
        .store
        .refurbishers()
        .list()
        .await
        .unwrap()
        .iter()
        .map(|r| r.document.to_string())
        .collect();
    assert!(stored.iter().all(|d| !d.contains(&first.token)));

    // Rotated with a grace period: both work; rotated again without one: only the newest.
    let second = db
        .store
        .shipments()
        .webhook_token_rotate("flexit", TimeDelta::hours(24), "test")
        .await
        .unwrap();
    assert!(second.previous_valid_until.is_some());
    assert_eq!(
        auth(10, first.token.clone()).await.as_deref(),
        Some("flexit")
    );
    assert_eq!(
        auth(10, second.token.clone()).await.as_deref(),
        Some("flexit")
    );
    let third = db
        .store
        .shipments()
        .webhook_token_rotate("flexit", TimeDelta::zero(), "test")
        .await
        .unwrap();
    assert_eq!(auth(10, first.token).await, None);
    assert_eq!(auth(10, second.token).await, None);
    assert_eq!(auth(10, third.token).await.as_deref(), Some("flexit"));
    assert!(
        db.store
            .shipments()
            .webhook_state(r.id)
            .await
            .unwrap()
            .label()
            .starts_with("Configured")
    );

    // No supplier id, no webhook.
    let mut doc = seed("flexit.json");
    doc["flexit"]["supplier_id"] = Value::Null;
    apply(&db, &doc).await;
    let err = db
        .store
        .shipments()
        .webhook_token_rotate("flexit", TimeDelta::hours(1), "test")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("has no supplier_id"), "{err}");
}

/// A finished feed run with `status` and `http_status`.
async fn run(db: &TestDb, refurbisher: i64, status: &str, http_status: Option<i64>) -> i64 {
    let id = db
        .store
        .feed_runs()
        .start(refurbisher, "schedule")
        .await
        .unwrap();
    db.store
        .feed_runs()
        .finish(
            id,
            &RunReport {
                status: status.parse().unwrap(),
                http_status,
                bytes: 0,
                duration_ms: 1,
                rows_read: 0,
                rows_accepted: 0,
                rows_rejected: 0,
                diff: None,
                errors_dropped: 0,
                message: None,
                content_hash: None,
            },
        )
        .await
        .unwrap();
    id
}

async fn open_metrics(db: &TestDb, key: &str) -> Vec<Metric> {
    let mut v: Vec<Metric> = db
        .store
        .monitor()
        .alerts_list(true, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|a| a.refurbisher.as_deref() == Some(key))
        .map(|a| a.metric)
        .collect();
    v.sort();
    v
}

async fn each_seed_threshold_opens_one_alert_and_resolves_it(db: TestDb) {
    // FlexIT's seed thresholds (48 h, 48 h, 4 days, 200), its offers over HTTP for the status;
    // iUsed's (58 h, 81 h, 9 days, 151 — a status no server sends as an answer).
    let endpoint = fake_flexit().await;
    let mut flexit_doc = seed("flexit.json");
    flexit_doc["flexit"]["order"]["endpoint"] = json!(endpoint);
    flexit_doc["flexit"]["offers"] = json!({"connection": "web", "endpoint": "http://127.0.0.1:1/feed.csv",
        "type": "csv", "separator": ";", "price_locale": "nl_NL",
        "mapping": {"name": "Description", "sku": "Flex IT Part Number", "stock_available": "Stock Quantity",
            "ean": "EAN", "price_purchase_amount": "Sales Price", "price_consumer_amount": "SRP"}});
    let flexit = apply(&db, &flexit_doc).await;
    let iused = apply(&db, &seed("iused-stores.json")).await;
    let t0: DateTime<Utc> = irp_store::now();
    let at = |h: i64| t0 + TimeDelta::hours(h);

    // Fresh: a fresh refurbisher with good runs breaches nothing but iUsed's status 151.
    run(&db, flexit.id, "succeeded", Some(200)).await;
    run(&db, iused.id, "succeeded", Some(200)).await;
    let rep = tick(&db.store, at(0)).await.unwrap();
    assert_eq!(
        rep.opened,
        vec![("iused-alumio".to_owned(), Metric::HttpStatus)]
    );
    // Ticking again opens nothing twice.
    assert!(tick(&db.store, at(0)).await.unwrap().opened.is_empty());

    // Hours without an order and without a refreshed feed: FlexIT at 49 h (48), not iUsed
    // (58 / 81); iUsed at 59 h for orders, 82 h for offers.
    let rep = tick(&db.store, at(49)).await.unwrap();
    let mut opened = rep.opened.clone();
    opened.sort();
    assert_eq!(
        opened,
        vec![
            ("flexit".to_owned(), Metric::LatestOrder),
            ("flexit".to_owned(), Metric::OffersStock),
        ]
    );
    let rep = tick(&db.store, at(59)).await.unwrap();
    assert_eq!(
        rep.opened,
        vec![("iused-alumio".to_owned(), Metric::LatestOrder)]
    );
    let rep = tick(&db.store, at(82)).await.unwrap();
    assert_eq!(
        rep.opened,
        vec![("iused-alumio".to_owned(), Metric::OffersStock)]
    );
    assert_eq!(
        open_metrics(&db, "iused-alumio").await,
        vec![Metric::LatestOrder, Metric::OffersStock, Metric::HttpStatus]
    );

    // Recovery: a run refreshes the offers (unchanged counts), an order comes in — resolved
    // at the clock's time (orders and runs are stamped with the real time, t0 + a moment).
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
    run(&db, flexit.id, "unchanged", Some(200)).await;
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.csv");
    std::fs::write(&feed, "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;50;8712345678906;100,00;999,00\n").unwrap();
    irp_pipeline::feed::import_file(&db.store, &flexit, &feed, "upload")
        .await
        .unwrap();
    let (so, _) = placed(&db, &key, "RD-1").await;
    let rep = tick(&db.store, at(1)).await.unwrap();
    let mut resolved = rep.resolved.clone();
    resolved.sort();
    assert_eq!(
        resolved,
        vec![
            ("flexit".to_owned(), Metric::LatestOrder),
            ("flexit".to_owned(), Metric::OffersStock),
            ("iused-alumio".to_owned(), Metric::LatestOrder),
            ("iused-alumio".to_owned(), Metric::OffersStock),
        ],
        "iUsed's clock went back to t0 + 1 h as well"
    );

    // The open supplier order ages: FlexIT breaches after 4 days; shipping it resolves that.
    let rep = tick(&db.store, at(4 * 24 + 1)).await.unwrap();
    assert!(
        rep.opened
            .contains(&("flexit".to_owned(), Metric::OpenOrder)),
        "{rep:?}"
    );
    let body = json!({"external_order_id": "SO-1", "track_and_trace": "T", "serial_number": "S"});
    irp_pipeline::shipments::record(
        &db.store,
        flexit.id,
        &shipment(body.clone()),
        &body.to_string(),
        "POST",
        None,
    )
    .await
    .unwrap();
    assert_eq!(status_of(&db, so).await, "shipped");
    // (Back at t0 + 1 h, which also resolves the order and offer hours that four days reopened.)
    let rep = tick(&db.store, at(1)).await.unwrap();
    assert!(
        rep.resolved
            .contains(&("flexit".to_owned(), Metric::OpenOrder)),
        "{rep:?}"
    );
    assert!(open_metrics(&db, "flexit").await.is_empty());

    // HTTP status: FlexIT's endpoint answers 503 → breach (and the run failed → feed_failed);
    // 200 again resolves both.
    run(&db, flexit.id, "failed", Some(503)).await;
    let rep = tick(&db.store, at(1)).await.unwrap();
    let mut opened = rep.opened.clone();
    opened.sort();
    assert_eq!(
        opened,
        vec![
            ("flexit".to_owned(), Metric::HttpStatus),
            ("flexit".to_owned(), Metric::FeedFailed),
        ]
    );
    let alert = db
        .store
        .monitor()
        .alerts_list(true, Some(flexit.id), 10)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.metric == "offers_endpoint_http_status")
        .unwrap();
    assert_eq!(
        (alert.value.as_deref(), alert.threshold.as_deref()),
        (Some("503"), Some("200"))
    );
    assert!(alert.message.contains("answered 503"), "{}", alert.message);
    run(&db, flexit.id, "unchanged", Some(200)).await;
    let rep = tick(&db.store, at(1)).await.unwrap();
    let mut resolved = rep.resolved.clone();
    resolved.sort();
    assert_eq!(
        resolved,
        vec![
            ("flexit".to_owned(), Metric::HttpStatus),
            ("flexit".to_owned(), Metric::FeedFailed),
        ]
    );

    // Quarantine: open while the latest run is quarantined, resolved by the next good run.
    run(&db, flexit.id, "quarantined", Some(200)).await;
    assert_eq!(
        tick(&db.store, at(1)).await.unwrap().opened,
        vec![("flexit".to_owned(), Metric::FeedQuarantined)]
    );
    run(&db, flexit.id, "succeeded", Some(200)).await;
    assert_eq!(
        tick(&db.store, at(1)).await.unwrap().resolved,
        vec![("flexit".to_owned(), Metric::FeedQuarantined)]
    );

    // iUsed's 151 resolves only when the threshold is corrected (config check warns about it).
    let mut fixed = seed("iused-stores.json");
    fixed["iused-alumio"]["monitoring"]["offers_endpoint_http_status"] = json!(200);
    apply(&db, &fixed).await;
    assert_eq!(
        tick(&db.store, at(1)).await.unwrap().resolved,
        vec![("iused-alumio".to_owned(), Metric::HttpStatus)]
    );
    assert!(open_metrics(&db, "iused-alumio").await.is_empty());
    assert!(open_metrics(&db, "flexit").await.is_empty());

    // Each open and each resolve is stored with its times and values.
    let all = db
        .store
        .monitor()
        .alerts_list(false, None, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), 13, "{all:#?}");
    // (The test clock jumps back and forth, so only that each has both times is checked.)
    assert!(
        all.iter()
            .all(|a| a.resolved_at.is_some() && a.value.is_some() && a.threshold.is_some())
    );
}

/// A notification receiver on loopback that answers each post with the next status of
/// `answers` (then 200), and keeps what it got.
async fn receiver(answers: Vec<u16>) -> (String, Arc<Mutex<Vec<Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(answers));
    let g = got.clone();
    let app = axum::Router::new().route(
        "/hook/SECRET",
        axum::routing::post(move |body: String| {
            let (g, answers) = (g.clone(), answers.clone());
            async move {
                g.lock()
                    .unwrap()
                    .push(serde_json::from_str::<Value>(&body).unwrap());
                let mut a = answers.lock().unwrap();
                let status = if a.is_empty() { 200 } else { a.remove(0) };
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook/SECRET"), got)
}

async fn alerts_are_notified_once_retried_when_the_webhook_fails(db: TestDb) {
    let iused = apply(&db, &seed("iused-stores.json")).await;
    run(&db, iused.id, "succeeded", Some(200)).await;
    let (url, got) = receiver(vec![500]).await;
    let notifier = Notifier::new(url);
    tick(&db.store, irp_store::now()).await.unwrap();
    // The first post fails (500): not sent, retried later.
    assert_eq!(notify_due(&db.store, &notifier).await.unwrap(), 0);
    let a = &db
        .store
        .monitor()
        .alerts_list(true, None, 10)
        .await
        .unwrap()[0];
    assert_eq!(a.notify_attempts, 1);
    assert!(
        a.notify_error.as_deref().unwrap().contains("answered 500"),
        "{:?}",
        a.notify_error
    );
    // The error names the host, never the URL's secret path.
    assert!(!a.notify_error.as_deref().unwrap().contains("SECRET"));
    assert_eq!(
        notify_due(&db.store, &notifier).await.unwrap(),
        0,
        "not due yet"
    );
    // Due again (as if 30 s passed): delivered, once.
    let id = a.id;
    db.store
        .monitor()
        .alert_notification_done(id, "opened", Some("simulated"), Some(irp_store::now()))
        .await
        .unwrap();
    assert_eq!(notify_due(&db.store, &notifier).await.unwrap(), 1);
    assert_eq!(notify_due(&db.store, &notifier).await.unwrap(), 0);
    // Resolved (the threshold fixed): the resolution is posted too.
    let mut fixed = seed("iused-stores.json");
    fixed["iused-alumio"]["monitoring"]["offers_endpoint_http_status"] = json!(200);
    apply(&db, &fixed).await;
    tick(&db.store, irp_store::now()).await.unwrap();
    assert_eq!(notify_due(&db.store, &notifier).await.unwrap(), 1);
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 3, "one failed post, the opening, the resolution");
    assert_eq!(got[1]["event"], "opened");
    assert_eq!(got[1]["alert"]["metric"], "offers_endpoint_http_status");
    assert!(
        got[1]["text"]
            .as_str()
            .unwrap()
            .contains("iused-alumio: the offers endpoint answered 200 in feed run"),
        "{}",
        got[1]["text"]
    );
    assert_eq!(got[2]["event"], "resolved");
    let a = db
        .store
        .monitor()
        .alerts_list(false, None, 10)
        .await
        .unwrap();
    assert!(a[0].resolved_notified_at.is_some() && a[0].notify_error.is_none());
}

async fn a_batch_of_shipments_is_written_in_one_transaction_copies_once(db: TestDb) {
    let endpoint = fake_flexit().await;
    let (r, key) = flexit(&db, &endpoint).await;
    let dir = tempfile::tempdir().unwrap();
    let feed = dir.path().join("f.csv");
    std::fs::write(&feed, "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;50;8712345678906;100,00;999,00\n").unwrap();
    irp_pipeline::feed::import_file(&db.store, &r, &feed, "manual")
        .await
        .unwrap();
    let (so, reference) = placed(&db, &key, "RD-1").await;
    // A shipment of 250 devices (units are written in chunks), the same shipment again in the
    // same batch, one for an unknown order, and one of the first batch again.
    let many: Vec<Value> = (0..250)
        .map(|i| json!({"serial_number": format!("SN-{i:03}")}))
        .collect();
    let big = json!({"external_order_id": reference, "track_and_trace": "BIG", "items": many});
    let unknown =
        json!({"external_order_id": "NOPE", "track_and_trace": "U", "imei": "356938035643809"});
    let mut batch = Vec::new();
    for body in [&big, &big, &unknown] {
        batch.push(
            irp_pipeline::shipments::prepare(
                &db.store,
                r.id,
                shipment(body.clone()),
                &body.to_string(),
                "POST",
                None,
            )
            .await
            .unwrap(),
        );
    }
    let out = db.store.shipments().write(batch).await.unwrap();
    assert_eq!(out.len(), 3);
    let ShipmentOutcome::Matched {
        shipment_id,
        supplier_order_id,
    } = out[0].clone()
    else {
        panic!("{out:?}")
    };
    assert_eq!(supplier_order_id, so);
    assert_eq!(
        out[1],
        ShipmentOutcome::Repeat {
            shipment_id,
            status: "matched".into()
        }
    );
    assert!(
        matches!(out[2], ShipmentOutcome::Unmatched { .. }),
        "{out:?}"
    );
    let (_, units) = db
        .store
        .shipments()
        .get(shipment_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(units.len(), 250);
    assert_eq!(units[249].serial_number.as_deref(), Some("SN-249"));
    assert_eq!(
        db.store
            .shipments()
            .list(None, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    let again = irp_pipeline::shipments::record(
        &db.store,
        r.id,
        &shipment(big.clone()),
        &big.to_string(),
        "POST",
        None,
    )
    .await
    .unwrap();
    assert_eq!(
        again,
        ShipmentOutcome::Repeat {
            shipment_id,
            status: "matched".into()
        }
    );
}

async fn a_quarantine_the_operator_discarded_does_not_reopen_from_a_stale_reading(db: TestDb) {
    let flexit = apply(&db, &seed("flexit.json")).await;
    let now = irp_store::now();
    let id = run(&db, flexit.id, "quarantined", Some(200)).await;
    assert_eq!(
        tick(&db.store, now).await.unwrap().opened,
        vec![("flexit".to_owned(), Metric::FeedQuarantined)]
    );
    // A tick read "run `id` is quarantined"; before it writes, the operator discards the run
    // (which resolves the alert). The stale reading must not open the alert again.
    db.store
        .feed_runs()
        .discard(id, "user:anna@iused.nl")
        .await
        .unwrap();
    assert!(open_metrics(&db, "flexit").await.is_empty());
    let change = db
        .store
        .monitor()
        .alert_sync(
            Some(flexit.id),
            Metric::FeedQuarantined,
            true,
            &id.to_string(),
            "-",
            "stale",
            now,
            Some((id, irp_core::feed::FeedRunStatus::Quarantined)),
        )
        .await
        .unwrap();
    assert_eq!(change, irp_store::monitor::AlertChange::None);
    assert!(open_metrics(&db, "flexit").await.is_empty());
    // A run that is still quarantined does open it.
    let again = run(&db, flexit.id, "quarantined", Some(200)).await;
    let change = db
        .store
        .monitor()
        .alert_sync(
            Some(flexit.id),
            Metric::FeedQuarantined,
            true,
            &again.to_string(),
            "-",
            "quarantined",
            now,
            Some((again, irp_core::feed::FeedRunStatus::Quarantined)),
        )
        .await
        .unwrap();
    assert!(matches!(change, irp_store::monitor::AlertChange::Opened(_)));
    // A tick that read the run before it (`id`, discarded: not quarantined) writes after
    // `again` ended quarantined and opened its alert: the stale reading does not resolve it.
    let change = db
        .store
        .monitor()
        .alert_sync(
            Some(flexit.id),
            Metric::FeedQuarantined,
            false,
            &id.to_string(),
            "-",
            "stale",
            now,
            Some((id, irp_core::feed::FeedRunStatus::Quarantined)),
        )
        .await
        .unwrap();
    assert_eq!(change, irp_store::monitor::AlertChange::None);
    assert_eq!(
        open_metrics(&db, "flexit").await,
        vec![Metric::FeedQuarantined]
    );
    // A tick read "the latest run failed" just before a good run ended: it does not open an
    // alert that the next tick would resolve.
    let failed = run(&db, flexit.id, "failed", Some(500)).await;
    run(&db, flexit.id, "succeeded", Some(200)).await;
    let change = db
        .store
        .monitor()
        .alert_sync(
            Some(flexit.id),
            Metric::FeedFailed,
            true,
            &failed.to_string(),
            "-",
            "stale",
            now,
            Some((failed, irp_core::feed::FeedRunStatus::Failed)),
        )
        .await
        .unwrap();
    assert_eq!(change, irp_store::monitor::AlertChange::None);
    assert!(
        !open_metrics(&db, "flexit")
            .await
            .contains(&Metric::FeedFailed)
    );
}
