//! Test support: a fake Ergonode PIM on a loopback port. It is a real GraphQL server
//! (async-graphql) with the subset of Ergonode's schema IRP reads (contracts/EXTERNAL-APIS.md
//! §2.A: `productStream`, `productDeletedStream`, the `Product`, `AttributeValue`, `Attribute` and
//! `AttributeValueTranslation` interfaces and their types), so a query Ergonode would reject —
//! an unknown field, a fragment on a type that cannot be there, a wrongly typed or missing
//! variable — is rejected here too, with GraphQL errors and HTTP 200. (One rule async-graphql
//! does not check: two differently typed `value` fields in one selection without aliases, which
//! Ergonode refuses. IRP's query aliases every `value`; `irp_core::pim` pins that.)
//!
//! Also as Ergonode: the API key travels in `X-API-KEY` (else HTTP 401); `first` is at most 200;
//! cursors are opaque base64 (`arrayconnection:<n>`); a created or edited product moves to the
//! end of the stream; a deleted product leaves it and its SKU is appended to the deleted stream.
//! Tests can make the next answers fail with a status ([`FakeErgonode::fail_next`]).

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test support: a panic is how a test fails
#![allow(clippy::duplicated_attributes, clippy::enum_variant_names)] // async-graphql: `field(name = …, ty = …)` lists repeat keys, and an interface's variants are named after Ergonode's types

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, Interface, Object, Schema, SimpleObject,
};
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

/// Ergonode's limit for `first` on the streams.
pub const MAX_FIRST: i32 = 200;

/// One attribute value of a fake product.
#[derive(Debug, Clone, PartialEq)]
pub enum FakeValue {
    /// A text attribute: `(language, value)` per translation; `global`: scope GLOBAL.
    Text {
        /// Attribute code.
        code: String,
        /// Translations.
        translations: Vec<(String, String)>,
        /// Scope GLOBAL (else LOCAL).
        global: bool,
    },
    /// A numeric attribute (GLOBAL).
    Number {
        /// Attribute code.
        code: String,
        /// The value.
        value: f64,
    },
    /// A select: option code and its name per language.
    Select {
        /// Attribute code.
        code: String,
        /// Option code.
        option: String,
        /// `(language, name)`.
        names: Vec<(String, String)>,
    },
    /// A multi-select: option codes (named by their code).
    MultiSelect {
        /// Attribute code.
        code: String,
        /// Option codes.
        options: Vec<String>,
    },
    /// An image (IRP does not read these).
    Image {
        /// Attribute code.
        code: String,
    },
}

impl FakeValue {
    /// A GLOBAL text value (same in every language; Ergonode lists it under `en_GB` here).
    pub fn text(code: &str, value: &str) -> Self {
        FakeValue::Text {
            code: code.into(),
            translations: vec![("en_GB".into(), value.into())],
            global: true,
        }
    }

    /// A LOCAL text value per language.
    pub fn local(code: &str, translations: &[(&str, &str)]) -> Self {
        FakeValue::Text {
            code: code.into(),
            translations: translations
                .iter()
                .map(|(l, v)| ((*l).into(), (*v).into()))
                .collect(),
            global: false,
        }
    }

    fn code(&self) -> &str {
        match self {
            FakeValue::Text { code, .. }
            | FakeValue::Number { code, .. }
            | FakeValue::Select { code, .. }
            | FakeValue::MultiSelect { code, .. }
            | FakeValue::Image { code } => code,
        }
    }
}

/// A product in the fake PIM.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeProduct {
    /// SKU.
    pub sku: String,
    /// `VariableProduct` (a parent of variants) instead of `SimpleProduct`.
    pub variable: bool,
    /// Category codes.
    pub categories: Vec<String>,
    /// Attribute values.
    pub values: Vec<FakeValue>,
    created_at: String,
    edited_at: Option<String>,
}

impl FakeProduct {
    /// A simple product.
    pub fn simple(sku: &str, categories: &[&str], values: Vec<FakeValue>) -> Self {
        FakeProduct {
            sku: sku.into(),
            variable: false,
            categories: categories.iter().map(|c| (*c).into()).collect(),
            values,
            created_at: String::new(),
            edited_at: None,
        }
    }
}

