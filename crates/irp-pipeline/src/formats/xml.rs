//! XML feeds, streamed: every element at `record_path` (`offers.offer`: the `offer` elements
//! inside the root `offers`) is one record. Inside a record, child elements are read by name
//! (`price.amount` for nested ones) and attributes as `@name` (`@id`, `price.@currency`).

use std::io::{BufReader, Read};

use irp_core::config::model::OffersConfig;
use irp_core::feed::{OfferMapper, Resolve};
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

use super::{Capped, RecordCap, decoded, outcome};
use crate::{FeedError, RowOutcome};

/// An element being built inside a record.
struct Building {
    name: String,
    map: Map<String, Value>,
    text: String,
}

fn start(e: &BytesStart<'_>, reader_pos: u64) -> Result<Building, FeedError> {
    let name = e.local_name().as_ref().to_owned();
    let mut map = Map::new();
    for a in e.attributes() {
        let a = a.map_err(|err| FeedError::Syntax {
            format: "XML",
            location: format!("byte {reader_pos}"),
            message: err.to_string(),
        })?;
        let key = format!("@{}", a.key.local_name().as_ref());
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|err| FeedError::Syntax {
                format: "XML",
                location: format!("byte {reader_pos}"),
                message: err.to_string(),
            })?
            .into_owned();
        map.insert(key, Value::String(value));
    }
    Ok(Building {
        name,
        map,
        text: String::new(),
    })
}

/// The value of a finished element: its text when it has neither attributes nor children,
/// else an object with `#text` beside them.
fn finish(b: Building) -> (String, Value) {
    let text = b.text.trim().to_owned();
    if b.map.is_empty() {
        return (b.name, Value::String(text));
    }
    let mut map = b.map;
    if !text.is_empty() {
        map.insert("#text".into(), Value::String(text));
    }
    (b.name, Value::Object(map))
}

/// How deep elements may nest (the root is level 1); deeper fails the run.
pub const MAX_DEPTH: usize = 64;

fn root_mismatch(root: &str, record_path: &[String]) -> FeedError {
    FeedError::Structure(format!(
        "the root element is <{root}>, but `record_path` \"{}\" starts at <{}>",
        record_path.join("."),
        record_path[0]
    ))
}

/// Read an XML feed.
///
/// # Errors
/// Not well-formed XML (including a truncated file), or no element at `record_path`.
pub fn read(
    offers: &OffersConfig,
    currency: &str,
    input: impl Read,
    each: &mut dyn FnMut(RowOutcome),
) -> Result<(), FeedError> {
    let record_path: Vec<String> = offers
        .record_path
        .clone()
        .unwrap_or_default()
        .split(['.', '/'])
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if record_path.is_empty() {
        return Err(FeedError::Structure("`record_path` is empty".into()));
    }
    let mapper =
        OfferMapper::new(offers, currency, Resolve::Paths).map_err(|e| FeedError::Mapping(e.0))?;
    let cap = RecordCap::new(offers);
    let mut reader = quick_xml::Reader::from_reader(BufReader::with_capacity(
        1 << 16,
        Capped::new(decoded(offers.encoding.as_deref(), input)?, &cap),
    ));
    reader.config_mut().trim_text(false);
    let mut buf = Vec::new();
    // Names of the open elements outside any record.
    let mut outer: Vec<String> = Vec::new();
    // Elements open inside the current record (the record itself first).
    let mut inside: Vec<Building> = Vec::new();
    let mut rows = 0u64;
    let mut saw_root = false;
    loop {
        let pos = reader.buffer_position();
        if inside.is_empty() {
            // Outside a record each element and text is capped on its own.
            cap.begin();
        }
        let event = match reader.read_event_into(&mut buf) {
            Ok(e) => e,
            Err(e) => {
                return Err(cap.error().unwrap_or_else(|| FeedError::Syntax {
                    format: "XML",
                    location: format!("byte {}", reader.error_position()),
                    message: e.to_string(),
                }));
            }
        };
        match event {
            Event::Start(e) => {
                saw_root = true;
                if outer.len() + inside.len() >= MAX_DEPTH {
                    return Err(FeedError::Syntax {
                        format: "XML",
                        location: format!("byte {pos}"),
                        message: format!(
                            "elements are nested deeper than {MAX_DEPTH} levels; no offer feed needs that"
                        ),
                    });
                }
                if !inside.is_empty() {
                    inside.push(start(&e, pos)?);
                } else {
                    let name = e.local_name().as_ref().to_owned();
                    if outer.is_empty() && name != record_path[0] {
                        return Err(root_mismatch(&name, &record_path));
                    }
                    outer.push(name);
                    if outer == record_path {
                        outer.pop();
                        inside.push(start(&e, pos)?);
                    }
                }
            }
            Event::Empty(e) => {
                saw_root = true;
                let b = start(&e, pos)?;
                if let Some(parent) = inside.last_mut() {
                    let (k, v) = finish(b);
                    parent.map.insert(k, v);
                } else {
                    if outer.is_empty() && b.name != record_path[0] {
                        return Err(root_mismatch(&b.name, &record_path));
                    }
                    let mut names = outer.clone();
                    names.push(b.name.clone());
                    if names == record_path {
                        rows += 1;
                        let (_, v) = finish(b);
                        let record = match v {
                            Value::Object(m) => Value::Object(m),
                            _ => Value::Object(Map::new()),
                        };
                        each(outcome(&mapper, &record, rows));
                    }
                }
            }
            Event::Text(t) => {
                if let Some(b) = inside.last_mut() {
                    b.text.push_str(&t.html_content());
                }
            }
            Event::GeneralRef(r) => {
                if let Some(b) = inside.last_mut() {
                    let name: &str = r.as_ref();
                    let resolved = match name {
                        "amp" => "&".to_owned(),
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "quot" => "\"".to_owned(),
                        "apos" => "'".to_owned(),
                        n if n.starts_with("#x") => u32::from_str_radix(&n[2..], 16)
                            .ok()
                            .and_then(char::from_u32)
                            .map(String::from)
                            .unwrap_or_default(),
                        n if n.starts_with('#') => n[1..]
                            .parse::<u32>()
                            .ok()
                            .and_then(char::from_u32)
                            .map(String::from)
                            .unwrap_or_default(),
                        other => {
                            return Err(FeedError::Syntax {
                                format: "XML",
                                location: format!("byte {pos}"),
                                message: format!("unknown entity &{other};"),
                            });
                        }
                    };
                    b.text.push_str(&resolved);
                }
            }
            Event::CData(c) => {
                if let Some(b) = inside.last_mut() {
                    b.text.push_str(&c.into_inner());
                }
            }
            Event::End(_) => {
                if let Some(b) = inside.pop() {
                    let (k, v) = finish(b);
                    match inside.last_mut() {
                        Some(parent) => {
                            parent.map.insert(k, v);
                        }
                        None => {
                            rows += 1;
                            let record = match v {
                                Value::Object(m) => Value::Object(m),
                                Value::String(_) => Value::Object(Map::new()),
                                other => other,
                            };
                            each(outcome(&mapper, &record, rows));
                        }
                    }
                } else {
                    outer.pop();
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !inside.is_empty() || !outer.is_empty() {
        return Err(FeedError::Syntax {
            format: "XML",
            location: "the end of the file".into(),
            message: "the document ends before its elements are closed (truncated?)".into(),
        });
    }
    if !saw_root {
        return Err(FeedError::Syntax {
            format: "XML",
            location: "the start".into(),
            message: "no root element".into(),
        });
    }
    Ok(())
}
