//! The audit log: who changed what, when.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::{Result, Store, Tx, now, with_db, with_tx};

/// One audit entry.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct AuditEntry {
    /// Entry id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: `cli:<user>`, `user:<email>`, `token:<name>`.
    pub actor: String,
    /// What kind of change: `refurbisher.create`, `secret.set`, …
    pub action: String,
    /// What it was done to: a connector key, a secret name.
    pub target: String,
    /// Details (never secret values).
    pub details: Json<Value>,
}

const INSERT: &str =
    "INSERT INTO audit_log (at, actor, action, target, details) VALUES ($1, $2, $3, $4, $5)";

impl Tx {
    /// Record an audit entry inside this transaction.
    ///
    /// # Errors
    /// A database error.
    pub async fn audit(
        &mut self,
        actor: &str,
        action: &str,
        target: &str,
        details: Value,
    ) -> Result<()> {
        let at = now();
        with_tx!(self, |t| sqlx::query(INSERT)
            .bind(at)
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(Json(&details))
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }
}

impl Store {
    /// Record an audit entry.
    ///
    /// # Errors
    /// A database error.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        details: Value,
    ) -> Result<()> {
        let at = now();
        with_db!(self.db(), |p| sqlx::query(INSERT)
            .bind(at)
            .bind(actor)
            .bind(action)
            .bind(target)
            .bind(Json(&details))
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Audit entries, newest first, `limit` from `offset`: those whose actor, action or target
    /// contains `text` (case-insensitive) when given.
    ///
    /// # Errors
    /// A database error.
    pub async fn audit_search(
        &self,
        text: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<AuditEntry>> {
        const SQL: &str = "SELECT id, at, actor, action, target, details FROM audit_log \
             WHERE ($1 IS NULL OR LOWER(actor) LIKE $1 ESCAPE '\\' OR LOWER(action) LIKE $1 ESCAPE '\\' OR LOWER(target) LIKE $1 ESCAPE '\\') \
             ORDER BY id DESC LIMIT $2 OFFSET $3";
        let pattern = text.map(|t| {
            let escaped = t
                .to_lowercase()
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            format!("%{escaped}%")
        });
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(pattern.as_deref())
            .bind(limit)
            .bind(offset)
            .fetch_all(p)
            .await)?)
    }

    /// The latest `limit` audit entries, newest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn audit_list(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        const SQL: &str = "SELECT id, at, actor, action, target, details FROM audit_log ORDER BY id DESC LIMIT $1";
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(limit)
            .fetch_all(p)
            .await)?)
    }
}
