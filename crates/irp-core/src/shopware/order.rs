//! A Shopware 6 order turned into IRP's order document ([`crate::orders`]).
//!
//! Shopware answers `POST /api/search/order` (with `Accept: application/json`) with the order
//! entity and the associations the criteria asked for (`contracts/EXTERNAL-APIS.md` §1.6):
//! `orderCustomer` (the e-mail address), `deliveries` (each with its `stateMachineState` and its
//! `shippingOrderAddress` with `country`), `billingAddress` / `addresses` (with `country`) and
//! `lineItems` (with `product`). An association that was not asked for is `null` or absent, so
//! every missing piece is reported with the association that brings it.
//!
//! Shopware keeps street and house number in one `street` field (`"Damrak 1A"`); IRP keeps
//! them apart, so [`split_street`] splits them. Only `product` lines become IRP lines (their EAN
//! from the product number, after the channel's prefix, or from the product's `ean`); promotion,
//! discount, credit and custom lines are left out and described in [`ShopwareOrder::skipped`].
//! Every problem is collected as a [`FieldError`] naming the path in Shopware's order JSON
//! (`lineItems[2].payload.productNumber`), so one reading tells everything that is wrong.
//!
//! The `checkout.order.placed` webhook (§1.9) carries a copy of the order, but that copy is
//! encoded for the Store API (fewer fields, no `lineItems.product`, other associations), and a
//! webhook is only a hint that something happened. [`order_of_webhook`] therefore only takes the
//! order id from it: the portal reads the order again by id through the search above and
//! reads that answer with [`order_document`]. Pure: no I/O.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Value, json};

use crate::money::parse_plain_decimal;
use crate::orders::{FieldError, MAX_QUANTITY, shown};
use crate::values::country;
use crate::values::gtin::parse_gtin;

/// How a channel reads its shop's orders.
#[derive(Debug, Clone, Copy)]
pub struct OrderReading<'a> {
    /// The IRP channel key the orders come in on (the document's `channel`).
    pub channel: &'a str,
    /// What the channel puts before an EAN to make a Shopware product number (may be empty).
    pub product_number_prefix: &'a str,
    /// The channel's currency (ISO 4217): an order whose `currency.isoCode` differs is refused
    /// (its prices are not the channel's money).
    pub currency: &'a str,
}

/// A Shopware order read: IRP's order document plus what the sync keeps about it.
#[derive(Debug, Clone, PartialEq)]
pub struct ShopwareOrder {
    /// IRP's order document (what [`crate::orders::parse_order`] takes).
    pub document: Value,
    /// Shopware's order id.
    pub order_id: String,
    /// The first delivery's id (the one tracking codes go onto), when the order has one.
    pub delivery_id: Option<String>,
    /// That delivery's state (`stateMachineState.technicalName`, like `open`), when read.
    pub delivery_state: Option<String>,
    /// The lines that are not products, left out of the document, each described
    /// (`promotion line "10% off" (-15.00 in total; …)`).
    pub skipped: Vec<String>,
}

/// What may stand between a house number and its addition (`92-2`, `12/3`) or end a street
/// name (`Damrak, 1A`): dropped when splitting.
const SEPARATORS: &[char] = &['-', '/', ','];

/// Split Shopware's one street field into street name, house number and addition.
///
/// Street name first, as in the Netherlands and Germany: `"Damrak 1A"` → `("Damrak", "1",
/// "A")`, `"Kalverstraat 92-2"` → `("Kalverstraat", "92", "2")`, `"Laan van Meerdervoort 1001
/// bis"` → `("Laan van Meerdervoort", "1001", "bis")`, `"Straße des 17. Juni 135"` →
/// `("Straße des 17. Juni", "135", "")`. Number first, as in France or the UK:
/// `"12 rue de la Paix"` → `("rue de la Paix", "12", "")`, `"221B Baker Street"` →
/// `("Baker Street", "221", "B")`.
///
/// The house number is the digits a word starts with; the rest of that word and (street name
/// first) the words after it are the addition. Ordinals inside a street name (`17.`, `2e`) are
/// not taken for house numbers. Without a house number (`"Postbus"`) the whole text is the
/// street and number and addition are empty. Only whitespace and the separators `-`, `/` and
/// `,` between the parts are dropped.
#[must_use]
pub fn split_street(street: &str) -> (String, String, String) {
    let words: Vec<&str> = street.split_whitespace().collect();
    let last = words.len().saturating_sub(1);
    let trailing = (1..words.len())
        .rev()
        .find(|&i| starts_with_digit(words[i]) && (i == last || !is_ordinal(words[i])));
    let leading =
        (words.len() > 1 && starts_with_digit(words[0]) && !is_ordinal(words[0])).then_some(0);
    match (trailing, leading) {
        (Some(i), leading) if i == last || leading.is_none() => {
            let (number, rest) = leading_digits(words[i]);
            let mut addition = vec![rest];
            addition.extend_from_slice(&words[i + 1..]);
            (
                street_name(&words[..i]),
                number.to_owned(),
                clean_addition(&addition.join(" ")),
            )
        }
        (_, Some(_)) => {
            let (number, rest) = leading_digits(words[0]);
            (
                street_name(&words[1..]),
                number.to_owned(),
                clean_addition(rest),
            )
        }
        _ => (words.join(" "), String::new(), String::new()),
    }
}

