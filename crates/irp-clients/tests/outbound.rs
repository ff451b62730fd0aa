//! Outbound requests against hostile or misconfigured servers on loopback: a redirect to another
//! origin never carries a credential, a gzip bomb is refused after its cap without being held in
//! memory, and private networks are refused unless allowed. Every test builds its own
//! [`NetPolicy`], so none depends on `IRP_ALLOW_PRIVATE_NETWORKS`.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::sync::Arc;
use std::time::Duration;

use irp_clients::ergonode::Ergonode;
use irp_clients::net::{NetPolicy, Refused};
use irp_clients::odoo::{AlumioSettings, Odoo, OdooSettings};
use irp_clients::order_call::{self, CallResult};
use irp_clients::shopware::{Shopware, ShopwareError};
use irp_clients::{FetchError, http, notify, sftp};
use irp_core::config::model::{HttpAuth, Method, OdooProtocol, OffersConfig, OrderConfig};
use irp_core::config::parse_document;
use irp_testkit::hostile::{Answer, Hostile, peak_rss};
use serde_json::json;

const FEED: &str = r#"{"offers":[{"sku":"A-1","description":"iPad 9","quantity":3,"ean":"4006381333931","costPrice":199.95,"priceConsumer":329}]}"#;
const MAPPING: &str = r#""mapping": { "sku": "sku", "name": "description", "ean": "ean", "stock_available": "quantity", "price_purchase_amount": "costPrice", "price_consumer_amount": "priceConsumer" }"#;
/// What every bomb inflates to.
const GIB: u64 = 1 << 30;
/// How much a test reading a bomb may grow the process: far below the bomb, above the largest
/// cap (64 MiB, held in a vector that may double).
const RSS_BUDGET: u64 = 256 << 20;

fn loopback() -> Arc<NetPolicy> {
    Arc::new(NetPolicy::from_list("127.0.0.0/8,::1/128").unwrap())
}

