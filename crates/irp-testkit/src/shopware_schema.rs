//! Shopware's published Admin API OpenAPI 3.1 document: `package/api-types/adminApiSchema.json`
//! of the npm package `@shopware/api-client` [`PACKAGE_VERSION`] (MIT), which describes Shopware
//! [`SHOPWARE_VERSION`]. Loaded once per process; a validator for each schema is compiled the
//! first time it is needed and kept. The fake Shopware ([`crate::fake_shopware`]) checks every
//! request IRP sends against it; what Shopware accepts at run time beyond the document is listed
//! there (`SCHEMA_EXCEPTIONS`), and `docs/shopware-contract.md` says how it fits together.
//!
//! The document is not in the repository: `scripts/shopware-schema` fetches it (`npm pack`) into
//! `target/shopware-api-client-1.6.0/adminApiSchema.json` of the workspace, where this module
//! looks unless [`ENV`] names another file. When it is missing every use fails and says how to
//! get it: the validation is never skipped.
//!
//! What this module knows is the document alone: JSON Schema validation of a value against one of
//! its schemas ([`AdminApi::validate`]), the operation a request addresses
//! ([`AdminApi::operation`]), and a record written to an entity checked as Shopware's DAL checks
//! one ([`AdminApi::check_write`]: unknown and `readOnly` fields refused, `required` only on
//! create, associations checked as records of their own entity).

#![allow(clippy::missing_panics_doc)] // test support: a panic is how a test fails

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Registry, Validator};
use serde_json::{Map, Value, json};

/// The npm package the document comes from.
pub const PACKAGE: &str = "@shopware/api-client";
/// The pinned version of [`PACKAGE`] (`scripts/shopware-schema` fetches this one).
pub const PACKAGE_VERSION: &str = "1.6.0";
/// The Shopware version the document describes (its `info.version`).
pub const SHOPWARE_VERSION: &str = "6.7.10.1";
/// The variable naming the document's file; unset, [`default_path`].
pub const ENV: &str = "IRP_SHOPWARE_SCHEMA";
/// The URI the document is registered under: `$ref`s into it are `BASE#/components/schemas/…`.
/// Never fetched (`.invalid`, and the validators are offline).
const BASE: &str = "https://shopware-admin-api.invalid/adminApiSchema.json";
/// The pattern Shopware's OpenAPI generator gives every id field (`IdField`, `FkField`,
/// version fields).
pub const UUID_PATTERN: &str = "^[0-9a-f]{32}$";

/// Where the document is when [`ENV`] is unset: `target/` of the workspace.
pub fn default_path() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest.parent().and_then(Path::parent).unwrap_or(manifest);
    root.join("target")
        .join(format!("shopware-api-client-{PACKAGE_VERSION}"))
        .join("adminApiSchema.json")
}

/// The file the document is read from: [`ENV`], else [`default_path`].
pub fn path() -> PathBuf {
    match std::env::var_os(ENV) {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => default_path(),
    }
}

/// One complaint about a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON pointer into the value checked ("" for the value itself); a caller prefixes where
    /// that value sits in the request. A missing required property is named: `/price/0/linked`.
    pub pointer: String,
    /// What the schema says (`"abc" does not match "^[0-9a-f]{32}$"`).
    pub message: String,
    /// The JSON Schema keyword (`required`, `type`, `pattern`, …), or `readOnly` and
    /// `properties` (a field the entity does not have) from [`AdminApi::check_write`].
    pub keyword: String,
    /// Where in the document (`#/components/schemas/Price/required`).
    pub schema: String,
}

/// The operation a request addresses in the document's `paths`.
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    /// The path template (`/_action/order/{orderId}/state/{transition}`).
    pub template: &'a str,
    /// The lower-case method.
    pub method: String,
    /// The path parameters, by name.
    pub params: Vec<(String, String)>,
    /// JSON pointer of the operation object in the document (`#/paths/~1_action~1sync/post`).
    pub pointer: String,
    op: &'a Value,
    item: &'a Value,
}

