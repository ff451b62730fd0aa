//! The OpenAPI document of the REST API ([`super::api`]), served at `GET /api/v1/openapi.json`.
//!
//! The paths come from the handlers themselves (`#[utoipa::path]` on each, registered with
//! utoipa-axum's `routes!`, so a route cannot be served without being documented). This module
//! holds the rest: the document's info, tags and bearer security scheme, and **schema-only
//! mirrors** of the JSON that types from other crates (irp-store, irp-core, irp-pipeline) and the
//! CLI's JSON builders (`cli::products`, `cli::offers`) produce — those types do not derive
//! `ToSchema`, so their shape is written down here. The mirrors are never built; the
//! Schemathesis run in `tests/openapi.rs` checks the answers against them.

// Schema-only types: they describe JSON and are never constructed.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use serde_json::Value;
use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{Object, ObjectBuilder, Type};
use utoipa::{Modify, OpenApi, ToSchema};

/// The document's title.
pub const TITLE: &str = "IRP — Refurbisher Portal API";

/// The parts of the document that are not paths: info, tags, the security scheme and the
/// error schema. The paths are added by `api::api_router`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "IRP — Refurbisher Portal API",
        version = env!("CARGO_PKG_VERSION"),
        license(name = "UNLICENSED (not published)"),
        description = "The REST API of IRP, the Refurbisher Portal: orders in, supplier orders, \
shipments, alerts, the monitor and the catalog.\n\n\
Every operation except this document needs an API token: `Authorization: Bearer <token>` \
(`irp token create NAME [--role viewer|operator]`). Viewer tokens read; taking orders in, \
retrying, cancelling, matching and dismissing need an operator token.\n\n\
**Errors** are JSON: `{\"code\": \"…\", \"error\": \"…\"}` (see the `ApiError` schema); `code` is \
stable, `error` is for people. A 422 (`invalid`) also names each bad field in \
`errors: [{field, value, expected}]`.\n\n\
**Lists** take `limit` and `offset` and answer the page with `next_offset`: the `offset` of \
the next page, `null` on the last page."
    ),
    tags(
        (name = "orders", description = "Customer orders taken in from the channels"),
        (name = "supplier-orders", description = "The part of an order one refurbisher fulfils, and its calls to the refurbisher"),
        (name = "shipments", description = "Shipments the refurbishers sent to their webhook"),
        (name = "monitoring", description = "Alerts and the monitor's readings"),
        (name = "catalog", description = "Products and offers, priced"),
        (name = "channels", description = "The storefront channels and their Shopware sync"),
        (name = "meta", description = "This document"),
    ),
    security(("bearer" = [])),
    modifiers(&BearerScheme),
)]
pub struct ApiDoc;

/// Adds the `bearer` security scheme the operations name.
struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, openapi: &mut Document) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .description(Some(
                            "An API token made with `irp token create NAME` (printed once), \
                             sent as `Authorization: Bearer <token>`.",
                        ))
                        .build(),
                ),
            );
    }
}

// ---------------------------------------------------------------------------------------------
// Request bodies.

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

// ---------------------------------------------------------------------------------------------
// Errors.

/// One bad field of a 422 answer.
#[derive(ToSchema)]
pub struct FieldError {
    /// JSON path of the field, like `lines[0].quantity`; for a query or path parameter its name.
    #[schema(example = "lines[0].quantity")]
    field: String,
    /// What was there, as JSON (shortened); `nothing` when it was missing.
    #[schema(example = "-1")]
    value: String,
    /// What was expected.
    #[schema(example = "a whole number from 1 to 10000")]
    expected: String,
}

// ---------------------------------------------------------------------------------------------
// Orders (irp_store::orders).

/// A customer order as stored.
#[derive(ToSchema)]
pub struct Order {
    /// IRP's order id.
    id: i64,
    /// The channel key.
    channel: String,
    /// The channel's order number.
    order_number: String,
    /// When the customer placed it.
    placed_at: DateTime<Utc>,
    /// The customer's e-mail address.
    customer_email: String,
    /// The shipping address as given.
    #[schema(value_type = Object)]
    shipping_address: Value,
    /// The billing address as given.
    #[schema(value_type = Option<Object>)]
    billing_address: Option<Value>,
    /// `routed` or `needs_attention`.
    status: String,
    /// The document as received.
    #[schema(value_type = Object)]
    document: Value,
    /// When IRP took it in.
    created_at: DateTime<Utc>,
}

