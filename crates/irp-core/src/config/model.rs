//! The refurbisher registry's typed model: what a validated refurbisher document holds.
//!
//! Every struct serializes to the *canonical* document form: all defaults filled in, amounts
//! as decimal strings, secret references kept as written. That form is what the store keeps,
//! what `irp refurbisher show` prints and what `apply` compares field by field.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Map, Value};

/// One refurbisher: its registry fields and its connectors.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Refurbisher {
    /// The connector key (`flexit`): the document key, unique, never changes.
    #[serde(skip)]
    pub key: String,
    /// Display name. Default: the key.
    pub name: String,
    /// The refurbisher id of the seeds' Status table. Default: assigned on apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refurbisher_id: Option<i64>,
    /// The supplier id, which shipment webhook URLs carry. Default: none.
    pub supplier_id: Option<i64>,
    /// The Odoo vendor (partner) id purchase orders are made for. Default: none.
    pub odoo_vendor_id: Option<i64>,
    /// Name shown to customers. Default: `name`.
    pub public_name: String,
    /// ISO 4217 currency of all amounts. Default: `EUR`.
    pub currency: String,
    /// Shipping costs per unit, excl. VAT. Default: 0.
    pub shipping_costs: Decimal,
    /// Home copy tax (thuiskopieheffing) per unit, excl. VAT. Default: 0.
    pub home_copy_tax: Decimal,
    /// Markup on cost in percent (`99` doubles the cost minus 1 %). Default: 0.
    pub default_margin: Decimal,
    /// Margins for some offers instead of `default_margin`; the most specific matching rule
    /// wins (EAN, then the longest SKU prefix, then brand, then category). Default: none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub margin_rules: Vec<MarginRuleConfig>,
    /// VAT percentage for offers whose feed states none. Default: 21.
    #[serde(skip_serializing_if = "is_default_vat")]
    pub default_tax_percentage: Decimal,
    /// How prices incl. VAT are rounded after the cents, always up: `none`, `.99`, `.95`,
    /// `whole`. Default: `none`.
    #[serde(skip_serializing_if = "is_no_rounding")]
    pub price_rounding: String,
    /// How far a purchase price may move against the last applied one, as a fraction of it,
    /// before the change is held for an operator (0.5: by half). Default: 0.5.
    #[serde(skip_serializing_if = "is_default_price_change_ratio")]
    pub max_price_change_ratio: Decimal,
    /// Units held back from the stock the feed reports. Default: 0.
    pub stock_threshold: i64,
    /// Whether the refurbisher's offers may be sold. Default: false.
    pub approved_refurbished: bool,
    /// Whether the refurbisher ships to the customer directly. Default: true.
    pub drop_ship: bool,
    /// Whether this is the shop's own stock (no external partner). Default: false.
    pub internal: bool,
    /// Whether IRP polls its feed and routes orders to it. Default: true.
    pub enabled: bool,
    /// Seconds between feed polls; 0 disables polling. Default: 3600.
    pub poll_interval_secs: i64,
    /// Monitoring thresholds.
    pub monitoring: Monitoring,
    /// How the shipment webhook reads this refurbisher's payload. Default: the standard body.
    #[serde(skip_serializing_if = "ShipmentConfig::is_default")]
    pub shipment: ShipmentConfig,
    /// The offer feed connector; absent when offers only arrive by upload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offers: Option<OffersConfig>,
    /// The order connector; `None` is `"order": {}` (no automated order placement).
    #[serde(serialize_with = "ser_order")]
    pub order: Option<OrderConfig>,
}

/// The VAT percentage when a refurbisher sets none (the Netherlands' standard rate).
pub const DEFAULT_TAX_PERCENTAGE: i64 = 21;

/// The default `max_price_change_ratio`, in tenths (0.5).
pub const DEFAULT_MAX_PRICE_CHANGE_RATIO_TENTHS: i64 = 5;

fn is_default_price_change_ratio(d: &Decimal) -> bool {
    *d == Decimal::new(DEFAULT_MAX_PRICE_CHANGE_RATIO_TENTHS, 1)
}

