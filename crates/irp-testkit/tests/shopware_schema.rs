//! The fake Shopware checks every request against Shopware's published Admin API document
//! (`irp_testkit::shopware_schema`, `docs/shopware-contract.md`) and it bites: known-bad bodies
//! are 400s naming the field and the schema's complaint, while what IRP's client sends passes,
//! and only what `SCHEMA_EXCEPTIONS` lists is let through beyond the document.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::time::Duration;

use irp_clients::shopware::{Indexing, Shopware};
use irp_core::shopware::{self as sw, DEFAULT_CURRENCY_ID};
use irp_testkit::fake_shopware::{
    FakeOrder, FakeShopware, FakeShopwareConfig, Leniency, SCHEMA_EXCEPTIONS, SCHEMA_VIOLATION,
    TAX_ID,
};
use irp_testkit::shopware_schema::{self as schema, AdminApi};
use reqwest::Method;
use serde_json::{Value, json};

const NEW_ID: &str = "0189c0a5f2e07e1ab3e9bd6a1c8a9f10";

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

async fn send(
    shop: &FakeShopware,
    method: Method,
    path: &str,
    body: &Value,
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let cfg = FakeShopwareConfig::default();
    let http = reqwest::Client::new();
    let t: Value = http
        .post(format!("{}/api/oauth/token", shop.url))
        .json(&json!({"grant_type": "client_credentials", "client_id": cfg.client_id, "client_secret": cfg.client_secret}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut req = http
        .request(method, format!("{}{path}", shop.url))
        .bearer_auth(t["access_token"].as_str().unwrap())
        .header("accept", "application/json")
        .json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn sync(shop: &FakeShopware, rows: Value) -> (u16, Value) {
    send(
        shop,
        Method::POST,
        "/api/_action/sync",
        &json!({"k": {"entity": "product", "action": "upsert", "payload": rows}}),
        &[],
    )
    .await
}

/// `(pointer, code)` of every error.
fn errors(v: &Value) -> Vec<(String, String)> {
    v["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no errors in {v}"))
        .iter()
        .map(|e| {
            let at = e["source"]["pointer"]
                .as_str()
                .or_else(|| e["source"]["parameter"].as_str())
                .or_else(|| e["source"]["header"].as_str())
                .unwrap_or("")
                .to_owned();
            (at, e["code"].as_str().unwrap_or("").to_owned())
        })
        .collect()
}

fn detail<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["source"]["pointer"] == pointer)
        .and_then(|e| e["detail"].as_str())
        .unwrap_or_else(|| panic!("no error at {pointer} in {v}"))
}

fn price() -> Value {
    json!([{"currencyId": DEFAULT_CURRENCY_ID, "gross": 121, "net": 100, "linked": true}])
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
        lines: vec![(product.into(), 1, 121.0)],
        placed_at: chrono::Utc::now(),
        sales_channel_id: None,
    }
}

#[tokio::test]
async fn a_created_product_needs_every_required_field_of_the_schema() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    let (status, v) = sync(
        &shop,
        json!([{"id": NEW_ID, "productNumber": "NEW-1", "name": "Phone", "stock": 1, "price": price()}]),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [(
            "/k/0/taxId".to_owned(),
            "c1051bb4-d103-4f74-8988-acbcafc7fdc3".to_owned()
        )]
    );
    assert_eq!(
        detail(&v, "/k/0/taxId"),
        "This value should not be blank: \"taxId\" is a required property (#/components/schemas/Product/required)"
    );
    assert!(shop.product("NEW-1").is_none());

    // The same fields on a product the shop has: a partial update needs none of them.
    shop.add_product("OLD-1", "", 1, 10.0);
    let id = shop.product("OLD-1").unwrap()["id"].clone();
    let (status, v) = sync(&shop, json!([{"id": id, "stock": 5}])).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(shop.product("OLD-1").unwrap()["stock"], 5);
}

#[tokio::test]
async fn ids_must_be_32_lower_case_hex_digits() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    let (status, v) = sync(
        &shop,
        json!([{"id": "0189C0A5F2E07E1AB3E9BD6A1C8A9F10", "productNumber": "N-1", "name": "x",
            "stock": 1, "taxId": "a5da76b4-47db-4d0a-ba62-e6512dadf45b", "price": price()}]),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [
            ("/k/0/id".to_owned(), SCHEMA_VIOLATION.to_owned()),
            ("/k/0/taxId".to_owned(), SCHEMA_VIOLATION.to_owned()),
        ]
    );
    assert_eq!(
        detail(&v, "/k/0/taxId"),
        "Shopware's Admin API schema refuses this value: \"a5da76b4-47db-4d0a-ba62-e6512dadf45b\" does not match \"^[0-9a-f]{32}$\" (#/components/schemas/Product/properties/taxId/pattern)"
    );
    assert_eq!(
        v["errors"][0]["meta"]["parameters"]["keyword"], "pattern",
        "{v}"
    );
}

