//! The order mapping language end to end: the FlexIT seed's `order` block, pasted verbatim,
//! turns a supplier-order context into the request body of the issue, and mistakes name the key
//! and the expression.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use irp_core::config::model::OrderConfig;
use irp_core::config::parse_document;
use irp_core::mapping::context::{
    self, AddressContext, CountryContext, ItemContext, OfferContext, OrderContext,
    RefurbisherContext, Scope, SupplierOrderContext, VariantContext,
};
use irp_core::mapping::render::render;
use rust_decimal::Decimal;
use serde_json::{Value, json};

fn seed_order() -> OrderConfig {
    let path = format!(
        "{}/tests/fixtures/seed-flexit.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let doc = parse_document(&std::fs::read_to_string(path).unwrap());
    assert!(doc.is_ok());
    doc.refurbishers[0].order.clone().unwrap()
}

fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

fn address() -> AddressContext {
    AddressContext {
        full_name: "Jan de Vries".into(),
        first_name: "Jan".into(),
        last_name: "de Vries".into(),
        company: String::new(),
        street: "Damrak".into(),
        house_number: "1".into(),
        house_number_addition: "A".into(),
        full_address: "Damrak 1 A".into(),
        zipcode: "1012 LG".into(),
        city: "Amsterdam".into(),
        phone: "+31 20 123 4567".into(),
        email: "jan@example.nl".into(),
        country: CountryContext {
            iso_alpha2: "NL".into(),
            iso_alpha3: "NLD".into(),
            name: "Netherlands".into(),
        },
    }
}

fn item(id: i64, sku: &str, quantity: i64, price: &str) -> ItemContext {
    ItemContext {
        id,
        quantity,
        unit_price_tax_excl: dec(price),
        unit_price_tax_incl: dec(price) * dec("1.21"),
        tax_percentage: dec("21"),
        product_variant: VariantContext {
            ean: "8717953204517".into(),
            sku: sku.into(),
            name: "iPhone 13 128GB".into(),
            refurbisher_offer: OfferContext {
                sku: sku.into(),
                ean: "8717953204517".into(),
                name: "Apple iPhone 13 128GB Grade A".into(),
                price_purchase_amount: dec(price),
            },
        },
    }
}

fn context(items: Vec<ItemContext>) -> SupplierOrderContext {
    SupplierOrderContext {
        id: 4711,
        order: OrderContext {
            id: 17,
            order_number: "RD-100023".into(),
            channel: "refurbished-direct".into(),
            placed_at: "2026-11-23T10:00:00Z".into(),
            email: "jan@example.nl".into(),
        },
        shipping_address: address(),
        billing_address: address(),
        refurbisher: RefurbisherContext {
            key: "flexit".into(),
            refurbisher_id: 15,
            supplier_id: Some(10),
            odoo_vendor_id: Some(21469),
        },
        items,
    }
}

#[test]
fn the_flexit_seed_block_builds_the_body_of_the_issue() {
    let ctx = serde_json::to_value(context(vec![
        item(1, "FLX-IPH13-128", 1, "123.45"),
        item(2, "FLX-IPH12-64", 2, "99.5"),
    ]))
    .unwrap();
    let body = render(&seed_order(), &ctx).unwrap();
    // Numbers as numbers, booleans as booleans, strings as strings, keys in the mapping's order.
    assert_eq!(
        serde_json::to_string(&body).unwrap(),
        serde_json::to_string(&json!({
            "customerNumber": 218535,
            "yourReference": "RD-100023",
            "externalDocumentNumber": "4711",
            "currencyCode": "EUR",
            "shipping": {
                "isBlindShip": true,
                "contact": {"name": "Jan de Vries", "email": "no-reply@iused.nl", "phoneNumber": "0612345678"},
                "address": {
                    "postalCode": "1012 LG",
                    "name": "Jan de Vries",
                    "countryCode": "NL",
                    "city": "Amsterdam",
                    "addressLine1": "Damrak 1 A"
                }
            },
            "lines": [
                {"sku": "FLX-IPH13-128", "quantity": 1, "unitPrice": 123.45},
                {"sku": "FLX-IPH12-64", "quantity": 2, "unitPrice": 99.5}
            ]
        }))
        .unwrap()
    );
}

fn order_with(order_object: Value, item_object: Option<Value>) -> OrderConfig {
    let mut o = seed_order();
    o.order_object = serde_json::from_value(order_object).unwrap();
    o.item_object = item_object.map(|v| serde_json::from_value(v).unwrap());
    o
}

#[test]
fn functions_apply_left_to_right_then_the_cast() {
    let ctx = serde_json::to_value(context(vec![item(1, "  sku-1 ", 3, "10")])).unwrap();
    let body = render(
        &order_with(
            json!({
                "alpha3": "orderShippingAddress.country->getIsoAlpha3",
                "country": "orderShippingAddress.country.name->upper",
                "vendor": "(string)refurbisher.odoo_vendor_id",
                "placed": "order.placed_at",
                "nested": {"deep.er": "(int)!7"},
                "literalFloat": "!(float)12.50",
                "literalBool": "!(bool)0",
                "json": 12,
                "items": "%ITEMS%"
            }),
            Some(json!({
                "sku": "productVariant.refurbisherOffer.sku->trim->upper",
                "price": "unit_price_tax_excl",
                "priceText": "unit_price_tax_excl->formatByDecimal",
                "priceFloat": "(float)unit_price_tax_excl",
                "qty": "(string)quantity",
                "incl": "unit_price_tax_incl->formatByDecimal"
            })),
        ),
        &ctx,
    );
    // `(int)!7` is not a literal with a cast (the cast comes after `!`): it is rejected.
    let err = body.unwrap_err();
    assert_eq!(err.key, "order_object.nested.deep.er");
    let body = render(
        &order_with(
            json!({
                "alpha3": "orderShippingAddress.country->getIsoAlpha3",
                "country": "orderShippingAddress.country.name->upper",
                "vendor": "(string)refurbisher.odoo_vendor_id",
                "placed": "order.placed_at",
                "nested": {"deep.er": "!(int)7"},
                "literalFloat": "!(float)12.50",
                "literalBool": "!(bool)0",
                "json": 12,
                "items": "%ITEMS%"
            }),
            Some(json!({
                "sku": "productVariant.refurbisherOffer.sku->trim->upper",
                "price": "unit_price_tax_excl",
                "priceText": "unit_price_tax_excl->formatByDecimal",
                "priceFloat": "(float)unit_price_tax_excl",
                "qty": "(string)quantity",
                "incl": "unit_price_tax_incl->formatByDecimal"
            })),
        ),
        &ctx,
    )
    .unwrap();
    assert_eq!(
        body,
        json!({
            "alpha3": "NLD",
            "country": "NETHERLANDS",
            "vendor": "21469",
            "placed": "2026-11-23T10:00:00Z",
            "nested": {"deep": {"er": 7}},
            "literalFloat": 12.5,
            "literalBool": false,
            "json": 12,
            "items": [{
                "sku": "SKU-1",
                "price": 10,
                "priceText": "10.00",
                "priceFloat": 10.0,
                "qty": "3",
                "incl": "12.10"
            }]
        })
    );
}

#[test]
fn a_value_that_cannot_be_built_names_the_key_and_the_expression() {
    let mut c = context(vec![item(1, "A", 1, "12.345")]);
    c.shipping_address.company = "twelve".into();
    let ctx = serde_json::to_value(c).unwrap();
    let err = render(
        &order_with(
            json!({"customer.number": "(int)orderShippingAddress.company"}),
            None,
        ),
        &ctx,
    )
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"order_object.customer.number: "(int)orderShippingAddress.company": "twelve" cannot be cast to (int), expected an integer"#
    );
    let err = render(
        &order_with(
            json!({"lines": "%ITEMS%"}),
            Some(json!({"country": "productVariant.name->getIsoAlpha2"})),
        ),
        &ctx,
    )
    .unwrap_err();
    assert_eq!(err.key, "order_object.lines");
    assert!(
        err.message.contains("item_object.country (item 1)")
            && err.message.contains("is not a country"),
        "{err}"
    );
    // Half away from zero, two decimals.
    let body = render(
        &order_with(
            json!({"lines": "%ITEMS%"}),
            Some(json!({"p": "unit_price_tax_excl->formatByDecimal"})),
        ),
        &ctx,
    )
    .unwrap();
    assert_eq!(body, json!({"lines": [{"p": "12.35"}]}));
}

#[test]
fn the_context_data_has_exactly_the_documented_paths() {
    let ctx = serde_json::to_value(context(vec![item(1, "A", 1, "1")])).unwrap();
    let mut documented: Vec<String> = context::paths(Scope::SupplierOrder)
        .into_iter()
        .map(|(p, _, _)| p)
        .collect();
    for (p, _, _) in context::paths(Scope::Item) {
        documented.push(format!("items.0.{p}"));
    }
    let mut actual = Vec::new();
    fn walk(v: &Value, prefix: &str, out: &mut Vec<String>) {
        let children: Vec<(String, &Value)> = match v {
            Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
            Value::Array(a) => a
                .iter()
                .take(1)
                .enumerate()
                .map(|(i, v)| (i.to_string(), v))
                .collect(),
            _ => return,
        };
        for (k, v) in children {
            let p = if prefix.is_empty() {
                k
            } else {
                format!("{prefix}.{k}")
            };
            if !p.ends_with(".0") {
                out.push(p.clone());
            }
            walk(v, &p, out);
        }
    }
    walk(&ctx, "", &mut actual);
    documented.sort();
    actual.sort();
    assert_eq!(actual, documented);
}
