//! From one feed record to one canonical offer: the `mapping` of an offers connector applied to
//! a row, with every value checked (prices in the feed's locale, EAN check digit, stock).
//!
//! A record is whatever a format parser yields (a CSV row, a JSON object, an XML element); it
//! only has to answer "what is at this source?" through [`Record`]. A row that fails any check
//! becomes [`RowError`]s naming the row, the canonical field, the raw value and the reason.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::Value;

use crate::config::model::{OPTIONAL_OFFER_FIELDS, OffersConfig, REQUIRED_OFFER_FIELDS};
use crate::orders::status::status_enum;
use crate::values::gtin::parse_gtin;
use crate::values::locale::PriceLocale;

status_enum! {
    /// A stored feed run's status.
    FeedRunStatus, "feed run" {
        /// Under way.
        Running => "running",
        /// Applied; every row was accepted.
        Succeeded => "succeeded",
        /// Applied; some rows were rejected.
        Partial => "partial",
        /// Identical to the feed already applied; nothing to do.
        Unchanged => "unchanged",
        /// Suspicious (empty, or removing too much): nothing applied, kept for an operator.
        Quarantined => "quarantined",
        /// The feed could not be read: nothing applied.
        Failed => "failed",
        /// A quarantined run an operator discarded.
        Discarded => "discarded",
        /// Its process ended (killed, crashed, the machine went down) before the run did: it
        /// stopped reporting. Nothing of it was applied (an applied run says so).
        Interrupted => "interrupted",
    }
}

/// Where a canonical field is read from in a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A column, 0-based (CSV); resolved from a heading name or a 1-based number.
    Column(usize),
    /// A dotted path (JSON) or element/attribute name path (XML).
    Path(Vec<String>),
}

/// A value as a record holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// Text (CSV fields, XML text and attributes, JSON strings).
    Text(Cow<'a, str>),
    /// A JSON number, taken exactly.
    Number(&'a serde_json::Number),
    /// A JSON boolean.
    Bool(bool),
    /// Something that is not a single value (a JSON object or array).
    Other,
}

impl Cell<'_> {
    /// The cell as text, for error reports.
    pub fn raw(&self) -> String {
        match self {
            Cell::Text(t) => t.to_string(),
            Cell::Number(n) => n.to_string(),
            Cell::Bool(b) => b.to_string(),
            Cell::Other => "(an object or array)".into(),
        }
    }

    fn is_blank(&self) -> bool {
        matches!(self, Cell::Text(t) if t.trim().is_empty())
    }
}

impl<'a> Cell<'a> {
    /// The cell of a JSON value (`null` is absent).
    pub fn from_json(v: &'a Value) -> Option<Cell<'a>> {
        match v {
            Value::Null => None,
            Value::String(s) => Some(Cell::Text(Cow::Borrowed(s))),
            Value::Number(n) => Some(Cell::Number(n)),
            Value::Bool(b) => Some(Cell::Bool(*b)),
            _ => Some(Cell::Other),
        }
    }
}

/// One record of a feed.
pub trait Record {
    /// The value at `source`, or `None` when the record has nothing there.
    fn get(&self, source: &Source) -> Option<Cell<'_>>;
}

impl Record for Value {
    fn get(&self, source: &Source) -> Option<Cell<'_>> {
        match source {
            Source::Path(path) => {
                let mut v = self;
                for seg in path {
                    v = match v {
                        Value::Object(m) => m.get(seg)?,
                        Value::Array(a) => a.get(seg.parse::<usize>().ok()?)?,
                        _ => return None,
                    };
                }
                Cell::from_json(v)
            }
            Source::Column(i) => match self {
                Value::Array(a) => a.get(*i).and_then(Cell::from_json),
                _ => None,
            },
        }
    }
}

/// A CSV row (or any list of text fields).
impl Record for [String] {
    fn get(&self, source: &Source) -> Option<Cell<'_>> {
        match source {
            Source::Column(i) => self.get(*i).map(|s| Cell::Text(Cow::Borrowed(s.as_str()))),
            Source::Path(_) => None,
        }
    }
}