fn starts_with_digit(word: &str) -> bool {
    word.starts_with(|c: char| c.is_ascii_digit())
}

/// `17.`, `2e`, `1ste`, `3rd`: an ordinal inside a street name, not a house number.
fn is_ordinal(word: &str) -> bool {
    let (digits, rest) = leading_digits(word);
    !digits.is_empty()
        && matches!(
            rest.to_lowercase().as_str(),
            "." | "e" | "ste" | "de" | "st" | "nd" | "rd" | "th"
        )
}

fn leading_digits(word: &str) -> (&str, &str) {
    let end = word
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(word.len());
    word.split_at(end)
}

fn street_name(words: &[&str]) -> String {
    words
        .join(" ")
        .trim_end_matches(|c: char| SEPARATORS.contains(&c) || c.is_whitespace())
        .to_owned()
}

fn clean_addition(text: &str) -> String {
    text.trim_start_matches(|c: char| SEPARATORS.contains(&c) || c.is_whitespace())
        .trim_end()
        .to_owned()
}

/// A house number written on its own (`12`, `12a`, `92-2`, `1001 bis`), split into number and
/// addition; `None` for anything else (`2nd floor`, `c/o Jansen`).
fn house_number_of(text: &str) -> Option<(String, String)> {
    let t = text.trim();
    let (number, rest) = leading_digits(t);
    let addition = clean_addition(rest);
    (!number.is_empty()
        && addition.chars().count() <= 6
        && addition.split_whitespace().count() <= 1)
        .then(|| (number.to_owned(), addition))
}

/// Where an address was read from.
struct AddressAt<'v> {
    value: &'v Value,
    /// Its path in the order JSON.
    path: String,
    /// The association that brings its country.
    country_association: &'static str,
}

struct Reader {
    errors: Vec<FieldError>,
}

