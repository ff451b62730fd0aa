//! Refurbisher documents end to end through the pure validator: the seeds pasted verbatim,
//! the shipped configs, and a broken document whose every error must be named.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_core::config::{self, Document, Severity, parse_document, render};

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn shipped(name: &str) -> String {
    let path = format!(
        "{}/../../config/refurbishers/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn report(file: &str, doc: &Document) -> String {
    doc.diagnostics
        .iter()
        .map(|d| render(file, d))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_iused_seed_block_pasted_verbatim_is_accepted_with_a_credential_warning() {
    let doc = parse_document(&fixture("seed-iused-alumio.json"));
    assert!(doc.is_ok(), "{}", report("seed", &doc));
    let r = &doc.refurbishers[0];
    assert_eq!(r.key, "iused-alumio");
    assert_eq!(r.order, None);
    insta::assert_snapshot!(report("seed-iused-alumio.json", &doc), @r#"
    seed-iused-alumio.json:2:1: warning: iused-alumio.default_margin: `default_margin` is not set, so it is 0 %: offers would sell at cost
        help: set the markup on cost in percent, e.g. "default_margin": 17
    seed-iused-alumio.json:7:29: warning: iused-alumio.offers.auth.token: `token` is a credential written in the document in plain text
        help: move it into the secret store: run `irp secret set iused-alumio.offers.auth.token` (it reads the value from stdin), then write "${secret:iused-alumio.offers.auth.token}" here
    "#);
}

#[test]
fn the_flexit_seed_block_pasted_verbatim_is_accepted_with_credential_warnings() {
    let doc = parse_document(&fixture("seed-flexit.json"));
    assert!(doc.is_ok(), "{}", report("seed", &doc));
    let r = &doc.refurbishers[0];
    assert_eq!(r.refurbisher_id, Some(15));
    assert!(r.order.is_some());
    let warnings: Vec<String> = doc
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .map(|d| d.path.to_string())
        .collect();
    assert_eq!(
        warnings,
        [
            "flexit.default_margin",
            "flexit.offers.auth.password",
            "flexit.order.auth.client_id",
            "flexit.order.auth.client_secret"
        ]
    );
}

#[test]
fn a_bare_seed_member_without_braces_is_read_with_a_warning() {
    let text = fixture("seed-flexit.json");
    let bare = text.trim().trim_start_matches('{').trim_end_matches('}');
    let doc = parse_document(bare);
    assert!(doc.is_ok(), "{}", report("bare", &doc));
    assert_eq!(doc.refurbishers[0].key, "flexit");
    assert!(doc.diagnostics.iter().any(|d| d.message.contains("bare")));
}

#[test]
fn the_shipped_iused_config_passes_with_only_the_151_warning() {
    let doc = parse_document(&shipped("iused-stores.json"));
    insta::assert_snapshot!(report("iused-stores.json", &doc), @"
    iused-stores.json:20:7: warning: iused-alumio.monitoring.offers_endpoint_http_status: 151 is an informational HTTP status, never the final answer of a feed request, so this threshold would always alert
        help: the offers endpoint is expected to answer 200
    ");
    let r = &doc.refurbishers[0];
    assert_eq!(
        (r.refurbisher_id, r.supplier_id, r.odoo_vendor_id),
        (Some(1), Some(1), Some(9))
    );
    assert_eq!(r.public_name, "iUsed");
    assert_eq!(r.home_copy_tax.to_string(), "4.38");
    assert_eq!(r.shipping_costs.to_string(), "0.00");
    assert_eq!(r.default_margin.to_string(), "99");
    assert_eq!(r.stock_threshold, 0);
    assert!(r.approved_refurbished && r.drop_ship && r.internal);
    assert_eq!(
        (
            r.monitoring.latest_order_hours,
            r.monitoring.offers_stock_hours,
            r.monitoring.open_order_days,
            r.monitoring.offers_endpoint_http_status
        ),
        (58, 81, 9, 151)
    );
    assert_eq!(r.offer_connector_label(), "Web POST · JSON · Bearer token");
    assert_eq!(r.order_connector_label(), "Not integrated");
}

#[test]
fn the_shipped_flexit_config_passes_clean() {
    let doc = parse_document(&shipped("flexit.json"));
    assert_eq!(report("flexit.json", &doc), "");
    let r = &doc.refurbishers[0];
    assert_eq!(
        (r.refurbisher_id, r.supplier_id, r.odoo_vendor_id),
        (Some(15), Some(10), Some(21469))
    );
    assert_eq!(r.shipping_costs.to_string(), "10.00");
    assert_eq!(r.home_copy_tax.to_string(), "3.18");
    assert_eq!(r.default_margin.to_string(), "17");
    assert_eq!(r.stock_threshold, 1);
    assert!(r.approved_refurbished && r.drop_ship && !r.internal);
    assert_eq!(
        (
            r.monitoring.latest_order_hours,
            r.monitoring.offers_stock_hours,
            r.monitoring.open_order_days,
            r.monitoring.offers_endpoint_http_status
        ),
        (48, 48, 4, 200)
    );
    assert_eq!(r.offer_connector_label(), "SFTP · CSV · SFTP credentials");
    assert_eq!(r.order_connector_label(), "Web POST · Client credentials");
}

#[test]
fn a_broken_document_reports_every_error_with_its_path() {
    let text = r#"{
  "acme": {
    "name": 12,
    "refurbisher_id": "15",
    "currency": "eur",
    "shipping_costs": "10,00",
    "default_margin": 0.17,
    "poll_interval_secs": 5,
    "colour": "red",
    "monitoring": { "latest_order_hours": -1, "offers_endpoint_http_status": 151, "open_orders_days": 3 },
    "offers": {
      "connection": "ftp",
      "type": "csv",
      "seperator": ";",
      "separator": ";;",
      "price_locale": "nl_XX",
      "auth": { "type": "bearer", "token": "${vault:x}" },
      "mapping": { "sku": "SKU", "name": "Name", "eaan": "EAN", "price_purchase_amount": "Price" }
    },
    "order": {
      "connection": "web",
      "endpoint": "ftp://example.com/orders",
      "auth": { "type": "oauth", "client_id": "a" },
      "order_object": {
        "ref": "order.ordernumber",
        "country": "orderShippingAddress.country->getIsoAlpha",
        "n": "(integer)id",
        "lines": "%ITEMS%"
      },
      "response_object": {
        "asserts": { "status": "in:2001", "OrderNumber": "present|filed" },
        "fields": { "externalOrderRef": "OrderNumber" }
      }
    }
  },
  "Bad Key": {}
}"#;
    let doc = parse_document(text);
    assert!(!doc.is_ok());
    insta::assert_snapshot!(report("broken.json", &doc), @r#"
    broken.json:3:5: error: acme.name: expected a string, got the number 12
    broken.json:4:5: error: acme.refurbisher_id: expected a whole number, got the string "15"
    broken.json:5:5: error: acme.currency: unknown currency "eur", expected an ISO 4217 code like "EUR"
        help: write it in capitals: "EUR"
    broken.json:6:5: error: acme.shipping_costs: expected an amount as a decimal string like "4.38" or a number, got "10,00"
    broken.json:7:5: warning: acme.default_margin: `default_margin` is a percentage: 0.17 means 0.17 %, not 17 %
        help: write 17 for a 17 % markup
    broken.json:8:5: error: acme.poll_interval_secs: must be at least 60 (or 0 to disable polling), got 5
    broken.json:9:5: error: acme.colour: unknown key `colour` in a refurbisher
        help: expected one of: name, refurbisher_id, supplier_id, odoo_vendor_id, public_name, currency, shipping_costs, home_copy_tax, default_margin, margin_rules, default_tax_percentage, price_rounding, max_price_change_ratio, stock_threshold, approved_refurbished, drop_ship, internal, enabled, poll_interval_secs, monitoring, shipment, offers, order
    broken.json:10:21: error: acme.monitoring.latest_order_hours: must be between 0 and 8784, got -1
    broken.json:10:47: warning: acme.monitoring.offers_endpoint_http_status: 151 is an informational HTTP status, never the final answer of a feed request, so this threshold would always alert
        help: the offers endpoint is expected to answer 200
    broken.json:10:83: error: acme.monitoring.open_orders_days: unknown key `open_orders_days` in `monitoring`
        help: did you mean `open_order_days`?
    broken.json:12:7: error: acme.offers.connection: unknown connection "ftp", expected one of web, web_post, sftp, file, upload
        help: did you mean `sftp`?
    broken.json:14:7: error: acme.offers.seperator: unknown key `seperator` in `offers`
        help: did you mean `separator`?
    broken.json:15:7: error: acme.offers.separator: expected a single character like ";" or "," ("\t" for tab), got ";;"
    broken.json:16:7: error: acme.offers.price_locale: unknown price_locale "nl_XX", expected one of plain, en_US, en_GB, en_IE, nl_NL, nl_BE, de_DE, de_AT, de_CH, it_IT, es_ES, pt_PT, da_DK, fr_FR, fr_BE, sv_SE, fi_FI, nb_NO, pl_PL, cs_CZ
    broken.json:17:35: error: acme.offers.auth.token: unknown reference kind `vault`, expected `env` or `secret` as in `${secret:NAME}`
    broken.json:18:7: error: acme.offers.mapping: the mapping does not name a source for `ean`, `stock_available`, `price_consumer_amount`; every offer needs sku, name, ean, stock_available, price_purchase_amount, price_consumer_amount
    broken.json:18:50: error: acme.offers.mapping.eaan: unknown key `eaan` in the offer mapping (canonical offer fields)
        help: did you mean `ean`?
    broken.json:22:7: error: acme.order.endpoint: expected an http:// or https:// URL, got "ftp://example.com/orders"
    broken.json:23:17: error: acme.order.auth.type: unknown auth type "oauth", expected one of none, bearer, basic, header, query, client_id_secret
        help: for OAuth2 client credentials use `client_id_secret` with a `token_url`
    broken.json:24:7: error: acme.order.order_object: `%ITEMS%` is used, but there is no `item_object` to build the items with
        help: add "item_object": { "sku": "productVariant.refurbisherOffer.sku", "quantity": "quantity" }
    broken.json:25:9: error: acme.order.order_object.ref: in "order.ordernumber": unknown field `ordernumber` in `order.ordernumber`; did you mean `order_number`?
    broken.json:26:9: error: acme.order.order_object.country: in "orderShippingAddress.country->getIsoAlpha": unknown function `->getIsoAlpha`, expected one of getIsoAlpha2, getIsoAlpha3, formatByDecimal, upper, lower, trim; did you mean `->getIsoAlpha2`?
    broken.json:27:9: error: acme.order.order_object.n: in "(integer)id": unknown cast `(integer)`, expected one of `(int)`, `(float)`, `(string)`, `(bool)`
    broken.json:31:22: error: acme.order.response_object.asserts.status: in "in:2001": `2001` in `in:2001` is not an HTTP status (100-599)
    broken.json:31:43: error: acme.order.response_object.asserts.OrderNumber: in "present|filed": unknown rule `filed`, expected one of in, not_in, present, filled, required, numeric, integer, string, boolean; did you mean `filled`?
    broken.json:32:21: error: acme.order.response_object.fields.externalOrderRef: unknown supplier-order field `externalOrderRef`, expected one of externalOrderReference
    broken.json:36:3: error: ["Bad Key"]: invalid connector key "Bad Key": use lower-case letters, digits, `-` and `_` (like `flexit` or `iused-alumio`), at most 64 characters, not `channels`, `channel`, `pim` or `erp`
    broken.json:36:3: warning: ["Bad Key"].default_margin: `default_margin` is not set, so it is 0 %: offers would sell at cost
        help: set the markup on cost in percent, e.g. "default_margin": 17
    "#);
}

#[test]
fn the_canonical_form_reads_back_to_the_same_refurbisher() {
    for text in [
        shipped("flexit.json"),
        shipped("iused-stores.json"),
        fixture("seed-flexit.json"),
        fixture("seed-iused-alumio.json"),
    ] {
        let doc = parse_document(&text);
        let r = &doc.refurbishers[0];
        let canonical = serde_json::json!({ (r.key.clone()): r.to_canonical_json() });
        let again = parse_document(&canonical.to_string());
        assert!(
            !again.diagnostics.has_errors(),
            "{}",
            report("canonical", &again)
        );
        assert_eq!(&again.refurbishers[0], r);
    }
}

#[test]
fn show_redacts_literal_credentials_but_keeps_references() {
    let doc = parse_document(&fixture("seed-flexit.json"));
    let shown = config::redact(&doc.refurbishers[0].to_canonical_json());
    let text = shown.to_string();
    assert!(!text.contains("XXXXXXXXXXXXXXX"), "{text}");
    assert_eq!(shown["offers"]["auth"]["password"], config::REDACTED);
    assert_eq!(shown["offers"]["auth"]["username"], "xmlorder_218535");

    let doc = parse_document(&shipped("flexit.json"));
    let shown = config::redact(&doc.refurbishers[0].to_canonical_json());
    assert_eq!(
        shown["order"]["auth"]["client_secret"],
        "${secret:flexit.order.auth.client_secret}"
    );
}

#[test]
fn diff_names_each_changed_field_and_hides_credentials() {
    let old = parse_document(&fixture("seed-flexit.json")).refurbishers[0].to_canonical_json();
    let new = parse_document(&shipped("flexit.json")).refurbishers[0].to_canonical_json();
    let changes: Vec<String> = config::diff(&old, &new)
        .iter()
        .map(|c| {
            format!(
                "{}: {} -> {}",
                c.path,
                c.old.as_ref().map_or("(none)".into(), |v| v.to_string()),
                c.new.as_ref().map_or("(none)".into(), |v| v.to_string())
            )
        })
        .collect();
    insta::assert_snapshot!(changes.join("\n"), @r#"
    approved_refurbished: false -> true
    default_margin: "0" -> "17"
    home_copy_tax: "0" -> "3.18"
    odoo_vendor_id: null -> 21469
    offers.auth.password: "********" -> "${secret:flexit.offers.auth.password}"
    order.auth.client_id: "********" -> "${secret:flexit.order.auth.client_id}"
    order.auth.client_secret: "********" -> "${secret:flexit.order.auth.client_secret}"
    public_name: "flexit" -> "FlexIT"
    shipping_costs: "0" -> "10.00"
    stock_threshold: 0 -> 1
    supplier_id: null -> 10
    "#);
    assert!(config::diff(&new, &new).is_empty());
}

#[test]
fn pagination_must_fit_the_feed_format() {
    let doc = |format: &str, paginate: &str| {
        parse_document(&format!(
            r#"{{ "x": {{ "default_margin": 1, "offers": {{ "connection": "web", "endpoint": "https://f.example/feed",
            {format}, "paginate": {paginate},
            "mapping": {{ "sku": "a", "name": "b", "ean": "c", "stock_available": "d", "price_purchase_amount": "e", "price_consumer_amount": "f" }} }} }} }}"#
        ))
    };
    let csv = r#""type": "csv", "separator": ";""#;
    assert!(doc(csv, r#"{ "type": "page" }"#).is_ok());
    assert!(doc(csv, r#"{ "type": "offset", "limit": 500 }"#).is_ok());
    assert!(doc(csv, r#"{ "type": "link" }"#).is_ok());
    let d = doc(csv, r#"{ "type": "cursor", "cursor_path": "next" }"#);
    insta::assert_snapshot!(report("x.json", &d), @"x.json:2:46: error: x.offers.paginate: a `csv` page has no place for a cursor or a next link: use `page`, `offset`, or `link` without `next_path` (the `Link` header)");
    let d = doc(
        r#""type": "xml", "record_path": "offers.offer""#,
        r#"{ "type": "page" }"#,
    );
    insta::assert_snapshot!(report("x.json", &d), @"x.json:2:59: error: x.offers.paginate: `paginate` works for `json` and `csv` feeds; an `xml` feed is fetched in one request");
}

#[test]
fn pricing_keys_are_read_checked_and_kept() {
    let text = r#"{ "x": { "default_margin": 17, "default_tax_percentage": "9", "price_rounding": ".99",
        "margin_rules": [ { "ean": "0194252707234", "margin": 12 }, { "sku_prefix": "FLX-IPH", "margin": "13.5%" },
                          { "brand": "Apple", "margin": 15 } ] } }"#;
    let doc = parse_document(text);
    assert!(doc.is_ok(), "{}", report("x.json", &doc));
    let r = &doc.refurbishers[0];
    assert_eq!(r.default_tax_percentage.to_string(), "9");
    assert_eq!(r.price_rounding, ".99");
    let rules: Vec<_> = r.margin_rules.iter().map(|m| m.to_rule()).collect();
    let m = irp_core::pricing::margin_for(
        &rules,
        r.default_margin,
        "refurbisher x",
        irp_core::pricing::OfferKeys {
            ean: "1",
            sku: "FLX-IPH13",
            brand: Some("apple"),
            category: None,
        },
    );
    assert_eq!(
        (m.value.to_string(), m.source.as_str()),
        (
            "13.5".into(),
            "refurbisher x: margin rule sku prefix FLX-IPH"
        )
    );
    // What is shown reads back to the same refurbisher.
    let canonical = serde_json::json!({ (r.key.clone()): r.to_canonical_json() });
    let again = parse_document(&canonical.to_string());
    assert_eq!(&again.refurbishers[0], r);

    let bad = r#"{ "x": { "default_margin": 17, "default_tax_percentage": 121, "price_rounding": "99",
        "margin_rules": [ { "brand": "Apple", "category": "Phones", "margin": 10 }, { "ean": "123", "margin": -1 }, { "sku_prefix": "A" } ] } }"#;
    insta::assert_snapshot!(report("x.json", &parse_document(bad)), @r#"
    x.json:1:32: error: x.default_tax_percentage: must be between 0 and 100 (percent), got 121
    x.json:1:63: error: x.price_rounding: unknown price_rounding "99", expected one of "none", ".99", ".95", "whole"
        help: did you mean `.99`?
    x.json:2:27: error: x.margin_rules[0]: a margin rule matches by exactly one of `ean`, `sku_prefix`, `brand`, `category`; this one has 2
    x.json:2:87: error: x.margin_rules[1].ean: not a valid EAN/GTIN: expected 8, 12, 13 or 14 digits, got 3
    x.json:2:101: error: x.margin_rules[1].margin: must be between 0 and 1000 (percent), got -1
    x.json:2:117: error: x.margin_rules[2]: a margin rule needs its `margin` in percent
    "#);
}

#[test]
fn a_price_ratio_is_a_fraction_price_points_need_cents_and_document_keys_are_reserved() {
    let bad = r#"{ "x": { "currency": "JPY", "price_rounding": ".99", "max_price_change_ratio": "50%" },
        "pim": { "name": "PIM as a refurbisher" } }"#;
    let text = report("x.json", &parse_document(bad));
    assert!(
        text.contains(
            "x.price_rounding: price_rounding \".99\" needs a currency with cents; JPY has 0 decimals"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "x.max_price_change_ratio: expected a fraction from 0.000001 to 100, like 0.5"
        ),
        "{text}"
    );
    assert!(text.contains("invalid connector key \"pim\""), "{text}");
    let ok = parse_document(r#"{ "x": { "max_price_change_ratio": "0.25" } }"#);
    assert!(ok.is_ok(), "{}", report("x.json", &ok));
    assert_eq!(
        ok.refurbishers[0].max_price_change_ratio.to_string(),
        "0.25"
    );
}

#[test]
fn a_literal_pim_api_key_never_shows_in_debug_output() {
    let doc = config::parse_pim(
        r#"{"pim": {"url": "https://acme.ergonode.app/api/graphql/", "api_key": "k-8c1d0e"}}"#,
    );
    let shown = format!("{doc:?}");
    assert!(!shown.contains("k-8c1d0e"), "{shown}");
    assert!(shown.contains("api_key: \"********\""), "{shown}");
}

#[test]
fn a_shipment_mapping_is_checked_and_kept() {
    let with = |shipment: &str| {
        parse_document(&format!(
            r#"{{"acme": {{"default_margin": 10, "supplier_id": 3, "shipment": {shipment}}}}}"#
        ))
    };
    let ok = with(
        r#"{"token_grace_hours": 2, "mapping": {"external_order_id": "order.reference", "items": "devices", "imei": "imei_number"}}"#,
    );
    assert!(ok.is_ok(), "{}", report("ok.json", &ok));
    let s = &ok.refurbishers[0].shipment;
    assert_eq!(s.token_grace_hours, 2);
    assert_eq!(s.mapping.external_order_id, "order.reference");
    assert_eq!(s.mapping.track_and_trace, "track_and_trace");

    let bad = with(
        r#"{"token_grace_hours": 1000, "colour": 1, "mapping": {"imei": "serial_number", "carrier": "x..y", "track_and_trace": "t", "external_order_id": "t"}}"#,
    );
    let errors: Vec<String> = bad
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    assert_eq!(
        errors,
        vec![
            "acme.shipment.token_grace_hours: must be between 0 and 720, got 1000",
            "acme.shipment.colour: unknown key `colour` in `shipment`",
            "acme.shipment.mapping.imei: `serial_number` is where `serial_number` is read from (its default); each field is read from its own place",
            "acme.shipment.mapping.carrier: `x..y` is not a dotted path into the shipment payload, like `data.OrderNumber`",
            "acme.shipment.mapping.track_and_trace: `t` is already the path of `external_order_id`; each field is read from its own place",
        ],
        "{}",
        report("bad.json", &bad)
    );
}

#[test]
fn a_channel_with_a_shopware_block_is_read_with_defaults_and_every_mistake_named() {
    let ok = config::parse_channels(
        r#"{"channels": {"refurbished-direct": {"name": "Refurbished Direct", "shopware": {
            "url": "https://www.refurbished-direct.nl/",
            "client_id": "${secret:channel.refurbished-direct.client_id}", "client_secret": "${secret:channel.refurbished-direct.client_secret}",
            "shop_secret": "${secret:channel.refurbished-direct.shop_secret}"}}}}"#,
    );
    assert!(ok.is_ok(), "{:?}", ok.diagnostics);
    let sw = ok.channels[0].shopware.clone().unwrap();
    assert_eq!(sw.url, "https://www.refurbished-direct.nl");
    assert_eq!(
        (sw.batch_size, sw.order_poll_secs, sw.order_lookback_hours),
        (500, 60, 24)
    );
    assert_eq!(sw.on_supplier_cancel, config::model::OnSupplierCancel::None);
    assert!(sw.enabled && !sw.create_missing && sw.product_number_prefix.is_empty());

    let bad = config::parse_channels(
        r#"{"channels": {"econocom": {"shopware": {
            "url": "ftp://shop", "client_id": "SWIAPLAINTEXT", "client_secret": "",
            "batch_size": 0, "create_missing": true, "sales_channel_ids": ["ABC"],
            "on_supplier_cancel": "refund", "ordr_poll_secs": 5}}}}"#,
    );
    assert!(!bad.is_ok());
    let text = bad
        .diagnostics
        .iter()
        .map(|d| render("channels.json", d))
        .collect::<Vec<_>>()
        .join("\n");
    for expected in [
        "econocom.shopware.url: expected an http:// or https:// URL, got \"ftp://shop\"",
        "warning: channels.econocom.shopware.client_id: `client_id` is a credential written in the document in plain text",
        "econocom.shopware.client_secret: `client_secret` is empty",
        "econocom.shopware.batch_size: must be between 1 and 5000, got 0",
        "econocom.shopware.tax_id: missing `tax_id`: `create_missing` creates products",
        "econocom.shopware.sales_channel_ids[0]: expected a Shopware sales channel id",
        "econocom.shopware.on_supplier_cancel: expected one of none, cancel_delivery, cancel_order, got \"refund\"",
        "econocom.shopware.ordr_poll_secs: unknown key `ordr_poll_secs` in a Shopware block",
        "did you mean `order_poll_secs`?",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    // Debug never shows a literal credential.
    let literal = config::parse_channels(
        r#"{"channels": {"econocom": {"shopware": {"url": "https://shop.example",
            "client_id": "SWIAVISIBLE", "client_secret": "very-secret-value"}}}}"#,
    );
    let dbg = format!("{:?}", literal.channels[0]);
    assert!(
        !dbg.contains("very-secret-value") && !dbg.contains("SWIAVISIBLE"),
        "{dbg}"
    );
}

