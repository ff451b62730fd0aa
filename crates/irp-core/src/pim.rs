//! Product data from the PIM (seed 003: "Ergonode (PIM) → Refurbisher Portal"): the GraphQL
//! queries IRP sends to Ergonode, the reading of its answers, and the mapping of an Ergonode
//! product onto IRP's product fields (EAN, name, brand, model, category, attributes).
//!
//! Ergonode serves products as *streams* (Relay connections): `productStream(first, after)`
//! lists every product, and a product that is created or edited moves to the end, so the last
//! `endCursor` read is where the next sync continues. `productDeletedStream` lists the SKUs of
//! deleted products the same way. All of this is pure; the HTTP client is in `irp-clients`.

use serde_json::{Map, Value};

use crate::config::model::PimConfig;
use crate::values::gtin::parse_gtin;

/// Attribute values read per product in one request (Ergonode's products have tens).
const ATTRIBUTES_PER_PRODUCT: u32 = 1000;
/// Category codes read per product.
const CATEGORIES_PER_PRODUCT: u32 = 50;

/// Which stream a request reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// `productStream`: products, oldest change first.
    Products,
    /// `productDeletedStream`: SKUs of deleted products.
    Deleted,
}

impl Stream {
    /// The query field.
    pub fn field(self) -> &'static str {
        match self {
            Stream::Products => "productStream",
            Stream::Deleted => "productDeletedStream",
        }
    }
}

/// The GraphQL document for one page of `stream`; variables `first` (Int!) and `after`
/// (String, null for the start).
fn stream_query(stream: Stream) -> String {
    match stream {
        Stream::Products => format!(
            "query IrpProductStream($first: Int!, $after: String) {{ productStream(first: $first, after: $after) {{ \
             totalCount pageInfo {{ endCursor hasNextPage }} \
             edges {{ cursor node {{ __typename sku createdAt editedAt \
             categoryList(first: {CATEGORIES_PER_PRODUCT}) {{ edges {{ node {{ code }} }} }} \
             attributeList(first: {ATTRIBUTES_PER_PRODUCT}) {{ pageInfo {{ hasNextPage }} edges {{ node {{ \
             attribute {{ code scope }} \
             translations {{ __typename language \
             ... on TextAttributeValueTranslation {{ value_string: value }} \
             ... on TextareaAttributeValueTranslation {{ value_string: value }} \
             ... on DateAttributeValueTranslation {{ value_string: value }} \
             ... on NumericAttributeValueTranslation {{ value_numeric: value }} \
             ... on PriceAttributeValueTranslation {{ value_numeric: value }} \
             ... on UnitAttributeValueTranslation {{ value_numeric: value }} \
             ... on SelectAttributeValueTranslation {{ value_option: translatedValue {{ code name }} }} \
             ... on MultiSelectAttributeValueTranslation {{ value_options: translatedValue {{ code name }} }} \
             }} }} }} }} }} }} }} }}"
        ),
        Stream::Deleted => "query IrpProductDeletedStream($first: Int!, $after: String) { productDeletedStream(first: $first, after: $after) { \
             totalCount pageInfo { endCursor hasNextPage } edges { cursor node } } }"
            .to_owned(),
    }
}

/// The JSON body of a request for one page.
pub fn stream_request(stream: Stream, first: i64, after: Option<&str>) -> Value {
    serde_json::json!({
        "query": stream_query(stream),
        "variables": { "first": first, "after": after },
    })
}

/// One page of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// How many the whole stream holds, when the server says.
    pub total_count: Option<i64>,
    /// Where the next page starts (`after`); none on an empty page.
    pub end_cursor: Option<String>,
    /// Whether more follow.
    pub has_next_page: bool,
    /// The nodes with their cursors, in stream order.
    pub edges: Vec<(String, Value)>,
}