/// How [`AdminApi::check_write`] treats the entity's `required` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Write<'a> {
    /// The record is created: every `required` field but those named must be given.
    Create {
        /// Required fields the caller knows Shopware fills itself.
        filled: &'a [&'a str],
    },
    /// The record exists (or the caller cannot tell): a partial update, `required` not checked.
    Update,
}

/// The loaded document and the validators compiled so far.
pub struct AdminApi {
    doc: Arc<Value>,
    registry: Registry<'static>,
    validators: Mutex<HashMap<String, Arc<Validator>>>,
}

impl std::fmt::Debug for AdminApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminApi")
            .field("version", &self.version())
            .finish_non_exhaustive()
    }
}

static API: OnceLock<Result<AdminApi, String>> = OnceLock::new();

impl AdminApi {
    /// The document, loaded on first use.
    ///
    /// # Errors
    /// It is missing or unreadable: the message says which file and how to get it.
    pub fn try_get() -> Result<&'static AdminApi, &'static str> {
        API.get_or_init(load).as_ref().map_err(String::as_str)
    }

    /// The document, loaded on first use; panics (saying how to get it) when it is missing.
    pub fn get() -> &'static AdminApi {
        match Self::try_get() {
            Ok(api) => api,
            Err(why) => panic!("{why}"),
        }
    }

    /// The document itself.
    pub fn document(&self) -> &Value {
        &self.doc
    }

    /// Its `info.version` (the Shopware version).
    pub fn version(&self) -> &str {
        self.doc
            .pointer("/info/version")
            .and_then(Value::as_str)
            .unwrap_or("?")
    }

    /// The component schema `name` (`Product`).
    pub fn component(&self, name: &str) -> Option<&Value> {
        self.doc.get("components")?.get("schemas")?.get(name)
    }

    /// The value at a local reference (`#/components/schemas/Price`).
    pub fn at(&self, reference: &str) -> Option<&Value> {
        self.doc.pointer(reference.strip_prefix('#')?)
    }

    /// The component schema of a DAL entity (`product_visibility` → `ProductVisibility`), when
    /// the document has one.
    pub fn entity_schema(&self, entity: &str) -> Option<(String, &Value)> {
        let name: String = entity
            .split('_')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let mut c = p.chars();
                c.next()
                    .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                    .unwrap_or_default()
            })
            .collect();
        let schema = self.component(&name)?;
        is_entity(schema).then_some((name, schema))
    }

    /// Validate `value` against the schema at `reference` (`#/components/schemas/Criteria`, any
    /// JSON pointer into the document); every complaint, in document order.
    pub fn validate(&self, reference: &str, value: &Value) -> Vec<Violation> {
        let validator = match self.validator(reference) {
            Ok(v) => v,
            Err(why) => {
                return vec![Violation {
                    pointer: String::new(),
                    message: why,
                    keyword: "$ref".into(),
                    schema: reference.to_owned(),
                }];
            }
        };
        validator
            .iter_errors(value)
            .map(|e| {
                let mut pointer = e.instance_path().as_str().to_owned();
                if let ValidationErrorKind::Required { property } = e.kind()
                    && let Some(p) = property.as_str()
                {
                    pointer.push('/');
                    pointer.push_str(&escape(p));
                }
                let schema = e.absolute_keyword_location().map_or_else(
                    || format!("{reference}{}", e.schema_path().as_str()),
                    |u| {
                        let u = u.as_str();
                        u.find('#').map_or(u, |i| &u[i..]).to_owned()
                    },
                );
                Violation {
                    pointer,
                    message: e.to_string(),
                    keyword: e.kind().keyword().to_owned(),
                    schema,
                }
            })
            .collect()
    }

    fn validator(&self, reference: &str) -> Result<Arc<Validator>, String> {
        if let Some(v) = self
            .validators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(reference)
        {
            return Ok(Arc::clone(v));
        }
        // Compiled outside the lock; two threads compiling the same one is only wasted work.
        let compiled = jsonschema::options()
            .with_draft(Draft::Draft202012)
            .with_registry(&self.registry)
            .offline()
            .build(&json!({"$ref": format!("{BASE}{}", uri_fragment(reference))}))
            .map_err(|e| {
                format!("the schema {reference} of Shopware's Admin API does not compile: {e}")
            })?;
        let compiled = Arc::new(compiled);
        self.validators
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(reference.to_owned(), Arc::clone(&compiled));
        Ok(compiled)
    }

    /// The operation `method path` addresses (`path` below `/api`, as the document's `paths`
    /// are), preferring literal segments over parameters (`/search/product` over
    /// `/search/{entity}`).
    pub fn operation(&self, method: &str, path: &str) -> Option<Operation<'_>> {
        let method = method.to_ascii_lowercase();
        let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let mut best: Option<(usize, Operation<'_>)> = None;
        for (template, item) in self.doc.get("paths")?.as_object()? {
            let Some(op) = item.get(&method) else {
                continue;
            };
            let parts: Vec<&str> = template.trim_end_matches('/').split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let mut params = Vec::new();
            let mut literal = 0;
            let mut fits = true;
            for (t, s) in parts.iter().zip(&segments) {
                if let Some(name) = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')) {
                    params.push((name.to_owned(), (*s).to_owned()));
                } else if t == s {
                    literal += 1;
                } else {
                    fits = false;
                    break;
                }
            }
            if fits && best.as_ref().is_none_or(|(n, _)| literal > *n) {
                best = Some((
                    literal,
                    Operation {
                        template,
                        method: method.clone(),
                        params,
                        pointer: format!("#/paths/{}/{method}", escape(template)),
                        op,
                        item,
                    },
                ));
            }
        }
        best.map(|(_, op)| op)
    }

    /// The parameters of `op` declared `in` (`path`, `header`, `query`): name and a reference
    /// to its schema.
    pub fn parameters(&self, op: &Operation<'_>, location: &str) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let lists = [
            (
                op.item.get("parameters"),
                format!("#/paths/{}/parameters", escape(op.template)),
            ),
            (
                op.op.get("parameters"),
                format!("{}/parameters", op.pointer),
            ),
        ];
        for (list, base) in lists {
            for (i, p) in list
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let (p, at) = match p.get("$ref").and_then(Value::as_str) {
                    Some(r) => match self.at(r) {
                        Some(target) => (target, r.to_owned()),
                        None => continue,
                    },
                    None => (p, format!("{base}/{i}")),
                };
                if p.get("in").and_then(Value::as_str) != Some(location) {
                    continue;
                }
                if let (Some(name), Some(_)) =
                    (p.get("name").and_then(Value::as_str), p.get("schema"))
                {
                    out.push((name.to_owned(), format!("{at}/schema")));
                }
            }
        }
        out
    }

    /// The JSON request body of `op`: a reference to its schema and whether a body is required.
    pub fn request_body(&self, op: &Operation<'_>) -> Option<(String, bool)> {
        let body = op.op.get("requestBody")?;
        let (body, at) = match body.get("$ref").and_then(Value::as_str) {
            Some(r) => (self.at(r)?, r.to_owned()),
            None => (body, format!("{}/requestBody", op.pointer)),
        };
        body.pointer("/content/application~1json/schema")?;
        let required = body.get("required").and_then(Value::as_bool) == Some(true);
        Some((format!("{at}/content/application~1json/schema"), required))
    }

    /// The component schema a reference names, when it is `#/components/schemas/<Name>` (or a
    /// schema that is only a `$ref` to one).
    pub fn component_of(&self, reference: &str) -> Option<String> {
        let mut reference = reference.to_owned();
        for _ in 0..4 {
            if let Some(name) = reference.strip_prefix("#/components/schemas/")
                && !name.contains('/')
            {
                return Some(name.to_owned());
            }
            reference = self.at(&reference)?.get("$ref")?.as_str()?.to_owned();
        }
        None
    }

    /// Whether field `property` of component schema `schema` is an id (`IdField`, `FkField`):
    /// a uuid string named `id` or `…Id`, not a version (`versionId`, `…VersionId`).
    pub fn is_id_field(&self, schema: &str, property: &str) -> bool {
        let Some(p) = self
            .component(schema)
            .and_then(|s| s.get("properties"))
            .and_then(|p| p.get(property))
        else {
            return false;
        };
        p.get("type").and_then(Value::as_str) == Some("string")
            && p.get("pattern").and_then(Value::as_str) == Some(UUID_PATTERN)
            && (property == "id" || property.ends_with("Id"))
            && !property.ends_with("VersionId")
            && property != "versionId"
    }

    /// Whether field `property` of `schema` is an association, and to which entity schema:
    /// `(Target, to_many)`.
    pub fn association(&self, schema: &str, property: &str) -> Option<(String, bool)> {
        let p = self.component(schema)?.get("properties")?.get(property)?;
        let (target, many) = match p.get("items") {
            Some(items) if p.get("type").and_then(Value::as_str) == Some("array") => {
                (items.get("$ref")?.as_str()?, true)
            }
            _ => (p.get("$ref")?.as_str()?, false),
        };
        let name = target.strip_prefix("#/components/schemas/")?;
        is_entity(self.component(name)?).then(|| (name.to_owned(), many))
    }

    /// Check a record written to the entity of component schema `schema` as Shopware's DAL
    /// does: every field must be one of the schema's `properties` and not `readOnly`; a field
    /// holding an association is checked as a record of that entity (as an update: the fake
    /// keeps no nested records, so it cannot tell a nested create); every other field is
    /// validated against its property schema; on [`Write::Create`] the `required` fields must
    /// be there. Pointers are relative to the record.
    pub fn check_write(&self, schema: &str, record: &Value, mode: Write<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        self.check_record(schema, record, mode, "", &mut out);
        out
    }

    fn check_record(
        &self,
        schema: &str,
        record: &Value,
        mode: Write<'_>,
        at: &str,
        out: &mut Vec<Violation>,
    ) {
        let reference = format!("#/components/schemas/{schema}");
        let Some(def) = self.component(schema) else {
            out.push(Violation {
                pointer: at.to_owned(),
                message: format!("the document has no schema {schema}"),
                keyword: "$ref".into(),
                schema: reference,
            });
            return;
        };
        let Some(fields) = record.as_object() else {
            out.push(Violation {
                pointer: at.to_owned(),
                message: format!("{record} is not of type \"object\""),
                keyword: "type".into(),
                schema: format!("{reference}/type"),
            });
            return;
        };
        let empty = Map::new();
        let properties = def
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (field, value) in fields {
            let here = format!("{at}/{}", escape(field));
            let Some(property) = properties.get(field) else {
                out.push(Violation {
                    pointer: here,
                    message: format!(
                        "{schema} has no field \"{field}\"{}",
                        did_you_mean(field, properties)
                    ),
                    keyword: "properties".into(),
                    schema: format!("{reference}/properties"),
                });
                continue;
            };
            let prop_ref = format!("{reference}/properties/{}", escape(field));
            if property.get("readOnly").and_then(Value::as_bool) == Some(true) {
                out.push(Violation {
                    pointer: here,
                    message: format!("{schema}.{field} is readOnly"),
                    keyword: "readOnly".into(),
                    schema: format!("{prop_ref}/readOnly"),
                });
                continue;
            }
            if let Some((target, many)) = self.association(schema, field) {
                match (many, value) {
                    (true, Value::Array(items)) => {
                        for (i, item) in items.iter().enumerate() {
                            self.check_record(
                                &target,
                                item,
                                Write::Update,
                                &format!("{here}/{i}"),
                                out,
                            );
                        }
                    }
                    (false, Value::Object(_)) => {
                        self.check_record(&target, value, Write::Update, &here, out);
                    }
                    _ => out.push(Violation {
                        pointer: here,
                        message: format!(
                            "{value} is not of type \"{}\"",
                            if many { "array" } else { "object" }
                        ),
                        keyword: "type".into(),
                        schema: format!("{prop_ref}/type"),
                    }),
                }
                continue;
            }
            for mut v in self.validate(&prop_ref, value) {
                v.pointer = format!("{here}{}", v.pointer);
                out.push(v);
            }
        }
        if let Write::Create { filled } = mode {
            for name in def
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if !fields.contains_key(name) && !filled.contains(&name) {
                    out.push(Violation {
                        pointer: format!("{at}/{}", escape(name)),
                        message: format!("\"{name}\" is a required property"),
                        keyword: "required".into(),
                        schema: format!("{reference}/required"),
                    });
                }
            }
        }
    }
}