#[derive(Default)]
struct Data {
    seq: u64,
    /// Products by position in the stream.
    stream: BTreeMap<u64, FakeProduct>,
    /// Deleted SKUs by position in the deleted stream.
    deleted: BTreeMap<u64, String>,
    fail: Vec<u16>,
    /// Requests still served before `fail` applies.
    serve_first: u32,
    requests: u32,
    clock: u32,
}

/// A running fake Ergonode; stops when dropped.
pub struct FakeErgonode {
    /// The GraphQL endpoint (`http://127.0.0.1:PORT/api/graphql/`).
    pub url: String,
    data: Arc<Mutex<Data>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeErgonode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeErgonode {
    /// Start on a free loopback port, accepting `api_key`.
    pub async fn start(api_key: &str) -> Self {
        let data = Arc::new(Mutex::new(Data::default()));
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .data(data.clone())
            .finish();
        let app = axum::Router::new()
            .route("/api/graphql/", axum::routing::post(graphql))
            .with_state(Served {
                schema,
                data: data.clone(),
                api_key: api_key.to_owned(),
            });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeErgonode {
            url: format!("http://127.0.0.1:{port}/api/graphql/"),
            data,
            task,
        }
    }

    /// Create or edit a product: it moves to the end of the product stream.
    pub fn put(&self, mut product: FakeProduct) {
        let mut d = self.data.lock().unwrap();
        d.clock += 1;
        let at = format!(
            "2026-11-23T10:{:02}:{:02}+00:00",
            d.clock / 60 % 60,
            d.clock % 60
        );
        let old = d
            .stream
            .iter()
            .find(|(_, p)| p.sku == product.sku)
            .map(|(k, p)| (*k, p.created_at.clone()));
        match old {
            Some((k, created)) => {
                d.stream.remove(&k);
                product.created_at = created;
                product.edited_at = Some(at);
            }
            None => {
                product.created_at = at;
                product.edited_at = None;
            }
        }
        d.seq += 1;
        let seq = d.seq;
        d.stream.insert(seq, product);
    }

    /// Delete a product: it leaves the product stream and its SKU joins the deleted stream.
    pub fn delete(&self, sku: &str) {
        let mut d = self.data.lock().unwrap();
        let key = d.stream.iter().find(|(_, p)| p.sku == sku).map(|(k, _)| *k);
        if let Some(k) = key {
            d.stream.remove(&k);
            d.seq += 1;
            let seq = d.seq;
            d.deleted.insert(seq, sku.to_owned());
        }
    }

    /// Answer the next requests with these HTTP statuses (in order) instead of serving them.
    pub fn fail_next(&self, statuses: &[u16]) {
        self.data.lock().unwrap().fail.extend_from_slice(statuses);
    }

    /// Serve the next `ok` requests, then answer with these statuses (in order).
    pub fn fail_after(&self, ok: u32, statuses: &[u16]) {
        let mut d = self.data.lock().unwrap();
        d.serve_first = ok;
        d.fail.extend_from_slice(statuses);
    }

    /// Requests received so far (also refused ones).
    pub fn requests(&self) -> u32 {
        self.data.lock().unwrap().requests
    }
}

#[derive(Clone)]
struct Served {
    schema: Schema<Query, EmptyMutation, EmptySubscription>,
    data: Arc<Mutex<Data>>,
    api_key: String,
}

async fn graphql(AxumState(s): AxumState<Served>, headers: HeaderMap, body: String) -> Response {
    let injected = {
        let mut d = s.data.lock().unwrap();
        d.requests += 1;
        if d.serve_first > 0 {
            d.serve_first -= 1;
            None
        } else {
            (!d.fail.is_empty()).then(|| d.fail.remove(0))
        }
    };
    if let Some(status) = injected {
        let status = StatusCode::from_u16(status).unwrap();
        let mut resp = (status, "{\"message\":\"injected failure\"}").into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            resp.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        return resp;
    }
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    if key != Some(s.api_key.as_str()) {
        return (
            StatusCode::UNAUTHORIZED,
            [("content-type", "application/json")],
            "{\"message\":\"Invalid API key\"}",
        )
            .into_response();
    }
    let request: async_graphql::Request = match serde_json::from_str(&body) {
        Ok(r) => r,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                [("content-type", "application/json")],
                serde_json::json!({"errors": [{"message": format!("invalid request body: {e}")}]})
                    .to_string(),
            )
                .into_response();
        }
    };
    let response = s.schema.execute(request).await;
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        serde_json::to_string(&response).unwrap(),
    )
        .into_response()
}

