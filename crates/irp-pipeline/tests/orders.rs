//! Order intake on both databases: lines routed to the best offer of their channel (or the
//! named offer), the purchase price frozen, one supplier order per refurbisher (`pending` for a
//! refurbisher with an order connector, `internal` for iUsed Stores' `"order": {}`), lines that
//! cannot be routed kept as `needs_attention`, repeats idempotent, ordered units reserved until
//! the next feed run, and the FlexIT seed mapping rendering the stored supplier order. Then the
//! outbox against a loopback HTTP server that plays FlexIT: the exact payload and credentials,
//! and every failure mode ending in its documented state.

#![allow(clippy::unwrap_used)] // a panic is how a test fails
// Amounts in cents read best as euros_cents: 160_23 is €160.23.
#![allow(clippy::inconsistent_digit_grouping)]

use irp_core::config::{parse_channels, parse_document};
use irp_core::mapping::render::render;
use irp_core::orders::parse_order;
use irp_pipeline::feed::import_file;
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
    db.store
        .catalog()
        .product(ean)
        .await
        .unwrap()
        .unwrap()
        .sellable
}

db_tests!(
    an_order_is_routed_frozen_split_per_refurbisher_and_taken_in_once,
    supplier_orders_are_placed_at_a_fake_flexit_and_every_failure_ends_in_its_state,
    an_order_goes_out_with_the_configured_method_and_a_405_says_which_to_set,
);

