//! A refurbisher's order connector (`order`): endpoint, method, auth, retries and idempotency,
//! the request mappings (`order_object`, `item_object`: targets and expressions) and the checks
//! of the answer (`response_object`).

use serde_json::{Map, Value};

use super::offers::http_auth;
use super::{DEFAULT_IDEMPOTENCY_HEADER, Obj, describe, url};

use crate::config::diag::{Diagnostics, JsonPath};
use crate::config::model::*;
use crate::config::suggest::did_you_mean;

use crate::mapping::{asserts, context::Scope, expr};

/// Keys of `order`.
pub const ORDER_KEYS: &[&str] = &[
    "connection",
    "endpoint",
    "method",
    "auth",
    "order_object",
    "item_object",
    "response_object",
    "timeout_secs",
    "max_attempts",
    "retry_unknown",
    "idempotency_header",
];

pub(super) fn order(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> Option<OrderConfig> {
    let errors_before = d.error_count();
    let o = Obj::of(v, path, d, "the order connector (or {} for none)")?;
    o.unknown_keys(d, ORDER_KEYS, "`order`");
    let connection = o.required_string(d, "connection", "expected `web`");
    if let Some(c) = &connection
        && c != "web"
    {
        d.error(
            &o.at("connection"),
            format!("unknown order connection {}, expected \"web\" (or \"order\": {{}} for no automated orders)", Value::String(c.clone())),
        );
    }
    let endpoint = o.required_string(d, "endpoint", "the refurbisher's order URL is needed");
    if let Some(u) = &endpoint {
        url(u, &o.at("endpoint"), d);
    }
    let method = match o.string(d, "method").as_deref() {
        None => Method::Post,
        Some(m) => match m.to_uppercase().as_str() {
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            _ => {
                d.error(
                    &o.at("method"),
                    format!(
                        "unknown method {}, expected POST, PUT or PATCH",
                        Value::String(m.to_owned())
                    ),
                );
                Method::Post
            }
        },
    };
    let auth = match o.get("auth") {
        None => None,
        Some(v) => http_auth(v, &o.at("auth"), d),
    };
    let timeout_secs = o.int(d, "timeout_secs", 1, 600).unwrap_or(30);
    let max_attempts = o.int(d, "max_attempts", 1, 100).unwrap_or(8);
    let retry_unknown = o.bool(d, "retry_unknown").unwrap_or(false);
    let idempotency_header = match o.string(d, "idempotency_header") {
        None => Some(DEFAULT_IDEMPOTENCY_HEADER.to_owned()),
        Some(h) if h.is_empty() => None,
        Some(h) => {
            if !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                d.error(
                    &o.at("idempotency_header"),
                    format!("{} is not a header name (letters, digits, `-`, `_`), or \"\" to send no key", Value::String(h.clone())),
                );
            }
            Some(h)
        }
    };

    let item_object = match o.get("item_object") {
        None => None,
        Some(v) => Obj::of(v, &o.at("item_object"), d, "the item mapping").map(|io| {
            let mut uses_items = false;
            mapping_object(io.map, &io.path, Scope::Item, d, &mut uses_items);
            if uses_items {
                d.error(&io.path, "`%ITEMS%` cannot be used inside `item_object`");
            }
            io.map.clone()
        }),
    };
    let order_object = match o.get("order_object") {
        None => {
            d.error(&o.at("order_object"), "missing `order_object`: the mapping of the request body is needed");
            None
        }
        Some(v) => Obj::of(v, &o.at("order_object"), d, "the order mapping").map(|oo| {
            let mut uses_items = false;
            mapping_object(oo.map, &oo.path, Scope::SupplierOrder, d, &mut uses_items);
            if uses_items && item_object.is_none() {
                d.error(&oo.path, "`%ITEMS%` is used, but there is no `item_object` to build the items with")
                    .help("add \"item_object\": { \"sku\": \"productVariant.refurbisherOffer.sku\", \"quantity\": \"quantity\" }");
            }
            if !uses_items && item_object.is_some() {
                d.warning(&o.at("item_object"), "`item_object` is never used: no value in `order_object` is `%ITEMS%`");
            }
            oo.map.clone()
        }),
    };

    let response_object = match o.get("response_object") {
        None => {
            d.warning(
                &o.at("response_object"),
                "no `response_object`: any 2xx answer counts as placed and the refurbisher's order id is not stored",
            );
            ResponseObject::default()
        }
        Some(v) => response_object(v, &o.at("response_object"), d),
    };

    if d.error_count() > errors_before {
        return None;
    }
    Some(OrderConfig {
        connection: connection?,
        endpoint: endpoint?,
        method,
        auth,
        order_object: order_object?,
        item_object,
        response_object,
        timeout_secs,
        max_attempts,
        retry_unknown,
        idempotency_header,
    })
}

