//! Order intake on both databases: lines routed to the best offer of their channel (or the
//! named offer), the purchase price frozen, one supplier order per refurbisher (`pending` for a
//! refurbisher with an order connector, `internal` for iUsed Stores' `"order": {}`), lines that
//! cannot be routed kept as `needs_attention`, repeats idempotent, ordered units reserved until
//! the next feed run, and the FlexIT seed mapping rendering the stored supplier order.

#![allow(clippy::unwrap_used)] // a panic is how a test fails
// Amounts in cents read best as euros_cents: 160_23 is €160.23.
#![allow(clippy::inconsistent_digit_grouping)]

use irp_core::config::{parse_channels, parse_document};
use irp_core::mapping::render::render;
use irp_core::orders::parse_order;
use irp_pipeline::import::import_file;
use irp_store::StoreError;
use irp_store::db_tests;
use irp_store::refurbishers::StoredRefurbisher;
use irp_store::testkit::TestDb;
use serde_json::{Value, json};

const E1: &str = "8712345678906";
const E2: &str = "8712345678913";
const E3: &str = "8712345678920";

async fn apply(db: &TestDb, file: &str) -> StoredRefurbisher {
    let text = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/{file}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let doc = parse_document(&text);
    assert!(doc.is_ok(), "{:?}", doc.diagnostics);
    let out = db
        .store
        .refurbisher_apply(&doc.refurbishers, "test")
        .await
        .unwrap();
    db.store
        .refurbisher_get(&out[0].key)
        .await
        .unwrap()
        .unwrap()
}

async fn import(
    db: &TestDb,
    r: &StoredRefurbisher,
    dir: &tempfile::TempDir,
    name: &str,
    text: &str,
) {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    let rep = import_file(&db.store, r, &path, "manual").await.unwrap();
    assert!(
        matches!(rep.status.as_str(), "succeeded" | "unchanged"),
        "{rep:?}"
    );
}

fn flexit_feed(stock: i64) -> String {
    format!(
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n\
         FLX-A;Apple iPhone 13 128GB;{stock};{E1};100,00;999,00\n"
    )
}

fn order(number: &str, lines: Value) -> Value {
    json!({
        "channel": "refurbished-direct",
        "order_number": number,
        "placed_at": "2026-11-23T10:00:00Z",
        "customer": {"email": "jan@example.nl"},
        "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
            "house_number": "1", "house_number_addition": "A", "zipcode": "1012 LG",
            "city": "Amsterdam", "country": "NL"},
        "lines": lines
    })
}

async fn sellable(db: &TestDb, ean: &str) -> i64 {
    db.store.product_get(ean).await.unwrap().unwrap().sellable
}

db_tests!(an_order_is_routed_frozen_split_per_refurbisher_and_taken_in_once,);

