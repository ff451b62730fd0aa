//! Parsing of values: prices in a locale, EAN/GTIN codes, countries.

pub mod country;
pub mod gtin;
pub mod locale;
