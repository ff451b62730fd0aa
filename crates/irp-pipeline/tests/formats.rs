//! Every format with the shapes real feeds have: the two seed feeds with their exact field
//! names, quoting, encodings, BOMs, and broken or truncated files.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_core::config::{model::OffersConfig, parse_document};
use irp_pipeline::{FeedError, ReadStats, RowOutcome, read_offers};

fn offers(doc: &str) -> OffersConfig {
    let d = parse_document(doc);
    assert!(d.is_ok(), "{:?}", d.diagnostics);
    d.refurbishers.into_iter().next().unwrap().offers.unwrap()
}

fn shipped(name: &str) -> OffersConfig {
    let text = std::fs::read_to_string(format!(
        "{}/../../config/refurbishers/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    offers(&text)
}

/// Read `bytes`; return the stats and one line per outcome: `row sku price` or `row ! field: message`.
fn read(cfg: &OffersConfig, bytes: &[u8]) -> Result<(ReadStats, Vec<String>), FeedError> {
    let mut lines = Vec::new();
    let stats = read_offers(cfg, "EUR", bytes, &mut |o| match o {
        RowOutcome::Offer { row, offer } => lines.push(format!(
            "{row} {} {} {} {} {}",
            offer.sku,
            offer.ean,
            offer.stock_available,
            offer.price_purchase_amount,
            offer.price_consumer_amount
        )),
        RowOutcome::Rejected(errors) => {
            for e in errors {
                lines.push(format!(
                    "{} ! {}: {}",
                    e.row,
                    e.field.as_deref().unwrap_or("-"),
                    e.message
                ));
            }
        }
    })?;
    Ok((stats, lines))
}

const FLEXIT_HEADING: &str = "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP";

#[test]
fn the_flexit_csv_reads_with_dutch_prices_quotes_crlf_and_a_bom() {
    let cfg = shipped("flexit.json");
    let feed = format!(
        "\u{feff}{FLEXIT_HEADING}\r\n\
         FLX-1;iPhone 13 128GB;5;0194252707234;1.234,56;1.499,00\r\n\
         \"FLX-2\";\"Galaxy \"\"S21\"\"; 5G\nrefurbished\";0;4006381333931;99,5;149\r\n\
         FLX-3;Pixel 7;3;4006381333932;100,00;150,00\r\n"
    );
    let (stats, lines) = read(&cfg, feed.as_bytes()).unwrap();
    assert_eq!(
        lines,
        [
            "2 FLX-1 0194252707234 5 1234.56 1499",
            "3 FLX-2 4006381333931 0 99.5 149",
            "5 ! ean: not a valid EAN/GTIN: check digit is 2, expected 1",
        ]
    );
    assert_eq!(
        stats,
        ReadStats {
            rows_read: 3,
            rows_accepted: 2,
            rows_rejected: 1
        }
    );
}

#[test]
fn a_windows_1252_csv_is_transcoded() {
    let cfg = offers(
        r#"{ "x": { "default_margin": 1, "offers": { "connection": "upload", "type": "csv", "encoding": "windows-1252",
        "mapping": { "sku": "sku", "name": "name", "ean": "ean", "stock_available": "stock",
                     "price_purchase_amount": "buy", "price_consumer_amount": "sell" } } } }"#,
    );
    let mut feed = b"sku,name,ean,stock,buy,sell\nA,Caf".to_vec();
    feed.push(0xE9);
    feed.extend_from_slice(b" phone,4006381333931,1,10.00,20.00\n");
    let mut names = Vec::new();
    read_offers(&cfg, "EUR", feed.as_slice(), &mut |o| {
        if let RowOutcome::Offer { offer, .. } = o {
            names.push(offer.name);
        }
    })
    .unwrap();
    assert_eq!(names, ["Café phone"]);
}

#[test]
fn invalid_utf8_is_a_row_error_that_suggests_an_encoding() {
    let cfg = shipped("flexit.json");
    let mut feed = format!("{FLEXIT_HEADING}\nFLX-1;Caf").into_bytes();
    feed.push(0xE9);
    feed.extend_from_slice(b";1;0194252707234;1,00;2,00\n");
    let (stats, lines) = read(&cfg, &feed).unwrap();
    assert_eq!(stats.rows_rejected, 1);
    assert!(
        lines[0].starts_with(
            "2 ! -: column 2 is not valid UTF-8; if the file is in another encoding, set `encoding`"
        ),
        "{lines:?}"
    );
}

