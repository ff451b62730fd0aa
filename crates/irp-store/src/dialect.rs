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

/// The secondary indexes of `tables` that a bulk write sets aside (SQLite only; see
/// [`SetAside::drop`]): each one's name and the statement that creates it again.
pub(crate) struct SetAside(Vec<(String, String)>);

impl SetAside {
    /// SQLite: drop the secondary indexes of `tables` in this transaction, to build them again
    /// in one sorted pass ([`SetAside::restore`]) after a write of most of their rows — a
    /// million rows inserted into five B-trees in random key order cost twice as long as into
    /// one, plus the sorted builds. Readers keep their snapshot (WAL) and see the indexes
    /// throughout; a rollback restores them. PostgreSQL: nothing (dropping an index there locks
    /// the table against readers until the transaction ends).
    pub(crate) async fn drop(tx: &mut Tx, tables: &[&str]) -> crate::Result<SetAside> {
        let Tx::Sqlite(t) = tx else {
            return Ok(SetAside(Vec::new()));
        };
        let list = serde_json::to_string(tables).unwrap_or_else(|_| "[]".into());
        // `sql IS NULL`: the indexes of PRIMARY KEY and UNIQUE constraints, which stay.
        let indexes: Vec<(String, String)> = sqlx::query_as(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
             AND tbl_name IN (SELECT value FROM json_each($1)) ORDER BY name",
        )
        .bind(list)
        .fetch_all(&mut **t)
        .await?;
        for (name, _) in &indexes {
            sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
                .execute(&mut **t)
                .await?;
        }
        Ok(SetAside(indexes))
    }

    /// Create the indexes set aside again (in the same transaction).
    pub(crate) async fn restore(self, tx: &mut Tx) -> crate::Result<()> {
        if let Tx::Sqlite(t) = tx {
            for (_, sql) in self.0 {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut **t)
                    .await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::SetAside;
    use crate::testkit::TestDb;
    use crate::{Backend, Tx};

    async fn indexes(db: &TestDb) -> Vec<(String, String)> {
        match db.store.begin().await.unwrap() {
            Tx::Sqlite(mut t) => sqlx::query_as(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
                 AND tbl_name IN ('products', 'channel_products') ORDER BY name",
            )
            .fetch_all(&mut *t)
            .await
            .unwrap(),
            Tx::Postgres(mut t) => sqlx::query_as(
                "SELECT indexname::text, indexdef FROM pg_indexes \
                 WHERE tablename IN ('products', 'channel_products') ORDER BY indexname",
            )
            .fetch_all(&mut *t)
            .await
            .unwrap(),
        }
    }

    /// The indexes set aside come back exactly as they were, after a commit and after a
    /// rollback; PostgreSQL's are never touched.
    async fn set_aside_indexes_come_back(backend: Backend) {
        let db = TestDb::new(backend).await;
        let before = indexes(&db).await;
        assert!(before.len() >= 4, "{before:?}");

        let mut tx = db.store.begin().await.unwrap();
        let aside = SetAside::drop(&mut tx, &["products", "channel_products"])
            .await
            .unwrap();
        if backend == Backend::Sqlite {
            assert!(!aside.0.is_empty());
        } else {
            assert!(aside.0.is_empty());
        }
        aside.restore(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(indexes(&db).await, before);

        let mut tx = db.store.begin().await.unwrap();
        let _aside = SetAside::drop(&mut tx, &["products", "channel_products"])
            .await
            .unwrap();
        drop(tx);
        assert_eq!(indexes(&db).await, before);
    }

    #[tokio::test]
    async fn set_aside_indexes_come_back_on_sqlite() {
        set_aside_indexes_come_back(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn set_aside_indexes_come_back_on_postgres() {
        set_aside_indexes_come_back(Backend::Postgres).await;
    }
}
