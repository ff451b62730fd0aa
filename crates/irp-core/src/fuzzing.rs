//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpus.
//! Each one feeds arbitrary bytes to a parser and checks its invariants, panicking when one
//! does not hold (which the fuzzer reports as a crash).

use crate::config::{self, parse_document};
use crate::mapping::{context::Scope, expr};
use crate::values::locale::LOCALES;

/// Refurbisher documents: parsing never panics, every diagnostic points inside the text, and
/// every accepted refurbisher reads back identically from its canonical form.
pub fn document(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let doc = parse_document(text);
    let lines = text.lines().count().max(1) + 1;
    for d in doc.diagnostics.iter() {
        if let Some(p) = d.position {
            assert!(
                p.line >= 1 && p.line <= lines,
                "{d:?} outside {lines} lines"
            );
        }
    }
    for r in &doc.refurbishers {
        let canonical = serde_json::json!({ (r.key.clone()): r.to_canonical_json() });
        let again = parse_document(&canonical.to_string());
        assert!(
            !again.diagnostics.has_errors(),
            "canonical form rejected: {:?}",
            again.diagnostics
        );
        assert_eq!(
            again.refurbishers.first(),
            Some(r),
            "canonical form differs"
        );
        let _ = config::redact(&canonical);
    }
}

/// Mapping expressions: parsing and checking never panic, in either scope.
pub fn mapping_expr(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(e) = expr::parse(text) {
        let _ = expr::check(&e, Scope::SupplierOrder);
        let _ = expr::check(&e, Scope::Item);
    }
}

/// Prices: parsing never panics in any locale, and what parses has at most the digits given.
pub fn price(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for l in LOCALES {
        if let Ok(d) = l.parse(text) {
            let digits = text.chars().filter(char::is_ascii_digit).count();
            assert!(
                d.mantissa().unsigned_abs().to_string().len() <= digits.max(1),
                "{text:?} → {d}"
            );
        }
    }
}

/// Shipment webhook bodies: checking never panics; an accepted shipment has an order id, a
/// tracking code and at least one unit, each field non-empty and at most
/// [`crate::shipments::MAX_FIELD_CHARS`]; a refused one names at least one field; the identity
/// of a shipment does not depend on the order its units came in.
pub fn shipment(data: &[u8]) {
    use crate::shipments::{MAX_FIELD_CHARS, ShipmentMapping, parse_shipment};
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    let mut nested = ShipmentMapping::default();
    nested.set("external_order_id", "order.id".into());
    nested.set("items", "data.devices".into());
    for m in [ShipmentMapping::default(), nested] {
        match parse_shipment(&v, &m) {
            Ok(s) => {
                let ok = |t: &str| !t.is_empty() && t.chars().count() <= MAX_FIELD_CHARS;
                assert!(ok(&s.external_order_id) && ok(&s.track_and_trace));
                assert!(!s.units.is_empty());
                for u in &s.units {
                    assert!(u.serial_number.is_some() || u.imei.is_some());
                    assert_eq!(u.imei_valid.is_some(), u.imei.is_some());
                }
                let mut reversed = s.clone();
                reversed.units.reverse();
                assert_eq!(s.identity(), reversed.identity());
            }
            Err(errors) => assert!(!errors.is_empty()),
        }
    }
}
