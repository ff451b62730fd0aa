//! The fake Shopware refuses what the real Admin API refuses (contracts/EXTERNAL-APIS.md §1),
//! and IRP's client reads its answers: tokens and their expiry, the sync's envelope checks,
//! prices without the default currency or `linked`, write-protected and unknown fields, the
//! all-or-nothing rule, the `product.number` resolver, search criteria, associations and
//! includes, JSON:API unless `Accept: application/json`, the delivery patch, the state machines
//! and the signed webhook.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::time::Duration;

use irp_clients::shopware::{Indexing, Shopware, ShopwareError};
use irp_core::shopware::{self as sw, DEFAULT_CURRENCY_ID};
use irp_testkit::fake_shopware::{FakeOrder, FakeShopware, FakeShopwareConfig, TAX_ID};
use serde_json::{Value, json};

fn client(shop: &FakeShopware) -> Shopware {
    let cfg = FakeShopwareConfig::default();
    Shopware::new(
        &shop.url,
        &cfg.client_id,
        &cfg.client_secret,
        Duration::from_secs(10),
    )
    .unwrap()
}

async fn token(shop: &FakeShopware) -> String {
    let cfg = FakeShopwareConfig::default();
    let v: Value = reqwest::Client::new()
        .post(format!("{}/api/oauth/token", shop.url))
        .json(&json!({"grant_type": "client_credentials", "client_id": cfg.client_id, "client_secret": cfg.client_secret}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 600);
    v["access_token"].as_str().unwrap().to_owned()
}

async fn post(shop: &FakeShopware, path: &str, body: &Value, accept_json: bool) -> (u16, Value) {
    let token = token(shop).await;
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", shop.url))
        .bearer_auth(token)
        .json(body);
    if accept_json {
        req = req.header("accept", "application/json");
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

fn order(number: &str, product: &str) -> FakeOrder {
    FakeOrder {
        order_number: number.into(),
        email: "jan@example.nl".into(),
        first_name: "Jan".into(),
        last_name: "de Vries".into(),
        street: "Damrak 1A".into(),
        zipcode: "1012 LG".into(),
        city: "Amsterdam".into(),
        country_iso: "NL".into(),
        phone: None,
        lines: vec![(product.into(), 2, 149.0)],
        placed_at: chrono::Utc::now(),
        sales_channel_id: None,
    }
}

#[tokio::test]
async fn tokens_are_client_credentials_that_expire() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/api/oauth/token", shop.url))
        .json(&json!({"grant_type": "client_credentials", "client_id": "SWIAFAKEACCESSKEY0000000001", "client_secret": "wrong"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["code"], "4");
    assert_eq!(v["errors"][0]["title"], "Client authentication failed");

    let r = http
        .post(format!("{}/api/search/product", shop.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["errors"][0]["detail"],
        "Missing token in \"Authorization\" header"
    );

    let t = token(&shop).await;
    shop.expire_tokens();
    let r = http
        .post(format!("{}/api/search/product", shop.url))
        .bearer_auth(&t)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["detail"], "Access token is expired");

    // IRP's client fetches a new token once on a 401 and goes on.
    let api = client(&shop);
    api.check().await.unwrap();
    shop.expire_tokens();
    let (data, _) = api.search("product", &json!({"limit": 1})).await.unwrap();
    assert!(data.is_empty());

    // Wrong credentials: a clear error without the secret.
    let bad = Shopware::new(
        &shop.url,
        "SWIAFAKEACCESSKEY0000000001",
        "s3cr3t-wrong",
        Duration::from_secs(5),
    )
    .unwrap();
    let e = bad.check().await.unwrap_err();
    assert!(
        matches!(e, ShopwareError::Unauthorized { status: 401, .. }),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.contains("Client authentication failed"), "{text}");
    assert!(!text.contains("s3cr3t-wrong"), "{text}");
}

#[tokio::test]
async fn the_sync_checks_its_envelope_prices_and_fields_and_writes_all_or_nothing() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product("A-1", "8712345678906", 3, 100.0);
    shop.add_product("A-2", "8712345678913", 3, 100.0);
    let by_number = |n: &str| json!({"resolver": "product.number", "value": n});

    // The envelope.
    let (status, v) = post(
        &shop,
        "/api/_action/sync",
        &json!({"x": {"action": "upsert", "payload": []}}),
        true,
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(v["errors"][0]["code"], "FRAMEWORK__INVALID_SYNC_OPERATION");
    assert!(v["errors"][0]["detail"].as_str().unwrap().contains("\"x\""));

    // A good row and a row whose price lacks the default currency: nothing is written.
    let body = json!({"stock": {"entity": "product", "action": "upsert", "payload": [
        {"id": by_number("A-1"), "stock": 7},
        {"id": by_number("A-2"), "stock": 8,
         "price": [{"currencyId": "0189c0a5f2e07e1ab3e9bd6a1c8a9f10", "gross": 1, "net": 1, "linked": true}]},
    ]}});
    let (status, v) = post(&shop, "/api/_action/sync", &body, true).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["errors"][0]["source"]["pointer"], "/stock/1/price");
    assert_eq!(
        v["errors"][0]["detail"],
        "No price for default currency defined"
    );
    assert_eq!(shop.product("A-1").unwrap()["stock"], 3, "all or nothing");

    // `linked` must be there; write-protected and unknown fields are refused, each with its
    // pointer.
    let body = json!([{"entity": "product", "action": "upsert", "payload": [
        {"id": by_number("A-1"), "price": [{"currencyId": DEFAULT_CURRENCY_ID, "gross": 1, "net": 1}]},
        {"id": by_number("A-2"), "availableStock": 4, "stok": 4},
    ]}]);
    let (status, v) = post(&shop, "/api/_action/sync", &body, true).await;
    assert_eq!(status, 400);
    let pointers: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(
        pointers,
        ["/0/0/price/0/linked", "/0/1/availableStock", "/0/1/stok"]
    );

    // An unknown product number is a 400 naming where (in the detail and the parameters, not
    // in `source`), as `SyncFkResolver` answers.
    let body = json!({"p": {"entity": "product", "action": "upsert", "payload": [{"id": by_number("NOPE"), "stock": 1}]}});
    let (status, v) = post(&shop, "/api/_action/sync", &body, true).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["errors"][0]["code"],
        "FRAMEWORK__API_INVALID_SYNC_RESOLVERS"
    );
    assert_eq!(
        v["errors"][0]["detail"],
        "Can not resolve foreign key at position /p/0/id. Reference field: product.id"
    );

    // Creating needs the required fields and a known tax.
    let body = json!({"p": {"entity": "product", "action": "upsert", "payload": [
        {"id": "0189c0a5f2e07e1ab3e9bd6a1c8a9f10", "productNumber": "NEW-1", "stock": 1}]}});
    let (status, v) = post(&shop, "/api/_action/sync", &body, true).await;
    assert_eq!(status, 400);
    let missing: Vec<&str> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"]["pointer"].as_str().unwrap())
        .collect();
    assert_eq!(missing, ["/p/0/taxId", "/p/0/price", "/p/0/name"]);

    // IRP's rows go through, through the client, with queue indexing.
    let api = client(&shop);
    let values = sw::ProductValues {
        number: "A-1",
        price_incl_minor: Some(16_023),
        tax_percentage: Some(21.into()),
        purchase_minor: Some(10_000),
        stock: 9,
        active: true,
    };
    let created = sw::product_create(
        &sw::ProductValues {
            number: "NEW-1",
            ..values.clone()
        },
        &sw::created_product_id("rd", "8712345678920"),
        "Phone",
        "8712345678920",
        TAX_ID,
    );
    let answer = api
        .upsert(
            "products",
            "product",
            vec![sw::product_update(&values), created],
            Indexing::Queue,
        )
        .await
        .unwrap();
    assert_eq!(answer["data"]["product"].as_array().unwrap().len(), 2);
    let p = shop.product("A-1").unwrap();
    assert_eq!(
        (p["stock"].clone(), p["availableStock"].clone()),
        (json!(9), json!(9))
    );
    assert_eq!(p["price"][0]["net"], json!(132.42));
    assert_eq!(shop.product("NEW-1").unwrap()["ean"], "8712345678920");
    assert_eq!(
        shop.last_sync_headers()
            .get("indexing-behavior")
            .map(String::as_str),
        Some("use-queue-indexing")
    );
    assert!(!shop.last_sync_headers().contains_key("authorization"));

    // A refused product: the client's error names the row and the field.
    shop.refuse_product("A-2");
    let e = api
        .upsert(
            "products",
            "product",
            vec![
                sw::product_update(&values),
                sw::product_update(&sw::ProductValues {
                    number: "A-2",
                    ..values.clone()
                }),
            ],
            Indexing::Queue,
        )
        .await
        .unwrap_err();
    assert!(e.is_refusal());
    assert_eq!(e.errors()[0].pointer.as_deref(), Some("/products/1/stock"));
    assert!(e.to_string().contains("HTTP 400"), "{e}");
}

#[tokio::test]
async fn searches_filter_sort_page_and_load_only_the_associations_asked_for() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    for (i, n) in ["B-1", "B-2", "B-3"].iter().enumerate() {
        shop.add_product(n, "", i64::try_from(i).unwrap() * 10, 50.0);
    }
    let (status, v) = post(
        &shop,
        "/api/search/product",
        &json!({"filter": [{"type": "multi", "operator": "or", "queries": [
                {"type": "equals", "field": "productNumber", "value": "B-1"},
                {"type": "range", "field": "stock", "parameters": {"gte": 20}}]}],
            "sort": [{"field": "stock", "order": "DESC"}],
            "includes": {"product": ["productNumber", "stock"]}, "total-count-mode": 1}),
        true,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["total"], 2);
    assert_eq!(
        v["data"],
        json!([{"productNumber": "B-3", "stock": 20, "apiAlias": "product"},
               {"productNumber": "B-1", "stock": 0, "apiAlias": "product"}])
    );

    // Without Accept: application/json Shopware answers JSON:API.
    let (_, v) = post(&shop, "/api/search/product", &json!({"limit": 1}), false).await;
    assert!(
        v["data"][0]["attributes"]["productNumber"].is_string(),
        "{v}"
    );
    assert_eq!(v["meta"]["total"], 1);

    // Bad criteria are refused.
    let (status, v) = post(&shop, "/api/search/product", &json!({"limit": 0}), true).await;
    assert_eq!(
        (status, v["errors"][0]["code"].as_str()),
        (400, Some("FRAMEWORK__INVALID_LIMIT"))
    );
    let (status, v) = post(
        &shop,
        "/api/search/product",
        &json!({"filter": [{"type": "equals", "field": "sku", "value": "B-1"}]}),
        true,
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        v["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("\"sku\"")
    );

    // Orders: associations are null unless asked for; pages.
    shop.place_order(&order("1", "B-3"));
    shop.place_order(&order("2", "B-3"));
    assert_eq!(shop.product("B-3").unwrap()["stock"], 16, "stock taken");
    let api = client(&shop);
    let (data, _) = api
        .search(
            "order",
            &json!({"limit": 1, "page": 2, "sort": [{"field": "orderNumber", "order": "ASC"}]}),
        )
        .await
        .unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["orderNumber"], "2");
    assert!(data[0]["lineItems"].is_null());
    assert_eq!(
        data[0]["stateMachineState"]["technicalName"], "open",
        "autoloaded"
    );
    let (data, _) = api
        .search(
            "order",
            &json!({"filter": [{"type": "equals", "field": "orderNumber", "value": "1"}],
                "associations": {"lineItems": {"associations": {"product": {}}},
                    "deliveries": {"associations": {"shippingOrderAddress": {}}}}}),
        )
        .await
        .unwrap();
    assert_eq!(data.len(), 1);
    assert_eq!(data[0]["lineItems"][0]["product"]["productNumber"], "B-3");
    assert_eq!(
        data[0]["deliveries"][0]["shippingOrderAddress"]["street"],
        "Damrak 1A"
    );
    assert!(data[0]["deliveries"][0]["shippingOrderAddress"]["country"].is_null());
    assert!(data[0]["orderCustomer"].is_null());
}