fn is_default_vat(d: &Decimal) -> bool {
    *d == Decimal::from(DEFAULT_TAX_PERCENTAGE)
}

fn is_no_rounding(r: &str) -> bool {
    r == "none"
}

/// One margin rule of a refurbisher: exactly one of `ean`, `sku_prefix`, `brand`, `category`,
/// and the `margin` in percent for the offers it matches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarginRuleConfig {
    /// An EAN.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ean: Option<String>,
    /// A SKU prefix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku_prefix: Option<String>,
    /// A brand (any case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    /// A category (any case).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// Markup on cost in percent.
    pub margin: Decimal,
}

impl MarginRuleConfig {
    /// The rule for the price engine.
    pub fn to_rule(&self) -> crate::pricing::MarginRule {
        use crate::pricing::MarginMatch;
        let matches = match (&self.ean, &self.sku_prefix, &self.brand, &self.category) {
            (Some(e), ..) => MarginMatch::Ean(e.clone()),
            (_, Some(p), ..) => MarginMatch::SkuPrefix(p.clone()),
            (_, _, Some(b), _) => MarginMatch::Brand(b.clone()),
            (_, _, _, Some(c)) => MarginMatch::Category(c.clone()),
            _ => MarginMatch::SkuPrefix(String::new()),
        };
        crate::pricing::MarginRule {
            matches,
            margin: self.margin,
        }
    }
}

fn ser_order<S: serde::Serializer>(o: &Option<OrderConfig>, s: S) -> Result<S::Ok, S::Error> {
    match o {
        Some(o) => o.serialize(s),
        None => Map::new().serialize(s),
    }
}

/// The seeds' "Monitoring Thresholds"; 0 disables a metric.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Monitoring {
    /// Alert when no order came in for this many hours. Default: 48.
    pub latest_order_hours: i64,
    /// Alert when offers were not refreshed for this many hours. Default: 48.
    pub offers_stock_hours: i64,
    /// Alert when a supplier order is open for this many days. Default: 4.
    pub open_order_days: i64,
    /// The HTTP status the offers endpoint must answer. Default: 200.
    pub offers_endpoint_http_status: i64,
}

impl Default for Monitoring {
    fn default() -> Self {
        Self {
            latest_order_hours: 48,
            offers_stock_hours: 48,
            open_order_days: 4,
            offers_endpoint_http_status: 200,
        }
    }
}

/// The shipment webhook of a refurbisher (`shipment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShipmentConfig {
    /// Where its payload has each shipment field.
    pub mapping: crate::shipments::ShipmentMapping,
    /// Hours the previous webhook token keeps working after `irp webhook token` made a new
    /// one. Default: 24.
    pub token_grace_hours: i64,
}

/// The default `shipment.token_grace_hours`.
pub const DEFAULT_TOKEN_GRACE_HOURS: i64 = 24;

impl Default for ShipmentConfig {
    fn default() -> Self {
        Self {
            mapping: crate::shipments::ShipmentMapping::default(),
            token_grace_hours: DEFAULT_TOKEN_GRACE_HOURS,
        }
    }
}

impl ShipmentConfig {
    /// Whether every field has its default (then the canonical document leaves it out).
    pub fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// How offers are fetched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Connection {
    /// HTTP GET of `endpoint`.
    Web,
    /// HTTP POST of `body` to `endpoint`.
    WebPost,
    /// A file on an SFTP server.
    Sftp,
    /// A file on the IRP host.
    File,
    /// Uploaded by an operator (API or portal).
    Upload,
}

impl Connection {
    /// Every connection name.
    pub const NAMES: [&'static str; 5] = ["web", "web_post", "sftp", "file", "upload"];

    /// The connection called `name`.
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "web" => Self::Web,
            "web_post" => Self::WebPost,
            "sftp" => Self::Sftp,
            "file" => Self::File,
            "upload" => Self::Upload,
            _ => return None,
        })
    }

    /// Human label for status tables ("Web POST").
    pub fn label(self) -> &'static str {
        match self {
            Self::Web => "Web GET",
            Self::WebPost => "Web POST",
            Self::Sftp => "SFTP",
            Self::File => "File",
            Self::Upload => "Upload",
        }
    }
}

