//! JSON feeds, streamed: the offers array at `offer_location` (a dotted path; empty when the
//! document is the array) is walked one element at a time, so memory stays flat however large
//! the feed. Everything else in the document is skipped without being kept.

use std::fmt;
use std::io::{BufReader, Read};

use irp_core::config::model::OffersConfig;
use irp_core::feed::{OfferMapper, Resolve};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use super::{Capped, RecordCap, decoded, outcome};
use crate::{FeedError, RowOutcome};

struct Walk<'a, 'f> {
    /// The whole `offer_location`, and how much of it is already walked.
    full: &'a [String],
    depth: usize,
    mapper: &'a OfferMapper,
    each: &'a mut (dyn FnMut(RowOutcome) + 'f),
    found: &'a mut Option<String>,
    rows: &'a mut u64,
    cap: &'a RecordCap,
}

const FOUND_ARRAY: &str = "array";

impl Walk<'_, '_> {
    /// Record that the value at the current depth is `what`, which is not what comes next.
    fn mismatch(self, what: &str) {
        let here = if self.depth == 0 {
            "the document".to_owned()
        } else {
            format!("`{}`", self.full[..self.depth].join("."))
        };
        let wanted = if self.depth == self.full.len() {
            "the array of offers".to_owned()
        } else {
            format!("an object holding `{}`", self.full[self.depth])
        };
        *self.found = Some(format!(
            "{here} is {what}, expected {wanted}; check `offer_location`"
        ));
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.depth == self.full.len() {
            f.write_str("an array of offers")
        } else {
            write!(f, "an object holding `{}`", self.full[self.depth])
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.depth < self.full.len() {
            self.mismatch("an array");
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        *self.found = Some(FOUND_ARRAY.into());
        loop {
            self.cap.begin();
            let Some(v) = seq.next_element::<Value>()? else {
                break;
            };
            self.cap.end();
            *self.rows += 1;
            (self.each)(outcome(self.mapper, &v, *self.rows));
        }
        self.cap.end();
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.depth == self.full.len() {
            self.mismatch("an object");
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        let Walk {
            full,
            depth,
            mapper,
            each,
            found,
            rows,
            cap,
        } = self;
        loop {
            // A key is read into memory: it is capped like a record.
            cap.begin();
            let key = map.next_key::<String>()?;
            cap.end();
            let Some(key) = key else {
                break;
            };
            if key == full[depth] {
                map.next_value_seed(Walk {
                    full,
                    depth: depth + 1,
                    mapper,
                    each: &mut *each,
                    found: &mut *found,
                    rows: &mut *rows,
                    cap,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.mismatch("null");
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.mismatch("a boolean");
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.mismatch("a number");
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.mismatch("a number");
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.mismatch("a number");
        Ok(())
    }
    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        self.mismatch("a string");
        Ok(())
    }
}

/// Read a JSON feed.
///
/// # Errors
/// Not JSON, truncated, or no array at `offer_location`.
pub fn read(
    offers: &OffersConfig,
    currency: &str,
    input: impl Read,
    each: &mut dyn FnMut(RowOutcome),
) -> Result<(), FeedError> {
    let location = offers.offer_location.clone().unwrap_or_default();
    let path: Vec<String> = if location.is_empty() {
        Vec::new()
    } else {
        location.split('.').map(str::to_owned).collect()
    };
    let mapper =
        OfferMapper::new(offers, currency, Resolve::Paths).map_err(|e| FeedError::Mapping(e.0))?;
    let cap = RecordCap::new(offers);
    let reader = BufReader::with_capacity(
        1 << 16,
        Capped::new(decoded(offers.encoding.as_deref(), input)?, &cap),
    );
    let mut de = serde_json::Deserializer::from_reader(reader);
    let mut found = None;
    let mut rows = 0;
    let walk = Walk {
        full: &path,
        depth: 0,
        mapper: &mapper,
        each,
        found: &mut found,
        rows: &mut rows,
        cap: &cap,
    };
    walk.deserialize(&mut de)
        .map_err(|e| cap.error().unwrap_or_else(|| json_error(&e)))?;
    de.end().map_err(|e| json_error(&e))?;
    match found {
        Some(f) if f == FOUND_ARRAY => Ok(()),
        None => Err(FeedError::Structure(format!(
            "offer_location `{location}` is not in the feed; check `offer_location`"
        ))),
        Some(mismatch) => Err(FeedError::Structure(mismatch)),
    }
}

fn json_error(e: &serde_json::Error) -> FeedError {
    if e.is_io() {
        return FeedError::Io(e.to_string());
    }
    let full = e.to_string();
    let message = full
        .rfind(" at line ")
        .map_or(full.as_str(), |i| &full[..i])
        .to_owned();
    FeedError::Syntax {
        format: "JSON",
        location: format!("line {}, column {}", e.line(), e.column()),
        message,
    }
}