impl Reader {
    fn error(&mut self, field: &str, value: Option<&Value>, expected: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            value: shown(value),
            expected: expected.into(),
        });
    }

    /// A required non-empty string at `path.key` (trimmed).
    fn text(&mut self, v: &Value, path: &str, key: &str) -> String {
        match v.get(key) {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            other => {
                self.error(&at(path, key), other, "a non-empty string");
                String::new()
            }
        }
    }

    fn address(&mut self, a: &AddressAt<'_>) -> Value {
        let (v, path) = (a.value, a.path.as_str());
        let first_name = self.text(v, path, "firstName");
        let last_name = self.text(v, path, "lastName");
        let whole_street = self.text(v, path, "street");
        let (mut street, mut number, mut addition) = split_street(&whole_street);
        if number.is_empty() && !whole_street.is_empty() {
            if let Some((n, add)) = house_number_of(&optional(v, "additionalAddressLine1")) {
                (number, addition) = (n, add);
            } else {
                self.error(
                    &at(path, "street"),
                    v.get("street"),
                    "a street with its house number, like \"Damrak 1A\" (or the house number \
                     in additionalAddressLine1)",
                );
            }
        }
        if street.is_empty() && !whole_street.is_empty() {
            // Nothing but a number: keep it as the street too, so nothing is lost.
            street.clone_from(&whole_street);
        }
        let zipcode = self.text(v, path, "zipcode");
        let city = self.text(v, path, "city");
        let country = self.country(a);
        json!({
            "first_name": first_name,
            "last_name": last_name,
            "company": optional(v, "company"),
            "street": street,
            "house_number": number,
            "house_number_addition": addition,
            "zipcode": zipcode,
            "city": city,
            "country": country,
            "phone": optional(v, "phoneNumber"),
        })
    }

    fn country(&mut self, a: &AddressAt<'_>) -> String {
        let field = at(&a.path, "country.iso");
        let iso = a.value.get("country").and_then(|c| c.get("iso"));
        match iso.and_then(Value::as_str).map(|s| s.trim().to_uppercase()) {
            Some(code) if country::by_alpha2(&code).is_some() => code,
            Some(_) => {
                self.error(
                    &field,
                    iso,
                    "an ISO 3166-1 alpha-2 country code, like \"NL\"",
                );
                String::new()
            }
            None => {
                self.error(
                    &field,
                    iso,
                    format!(
                        "the country association with an ISO code (read the order with \
                         associations {})",
                        a.country_association
                    ),
                );
                String::new()
            }
        }
    }

    /// `orderDateTime` in UTC, RFC 3339 (`2024-10-24T09:12:00Z`).
    fn placed_at(&mut self, order: &Value) -> String {
        let placed = order.get("orderDateTime");
        let parsed = placed
            .and_then(Value::as_str)
            .and_then(|s| DateTime::parse_from_rfc3339(s.trim()).ok());
        if let Some(t) = parsed {
            return t
                .with_timezone(&Utc)
                .to_rfc3339_opts(SecondsFormat::AutoSi, true);
        }
        self.error(
            "orderDateTime",
            placed,
            "an RFC 3339 date-time, like \"2024-10-24T09:12:00.000+00:00\"",
        );
        String::new()
    }

    fn email(&mut self, order: &Value) -> String {
        let email = order.get("orderCustomer").and_then(|c| c.get("email"));
        if let Some(Value::String(s)) = email
            && !s.trim().is_empty()
        {
            return s.trim().to_owned();
        }
        self.error(
            "orderCustomer.email",
            email,
            "the customer's e-mail address (read the order with association orderCustomer)",
        );
        String::new()
    }

    /// The shipping address (the first delivery's, else the billing address) and the billing
    /// address, as IRP addresses.
    fn addresses(
        &mut self,
        order: &Value,
        delivery: Option<&Value>,
    ) -> (Option<Value>, Option<Value>) {
        let shipping_at = delivery
            .and_then(|d| d.get("shippingOrderAddress"))
            .filter(|a| a.is_object())
            .map(|a| AddressAt {
                value: a,
                path: "deliveries[0].shippingOrderAddress".to_owned(),
                country_association: "deliveries.shippingOrderAddress.country",
            });
        let billing = billing_address(order).map(|b| self.address(&b));
        let shipping = match (shipping_at, &billing) {
            (Some(s), _) => Some(self.address(&s)),
            (None, Some(b)) => Some(b.clone()),
            (None, None) => {
                self.error(
                    "deliveries[0].shippingOrderAddress",
                    delivery.and_then(|d| d.get("shippingOrderAddress")),
                    "the delivery's shipping address or the billing address (read the order \
                     with associations deliveries.shippingOrderAddress.country and \
                     billingAddress.country)",
                );
                None
            }
        };
        (shipping, billing)
    }

    /// IRP's lines (the product lines, in `position` order) and the other lines described.
    fn lines(&mut self, order: &Value, how: &OrderReading<'_>) -> (Vec<Value>, Vec<String>) {
        let Some(Value::Array(items)) = order.get("lineItems") else {
            self.error(
                "lineItems",
                order.get("lineItems"),
                "the order's line items (read the order with association lineItems.product)",
            );
            return (Vec::new(), Vec::new());
        };
        let mut lines: Vec<(i64, usize, Value)> = Vec::new();
        let mut skipped = Vec::new();
        let mut products = 0;
        for (i, item) in items.iter().enumerate() {
            if item.get("type").and_then(Value::as_str) == Some("product") {
                products += 1;
                if let Some(line) = self.product_line(item, i, how) {
                    let position = item
                        .get("position")
                        .and_then(Value::as_i64)
                        .unwrap_or(i64::MAX);
                    lines.push((position, i, line));
                }
            } else {
                skipped.push(describe_skipped(item));
            }
        }
        if products == 0 {
            self.error(
                "lineItems",
                order.get("lineItems"),
                "at least one product line",
            );
        }
        lines.sort_by_key(|(position, i, _)| (*position, *i));
        (lines.into_iter().map(|(_, _, l)| l).collect(), skipped)
    }

    /// IRP's line for the product line `item` at `lineItems[i]`.
    fn product_line(&mut self, item: &Value, i: usize, how: &OrderReading<'_>) -> Option<Value> {
        let path = format!("lineItems[{i}]");
        let before = self.errors.len();
        let ean = self.ean(item, &path, how);
        let quantity = item.get("quantity");
        let quantity = match quantity.and_then(Value::as_i64) {
            Some(q) if (1..=MAX_QUANTITY).contains(&q) => q,
            _ => {
                self.error(
                    &at(&path, "quantity"),
                    quantity,
                    format!("a whole number from 1 to {MAX_QUANTITY}"),
                );
                0
            }
        };
        let price = item.get("unitPrice");
        let unit_price = match amount(price) {
            Some(p) if !p.is_sign_negative() => two_decimals(p),
            _ => {
                self.error(
                    &at(&path, "unitPrice"),
                    price,
                    "the unit price incl. VAT, a number of at least 0",
                );
                String::new()
            }
        };
        (self.errors.len() == before).then(|| {
            json!({
                "ean": ean,
                "quantity": quantity,
                "unit_price_incl_vat": unit_price,
            })
        })
    }

    /// The EAN of a product line: its product number (the channel's prefix stripped) when that
    /// is a GTIN, else the product's `ean`.
    fn ean(&mut self, item: &Value, path: &str, how: &OrderReading<'_>) -> String {
        let payload_number = item.get("payload").and_then(|p| p.get("productNumber"));
        let product = item.get("product");
        let product_number = product.and_then(|p| p.get("productNumber"));
        let number = payload_number
            .and_then(Value::as_str)
            .or_else(|| product_number.and_then(Value::as_str));
        let from_number = number.and_then(|n| {
            let n = n.trim();
            let n = if how.product_number_prefix.is_empty() {
                n
            } else {
                n.strip_prefix(how.product_number_prefix).unwrap_or(n)
            };
            parse_gtin(n).ok()
        });
        let from_product = || {
            product
                .and_then(|p| p.get("ean"))
                .and_then(Value::as_str)
                .and_then(|e| parse_gtin(e).ok())
        };
        if let Some(ean) = from_number.or_else(from_product) {
            return ean;
        }
        self.error(
            &at(path, "payload.productNumber"),
            payload_number.or(product_number),
            format!(
                "a product number that is an EAN (after the channel's product_number_prefix \
                 {:?}) or a product with an EAN",
                how.product_number_prefix
            ),
        );
        String::new()
    }
}