#[tokio::test]
async fn a_price_without_linked_or_of_the_wrong_type_is_refused() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product("P-1", "", 1, 10.0);
    let (status, v) = sync(
        &shop,
        json!([{"id": {"resolver": "product.number", "value": "P-1"},
            "price": [{"currencyId": DEFAULT_CURRENCY_ID, "gross": "121.00", "net": 100}]}]),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [
            (
                "/k/0/price/0/linked".to_owned(),
                "2fa2158c-2a7f-484b-98aa-975522539ff8".to_owned()
            ),
            ("/k/0/price/0/gross".to_owned(), SCHEMA_VIOLATION.to_owned()),
        ]
    );
    assert!(
        detail(&v, "/k/0/price/0/linked").contains("\"linked\" is a required property"),
        "{v}"
    );
    assert!(
        detail(&v, "/k/0/price/0/linked").contains("#/components/schemas/Price/required"),
        "{v}"
    );
    assert_eq!(shop.product("P-1").unwrap()["price"][0]["gross"], 10.0);
}

#[tokio::test]
async fn unknown_and_read_only_fields_are_refused_even_in_associations() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product("R-1", "", 1, 10.0);
    let (status, v) = sync(
        &shop,
        json!([{"id": {"resolver": "product.number", "value": "R-1"}, "stok": 4,
            "availableStock": 4, "createdAt": "2026-01-01T00:00:00+00:00",
            "visibilities": [{"salesChannelId": "nope", "visibility": 31, "colour": "red"}]}]),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [
            (
                "/k/0/stok".to_owned(),
                "FRAMEWORK__WRITE_UNEXPECTED_FIELD_ERROR".to_owned()
            ),
            (
                "/k/0/availableStock".to_owned(),
                "FRAMEWORK__WRITE_PROTECTED_FIELD".to_owned()
            ),
            (
                "/k/0/createdAt".to_owned(),
                "FRAMEWORK__WRITE_PROTECTED_FIELD".to_owned()
            ),
            (
                "/k/0/visibilities/0/salesChannelId".to_owned(),
                SCHEMA_VIOLATION.to_owned()
            ),
            (
                "/k/0/visibilities/0/visibility".to_owned(),
                SCHEMA_VIOLATION.to_owned()
            ),
            (
                "/k/0/visibilities/0/colour".to_owned(),
                "FRAMEWORK__WRITE_UNEXPECTED_FIELD_ERROR".to_owned()
            ),
        ]
    );
    assert_eq!(
        detail(&v, "/k/0/stok"),
        "Unexpected field: Product has no field \"stok\" (did you mean \"stock\"?) (#/components/schemas/Product/properties)"
    );
    assert_eq!(
        detail(&v, "/k/0/availableStock"),
        "This field is write-protected: Product.availableStock is readOnly (#/components/schemas/Product/properties/availableStock/readOnly)"
    );
    assert!(
        detail(&v, "/k/0/visibilities/0/visibility").contains("enum"),
        "{v}"
    );
}

#[tokio::test]
async fn the_sync_envelope_and_its_headers_are_checked_too() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    // A row that is not an object, named by the operation's key.
    let (status, v) = sync(&shop, json!([5])).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [(
            "/k/payload/0".to_owned(),
            "FRAMEWORK__INVALID_SYNC_OPERATION".to_owned()
        )]
    );
    // The document's `indexing-behavior` values.
    let (status, v) = send(
        &shop,
        Method::POST,
        "/api/_action/sync",
        &json!({"k": {"entity": "product", "action": "upsert", "payload": []}}),
        &[("indexing-behavior", "later")],
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [("indexing-behavior".to_owned(), SCHEMA_VIOLATION.to_owned())]
    );
    // An entity the document does not have.
    let (status, v) = send(
        &shop,
        Method::POST,
        "/api/_action/sync",
        &json!({"k": {"entity": "produkt", "action": "upsert", "payload": []}}),
        &[],
    )
    .await;
    assert_eq!(
        (status, v["errors"][0]["code"].as_str()),
        (400, Some("FRAMEWORK__DEFINITION_NOT_FOUND"))
    );
}

