//! Test support: a fake Odoo 17 ERP on a loopback port, with Alumio's HTTP proxies in front of
//! it, speaking the part of Odoo's external API IRP uses and enforcing what
//! `contracts/EXTERNAL-APIS.md` §3 says the real ones enforce, so a test fails when IRP sends
//! what Odoo or Alumio would reject:
//!
//! - `POST /jsonrpc` (legacy JSON-RPC, `Content-Type: application/json`): the envelope
//!   `{"jsonrpc": "2.0", "method": "call", "params": {"service", "method", "args"}, "id"}`; the
//!   answer is always HTTP 200 with `{"jsonrpc", "id", "result"}` or Odoo's error envelope
//!   `{"code": 200, "message": "Odoo Server Error", "data": {"name", "debug", "message",
//!   "arguments", "context"}}` (a malformed envelope is `werkzeug.exceptions.BadRequest`).
//!   Services: `common.version`, `common.authenticate(db, login, key, {})` (the uid, or `false`),
//!   `common.login`, `db.list`, `db.server_version`, `object.execute_kw(db, uid, key, model,
//!   method, args[, kwargs])` and `object.execute`: database, uid and key checked on every call
//!   (`odoo.exceptions.AccessDenied` "Access Denied"; an unknown database is
//!   `psycopg2.OperationalError`).
//! - `POST /json/2/<model>/<method>` (JSON-2): `Authorization: bearer <api key>` (any case)
//!   else 401 `werkzeug.exceptions.Unauthorized` "Invalid apikey"; `X-Odoo-Database`, when sent,
//!   must name the database (else 404); the body holds the named arguments plus `ids` and
//!   `context`. Errors are `{name, message, arguments, context, debug}` with Odoo 19's statuses:
//!   unknown model or method 404, arguments that do not bind (unknown, missing, `ids` on a model
//!   method) 422, `ValidationError`/`UserError` 422, `AccessError` 403, `MissingError` 404, and
//!   plain Python errors (`ValueError`: an invalid field) **500**, as `Json2Dispatcher` answers.
//! - `POST /api/v1/http-proxy/{identifier}` (Alumio): an unknown identifier is 404
//!   `{"message": "HTTP proxy not found"}`; the caller must send the configured header and
//!   token (else 401 `{"message": "Unauthorized"}`); the request (method, body, headers minus
//!   Alumio's, plus the proxy's injected ones) goes to the proxy's Odoo path and Odoo's status,
//!   headers and body come back unchanged.
//!
//! Models: `res.country` (NL, BE, DE, FR, GB, LU, AT preloaded), `res.partner`,
//! `product.product`, `purchase.order` (+ `.line`) and `sale.order` (+ `.line`), with `create`
//! (one dict → an id, a list → ids; JSON-2 always a list), `search`, `search_read`, `read`,
//! `search_count`, `purchase.order.button_confirm` and `sale.order.action_confirm`; anything
//! else is `AttributeError` (JSON-2: 404). Arguments bind as Python's would (positional and
//! keyword over JSON-RPC, named over JSON-2). Every value is checked against its field:
//! unknown fields (in values, `fields`, domains or `order`) are `ValueError` "Invalid field
//! 'x' on model 'm'"; a value of the wrong type, a Many2one to a missing record or a missing
//! required field is a `ValidationError` naming the field. One2many lines take only the create
//! command `[0, 0, {values}]` (stricter than Odoo, which takes all seven), and quantities must
//! be above 0 (stricter too). Order and line names are assigned (`P00001`, `S00001`, the
//! product's display name), line prices default to the product's cost or sales price, and each
//! call is one transaction: when it fails, nothing of it is written.
//! `purchase.order.button_confirm` turns a draft into `purchase` and, as Odoo's does, silently
//! skips orders that are no longer drafts (a retried confirm is harmless);
//! `sale.order.action_confirm` turns a draft into `sale`, reserves stock (`free_qty` goes down)
//! and refuses orders that are not drafts (`UserError`, as Odoo's).
//! Domains: `[field, op, value]` terms with `=`, `!=`, `in`, `not in`, `like`, `ilike`,
//! `not like`, `not ilike`, `=like`, `=ilike`, `<`, `>`, `<=`, `>=`, dotted paths through
//! relations, and the prefix operators `&`, `|`, `!`; Many2one terms compare ids, or display
//! names when given text. `offset`, `limit` and `order` are honoured, and each model has
//! Odoo's default order (purchase orders newest first).
//!
//! Many2one values read back as `[id, "display name"]` or `false`, One2many as lists of ids,
//! empty text as `false`. Tests can fail the next requests at the HTTP level
//! ([`FakeOdoo::fail_next`], as a gateway would) or the next model calls with an Odoo error
//! ([`FakeOdoo::fail_next_rpc`]), read every record stored and every request received.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test support: a panic is how a test fails

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::Response;
use chrono::Utc;
use serde_json::{Map, Value, json};

/// The uid of the user the API key belongs to (Odoo's administrator).
pub const UID: i64 = 2;
const SERVER_VERSION: &str = "17.0";

/// How a fake Odoo (and the Alumio in front of it) is set up.
#[derive(Debug, Clone)]
pub struct FakeOdooConfig {
    /// The database (`db` of JSON-RPC calls; `X-Odoo-Database` of JSON-2 calls).
    pub database: String,
    /// The API user's login.
    pub login: String,
    /// The API user's key: the password of JSON-RPC calls, the bearer token of JSON-2 calls.
    pub api_key: String,
    /// The header Alumio's proxies check on their callers.
    pub alumio_header: String,
    /// The value that header must have.
    pub alumio_token: String,
}

impl Default for FakeOdooConfig {
    fn default() -> Self {
        FakeOdooConfig {
            database: "iused".into(),
            login: "irp@iused.nl".into(),
            api_key: "odoo-api-key-0123456789".into(),
            alumio_header: "Authorization".into(),
            alumio_token: "Bearer alumio-token-0123456789".into(),
        }
    }
}

/// One request the fake got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeOdooRequest {
    /// The path requested (no query): `/jsonrpc`, `/json/2/<model>/<method>`, or an Alumio
    /// proxy's `/api/v1/http-proxy/<identifier>` (then model and method are the forwarded call's).
    pub path: String,
    /// The HTTP status answered (JSON-RPC answers its errors with 200).
    pub status: u16,
    /// The model called, when the request named one.
    pub model: Option<String>,
    /// The method called: the model's (`create`), or the JSON-RPC service's (`authenticate`).
    pub method: Option<String>,
}

#[derive(Debug, Clone)]
struct Proxy {
    target: String,
    inject: Vec<(String, String)>,
}

type Record = Map<String, Value>;

#[derive(Default)]
struct Data {
    tables: BTreeMap<&'static str, BTreeMap<i64, Record>>,
    next_id: HashMap<&'static str, i64>,
    sequences: HashMap<&'static str, u64>,
    proxies: HashMap<String, Proxy>,
    requests: Vec<FakeOdooRequest>,
    fail: VecDeque<u16>,
    fail_rpc: VecDeque<String>,
}

#[derive(Clone)]
struct Served {
    data: Arc<Mutex<Data>>,
    cfg: Arc<FakeOdooConfig>,
}