/// A component schema of a DAL entity: an object whose `id` is a uuid.
fn is_entity(schema: &Value) -> bool {
    schema
        .pointer("/properties/id/pattern")
        .and_then(Value::as_str)
        == Some(UUID_PATTERN)
}

/// A local reference (`#/paths/~1order-delivery~1{id}/patch`) as a URI fragment: what a
/// fragment may not hold percent-encoded (RFC 6901 §6).
fn uri_fragment(reference: &str) -> String {
    let mut out = String::with_capacity(reference.len());
    for b in reference.bytes() {
        if b.is_ascii_alphanumeric() || b"#/~-._!$&'()*+,;=:@?".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `~` and `/` escaped for a JSON pointer segment.
pub fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn did_you_mean(field: &str, properties: &Map<String, Value>) -> String {
    let lower = field.to_ascii_lowercase();
    properties
        .keys()
        .map(|k| (edit_distance(&lower, &k.to_ascii_lowercase()), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 4))
        .min()
        .map(|(_, k)| format!(" (did you mean \"{k}\"?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

fn load() -> Result<AdminApi, String> {
    AdminApi::load_from(&path())
}

impl AdminApi {
    /// Load the document from `file` (what [`AdminApi::get`] does once, from [`path`]).
    ///
    /// # Errors
    /// The file cannot be read, is not JSON, or is not Shopware [`SHOPWARE_VERSION`]'s Admin
    /// API document: the message names the file and how to get the right one.
    pub fn load_from(file: &Path) -> Result<AdminApi, String> {
        load_file(file)
    }
}

fn load_file(file: &Path) -> Result<AdminApi, String> {
    let how = format!(
        "run `scripts/shopware-schema` (it fetches {PACKAGE}@{PACKAGE_VERSION} with npm pack into {}), \
         or point {ENV} at that package's package/api-types/adminApiSchema.json; scripts/test does the first",
        default_path().display()
    );
    let bytes = std::fs::read(file).map_err(|e| {
        format!(
            "the fake Shopware validates every request against Shopware's Admin API OpenAPI document, \
             which cannot be read from {} ({e}): {how}",
            file.display()
        )
    })?;
    let doc: Value = serde_json::from_slice(&bytes)
        .map_err(|e| format!("{} is not JSON ({e}): {how}", file.display()))?;
    let version = doc.pointer("/info/version").and_then(Value::as_str);
    if version != Some(SHOPWARE_VERSION) || doc.pointer("/components/schemas/Product").is_none() {
        return Err(format!(
            "{} is not Shopware {SHOPWARE_VERSION}'s Admin API document (info.version {}): {how}",
            file.display(),
            version.unwrap_or("missing")
        ));
    }
    let doc = Arc::new(doc);
    let registry = Registry::new()
        .draft(Draft::Draft202012)
        .add(BASE, Arc::clone(&doc))
        .and_then(jsonschema::RegistryBuilder::prepare)
        .map_err(|e| {
            format!(
                "registering {} as a schema resource failed: {e}",
                file.display()
            )
        })?;
    Ok(AdminApi {
        doc,
        registry,
        validators: Mutex::new(HashMap::new()),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_into_the_document_validates_with_pointers_naming_the_field() {
        let api = AdminApi::get();
        assert_eq!(api.version(), SHOPWARE_VERSION);
        let ok = json!([{"currencyId": "b7d2554b0ce847cd82f3ac9bd1c0dfca", "gross": 1, "net": 1, "linked": true}]);
        assert!(
            api.validate("#/components/schemas/Product/properties/price", &ok)
                .is_empty()
        );
        let bad = json!([{"currencyId": "B7D2", "gross": "1", "net": 1}]);
        let v = api.validate("#/components/schemas/Product/properties/price", &bad);
        let got: Vec<(&str, &str)> = v
            .iter()
            .map(|v| (v.pointer.as_str(), v.keyword.as_str()))
            .collect();
        assert_eq!(got.len(), 3, "{v:#?}");
        assert!(got.contains(&("/0/linked", "required")), "{v:#?}");
        assert!(got.contains(&("/0/currencyId", "pattern")), "{v:#?}");
        assert!(got.contains(&("/0/gross", "type")), "{v:#?}");
        assert!(
            v.iter()
                .any(|v| v.schema == "#/components/schemas/Price/required"),
            "{v:#?}"
        );
    }

    #[test]
    fn operations_are_found_by_method_and_path() {
        let api = AdminApi::get();
        let op = api
            .operation(
                "POST",
                "/_action/order_delivery/0189c0a5f2e07e1ab3e9bd6a1c8a9f10/state/ship",
            )
            .unwrap();
        assert_eq!(
            op.template,
            "/_action/order_delivery/{orderDeliveryId}/state/{transition}"
        );
        assert_eq!(
            op.params,
            [
                (
                    "orderDeliveryId".to_owned(),
                    "0189c0a5f2e07e1ab3e9bd6a1c8a9f10".to_owned()
                ),
                ("transition".to_owned(), "ship".to_owned())
            ]
        );
        assert_eq!(api.parameters(&op, "path").len(), 2);
        assert!(api.request_body(&op).is_some_and(|(_, required)| !required));
        let op = api.operation("post", "/search/product").unwrap();
        assert_eq!(op.template, "/search/product");
        let (body, required) = api.request_body(&op).unwrap();
        assert!(required);
        assert_eq!(api.component_of(&body).as_deref(), Some("Criteria"));
        assert!(api.operation("post", "/no/such/route").is_none());
        // A template's braces are percent-encoded in the `$ref`.
        let op = api.operation("patch", "/order-delivery/nope").unwrap();
        let (_, id) = &api.parameters(&op, "path")[0];
        assert_eq!(
            id,
            "#/paths/~1order-delivery~1{id}/patch/parameters/0/schema"
        );
        let v = api.validate(id, &json!("nope"));
        assert_eq!(v.len(), 1, "{v:#?}");
        assert_eq!(v[0].keyword, "pattern");
        assert!(
            api.validate(id, &json!("0189c0a5f2e07e1ab3e9bd6a1c8a9f10"))
                .is_empty()
        );
    }

    #[test]
    fn a_write_is_checked_as_the_dal_does() {
        let api = AdminApi::get();
        assert_eq!(
            api.entity_schema("product_visibility").unwrap().0,
            "ProductVisibility"
        );
        assert!(api.entity_schema("no_such_entity").is_none());
        assert!(api.is_id_field("Product", "taxId"));
        assert!(!api.is_id_field("Product", "versionId"));
        assert!(!api.is_id_field("Product", "stock"));
        assert_eq!(
            api.association("Product", "visibilities"),
            Some(("ProductVisibility".into(), true))
        );
        assert_eq!(api.association("Product", "price"), None);

        let row = json!({"stock": 1, "availableStock": 1, "stok": 2,
            "visibilities": [{"salesChannelId": "nope", "visibility": 30}]});
        let v = api.check_write("Product", &row, Write::Create { filled: &["id"] });
        let got: Vec<(&str, &str)> = v
            .iter()
            .map(|v| (v.pointer.as_str(), v.keyword.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("/availableStock", "readOnly"),
                ("/stok", "properties"),
                ("/visibilities/0/salesChannelId", "pattern"),
                ("/taxId", "required"),
                ("/price", "required"),
                ("/productNumber", "required"),
                ("/name", "required"),
            ],
            "{v:#?}"
        );
        assert!(
            v[1].message.contains("did you mean \"stock\""),
            "{}",
            v[1].message
        );
        assert!(
            api.check_write("Product", &json!({"stock": 1}), Write::Update)
                .is_empty()
        );
    }
}
