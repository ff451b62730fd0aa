//! Where SQLite and PostgreSQL differ in what IRP asks of them, in one place: multi-row
//! statements, row locks, claims that skip rows another instance holds.
//!
//! A leaf of the store: every aggregate may use it; it uses none of them.

use crate::{Tx, with_tx};

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

/// What a bulk write sets aside on `tables` (see [`SetAside::drop`]): each thing's name and the
/// statement that creates it again.
pub(crate) struct SetAside(Vec<(String, String)>);

impl SetAside {
    /// Drop, in this transaction, what makes each row written into `tables` cost more than
    /// building it again at the end ([`SetAside::restore`]), before a write of most of their
    /// rows. A rollback restores everything.
    ///
    /// - SQLite: the secondary indexes (a million rows inserted into five B-trees in random key
    ///   order cost twice as long as into one, plus the sorted builds). Readers keep their
    ///   snapshot (WAL) and are not held up.
    /// - PostgreSQL: the secondary indexes, and the foreign keys to `referenced` (checked by a
    ///   trigger per row; added again, they are checked by one join). Dropping them locks the
    ///   tables until the transaction ends: readers of `tables` wait for the write. Adding a
    ///   foreign key back locks the table it references against writes, so `referenced` names
    ///   only tables no concurrent work writes while waiting for this transaction.
    ///
    /// The indexes named in `keep` stay (those the bulk work reads by).
    pub(crate) async fn drop(
        tx: &mut Tx,
        tables: &[&str],
        referenced: &[&str],
        keep: &[&str],
    ) -> crate::Result<SetAside> {
        let keep: Vec<String> = keep.iter().map(|k| (*k).to_owned()).collect();
        let aside: Vec<(String, String)> = match tx {
            Tx::Sqlite(t) => {
                let list = serde_json::to_string(tables).unwrap_or_else(|_| "[]".into());
                // `sql IS NULL`: the indexes of PRIMARY KEY and UNIQUE constraints, which stay.
                let indexes: Vec<(String, String)> = sqlx::query_as(
                    "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL \
                     AND tbl_name IN (SELECT value FROM json_each($1)) \
                     AND name NOT IN (SELECT value FROM json_each($2)) ORDER BY name",
                )
                .bind(list)
                .bind(serde_json::to_string(&keep).unwrap_or_else(|_| "[]".into()))
                .fetch_all(&mut **t)
                .await?;
                for (name, _) in &indexes {
                    sqlx::query(sqlx::AssertSqlSafe(format!("DROP INDEX \"{name}\"")))
                        .execute(&mut **t)
                        .await?;
                }
                indexes
            }
            Tx::Postgres(t) => {
                let tables: Vec<String> = tables.iter().map(|t| (*t).to_owned()).collect();
                // Indexes that back no constraint, then foreign keys: (drop, create).
                let found: Vec<(String, String)> = sqlx::query_as(
                    "SELECT format('DROP INDEX %I', i.relname), pg_get_indexdef(i.oid) \
                     FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
                     WHERE x.indrelid IN (SELECT to_regclass(n) FROM unnest($1::text[]) AS n) \
                       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) \
                       AND i.relname <> ALL($3::text[]) \
                     UNION ALL \
                     SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname), \
                            format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) \
                     FROM pg_constraint c \
                     WHERE c.contype = 'f' AND c.conrelid IN (SELECT to_regclass(n) FROM unnest($1::text[]) AS n) \
                       AND c.confrelid IN (SELECT to_regclass(n) FROM unnest($2::text[]) AS n)",
                )
                .bind(&tables)
                .bind(referenced.iter().map(|t| (*t).to_owned()).collect::<Vec<_>>())
                .bind(&keep)
                .fetch_all(&mut **t)
                .await?;
                for (drop, _) in &found {
                    sqlx::query(sqlx::AssertSqlSafe(drop.clone()))
                        .execute(&mut **t)
                        .await?;
                }
                found
            }
        };
        Ok(SetAside(aside))
    }

    /// Create what was set aside again (in the same transaction).
    pub(crate) async fn restore(self, tx: &mut Tx) -> crate::Result<()> {
        for (_, sql) in self.0 {
            with_tx!(tx, |t| sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()))?;
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
                 WHERE tablename IN ('products', 'channel_products') \
                 UNION ALL SELECT conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
                 WHERE conrelid IN ('products'::regclass, 'channel_products'::regclass) ORDER BY 1, 2",
            )
            .fetch_all(&mut *t)
            .await
            .unwrap(),
        }
    }

    /// The indexes (and on PostgreSQL the foreign keys) set aside come back exactly as they
    /// were, after a commit and after a rollback.
    async fn set_aside_indexes_come_back(backend: Backend) {
        let db = TestDb::new(backend).await;
        let before = indexes(&db).await;
        assert!(before.len() >= 4, "{before:?}");

        let mut tx = db.store.begin().await.unwrap();
        let aside = SetAside::drop(
            &mut tx,
            &["products", "channel_products"],
            &["channels"],
            &["channel_products_ean"],
        )
        .await
        .unwrap();
        assert!(aside.0.len() >= 4, "{}", aside.0.len());
        let kept = |(d, c): &(String, String)| {
            !d.contains("channel_products_ean") && !c.contains("channel_products_ean")
        };
        assert!(aside.0.iter().all(kept), "{:?}", aside.0);
        aside.restore(&mut tx).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(indexes(&db).await, before);

        let mut tx = db.store.begin().await.unwrap();
        let _aside = SetAside::drop(
            &mut tx,
            &["products", "channel_products"],
            &["channels"],
            &[],
        )
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