/// A running fake Odoo (with its Alumio); stops when dropped.
pub struct FakeOdoo {
    /// The base URL (`http://127.0.0.1:<port>`, no trailing slash): Odoo's routes and Alumio's
    /// `/api/v1/http-proxy/…` are both under it.
    pub url: String,
    data: Arc<Mutex<Data>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for FakeOdoo {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl FakeOdoo {
    /// Start an Odoo on a free loopback port.
    pub async fn start(cfg: FakeOdooConfig) -> FakeOdoo {
        HeaderName::try_from(cfg.alumio_header.as_str())
            .unwrap_or_else(|_| panic!("alumio_header {:?} is no header name", cfg.alumio_header));
        let mut data = Data::default();
        for m in MODELS {
            data.tables.insert(m.name, BTreeMap::new());
            data.next_id.insert(m.name, m.first_id);
        }
        for (id, code, name) in COUNTRIES {
            let rec = full_record(model("res.country").unwrap(), *id, {
                let mut r = Record::new();
                r.insert("name".into(), json!(name));
                r.insert("code".into(), json!(code));
                r
            });
            data.tables.get_mut("res.country").unwrap().insert(*id, rec);
        }
        let data = Arc::new(Mutex::new(data));
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(Served {
                data: data.clone(),
                cfg: Arc::new(cfg),
            });
        // Its own thread and runtime: a test may block its own runtime while IRP talks to it.
        let (port, stop) = crate::serve_on_own_thread("fake-odoo", app);
        FakeOdoo {
            url: format!("http://127.0.0.1:{port}"),
            data,
            stop: Some(stop),
        }
    }

    /// Configure an Alumio HTTP proxy `identifier` forwarding to `target_path` of this Odoo
    /// (`"/jsonrpc"`, `"/json/2/purchase.order/create"`, …), injecting the `inject` headers
    /// (say `("Authorization", "bearer <odoo key>")`, as Alumio's HTTP client would) after
    /// removing the caller's Alumio header. Replaces a proxy of the same identifier.
    pub fn add_proxy(&self, identifier: &str, target_path: &str, inject: &[(&str, &str)]) {
        for (k, v) in inject {
            HeaderName::try_from(*k).unwrap_or_else(|_| panic!("{k:?} is no header name"));
            HeaderValue::try_from(*v).unwrap_or_else(|_| panic!("{v:?} is no header value"));
        }
        assert!(
            target_path.starts_with('/'),
            "a proxy's target is a path of this Odoo, starting with /"
        );
        self.data.lock().unwrap().proxies.insert(
            identifier.to_owned(),
            Proxy {
                target: target_path.to_owned(),
                inject: inject
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            },
        );
    }

    /// Add a contact (`res.partner`), as a user of Odoo would. Returns its id.
    pub fn add_partner(&self, name: &str, email: Option<&str>) -> i64 {
        let mut d = self.data.lock().unwrap();
        let vals = json!({"name": name, "email": email});
        create_one(&mut d, model("res.partner").unwrap(), &vals, None)
            .unwrap_or_else(|f| panic!("adding partner {name}: {}", f.message))
    }

    /// Add a contact with a given id (a vendor whose id the refurbisher documents name, like
    /// FlexIT's `odoo_vendor_id` 21469).
    pub fn add_partner_with_id(&self, id: i64, name: &str) -> i64 {
        let mut d = self.data.lock().unwrap();
        let made = create_one(
            &mut d,
            model("res.partner").unwrap(),
            &json!({"name": name}),
            None,
        )
        .unwrap_or_else(|f| panic!("adding partner {name}: {}", f.message));
        let table = d.tables.get_mut("res.partner").unwrap();
        assert!(!table.contains_key(&id), "partner {id} exists already");
        let mut record = table.remove(&made).unwrap();
        record.insert("id".into(), json!(id));
        table.insert(id, record);
        id
    }

    /// Create a record as an Odoo user (or another IRP instance) would, with `create`'s checks.
    /// Returns its id.
    pub fn create_record(&self, model_name: &str, vals: Value) -> i64 {
        let mut d = self.data.lock().unwrap();
        let m =
            model(model_name).unwrap_or_else(|| panic!("the fake Odoo has no model {model_name}"));
        create_one(&mut d, m, &vals, None)
            .unwrap_or_else(|f| panic!("creating a {model_name}: {}", f.message))
    }

    /// Add a storable product (`product.product`) with `qty_available` on hand, all of it free
    /// (`free_qty`, `virtual_available`), cost and sales price 0.0. An empty `barcode` is none;
    /// one already assigned panics, as Odoo refuses it. Returns its id.
    pub fn add_product(
        &self,
        default_code: &str,
        barcode: &str,
        name: &str,
        qty_available: f64,
    ) -> i64 {
        let mut d = self.data.lock().unwrap();
        let vals = json!({"name": name, "default_code": default_code,
            "barcode": if barcode.is_empty() { json!(false) } else { json!(barcode) },
            "type": "product"});
        let id = create_one(&mut d, model("product.product").unwrap(), &vals, None)
            .unwrap_or_else(|f| panic!("adding product {default_code}: {}", f.message));
        let p = d
            .tables
            .get_mut("product.product")
            .unwrap()
            .get_mut(&id)
            .unwrap();
        for f in ["qty_available", "free_qty", "virtual_available"] {
            p.insert(f.into(), json!(qty_available));
        }
        id
    }

    /// Every record of `model` as stored, by id: Many2one fields as an id or `false`, One2many
    /// fields (`order_line`) as the list of line records.
    pub fn records(&self, model_name: &str) -> Vec<Value> {
        let d = self.data.lock().unwrap();
        let m =
            model(model_name).unwrap_or_else(|| panic!("the fake Odoo has no model {model_name}"));
        d.tables[m.name]
            .values()
            .map(|r| {
                let mut r = r.clone();
                for f in m.fields {
                    if let Kind::One2many(lines) = f.kind {
                        let expanded: Vec<Value> = ids_of(&r[f.name])
                            .iter()
                            .filter_map(|id| d.tables[lines].get(id))
                            .map(|l| Value::Object(l.clone()))
                            .collect();
                        r.insert(f.name.into(), Value::Array(expanded));
                    }
                }
                Value::Object(r)
            })
            .collect()
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<FakeOdooRequest> {
        self.data.lock().unwrap().requests.clone()
    }

    /// Forget the requests so far.
    pub fn clear_requests(&self) {
        self.data.lock().unwrap().requests.clear();
    }

    /// Answer the next `n` requests (whatever their route) with HTTP `status` and an HTML page,
    /// as a gateway in front of Odoo would (429 with `Retry-After: 1`); `n` 0 stops failing.
    pub fn fail_next(&self, status: u16, n: usize) {
        let mut d = self.data.lock().unwrap();
        d.fail.clear();
        d.fail.extend(std::iter::repeat_n(status, n));
    }

    /// Answer the next `n` model calls (JSON-RPC `execute_kw`/`execute` or JSON-2, once
    /// authenticated and resolved) with Odoo's `ValidationError` carrying `message`; nothing of
    /// them is written. `n` 0 stops failing.
    pub fn fail_next_rpc(&self, message: &str, n: usize) {
        let mut d = self.data.lock().unwrap();
        d.fail_rpc.clear();
        d.fail_rpc
            .extend(std::iter::repeat_n(message.to_owned(), n));
    }
}

// ---------------------------------------------------------------------------------------------
// The models

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Id,
    Char,
    Int,
    Float,
    Datetime,
    Selection(&'static [&'static str]),
    Many2one(&'static str),
    One2many(&'static str),
}

struct Field {
    name: &'static str,
    label: &'static str,
    kind: Kind,
    required: bool,
    /// Computed, or set by the model: ignored in `create`'s values, as Odoo ignores them.
    readonly: bool,
}

const fn field(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        name,
        label,
        kind,
        required: false,
        readonly: false,
    }
}

const fn required(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        required: true,
        ..field(name, label, kind)
    }
}

const fn computed(name: &'static str, label: &'static str, kind: Kind) -> Field {
    Field {
        readonly: true,
        ..field(name, label, kind)
    }
}

struct Model {
    name: &'static str,
    description: &'static str,
    /// Odoo's `_order`.
    order: &'static str,
    first_id: i64,
    fields: &'static [Field],
}

impl Model {
    fn field(&self, name: &str) -> Option<&'static Field> {
        // `self` is one of `MODELS`, so its fields are 'static.
        let fields: &'static [Field] = self.fields;
        fields.iter().find(|f| f.name == name)
    }
}

const PO_STATES: &[&str] = &["draft", "sent", "to approve", "purchase", "done", "cancel"];
const SO_STATES: &[&str] = &["draft", "sent", "sale", "cancel"];
const PRODUCT_TYPES: &[&str] = &["consu", "service", "product"];

static MODELS: &[Model] = &[
    Model {
        name: "res.country",
        description: "Country",
        order: "name",
        first_id: 300,
        fields: &[
            computed("id", "ID", Kind::Id),
            required("name", "Country Name", Kind::Char),
            field("code", "Country Code", Kind::Char),
            computed("display_name", "Display Name", Kind::Char),
        ],
    },
    Model {
        name: "res.partner",
        description: "Contact",
        order: "name, id desc",
        first_id: 7,
        fields: &[
            computed("id", "ID", Kind::Id),
            required("name", "Name", Kind::Char),
            computed("display_name", "Display Name", Kind::Char),
            field("email", "Email", Kind::Char),
            field("street", "Street", Kind::Char),
            field("zip", "Zip", Kind::Char),
            field("city", "City", Kind::Char),
            field("country_id", "Country", Kind::Many2one("res.country")),
            field("ref", "Reference", Kind::Char),
            field("supplier_rank", "Supplier Rank", Kind::Int),
            field("customer_rank", "Customer Rank", Kind::Int),
        ],
    },
    Model {
        name: "product.product",
        description: "Product Variant",
        order: "default_code, name, id",
        first_id: 41,
        fields: &[
            computed("id", "ID", Kind::Id),
            required("name", "Name", Kind::Char),
            computed("display_name", "Display Name", Kind::Char),
            field("default_code", "Internal Reference", Kind::Char),
            field("barcode", "Barcode", Kind::Char),
            field("type", "Product Type", Kind::Selection(PRODUCT_TYPES)),
            field("list_price", "Sales Price", Kind::Float),
            field("standard_price", "Cost", Kind::Float),
            computed("qty_available", "Quantity On Hand", Kind::Float),
            computed("free_qty", "Free To Use Quantity", Kind::Float),
            computed("virtual_available", "Forecasted Quantity", Kind::Float),
        ],
    },
    Model {
        name: "purchase.order",
        description: "Purchase Order",
        order: "id desc",
        first_id: 1,
        fields: &[
            computed("id", "ID", Kind::Id),
            field("name", "Order Reference", Kind::Char),
            computed("display_name", "Display Name", Kind::Char),
            required("partner_id", "Vendor", Kind::Many2one("res.partner")),
            field("partner_ref", "Vendor Reference", Kind::Char),
            field("origin", "Source Document", Kind::Char),
            field("state", "Status", Kind::Selection(PO_STATES)),
            field("date_order", "Order Deadline", Kind::Datetime),
            computed("date_approve", "Confirmation Date", Kind::Datetime),
            field(
                "order_line",
                "Order Lines",
                Kind::One2many("purchase.order.line"),
            ),
        ],
    },
    Model {
        name: "purchase.order.line",
        description: "Purchase Order Line",
        order: "order_id, id",
        first_id: 101,
        fields: &[
            computed("id", "ID", Kind::Id),
            computed("display_name", "Display Name", Kind::Char),
            required(
                "order_id",
                "Order Reference",
                Kind::Many2one("purchase.order"),
            ),
            required("product_id", "Product", Kind::Many2one("product.product")),
            field("name", "Description", Kind::Char),
            required("product_qty", "Quantity", Kind::Float),
            field("price_unit", "Unit Price", Kind::Float),
        ],
    },
    Model {
        name: "sale.order",
        description: "Sales Order",
        order: "date_order desc, id desc",
        first_id: 1,
        fields: &[
            computed("id", "ID", Kind::Id),
            field("name", "Order Reference", Kind::Char),
            computed("display_name", "Display Name", Kind::Char),
            required("partner_id", "Customer", Kind::Many2one("res.partner")),
            field("client_order_ref", "Customer Reference", Kind::Char),
            field("origin", "Source Document", Kind::Char),
            field("state", "Status", Kind::Selection(SO_STATES)),
            field("date_order", "Order Date", Kind::Datetime),
            field(
                "order_line",
                "Order Lines",
                Kind::One2many("sale.order.line"),
            ),
        ],
    },
    Model {
        name: "sale.order.line",
        description: "Sales Order Line",
        order: "order_id, id",
        first_id: 201,
        fields: &[
            computed("id", "ID", Kind::Id),
            computed("display_name", "Display Name", Kind::Char),
            required("order_id", "Order Reference", Kind::Many2one("sale.order")),
            required("product_id", "Product", Kind::Many2one("product.product")),
            field("name", "Description", Kind::Char),
            required("product_uom_qty", "Quantity", Kind::Float),
            field("price_unit", "Unit Price", Kind::Float),
        ],
    },
];

