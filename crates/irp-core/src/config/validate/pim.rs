//! A PIM document (`{"pim": { "source": "ergonode", … }}`): the source, its URL and API key,
//! languages, the attribute codes of the product fields, the attributes taken and the polling.

use serde_json::Value;

use super::{Obj, credential, describe, service_url};

use crate::config::diag::{Diagnostics, JsonPath};
use crate::config::model::*;

/// Keys of a PIM document's `pim` object.
pub const PIM_KEYS: &[&str] = &[
    "source",
    "url",
    "api_key",
    "languages",
    "fields",
    "attributes",
    "page_size",
    "poll_interval_secs",
    "timeout_secs",
    "enabled",
];

/// Keys of `pim.fields`.
pub const PIM_FIELD_KEYS: &[&str] = &["ean", "name", "brand", "model", "category"];

/// The PIM source of a PIM document (`{"pim": { "source": "ergonode", … }}`).
pub(crate) fn pim(v: &Value, d: &mut Diagnostics) -> Option<PimConfig> {
    let root = JsonPath::root();
    let top = Obj::of(v, &root, d, "a PIM document")?;
    top.unknown_keys(d, &["pim"], "a PIM document");
    let Some(inner) = top.get("pim") else {
        d.error(
            &top.at("pim"),
            "missing `pim`: write {\"pim\": {\"source\": \"ergonode\", \"url\": \"https://…/api/graphql/\", \"api_key\": \"${secret:pim.api_key}\"}}",
        );
        return None;
    };
    let errors_before = d.error_count();
    let o = Obj::of(inner, &top.at("pim"), d, "the PIM source")?;
    o.unknown_keys(d, PIM_KEYS, "the PIM source");
    let source = o
        .string(d, "source")
        .unwrap_or_else(|| "ergonode".to_owned());
    if source != "ergonode" {
        d.error(
            &o.at("source"),
            format!(
                "unknown PIM source {}, expected \"ergonode\"",
                Value::String(source.clone())
            ),
        );
    }
    let url_value = o.required_string(
        d,
        "url",
        "the PIM's GraphQL endpoint, like \"https://acme.ergonode.app/api/graphql/\"",
    );
    if let Some(u) = &url_value {
        service_url(u, &o.at("url"), d);
    }
    let api_key = o.required_string(
        d,
        "api_key",
        "the Ergonode API key (System Settings → API keys), best as \"${secret:pim.api_key}\"",
    );
    if let Some(k) = &api_key {
        credential(&o.at("api_key"), k, d);
    }
    let code_list = |d: &mut Diagnostics, key: &str, what: &str| -> Option<Vec<String>> {
        let v = o.get(key)?;
        let path = o.at(key);
        match v {
            Value::Array(items) if !items.is_empty() => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_owned()),
                        other => {
                            d.error(
                                &path.index(i),
                                format!("expected {what}, got {}", describe(other)),
                            );
                        }
                    }
                }
                Some(out)
            }
            other => {
                d.error(
                    &path,
                    format!(
                        "expected a non-empty list of {what}s, got {}",
                        describe(other)
                    ),
                );
                None
            }
        }
    };
    let languages = code_list(d, "languages", "a language code like \"nl_NL\"")
        .unwrap_or_else(|| vec!["en_GB".to_owned()]);
    for (i, l) in languages.iter().enumerate() {
        let ok = l.len() == 5
            && l.as_bytes()[2] == b'_'
            && l[..2].bytes().all(|b| b.is_ascii_lowercase())
            && l[3..].bytes().all(|b| b.is_ascii_uppercase());
        if !ok {
            d.error(
                &o.at("languages").index(i),
                format!(
                    "expected an Ergonode language code like \"nl_NL\" or \"en_GB\", got {}",
                    Value::String(l.clone())
                ),
            );
        }
    }
    let fields = pim_fields(&o, d);
    let attributes = match o.get("attributes") {
        None => PimAttributes::All,
        Some(Value::String(s)) if s == "*" => PimAttributes::All,
        Some(Value::Array(_)) => {
            PimAttributes::Only(code_list(d, "attributes", "an attribute code").unwrap_or_default())
        }
        Some(other) => {
            d.error(
                &o.at("attributes"),
                format!(
                    "expected \"*\" (every attribute) or a list of attribute codes like [\"color\", \"storage\"], got {}",
                    describe(other)
                ),
            );
            PimAttributes::All
        }
    };
    let page_size = o.int(d, "page_size", 1, 200).unwrap_or(100);
    let poll_interval_secs = match o.int(d, "poll_interval_secs", 0, 7 * 24 * 3600) {
        None => 900,
        Some(n) if n != 0 && n < 60 => {
            d.error(
                &o.at("poll_interval_secs"),
                format!("must be at least 60 (or 0: only `irp pim sync`), got {n}"),
            );
            900
        }
        Some(n) => n,
    };
    let timeout_secs = o.int(d, "timeout_secs", 1, 3600).unwrap_or(60);
    let enabled = o.bool(d, "enabled").unwrap_or(true);
    if d.error_count() > errors_before {
        return None;
    }
    Some(PimConfig {
        source,
        url: url_value?,
        api_key: api_key?,
        languages,
        fields,
        attributes,
        page_size,
        poll_interval_secs,
        timeout_secs,
        enabled,
    })
}

fn pim_fields(o: &Obj<'_>, d: &mut Diagnostics) -> PimFields {
    let mut f = PimFields {
        ean: "ean".into(),
        name: "name".into(),
        brand: Some("brand".into()),
        model: Some("model".into()),
        category: None,
    };
    let Some(v) = o.get("fields") else {
        return f;
    };
    let Some(fo) = Obj::of(v, &o.at("fields"), d, "attribute codes by product field") else {
        return f;
    };
    fo.unknown_keys(d, PIM_FIELD_KEYS, "`fields`");
    let code = |d: &mut Diagnostics, key: &str, nullable: bool| -> Option<Option<String>> {
        match fo.get(key)? {
            Value::Null if nullable => Some(None),
            Value::String(s) if !s.trim().is_empty() => Some(Some(s.trim().to_owned())),
            other => {
                d.error(
                    &fo.at(key),
                    format!(
                        "expected an Ergonode attribute code like \"{key}\"{}, got {}",
                        if nullable { " or null" } else { "" },
                        describe(other)
                    ),
                );
                None
            }
        }
    };
    if let Some(Some(c)) = code(d, "ean", false) {
        f.ean = c;
    }
    if let Some(Some(c)) = code(d, "name", false) {
        f.name = c;
    }
    if let Some(c) = code(d, "brand", true) {
        f.brand = c;
    }
    if let Some(c) = code(d, "model", true) {
        f.model = c;
    }
    if let Some(c) = code(d, "category", true) {
        f.category = c;
    }
    f
}
