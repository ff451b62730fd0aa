//! The store's modules import each other in a tree, never a circle: an aggregate that needs
//! another's internals is a sign a decision or a shared leaf is in the wrong place.

#![allow(clippy::unwrap_used)] // a panic is how a test fails

use std::collections::{BTreeMap, BTreeSet};

/// `module → modules it names as crate::<module>::…`, from the sources.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("rs") {
            continue;
        }
        let module = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let mut uses = BTreeSet::new();
        for (i, _) in text.match_indices("crate::") {
            let rest = &text[i + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if rest[name.len()..].starts_with("::") && name != module && name != "testkit" {
                uses.insert(name);
            }
        }
        graph.insert(module, uses);
    }
    graph
}

/// A cycle through `node`, if any (depth-first, `path` the modules on the way).
fn cycle(
    graph: &BTreeMap<String, BTreeSet<String>>,
    node: &str,
    path: &mut Vec<String>,
    done: &mut BTreeSet<String>,
) -> Option<Vec<String>> {
    if let Some(at) = path.iter().position(|n| n == node) {
        let mut found = path[at..].to_vec();
        found.push(node.to_owned());
        return Some(found);
    }
    if done.contains(node) {
        return None;
    }
    path.push(node.to_owned());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(c) = cycle(graph, next, path, done) {
            return Some(c);
        }
    }
    path.pop();
    done.insert(node.to_owned());
    None
}

#[test]
fn store_modules_import_each_other_without_a_circle() {
    let graph = imports();
    assert!(graph.len() > 10, "read the sources: {graph:?}");
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        if let Some(c) = cycle(&graph, node, &mut Vec::new(), &mut done) {
            panic!(
                "store modules import each other in a circle: {}",
                c.join(" → ")
            );
        }
    }
}

#[test]
fn the_leaves_use_no_aggregate() {
    let graph = imports();
    for leaf in ["dialect", "marks"] {
        let uses = &graph[leaf];
        assert!(uses.is_empty(), "{leaf} uses {uses:?}");
    }
}
