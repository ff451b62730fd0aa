//! IRP's channel-order document: what `POST /api/v1/orders` and `irp orders create` take.
//!
//! ```json
//! {
//!   "channel": "refurbished-direct",
//!   "order_number": "RD-100023",
//!   "placed_at": "2026-11-23T10:00:00Z",
//!   "customer": {"email": "jan@example.nl"},
//!   "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
//!     "house_number": "1", "house_number_addition": "A", "zipcode": "1012 LG",
//!     "city": "Amsterdam", "country": "NL", "phone": "0612345678"},
//!   "lines": [{"ean": "8717953204516", "quantity": 1, "unit_price_incl_vat": "149.00"}]
//! }
//! ```
//! [`parse_order`] checks all of it and names every bad field with its JSON path, the value and
//! what was expected; unknown keys are errors too, so nothing sent is ignored silently.
//! [`routing::route`] decides where a checked order goes; [`status`] names the statuses of
//! orders, lines and supplier orders.

pub mod routing;
pub mod status;

use std::fmt;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

use crate::config::suggest::did_you_mean;
use crate::mapping::context::{AddressContext, CountryContext};
use crate::money::parse_plain_decimal;
use crate::values::{country, gtin};

/// Keys of the order document.
pub const ORDER_KEYS: &[&str] = &[
    "channel",
    "order_number",
    "placed_at",
    "customer",
    "shipping_address",
    "billing_address",
    "lines",
];
/// Keys of `customer`.
pub const CUSTOMER_KEYS: &[&str] = &["email"];
/// Keys of an address.
pub const ADDRESS_KEYS: &[&str] = &[
    "first_name",
    "last_name",
    "company",
    "street",
    "house_number",
    "house_number_addition",
    "zipcode",
    "city",
    "country",
    "phone",
];
/// Keys of a line.
pub const LINE_KEYS: &[&str] = &[
    "ean",
    "refurbisher",
    "sku",
    "quantity",
    "unit_price_incl_vat",
];

/// Most lines one order may have.
pub const MAX_LINES: usize = 500;
/// Most units one line may have.
pub const MAX_QUANTITY: i64 = 10_000;

/// One problem with an order document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldError {
    /// JSON path: `lines[0].quantity`.
    pub field: String,
    /// What was there (`null` when missing), as JSON, shortened.
    pub value: String,
    /// What was expected.
    pub expected: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: got {}, expected {}",
            self.field, self.value, self.expected
        )
    }
}

/// A postal address as given.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Address {
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Company, empty when none.
    pub company: String,
    /// Street.
    pub street: String,
    /// House number.
    pub house_number: String,
    /// Addition, empty when none.
    pub house_number_addition: String,
    /// Postal code.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: String,
    /// Phone, empty when none.
    pub phone: String,
}

impl Address {
    /// The address as the mapping context shows it.
    pub fn context(&self, email: &str) -> AddressContext {
        let c = country::by_alpha2(&self.country);
        let join = |parts: &[&str]| {
            parts
                .iter()
                .map(|p| p.trim())
                .filter(|p| !p.is_empty())
                .collect::<Vec<_>>()
                .join(" ")
        };
        AddressContext {
            full_name: join(&[&self.first_name, &self.last_name]),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            company: self.company.clone(),
            street: self.street.clone(),
            house_number: self.house_number.clone(),
            house_number_addition: self.house_number_addition.clone(),
            full_address: join(&[
                &self.street,
                &self.house_number,
                &self.house_number_addition,
            ]),
            zipcode: self.zipcode.clone(),
            city: self.city.clone(),
            phone: self.phone.clone(),
            email: email.to_owned(),
            country: CountryContext {
                iso_alpha2: self.country.clone(),
                iso_alpha3: c.map(|c| c.alpha3.to_owned()).unwrap_or_default(),
                name: c.map(|c| c.name.to_owned()).unwrap_or_default(),
            },
        }
    }
}

/// What a line asks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum LineTarget {
    /// The best offer of this EAN at intake.
    Ean {
        /// The EAN (GTIN-13 normalised).
        ean: String,
    },
    /// This refurbisher's offer with this SKU.
    Offer {
        /// The refurbisher's key.
        refurbisher: String,
        /// The refurbisher's SKU.
        sku: String,
    },
}

/// One order line.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Line {
    /// What it asks for.
    pub target: LineTarget,
    /// Units, 1 or more.
    pub quantity: i64,
    /// The price the customer paid per unit, incl. VAT.
    pub unit_price_incl_vat: Decimal,
}