/// Read one page of `stream` from a GraphQL answer. GraphQL errors (`{"errors": [{"message":
/// …}]}`, which come with HTTP 200) are an error with every message; so is an answer of
/// another shape, naming the JSON path that is wrong.
///
/// # Errors
/// A message for the operator.
pub fn parse_page(stream: Stream, body: &Value) -> Result<Page, String> {
    let field = stream.field();
    if let Some(errors) = body.get("errors").and_then(Value::as_array)
        && !errors.is_empty()
    {
        let messages: Vec<String> = errors
            .iter()
            .map(|e| {
                let msg = e
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("(no message)");
                match e.get("path") {
                    Some(p) => format!("{msg} (at {p})"),
                    None => msg.to_owned(),
                }
            })
            .collect();
        return Err(format!(
            "Ergonode answered with GraphQL errors: {}",
            messages.join("; ")
        ));
    }
    let conn = body
        .get("data")
        .and_then(|d| d.get(field))
        .filter(|c| c.is_object())
        .ok_or_else(|| format!("expected data.{field} to be an object in Ergonode's answer"))?;
    let page_info = conn
        .get("pageInfo")
        .filter(|p| p.is_object())
        .ok_or_else(|| format!("expected data.{field}.pageInfo to be an object"))?;
    let has_next_page = page_info
        .get("hasNextPage")
        .and_then(Value::as_bool)
        .ok_or_else(|| format!("expected data.{field}.pageInfo.hasNextPage to be true or false"))?;
    let end_cursor = match page_info.get("endCursor") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(format!(
                "expected data.{field}.pageInfo.endCursor to be a string, got {other}"
            ));
        }
    };
    let edges = conn
        .get("edges")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("expected data.{field}.edges to be a list"))?;
    let mut out = Vec::with_capacity(edges.len());
    for (i, e) in edges.iter().enumerate() {
        let cursor = e
            .get("cursor")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("expected data.{field}.edges[{i}].cursor to be a string"))?;
        let node = e
            .get("node")
            .filter(|n| !n.is_null())
            .ok_or_else(|| format!("expected data.{field}.edges[{i}].node"))?;
        out.push((cursor.to_owned(), node.clone()));
    }
    if has_next_page && end_cursor.is_none() {
        return Err(format!(
            "data.{field}.pageInfo says more pages follow but gives no endCursor"
        ));
    }
    Ok(Page {
        total_count: conn.get("totalCount").and_then(Value::as_i64),
        end_cursor,
        has_next_page,
        edges: out,
    })
}

/// A product's data as IRP keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PimProduct {
    /// Ergonode's SKU.
    pub sku: String,
    /// The EAN it is keyed by.
    pub ean: String,
    /// Name.
    pub name: Option<String>,
    /// Brand.
    pub brand: Option<String>,
    /// Model.
    pub model: Option<String>,
    /// Category.
    pub category: Option<String>,
    /// The other attributes copied (`attributes` of the PIM document), code → value.
    pub attributes: Map<String, Value>,
    /// When Ergonode last edited it.
    pub edited_at: Option<String>,
}

/// Why a product of the stream gives no product in IRP (reported, never dropped silently).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// The SKU, when the node has one.
    pub sku: Option<String>,
    /// Why.
    pub reason: String,
}