/// One line of an order, with what it was routed to.
#[derive(ToSchema)]
pub struct OrderLine {
    /// Line id.
    id: i64,
    /// The order.
    order_id: i64,
    /// 1-based position in the order.
    line_number: i64,
    /// The supplier order it is placed with (none while it needs attention).
    supplier_order_id: Option<i64>,
    /// EAN.
    ean: Option<String>,
    /// The refurbisher's SKU.
    sku: Option<String>,
    /// The offer's feed name.
    name: Option<String>,
    /// The refurbisher.
    refurbisher_id: Option<i64>,
    /// The offer.
    offer_id: Option<i64>,
    /// Units.
    quantity: i64,
    /// What the customer paid per unit incl. VAT, minor units of `currency`.
    unit_price_incl_minor: i64,
    /// The purchase price per unit excl. VAT, frozen at intake, minor units of
    /// `purchase_currency`.
    purchase_price_minor: Option<i64>,
    /// Its currency.
    purchase_currency: Option<String>,
    /// VAT percentage, a decimal as text.
    tax_percentage: Option<String>,
    /// The channel's currency.
    currency: String,
    /// `routed` or `needs_attention`.
    status: String,
    /// Why it needs attention.
    attention_reason: Option<String>,
}

/// A supplier order: the part of an order one refurbisher fulfils.
#[derive(ToSchema)]
pub struct SupplierOrder {
    /// Supplier order id.
    id: i64,
    /// The customer order.
    order_id: i64,
    /// The refurbisher.
    refurbisher_id: i64,
    /// `pending`, `submitting`, `submitted`, `needs_attention`, `failed`, `internal`, `shipped`,
    /// `cancelled`.
    status: String,
    /// Sent with every attempt so the refurbisher can recognise a repeat.
    idempotency_key: String,
    /// Attempts made.
    attempts: i64,
    /// When the next attempt is due.
    next_attempt_at: Option<DateTime<Utc>>,
    /// The refurbisher's own order id.
    external_order_reference: Option<String>,
    /// Values copied from the refurbisher's answer.
    external_fields: Value,
    /// Why the last attempt failed.
    last_error: Option<String>,
    /// `attempts` when an operator last retried it (automatic retries count from there).
    retry_from: i64,
    /// Who holds the claim while `submitting`.
    lease_owner: Option<String>,
    /// Until when.
    lease_until: Option<DateTime<Utc>>,
    /// Created.
    created_at: DateTime<Utc>,
    /// Last changed.
    updated_at: DateTime<Utc>,
}

/// A supplier order with each call made to the refurbisher and the shipments it has.
#[derive(ToSchema)]
pub struct SupplierOrderDetail {
    #[serde(flatten)]
    supplier_order: SupplierOrder,
    /// Each call (or the claim of one) to the refurbisher's order API.
    attempts_made: Vec<Attempt>,
    /// The shipments linked to it.
    shipments: Vec<Shipment>,
    /// Its document in the back office (Odoo), once the ERP connector gave it one.
    erp: Option<ErpDocument>,
}