/// The onboarding guide lets a refurbisher's order API take PUT, POST or PATCH: FlexIT's
/// connector with `method` PUT, then PATCH, places the order with that method (the same body);
/// an endpoint that answers 405 to the configured method fails the supplier order at once,
/// naming the method and what the endpoint allows.
async fn an_order_goes_out_with_the_configured_method_and_a_405_says_which_to_set(db: TestDb) {
    use irp_pipeline::orders::submit_one;
    use irp_store::secrets::SecretKey;
    type Calls = std::sync::Arc<std::sync::Mutex<Vec<(String, Value)>>>;
    let calls: Calls = Calls::default();
    // `/order` takes PUT and PATCH, `/post-only` POST only (axum answers anything else 405
    // with an `Allow` header).
    let app = {
        let record = |calls: Calls| {
            move |method: axum::http::Method, body: String| {
                let calls = calls.clone();
                async move {
                    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    calls.lock().unwrap().push((method.to_string(), v));
                    (axum::http::StatusCode::CREATED, r#"{"OrderNumber":"SO-M"}"#)
                }
            }
        };
        axum::Router::new()
            .route(
                "/order",
                axum::routing::put(record(calls.clone())).patch(record(calls.clone())),
            )
            .route("/post-only", axum::routing::post(record(calls.clone())))
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let key = SecretKey::generate().unwrap();
    for (name, value) in [
        ("flexit.order.auth.client_id", "flexit-id"),
        ("flexit.order.auth.client_secret", "flexit-secret"),
    ] {
        db.store.secrets().set(&key, name, value).await.unwrap();
    }
    let channels = std::fs::read_to_string(format!(
        "{}/../../config/channels.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    irp_pipeline::catalog::apply_channels(&db.store, &parse_channels(&channels).channels, "test")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (i, method) in ["PUT", "PATCH"].into_iter().enumerate() {
        let flexit = flexit_at(
            &db,
            &format!("http://{addr}/order"),
            &format!(" \"method\": \"{method}\","),
        )
        .await;
        import(
            &db,
            &flexit,
            &dir,
            &format!("flexit-{i}.csv"),
            &flexit_feed(50),
        )
        .await;
        let so = place_order(&db, &format!("RD-{method}")).await;
        let done = submit_one(&db.store, Some(&key), "test")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(done.outcome, "submitted", "{method}: {done:?}");
        assert_eq!(
            supplier_order(&db, so.id)
                .await
                .external_order_reference
                .as_deref(),
            Some("SO-M")
        );
        let (seen, body) = calls.lock().unwrap().last().unwrap().clone();
        assert_eq!(seen, method);
        assert_eq!(body["yourReference"], json!(format!("RD-{method}")));
    }
    let placed = calls.lock().unwrap().len();

    // PUT to an endpoint that takes POST only.
    let flexit = flexit_at(
        &db,
        &format!("http://{addr}/post-only"),
        " \"method\": \"PUT\",",
    )
    .await;
    import(&db, &flexit, &dir, "flexit-405.csv", &flexit_feed(50)).await;
    let so = place_order(&db, "RD-405").await;
    let done = submit_one(&db.store, Some(&key), "test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.outcome.as_str(), done.status),
        ("failed", Some(405)),
        "{done:?}"
    );
    let failed = supplier_order(&db, so.id).await;
    assert_eq!(failed.status, "failed");
    let reason = failed.last_error.unwrap_or_default();
    assert!(
        reason.contains("does not take PUT")
            && reason.contains("it allows POST")
            && reason.contains("`method`"),
        "{reason}"
    );
    assert_eq!(calls.lock().unwrap().len(), placed, "the handler never ran");
    assert!(
        submit_one(&db.store, Some(&key), "test")
            .await
            .unwrap()
            .is_none(),
        "not retried"
    );
}

async fn an_order_is_routed_frozen_split_per_refurbisher_and_taken_in_once(db: TestDb) {
    let flexit = apply(&db, "flexit.json").await;
    let iused = apply(&db, "iused-stores.json").await;
    let channels = std::fs::read_to_string(format!(
        "{}/../../config/channels.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    irp_pipeline::catalog::apply_channels(&db.store, &parse_channels(&channels).channels, "test")
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
    let intake = irp_pipeline::orders::take_in(&db.store, &doc, &raw, "test")
        .await
        .unwrap();
    assert!(intake.created);
    let o = intake.order;
    assert_eq!(o.status, "needs_attention", "two lines cannot be routed");
    assert_eq!(o.document.0, raw, "the document is kept as received");

    let lines = db.store.orders().lines(o.id).await.unwrap();
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

    let sos = db.store.orders().supplier_orders_of(o.id).await.unwrap();
    let so_summary: Vec<(i64, &str)> = sos
        .iter()
        .map(|s| (s.refurbisher_id, s.status.as_str()))
        .collect();
    assert_eq!(so_summary, vec![(15, "pending"), (1, "internal")]);
    assert_eq!(lines[0].supplier_order_id, Some(sos[0].id));
    assert_eq!(lines[3].supplier_order_id, Some(sos[0].id));
    assert_eq!(lines[1].supplier_order_id, Some(sos[1].id));
    assert_ne!(sos[0].idempotency_key, sos[1].idempotency_key);

    // Two units of FLX-A are reserved until FlexIT's next feed run: 5 − 2 − 1 sellable (once
    // the catalog is recomputed: serve does that in the background).
    assert_eq!(sellable(&db, E1).await, 4);
    irp_pipeline::catalog::recompute(&db.store).await.unwrap();
    assert_eq!(sellable(&db, E1).await, 2);

    // The next order counts what this one reserved, even before the catalog shows it: 2 of
    // 4 sellable are left, so 3 more cannot be routed.
    let more = order(
        "RD-MORE",
        json!([{"ean": E1, "quantity": 3, "unit_price_incl_vat": "160.23"}]),
    );
    let m = irp_pipeline::orders::take_in(&db.store, &parse_order(&more).unwrap(), &more, "test")
        .await
        .unwrap();
    let l = db.store.orders().lines(m.order.id).await.unwrap();
    assert_eq!(
        l[0].attention_reason.as_deref(),
        Some("only 2 sellable at flexit (SKU FLX-A), 3 ordered")
    );

    // A repeat returns the stored order and changes nothing.
    let again = irp_pipeline::orders::take_in(&db.store, &doc, &raw, "test")
        .await
        .unwrap();
    assert!(!again.created);
    assert_eq!(again.order.id, o.id);
    assert_eq!(
        db.store
            .orders()
            .supplier_orders_of(o.id)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(sellable(&db, E1).await, 2);

    // The FlexIT seed mapping renders the stored supplier order.
    let ctx = db
        .store
        .orders()
        .supplier_order_context(sos[0].id)
        .await
        .unwrap();
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
    let err =
        irp_pipeline::orders::take_in(&db.store, &parse_order(&other).unwrap(), &other, "test")
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

/// What the fake FlexIT answers, in turn; the last one repeats.
#[derive(Clone)]
enum Answer {
    /// Status and body.
    Reply(u16, &'static str, Option<&'static str>),
    /// Read the request, then say nothing for this long.
    Hang(std::time::Duration),
}

/// The headers of interest and the body of one request.
type Seen = (Vec<(String, String)>, Value);

#[derive(Clone, Default)]
struct FakeFlexit {
    answers: std::sync::Arc<std::sync::Mutex<Vec<Answer>>>,
    /// (headers of interest, body) of every request.
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
}

impl FakeFlexit {
    async fn start() -> (FakeFlexit, String) {
        use axum::http::{HeaderMap, StatusCode};
        let fake = FakeFlexit::default();
        let state = fake.clone();
        let app = axum::Router::new().route(
            "/order/api/order",
            axum::routing::post(move |headers: HeaderMap, body: String| {
                let state = state.clone();
                async move {
                    let keep: Vec<(String, String)> = [
                        "client_id",
                        "client_secret",
                        "idempotency-key",
                        "content-type",
                    ]
                    .iter()
                    .filter_map(|h| {
                        headers
                            .get(*h)
                            .map(|v| ((*h).to_owned(), v.to_str().unwrap_or("").to_owned()))
                    })
                    .collect();
                    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                    state.seen.lock().unwrap().push((keep.clone(), json));
                    // FlexIT checks its credentials first.
                    let authorised = keep.contains(&("client_id".into(), "flexit-id".into()))
                        && keep.contains(&("client_secret".into(), "flexit-secret".into()));
                    let answer = {
                        let mut a = state.answers.lock().unwrap();
                        if a.len() > 1 {
                            a.remove(0)
                        } else {
                            a[0].clone()
                        }
                    };
                    if !authorised {
                        return (
                            StatusCode::UNAUTHORIZED,
                            [("retry-after", "0".to_owned())],
                            "{\"error\":\"unauthorized\"}".to_owned(),
                        );
                    }
                    match answer {
                        Answer::Reply(status, body, retry_after) => (
                            StatusCode::from_u16(status).unwrap(),
                            [("retry-after", retry_after.unwrap_or("").to_owned())],
                            body.to_owned(),
                        ),
                        Answer::Hang(d) => {
                            tokio::time::sleep(d).await;
                            (
                                StatusCode::CREATED,
                                [("retry-after", String::new())],
                                "{\"OrderNumber\":\"LATE\"}".to_owned(),
                            )
                        }
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (fake, format!("http://{addr}/order/api/order"))
    }

    fn answer(&self, answers: Vec<Answer>) {
        *self.answers.lock().unwrap() = answers;
    }

    fn requests(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

/// FlexIT's seed config with its order endpoint at the fake (and `extra` keys in `order`).
async fn flexit_at(db: &TestDb, endpoint: &str, extra: &str) -> StoredRefurbisher {
    let text = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/flexit.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
    .replace(
        "https://api.flexitdistribution.com/order/api/order",
        endpoint,
    )
    .replace(
        "\"connection\": \"web\",",
        &format!("\"connection\": \"web\",{extra}"),
    );
    let doc = parse_document(&text);
    assert!(doc.is_ok(), "{:?}", doc.diagnostics);
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

async fn place_order(db: &TestDb, number: &str) -> irp_store::orders::StoredSupplierOrder {
    let raw = order(
        number,
        json!([{"refurbisher": "flexit", "sku": "FLX-A", "quantity": 1, "unit_price_incl_vat": "160.23"}]),
    );
    let intake =
        irp_pipeline::orders::take_in(&db.store, &parse_order(&raw).unwrap(), &raw, "test")
            .await
            .unwrap();
    let sos = db
        .store
        .orders()
        .supplier_orders_of(intake.order.id)
        .await
        .unwrap();
    assert_eq!(sos[0].status, "pending");
    sos[0].clone()
}

async fn supplier_order(db: &TestDb, id: i64) -> irp_store::orders::StoredSupplierOrder {
    db.store.orders().supplier_order(id).await.unwrap().unwrap()
}

async fn supplier_orders_are_placed_at_a_fake_flexit_and_every_failure_ends_in_its_state(
    db: TestDb,
) {
    use irp_pipeline::orders::{recover, submit_one};
    use irp_store::secrets::SecretKey;
    let (fake, endpoint) = FakeFlexit::start().await;
    let key = SecretKey::generate().unwrap();
    db.store
        .secrets()
        .set(&key, "flexit.order.auth.client_id", "flexit-id")
        .await
        .unwrap();
    db.store
        .secrets()
        .set(&key, "flexit.order.auth.client_secret", "flexit-secret")
        .await
        .unwrap();
    let flexit = flexit_at(&db, &endpoint, "").await;
    let channels = std::fs::read_to_string(format!(
        "{}/../../config/channels.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    irp_pipeline::catalog::apply_channels(&db.store, &parse_channels(&channels).channels, "test")
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    import(&db, &flexit, &dir, "flexit.csv", &flexit_feed(50)).await;
    let owner = "test-submitter";

    // 201 with an order number: submitted, the reference stored, the exact payload sent with
    // the credentials from the secret store and the idempotency key.
    fake.answer(vec![Answer::Reply(
        201,
        r#"{"OrderNumber":"SO-123"}"#,
        None,
    )]);
    let so = place_order(&db, "RD-OK").await;
    let done = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (done.outcome.as_str(), done.status),
        ("submitted", Some(201)),
        "{done:?}"
    );
    let stored = supplier_order(&db, so.id).await;
    assert_eq!(stored.status, "submitted");
    assert_eq!(stored.external_order_reference.as_deref(), Some("SO-123"));
    let (headers, body) = fake.seen.lock().unwrap()[0].clone();
    assert_eq!(
        headers,
        vec![
            ("client_id".to_owned(), "flexit-id".to_owned()),
            ("client_secret".to_owned(), "flexit-secret".to_owned()),
            ("idempotency-key".to_owned(), so.idempotency_key.clone()),
            ("content-type".to_owned(), "application/json".to_owned()),
        ]
    );
    assert_eq!(
        body,
        json!({
            "customerNumber": 218535, "yourReference": "RD-OK", "externalDocumentNumber": so.id.to_string(),
            "currencyCode": "EUR",
            "shipping": {"isBlindShip": true,
                "contact": {"name": "Jan de Vries", "email": "no-reply@iused.nl", "phoneNumber": "0612345678"},
                "address": {"postalCode": "1012 LG", "name": "Jan de Vries", "countryCode": "NL", "city": "Amsterdam", "addressLine1": "Damrak 1 A"}},
            "lines": [{"sku": "FLX-A", "quantity": 1, "unitPrice": 100.0}]
        })
    );
    // The stored attempt has the request with the credentials redacted.
    let attempts = db.store.supplier_orders().attempts(so.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, "submitted");
    let request = attempts[0].request.as_ref().unwrap().0.to_string();
    assert!(
        !request.contains("flexit-secret") && !request.contains("flexit-id"),
        "{request}"
    );
    assert!(request.contains("[redacted]"), "{request}");
    assert!(
        submit_one(&db.store, Some(&key), owner)
            .await
            .unwrap()
            .is_none(),
        "nothing else is due"
    );

    // 500, then 201: retried after a backoff, with the same idempotency key.
    fake.answer(vec![
        Answer::Reply(500, "oops", None),
        Answer::Reply(201, r#"{"OrderNumber":"SO-124"}"#, None),
    ]);
    let so = place_order(&db, "RD-500").await;
    let first = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((first.outcome.as_str(), first.status), ("retry", Some(500)));
    assert_eq!(supplier_order(&db, so.id).await.status, "pending");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((second.outcome.as_str(), second.attempt), ("submitted", 2));
    let seen = fake.seen.lock().unwrap().clone();
    let keys: Vec<&str> = seen[seen.len() - 2..]
        .iter()
        .map(|(h, _)| h[2].1.as_str())
        .collect();
    assert_eq!(keys, vec![so.idempotency_key.as_str(); 2]);

    // 429 with Retry-After: not before it.
    fake.answer(vec![Answer::Reply(429, "slow down", Some("30"))]);
    let so = place_order(&db, "RD-429").await;
    let r = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, "retry");
    let due = supplier_order(&db, so.id).await.next_attempt_at.unwrap();
    let wait = (due - chrono::Utc::now()).num_seconds();
    assert!((28..=30).contains(&wait), "{wait}");
    assert!(
        submit_one(&db.store, Some(&key), owner)
            .await
            .unwrap()
            .is_none()
    );
    db.store
        .supplier_orders()
        .cancel(so.id, "test")
        .await
        .unwrap();

    // 200: the `in:201` assert fails → failed, no retry.
    fake.answer(vec![Answer::Reply(
        200,
        r#"{"OrderNumber":"SO-125"}"#,
        None,
    )]);
    let so = place_order(&db, "RD-200").await;
    let r = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, "failed");
    assert_eq!(
        r.error.as_deref(),
        Some(
            "the answer (HTTP 200) fails response_object.asserts: status \"in:201\": `in:201` does not hold for 200"
        )
    );
    assert_eq!(supplier_order(&db, so.id).await.status, "failed");

    // Malformed JSON with 201 → failed, naming the assert.
    fake.answer(vec![Answer::Reply(201, "<html>ok</html>", None)]);
    let so = place_order(&db, "RD-HTML").await;
    let r = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, "failed");
    assert!(
        r.error.as_deref().unwrap().contains(
            "OrderNumber \"present|filled\": `present`: the key is missing (the answer is not JSON)"
        ),
        "{r:?}"
    );
    // An operator retries it; this time FlexIT answers properly.
    fake.answer(vec![Answer::Reply(
        201,
        r#"{"OrderNumber":"SO-126"}"#,
        None,
    )]);
    db.store
        .supplier_orders()
        .retry(so.id, "test")
        .await
        .unwrap();
    let r = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.outcome.as_str(), r.external_order_reference.as_deref()),
        ("submitted", Some("SO-126"))
    );
    assert!(
        db.store
            .supplier_orders()
            .retry(so.id, "test")
            .await
            .is_err(),
        "a submitted order is not sent again"
    );

    // 422 → failed with the answer.
    fake.answer(vec![Answer::Reply(422, r#"{"error":"unknown sku"}"#, None)]);
    let so = place_order(&db, "RD-422").await;
    let r = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, "failed");
    assert!(
        r.error
            .as_deref()
            .unwrap()
            .contains("HTTP 422: {\"error\":\"unknown sku\"}"),
        "{r:?}"
    );
    assert_eq!(supplier_order(&db, so.id).await.status, "failed");

    // A timeout after the request was read: the outcome is unknown → needs_attention, never
    // sent again by itself.
    flexit_at(&db, &endpoint, " \"timeout_secs\": 1,").await;
    fake.answer(vec![Answer::Hang(std::time::Duration::from_secs(3))]);
    let before = fake.requests();
    let so = place_order(&db, "RD-HANG").await;
    let r = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, "needs_attention", "{r:?}");
    assert_eq!(fake.requests(), before + 1, "the fake read the request");
    assert_eq!(supplier_order(&db, so.id).await.status, "needs_attention");
    assert!(
        submit_one(&db.store, Some(&key), owner)
            .await
            .unwrap()
            .is_none()
    );
    // …unless the connector says a repeat is safe.
    flexit_at(
        &db,
        &endpoint,
        " \"timeout_secs\": 1, \"retry_unknown\": true,",
    )
    .await;
    let so = place_order(&db, "RD-HANG-SAFE").await;
    let r = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, "retry", "{r:?}");
    assert_eq!(supplier_order(&db, so.id).await.status, "pending");
    db.store
        .supplier_orders()
        .cancel(so.id, "test")
        .await
        .unwrap();

    // Nothing listening: not sent → retried, then failed after max_attempts.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let a = l.local_addr().unwrap();
        drop(l);
        format!("http://{a}/order/api/order")
    };
    flexit_at(&db, &closed, " \"max_attempts\": 1,").await;
    // Pointed elsewhere, the connector's credentials must be stored again to go there.
    for (name, value) in [
        ("flexit.order.auth.client_id", "flexit-id"),
        ("flexit.order.auth.client_secret", "flexit-secret"),
    ] {
        db.store.secrets().set(&key, name, value).await.unwrap();
    }
    let so = place_order(&db, "RD-DOWN").await;
    let r = submit_one(&db.store, Some(&key), owner)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.outcome, "failed", "{r:?}");
    assert!(
        r.error.as_deref().unwrap().contains("not sent")
            && r.error.as_deref().unwrap().contains("max_attempts 1"),
        "{r:?}"
    );
    assert_eq!(supplier_order(&db, so.id).await.status, "failed");

    // A claim whose process died during the call: recovered as needs_attention.
    flexit_at(&db, &endpoint, "").await;
    for (name, value) in [
        ("flexit.order.auth.client_id", "flexit-id"),
        ("flexit.order.auth.client_secret", "flexit-secret"),
    ] {
        db.store.secrets().set(&key, name, value).await.unwrap();
    }
    let so = place_order(&db, "RD-CRASH").await;
    let claimed = db
        .store
        .supplier_orders()
        .claim("dead-process", chrono::TimeDelta::seconds(-1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.supplier_order.id, so.id);
    assert_eq!(recover(&db.store).await.unwrap(), vec![so.id]);
    let stored = supplier_order(&db, so.id).await;
    assert_eq!(stored.status, "needs_attention");
    assert_eq!(
        db.store.supplier_orders().attempts(so.id).await.unwrap()[0].outcome,
        "unknown"
    );
}
