//! The refurbisher registry: idempotent apply of validated documents, listing and lookup.

use chrono::{DateTime, Utc};
use irp_core::config::{self, Change, Refurbisher};
use serde_json::{Value, json};

use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};

/// A refurbisher as stored.
#[derive(Debug, Clone)]
pub struct StoredRefurbisher {
    /// The refurbisher id.
    pub id: i64,
    /// The connector key.
    pub key: String,
    /// +1 on every change.
    pub version: i64,
    /// The canonical document (secrets as written: references or literals).
    pub document: Value,
    /// The document read back into the model.
    pub model: Refurbisher,
    /// When it was first applied.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    key: String,
    version: i64,
    /// JSON text (TEXT on both backends, so the document's key order survives).
    document: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// Refurbisher documents already read back into their model, by id, with the stored text they
/// came from: validating a document is far dearer than comparing its text, and every intake,
/// submission and recompute reads the refurbishers.
pub(crate) type ModelCache =
    std::sync::Mutex<std::collections::HashMap<i64, (String, Refurbisher)>>;

impl Row {
    fn into_stored(self, cache: &ModelCache) -> Result<StoredRefurbisher> {
        let document: Value = serde_json::from_str(&self.document).map_err(|e| {
            StoreError::Corrupt(format!(
                "refurbisher `{}`: stored document is not JSON: {e}",
                self.key
            ))
        })?;
        let cached = cache.lock().ok().and_then(|c| {
            c.get(&self.id)
                .filter(|(text, _)| *text == self.document)
                .map(|(_, m)| m.clone())
        });
        if let Some(model) = cached {
            return Ok(StoredRefurbisher {
                id: self.id,
                key: self.key,
                version: self.version,
                document,
                model,
                created_at: self.created_at,
                updated_at: self.updated_at,
            });
        }
        let text = json!({ (self.key.clone()): document }).to_string();
        let doc = config::parse_document(&text);
        let Some(model) = doc.refurbishers.into_iter().next() else {
            let why = doc
                .diagnostics
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ");
            return Err(StoreError::Corrupt(format!(
                "refurbisher `{}`: {why}",
                self.key
            )));
        };
        if let Ok(mut c) = cache.lock() {
            c.insert(self.id, (self.document.clone(), model.clone()));
        }
        Ok(StoredRefurbisher {
            id: self.id,
            key: self.key,
            version: self.version,
            document,
            model,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}

/// What `apply` did to one refurbisher.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ApplyOutcome {
    /// The connector key.
    pub key: String,
    /// The refurbisher id (assigned when the document had none).
    pub refurbisher_id: i64,
    /// Created, updated or unchanged.
    pub action: ApplyAction,
    /// Field-by-field changes (credentials redacted); every field for a new refurbisher.
    pub changes: Vec<Change>,
}

/// The kind of change `apply` made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ApplyAction {
    /// The refurbisher is new.
    Created,
    /// Some fields changed.
    Updated,
    /// Nothing changed.
    Unchanged,
}

async fn find_by_key(tx: &mut Tx, key: &str) -> Result<Option<Row>> {
    const SQL: &str = "SELECT id, key, version, document, created_at, updated_at FROM refurbishers WHERE key = $1";
    Ok(with_tx!(tx, |t| sqlx::query_as(SQL)
        .bind(key)
        .fetch_optional(&mut **t)
        .await)?)
}

async fn key_of_id(tx: &mut Tx, id: i64) -> Result<Option<String>> {
    const SQL: &str = "SELECT key FROM refurbishers WHERE id = $1";
    let r: Option<(String,)> = with_tx!(tx, |t| sqlx::query_as(SQL)
        .bind(id)
        .fetch_optional(&mut **t)
        .await)?;
    Ok(r.map(|r| r.0))
}

async fn key_of_supplier(tx: &mut Tx, supplier_id: i64, key: &str) -> Result<Option<String>> {
    const SQL: &str = "SELECT key FROM refurbishers WHERE supplier_id = $1 AND key <> $2";
    let r: Option<(String,)> = with_tx!(tx, |t| sqlx::query_as(SQL)
        .bind(supplier_id)
        .bind(key)
        .fetch_optional(&mut **t)
        .await)?;
    Ok(r.map(|r| r.0))
}

async fn next_id(tx: &mut Tx) -> Result<i64> {
    const SQL: &str = "SELECT CAST(COALESCE(MAX(id), 0) + 1 AS BIGINT) FROM refurbishers";
    let r: (i64,) = with_tx!(tx, |t| sqlx::query_as(SQL).fetch_one(&mut **t).await)?;
    Ok(r.0)
}

async fn write(
    tx: &mut Tx,
    id: i64,
    r: &Refurbisher,
    document: &Value,
    insert: bool,
) -> Result<()> {
    const INSERT: &str = "INSERT INTO refurbishers (id, key, name, supplier_id, odoo_vendor_id, enabled, approved, internal, document, version, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 1, $10, $10)";
    const UPDATE: &str = "UPDATE refurbishers SET key = $2, name = $3, supplier_id = $4, odoo_vendor_id = $5, enabled = $6, approved = $7, internal = $8, \
         document = $9, version = version + 1, updated_at = $10, next_poll_at = NULL WHERE id = $1";
    let at = now();
    let sql = if insert { INSERT } else { UPDATE };
    with_tx!(tx, |t| sqlx::query(sql)
        .bind(id)
        .bind(&r.key)
        .bind(&r.name)
        .bind(r.supplier_id)
        .bind(r.odoo_vendor_id)
        .bind(r.enabled)
        .bind(r.approved_refurbished)
        .bind(r.internal)
        .bind(document.to_string())
        .bind(at)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// The store's handle on the refurbisher registry ([`Store::refurbishers`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Refurbishers<'s>(&'s Store);

impl std::ops::Deref for Refurbishers<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on the refurbisher registry.
    #[must_use]
    pub fn refurbishers(&self) -> Refurbishers<'_> {
        Refurbishers(self)
    }
}

impl Refurbishers<'_> {
    /// Apply validated refurbishers in one transaction: create the new ones, update the
    /// changed ones, leave the rest; all or nothing. Refurbishers that name their id are
    /// applied first, so an assigned id never takes one the document asks for.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when an id or supplier id belongs to another refurbisher, or a
    /// refurbisher id would change; database errors.
    pub async fn apply(
        &self,
        refurbishers: &[Refurbisher],
        actor: &str,
    ) -> Result<Vec<ApplyOutcome>> {
        let mut order: Vec<&Refurbisher> = refurbishers.iter().collect();
        order.sort_by_key(|r| r.refurbisher_id.is_none());
        let mut tx = self.begin().await?;
        crate::marks::lock_settings(&mut tx).await?;
        // Serialize concurrent applies (id assignment reads MAX(id)). SQLite's BEGIN IMMEDIATE
        // already takes the write lock; PostgreSQL needs a table lock that still lets readers in.
        if let Tx::Postgres(t) = &mut tx {
            sqlx::query("LOCK TABLE refurbishers IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut **t)
                .await?;
        }
        let mut outcomes = Vec::new();
        let mut recompute = false;
        for r in order {
            let existing = find_by_key(&mut tx, &r.key).await?;
            let id = match (r.refurbisher_id, &existing) {
                (Some(id), Some(row)) if row.id != id => {
                    return Err(StoreError::Conflict(format!(
                        "refurbisher `{}` has refurbisher_id {}; the document says {id}, but ids never change",
                        r.key, row.id
                    )));
                }
                (Some(id), None) => {
                    if let Some(other) = key_of_id(&mut tx, id).await? {
                        return Err(StoreError::Conflict(format!(
                            "refurbisher_id {id} of `{}` already belongs to `{other}`",
                            r.key
                        )));
                    }
                    id
                }
                (_, Some(row)) => row.id,
                (None, None) => next_id(&mut tx).await?,
            };
            if let Some(sid) = r.supplier_id
                && let Some(other) = key_of_supplier(&mut tx, sid, &r.key).await?
            {
                return Err(StoreError::Conflict(format!(
                    "supplier_id {sid} of `{}` already belongs to `{other}`",
                    r.key
                )));
            }
            let mut model = r.clone();
            model.refurbisher_id = Some(id);
            let document = model.to_canonical_json();
            let (action, changes) = match &existing {
                None => (ApplyAction::Created, config::diff(&json!({}), &document)),
                Some(row) => {
                    let stored: Value = serde_json::from_str(&row.document).map_err(|e| {
                        StoreError::Corrupt(format!(
                            "refurbisher `{}`: stored document is not JSON: {e}",
                            row.key
                        ))
                    })?;
                    let changes = config::diff(&stored, &document);
                    if changes.is_empty() {
                        (ApplyAction::Unchanged, changes)
                    } else {
                        (ApplyAction::Updated, changes)
                    }
                }
            };
            if action == ApplyAction::Updated && config::changes_catalog(&changes) {
                crate::marks::mark_refurbisher_dirty(&mut tx, id).await?;
                recompute = true;
            }
            if action != ApplyAction::Unchanged {
                write(&mut tx, id, &model, &document, existing.is_none()).await?;
                let verb = if action == ApplyAction::Created {
                    "refurbisher.create"
                } else {
                    "refurbisher.update"
                };
                tx.audit(
                    actor,
                    verb,
                    &r.key,
                    json!({ "refurbisher_id": id, "changes": changes }),
                )
                .await?;
            }
            outcomes.push(ApplyOutcome {
                key: r.key.clone(),
                refurbisher_id: id,
                action,
                changes,
            });
        }
        tx.commit().await?;
        if recompute {
            // The marked products are recomputed by the caller (`irp_pipeline::catalog::recompute`)
            // or, in `serve`, by the catalog task this wakes.
            self.catalog.notify_one();
        }
        // Report in the order of the document.
        outcomes.sort_by_key(|o| refurbishers.iter().position(|r| r.key == o.key));
        Ok(outcomes)
    }

    /// All refurbishers, by id.
    ///
    /// # Errors
    /// A database error, or a stored document that no longer validates.
    pub async fn list(&self) -> Result<Vec<StoredRefurbisher>> {
        const SQL: &str = "SELECT id, key, version, document, created_at, updated_at FROM refurbishers ORDER BY id";
        let rows: Vec<Row> = with_db!(self.db(), |p| sqlx::query_as(SQL).fetch_all(p).await)?;
        rows.into_iter()
            .map(|r| r.into_stored(&self.models))
            .collect()
    }

    /// The refurbisher with connector key `key`.
    ///
    /// # Errors
    /// A database error, or a stored document that no longer validates.
    pub async fn get(&self, key: &str) -> Result<Option<StoredRefurbisher>> {
        const SQL: &str = "SELECT id, key, version, document, created_at, updated_at FROM refurbishers WHERE key = $1";
        let row: Option<Row> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(key)
            .fetch_optional(p)
            .await)?;
        row.map(|r| r.into_stored(&self.models)).transpose()
    }
}

impl Refurbishers<'_> {
    /// The refurbisher whose supplier id is `supplier_id`, read with its webhook token hashes
    /// (current, previous, until when the previous one is valid) in one statement, if
    /// `accept(hashes)` says the presented token matches them; `accept` is asked (with `None`s)
    /// also when no refurbisher has that supplier id, so both cases take the same work.
    pub(crate) async fn by_webhook_token(
        &self,
        supplier_id: i64,
        accept: impl FnOnce(Option<&str>, Option<&str>, Option<DateTime<Utc>>) -> bool,
    ) -> Result<Option<StoredRefurbisher>> {
        const SQL: &str = "SELECT id, key, version, document, created_at, updated_at, webhook_token_hash, \
             webhook_prev_token_hash, webhook_prev_token_until FROM refurbishers WHERE supplier_id = $1";
        #[derive(sqlx::FromRow)]
        struct WithHashes {
            #[sqlx(flatten)]
            row: Row,
            webhook_token_hash: Option<String>,
            webhook_prev_token_hash: Option<String>,
            webhook_prev_token_until: Option<DateTime<Utc>>,
        }
        let found: Option<WithHashes> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(supplier_id)
            .fetch_optional(p)
            .await)?;
        match found {
            Some(f) => {
                if accept(
                    f.webhook_token_hash.as_deref(),
                    f.webhook_prev_token_hash.as_deref(),
                    f.webhook_prev_token_until,
                ) {
                    f.row.into_stored(&self.models).map(Some)
                } else {
                    Ok(None)
                }
            }
            None => {
                accept(None, None, None);
                Ok(None)
            }
        }
    }
}