#[test]
fn a_heading_without_the_mapped_columns_fails_the_feed() {
    let cfg = shipped("flexit.json");
    let err = read(&cfg, b"sku;name\nA;B\n").unwrap_err();
    assert!(
        matches!(&err, FeedError::Mapping(m) if m.starts_with("the heading row has no column \"Flex IT Part Number\" (mapping.sku)")),
        "{err}"
    );
}

#[test]
fn a_header_only_or_empty_feed_has_no_rows() {
    let cfg = shipped("flexit.json");
    assert_eq!(
        read(&cfg, format!("{FLEXIT_HEADING}\r\n").as_bytes())
            .unwrap()
            .0,
        ReadStats::default()
    );
    assert_eq!(read(&cfg, b"").unwrap().0, ReadStats::default());
}

#[test]
fn short_rows_and_blank_lines() {
    let cfg = shipped("flexit.json");
    let feed = format!("{FLEXIT_HEADING}\n\nFLX-1;Name;5\n");
    let (_, lines) = read(&cfg, feed.as_bytes()).unwrap();
    assert_eq!(
        lines,
        [
            "3 ! ean: missing: the field is required",
            "3 ! price_purchase_amount: missing: the field is required",
            "3 ! price_consumer_amount: missing: the field is required",
        ]
    );
}

#[test]
fn a_csv_without_heading_maps_column_numbers() {
    let cfg = offers(
        r#"{ "x": { "default_margin": 1, "offers": { "connection": "upload", "type": "csv", "separator": "\t", "heading": false,
        "mapping": { "sku": 1, "name": "2", "ean": 3, "stock_available": 4, "price_purchase_amount": 5, "price_consumer_amount": 6 } } } }"#,
    );
    let (_, lines) = read(&cfg, b"A\tName\t4006381333931\t7\t1,234.50\t2000\n").unwrap();
    assert_eq!(lines, ["1 A 4006381333931 7 1234.5 2000"]);
}

const IUSED: &str = r#"{"offers":[
  {"description":"iPad 9","sku":"IU-1","quantity":3,"ean":"4006381333931","costPrice":199.95,"priceConsumer":329.0,"currencyIso":"EUR","taxPercentage":21},
  {"description":"iPad 10","sku":"IU-2","quantity":-1,"ean":"0194252707234","costPrice":"1,299.00","priceConsumer":1499,"currencyIso":"EUR","taxPercentage":21}
], "meta": {"count": 2}}"#;

#[test]
fn the_iused_json_feed_reads_at_its_offer_location() {
    let cfg = shipped("iused-stores.json");
    let (stats, lines) = read(&cfg, IUSED.as_bytes()).unwrap();
    assert_eq!(
        lines,
        [
            "1 IU-1 4006381333931 3 199.95 329",
            "2 ! stock_available: must not be negative"
        ]
    );
    assert_eq!(stats.rows_read, 2);
    let with_bom = format!("\u{feff}{IUSED}");
    assert_eq!(read(&cfg, with_bom.as_bytes()).unwrap().0.rows_read, 2);
}

#[test]
fn json_structure_problems_fail_the_feed() {
    let cfg = shipped("iused-stores.json");
    let err = read(&cfg, br#"{"items": []}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "offer_location `offers` is not in the feed; check `offer_location`"
    );
    let err = read(&cfg, br#"{"offers": {"a": 1}}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "`offers` is an object, expected the array of offers; check `offer_location`"
    );
    let err = read(&cfg, br#"[1, 2]"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the document is an array, expected an object holding `offers`; check `offer_location`"
    );
}

#[test]
fn a_truncated_json_feed_fails_with_its_position() {
    let cfg = shipped("iused-stores.json");
    let cut = &IUSED.as_bytes()[..IUSED.len() / 2];
    let err = read(&cfg, cut).unwrap_err();
    assert!(
        matches!(&err, FeedError::Syntax { format: "JSON", message, .. } if message.starts_with("EOF while parsing")),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("JSON is not valid at line 3, column "),
        "{err}"
    );
    let err = read(&cfg, b"not json").unwrap_err();
    assert!(matches!(err, FeedError::Syntax { .. }));
}

