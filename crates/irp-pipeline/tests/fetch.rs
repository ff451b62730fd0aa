//! Fetch-and-import runs over real HTTP on loopback, with the credential in the secret store.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use irp_core::config::parse_document;
use irp_pipeline::feed::{RunStatus, import_fetched};
use irp_store::db_tests;
use irp_store::secrets::SecretKey;
use irp_store::testkit::TestDb;

const FEED: &str = r#"{"offers":[{"description":"iPad 9","sku":"IU-1","quantity":3,"ean":"4006381333931","costPrice":199.95,"priceConsumer":329,"currencyIso":"EUR","taxPercentage":21}]}"#;

async fn alumio(
    State(answer): State<Arc<AtomicU16>>,
    headers: HeaderMap,
    body: String,
) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer the-real-token")
        || body != r#"{ "sales_channel_id": 11 }"#
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match answer.load(Ordering::SeqCst) {
        200 => FEED.into_response(),
        other => StatusCode::from_u16(other).unwrap().into_response(),
    }
}

async fn serve(answer: Arc<AtomicU16>) -> String {
    let app = Router::new()
        .route(
            "/api/v1/http-proxy/odoo-max-receive-sales-channel-products",
            post(alumio),
        )
        .with_state(answer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

db_tests!(an_http_feed_is_fetched_with_its_stored_secret_and_imported);

async fn an_http_feed_is_fetched_with_its_stored_secret_and_imported(db: TestDb) {
    let answer = Arc::new(AtomicU16::new(200));
    let base = serve(answer.clone()).await;
    let shipped = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/iused-stores.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let doc = shipped.replace("https://flooris.alumio.com", &base);
    let d = parse_document(&doc);
    irp_pipeline::catalog::apply_refurbishers(&db.store, &d.refurbishers, "test")
        .await
        .unwrap();
    let r = db
        .store
        .refurbishers()
        .get("iused-alumio")
        .await
        .unwrap()
        .unwrap();

    // Without the secret key the run fails and names the reference.
    let rep = import_fetched(&db.store, &r, "manual", None).await.unwrap();
    assert_eq!(rep.status, RunStatus::Failed);
    assert_eq!(
        rep.message.as_deref(),
        Some(
            "cannot fetch the feed: iused-alumio.offers.auth.token: ${secret:iused-alumio.offers.auth.token} needs the secret key (IRP_SECRET_KEY or the key file)"
        )
    );

    let key = SecretKey::generate().unwrap();
    db.store
        .secrets()
        .set(&key, "iused-alumio.offers.auth.token", "the-real-token")
        .await
        .unwrap();
    let rep = import_fetched(&db.store, &r, "schedule", Some(&key))
        .await
        .unwrap();
    assert_eq!(
        (rep.status, rep.http_status, rep.rows_accepted),
        (RunStatus::Succeeded, Some(200), 1),
        "{rep:?}"
    );
    let run = db.store.feed_runs().get(rep.run_id).await.unwrap().unwrap();
    assert_eq!(
        (run.http_status, run.triggered_by.as_str()),
        (Some(200), "schedule")
    );

    // The endpoint breaks: the run fails with its status recorded, the offers stay.
    answer.store(503, Ordering::SeqCst);
    let rep = import_fetched(&db.store, &r, "schedule", Some(&key))
        .await
        .unwrap();
    assert_eq!(
        (rep.status, rep.http_status),
        (RunStatus::Failed, Some(503))
    );
    assert_eq!(
        rep.message.as_deref(),
        Some("the feed endpoint answered HTTP 503")
    );
    assert_eq!(
        db.store
            .offers()
            .list(r.id, false, 10, 0)
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(!format!("{rep:?}").contains("the-real-token"));
}