/// A checked channel order.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct OrderDocument {
    /// The channel key.
    pub channel: String,
    /// The channel's order number.
    pub order_number: String,
    /// When the customer placed it.
    pub placed_at: DateTime<Utc>,
    /// The customer's e-mail address.
    pub email: String,
    /// Where it ships to.
    pub shipping_address: Address,
    /// Where the invoice goes, when given.
    pub billing_address: Option<Address>,
    /// The lines.
    pub lines: Vec<Line>,
}

struct Check {
    errors: Vec<FieldError>,
}

pub(crate) fn shown(v: Option<&Value>) -> String {
    let t = v.map_or_else(|| "nothing".to_owned(), Value::to_string);
    if t.chars().count() > 60 {
        format!("{}…", t.chars().take(60).collect::<String>())
    } else {
        t
    }
}

impl Check {
    fn error(&mut self, field: &str, value: Option<&Value>, expected: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            value: shown(value),
            expected: expected.into(),
        });
    }

    fn object<'a>(&mut self, field: &str, v: Option<&'a Value>) -> Option<&'a Map<String, Value>> {
        match v {
            Some(Value::Object(m)) => Some(m),
            other => {
                self.error(field, other, "an object");
                None
            }
        }
    }

    fn unknown_keys(&mut self, prefix: &str, m: &Map<String, Value>, known: &[&str]) {
        for (k, v) in m {
            if !known.contains(&k.as_str()) {
                let mut expected = format!("no such key; known keys: {}", known.join(", "));
                if let Some(s) = did_you_mean(k, known.iter().copied()) {
                    expected = format!("no such key (did you mean `{s}`?)");
                }
                self.error(&join(prefix, k), Some(v), expected);
            }
        }
    }

    /// A required non-empty string of at most `max` characters, trimmed.
    fn text(&mut self, m: &Map<String, Value>, prefix: &str, key: &str, max: usize) -> String {
        self.string(m, prefix, key, max, true).unwrap_or_default()
    }

    /// An optional string (missing, null and "" are empty).
    fn optional_text(
        &mut self,
        m: &Map<String, Value>,
        prefix: &str,
        key: &str,
        max: usize,
    ) -> String {
        self.string(m, prefix, key, max, false).unwrap_or_default()
    }

    fn string(
        &mut self,
        m: &Map<String, Value>,
        prefix: &str,
        key: &str,
        max: usize,
        required: bool,
    ) -> Option<String> {
        let field = join(prefix, key);
        let v = m.get(key);
        let want = |required: bool| {
            format!(
                "{} string of at most {max} characters",
                if required { "a non-empty" } else { "a" }
            )
        };
        match v {
            None | Some(Value::Null) if !required => None,
            Some(Value::String(s)) => {
                let t = s.trim();
                if (required && t.is_empty())
                    || t.chars().count() > max
                    || t.chars().any(char::is_control)
                {
                    self.error(&field, v, want(required));
                    None
                } else {
                    Some(t.to_owned())
                }
            }
            other => {
                self.error(&field, other, want(required));
                None
            }
        }
    }

    fn address(&mut self, field: &str, v: Option<&Value>) -> Option<Address> {
        let m = self.object(field, v)?;
        self.unknown_keys(field, m, ADDRESS_KEYS);
        let before = self.errors.len();
        let country_field = join(field, "country");
        let country = match m.get("country") {
            Some(Value::String(s)) if s.trim().len() == 2 => {
                match country::by_alpha2(&s.trim().to_uppercase()) {
                    Some(c) => c.alpha2.to_owned(),
                    None => {
                        self.error(
                            &country_field,
                            m.get("country"),
                            "an ISO 3166-1 alpha-2 country code, like \"NL\"",
                        );
                        String::new()
                    }
                }
            }
            other => {
                let mut expected = "an ISO 3166-1 alpha-2 country code, like \"NL\"".to_owned();
                if let Some(Value::String(s)) = other
                    && let Some(c) = country::lookup(s)
                {
                    expected.push_str(&format!(" (for {}: \"{}\")", c.name, c.alpha2));
                }
                self.error(&country_field, other, expected);
                String::new()
            }
        };
        let a = Address {
            first_name: self.text(m, field, "first_name", 100),
            last_name: self.text(m, field, "last_name", 100),
            company: self.optional_text(m, field, "company", 100),
            street: self.text(m, field, "street", 200),
            house_number: self.text(m, field, "house_number", 20),
            house_number_addition: self.optional_text(m, field, "house_number_addition", 20),
            zipcode: self.text(m, field, "zipcode", 20),
            city: self.text(m, field, "city", 100),
            country,
            phone: self.optional_text(m, field, "phone", 40),
        };
        (self.errors.len() == before).then_some(a)
    }

    fn line(&mut self, field: &str, v: &Value) -> Option<Line> {
        let m = self.object(field, Some(v))?;
        self.unknown_keys(field, m, LINE_KEYS);
        let before = self.errors.len();
        let has = |k: &str| m.get(k).is_some_and(|v| !v.is_null());
        let target = match (has("ean"), has("refurbisher") || has("sku")) {
            (true, false) => {
                let raw = match m.get("ean") {
                    Some(Value::String(s)) => Some(s.clone()),
                    Some(Value::Number(n)) => Some(n.to_string()),
                    _ => None,
                };
                match raw.as_deref().map(gtin::parse_gtin) {
                    Some(Ok(ean)) => Some(LineTarget::Ean { ean }),
                    Some(Err(e)) => {
                        self.error(
                            &join(field, "ean"),
                            m.get("ean"),
                            format!("a valid EAN/GTIN ({e})"),
                        );
                        None
                    }
                    None => {
                        self.error(
                            &join(field, "ean"),
                            m.get("ean"),
                            "an EAN as a string, like \"8717953204517\"",
                        );
                        None
                    }
                }
            }
            (false, true) => {
                let refurbisher = self.text(m, field, "refurbisher", 100);
                let sku = self.text(m, field, "sku", 200);
                (!refurbisher.is_empty() && !sku.is_empty())
                    .then_some(LineTarget::Offer { refurbisher, sku })
            }
            (true, true) => {
                self.error(
                    field,
                    Some(v),
                    "either `ean` or `refurbisher` and `sku`, not both",
                );
                None
            }
            (false, false) => {
                self.error(
                    &join(field, "ean"),
                    None,
                    "an `ean`, or a `refurbisher` and `sku`",
                );
                None
            }
        };
        let quantity = match m.get("quantity") {
            Some(Value::Number(n))
                if n.as_i64().is_some_and(|q| (1..=MAX_QUANTITY).contains(&q)) =>
            {
                n.as_i64().unwrap_or(0)
            }
            other => {
                self.error(
                    &join(field, "quantity"),
                    other,
                    format!("a whole number from 1 to {MAX_QUANTITY}"),
                );
                0
            }
        };
        let price = match m.get("unit_price_incl_vat") {
            Some(Value::String(s)) => parse_plain_decimal(s),
            Some(Value::Number(n)) => parse_plain_decimal(&n.to_string()),
            _ => None,
        };
        let price = match price {
            Some(p) if !p.is_sign_negative() && p.scale() <= 4 => p,
            _ => {
                self.error(
                    &join(field, "unit_price_incl_vat"),
                    m.get("unit_price_incl_vat"),
                    "an amount of at least 0 with `.` decimals, like \"149.00\"",
                );
                Decimal::ZERO
            }
        };
        if self.errors.len() > before {
            return None;
        }
        Some(Line {
            target: target?,
            quantity,
            unit_price_incl_vat: price,
        })
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

/// Check an order document.
///
/// # Errors
/// Every problem found, each naming its field, value and what was expected.
pub fn parse_order(v: &Value) -> Result<OrderDocument, Vec<FieldError>> {
    let mut c = Check { errors: Vec::new() };
    let Some(m) = c.object("(document)", Some(v)) else {
        return Err(c.errors);
    };
    c.unknown_keys("", m, ORDER_KEYS);
    let channel = c.text(m, "", "channel", 100);
    let order_number = c.text(m, "", "order_number", 100);
    let placed_at = match m.get("placed_at") {
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s.trim()) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                c.error(
                    "placed_at",
                    m.get("placed_at"),
                    "an RFC 3339 timestamp with a time zone, like \"2026-11-23T10:00:00Z\"",
                );
                None
            }
        },
        other => {
            c.error(
                "placed_at",
                other,
                "an RFC 3339 timestamp with a time zone, like \"2026-11-23T10:00:00Z\"",
            );
            None
        }
    };
    let email = match c.object("customer", m.get("customer")) {
        Some(cm) => {
            c.unknown_keys("customer", cm, CUSTOMER_KEYS);
            let e = c.text(cm, "customer", "email", 254);
            if !e.is_empty() && !plausible_email(&e) {
                c.error(
                    "customer.email",
                    cm.get("email"),
                    "an e-mail address, like \"jan@example.nl\"",
                );
            }
            e
        }
        None => String::new(),
    };
    let shipping = c.address("shipping_address", m.get("shipping_address"));
    let billing = match m.get("billing_address") {
        None | Some(Value::Null) => None,
        v => c.address("billing_address", v),
    };
    let mut lines = Vec::new();
    match m.get("lines") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_LINES => {
            for (i, l) in a.iter().enumerate() {
                if let Some(line) = c.line(&format!("lines[{i}]"), l) {
                    lines.push(line);
                }
            }
        }
        other => c.error("lines", other, format!("a list of 1 to {MAX_LINES} lines")),
    }
    if !c.errors.is_empty() {
        return Err(c.errors);
    }
    match (placed_at, shipping) {
        (Some(placed_at), Some(shipping_address)) => Ok(OrderDocument {
            channel,
            order_number,
            placed_at,
            email,
            shipping_address,
            billing_address: billing,
            lines,
        }),
        _ => Err(c.errors),
    }
}