/// base64 of "arrayconnection:<n>", as Ergonode's cursors look.
fn cursor(n: u64) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(format!("arrayconnection:{n}"))
}

fn decode_cursor(c: &str, latest: u64) -> async_graphql::Result<u64> {
    (0..=latest)
        .find(|n| cursor(*n) == c)
        .ok_or_else(|| async_graphql::Error::new(format!("Invalid cursor \"{c}\"")))
}

/// The items after the cursor `after` (from the start without), at most `first`, and whether
/// more follow. `cap`: the largest `first` allowed.
fn window<T: Clone>(
    items: &BTreeMap<u64, T>,
    first: i32,
    after: Option<&str>,
    latest: u64,
    cap: Option<i32>,
) -> async_graphql::Result<(Vec<(u64, T)>, bool)> {
    if first < 0 {
        return Err(async_graphql::Error::new("\"first\" must not be negative"));
    }
    if let Some(cap) = cap.filter(|c| first > *c) {
        return Err(async_graphql::Error::new(format!(
            "The limit for \"first\" is {cap}, got {first}"
        )));
    }
    let from = match after {
        Some(c) => decode_cursor(c, latest)? + 1,
        None => 0,
    };
    let mut rest = items.range(from..).map(|(k, v)| (*k, v.clone()));
    let page: Vec<(u64, T)> = rest
        .by_ref()
        .take(usize::try_from(first).unwrap())
        .collect();
    Ok((page, rest.next().is_some()))
}

/// Relay page info.
#[derive(SimpleObject)]
struct PageInfo {
    has_next_page: bool,
    has_previous_page: Option<bool>,
    start_cursor: Option<String>,
    end_cursor: Option<String>,
}

fn page_info<T>(page: &[(u64, T)], has_next: bool, after: bool) -> PageInfo {
    PageInfo {
        has_next_page: has_next,
        has_previous_page: Some(after),
        start_cursor: page.first().map(|(k, _)| cursor(*k)),
        end_cursor: page.last().map(|(k, _)| cursor(*k)),
    }
}

struct Query;

