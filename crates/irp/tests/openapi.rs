//! The REST API's OpenAPI document, black-box against the real `irp serve`: it lists every
//! route the server answers, errors carry stable codes, lists page; and Schemathesis fuzzes the
//! API from the document and finds no 5xx (and no answer that breaks the document's schemas).

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::collections::BTreeSet;
use std::io::Read as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use irp_store::db_tests;
use irp_store::testkit::TestDb;
use serde_json::{Value, json};

mod common;
use common::{Irp, api_token, root, start_serve, stderr};

/// The example configuration, applied by `irp serve --apply`.
const APPLY: &[&str] = &[
    "--apply",
    "config/refurbishers/flexit.json",
    "config/refurbishers/iused-stores.json",
    "config/channels.json",
];

/// Every operation the API serves, as `METHOD path`.
const ROUTES: &[&str] = &[
    "GET /api/v1/openapi.json",
    "POST /api/v1/orders",
    "GET /api/v1/orders",
    "GET /api/v1/orders/{id}",
    "GET /api/v1/supplier-orders",
    "POST /api/v1/supplier-orders/{id}/retry",
    "POST /api/v1/supplier-orders/{id}/erp-retry",
    "POST /api/v1/supplier-orders/{id}/cancel",
    "GET /api/v1/shipments",
    "GET /api/v1/shipments/{id}",
    "POST /api/v1/shipments/{id}/match",
    "POST /api/v1/shipments/{id}/dismiss",
    "GET /api/v1/alerts",
    "GET /api/v1/monitor",
    "GET /api/v1/products",
    "GET /api/v1/products/{ean}",
    "GET /api/v1/offers/{refurbisher}/{sku}",
    "GET /api/v1/refurbishers",
    "PUT /api/v1/refurbishers",
    "GET /api/v1/refurbishers/{key}",
    "POST /api/v1/config/check",
    "POST /api/v1/config/preview",
    "GET /api/v1/refurbishers/{key}/runs",
    "GET /api/v1/runs/{id}",
    "POST /api/v1/runs/{id}/apply",
    "POST /api/v1/runs/{id}/discard",
    "POST /api/v1/refurbishers/{key}/preview",
    "POST /api/v1/refurbishers/{key}/import",
    "POST /api/v1/refurbishers/{key}/upload",
    "POST /api/v1/refurbishers/{key}/webhook-token",
    "POST /api/v1/refurbishers/{key}/credentials",
    "GET /api/v1/prices/held",
    "POST /api/v1/prices/{refurbisher}/{sku}/{decision}",
    "GET /api/v1/audit",
    "GET /api/v1/channels",
    "GET /api/v1/channels/{key}",
    "POST /api/v1/channels/{key}/sync",
];

/// A channel-order document for `refurbished-direct`.
fn order_doc(number: &str) -> Value {
    json!({
        "channel": "refurbished-direct",
        "order_number": number,
        "placed_at": "2026-11-23T10:00:00Z",
        "customer": {"email": "jan@example.nl"},
        "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
            "house_number": "1", "zipcode": "1012 LG", "city": "Amsterdam", "country": "NL"},
        "lines": [{"ean": "8712345678906", "quantity": 1, "unit_price_incl_vat": "160.23"}]
    })
}

/// Every `$ref` in `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        out.insert(r.clone());
                    }
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

db_tests!(the_openapi_document_lists_every_route_and_errors_carry_codes,);

