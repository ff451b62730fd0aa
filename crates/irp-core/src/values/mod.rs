//! Parsing of feed values: prices in a locale, EAN/GTIN codes.

pub mod gtin;
pub mod locale;
