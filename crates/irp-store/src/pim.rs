//! Product data from the PIM: the PIM source (its document, stream cursors, schedule and last
//! report) and the writing of a page of products onto `products`, keyed by EAN.
//!
//! A page is written in one transaction together with the cursor it was read up to, so a sync
//! that stops halfway continues after the last page it stored and never skips one. A product
//! whose brand or category changed is marked for the catalog recompute (margin rules can
//! depend on them); names, models and attributes are shown, not priced.

use chrono::{DateTime, Utc};
use irp_core::config::PimConfig;
use irp_core::pim::{PimProduct, Stream};
use serde_json::{Map, Value, json};
use sqlx::types::Json;

use crate::marks::mark_dirty;
use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};

/// The key of the (one) PIM source.
pub const SOURCE_KEY: &str = "ergonode";

/// The stored PIM source.
#[derive(Debug, Clone)]
pub struct StoredPim {
    /// Its configuration (references unresolved).
    pub config: PimConfig,
    /// +1 on every change of the document.
    pub version: i64,
    /// `productStream` read up to here (`None`: from the start).
    pub product_cursor: Option<String>,
    /// `productDeletedStream` read up to here.
    pub deleted_cursor: Option<String>,
    /// When `serve` syncs next.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// When the last sync ended.
    pub last_sync_at: Option<DateTime<Utc>>,
    /// When the last sync without failure ended.
    pub last_ok_at: Option<DateTime<Utc>>,
    /// `ok`, `partial` or `failed`.
    pub last_status: Option<String>,
    /// The last sync's report.
    pub last_report: Option<Value>,
}

#[derive(sqlx::FromRow)]
struct PimRow {
    document: String,
    version: i64,
    product_cursor: Option<String>,
    deleted_cursor: Option<String>,
    next_sync_at: Option<DateTime<Utc>>,
    last_sync_at: Option<DateTime<Utc>>,
    last_ok_at: Option<DateTime<Utc>>,
    last_status: Option<String>,
    last_report: Option<String>,
}

/// What writing one page did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PageWrite {
    /// Products that had no PIM data before.
    pub created: u64,
    /// Products whose PIM data changed.
    pub updated: u64,
    /// Products whose PIM data was already so.
    pub unchanged: u64,
    /// Products whose PIM data was removed (deleted in the PIM, or their SKU now carries
    /// another EAN).
    pub cleared: u64,
    /// EANs whose PIM data came from another SKU before: `(ean, old sku, new sku)`.
    pub reassigned: Vec<(String, String, String)>,
}

#[derive(sqlx::FromRow)]
struct Existing {
    name: Option<String>,
    brand: Option<String>,
    model: Option<String>,
    category: Option<String>,
    attributes: Json<Value>,
    pim_sku: Option<String>,
}

const CLEAR: &str = "name = NULL, brand = NULL, model = NULL, category = NULL, attributes = '{}', pim_sku = NULL, pim_synced_at = NULL";

/// The store's handle on PIM data and its sync ([`Store::pim`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Pim<'s>(&'s Store);

impl std::ops::Deref for Pim<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on PIM data and its sync.
    #[must_use]
    pub fn pim(&self) -> Pim<'_> {
        Pim(self)
    }
}

