//! HTTP feeds against real servers on loopback that check method, auth and body the way a
//! refurbisher's endpoint (or Alumio's proxy) would.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use irp_clients::FetchError;
use irp_clients::http::fetch;
use irp_core::config::{model::OffersConfig, parse_document};

#[derive(Clone, Default)]
struct Hits(Arc<Mutex<HashMap<String, u32>>>);

impl Hits {
    fn hit(&self, name: &str) -> u32 {
        let mut m = self.0.lock().unwrap();
        let n = m.entry(name.to_owned()).or_default();
        *n += 1;
        *n
    }
    fn get(&self, name: &str) -> u32 {
        self.0.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

const IUSED_FEED: &str = r#"{"offers":[{"description":"iPad 9","sku":"IU-1","quantity":3,"ean":"4006381333931","costPrice":199.95,"priceConsumer":329,"currencyIso":"EUR","taxPercentage":21}]}"#;

async fn alumio(State(hits): State<Hits>, headers: HeaderMap, body: Bytes) -> Response {
    hits.hit("alumio");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer alumio-token") {
        return (StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
    }
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/json") {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "json expected").into_response();
    }
    if body.as_ref() != br#"{ "sales_channel_id": 11 }"#.as_slice() {
        return (StatusCode::BAD_REQUEST, "unexpected body").into_response();
    }
    ([("content-type", "application/json")], IUSED_FEED).into_response()
}