/// Feed format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// JSON; offers are the array at `offer_location`.
    Json,
    /// CSV with `separator`, `heading`, `encoding`.
    Csv,
    /// XML; offers are the elements at `record_path`.
    Xml,
}

impl Format {
    /// Every format name.
    pub const NAMES: [&'static str; 3] = ["json", "csv", "xml"];
}

/// The offer feed connector (`offers`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OffersConfig {
    /// How the feed is fetched.
    pub connection: Connection,
    /// URL for `web` and `web_post`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Request body for `web_post`, sent as given with a JSON content type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Local path for `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Credentials (HTTP auth, or the SFTP location and login).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<OffersAuth>,
    /// Feed format.
    #[serde(rename = "type")]
    pub format: Format,
    /// Pagination of HTTP feeds.
    pub paginate: Pagination,
    /// JSON: dotted path to the offers array; empty when the document is the array.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offer_location: Option<String>,
    /// XML: path of the record element (`offers.offer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_path: Option<String>,
    /// CSV: field separator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub separator: Option<char>,
    /// CSV: whether the first row names the columns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heading: Option<bool>,
    /// CSV: text encoding of the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoding: Option<String>,
    /// How prices are written (`en_US`, `nl_NL`, …).
    pub price_locale: String,
    /// Canonical offer field → source field (column name, 1-based column number, or dotted path).
    pub mapping: Map<String, Value>,
    /// A run that would deactivate more than this fraction of the active offers is
    /// quarantined instead of applied. Default: 0.5.
    pub max_removal_ratio: Decimal,
    /// Seconds a whole fetch may take (connect, all pages, all retries). Default: 600.
    pub timeout_secs: i64,
    /// Seconds to establish a connection. Default: 10.
    pub connect_timeout_secs: i64,
    /// Seconds a download may wait for its next bytes before it is given up as stalled.
    /// Default: 60.
    pub read_timeout_secs: i64,
    /// A feed larger than this many bytes fails the run. Default: 2 GiB.
    pub max_bytes: i64,
    /// A single record (a CSV row, a JSON offer, an XML record element) larger than this many
    /// bytes fails the run instead of being read into memory. Default: 1 MiB.
    pub max_record_bytes: i64,
}

/// Credentials of an offer feed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum OffersAuth {
    /// HTTP authentication (`web`, `web_post`).
    Http(HttpAuth),
    /// SFTP location and login (`sftp`).
    Sftp(SftpAuth),
}

/// HTTP authentication, selected by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HttpAuth {
    /// No authentication.
    None,
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The token.
        token: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: String,
    },
    /// A custom header.
    Header {
        /// Header name.
        name: String,
        /// Header value.
        value: String,
    },
    /// A query-string parameter.
    Query {
        /// Parameter name.
        name: String,
        /// Parameter value.
        value: String,
    },
    /// Client id and secret: as two headers, or OAuth2 client credentials with `token_url`.
    ClientIdSecret {
        /// Client id.
        client_id: String,
        /// Client secret.
        client_secret: String,
        /// OAuth2 token endpoint; when absent the pair is sent as headers.
        #[serde(skip_serializing_if = "Option::is_none")]
        token_url: Option<String>,
        /// OAuth2 scope.
        #[serde(skip_serializing_if = "Option::is_none")]
        scope: Option<String>,
        /// Header carrying the client id when no `token_url` is given.
        client_id_header: String,
        /// Header carrying the client secret when no `token_url` is given.
        client_secret_header: String,
    },
}

impl HttpAuth {
    /// Every `type` name.
    pub const NAMES: [&'static str; 6] = [
        "none",
        "bearer",
        "basic",
        "header",
        "query",
        "client_id_secret",
    ];

