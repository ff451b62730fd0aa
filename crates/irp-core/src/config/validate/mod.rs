//! Validation of IRP's documents: a walk over the JSON that builds the typed model and records
//! every problem it meets, with its JSON path, instead of stopping at the first.
//!
//! This module holds what the document kinds share: the `Obj` accessor, `describe`, the URL and
//! credential checks, the `${…}` reference checks, the connector key rules, the currency, tax
//! and percentage readers and the defaults. Each kind has its own file: `refurbisher.rs` (a
//! refurbisher's registry fields, monitoring and shipment webhook), `offers.rs` (its offers
//! connector with auth and pagination), `order.rs` (its order connector and mapping checks),
//! `channels.rs`, `pim.rs` and `erp.rs`.

mod channels;
mod erp;
mod offers;
mod order;
mod pim;
mod refurbisher;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::diag::{Diagnostics, JsonPath};
use super::model::*;
use super::suggest::did_you_mean;
use crate::money;
use crate::secret_ref;

pub(crate) use channels::channels;
pub use channels::{CHANNEL_KEYS, CONTENT_KEYS, SHOPWARE_KEYS, shopware_id};
pub(crate) use erp::erp;
pub use erp::{ALUMIO_KEYS, ERP_DOCUMENT_KEYS, ERP_KEYS, ODOO_CALLS};
pub use offers::{ENCODINGS, OFFERS_KEYS, SFTP_AUTH_KEYS};
pub use order::ORDER_KEYS;
pub(crate) use pim::pim;
pub use pim::{PIM_FIELD_KEYS, PIM_KEYS};
pub(crate) use refurbisher::refurbisher;
pub use refurbisher::{MARGIN_RULE_KEYS, MONITORING_KEYS, REFURBISHER_KEYS, SHIPMENT_KEYS};

/// The header the idempotency key goes in unless `idempotency_header` says otherwise.
pub const DEFAULT_IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Default size cap of a fetched feed: 2 GiB.
pub const DEFAULT_MAX_BYTES: i64 = 2 * 1024 * 1024 * 1024;

/// The default `max_record_bytes` of an offers connector: 1 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: i64 = 1024 * 1024;

/// Keys whose string values are credentials (redacted in every output, warned about when
/// written literally).
pub const CREDENTIAL_KEYS: &[&str] = &[
    "token",
    "password",
    "client_id",
    "client_secret",
    "private_key",
    "passphrase",
    "value",
    "shop_secret",
];

/// Keys that name a kind of document at the top level, so no refurbisher may use them.
/// `channel` is reserved as well: channels' secrets live under `channel.KEY.…`, so a refurbisher
/// keyed `channel` would own them.
pub const RESERVED_KEYS: &[&str] = &["channels", "channel", "pim", "erp"];

/// Whether a connector key is acceptable: lower-case letters, digits, `-` and `_`, starting
/// with a letter or digit, at most 64 characters, and none of [`RESERVED_KEYS`].
pub fn valid_connector_key(key: &str) -> bool {
    let mut chars = key.chars();
    !RESERVED_KEYS.contains(&key)
        && key.len() <= 64
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {}", Value::String(s.clone())),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// An object being read: remembers which keys were looked at, so the rest can be reported.
struct Obj<'v> {
    map: &'v Map<String, Value>,
    path: JsonPath,
}

impl<'v> Obj<'v> {
    fn of(v: &'v Value, path: &JsonPath, d: &mut Diagnostics, what: &str) -> Option<Self> {
        match v {
            Value::Object(map) => Some(Obj {
                map,
                path: path.clone(),
            }),
            other => {
                d.error(
                    path,
                    format!("expected {what} (a JSON object), got {}", describe(other)),
                );
                None
            }
        }
    }