/// `(id, ISO code, name)` of the preloaded countries.
const COUNTRIES: &[(i64, &str, &str)] = &[
    (13, "AT", "Austria"),
    (21, "BE", "Belgium"),
    (57, "DE", "Germany"),
    (75, "FR", "France"),
    (133, "LU", "Luxembourg"),
    (165, "NL", "Netherlands"),
    (233, "GB", "United Kingdom"),
];

fn model(name: &str) -> Option<&'static Model> {
    MODELS.iter().find(|m| m.name == name)
}

fn now() -> String {
    Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
}

fn ids_of(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn is_unset(v: &Value) -> bool {
    matches!(v, Value::Null | Value::Bool(false))
}

fn default_value(f: &Field) -> Value {
    match f.kind {
        Kind::Int => json!(0),
        Kind::Float => json!(0.0),
        Kind::Selection(options) => json!(options[0]),
        Kind::One2many(_) => json!([]),
        Kind::Id | Kind::Char | Kind::Datetime | Kind::Many2one(_) => json!(false),
    }
}

/// A record with every stored field, in the model's order, from the values `given`.
fn full_record(m: &Model, id: i64, mut given: Record) -> Record {
    let mut r = Record::new();
    for f in m.fields {
        match (f.kind, f.name) {
            (_, "display_name") => {}
            (Kind::Id, _) => {
                r.insert(f.name.into(), json!(id));
            }
            _ => {
                let v = given.remove(f.name).unwrap_or_else(|| default_value(f));
                r.insert(f.name.into(), v);
            }
        }
    }
    r
}

fn display_name(d: &Data, model_name: &str, id: i64) -> String {
    let Some(r) = d.tables.get(model_name).and_then(|t| t.get(&id)) else {
        return String::new();
    };
    let text = |k: &str| {
        r.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match model_name {
        "product.product" => match r.get("default_code").and_then(Value::as_str) {
            Some(code) if !code.is_empty() => format!("[{code}] {}", text("name")),
            _ => text("name"),
        },
        "purchase.order.line" | "sale.order.line" => {
            let order_model = if model_name == "sale.order.line" {
                "sale.order"
            } else {
                "purchase.order"
            };
            let order = r
                .get("order_id")
                .and_then(Value::as_i64)
                .map(|o| display_name(d, order_model, o))
                .unwrap_or_default();
            format!("{order} - {}", text("name"))
        }
        _ => text("name"),
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// An exception as Odoo serializes it, with the HTTP status JSON-2 answers it with.
#[derive(Debug)]
struct Fault {
    name: &'static str,
    message: String,
    arguments: Value,
    status: StatusCode,
    debug: bool,
}

impl Fault {
    fn new(name: &'static str, status: StatusCode, message: String) -> Self {
        Fault {
            name,
            arguments: json!([message]),
            message,
            status,
            debug: true,
        }
    }
    fn validation(message: String) -> Self {
        Self::new(
            "odoo.exceptions.ValidationError",
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
        )
    }
    fn user(message: String) -> Self {
        Self::new(
            "odoo.exceptions.UserError",
            StatusCode::UNPROCESSABLE_ENTITY,
            message,
        )
    }
    fn missing(model: &str, id: i64) -> Self {
        Self::new(
            "odoo.exceptions.MissingError",
            StatusCode::NOT_FOUND,
            format!(
                "Record does not exist or has been deleted.\n(Record: {model}({id},), User: {UID})"
            ),
        )
    }
    fn value(message: String) -> Self {
        Self::new(
            "builtins.ValueError",
            StatusCode::INTERNAL_SERVER_ERROR,
            message,
        )
    }
    fn type_error(message: String) -> Self {
        Self::new(
            "builtins.TypeError",
            StatusCode::INTERNAL_SERVER_ERROR,
            message,
        )
    }
    fn invalid_field(name: &str, model: &str) -> Self {
        Self::value(format!("Invalid field '{name}' on model '{model}'"))
    }
    /// A werkzeug HTTP exception: `arguments` is `[description, code]`, no traceback.
    fn http(name: &'static str, status: StatusCode, description: &str) -> Self {
        Fault {
            name,
            message: description.to_owned(),
            arguments: json!([description, status.as_u16()]),
            status,
            debug: false,
        }
    }

    fn debug(&self) -> String {
        if self.debug {
            format!(
                "Traceback (most recent call last):\n  File \"/usr/lib/python3/dist-packages/odoo/http.py\", line 1767, in _serve_db\n    return service_model.retrying(self._serve_ir_http, self.env)\n{}: {}\n",
                self.name, self.message
            )
        } else {
            String::new()
        }
    }

    /// JSON-RPC's `error` member.
    fn rpc(&self) -> Value {
        json!({"code": 200, "message": "Odoo Server Error", "data": {"name": self.name,
            "debug": self.debug(), "message": self.message, "arguments": self.arguments, "context": {}}})
    }

    /// JSON-2's error body.
    fn json2(&self) -> Answer {
        let mut a = Answer::json(
            self.status,
            &json!({"name": self.name, "message": self.message, "arguments": self.arguments,
                "context": {}, "debug": self.debug()}),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            a.headers.push(("www-authenticate".into(), "Bearer".into()));
        }
        a
    }
}

// ---------------------------------------------------------------------------------------------
// Routing

struct Answer {
    status: StatusCode,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn json(status: StatusCode, body: &Value) -> Self {
        Answer {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            body: body.to_string().into_bytes(),
        }
    }

    fn html(status: StatusCode, title: &str, text: &str) -> Self {
        Answer {
            status,
            headers: vec![("content-type".into(), "text/html; charset=utf-8".into())],
            body: format!(
                "<!doctype html>\n<html lang=en>\n<title>{title}</title>\n<h1>{title}</h1>\n<p>{text}</p>\n"
            )
            .into_bytes(),
        }
    }
}

/// A page as a gateway in front of Odoo answers a failure.
fn injected(status: u16) -> Answer {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let mut a = Answer {
        status,
        headers: vec![("content-type".into(), "text/html".into())],
        body: format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        .into_bytes(),
    };
    if status == StatusCode::TOO_MANY_REQUESTS {
        a.headers.push(("retry-after".into(), "1".into()));
    }
    a
}

const PROXY_PREFIX: &str = "/api/v1/http-proxy/";

async fn handle(
    State(s): State<Served>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let answer = {
        let mut d = s.data.lock().unwrap();
        let target = path
            .strip_prefix(PROXY_PREFIX)
            .and_then(|id| d.proxies.get(id))
            .map_or_else(|| path.clone(), |p| p.target.clone());
        let (called_model, called_method) = describe(&target, &body);
        let answer = match d.fail.pop_front() {
            Some(status) => injected(status),
            None => match path.strip_prefix(PROXY_PREFIX) {
                Some(identifier) => alumio(&mut d, &s.cfg, &method, identifier, &headers, &body),
                None => odoo(&mut d, &s.cfg, &method, &path, &headers, &body),
            },
        };
        d.requests.push(FakeOdooRequest {
            path,
            status: answer.status.as_u16(),
            model: called_model,
            method: called_method,
        });
        answer
    };
    let mut resp = Response::builder().status(answer.status);
    for (k, v) in &answer.headers {
        resp = resp.header(k.as_str(), v.as_str());
    }
    resp.body(Body::from(answer.body)).unwrap()
}

/// The model and method a request names, as far as it can be read.
fn describe(path: &str, body: &[u8]) -> (Option<String>, Option<String>) {
    if let Some(rest) = path.strip_prefix("/json/2/") {
        let mut parts = rest.splitn(2, '/');
        return (
            parts.next().map(str::to_owned),
            parts.next().map(str::to_owned),
        );
    }
    if path != "/jsonrpc" {
        return (None, None);
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let params = &v["params"];
    let method = params["method"].as_str();
    match method {
        Some("execute_kw" | "execute") => (
            params["args"][3].as_str().map(str::to_owned),
            params["args"][4].as_str().map(str::to_owned),
        ),
        other => (None, other.map(str::to_owned)),
    }
}

fn alumio(
    d: &mut Data,
    cfg: &FakeOdooConfig,
    method: &Method,
    identifier: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let Some(proxy) = d.proxies.get(identifier).cloned() else {
        return Answer::json(
            StatusCode::NOT_FOUND,
            &json!({"message": "HTTP proxy not found"}),
        );
    };
    let caller = headers
        .get(cfg.alumio_header.as_str())
        .and_then(|v| v.to_str().ok());
    if caller != Some(cfg.alumio_token.as_str()) {
        return Answer::json(
            StatusCode::UNAUTHORIZED,
            &json!({"message": "Unauthorized"}),
        );
    }
    let mut forwarded = headers.clone();
    forwarded.remove(cfg.alumio_header.as_str());
    forwarded.remove("host");
    forwarded.remove("content-length");
    for (k, v) in &proxy.inject {
        forwarded.insert(
            HeaderName::try_from(k.as_str()).unwrap(),
            HeaderValue::try_from(v.as_str()).unwrap(),
        );
    }
    odoo(d, cfg, method, &proxy.target, &forwarded, body)
}

fn odoo(
    d: &mut Data,
    cfg: &FakeOdooConfig,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    if path == "/jsonrpc" {
        if method != Method::POST {
            return Answer::html(
                StatusCode::METHOD_NOT_ALLOWED,
                "405 Method Not Allowed",
                "The method is not allowed for the requested URL.",
            );
        }
        return jsonrpc(d, cfg, headers, body);
    }
    if path == "/json/2" || path.starts_with("/json/2/") {
        return json2(d, cfg, method, path, headers, body);
    }
    Answer::html(
        StatusCode::NOT_FOUND,
        "404 Not Found",
        "The requested URL was not found on the server. (The fake Odoo serves /jsonrpc, /json/2/<model>/<method> and Alumio's /api/v1/http-proxy/<identifier>.)",
    )
}

fn mimetype(headers: &HeaderMap) -> String {
    headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase()
}

// ---------------------------------------------------------------------------------------------
// JSON-RPC

fn bad_request(description: &str) -> Fault {
    Fault {
        name: "werkzeug.exceptions.BadRequest",
        message: format!("400 Bad Request: {description}"),
        arguments: json!([]),
        status: StatusCode::BAD_REQUEST,
        debug: true,
    }
}

fn jsonrpc(d: &mut Data, cfg: &FakeOdooConfig, headers: &HeaderMap, body: &[u8]) -> Answer {
    let mime = mimetype(headers);
    if mime != "application/json" && mime != "application/json-rpc" {
        return Answer::html(
            StatusCode::BAD_REQUEST,
            "400 Bad Request",
            "Request inferred type is compatible with ['http'] but 'json' was forced by route /jsonrpc. (Send Content-Type: application/json.)",
        );
    }
    let reply = |id: Value, r: Result<Value, Fault>| match r {
        Ok(result) => Answer::json(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": id, "result": result}),
        ),
        Err(f) => Answer::json(
            StatusCode::OK,
            &json!({"jsonrpc": "2.0", "id": id, "error": f.rpc()}),
        ),
    };
    let Ok(req) = serde_json::from_slice::<Value>(body) else {
        return reply(Value::Null, Err(bad_request("Invalid JSON data")));
    };
    let Some(envelope) = req.as_object() else {
        return reply(Value::Null, Err(bad_request("Invalid JSON-RPC data")));
    };
    let id = envelope.get("id").cloned().unwrap_or(Value::Null);
    if envelope.get("jsonrpc") != Some(&json!("2.0"))
        || envelope.get("method") != Some(&json!("call"))
    {
        return reply(
            id,
            Err(bad_request(
                "Invalid JSON-RPC data: \"jsonrpc\" must be \"2.0\" and \"method\" \"call\"",
            )),
        );
    }
    let Some(params) = envelope.get("params").and_then(Value::as_object) else {
        return reply(
            id,
            Err(bad_request(
                "Invalid JSON-RPC data: \"params\" must be an object",
            )),
        );
    };
    for k in params.keys() {
        if !["service", "method", "args"].contains(&k.as_str()) {
            return reply(
                id,
                Err(Fault::type_error(format!(
                    "RPC.jsonrpc() got an unexpected keyword argument '{k}'"
                ))),
            );
        }
    }
    for k in ["service", "method", "args"] {
        if !params.contains_key(k) {
            return reply(
                id,
                Err(Fault::type_error(format!(
                    "RPC.jsonrpc() missing 1 required positional argument: '{k}'"
                ))),
            );
        }
    }
    let (Some(service), Some(method), Some(args)) = (
        params["service"].as_str(),
        params["method"].as_str(),
        params["args"].as_array(),
    ) else {
        return reply(
            id,
            Err(bad_request(
                "Invalid JSON-RPC data: \"service\" and \"method\" must be strings, \"args\" a list",
            )),
        );
    };
    let r = dispatch_rpc(d, cfg, service, method, args);
    reply(id, r)
}

fn arity(function: &str, args: &[Value], names: &[&str], required: usize) -> Result<(), Fault> {
    if args.len() > names.len() {
        return Err(Fault::type_error(format!(
            "{function}() takes {} positional arguments but {} were given",
            names.len(),
            args.len()
        )));
    }
    if args.len() < required {
        let missing = &names[args.len()..required];
        let quoted: Vec<String> = missing.iter().map(|n| format!("'{n}'")).collect();
        return Err(Fault::type_error(format!(
            "{function}() missing {} required positional argument{}: {}",
            missing.len(),
            if missing.len() == 1 { "" } else { "s" },
            quoted.join(" and ")
        )));
    }
    Ok(())
}

fn dispatch_rpc(
    d: &mut Data,
    cfg: &FakeOdooConfig,
    service: &str,
    method: &str,
    args: &[Value],
) -> Result<Value, Fault> {
    let key_error = |k: String| Fault::new("builtins.KeyError", StatusCode::OK, format!("'{k}'"));
    match (service, method) {
        ("common", "version") => {
            arity("exp_version", args, &[], 0)?;
            Ok(json!({"server_version": SERVER_VERSION,
                "server_version_info": [17, 0, 0, "final", 0, ""],
                "server_serie": SERVER_VERSION, "protocol_version": 1}))
        }
        ("common", "authenticate" | "login") => {
            if method == "authenticate" {
                arity(
                    "exp_authenticate",
                    args,
                    &["db", "login", "password", "user_agent_env"],
                    4,
                )?;
                if !matches!(args[3], Value::Object(_) | Value::Null | Value::Bool(false)) {
                    return Err(Fault::new(
                        "builtins.AttributeError",
                        StatusCode::OK,
                        format!("'{}' object has no attribute 'get'", python_type(&args[3])),
                    ));
                }
            } else {
                arity("exp_login", args, &["db", "login", "password"], 3)?;
            }
            let good = args[0].as_str() == Some(cfg.database.as_str())
                && args[1].as_str() == Some(cfg.login.as_str())
                && args[2].as_str() == Some(cfg.api_key.as_str());
            Ok(if good { json!(UID) } else { json!(false) })
        }
        ("common", other) => Err(key_error(format!("exp_{other}"))),
        ("db", "list") => Ok(json!([cfg.database])),
        ("db", "server_version") => Ok(json!(SERVER_VERSION)),
        ("db", other) => Err(key_error(format!("exp_{other}"))),
        ("object", "execute_kw" | "execute") => {
            let kw = method == "execute_kw";
            if kw {
                arity(
                    "execute_kw",
                    args,
                    &["db", "uid", "passwd", "obj", "method", "args", "kw"],
                    6,
                )?;
            } else if args.len() < 5 {
                arity(
                    "execute",
                    args,
                    &["db", "uid", "passwd", "obj", "method"],
                    5,
                )?;
            }
            check_credentials(cfg, &args[0], &args[1], &args[2])?;
            let Some(model_name) = args[3].as_str() else {
                return Err(Fault::type_error(format!(
                    "the model name must be a string, got {}",
                    args[3]
                )));
            };
            let Some(method_name) = args[4].as_str() else {
                return Err(Fault::type_error(format!(
                    "the method name must be a string, got {}",
                    args[4]
                )));
            };
            let (positional, kwargs) = if kw {
                let Some(positional) = args[5].as_array() else {
                    return Err(Fault::type_error(format!(
                        "execute_kw()'s args must be a list, got {}",
                        python_type(&args[5])
                    )));
                };
                let kwargs = match args.get(6) {
                    None | Some(Value::Null) => Map::new(),
                    Some(Value::Object(m)) => m.clone(),
                    Some(other) => {
                        return Err(Fault::type_error(format!(
                            "execute_kw()'s kw must be a dict, got {}",
                            python_type(other)
                        )));
                    }
                };
                (positional.clone(), kwargs)
            } else {
                (args[5..].to_vec(), Map::new())
            };
            call_model(d, model_name, method_name, Call::Rpc(positional, kwargs))
        }
        ("object", other) => Err(Fault::new(
            "builtins.NameError",
            StatusCode::OK,
            format!("Method not available {other}"),
        )),
        (other, _) => Err(key_error(other.to_owned())),
    }
}

fn python_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_i64() || n.is_u64() => "int",
        Value::Number(_) => "float",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

fn check_credentials(
    cfg: &FakeOdooConfig,
    db: &Value,
    uid: &Value,
    password: &Value,
) -> Result<(), Fault> {
    if db.as_str() != Some(cfg.database.as_str()) {
        let name = db.as_str().map_or_else(|| db.to_string(), str::to_owned);
        return Err(Fault::new(
            "psycopg2.OperationalError",
            StatusCode::OK,
            format!(
                "connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: FATAL:  database \"{name}\" does not exist\n"
            ),
        ));
    }
    // Odoo takes `int(uid)`: a numeric string passes, anything else is an error.
    let uid = match uid {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => match s.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                return Err(Fault::value(format!(
                    "invalid literal for int() with base 10: '{s}'"
                )));
            }
        },
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    };
    if uid != Some(UID) || password.as_str() != Some(cfg.api_key.as_str()) {
        let mut f = Fault::new(
            "odoo.exceptions.AccessDenied",
            StatusCode::FORBIDDEN,
            "Access Denied".into(),
        );
        f.debug = false;
        return Err(f);
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// JSON-2

fn json2(
    d: &mut Data,
    cfg: &FakeOdooConfig,
    method: &Method,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Answer {
    let segments: Vec<&str> = path
        .trim_start_matches("/json/2")
        .trim_start_matches('/')
        .split('/')
        .collect();
    let [model_name, method_name] = segments.as_slice() else {
        return Fault::http(
            "werkzeug.exceptions.NotFound",
            StatusCode::NOT_FOUND,
            "Did you mean POST /json/2/<model>/<method>?",
        )
        .json2();
    };
    if method != Method::POST || model_name.is_empty() || method_name.is_empty() {
        return Fault::http(
            "werkzeug.exceptions.NotFound",
            StatusCode::NOT_FOUND,
            "Did you mean POST /json/2/<model>/<method>?",
        )
        .json2();
    }
    if let Some(db) = headers.get("x-odoo-database")
        && db.to_str().ok() != Some(cfg.database.as_str())
    {
        return Fault::http(
            "werkzeug.exceptions.NotFound",
            StatusCode::NOT_FOUND,
            "The requested URL was not found on the server. If you entered the URL manually please check your spelling and try again.",
        )
        .json2();
    }
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|h| {
            let (scheme, rest) = h.split_once(char::is_whitespace)?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    if token != Some(cfg.api_key.as_str()) {
        return Fault::http(
            "werkzeug.exceptions.Unauthorized",
            StatusCode::UNAUTHORIZED,
            "Invalid apikey",
        )
        .json2();
    }
    let mut params = Map::new();
    if !body.is_empty() {
        if mimetype(headers) != "application/json" {
            return Fault::http(
                "werkzeug.exceptions.BadRequest",
                StatusCode::BAD_REQUEST,
                "Request inferred type is compatible with ['http'] but 'json2' was forced by route. (Send Content-Type: application/json.)",
            )
            .json2();
        }
        match serde_json::from_slice::<Value>(body) {
            // As Odoo's `jsonrequest | args`: a body that is no object passes nothing.
            Ok(Value::Object(m)) => params = m,
            Ok(_) => {}
            Err(e) => {
                return Fault::http(
                    "werkzeug.exceptions.BadRequest",
                    StatusCode::BAD_REQUEST,
                    &format!("could not parse the body as json: {e}"),
                )
                .json2();
            }
        }
    }
    let ids = params.remove("ids");
    params.remove("context");
    match call_model(d, model_name, method_name, Call::Json2(ids, params)) {
        Ok(v) => Answer::json(StatusCode::OK, &v),
        Err(f) => f.json2(),
    }
}

// ---------------------------------------------------------------------------------------------
// Calling a model method

/// How the arguments came: JSON-RPC's positional list and keywords, or JSON-2's `ids` and
/// named arguments.
enum Call {
    Rpc(Vec<Value>, Map<String, Value>),
    Json2(Option<Value>, Map<String, Value>),
}

/// A method's Python signature (after `self`).
struct Signature {
    params: &'static [&'static str],
    required: usize,
    keyword_only: &'static [&'static str],
    /// A method on records (`ids` first), not an `@api.model` one.
    on_records: bool,
}

fn signature(m: &Model, method: &str) -> Option<Signature> {
    let sig = |params, required, keyword_only, on_records| Signature {
        params,
        required,
        keyword_only,
        on_records,
    };
    Some(match method {
        "create" => sig(&["vals_list"], 1, &[], false),
        "search" => sig(&["domain", "offset", "limit", "order"], 1, &[], false),
        "search_count" => sig(&["domain", "limit"], 1, &[], false),
        "search_read" => sig(
            &["domain", "fields", "offset", "limit", "order"],
            0,
            &["load"],
            false,
        ),
        "read" => sig(&["fields", "load"], 0, &[], true),
        "button_confirm" if m.name == "purchase.order" => sig(&[], 0, &[], true),
        "action_confirm" if m.name == "sale.order" => sig(&[], 0, &[], true),
        _ => return None,
    })
}

fn parse_ids(v: &Value) -> Result<Vec<i64>, String> {
    match v {
        Value::Null | Value::Bool(false) => Ok(Vec::new()),
        Value::Number(n) => n.as_i64().map(|id| vec![id]).ok_or_else(|| n.to_string()),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_i64().ok_or_else(|| x.to_string()))
            .collect(),
        other => Err(other.to_string()),
    }
}

fn call_model(d: &mut Data, model_name: &str, method: &str, call: Call) -> Result<Value, Fault> {
    let json2 = matches!(call, Call::Json2(..));
    let not_found = |description: &str| {
        Fault::http(
            "werkzeug.exceptions.NotFound",
            StatusCode::NOT_FOUND,
            description,
        )
    };
    let unprocessable = |description: &str| {
        Fault::http(
            "werkzeug.exceptions.UnprocessableEntity",
            StatusCode::UNPROCESSABLE_ENTITY,
            description,
        )
    };
    let Some(m) = model(model_name) else {
        return Err(if json2 {
            not_found(&format!("the model '{model_name}' does not exist"))
        } else {
            Fault::user(format!("Object {model_name} doesn't exist"))
        });
    };
    if method.starts_with('_') {
        return Err(Fault::new(
            "odoo.exceptions.AccessError",
            StatusCode::FORBIDDEN,
            format!("Private methods (such as '{model_name}.{method}') cannot be called remotely."),
        ));
    }
    let Some(sig) = signature(m, method) else {
        let message = format!("The method '{method}' does not exist on the model '{model_name}'");
        return Err(if json2 {
            not_found(&message)
        } else {
            Fault::new("builtins.AttributeError", StatusCode::OK, message)
        });
    };
    let (ids, positional, kwargs) = match call {
        Call::Json2(ids, kwargs) => {
            let ids = match ids.as_ref().map(parse_ids).transpose() {
                Ok(ids) => ids.unwrap_or_default(),
                Err(bad) => {
                    return Err(unprocessable(&format!(
                        "ids must be a list of record ids, got {bad}"
                    )));
                }
            };
            if !sig.on_records && !ids.is_empty() {
                return Err(unprocessable(&format!(
                    "cannot call {model_name}.{method} with ids"
                )));
            }
            (ids, Vec::new(), kwargs)
        }
        Call::Rpc(mut positional, mut kwargs) => {
            kwargs.remove("context");
            let ids = if sig.on_records {
                if positional.is_empty() {
                    return Err(Fault::new(
                        "builtins.IndexError",
                        StatusCode::OK,
                        "list index out of range".into(),
                    ));
                }
                match parse_ids(&positional.remove(0)) {
                    Ok(ids) => ids,
                    Err(bad) => {
                        return Err(Fault::type_error(format!(
                            "the first argument of {model_name}.{method} must be ids, got {bad}"
                        )));
                    }
                }
            } else {
                Vec::new()
            };
            (ids, positional, kwargs)
        }
    };
    let args = bind(method, &sig, positional, kwargs, json2).map_err(|message| {
        if json2 {
            unprocessable(&message)
        } else {
            Fault::type_error(message)
        }
    })?;
    if let Some(message) = d.fail_rpc.pop_front() {
        return Err(Fault::validation(message));
    }
    // One transaction: a failed call writes nothing (id and name sequences move on, as
    // PostgreSQL's do).
    let before = d.tables.clone();
    let r = run(d, m, method, &ids, &args, json2);
    if r.is_err() {
        d.tables = before;
    }
    r
}

/// Bind the arguments as Python binds them to the method's signature.
fn bind(
    method: &str,
    sig: &Signature,
    positional: Vec<Value>,
    kwargs: Map<String, Value>,
    json2: bool,
) -> Result<Map<String, Value>, String> {
    let prefix = if json2 {
        String::new()
    } else {
        format!("{method}() ")
    };
    if positional.len() > sig.params.len() {
        return Err(format!(
            "{prefix}takes {} positional arguments but {} were given",
            sig.params.len() + 1,
            positional.len() + 1
        ));
    }
    let mut bound = Map::new();
    for (name, v) in sig.params.iter().zip(positional) {
        bound.insert((*name).to_owned(), v);
    }
    for (k, v) in kwargs {
        if !sig.params.contains(&k.as_str()) && !sig.keyword_only.contains(&k.as_str()) {
            return Err(format!("{prefix}got an unexpected keyword argument '{k}'"));
        }
        if bound.contains_key(&k) {
            return Err(format!("{prefix}got multiple values for argument '{k}'"));
        }
        bound.insert(k, v);
    }
    for name in &sig.params[..sig.required] {
        if !bound.contains_key(*name) {
            return Err(if json2 {
                format!("missing a required argument: '{name}'")
            } else {
                format!("{prefix}missing 1 required positional argument: '{name}'")
            });
        }
    }
    Ok(bound)
}

fn arg<'a>(args: &'a Map<String, Value>, name: &str) -> &'a Value {
    args.get(name).unwrap_or(&Value::Null)
}

fn run(
    d: &mut Data,
    m: &'static Model,
    method: &str,
    ids: &[i64],
    args: &Map<String, Value>,
    json2: bool,
) -> Result<Value, Fault> {
    match method {
        "create" => {
            let vals = arg(args, "vals_list");
            match vals {
                Value::Object(_) => {
                    let id = create_one(d, m, vals, None)?;
                    Ok(if json2 { json!([id]) } else { json!(id) })
                }
                Value::Array(list) => {
                    let mut ids = Vec::new();
                    for v in list {
                        ids.push(create_one(d, m, v, None)?);
                    }
                    Ok(json!(ids))
                }
                other => Err(Fault::type_error(format!(
                    "{}.create() takes a dict of values or a list of them, got {}",
                    m.name,
                    python_type(other)
                ))),
            }
        }
        "search" | "search_count" | "search_read" => {
            let terms = parse_domain(m, arg(args, "domain"))?;
            let offset = match arg(args, "offset") {
                Value::Null | Value::Bool(false) => 0,
                v => v
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .ok_or_else(|| Fault::value(format!("Invalid offset: {v}")))?,
            };
            let limit = match arg(args, "limit") {
                Value::Null | Value::Bool(false) => None,
                // As Odoo's `if limit:`, 0 is no limit.
                v => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
                    Some(0) => None,
                    Some(n) => Some(n),
                    None => return Err(Fault::value(format!("Invalid limit: {v}"))),
                },
            };
            let order = parse_order(m, arg(args, "order"))?;
            let fields = if method == "search_read" {
                Some(parse_fields(m, arg(args, "fields"))?)
            } else {
                None
            };
            let found = search(d, m, &terms, offset, limit, &order);
            Ok(match (method, fields) {
                ("search_count", _) => json!(found.len()),
                ("search_read", Some(fields)) => {
                    let load = !is_unset(arg(args, "load")) || !args.contains_key("load");
                    Value::Array(
                        found
                            .iter()
                            .map(|id| read_record(d, m, &d.tables[m.name][id], &fields, load))
                            .collect(),
                    )
                }
                _ => json!(found),
            })
        }
        "read" => {
            let fields = parse_fields(m, arg(args, "fields"))?;
            let load = !is_unset(arg(args, "load")) || !args.contains_key("load");
            let mut out = Vec::new();
            for id in ids {
                let Some(r) = d.tables[m.name].get(id) else {
                    return Err(Fault::missing(m.name, *id));
                };
                out.push(read_record(d, m, r, &fields, load));
            }
            Ok(Value::Array(out))
        }
        "button_confirm" => {
            for id in ids {
                if !d.tables[m.name].contains_key(id) {
                    return Err(Fault::missing(m.name, *id));
                }
            }
            for id in ids {
                let order = d.tables[m.name][id].clone();
                // As Odoo's: orders that are no longer drafts are skipped.
                if !matches!(order["state"].as_str(), Some("draft" | "sent")) {
                    continue;
                }
                let lines: Vec<(i64, f64)> = ids_of(&order["order_line"])
                    .iter()
                    .filter_map(|l| d.tables["purchase.order.line"].get(l))
                    .filter_map(|l| Some((l["product_id"].as_i64()?, l["product_qty"].as_f64()?)))
                    .collect();
                for (product, qty) in lines {
                    if let Some(p) = d
                        .tables
                        .get_mut("product.product")
                        .unwrap()
                        .get_mut(&product)
                    {
                        let forecast = p["virtual_available"].as_f64().unwrap_or(0.0) + qty;
                        p.insert("virtual_available".into(), json!(forecast));
                    }
                }
                let o = d.tables.get_mut(m.name).unwrap().get_mut(id).unwrap();
                o.insert("state".into(), json!("purchase"));
                o.insert("date_approve".into(), json!(now()));
            }
            Ok(json!(true))
        }
        "action_confirm" => {
            let mut refused = Vec::new();
            for id in ids {
                let Some(o) = d.tables[m.name].get(id) else {
                    return Err(Fault::missing(m.name, *id));
                };
                if !matches!(o["state"].as_str(), Some("draft" | "sent")) {
                    refused.push(display_name(d, m.name, *id));
                }
            }
            if !refused.is_empty() {
                return Err(Fault::user(format!(
                    "The following orders are not in a state requiring confirmation: {}",
                    refused.join(", ")
                )));
            }
            for id in ids {
                let lines: Vec<(i64, f64)> = ids_of(&d.tables[m.name][id]["order_line"])
                    .iter()
                    .filter_map(|l| d.tables["sale.order.line"].get(l))
                    .filter_map(|l| {
                        Some((l["product_id"].as_i64()?, l["product_uom_qty"].as_f64()?))
                    })
                    .collect();
                for (product, qty) in lines {
                    if let Some(p) = d
                        .tables
                        .get_mut("product.product")
                        .unwrap()
                        .get_mut(&product)
                    {
                        // Reserve what is free; the forecast takes the whole quantity.
                        let free = p["free_qty"].as_f64().unwrap_or(0.0);
                        p.insert("free_qty".into(), json!((free - qty).max(0.0)));
                        let forecast = p["virtual_available"].as_f64().unwrap_or(0.0) - qty;
                        p.insert("virtual_available".into(), json!(forecast));
                    }
                }
                let o = d.tables.get_mut(m.name).unwrap().get_mut(id).unwrap();
                o.insert("state".into(), json!("sale"));
                o.insert("date_order".into(), json!(now()));
            }
            Ok(json!(true))
        }
        other => Err(Fault::new(
            "builtins.AttributeError",
            StatusCode::NOT_FOUND,
            format!(
                "The method '{other}' does not exist on the model '{}'",
                m.name
            ),
        )),
    }
}

// ---------------------------------------------------------------------------------------------
// create

/// Check a value against its field; the value to store.
fn convert(d: &Data, m: &Model, f: &Field, v: &Value) -> Result<Value, Fault> {
    let wrong = |why: &str| {
        Fault::validation(format!(
            "Wrong value for {}.{}: {v} ({why})",
            m.name, f.name
        ))
    };
    Ok(match f.kind {
        Kind::Char => match v {
            Value::String(_) => v.clone(),
            Value::Null | Value::Bool(false) => json!(false),
            _ => return Err(wrong("expected a string")),
        },
        Kind::Int => match v {
            Value::Null | Value::Bool(false) => json!(0),
            Value::Number(n) => match n.as_i64() {
                Some(i) => json!(i),
                None => return Err(wrong("expected an integer")),
            },
            _ => return Err(wrong("expected an integer")),
        },
        Kind::Float => match v {
            Value::Null | Value::Bool(false) => json!(0.0),
            Value::Number(n) => json!(n.as_f64().unwrap_or(0.0)),
            _ => return Err(wrong("expected a number")),
        },
        Kind::Datetime => match v {
            Value::Null | Value::Bool(false) => json!(false),
            Value::String(s) => {
                if chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").is_ok() {
                    v.clone()
                } else if chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok() {
                    json!(format!("{s} 00:00:00"))
                } else {
                    return Err(wrong("expected \"YYYY-MM-DD HH:MM:SS\", in UTC"));
                }
            }
            _ => return Err(wrong("expected \"YYYY-MM-DD HH:MM:SS\", in UTC")),
        },
        Kind::Selection(options) => match v {
            Value::Null | Value::Bool(false) => json!(false),
            Value::String(s) if options.contains(&s.as_str()) => v.clone(),
            _ => return Err(wrong(&format!("expected one of {}", options.join(", ")))),
        },
        Kind::Many2one(target) => match v {
            Value::Null | Value::Bool(false) => json!(false),
            Value::Number(n) if n.as_i64().is_some() => {
                let id = n.as_i64().unwrap_or_default();
                if !d.tables[target].contains_key(&id) {
                    let table = m.name.replace('.', "_");
                    return Err(Fault::validation(format!(
                        "The operation cannot be completed: another model requires the record being deleted. If possible, archive it instead.\n\nModel: {} ({})\nConstraint: {table}_{}_fkey\n\n(No {target} record has id {id}: {}.{} must name an existing record.)",
                        m.description, m.name, f.name, m.name, f.name
                    )));
                }
                json!(id)
            }
            _ => return Err(wrong(&format!("expected the id of a {target} record"))),
        },
        Kind::Id | Kind::One2many(_) => Value::Null,
    })
}

