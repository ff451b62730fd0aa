//! Migrations only add, so that an older instance keeps running on the schema a newer one has
//! migrated during a rolling deploy (CONVENTIONS.md, "Migrations are additive"): a statement
//! that drops, renames or retypes something, or makes a column `NOT NULL` after the fact, is
//! refused unless it is on the reviewed list below with why it was safe.

use std::path::Path;

/// Reviewed statements that are not additive: (file, statement start, why it was safe).
const REVIEWED: &[(&str, &str, &str)] = &[
    (
        "postgres/0004_offers_bulk_writes.sql",
        "ALTER TABLE offers DROP CONSTRAINT",
        "a foreign key no code relied on; dropping it only lets more writes through",
    ),
    (
        "postgres/0008_shipments_monitoring.sql",
        "ALTER TABLE shipments ALTER COLUMN payload TYPE TEXT",
        "before several instances were supported; JSONB to TEXT reads back as the same string",
    ),
];

/// What makes a statement not additive (upper-cased, whitespace collapsed).
const REMOVING: &[&str] = &[
    "DROP TABLE",
    "DROP COLUMN",
    "DROP CONSTRAINT",
    "DROP INDEX",
    "DROP VIEW",
    "RENAME ",
    " TYPE ",
    "SET NOT NULL",
    "DELETE FROM",
    "TRUNCATE",
];

#[test]
fn migrations_only_add_unless_reviewed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut refused = Vec::new();
    let mut files = 0;
    for dialect in ["sqlite", "postgres"] {
        let mut entries: Vec<_> = std::fs::read_dir(root.join(dialect))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        entries.sort();
        for path in entries {
            files += 1;
            let name = format!("{dialect}/{}", path.file_name().unwrap().to_string_lossy());
            let text = std::fs::read_to_string(&path).unwrap();
            // Comments out, statements one by one.
            let code: String = text
                .lines()
                .map(|l| l.split("--").next().unwrap_or(""))
                .collect::<Vec<_>>()
                .join(" ");
            for statement in code.split(';') {
                let s = statement
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_uppercase();
                if s.is_empty() || !REMOVING.iter().any(|r| s.contains(r)) {
                    continue;
                }
                let reviewed = REVIEWED
                    .iter()
                    .any(|(file, start, _)| *file == name && s.starts_with(&start.to_uppercase()));
                if !reviewed {
                    refused.push(format!("{name}: {s}"));
                }
            }
        }
    }
    assert!(
        files >= 36,
        "the migrations were not found in {}",
        root.display()
    );
    assert!(
        refused.is_empty(),
        "not additive (an older instance may still use what these remove; see CONVENTIONS.md):\n{}",
        refused.join("\n")
    );
}

/// The check bites: a drop is refused, an added nullable column is not.
#[test]
fn the_check_tells_a_removal_from_an_addition() {
    let removing = |s: &str| REMOVING.iter().any(|r| s.to_uppercase().contains(r));
    assert!(removing("ALTER TABLE offers DROP COLUMN reserved"));
    assert!(removing("ALTER TABLE orders RENAME COLUMN status TO state"));
    assert!(removing(
        "ALTER TABLE orders ALTER COLUMN status TYPE BIGINT"
    ));
    assert!(!removing("ALTER TABLE orders ADD COLUMN note TEXT"));
    assert!(!removing("CREATE INDEX orders_note ON orders (note)"));
}