/// The path of `key` inside `path` (the top level when `path` is empty).
fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// An optional string (trimmed; missing, `null` and non-strings are empty).
fn optional(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// A JSON amount (a number, or a decimal string), exactly as written.
fn amount(v: Option<&Value>) -> Option<Decimal> {
    let text = match v? {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_owned(),
        _ => return None,
    };
    parse_plain_decimal(&text).or_else(|| Decimal::from_scientific(&text).ok())
}

/// `160.225` → `"160.23"`: half-up to cents, always two decimals.
fn two_decimals(d: Decimal) -> String {
    let mut r = d.round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    r.rescale(2);
    r.to_string()
}

/// How a line that is not a product is described in [`ShopwareOrder::skipped`].
fn describe_skipped(item: &Value) -> String {
    let kind = item
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("untyped");
    let label = item.get("label").and_then(Value::as_str).unwrap_or("");
    let total = amount(item.get("totalPrice"));
    let mut notes = Vec::new();
    if let Some(t) = total {
        notes.push(format!("{} in total", two_decimals(t)));
    }
    if matches!(kind, "promotion" | "discount" | "credit")
        || total.is_some_and(|t| t < Decimal::ZERO)
    {
        notes.push(
            "the customer pays that much less; IRP's lines keep the products' unit prices"
                .to_owned(),
        );
    }
    if notes.is_empty() {
        format!("{kind} line {label:?}")
    } else {
        format!("{kind} line {label:?} ({})", notes.join("; "))
    }
}

/// The billing address: `billingAddress`, or the entry of `addresses` with `billingAddressId`.
fn billing_address(order: &Value) -> Option<AddressAt<'_>> {
    if let Some(b @ Value::Object(_)) = order.get("billingAddress") {
        return Some(AddressAt {
            value: b,
            path: "billingAddress".to_owned(),
            country_association: "billingAddress.country",
        });
    }
    let id = order.get("billingAddressId").and_then(Value::as_str)?;
    order
        .get("addresses")?
        .as_array()?
        .iter()
        .enumerate()
        .find(|(_, a)| a.get("id").and_then(Value::as_str) == Some(id))
        .map(|(k, a)| AddressAt {
            value: a,
            path: format!("addresses[{k}]"),
            country_association: "addresses.country",
        })
}