#[test]
fn a_channels_content_block_is_read_and_round_trips_and_its_mistakes_are_named() {
    use irp_core::shopware::content::ContentField;
    let doc = r#"{"channels": {"refurbished-direct": {"shopware": {
        "url": "https://www.refurbished-direct.nl",
        "client_id": "${secret:channel.refurbished-direct.client_id}",
        "client_secret": "${secret:channel.refurbished-direct.client_secret}",
        "content": {"fields": ["ean", "name", "description"], "description_attribute": "description"}}}}}"#;
    let ok = config::parse_channels(doc);
    assert!(ok.is_ok(), "{:?}", ok.diagnostics);
    let content = ok.channels[0].shopware.clone().unwrap().content;
    assert_eq!(
        content.fields,
        [
            ContentField::Name,
            ContentField::Description,
            ContentField::Ean
        ]
    );
    // What is stored (the model written back) reads back the same.
    let again = serde_json::json!({"channels": {"refurbished-direct": {"shopware": ok.channels[0].shopware}}});
    let reread = config::parse_channels(&again.to_string());
    assert!(reread.is_ok(), "{:?}", reread.diagnostics);
    assert_eq!(
        reread.channels[0].shopware.clone().unwrap().content,
        content
    );

    let bad = config::parse_channels(
        r#"{"channels": {"econocom": {"shopware": {"url": "https://shop.example",
            "client_id": "${secret:channel.econocom.client_id}", "client_secret": "${secret:channel.econocom.client_secret}",
            "content": {"fields": ["name", "name", "images", "manufacturer"], "descripton_attribute": "d"}}}}}"#,
    );
    let text = bad
        .diagnostics
        .iter()
        .map(|d| render("channels.json", d))
        .collect::<Vec<_>>()
        .join("\n");
    for expected in [
        "econocom.shopware.content.fields[1]: `name` is listed twice",
        "econocom.shopware.content.fields[2]: expected one of name, description, ean, got the string \"images\"",
        "econocom.shopware.content.fields[3]: IRP does not sync a product's `manufacturer` yet; it syncs name, description, ean",
        "econocom.shopware.content.descripton_attribute: unknown key `descripton_attribute` in a content block",
        "did you mean `description_attribute`?",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    let no_attr = config::parse_channels(
        r#"{"channels": {"econocom": {"shopware": {"url": "https://shop.example",
            "client_id": "${secret:channel.econocom.client_id}", "client_secret": "${secret:channel.econocom.client_secret}",
            "content": {"fields": ["description"]}}}}}"#,
    );
    let text = no_attr
        .diagnostics
        .iter()
        .map(|d| render("channels.json", d))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        text.contains(
            "econocom.shopware.content.description_attribute: missing `description_attribute`"
        ),
        "{text}"
    );
}