    /// Human label for status tables.
    pub fn label(&self) -> &'static str {
        match self {
            Self::None => "No auth",
            Self::Bearer { .. } => "Bearer token",
            Self::Basic { .. } => "Basic auth",
            Self::Header { .. } => "Header",
            Self::Query { .. } => "Query parameter",
            Self::ClientIdSecret { .. } => "Client credentials",
        }
    }
}

/// Where an SFTP feed lives and how to log in (the seed keeps all of it under `auth`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SftpAuth {
    /// Server host name.
    pub host: String,
    /// Server port. Default: 22.
    pub port: u16,
    /// Path of the feed file on the server.
    pub path: String,
    /// Login name.
    pub username: String,
    /// Password, when logging in with one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// OpenSSH private key (PEM text), when logging in with a key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Passphrase of the private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passphrase: Option<String>,
    /// Pinned host key fingerprint (`SHA256:…`); recorded on first use when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_key_fingerprint: Option<String>,
}

/// Pagination of an HTTP feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pagination {
    /// One request.
    None,
    /// `?page=N`, starting at `start`, until a page has no offers.
    Page {
        /// Query parameter of the page number.
        param: String,
        /// First page number.
        start: i64,
        /// Query parameter of the page size, if the feed takes one.
        size_param: Option<String>,
        /// Page size sent with `size_param`.
        size: Option<i64>,
        /// Safety cap on the number of requests.
        max_pages: i64,
    },
    /// `?offset=N&limit=M`.
    Offset {
        /// Query parameter of the offset.
        param: String,
        /// Query parameter of the limit.
        limit_param: String,
        /// Offers per request.
        limit: i64,
        /// Safety cap on the number of requests.
        max_pages: i64,
    },
    /// The next cursor is read from the body and sent as a query parameter.
    Cursor {
        /// Query parameter of the cursor.
        param: String,
        /// Dotted path of the next cursor in the response body.
        cursor_path: String,
        /// Safety cap on the number of requests.
        max_pages: i64,
    },
    /// The next page's URL is read from the body, or from the `Link` header.
    Link {
        /// Dotted path of the next URL in the body; absent: the `Link: <…>; rel="next"` header.
        next_path: Option<String>,
        /// Safety cap on the number of requests.
        max_pages: i64,
    },
}

impl Serialize for Pagination {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_owned(), v);
        };
        match self {
            Pagination::None => return false.serialize(s),
            Pagination::Page {
                param,
                start,
                size_param,
                size,
                max_pages,
            } => {
                put("type", "page".into());
                put("param", param.clone().into());
                put("start", (*start).into());
                if let Some(p) = size_param {
                    put("size_param", p.clone().into());
                }
                if let Some(n) = size {
                    put("size", (*n).into());
                }
                put("max_pages", (*max_pages).into());
            }
            Pagination::Offset {
                param,
                limit_param,
                limit,
                max_pages,
            } => {
                put("type", "offset".into());
                put("param", param.clone().into());
                put("limit_param", limit_param.clone().into());
                put("limit", (*limit).into());
                put("max_pages", (*max_pages).into());
            }
            Pagination::Cursor {
                param,
                cursor_path,
                max_pages,
            } => {
                put("type", "cursor".into());
                put("param", param.clone().into());
                put("cursor_path", cursor_path.clone().into());
                put("max_pages", (*max_pages).into());
            }
            Pagination::Link {
                next_path,
                max_pages,
            } => {
                put("type", "link".into());
                if let Some(p) = next_path {
                    put("next_path", p.clone().into());
                }
                put("max_pages", (*max_pages).into());
            }
        }
        m.serialize(s)
    }
}

/// HTTP method of an order call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    /// POST (default).
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
}