impl Pim<'_> {
    /// The PIM source, when one is configured.
    ///
    /// # Errors
    /// A database error; a stored document that no longer validates.
    pub async fn get(&self) -> Result<Option<StoredPim>> {
        const SQL: &str = "SELECT document, version, product_cursor, deleted_cursor, next_sync_at, last_sync_at, last_ok_at, \
             last_status, last_report FROM pim_source WHERE key = $1";
        let row: Option<PimRow> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(SOURCE_KEY)
            .fetch_optional(p)
            .await)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let doc = irp_core::config::parse_pim(&format!("{{\"pim\": {}}}", row.document));
        let config = doc.pim.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the stored PIM document no longer validates: {}",
                doc.diagnostics
                    .iter()
                    .map(|d| format!("{}: {}", d.path, d.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        Ok(Some(StoredPim {
            config,
            version: row.version,
            product_cursor: row.product_cursor,
            deleted_cursor: row.deleted_cursor,
            next_sync_at: row.next_sync_at,
            last_sync_at: row.last_sync_at,
            last_ok_at: row.last_ok_at,
            last_status: row.last_status,
            last_report: row.last_report.and_then(|r| serde_json::from_str(&r).ok()),
        }))
    }

    /// Store the PIM source: `created`, `updated` or `unchanged`. When the endpoint, the
    /// languages, the fields or the attributes change, the cursors are reset so the next sync
    /// reads every product again with the new settings.
    ///
    /// # Errors
    /// A database error.
    pub async fn apply(&self, config: &PimConfig, actor: &str) -> Result<&'static str> {
        let document = serde_json::to_string(config).unwrap_or_default();
        let mut tx = self.begin().await?;
        let at = now();
        let old: Option<(String,)> = with_tx!(&mut tx, |t| sqlx::query_as(
            "SELECT document FROM pim_source WHERE key = $1"
        )
        .bind(SOURCE_KEY)
        .fetch_optional(&mut **t)
        .await)?;
        let action = match old {
            None => {
                with_tx!(&mut tx, |t| {
                    sqlx::query(
                    "INSERT INTO pim_source (key, document, version, created_at, updated_at) VALUES ($1, $2, 1, $3, $3)"
                )
                .bind(SOURCE_KEY)
                .bind(&document)
                .bind(at)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected())
                })?;
                "created"
            }
            Some((old,)) if old == document => "unchanged",
            Some((old,)) => {
                let old: Value = serde_json::from_str(&old).unwrap_or(Value::Null);
                let new: Value = serde_json::to_value(config).unwrap_or(Value::Null);
                let remap = ["url", "languages", "fields", "attributes"]
                    .iter()
                    .any(|k| old.get(k) != new.get(k));
                let sql = if remap {
                    "UPDATE pim_source SET document = $2, version = version + 1, updated_at = $3, product_cursor = NULL, \
                     deleted_cursor = NULL, next_sync_at = NULL WHERE key = $1"
                } else {
                    "UPDATE pim_source SET document = $2, version = version + 1, updated_at = $3, next_sync_at = NULL WHERE key = $1"
                };
                with_tx!(&mut tx, |t| sqlx::query(sql)
                    .bind(SOURCE_KEY)
                    .bind(&document)
                    .bind(at)
                    .execute(&mut **t)
                    .await
                    .map(|r| r.rows_affected()))?;
                "updated"
            }
        };
        if action != "unchanged" {
            tx.audit(
                actor,
                &format!(
                    "pim.{}",
                    if action == "created" {
                        "create"
                    } else {
                        "update"
                    }
                ),
                SOURCE_KEY,
                json!({ "document": config.redacted() }),
            )
            .await?;
        }
        tx.commit().await?;
        Ok(action)
    }

    /// Forget where the streams were read up to: the next sync reads every product again.
    ///
    /// # Errors
    /// A database error.
    pub async fn reset_cursors(&self) -> Result<()> {
        with_db!(self.db(), |p| sqlx::query(
            "UPDATE pim_source SET product_cursor = NULL, deleted_cursor = NULL WHERE key = $1"
        )
        .bind(SOURCE_KEY)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Write one page of `productStream` and the cursor it was read up to, in one transaction.
    ///
    /// # Errors
    /// A database error.
    pub async fn write_products(
        &self,
        products: &[PimProduct],
        cursor: Option<&str>,
    ) -> Result<PageWrite> {
        let mut tx = self.begin().await?;
        let at = now();
        let mut out = PageWrite::default();
        let mut dirty = Vec::new();
        for p in products {
            // The SKU's data under another EAN before: that product loses it.
            let moved: Vec<(String,)> = with_tx!(&mut tx, |t| {
                sqlx::query_as(sqlx::AssertSqlSafe(
                format!("UPDATE products SET {CLEAR}, updated_at = $3 WHERE pim_sku = $1 AND ean <> $2 RETURNING ean")
            ))
            .bind(&p.sku)
            .bind(&p.ean)
            .bind(at)
            .fetch_all(&mut **t)
            .await
            })?;
            out.cleared += moved.len() as u64;
            dirty.extend(moved.into_iter().map(|(e,)| e));
            let old: Option<Existing> = with_tx!(&mut tx, |t| {
                sqlx::query_as(
                "SELECT name, brand, model, category, attributes, pim_sku FROM products WHERE ean = $1"
            )
            .bind(&p.ean)
            .fetch_optional(&mut **t)
            .await
            })?;
            let attributes = Value::Object(p.attributes.clone());
            match &old {
                Some(o)
                    if o.pim_sku.as_deref() == Some(p.sku.as_str())
                        && o.name == p.name
                        && o.brand == p.brand
                        && o.model == p.model
                        && o.category == p.category
                        && o.attributes.0 == attributes =>
                {
                    out.unchanged += 1;
                    continue;
                }
                Some(o) if o.pim_sku.is_some() => {
                    out.updated += 1;
                    if let Some(prev) = o.pim_sku.as_ref().filter(|s| **s != p.sku) {
                        out.reassigned
                            .push((p.ean.clone(), prev.clone(), p.sku.clone()));
                    }
                }
                _ => out.created += 1,
            }
            if old
                .as_ref()
                .is_none_or(|o| o.brand != p.brand || o.category != p.category)
            {
                dirty.push(p.ean.clone());
            }
            with_tx!(&mut tx, |t| {
                sqlx::query(
                "INSERT INTO products (ean, name, brand, model, category, attributes, pim_sku, pim_synced_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) ON CONFLICT (ean) DO UPDATE SET name = excluded.name, \
                 brand = excluded.brand, model = excluded.model, category = excluded.category, attributes = excluded.attributes, \
                 pim_sku = excluded.pim_sku, pim_synced_at = excluded.pim_synced_at, updated_at = excluded.updated_at"
            )
            .bind(&p.ean)
            .bind(&p.name)
            .bind(&p.brand)
            .bind(&p.model)
            .bind(&p.category)
            .bind(Json(&attributes))
            .bind(&p.sku)
            .bind(at)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected())
            })?;
        }
        mark_dirty(&mut tx, &dirty).await?;
        save_cursor(&mut tx, Stream::Products, cursor).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Remove the PIM data of deleted SKUs (one page of `productDeletedStream`) and store the
    /// cursor, in one transaction. Returns how many products lost their PIM data.
    ///
    /// # Errors
    /// A database error.
    pub async fn write_deleted(&self, skus: &[String], cursor: Option<&str>) -> Result<u64> {
        let mut tx = self.begin().await?;
        let at = now();
        let mut dirty = Vec::new();
        for sku in skus {
            let cleared: Vec<(String,)> =
                with_tx!(&mut tx, |t| sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "UPDATE products SET {CLEAR}, updated_at = $2 WHERE pim_sku = $1 RETURNING ean"
                )))
                .bind(sku)
                .bind(at)
                .fetch_all(&mut **t)
                .await)?;
            dirty.extend(cleared.into_iter().map(|(e,)| e));
        }
        mark_dirty(&mut tx, &dirty).await?;
        save_cursor(&mut tx, Stream::Deleted, cursor).await?;
        tx.commit().await?;
        Ok(dirty.len() as u64)
    }

    /// Record how a sync ended and when `serve` syncs next.
    ///
    /// # Errors
    /// A database error.
    pub async fn finish(
        &self,
        status: &str,
        report: &Value,
        next_sync_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        let at = now();
        const SQL: &str = "UPDATE pim_source SET last_sync_at = $2, last_status = $3, last_report = $4, next_sync_at = $5, \
             last_ok_at = CASE WHEN $3 = 'failed' THEN last_ok_at ELSE $2 END WHERE key = $1";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(SOURCE_KEY)
            .bind(at)
            .bind(status)
            .bind(report.to_string())
            .bind(next_sync_at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Claim the PIM sync for `owner` until `lease_until` when it is due (never synced, or
    /// `next_sync_at` passed) and nobody else holds it. Several instances on one database:
    /// only one syncs.
    ///
    /// # Errors
    /// A database error.
    pub async fn claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        const SQL: &str = "UPDATE pim_source SET lease_owner = $2, lease_until = $3 WHERE key = $1 \
             AND (next_sync_at IS NULL OR next_sync_at <= $4) AND (lease_until IS NULL OR lease_until < $4)";
        let n = with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(SOURCE_KEY)
            .bind(owner)
            .bind(lease_until)
            .bind(now)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Extend `owner`'s claim on the PIM sync to `lease_until` (while the sync runs); `false`
    /// when `owner` does not hold it any more.
    ///
    /// # Errors
    /// A database error.
    pub async fn renew(&self, owner: &str, lease_until: DateTime<Utc>) -> Result<bool> {
        const SQL: &str =
            "UPDATE pim_source SET lease_until = $3 WHERE key = $1 AND lease_owner = $2";
        let n = with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(SOURCE_KEY)
            .bind(owner)
            .bind(lease_until)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Release the claim of `owner`.
    ///
    /// # Errors
    /// A database error.
    pub async fn release(&self, owner: &str) -> Result<()> {
        with_db!(self.db(), |p| {
            sqlx::query(
            "UPDATE pim_source SET lease_owner = NULL, lease_until = NULL WHERE key = $1 AND lease_owner = $2"
        )
        .bind(SOURCE_KEY)
        .bind(owner)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(())
    }

    /// A product's attributes from the PIM (`{}` when it has none).
    ///
    /// # Errors
    /// A database error.
    pub async fn product_attributes(&self, ean: &str) -> Result<Map<String, Value>> {
        let v: Option<(Json<Value>,)> = with_db!(self.db(), |p| sqlx::query_as(
            "SELECT attributes FROM products WHERE ean = $1"
        )
        .bind(ean)
        .fetch_optional(p)
        .await)?;
        Ok(match v {
            Some((Json(Value::Object(m)),)) => m,
            _ => Map::new(),
        })
    }
}

async fn save_cursor(tx: &mut Tx, stream: Stream, cursor: Option<&str>) -> Result<()> {
    let Some(cursor) = cursor else {
        return Ok(());
    };
    let sql = match stream {
        Stream::Products => "UPDATE pim_source SET product_cursor = $2 WHERE key = $1",
        Stream::Deleted => "UPDATE pim_source SET deleted_cursor = $2 WHERE key = $1",
    };
    with_tx!(tx, |t| sqlx::query(sql)
        .bind(SOURCE_KEY)
        .bind(cursor)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}
