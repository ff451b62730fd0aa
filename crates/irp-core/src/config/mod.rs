//! Refurbisher documents: parsing, validation, diagnostics, redaction and field-by-field diffs.
//!
//! A document is a JSON object keyed by connector key, each value shaped like the seeds'
//! "Refurbisher Connector Config" blocks plus the registry fields of their IRP and Monitoring
//! Thresholds tables. [`parse_document`] never stops at the first problem: it returns every
//! refurbisher it could read and every diagnostic, each with its JSON path and position.

pub mod diag;
pub mod jsonpos;
pub mod model;
pub mod suggest;
pub mod validate;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

pub use diag::{Diagnostic, Diagnostics, JsonPath, Severity};
pub use jsonpos::{Position, PositionIndex};
pub use model::{Channel, ErpConfig, PimConfig, Refurbisher};

/// The outcome of reading one document.
#[derive(Debug)]
pub struct Document {
    /// Refurbishers without errors, in document order.
    pub refurbishers: Vec<Refurbisher>,
    /// Everything found, errors and warnings, with positions filled in.
    pub diagnostics: Diagnostics,
    /// Where each value of the document is, for diagnostics added later.
    pub positions: PositionIndex,
}

impl Document {
    /// Whether the document can be applied.
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.has_errors()
    }
}

/// Parse and validate a refurbisher document.
///
/// A bare member pasted from a seed (`"flexit": { … }` without the surrounding braces) is
/// read as if wrapped in `{ }`, with a warning.
pub fn parse_document(text: &str) -> Document {
    let mut d = Diagnostics::new();
    let Some((value, positions)) = read_json(text, &mut d) else {
        return Document {
            refurbishers: Vec::new(),
            diagnostics: d,
            positions: PositionIndex::default(),
        };
    };
    let mut refurbishers = Vec::new();
    match &value {
        Value::Object(map) => {
            if map.is_empty() {
                d.warning(&JsonPath::root(), "the document holds no refurbishers")
                    .help("write { \"<connector key>\": { \"name\": …, \"offers\": { … }, \"order\": { } } }");
            }
            for (key, v) in map {
                validate::references(
                    v,
                    &JsonPath::root().key(key),
                    key,
                    &format!("`{key}`'s"),
                    &mut d,
                );
                if let Some(r) = validate::refurbisher(key, v, &JsonPath::root().key(key), &mut d) {
                    refurbishers.push(r);
                }
            }
        }
        other => {
            d.error(
                &JsonPath::root(),
                format!(
                    "expected a JSON object of refurbishers keyed by connector key, like {{ \"flexit\": {{ … }} }}, got {}",
                    validate::describe(other)
                ),
            );
        }
    }
    let set: Vec<(usize, &Refurbisher)> = refurbishers.iter().map(|r| (0, r)).collect();
    for (_, diag) in conflicts(&set) {
        d.push(diag);
    }
    locate(&mut d, &positions);
    Document {
        refurbishers,
        diagnostics: d,
        positions,
    }
}

/// Read a document's JSON and where each of its values is; report invalid JSON (with its
/// line and column) and keys that appear twice. A bare `"key": { … }` member is read as if
/// wrapped in `{ }`, with a warning.
fn read_json(text: &str, d: &mut Diagnostics) -> Option<(Value, PositionIndex)> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let (value, source) = match serde_json::from_str::<Value>(text) {
        Ok(v) => (v, text.to_owned()),
        Err(e) => {
            let wrapped = format!("{{{text}\n}}");
            match serde_json::from_str::<Value>(&wrapped) {
                Ok(v) if text.trim_start().starts_with('"') => {
                    d.warning(
                        &JsonPath::root(),
                        "the document is a bare `\"key\": { … }` member; read it as if wrapped in { }",
                    )
                    .help("wrap the whole document in { and } to make it a JSON object");
                    (v, wrapped)
                }
                _ => {
                    let diag = d.error(
                        &JsonPath::root(),
                        format!("invalid JSON: {}", strip_location(&e)),
                    );
                    diag.position = Some(Position {
                        line: e.line().max(1),
                        column: e.column().max(1),
                    });
                    return None;
                }
            }
        }
    };
    let positions = PositionIndex::build(&source);
    for (path, _) in &positions.duplicates {
        d.error(
            path,
            format!(
                "`{}` appears more than once in the same object; only the last would count",
                path.last_key().unwrap_or("")
            ),
        )
        .help("remove or rename one of them");
    }
    Some((value, positions))
}

