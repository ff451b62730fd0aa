//! The catalog's dirty marks and the settings lock: what every change of a product's offers or
//! their pricing writes in its own transaction, and what the catalog recompute drains.
//!
//! A leaf of the store: the aggregates (offers, orders, refurbishers, PIM data, channels) call
//! it; it calls none of them.

use crate::{Result, Tx, with_tx};

/// Mark `eans` dirty (in the caller's transaction).
///
/// # Errors
/// A database error.
pub(crate) async fn mark_dirty(tx: &mut Tx, eans: &[String]) -> Result<()> {
    if eans.is_empty() {
        return Ok(());
    }
    match tx {
        Tx::Postgres(t) => {
            const SQL: &str = "INSERT INTO catalog_dirty (ean) SELECT DISTINCT e FROM UNNEST($1::text[]) AS u(e) WHERE e <> '' ON CONFLICT DO NOTHING";
            for chunk in eans.chunks(50_000) {
                sqlx::query(SQL).bind(chunk).execute(&mut **t).await?;
            }
        }
        Tx::Sqlite(t) => {
            for chunk in eans.chunks(10_000) {
                const SQL: &str = "INSERT INTO catalog_dirty (ean) SELECT value FROM json_each(?) WHERE value <> '' ON CONFLICT DO NOTHING";
                let list = serde_json::to_string(chunk).unwrap_or_else(|_| "[]".into());
                sqlx::query(SQL).bind(list).execute(&mut **t).await?;
            }
        }
    }
    Ok(())
}

/// Mark the EANs `select` returns dirty; `select` is a `SELECT ean FROM …` with `$1…` bound to
/// `ids`.
///
/// # Errors
/// A database error.
pub(crate) async fn mark_dirty_where(tx: &mut Tx, select: &str, ids: &[i64]) -> Result<u64> {
    let sql = format!(
        "INSERT INTO catalog_dirty (ean) SELECT DISTINCT ean FROM ({select}) AS m WHERE ean IS NOT NULL AND ean <> '' ON CONFLICT DO NOTHING"
    );
    Ok(with_tx!(tx, |t| {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for id in ids {
            q = q.bind(*id);
        }
        q.execute(&mut **t).await.map(|r| r.rows_affected())
    })?)
}

/// A refurbisher with at least this many offers, holding at least a quarter of all offers, is
/// marked as a whole catalog ([`mark_everything`]) rather than EAN by EAN: writing a mark per
/// EAN costs more than the recompute's ordered walk saves.
const WHOLE_CATALOG_FROM: i64 = 10_000;

/// Every EAN the refurbisher has offers for, marked dirty in the caller's transaction: one mark
/// per EAN, or the whole-catalog mark when the refurbisher holds much of the catalog (see
/// [`WHOLE_CATALOG_FROM`]). Returns the marks written (1 for the whole-catalog mark).
///
/// # Errors
/// A database error.
pub(crate) async fn mark_refurbisher_dirty(tx: &mut Tx, refurbisher_id: i64) -> Result<u64> {
    const OWN: &str = "SELECT COUNT(*) FROM offers WHERE refurbisher_id = $1";
    let own: i64 = with_tx!(tx, |t| sqlx::query_scalar(OWN)
        .bind(refurbisher_id)
        .fetch_one(&mut **t)
        .await)?;
    mark_many_dirty(
        tx,
        own,
        "SELECT ean FROM offers WHERE refurbisher_id = $1",
        &[refurbisher_id],
    )
    .await
}

/// Mark the EANs of about `offers` offers, which `select` returns (as [`mark_dirty_where`]): one
/// mark per EAN, or the whole-catalog mark when they are much of the catalog (see
/// [`WHOLE_CATALOG_FROM`]).
///
/// # Errors
/// A database error.
pub(crate) async fn mark_many_dirty(
    tx: &mut Tx,
    offers: i64,
    select: &str,
    ids: &[i64],
) -> Result<u64> {
    if offers >= WHOLE_CATALOG_FROM {
        const ALL: &str = "SELECT COUNT(*) FROM offers";
        let all: i64 = with_tx!(tx, |t| sqlx::query_scalar(ALL).fetch_one(&mut **t).await)?;
        if offers.saturating_mul(4) >= all {
            return mark_everything(tx).await;
        }
    }
    mark_dirty_where(tx, select, ids).await
}

/// Mark the whole catalog for recomputing (in the caller's transaction): one row, however
/// large the catalog; the recompute walks every product in EAN order.
///
/// # Errors
/// A database error.
pub(crate) async fn mark_everything(tx: &mut Tx) -> Result<u64> {
    const SQL: &str = "INSERT INTO catalog_dirty_all (id) VALUES (1) ON CONFLICT DO NOTHING";
    with_tx!(tx, |t| sqlx::query(SQL)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(1)
}

/// PostgreSQL: the transaction-scoped advisory lock that orders catalog recomputes and changes
/// of what pricing reads (refurbishers, channels), so a recompute never prices marks of a
/// change with the settings from before it. SQLite's write lock does this by itself.
pub(crate) async fn lock_settings(tx: &mut Tx) -> Result<()> {
    if let Tx::Postgres(t) = tx {
        // 0x49525043 = "IRPC".
        sqlx::query("SELECT pg_advisory_xact_lock(1230131267)")
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

/// Units ordered since the refurbisher's last applied feed count from its new stock now:
/// clear the reservations (in the feed run's transaction) and mark their products.
///
/// # Errors
/// A database error.
pub(crate) async fn clear_reservations(tx: &mut Tx, refurbisher_id: i64) -> Result<()> {
    mark_dirty_where(
        tx,
        "SELECT ean FROM offers WHERE refurbisher_id = $1 AND reserved > 0",
        &[refurbisher_id],
    )
    .await?;
    with_tx!(tx, |t| sqlx::query(
        "UPDATE order_lines SET reserved = 0 WHERE reserved > 0 AND offer_id IN \
             (SELECT id FROM offers WHERE refurbisher_id = $1 AND reserved > 0)"
    )
    .bind(refurbisher_id)
    .execute(&mut **t)
    .await
    .map(|r| r.rows_affected()))?;
    with_tx!(tx, |t| sqlx::query(
        "UPDATE offers SET reserved = 0 WHERE refurbisher_id = $1 AND reserved > 0"
    )
    .bind(refurbisher_id)
    .execute(&mut **t)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}