#[tokio::test]
async fn resolvers_stand_for_ids_and_foreign_keys_only() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product("F-1", "", 1, 10.0);
    shop.add_product("F-2", "", 1, 10.0);
    let by_number = |n: &str| json!({"resolver": "product.number", "value": n});
    // At a foreign key: resolved to the parent's id.
    let (status, v) = sync(
        &shop,
        json!([{"id": by_number("F-2"), "parentId": by_number("F-1")}]),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        shop.product("F-2").unwrap()["parentId"],
        shop.product("F-1").unwrap()["id"]
    );
    // Anywhere else it is the object it is, which the schema refuses.
    let (status, v) = sync(
        &shop,
        json!([{"id": by_number("F-1"), "stock": by_number("F-2")}]),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [("/k/0/stock".to_owned(), SCHEMA_VIOLATION.to_owned())]
    );
    // Not in a delete (Shopware resolves upserts only).
    let (status, v) = send(
        &shop,
        Method::POST,
        "/api/_action/sync",
        &json!({"d": {"entity": "product", "action": "delete", "payload": [{"id": by_number("F-1")}]}}),
        &[],
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(errors(&v)[0].0, "/d/0/id");
    // A resolver core does not have.
    let (status, v) = sync(
        &shop,
        json!([{"id": {"resolver": "product.ean", "value": "1"}, "stock": 1}]),
    )
    .await;
    assert_eq!(
        (status, v["errors"][0]["code"].as_str()),
        (400, Some("API_RESOLVER_NOT_FOUND_EXCEPTION"))
    );
}

#[tokio::test]
async fn search_criteria_are_checked_against_the_criteria_schema() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    let search = |body: Value| {
        let shop = &shop;
        async move { send(shop, Method::POST, "/api/search/product", &body, &[]).await }
    };
    let (status, v) = search(
        json!({"limit": "ten", "filter": [{"type": "equals", "field": "ean"}],
        "sort": [{"order": "ASC"}], "total-count-mode": "all"}),
    )
    .await;
    assert_eq!(status, 400, "{v}");
    let at: Vec<String> = errors(&v).into_iter().map(|(p, _)| p).collect();
    assert_eq!(
        at,
        ["/limit", "/filter/0", "/sort/0/field", "/total-count-mode"]
    );
    // Associations are criteria themselves.
    let (status, v) = search(json!({"associations": {"visibilities": {"page": "2"}}})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(errors(&v)[0].0, "/associations/visibilities/page");
    // A number for `total-count-mode` is what Shopware also takes.
    let (status, v) = search(
        json!({"total-count-mode": 1, "associations": {"visibilities": {"total-count-mode": "2"}}}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let (status, v) = search(json!({"total-count-mode": "exact"})).await;
    assert_eq!(status, 200, "{v}");
    // What IRP's client sends passes.
    shop.add_product("S-1", "", 1, 10.0);
    let known = client(&shop)
        .known_product_numbers(&["S-1".to_owned(), "S-2".to_owned()])
        .await
        .unwrap();
    assert_eq!(known.len(), 1);
}

#[tokio::test]
async fn delivery_patches_and_transitions_are_checked_by_path_and_body() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product("T-1", "", 5, 10.0);
    let (order_id, delivery) = shop.place_order(&order("7", "T-1"));
    let patch = |body: Value| {
        let shop = &shop;
        let path = format!("/api/order-delivery/{delivery}");
        async move { send(shop, Method::PATCH, &path, &body, &[]).await }
    };
    let (status, v) =
        patch(json!({"trackingCodes": "3SABC", "updatedAt": "2026-01-01T00:00:00+00:00"})).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [
            ("/0/trackingCodes".to_owned(), SCHEMA_VIOLATION.to_owned()),
            (
                "/0/updatedAt".to_owned(),
                "FRAMEWORK__WRITE_PROTECTED_FIELD".to_owned()
            ),
        ]
    );
    // A patch needs none of OrderDelivery's seven required fields.
    let (status, v) = patch(json!({"trackingCodes": ["3SABC"]})).await;
    assert_eq!(status, 204, "{v}");

    let (status, v) = send(
        &shop,
        Method::POST,
        "/api/_action/order/NOT-AN-ID/state/cancel",
        &json!({}),
        &[],
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [("orderId".to_owned(), SCHEMA_VIOLATION.to_owned())]
    );
    let (status, v) = send(
        &shop,
        Method::POST,
        &format!("/api/_action/order_delivery/{delivery}/state/ship"),
        &json!({"sendMail": false, "documentIds": ["doc-1"]}),
        &[],
    )
    .await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        errors(&v),
        [("/documentIds/0".to_owned(), SCHEMA_VIOLATION.to_owned())]
    );
    // IRP's client: tracking codes, then the transitions, pass.
    let api = client(&shop);
    api.set_tracking_codes(&delivery, &["3SXYZ".to_owned()])
        .await
        .unwrap();
    assert_eq!(
        api.transition("order_delivery", &delivery, "ship")
            .await
            .unwrap(),
        "shipped"
    );
    assert_eq!(
        api.transition("order", &order_id, "cancel").await.unwrap(),
        "cancelled"
    );
}

