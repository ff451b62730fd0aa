//! Entry points for the feed-format fuzz targets in `fuzz/` and for the test that replays their
//! corpus: arbitrary bytes read as a FlexIT-shaped CSV, an iUsed-shaped JSON and an XML feed
//! must never panic, and every read must account for each row exactly once.

use irp_core::config::{model::OffersConfig, parse_document};

use crate::{RowOutcome, read_offers};

fn config(offers: &str) -> OffersConfig {
    let doc = format!(r#"{{ "f": {{ "default_margin": 1, "offers": {offers} }} }}"#);
    parse_document(&doc)
        .refurbishers
        .into_iter()
        .next()
        .and_then(|r| r.offers)
        .unwrap_or_else(|| panic!("fuzz config does not parse: {offers}"))
}

const MAPPING: &str = r#""mapping": { "name": "Description", "sku": "Flex IT Part Number", "stock_available": "Stock Quantity", "ean": "EAN", "price_purchase_amount": "Sales Price", "price_consumer_amount": "SRP" }"#;

fn check(offers: &OffersConfig, data: &[u8]) {
    let mut seen = 0u64;
    let mut rows_ok = true;
    let result = read_offers(offers, "EUR", data, &mut |o| {
        seen += 1;
        if let RowOutcome::Rejected(errors) = &o {
            rows_ok &= !errors.is_empty();
        }
    });
    if let Ok(stats) = result {
        assert_eq!(stats.rows_read, seen, "every row is reported once");
        assert_eq!(stats.rows_read, stats.rows_accepted + stats.rows_rejected);
    }
    assert!(rows_ok, "a rejected row carries at least one error");
}

/// CSV feeds (`;`, heading, nl_NL) and the same without heading.
pub fn csv(data: &[u8]) {
    check(
        &config(&format!(
            r#"{{ "connection": "upload", "type": "csv", "separator": ";", "price_locale": "nl_NL", {MAPPING} }}"#
        )),
        data,
    );
    check(
        &config(
            r#"{ "connection": "upload", "type": "csv", "heading": false, "encoding": "windows-1252",
            "mapping": { "name": 2, "sku": 1, "stock_available": 3, "ean": 4, "price_purchase_amount": 5, "price_consumer_amount": 6 } }"#,
        ),
        data,
    );
}

/// JSON feeds at `offers` and at the document root.
pub fn json(data: &[u8]) {
    check(
        &config(&format!(
            r#"{{ "connection": "upload", "type": "json", "offer_location": "offers", {MAPPING} }}"#
        )),
        data,
    );
    check(
        &config(&format!(
            r#"{{ "connection": "upload", "type": "json", {MAPPING} }}"#
        )),
        data,
    );
}

/// XML feeds at `feed.offers.offer`.
pub fn xml(data: &[u8]) {
    check(
        &config(
            r#"{ "connection": "upload", "type": "xml", "record_path": "feed.offers.offer",
            "mapping": { "name": "name", "sku": "@id", "stock_available": "stock", "ean": "ean", "price_purchase_amount": "price.buy", "price_consumer_amount": "price.sell" } }"#,
        ),
        data,
    );
}