#[Object]
impl Query {
    /// Every product, oldest change first.
    async fn product_stream(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<Option<ProductConnection>> {
        let d = ctx.data::<Arc<Mutex<Data>>>()?.lock().unwrap();
        let (page, has_next) = window(&d.stream, first, after.as_deref(), d.seq, Some(MAX_FIRST))?;
        Ok(Some(ProductConnection {
            total_count: Some(i32::try_from(d.stream.len()).unwrap()),
            page_info: Some(page_info(&page, has_next, after.is_some())),
            edges: Some(
                page.into_iter()
                    .map(|(k, p)| ProductEdge {
                        cursor: cursor(k),
                        node: Product::of(p),
                    })
                    .collect(),
            ),
        }))
    }

    /// SKUs of deleted products, oldest first.
    async fn product_deleted_stream(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: i32,
        after: Option<String>,
    ) -> async_graphql::Result<Option<ProductDeletedConnection>> {
        let d = ctx.data::<Arc<Mutex<Data>>>()?.lock().unwrap();
        let (page, has_next) = window(&d.deleted, first, after.as_deref(), d.seq, Some(MAX_FIRST))?;
        Ok(Some(ProductDeletedConnection {
            total_count: Some(i32::try_from(d.deleted.len()).unwrap()),
            page_info: Some(page_info(&page, has_next, after.is_some())),
            edges: Some(
                page.into_iter()
                    .map(|(k, sku)| ProductDeletedEdge {
                        cursor: cursor(k),
                        node: sku,
                    })
                    .collect(),
            ),
        }))
    }

    /// One product by SKU.
    async fn product(
        &self,
        ctx: &Context<'_>,
        sku: String,
    ) -> async_graphql::Result<Option<Product>> {
        let d = ctx.data::<Arc<Mutex<Data>>>()?.lock().unwrap();
        Ok(d.stream
            .values()
            .find(|p| p.sku == sku)
            .cloned()
            .map(Product::of))
    }
}

#[derive(SimpleObject)]
struct ProductConnection {
    edges: Option<Vec<ProductEdge>>,
    page_info: Option<PageInfo>,
    total_count: Option<i32>,
}

#[derive(SimpleObject)]
struct ProductEdge {
    cursor: String,
    node: Product,
}

#[derive(SimpleObject)]
struct ProductDeletedConnection {
    edges: Option<Vec<ProductDeletedEdge>>,
    page_info: Option<PageInfo>,
    total_count: Option<i32>,
}

#[derive(SimpleObject)]
struct ProductDeletedEdge {
    cursor: String,
    node: String,
}

#[derive(Interface)]
#[graphql(
    field(name = "sku", ty = "String"),
    field(name = "created_at", ty = "String"),
    field(name = "edited_at", ty = "Option<String>"),
    field(name = "template", ty = "Template"),
    field(
        name = "category_list",
        ty = "CategoryConnection",
        arg(name = "first", ty = "i32", default = 50),
        arg(name = "after", ty = "Option<String>")
    ),
    field(
        name = "attribute_list",
        ty = "AttributeValueConnection",
        arg(name = "first", ty = "i32", default = 50),
        arg(name = "after", ty = "Option<String>"),
        arg(name = "codes", ty = "Option<Vec<String>>")
    )
)]
enum Product {
    SimpleProduct(SimpleProduct),
    VariableProduct(VariableProduct),
}

impl Product {
    fn of(p: FakeProduct) -> Self {
        if p.variable {
            Product::VariableProduct(VariableProduct(p))
        } else {
            Product::SimpleProduct(SimpleProduct(p))
        }
    }
}

#[derive(SimpleObject)]
struct Template {
    code: String,
}

struct SimpleProduct(FakeProduct);
struct VariableProduct(FakeProduct);

#[derive(SimpleObject)]
struct CategoryConnection {
    edges: Option<Vec<CategoryEdge>>,
    page_info: Option<PageInfo>,
    total_count: Option<i32>,
}

#[derive(SimpleObject)]
struct CategoryEdge {
    cursor: String,
    node: Category,
}

#[derive(SimpleObject)]
struct Category {
    code: String,
}

#[derive(SimpleObject)]
struct AttributeValueConnection {
    edges: Option<Vec<AttributeValueEdge>>,
    page_info: Option<PageInfo>,
    total_count: Option<i32>,
}

#[derive(SimpleObject)]
struct AttributeValueEdge {
    cursor: String,
    node: AttributeValue,
}

fn nested<T: Clone>(
    all: Vec<T>,
    first: i32,
    after: Option<&str>,
) -> async_graphql::Result<(Vec<(u64, T)>, bool)> {
    let map: BTreeMap<u64, T> = (0u64..).zip(all).collect();
    let latest = map.len() as u64;
    window(&map, first, after, latest, None)
}

fn categories(
    p: &FakeProduct,
    first: i32,
    after: Option<String>,
) -> async_graphql::Result<CategoryConnection> {
    let (page, has_next) = nested(p.categories.clone(), first, after.as_deref())?;
    Ok(CategoryConnection {
        total_count: Some(i32::try_from(p.categories.len()).unwrap()),
        page_info: Some(page_info(&page, has_next, after.is_some())),
        edges: Some(
            page.into_iter()
                .map(|(k, code)| CategoryEdge {
                    cursor: cursor(k),
                    node: Category { code },
                })
                .collect(),
        ),
    })
}

