//! The back office: the ERP connector's document and the Odoo document of each
//! placed supplier order — an outbox of its own beside the supplier orders': a document is
//! claimed with a lease (one instance works on it), retried with backoff, `failed` after the
//! configured attempts (an operator retries it), and never doubled (the pipeline searches Odoo
//! for the document's reference before creating one).

use chrono::{DateTime, Utc};
use irp_core::config::ErpConfig;

use irp_core::erp::ErpStatus;
use irp_core::orders::status::SupplierOrderStatus;

use crate::orders::{INTERNAL, SUBMITTED};
use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};

/// The one ERP connector's key.
pub const ERP_KEY: &str = "odoo";
// The statuses as SQL text (the names of [`ErpStatus`]).
const PENDING: &str = ErpStatus::Pending.as_str();
const WORKING: &str = ErpStatus::Working.as_str();
const DONE: &str = ErpStatus::Done.as_str();
const FAILED: &str = ErpStatus::Failed.as_str();
const SKIPPED: &str = ErpStatus::Skipped.as_str();

/// The stored ERP connector.
#[derive(Debug, Clone)]
pub struct StoredErp {
    /// Its document.
    pub config: ErpConfig,
    /// When it was first applied: supplier orders from then on get documents.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A supplier order that has no ERP document yet.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ErpCandidate {
    /// The supplier order.
    pub supplier_order_id: i64,
    /// Its refurbisher's key.
    pub refurbisher: String,
    /// Its status (`submitted`, `shipped`, `internal`).
    #[sqlx(try_from = "String")]
    pub status: SupplierOrderStatus,
}

/// The Odoo document of a supplier order.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct ErpDocument {
    /// The supplier order.
    pub supplier_order_id: i64,
    /// Its customer order.
    pub order_id: i64,
    /// That order's channel.
    pub channel: String,
    /// Its order number.
    pub order_number: String,
    /// The refurbisher's key.
    pub refurbisher: String,
    /// `purchase_order`, `sales_order` or `none`.
    pub kind: String,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub status: ErpStatus,
    /// IRP's reference on the Odoo document (`IRP-SO-<id>`).
    pub reference: String,
    /// `purchase.order` or `sale.order`, once created.
    pub odoo_model: Option<String>,
    /// The Odoo record id, once created.
    pub odoo_id: Option<i64>,
    /// The Odoo document's name (`P00012`).
    pub odoo_name: Option<String>,
    /// Attempts made.
    pub attempts: i64,
    /// `attempts` when an operator last retried it.
    pub retry_from: i64,
    /// When the next attempt is due.
    pub next_at: Option<DateTime<Utc>>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// When it reached Odoo.
    pub done_at: Option<DateTime<Utc>>,
}

const DOCUMENT_SELECT: &str = "SELECT e.supplier_order_id, so.order_id, o.channel, o.order_number, r.key AS refurbisher, \
     e.kind, e.status, e.reference, e.odoo_model, e.odoo_id, e.odoo_name, e.attempts, e.retry_from, e.next_at, \
     e.last_error, e.created_at, e.updated_at, e.done_at \
     FROM erp_documents e JOIN supplier_orders so ON so.id = e.supplier_order_id \
     JOIN orders o ON o.id = so.order_id JOIN refurbishers r ON r.id = so.refurbisher_id";

/// The store's handle on the ERP connector and the Odoo documents ([`Store::erp`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Erp<'s>(&'s Store);

impl std::ops::Deref for Erp<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on the ERP connector and the Odoo documents.
    #[must_use]
    pub fn erp(&self) -> Erp<'_> {
        Erp(self)
    }
}