    fn get(&self, key: &str) -> Option<&'v Value> {
        self.map.get(key)
    }

    fn at(&self, key: &str) -> JsonPath {
        self.path.key(key)
    }

    /// Report keys not in `allowed`, with a suggestion.
    fn unknown_keys(&self, d: &mut Diagnostics, allowed: &[&str], context: &str) {
        for key in self.map.keys() {
            if allowed.contains(&key.as_str()) {
                continue;
            }
            let diag = d.error(&self.at(key), format!("unknown key `{key}` in {context}"));
            match did_you_mean(key, allowed.iter().copied()) {
                Some(s) => diag.help(format!("did you mean `{s}`?")),
                None => diag.help(format!("expected one of: {}", allowed.join(", "))),
            };
        }
    }

    fn string(&self, d: &mut Diagnostics, key: &str) -> Option<String> {
        match self.get(key)? {
            Value::String(s) => Some(s.clone()),
            other => {
                d.error(
                    &self.at(key),
                    format!("expected a string, got {}", describe(other)),
                );
                None
            }
        }
    }

    fn required_string(&self, d: &mut Diagnostics, key: &str, why: &str) -> Option<String> {
        if self.get(key).is_none() {
            d.error(&self.at(key), format!("missing `{key}`, {why}"));
            return None;
        }
        let s = self.string(d, key)?;
        if s.trim().is_empty() {
            d.error(&self.at(key), format!("`{key}` is empty, {why}"));
            return None;
        }
        Some(s)
    }

    fn bool(&self, d: &mut Diagnostics, key: &str) -> Option<bool> {
        match self.get(key)? {
            Value::Bool(b) => Some(*b),
            other => {
                d.error(
                    &self.at(key),
                    format!("expected true or false, got {}", describe(other)),
                );
                None
            }
        }
    }

    /// An integer in `min..=max`.
    fn int(&self, d: &mut Diagnostics, key: &str, min: i64, max: i64) -> Option<i64> {
        let v = self.get(key)?;
        let n = match v {
            Value::Number(n) => n.as_i64(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Some(n),
            Some(n) => {
                d.error(
                    &self.at(key),
                    format!("must be between {min} and {max}, got {n}"),
                );
                None
            }
            None => {
                d.error(
                    &self.at(key),
                    format!("expected a whole number, got {}", describe(v)),
                );
                None
            }
        }
    }

    /// A positive id, or `null`.
    fn id(&self, d: &mut Diagnostics, key: &str) -> Option<i64> {
        match self.get(key) {
            None | Some(Value::Null) => None,
            Some(_) => self.int(d, key, 1, i64::from(i32::MAX)),
        }
    }
}

/// `currency`: an ISO 4217 code, default `EUR`.
fn currency(o: &Obj<'_>, d: &mut Diagnostics) -> String {
    match o.string(d, "currency") {
        None => "EUR".to_owned(),
        Some(c) if money::is_currency(&c) => c,
        Some(c) => {
            let diag = d.error(
                &o.at("currency"),
                format!(
                    "unknown currency {}, expected an ISO 4217 code like \"EUR\"",
                    Value::String(c.clone())
                ),
            );
            if money::is_currency(&c.to_uppercase()) {
                diag.help(format!("write it in capitals: \"{}\"", c.to_uppercase()));
            }
            "EUR".to_owned()
        }
    }
}

/// `default_tax_percentage`: 0 to 100, default 21.
fn default_tax_percentage(o: &Obj<'_>, d: &mut Diagnostics) -> Decimal {
    match o.get("default_tax_percentage") {
        None => Decimal::from(DEFAULT_TAX_PERCENTAGE),
        Some(v) => percent(v, &o.at("default_tax_percentage"), d, Decimal::ONE_HUNDRED)
            .unwrap_or(Decimal::from(DEFAULT_TAX_PERCENTAGE)),
    }
}

/// A number, or a string like "17.5" or "17.5%", as a decimal.
fn percent_number(v: &Value) -> Option<Decimal> {
    match v {
        Value::Number(n) => money::parse_plain_decimal(&n.to_string()),
        Value::String(s) => money::parse_plain_decimal(s.trim_end_matches('%').trim()),
        _ => None,
    }
}

/// A percentage: a number, or a string like "17.5" or "17.5%", from 0 to `max`.
fn percent(v: &Value, path: &JsonPath, d: &mut Diagnostics, max: Decimal) -> Option<Decimal> {
    let Some(p) = percent_number(v) else {
        d.error(
            path,
            format!(
                "expected a percentage like 21 or \"17.5\", got {}",
                describe(v)
            ),
        );
        return None;
    };
    if (p.is_sign_negative() && !p.is_zero()) || p > max {
        d.error(
            path,
            format!("must be between 0 and {max} (percent), got {p}"),
        );
        return None;
    }
    Some(p.normalize())
}

/// Warn about a credential written literally, and tell how to move it into the secret store.
fn credential(path: &JsonPath, value: &str, d: &mut Diagnostics) {
    if value == super::REDACTED {
        d.error(
            path,
            "this is the redaction placeholder printed by `irp refurbisher show`, not a credential",
        )
        .help("write the real value, or better a \"${secret:NAME}\" reference");
        return;
    }
    if secret_ref::has_references(value) || value.is_empty() {
        return;
    }
    let field = path.last_key().unwrap_or("secret");
    let name = path
        .segments()
        .iter()
        .filter_map(|s| match s {
            super::diag::Segment::Key(k) => Some(k.as_str()),
            super::diag::Segment::Index(_) => None,
        })
        .collect::<Vec<_>>()
        .join(".");
    d.warning(
        path,
        format!("`{field}` is a credential written in the document in plain text"),
    )
    .help(format!(
        "move it into the secret store: run `irp secret set {name}` (it reads the value from stdin), then write \"${{secret:{name}}}\" here"
    ));
}