/// Read a Shopware order (an element of `POST /api/search/order`'s `data`, read with the
/// associations `lineItems.product`, `deliveries.shippingOrderAddress.country`,
/// `deliveries.stateMachineState`, `addresses.country`, `billingAddress.country` and
/// `orderCustomer`) as IRP's order document for the channel `how` describes.
///
/// The shipping address is the first delivery's `shippingOrderAddress` (the billing address
/// when there is none); `placed_at` is `orderDateTime` in UTC; the lines are the `product` lines
/// in `position` order, each with its EAN, quantity and unit price incl. VAT (half-up to cents).
///
/// # Errors
/// Every problem found, each naming its path in Shopware's order JSON, the value there and what
/// was expected: a missing id, order number, date or e-mail address, an address without house
/// number or without its country association, a product line without an EAN, an order without
/// product lines.
pub fn order_document(
    order: &Value,
    how: &OrderReading<'_>,
) -> Result<ShopwareOrder, Vec<FieldError>> {
    let mut r = Reader { errors: Vec::new() };
    if !order.is_object() {
        r.error("(order)", Some(order), "a Shopware order object");
        return Err(r.errors);
    }
    let order_id = r.text(order, "", "id");
    let order_number = r.text(order, "", "orderNumber");
    let placed_at = r.placed_at(order);
    let email = r.email(order);
    let delivery = order
        .get("deliveries")
        .and_then(Value::as_array)
        .and_then(|d| d.first());
    let delivery_id = delivery
        .and_then(|d| d.get("id"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned);
    let delivery_state = delivery
        .and_then(|d| d.get("stateMachineState"))
        .and_then(|s| s.get("technicalName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let (shipping, billing) = r.addresses(order, delivery);
    let (lines, skipped) = r.lines(order, how);
    // Line prices are read as prices incl. VAT in the channel's currency: an order priced net
    // (a B2B sales channel) or in another currency would send wrong amounts on.
    if let Some(status) = order.get("taxStatus").filter(|v| !v.is_null())
        && status.as_str() != Some("gross")
    {
        r.error(
            "taxStatus",
            Some(status),
            "\"gross\" (prices incl. VAT): an order of a net or tax-free sales channel is not read by this channel",
        );
    }
    if let Some(iso) = order.pointer("/currency/isoCode").filter(|v| !v.is_null())
        && !iso
            .as_str()
            .is_some_and(|c| c.eq_ignore_ascii_case(how.currency))
    {
        r.error(
            "currency.isoCode",
            Some(iso),
            format!("the channel's currency {}", how.currency),
        );
    }
    if !r.errors.is_empty() {
        return Err(r.errors);
    }

    let mut document = Map::new();
    document.insert("channel".into(), json!(how.channel));
    document.insert("order_number".into(), json!(order_number));
    document.insert("placed_at".into(), json!(placed_at));
    document.insert("customer".into(), json!({ "email": email }));
    document.insert("shipping_address".into(), shipping.unwrap_or(Value::Null));
    if let Some(b) = billing {
        document.insert("billing_address".into(), b);
    }
    document.insert("lines".into(), Value::Array(lines));
    Ok(ShopwareOrder {
        document: Value::Object(document),
        order_id,
        delivery_id,
        delivery_state,
        skipped,
    })
}

/// The order id a `checkout.order.placed` webhook body names, with the body's order object.
///
/// Only the id is meant to be used: the order is read again by id (see the module docs).
///
/// # Errors
/// What is wrong with the body, as a phrase: not an object, another event (named), no
/// `data.payload.order` object, no `data.payload.order.id`.
pub fn order_of_webhook(body: &Value) -> Result<(&str, &Value), String> {
    if !body.is_object() {
        return Err("the webhook body is not a JSON object".to_owned());
    }
    match body.pointer("/data/event") {
        Some(Value::String(e)) if e == "checkout.order.placed" => {}
        Some(Value::String(e)) => {
            return Err(format!(
                "the webhook is for the event {e:?}, not \"checkout.order.placed\""
            ));
        }
        Some(other) => {
            return Err(format!(
                "the webhook body's data.event is {}, not \"checkout.order.placed\"",
                shown(Some(other))
            ));
        }
        None => return Err("the webhook body has no data.event".to_owned()),
    }
    let Some(order @ Value::Object(_)) = body.pointer("/data/payload/order") else {
        return Err("the webhook body has no data.payload.order object".to_owned());
    };
    match order.get("id").and_then(Value::as_str).map(str::trim) {
        Some(id) if !id.is_empty() => Ok((id, order)),
        _ => Err("the webhook body has no data.payload.order.id".to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::orders::{LineTarget, parse_order};
    use proptest::prelude::*;

    const E1: &str = "8712345678906";
    const E2: &str = "8712345678913";

    fn how() -> OrderReading<'static> {
        OrderReading {
            channel: "refurbished-direct",
            product_number_prefix: "",
            currency: "EUR",
        }
    }

    fn address(id: &str, street: &str) -> Value {
        json!({
            "id": id, "firstName": "Jan", "lastName": "de Vries", "company": null,
            "street": street, "additionalAddressLine1": null, "additionalAddressLine2": null,
            "zipcode": "1012 LG", "city": "Amsterdam", "phoneNumber": "0612345678",
            "countryId": "c1", "apiAlias": "order_address",
            "country": {"id": "c1", "iso": "nl", "iso3": "NLD", "name": "Nederland", "apiAlias": "country"},
        })
    }

    fn product(id: &str, number: &str, ean: Option<&str>, quantity: i64, unit: f64) -> Value {
        json!({
            "id": id, "orderId": "9a1b", "productId": "p", "referencedId": "p", "identifier": "p",
            "type": "product", "label": "iPhone 12 128GB Black (refurbished A)",
            "quantity": quantity, "unitPrice": unit, "totalPrice": unit * 2.0, "good": true,
            "position": 1, "parentId": null,
            "payload": {"productNumber": number, "stock": 7, "isCloseout": false, "customFields": {},
                "purchasePrices": "{\"currencyId\":\"b7d2554b0ce847cd82f3ac9bd1c0dfca\",\"net\":180,\"gross\":214.2,\"linked\":true}"},
            "product": {"id": "p", "productNumber": number, "ean": ean, "apiAlias": "product"},
            "apiAlias": "order_line_item",
        })
    }

    /// An order as `POST /api/search/order` answers it (§1.6), with every association IRP asks
    /// for: two products, a promotion, a delivery to Damrak and a separate billing address.
    fn order() -> Value {
        let mut second = product("li2", E2, None, 1, 349.0);
        second["position"] = json!(2);
        json!({
            "id": "9a1b2c3d4e5f40718293a4b5c6d7e8f9", "versionId": "0fa91ce3e96a4bc2be4bd9ce752c3425",
            "orderNumber": "10042", "orderDateTime": "2024-10-24T11:12:00.000+02:00",
            "salesChannelId": "98432def39fc4624b33213a56b8c944d", "amountTotal": 659.45,
            "stateMachineState": {"technicalName": "open", "apiAlias": "state_machine_state"},
            "orderCustomer": {"email": "jan@example.nl", "firstName": "Jan", "lastName": "de Vries",
                "company": null, "apiAlias": "order_customer"},
            "billingAddressId": "b1",
            "billingAddress": address("b1", "Kalverstraat 92-2"),
            "addresses": [address("b1", "Kalverstraat 92-2"), address("s1", "Damrak 1A")],
            "deliveries": [{"id": "d1f0", "orderId": "9a1b", "shippingOrderAddressId": "s1",
                "trackingCodes": [], "stateMachineState": {"technicalName": "open"},
                "shippingOrderAddress": address("s1", "Damrak 1A"), "apiAlias": "order_delivery"}],
            "lineItems": [
                second,
                {"id": "li3", "type": "promotion", "label": "10% off", "quantity": 1,
                 "unitPrice": -15.0, "totalPrice": -15.0, "position": 3, "payload": {"code": "TEN"},
                 "product": null, "apiAlias": "order_line_item"},
                product("li1", E1, None, 2, 160.225),
            ],
        })
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn a_full_order_becomes_a_document_irp_takes() {
        let read = order_document(&order(), &how()).unwrap();
        assert_eq!(read.order_id, "9a1b2c3d4e5f40718293a4b5c6d7e8f9");
        assert_eq!(read.delivery_id.as_deref(), Some("d1f0"));
        assert_eq!(read.delivery_state.as_deref(), Some("open"));
        assert_eq!(
            read.skipped,
            [
                "promotion line \"10% off\" (-15.00 in total; the customer pays that much less; \
              IRP's lines keep the products' unit prices)"
            ]
        );
        assert_eq!(read.document["placed_at"], "2024-10-24T09:12:00Z");
        assert_eq!(
            read.document["lines"],
            json!([
                {"ean": E1, "quantity": 2, "unit_price_incl_vat": "160.23"},
                {"ean": E2, "quantity": 1, "unit_price_incl_vat": "349.00"},
            ])
        );

        let doc = parse_order(&read.document).unwrap();
        assert_eq!(doc.channel, "refurbished-direct");
        assert_eq!(doc.order_number, "10042");
        assert_eq!(doc.placed_at.to_rfc3339(), "2024-10-24T09:12:00+00:00");
        assert_eq!(doc.email, "jan@example.nl");
        let s = &doc.shipping_address;
        assert_eq!(
            (
                s.street.as_str(),
                s.house_number.as_str(),
                s.house_number_addition.as_str()
            ),
            ("Damrak", "1", "A")
        );
        assert_eq!(
            (s.country.as_str(), s.phone.as_str(), s.company.as_str()),
            ("NL", "0612345678", "")
        );
        let b = doc.billing_address.unwrap();
        assert_eq!(
            (
                b.street.as_str(),
                b.house_number.as_str(),
                b.house_number_addition.as_str()
            ),
            ("Kalverstraat", "92", "2")
        );
        assert_eq!(doc.lines.len(), 2);
        assert_eq!(doc.lines[0].target, LineTarget::Ean { ean: E1.into() });
        assert_eq!(doc.lines[0].quantity, 2);
        assert_eq!(doc.lines[0].unit_price_incl_vat.to_string(), "160.23");
    }

    #[test]
    fn the_channel_prefix_is_stripped_and_the_product_ean_is_the_fallback() {
        let mut o = order();
        o["lineItems"] = json!([
            product("a", &format!("ECO-{E1}"), None, 1, 10.0),
            product("b", "RF-IPH12-128-B", Some(E2), 1, 20.0),
        ]);
        let eco = OrderReading {
            channel: "econocom",
            product_number_prefix: "ECO-",
            currency: "EUR",
        };
        let read = order_document(&o, &eco).unwrap();
        assert_eq!(read.document["channel"], "econocom");
        assert_eq!(read.document["lines"][0]["ean"], E1);
        assert_eq!(read.document["lines"][1]["ean"], E2);
        assert!(read.skipped.is_empty());
        parse_order(&read.document).unwrap();
    }

    #[test]
    fn a_gift_card_without_ean_is_named() {
        let mut o = order();
        o["lineItems"] = json!([
            product("a", E1, None, 1, 10.0),
            product("g", "GIFTCARD-25", Some(""), 1, 25.0)
        ]);
        let errors = order_document(&o, &how()).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(
            errors[0].to_string(),
            "lineItems[1].payload.productNumber: got \"GIFTCARD-25\", expected a product number \
             that is an EAN (after the channel's product_number_prefix \"\") or a product with an EAN"
        );
    }

    #[test]
    fn a_missing_country_association_names_the_association() {
        let mut o = order();
        o["deliveries"][0]["shippingOrderAddress"]["country"] = Value::Null;
        let errors = order_document(&o, &how()).unwrap_err();
        assert_eq!(
            fields(&errors),
            ["deliveries[0].shippingOrderAddress.country.iso"]
        );
        assert_eq!(errors[0].value, "nothing");
        assert!(
            errors[0]
                .expected
                .contains("associations deliveries.shippingOrderAddress.country"),
            "{errors:?}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut o = order();
        o.as_object_mut().unwrap().remove("id");
        o["orderNumber"] = Value::Null;
        o["orderDateTime"] = json!("24-10-2024");
        o["orderCustomer"] = Value::Null;
        o["billingAddress"]["country"] = json!({"iso": "XX"});
        o["deliveries"][0]["shippingOrderAddress"]["street"] = json!("Postbus");
        o["lineItems"][2]["quantity"] = json!(0);
        o["lineItems"][0]["unitPrice"] = json!("gratis");
        let errors = order_document(&o, &how()).unwrap_err();
        assert_eq!(
            fields(&errors),
            [
                "id",
                "orderNumber",
                "orderDateTime",
                "orderCustomer.email",
                "billingAddress.country.iso",
                "deliveries[0].shippingOrderAddress.street",
                "lineItems[0].unitPrice",
                "lineItems[2].quantity",
            ]
        );
        assert_eq!(errors[5].value, "\"Postbus\"");
    }

    #[test]
    fn without_delivery_address_the_billing_address_is_shipped_to() {
        let mut o = order();
        o["deliveries"] = json!([]);
        o.as_object_mut().unwrap().remove("billingAddress");
        o["addresses"][0]["street"] = json!("Postbus");
        o["addresses"][0]["additionalAddressLine1"] = json!("12 bis");
        let read = order_document(&o, &how()).unwrap();
        assert_eq!((read.delivery_id, read.delivery_state), (None, None));
        let doc = parse_order(&read.document).unwrap();
        assert_eq!(doc.shipping_address.street, "Postbus");
        assert_eq!(doc.shipping_address.house_number, "12");
        assert_eq!(doc.shipping_address.house_number_addition, "bis");
        assert_eq!(doc.billing_address, Some(doc.shipping_address.clone()));

        o["addresses"] = Value::Null;
        let errors = order_document(&o, &how()).unwrap_err();
        assert_eq!(fields(&errors), ["deliveries[0].shippingOrderAddress"]);
    }

    #[test]
    fn an_order_without_products_is_refused_and_other_lines_are_described() {
        let mut o = order();
        o["lineItems"] = json!([
            {"id": "c", "type": "custom", "label": "Gravure", "quantity": 1, "unitPrice": 5, "totalPrice": 5},
            {"id": "k", "type": "credit", "label": "Goodwill", "quantity": 1, "unitPrice": -5, "totalPrice": -5},
        ]);
        let errors = order_document(&o, &how()).unwrap_err();
        assert_eq!(fields(&errors), ["lineItems"]);
        assert_eq!(errors[0].expected, "at least one product line");
        o["lineItems"]
            .as_array_mut()
            .unwrap()
            .push(product("p", E1, None, 1, 5.0));
        let read = order_document(&o, &how()).unwrap();
        assert_eq!(
            read.skipped,
            [
                "custom line \"Gravure\" (5.00 in total)",
                "credit line \"Goodwill\" (-5.00 in total; the customer pays that much less; \
                 IRP's lines keep the products' unit prices)",
            ]
        );
        o.as_object_mut().unwrap().remove("lineItems");
        let errors = order_document(&o, &how()).unwrap_err();
        assert_eq!(fields(&errors), ["lineItems"]);
        assert!(errors[0].expected.contains("lineItems.product"));
    }

    #[test]
    fn streets_split_into_name_number_and_addition() {
        for (street, want) in [
            ("Damrak 1A", ("Damrak", "1", "A")),
            ("Kalverstraat 92-2", ("Kalverstraat", "92", "2")),
            (
                "Laan van Meerdervoort 1001 bis",
                ("Laan van Meerdervoort", "1001", "bis"),
            ),
            (
                "Straße des 17. Juni 135",
                ("Straße des 17. Juni", "135", ""),
            ),
            ("Hoofdstraat 12 A", ("Hoofdstraat", "12", "A")),
            ("Keizersgracht 123-H", ("Keizersgracht", "123", "H")),
            ("Oudegracht 12bis", ("Oudegracht", "12", "bis")),
            ("12 rue de la Paix", ("rue de la Paix", "12", "")),
            ("221B Baker Street", ("Baker Street", "221", "B")),
            ("12 rue du 4 Septembre", ("rue du 4 Septembre", "12", "")),
            (
                "2e Jan Steenstraat 12 hs",
                ("2e Jan Steenstraat", "12", "hs"),
            ),
            ("Damrak, 1A", ("Damrak", "1", "A")),
            ("  Damrak   1 ", ("Damrak", "1", "")),
            ("Straße des 17. Juni", ("Straße des 17. Juni", "", "")),
            ("Postbus", ("Postbus", "", "")),
            ("", ("", "", "")),
        ] {
            let (s, n, a) = split_street(street);
            assert_eq!((s.as_str(), n.as_str(), a.as_str()), want, "{street:?}");
        }
    }

    fn kept(text: &str) -> String {
        text.chars()
            .filter(|c| !c.is_whitespace() && !SEPARATORS.contains(c))
            .collect()
    }

    proptest! {
        #[test]
        fn splitting_a_street_drops_nothing_but_spaces_and_separators(
            street in "[A-Za-zß0-9 ,./-]{0,40}"
        ) {
            let (s, n, a) = split_street(&street);
            prop_assert!(n.chars().all(|c| c.is_ascii_digit()), "{n:?}");
            let want = kept(&street);
            let street_first = kept(&format!("{s}{n}{a}"));
            let number_first = kept(&format!("{n}{a}{s}"));
            prop_assert!(
                want == street_first || want == number_first,
                "{street:?} -> {s:?} {n:?} {a:?}"
            );
        }
    }

    #[test]
    fn a_net_priced_or_foreign_currency_order_is_refused_naming_why() {
        let mut o = order();
        o["taxStatus"] = json!("net");
        o["currency"] = json!({"isoCode": "USD", "apiAlias": "currency"});
        let errors = order_document(&o, &how()).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert!(
            fields.contains(&"taxStatus") && fields.contains(&"currency.isoCode"),
            "{errors:?}"
        );
        o["taxStatus"] = json!("gross");
        o["currency"] = json!({"isoCode": "EUR", "apiAlias": "currency"});
        assert!(order_document(&o, &how()).is_ok());
    }

    #[test]
    fn a_webhook_names_its_order() {
        let body = json!({"data": {"event": "checkout.order.placed",
            "payload": {"order": {"id": "9a1b", "orderNumber": "10042", "apiAlias": "order"}}},
            "source": {"url": "https://shop.example", "shopId": "dgrH7nLU6tlE"}, "timestamp": 1_729_761_120});
        let (id, o) = order_of_webhook(&body).unwrap();
        assert_eq!(id, "9a1b");
        assert_eq!(o["orderNumber"], "10042");

        let other = json!({"data": {"event": "product.written", "payload": []}});
        assert_eq!(
            order_of_webhook(&other).unwrap_err(),
            "the webhook is for the event \"product.written\", not \"checkout.order.placed\""
        );
        assert_eq!(
            order_of_webhook(&json!({})).unwrap_err(),
            "the webhook body has no data.event"
        );
        assert_eq!(
            order_of_webhook(&json!([])).unwrap_err(),
            "the webhook body is not a JSON object"
        );
        let no_order = json!({"data": {"event": "checkout.order.placed", "payload": {}}});
        assert_eq!(
            order_of_webhook(&no_order).unwrap_err(),
            "the webhook body has no data.payload.order object"
        );
        for id in [json!(""), Value::Null, json!(12)] {
            let no_id = json!({"data": {"event": "checkout.order.placed", "payload": {"order": {"id": id}}}});
            assert_eq!(
                order_of_webhook(&no_id).unwrap_err(),
                "the webhook body has no data.payload.order.id"
            );
        }
    }
}
