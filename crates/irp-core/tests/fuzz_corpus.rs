//! Replays every input of the fuzz corpora (`fuzz/corpus/*`), so CI exercises the fuzz targets'
//! invariants without cargo-fuzz. Crashes the fuzzer finds are added there as regressions.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{} fails its invariants", path.display());
        n += 1;
    }
    assert!(n > 0, "no corpus in {}", dir.display());
}

#[test]
fn the_document_corpus_keeps_its_invariants() {
    replay("document", irp_core::fuzzing::document);
}

#[test]
fn the_mapping_expression_corpus_keeps_its_invariants() {
    replay("mapping_expr", irp_core::fuzzing::mapping_expr);
}

#[test]
fn the_price_corpus_keeps_its_invariants() {
    replay("price", irp_core::fuzzing::price);
}

#[test]
fn the_shipment_corpus_keeps_its_invariants() {
    replay("shipment", irp_core::fuzzing::shipment);
}