fn attributes(
    p: &FakeProduct,
    first: i32,
    after: Option<String>,
    codes: Option<Vec<String>>,
) -> async_graphql::Result<AttributeValueConnection> {
    let values: Vec<FakeValue> = p
        .values
        .iter()
        .filter(|v| {
            codes
                .as_ref()
                .is_none_or(|c| c.iter().any(|c| c == v.code()))
        })
        .cloned()
        .collect();
    let total = values.len();
    let (page, has_next) = nested(values, first, after.as_deref())?;
    Ok(AttributeValueConnection {
        total_count: Some(i32::try_from(total).unwrap()),
        page_info: Some(page_info(&page, has_next, after.is_some())),
        edges: Some(
            page.into_iter()
                .map(|(k, v)| AttributeValueEdge {
                    cursor: cursor(k),
                    node: AttributeValue::of(v),
                })
                .collect(),
        ),
    })
}

/// The fields every Ergonode product type has (the `Product` interface), plus `$extra`.
macro_rules! product_type {
    ($name:ident { $($extra:tt)* }) => {
        #[Object]
        impl $name {
            async fn sku(&self) -> String {
                self.0.sku.clone()
            }
            async fn created_at(&self) -> String {
                self.0.created_at.clone()
            }
            async fn edited_at(&self) -> Option<String> {
                self.0.edited_at.clone()
            }
            async fn template(&self) -> Template {
                Template {
                    code: "phone".into(),
                }
            }
            async fn category_list(
                &self,
                #[graphql(default = 50)] first: i32,
                after: Option<String>,
            ) -> async_graphql::Result<CategoryConnection> {
                categories(&self.0, first, after)
            }
            async fn attribute_list(
                &self,
                #[graphql(default = 50)] first: i32,
                after: Option<String>,
                codes: Option<Vec<String>>,
            ) -> async_graphql::Result<AttributeValueConnection> {
                attributes(&self.0, first, after, codes)
            }
            $($extra)*
        }
    };
}

product_type!(SimpleProduct {
    async fn is_variant(&self) -> bool {
        false
    }
});
product_type!(VariableProduct {});

/// Attribute scope.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
enum AttributeScope {
    Global,
    Local,
}

#[derive(Interface)]
#[graphql(
    field(name = "code", ty = "&String"),
    field(name = "scope", ty = "&AttributeScope")
)]
enum Attribute {
    TextAttribute(TextAttribute),
    NumericAttribute(NumericAttribute),
    SelectAttribute(SelectAttribute),
    MultiSelectAttribute(MultiSelectAttribute),
    ImageAttribute(ImageAttribute),
}

#[derive(SimpleObject)]
struct TextAttribute {
    code: String,
    scope: AttributeScope,
    unique: bool,
}
#[derive(SimpleObject)]
struct NumericAttribute {
    code: String,
    scope: AttributeScope,
    unique: bool,
}
#[derive(SimpleObject)]
struct SelectAttribute {
    code: String,
    scope: AttributeScope,
}
#[derive(SimpleObject)]
struct MultiSelectAttribute {
    code: String,
    scope: AttributeScope,
}
#[derive(SimpleObject)]
struct ImageAttribute {
    code: String,
    scope: AttributeScope,
}

#[derive(Interface)]
#[graphql(
    field(name = "attribute", ty = "&Attribute"),
    field(
        name = "translations",
        ty = "Vec<AttributeValueTranslation>",
        arg(name = "languages", ty = "Option<Vec<String>>")
    )
)]
enum AttributeValue {
    TextAttributeValue(TextAttributeValue),
    NumberAttributeValue(NumberAttributeValue),
    SelectAttributeValue(SelectAttributeValue),
    MultiSelectAttributeValue(MultiSelectAttributeValue),
    ImageAttributeValue(ImageAttributeValue),
}