#[tokio::test]
async fn deliveries_take_tracking_codes_and_move_through_the_state_machine() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product("C-1", "", 5, 10.0);
    let (order_id, delivery) = shop.place_order(&order("9", "C-1"));
    let api = client(&shop);
    api.set_tracking_codes(&delivery, &["3SABC".to_owned()])
        .await
        .unwrap();
    assert!(
        shop.requests()
            .iter()
            .any(|r| r.method == "PATCH" && r.status == 204)
    );
    assert_eq!(
        shop.delivery(&delivery).unwrap()["trackingCodes"],
        json!(["3SABC"])
    );
    assert_eq!(
        api.transition("order_delivery", &delivery, "ship")
            .await
            .unwrap(),
        "shipped"
    );
    let e = api
        .transition("order_delivery", &delivery, "ship")
        .await
        .unwrap_err();
    assert_eq!(e.errors()[0].code, "SYSTEM__ILLEGAL_STATE_TRANSITION");
    assert!(
        e.to_string()
            .contains("Possible transitions are: retour, retour_partially, cancel"),
        "{e}"
    );
    assert!(e.is_refusal());
    // Cancelling the order gives the stock back.
    assert_eq!(shop.product("C-1").unwrap()["stock"], 3);
    assert_eq!(
        api.transition("order", &order_id, "cancel").await.unwrap(),
        "cancelled"
    );
    assert_eq!(shop.product("C-1").unwrap()["stock"], 5);
    let e = api
        .set_tracking_codes("0189c0a5f2e07e1ab3e9bd6a1c8a9f10", &[])
        .await
        .unwrap_err();
    assert_eq!(e.status(), Some(404));
}

