//! The refurbisher registry: each refurbisher's status and document, what `config check`
//! found, what applying a document did, a new webhook URL, a stored credential.

use chrono::{DateTime, Utc};
use irp_store::refurbishers::StoredRefurbisher;
use irp_store::shipments::WebhookState;
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// A refurbisher's status: the seeds' Status table and its pricing settings.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefurbisherStatus {
    /// Refurbisher id.
    pub refurbisher_id: i64,
    /// Connector key.
    pub key: String,
    /// Name.
    pub name: String,
    /// Supplier id.
    pub supplier_id: Option<i64>,
    /// Vendor id in Odoo.
    pub odoo_vendor_id: Option<i64>,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Whether its offers may be sold as approved refurbished.
    pub approved_refurbished: bool,
    /// Whether it is IRP's own stock (fulfilled internally).
    pub internal: bool,
    /// "SFTP · CSV · SFTP credentials".
    pub offer_connector: String,
    /// "Web POST · Client credentials", "Not integrated".
    pub order_connector: String,
    /// "Configured" or "Not configured".
    pub shipment_webhook: String,
    /// +1 on every change of its document.
    pub version: i64,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

impl RefurbisherStatus {
    /// The status of `r`, whose shipment webhook is `webhook`.
    pub fn of(r: &StoredRefurbisher, webhook: &WebhookState) -> RefurbisherStatus {
        let m = &r.model;
        RefurbisherStatus {
            refurbisher_id: r.id,
            key: r.key.clone(),
            name: m.name.clone(),
            supplier_id: m.supplier_id,
            odoo_vendor_id: m.odoo_vendor_id,
            enabled: m.enabled,
            approved_refurbished: m.approved_refurbished,
            internal: m.internal,
            offer_connector: m.offer_connector_label(),
            order_connector: m.order_connector_label(),
            shipment_webhook: if webhook.token_created_at.is_some() {
                "Configured"
            } else {
                "Not configured"
            }
            .into(),
            version: r.version,
            updated_at: r.updated_at,
        }
    }
}

/// Every refurbisher.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefurbisherList {
    /// By key.
    pub refurbishers: Vec<RefurbisherStatus>,
}

/// A refurbisher and its document.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefurbisherShow {
    /// Its status.
    #[serde(flatten)]
    pub status: RefurbisherStatus,
    /// The connector document, `{"<key>": {…}}`, with literal credentials as `********`
    /// (secret references `${secret:NAME}` are kept: they name a secret, not its value).
    #[schema(value_type = Object)]
    pub document: Value,
}

/// One finding of `config check`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Finding {
    /// `error` or `warning`.
    pub severity: String,
    /// The JSON path: `flexit.offers.mapping.ean`.
    pub path: String,
    /// Line of the document, from 1.
    pub line: Option<usize>,
    /// Column, from 1.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it.
    pub help: Option<String>,
}

/// What `config check` found.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CheckAnswer {
    /// No errors: the document can be applied.
    pub ok: bool,
    /// Errors found.
    pub errors: usize,
    /// Warnings found.
    pub warnings: usize,
    /// The refurbisher keys the document defines (those without errors).
    pub refurbishers: Vec<String>,
    /// Each error and warning.
    pub findings: Vec<Finding>,
}

/// What applying a document did to one refurbisher.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ApplyOutcome {
    /// The connector key.
    pub key: String,
    /// The refurbisher id (assigned when the document had none).
    pub refurbisher_id: i64,
    /// `created`, `updated` or `unchanged`.
    #[schema(value_type = String, pattern = "^(created|updated|unchanged)$")]
    pub action: irp_store::refurbishers::ApplyAction,
    /// Field-by-field changes (credentials redacted); every field for a new refurbisher.
    pub changes: Vec<FieldChange>,
}

impl From<irp_store::refurbishers::ApplyOutcome> for ApplyOutcome {
    fn from(o: irp_store::refurbishers::ApplyOutcome) -> Self {
        ApplyOutcome {
            key: o.key,
            refurbisher_id: o.refurbisher_id,
            action: o.action,
            changes: o.changes.into_iter().map(Into::into).collect(),
        }
    }
}

/// One field that differs between the stored document and the applied one.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldChange {
    /// Dotted path of the field.
    pub path: String,
    /// The value before; null when the field is new.
    pub old: Option<Value>,
    /// The value after; null when the field is gone.
    pub new: Option<Value>,
}

impl From<irp_core::config::Change> for FieldChange {
    fn from(c: irp_core::config::Change) -> Self {
        FieldChange {
            path: c.path,
            old: c.old,
            new: c.new,
        }
    }
}

/// What applying a document did.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Applied {
    /// Per refurbisher: its key, id, what was done and the changed fields.
    pub applied: Vec<ApplyOutcome>,
    /// The check's findings (warnings).
    pub check: CheckAnswer,
}

/// A new webhook URL.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NewToken {
    /// The refurbisher's key.
    pub refurbisher: String,
    /// Its supplier id (part of the URL).
    pub supplier_id: i64,
    /// The full URL with its token; shown once (only a hash is kept).
    pub url: String,
    /// Until when the previous token still works.
    pub previous_valid_until: Option<DateTime<Utc>>,
}

/// The secret a credential is stored as.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CredentialStored {
    /// The secret's name (the document references it as `${secret:NAME}`).
    pub secret: String,
}