/// Fill in the position of every diagnostic that has none and sort them by position.
fn locate(d: &mut Diagnostics, positions: &PositionIndex) {
    for diag in d.iter_mut() {
        if diag.position.is_none() {
            diag.position = positions.locate(&diag.path);
        }
    }
    d.sort_by_position();
}

/// The outcome of reading a channels document.
#[derive(Debug)]
pub struct ChannelsDocument {
    /// Channels without errors, in document order.
    pub channels: Vec<model::Channel>,
    /// Everything found, with positions.
    pub diagnostics: Diagnostics,
}

impl ChannelsDocument {
    /// Whether the document can be applied.
    pub fn is_ok(&self) -> bool {
        !self.diagnostics.has_errors()
    }
}

/// Whether `text` is a channels document (`{"channels": { … }}`) rather than a refurbisher
/// document; used to accept both kinds where files are applied.
pub fn is_channels_document(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    matches!(serde_json::from_str::<Value>(text), Ok(Value::Object(m)) if m.len() == 1 && m.contains_key("channels"))
}

/// Parse and validate a channels document: `{"channels": {"<key>": { "name": …, … }}}`, the
/// storefronts IRP prices and syncs products for.
pub fn parse_channels(text: &str) -> ChannelsDocument {
    let mut d = Diagnostics::new();
    let Some((value, positions)) = read_json(text, &mut d) else {
        return ChannelsDocument {
            channels: Vec::new(),
            diagnostics: d,
        };
    };
    let channels = validate::channels(&value, &mut d);
    if let Some(Value::Object(list)) = value.get("channels") {
        for (key, v) in list {
            let path = JsonPath::root().key("channels").key(key);
            validate::references(
                v,
                &path,
                &format!("channel.{key}"),
                &format!("channel `{key}`'s"),
                &mut d,
            );
        }
    }
    locate(&mut d, &positions);
    ChannelsDocument {
        channels,
        diagnostics: d,
    }
}

/// The outcome of reading a PIM document.
#[derive(Debug)]
pub struct PimDocument {
    /// The PIM source, when the document has no errors.
    pub pim: Option<model::PimConfig>,
    /// Everything found, with positions.
    pub diagnostics: Diagnostics,
}

/// A parsed ERP document.
#[derive(Debug)]
pub struct ErpDocument {
    /// The ERP connector, when the document has no errors.
    pub erp: Option<model::ErpConfig>,
    /// Everything found, with positions.
    pub diagnostics: Diagnostics,
}

/// Whether `text` is an ERP document (`{"erp": { … }}`).
pub fn is_erp_document(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    matches!(serde_json::from_str::<Value>(text), Ok(Value::Object(m)) if m.len() == 1 && m.contains_key("erp"))
}

/// Parse and validate an ERP document: `{"erp": {"system": "odoo", "url": …, "database": …,
/// "login": …, "api_key": …}}`, the back office purchase and sales orders are recorded in.
pub fn parse_erp(text: &str) -> ErpDocument {
    let mut d = Diagnostics::new();
    let Some((value, positions)) = read_json(text, &mut d) else {
        return ErpDocument {
            erp: None,
            diagnostics: d,
        };
    };
    let erp = validate::erp(&value, &mut d);
    if let Some(v) = value.get("erp") {
        validate::references(v, &JsonPath::root().key("erp"), "erp", "the ERP's", &mut d);
    }
    locate(&mut d, &positions);
    ErpDocument {
        erp,
        diagnostics: d,
    }
}