#[tokio::test]
async fn failures_on_demand_are_retried_by_the_client() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    let api = client(&shop);
    api.check().await.unwrap();
    shop.fail_next(429, 1);
    api.search("product", &json!({})).await.unwrap();
    shop.fail_next(500, 10);
    let e = api.search("product", &json!({})).await.unwrap_err();
    assert_eq!(e.status(), Some(500));
    assert!(!e.is_refusal());
    shop.fail_next(500, 0);
    api.search("product", &json!({})).await.unwrap();
}

#[tokio::test]
async fn the_order_placed_webhook_is_signed_with_the_shop_secret() {
    use axum::http::HeaderMap;
    use std::sync::{Arc, Mutex};
    type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let got: Received = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let seen = seen.clone();
            async move {
                let sig = headers
                    .get("shopware-shop-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                seen.lock().unwrap().push((sig, body.to_vec()));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let cfg = FakeShopwareConfig::default();
    let shop = FakeShopware::start(cfg.clone()).await;
    shop.add_product("D-1", "", 5, 10.0);
    let (id, _) = shop.place_order(&order("77", "D-1"));
    let url = format!("http://{addr}/hook");
    assert_eq!(shop.send_order_placed(&id, &url).await, 200);
    assert_eq!(shop.send_order_placed_badly_signed(&id, &url).await, 200);
    let got = got.lock().unwrap().clone();
    assert!(sw::verify(&got[0].1, &got[0].0, &cfg.shop_secret));
    assert!(!sw::verify(&got[1].1, &got[1].0, &cfg.shop_secret));
    let body: Value = serde_json::from_slice(&got[0].1).unwrap();
    let (order_id, order) = sw::order::order_of_webhook(&body).unwrap();
    assert_eq!(order_id, id);
    assert_eq!(order["orderNumber"], "77");
    assert_eq!(body["data"]["event"], "checkout.order.placed");
}
