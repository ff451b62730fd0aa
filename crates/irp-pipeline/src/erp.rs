//! The back office: every placed supplier order gets its Odoo document — a purchase
//! order at the refurbisher's `odoo_vendor_id` for a drop-ship refurbisher, a sales order on
//! Odoo's own stock for an internal one (`"order": {}`), as the ERP document configures —
//! through Alumio's proxies or directly.
//!
//! Its own outbox (`irp_store::erp`): a document is claimed with a lease, so one instance works
//! on it; each attempt first searches Odoo for the document's reference (`IRP-SO-<id>` as the
//! purchase order's `partner_ref` / the sales order's `client_order_ref`), so a retry after a
//! crash or a lost answer finds what it created instead of creating a second one. Network
//! errors, 429 and 5xx are retried with backoff; Odoo's refusals (its error object: an unknown
//! product, a validation error) too, a few times, then the document is `failed` with Odoo's
//! message, and an operator retries it (`irp erp retry`, the API, the order page) once fixed.

use std::time::Duration;

use chrono::TimeDelta;
use irp_clients::odoo::{AlumioSettings, Odoo, OdooError, OdooSettings};
use irp_core::config::ErpConfig;
use irp_core::config::model::{ErpDocumentKind, OdooProtocol};
use irp_core::erp::{self as core_erp, ErpLine};
use irp_store::Store;
use irp_store::erp::{ErpDocument, StoredErp};
use irp_store::secrets::SecretKey;
use rust_decimal::Decimal;
use serde_json::{Value, json};

/// How long a claim on a document holds past its last renewal: renewed while its attempt runs
/// ([`crate::lease::renewing`]) and just before the document is created, and longer than the
/// create call can take (`timeout_secs`, three times with its retries), so no other instance
/// takes a document over while a create sent by an instance that died may still land.
fn lease(erp: &Erp) -> TimeDelta {
    (TimeDelta::seconds(erp.config().timeout_secs.max(1)) * 3 + TimeDelta::seconds(15))
        .max(crate::lease::LEASE)
}
/// Documents claimed at a time: one, so the lease runs from when its attempt starts.
const BATCH: i64 = 1;

/// Why the ERP connector cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ErpError {
    /// No ERP document was applied.
    #[error("no ERP connector: apply one with `irp erp apply -f config/erp.json`")]
    NotConfigured,
    /// A reference cannot be resolved.
    #[error("the ERP connector: {0}")]
    Missing(String),
    /// Odoo (or Alumio) failed.
    #[error("{0}")]
    Odoo(#[from] OdooError),
    /// The connector as a whole failed (credentials refused): the round stopped.
    #[error("{0}")]
    Connector(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] irp_store::StoreError),
}

/// The ERP connector with its client.
pub struct Erp {
    /// The stored connector.
    pub stored: StoredErp,
    /// Odoo's client (references resolved).
    pub odoo: Odoo,
    /// Shows references instead of the resolved credentials in what is stored and shown.
    pub scrubber: irp_core::secret_ref::Scrubber,
}

impl Erp {
    /// Its settings.
    pub fn config(&self) -> &ErpConfig {
        &self.stored.config
    }
}

/// The stored ERP connector with its references resolved.
///
/// # Errors
/// [`ErpError::NotConfigured`], [`ErpError::Missing`], a store error.
pub async fn connect(store: &Store, secret_key: Option<&SecretKey>) -> Result<Erp, ErpError> {
    let stored = store.erp().get().await?.ok_or(ErpError::NotConfigured)?;
    let c = &stored.config;
    let doc = json!({"erp": {"url": c.url, "api_key": c.api_key,
        "alumio": {"auth_value": c.alumio.as_ref().map(|a| a.auth_value.clone())}}});
    let scope = irp_store::secrets::Scope::of("erp");
    let resolved = match store
        .secrets()
        .resolve_references(secret_key, scope, &doc)
        .await
    {
        Ok(r) => r,
        Err(irp_store::StoreError::NotFound(why)) => return Err(ErpError::Missing(why)),
        Err(e) => return Err(e.into()),
    };
    let v = &resolved.expose()["erp"];
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let odoo = Odoo::new(OdooSettings {
        protocol: c.protocol,
        url: text("url"),
        alumio: c.alumio.as_ref().map(|a| AlumioSettings {
            header: a.auth_header.clone(),
            value: v["alumio"]["auth_value"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            proxy: a.proxy.clone(),
            proxies: a.proxies.clone(),
        }),
        database: c.database.clone(),
        login: c.login.clone(),
        api_key: text("api_key"),
        timeout: Duration::from_secs(u64::try_from(c.timeout_secs).unwrap_or(30)),
    })?;
    Ok(Erp {
        stored,
        odoo,
        scrubber: resolved.scrubber().clone(),
    })
}

/// Check the connector: authenticate (JSON-RPC) or read one partner (JSON-2).
///
/// # Errors
/// See [`ErpError`].
pub async fn check(erp: &Erp) -> Result<String, ErpError> {
    match erp.config().protocol {
        OdooProtocol::Jsonrpc => {
            let uid = erp.odoo.authenticate().await?;
            Ok(format!(
                "Odoo accepted {} (user id {uid}) on database {}",
                erp.config().login,
                erp.config().database
            ))
        }
        OdooProtocol::Json2 => {
            erp.odoo
                .search_read("res.partner", json!([]), &["id"], 1)
                .await?;
            Ok(format!(
                "Odoo accepted the API key on database {}",
                erp.config().database
            ))
        }
    }
}

/// What a round did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RoundReport {
    /// Supplier orders newly given a document to make.
    pub enqueued: u64,
    /// Documents now in Odoo.
    pub done: u64,
    /// Documents to try again later.
    pub retrying: u64,
    /// Documents given up on (an operator retries them).
    pub failed: u64,
}

