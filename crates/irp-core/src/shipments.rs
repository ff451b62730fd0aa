//! Shipment updates refurbishers post to `/webhook/shipment/{supplier_id}/{secure_token}`
//! (seed 001: serial number / IMEI, track & trace, external order id).
//!
//! The default body:
//!
//! ```json
//! {"external_order_id": "FX-1001", "track_and_trace": "3SABCD1234567", "carrier": "PostNL",
//!  "imei": "490154203237518"}
//! ```
//!
//! or, for several units, `"items": [{"imei": "…"}, {"serial_number": "…"}]`. A refurbisher
//! whose payload differs gets a `shipment.mapping` in its document that names, per field, the
//! dotted path where its payload has it ([`ShipmentMapping`]). [`parse_shipment`] checks it
//! all and names every bad field with the path the sender used, the value and what was
//! expected. An IMEI that fails its Luhn check is kept and flagged, not refused: the device
//! was shipped either way, and an operator can look at it. [`matching::match_shipment`] decides
//! which supplier order a shipment belongs to.

pub mod matching;

use crate::orders::status::status_enum;

status_enum! {
    /// A stored shipment's status.
    ShipmentStatus, "shipment" {
        /// Linked to its supplier order (which is `shipped`).
        Matched => "matched",
        /// No supplier order could be picked; it waits for review or a rematch.
        Unmatched => "unmatched",
        /// An operator dismissed it.
        Dismissed => "dismissed",
    }
}

use serde::Serialize;
use serde_json::{Value, json};

use crate::mapping::asserts::lookup;
use crate::orders::{FieldError, shown};
use crate::values::imei;

/// The fields of a shipment, each with the dotted path it is read from.
pub const MAPPING_KEYS: &[&str] = &[
    "external_order_id",
    "track_and_trace",
    "carrier",
    "serial_number",
    "imei",
    "items",
];

/// The longest text kept for a single field.
pub const MAX_FIELD_CHARS: usize = 255;

/// The most units one shipment may list.
pub const MAX_UNITS: usize = 1000;

/// Where a refurbisher's shipment payload has each field: dotted paths (`tracking.code`,
/// `lines.0.ref`). `serial_number` and `imei` are read at the top level of the body and
/// inside each element of the `items` array.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipmentMapping {
    /// The refurbisher's order reference, as it answered when the order was placed.
    pub external_order_id: String,
    /// The carrier's tracking code.
    pub track_and_trace: String,
    /// The carrier (optional in the body).
    pub carrier: String,
    /// One unit's serial number.
    pub serial_number: String,
    /// One unit's IMEI.
    pub imei: String,
    /// The array of units, each with its own serial number and/or IMEI.
    pub items: String,
}

impl Default for ShipmentMapping {
    fn default() -> Self {
        Self {
            external_order_id: "external_order_id".into(),
            track_and_trace: "track_and_trace".into(),
            carrier: "carrier".into(),
            serial_number: "serial_number".into(),
            imei: "imei".into(),
            items: "items".into(),
        }
    }
}

impl ShipmentMapping {
    /// Set the path of mapping key `key` (one of [`MAPPING_KEYS`]); `false` for another key.
    pub fn set(&mut self, key: &str, path: String) -> bool {
        let slot = match key {
            "external_order_id" => &mut self.external_order_id,
            "track_and_trace" => &mut self.track_and_trace,
            "carrier" => &mut self.carrier,
            "serial_number" => &mut self.serial_number,
            "imei" => &mut self.imei,
            "items" => &mut self.items,
            _ => return false,
        };
        *slot = path;
        true
    }
}

/// One shipped device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShippedUnit {
    /// Its serial number.
    pub serial_number: Option<String>,
    /// Its IMEI, as sent (trimmed).
    pub imei: Option<String>,
    /// Whether the IMEI is 15 digits with a correct Luhn check digit; `None` without IMEI.
    pub imei_valid: Option<bool>,
}

/// A checked shipment update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shipment {
    /// The refurbisher's order reference.
    pub external_order_id: String,
    /// The carrier's tracking code.
    pub track_and_trace: String,
    /// The carrier, when sent.
    pub carrier: Option<String>,
    /// The shipped units, at least one.
    pub units: Vec<ShippedUnit>,
}