impl Erp<'_> {
    /// The ERP connector, when one was applied.
    ///
    /// # Errors
    /// A database error; a stored document that no longer validates.
    pub async fn get(&self) -> Result<Option<StoredErp>> {
        let row: Option<(String, DateTime<Utc>, DateTime<Utc>)> =
            with_db!(self.db(), |p| sqlx::query_as(
                "SELECT document, created_at, updated_at FROM erp_config WHERE key = $1"
            )
            .bind(ERP_KEY)
            .fetch_optional(p)
            .await)?;
        let Some((document, created_at, updated_at)) = row else {
            return Ok(None);
        };
        let doc = irp_core::config::parse_erp(&format!("{{\"erp\": {document}}}"));
        let config = doc.erp.ok_or_else(|| {
            StoreError::Corrupt(format!(
                "the stored ERP document no longer validates: {}",
                doc.diagnostics
                    .iter()
                    .map(|d| format!("{}: {}", d.path, d.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            ))
        })?;
        Ok(Some(StoredErp {
            config,
            created_at,
            updated_at,
        }))
    }

    /// Store the ERP connector (`created`, `updated` or `unchanged`), audited.
    ///
    /// # Errors
    /// A database error.
    pub async fn apply(&self, config: &ErpConfig, actor: &str) -> Result<&'static str> {
        let document = serde_json::to_string(config).unwrap_or_default();
        let mut tx = self.begin().await?;
        let at = now();
        let old: Option<(String,)> = with_tx!(&mut tx, |t| sqlx::query_as(
            "SELECT document FROM erp_config WHERE key = $1"
        )
        .bind(ERP_KEY)
        .fetch_optional(&mut **t)
        .await)?;
        let action = match old {
            None => {
                with_tx!(&mut tx, |t| {
                    sqlx::query(
                    "INSERT INTO erp_config (key, document, created_at, updated_at) VALUES ($1, $2, $3, $3)"
                )
                .bind(ERP_KEY)
                .bind(&document)
                .bind(at)
                .execute(&mut **t)
                .await
                .map(|_| ())
                })?;
                "created"
            }
            Some((old,)) if old == document => "unchanged",
            Some(_) => {
                with_tx!(&mut tx, |t| sqlx::query(
                    "UPDATE erp_config SET document = $2, updated_at = $3 WHERE key = $1"
                )
                .bind(ERP_KEY)
                .bind(&document)
                .bind(at)
                .execute(&mut **t)
                .await
                .map(|_| ()))?;
                "updated"
            }
        };
        if action != "unchanged" {
            tx.audit(actor, &format!("erp.{action}"), ERP_KEY, config.redacted())
                .await?;
        }
        tx.commit().await?;
        Ok(action)
    }

    /// Placed supplier orders (`submitted`, `shipped`, `internal`) created since `since` that
    /// have no ERP document yet, oldest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn candidates(&self, since: DateTime<Utc>, limit: i64) -> Result<Vec<ErpCandidate>> {
        let sql = format!(
            "SELECT so.id AS supplier_order_id, r.key AS refurbisher, so.status FROM supplier_orders so \
             JOIN refurbishers r ON r.id = so.refurbisher_id \
             WHERE so.status IN ('{SUBMITTED}', 'shipped', '{INTERNAL}') AND so.created_at >= $1 \
               AND NOT EXISTS (SELECT 1 FROM erp_documents e WHERE e.supplier_order_id = so.id) \
             ORDER BY so.id LIMIT $2"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(since)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Record that supplier order `id` gets a document of `kind` (`skip`: none) with
    /// `reference`. A repeat changes nothing.
    ///
    /// # Errors
    /// A database error.
    pub async fn enqueue(&self, id: i64, kind: &str, reference: &str, skip: bool) -> Result<()> {
        let at = now();
        with_db!(self.db(), |p| {
            sqlx::query(
            "INSERT INTO erp_documents (supplier_order_id, kind, status, reference, next_at, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $5, $5) ON CONFLICT (supplier_order_id) DO NOTHING"
        )
        .bind(id)
        .bind(kind)
        .bind(if skip { SKIPPED } else { PENDING })
        .bind(reference)
        .bind(at)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// Claim up to `limit` documents that are due (or whose claim expired) for `owner`.
    ///
    /// # Errors
    /// A database error.
    pub async fn claim(
        &self,
        owner: &str,
        lease: chrono::TimeDelta,
        limit: i64,
    ) -> Result<Vec<ErpDocument>> {
        let mut tx = self.begin().await?;
        let at = now();
        let lock = if matches!(tx, Tx::Postgres(_)) {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE erp_documents SET status = '{WORKING}', lease_owner = $1, lease_until = $2, attempts = attempts + 1, updated_at = $3 \
             WHERE supplier_order_id IN (SELECT supplier_order_id FROM erp_documents \
                 WHERE (status = '{PENDING}' AND next_at <= $3) OR (status = '{WORKING}' AND lease_until < $3) \
                 ORDER BY supplier_order_id LIMIT $4{lock}) \
             RETURNING supplier_order_id"
        );
        let ids: Vec<(i64,)> = with_tx!(&mut tx, |t| sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(owner)
            .bind(at + lease)
            .bind(at)
            .bind(limit)
            .fetch_all(&mut **t)
            .await)?;
        tx.commit().await?;
        let mut out = Vec::new();
        for (id,) in ids {
            if let Some(d) = self.erp().document(id).await? {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// The document of supplier order `id`.
    ///
    /// # Errors
    /// A database error.
    pub async fn document(&self, id: i64) -> Result<Option<ErpDocument>> {
        let sql = format!("{DOCUMENT_SELECT} WHERE e.supplier_order_id = $1");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(id)
        .fetch_optional(p)
        .await)?)
    }

    /// How many documents there are of each status.
    ///
    /// # Errors
    /// A database error.
    pub async fn status_counts(&self) -> Result<Vec<(String, i64)>> {
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            "SELECT status, COUNT(*) FROM erp_documents GROUP BY status ORDER BY status"
        )
        .fetch_all(p)
        .await)?)
    }

    /// Documents, newest first, optionally of one status.
    ///
    /// # Errors
    /// A database error.
    pub async fn documents(&self, status: Option<&str>, limit: i64) -> Result<Vec<ErpDocument>> {
        let sql = format!(
            "{DOCUMENT_SELECT} WHERE ($1 IS NULL OR e.status = $1) ORDER BY e.supplier_order_id DESC LIMIT $2"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(status)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Supplier order `id`'s document is in Odoo (only while `owner` holds the claim).
    ///
    /// # Errors
    /// A database error.
    pub async fn done(
        &self,
        id: i64,
        owner: &str,
        model: &str,
        odoo_id: i64,
        name: Option<&str>,
    ) -> Result<bool> {
        let at = now();
        let n = with_db!(self.db(), |p| {
            sqlx::query(
            "UPDATE erp_documents SET status = $3, odoo_model = $4, odoo_id = $5, odoo_name = $6, last_error = NULL, \
             lease_owner = NULL, lease_until = NULL, next_at = NULL, done_at = $7, updated_at = $7 \
             WHERE supplier_order_id = $1 AND status = $8 AND lease_owner = $2"
        )
        .bind(id)
        .bind(owner)
        .bind(DONE)
        .bind(model)
        .bind(odoo_id)
        .bind(name)
        .bind(at)
        .bind(WORKING)
        .execute(p)
        .await
        .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// An attempt failed: try again at `next_at`, or give up (`None`: `failed`). The Odoo id
    /// found so far (a document created but not confirmed) is kept.
    ///
    /// # Errors
    /// A database error.
    pub async fn attempt_failed(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        next_at: Option<DateTime<Utc>>,
        found: Option<(&str, i64)>,
    ) -> Result<()> {
        let at = now();
        with_db!(self.db(), |p| {
            sqlx::query(
            "UPDATE erp_documents SET status = $3, next_at = $4, last_error = $5, lease_owner = NULL, lease_until = NULL, \
             odoo_model = COALESCE($6, odoo_model), odoo_id = COALESCE($7, odoo_id), updated_at = $8 \
             WHERE supplier_order_id = $1 AND status = $9 AND lease_owner = $2"
        )
        .bind(id)
        .bind(owner)
        .bind(if next_at.is_some() { PENDING } else { FAILED })
        .bind(next_at)
        .bind(error)
        .bind(found.map(|f| f.0))
        .bind(found.map(|f| f.1))
        .bind(at)
        .bind(WORKING)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// Extend `owner`'s claim on supplier order `id`'s document to `lease` from now: false when
    /// the claim was lost (another instance took the document over).
    ///
    /// # Errors
    /// A database error.
    pub async fn renew(&self, id: i64, owner: &str, lease: chrono::TimeDelta) -> Result<bool> {
        let at = now();
        let n = with_db!(self.db(), |p| sqlx::query(
            "UPDATE erp_documents SET lease_until = $3, updated_at = $4 \
             WHERE supplier_order_id = $1 AND status = $5 AND lease_owner = $2"
        )
        .bind(id)
        .bind(owner)
        .bind(at + lease)
        .bind(at)
        .bind(WORKING)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Supplier order `id` needs no document after all (it was cancelled before its document
    /// was made): `skipped`, with why.
    ///
    /// # Errors
    /// A database error.
    pub async fn skip(&self, id: i64, owner: &str, why: &str) -> Result<()> {
        let at = now();
        with_db!(self.db(), |p| {
            sqlx::query(
            "UPDATE erp_documents SET status = $3, last_error = $4, lease_owner = NULL, lease_until = NULL, next_at = NULL, updated_at = $5 \
             WHERE supplier_order_id = $1 AND status = $6 AND lease_owner = $2"
        )
        .bind(id)
        .bind(owner)
        .bind(SKIPPED)
        .bind(why)
        .bind(at)
        .bind(WORKING)
        .execute(p)
        .await
        .map(|_| ())
        })?;
        Ok(())
    }

    /// An operator's retry of a `failed` document: due now, its attempts counted afresh.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] without a document; [`StoreError::Conflict`] when it is not
    /// `failed`; a database error.
    pub async fn retry(&self, id: i64, actor: &str) -> Result<ErpDocument> {
        let Some(doc) = self.erp().document(id).await? else {
            return Err(StoreError::NotFound(format!(
                "supplier order {id} has no ERP document"
            )));
        };
        if doc.status != FAILED {
            return Err(StoreError::Conflict(format!(
                "the ERP document of supplier order {id} is {}, not failed: nothing to retry",
                doc.status
            )));
        }
        let mut tx = self.begin().await?;
        let at = now();
        with_tx!(&mut tx, |t| {
            sqlx::query(
            "UPDATE erp_documents SET status = $2, next_at = $3, retry_from = attempts, updated_at = $3 \
             WHERE supplier_order_id = $1 AND status = $4"
        )
        .bind(id)
        .bind(PENDING)
        .bind(at)
        .bind(FAILED)
        .execute(&mut **t)
        .await
        .map(|_| ())
        })?;
        tx.audit(
            actor,
            "erp.retry",
            &id.to_string(),
            serde_json::json!({"kind": doc.kind, "last_error": doc.last_error}),
        )
        .await?;
        tx.commit().await?;
        self.erp()
            .document(id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("supplier order {id}")))
    }
}