impl model::ErpConfig {
    /// The canonical document with literal credentials replaced by [`REDACTED`] (`${secret:…}`
    /// references are kept).
    pub fn redacted(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if !crate::secret_ref::has_references(&self.api_key) {
            v["api_key"] = Value::String(REDACTED.into());
        }
        if let Some(a) = &self.alumio
            && !crate::secret_ref::has_references(&a.auth_value)
        {
            v["alumio"]["auth_value"] = Value::String(REDACTED.into());
        }
        v
    }
}

/// Whether `text` is a PIM document (`{"pim": { … }}`).
pub fn is_pim_document(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    matches!(serde_json::from_str::<Value>(text), Ok(Value::Object(m)) if m.len() == 1 && m.contains_key("pim"))
}

/// Parse and validate a PIM document: `{"pim": {"source": "ergonode", "url": …, "api_key": …}}`,
/// where product data comes from.
pub fn parse_pim(text: &str) -> PimDocument {
    let mut d = Diagnostics::new();
    let Some((value, positions)) = read_json(text, &mut d) else {
        return PimDocument {
            pim: None,
            diagnostics: d,
        };
    };
    let pim = validate::pim(&value, &mut d);
    if let Some(v) = value.get("pim") {
        validate::references(v, &JsonPath::root().key("pim"), "pim", "the PIM's", &mut d);
    }
    locate(&mut d, &positions);
    PimDocument {
        pim,
        diagnostics: d,
    }
}

impl model::PimConfig {
    /// The canonical document with a literal API key replaced by [`REDACTED`] (a
    /// `${secret:…}` reference is kept: it names the secret, it does not hold it).
    pub fn redacted(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if !crate::secret_ref::has_references(&self.api_key) {
            v["api_key"] = Value::String(REDACTED.into());
        }
        v
    }
}

fn strip_location(e: &serde_json::Error) -> String {
    let s = e.to_string();
    match s.rfind(" at line ") {
        Some(i) => s[..i].to_owned(),
        None => s,
    }
}

/// Refurbishers that clash with each other: the same connector key, refurbisher id or
/// supplier id twice. Each input carries an index (of its file); each diagnostic names the
/// index of the refurbisher it is reported on.
pub fn conflicts(set: &[(usize, &Refurbisher)]) -> Vec<(usize, Diagnostic)> {
    let mut out = Vec::new();
    let mut by_key: BTreeMap<&str, &Refurbisher> = BTreeMap::new();
    let mut by_id: BTreeMap<i64, &Refurbisher> = BTreeMap::new();
    let mut by_supplier: BTreeMap<i64, &Refurbisher> = BTreeMap::new();
    for (i, r) in set {
        let mut d = Diagnostics::new();
        let path = JsonPath::root().key(&r.key);
        if by_key.insert(&r.key, r).is_some() {
            d.error(
                &path,
                format!("connector key `{}` is defined more than once", r.key),
            );
        }
        if let Some(id) = r.refurbisher_id
            && let Some(other) = by_id.insert(id, r)
        {
            d.error(
                &path.key("refurbisher_id"),
                format!("refurbisher_id {id} is also used by `{}`", other.key),
            );
        }
        if let Some(id) = r.supplier_id
            && let Some(other) = by_supplier.insert(id, r)
        {
            d.error(
                &path.key("supplier_id"),
                format!("supplier_id {id} is also used by `{}`", other.key),
            );
        }
        out.extend(d.into_vec().into_iter().map(|diag| (*i, diag)));
    }
    out
}

/// Render one diagnostic like a compiler: `file:line:col: error: path: message`, then an
/// indented help line.
pub fn render(file: &str, diag: &Diagnostic) -> String {
    let mut out = String::new();
    let _ = match diag.position {
        Some(p) => write!(out, "{file}:{}:{}: ", p.line, p.column),
        None => write!(out, "{file}: "),
    };
    let _ = write!(out, "{}: {}: {}", diag.severity, diag.path, diag.message);
    if let Some(h) = &diag.help {
        let _ = write!(out, "\n    help: {h}");
    }
    out
}

