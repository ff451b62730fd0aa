//! Pure domain logic of IRP, free of I/O so that it can be unit-tested and fuzzed alone.
//!
//! The modules follow the data flow (registry → feeds → prices → orders → shipments):
//! - [`config`]: refurbisher documents (registry fields, offer and order connectors), their
//!   validation with JSON-path diagnostics, redaction and diffs;
//! - [`values`]: how feed values are read (prices in a locale, EAN/GTIN);
//! - [`mapping`]: the order mapping language and the supplier-order context;
//! - [`money`]: exact amounts and currencies;
//! - [`orders`]: the channel-order document orders are taken in with;
//! - [`pricing`] and [`catalog`]: selling prices, the best offer per product and per channel;
//! - [`shipments`]: shipment updates from the refurbishers' webhook calls;
//! - [`monitoring`]: a refurbisher's facts against its monitoring thresholds;
//! - [`pim`]: product data from Ergonode (GraphQL streams mapped onto product fields);
//! - [`secret_ref`]: `${env:NAME}` / `${secret:NAME}` references inside document strings.

pub mod catalog;
pub mod config;
pub mod erp;
pub mod feed;
pub mod fuzzing;
pub mod mapping;
pub mod money;
pub mod monitoring;
pub mod orders;
pub mod pim;
pub mod pricing;
pub mod secret_ref;
pub mod shipments;
pub mod shopware;
pub mod values;