/// A deleted product's SKU from a `productDeletedStream` node.
///
/// # Errors
/// The node is not a non-empty string.
pub fn deleted_sku(node: &Value) -> Result<String, String> {
    match node {
        Value::String(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        other => Err(format!(
            "expected a deleted product's SKU (a string), got {other}"
        )),
    }
}

/// Map one `productStream` node onto IRP's product fields.
///
/// The EAN comes from the `fields.ean` attribute, else from the SKU when that is a valid GTIN;
/// a product with neither, or with an EAN whose check digit is wrong, is [`Skipped`] with the
/// reason. Translated values are read in the first of `languages` that has one, else in the
/// first translation present. Select values give their option's name (else its code);
/// multi-selects a list of names; numbers stay numbers.
///
/// # Errors
/// Why the node gives no product.
pub fn map_product(node: &Value, cfg: &PimConfig) -> Result<PimProduct, Skipped> {
    let sku = match node.get("sku") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
        other => {
            return Err(Skipped {
                sku: None,
                reason: format!(
                    "the product has no sku (got {})",
                    other.map_or("nothing".to_owned(), Value::to_string)
                ),
            });
        }
    };
    let skip = |reason: String| Skipped {
        sku: Some(sku.clone()),
        reason,
    };
    let values = attribute_values(node, &cfg.languages).map_err(skip)?;
    let text = |code: Option<&String>| -> Option<String> {
        code.and_then(|c| values.get(c.as_str())).and_then(as_text)
    };
    let ean = match values.get(cfg.fields.ean.as_str()) {
        Some(v) => {
            let raw = as_text(v).unwrap_or_default();
            parse_gtin(&raw).map_err(|e| {
                skip(format!(
                    "attribute `{}` holds {} which is not an EAN: {e}",
                    cfg.fields.ean,
                    Value::String(raw.clone())
                ))
            })?
        }
        None => parse_gtin(&sku).map_err(|_| {
            skip(format!(
                "no EAN: the product has no `{}` attribute value and its SKU is not a GTIN",
                cfg.fields.ean
            ))
        })?,
    };
    let category = match &cfg.fields.category {
        Some(code) => text(Some(code)),
        None => node
            .pointer("/categoryList/edges")
            .and_then(Value::as_array)
            .and_then(|edges| edges.first())
            .and_then(|e| e.pointer("/node/code"))
            .and_then(Value::as_str)
            .map(str::to_owned),
    };
    let named: Vec<&str> = [
        Some(cfg.fields.ean.as_str()),
        Some(cfg.fields.name.as_str()),
        cfg.fields.brand.as_deref(),
        cfg.fields.model.as_deref(),
        cfg.fields.category.as_deref(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let attributes = values
        .iter()
        .filter(|(code, _)| !named.contains(&code.as_str()) && cfg.attributes.includes(code))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(PimProduct {
        name: text(Some(&cfg.fields.name)),
        brand: text(cfg.fields.brand.as_ref()),
        model: text(cfg.fields.model.as_ref()),
        category,
        attributes,
        edited_at: node
            .get("editedAt")
            .and_then(Value::as_str)
            .map(str::to_owned),
        sku,
        ean,
    })
}

/// Every attribute of a product node with its value in the preferred language, by code, in
/// code order.
fn attribute_values(node: &Value, languages: &[String]) -> Result<Map<String, Value>, String> {
    let mut out = Map::new();
    if node.pointer("/attributeList/pageInfo/hasNextPage") == Some(&Value::Bool(true)) {
        return Err(format!(
            "the product has more than {ATTRIBUTES_PER_PRODUCT} attribute values; IRP reads {ATTRIBUTES_PER_PRODUCT} per product"
        ));
    }
    let edges = match node.pointer("/attributeList/edges") {
        None | Some(Value::Null) => return Ok(out),
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(format!(
                "expected attributeList.edges to be a list, got {other}"
            ));
        }
    };
    for (i, e) in edges.iter().enumerate() {
        let Some(code) = e.pointer("/node/attribute/code").and_then(Value::as_str) else {
            return Err(format!(
                "expected attributeList.edges[{i}].node.attribute.code to be a string"
            ));
        };
        let translations = e
            .pointer("/node/translations")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let chosen = languages
            .iter()
            .find_map(|l| {
                translations.iter().find(|t| {
                    t.get("language").and_then(Value::as_str) == Some(l.as_str())
                        && translation_value(t).is_some()
                })
            })
            .or_else(|| translations.iter().find(|t| translation_value(t).is_some()));
        if let Some(v) = chosen.and_then(translation_value) {
            out.insert(code.to_owned(), v);
        }
    }
    out.sort_keys();
    Ok(out)
}

/// The value of one translation, by the aliases [`stream_query`] asks for; `None` for an empty
/// value or a type IRP does not read (images, files, relations).
fn translation_value(t: &Value) -> Option<Value> {
    fn option_name(o: &Value) -> Option<Value> {
        o.get("name")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .or_else(|| o.get("code").and_then(Value::as_str))
            .map(|s| Value::String(s.trim().to_owned()))
    }
    if let Some(Value::String(s)) = t.get("value_string") {
        return (!s.trim().is_empty()).then(|| Value::String(s.trim().to_owned()));
    }
    if let Some(Value::Number(n)) = t.get("value_numeric") {
        return Some(Value::Number(whole(n)));
    }
    if let Some(o @ Value::Object(_)) = t.get("value_option") {
        return option_name(o);
    }
    if let Some(Value::Array(items)) = t.get("value_options") {
        let names: Vec<Value> = items.iter().filter_map(option_name).collect();
        return (!names.is_empty()).then_some(Value::Array(names));
    }
    None
}

/// GraphQL `Float`s arrive as `128.0`; a whole number is kept as `128`.
fn whole(n: &serde_json::Number) -> serde_json::Number {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 =>
        {
            #[allow(clippy::cast_possible_truncation)]
            serde_json::Number::from(f as i64)
        }
        _ => n.clone(),
    }
}

