//! The request body of `POST /api/v1/orders` as the OpenAPI document describes it: IRP's
//! channel-order document. The body is read by hand (`irp_core::orders::parse_order`, which
//! names every bad field in the 422 answer rather than stopping at the first), so these types
//! are never built: they are the document's schema of what that parser takes, and the
//! Schemathesis run in `tests/openapi.rs` sends orders generated from them.

// Schema-only types: they describe the JSON the parser takes and are never constructed.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use utoipa::ToSchema;
use utoipa::openapi::{Object, ObjectBuilder, Type};

/// IRP's channel-order document (checked by `irp_core::orders::parse_order`). Unknown keys are
/// errors; every bad field is named in the 422 answer. Texts are trimmed; a required one may not
/// be blank, and no text may hold control characters (the `pattern`s say so).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderDocument {
    /// The channel key (as in `config/channels.json`).
    #[schema(
        example = "refurbished-direct",
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    channel: String,
    /// The channel's order number; channel + order number identify an order (a repeat answers
    /// 200 with the order taken in before).
    #[schema(
        example = "RD-100023",
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    order_number: String,
    /// When the customer placed it: RFC 3339 with a time zone.
    #[schema(example = "2026-11-23T10:00:00Z")]
    placed_at: DateTime<Utc>,
    /// The customer.
    customer: Customer,
    /// Where it ships to.
    shipping_address: Address,
    /// Where the invoice goes (optional).
    billing_address: Option<Address>,
    /// 1 to 500 lines.
    #[schema(min_items = 1, max_items = 500)]
    lines: Vec<OrderLineInput>,
}

/// The customer of an order.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// E-mail address.
    #[schema(example = "jan@example.nl", format = Email, max_length = 254)]
    email: String,
}

/// A postal address as a channel sends it.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Address {
    /// First name.
    #[schema(
        example = "Jan",
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    first_name: String,
    /// Last name.
    #[schema(
        example = "de Vries",
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    last_name: String,
    /// Company.
    #[schema(max_length = 100, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    company: Option<String>,
    /// Street.
    #[schema(
        example = "Damrak",
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    street: String,
    /// House number.
    #[schema(
        example = "1",
        max_length = 20,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    house_number: String,
    /// House number addition.
    #[schema(max_length = 20, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    house_number_addition: Option<String>,
    /// Postal code.
    #[schema(
        example = "1012 LG",
        max_length = 20,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    zipcode: String,
    /// City.
    #[schema(
        example = "Amsterdam",
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    city: String,
    /// ISO 3166-1 alpha-2 country code.
    #[schema(schema_with = country_code)]
    country: String,
    /// Phone number.
    #[schema(max_length = 40, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$")]
    phone: Option<String>,
}

/// Every ISO 3166-1 alpha-2 code the order check knows.
fn country_code() -> Object {
    let codes: Vec<String> = ('A'..='Z')
        .flat_map(|a| ('A'..='Z').map(move |b| format!("{a}{b}")))
        .filter(|c| irp_core::values::country::by_alpha2(c).is_some())
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(
            "ISO 3166-1 alpha-2 country code (lower case is taken too).",
        ))
        .enum_values(Some(codes))
        .examples(["NL"])
        .build()
}

/// One line of an order document: an `ean` (the best offer at intake) or a `refurbisher` and
/// `sku` (that offer), never both.
#[derive(ToSchema)]
#[serde(untagged)]
pub enum OrderLineInput {
    /// The best offer of an EAN.
    ByEan(LineByEan),
    /// One refurbisher's offer.
    ByOffer(LineByOffer),
}

/// A line asking for the best offer of an EAN at intake.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineByEan {
    /// EAN/GTIN (with a valid check digit).
    #[schema(example = "8712345678906", pattern = "^[0-9]{8,14}$")]
    ean: String,
    /// Units.
    #[schema(minimum = 1, maximum = 10000)]
    quantity: i64,
    /// What the customer paid per unit incl. VAT, a decimal with `.` and at most 4 decimals
    /// (a JSON number is taken too).
    #[schema(example = "149.00", pattern = "^[0-9]{1,12}(\\.[0-9]{1,4})?$")]
    unit_price_incl_vat: String,
}

/// A line asking for one refurbisher's offer.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineByOffer {
    /// The refurbisher's key.
    #[schema(
        example = "flexit",
        max_length = 100,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    refurbisher: String,
    /// The refurbisher's SKU.
    #[schema(
        example = "FLX-A",
        max_length = 200,
        pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"
    )]
    sku: String,
    /// Units.
    #[schema(minimum = 1, maximum = 10000)]
    quantity: i64,
    /// What the customer paid per unit incl. VAT, a decimal with `.` and at most 4 decimals
    /// (a JSON number is taken too).
    #[schema(example = "149.00", pattern = "^[0-9]{1,12}(\\.[0-9]{1,4})?$")]
    unit_price_incl_vat: String,
}