/// Create one record from `vals` (lines through `[0, 0, {values}]` commands); its id.
fn create_one(
    d: &mut Data,
    m: &'static Model,
    vals: &Value,
    parent: Option<i64>,
) -> Result<i64, Fault> {
    let Some(obj) = vals.as_object() else {
        return Err(Fault::type_error(format!(
            "{}.create() takes dicts of values, got {}",
            m.name,
            python_type(vals)
        )));
    };
    let mut given = Record::new();
    let mut lines: Vec<(&'static Model, Value)> = Vec::new();
    for (k, v) in obj {
        let Some(f) = m.field(k) else {
            return Err(Fault::invalid_field(k, m.name));
        };
        if f.readonly {
            continue;
        }
        if let Kind::One2many(line_model) = f.kind {
            let lm = model(line_model).unwrap();
            let wrong = |why: &str| {
                Fault::validation(format!(
                    "Wrong value for {}.{}: {v} ({why})",
                    m.name, f.name
                ))
            };
            match v {
                Value::Null | Value::Bool(false) => {}
                Value::Array(commands) => {
                    for c in commands {
                        match c.as_array().map(Vec::as_slice) {
                            Some([code, _, values @ Value::Object(_)])
                                if code.as_i64() == Some(0) =>
                            {
                                lines.push((lm, values.clone()));
                            }
                            _ => {
                                return Err(wrong(
                                    "the fake takes only create commands [0, 0, {values}] for lines",
                                ));
                            }
                        }
                    }
                }
                _ => return Err(wrong("expected a list of commands [0, 0, {values}]")),
            }
            continue;
        }
        let stored = convert(d, m, f, v)?;
        given.insert(k.clone(), stored);
    }
    if let Some(order) = parent {
        given.insert("order_id".into(), json!(order));
    }
    for f in m.fields {
        if f.required && !f.readonly && given.get(f.name).is_none_or(is_unset) {
            return Err(Fault::validation(format!(
                "The operation cannot be completed:\n- Create/update: a mandatory field is not set.\n- Delete: another model requires the record being deleted. If possible, archive it instead.\n\nModel: {} ({})\nField: {} ({})\n",
                m.description, m.name, f.label, f.name
            )));
        }
    }
    // What the model fills in.
    match m.name {
        "purchase.order" | "sale.order" => {
            if given.get("name").is_none_or(|n| is_unset(n) || n == "New") {
                let n = d.sequences.entry(m.name).or_insert(0);
                *n += 1;
                let prefix = if m.name == "sale.order" { "S" } else { "P" };
                given.insert("name".into(), json!(format!("{prefix}{:05}", *n)));
            }
            if given.get("date_order").is_none_or(is_unset) {
                given.insert("date_order".into(), json!(now()));
            }
        }
        "purchase.order.line" | "sale.order.line" => {
            let (qty_field, price_field) = if m.name == "sale.order.line" {
                ("product_uom_qty", "list_price")
            } else {
                ("product_qty", "standard_price")
            };
            let qty = given[qty_field].as_f64().unwrap_or(0.0);
            if qty <= 0.0 {
                return Err(Fault::validation(format!(
                    "Wrong value for {}.{qty_field}: {qty} (the quantity must be greater than 0)",
                    m.name
                )));
            }
            let product = given["product_id"].as_i64().unwrap_or_default();
            let p = &d.tables["product.product"][&product];
            if !obj.contains_key("price_unit") {
                given.insert(
                    "price_unit".into(),
                    json!(p[price_field].as_f64().unwrap_or(0.0)),
                );
            }
            if given.get("name").is_none_or(is_unset) {
                given.insert(
                    "name".into(),
                    json!(display_name(d, "product.product", product)),
                );
            }
        }
        "product.product" => {
            if let Some(code) = given.get("barcode").and_then(Value::as_str)
                && let Some(other) = d.tables[m.name].values().find(|p| p["barcode"] == code)
            {
                return Err(Fault::validation(format!(
                    "Barcode(s) already assigned:\n\n- Barcode \"{code}\" already assigned to product(s): {}",
                    display_name(d, m.name, other["id"].as_i64().unwrap_or_default())
                )));
            }
        }
        _ => {}
    }
    let id = {
        let next = d.next_id.get_mut(m.name).unwrap();
        let id = *next;
        *next += 1;
        id
    };
    let rec = full_record(m, id, given);
    d.tables.get_mut(m.name).unwrap().insert(id, rec);
    if !lines.is_empty() {
        let mut line_ids = Vec::new();
        for (lm, values) in &lines {
            line_ids.push(create_one(d, lm, values, Some(id))?);
        }
        let rec = d.tables.get_mut(m.name).unwrap().get_mut(&id).unwrap();
        rec.insert("order_line".into(), json!(line_ids));
    }
    // A line created on its own joins its order's lines.
    if parent.is_none()
        && let Some(Kind::Many2one(order_model)) = m.field("order_id").map(|f| f.kind)
    {
        let order = d.tables[m.name][&id]["order_id"]
            .as_i64()
            .unwrap_or_default();
        if let Some(o) = d.tables.get_mut(order_model).unwrap().get_mut(&order) {
            let mut lines = ids_of(&o["order_line"]);
            lines.push(id);
            o.insert("order_line".into(), json!(lines));
        }
    }
    Ok(id)
}

// ---------------------------------------------------------------------------------------------
// read

fn parse_fields(m: &'static Model, v: &Value) -> Result<Vec<&'static Field>, Fault> {
    let all = || m.fields.iter().collect();
    match v {
        Value::Null | Value::Bool(false) => Ok(all()),
        Value::Array(a) if a.is_empty() => Ok(all()),
        Value::Array(a) => {
            let mut out: Vec<&'static Field> = Vec::new();
            for x in a {
                let Some(name) = x.as_str() else {
                    return Err(Fault::value(format!(
                        "Invalid field {x} on model '{}'",
                        m.name
                    )));
                };
                let Some(f) = m.field(name) else {
                    return Err(Fault::invalid_field(name, m.name));
                };
                if !out.iter().any(|o| o.name == f.name) {
                    out.push(f);
                }
            }
            Ok(out)
        }
        other => Err(Fault::type_error(format!(
            "fields must be a list of field names, got {}",
            python_type(other)
        ))),
    }
}

fn read_record(d: &Data, m: &Model, r: &Record, fields: &[&Field], load: bool) -> Value {
    let id = r["id"].as_i64().unwrap_or_default();
    let mut out = Map::new();
    out.insert("id".into(), json!(id));
    for f in fields {
        let v = match f.kind {
            Kind::Id => continue,
            _ if f.name == "display_name" => json!(display_name(d, m.name, id)),
            Kind::Many2one(target) => match r[f.name].as_i64() {
                Some(t) if load => json!([t, display_name(d, target, t)]),
                Some(t) => json!(t),
                None => json!(false),
            },
            _ => r.get(f.name).cloned().unwrap_or(Value::Bool(false)),
        };
        out.insert(f.name.into(), v);
    }
    Value::Object(out)
}

// ---------------------------------------------------------------------------------------------
// Domains and search

const OPERATORS: &[&str] = &[
    "=",
    "!=",
    "in",
    "not in",
    "like",
    "ilike",
    "not like",
    "not ilike",
    "=like",
    "=ilike",
    "<",
    ">",
    "<=",
    ">=",
];

enum Term<'a> {
    And,
    Or,
    Not,
    Const(bool),
    Leaf {
        path: Vec<&'a str>,
        op: &'a str,
        value: &'a Value,
    },
}

/// Check a dotted path through the models; its first unknown field is an error.
fn check_path(m: &Model, path: &[&str]) -> Result<(), Fault> {
    let Some(f) = m.field(path[0]) else {
        return Err(Fault::invalid_field(path[0], m.name));
    };
    if path.len() == 1 {
        return Ok(());
    }
    match f.kind {
        Kind::Many2one(t) | Kind::One2many(t) => check_path(model(t).unwrap(), &path[1..]),
        _ => Err(Fault::value(format!(
            "Invalid field '{}' on model '{}': {} is not a relation",
            path.join("."),
            m.name,
            f.name
        ))),
    }
}

fn parse_domain<'a>(m: &Model, domain: &'a Value) -> Result<Vec<Term<'a>>, Fault> {
    let items = match domain {
        Value::Null | Value::Bool(false) => return Ok(Vec::new()),
        Value::Array(a) => a,
        other => {
            return Err(Fault::value(format!(
                "Invalid domain {other}: a domain is a list of [field, operator, value] terms and operators"
            )));
        }
    };
    let mut terms = Vec::new();
    for item in items {
        let term = match item {
            Value::String(s) if s == "&" => Term::And,
            Value::String(s) if s == "|" => Term::Or,
            Value::String(s) if s == "!" => Term::Not,
            Value::Array(t) if t.len() == 3 => {
                let op = t[1].as_str().unwrap_or_default();
                if !OPERATORS.contains(&op) {
                    return Err(Fault::value(format!(
                        "Invalid leaf {item}: unknown operator"
                    )));
                }
                match &t[0] {
                    Value::String(field) => {
                        let path: Vec<&str> = field.split('.').collect();
                        check_path(m, &path)?;
                        Term::Leaf {
                            path,
                            op,
                            value: &t[2],
                        }
                    }
                    // Odoo's TRUE_LEAF (1, '=', 1) and FALSE_LEAF (0, '=', 1).
                    Value::Number(n) if op == "=" && t[2] == json!(1) => {
                        Term::Const(n.as_i64() == Some(1))
                    }
                    _ => return Err(Fault::value(format!("Invalid leaf {item}"))),
                }
            }
            _ => return Err(Fault::value(format!("Invalid leaf {item}"))),
        };
        terms.push(term);
    }
    let mut depth = 0usize;
    for t in terms.iter().rev() {
        match t {
            Term::And | Term::Or if depth >= 2 => depth -= 1,
            Term::Not if depth >= 1 => {}
            Term::And | Term::Or | Term::Not => {
                return Err(Fault::value(format!(
                    "Domain {domain} is syntactically not correct."
                )));
            }
            Term::Const(_) | Term::Leaf { .. } => depth += 1,
        }
    }
    Ok(terms)
}