#[test]
fn a_json_document_that_is_the_array_reads_with_an_empty_location() {
    let cfg = offers(
        r#"{ "x": { "default_margin": 1, "offers": { "connection": "upload", "type": "json",
        "mapping": { "sku": "id", "name": "title", "ean": "codes.ean", "stock_available": "stock",
                     "price_purchase_amount": "price.buy", "price_consumer_amount": "price.sell" } } } }"#,
    );
    let feed = br#"[{"id":"A","title":"T","codes":{"ean":"96385074"},"stock":2,"price":{"buy":1.5,"sell":3}}]"#;
    assert_eq!(read(&cfg, feed).unwrap().1, ["1 A 96385074 2 1.5 3"]);
}

fn xml_cfg() -> OffersConfig {
    offers(
        r#"{ "x": { "default_margin": 1, "offers": { "connection": "upload", "type": "xml", "record_path": "feed.offers.offer",
        "mapping": { "sku": "@id", "name": "name", "ean": "ean", "stock_available": "stock",
                     "price_purchase_amount": "price.buy", "price_consumer_amount": "price.sell", "currency_iso": "price.@currency" } } } }"#,
    )
}

#[test]
fn xml_records_read_children_and_attributes() {
    let feed = br#"<?xml version="1.0" encoding="UTF-8"?>
<feed><meta><count>2</count></meta><offers>
  <offer id="X-1"><name>Mac &amp; Cheese <![CDATA[<Pro>]]></name><ean>4006381333931</ean><stock>4</stock>
    <price currency="EUR"><buy>10.50</buy><sell>20</sell></price></offer>
  <offer id="X-2"><name>Empty</name><ean>123</ean><stock>1</stock><price><buy>1</buy><sell>2</sell></price></offer>
</offers></feed>"#;
    let (stats, lines) = read(&xml_cfg(), feed).unwrap();
    assert_eq!(
        lines,
        [
            "1 X-1 4006381333931 4 10.5 20",
            "2 ! ean: not a valid EAN/GTIN: expected 8, 12, 13 or 14 digits, got 3"
        ]
    );
    assert_eq!(stats.rows_read, 2);
    let mut names = Vec::new();
    read_offers(&xml_cfg(), "EUR", &feed[..], &mut |o| {
        if let RowOutcome::Offer { offer, .. } = o {
            names.push(offer.name);
        }
    })
    .unwrap();
    assert_eq!(names, ["Mac & Cheese <Pro>"]);
}

#[test]
fn xml_structure_problems_fail_the_feed() {
    let err = read(&xml_cfg(), b"<offers><offer id=\"1\"/></offers>").unwrap_err();
    assert_eq!(
        err.to_string(),
        "the root element is <offers>, but `record_path` \"feed.offers.offer\" starts at <feed>"
    );
    let err = read(&xml_cfg(), b"<feed><offers><offer id=\"1\"><name>a</na").unwrap_err();
    assert!(
        matches!(err, FeedError::Syntax { format: "XML", .. }),
        "{err}"
    );
    let err = read(&xml_cfg(), b"<feed><offers><offer id=\"1\"><name>a</name>").unwrap_err();
    assert!(err.to_string().contains("truncated"), "{err}");
}

/// `head`, then `fill` repeated up to `len` bytes, then `tail`; counts what was read from it.
struct Endless {
    head: Vec<u8>,
    fill: Vec<u8>,
    len: u64,
    tail: Vec<u8>,
    pos: u64,
    served: std::rc::Rc<std::cell::Cell<u64>>,
}

impl Endless {
    fn new(
        head: &str,
        fill: &str,
        len: u64,
        tail: &str,
    ) -> (Endless, std::rc::Rc<std::cell::Cell<u64>>) {
        let served = std::rc::Rc::new(std::cell::Cell::new(0));
        (
            Endless {
                head: head.as_bytes().to_vec(),
                fill: fill.as_bytes().to_vec(),
                len,
                tail: tail.as_bytes().to_vec(),
                pos: 0,
                served: served.clone(),
            },
            served,
        )
    }
}

impl std::io::Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let head = self.head.len() as u64;
        let body_end = head + self.len;
        let total = body_end + self.tail.len() as u64;
        let mut n = 0;
        while n < buf.len() && self.pos < total {
            buf[n] = if self.pos < head {
                self.head[self.pos as usize]
            } else if self.pos < body_end {
                self.fill[((self.pos - head) % self.fill.len() as u64) as usize]
            } else {
                self.tail[(self.pos - body_end) as usize]
            };
            n += 1;
            self.pos += 1;
        }
        self.served.set(self.served.get() + n as u64);
        Ok(n)
    }
}