#[test]
fn the_example_erp_document_reads_round_trips_and_names_every_mistake() {
    let text = std::fs::read_to_string(format!(
        "{}/../../config/erp.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert!(config::is_erp_document(&text));
    let doc = config::parse_erp(&text);
    assert_eq!(doc.diagnostics.iter().count(), 0, "{:?}", doc.diagnostics);
    let erp = doc.erp.unwrap();
    assert_eq!(erp.protocol, config::model::OdooProtocol::Jsonrpc);
    assert_eq!(
        erp.documents.for_refurbisher("iused-alumio", true),
        config::model::ErpDocumentKind::SalesOrder
    );
    assert_eq!(
        erp.documents.for_refurbisher("flexit", false),
        config::model::ErpDocumentKind::PurchaseOrder
    );
    // The canonical form reads back the same.
    let canonical = serde_json::json!({"erp": serde_json::to_value(&erp).unwrap()}).to_string();
    assert_eq!(config::parse_erp(&canonical).erp.as_ref(), Some(&erp));

    // Literal credentials are redacted and never in Debug.
    let literal = text
        .replace("${secret:erp.api_key}", "odoo-literal-key-123")
        .replace("${secret:erp.alumio_auth}", "Bearer alumio-literal-456");
    let erp = config::parse_erp(&literal).erp.unwrap();
    let shown = format!("{erp:?} {}", erp.redacted());
    assert!(
        !shown.contains("odoo-literal-key-123") && !shown.contains("alumio-literal-456"),
        "{shown}"
    );

    let bad = r#"{"erp": {"system": "sap", "protocol": "json2", "url": "ftp://x", "alumio": {"auth_value": "x"},
        "database": "", "login": "irp", "api_key": "k", "documents": {"internal": "invoice"}, "confrim": true, "reference_prefix": "IRP SO"}}"#;
    let doc = config::parse_erp(bad);
    assert!(doc.erp.is_none());
    let text: Vec<String> = doc
        .diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    let all = text.join("\n");
    for expected in [
        "erp.system: unknown ERP system \"sap\"",
        "erp.alumio.proxies: with protocol \"json2\"",
        "erp.database: `database` is empty",
        "erp.documents.internal: expected \"purchase_order\", \"sales_order\" or \"none\", got the string \"invoice\"",
        "erp.confrim: unknown key `confrim`",
        "erp.reference_prefix: expected 1 to 30 letters",
        "erp.url:",
    ] {
        assert!(all.contains(expected), "{expected} not in:\n{all}");
    }
}