fn matches_domain(d: &Data, m: &Model, r: &Record, terms: &[Term]) -> bool {
    let mut stack: Vec<bool> = Vec::new();
    for t in terms.iter().rev() {
        let v = match t {
            Term::And | Term::Or => {
                let a = stack.pop().unwrap_or(true);
                let b = stack.pop().unwrap_or(true);
                if matches!(t, Term::And) {
                    a && b
                } else {
                    a || b
                }
            }
            Term::Not => !stack.pop().unwrap_or(true),
            Term::Const(b) => *b,
            Term::Leaf { path, op, value } => leaf(d, m, r, path, op, value),
        };
        stack.push(v);
    }
    stack.into_iter().all(|x| x)
}

/// The positive operator and whether to negate it (`!=` is not `=`, NULLs included, as Odoo's).
fn positive(op: &str) -> (&str, bool) {
    match op {
        "!=" => ("=", true),
        "not in" => ("in", true),
        "not like" => ("like", true),
        "not ilike" => ("ilike", true),
        other => (other, false),
    }
}

fn is_text(v: &Value) -> bool {
    match v {
        Value::String(_) => true,
        Value::Array(a) => a.iter().any(Value::is_string),
        _ => false,
    }
}

fn leaf(d: &Data, m: &Model, r: &Record, path: &[&str], op: &str, value: &Value) -> bool {
    let Some(f) = m.field(path[0]) else {
        return false;
    };
    let (op, negate) = positive(op);
    let found = if path.len() > 1 {
        let (target, ids) = match f.kind {
            Kind::Many2one(t) => (t, r[f.name].as_i64().into_iter().collect()),
            Kind::One2many(t) => (t, ids_of(&r[f.name])),
            _ => return false,
        };
        let tm = model(target).unwrap();
        ids.iter()
            .filter_map(|id| d.tables[target].get(id))
            .any(|tr| leaf(d, tm, tr, &path[1..], op, value))
    } else {
        let id = r["id"].as_i64().unwrap_or_default();
        match f.kind {
            Kind::Many2one(target) => {
                let linked = r[f.name].as_i64();
                let text = op.contains("like") || is_text(value);
                let v = match linked {
                    None => Value::Null,
                    Some(t) if text => json!(display_name(d, target, t)),
                    Some(t) => json!(t),
                };
                simple(op, &v, value)
            }
            Kind::One2many(_) => {
                let ids = ids_of(&r[f.name]);
                match (op, value) {
                    ("=", v) if is_unset(v) => ids.is_empty(),
                    ("=" | "in", v) => {
                        let wanted = parse_ids(v).unwrap_or_default();
                        ids.iter().any(|x| wanted.contains(x))
                    }
                    _ => false,
                }
            }
            _ if f.name == "display_name" => simple(op, &json!(display_name(d, m.name, id)), value),
            _ => simple(op, r.get(f.name).unwrap_or(&Value::Null), value),
        }
    };
    found != negate
}