#[tokio::test]
async fn the_rows_irp_sends_pass_and_one_bad_field_in_them_is_named() {
    let shop = FakeShopware::start(FakeShopwareConfig::default()).await;
    shop.add_product("8712345678906", "8712345678906", 1, 10.0);
    let values = sw::ProductValues {
        number: "8712345678906",
        price_incl_minor: Some(60_264),
        tax_percentage: Some(21.into()),
        purchase_minor: Some(45_000),
        stock: 4,
        active: true,
    };
    let update = sw::product_update(&values);
    let create = sw::product_create(
        &sw::ProductValues {
            number: "8712345678913",
            ..values.clone()
        },
        &sw::created_product_id("rd", "8712345678913"),
        "",
        "8712345678913",
        TAX_ID,
    );
    let gone = sw::product_update(&sw::ProductValues {
        price_incl_minor: None,
        active: false,
        ..values.clone()
    });
    let api = client(&shop);
    api.upsert(
        "products",
        "product",
        vec![update.clone(), create.clone(), gone],
        Indexing::Queue,
    )
    .await
    .unwrap();
    assert_eq!(
        shop.product("8712345678913").unwrap()["name"],
        "8712345678913"
    );

    // The same rows, each broken in one place: the client's error names it.
    let mut broken = update.clone();
    broken["price"][0].as_object_mut().unwrap().remove("linked");
    let mut created = create.clone();
    created.as_object_mut().unwrap().remove("taxId");
    created["id"] = json!(NEW_ID);
    let e = api
        .upsert(
            "products",
            "product",
            vec![broken, created],
            Indexing::Queue,
        )
        .await
        .unwrap_err();
    let at: Vec<&str> = e
        .errors()
        .iter()
        .filter_map(|x| x.pointer.as_deref())
        .collect();
    assert_eq!(
        at,
        ["/products/0/price/0/linked", "/products/1/taxId"],
        "{e}"
    );
    assert!(e.is_refusal());
}

#[test]
fn every_exception_is_listed_once_with_its_source_and_documented() {
    let kinds = [
        Leniency::SyncKeyedOperations,
        Leniency::FkResolver,
        Leniency::TotalCountModeNumber,
        Leniency::GeneratedId,
        Leniency::PartialUpdate,
    ];
    assert_eq!(SCHEMA_EXCEPTIONS.len(), kinds.len());
    let doc = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/shopware-contract.md"),
    )
    .unwrap();
    for kind in kinds {
        let listed: Vec<_> = SCHEMA_EXCEPTIONS
            .iter()
            .filter(|e| e.leniency == kind)
            .collect();
        assert_eq!(listed.len(), 1, "{kind:?}");
        let source = listed[0].source;
        assert!(source.starts_with("src/"), "{source}");
        // Each file the entry names is named in the document.
        for file in source
            .split(|c: char| c.is_whitespace() || c == ',')
            .filter(|w| w.starts_with("src/"))
        {
            let file = file.split("::").next().unwrap_or(file);
            assert!(
                doc.contains(file),
                "docs/shopware-contract.md does not name {file} ({kind:?})"
            );
        }
    }
}

#[test]
fn a_missing_document_says_how_to_get_it() {
    let e =
        AdminApi::load_from(std::path::Path::new("/nonexistent/adminApiSchema.json")).unwrap_err();
    assert!(e.contains("scripts/shopware-schema"), "{e}");
    assert!(e.contains("@shopware/api-client@1.6.0"), "{e}");
    assert!(e.contains(schema::ENV), "{e}");
    let not_it = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        not_it.path(),
        r#"{"openapi": "3.1.0", "info": {"version": "6.6.0.0"}}"#,
    )
    .unwrap();
    let e = AdminApi::load_from(not_it.path()).unwrap_err();
    assert!(e.contains("not Shopware 6.7.10.1"), "{e}");
}