/// The order connector (`order`, when not `{}`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderConfig {
    /// Always `web` for now.
    pub connection: String,
    /// The refurbisher's order URL.
    pub endpoint: String,
    /// HTTP method. Default: POST.
    pub method: Method,
    /// Authentication.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<HttpAuth>,
    /// Target key (dots nest) → expression, for the whole supplier order.
    pub order_object: Map<String, Value>,
    /// Target key → expression, for each item (used by `%ITEMS%`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub item_object: Option<Map<String, Value>>,
    /// Checks on the answer and values copied from it.
    pub response_object: ResponseObject,
    /// Seconds one call may take. Default: 30.
    pub timeout_secs: i64,
    /// Attempts before a supplier order that keeps failing with network errors, 5xx or 429 is
    /// `failed`. Default: 8.
    pub max_attempts: i64,
    /// Whether a call whose outcome is unknown (timeout or reset after the request was sent)
    /// may be sent again: only for a refurbisher that recognises the idempotency key. Default:
    /// false (the supplier order goes to `needs_attention`).
    pub retry_unknown: bool,
    /// The header the supplier order's idempotency key is sent in; `None` (configured as `""`)
    /// sends none. Default: `Idempotency-Key`.
    pub idempotency_header: Option<String>,
}

/// `response_object`: asserts and fields.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ResponseObject {
    /// `status` or a dotted response path → rules joined by `|`.
    pub asserts: Map<String, Value>,
    /// Supplier-order field → dotted response path.
    pub fields: Map<String, Value>,
}

/// Supplier-order fields `response_object.fields` may fill.
pub const RESPONSE_FIELD_TARGETS: [&str; 1] = ["externalOrderReference"];

/// Canonical offer fields every mapping must name (seed 001, "Minimum required fields").
pub const REQUIRED_OFFER_FIELDS: [&str; 6] = [
    "sku",
    "name",
    "ean",
    "stock_available",
    "price_purchase_amount",
    "price_consumer_amount",
];

/// Canonical offer fields a mapping may name besides the required ones.
pub const OPTIONAL_OFFER_FIELDS: [&str; 5] = [
    "currency_iso",
    "tax_percentage",
    "brand",
    "category",
    "grade",
];

impl Refurbisher {
    /// The canonical document member: `{ "<key>": { … } }` content for this refurbisher.
    pub fn to_canonical_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// "Web POST · JSON · Bearer token", as in the seeds' Status table.
    pub fn offer_connector_label(&self) -> String {
        match &self.offers {
            None => "Not configured".into(),
            Some(o) => {
                let format = match o.format {
                    Format::Json => "JSON",
                    Format::Csv => "CSV",
                    Format::Xml => "XML",
                };
                let auth = match &o.auth {
                    Some(OffersAuth::Http(a)) => a.label(),
                    Some(OffersAuth::Sftp(_)) => "SFTP credentials",
                    None => "No auth",
                };
                format!("{} · {} · {}", o.connection.label(), format, auth)
            }
        }
    }

    /// "Web POST · Client credentials", or "Not integrated".
    pub fn order_connector_label(&self) -> String {
        match &self.order {
            None => "Not integrated".into(),
            Some(o) => {
                let method = match o.method {
                    Method::Post => "Web POST",
                    Method::Put => "Web PUT",
                    Method::Patch => "Web PATCH",
                };
                format!(
                    "{} · {}",
                    method,
                    o.auth.as_ref().map_or("No auth", HttpAuth::label)
                )
            }
        }
    }
}

/// A storefront channel (seed 003: the Shopware instances Refurbished Direct and Econocom):
/// what IRP prices products for and syncs them to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Channel {
    /// The channel key (`refurbished-direct`), unique, never changes.
    pub key: String,
    /// Display name. Default: the key.
    pub name: String,
    /// ISO 4217 currency the channel sells in; offers in another currency are not sold there.
    /// Default: `EUR`.
    pub currency: String,
    /// VAT percentage for offers whose feed states none. Default: 21.
    pub default_tax_percentage: Decimal,
    /// Connector keys of the refurbishers whose offers the channel sells; `None`: every
    /// approved and enabled refurbisher. Default: none (all).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refurbishers: Option<Vec<String>>,
    /// Percentage points added to each offer's margin in this channel (`-2` lowers a 17 %
    /// margin to 15 %); the margin never goes below 0. Default: 0.
    pub margin_adjustment: Decimal,
    /// The channel's Shopware 6 instance: where prices and stock go, orders come from and
    /// tracking goes to. `None`: IRP prices the channel but talks to no storefront.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shopware: Option<ShopwareConfig>,
}