/// A refurbisher whose feed is due, claimed by one instance until `lease_until`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PollClaim {
    /// The refurbisher id.
    pub refurbisher_id: i64,
    /// Its key.
    pub key: String,
}

impl Refurbishers<'_> {
    /// Claim one refurbisher whose feed is due (`next_poll_at` passed or never set, enabled, not
    /// leased by a live instance) for `owner` until `lease_until`. Several instances on one
    /// database never claim the same one: the claim is a compare-and-set on the lease.
    ///
    /// # Errors
    /// A database error.
    pub async fn poll_claim(
        &self,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
    ) -> Result<Option<PollClaim>> {
        const CANDIDATES: &str = "SELECT id, key FROM refurbishers WHERE enabled AND (next_poll_at IS NULL OR next_poll_at <= $1) \
             AND (lease_until IS NULL OR lease_until < $1) ORDER BY next_poll_at IS NOT NULL, next_poll_at, id LIMIT 10";
        const CLAIM: &str = "UPDATE refurbishers SET lease_owner = $1, lease_until = $2 WHERE id = $3 \
             AND (lease_until IS NULL OR lease_until < $4) AND (next_poll_at IS NULL OR next_poll_at <= $4)";
        let candidates: Vec<(i64, String)> = with_db!(self.db(), |p| sqlx::query_as(CANDIDATES)
            .bind(now)
            .fetch_all(p)
            .await)?;
        for (id, key) in candidates {
            let n = with_db!(self.db(), |p| sqlx::query(CLAIM)
                .bind(owner)
                .bind(lease_until)
                .bind(id)
                .bind(now)
                .execute(p)
                .await
                .map(|r| r.rows_affected()))?;
            if n == 1 {
                return Ok(Some(PollClaim {
                    refurbisher_id: id,
                    key,
                }));
            }
        }
        Ok(None)
    }

    /// Extend `owner`'s poll claim on refurbisher `refurbisher_id` to `lease_until` (while its
    /// import runs); `false` when `owner` does not hold it any more.
    ///
    /// # Errors
    /// A database error.
    pub async fn poll_renew(
        &self,
        refurbisher_id: i64,
        owner: &str,
        lease_until: DateTime<Utc>,
    ) -> Result<bool> {
        const SQL: &str =
            "UPDATE refurbishers SET lease_until = $3 WHERE id = $1 AND lease_owner = $2";
        let n = with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(refurbisher_id)
            .bind(owner)
            .bind(lease_until)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }

    /// Release a claim and set when the feed is due next. Only the lease owner can release.
    /// `polled_version` is the document version the poll read: when the document was applied
    /// again meanwhile (a new version, due at once), it stays due at once.
    ///
    /// # Errors
    /// A database error.
    pub async fn poll_release(
        &self,
        refurbisher_id: i64,
        owner: &str,
        next_poll_at: DateTime<Utc>,
        polled_version: i64,
    ) -> Result<bool> {
        const SQL: &str = "UPDATE refurbishers SET lease_owner = NULL, lease_until = NULL, \
             next_poll_at = CASE WHEN version = $4 THEN $3 ELSE NULL END WHERE id = $1 AND lease_owner = $2";
        let n = with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(refurbisher_id)
            .bind(owner)
            .bind(next_poll_at)
            .bind(polled_version)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n == 1)
    }
}