/// A canonical offer, as read from one record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Offer {
    /// The refurbisher's SKU (unique within its feed).
    pub sku: String,
    /// Product name.
    pub name: String,
    /// EAN/GTIN, check digit verified, as written (leading zeros kept).
    pub ean: String,
    /// Stock the refurbisher reports.
    pub stock_available: i64,
    /// Purchase price excl. VAT.
    pub price_purchase_amount: Decimal,
    /// Consumer price excl. VAT.
    pub price_consumer_amount: Decimal,
    /// ISO 4217 currency (from the feed, else the refurbisher's).
    pub currency_iso: String,
    /// VAT percentage, when the feed states it.
    pub tax_percentage: Option<Decimal>,
    /// Brand, category, grade, and the `extra` attributes, by name.
    pub attributes: BTreeMap<String, String>,
}

/// Why one record did not become an offer.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    /// Row (record) number in the feed, 1 = the first record after any heading row; for CSV
    /// the line number is reported where the parser knows it.
    pub row: u64,
    /// The canonical field, when the problem is one field.
    pub field: Option<String>,
    /// The raw value, when there was one.
    pub value: Option<String>,
    /// What is wrong and what was expected.
    pub message: String,
}

/// A mapping made ready for records: canonical field → source.
#[derive(Debug, Clone)]
pub struct OfferMapper {
    /// Per canonical field (in the order of [`REQUIRED_OFFER_FIELDS`] then
    /// [`OPTIONAL_OFFER_FIELDS`]), where it is read from.
    fields: [Option<Source>; FIELD_COUNT],
    extra: Vec<(String, Source)>,
    locale: PriceLocale,
    currency: String,
}

const FIELD_COUNT: usize = REQUIRED_OFFER_FIELDS.len() + OPTIONAL_OFFER_FIELDS.len();

const F_SKU: usize = 0;
const F_NAME: usize = 1;
const F_EAN: usize = 2;
const F_STOCK: usize = 3;
const F_PURCHASE: usize = 4;
const F_CONSUMER: usize = 5;
const F_CURRENCY: usize = 6;
const F_TAX: usize = 7;
const F_BRAND: usize = 8;
const F_CATEGORY: usize = 9;
const F_GRADE: usize = 10;

/// The canonical field at position `i` of [`OfferMapper`]'s table.
fn field_name(i: usize) -> &'static str {
    REQUIRED_OFFER_FIELDS
        .iter()
        .chain(OPTIONAL_OFFER_FIELDS.iter())
        .nth(i)
        .copied()
        .unwrap_or("?")
}

/// How a mapping's source names are turned into [`Source`]s.
pub enum Resolve<'a> {
    /// JSON/XML: names are dotted paths.
    Paths,
    /// CSV with a heading row: names are looked up in the heading.
    Heading(&'a [String]),
    /// CSV without heading: sources are 1-based column numbers.
    Numbers,
}

/// A mapping source that cannot be resolved (a column missing from the heading row).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MappingError(pub String);