async fn an_order_is_routed_frozen_split_per_refurbisher_and_taken_in_once(db: TestDb) {
    let flexit = apply(&db, "flexit.json").await;
    let iused = apply(&db, "iused-stores.json").await;
    let channels = std::fs::read_to_string(format!(
        "{}/../../config/channels.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    db.store
        .channels_apply(&parse_channels(&channels).channels, "test")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    import(&db, &flexit, &dir, "flexit-1.csv", &flexit_feed(5)).await;
    let iused_feed = json!({"offers": [{"description": "iUsed iPhone 12", "sku": "IU-2", "quantity": 9, "ean": E2,
        "costPrice": 90.0, "priceConsumer": 9999, "currencyIso": "EUR", "taxPercentage": 21}]});
    import(&db, &iused, &dir, "iused-1.json", &iused_feed.to_string()).await;
    assert_eq!(sellable(&db, E1).await, 4, "5 in stock − threshold 1");

    let raw = order(
        "RD-1",
        json!([
            {"ean": E1, "quantity": 1, "unit_price_incl_vat": "160.23"},
            {"ean": E2, "quantity": 2, "unit_price_incl_vat": "250.00"},
            {"ean": E3, "quantity": 1, "unit_price_incl_vat": "10.00"},
            {"refurbisher": "flexit", "sku": "FLX-A", "quantity": 1, "unit_price_incl_vat": 160.23},
            {"refurbisher": "flexit", "sku": "NOPE", "quantity": 1, "unit_price_incl_vat": 1}
        ]),
    );
    let doc = parse_order(&raw).unwrap();
    let intake = db.store.order_create(&doc, &raw, "test").await.unwrap();
    assert!(intake.created);
    let o = intake.order;
    assert_eq!(o.status, "needs_attention", "two lines cannot be routed");
    assert_eq!(o.document.0, raw, "the document is kept as received");

    let lines = db.store.order_lines(o.id).await.unwrap();
    type Summary<'a> = (i64, Option<&'a str>, Option<i64>, Option<i64>, &'a str);
    let summary: Vec<Summary> = lines
        .iter()
        .map(|l| {
            (
                l.line_number,
                l.sku.as_deref(),
                l.refurbisher_id,
                l.purchase_price_minor,
                l.status.as_str(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, Some("FLX-A"), Some(15), Some(100_00), "routed"),
            (2, Some("IU-2"), Some(1), Some(90_00), "routed"),
            (3, None, None, None, "needs_attention"),
            (4, Some("FLX-A"), Some(15), Some(100_00), "routed"),
            (5, Some("NOPE"), None, None, "needs_attention"),
        ]
    );
    assert_eq!(lines[0].unit_price_incl_minor, 160_23);
    assert_eq!(
        lines[2].attention_reason.as_deref(),
        Some("no sellable offer for EAN 8712345678920 in channel `refurbished-direct`")
    );
    assert_eq!(
        lines[4].attention_reason.as_deref(),
        Some("flexit has no offer NOPE")
    );

    let sos = db.store.supplier_orders_of(o.id).await.unwrap();
    let so_summary: Vec<(i64, &str)> = sos
        .iter()
        .map(|s| (s.refurbisher_id, s.status.as_str()))
        .collect();
    assert_eq!(so_summary, vec![(15, "pending"), (1, "internal")]);
    assert_eq!(lines[0].supplier_order_id, Some(sos[0].id));
    assert_eq!(lines[3].supplier_order_id, Some(sos[0].id));
    assert_eq!(lines[1].supplier_order_id, Some(sos[1].id));
    assert_ne!(sos[0].idempotency_key, sos[1].idempotency_key);

    // Two units of FLX-A are reserved until FlexIT's next feed run: 5 − 2 − 1 sellable.
    assert_eq!(sellable(&db, E1).await, 2);

    // A repeat returns the stored order and changes nothing.
    let again = db.store.order_create(&doc, &raw, "test").await.unwrap();
    assert!(!again.created);
    assert_eq!(again.order.id, o.id);
    assert_eq!(db.store.supplier_orders_of(o.id).await.unwrap().len(), 2);
    assert_eq!(sellable(&db, E1).await, 2);

    // The FlexIT seed mapping renders the stored supplier order.
    let ctx = db.store.supplier_order_context(sos[0].id).await.unwrap();
    let body = render(
        flexit.model.order.as_ref().unwrap(),
        &serde_json::to_value(&ctx).unwrap(),
    )
    .unwrap();
    assert_eq!(
        body,
        json!({
            "customerNumber": 218535,
            "yourReference": "RD-1",
            "externalDocumentNumber": sos[0].id.to_string(),
            "currencyCode": "EUR",
            "shipping": {
                "isBlindShip": true,
                "contact": {"name": "Jan de Vries", "email": "no-reply@iused.nl", "phoneNumber": "0612345678"},
                "address": {"postalCode": "1012 LG", "name": "Jan de Vries", "countryCode": "NL",
                    "city": "Amsterdam", "addressLine1": "Damrak 1 A"}
            },
            "lines": [
                {"sku": "FLX-A", "quantity": 1, "unitPrice": 100.0},
                {"sku": "FLX-A", "quantity": 1, "unitPrice": 100.0}
            ]
        })
    );
    assert_eq!(ctx.items[0].unit_price_tax_incl.to_string(), "121.00");

    // FlexIT's next feed counts from its own stock again.
    import(&db, &flexit, &dir, "flexit-2.csv", &flexit_feed(3)).await;
    assert_eq!(sellable(&db, E1).await, 2, "3 in stock − threshold 1");

    // A channel that is not configured is named.
    let mut other = order(
        "X-1",
        json!([{"ean": E1, "quantity": 1, "unit_price_incl_vat": "1"}]),
    );
    other["channel"] = json!("nope");
    let err = db
        .store
        .order_create(&parse_order(&other).unwrap(), &other, "test")
        .await
        .unwrap_err();
    match err {
        StoreError::Invalid(errs) => assert_eq!(
            errs[0].to_string(),
            "channel: got \"nope\", expected a configured channel: econocom, refurbished-direct"
        ),
        other => panic!("{other}"),
    }
}