/// What to tell the storefront when a refurbisher's part of an order is cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnSupplierCancel {
    /// Nothing: operators handle it in Shopware (IRP's order page shows it).
    None,
    /// Cancel the order's delivery (`order_delivery` transition `cancel`) once every supplier
    /// order of the order is cancelled.
    CancelDelivery,
    /// Cancel the whole order (`order` transition `cancel`) once every supplier order of the
    /// order is cancelled.
    CancelOrder,
}

impl OnSupplierCancel {
    /// The document's spellings.
    pub const NAMES: &'static [&'static str] = &["none", "cancel_delivery", "cancel_order"];
}

/// A channel's Shopware 6 instance (Admin API; `contracts/EXTERNAL-APIS.md` §1). `Debug` hides
/// literal credentials.
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
pub struct ShopwareConfig {
    /// The shop's base URL (`https://www.refurbished-direct.nl`); the Admin API is under `/api`.
    pub url: String,
    /// The integration's access key id (`SWIA…`), best a `${secret:…}` reference.
    pub client_id: String,
    /// The integration's secret access key, best a `${secret:…}` reference.
    pub client_secret: String,
    /// The shop secret of IRP's app registration, which signs `checkout.order.placed`
    /// webhooks (`shopware-shop-signature`). `None`: orders come in by the poll only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shop_secret: Option<String>,
    /// Shopware's product number of a product is this prefix followed by its EAN. Default: "".
    pub product_number_prefix: String,
    /// Products per `_action/sync` request. Default: 500 (1–5000).
    pub batch_size: i64,
    /// Create products Shopware does not know (from PIM data) instead of reporting them.
    /// Default: false.
    pub create_missing: bool,
    /// The Shopware tax id new products get; needed with `create_missing`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tax_id: Option<String>,
    /// Only orders of these sales channels (ids) are taken in. Default: none (every one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sales_channel_ids: Option<Vec<String>>,
    /// Seconds between polls for new orders; 0 turns the poll off. Default: 60 (0–86400).
    pub order_poll_secs: i64,
    /// How far back the first poll looks, in hours. Default: 24 (1–8760).
    pub order_lookback_hours: i64,
    /// What to tell the storefront when supplier orders are cancelled. Default: `none`.
    pub on_supplier_cancel: OnSupplierCancel,
    /// Seconds one request may take. Default: 30 (1–600).
    pub timeout_secs: i64,
    /// Whether IRP talks to this shop at all. Default: true.
    pub enabled: bool,
    /// The products' content IRP owns in this shop (from the PIM). Default: none.
    #[serde(skip_serializing_if = "crate::shopware::content::ContentConfig::is_off")]
    pub content: crate::shopware::content::ContentConfig,
}

impl std::fmt::Debug for ShopwareConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hide = |s: &str| {
            if crate::secret_ref::has_references(s) {
                s.to_owned()
            } else {
                super::REDACTED.to_owned()
            }
        };
        f.debug_struct("ShopwareConfig")
            .field("url", &self.url)
            .field("client_id", &hide(&self.client_id))
            .field("client_secret", &hide(&self.client_secret))
            .field("shop_secret", &self.shop_secret.as_deref().map(hide))
            .field("product_number_prefix", &self.product_number_prefix)
            .field("batch_size", &self.batch_size)
            .field("create_missing", &self.create_missing)
            .field("tax_id", &self.tax_id)
            .field("sales_channel_ids", &self.sales_channel_ids)
            .field("order_poll_secs", &self.order_poll_secs)
            .field("order_lookback_hours", &self.order_lookback_hours)
            .field("on_supplier_cancel", &self.on_supplier_cancel)
            .field("timeout_secs", &self.timeout_secs)
            .field("enabled", &self.enabled)
            .field("content", &self.content)
            .finish()
    }
}

