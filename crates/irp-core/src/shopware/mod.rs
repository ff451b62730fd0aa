//! Shopware 6, the storefronts' shop system (seed 003: Refurbished Direct, Econocom), as IRP
//! speaks to it: the app-webhook signature (`shopware-shop-signature`), the product numbers IRP
//! addresses products by, the product rows of a price/stock sync, and an order as Shopware's
//! Admin API answers it turned into IRP's order document ([`order`]). Pure: no I/O; the client
//! is `irp_clients::shopware`. Facts and sources: `contracts/EXTERNAL-APIS.md` §1.

pub mod content;
pub mod order;

use hmac::{Hmac, KeyInit, Mac};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Value, json};
use sha2::Sha256;

/// Shopware's system default currency id (`Defaults::CURRENCY`): every price array must hold a
/// price in it, whatever currency the shop's default is.
pub const DEFAULT_CURRENCY_ID: &str = "b7d2554b0ce847cd82f3ac9bd1c0dfca";

/// The `shopware-shop-signature` of `body`: lower-case hex HMAC-SHA256 keyed with the shop secret.
pub fn sign(body: &[u8], shop_secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(shop_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `signature` (the header's value, hex, either case) is the signature of `body`,
/// compared in constant time.
pub fn verify(body: &[u8], signature: &str, shop_secret: &str) -> bool {
    // An empty secret signs anything anyone can compute: never accepted.
    if shop_secret.trim().is_empty() {
        return false;
    }
    let signature = signature.trim();
    if signature.len() != 64 || !signature.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        match u8::from_str_radix(&signature[2 * i..2 * i + 2], 16) {
            Ok(v) => *b = v,
            Err(_) => return false,
        }
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(shop_secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&bytes).is_ok()
}

/// Shopware's product number of the product with `ean` in a channel with `prefix`.
pub fn product_number(prefix: &str, ean: &str) -> String {
    format!("{prefix}{ean}")
}

/// The EAN a product number stands for (the prefix stripped), when it has the prefix.
pub fn ean_of_product_number<'a>(prefix: &str, number: &'a str) -> Option<&'a str> {
    number.strip_prefix(prefix)
}

/// The id IRP gives a product it creates in a channel's shop (`create_missing`): derived from
/// the channel and the EAN, so creating it again addresses the same product.
pub fn created_product_id(channel: &str, ean: &str) -> String {
    use sha2::Digest as _;
    let digest = Sha256::digest(format!("irp:{channel}:{ean}").as_bytes());
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

/// What a channel sells of a product, as the sync sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductValues<'a> {
    /// Shopware's product number.
    pub number: &'a str,
    /// Price incl. VAT in minor units; `None` when nothing sellable (the price is left alone).
    pub price_incl_minor: Option<i64>,
    /// The VAT percentage of that price.
    pub tax_percentage: Option<Decimal>,
    /// The refurbisher's purchase price excl. VAT, minor units.
    pub purchase_minor: Option<i64>,
    /// Sellable stock.
    pub stock: i64,
    /// Whether the channel sells it.
    pub active: bool,
}

fn number(d: Decimal) -> Value {
    d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
        .normalize()
        .to_string()
        .parse::<serde_json::Number>()
        .map_or(Value::Null, Value::Number)
}

/// One entry of a Shopware price array in the default currency: `gross`, `net` (gross without
/// VAT, half-up to cents) and `linked` (required by Shopware).
pub fn price_entry(gross_minor: i64, tax_percentage: Decimal) -> Value {
    let gross = Decimal::new(gross_minor, 2);
    let net = gross / (Decimal::ONE + tax_percentage / Decimal::ONE_HUNDRED);
    json!({"currencyId": DEFAULT_CURRENCY_ID, "gross": number(gross), "net": number(net), "linked": true})
}

/// A purchase price entry: the refurbisher's price excl. VAT as `net`, with VAT as `gross`.
pub fn purchase_entry(net_minor: i64, tax_percentage: Decimal) -> Value {
    let net = Decimal::new(net_minor, 2);
    let gross = net * (Decimal::ONE + tax_percentage / Decimal::ONE_HUNDRED);
    json!({"currencyId": DEFAULT_CURRENCY_ID, "gross": number(gross), "net": number(net), "linked": true})
}

/// The `_action/sync` upsert row updating a product the shop has: addressed by product number
/// (the `product.number` resolver), with stock, availability, price and purchase price. A
/// product with nothing sellable is inactive with stock 0, its price left as it was.
pub fn product_update(v: &ProductValues<'_>) -> Value {
    let mut row = serde_json::Map::new();
    row.insert(
        "id".into(),
        json!({"resolver": "product.number", "value": v.number}),
    );
    let sellable = v.active && v.price_incl_minor.is_some();
    row.insert(
        "stock".into(),
        json!(if sellable { v.stock.max(0) } else { 0 }),
    );
    row.insert("active".into(), json!(sellable));
    let tax = v.tax_percentage.unwrap_or(Decimal::ZERO);
    if let (true, Some(p)) = (sellable, v.price_incl_minor) {
        row.insert("price".into(), json!([price_entry(p, tax)]));
        if let Some(pp) = v.purchase_minor {
            row.insert("purchasePrices".into(), json!([purchase_entry(pp, tax)]));
        }
    }
    Value::Object(row)
}

/// The upsert row creating a product the shop lacks (`create_missing`): Shopware needs the id,
/// product number, name, tax id, stock and a price; an inactive product gets price 0.
pub fn product_create(
    v: &ProductValues<'_>,
    id: &str,
    name: &str,
    ean: &str,
    tax_id: &str,
) -> Value {
    let mut row = product_update(v);
    if let Value::Object(m) = &mut row {
        m.insert("id".into(), json!(id));
        m.insert("productNumber".into(), json!(v.number));
        m.insert(
            "name".into(),
            json!(if name.trim().is_empty() { ean } else { name }),
        );
        m.insert("ean".into(), json!(ean));
        m.insert("taxId".into(), json!(tax_id));
        if !m.contains_key("price") {
            let tax = v.tax_percentage.unwrap_or(Decimal::ZERO);
            m.insert("price".into(), json!([price_entry(0, tax)]));
        }
    }
    row
}

/// The row index a Shopware error pointer (`/<operation key>/<row>/<field>`) names in
/// operation `key`.
pub fn row_of_pointer(pointer: &str, key: &str) -> Option<usize> {
    let rest = pointer
        .strip_prefix('/')?
        .strip_prefix(key)?
        .strip_prefix('/')?;
    rest.split('/').next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_rows_carry_gross_net_linked_in_the_default_currency() {
        let v = ProductValues {
            number: "8712345678906",
            price_incl_minor: Some(60_264),
            tax_percentage: Some(Decimal::from(21)),
            purchase_minor: Some(45_000),
            stock: 4,
            active: true,
        };
        assert_eq!(
            product_update(&v),
            json!({"id": {"resolver": "product.number", "value": "8712345678906"}, "stock": 4, "active": true,
                "price": [{"currencyId": DEFAULT_CURRENCY_ID, "gross": 602.64, "net": 498.05, "linked": true}],
                "purchasePrices": [{"currencyId": DEFAULT_CURRENCY_ID, "gross": 544.5, "net": 450, "linked": true}]})
        );
        let gone = ProductValues {
            price_incl_minor: None,
            active: false,
            ..v.clone()
        };
        assert_eq!(
            product_update(&gone),
            json!({"id": {"resolver": "product.number", "value": "8712345678906"}, "stock": 0, "active": false})
        );
        let created = product_create(
            &gone,
            &created_product_id("econocom", "8712345678906"),
            "",
            "8712345678906",
            "a5da76b447db4d0aba62e6512dadf45b",
        );
        assert_eq!(created["id"].as_str().map(str::len), Some(32));
        assert_eq!(created["name"], "8712345678906");
        assert_eq!(created["price"][0]["gross"], json!(0));
        assert_ne!(
            created_product_id("econocom", "1"),
            created_product_id("refurbished-direct", "1")
        );
    }

    #[test]
    fn pointers_name_rows_and_numbers_their_eans() {
        assert_eq!(row_of_pointer("/products/12/price", "products"), Some(12));
        assert_eq!(row_of_pointer("/products/3", "products"), Some(3));
        assert_eq!(row_of_pointer("/other/3/price", "products"), None);
        assert_eq!(row_of_pointer("/price", "products"), None);
        assert_eq!(product_number("RD-", "123"), "RD-123");
        assert_eq!(ean_of_product_number("RD-", "RD-123"), Some("123"));
        assert_eq!(ean_of_product_number("RD-", "X-123"), None);
    }

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let body = br#"{"data":{"event":"checkout.order.placed"}}"#;
        let sig = sign(body, "s3cret");
        assert_eq!(sig.len(), 64);
        assert!(verify(body, &sig, "s3cret"));
        assert!(verify(body, &sig.to_uppercase(), "s3cret"));
        assert!(!verify(body, &sig, "other"));
        assert!(!verify(b"{}", &sig, "s3cret"));
        assert!(!verify(body, &sig[..63], "s3cret"));
        assert!(!verify(body, "zz", "s3cret"));
        assert!(
            !verify(body, &sign(body, ""), ""),
            "an empty secret verifies nothing"
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_as_php_hash_hmac_computes_it() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"what do ya want for nothing?", "Jefe"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