fn simple(op: &str, v: &Value, value: &Value) -> bool {
    match op {
        "=" => {
            if is_unset(value) {
                is_unset(v)
            } else {
                equal(v, value)
            }
        }
        "in" => {
            let wanted = match value {
                Value::Array(a) => a.clone(),
                other => vec![other.clone()],
            };
            wanted.iter().any(|w| {
                if is_unset(w) {
                    is_unset(v)
                } else {
                    equal(v, w)
                }
            })
        }
        "like" | "ilike" | "=like" | "=ilike" => {
            let (Some(s), Some(p)) = (v.as_str(), value.as_str()) else {
                return false;
            };
            let pattern = if op.starts_with('=') {
                p.to_owned()
            } else {
                format!("%{p}%")
            };
            like(&pattern, s, op.ends_with("ilike"))
        }
        "<" | ">" | "<=" | ">=" => {
            if is_unset(v) {
                return false;
            }
            compare(v, value).is_some_and(|c| match op {
                "<" => c.is_lt(),
                ">" => c.is_gt(),
                "<=" => c.is_le(),
                _ => c.is_ge(),
            })
        }
        _ => false,
    }
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    compare(a, b) == Some(std::cmp::Ordering::Equal)
}

/// SQL `LIKE`: `%` any run, `_` one character, `\` escapes.
fn like(pattern: &str, s: &str, insensitive: bool) -> bool {
    let fold = |x: &str| {
        if insensitive {
            x.to_lowercase()
        } else {
            x.to_owned()
        }
    };
    let p: Vec<char> = fold(pattern).chars().collect();
    let s: Vec<char> = fold(s).chars().collect();
    fn go(p: &[char], s: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| go(rest, &s[i..])),
            Some(('_', rest)) => !s.is_empty() && go(rest, &s[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                s.first() == Some(&rest[0]) && go(&rest[1..], &s[1..])
            }
            Some((c, rest)) => s.first() == Some(c) && go(rest, &s[1..]),
        }
    }
    go(&p, &s)
}

