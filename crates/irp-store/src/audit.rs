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