impl AttributeValue {
    fn of(v: FakeValue) -> Self {
        let scope = |global: bool| {
            if global {
                AttributeScope::Global
            } else {
                AttributeScope::Local
            }
        };
        let en = |l: &str| l.to_owned();
        match v {
            FakeValue::Text {
                code,
                translations,
                global,
            } => AttributeValue::TextAttributeValue(TextAttributeValue {
                attribute: Attribute::TextAttribute(TextAttribute {
                    code,
                    scope: scope(global),
                    unique: false,
                }),
                all: translations
                    .into_iter()
                    .map(|(language, value)| {
                        AttributeValueTranslation::TextAttributeValueTranslation(
                            TextAttributeValueTranslation {
                                language,
                                value: Some(value),
                            },
                        )
                    })
                    .collect(),
            }),
            FakeValue::Number { code, value } => {
                AttributeValue::NumberAttributeValue(NumberAttributeValue {
                    attribute: Attribute::NumericAttribute(NumericAttribute {
                        code,
                        scope: AttributeScope::Global,
                        unique: false,
                    }),
                    all: vec![AttributeValueTranslation::NumericAttributeValueTranslation(
                        NumericAttributeValueTranslation {
                            language: en("en_GB"),
                            value: Some(value),
                        },
                    )],
                })
            }
            FakeValue::Select {
                code,
                option,
                names,
            } => AttributeValue::SelectAttributeValue(SelectAttributeValue {
                attribute: Attribute::SelectAttribute(SelectAttribute {
                    code,
                    scope: AttributeScope::Global,
                }),
                all: names
                    .into_iter()
                    .map(|(language, name)| {
                        AttributeValueTranslation::SelectAttributeValueTranslation(
                            SelectAttributeValueTranslation {
                                language,
                                value: Some(OptionValue {
                                    code: option.clone(),
                                }),
                                translated_value: Some(OptionTranslatedValue {
                                    code: option.clone(),
                                    name: Some(name),
                                }),
                            },
                        )
                    })
                    .collect(),
            }),
            FakeValue::MultiSelect { code, options } => {
                AttributeValue::MultiSelectAttributeValue(MultiSelectAttributeValue {
                    attribute: Attribute::MultiSelectAttribute(MultiSelectAttribute {
                        code,
                        scope: AttributeScope::Global,
                    }),
                    all: vec![
                        AttributeValueTranslation::MultiSelectAttributeValueTranslation(
                            MultiSelectAttributeValueTranslation {
                                language: en("en_GB"),
                                value: options
                                    .iter()
                                    .map(|o| OptionValue { code: o.clone() })
                                    .collect(),
                                translated_value: options
                                    .iter()
                                    .map(|o| OptionTranslatedValue {
                                        code: o.clone(),
                                        name: None,
                                    })
                                    .collect(),
                            },
                        ),
                    ],
                })
            }
            FakeValue::Image { code } => AttributeValue::ImageAttributeValue(ImageAttributeValue {
                attribute: Attribute::ImageAttribute(ImageAttribute {
                    code,
                    scope: AttributeScope::Global,
                }),
                all: vec![AttributeValueTranslation::ImageAttributeValueTranslation(
                    ImageAttributeValueTranslation {
                        language: en("en_GB"),
                        value: Some(Multimedia {
                            name: "front.jpg".into(),
                            extension: "jpg".into(),
                            mime: "image/jpeg".into(),
                            size: 1024,
                            url: "https://cdn.example/front.jpg".into(),
                        }),
                    },
                )],
            }),
        }
    }
}

fn pick(
    all: &[AttributeValueTranslation],
    languages: Option<Vec<String>>,
) -> Vec<AttributeValueTranslation> {
    all.iter()
        .filter(|t| {
            languages
                .as_ref()
                .is_none_or(|ls| ls.iter().any(|l| l == t.lang()))
        })
        .cloned()
        .collect()
}

macro_rules! attribute_value {
    ($name:ident) => {
        struct $name {
            attribute: Attribute,
            all: Vec<AttributeValueTranslation>,
        }

        #[Object]
        impl $name {
            async fn attribute(&self) -> &Attribute {
                &self.attribute
            }
            async fn translations(
                &self,
                languages: Option<Vec<String>>,
            ) -> Vec<AttributeValueTranslation> {
                pick(&self.all, languages)
            }
        }
    };
}