/// Check an URL: http(s), a host, no credentials in it.
/// The URL of a service (a shop, the PIM, the ERP): as [`url`], and no `${secret:…}` inside —
/// a URL is shown in messages and logs, so credentials go into their own keys.
fn service_url(u: &str, path: &JsonPath, d: &mut Diagnostics) {
    let secret = secret_ref::parse(u).is_ok_and(|pieces| {
        pieces.iter().any(|p| {
            matches!(p, secret_ref::Piece::Ref(r) if r.provider == secret_ref::Provider::Secret)
        })
    });
    if secret {
        d.error(
            path,
            "a URL may not hold a `${secret:…}`: URLs are shown in messages and logs; credentials go into their own keys",
        );
        return;
    }
    url(u, path, d);
}

fn url(u: &str, path: &JsonPath, d: &mut Diagnostics) {
    if let Ok(pieces) = secret_ref::parse(u) {
        // Messages and logs show a URL without its query string: a secret stands only there.
        let mut in_query = false;
        for piece in &pieces {
            match piece {
                secret_ref::Piece::Text(t) => in_query |= t.contains('?'),
                secret_ref::Piece::Ref(r)
                    if r.provider == secret_ref::Provider::Secret && !in_query =>
                {
                    d.error(
                        path,
                        format!(
                            "{r} stands before the query string: messages and logs show a URL up to its `?`, so a secret may stand only in the query"
                        ),
                    )
                    .help("use `auth` (bearer, basic, header or query) for a credential");
                    break;
                }
                secret_ref::Piece::Ref(_) => {}
            }
        }
    }
    if secret_ref::has_references(u) {
        return;
    }
    let rest = if let Some(r) = u.strip_prefix("https://") {
        r
    } else if let Some(r) = u.strip_prefix("http://") {
        let host = r.split(['/', ':', '?']).next().unwrap_or("");
        if !matches!(host, "localhost" | "127.0.0.1" | "[::1]") {
            d.warning(
                path,
                format!(
                    "{} is plain http: credentials and data travel unencrypted",
                    Value::String(u.to_owned())
                ),
            );
        }
        r
    } else {
        d.error(
            path,
            format!(
                "expected an http:// or https:// URL, got {}",
                Value::String(u.to_owned())
            ),
        );
        return;
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.is_empty() {
        d.error(
            path,
            format!("URL {} has no host", Value::String(u.to_owned())),
        );
    } else if authority.contains('@') {
        d.error(
            path,
            "credentials in a URL end up in logs; put them in `auth`",
        );
    }
}

/// Check every string in the document for malformed `${…}` references.
/// Check every reference under `v`: it parses, and a `${secret:…}` names a secret of the
/// document's own `namespace` (see [`secret_ref::in_namespace`]); `whose` says whose secrets
/// those are in the message.
pub(crate) fn references(
    v: &Value,
    path: &JsonPath,
    namespace: &str,
    whose: &str,
    d: &mut Diagnostics,
) {
    references_below(v, path, path.segments().len(), namespace, whose, d);
}

fn references_below(
    v: &Value,
    path: &JsonPath,
    owner_len: usize,
    namespace: &str,
    whose: &str,
    d: &mut Diagnostics,
) {
    match v {
        Value::String(s) => match secret_ref::parse(s) {
            Err(e) => {
                d.error(path, e.to_string());
            }
            Ok(pieces) => {
                for piece in pieces {
                    if let secret_ref::Piece::Ref(r) = &piece
                        && r.provider == secret_ref::Provider::Env
                        && secret_ref::NEVER_ENV.contains(&r.name.as_str())
                    {
                        d.error(
                            path,
                            format!(
                                "{r} may not be read by documents: it holds IRP's own key, database or access settings"
                            ),
                        )
                        .help("reference a variable the host allows in IRP_ALLOW_ENV (by default `IRP_REF_*`), or a `${secret:…}`");
                    }
                    if let secret_ref::Piece::Ref(r) = piece
                        && r.provider == secret_ref::Provider::Secret
                        && !secret_ref::in_namespace(namespace, &r.name)
                    {
                        let mut suggested = namespace.to_owned();
                        for seg in &path.segments()[owner_len.min(path.segments().len())..] {
                            match seg {
                                super::diag::Segment::Key(k) => {
                                    suggested.push('.');
                                    suggested.extend(k.chars().filter(|c| {
                                        c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')
                                    }));
                                }
                                super::diag::Segment::Index(i) => {
                                    suggested.push_str(&format!(".{i}"));
                                }
                            }
                        }
                        d.error(
                            path,
                            format!(
                                "{r} is not one of {whose} secrets: a document names only secrets under `{namespace}.`, so no document can reach another's credentials"
                            ),
                        )
                        .help(format!(
                            "store the value as one of its own, e.g. `irp secret set {suggested}`, and write \"${{secret:{suggested}}}\""
                        ));
                    }
                }
            }
        },
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                references_below(x, &path.index(i), owner_len, namespace, whose, d);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                references_below(x, &path.key(k), owner_len, namespace, whose, d);
            }
        }
        _ => {}
    }
}
