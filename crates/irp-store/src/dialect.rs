//! Where SQLite and PostgreSQL differ in what IRP asks of them, in one place: multi-row
//! statements, row locks, claims that skip rows another instance holds.
//!
//! A leaf of the store: every aggregate may use it; it uses none of them.

use crate::Tx;

/// `{head} VALUES (?, …), …` for `rows` rows of `per_row` parameters on SQLite. Only
/// anonymous parameters: SQLite looks numbered ones up in a list, which makes binding thousands
/// of them quadratic.
pub(crate) fn sqlite_values(head: &str, rows: usize, per_row: usize) -> String {
    let mut one = String::from("(?");
    for _ in 1..per_row {
        one.push_str(",?");
    }
    one.push(')');
    let mut sql = String::with_capacity(head.len() + 8 + rows * (one.len() + 1));
    sql.push_str(head);
    sql.push_str(" VALUES ");
    for i in 0..rows {
        if i > 0 {
            sql.push(',');
        }
        sql.push_str(&one);
    }
    sql
}

/// ` FOR UPDATE` on PostgreSQL (the row is locked until the transaction ends), nothing on
/// SQLite (whose write transaction holds the whole database).
pub(crate) fn for_update(tx: &Tx) -> &'static str {
    if matches!(tx, Tx::Postgres(_)) {
        " FOR UPDATE"
    } else {
        ""
    }
}