/// Every `${env:…}` / `${secret:…}` reference in a document, with where it is.
pub fn references(v: &Value) -> Vec<(JsonPath, crate::secret_ref::Reference)> {
    fn walk(v: &Value, path: &JsonPath, out: &mut Vec<(JsonPath, crate::secret_ref::Reference)>) {
        match v {
            Value::String(s) => {
                for piece in crate::secret_ref::parse(s).unwrap_or_default() {
                    if let crate::secret_ref::Piece::Ref(r) = piece {
                        out.push((path.clone(), r));
                    }
                }
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| walk(x, &path.index(i), out)),
            Value::Object(m) => m.iter().for_each(|(k, x)| walk(x, &path.key(k), out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, &JsonPath::root(), &mut out);
    out
}

/// What credentials are shown as.
pub const REDACTED: &str = "********";

/// A copy of a canonical document with every literal credential inside an `auth` block (or a
/// channel's `shopware` block)
/// replaced by [`REDACTED`]. Secret references (`${secret:NAME}`) are kept: they name a
/// secret, they do not hold it.
pub fn redact(v: &Value) -> Value {
    redact_in(v, false)
}

fn redact_in(v: &Value, in_auth: bool) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| {
                    let x = if in_auth
                        && validate::CREDENTIAL_KEYS.contains(&k.as_str())
                        && matches!(x, Value::String(s) if !crate::secret_ref::has_references(s))
                    {
                        Value::String(REDACTED.into())
                    } else {
                        redact_in(x, in_auth || k == "auth" || k == "shopware")
                    };
                    (k.clone(), x)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| redact_in(x, in_auth)).collect()),
        other => other.clone(),
    }
}

/// One field that differs between two canonical documents (values already redacted).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Change {
    /// Dotted path of the field.
    pub path: String,
    /// The value before, absent when the field is new.
    pub old: Option<Value>,
    /// The value after, absent when the field is gone.
    pub new: Option<Value>,
}

/// Refurbisher keys whose change changes the prices, stock or eligibility of its offers.
pub const CATALOG_KEYS: &[&str] = &[
    "currency",
    "shipping_costs",
    "home_copy_tax",
    "default_margin",
    "margin_rules",
    "default_tax_percentage",
    "price_rounding",
    "stock_threshold",
    "approved_refurbished",
    "enabled",
];

/// Whether `changes` (of one refurbisher) touch any of [`CATALOG_KEYS`].
pub fn changes_catalog(changes: &[Change]) -> bool {
    changes.iter().any(|c| {
        let head = c.path.split(['.', '[']).next().unwrap_or("");
        CATALOG_KEYS.contains(&head)
    })
}

/// Field-by-field differences between two canonical documents, in a stable order.
/// Credentials are compared in clear but reported as [`REDACTED`].
pub fn diff(old: &Value, new: &Value) -> Vec<Change> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten(old, &JsonPath::root(), false, &mut a);
    flatten(new, &JsonPath::root(), false, &mut b);
    let mut out = Vec::new();
    let keys: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for k in keys {
        let (x, y) = (a.get(k), b.get(k));
        if x.map(|v| &v.0) != y.map(|v| &v.0) {
            let shown = |v: Option<&(Value, bool)>| {
                v.map(|(v, secret)| {
                    if *secret {
                        Value::String(REDACTED.into())
                    } else {
                        v.clone()
                    }
                })
            };
            out.push(Change {
                path: k.clone(),
                old: shown(x),
                new: shown(y),
            });
        }
    }
    out
}

fn flatten(v: &Value, path: &JsonPath, in_auth: bool, out: &mut BTreeMap<String, (Value, bool)>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                let secret = in_auth && validate::CREDENTIAL_KEYS.contains(&k.as_str());
                if secret {
                    out.insert(
                        path.key(k).to_string(),
                        (
                            x.clone(),
                            matches!(x, Value::String(s) if !crate::secret_ref::has_references(s)),
                        ),
                    );
                } else {
                    flatten(x, &path.key(k), in_auth || k == "auth", out);
                }
            }
        }
        Value::Object(_) if path.segments().is_empty() => {}
        other => {
            out.insert(path.to_string(), (other.clone(), false));
        }
    }
}