/// Where product data (name, brand, model, category, attributes) comes from (seed 003:
/// "Ergonode (PIM) → Refurbisher Portal"). Canonical form of a PIM document's `pim` object.
/// `Debug` hides a literal `api_key`.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct PimConfig {
    /// The PIM product: `ergonode` (its GraphQL API).
    pub source: String,
    /// The GraphQL endpoint, e.g. `https://acme.ergonode.app/api/graphql/`.
    pub url: String,
    /// The API key sent as `X-API-KEY`; best a `${secret:NAME}` reference.
    pub api_key: String,
    /// Languages to read translated values in, in order of preference (`nl_NL`, `en_GB`);
    /// a value in none of them falls back to the first translation Ergonode has.
    /// Default: `["en_GB"]`.
    pub languages: Vec<String>,
    /// Which Ergonode attribute gives each product field.
    pub fields: PimFields,
    /// Other attribute codes copied into the product's attributes: `"*"` (every one; the
    /// default) or a list.
    pub attributes: PimAttributes,
    /// Products per GraphQL request. Default: 100 (1–200: Ergonode's limit for `first`).
    pub page_size: i64,
    /// Seconds between syncs in `irp serve`; 0: only `irp pim sync`. Default: 900.
    pub poll_interval_secs: i64,
    /// Seconds a request may take. Default: 60.
    pub timeout_secs: i64,
    /// Whether `serve` syncs. Default: true.
    pub enabled: bool,
}

/// Which Ergonode attribute code gives each product field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PimFields {
    /// The EAN (GTIN). Default: `ean`. A product without one whose SKU is a valid GTIN is keyed
    /// by its SKU.
    pub ean: String,
    /// Default: `name`.
    pub name: String,
    /// Default: `brand`.
    pub brand: Option<String>,
    /// Default: `model`.
    pub model: Option<String>,
    /// An attribute code, or `null` (the default): the product's first category code.
    pub category: Option<String>,
}

/// The attribute codes copied into a product's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PimAttributes {
    /// Every attribute.
    All,
    /// These codes only.
    Only(Vec<String>),
}

impl PimAttributes {
    /// Whether `code` is copied.
    pub fn includes(&self, code: &str) -> bool {
        match self {
            PimAttributes::All => true,
            PimAttributes::Only(codes) => codes.iter().any(|c| c == code),
        }
    }
}

impl Serialize for PimAttributes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            PimAttributes::All => s.serialize_str("*"),
            PimAttributes::Only(codes) => codes.serialize(s),
        }
    }
}

impl std::fmt::Debug for PimConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let key = if crate::secret_ref::has_references(&self.api_key) {
            self.api_key.as_str()
        } else {
            super::REDACTED
        };
        f.debug_struct("PimConfig")
            .field("source", &self.source)
            .field("url", &self.url)
            .field("api_key", &key)
            .field("languages", &self.languages)
            .field("fields", &self.fields)
            .field("attributes", &self.attributes)
            .field("page_size", &self.page_size)
            .field("poll_interval_secs", &self.poll_interval_secs)
            .field("timeout_secs", &self.timeout_secs)
            .field("enabled", &self.enabled)
            .finish()
    }
}

/// How IRP speaks to Odoo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OdooProtocol {
    /// `POST /jsonrpc` with `common.authenticate` and `object.execute_kw` (Odoo ≤ 18; deprecated
    /// in 19).
    Jsonrpc,
    /// `POST /json/2/<model>/<method>` with a bearer API key (Odoo 19+).
    Json2,
}

/// Which Odoo document a supplier order becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErpDocumentKind {
    /// A purchase order at the refurbisher's `odoo_vendor_id` (drop-ship).
    PurchaseOrder,
    /// A sales order taking the units from Odoo's own stock (internal fulfilment).
    SalesOrder,
    /// Nothing.
    None,
}

