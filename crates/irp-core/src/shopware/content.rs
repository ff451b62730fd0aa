//! A product's content in a channel's shop: the part of its Shopware page IRP owns, built from
//! the PIM's data (seed 003: "synchronizes enriched product data to both Shopware instances"),
//! and its hash, so that content is pushed when it changed and only then.
//!
//! A channel says which fields IRP owns ([`ContentConfig::fields`]); a field it does not own is
//! neither built nor hashed nor sent, so a shop team that edits it in Shopware keeps its text.
//! Property groups and options, manufacturers and categories are named here; the ids the shop
//! knows them by are looked up (or made) by the sync and handed to [`content_row`].

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

/// A field of a product's content that a channel can leave to IRP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentField {
    /// The product's name.
    Name,
    /// Its description (from a PIM attribute).
    Description,
    /// Its manufacturer (the PIM's brand), looked up or created by name.
    Manufacturer,
    /// Its EAN.
    Ean,
    /// Its properties (PIM attributes mapped to property groups).
    Properties,
    /// Its categories (PIM categories mapped to the shop's category ids).
    Categories,
}

impl ContentField {
    /// Every field, in the order they are documented.
    pub const ALL: [ContentField; 6] = [
        ContentField::Name,
        ContentField::Description,
        ContentField::Manufacturer,
        ContentField::Ean,
        ContentField::Properties,
        ContentField::Categories,
    ];

    /// Its name in a channels document.
    pub fn as_str(self) -> &'static str {
        match self {
            ContentField::Name => "name",
            ContentField::Description => "description",
            ContentField::Manufacturer => "manufacturer",
            ContentField::Ean => "ean",
            ContentField::Properties => "properties",
            ContentField::Categories => "categories",
        }
    }

    /// The field named `s`.
    pub fn parse(s: &str) -> Option<ContentField> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// What a channel takes from IRP of its products' content (a channel's `shopware.content`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ContentConfig {
    /// The fields IRP owns; none: the channel gets prices and stock only.
    pub fields: Vec<ContentField>,
    /// The PIM attribute holding the description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description_attribute: Option<String>,
    /// PIM attribute code → the Shopware property group its values are options of.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, String>,
    /// PIM category code → the Shopware category id products of it go into.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub categories: BTreeMap<String, String>,
}

impl ContentConfig {
    /// Whether IRP owns no field: the channel gets prices and stock only.
    pub fn is_off(&self) -> bool {
        self.fields.is_empty()
    }

    /// A fingerprint of these settings (SHA-256 of their JSON, hex): content checked under
    /// other settings is checked again.
    pub fn fingerprint(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether IRP owns `field`.
    pub fn owns(&self, field: ContentField) -> bool {
        self.fields.contains(&field)
    }
}

/// What the PIM has of a product.
#[derive(Debug, Clone, Copy)]
pub struct PimFacts<'a> {
    /// EAN.
    pub ean: &'a str,
    /// Name.
    pub name: Option<&'a str>,
    /// Brand.
    pub brand: Option<&'a str>,
    /// Category code.
    pub category: Option<&'a str>,
    /// The other attributes, code → value (text, number, or a list of them).
    pub attributes: &'a Map<String, Value>,
}

/// A product's content as IRP owns it in one channel: a field IRP does not own is `None` /
/// empty and never sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Content {
    /// Name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Manufacturer's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<String>,
    /// EAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ean: Option<String>,
    /// (property group, option) pairs, sorted; `None` when IRP does not own properties.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub properties: Option<Vec<(String, String)>>,
    /// The shop's category ids, sorted; `None` when IRP does not own categories.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<Vec<String>>,
    /// The PIM category that no entry of the channel's table maps (reported, not invented).
    #[serde(skip)]
    pub unmapped_category: Option<String>,
}