/// A supplier order's document in Odoo: a purchase order (drop-ship) or a sales order
/// (internal fulfilment).
#[derive(ToSchema)]
pub struct ErpDocument {
    /// The supplier order.
    supplier_order_id: i64,
    /// Its customer order.
    order_id: i64,
    /// That order's channel.
    channel: String,
    /// Its order number.
    order_number: String,
    /// The refurbisher's key.
    refurbisher: String,
    /// `purchase_order`, `sales_order` or `none`.
    kind: String,
    /// `pending`, `working`, `done`, `failed` or `skipped`.
    status: String,
    /// IRP's reference on the Odoo document (`IRP-SO-<id>`), which a retry searches for.
    reference: String,
    /// `purchase.order` or `sale.order`, once created.
    odoo_model: Option<String>,
    /// The Odoo record id, once created.
    odoo_id: Option<i64>,
    /// The Odoo document's name (`P00012`).
    odoo_name: Option<String>,
    /// Attempts made.
    attempts: i64,
    /// `attempts` when an operator last retried it.
    retry_from: i64,
    /// When the next attempt is due.
    next_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed (Odoo's message).
    last_error: Option<String>,
    /// Created.
    created_at: DateTime<Utc>,
    /// Last changed.
    updated_at: DateTime<Utc>,
    /// When it reached Odoo.
    done_at: Option<DateTime<Utc>>,
}

/// One call (or the claim of one) to a refurbisher's order API.
#[derive(ToSchema)]
pub struct Attempt {
    /// Attempt id.
    id: i64,
    /// The supplier order.
    supplier_order_id: i64,
    /// 1, 2, …
    attempt_number: i64,
    /// When it was claimed.
    started_at: DateTime<Utc>,
    /// When its outcome was recorded.
    finished_at: Option<DateTime<Utc>>,
    /// The request as sent, credentials redacted.
    request: Option<Value>,
    /// The answer's HTTP status.
    response_status: Option<i64>,
    /// The answer's body (at most 64 KiB).
    response_body: Option<String>,
    /// `sending` while under way, then `submitted`, `retry`, `failed`, `needs_attention` or
    /// `unknown` (the process stopped during the call).
    outcome: String,
    /// What went wrong.
    error: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Shipments (irp_store::shipments).

/// A shipment a refurbisher sent to its webhook.
#[derive(ToSchema)]
pub struct Shipment {
    /// Shipment id.
    id: i64,
    /// The refurbisher that sent it.
    refurbisher_id: i64,
    /// Its connector key.
    refurbisher: String,
    /// `matched`, `unmatched` or `dismissed`.
    status: String,
    /// Why it is unmatched.
    reason: Option<String>,
    /// The supplier order it belongs to.
    supplier_order_id: Option<i64>,
    /// The channel order number of that supplier order.
    order_number: Option<String>,
    /// The refurbisher's order reference, as sent.
    external_order_id: Option<String>,
    /// The tracking code.
    track_and_trace: Option<String>,
    /// The carrier, when sent.
    carrier: Option<String>,
    /// Units whose IMEI fails its check digit.
    bad_imeis: i64,
    /// `POST`, `PUT` or `PATCH`.
    method: Option<String>,
    /// The sender's address.
    source: Option<String>,
    /// When it came in.
    received_at: DateTime<Utc>,
    /// When the tracking left the queue (see `tracking_status`).
    tracking_pushed_at: Option<DateTime<Utc>>,
    /// `pushed`, `refused` (by the shop) or `not_applicable` (not a shop's order); null while queued.
    tracking_status: Option<String>,
    /// The shop's refusal, or the last failure while retrying.
    tracking_error: Option<String>,
    /// When an operator matched or dismissed it.
    resolved_at: Option<DateTime<Utc>>,
    /// Who.
    resolved_by: Option<String>,
}

/// One unit of a shipment.
#[derive(ToSchema)]
pub struct ShipmentUnit {
    /// Its serial number.
    serial_number: Option<String>,
    /// Its IMEI.
    imei: Option<String>,
    /// Whether the IMEI passes its check digit.
    imei_valid: Option<bool>,
}

// ---------------------------------------------------------------------------------------------
// Monitoring (irp_store::monitor, irp_pipeline::monitor, irp_core::monitoring).

/// An alert the monitor opened.
#[derive(ToSchema)]
pub struct Alert {
    /// Alert id.
    id: i64,
    /// The refurbisher (none for an installation-wide alert).
    refurbisher_id: Option<i64>,
    /// Its connector key.
    refurbisher: Option<String>,
    /// What is measured (`latest_order_hours`, `feed_quarantined`, …).
    metric: String,
    /// The value when it opened.
    value: Option<String>,
    /// The latest value while open.
    last_value: Option<String>,
    /// The threshold.
    threshold: Option<String>,
    /// What it is about.
    message: String,
    /// When it opened.
    opened_at: DateTime<Utc>,
    /// When it was resolved.
    resolved_at: Option<DateTime<Utc>>,
    /// When its opening was notified.
    notified_at: Option<DateTime<Utc>>,
    /// When its resolution was notified.
    resolved_notified_at: Option<DateTime<Utc>>,
    /// Failed notification attempts.
    notify_attempts: i64,
    /// Why the last notification attempt failed.
    notify_error: Option<String>,
}

/// The monitor's readings of one refurbisher.
#[derive(ToSchema)]
pub struct RefurbisherReadings {
    /// Refurbisher id.
    refurbisher_id: i64,
    /// Connector key.
    key: String,
    /// Whether it is enabled (a disabled refurbisher's readings never breach).
    enabled: bool,
    /// Each metric.
    readings: Vec<Reading>,
}

/// One metric of one refurbisher, evaluated.
#[derive(ToSchema)]
pub struct Reading {
    /// The metric (`latest_order_hours`, `orders_need_attention`, …).
    metric: String,
    /// The measured value; `null` when there is nothing to measure.
    value: Option<f64>,
    /// The threshold; `null` when the metric is switched off.
    threshold: Option<f64>,
    /// Whether the value breaches the threshold.
    breach: bool,
    /// What was measured against what, in words.
    message: String,
}

// ---------------------------------------------------------------------------------------------
// Catalog (cli::products, cli::offers).

/// A product with its best offer (as `irp products list --json`).
#[derive(ToSchema)]
pub struct Product {
    /// EAN.
    ean: String,
    /// The PIM's name, else the best offer's feed name.
    name: String,
    /// Where `name` comes from: `pim` or `feed`.
    name_source: String,
    /// Brand from the PIM.
    brand: Option<String>,
    /// Model from the PIM.
    model: Option<String>,
    /// Category from the PIM.
    category: Option<String>,
    /// The best offer, if any.
    best_offer: Option<BestOffer>,
    /// Its price incl. VAT, a decimal as text.
    #[schema(example = "160.23")]
    price_incl_vat: Option<String>,
    /// Its currency.
    currency_iso: Option<String>,
    /// Sellable units of the best offer.
    sellable: i64,
    /// Offers with this EAN (active or not).
    offers: i64,
    /// When the PIM data was imported.
    pim_synced_at: Option<DateTime<Utc>>,
    /// When the catalog last computed it.
    computed_at: Option<DateTime<Utc>>,
}

/// The best offer of a product.
#[derive(ToSchema)]
pub struct BestOffer {
    /// Offer id.
    offer_id: i64,
    /// Its refurbisher's key.
    refurbisher: Option<String>,
    /// Its SKU.
    sku: Option<String>,
}

/// A product with every offer priced and each channel's view (as `irp products show EAN
/// --json`). A product known only from offers (not computed yet) has just `ean` and the lists.
#[derive(ToSchema)]
pub struct ProductDetail {
    /// EAN.
    ean: String,
    /// The PIM's name, else the best offer's feed name.
    name: Option<String>,
    /// Where `name` comes from: `pim` or `feed`.
    name_source: Option<String>,
    /// Brand from the PIM.
    brand: Option<String>,
    /// Model from the PIM.
    model: Option<String>,
    /// Category from the PIM.
    category: Option<String>,
    /// The best offer, if any.
    best_offer: Option<BestOffer>,
    /// Its price incl. VAT, a decimal as text.
    price_incl_vat: Option<String>,
    /// Its currency.
    currency_iso: Option<String>,
    /// Sellable units of the best offer.
    sellable: Option<i64>,
    /// Offers with this EAN (active or not).
    offers: Option<i64>,
    /// When the PIM data was imported.
    pim_synced_at: Option<DateTime<Utc>>,
    /// When the catalog last computed it.
    computed_at: Option<DateTime<Utc>>,
    /// Attributes from the PIM.
    #[schema(value_type = Object)]
    attributes: Value,
    /// Every offer with this EAN, priced for the catalog, with its verdict.
    offer_list: Vec<PricedOffer>,
    /// Each channel's view of the product.
    channels: Vec<ChannelView>,
}

/// An offer priced for the catalog, with its verdict and price breakdown.
#[derive(ToSchema)]
pub struct PricedOffer {
    /// Offer id.
    offer_id: i64,
    /// Refurbisher key.
    refurbisher: String,
    /// SKU.
    sku: String,
    /// The feed's name.
    name: String,
    /// Whether the latest feed has it.
    active: bool,
    /// Its currency.
    currency_iso: String,
    /// Selling price incl. VAT, a decimal as text.
    price_incl_vat: String,
    /// Selling price excl. VAT, a decimal as text.
    price_excl_vat: String,
    /// VAT percentage, a decimal as text.
    tax_percentage: String,
    /// Sellable units.
    sellable: i64,
    /// `best`, `outranked`, `inactive`, `no_sellable_stock`, …
    verdict: String,
    /// Why, in words.
    reason: String,
    /// The feed's consumer price excl. VAT is below the selling price excl. VAT.
    consumer_price_below_selling_price: bool,
    /// `pending` or `rejected` while a purchase price change is held.
    price_hold: Option<String>,
    /// The price breakdown, a line per input and step (none for an unknown refurbisher).
    steps: Option<Vec<String>>,
}

/// What one channel sells of a product.
#[derive(ToSchema)]
pub struct ChannelView {
    /// Channel key.
    channel: String,
    /// Channel name.
    name: String,
    /// What is stored for the channel (and last pushed), if anything.
    stored: Option<ChannelProduct>,
    /// Every offer priced for the channel.
    offers: Vec<ChannelOffer>,
}

/// An offer priced for one channel.
#[derive(ToSchema)]
pub struct ChannelOffer {
    /// Offer id.
    offer_id: i64,
    /// Refurbisher key.
    refurbisher: String,
    /// SKU.
    sku: String,
    /// Selling price incl. VAT, a decimal as text.
    price_incl_vat: String,
    /// Sellable units.
    sellable: i64,
    /// `best`, `outranked`, `not_in_channel`, …
    verdict: String,
    /// Why, in words.
    reason: String,
}

/// What a channel sells of a product, and what was last pushed to it.
#[derive(ToSchema)]
pub struct ChannelProduct {
    /// Channel key.
    channel: String,
    /// EAN.
    ean: String,
    /// The channel's best offer.
    offer_id: Option<i64>,
    /// Its refurbisher.
    refurbisher_id: Option<i64>,
    /// Price incl. VAT, minor units.
    price_incl_minor: Option<i64>,
    /// The VAT percentage of that price.
    tax_percentage: Option<String>,
    /// The refurbisher's purchase price, minor units.
    purchase_minor: Option<i64>,
    /// The channel's currency.
    currency: String,
    /// Sellable stock.
    stock: i64,
    /// Whether the channel sells it now.
    active: bool,
    /// +1 on every change of the values above.
    revision: i64,
    /// Changed since the last push.
    dirty: bool,
    /// The revision last pushed.
    pushed_revision: Option<i64>,
    /// The price last pushed.
    pushed_price_incl_minor: Option<i64>,
    /// The stock last pushed.
    pushed_stock: Option<i64>,
    /// The availability last pushed.
    pushed_active: Option<bool>,
    /// When it was last pushed.
    pushed_at: Option<DateTime<Utc>>,
}

/// An offer with its price breakdown (as `irp offers show KEY SKU --json`).
#[derive(ToSchema)]
pub struct OfferDetail {
    /// Refurbisher key.
    refurbisher: String,
    /// SKU.
    sku: String,
    /// EAN.
    ean: Option<String>,
    /// The feed's name.
    name: String,
    /// Whether the latest feed has it.
    active: bool,
    /// Currency.
    currency_iso: String,
    /// Stock in the latest feed.
    stock_available: i64,
    /// The refurbisher's stock threshold.
    stock_threshold: i64,
    /// Sellable units (stock above the threshold).
    sellable: i64,
    /// `pending` or `rejected` while a purchase price change is held.
    price_hold: Option<String>,
    /// The feed's purchase price excl. VAT, a decimal as text.
    feed_purchase_price: String,
    /// The selling price and how it was computed.
    price: OfferPrice,
}

/// A computed selling price with every input and step.
#[derive(ToSchema)]
pub struct OfferPrice {
    /// Cost per unit excl. VAT, a decimal as text.
    cost: String,
    /// Selling price excl. VAT (exact), a decimal as text.
    excl_vat: String,
    /// Selling price incl. VAT, rounded, a decimal as text.
    #[schema(example = "160.23")]
    incl_vat: String,
    /// Each input with its value and where it came from.
    inputs: Vec<PriceInput>,
    /// Each step.
    steps: Vec<PriceStep>,
}

/// An input of a price and where it came from.
#[derive(ToSchema)]
pub struct PriceInput {
    /// What it is (`purchase`, `margin`, `vat`, …).
    name: String,
    /// Its value, a decimal as text.
    value: String,
    /// Where it came from, like `refurbisher flexit: shipping_costs`.
    source: String,
}

/// One step of a computed price.
#[derive(ToSchema)]
pub struct PriceStep {
    /// What the step is (`cost`, `excl. VAT`, …).
    label: String,
    /// How it is computed, with the values used.
    formula: String,
    /// The result, a decimal as text.
    value: String,
}
