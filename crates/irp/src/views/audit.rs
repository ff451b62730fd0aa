//! The audit log: who changed what, when.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// One audit entry.
#[derive(Debug, Clone, Serialize, ToSchema)]
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
    pub details: Value,
}

impl From<irp_store::audit::AuditEntry> for AuditEntry {
    fn from(e: irp_store::audit::AuditEntry) -> Self {
        AuditEntry {
            id: e.id,
            at: e.at,
            actor: e.actor,
            action: e.action,
            target: e.target,
            details: e.details.0,
        }
    }
}

/// A page of the audit log.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// The `offset` of the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_offset: Option<i64>,
}