fn parse_order(m: &Model, v: &Value) -> Result<Vec<(&'static Field, bool)>, Fault> {
    let spec = match v {
        Value::Null | Value::Bool(false) => m.order,
        Value::String(s) if s.trim().is_empty() => m.order,
        Value::String(s) => s.as_str(),
        other => {
            return Err(Fault::value(format!(
                "Invalid \"order\" specified ({other}). A valid \"order\" specification is a comma-separated list of valid field names (optionally followed by asc/desc for the direction)"
            )));
        }
    };
    let invalid = || {
        Fault::value(format!(
            "Invalid \"order\" specified ({spec}). A valid \"order\" specification is a comma-separated list of valid field names (optionally followed by asc/desc for the direction)"
        ))
    };
    let mut out = Vec::new();
    for part in spec.split(',') {
        let words: Vec<&str> = part.split_whitespace().collect();
        let (name, desc) = match words.as_slice() {
            [name] => (*name, false),
            [name, dir] if dir.eq_ignore_ascii_case("asc") => (*name, false),
            [name, dir] if dir.eq_ignore_ascii_case("desc") => (*name, true),
            _ => return Err(invalid()),
        };
        let Some(f) = m.field(name) else {
            return Err(Fault::invalid_field(name, m.name));
        };
        if matches!(f.kind, Kind::One2many(_)) {
            return Err(invalid());
        }
        out.push((f, desc));
    }
    Ok(out)
}

