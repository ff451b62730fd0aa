//! Parsing of values: prices in a locale, EAN/GTIN codes, IMEIs, countries.

pub mod country;
pub mod gtin;
pub mod imei;
pub mod locale;