/// Check a mapping object: dotted keys nest, values are expressions (or JSON literals, or
/// nested objects), and no target is both a value and an object.
fn mapping_object(
    map: &Map<String, Value>,
    path: &JsonPath,
    scope: Scope,
    d: &mut Diagnostics,
    uses_items: &mut bool,
) {
    let mut leaves = Vec::new();
    mapping_leaves(map, path, scope, d, uses_items, "", &mut leaves);
    leaves.sort_by(|a, b| a.0.cmp(&b.0));
    for w in leaves.windows(2) {
        let ((a, _), (b, p)) = (&w[0], &w[1]);
        if a == b {
            d.error(p, format!("target `{b}` is set twice"));
        } else if b.starts_with(&format!("{a}.")) {
            d.error(
                p,
                format!("target `{b}` nests inside `{a}`, which is already a value"),
            );
        }
    }
}

fn mapping_leaves(
    map: &Map<String, Value>,
    path: &JsonPath,
    scope: Scope,
    d: &mut Diagnostics,
    uses_items: &mut bool,
    prefix: &str,
    leaves: &mut Vec<(String, JsonPath)>,
) {
    for (k, v) in map {
        let p = path.key(k);
        if k.is_empty() || k.split('.').any(str::is_empty) {
            d.error(
                &p,
                format!(
                    "invalid target key {}: empty segment",
                    Value::String(k.clone())
                ),
            );
            continue;
        }
        let target = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::String(src) => match expr::parse(src) {
                Ok(e) => {
                    if e == expr::Expr::Items {
                        *uses_items = true;
                    }
                    if let Err(msg) = expr::check(&e, scope) {
                        d.error(&p, format!("in {}: {msg}", Value::String(src.clone())));
                    }
                }
                Err(msg) => {
                    d.error(&p, format!("in {}: {msg}", Value::String(src.clone())));
                }
            },
            Value::Object(inner) => {
                mapping_leaves(inner, &p, scope, d, uses_items, &target, leaves);
                continue;
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
            Value::Array(_) => {
                d.error(
                    &p,
                    "expected an expression string, a JSON literal or an object, got an array",
                );
            }
        }
        leaves.push((target, p));
    }
}

fn response_object(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> ResponseObject {
    let mut r = ResponseObject::default();
    let Some(o) = Obj::of(v, path, d, "the response checks") else {
        return r;
    };
    o.unknown_keys(d, &["asserts", "fields"], "`response_object`");
    if let Some(av) = o.get("asserts")
        && let Some(ao) = Obj::of(av, &o.at("asserts"), d, "asserts (key → rules)")
    {
        for (k, v) in ao.map {
            let p = ao.at(k);
            let Value::String(rules) = v else {
                d.error(
                    &p,
                    format!(
                        "expected rules like \"in:201\" or \"present|filled\", got {}",
                        describe(v)
                    ),
                );
                continue;
            };
            if k != "status"
                && let Err(m) = asserts::check_response_path(k)
            {
                d.error(&p, m);
            }
            if let Err(m) = asserts::parse_rules(rules, k == "status") {
                d.error(&p, format!("in {}: {m}", Value::String(rules.clone())));
            }
        }
        r.asserts = ao.map.clone();
    }
    match o.get("fields") {
        None => {
            d.warning(
                &o.at("fields"),
                "no `fields`: the refurbisher's own order id (`externalOrderReference`) is not stored, so shipments cannot be matched by it",
            );
        }
        Some(fv) => {
            if let Some(fo) = Obj::of(
                fv,
                &o.at("fields"),
                d,
                "fields (supplier-order field → response path)",
            ) {
                for (k, v) in fo.map {
                    let p = fo.at(k);
                    if !RESPONSE_FIELD_TARGETS.contains(&k.as_str()) {
                        let diag = d.error(
                            &p,
                            format!(
                                "unknown supplier-order field `{k}`, expected one of {}",
                                RESPONSE_FIELD_TARGETS.join(", ")
                            ),
                        );
                        if let Some(s) = did_you_mean(k, RESPONSE_FIELD_TARGETS) {
                            diag.help(format!("did you mean `{s}`?"));
                        }
                    }
                    match v {
                        Value::String(s) => {
                            if let Err(m) = asserts::check_response_path(s) {
                                d.error(&p, m);
                            }
                        }
                        other => {
                            d.error(&p, format!("expected a dotted path into the response like \"OrderNumber\", got {}", describe(other)));
                        }
                    }
                }
                r.fields = fo.map.clone();
            }
        }
    }
    r
}