fn offers(json: &str) -> OffersConfig {
    let doc = format!(r#"{{ "t": {{ "default_margin": 10, "offers": {json} }} }}"#);
    let d = parse_document(&doc);
    assert!(d.is_ok(), "{:?}", d.diagnostics);
    d.refurbishers.into_iter().next().unwrap().offers.unwrap()
}

fn web(endpoint: &str, extra: &str) -> OffersConfig {
    offers(&format!(
        r#"{{ "connection": "web", "endpoint": "{endpoint}", "type": "json", "offer_location": "offers", {extra} {MAPPING} }}"#
    ))
}

async fn fetch_err(o: &OffersConfig, policy: Arc<NetPolicy>) -> FetchError {
    let dir = tempfile::tempdir().unwrap();
    http::fetch_with_policy(o, &dir.path().join("feed"), policy)
        .await
        .unwrap_err()
        .error
}

/// A server that redirects every request but `/token` (a token) to `to`.
fn redirecting(status: u16, to: String) -> Hostile {
    Hostile::start(move |req| {
        if req.target.starts_with("/token") {
            Answer::Json(
                200,
                r#"{"access_token":"oauth-token-7","expires_in":3600}"#.into(),
            )
        } else {
            Answer::Redirect(status, to.clone())
        }
    })
}

/// Every auth type of a feed: the auth block, and the texts of its credential as they travel
/// (a header value, a query parameter, a base64 pair, a form field).
fn auth_types(token_url: &str) -> Vec<(&'static str, String, Vec<&'static str>)> {
    vec![
        (
            "bearer",
            r#""auth": { "type": "bearer", "token": "bearer-secret-1" },"#.into(),
            vec!["bearer-secret-1"],
        ),
        (
            "basic",
            r#""auth": { "type": "basic", "username": "basic-user", "password": "basic-pass-2" },"#.into(),
            // base64("basic-user:basic-pass-2")
            vec!["basic-pass-2", "YmFzaWMtdXNlcjpiYXNpYy1wYXNzLTI="],
        ),
        (
            "header",
            r#""auth": { "type": "header", "name": "X-Api-Key", "value": "header-secret-3" },"#.into(),
            vec!["header-secret-3"],
        ),
        (
            "query",
            r#""auth": { "type": "query", "name": "api_key", "value": "query-secret-4" },"#.into(),
            vec!["query-secret-4"],
        ),
        (
            "client_id_secret (headers)",
            r#""auth": { "type": "client_id_secret", "client_id": "cid-5", "client_secret": "csecret-6", "client_id_header": "X-Client-Id", "client_secret_header": "X-Client-Secret" },"#.into(),
            vec!["cid-5", "csecret-6"],
        ),
        (
            "client_id_secret (OAuth2)",
            format!(
                r#""auth": {{ "type": "client_id_secret", "client_id": "oauth-id", "client_secret": "oauth-secret-8", "token_url": "{token_url}" }},"#
            ),
            vec!["oauth-token-7", "oauth-secret-8"],
        ),
    ]
}

#[tokio::test]
async fn a_redirect_to_another_origin_carries_no_credential_of_any_auth_type() {
    for status in [301, 302, 307, 308] {
        let elsewhere = Hostile::start(|_| Answer::Json(200, FEED.into()));
        let origin = redirecting(status, elsewhere.url("/stolen?x=1"));
        for (kind, auth, secrets) in auth_types(&origin.url("/token")) {
            let feed = web(&origin.url("/feed"), &auth);
            let err = fetch_err(&feed, loopback()).await;
            assert_eq!(
                err.to_string(),
                format!(
                    "refused to follow the redirect from {} to {}: it leads to another origin (scheme, host and port) and the request carries credentials, which are never sent elsewhere",
                    origin.url("/feed"),
                    elsewhere.url("/stolen")
                ),
                "{kind}, {status}"
            );
            // The credential did travel to the feed's own server: the test means something.
            let at_origin = origin.seen();
            assert!(
                at_origin
                    .iter()
                    .any(|r| r.target.starts_with("/feed") && secrets.iter().any(|s| r.contains(s))),
                "{kind}: the credential never reached the feed server: {at_origin:?}"
            );
            for r in elsewhere.seen() {
                for s in &secrets {
                    assert!(!r.contains(s), "{kind}, {status}: {s} reached {r:?}");
                }
            }
        }
        let seen = elsewhere.seen();
        assert!(seen.is_empty(), "{status}: {seen:?}");
    }
}

#[tokio::test]
async fn a_post_feed_redirected_elsewhere_sends_neither_its_body_nor_its_key() {
    let elsewhere = Hostile::start(|_| Answer::Json(200, FEED.into()));
    let origin = redirecting(307, elsewhere.url("/stolen"));
    let feed = offers(&format!(
        r#"{{ "connection": "web_post", "endpoint": "{}", "body": "{{\"token\": \"body-secret-9\"}}", "type": "json", "offer_location": "offers", {MAPPING} }}"#,
        origin.url("/feed")
    ));
    let err = fetch_err(&feed, loopback()).await;
    assert!(
        err.to_string()
            .starts_with("refused to follow the redirect from "),
        "{err}"
    );
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
}

#[tokio::test]
async fn a_token_endpoint_redirected_elsewhere_never_gets_the_client_secret() {
    let elsewhere =
        Hostile::start(|_| Answer::Json(200, r#"{"access_token":"t","expires_in":60}"#.into()));
    let tokens = Hostile::start({
        let to = elsewhere.url("/token");
        move |_| Answer::Redirect(307, to.clone())
    });
    let feed_server = Hostile::start(|_| Answer::Json(200, FEED.into()));
    let feed = web(
        &feed_server.url("/feed"),
        &format!(
            r#""auth": {{ "type": "client_id_secret", "client_id": "tok-id", "client_secret": "tok-secret-10", "token_url": "{}" }},"#,
            tokens.url("/token")
        ),
    );
    let err = fetch_err(&feed, loopback()).await;
    assert!(
        err.to_string().starts_with(&format!(
            "the token endpoint: refused to follow the redirect from {} to {}",
            tokens.url("/token"),
            elsewhere.url("/token")
        )),
        "{err}"
    );
    assert!(tokens.seen()[0].contains("tok-secret-10"));
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
    assert!(feed_server.seen().is_empty());
}

#[tokio::test]
async fn a_feed_without_credentials_follows_a_redirect_to_another_origin() {
    let cdn = Hostile::start(|_| Answer::Json(200, FEED.into()));
    let origin = redirecting(302, cdn.url("/offers.json"));
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("feed");
    http::fetch_with_policy(&web(&origin.url("/feed"), ""), &dest, loopback())
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&dest).unwrap(), FEED);
    // Nor does the CDN learn where the feed came from.
    assert!(
        cdn.seen()[0].headers.iter().all(|(n, _)| n != "referer"),
        "{:?}",
        cdn.seen()
    );
}

#[tokio::test]
async fn a_redirect_within_the_origin_keeps_the_credential() {
    let origin = Hostile::start(|req| {
        if req.target.starts_with("/v2") {
            Answer::Json(200, FEED.into())
        } else {
            Answer::Redirect(302, "/v2/feed".into())
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let feed = web(
        &origin.url("/feed"),
        r#""auth": { "type": "header", "name": "X-Api-Key", "value": "header-secret-3" },"#,
    );
    http::fetch_with_policy(&feed, &dir.path().join("f"), loopback())
        .await
        .unwrap();
    let seen = origin.seen();
    assert_eq!(seen.len(), 2);
    assert!(seen[1].contains("header-secret-3"));
}

#[tokio::test]
async fn ergonode_s_api_key_does_not_follow_a_redirect_elsewhere() {
    let elsewhere =
        Hostile::start(|_| Answer::Json(200, r#"{"data":{"__typename":"Query"}}"#.into()));
    let origin = redirecting(307, elsewhere.url("/api/graphql/"));
    let pim = Ergonode::with_policy(
        &origin.url("/api/graphql/"),
        "ergo-key-11",
        Duration::from_secs(5),
        loopback(),
    )
    .unwrap();
    let err = pim.check().await.unwrap_err();
    assert!(
        err.to_string().contains("refused to follow the redirect"),
        "{err}"
    );
    assert!(origin.seen()[0].contains("ergo-key-11"));
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
}

fn order(endpoint: &str, auth: HttpAuth) -> OrderConfig {
    OrderConfig {
        connection: "web".into(),
        endpoint: endpoint.to_owned(),
        method: Method::Post,
        auth: Some(auth),
        order_object: serde_json::Map::new(),
        item_object: None,
        response_object: Default::default(),
        timeout_secs: 5,
        max_attempts: 1,
        retry_unknown: false,
        idempotency_header: None,
    }
}

#[tokio::test]
async fn order_calls_odoo_and_alumio_follow_no_redirect() {
    let elsewhere = Hostile::start(|_| Answer::Json(200, "{}".into()));
    let origin = redirecting(307, elsewhere.url("/stolen"));
    let (_, result) = order_call::place_with_policy(
        loopback(),
        &order(
            &origin.url("/order"),
            HttpAuth::Header {
                name: "X-Api-Key".into(),
                value: "order-key-12".into(),
            },
        ),
        "k-1",
        &json!({}),
        "shown",
        json!({}),
    )
    .await;
    assert!(
        matches!(result, CallResult::Answered { status: 307, .. }),
        "{result:?}"
    );
    let odoo = Odoo::with_policy(
        OdooSettings {
            protocol: OdooProtocol::Jsonrpc,
            url: origin.base.clone(),
            alumio: Some(AlumioSettings {
                header: "X-Alumio-Key".into(),
                value: "alumio-key-13".into(),
                proxy: Some("odoo".into()),
                proxies: Default::default(),
            }),
            database: "db".into(),
            login: "irp".into(),
            api_key: "odoo-key-14".into(),
            timeout: Duration::from_secs(5),
        },
        loopback(),
    )
    .unwrap();
    assert!(odoo.authenticate().await.is_err());
    assert!(origin.seen().iter().any(|r| r.contains("alumio-key-13")));
    assert!(elsewhere.seen().is_empty(), "{:?}", elsewhere.seen());
}

/// Runs `f` and checks the peak memory of the process grew by less than [`RSS_BUDGET`]
/// meanwhile.
async fn bounded<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    let before = peak_rss();
    let out = f.await;
    let grew = peak_rss().saturating_sub(before);
    eprintln!(
        "{what}: the peak memory of the process grew by {} KiB",
        grew >> 10
    );
    assert!(
        grew < RSS_BUDGET,
        "{what}: the process grew by {} MiB reading a 1 GiB bomb",
        grew >> 20
    );
    out
}

#[tokio::test]
async fn a_gzip_bomb_as_a_feed_stops_at_max_bytes() {
    let bomb = Hostile::start(|_| Answer::GzipBomb(200, GIB));
    let feed = web(&bomb.url("/feed"), r#""max_bytes": 10000000,"#);
    let dir = tempfile::tempdir().unwrap();
    let failure = bounded(
        "feed",
        http::fetch_with_policy(&feed, &dir.path().join("feed"), loopback()),
    )
    .await
    .unwrap_err();
    assert_eq!(
        failure.to_string(),
        "the feed is larger than max_bytes (10000000 bytes after decompression)"
    );
    assert!(failure.record.bytes <= 10_000_000, "{:?}", failure.record);
    assert!(std::fs::metadata(dir.path().join("feed")).unwrap().len() <= 10_000_000);
}

#[tokio::test]
async fn a_gzip_bomb_as_a_page_of_a_paginated_feed_stops_at_the_page_cap() {
    let bomb = Hostile::start(|_| Answer::GzipBomb(200, GIB));
    let feed = web(&bomb.url("/feed"), r#""paginate": { "type": "page" }, "#);
    let err = bounded("page", fetch_err(&feed, loopback())).await;
    assert_eq!(
        err.to_string(),
        "page 1: answer larger than 67108864 bytes after decompression"
    );
}

#[tokio::test]
async fn a_gzip_bomb_as_an_error_answer_is_not_read() {
    let bomb = Hostile::start(|_| Answer::GzipBomb(400, GIB));
    let err = bounded(
        "error body",
        fetch_err(&web(&bomb.url("/feed"), ""), loopback()),
    )
    .await;
    assert_eq!(
        err.to_string(),
        "the feed endpoint answered HTTP 400: (answer larger than 65536 bytes after decompression)"
    );
}

#[tokio::test]
async fn a_gzip_bomb_as_a_token_answer_is_not_read() {
    let bomb = Hostile::start(|_| Answer::GzipBomb(200, GIB));
    let feed = web(
        &bomb.url("/feed"),
        &format!(
            r#""auth": {{ "type": "client_id_secret", "client_id": "bomb-id", "client_secret": "s", "token_url": "{}" }},"#,
            bomb.url("/token")
        ),
    );
    let err = bounded("token", fetch_err(&feed, loopback())).await;
    assert_eq!(
        err.to_string(),
        format!(
            "reading the answer of the token endpoint {}: answer larger than 65536 bytes after decompression",
            bomb.url("/token")
        )
    );
}

#[tokio::test]
async fn a_gzip_bomb_from_odoo_shopware_or_ergonode_is_not_read() {
    let bomb = Hostile::start(|_| Answer::GzipBomb(200, GIB));
    let odoo = Odoo::with_policy(
        OdooSettings {
            protocol: OdooProtocol::Json2,
            url: bomb.base.clone(),
            alumio: None,
            database: "db".into(),
            login: "irp".into(),
            api_key: "k".into(),
            timeout: Duration::from_secs(30),
        },
        loopback(),
    )
    .unwrap();
    let err = bounded(
        "odoo",
        odoo.search_read("res.partner", json!([]), &["id"], 1),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "127.0.0.1 answered res.partner.search_read: answer larger than 16777216 bytes after decompression"
    );
    assert!(!err.is_transient());

    let shop = Shopware::with_policy(
        &bomb.base,
        "id",
        "secret",
        Duration::from_secs(30),
        loopback(),
    )
    .unwrap();
    let err = bounded("shopware", shop.check()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "Shopware at 127.0.0.1 answered POST /api/oauth/token: answer larger than 67108864 bytes after decompression"
    );

    let pim = Ergonode::with_policy(
        &bomb.url("/api/graphql/"),
        "key",
        Duration::from_secs(30),
        loopback(),
    )
    .unwrap();
    let err = bounded("ergonode", pim.check()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "Ergonode at {}: answer larger than 67108864 bytes after decompression: lower pim.page_size",
            bomb.url("/api/graphql/")
        )
    );
}

#[tokio::test]
async fn a_gzip_bomb_as_a_shopware_error_an_order_answer_or_a_notifier_answer_is_not_read() {
    let refusing = Hostile::start(|_| Answer::GzipBomb(422, GIB));
    let shop = Shopware::with_policy(
        &refusing.base,
        "id",
        "secret",
        Duration::from_secs(30),
        loopback(),
    )
    .unwrap();
    let err = bounded("shopware error", shop.check()).await.unwrap_err();
    assert!(
        matches!(&err, ShopwareError::Refused { status: 422, body, .. }
            if body == "(answer larger than 65536 bytes after decompression)"),
        "{err:?}"
    );

    let accepting = Hostile::start(|_| Answer::GzipBomb(200, GIB));
    let (_, result) = bounded(
        "order answer",
        order_call::place_with_policy(
            loopback(),
            &order(&accepting.url("/order"), HttpAuth::None),
            "k-2",
            &json!({}),
            "the order API",
            json!({}),
        ),
    )
    .await;
    assert_eq!(
        result,
        CallResult::Unknown(
            "the order API answered HTTP 200 but its answer could not be read whole (answer larger than 1048576 bytes after decompression); the refurbisher has the order".into()
        )
    );

    let failing = Hostile::start(|_| Answer::GzipBomb(500, GIB));
    let err = bounded(
        "notifier",
        notify::post_with_policy(
            loopback(),
            &failing.url("/hook"),
            &json!({"text": "hi"}),
            Duration::from_secs(30),
        ),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err,
        "http://127.0.0.1 answered 500: (answer larger than 65536 bytes after decompression)"
    );
}

#[tokio::test]
async fn private_networks_are_refused_by_name_and_by_address_unless_allowed() {
    let server = Hostile::start(|_| Answer::Json(200, FEED.into()));
    let none = Arc::new(NetPolicy::none());
    let port = server.base.rsplit(':').next().unwrap().to_owned();

    let by_name = fetch_err(
        &web(&format!("http://localhost:{port}/feed"), ""),
        none.clone(),
    )
    .await
    .to_string();
    assert!(
        by_name
            == "refused: localhost resolves to 127.0.0.1, a loopback address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8"
            || by_name
                == "refused: localhost resolves to ::1, a loopback address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=::1/128",
        "{by_name}"
    );
    let by_address = fetch_err(&web(&server.url("/feed"), ""), none.clone()).await;
    assert_eq!(
        by_address.to_string(),
        "refused: 127.0.0.1 is a loopback address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8"
    );
    assert!(server.seen().is_empty(), "nothing reached the server");

    let dir = tempfile::tempdir().unwrap();
    for url in [format!("http://localhost:{port}/feed"), server.url("/feed")] {
        http::fetch_with_policy(&web(&url, ""), &dir.path().join("f"), loopback())
            .await
            .unwrap();
    }
    assert_eq!(server.seen().len(), 2);
}

#[tokio::test]
async fn a_redirect_hop_to_a_refused_address_is_not_followed() {
    // 127.0.0.1 is allowed, 127.0.0.2 (also loopback) is not: the hop is checked, not only the
    // first request.
    let policy = Arc::new(NetPolicy::from_list("127.0.0.1/32").unwrap());
    let origin = redirecting(302, "http://127.0.0.2:9/metadata".into());
    let err = fetch_err(&web(&origin.url("/feed"), ""), policy).await;
    assert_eq!(
        err.to_string(),
        "refused: 127.0.0.2 is a loopback address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8"
    );
    assert_eq!(origin.seen().len(), 1);
}

#[tokio::test]
async fn every_client_refuses_a_private_address() {
    let server = Hostile::start(|_| Answer::Json(200, "{}".into()));
    let none = Arc::new(NetPolicy::none());
    let refusal = "refused: 127.0.0.1 is a loopback address; allow it with IRP_ALLOW_PRIVATE_NETWORKS=127.0.0.0/8";

    let token_feed = web(
        "https://feed.example/offers",
        &format!(
            r#""auth": {{ "type": "client_id_secret", "client_id": "i", "client_secret": "s", "token_url": "{}" }},"#,
            server.url("/token")
        ),
    );
    assert_eq!(
        fetch_err(&token_feed, none.clone()).await.to_string(),
        format!("the token endpoint: {refusal}")
    );
    let shop = Shopware::with_policy(
        &server.base,
        "id",
        "secret",
        Duration::from_secs(5),
        none.clone(),
    )
    .unwrap();
    assert_eq!(
        shop.check().await.unwrap_err().to_string(),
        format!("Shopware at 127.0.0.1: {refusal}")
    );
    let odoo = Odoo::with_policy(
        OdooSettings {
            protocol: OdooProtocol::Jsonrpc,
            url: server.base.clone(),
            alumio: None,
            database: "db".into(),
            login: "irp".into(),
            api_key: "k".into(),
            timeout: Duration::from_secs(5),
        },
        none.clone(),
    )
    .unwrap();
    let err = odoo.authenticate().await.unwrap_err();
    assert_eq!(err.to_string(), format!("erp.url: {refusal}"));
    assert!(!err.is_transient(), "a refusal is not retried");
    let pim = Ergonode::with_policy(
        &server.url("/api/graphql/"),
        "k",
        Duration::from_secs(5),
        none.clone(),
    )
    .unwrap();
    assert_eq!(
        pim.check().await.unwrap_err().to_string(),
        format!("pim.url: {refusal}")
    );
    let (_, result) = order_call::place_with_policy(
        none.clone(),
        &order(&server.url("/order"), HttpAuth::None),
        "k-3",
        &json!({}),
        "the order API",
        json!({}),
    )
    .await;
    assert_eq!(
        result,
        CallResult::NotSent(format!("the order API: {refusal}"))
    );
    assert_eq!(
        notify::post_with_policy(
            none.clone(),
            &server.url("/hook"),
            &json!({}),
            Duration::from_secs(5)
        )
        .await
        .unwrap_err(),
        format!("posting to http://127.0.0.1: {refusal}")
    );
    assert!(server.seen().is_empty(), "{:?}", server.seen());

    // SFTP: the host is resolved and checked before connecting (no server needed).
    for host in ["127.0.0.1", "localhost"] {
        let feed = offers(&format!(
            r#"{{ "connection": "sftp", "auth": {{ "host": "{host}", "port": 2222, "username": "u", "password": "p", "path": "f.csv" }}, "type": "csv", "mapping": {{ "sku": "sku", "name": "name", "ean": "ean", "stock_available": "stock", "price_purchase_amount": "price", "price_consumer_amount": "srp" }} }}"#
        ));
        let dir = tempfile::tempdir().unwrap();
        let failure =
            sftp::fetch_with_policy(&feed, &dir.path().join("f"), None, &NetPolicy::none())
                .await
                .unwrap_err();
        assert!(
            failure
                .to_string()
                .starts_with(&format!("refused: {host} ")),
            "{failure}"
        );
    }
}

#[test]
fn a_malformed_allow_list_is_a_clear_error() {
    let err = NetPolicy::from_list("127.0.0.0/8, 10.0.0.0/33").unwrap_err();
    assert!(matches!(err, Refused::AllowList(_)));
    assert_eq!(
        err.to_string(),
        "IRP_ALLOW_PRIVATE_NETWORKS=\"127.0.0.0/8, 10.0.0.0/33\": `10.0.0.0/33` is not a CIDR such as 10.0.0.0/8 or fd00::/8 (invalid IP address syntax)"
    );
}
