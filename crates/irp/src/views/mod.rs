//! The JSON IRP answers: one set of response types shared by the REST API (`/api/v1`), the
//! CLI's `--json` output and the portal's pages where they show the same thing.
//!
//! Each view derives `Serialize` (the answer) and `utoipa::ToSchema` (its schema in the OpenAPI
//! document, with the doc comments as descriptions), and is built from the store's rows and the
//! core's types here, with `From` or a `load` that reads what it needs. A view of a store row
//! serializes exactly as the row did when the API served it directly: the same field names, in
//! the same order, with the same nulls.
//!
//! One module per resource: [`orders`] (orders, supplier orders, their attempts and Odoo
//! documents), [`shipments`], [`monitoring`] (alerts and the monitor's readings), [`catalog`]
//! (products, offers and their prices, held purchase prices), [`channels`] (the storefronts'
//! Shopware sync), [`refurbishers`] (the registry, `config check`, webhook tokens,
//! credentials), [`feeds`] (feed runs, imports, previews) and [`audit`].

use serde::Serialize;
use utoipa::ToSchema;

pub mod audit;
pub mod catalog;
pub mod channels;
pub mod feeds;
pub mod monitoring;
pub mod orders;
pub mod refurbishers;
pub mod shipments;

pub use audit::*;
pub use catalog::*;
pub use channels::*;
pub use feeds::*;
pub use monitoring::*;
pub use orders::*;
pub use refurbishers::*;
pub use shipments::*;

/// One bad field of a 422 answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// JSON path of the field, like `lines[0].quantity`; for a query or path parameter its name.
    #[schema(example = "lines[0].quantity")]
    pub field: String,
    /// What was there, as JSON (shortened); `nothing` when it was missing.
    #[schema(example = "-1")]
    pub value: String,
    /// What was expected.
    #[schema(example = "a whole number from 1 to 10000")]
    pub expected: String,
}

impl From<irp_core::orders::FieldError> for FieldError {
    fn from(e: irp_core::orders::FieldError) -> Self {
        FieldError {
            field: e.field,
            value: e.value,
            expected: e.expected,
        }
    }
}

/// The schema of a status (or other named) enum: a string that is one of its names, so the
/// OpenAPI document lists the values a client can meet. Used as
/// `#[schema(schema_with = names::<OrderStatus>)]`.
pub(crate) fn names<T: irp_core::orders::status::Named>() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(T::all().iter().map(|v| v.name())))
        .build()
}