/// A value as text for a product field: strings as they are, numbers printed, lists joined
/// with ", ".
fn as_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(as_text).collect();
            (!parts.is_empty()).then(|| parts.join(", "))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_pim;
    use serde_json::json;

    fn cfg(extra: &str) -> PimConfig {
        let doc = parse_pim(&format!(
            r#"{{"pim": {{"url": "https://acme.ergonode.app/api/graphql/", "api_key": "${{secret:pim.api_key}}", "languages": ["nl_NL", "en_GB"]{extra}}}}}"#
        ));
        assert_eq!(doc.diagnostics.iter().count(), 0, "{:?}", doc.diagnostics);
        doc.pim.unwrap()
    }

    fn text(lang: &str, v: &str) -> Value {
        json!({"language": lang, "__typename": "TextAttributeValueTranslation", "value_string": v})
    }

    fn attr(code: &str, translations: Vec<Value>) -> Value {
        json!({"node": {"attribute": {"code": code, "scope": "LOCAL"}, "translations": translations}})
    }

    fn node() -> Value {
        json!({
            "__typename": "SimpleProduct", "sku": "IPH13-128-BLK", "createdAt": "2022-06-01T11:10:47+00:00",
            "editedAt": "2022-06-20T12:13:44+00:00",
            "categoryList": {"edges": [{"node": {"code": "smartphones"}}, {"node": {"code": "apple"}}]},
            "attributeList": {"pageInfo": {"hasNextPage": false}, "edges": [
                attr("name", vec![text("en_GB", "iPhone 13 128GB Black"), text("nl_NL", "iPhone 13 128GB Zwart")]),
                attr("ean", vec![json!({"language": "en_GB", "__typename": "TextAttributeValueTranslation", "value_string": "0194252707227"})]),
                attr("brand", vec![json!({"language": "en_GB", "__typename": "SelectAttributeValueTranslation", "value_option": {"code": "apple", "name": "Apple"}})]),
                attr("model", vec![text("en_GB", "iPhone 13")]),
                attr("storage_gb", vec![json!({"language": "en_GB", "__typename": "NumericAttributeValueTranslation", "value_numeric": 128.0})]),
                attr("colors", vec![json!({"language": "nl_NL", "__typename": "MultiSelectAttributeValueTranslation", "value_options": [{"code": "black", "name": "Zwart"}, {"code": "grey", "name": ""}]})]),
                attr("photo", vec![json!({"language": "en_GB", "__typename": "ImageAttributeValueTranslation"})]),
            ]}
        })
    }

    #[test]
    fn a_product_maps_in_the_preferred_language_with_its_first_category() {
        let p = map_product(&node(), &cfg("")).unwrap();
        assert_eq!(p.sku, "IPH13-128-BLK");
        assert_eq!(p.ean, "0194252707227");
        assert_eq!(
            p.name.as_deref(),
            Some("iPhone 13 128GB Zwart"),
            "nl_NL first"
        );
        assert_eq!(
            p.brand.as_deref(),
            Some("Apple"),
            "select: the option's name"
        );
        assert_eq!(
            p.model.as_deref(),
            Some("iPhone 13"),
            "en_GB when nl_NL has none"
        );
        assert_eq!(p.category.as_deref(), Some("smartphones"));
        assert_eq!(
            Value::Object(p.attributes),
            json!({"colors": ["Zwart", "grey"], "storage_gb": 128}),
            "named fields left out, images not read, option code when the name is empty"
        );
        assert_eq!(p.edited_at.as_deref(), Some("2022-06-20T12:13:44+00:00"));
    }

    #[test]
    fn fields_and_attributes_follow_the_document() {
        let c = cfg(
            r#", "fields": {"brand": null, "category": "model"}, "attributes": ["storage_gb"]"#,
        );
        let p = map_product(&node(), &c).unwrap();
        assert_eq!(p.brand, None);
        assert_eq!(p.category.as_deref(), Some("iPhone 13"));
        assert_eq!(Value::Object(p.attributes), json!({"storage_gb": 128}));
    }

    #[test]
    fn the_ean_comes_from_the_sku_when_there_is_no_ean_attribute_and_bad_eans_are_reported() {
        let mut n = node();
        n["attributeList"]["edges"]
            .as_array_mut()
            .unwrap()
            .remove(1);
        assert!(
            map_product(&n, &cfg(""))
                .unwrap_err()
                .reason
                .starts_with("no EAN")
        );
        n["sku"] = json!("8712345678906");
        assert_eq!(map_product(&n, &cfg("")).unwrap().ean, "8712345678906");
        let mut bad = node();
        bad["attributeList"]["edges"][1]["node"]["translations"][0]["value_string"] =
            json!("0194252707228");
        let e = map_product(&bad, &cfg("")).unwrap_err();
        assert_eq!(e.sku.as_deref(), Some("IPH13-128-BLK"));
        assert!(
            e.reason
                .contains("\"0194252707228\" which is not an EAN: check digit"),
            "{}",
            e.reason
        );
        let e = map_product(&json!({"__typename": "SimpleProduct"}), &cfg("")).unwrap_err();
        assert_eq!(e.sku, None);
    }

    #[test]
    fn a_product_with_more_attributes_than_read_is_reported_not_cut_short() {
        let mut n = node();
        n["attributeList"]["pageInfo"]["hasNextPage"] = json!(true);
        let e = map_product(&n, &cfg("")).unwrap_err();
        assert_eq!(e.sku.as_deref(), Some("IPH13-128-BLK"));
        assert!(
            e.reason.contains("more than 1000 attribute values"),
            "{}",
            e.reason
        );
    }

    #[test]
    fn pages_are_read_and_graphql_errors_are_errors() {
        let body = json!({"data": {"productDeletedStream": {"totalCount": 666,
            "pageInfo": {"endCursor": "YXJyYXljb25uZWN0aW9uOjEzMQ==", "hasNextPage": false},
            "edges": [{"cursor": "YXJyYXljb25uZWN0aW9uOjEzMQ==", "node": "skirt_001"}]}}});
        let page = parse_page(Stream::Deleted, &body).unwrap();
        assert_eq!(page.total_count, Some(666));
        assert_eq!(
            page.end_cursor.as_deref(),
            Some("YXJyYXljb25uZWN0aW9uOjEzMQ==")
        );
        assert_eq!(deleted_sku(&page.edges[0].1).unwrap(), "skirt_001");
        let e = parse_page(
            Stream::Products,
            &json!({"errors": [{"message": "Invalid cursor", "path": ["productStream"]}]}),
        )
        .unwrap_err();
        assert!(e.contains("Invalid cursor"), "{e}");
        let e = parse_page(Stream::Products, &body).unwrap_err();
        assert_eq!(
            e,
            "expected data.productStream to be an object in Ergonode's answer"
        );
        let e = parse_page(
            Stream::Deleted,
            &json!({"data": {"productDeletedStream": {"pageInfo": {"hasNextPage": true, "endCursor": null}, "edges": []}}}),
        )
        .unwrap_err();
        assert!(e.contains("no endCursor"), "{e}");
    }

    #[test]
    fn requests_carry_the_page_size_and_cursor_as_variables() {
        let r = stream_request(Stream::Products, 100, None);
        assert_eq!(r["variables"], json!({"first": 100, "after": null}));
        assert!(
            r["query"]
                .as_str()
                .unwrap()
                .contains("productStream(first: $first, after: $after)")
        );
    }
}