async fn flaky(State(hits): State<Hits>) -> Response {
    match hits.hit("flaky") {
        1 => (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response(),
        _ => IUSED_FEED.into_response(),
    }
}

async fn limited(State(hits): State<Hits>) -> Response {
    match hits.hit("limited") {
        1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response(),
        _ => IUSED_FEED.into_response(),
    }
}

async fn keyed(State(hits): State<Hits>, Query(q): Query<HashMap<String, String>>) -> Response {
    hits.hit("keyed");
    if q.get("api_key").map(String::as_str) == Some("q-secret-123") {
        (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
    } else {
        (StatusCode::FORBIDDEN, "no key").into_response()
    }
}

async fn token(State(hits): State<Hits>, body: String) -> Response {
    hits.hit("token");
    if body.contains("grant_type=client_credentials")
        && body.contains("client_id=flex-id")
        && body.contains("client_secret=flex-secret")
    {
        (
            [("content-type", "application/json")],
            r#"{"access_token":"tok-1","token_type":"Bearer","expires_in":3600}"#,
        )
            .into_response()
    } else {
        (StatusCode::UNAUTHORIZED, "bad client").into_response()
    }
}

async fn oauth_feed(headers: HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer tok-1") {
        IUSED_FEED.into_response()
    } else {
        StatusCode::UNAUTHORIZED.into_response()
    }
}

async fn paged(Query(q): Query<HashMap<String, String>>) -> Response {
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let offers: Vec<String> = match page {
        1 | 2 => (0..2)
            .map(|i| format!(r#"{{"sku":"P{page}-{i}"}}"#))
            .collect(),
        _ => Vec::new(),
    };
    format!(r#"{{"data":{{"items":[{}]}}}}"#, offers.join(",")).into_response()
}

async fn cursored(Query(q): Query<HashMap<String, String>>) -> Response {
    match q.get("cursor").map(String::as_str) {
        None => r#"{"offers":[{"sku":"C1"}],"next":"abc"}"#.into_response(),
        Some("abc") => r#"{"offers":[{"sku":"C2"}],"next":null}"#.into_response(),
        Some(_) => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn slow() -> Response {
    tokio::time::sleep(Duration::from_secs(5)).await;
    IUSED_FEED.into_response()
}

/// Starts its answer, then sends nothing for 10 s.
async fn stalling() -> Response {
    use futures_util::StreamExt as _;
    let first = futures_util::stream::once(async {
        Ok::<_, std::convert::Infallible>(Bytes::from_static(b"{\"offers\": ["))
    });
    let rest = futures_util::stream::once(async {
        tokio::time::sleep(Duration::from_secs(10)).await;
        Ok(Bytes::from_static(b"]}"))
    });
    axum::body::Body::from_stream(first.chain(rest)).into_response()
}

/// A CSV export in pages of two rows (`?page=1..`), each page with the heading row; page 3 is
/// empty. Page 8 has rows too, and page 9 another heading row.
async fn csv_paged(Query(q): Query<HashMap<String, String>>) -> Response {
    let page: u32 = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(0);
    let head = "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\r\n";
    match page {
        1 | 2 | 8 => format!(
            "\u{feff}{head}P{page}-0;\"Phone; 5G\";1;0194252707234;1,00;2,00\r\nP{page}-1;Phone;2;0194252707234;1,00;2,00\r\n"
        )
        .into_response(),
        9 => "SKU;Name\r\nX;Y\r\n".into_response(),
        _ => head.into_response(),
    }
}

async fn big() -> Response {
    "x".repeat(10_000).into_response()
}

/// Answers only clients that accept gzip; the compression layer then gzips the answer.
async fn gzipped(headers: HeaderMap) -> Response {
    let accepts = headers
        .get("accept-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("gzip"));
    if accepts {
        IUSED_FEED.into_response()
    } else {
        (StatusCode::NOT_ACCEPTABLE, "gzip expected").into_response()
    }
}

async fn serve() -> (String, Hits) {
    let hits = Hits::default();
    let app = Router::new()
        .route(
            "/api/v1/http-proxy/odoo-max-receive-sales-channel-products",
            post(alumio),
        )
        .route("/flaky", get(flaky))
        .route("/limited", get(limited))
        .route("/keyed", get(keyed))
        .route("/oauth/token", post(token))
        .route("/oauth/feed", get(oauth_feed))
        .route("/paged", get(paged))
        .route("/cursored", get(cursored))
        .route("/slow", get(slow))
        .route("/stalling", get(stalling))
        .route("/csv-paged", get(csv_paged))
        .route("/big", get(big))
        .route("/gzipped", get(gzipped))
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, hits)
}

fn cfg(offers_json: &str) -> OffersConfig {
    let doc = format!(r#"{{ "t": {{ "default_margin": 10, "offers": {offers_json} }} }}"#);
    let d = parse_document(&doc);
    assert!(d.is_ok(), "{:?}", d.diagnostics);
    d.refurbishers.into_iter().next().unwrap().offers.unwrap()
}

const MAPPING: &str = r#""mapping": { "sku": "sku", "name": "description", "ean": "ean", "stock_available": "quantity", "price_purchase_amount": "costPrice", "price_consumer_amount": "priceConsumer" }"#;

fn web(base: &str, path: &str, extra: &str) -> OffersConfig {
    cfg(&format!(
        r#"{{ "connection": "web", "endpoint": "{base}{path}", "type": "json", "offer_location": "offers", {extra} {MAPPING} }}"#
    ))
}

#[tokio::test]
async fn the_iused_seed_connector_posts_its_body_with_the_bearer_token() {
    let (base, hits) = serve().await;
    // The seed's offers block verbatim, pointed at the local Alumio and with its token filled in.
    let offers = cfg(&format!(
        r#"{{
"connection": "web_post",
"endpoint": "{base}/api/v1/http-proxy/odoo-max-receive-sales-channel-products",
"auth": {{ "type": "bearer", "token": "alumio-token" }},
"body": "{{ \"sales_channel_id\": 11 }}",
"type": "json",
"paginate": false,
"offer_location": "offers",
"price_locale": "en_US",
"mapping": {{ "name": "description", "sku": "sku", "stock_available": "quantity", "ean": "ean",
  "price_purchase_amount": "costPrice", "price_consumer_amount": "priceConsumer", "currency_iso": "currencyIso", "tax_percentage": "taxPercentage" }}
}}"#
    ));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("feed.json");
    let got = fetch(&offers, &dest).await.unwrap();
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), IUSED_FEED);
    assert_eq!(
        (
            got.record.http_status,
            got.record.bytes,
            got.record.attempts
        ),
        (Some(200), IUSED_FEED.len() as u64, 1)
    );
    assert_eq!(hits.get("alumio"), 1);
}

#[tokio::test]
async fn a_wrong_token_fails_at_once_with_the_status_and_the_answer() {
    let (base, hits) = serve().await;
    let offers = cfg(&format!(
        r#"{{ "connection": "web_post", "endpoint": "{base}/api/v1/http-proxy/odoo-max-receive-sales-channel-products",
        "auth": {{ "type": "bearer", "token": "wrong" }}, "body": "{{}}", "type": "json", "offer_location": "offers", {MAPPING} }}"#
    ));
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(&offers, &dir.path().join("f")).await.unwrap_err();
    assert_eq!(
        err.error,
        FetchError::Status {
            status: 401,
            body: "missing or wrong bearer token".into()
        }
    );
    assert_eq!(err.record.http_status, Some(401));
    assert_eq!(hits.get("alumio"), 1, "a 4xx is not retried");
    assert_eq!(
        err.to_string(),
        "the feed endpoint answered HTTP 401: missing or wrong bearer token"
    );
}

#[tokio::test]
async fn a_503_is_retried_and_a_429_waits_for_retry_after() {
    let (base, hits) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let got = fetch(&web(&base, "/flaky", ""), &dir.path().join("a"))
        .await
        .unwrap();
    assert_eq!(
        (got.record.attempts, got.record.http_status),
        (2, Some(200))
    );
    assert_eq!(hits.get("flaky"), 2);

    let started = Instant::now();
    let got = fetch(&web(&base, "/limited", ""), &dir.path().join("b"))
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(got.record.attempts, 2);
}

#[tokio::test]
async fn query_credentials_never_appear_in_errors() {
    let (base, hits) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let offers = web(
        &base,
        "/keyed",
        r#""auth": { "type": "query", "name": "api_key", "value": "q-secret-123" },"#,
    );
    let err = fetch(&offers, &dir.path().join("f")).await.unwrap_err();
    assert_eq!(
        err.error,
        FetchError::Status {
            status: 500,
            body: "internal error".into()
        }
    );
    assert_eq!(hits.get("keyed"), 3, "5xx is retried up to 3 attempts");
    assert!(!format!("{err} {err:?}").contains("q-secret-123"));

    // A refused connection names the host and path, not the query.
    let offers = cfg(&format!(
        r#"{{ "connection": "web", "endpoint": "http://127.0.0.1:9/feed", "auth": {{ "type": "query", "name": "api_key", "value": "q-secret-123" }},
        "type": "json", "offer_location": "offers", "connect_timeout_secs": 1, {MAPPING} }}"#
    ));
    let err = fetch(&offers, &dir.path().join("g")).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("fetching http://127.0.0.1:9/feed failed after 3 attempts"),
        "{text}"
    );
    assert!(!text.contains("q-secret-123"), "{text}");
}