fn sort_key(d: &Data, m: &Model, r: &Record, f: &Field) -> Value {
    let id = r["id"].as_i64().unwrap_or_default();
    match f.kind {
        _ if f.name == "display_name" => json!(display_name(d, m.name, id)),
        Kind::Many2one(target) => r[f.name]
            .as_i64()
            .map_or(Value::Null, |t| json!(display_name(d, target, t))),
        _ => match &r[f.name] {
            Value::Bool(false) if f.kind != Kind::Int && f.kind != Kind::Float => Value::Null,
            v => v.clone(),
        },
    }
}

fn search(
    d: &Data,
    m: &Model,
    terms: &[Term],
    offset: usize,
    limit: Option<usize>,
    order: &[(&Field, bool)],
) -> Vec<i64> {
    let table = &d.tables[m.name];
    let mut found: Vec<&Record> = table
        .values()
        .filter(|r| matches_domain(d, m, r, terms))
        .collect();
    found.sort_by(|a, b| {
        for (f, desc) in order {
            let (x, y) = (sort_key(d, m, a, f), sort_key(d, m, b, f));
            // PostgreSQL: NULLs last ascending, first descending.
            let c = match (x.is_null(), y.is_null()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                _ => compare(&x, &y).unwrap_or(std::cmp::Ordering::Equal),
            };
            let c = if *desc { c.reverse() } else { c };
            if c.is_ne() {
                return c;
            }
        }
        a["id"].as_i64().cmp(&b["id"].as_i64())
    });
    found
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .filter_map(|r| r["id"].as_i64())
        .collect()
}