attribute_value!(TextAttributeValue);
attribute_value!(NumberAttributeValue);
attribute_value!(SelectAttributeValue);
attribute_value!(MultiSelectAttributeValue);
attribute_value!(ImageAttributeValue);

#[derive(Interface, Clone)]
#[graphql(field(name = "language", ty = "&String"))]
enum AttributeValueTranslation {
    TextAttributeValueTranslation(TextAttributeValueTranslation),
    TextareaAttributeValueTranslation(TextareaAttributeValueTranslation),
    DateAttributeValueTranslation(DateAttributeValueTranslation),
    NumericAttributeValueTranslation(NumericAttributeValueTranslation),
    PriceAttributeValueTranslation(PriceAttributeValueTranslation),
    UnitAttributeValueTranslation(UnitAttributeValueTranslation),
    SelectAttributeValueTranslation(SelectAttributeValueTranslation),
    MultiSelectAttributeValueTranslation(MultiSelectAttributeValueTranslation),
    ImageAttributeValueTranslation(ImageAttributeValueTranslation),
}

impl AttributeValueTranslation {
    fn lang(&self) -> &str {
        match self {
            AttributeValueTranslation::TextAttributeValueTranslation(t) => &t.language,
            AttributeValueTranslation::TextareaAttributeValueTranslation(t) => &t.language,
            AttributeValueTranslation::DateAttributeValueTranslation(t) => &t.language,
            AttributeValueTranslation::NumericAttributeValueTranslation(t) => &t.language,
            AttributeValueTranslation::PriceAttributeValueTranslation(t) => &t.language,
            AttributeValueTranslation::UnitAttributeValueTranslation(t) => &t.language,
            AttributeValueTranslation::SelectAttributeValueTranslation(t) => &t.language,
            AttributeValueTranslation::MultiSelectAttributeValueTranslation(t) => &t.language,
            AttributeValueTranslation::ImageAttributeValueTranslation(t) => &t.language,
        }
    }
}

#[derive(SimpleObject, Clone)]
struct TextAttributeValueTranslation {
    language: String,
    value: Option<String>,
}
#[derive(SimpleObject, Clone)]
struct TextareaAttributeValueTranslation {
    language: String,
    value: Option<String>,
    raw_value: Option<String>,
}
#[derive(SimpleObject, Clone)]
struct DateAttributeValueTranslation {
    language: String,
    value: Option<String>,
}
#[derive(SimpleObject, Clone)]
struct NumericAttributeValueTranslation {
    language: String,
    value: Option<f64>,
}
#[derive(SimpleObject, Clone)]
struct PriceAttributeValueTranslation {
    language: String,
    value: Option<f64>,
}
#[derive(SimpleObject, Clone)]
struct UnitAttributeValueTranslation {
    language: String,
    value: Option<f64>,
}
#[derive(SimpleObject, Clone)]
struct SelectAttributeValueTranslation {
    language: String,
    value: Option<OptionValue>,
    translated_value: Option<OptionTranslatedValue>,
}
#[derive(SimpleObject, Clone)]
struct MultiSelectAttributeValueTranslation {
    language: String,
    value: Vec<OptionValue>,
    translated_value: Vec<OptionTranslatedValue>,
}
#[derive(SimpleObject, Clone)]
struct ImageAttributeValueTranslation {
    language: String,
    value: Option<Multimedia>,
}

/// An option of a select (Ergonode's `Option`).
#[derive(SimpleObject, Clone)]
#[graphql(name = "Option")]
struct OptionValue {
    code: String,
}

#[derive(SimpleObject, Clone)]
struct OptionTranslatedValue {
    code: String,
    name: Option<String>,
}

#[derive(SimpleObject, Clone)]
struct Multimedia {
    name: String,
    extension: String,
    mime: String,
    size: i32,
    url: String,
}
