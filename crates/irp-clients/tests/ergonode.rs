//! The Ergonode client against the fake Ergonode (a real GraphQL server with Ergonode's schema
//! subset) on loopback.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use irp_clients::ergonode::{Ergonode, PimError};
use irp_core::pim::{Stream, deleted_sku, map_product};
use irp_testkit::fake_ergonode::{FakeErgonode, FakeProduct, FakeValue};

fn phone(sku: &str, ean: &str, name: &str) -> FakeProduct {
    FakeProduct::simple(
        sku,
        &["smartphones"],
        vec![
            FakeValue::local(
                "name",
                &[("en_GB", name), ("nl_NL", &format!("{name} (NL)"))],
            ),
            FakeValue::text("ean", ean),
            FakeValue::Select {
                code: "brand".into(),
                option: "apple".into(),
                names: vec![("en_GB".into(), "Apple".into())],
            },
            FakeValue::Number {
                code: "storage_gb".into(),
                value: 128.0,
            },
            FakeValue::MultiSelect {
                code: "colors".into(),
                options: vec!["black".into()],
            },
            FakeValue::Image {
                code: "photo".into(),
            },
        ],
    )
}

fn config() -> irp_core::config::PimConfig {
    irp_core::config::parse_pim(
        r#"{"pim": {"url": "http://127.0.0.1/api/graphql/", "api_key": "${secret:pim.api_key}", "languages": ["nl_NL"]}}"#,
    )
    .pim
    .unwrap()
}

#[tokio::test]
async fn the_stream_is_read_page_by_page_and_an_edited_product_moves_to_the_end() {
    let fake = FakeErgonode::start("key-1").await;
    fake.put(phone("IPH13", "0194252707227", "iPhone 13"));
    fake.put(phone("IPH14", "0194253401186", "iPhone 14"));
    fake.put(phone("IPH15", "0195949038235", "iPhone 15"));
    let client = Ergonode::new(&fake.url, "key-1", Duration::from_secs(10)).unwrap();
    client.check().await.unwrap();

    let first = client.page(Stream::Products, 2, None).await.unwrap();
    assert_eq!(first.total_count, Some(3));
    assert!(first.has_next_page);
    assert_eq!(first.edges.len(), 2);
    let p = map_product(&first.edges[0].1, &config()).unwrap();
    assert_eq!(p.sku, "IPH13");
    assert_eq!(p.ean, "0194252707227");
    assert_eq!(p.name.as_deref(), Some("iPhone 13 (NL)"));
    assert_eq!(p.brand.as_deref(), Some("Apple"));
    assert_eq!(p.category.as_deref(), Some("smartphones"));
    assert_eq!(
        serde_json::Value::Object(p.attributes),
        serde_json::json!({"colors": ["black"], "storage_gb": 128})
    );
    let second = client
        .page(Stream::Products, 2, first.end_cursor.as_deref())
        .await
        .unwrap();
    assert_eq!(second.edges.len(), 1);
    assert!(!second.has_next_page);
    let end = second.end_cursor.clone();

    // Nothing new: an empty page after the last cursor.
    let idle = client
        .page(Stream::Products, 2, end.as_deref())
        .await
        .unwrap();
    assert!(idle.edges.is_empty() && !idle.has_next_page);
    assert_eq!(idle.end_cursor, None);

    // An edit moves IPH13 behind the cursor we hold; a deletion shows in the deleted stream.
    fake.put(phone("IPH13", "0194252707227", "iPhone 13 Pro"));
    fake.delete("IPH14");
    let after = client
        .page(Stream::Products, 50, end.as_deref())
        .await
        .unwrap();
    let skus: Vec<String> = after
        .edges
        .iter()
        .map(|(_, n)| n["sku"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(skus, ["IPH13"]);
    let deleted = client.page(Stream::Deleted, 50, None).await.unwrap();
    assert_eq!(deleted_sku(&deleted.edges[0].1).unwrap(), "IPH14");
}

#[tokio::test]
async fn a_wrong_key_a_bad_cursor_and_a_page_above_the_limit_are_clear_errors() {
    let fake = FakeErgonode::start("right-key").await;
    let wrong = Ergonode::new(&fake.url, "wrong-key-value", Duration::from_secs(10)).unwrap();
    let e = wrong.page(Stream::Products, 10, None).await.unwrap_err();
    assert_eq!(e, PimError::Unauthorized { status: 401 });
    assert!(!e.to_string().contains("wrong-key-value"));
    assert!(!format!("{wrong:?}").contains("wrong-key-value"));

    let client = Ergonode::new(&fake.url, "right-key", Duration::from_secs(10)).unwrap();
    let e = client
        .page(Stream::Products, 10, Some("bm90LWEtY3Vyc29y"))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, PimError::Answer(m) if m.contains("Invalid cursor")),
        "{e}"
    );
    let e = client.page(Stream::Products, 201, None).await.unwrap_err();
    assert!(
        matches!(&e, PimError::Answer(m) if m.contains("200")),
        "{e}"
    );
}

#[tokio::test]
async fn overload_and_server_errors_are_retried() {
    let fake = FakeErgonode::start("k").await;
    fake.put(phone("IPH13", "0194252707227", "iPhone 13"));
    fake.fail_next(&[503, 429]);
    let client = Ergonode::new(&fake.url, "k", Duration::from_secs(10)).unwrap();
    let page = client.page(Stream::Products, 10, None).await.unwrap();
    assert_eq!(page.edges.len(), 1);
    assert_eq!(client.requests(), 3);
    fake.fail_next(&[500; 5]);
    let e = client.page(Stream::Products, 10, None).await.unwrap_err();
    assert!(matches!(e, PimError::Status { status: 500, .. }), "{e}");
}

#[tokio::test]
async fn the_fake_rejects_queries_ergonode_would_reject() {
    let fake = FakeErgonode::start("k").await;
    let http = reqwest::Client::new();
    let ask = |query: &str| {
        http.post(&fake.url)
            .header("X-API-KEY", "k")
            .json(&serde_json::json!({"query": query}))
            .send()
    };
    for bad in [
        // An unknown field.
        "{ productStream(first: 1) { edges { node { sku price } } } }",
        // A fragment on a type that is not an attribute value translation.
        "{ productStream(first: 1) { edges { node { attributeList(first: 5) { edges { node { translations { \
         ... on SimpleProduct { sku } } } } } } } } }",
    ] {
        let body: serde_json::Value = ask(bad).await.unwrap().json().await.unwrap();
        assert!(
            body["errors"].as_array().is_some_and(|e| !e.is_empty()),
            "{bad} → {body}"
        );
    }
}