#[tokio::test]
async fn oauth_client_credentials_fetch_a_token_once_and_reuse_it() {
    let (base, hits) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let offers = web(
        &base,
        "/oauth/feed",
        &format!(
            r#""auth": {{ "type": "client_id_secret", "client_id": "flex-id", "client_secret": "flex-secret", "token_url": "{base}/oauth/token" }},"#
        ),
    );
    fetch(&offers, &dir.path().join("a")).await.unwrap();
    fetch(&offers, &dir.path().join("b")).await.unwrap();
    assert_eq!(hits.get("token"), 1);
    // Another connector naming the same token URL and client id but not the secret gets no
    // cached token: it asks for its own, which is refused.
    let impostor = web(
        &base,
        "/oauth/feed",
        &format!(
            r#""auth": {{ "type": "client_id_secret", "client_id": "flex-id", "client_secret": "not-the-secret", "token_url": "{base}/oauth/token" }},"#
        ),
    );
    let err = fetch(&impostor, &dir.path().join("c"))
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("401"), "{err}");
    assert_eq!(hits.get("token"), 2);
}

#[tokio::test]
async fn pages_and_cursors_are_followed_into_one_array() {
    let (base, _) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let offers = cfg(&format!(
        r#"{{ "connection": "web", "endpoint": "{base}/paged", "type": "json", "offer_location": "data.items",
        "paginate": {{ "type": "page" }}, {MAPPING} }}"#
    ));
    let dest = dir.path().join("paged.json");
    let got = fetch(&offers, &dest).await.unwrap();
    assert_eq!(got.offer_location.as_deref(), Some(""));
    assert_eq!(got.record.pages, 3);
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        r#"[{"sku":"P1-0"},{"sku":"P1-1"},{"sku":"P2-0"},{"sku":"P2-1"}]"#
    );

    let offers = cfg(&format!(
        r#"{{ "connection": "web", "endpoint": "{base}/cursored", "type": "json", "offer_location": "offers",
        "paginate": {{ "type": "cursor", "cursor_path": "next" }}, {MAPPING} }}"#
    ));
    let dest = dir.path().join("cursored.json");
    fetch(&offers, &dest).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        r#"[{"sku":"C1"},{"sku":"C2"}]"#
    );

    let capped = cfg(&format!(
        r#"{{ "connection": "web", "endpoint": "{base}/paged", "type": "json", "offer_location": "data.items",
        "paginate": {{ "type": "page", "max_pages": 2 }}, {MAPPING} }}"#
    ));
    let err = fetch(&capped, &dir.path().join("c")).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the feed has more than max_pages (2) pages"),
        "{err}"
    );
}