impl ErpDocumentKind {
    /// The name used in documents and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            ErpDocumentKind::PurchaseOrder => "purchase_order",
            ErpDocumentKind::SalesOrder => "sales_order",
            ErpDocumentKind::None => "none",
        }
    }
}

/// Alumio in front of Odoo: the HTTP proxies IRP calls instead of Odoo, and the header Alumio
/// checks.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct AlumioConfig {
    /// The proxy forwarding to Odoo's `/jsonrpc` (protocol `jsonrpc`).
    pub proxy: Option<String>,
    /// Protocol `json2`: the proxy for each `model/method` IRP calls (`purchase.order/create` …).
    pub proxies: BTreeMap<String, String>,
    /// The header Alumio's proxy matcher checks. Default: `Authorization`.
    pub auth_header: String,
    /// Its value; best a `${secret:…}` reference.
    pub auth_value: String,
}

impl std::fmt::Debug for AlumioConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlumioConfig")
            .field("proxy", &self.proxy)
            .field("proxies", &self.proxies)
            .field("auth_header", &self.auth_header)
            .field("auth_value", &"********")
            .finish()
    }
}

/// Which document each refurbisher's supplier orders become.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErpDocuments {
    /// For a drop-ship refurbisher with an order connector. Default: `purchase_order`.
    pub drop_ship: ErpDocumentKind,
    /// For an internal refurbisher (`"order": {}`). Default: `sales_order`.
    pub internal: ErpDocumentKind,
    /// Per refurbisher key, overriding the two above.
    pub refurbishers: BTreeMap<String, ErpDocumentKind>,
}

impl ErpDocuments {
    /// The document for a refurbisher.
    pub fn for_refurbisher(&self, key: &str, internal: bool) -> ErpDocumentKind {
        match self.refurbishers.get(key) {
            Some(k) => *k,
            None if internal => self.internal,
            None => self.drop_ship,
        }
    }
}

/// The ERP connector (seed 003: Odoo, "kept in sync via Alumio"): canonical form of an ERP
/// document's `erp` object. `Debug` hides the credentials.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct ErpConfig {
    /// `odoo`.
    pub system: String,
    /// `jsonrpc` or `json2`.
    pub protocol: OdooProtocol,
    /// Alumio's base URL (with `alumio`), else Odoo's.
    pub url: String,
    /// Alumio in front of Odoo, when there is one.
    pub alumio: Option<AlumioConfig>,
    /// Odoo's database.
    pub database: String,
    /// The Odoo user (JSON-RPC's `authenticate`).
    pub login: String,
    /// The user's API key (or password); best a `${secret:…}` reference.
    pub api_key: String,
    /// Which document each refurbisher gets.
    pub documents: ErpDocuments,
    /// Confirm the document after creating it (`button_confirm` / `action_confirm`). Default: true.
    pub confirm: bool,
    /// What the reference on each Odoo document starts with, before the supplier order id.
    /// Unique per installation writing into one Odoo (staging and production). Default:
    /// `IRP-SO-`.
    pub reference_prefix: String,
    /// Attempts before a document is `failed` (an operator can retry). Default: 10.
    pub max_attempts: i64,
    /// Seconds a request may take. Default: 30.
    pub timeout_secs: i64,
    /// Whether `serve` records documents. Default: true.
    pub enabled: bool,
}

impl std::fmt::Debug for ErpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ErpConfig")
            .field("system", &self.system)
            .field("protocol", &self.protocol)
            .field("url", &self.url)
            .field("alumio", &self.alumio)
            .field("database", &self.database)
            .field("login", &self.login)
            .field("api_key", &"********")
            .field("documents", &self.documents)
            .field("confirm", &self.confirm)
            .field("reference_prefix", &self.reference_prefix)
            .field("max_attempts", &self.max_attempts)
            .field("timeout_secs", &self.timeout_secs)
            .field("enabled", &self.enabled)
            .finish()
    }
}