#[test]
fn a_document_names_only_its_own_secrets() {
    let doc = config::parse_document(
        r#"{"acme": {"name": "Acme", "refurbisher_id": 9, "supplier_id": 9, "default_margin": 10,
            "offers": {"connection": "web", "endpoint": "https://acme.example/feed?k=${secret:flexit.offers.auth.password}",
                "type": "json", "auth": {"type": "bearer", "token": "${secret:acme.offers.auth.token}"},
                "fields": {"sku": "sku", "ean": "ean", "price": "price", "stock": "stock"}}}}"#,
    );
    let errors: Vec<String> = doc
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error && d.message.contains("is not one of"))
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    assert_eq!(
        errors,
        vec![
            "acme.offers.endpoint: ${secret:flexit.offers.auth.password} is not one of `acme`'s secrets: a document names only secrets under `acme.`, so no document can reach another's credentials"
        ],
        "{:?}",
        doc.diagnostics
    );
    for (text, namespace) in [
        (
            r#"{"channels": {"rd": {"name": "RD", "shopware": {"url": "https://rd.example", "client_id": "${secret:erp.api_key}", "client_secret": "${secret:channel.rd.client_secret}"}}}}"#,
            "channel.rd.",
        ),
        (
            r#"{"pim": {"url": "https://p.example/api/graphql/", "api_key": "${secret:channel.rd.client_secret}"}}"#,
            "pim.",
        ),
        (
            r#"{"erp": {"url": "https://o.example", "database": "d", "login": "l", "api_key": "${secret:pim.api_key}"}}"#,
            "erp.",
        ),
    ] {
        let d = if text.contains("\"channels\"") {
            config::parse_channels(text).diagnostics
        } else if text.contains("\"pim\"") {
            config::parse_pim(text).diagnostics
        } else {
            config::parse_erp(text).diagnostics
        };
        let namespaced: Vec<_> = d
            .iter()
            .filter(|d| d.severity == Severity::Error && d.message.contains("is not one of"))
            .collect();
        assert_eq!(namespaced.len(), 1, "{text}: {d:?}");
        assert!(
            namespaced[0]
                .message
                .contains(&format!("only secrets under `{namespace}`")),
            "{}",
            namespaced[0].message
        );
    }
}