fn source_name(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl OfferMapper {
    /// Prepare the mapping of `offers` for records shaped as `resolve` says.
    ///
    /// # Errors
    /// A source column that the heading row does not have (naming the field, the column and
    /// what the heading has), or a column number beyond what is possible.
    pub fn new(
        offers: &OffersConfig,
        currency: &str,
        resolve: Resolve<'_>,
    ) -> Result<OfferMapper, MappingError> {
        let locale = PriceLocale::from_name(&offers.price_locale)
            .ok_or_else(|| MappingError(format!("unknown price_locale {}", offers.price_locale)))?;
        let mut problems = Vec::new();
        let mut missing_columns = Vec::new();
        let mut one = |field: &str, v: &Value| -> Option<Source> {
            let name = source_name(v)?;
            match &resolve {
                Resolve::Paths => Some(Source::Path(name.split('.').map(str::to_owned).collect())),
                Resolve::Numbers => match name.trim().parse::<usize>() {
                    Ok(n) if n >= 1 => Some(Source::Column(n - 1)),
                    _ => {
                        problems.push(format!(
                            "mapping.{field}: {name:?} is not a column number (1 is the first)"
                        ));
                        None
                    }
                },
                Resolve::Heading(heading) => {
                    let found = heading.iter().position(|h| h == &name).or_else(|| {
                        heading
                            .iter()
                            .position(|h| h.trim().eq_ignore_ascii_case(name.trim()))
                    });
                    match found {
                        Some(i) => Some(Source::Column(i)),
                        None => {
                            missing_columns.push(format!("{name:?} (mapping.{field})"));
                            None
                        }
                    }
                }
            }
        };
        let mut fields: [Option<Source>; FIELD_COUNT] = Default::default();
        for (slot, f) in fields.iter_mut().zip(
            REQUIRED_OFFER_FIELDS
                .iter()
                .chain(OPTIONAL_OFFER_FIELDS.iter()),
        ) {
            if let Some(v) = offers.mapping.get(*f) {
                *slot = one(f, v);
            }
        }
        let mut extra = Vec::new();
        if let Some(Value::Object(m)) = offers.mapping.get("extra") {
            for (k, v) in m {
                if let Some(s) = one(&format!("extra.{k}"), v) {
                    extra.push((k.clone(), s));
                }
            }
        }
        if let Resolve::Heading(heading) = &resolve
            && !missing_columns.is_empty()
        {
            problems.push(format!(
                "the heading row has no column {}; it has {}",
                missing_columns.join(", "),
                heading
                    .iter()
                    .map(|h| format!("{h:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        if !problems.is_empty() {
            return Err(MappingError(problems.join("; ")));
        }
        Ok(OfferMapper {
            fields,
            extra,
            locale,
            currency: currency.to_owned(),
        })
    }

    fn source_at(&self, i: usize) -> Option<&Source> {
        self.fields[i].as_ref()
    }

    /// Map one record. Every problem of the record is reported, not only the first.
    ///
    /// # Errors
    /// The record's problems, each naming the field and raw value.
    pub fn map(&self, record: &(impl Record + ?Sized), row: u64) -> Result<Offer, Vec<RowError>> {
        let mut errors = Vec::new();
        let err =
            |errors: &mut Vec<RowError>, field: &str, value: Option<String>, message: String| {
                errors.push(RowError {
                    row,
                    field: Some(field.to_owned()),
                    value,
                    message,
                });
            };
        let cell = |i: usize| {
            self.source_at(i)
                .and_then(|s| record.get(s))
                .filter(|c| !c.is_blank())
        };
        let required = |errors: &mut Vec<RowError>, i: usize| -> Option<Cell<'_>> {
            let field = field_name(i);
            let c = cell(i);
            if c.is_none() {
                err(errors, field, None, "missing: the field is required".into());
            }
            c
        };
        let text = |errors: &mut Vec<RowError>, field: &str, c: Cell<'_>| -> Option<String> {
            match c {
                Cell::Text(t) => Some(t.trim().to_owned()),
                Cell::Number(n) => Some(n.to_string()),
                Cell::Bool(b) => Some(b.to_string()),
                Cell::Other => {
                    err(
                        errors,
                        field,
                        Some(c.raw()),
                        "expected a single value, got an object or array".into(),
                    );
                    None
                }
            }
        };

        let sku = required(&mut errors, F_SKU).and_then(|c| text(&mut errors, "sku", c));
        let name = required(&mut errors, F_NAME).and_then(|c| text(&mut errors, "name", c));
        let ean = required(&mut errors, F_EAN).and_then(|c| {
            let raw = text(&mut errors, "ean", c)?;
            match parse_gtin(&raw) {
                Ok(e) => Some(e),
                Err(e) => {
                    err(
                        &mut errors,
                        "ean",
                        Some(raw),
                        format!("not a valid EAN/GTIN: {e}"),
                    );
                    None
                }
            }
        });
        let stock = required(&mut errors, F_STOCK).and_then(|c| {
            let raw = c.raw();
            let n = match &c {
                Cell::Number(n) => n.as_i64().or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                        .map(|f| f as i64)
                }),
                Cell::Text(t) => t.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n >= 0 => Some(n),
                Some(_) => {
                    err(
                        &mut errors,
                        "stock_available",
                        Some(raw),
                        "must not be negative".into(),
                    );
                    None
                }
                None => {
                    err(
                        &mut errors,
                        "stock_available",
                        Some(raw),
                        "expected a whole number of units".into(),
                    );
                    None
                }
            }
        });
        let price = |errors: &mut Vec<RowError>, field: &str, c: Cell<'_>| -> Option<Decimal> {
            let raw = c.raw();
            let d = match &c {
                Cell::Number(n) => Decimal::from_str_exact(&n.to_string())
                    .or_else(|_| Decimal::from_scientific(&n.to_string()))
                    .map_err(|_| format!("{n} is not an exact decimal amount")),
                Cell::Text(t) => self.locale.parse(t),
                _ => Err("expected a price".to_owned()),
            };
            match d {
                Ok(d) if d.is_sign_negative() && !d.is_zero() => {
                    err(errors, field, Some(raw), "must not be negative".into());
                    None
                }
                Ok(d) => Some(d),
                Err(m) => {
                    err(errors, field, Some(raw), m);
                    None
                }
            }
        };
        let purchase = required(&mut errors, F_PURCHASE)
            .and_then(|c| price(&mut errors, "price_purchase_amount", c));
        let consumer = required(&mut errors, F_CONSUMER)
            .and_then(|c| price(&mut errors, "price_consumer_amount", c));
        let currency = match cell(F_CURRENCY).and_then(|c| text(&mut errors, "currency_iso", c)) {
            None => Some(self.currency.clone()),
            Some(c) => {
                let up = c.to_uppercase();
                if crate::money::is_currency(&up) {
                    Some(up)
                } else {
                    err(
                        &mut errors,
                        "currency_iso",
                        Some(c),
                        "expected an ISO 4217 currency code like EUR".into(),
                    );
                    None
                }
            }
        };
        let tax = match cell(F_TAX) {
            None => None,
            Some(c) => {
                let raw = c.raw();
                let raw_trimmed = raw.trim().trim_end_matches('%').trim().to_owned();
                let parsed = match &c {
                    Cell::Number(n) => Decimal::from_str_exact(&n.to_string()).ok(),
                    _ => self
                        .locale
                        .parse(&raw_trimmed)
                        .ok()
                        .or_else(|| crate::money::parse_plain_decimal(&raw_trimmed)),
                };
                match parsed {
                    Some(t) if !t.is_sign_negative() && t <= Decimal::from(100) => Some(t),
                    _ => {
                        err(
                            &mut errors,
                            "tax_percentage",
                            Some(raw),
                            "expected a percentage between 0 and 100, like 21".into(),
                        );
                        None
                    }
                }
            }
        };
        let mut attributes = BTreeMap::new();
        for (i, f) in [
            (F_BRAND, "brand"),
            (F_CATEGORY, "category"),
            (F_GRADE, "grade"),
        ] {
            if let Some(c) = cell(i)
                && let Some(t) = text(&mut errors, f, c)
            {
                attributes.insert(f.to_owned(), t);
            }
        }
        for (name, source) in &self.extra {
            if let Some(c) = record.get(source).filter(|c| !c.is_blank()) {
                attributes.insert(name.clone(), c.raw().trim().to_owned());
            }
        }
        match (sku, name, ean, stock, purchase, consumer, currency) {
            (
                Some(sku),
                Some(name),
                Some(ean),
                Some(stock_available),
                Some(p),
                Some(c),
                Some(currency_iso),
            ) if errors.is_empty() => Ok(Offer {
                sku,
                name,
                ean,
                stock_available,
                price_purchase_amount: p.normalize(),
                price_consumer_amount: c.normalize(),
                currency_iso,
                tax_percentage: tax.map(|t| t.normalize()),
                attributes,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_document;
    use serde_json::json;

    fn offers(path: &str) -> OffersConfig {
        let text = std::fs::read_to_string(format!(
            "{}/../../config/refurbishers/{path}",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap();
        parse_document(&text).refurbishers.remove(0).offers.unwrap()
    }

    fn heading() -> Vec<String> {
        "Flex IT Part Number;Description;Stock Quantity;EAN;Sales Price;SRP"
            .split(';')
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn field_positions_match_the_canonical_field_lists() {
        for (i, f) in [
            (F_SKU, "sku"),
            (F_NAME, "name"),
            (F_EAN, "ean"),
            (F_STOCK, "stock_available"),
            (F_PURCHASE, "price_purchase_amount"),
            (F_CONSUMER, "price_consumer_amount"),
            (F_CURRENCY, "currency_iso"),
            (F_TAX, "tax_percentage"),
            (F_BRAND, "brand"),
            (F_CATEGORY, "category"),
            (F_GRADE, "grade"),
        ] {
            assert_eq!(field_name(i), f);
        }
        assert_eq!(FIELD_COUNT, 11);
    }

    #[test]
    fn a_flexit_csv_row_maps_with_dutch_prices() {
        let m =
            OfferMapper::new(&offers("flexit.json"), "EUR", Resolve::Heading(&heading())).unwrap();
        let row: Vec<String> = [
            "FLX-1",
            "iPhone 13 128GB",
            "5",
            "0194252707234",
            "1.234,56",
            "1.499,00",
        ]
        .map(String::from)
        .to_vec();
        let o = m.map(row.as_slice(), 1).unwrap();
        assert_eq!(o.sku, "FLX-1");
        assert_eq!(o.ean, "0194252707234");
        assert_eq!(o.stock_available, 5);
        assert_eq!(o.price_purchase_amount.to_string(), "1234.56");
        assert_eq!(o.price_consumer_amount.to_string(), "1499");
        assert_eq!(o.currency_iso, "EUR");
        assert_eq!(o.tax_percentage, None);
    }

    #[test]
    fn every_problem_of_a_row_is_reported() {
        let m =
            OfferMapper::new(&offers("flexit.json"), "EUR", Resolve::Heading(&heading())).unwrap();
        let row: Vec<String> = ["", "x", "-2", "4006381333932", "12.50", "abc"]
            .map(String::from)
            .to_vec();
        let errs = m.map(row.as_slice(), 7).unwrap_err();
        let shown: Vec<String> = errs
            .iter()
            .map(|e| {
                format!(
                    "{} {} {:?}: {}",
                    e.row,
                    e.field.as_deref().unwrap_or("-"),
                    e.value.as_deref().unwrap_or(""),
                    e.message
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                "7 sku \"\": missing: the field is required",
                "7 ean \"4006381333932\": not a valid EAN/GTIN: check digit is 2, expected 1",
                "7 stock_available \"-2\": must not be negative",
                "7 price_purchase_amount \"12.50\": expected a price written as in nl_NL (like 1.234,56)",
                "7 price_consumer_amount \"abc\": expected a price written as in nl_NL (like 1.234,56)",
            ]
        );
    }

    #[test]
    fn a_missing_heading_column_names_what_the_heading_has() {
        let short: Vec<String> = ["Flex IT Part Number", "Description"]
            .map(String::from)
            .to_vec();
        let e =
            OfferMapper::new(&offers("flexit.json"), "EUR", Resolve::Heading(&short)).unwrap_err();
        assert_eq!(
            e.0,
            "the heading row has no column \"EAN\" (mapping.ean), \"Stock Quantity\" (mapping.stock_available), \"Sales Price\" (mapping.price_purchase_amount), \"SRP\" (mapping.price_consumer_amount); it has \"Flex IT Part Number\", \"Description\""
        );
    }

    #[test]
    fn an_iused_json_offer_maps_with_exact_numbers() {
        let m = OfferMapper::new(&offers("iused-stores.json"), "EUR", Resolve::Paths).unwrap();
        let rec = json!({"description": "iPad 9", "sku": "IU-9", "quantity": 3, "ean": "4006381333931",
                         "costPrice": 199.95, "priceConsumer": "329.00", "currencyIso": "eur", "taxPercentage": 21});
        let o = m.map(&rec, 1).unwrap();
        assert_eq!(o.price_purchase_amount.to_string(), "199.95");
        assert_eq!(o.price_consumer_amount.to_string(), "329");
        assert_eq!(o.currency_iso, "EUR");
        assert_eq!(
            o.tax_percentage.map(|t| t.to_string()).as_deref(),
            Some("21")
        );
        assert_eq!(o.stock_available, 3);
    }
}
