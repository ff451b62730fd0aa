//! The fake Odoo refuses what the real one (and the Alumio in front of it) refuses
//! (contracts/EXTERNAL-APIS.md §3): JSON-RPC's envelope and credentials on every call, JSON-2's
//! bearer key, Alumio's proxies and their caller header, unknown fields and wrong types, the
//! order workflows, domains, and the failures a test can inject.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_testkit::fake_odoo::{FakeOdoo, FakeOdooConfig, FakeOdooRequest, UID};
use serde_json::{Value, json};

fn cfg() -> FakeOdooConfig {
    FakeOdooConfig::default()
}

/// POST a JSON body to `path` with `headers`: the status and the JSON answer.
async fn post(odoo: &FakeOdoo, path: &str, headers: &[(&str, &str)], body: &Value) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}{path}", odoo.url))
        .json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// A JSON-RPC call at `path` (`/jsonrpc` or an Alumio proxy): the HTTP status and the envelope.
async fn rpc_at(
    odoo: &FakeOdoo,
    path: &str,
    headers: &[(&str, &str)],
    service: &str,
    method: &str,
    args: Value,
) -> (u16, Value) {
    let body = json!({"jsonrpc": "2.0", "method": "call", "id": 7,
        "params": {"service": service, "method": method, "args": args}});
    let (status, v) = post(odoo, path, headers, &body).await;
    assert_eq!(v["jsonrpc"], "2.0", "{v}");
    assert_eq!(v["id"], 7, "{v}");
    (status, v)
}

/// `execute_kw` straight at `/jsonrpc` with the right credentials: the envelope.
async fn execute(odoo: &FakeOdoo, model: &str, method: &str, args: Value, kwargs: Value) -> Value {
    let c = cfg();
    let (status, v) = rpc_at(
        odoo,
        "/jsonrpc",
        &[],
        "object",
        "execute_kw",
        json!([c.database, UID, c.api_key, model, method, args, kwargs]),
    )
    .await;
    assert_eq!(status, 200);
    v
}

fn error_name(v: &Value) -> &str {
    v["error"]["data"]["name"].as_str().unwrap_or_default()
}

fn error_message(v: &Value) -> &str {
    v["error"]["data"]["message"].as_str().unwrap_or_default()
}

fn bearer() -> String {
    format!("bearer {}", cfg().api_key)
}

#[tokio::test]
async fn authenticate_answers_the_uid_or_false() {
    let odoo = FakeOdoo::start(cfg()).await;
    let c = cfg();
    let (status, v) = rpc_at(&odoo, "/jsonrpc", &[], "common", "version", json!([])).await;
    assert_eq!(status, 200);
    assert_eq!(v["result"]["server_version"], "17.0");
    assert_eq!(v["result"]["protocol_version"], 1);

    let (status, v) = rpc_at(
        &odoo,
        "/jsonrpc",
        &[],
        "common",
        "authenticate",
        json!([c.database, c.login, c.api_key, {}]),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["result"], json!(UID));

    for args in [
        json!([c.database, c.login, "not-the-key", {}]),
        json!([c.database, "someone@iused.nl", c.api_key, {}]),
        json!(["other-db", c.login, c.api_key, {}]),
    ] {
        let (status, v) = rpc_at(&odoo, "/jsonrpc", &[], "common", "authenticate", args).await;
        assert_eq!(status, 200);
        assert_eq!(v["result"], json!(false), "{v}");
    }

    // authenticate takes exactly four arguments (the last one, user_agent_env, is required).
    let (_, v) = rpc_at(
        &odoo,
        "/jsonrpc",
        &[],
        "common",
        "authenticate",
        json!([c.database, c.login, c.api_key]),
    )
    .await;
    assert_eq!(error_name(&v), "builtins.TypeError");
    assert!(error_message(&v).contains("user_agent_env"), "{v}");
}