fn plausible_email(e: &str) -> bool {
    match e.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !e.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn valid() -> Value {
        json!({
            "channel": "refurbished-direct",
            "order_number": "RD-100023",
            "placed_at": "2026-11-23T11:00:00+01:00",
            "customer": {"email": "jan@example.nl"},
            "shipping_address": {"first_name": "Jan", "last_name": "de Vries", "street": "Damrak",
                "house_number": "1", "house_number_addition": "A", "zipcode": "1012 LG",
                "city": "Amsterdam", "country": "nl"},
            "lines": [
                {"ean": "8717953204516", "quantity": 1, "unit_price_incl_vat": "149.00"},
                {"refurbisher": "flexit", "sku": "FLX-1", "quantity": 2, "unit_price_incl_vat": 99.5}
            ]
        })
    }

    #[test]
    fn a_valid_order_is_read() {
        let o = parse_order(&valid()).unwrap();
        assert_eq!(o.placed_at.to_rfc3339(), "2026-11-23T10:00:00+00:00");
        assert_eq!(o.shipping_address.country, "NL");
        assert_eq!(
            o.lines[1].target,
            LineTarget::Offer {
                refurbisher: "flexit".into(),
                sku: "FLX-1".into()
            }
        );
        let ctx = o.shipping_address.context(&o.email);
        assert_eq!(ctx.full_name, "Jan de Vries");
        assert_eq!(ctx.full_address, "Damrak 1 A");
        assert_eq!(ctx.country.iso_alpha3, "NLD");
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut v = valid();
        v["placed_at"] = json!("23-11-2026");
        v["customer"]["email"] = json!("jan");
        v["shipping_address"]["country"] = json!("Netherlands");
        v["shipping_address"]["zip"] = json!("1012");
        v["lines"][0]["ean"] = json!("8717953204518");
        v["lines"][1]["quantity"] = json!(0);
        v["lines"][1]["unit_price_incl_vat"] = json!("99,50");
        let errs = parse_order(&v).unwrap_err();
        let shown: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            vec![
                "placed_at: got \"23-11-2026\", expected an RFC 3339 timestamp with a time zone, like \"2026-11-23T10:00:00Z\"",
                "customer.email: got \"jan\", expected an e-mail address, like \"jan@example.nl\"",
                "shipping_address.zip: got \"1012\", expected no such key; known keys: first_name, last_name, company, street, house_number, house_number_addition, zipcode, city, country, phone",
                "shipping_address.country: got \"Netherlands\", expected an ISO 3166-1 alpha-2 country code, like \"NL\" (for Netherlands: \"NL\")",
                "lines[0].ean: got \"8717953204518\", expected a valid EAN/GTIN (check digit is 8, expected 6)",
                "lines[1].quantity: got 0, expected a whole number from 1 to 10000",
                "lines[1].unit_price_incl_vat: got \"99,50\", expected an amount of at least 0 with `.` decimals, like \"149.00\"",
            ]
        );
        assert_eq!(
            parse_order(&json!([])).unwrap_err()[0].to_string(),
            "(document): got [], expected an object"
        );
        let errs = parse_order(&json!({})).unwrap_err();
        assert!(errs.iter().any(|e| e.field == "lines"), "{errs:?}");
        assert!(
            errs.iter()
                .any(|e| e.field == "shipping_address" && e.value == "nothing")
        );
    }
}