#[tokio::test]
async fn timeouts_size_caps_and_gzip() {
    let (base, _) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let err = fetch(
        &web(&base, "/slow", r#""timeout_secs": 1,"#),
        &dir.path().join("a"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error, FetchError::Timeout(1));

    // A server that stops sending is given up after read_timeout_secs, long before timeout_secs.
    let t = Instant::now();
    let err = fetch(
        &web(
            &base,
            "/stalling",
            r#""timeout_secs": 60, "read_timeout_secs": 1,"#,
        ),
        &dir.path().join("s"),
    )
    .await
    .unwrap_err();
    assert_eq!(err.error, FetchError::Stalled(1), "{err}");
    assert_eq!(
        err.to_string(),
        "the feed server sent nothing for read_timeout_secs (1 s): the download stalled"
    );
    assert!(t.elapsed() < Duration::from_secs(9), "{:?}", t.elapsed());

    let err = fetch(
        &web(&base, "/big", r#""max_bytes": 1000,"#),
        &dir.path().join("b"),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the feed is larger than max_bytes (1000 bytes after decompression)"
    );

    let dest = dir.path().join("c");
    fetch(&web(&base, "/gzipped", ""), &dest).await.unwrap();
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), IUSED_FEED);
}

#[tokio::test]
async fn csv_pages_are_joined_under_one_heading_row() {
    let (base, _) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let offers = cfg(&format!(
        r#"{{ "connection": "web", "endpoint": "{base}/csv-paged", "type": "csv", "separator": ";",
        "paginate": {{ "type": "page" }},
        "mapping": {{ "sku": "Flex IT Part Number", "name": "Description", "ean": "EAN", "stock_available": "Stock Quantity",
            "price_purchase_amount": "Sales Price", "price_consumer_amount": "SRP" }} }}"#
    ));
    let dest = dir.path().join("paged.csv");
    let got = fetch(&offers, &dest).await.unwrap();
    assert_eq!(got.record.pages, 3);
    assert_eq!(got.offer_location, None);
    assert_eq!(
        std::fs::read_to_string(&dest).unwrap(),
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\n\
         P1-0;\"Phone; 5G\";1;0194252707234;1,00;2,00\r\nP1-1;Phone;2;0194252707234;1,00;2,00\r\n\
         P2-0;\"Phone; 5G\";1;0194252707234;1,00;2,00\r\nP2-1;Phone;2;0194252707234;1,00;2,00\r\n"
    );

    // A page with another heading row is not joined.
    let offers = cfg(&format!(
        r#"{{ "connection": "web", "endpoint": "{base}/csv-paged", "type": "csv", "separator": ";",
        "paginate": {{ "type": "page", "start": 8 }},
        "mapping": {{ "sku": "Flex IT Part Number", "name": "Description", "ean": "EAN", "stock_available": "Stock Quantity",
            "price_purchase_amount": "Sales Price", "price_consumer_amount": "SRP" }} }}"#
    ));
    let err = fetch(&offers, &dir.path().join("b.csv")).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "page 2 starts with another heading row than page 1: \"SKU;Name\" instead of \"Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP\""
    );
}
