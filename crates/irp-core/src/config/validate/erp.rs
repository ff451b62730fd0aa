//! An ERP document (`{"erp": {"system": "odoo", …}}`): the Odoo connection and protocol, the
//! Alumio proxies, the login, which document each refurbisher's orders become, and the
//! references, retries and timeouts.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{Obj, credential, describe, service_url};

use crate::config::diag::{Diagnostics, JsonPath};
use crate::config::model::*;

/// Keys of an ERP document's `erp` object.
pub const ERP_KEYS: &[&str] = &[
    "system",
    "protocol",
    "url",
    "alumio",
    "database",
    "login",
    "api_key",
    "documents",
    "confirm",
    "reference_prefix",
    "max_attempts",
    "timeout_secs",
    "enabled",
];
/// Keys of `erp.alumio`.
pub const ALUMIO_KEYS: &[&str] = &["proxy", "proxies", "auth_header", "auth_value"];
/// Keys of `erp.documents`.
pub const ERP_DOCUMENT_KEYS: &[&str] = &["drop_ship", "internal", "refurbishers"];
/// The `model/method` calls IRP makes of Odoo (each needs an Alumio proxy with `json2`).
pub const ODOO_CALLS: &[&str] = &[
    "res.partner/search_read",
    "res.partner/create",
    "res.country/search_read",
    "product.product/search_read",
    "purchase.order/search_read",
    "purchase.order/create",
    "purchase.order/button_confirm",
    "sale.order/search_read",
    "sale.order/create",
    "sale.order/action_confirm",
];

fn erp_kind(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> Option<ErpDocumentKind> {
    match v.as_str() {
        Some("purchase_order") => Some(ErpDocumentKind::PurchaseOrder),
        Some("sales_order") => Some(ErpDocumentKind::SalesOrder),
        Some("none") => Some(ErpDocumentKind::None),
        _ => {
            d.error(
                path,
                format!(
                    "expected \"purchase_order\", \"sales_order\" or \"none\", got {}",
                    describe(v)
                ),
            );
            None
        }
    }
}

fn alumio(o: &Obj<'_>, protocol: OdooProtocol, d: &mut Diagnostics) -> Option<AlumioConfig> {
    let v = o.get("alumio").filter(|v| !v.is_null())?;
    let a = Obj::of(v, &o.at("alumio"), d, "Alumio's proxies")?;
    a.unknown_keys(d, ALUMIO_KEYS, "`alumio`");
    let identifier = |d: &mut Diagnostics, path: &JsonPath, s: &str| {
        let ok = !s.is_empty()
            && s.len() <= 200
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            d.error(
                path,
                format!(
                    "expected an HTTP proxy identifier (letters, digits, `-`, `_`, `.`), got {}",
                    Value::String(s.to_owned())
                ),
            );
        }
    };
    let proxy = match a.get("proxy") {
        None | Some(Value::Null) => None,
        Some(_) => a.string(d, "proxy"),
    };
    if let Some(p) = &proxy {
        identifier(d, &a.at("proxy"), p);
    }
    let mut proxies = BTreeMap::new();
    if let Some(pv) = a.get("proxies")
        && let Some(po) = Obj::of(
            pv,
            &a.at("proxies"),
            d,
            "proxy identifiers by `model/method`",
        )
    {
        po.unknown_keys(d, ODOO_CALLS, "`alumio.proxies`");
        for call in ODOO_CALLS {
            if let Some(s) = po.string(d, call) {
                identifier(d, &po.at(call), &s);
                proxies.insert((*call).to_owned(), s);
            }
        }
    }
    match protocol {
        OdooProtocol::Jsonrpc if proxy.is_none() => {
            d.error(
                &a.at("proxy"),
                "missing `proxy`: with protocol \"jsonrpc\" Alumio needs one HTTP proxy forwarding to Odoo's /jsonrpc, like \"odoo-jsonrpc\"",
            );
        }
        OdooProtocol::Json2 => {
            let missing: Vec<&str> = ODOO_CALLS
                .iter()
                .copied()
                .filter(|c| !proxies.contains_key(*c))
                .collect();
            if !missing.is_empty() {
                d.error(
                    &a.at("proxies"),
                    format!(
                        "with protocol \"json2\" each Odoo call goes through its own Alumio proxy (forwarding to /json/2/<model>/<method>); missing: {}",
                        missing.join(", ")
                    ),
                );
            }
        }
        OdooProtocol::Jsonrpc => {}
    }
    let auth_header = a
        .string(d, "auth_header")
        .unwrap_or_else(|| "Authorization".to_owned());
    if reqwest_header_name_ok(&auth_header).is_none() {
        d.error(
            &a.at("auth_header"),
            format!(
                "expected an HTTP header name, got {}",
                Value::String(auth_header.clone())
            ),
        );
    }
    let auth_value = a.required_string(
        d,
        "auth_value",
        "the value Alumio's proxy matcher checks, best as \"${secret:erp.alumio_auth}\"",
    );
    if let Some(v) = &auth_value {
        credential(&a.at("auth_value"), v, d);
    }
    Some(AlumioConfig {
        proxy,
        proxies,
        auth_header,
        auth_value: auth_value?,
    })
}