/// Give every placed supplier order since the connector was applied its document (or `none`).
///
/// # Errors
/// A store error.
pub async fn enqueue(store: &Store, erp: &Erp) -> Result<u64, ErpError> {
    let mut n = 0;
    loop {
        let candidates = store.erp().candidates(erp.stored.created_at, 500).await?;
        if candidates.is_empty() {
            return Ok(n);
        }
        for c in candidates {
            let internal = match store.refurbishers().get(&c.refurbisher).await? {
                Some(r) => r.model.internal || r.model.order.is_none(),
                None => false,
            };
            let kind = erp
                .config()
                .documents
                .for_refurbisher(&c.refurbisher, internal);
            store
                .erp()
                .enqueue(
                    c.supplier_order_id,
                    kind.as_str(),
                    &core_erp::reference(&erp.config().reference_prefix, c.supplier_order_id),
                    kind == ErpDocumentKind::None,
                )
                .await?;
            n += 1;
        }
    }
}

/// One round: enqueue, then make the due documents.
///
/// # Errors
/// A store error.
pub async fn round(store: &Store, erp: &Erp, owner: &str) -> Result<RoundReport, ErpError> {
    let mut report = RoundReport {
        enqueued: enqueue(store, erp).await?,
        ..RoundReport::default()
    };
    loop {
        let docs = store.erp().claim(owner, lease(erp), BATCH).await?;
        if docs.is_empty() {
            return Ok(report);
        }
        for doc in docs {
            let cancelled = store
                .orders()
                .supplier_order(doc.supplier_order_id)
                .await?
                .is_some_and(|so| {
                    so.status == irp_core::orders::status::SupplierOrderStatus::Cancelled
                });
            if cancelled {
                store
                    .erp()
                    .skip(
                        doc.supplier_order_id,
                        owner,
                        "the supplier order was cancelled before its Odoo document was made",
                    )
                    .await?;
                continue;
            }
            let claim = crate::lease::Claim::ErpDocument {
                supplier_order_id: doc.supplier_order_id,
                owner,
            };
            let outcome =
                crate::lease::renewing(store, claim, lease(erp), work(store, erp, &doc, owner))
                    .await
                    .map_err(|mut f| {
                        // Odoo's answer may echo a request: shown with references only.
                        f.error = erp.scrubber.scrub(&f.error);
                        f
                    });
            match outcome {
                Ok((model, id, name)) => {
                    if store
                        .erp()
                        .done(doc.supplier_order_id, owner, model, id, name.as_deref())
                        .await?
                    {
                        tracing::info!(
                            supplier_order = doc.supplier_order_id,
                            model,
                            odoo_id = id,
                            name = name.as_deref().unwrap_or(""),
                            "Recorded in Odoo"
                        );
                        report.done += 1;
                    } else {
                        tracing::warn!(
                            supplier_order = doc.supplier_order_id,
                            model,
                            odoo_id = id,
                            "Recorded in Odoo, but this instance's claim on the document was lost meanwhile; the instance holding it now finds the record by its reference"
                        );
                    }
                }
                Err(f) if f.connector => {
                    // Not this document's fault (credentials refused, a setting): it waits,
                    // and the round stops so the connector is set up again.
                    store
                        .erp()
                        .attempt_failed(
                            doc.supplier_order_id,
                            owner,
                            &f.error,
                            Some(irp_store::now() + backoff(1)),
                            None,
                        )
                        .await?;
                    return Err(ErpError::Connector(f.error));
                }
                Err(f) => {
                    let attempt = doc.attempts - doc.retry_from;
                    let give_up =
                        !f.transient && attempt >= 3 || attempt >= erp.config().max_attempts;
                    let next = (!give_up).then(|| irp_store::now() + backoff(attempt));
                    tracing::warn!(supplier_order = doc.supplier_order_id, attempt, error = %f.error,
                        give_up, "Recording in Odoo failed");
                    store
                        .erp()
                        .attempt_failed(
                            doc.supplier_order_id,
                            owner,
                            &f.error,
                            next,
                            f.found.as_ref().map(|(m, id)| (*m, *id)),
                        )
                        .await?;
                    if give_up {
                        report.failed += 1;
                    } else {
                        report.retrying += 1;
                    }
                }
            }
        }
    }
}