fn read_stream(cfg: &OffersConfig, input: impl std::io::Read) -> Result<u64, FeedError> {
    let mut rows = 0;
    read_offers(cfg, "EUR", input, &mut |_| rows += 1)?;
    Ok(rows)
}

const GIB: u64 = 1 << 30;

#[test]
fn one_endless_csv_line_fails_the_run_without_being_read_into_memory() {
    let cfg = shipped("flexit.json");
    let (feed, served) = Endless::new(&format!("{FLEXIT_HEADING}\nFLX-1;"), "x", 4 * GIB, "\n");
    let err = read_stream(&cfg, feed).unwrap_err().to_string();
    assert!(
        err.contains("is larger than 1048576 bytes (max_record_bytes)"),
        "{err}"
    );
    assert!(served.get() < 2 << 20, "read {} bytes", served.get());
}

#[test]
fn a_huge_json_offer_or_key_fails_the_run_and_normal_ones_pass() {
    let cfg = offers(
        r#"{ "x": { "default_margin": 1, "offers": { "connection": "upload", "type": "json", "offer_location": "offers",
        "max_record_bytes": 65536,
        "mapping": { "sku": "id", "name": "title", "ean": "ean", "stock_available": "stock",
                     "price_purchase_amount": "buy", "price_consumer_amount": "sell" } } } }"#,
    );
    let offer = r#"{"id":"A","title":"T","ean":"96385074","stock":2,"buy":1.5,"sell":3}"#;
    let (feed, served) = Endless::new(
        &format!(r#"{{"offers": [{offer}, {{"id": "B", "title": ""#),
        "y",
        GIB,
        r#""}]}"#,
    );
    let err = read_stream(&cfg, feed).unwrap_err().to_string();
    assert!(
        err.contains("larger than 65536 bytes (max_record_bytes)"),
        "{err}"
    );
    assert!(served.get() < 1 << 20, "read {} bytes", served.get());

    let (feed, served) = Endless::new(r#"{"z"#, "k", GIB, r#"": 1, "offers": []}"#);
    let err = read_stream(&cfg, feed).unwrap_err().to_string();
    assert!(err.contains("max_record_bytes"), "{err}");
    assert!(served.get() < 1 << 20, "read {} bytes", served.get());

    // Skipped values outside the offers are not kept, so they may be any size; offers below
    // the cap pass.
    let (feed, _) = Endless::new(
        r#"{"meta": ""#,
        "m",
        4 << 20,
        &format!(r#"", "offers": [{offer}, {offer}]}}"#),
    );
    assert_eq!(read_stream(&cfg, feed).unwrap(), 2);
}

#[test]
fn xml_nested_too_deep_or_a_huge_record_fails_the_run() {
    let deep = format!("<feed>{}", "<a>".repeat(100_000));
    let err = read(&xml_cfg(), deep.as_bytes()).unwrap_err().to_string();
    assert!(
        err.contains("nested deeper than 64 levels") && err.contains("XML is not valid at byte"),
        "{err}"
    );
    // Inside a record too.
    let deep = format!("<feed><offers><offer id=\"1\">{}", "<a>".repeat(100_000));
    let err = read(&xml_cfg(), deep.as_bytes()).unwrap_err().to_string();
    assert!(err.contains("nested deeper than 64 levels"), "{err}");

    let (feed, served) = Endless::new(
        "<feed><offers><offer id=\"1\"><name>",
        "n",
        4 * GIB,
        "</name></offer></offers></feed>",
    );
    let err = read_stream(&xml_cfg(), feed).unwrap_err().to_string();
    assert!(err.contains("max_record_bytes"), "{err}");
    assert!(served.get() < 2 << 20, "read {} bytes", served.get());

    // One huge text outside the records is capped as well.
    let (feed, served) = Endless::new("<feed><meta>", "t", 4 * GIB, "</meta></feed>");
    let err = read_stream(&xml_cfg(), feed).unwrap_err().to_string();
    assert!(err.contains("max_record_bytes"), "{err}");
    assert!(served.get() < 2 << 20, "read {} bytes", served.get());
}
