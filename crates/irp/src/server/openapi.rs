//! The OpenAPI document of the REST API ([`super::api`]), served at `GET /api/v1/openapi.json`.
//!
//! The document is generated from the code that serves the API. The paths come from the
//! handlers (`#[utoipa::path]` on each, registered with utoipa-axum's `routes!`, so a route
//! cannot be served without being documented). The schemas come from the types the handlers
//! answer and take: the views in [`crate::views`], the error answer `ApiError`, the query and
//! path parameters, and the order document (`api::order_document`) — each derives
//! `utoipa::ToSchema`, and its doc comments are the schemas' descriptions. This module holds
//! the rest: the document's info, tags and bearer security scheme. The Schemathesis run in
//! `tests/openapi.rs` checks the answers against the document.

use utoipa::openapi::OpenApi as Document;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's title.
pub const TITLE: &str = "IRP — Refurbisher Portal API";

/// The parts of the document that are not paths: info, tags and the security scheme. The paths,
/// and the schemas they use, are added by `api::token_routes`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = TITLE,
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
    // The views reach the document through the operations that answer them; `Product` is
    // also named by hand in `ProductDetail`'s schema (a product, or only its EAN).
    components(schemas(crate::views::Product)),
    tags(
        (name = "orders", description = "Customer orders taken in from the channels"),
        (name = "supplier-orders", description = "The part of an order one refurbisher fulfils, and its calls to the refurbisher"),
        (name = "shipments", description = "Shipments the refurbishers sent to their webhook"),
        (name = "monitoring", description = "Alerts and the monitor's readings"),
        (name = "catalog", description = "Products and offers, priced"),
        (name = "channels", description = "The storefront channels and their Shopware sync"),
        (name = "refurbishers", description = "The refurbisher registry: documents, checks, webhook tokens, credentials"),
        (name = "feeds", description = "Offer feeds: previews, imports, uploads and their runs"),
        (name = "audit", description = "Who changed what, when"),
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
