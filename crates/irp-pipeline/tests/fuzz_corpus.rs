//! Replays the feed-format fuzz corpora (`fuzz/corpus/feed_*`), so CI exercises the fuzz
//! targets' invariants without cargo-fuzz.

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
        assert!(
            std::panic::catch_unwind(|| run(&data)).is_ok(),
            "{} fails its invariants",
            path.display()
        );
        n += 1;
    }
    assert!(n > 0, "no corpus in {}", dir.display());
}

#[test]
fn the_csv_corpus_keeps_its_invariants() {
    replay("feed_csv", irp_pipeline::fuzzing::csv);
}

#[test]
fn the_json_corpus_keeps_its_invariants() {
    replay("feed_json", irp_pipeline::fuzzing::json);
}

#[test]
fn the_xml_corpus_keeps_its_invariants() {
    replay("feed_xml", irp_pipeline::fuzzing::xml);
}