fn reqwest_header_name_ok(name: &str) -> Option<()> {
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
    .then_some(())
}

/// The ERP connector of an ERP document (`{"erp": {"system": "odoo", …}}`).
pub(crate) fn erp(v: &Value, d: &mut Diagnostics) -> Option<ErpConfig> {
    let root = JsonPath::root();
    let top = Obj::of(v, &root, d, "an ERP document")?;
    top.unknown_keys(d, &["erp"], "an ERP document");
    let Some(inner) = top.get("erp") else {
        d.error(
            &top.at("erp"),
            "missing `erp`: write {\"erp\": {\"system\": \"odoo\", \"url\": \"https://…\", \"database\": …, \"login\": …, \"api_key\": \"${secret:erp.api_key}\"}}",
        );
        return None;
    };
    let errors_before = d.error_count();
    let o = Obj::of(inner, &top.at("erp"), d, "the ERP connector")?;
    o.unknown_keys(d, ERP_KEYS, "the ERP connector");
    let system = o.string(d, "system").unwrap_or_else(|| "odoo".to_owned());
    if system != "odoo" {
        d.error(
            &o.at("system"),
            format!(
                "unknown ERP system {}, expected \"odoo\"",
                Value::String(system.clone())
            ),
        );
    }
    let protocol = match o.get("protocol") {
        None => OdooProtocol::Jsonrpc,
        Some(Value::String(s)) if s == "jsonrpc" => OdooProtocol::Jsonrpc,
        Some(Value::String(s)) if s == "json2" => OdooProtocol::Json2,
        Some(other) => {
            d.error(
                &o.at("protocol"),
                format!(
                    "expected \"jsonrpc\" (POST /jsonrpc, Odoo ≤ 18) or \"json2\" (POST /json/2/…, Odoo 19+), got {}",
                    describe(other)
                ),
            );
            OdooProtocol::Jsonrpc
        }
    };
    let url_value = o.required_string(
        d,
        "url",
        "Alumio's base URL (with `alumio`, like \"https://acme.alumio.com\") or Odoo's (like \"https://acme.odoo.com\")",
    );
    if let Some(u) = &url_value {
        service_url(u, &o.at("url"), d);
    }
    let alumio = alumio(&o, protocol, d);
    let database = o.required_string(d, "database", "Odoo's database name");
    let login = o.required_string(
        d,
        "login",
        "the Odoo user IRP acts as, like \"irp@example.nl\"",
    );
    let api_key = o.required_string(
        d,
        "api_key",
        "that user's API key (Preferences → Account Security), best as \"${secret:erp.api_key}\"",
    );
    if let Some(k) = &api_key {
        credential(&o.at("api_key"), k, d);
    }
    let mut documents = ErpDocuments {
        drop_ship: ErpDocumentKind::PurchaseOrder,
        internal: ErpDocumentKind::SalesOrder,
        refurbishers: BTreeMap::new(),
    };
    if let Some(dv) = o.get("documents")
        && let Some(dob) = Obj::of(
            dv,
            &o.at("documents"),
            d,
            "which document each refurbisher gets",
        )
    {
        dob.unknown_keys(d, ERP_DOCUMENT_KEYS, "`documents`");
        if let Some(v) = dob.get("drop_ship")
            && let Some(k) = erp_kind(v, &dob.at("drop_ship"), d)
        {
            documents.drop_ship = k;
        }
        if let Some(v) = dob.get("internal")
            && let Some(k) = erp_kind(v, &dob.at("internal"), d)
        {
            documents.internal = k;
        }
        if let Some(rv) = dob.get("refurbishers")
            && let Some(ro) = Obj::of(
                rv,
                &dob.at("refurbishers"),
                d,
                "documents by refurbisher key",
            )
        {
            for (key, v) in ro.map {
                if let Some(k) = erp_kind(v, &ro.at(key), d) {
                    documents.refurbishers.insert(key.clone(), k);
                }
            }
        }
    }
    let confirm = o.bool(d, "confirm").unwrap_or(true);
    let reference_prefix = o
        .string(d, "reference_prefix")
        .unwrap_or_else(|| "IRP-SO-".to_owned());
    if reference_prefix.is_empty()
        || reference_prefix.len() > 30
        || !reference_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    {
        d.error(
            &o.at("reference_prefix"),
            format!(
                "expected 1 to 30 letters, digits or `-_./`, like \"IRP-SO-\" (or \"IRP-STAGING-\" for a second installation), got {}",
                Value::String(reference_prefix.clone())
            ),
        );
    }
    let max_attempts = o.int(d, "max_attempts", 1, 100).unwrap_or(10);
    let timeout_secs = o.int(d, "timeout_secs", 1, 600).unwrap_or(30);
    let enabled = o.bool(d, "enabled").unwrap_or(true);
    if d.error_count() > errors_before {
        return None;
    }
    Some(ErpConfig {
        system,
        protocol,
        url: url_value?,
        alumio,
        database: database?,
        login: login?,
        api_key: api_key?,
        documents,
        confirm,
        reference_prefix,
        max_attempts,
        timeout_secs,
        enabled,
    })
}