async fn the_openapi_document_lists_every_route_and_errors_carry_codes(db: TestDb) {
    let irp = Irp::new(&db.url);
    let operator = api_token(&irp, "shop", "operator");
    let viewer = api_token(&irp, "dashboard", "viewer");
    let serve = start_serve(&irp, APPLY, &[]);
    let base = format!("http://{}", serve.addr);
    let client = reqwest::Client::new();

    // The document, without a token: OpenAPI 3.x, the title and version, every route.
    let r = client
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let doc: Value = r.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "IRP — Refurbisher Portal API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|k| {
                    ["get", "post", "put", "patch", "delete", "head", "options"]
                        .contains(&k.as_str())
                })
                .map(move |m| format!("{} {path}", m.to_uppercase()))
        })
        .collect();
    let expected: BTreeSet<String> = ROUTES.iter().map(|r| (*r).to_owned()).collect();
    assert_eq!(documented, expected);
    // Each operation has a tag, a 200-ish answer and an error answer with the error schema;
    // all but the document itself need the bearer token (the document's default).
    assert_eq!(doc["security"], json!([{"bearer": []}]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let name = format!("{} {path}", method.to_uppercase());
            assert!(
                op["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{name}"
            );
            let responses = op["responses"].as_object().unwrap();
            assert!(responses.keys().any(|s| s.starts_with('2')), "{name}");
            if path.ends_with("openapi.json") {
                assert_eq!(op["security"], json!([{}]), "{name}");
                continue;
            }
            assert_eq!(
                responses["401"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/ApiError",
                "{name}"
            );
        }
    }
    // Every reference resolves.
    let mut found = BTreeSet::new();
    refs(&doc, &mut found);
    for r in found {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    // The error schema: the code is an enum of the documented codes.
    assert_eq!(
        doc["components"]["schemas"]["ErrorCode"]["enum"],
        json!([
            "unauthorized",
            "forbidden",
            "not_found",
            "conflict",
            "invalid",
            "bad_request",
            "rate_limited",
            "internal"
        ])
    );

    // The server answers every documented route: without a token each is a 401 with its code
    // (an unknown /api/v1 path is a 404), a method it does not take is a 405, both JSON.
    for route in ROUTES.iter().filter(|r| !r.ends_with("openapi.json")) {
        let (method, path) = route.split_once(' ').unwrap();
        let path = path
            .replace("{id}", "1")
            .replace("{ean}", "8712345678906")
            .replace("{refurbisher}", "flexit")
            .replace("{sku}", "FLX-A");
        let r = client
            .request(method.parse().unwrap(), format!("{base}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{route}");
        assert_eq!(r.headers()["www-authenticate"], "Bearer", "{route}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "unauthorized", "{route}: {v}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{v}");
    }
    let get = |path: &str, token: &str| {
        client
            .get(format!("{base}{path}"))
            .bearer_auth(token)
            .send()
    };
    let r = get("/api/v1/nothing-here", &operator).await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");
    let r = client
        .delete(format!("{base}/api/v1/orders"))
        .bearer_auth(&operator)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);
    let allow = r.headers()["allow"].to_str().unwrap().to_owned();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "bad_request");

    // Bad parameters are a 400 naming them; an unknown id a 404; a bad body a 400 or a 422.
    for (path, named) in [
        ("/api/v1/orders?limit=abc", "`limit`"),
        ("/api/v1/orders?limit=501", "`limit`"),
        ("/api/v1/shipments?offset=-1", "`offset`"),
        ("/api/v1/alerts?all=maybe", "all"),
        ("/api/v1/orders/abc", "`id`"),
        ("/api/v1/products?query=a%00b", "`query`"),
        ("/api/v1/products/871%00", "`ean`"),
    ] {
        let r = get(path, &operator).await.unwrap();
        assert_eq!(r.status(), 400, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], "bad_request", "{path}: {v}");
        assert!(v["error"].as_str().unwrap().contains(named), "{path}: {v}");
    }
    for path in [
        "/api/v1/orders/999",
        "/api/v1/shipments/999",
        "/api/v1/products/8712345678906",
        "/api/v1/offers/flexit/NOPE",
        "/api/v1/offers/nobody/NOPE",
        "/api/v1/alerts?refurbisher=nobody",
    ] {
        let r = get(path, &viewer).await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
        assert_eq!(
            r.json::<Value>().await.unwrap()["code"],
            "not_found",
            "{path}"
        );
    }
    let post = |path: &str, token: &str, body: &str| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
    };
    let r = post("/api/v1/orders", &operator, "{").await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "bad_request");
    let r = post("/api/v1/orders", &operator, "{}").await.unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["code"], "invalid", "{v}");
    assert!(
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["field"] == "lines"),
        "{v}"
    );
    let r = post(
        "/api/v1/shipments/1/match",
        &operator,
        r#"{"supplier_order_id":"x"}"#,
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errors"][0]["field"], "supplier_order_id", "{v}");
    let doc = order_doc("RD-1").to_string();
    let r = post("/api/v1/orders", &viewer, &doc).await.unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "forbidden");
    let r = post("/api/v1/supplier-orders/999/retry", &operator, "")
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["code"], "not_found");

    // Lists page: `limit`, `offset`, `next_offset` (null on the last page).
    for i in 1..=3 {
        let r = post(
            "/api/v1/orders",
            &operator,
            &order_doc(&format!("RD-{i}")).to_string(),
        )
        .await
        .unwrap();
        assert_eq!(r.status(), 201);
    }
    let v: Value = get("/api/v1/orders?limit=2", &viewer)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let numbers = |v: &Value| -> Vec<String> {
        v["orders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["order_number"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(numbers(&v), ["RD-3", "RD-2"], "{v}");
    assert_eq!(v["next_offset"], 2);
    let v: Value = get("/api/v1/orders?limit=2&offset=2", &viewer)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(numbers(&v), ["RD-1"], "{v}");
    assert_eq!(v["next_offset"], Value::Null);
    for (path, key) in [
        ("/api/v1/supplier-orders", "supplier_orders"),
        ("/api/v1/shipments", "shipments"),
        ("/api/v1/alerts?all=true", "alerts"),
        ("/api/v1/products", "products"),
    ] {
        let v: Value = get(path, &viewer).await.unwrap().json().await.unwrap();
        assert!(v[key].is_array(), "{path}: {v}");
        assert_eq!(v["next_offset"], Value::Null, "{path}: {v}");
    }
}

/// The Schemathesis command: `$IRP_SCHEMATHESIS`, else the virtualenv `scripts/test` makes.
fn schemathesis() -> PathBuf {
    if let Some(p) = std::env::var_os("IRP_SCHEMATHESIS") {
        return PathBuf::from(p);
    }
    let p = root().join("target/schemathesis-venv/bin/schemathesis");
    assert!(
        p.exists(),
        "Schemathesis is not installed at {}: scripts/test installs it \
         (python3 -m venv target/schemathesis-venv && target/schemathesis-venv/bin/pip install schemathesis), \
         or set IRP_SCHEMATHESIS to its command",
        p.display()
    );
    p
}

/// Schemathesis generates requests from the document (valid ones and broken ones) against a
/// server with the example configuration, a feed and an order: no answer may be a 5xx, and
/// every answer must match the document's schema for it. SQLite only: one database is enough
/// for the fuzz (the document test above runs on both).
#[tokio::test]
async fn schemathesis_finds_no_server_error() {
    let command = schemathesis();
    let db = TestDb::new(irp_store::Backend::Sqlite).await;
    let irp = Irp::new(&db.url);
    let token = api_token(&irp, "fuzz", "operator");
    let serve = start_serve(&irp, APPLY, &[]);
    let addr = serve.addr.clone();
    // Something to read: an offer and its product, an order with a (failed: no credentials)
    // supplier order and its attempt.
    let feed = irp.data.path().join("flexit.csv");
    std::fs::write(
        &feed,
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n\
         FLX-A;Apple iPhone 13;50;8712345678906;100,00;999,00\n",
    )
    .unwrap();
    let out = irp.run(&["feed", "import", "flexit", "--file", feed.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/orders"))
        .bearer_auth(&token)
        .json(&order_doc("SEED-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Its examples database and any report stay out of the repository.
    let work = tempfile::tempdir().unwrap();
    let mut child = Command::new(&command)
        .args([
            "run",
            &format!("http://{addr}/api/v1/openapi.json"),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error,response_schema_conformance",
            "--max-examples",
            "30",
            "--request-timeout",
            "10",
            "--generation-database",
            "none",
            "--no-color",
        ])
        .current_dir(work.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("running {}: {e}", command.display()));
    // Read its output as it comes (a full pipe would block it).
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    drop(serve);
    let Some(status) = status else {
        panic!("Schemathesis did not finish within 3 minutes:\n{out}\n{err}");
    };
    assert!(
        status.success(),
        "Schemathesis found problems (exit {status}):\n{out}\n{err}"
    );
    assert!(out.contains("passed"), "{out}\n{err}");
    // Say what was run (shown with `--no-capture`).
    for line in out
        .lines()
        .filter(|l| l.contains("generated") || l.starts_with("Seed:"))
    {
        println!("{line}");
    }
}