#[tokio::test]
async fn execute_kw_checks_the_credentials_on_every_call() {
    let odoo = FakeOdoo::start(cfg()).await;
    let c = cfg();
    let call =
        |db: &str, uid: Value, key: &str| json!([db, uid, key, "res.partner", "search", [[]], {}]);
    let (status, v) = rpc_at(
        &odoo,
        "/jsonrpc",
        &[],
        "object",
        "execute_kw",
        call(&c.database, json!(UID), "wrong-key"),
    )
    .await;
    assert_eq!(status, 200, "JSON-RPC answers its errors with HTTP 200");
    assert_eq!(v["error"]["code"], 200);
    assert_eq!(v["error"]["message"], "Odoo Server Error");
    assert_eq!(error_name(&v), "odoo.exceptions.AccessDenied");
    assert_eq!(error_message(&v), "Access Denied");
    assert_eq!(v["error"]["data"]["arguments"], json!(["Access Denied"]));
    assert_eq!(v["error"]["data"]["context"], json!({}));
    assert!(v.get("result").is_none());

    let (_, v) = rpc_at(
        &odoo,
        "/jsonrpc",
        &[],
        "object",
        "execute_kw",
        call(&c.database, json!(false), &c.api_key),
    )
    .await;
    assert_eq!(
        error_name(&v),
        "odoo.exceptions.AccessDenied",
        "a false uid"
    );

    let (status, v) = rpc_at(
        &odoo,
        "/jsonrpc",
        &[],
        "object",
        "execute_kw",
        call("other-db", json!(UID), &c.api_key),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(error_name(&v), "psycopg2.OperationalError");
    assert!(
        error_message(&v).contains("\"other-db\" does not exist"),
        "{v}"
    );

    let v = execute(&odoo, "res.partner", "search", json!([[]]), json!({})).await;
    assert_eq!(v["result"], json!([]));
}

#[tokio::test]
async fn a_malformed_envelope_is_a_bad_request_with_http_200() {
    let odoo = FakeOdoo::start(cfg()).await;
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/jsonrpc", odoo.url))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(error_name(&v), "werkzeug.exceptions.BadRequest");
    assert_eq!(v["id"], Value::Null);

    let (status, v) = post(
        &odoo,
        "/jsonrpc",
        &[],
        &json!({"jsonrpc": "2.0", "method": "call", "id": 3, "params": [1, 2]}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["id"], 3);
    assert_eq!(error_name(&v), "werkzeug.exceptions.BadRequest");

    let (status, v) = post(
        &odoo,
        "/jsonrpc",
        &[],
        &json!({"jsonrpc": "2.0", "method": "call", "id": 4, "params": {"service": "common", "method": "version"}}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(error_name(&v), "builtins.TypeError");
    assert!(error_message(&v).contains("'args'"), "{v}");

    // A JSON-RPC route wants a JSON body.
    let r = http
        .post(format!("{}/jsonrpc", odoo.url))
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

async fn purchase_order_story(odoo: &FakeOdoo, path: &str, headers: &[(&str, &str)]) {
    let c = cfg();
    let vendor = odoo.add_partner("Refurb Supplier B.V.", Some("orders@refurb.example"));
    let p1 = odoo.add_product(
        "RF-IPH12-128-B",
        "0194252030776",
        "iPhone 12 128GB Black",
        7.0,
    );
    let p2 = odoo.add_product("RF-IPH13-128-W", "", "iPhone 13 128GB White", 2.0);
    let call = |model: &str, method: &str, args: Value, kwargs: Value| {
        json!([c.database, UID, c.api_key, model, method, args, kwargs])
    };

    let (_, v) = rpc_at(
        odoo,
        path,
        headers,
        "common",
        "authenticate",
        json!([c.database, c.login, c.api_key, {}]),
    )
    .await;
    assert_eq!(v["result"], json!(UID));

    let (status, v) = rpc_at(
        odoo,
        path,
        headers,
        "object",
        "execute_kw",
        call(
            "purchase.order",
            "create",
            json!([{"partner_id": vendor, "partner_ref": "PORTAL-PO-1001", "origin": "refurbisher-portal",
                "order_line": [[0, 0, {"product_id": p1, "product_qty": 3, "price_unit": 180.0}],
                               [0, 0, {"product_id": p2, "product_qty": 1, "price_unit": 95.5}]]}]),
            json!({}),
        ),
    )
    .await;
    assert_eq!(status, 200);
    let po = v["result"].as_i64().unwrap_or_else(|| panic!("{v}"));

    let (_, v) = rpc_at(
        odoo,
        path,
        headers,
        "object",
        "execute_kw",
        call(
            "purchase.order",
            "search_read",
            json!([[["partner_ref", "=", "PORTAL-PO-1001"]]]),
            json!({"fields": ["name", "partner_id", "order_line", "state", "origin"], "limit": 10}),
        ),
    )
    .await;
    let rows = v["result"].as_array().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row["id"], po);
    assert_eq!(row["name"], "P00001");
    assert_eq!(row["partner_id"], json!([vendor, "Refurb Supplier B.V."]));
    assert_eq!(row["state"], "draft");
    assert_eq!(row["origin"], "refurbisher-portal");
    let line_ids: Vec<i64> = row["order_line"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect();
    assert_eq!(line_ids.len(), 2);
    assert_eq!(
        row.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["id", "name", "partner_id", "order_line", "state", "origin"],
        "only the fields asked for, and id"
    );

    // The lines, as stored: product names filled in.
    let stored = odoo.records("purchase.order");
    let lines = stored[0]["order_line"].as_array().unwrap();
    assert_eq!(lines[0]["product_id"], p1);
    assert_eq!(lines[0]["product_qty"], 3.0);
    assert_eq!(lines[0]["price_unit"], 180.0);
    assert_eq!(lines[0]["name"], "[RF-IPH12-128-B] iPhone 12 128GB Black");
    assert_eq!(lines[1]["order_id"], po);

    let (_, v) = rpc_at(
        odoo,
        path,
        headers,
        "object",
        "execute_kw",
        call("purchase.order", "button_confirm", json!([[po]]), json!({})),
    )
    .await;
    assert_eq!(v["result"], json!(true), "{v}");
    assert_eq!(odoo.records("purchase.order")[0]["state"], "purchase");
    let approved = odoo.records("purchase.order")[0]["date_approve"].clone();
    assert!(approved.is_string());

    // As Odoo's button_confirm, a confirmed order is skipped: a retried confirm is harmless.
    let (_, v) = rpc_at(
        odoo,
        path,
        headers,
        "object",
        "execute_kw",
        call("purchase.order", "button_confirm", json!([[po]]), json!({})),
    )
    .await;
    assert_eq!(v["result"], json!(true), "{v}");
    assert_eq!(odoo.records("purchase.order")[0]["state"], "purchase");
    assert_eq!(odoo.records("purchase.order")[0]["date_approve"], approved);

    // An order that does not exist is a MissingError.
    let (_, v) = rpc_at(
        odoo,
        path,
        headers,
        "object",
        "execute_kw",
        call(
            "purchase.order",
            "button_confirm",
            json!([[po + 100]]),
            json!({}),
        ),
    )
    .await;
    assert_eq!(error_name(&v), "odoo.exceptions.MissingError");
}

#[tokio::test]
async fn a_purchase_order_with_two_lines_is_created_read_and_confirmed_over_jsonrpc() {
    let odoo = FakeOdoo::start(cfg()).await;
    purchase_order_story(&odoo, "/jsonrpc", &[]).await;
    let methods: Vec<Option<String>> = odoo.requests().into_iter().map(|r| r.method).collect();
    assert_eq!(
        methods,
        [
            Some("authenticate".to_owned()),
            Some("create".to_owned()),
            Some("search_read".to_owned()),
            Some("button_confirm".to_owned()),
            Some("button_confirm".to_owned()),
            Some("button_confirm".to_owned()),
        ]
    );
}

#[tokio::test]
async fn the_same_purchase_order_goes_through_an_alumio_proxy() {
    let odoo = FakeOdoo::start(cfg()).await;
    odoo.add_proxy("odoo-jsonrpc", "/jsonrpc", &[]);
    let c = cfg();
    purchase_order_story(
        &odoo,
        "/api/v1/http-proxy/odoo-jsonrpc",
        &[(c.alumio_header.as_str(), c.alumio_token.as_str())],
    )
    .await;
    let requests = odoo.requests();
    assert_eq!(
        requests[1],
        FakeOdooRequest {
            path: "/api/v1/http-proxy/odoo-jsonrpc".into(),
            status: 200,
            model: Some("purchase.order".into()),
            method: Some("create".into()),
        }
    );
    assert!(
        requests
            .iter()
            .all(|r| r.path.starts_with("/api/v1/http-proxy/"))
    );
}

#[tokio::test]
async fn json2_takes_the_bearer_key_and_named_arguments() {
    let odoo = FakeOdoo::start(cfg()).await;
    let c = cfg();
    let vendor = odoo.add_partner("Refurb Supplier B.V.", None);
    let product = odoo.add_product("RF-1", "8710000000001", "Pixel 8", 4.0);
    let key = bearer();
    let auth = [
        ("Authorization", key.as_str()),
        ("X-Odoo-Database", c.database.as_str()),
    ];

    let (status, v) = post(
        &odoo,
        "/json/2/purchase.order/create",
        &auth,
        &json!({"vals_list": [{"partner_id": vendor,
            "order_line": [[0, 0, {"product_id": product, "product_qty": 2}]]}]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    let ids = v.as_array().unwrap();
    assert_eq!(ids.len(), 1, "JSON-2's create answers a list of ids");
    let po = ids[0].as_i64().unwrap();

    // "BEARER" in any case.
    let upper = format!("BEARER {}", c.api_key);
    let (status, v) = post(
        &odoo,
        "/json/2/purchase.order/search_read",
        &[("authorization", upper.as_str())],
        &json!({"domain": [["id", "=", po]], "fields": ["partner_id", "state", "order_line"]}),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v[0]["partner_id"], json!([vendor, "Refurb Supplier B.V."]));
    assert_eq!(v[0]["state"], "draft");
    assert_eq!(v[0]["order_line"].as_array().unwrap().len(), 1);
    // No price given: the product's cost (0.0 here).
    assert_eq!(odoo.records("purchase.order.line")[0]["price_unit"], 0.0);

    let (status, v) = post(
        &odoo,
        "/json/2/purchase.order/button_confirm",
        &auth,
        &json!({"ids": [po]}),
    )
    .await;
    assert_eq!((status, v), (200, json!(true)));

    // No key, a wrong key: 401 with Odoo's body.
    for headers in [vec![], vec![("Authorization", "bearer not-the-key")]] {
        let (status, v) = post(
            &odoo,
            "/json/2/purchase.order/search",
            &headers,
            &json!({"domain": []}),
        )
        .await;
        assert_eq!(status, 401);
        assert_eq!(
            v,
            json!({"name": "werkzeug.exceptions.Unauthorized", "message": "Invalid apikey",
                "arguments": ["Invalid apikey", 401], "context": {}, "debug": ""})
        );
    }

    // Another database.
    let (status, _) = post(
        &odoo,
        "/json/2/purchase.order/search",
        &[
            ("Authorization", key.as_str()),
            ("X-Odoo-Database", "other"),
        ],
        &json!({"domain": []}),
    )
    .await;
    assert_eq!(status, 404);

    // Arguments that do not bind, ids on a model method, unknown models and methods.
    let (status, v) = post(&odoo, "/json/2/purchase.order/create", &auth, &json!({})).await;
    assert_eq!(status, 422);
    assert_eq!(v["message"], "missing a required argument: 'vals_list'");
    let (status, v) = post(
        &odoo,
        "/json/2/purchase.order/search",
        &auth,
        &json!({"domain": [], "filter": []}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(v["message"], "got an unexpected keyword argument 'filter'");
    let (status, v) = post(
        &odoo,
        "/json/2/purchase.order/search",
        &auth,
        &json!({"domain": [], "ids": [po]}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(v["message"], "cannot call purchase.order.search with ids");
    let (status, v) = post(&odoo, "/json/2/purchase.order/write", &auth, &json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(v["name"], "werkzeug.exceptions.NotFound");
    assert_eq!(
        v["message"],
        "The method 'write' does not exist on the model 'purchase.order'"
    );
    let (status, v) = post(&odoo, "/json/2/stock.picking/search", &auth, &json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(v["message"], "the model 'stock.picking' does not exist");
}

#[tokio::test]
async fn json2_through_an_alumio_proxy_that_injects_the_bearer() {
    let odoo = FakeOdoo::start(cfg()).await;
    let c = cfg();
    let key = bearer();
    odoo.add_proxy(
        "odoo-po-create",
        "/json/2/purchase.order/create",
        &[("Authorization", key.as_str())],
    );
    odoo.add_proxy(
        "odoo-po-create-no-key",
        "/json/2/purchase.order/create",
        &[],
    );
    let vendor = odoo.add_partner("Supplier", None);
    let product = odoo.add_product("RF-2", "", "Galaxy S23", 1.0);
    let body = json!({"vals_list": [{"partner_id": vendor,
        "order_line": [[0, 0, {"product_id": product, "product_qty": 1, "price_unit": 300}]]}]});
    let alumio = [(c.alumio_header.as_str(), c.alumio_token.as_str())];

    let (status, v) = post(&odoo, "/api/v1/http-proxy/odoo-po-create", &alumio, &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v.as_array().unwrap().len(), 1);
    assert_eq!(odoo.records("purchase.order").len(), 1);

    // Alumio removes its own header: without an injected key Odoo says 401, and Alumio passes
    // that on unchanged.
    let (status, v) = post(
        &odoo,
        "/api/v1/http-proxy/odoo-po-create-no-key",
        &alumio,
        &body,
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(v["name"], "werkzeug.exceptions.Unauthorized");
    assert_eq!(odoo.records("purchase.order").len(), 1);
}

#[tokio::test]
async fn alumio_refuses_callers_without_its_header_and_unknown_proxies() {
    let odoo = FakeOdoo::start(cfg()).await;
    let c = cfg();
    odoo.add_proxy("odoo-jsonrpc", "/jsonrpc", &[]);
    let body = json!({"jsonrpc": "2.0", "method": "call", "id": 1,
        "params": {"service": "common", "method": "version", "args": []}});

    let (status, v) = post(&odoo, "/api/v1/http-proxy/odoo-jsonrpc", &[], &body).await;
    assert_eq!((status, v), (401, json!({"message": "Unauthorized"})));
    let (status, v) = post(
        &odoo,
        "/api/v1/http-proxy/odoo-jsonrpc",
        &[(c.alumio_header.as_str(), "Bearer not-the-token")],
        &body,
    )
    .await;
    assert_eq!((status, v), (401, json!({"message": "Unauthorized"})));
    let (status, v) = post(
        &odoo,
        "/api/v1/http-proxy/no-such-proxy",
        &[(c.alumio_header.as_str(), c.alumio_token.as_str())],
        &body,
    )
    .await;
    assert_eq!(
        (status, v),
        (404, json!({"message": "HTTP proxy not found"}))
    );

    let (status, v) = post(
        &odoo,
        "/api/v1/http-proxy/odoo-jsonrpc",
        &[(c.alumio_header.as_str(), c.alumio_token.as_str())],
        &body,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["result"]["server_version"], "17.0");
}

#[tokio::test]
async fn unknown_fields_are_refused_naming_them() {
    let odoo = FakeOdoo::start(cfg()).await;
    let vendor = odoo.add_partner("Supplier", None);
    let product = odoo.add_product("RF-3", "", "iPad", 1.0);

    let v = execute(
        &odoo,
        "purchase.order",
        "create",
        json!([{"partner_id": vendor, "supplier_ref": "X"}]),
        json!({}),
    )
    .await;
    assert_eq!(error_name(&v), "builtins.ValueError");
    assert_eq!(
        error_message(&v),
        "Invalid field 'supplier_ref' on model 'purchase.order'"
    );

    let v = execute(
        &odoo,
        "purchase.order",
        "create",
        json!([{"partner_id": vendor, "order_line": [[0, 0, {"product_id": product, "quantity": 1}]]}]),
        json!({}),
    )
    .await;
    assert_eq!(
        error_message(&v),
        "Invalid field 'quantity' on model 'purchase.order.line'"
    );

    let v = execute(
        &odoo,
        "product.product",
        "search_read",
        json!([[]]),
        json!({"fields": ["default_code", "stock"]}),
    )
    .await;
    assert_eq!(
        error_message(&v),
        "Invalid field 'stock' on model 'product.product'"
    );

    let v = execute(
        &odoo,
        "product.product",
        "search",
        json!([[["sku", "=", "RF-3"]]]),
        json!({}),
    )
    .await;
    assert_eq!(
        error_message(&v),
        "Invalid field 'sku' on model 'product.product'"
    );

    let v = execute(
        &odoo,
        "product.product",
        "search",
        json!([[]]),
        json!({"order": "stock desc"}),
    )
    .await;
    assert_eq!(
        error_message(&v),
        "Invalid field 'stock' on model 'product.product'"
    );

    // JSON-2 answers a Python ValueError as Odoo 19 does: 500, with the same message.
    let key = bearer();
    let (status, v) = post(
        &odoo,
        "/json/2/product.product/search_read",
        &[("Authorization", key.as_str())],
        &json!({"domain": [], "fields": ["stock"]}),
    )
    .await;
    assert_eq!(status, 500);
    assert_eq!(v["name"], "builtins.ValueError");
    assert_eq!(
        v["message"],
        "Invalid field 'stock' on model 'product.product'"
    );

    // An unknown model or method over JSON-RPC.
    let v = execute(
        &odoo,
        "purchase.order",
        "write",
        json!([[1], {}]),
        json!({}),
    )
    .await;
    assert_eq!(error_name(&v), "builtins.AttributeError");
    assert_eq!(
        error_message(&v),
        "The method 'write' does not exist on the model 'purchase.order'"
    );
    let v = execute(&odoo, "stock.picking", "search", json!([[]]), json!({})).await;
    assert_eq!(error_name(&v), "odoo.exceptions.UserError");
    assert_eq!(odoo.records("purchase.order").len(), 0);
}

#[tokio::test]
async fn wrong_types_and_missing_records_are_validation_errors_and_nothing_is_written() {
    let odoo = FakeOdoo::start(cfg()).await;
    let vendor = odoo.add_partner("Supplier", None);
    let product = odoo.add_product("RF-4", "", "MacBook Air", 1.0);
    let create = |vals: Value| execute(&odoo, "purchase.order", "create", json!([vals]), json!({}));

    let cases = [
        (
            json!({"partner_id": vendor, "order_line": [[0, 0, {"product_id": product, "product_qty": "3"}]]}),
            "purchase.order.line.product_qty",
        ),
        (
            json!({"partner_id": "Supplier"}),
            "purchase.order.partner_id",
        ),
        (json!({"partner_id": vendor + 1000}), "partner_id"),
        (json!({"partner_ref": "no vendor"}), "partner_id"),
        (
            json!({"partner_id": vendor, "order_line": [[0, 0, {"product_qty": 1}]]}),
            "product_id",
        ),
        (
            json!({"partner_id": vendor, "order_line": [[0, 0, {"product_id": product, "product_qty": 0}]]}),
            "product_qty",
        ),
        (
            json!({"partner_id": vendor, "order_line": [[6, 0, [product]]]}),
            "purchase.order.order_line",
        ),
        (
            json!({"partner_id": vendor, "date_order": "2025-01-31T10:00:00Z"}),
            "purchase.order.date_order",
        ),
    ];
    for (vals, field) in cases {
        let v = create(vals.clone()).await;
        assert_eq!(
            error_name(&v),
            "odoo.exceptions.ValidationError",
            "{vals}: {v}"
        );
        assert!(
            error_message(&v).contains(field),
            "{vals}: the error names {field}: {v}"
        );
    }
    assert!(odoo.records("purchase.order").is_empty());
    assert!(odoo.records("purchase.order.line").is_empty());

    // One bad order in a list: none of them is written.
    let v = execute(
        &odoo,
        "purchase.order",
        "create",
        json!([[{"partner_id": vendor}, {"partner_id": false}]]),
        json!({}),
    )
    .await;
    assert_eq!(error_name(&v), "odoo.exceptions.ValidationError");
    assert!(odoo.records("purchase.order").is_empty());

    // A list of dicts creates a list of ids.
    let v = execute(
        &odoo,
        "purchase.order",
        "create",
        json!([[{"partner_id": vendor}, {"partner_id": vendor}]]),
        json!({}),
    )
    .await;
    assert_eq!(v["result"].as_array().unwrap().len(), 2, "{v}");
}

#[tokio::test]
async fn confirming_a_sale_order_reserves_stock_once() {
    let odoo = FakeOdoo::start(cfg()).await;
    let customer = odoo.add_partner("Jan de Vries", Some("jan@example.nl"));
    let product = odoo.add_product("RF-5", "", "iPhone 14", 5.0);
    let v = execute(
        &odoo,
        "sale.order",
        "create",
        json!([{"partner_id": customer, "client_order_ref": "SW-10042",
            "order_line": [[0, 0, {"product_id": product, "product_uom_qty": 2, "price_unit": 499.0}]]}]),
        json!({}),
    )
    .await;
    let so = v["result"].as_i64().unwrap_or_else(|| panic!("{v}"));
    assert_eq!(odoo.records("sale.order")[0]["name"], "S00001");
    assert_eq!(odoo.records("sale.order")[0]["state"], "draft");

    let v = execute(
        &odoo,
        "sale.order",
        "action_confirm",
        json!([[so]]),
        json!({}),
    )
    .await;
    assert_eq!(v["result"], json!(true), "{v}");
    assert_eq!(odoo.records("sale.order")[0]["state"], "sale");
    let v = execute(
        &odoo,
        "product.product",
        "read",
        json!([
            [product],
            ["qty_available", "free_qty", "virtual_available"]
        ]),
        json!({}),
    )
    .await;
    assert_eq!(
        v["result"],
        json!([{"id": product, "qty_available": 5.0, "free_qty": 3.0, "virtual_available": 3.0}])
    );

    // Odoo's action_confirm refuses an order that is not a quotation any more.
    let v = execute(
        &odoo,
        "sale.order",
        "action_confirm",
        json!([[so]]),
        json!({}),
    )
    .await;
    assert_eq!(error_name(&v), "odoo.exceptions.UserError");
    assert_eq!(
        error_message(&v),
        "The following orders are not in a state requiring confirmation: S00001"
    );
    assert_eq!(odoo.records("product.product")[0]["free_qty"], 3.0);
}

#[tokio::test]
async fn domains_take_prefix_operators_limit_offset_and_order() {
    let odoo = FakeOdoo::start(cfg()).await;
    let a = odoo.add_product("RF-A", "111", "Apple iPhone", 1.0);
    let b = odoo.add_product("RF-B", "222", "Samsung Galaxy", 0.0);
    let c = odoo.add_product("RF-C", "333", "Apple iPad", 3.0);
    let ids = |v: &Value| -> Vec<i64> {
        v["result"]
            .as_array()
            .unwrap_or_else(|| panic!("{v}"))
            .iter()
            .map(|x| x.as_i64().unwrap())
            .collect()
    };
    let search = |domain: Value, kwargs: Value| {
        execute(&odoo, "product.product", "search", json!([domain]), kwargs)
    };

    let v = search(
        json!(["|", ["default_code", "=", "RF-A"], ["barcode", "=", "222"]]),
        json!({}),
    )
    .await;
    assert_eq!(ids(&v), [a, b]);
    let v = search(json!([["name", "ilike", "apple"]]), json!({})).await;
    assert_eq!(ids(&v), [a, c]);
    let v = search(
        json!(["!", ["name", "ilike", "apple"], ["qty_available", ">=", 0]]),
        json!({}),
    )
    .await;
    assert_eq!(ids(&v), [b]);
    let v = search(
        json!([
            "|",
            "&",
            ["name", "like", "Apple"],
            ["qty_available", ">", 2],
            ["default_code", "in", ["RF-B"]]
        ]),
        json!({}),
    )
    .await;
    assert_eq!(ids(&v), [b, c]);
    let v = search(
        json!([["default_code", "not in", ["RF-A", "RF-C"]]]),
        json!({}),
    )
    .await;
    assert_eq!(ids(&v), [b]);
    let v = search(json!([]), json!({"order": "id desc", "limit": 2})).await;
    assert_eq!(ids(&v), [c, b]);
    let v = search(
        json!([]),
        json!({"order": "id desc", "offset": 1, "limit": 1}),
    )
    .await;
    assert_eq!(ids(&v), [b]);

    let v = execute(
        &odoo,
        "product.product",
        "search_count",
        json!([[["name", "ilike", "apple"]]]),
        json!({}),
    )
    .await;
    assert_eq!(v["result"], 2);

    // An operator without its operands is a syntax error.
    let v = search(json!(["|", ["name", "=", "x"]]), json!({})).await;
    assert_eq!(error_name(&v), "builtins.ValueError");

    // Many2one terms: ids, or display names when given text; dotted paths.
    let vendor = odoo.add_partner("Refurb Supplier B.V.", None);
    let other = odoo.add_partner("Other B.V.", None);
    for partner in [vendor, other] {
        execute(
            &odoo,
            "purchase.order",
            "create",
            json!([{"partner_id": partner}]),
            json!({}),
        )
        .await;
    }
    let po = |domain: Value| {
        execute(
            &odoo,
            "purchase.order",
            "search",
            json!([domain]),
            json!({}),
        )
    };
    let v = po(json!([["partner_id", "=", vendor]])).await;
    assert_eq!(ids(&v), [1]);
    let v = po(json!([["partner_id", "ilike", "refurb"]])).await;
    assert_eq!(ids(&v), [1]);
    let v = po(json!([["partner_id.name", "=", "Other B.V."]])).await;
    assert_eq!(ids(&v), [2]);
    // purchase.order's default order: newest first.
    let v = po(json!([])).await;
    assert_eq!(ids(&v), [2, 1]);
}

#[tokio::test]
async fn fail_next_answers_gateway_pages_and_fail_next_rpc_odoo_errors() {
    let odoo = FakeOdoo::start(cfg()).await;
    let c = cfg();
    let vendor = odoo.add_partner("Supplier", None);
    odoo.fail_next(502, 2);
    for _ in 0..2 {
        let r = reqwest::Client::new()
            .post(format!("{}/jsonrpc", odoo.url))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 502);
        assert!(r.text().await.unwrap().contains("502 Bad Gateway"));
    }
    odoo.fail_next(429, 1);
    let r = reqwest::Client::new()
        .post(format!("{}/json/2/res.partner/search", odoo.url))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 429);
    assert_eq!(r.headers()["retry-after"], "1");
    let v = execute(&odoo, "res.partner", "search", json!([[]]), json!({})).await;
    assert_eq!(v["result"], json!([vendor]));
    assert_eq!(
        odoo.requests().iter().map(|r| r.status).collect::<Vec<_>>(),
        [502, 502, 429, 200]
    );
    odoo.clear_requests();

    odoo.fail_next_rpc("The vendor is blocked", 1);
    let v = execute(
        &odoo,
        "purchase.order",
        "create",
        json!([{"partner_id": vendor}]),
        json!({}),
    )
    .await;
    assert_eq!(error_name(&v), "odoo.exceptions.ValidationError");
    assert_eq!(error_message(&v), "The vendor is blocked");
    assert!(odoo.records("purchase.order").is_empty());

    odoo.fail_next_rpc("Odoo is busy", 1);
    let key = bearer();
    let (status, v) = post(
        &odoo,
        "/json/2/purchase.order/create",
        &[
            ("Authorization", key.as_str()),
            ("X-Odoo-Database", c.database.as_str()),
        ],
        &json!({"vals_list": [{"partner_id": vendor}]}),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(v["name"], "odoo.exceptions.ValidationError");
    assert_eq!(v["message"], "Odoo is busy");

    // Spent: the next call goes through; n 0 clears what is left.
    let v = execute(
        &odoo,
        "purchase.order",
        "create",
        json!([{"partner_id": vendor}]),
        json!({}),
    )
    .await;
    assert!(v["result"].is_i64(), "{v}");
    odoo.fail_next_rpc("never", 5);
    odoo.fail_next_rpc("never", 0);
    odoo.fail_next(500, 5);
    odoo.fail_next(500, 0);
    let v = execute(&odoo, "purchase.order", "search", json!([[]]), json!({})).await;
    assert_eq!(v["result"], json!([1]));
}