impl Shipment {
    /// The text that identifies this shipment whatever the JSON looked like (key order,
    /// spacing, extra fields): a repeat of it is the same shipment. Units are sorted, so the
    /// same devices listed in another order are the same shipment too.
    pub fn identity(&self) -> String {
        let mut units: Vec<(String, String)> = self
            .units
            .iter()
            .map(|u| {
                (
                    u.serial_number.clone().unwrap_or_default(),
                    u.imei.clone().unwrap_or_default(),
                )
            })
            .collect();
        units.sort();
        json!([
            self.external_order_id,
            self.track_and_trace,
            self.carrier,
            units
        ])
        .to_string()
    }

    /// How many units carry an IMEI that fails its check.
    pub fn bad_imeis(&self) -> usize {
        self.units
            .iter()
            .filter(|u| u.imei_valid == Some(false))
            .count()
    }
}

struct Check<'a> {
    errors: Vec<FieldError>,
    body: &'a Value,
}

impl Check<'_> {
    fn error(&mut self, field: &str, value: Option<&Value>, expected: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.to_owned(),
            value: shown(value),
            expected: expected.into(),
        });
    }

    /// A text field: a string or a number (an IMEI or order id sent as a JSON number), trimmed,
    /// not empty, at most [`MAX_FIELD_CHARS`].
    fn text(&mut self, field: &str, v: Option<&Value>, required: bool) -> Option<String> {
        let text = match v {
            None | Some(Value::Null) => {
                if required {
                    self.error(field, v, "a non-empty string");
                }
                return None;
            }
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => n.to_string(),
            Some(other) => {
                self.error(field, Some(other), "a string");
                return None;
            }
        };
        if text.is_empty() {
            if required {
                self.error(field, v, "a non-empty string");
            }
            return None;
        }
        if text.chars().count() > MAX_FIELD_CHARS {
            self.error(field, v, format!("at most {MAX_FIELD_CHARS} characters"));
            return None;
        }
        // A code, a reference or a carrier name has no control characters (and PostgreSQL
        // cannot store U+0000 in text at all).
        if text.chars().any(char::is_control) {
            self.error(field, v, "text without control characters");
            return None;
        }
        Some(text)
    }

    /// The serial number and IMEI of one unit inside `scope` (the body or an item).
    fn unit(
        &mut self,
        scope: &Value,
        prefix: &str,
        m: &ShipmentMapping,
    ) -> (Option<ShippedUnit>, bool) {
        let serial_field = join(prefix, &m.serial_number);
        let imei_field = join(prefix, &m.imei);
        let serial_v = lookup(scope, &m.serial_number);
        let imei_v = lookup(scope, &m.imei);
        let present = !matches!(serial_v, None | Some(Value::Null))
            || !matches!(imei_v, None | Some(Value::Null));
        let before = self.errors.len();
        let serial_number = self.text(&serial_field, serial_v, false);
        let imei = self.text(&imei_field, imei_v, false);
        if self.errors.len() > before {
            return (None, present);
        }
        if serial_number.is_none() && imei.is_none() {
            return (None, present);
        }
        let imei_valid = imei.as_deref().map(imei::is_valid);
        (
            Some(ShippedUnit {
                serial_number,
                imei,
                imei_valid,
            }),
            present,
        )
    }
}

fn join(prefix: &str, path: &str) -> String {
    if prefix.is_empty() {
        path.to_owned()
    } else {
        format!("{prefix}.{path}")
    }
}

