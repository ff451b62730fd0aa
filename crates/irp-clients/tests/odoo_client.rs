//! IRP's Odoo client against a gateway that answers 502 to everything: a read is retried, a
//! `create` is sent once (Odoo may have carried it out; the outbox searches for it before the
//! next attempt), and both errors stay transient.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use irp_clients::odoo::{Odoo, OdooSettings};
use irp_core::config::model::OdooProtocol;
use serde_json::json;

#[tokio::test]
async fn a_create_whose_answer_is_lost_is_not_sent_again() {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let counted = counted.clone();
        async move {
            counted.fetch_add(1, Ordering::SeqCst);
            (
                axum::http::StatusCode::BAD_GATEWAY,
                "<html>502 Bad Gateway</html>",
            )
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let odoo = Odoo::new(OdooSettings {
        protocol: OdooProtocol::Json2,
        url: format!("http://{addr}"),
        alumio: None,
        database: "iused".into(),
        login: "irp".into(),
        api_key: "k".into(),
        timeout: Duration::from_secs(5),
    })
    .unwrap();
    let e = odoo
        .create("purchase.order", json!({"partner_id": 1}))
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a create is sent once");
    let e = odoo
        .search_read("purchase.order", json!([]), &["id"], 1)
        .await
        .unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert_eq!(
        hits.load(Ordering::SeqCst),
        4,
        "a read is tried three times"
    );
}