/// 30 s doubling, at most an hour.
fn backoff(attempt: i64) -> TimeDelta {
    let exp = u32::try_from(attempt.clamp(1, 8) - 1).unwrap_or(0);
    TimeDelta::seconds((30_i64 * 2_i64.pow(exp)).min(3600))
}

struct Failure {
    error: String,
    transient: bool,
    connector: bool,
    found: Option<(&'static str, i64)>,
}

impl Failure {
    fn of(e: OdooError) -> Self {
        Failure {
            transient: e.is_transient(),
            connector: matches!(e, OdooError::Unauthorized { .. } | OdooError::Config(_)),
            error: e.to_string(),
            found: None,
        }
    }

    fn permanent(error: String) -> Self {
        Failure {
            error,
            transient: false,
            connector: false,
            found: None,
        }
    }
}

/// Make one document: find it by reference, else create it; confirm it.
async fn work(
    store: &Store,
    erp: &Erp,
    doc: &ErpDocument,
    owner: &str,
) -> Result<(&'static str, i64, Option<String>), Failure> {
    let (model, ref_field, confirm) = match doc.kind.as_str() {
        "purchase_order" => ("purchase.order", "partner_ref", "button_confirm"),
        "sales_order" => ("sale.order", "client_order_ref", "action_confirm"),
        other => {
            return Err(Failure::permanent(format!("unknown document kind {other}")));
        }
    };
    let odoo = &erp.odoo;
    // What an earlier attempt made: by the id it recorded, else by the reference.
    let domain = match (doc.odoo_id, doc.odoo_model.as_deref()) {
        (Some(id), Some(m)) if m == model => json!([["id", "=", id]]),
        _ => json!([[ref_field, "=", doc.reference]]),
    };
    let existing = odoo
        .search_read(model, domain, &["id", "name", "state"], 10)
        .await
        .map_err(Failure::of)?;
    // A cancelled copy (someone cancelled it in Odoo) does not count as made.
    let found = existing
        .iter()
        .find(|r| r["state"].as_str() != Some("cancel"));
    if existing.len() > 1 {
        tracing::warn!(supplier_order = doc.supplier_order_id, reference = %doc.reference, found = existing.len(),
            "Odoo has several documents with this reference; using the first one not cancelled");
    }
    let (id, name, state) = match found {
        Some(found) => (
            found["id"].as_i64().filter(|id| *id > 0).ok_or_else(|| {
                Failure::permanent(format!("Odoo answered a {model} without an id"))
            })?,
            found["name"].as_str().map(str::to_owned),
            found["state"].as_str().unwrap_or("").to_owned(),
        ),
        None => {
            let vals = values(store, odoo, doc).await?;
            // The claim must still be this instance's when it creates: another instance that
            // took the document over would create it too.
            let claim_lost = |error: String| Failure {
                error,
                transient: true,
                connector: false,
                found: None,
            };
            match store
                .erp()
                .renew(doc.supplier_order_id, owner, lease(erp))
                .await
            {
                Ok(true) => {}
                Ok(false) => {
                    return Err(claim_lost(
                        "this instance's claim on the document was lost before creating it; the instance holding it now makes it".into(),
                    ));
                }
                Err(e) => return Err(claim_lost(format!("renewing the claim failed: {e}"))),
            }
            let id = odoo.create(model, vals).await.map_err(Failure::of)?;
            let read = odoo
                .search_read(model, json!([["id", "=", id]]), &["id", "name", "state"], 1)
                .await
                .map_err(|e| Failure {
                    found: Some((model, id)),
                    ..Failure::of(e)
                })?;
            let first = read.first().cloned().unwrap_or(Value::Null);
            (
                id,
                first["name"].as_str().map(str::to_owned),
                first["state"].as_str().unwrap_or("draft").to_owned(),
            )
        }
    };
    if erp.config().confirm && matches!(state.as_str(), "draft" | "sent") {
        odoo.call_on(model, confirm, &[id])
            .await
            .map_err(|e| Failure {
                found: Some((model, id)),
                ..Failure::of(e)
            })?;
    }
    Ok((model, id, name))
}

/// The values of the document to create.
async fn values(store: &Store, odoo: &Odoo, doc: &ErpDocument) -> Result<Value, Failure> {
    let db = |e: irp_store::StoreError| Failure {
        error: format!("reading the order failed: {e}"),
        transient: true,
        connector: false,
        found: None,
    };
    let order = store
        .orders()
        .get(doc.order_id)
        .await
        .map_err(db)?
        .ok_or_else(|| Failure::permanent(format!("order {} is gone", doc.order_id)))?;
    let lines: Vec<ErpLine> = store
        .orders()
        .lines(doc.order_id)
        .await
        .map_err(db)?
        .into_iter()
        .filter(|l| l.supplier_order_id == Some(doc.supplier_order_id))
        .map(|l| ErpLine {
            ean: l.ean,
            sku: l.sku,
            quantity: l.quantity,
            purchase_price_minor: l.purchase_price_minor,
            unit_price_incl_minor: l.unit_price_incl_minor,
            tax_percentage: l
                .tax_percentage
                .as_deref()
                .and_then(|t| t.parse::<Decimal>().ok()),
        })
        .collect();
    if lines.is_empty() {
        return Err(Failure::permanent(format!(
            "supplier order {} has no lines",
            doc.supplier_order_id
        )));
    }
    let mut products = Vec::new();
    for line in &lines {
        let domains = core_erp::product_domains(line);
        if domains.is_empty() {
            return Err(Failure::permanent(
                "a line has neither an EAN nor a SKU to find its Odoo product by".into(),
            ));
        }
        let mut id = None;
        for domain in domains {
            let found = odoo
                .search_read(
                    "product.product",
                    domain.clone(),
                    &["id", "default_code", "barcode"],
                    2,
                )
                .await
                .map_err(Failure::of)?;
            if found.len() > 1 {
                return Err(Failure::permanent(format!(
                    "Odoo has several products matching {domain}: make the barcode or internal reference unique, then retry"
                )));
            }
            if let Some(p) = found.first().and_then(|p| p["id"].as_i64()) {
                id = Some(p);
                break;
            }
        }
        let id = id.ok_or_else(|| {
            Failure::permanent(format!(
                "Odoo has no product with barcode {} or internal reference {}: create it in Odoo (or fix its barcode), then retry",
                line.ean.as_deref().unwrap_or("-"),
                line.sku.as_deref().unwrap_or("-")
            ))
        })?;
        products.push((id, line));
    }
    let origin = format!("{}/{}", order.channel, order.order_number);
    match doc.kind.as_str() {
        "purchase_order" => {
            let r = store
                .refurbishers()
                .get(&doc.refurbisher)
                .await
                .map_err(db)?
                .ok_or_else(|| {
                    Failure::permanent(format!("refurbisher {} is gone", doc.refurbisher))
                })?;
            let vendor = r.model.odoo_vendor_id.ok_or_else(|| {
                Failure::permanent(format!(
                    "refurbisher {} has no odoo_vendor_id: set it in its document to record its purchase orders",
                    r.key
                ))
            })?;
            Ok(core_erp::purchase_order_vals(
                vendor,
                &doc.reference,
                &origin,
                &products,
            ))
        }
        _ => {
            let partner = customer(odoo, &order).await?;
            Ok(core_erp::sales_order_vals(
                partner,
                &doc.reference,
                &origin,
                &products,
            ))
        }
    }
}

/// The customer's partner in Odoo, by e-mail address; created when missing.
async fn customer(odoo: &Odoo, order: &irp_store::orders::StoredOrder) -> Result<i64, Failure> {
    let email = &order.customer_email;
    let found = odoo
        .search_read(
            "res.partner",
            json!([["email", "=ilike", email]]),
            &["id"],
            1,
        )
        .await
        .map_err(Failure::of)?;
    if let Some(id) = found.first().and_then(|p| p["id"].as_i64()) {
        return Ok(id);
    }
    let a = &order.shipping_address.0;
    let text = |k: &str| {
        a.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let name = [text("first_name"), text("last_name")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let street = [
        text("street"),
        text("house_number"),
        text("house_number_addition"),
    ]
    .into_iter()
    .filter(|s| !s.is_empty())
    .collect::<Vec<_>>()
    .join(" ");
    let country = odoo
        .search_read(
            "res.country",
            json!([["code", "=", text("country")]]),
            &["id"],
            1,
        )
        .await
        .map_err(Failure::of)?
        .first()
        .and_then(|c| c["id"].as_i64());
    let mut vals = json!({"name": if name.is_empty() { email.clone() } else { name },
        "email": email, "street": street, "zip": text("zipcode"), "city": text("city")});
    if let Some(c) = country {
        vals["country_id"] = json!(c);
    }
    odoo.create("res.partner", vals).await.map_err(Failure::of)
}