/// Check a shipment body against `mapping`.
///
/// # Errors
/// Every bad or missing field, each with the path the sender used (`items.1.imei`), the value
/// and what was expected.
pub fn parse_shipment(
    body: &Value,
    mapping: &ShipmentMapping,
) -> Result<Shipment, Vec<FieldError>> {
    let mut c = Check {
        errors: Vec::new(),
        body,
    };
    if !body.is_object() {
        c.error("(body)", Some(body), "a JSON object");
        return Err(c.errors);
    }
    let external_order_id = c.text(
        &mapping.external_order_id,
        lookup(c.body, &mapping.external_order_id),
        true,
    );
    let track_and_trace = c.text(
        &mapping.track_and_trace,
        lookup(c.body, &mapping.track_and_trace),
        true,
    );
    let carrier = c.text(&mapping.carrier, lookup(c.body, &mapping.carrier), false);

    let mut units = Vec::new();
    let (top, top_present) = c.unit(body, "", mapping);
    match lookup(body, &mapping.items) {
        None | Some(Value::Null) => match top {
            Some(u) => units.push(u),
            None if !top_present => c.error(
                &mapping.serial_number,
                None,
                format!(
                    "the device: `{}` or `{}`, or an `{}` array of them",
                    mapping.serial_number, mapping.imei, mapping.items
                ),
            ),
            None if c.errors.is_empty() => c.error(
                &mapping.serial_number,
                lookup(body, &mapping.serial_number),
                format!("a serial number, or an IMEI in `{}`", mapping.imei),
            ),
            None => {}
        },
        Some(Value::Array(items)) => {
            if top_present {
                c.error(
                    &mapping.items,
                    None,
                    format!(
                        "the devices either in `{}` or as top-level `{}`/`{}`, not both",
                        mapping.items, mapping.serial_number, mapping.imei
                    ),
                );
            }
            if items.is_empty() {
                c.error(
                    &mapping.items,
                    lookup(body, &mapping.items),
                    "at least one device",
                );
            } else if items.len() > MAX_UNITS {
                c.error(
                    &mapping.items,
                    None,
                    format!("at most {MAX_UNITS} devices, got {}", items.len()),
                );
            }
            for (i, item) in items.iter().take(MAX_UNITS).enumerate() {
                let prefix = format!("{}.{i}", mapping.items);
                if !item.is_object() {
                    c.error(
                        &prefix,
                        Some(item),
                        "an object with a serial number and/or IMEI",
                    );
                    continue;
                }
                let before = c.errors.len();
                match c.unit(item, &prefix, mapping) {
                    (Some(u), _) => units.push(u),
                    (None, _) if c.errors.len() == before => c.error(
                        &join(&prefix, &mapping.serial_number),
                        None,
                        format!("a serial number, or an IMEI in `{}`", mapping.imei),
                    ),
                    (None, _) => {}
                }
            }
        }
        Some(other) => c.error(
            &mapping.items,
            Some(other),
            "an array of devices, each with a serial number and/or IMEI",
        ),
    }
    // The same device twice in one shipment is a mistake of the sender.
    let mut seen = std::collections::HashSet::new();
    for u in &units {
        for (what, v) in [("IMEI", &u.imei), ("serial number", &u.serial_number)] {
            if let Some(v) = v
                && !seen.insert((what, v.clone()))
            {
                c.error(
                    &mapping.items,
                    Some(&Value::String(v.clone())),
                    format!("each {what} once per shipment"),
                );
            }
        }
    }
    match (external_order_id, track_and_trace) {
        (Some(external_order_id), Some(track_and_trace)) if c.errors.is_empty() => Ok(Shipment {
            external_order_id,
            track_and_trace,
            carrier,
            units,
        }),
        _ => Err(c.errors),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(v: Value) -> Result<Shipment, Vec<FieldError>> {
        parse_shipment(&v, &ShipmentMapping::default())
    }

    fn errors(v: Value) -> Vec<String> {
        match parse(v) {
            Ok(s) => panic!("accepted: {s:?}"),
            Err(e) => e.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn the_default_body_is_read() {
        let Ok(s) = parse(json!({
            "external_order_id": "FX-1001",
            "track_and_trace": " 3SABCD1234567 ",
            "carrier": "PostNL",
            "imei": "490154203237518",
            "shipped_at": "extra fields are kept in the raw payload, not refused"
        })) else {
            panic!("refused");
        };
        assert_eq!(s.external_order_id, "FX-1001");
        assert_eq!(s.track_and_trace, "3SABCD1234567");
        assert_eq!(s.carrier.as_deref(), Some("PostNL"));
        assert_eq!(
            s.units,
            vec![ShippedUnit {
                serial_number: None,
                imei: Some("490154203237518".into()),
                imei_valid: Some(true)
            }]
        );
    }

    #[test]
    fn a_bad_imei_is_kept_and_flagged() {
        let Ok(s) = parse(json!({
            "external_order_id": 1001,
            "track_and_trace": "T",
            "items": [{"imei": 490154203237519_u64}, {"serial_number": "C02XK1"}, {"imei": "12345"}]
        })) else {
            panic!("refused");
        };
        assert_eq!(s.external_order_id, "1001");
        assert_eq!(s.units.len(), 3);
        assert_eq!(s.units[0].imei_valid, Some(false));
        assert_eq!(s.units[1].imei_valid, None);
        assert_eq!(s.units[2].imei_valid, Some(false));
        assert_eq!(s.bad_imeis(), 2);
    }

    #[test]
    fn every_bad_field_is_named() {
        assert_eq!(
            errors(
                json!({"track_and_trace": "", "carrier": {"name": "DHL"}, "items": [{"imei": true}, "x", {}]})
            ),
            vec![
                "external_order_id: got nothing, expected a non-empty string",
                "track_and_trace: got \"\", expected a non-empty string",
                "carrier: got {\"name\":\"DHL\"}, expected a string",
                "items.0.imei: got true, expected a string",
                "items.1: got \"x\", expected an object with a serial number and/or IMEI",
                "items.2.serial_number: got nothing, expected a serial number, or an IMEI in `imei`",
            ]
        );
        assert_eq!(
            errors(json!({"external_order_id": "A", "track_and_trace": "T"})),
            vec![
                "serial_number: got nothing, expected the device: `serial_number` or `imei`, or an `items` array of them"
            ]
        );
        assert_eq!(
            errors(
                json!({"external_order_id": "A", "track_and_trace": "T", "imei": "1", "items": []})
            ),
            vec![
                "items: got nothing, expected the devices either in `items` or as top-level `serial_number`/`imei`, not both",
                "items: got [], expected at least one device",
            ]
        );
        assert_eq!(
            errors(json!([1])),
            vec!["(body): got [1], expected a JSON object"]
        );
        assert_eq!(
            errors(json!({"external_order_id": "A\u{0}", "track_and_trace": "T\nX", "imei": "1"})),
            vec![
                "external_order_id: got \"A\\u0000\", expected text without control characters",
                "track_and_trace: got \"T\\nX\", expected text without control characters",
            ]
        );
        assert_eq!(
            errors(
                json!({"external_order_id": "A", "track_and_trace": "T", "items": [{"imei": "1"}, {"imei": "1"}]})
            ),
            vec!["items: got \"1\", expected each IMEI once per shipment"]
        );
    }

    #[test]
    fn a_mapping_reads_another_payload_and_names_its_paths() {
        let mut m = ShipmentMapping::default();
        assert!(m.set("external_order_id", "order.reference".into()));
        assert!(m.set("track_and_trace", "tracking.code".into()));
        assert!(m.set("items", "devices".into()));
        assert!(m.set("imei", "imei_number".into()));
        assert!(!m.set("unknown", "x".into()));
        let Ok(s) = parse_shipment(
            &json!({"order": {"reference": "R-1"}, "tracking": {"code": "JVGL1"},
                    "devices": [{"imei_number": "356938035643809"}]}),
            &m,
        ) else {
            panic!("refused");
        };
        assert_eq!(s.external_order_id, "R-1");
        assert_eq!(s.units[0].imei_valid, Some(true));
        let Err(e) = parse_shipment(&json!({"order": {}, "devices": [{"imei_number": []}]}), &m)
        else {
            panic!("accepted");
        };
        let shown: Vec<String> = e.iter().map(|e| e.field.clone()).collect();
        assert_eq!(
            shown,
            vec!["order.reference", "tracking.code", "devices.0.imei_number"]
        );
    }

    fn json_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop::sample::select(vec![
            "external_order_id",
            "track_and_trace",
            "carrier",
            "serial_number",
            "imei",
            "items",
            "order",
            "id",
            "data",
            "devices",
        ]);
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|f| json!(f)),
            "[0-9A-Za-z ]{0,20}".prop_map(Value::String),
            "[0-9]{15}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(|kv| {
                    Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                }),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn any_json_body_keeps_the_fuzz_invariants(v in json_value()) {
            crate::fuzzing::shipment(v.to_string().as_bytes());
        }
    }

    #[test]
    fn the_same_shipment_sent_differently_has_one_identity() {
        let a = parse(json!({"external_order_id": "A", "track_and_trace": "T",
            "items": [{"imei": "490154203237518"}, {"serial_number": "S1"}]}));
        let b = parse(
            json!({"items": [{"serial_number": " S1"}, {"imei": 490154203237518_u64}],
            "track_and_trace": "T", "external_order_id": "A", "note": "resent"}),
        );
        let c = parse(json!({"external_order_id": "A", "track_and_trace": "T2",
            "items": [{"imei": "490154203237518"}, {"serial_number": "S1"}]}));
        let (Ok(a), Ok(b), Ok(c)) = (a, b, c) else {
            panic!("refused");
        };
        assert_eq!(a.identity(), b.identity());
        assert_ne!(a.identity(), c.identity());
    }
}