#[test]
fn no_document_may_read_the_secret_key_or_the_database_url() {
    let doc = config::parse_document(
        r#"{"acme": {"name": "Acme", "default_margin": 10, "offers": {"connection": "file",
            "path": "/x/${env:IRP_SECRET_KEY}/${env:IRP_DATABASE_URL}/${env:IRP_REF_DIR}", "type": "csv",
            "mapping": {"sku": "a", "name": "b", "ean": "c", "stock_available": "d", "price_purchase_amount": "e", "price_consumer_amount": "f"}}}}"#,
    );
    let errors: Vec<String> = doc
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    assert_eq!(
        errors,
        vec![
            "acme.offers.path: ${env:IRP_SECRET_KEY} may not be read by documents: it holds IRP's own key, database or access settings",
            "acme.offers.path: ${env:IRP_DATABASE_URL} may not be read by documents: it holds IRP's own key, database or access settings",
        ]
    );
}

#[test]
fn no_refurbisher_is_keyed_like_the_channels_secrets() {
    let d = config::parse_document(r#"{"channel": {"name": "Sly", "default_margin": 10}}"#);
    assert!(!d.is_ok());
    assert!(
        d.diagnostics
            .iter()
            .any(|x| x.message.contains("invalid connector key")),
        "{:?}",
        d.diagnostics
    );
}

#[test]
fn a_service_url_holds_no_secret() {
    let d = config::parse_pim(
        r#"{"pim": {"url": "https://p.example/${secret:pim.api_key}/api/graphql/", "api_key": "${secret:pim.api_key}"}}"#,
    )
    .diagnostics;
    let errors: Vec<String> = d
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect();
    assert_eq!(
        errors,
        vec![
            "pim.url: a URL may not hold a `${secret:…}`: URLs are shown in messages and logs; credentials go into their own keys"
        ]
    );
}

#[test]
fn a_secret_in_an_endpoint_stands_only_in_its_query_string() {
    let with = |endpoint: &str| {
        config::parse_document(&format!(
            r#"{{"acme": {{"name": "Acme", "default_margin": 10, "offers": {{"connection": "web", "endpoint": {}, "type": "json",
            "mapping": {{"sku": "a", "name": "b", "ean": "c", "stock_available": "d", "price_purchase_amount": "e", "price_consumer_amount": "f"}}}}}}}}"#,
            serde_json::Value::String(endpoint.to_owned())
        ))
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .map(|d| format!("{}: {}", d.path, d.message))
        .collect::<Vec<_>>()
    };
    assert_eq!(
        with("https://acme.example/${secret:acme.key}/feed"),
        vec![
            "acme.offers.endpoint: ${secret:acme.key} stands before the query string: messages and logs show a URL up to its `?`, so a secret may stand only in the query"
        ]
    );
    assert!(with("https://acme.example/feed?key=${secret:acme.key}").is_empty());
    assert!(with("https://${env:IRP_REF_HOST}/feed").is_empty());
}
