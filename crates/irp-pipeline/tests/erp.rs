//! The back office against the fake Odoo behind its fake Alumio, on both databases: a FlexIT
//! supplier order becomes exactly one purchase order at vendor 21469 — also when its product is
//! missing at first (failed, visible, retried by an operator) and when an instance crashed after
//! creating it (the next one finds it by its reference); an iUsed Stores order becomes one sales
//! order on Odoo's own stock; JSON-2 through per-call proxies works the same.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::time::Duration;

use irp_core::config::{parse_channels, parse_document, parse_erp};
use irp_core::orders::parse_order;
use irp_pipeline::erp;
use irp_pipeline::feed::import_file;
use irp_store::db_tests;
use irp_store::secrets::SecretKey;
use irp_store::testkit::TestDb;
use irp_testkit::fake_odoo::{FakeOdoo, FakeOdooConfig};
use serde_json::{Value, json};

const FLEX_EAN: &str = "8712345678906";
const IUSED_EAN: &str = "8712345678913";

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

fn seed(file: &str) -> Value {
    let text = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    serde_json::from_str(&text).unwrap()
}

/// FlexIT (its order API on loopback) and iUsed Stores with a FlexIT and an iUsed offer, the
/// channels, the secrets; returns the secret key.
async fn setup(db: &TestDb, erp_doc: Value) -> SecretKey {
    let mut flexit = seed("flexit.json");
    flexit["flexit"]["order"]["endpoint"] = json!(fake_order_api().await);
    for doc in [flexit, seed("iused-stores.json")] {
        let parsed = parse_document(&doc.to_string());
        assert!(parsed.refurbishers.len() == 1, "{:?}", parsed.diagnostics);
        irp_pipeline::catalog::apply_refurbishers(&db.store, &parsed.refurbishers, "test")
            .await
            .unwrap();
    }
    let channels = std::fs::read_to_string(format!(
        "{}/../../config/channels.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    irp_pipeline::catalog::apply_channels(&db.store, &parse_channels(&channels).channels, "test")
        .await
        .unwrap();
    let key = SecretKey::generate().unwrap();
    let cfg = FakeOdooConfig::default();
    for (name, value) in [
        ("flexit.order.auth.client_id", "test-client-id"),
        ("flexit.order.auth.client_secret", "test-client-secret"),
        ("erp.api_key", cfg.api_key.as_str()),
        ("erp.alumio_auth", cfg.alumio_token.as_str()),
    ] {
        db.store.secrets().set(&key, name, value).await.unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let flex = dir.path().join("flexit.csv");
    std::fs::write(
        &flex,
        format!("Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\nFLX-A;Apple iPhone 13;10;{FLEX_EAN};100,00;999,00\n"),
    )
    .unwrap();
    let iused = dir.path().join("iused.json");
    std::fs::write(
        &iused,
        json!({"offers": [{"description": "Apple iPhone 12", "sku": "IU-12", "quantity": 4, "ean": IUSED_EAN,
            "costPrice": "300.00", "priceConsumer": "999.00", "currencyIso": "EUR", "taxPercentage": "21"}]})
        .to_string(),
    )
    .unwrap();
    for (k, path) in [("flexit", &flex), ("iused-alumio", &iused)] {
        let r = db.store.refurbishers().get(k).await.unwrap().unwrap();
        let rep = import_file(&db.store, &r, path, "manual").await.unwrap();
        assert_eq!(rep.status.as_str(), "succeeded", "{k}: {rep:?}");
    }
    let parsed = parse_erp(&erp_doc.to_string());
    assert!(parsed.erp.is_some(), "{:?}", parsed.diagnostics);
    db.store
        .erp()
        .apply(parsed.erp.as_ref().unwrap(), "test")
        .await
        .unwrap();
    key
}

fn jsonrpc_doc(odoo: &FakeOdoo, max_attempts: i64) -> Value {
    json!({"erp": {"protocol": "jsonrpc", "url": odoo.url,
        "alumio": {"proxy": "odoo-jsonrpc", "auth_value": "${secret:erp.alumio_auth}"},
        "database": "iused", "login": "irp@iused.nl", "api_key": "${secret:erp.api_key}",
        "max_attempts": max_attempts}})
}

/// An order of one unit of `ean`; returns its supplier order id.
async fn order(db: &TestDb, number: &str, eans: &[&str]) -> Vec<i64> {
    let lines: Vec<Value> = eans
        .iter()
        .map(|e| json!({"ean": e, "quantity": 1, "unit_price_incl_vat": "160.23"}))
        .collect();
    let raw = json!({
        "channel": "refurbished-direct", "order_number": number, "placed_at": "2026-12-03T10:00:00Z",
        "customer": {"email": "jan@example.nl"},
        "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
            "house_number": "1", "house_number_addition": "A", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
        "lines": lines,
    });
    let intake =
        irp_pipeline::orders::take_in(&db.store, &parse_order(&raw).unwrap(), &raw, "test")
            .await
            .unwrap();
    db.store
        .orders()
        .supplier_orders_of(intake.order.id)
        .await
        .unwrap()
        .iter()
        .map(|s| s.id)
        .collect()
}

async fn submit_all(db: &TestDb, key: &SecretKey) {
    while let Some(done) = irp_pipeline::orders::submit_one(&db.store, Some(key), "test")
        .await
        .unwrap()
    {
        assert_eq!(done.outcome, "submitted", "{done:?}");
    }
}

db_tests!(
    a_flexit_order_is_one_purchase_order_and_an_iused_order_one_sales_order,
    json2_through_per_call_proxies_records_the_same,
    odoo_directly_and_its_error_envelope,
);

async fn a_flexit_order_is_one_purchase_order_and_an_iused_order_one_sales_order(db: TestDb) {
    let odoo = FakeOdoo::start(FakeOdooConfig::default()).await;
    odoo.add_proxy("odoo-jsonrpc", "/jsonrpc", &[]);
    odoo.add_partner_with_id(21469, "Flex IT Distribution");
    odoo.add_partner_with_id(9, "iUsed");
    let iused_product = odoo.add_product("IU-12", IUSED_EAN, "Apple iPhone 12", 4.0);
    let key = setup(&db, jsonrpc_doc(&odoo, 1)).await;
    let sos = order(&db, "RD-1", &[FLEX_EAN, IUSED_EAN]).await;
    assert_eq!(sos.len(), 2);
    submit_all(&db, &key).await;
    let e = erp::connect(&db.store, Some(&key)).await.unwrap();
    assert!(erp::check(&e).await.unwrap().contains("irp@iused.nl"));

    // FlexIT's product is not in Odoo yet: its purchase order fails, visibly; iUsed's sales
    // order goes through, taking the unit from Odoo's stock.
    let r = erp::round(&db.store, &e, "instance-a").await.unwrap();
    assert_eq!((r.enqueued, r.done, r.failed), (2, 1, 1), "{r:?}");
    let docs = db.store.erp().documents(None, 10).await.unwrap();
    let flex_doc = docs.iter().find(|d| d.refurbisher == "flexit").unwrap();
    assert_eq!(flex_doc.status, "failed");
    let why = flex_doc.last_error.clone().unwrap();
    assert!(why.contains(FLEX_EAN) && why.contains("FLX-A"), "{why}");
    let iused_doc = docs
        .iter()
        .find(|d| d.refurbisher == "iused-alumio")
        .unwrap();
    assert_eq!(
        (iused_doc.kind.as_str(), iused_doc.status.as_str()),
        ("sales_order", "done")
    );
    let sales = odoo.records("sale.order");
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0]["state"], "sale");
    assert_eq!(sales[0]["client_order_ref"], iused_doc.reference);
    assert_eq!(sales[0]["order_line"][0]["product_id"], iused_product);
    assert_eq!(sales[0]["order_line"][0]["product_uom_qty"], json!(1.0));
    assert_eq!(sales[0]["order_line"][0]["price_unit"], json!(132.42));
    let customer = odoo
        .records("res.partner")
        .into_iter()
        .find(|p| p["email"] == "jan@example.nl")
        .unwrap();
    assert_eq!(sales[0]["partner_id"], customer["id"]);
    assert_eq!(customer["street"], "Damrak 1 A");
    assert_eq!(iused_doc.odoo_id, sales[0]["id"].as_i64());
    let product = odoo
        .records("product.product")
        .into_iter()
        .find(|p| p["default_code"] == "IU-12")
        .unwrap();
    assert_eq!(product["free_qty"], json!(3.0), "reserved on confirm");

    // The product is made in Odoo; an operator retries: one purchase order at vendor 21469.
    let flex_product = odoo.add_product("FLX-A", FLEX_EAN, "Apple iPhone 13", 0.0);
    db.store.erp().retry(sos[0], "operator").await.unwrap();
    let r = erp::round(&db.store, &e, "instance-a").await.unwrap();
    assert_eq!((r.done, r.failed), (1, 0), "{r:?}");
    let pos = odoo.records("purchase.order");
    assert_eq!(pos.len(), 1);
    assert_eq!(pos[0]["partner_id"], 21469);
    assert_eq!(pos[0]["state"], "purchase");
    assert_eq!(pos[0]["partner_ref"], format!("IRP-SO-{}", sos[0]));
    assert_eq!(pos[0]["origin"], "refurbished-direct/RD-1");
    assert_eq!(pos[0]["order_line"][0]["product_id"], flex_product);
    assert_eq!(pos[0]["order_line"][0]["product_qty"], json!(1.0));
    assert_eq!(pos[0]["order_line"][0]["price_unit"], json!(100.0));
    let flex_doc = db.store.erp().document(sos[0]).await.unwrap().unwrap();
    assert_eq!(flex_doc.odoo_id, pos[0]["id"].as_i64());
    assert_eq!(flex_doc.odoo_name.as_deref(), pos[0]["name"].as_str());

    // Nothing due: nothing is sent, nothing doubled.
    odoo.clear_requests();
    let r = erp::round(&db.store, &e, "instance-a").await.unwrap();
    assert_eq!((r.enqueued, r.done), (0, 0));
    assert!(odoo.requests().is_empty(), "{:?}", odoo.requests());

    // An instance crashed after creating the purchase order of the next FlexIT order, before
    // recording it: another instance (a fresh connection, as after a restart) finds it by its
    // reference and does not create a second one.
    let so2 = order(&db, "RD-2", &[FLEX_EAN]).await[0];
    submit_all(&db, &key).await;
    db.store
        .erp()
        .enqueue(so2, "purchase_order", &format!("IRP-SO-{so2}"), false)
        .await
        .unwrap();
    let claimed = db
        .store
        .erp()
        .claim("crashed", chrono::TimeDelta::milliseconds(1), 10)
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    let made_by_the_crashed_one = odoo.create_record(
        "purchase.order",
        json!({"partner_id": 21469, "partner_ref": format!("IRP-SO-{so2}"),
            "order_line": [[0, 0, {"product_id": flex_product, "product_qty": 1, "price_unit": 100.0}]]}),
    );
    tokio::time::sleep(Duration::from_millis(20)).await;
    let restarted = erp::connect(&db.store, Some(&key)).await.unwrap();
    let r = erp::round(&db.store, &restarted, "instance-b")
        .await
        .unwrap();
    assert_eq!(r.done, 1, "{r:?}");
    let pos = odoo.records("purchase.order");
    assert_eq!(pos.len(), 2, "one purchase order per supplier order");
    let doc2 = db.store.erp().document(so2).await.unwrap().unwrap();
    assert_eq!(doc2.odoo_id, Some(made_by_the_crashed_one));
    let confirmed = pos
        .iter()
        .find(|p| p["id"] == made_by_the_crashed_one)
        .unwrap();
    assert_eq!(confirmed["state"], "purchase");
}

async fn json2_through_per_call_proxies_records_the_same(db: TestDb) {
    let cfg = FakeOdooConfig::default();
    let odoo = FakeOdoo::start(cfg.clone()).await;
    let bearer = format!("bearer {}", cfg.api_key);
    let mut proxies = serde_json::Map::new();
    for call in irp_core::config::validate::ODOO_CALLS {
        let id = format!("odoo-{}", call.replace(['/', '.'], "-"));
        odoo.add_proxy(
            &id,
            &format!("/json/2/{call}"),
            &[("Authorization", bearer.as_str())],
        );
        proxies.insert((*call).to_owned(), json!(id));
    }
    odoo.add_partner_with_id(21469, "Flex IT Distribution");
    odoo.add_product("FLX-A", FLEX_EAN, "Apple iPhone 13", 0.0);
    let doc = json!({"erp": {"protocol": "json2", "url": odoo.url,
        "alumio": {"proxies": proxies, "auth_value": "${secret:erp.alumio_auth}"},
        "database": "iused", "login": "irp@iused.nl", "api_key": "${secret:erp.api_key}"}});
    let key = setup(&db, doc).await;
    let sos = order(&db, "RD-9", &[FLEX_EAN]).await;
    submit_all(&db, &key).await;
    let e = erp::connect(&db.store, Some(&key)).await.unwrap();
    erp::check(&e).await.unwrap();
    let r = erp::round(&db.store, &e, "instance-a").await.unwrap();
    assert_eq!((r.done, r.failed), (1, 0), "{r:?}");
    let pos = odoo.records("purchase.order");
    assert_eq!(pos.len(), 1);
    assert_eq!(pos[0]["partner_ref"], format!("IRP-SO-{}", sos[0]));
    assert_eq!(pos[0]["state"], "purchase");
    assert!(
        odoo.requests()
            .iter()
            .all(|q| q.path.starts_with("/api/v1/http-proxy/")),
        "every call through Alumio"
    );
}

async fn odoo_directly_and_its_error_envelope(db: TestDb) {
    let cfg = FakeOdooConfig::default();
    let odoo = FakeOdoo::start(cfg.clone()).await;
    odoo.add_partner_with_id(21469, "Flex IT Distribution");
    odoo.add_product("FLX-A", FLEX_EAN, "Apple iPhone 13", 0.0);
    // Odoo's own JSON-RPC, no Alumio.
    let doc = json!({"erp": {"protocol": "jsonrpc", "url": odoo.url, "database": "iused",
        "login": "irp@iused.nl", "api_key": "${secret:erp.api_key}", "max_attempts": 1}});
    let key = setup(&db, doc).await;
    let sos = order(&db, "RD-5", &[FLEX_EAN]).await;
    submit_all(&db, &key).await;
    let e = erp::connect(&db.store, Some(&key)).await.unwrap();
    // Odoo answers its error object (HTTP 200): an error, with Odoo's message kept.
    odoo.fail_next_rpc("Vendor Flex IT Distribution is archived", 1);
    let r = erp::round(&db.store, &e, "instance-a").await.unwrap();
    assert_eq!((r.done, r.failed), (0, 1), "{r:?}");
    let doc = db.store.erp().document(sos[0]).await.unwrap().unwrap();
    let why = doc.last_error.unwrap();
    assert!(
        why.contains("Vendor Flex IT Distribution is archived"),
        "{why}"
    );
    assert!(!why.contains(&cfg.api_key), "{why}");
    assert!(odoo.records("purchase.order").is_empty());
    db.store.erp().retry(sos[0], "operator").await.unwrap();
    let r = erp::round(&db.store, &e, "instance-a").await.unwrap();
    assert_eq!(r.done, 1, "{r:?}");
    assert!(odoo.requests().iter().all(|q| q.path == "/jsonrpc"));

    // Odoo's JSON-2, directly: the bearer key and the database header.
    let doc = json!({"erp": {"protocol": "json2", "url": odoo.url, "database": "iused",
        "login": "irp@iused.nl", "api_key": "${secret:erp.api_key}"}});
    let parsed = parse_erp(&doc.to_string());
    db.store
        .erp()
        .apply(parsed.erp.as_ref().unwrap(), "test")
        .await
        .unwrap();
    let sos = order(&db, "RD-6", &[FLEX_EAN]).await;
    submit_all(&db, &key).await;
    let e = erp::connect(&db.store, Some(&key)).await.unwrap();
    odoo.clear_requests();
    let r = erp::round(&db.store, &e, "instance-a").await.unwrap();
    assert_eq!(r.done, 1, "{r:?}");
    assert!(
        odoo.requests()
            .iter()
            .all(|q| q.path.starts_with("/json/2/") && q.status == 200),
        "{:?}",
        odoo.requests()
    );
    let pos = odoo.records("purchase.order");
    assert_eq!(pos.len(), 2);
    assert!(
        pos.iter()
            .any(|p| p["partner_ref"] == format!("IRP-SO-{}", sos[0]))
    );

    // Wrong credentials: a clear error naming the user, never the key.
    db.store
        .secrets()
        .set(&key, "erp.api_key", "wrong-key-987")
        .await
        .unwrap();
    let e = erp::connect(&db.store, Some(&key)).await.unwrap();
    let err = erp::check(&e).await.unwrap_err().to_string();
    assert!(
        err.contains("401") || err.contains("Invalid apikey"),
        "{err}"
    );
    assert!(!err.contains("wrong-key-987"), "{err}");
}