impl Content {
    /// The content's hash: SHA-256 of its canonical JSON (owned fields only, in a fixed
    /// order), lower-case hex. Equal content, equal hash; a field IRP does not own changes
    /// nothing.
    pub fn hash(&self) -> String {
        let text = serde_json::to_string(self).unwrap_or_default();
        Sha256::digest(text.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The text of an attribute value: a string trimmed, a number as written; `None` for anything
/// else or blank.
fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The content of product `p` that `cfg` leaves to IRP.
pub fn content(p: &PimFacts<'_>, cfg: &ContentConfig) -> Content {
    let mut c = Content::default();
    if cfg.owns(ContentField::Name) {
        c.name = p
            .name
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(str::to_owned);
    }
    if cfg.owns(ContentField::Description) {
        c.description = cfg
            .description_attribute
            .as_ref()
            .and_then(|code| p.attributes.get(code))
            .and_then(text);
    }
    if cfg.owns(ContentField::Manufacturer) {
        c.manufacturer = p
            .brand
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .map(str::to_owned);
    }
    if cfg.owns(ContentField::Ean) {
        c.ean = Some(p.ean.to_owned());
    }
    if cfg.owns(ContentField::Properties) {
        let mut pairs = Vec::new();
        for (code, group) in &cfg.properties {
            match p.attributes.get(code) {
                Some(Value::Array(items)) => {
                    pairs.extend(items.iter().filter_map(text).map(|o| (group.clone(), o)));
                }
                Some(v) => pairs.extend(text(v).map(|o| (group.clone(), o))),
                None => {}
            }
        }
        pairs.sort();
        pairs.dedup();
        c.properties = Some(pairs);
    }
    if cfg.owns(ContentField::Categories) {
        let mut ids = Vec::new();
        if let Some(cat) = p.category.map(str::trim).filter(|c| !c.is_empty()) {
            match cfg.categories.get(cat) {
                Some(id) => ids.push(id.clone()),
                None => c.unmapped_category = Some(cat.to_owned()),
            }
        }
        c.categories = Some(ids);
    }
    c
}

/// One field of a product's content that the next push changes: what the shop has (as IRP
/// last pushed it; `None`: nothing pushed) and what it gets (`None`: IRP has nothing for it).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    /// The field (`name`, `description`, `ean`, …).
    pub field: String,
    /// As last pushed.
    pub before: Option<Value>,
    /// As it would be pushed now.
    pub after: Option<Value>,
}

/// What pushing `now` changes against `pushed` (the content last pushed, as its JSON), field
/// by field in a fixed order; empty when nothing would change.
pub fn changes(pushed: Option<&Value>, now: &Content) -> Vec<FieldChange> {
    let now = serde_json::to_value(now).unwrap_or(Value::Null);
    let field = |v: Option<&Value>, k: &str| v.and_then(|v| v.get(k)).cloned();
    let mut out = Vec::new();
    for f in ContentField::ALL {
        let k = f.as_str();
        let (before, after) = (field(pushed, k), field(Some(&now), k));
        if before != after {
            out.push(FieldChange {
                field: k.to_owned(),
                before,
                after,
            });
        }
    }
    out
}

/// The ids the shop knows a content's named things by, looked up or made by the sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContentIds {
    /// Manufacturer name → id.
    pub manufacturers: BTreeMap<String, String>,
    /// (property group, option) → option id.
    pub options: BTreeMap<(String, String), String>,
}

/// The `_action/sync` upsert row setting `c` on the product with product number `number`
/// (the `product.number` resolver). Properties and categories are assigned by id: Shopware's
/// upsert adds them to the product's assignments and keeps the others, so assignments IRP
/// made that are gone from the content are deleted apart (`product_property`,
/// `product_category`). A named manufacturer or option whose id `ids` lacks is left out.
pub fn content_row(number: &str, c: &Content, ids: &ContentIds) -> Value {
    let mut row = Map::new();
    row.insert(
        "id".into(),
        json!({"resolver": "product.number", "value": number}),
    );
    if let Some(name) = &c.name {
        row.insert("name".into(), json!(name));
    }
    if let Some(d) = &c.description {
        row.insert("description".into(), json!(d));
    }
    if let Some(id) = c
        .manufacturer
        .as_ref()
        .and_then(|m| ids.manufacturers.get(m))
    {
        row.insert("manufacturerId".into(), json!(id));
    }
    if let Some(ean) = &c.ean {
        row.insert("ean".into(), json!(ean));
    }
    if let Some(pairs) = &c.properties {
        let options: Vec<Value> = pairs
            .iter()
            .filter_map(|pair| ids.options.get(pair))
            .map(|id| json!({"id": id}))
            .collect();
        row.insert("properties".into(), Value::Array(options));
    }
    if let Some(cats) = &c.categories {
        row.insert(
            "categories".into(),
            Value::Array(cats.iter().map(|id| json!({"id": id})).collect()),
        );
    }
    Value::Object(row)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn attributes() -> Map<String, Value> {
        json!({"description": "  Like new, 128 GB.  ", "color": "Blue", "storage": 128,
            "features": ["5G", "NFC", "5G"], "grade": null})
        .as_object()
        .unwrap()
        .clone()
    }

    fn config(fields: &[ContentField]) -> ContentConfig {
        ContentConfig {
            fields: fields.to_vec(),
            description_attribute: Some("description".into()),
            properties: [
                ("color".to_owned(), "Colour".to_owned()),
                ("storage".to_owned(), "Storage".to_owned()),
                ("features".to_owned(), "Features".to_owned()),
                ("grade".to_owned(), "Grade".to_owned()),
            ]
            .into(),
            categories: [(
                "smartphones".to_owned(),
                "0190a9c5e6f67a5e9b0bb1d5e1f2e3d4".to_owned(),
            )]
            .into(),
        }
    }

    fn facts<'a>(attrs: &'a Map<String, Value>, category: &'a str) -> PimFacts<'a> {
        PimFacts {
            ean: "8712345678906",
            name: Some(" Apple iPhone 13 "),
            brand: Some("Apple"),
            category: Some(category),
            attributes: attrs,
        }
    }

    #[test]
    fn owned_fields_are_built_from_the_pim_and_the_rest_left_alone() {
        let attrs = attributes();
        let all = content(&facts(&attrs, "smartphones"), &config(&ContentField::ALL));
        assert_eq!(all.name.as_deref(), Some("Apple iPhone 13"));
        assert_eq!(all.description.as_deref(), Some("Like new, 128 GB."));
        assert_eq!(all.manufacturer.as_deref(), Some("Apple"));
        assert_eq!(all.ean.as_deref(), Some("8712345678906"));
        assert_eq!(
            all.properties.as_deref().unwrap(),
            [
                ("Colour".to_owned(), "Blue".to_owned()),
                ("Features".to_owned(), "5G".to_owned()),
                ("Features".to_owned(), "NFC".to_owned()),
                ("Storage".to_owned(), "128".to_owned()),
            ]
        );
        assert_eq!(
            all.categories.as_deref().unwrap(),
            ["0190a9c5e6f67a5e9b0bb1d5e1f2e3d4"]
        );
        // The shop team keeps descriptions and categories: neither is built.
        let some = content(
            &facts(&attrs, "smartphones"),
            &config(&[ContentField::Name, ContentField::Ean]),
        );
        assert_eq!(
            some,
            Content {
                name: Some("Apple iPhone 13".into()),
                ean: Some("8712345678906".into()),
                ..Content::default()
            }
        );
        let row = content_row("IRP-8712345678906", &some, &ContentIds::default());
        assert_eq!(
            row,
            json!({"id": {"resolver": "product.number", "value": "IRP-8712345678906"},
                "name": "Apple iPhone 13", "ean": "8712345678906"})
        );
    }

    #[test]
    fn the_changes_name_each_field_with_what_the_shop_has_and_gets() {
        let attrs = attributes();
        let cfg = config(&[ContentField::Name, ContentField::Description]);
        let now = content(&facts(&attrs, "smartphones"), &cfg);
        assert_eq!(
            changes(Some(&serde_json::to_value(&now).unwrap()), &now),
            []
        );
        let pushed = json!({"name": "Apple iPhone 13 (old)", "description": "Like new, 128 GB."});
        assert_eq!(
            changes(Some(&pushed), &now),
            [FieldChange {
                field: "name".into(),
                before: Some(json!("Apple iPhone 13 (old)")),
                after: Some(json!("Apple iPhone 13")),
            }]
        );
        // Never pushed: every owned field is new.
        assert_eq!(
            changes(None, &now)
                .iter()
                .map(|c| c.field.as_str())
                .collect::<Vec<_>>(),
            ["name", "description"]
        );
    }

    #[test]
    fn an_unmapped_category_is_reported_not_invented() {
        let attrs = attributes();
        let c = content(&facts(&attrs, "tablets"), &config(&ContentField::ALL));
        assert_eq!(c.categories, Some(vec![]));
        assert_eq!(c.unmapped_category.as_deref(), Some("tablets"));
    }

    #[test]
    fn the_hash_changes_with_owned_content_only() {
        let attrs = attributes();
        let cfg = config(&[ContentField::Name, ContentField::Properties]);
        let before = content(&facts(&attrs, "smartphones"), &cfg).hash();
        assert_eq!(before.len(), 64);
        // A description change: not owned, same hash.
        let mut changed = attributes();
        changed.insert("description".into(), json!("Other text"));
        assert_eq!(
            content(&facts(&changed, "smartphones"), &cfg).hash(),
            before
        );
        // A colour change: owned, another hash.
        changed.insert("color".into(), json!("Red"));
        assert_ne!(
            content(&facts(&changed, "smartphones"), &cfg).hash(),
            before
        );
    }

    #[test]
    fn the_row_names_the_looked_up_ids_and_replaces_assignments() {
        let attrs = attributes();
        let c = content(&facts(&attrs, "smartphones"), &config(&ContentField::ALL));
        let mut ids = ContentIds::default();
        ids.manufacturers.insert("Apple".into(), "a".repeat(32));
        ids.options
            .insert(("Colour".into(), "Blue".into()), "b".repeat(32));
        let row = content_row("8712345678906", &c, &ids);
        assert_eq!(row["manufacturerId"], json!("a".repeat(32)));
        // Options without an id yet are left out, not sent as names.
        assert_eq!(row["properties"], json!([{"id": "b".repeat(32)}]));
        assert_eq!(
            row["categories"],
            json!([{"id": "0190a9c5e6f67a5e9b0bb1d5e1f2e3d4"}])
        );
        assert_eq!(row["description"], json!("Like new, 128 GB."));
    }
}
