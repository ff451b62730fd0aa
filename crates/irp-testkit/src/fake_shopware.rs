//! Test support: a fake Shopware 6 shop on a loopback port, speaking the part of the Admin API
//! IRP uses, and enforcing what `contracts/EXTERNAL-APIS.md` §1 says the real one enforces, so a
//! test fails when IRP sends what Shopware would reject.
//!
//! Every request is first checked against Shopware's own published Admin API OpenAPI document
//! ([`crate::shopware_schema`], Shopware 6.7.10.1): the path, header and query parameters and the
//! JSON body of the operation it addresses; each `_action/sync` row against its entity's schema
//! (`product` → `Product`), as the DAL checks a write (fields the entity lacks and `readOnly`
//! fields refused, `required` only when the record is created, associations as records of their
//! own entity). What Shopware accepts beyond the document — the foreign-key resolvers, a sync
//! body keyed by operation — is let through only as [`SCHEMA_EXCEPTIONS`] lists it, each with
//! the Shopware code that accepts it. A violation is a 400 in Shopware's envelope naming the
//! JSON pointer and the schema's complaint (`docs/shopware-contract.md`). Then:
//!
//! - `POST /api/oauth/token`: client credentials only; a wrong key or secret is 401 with
//!   Shopware's envelope (code `4`); tokens live `token_ttl`; every other route wants
//!   `Authorization: Bearer …` and answers 401 (code `9`, "Access token is expired", …) otherwise.
//! - `POST /api/_action/sync`: operations as an object keyed by operation key or as an array;
//!   `entity`, `action` and `payload` checked (`FRAMEWORK__INVALID_SYNC_OPERATION`); upserts
//!   resolve the `product.number` resolver against what the shop has before anything is written
//!   (an unknown number is 400 `FRAMEWORK__API_INVALID_SYNC_RESOLVERS`, as `SyncFkResolver`
//!   answers); products need a known tax, a unique product number and a price in the default
//!   currency; every error carries its pointer `/<key>/<row>/<field>`; all or nothing — one bad
//!   row and nothing of the request is written (Shopware ≥ 6.5).
//! - `POST /api/search/{product,order,order-delivery}`: criteria `filter` (`equals`,
//!   `equalsAny`, `range`, `contains`, `prefix`, `suffix`, `multi`, `not`), `ids`, `sort`,
//!   `page`/`limit` (invalid ones are 400), `includes`, `associations` (an association not asked
//!   for is `null`), `total-count-mode`; `Accept: application/json` answers
//!   `{total, data, aggregations}`, anything else JSON:API (`data[].attributes`), as Shopware does.
//! - `PATCH /api/order-delivery/{id}` (the fake stores only `trackingCodes`): 204 with
//!   `Location`.
//! - `POST /api/_action/order/{id}/state/{transition}` and
//!   `…/order_delivery/{id}/state/{transition}`: Shopware's state machines; an illegal transition is
//!   400 `SYSTEM__ILLEGAL_STATE_TRANSITION` naming the possible ones.
//! - Orders placed with [`FakeShopware::place_order`] take stock as the storefront does, and
//!   [`FakeShopware::send_order_placed`] sends the `checkout.order.placed` app webhook signed
//!   with the shop secret (`shopware-shop-signature`).
//!
//! Tests can fail the next requests ([`FakeShopware::fail_next`]), expire every token, make the
//! shop refuse a product, and read every request it got.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test support: a panic is how a test fails

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use irp_core::shopware::DEFAULT_CURRENCY_ID;
use serde_json::{Map, Value, json};

use crate::shopware_schema::{AdminApi, Violation, Write, escape};

/// The tax id of the fake's standard rate (21 %): the one a created product may name.
pub const TAX_ID: &str = "a5da76b447db4d0aba62e6512dadf45b";
/// Shopware's live version id.
pub const LIVE_VERSION_ID: &str = "0fa91ce3e96a4bc2be4bd9ce752c3425";
/// The sales channel orders are placed in unless a test says otherwise.
pub const SALES_CHANNEL_ID: &str = "98432def39fc4624b33213a56b8c944d";
const TAX_IDS: &[&str] = &[TAX_ID, "792203a53e564e28bcb7ffa1867fb485"];

/// How a fake shop is set up: the integration's credentials, the app's shop secret and how
/// long a token lives.
#[derive(Debug, Clone)]
pub struct FakeShopwareConfig {
    /// The integration's access key id (`client_id`).
    pub client_id: String,
    /// The integration's secret access key (`client_secret`).
    pub client_secret: String,
    /// The shop secret webhooks are signed with.
    pub shop_secret: String,
    /// Token lifetime (`expires_in`).
    pub token_ttl: Duration,
}

impl Default for FakeShopwareConfig {
    fn default() -> Self {
        FakeShopwareConfig {
            client_id: "SWIAFAKEACCESSKEY0000000001".into(),
            client_secret: "fake-secret-access-key".into(),
            shop_secret: "fake-shop-secret-0123456789-0123456789-0123456789-0123456789".into(),
            token_ttl: Duration::from_secs(600),
        }
    }
}

/// An order a test places in the shop, as a customer would in the storefront.
#[derive(Debug, Clone)]
pub struct FakeOrder {
    /// The shop's order number.
    pub order_number: String,
    /// The customer's e-mail.
    pub email: String,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// Street and house number, in Shopware's one field ("Damrak 1A").
    pub street: String,
    /// Postal code.
    pub zipcode: String,
    /// City.
    pub city: String,
    /// ISO 3166-1 alpha-2.
    pub country_iso: String,
    /// Phone, when given.
    pub phone: Option<String>,
    /// `(product number, quantity, unit price incl. VAT)`.
    pub lines: Vec<(String, i64, f64)>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// The sales channel, else [`SALES_CHANNEL_ID`].
    pub sales_channel_id: Option<String>,
}

/// One request the fake got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRequest {
    /// HTTP method.
    pub method: String,
    /// Path (no query).
    pub path: String,
    /// The status answered.
    pub status: u16,
    /// Rows in the payloads of a `_action/sync` (0 for other requests).
    pub sync_rows: usize,
}

#[derive(Default)]
struct Data {
    /// While set, each `_action/sync` waits for a notification before it is answered.
    hold_syncs: Option<Arc<tokio::sync::Notify>>,
    tokens: HashMap<String, Instant>,
    products: BTreeMap<String, Value>,
    by_number: HashMap<String, String>,
    orders: BTreeMap<String, Value>,
    order_seq: Vec<String>,
    delivery_order: HashMap<String, String>,
    requests: Vec<FakeRequest>,
    fail: VecDeque<u16>,
    refused: HashSet<String>,
    last_sync_headers: BTreeMap<String, String>,
    seq: u64,
    salt: u64,
}

impl Data {
    fn id(&mut self) -> String {
        self.seq += 1;
        format!("{:016x}{:016x}", self.salt, self.seq)
    }
}

#[derive(Clone)]
struct Served {
    data: Arc<Mutex<Data>>,
    cfg: Arc<FakeShopwareConfig>,
}

/// A running fake shop; stops when dropped.
pub struct FakeShopware {
    /// The shop's base URL (`http://127.0.0.1:<port>`; the Admin API is under `/api`).
    pub url: String,
    cfg: Arc<FakeShopwareConfig>,
    data: Arc<Mutex<Data>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for FakeShopware {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl FakeShopware {
    /// Start a shop on a free loopback port. Panics when Shopware's Admin API document (the
    /// one every request is checked against, [`crate::shopware_schema`]) cannot be loaded,
    /// saying how to get it.
    pub async fn start(cfg: FakeShopwareConfig) -> Self {
        AdminApi::get();
        let salt = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| {
                u64::try_from(d.as_nanos() & 0xffff_ffff_ffff).unwrap_or(1)
            });
        let data = Arc::new(Mutex::new(Data {
            salt,
            ..Data::default()
        }));
        let cfg = Arc::new(cfg);
        let app = axum::Router::new()
            .fallback(handle)
            .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
            .with_state(Served {
                data: data.clone(),
                cfg: cfg.clone(),
            });
        // Its own thread and runtime: a test may block its own runtime while IRP talks to it.
        let (port, stop) = crate::serve_on_own_thread("fake-shopware", app);
        FakeShopware {
            url: format!("http://127.0.0.1:{port}"),
            cfg,
            data,
            stop: Some(stop),
        }
    }

    /// Add a product (as the shop's catalog manager would): product number, EAN (`""`: none),
    /// stock and gross price at 21 % VAT. Returns its id.
    pub fn add_product(&self, number: &str, ean: &str, stock: i64, gross: f64) -> String {
        let mut d = self.data.lock().unwrap();
        let id = d.id();
        let product = json!({
            "id": id, "versionId": LIVE_VERSION_ID, "parentId": null,
            "productNumber": number,
            "ean": if ean.is_empty() { Value::Null } else { json!(ean) },
            "name": format!("Product {number}"),
            "stock": stock, "availableStock": stock, "available": stock > 0,
            "active": true, "isCloseout": false, "taxId": TAX_ID,
            "manufacturerNumber": null,
            "price": [{"currencyId": DEFAULT_CURRENCY_ID, "gross": gross, "net": cents(gross / 1.21),
                "linked": true, "listPrice": null, "percentage": null, "regulationPrice": null, "extensions": []}],
            "purchasePrices": null,
            "customFields": {},
            "createdAt": Utc::now().to_rfc3339(), "updatedAt": null,
            "apiAlias": "product",
        });
        d.by_number.insert(number.to_owned(), id.clone());
        d.products.insert(id.clone(), product);
        id
    }

    /// The product with this product number, as stored.
    pub fn product(&self, number: &str) -> Option<Value> {
        let d = self.data.lock().unwrap();
        d.by_number
            .get(number)
            .and_then(|id| d.products.get(id))
            .cloned()
    }

    /// Make every write of the product with this number fail validation (400, with the row's
    /// pointer), as a product with a broken configuration does.
    pub fn refuse_product(&self, number: &str) {
        self.data.lock().unwrap().refused.insert(number.to_owned());
    }

    /// Place an order as the storefront's checkout does: one delivery (open), a billing and a
    /// shipping address, product line items (stock taken). Returns `(order id, delivery id)`.
    pub fn place_order(&self, o: &FakeOrder) -> (String, String) {
        let mut d = self.data.lock().unwrap();
        let order_id = d.id();
        let delivery_id = d.id();
        let billing_id = d.id();
        let shipping_id = d.id();
        let address = |id: &str| {
            json!({
                "id": id, "orderId": order_id, "countryId": country_id(&o.country_iso),
                "country": country(&o.country_iso),
                "firstName": o.first_name, "lastName": o.last_name, "company": null,
                "street": o.street, "zipcode": o.zipcode, "city": o.city,
                "phoneNumber": o.phone, "additionalAddressLine1": null, "additionalAddressLine2": null,
                "apiAlias": "order_address",
            })
        };
        let mut lines = Vec::new();
        let mut total = 0.0;
        for (position, (number, quantity, unit)) in o.lines.iter().enumerate() {
            let line_id = d.id();
            let product_id = d
                .by_number
                .get(number)
                .cloned()
                .unwrap_or_else(|| panic!("the fake shop has no product {number}"));
            if let Some(p) = d.products.get_mut(&product_id) {
                let stock = p["stock"].as_i64().unwrap_or(0) - quantity;
                p["stock"] = json!(stock);
                p["availableStock"] = json!(stock);
            }
            let line_total = cents(unit * f64::from(i32::try_from(*quantity).unwrap_or(0)));
            total += line_total;
            let tax = cents(line_total - line_total / 1.21);
            lines.push(json!({
                "id": line_id, "orderId": order_id, "productId": product_id,
                "referencedId": product_id, "identifier": product_id, "parentId": null,
                "type": "product", "label": format!("Product {number}"), "good": true,
                "quantity": quantity, "unitPrice": unit, "totalPrice": line_total,
                "position": position + 1,
                "price": {"unitPrice": unit, "quantity": quantity, "totalPrice": line_total,
                    "calculatedTaxes": [{"tax": tax, "taxRate": 21.0, "price": line_total, "apiAlias": "cart_tax_calculated"}],
                    "taxRules": [{"taxRate": 21.0, "percentage": 100.0, "apiAlias": "cart_tax_rule"}],
                    "referencePrice": null, "listPrice": null, "regulationPrice": null, "apiAlias": "calculated_price"},
                "payload": {"productNumber": number, "isCloseout": false, "customFields": {}, "options": [], "parentId": null},
                "product": null,
                "apiAlias": "order_line_item",
            }));
        }
        let placed = o
            .placed_at
            .format("%Y-%m-%dT%H:%M:%S%.3f+00:00")
            .to_string();
        let order = json!({
            "id": order_id, "versionId": LIVE_VERSION_ID, "orderNumber": o.order_number,
            "orderDateTime": placed, "orderDate": o.placed_at.format("%Y-%m-%d").to_string(),
            "stateId": "open", "stateMachineState": state("order.state", "open"),
            "currencyId": DEFAULT_CURRENCY_ID, "currencyFactor": 1.0,
            "currency": {"id": DEFAULT_CURRENCY_ID, "isoCode": "EUR", "symbol": "€", "apiAlias": "currency"},
            "salesChannelId": o.sales_channel_id.clone().unwrap_or_else(|| SALES_CHANNEL_ID.to_owned()),
            "amountTotal": cents(total), "amountNet": cents(total / 1.21), "positionPrice": cents(total),
            "shippingTotal": 0.0, "taxStatus": "gross",
            "billingAddressId": billing_id, "billingAddress": address(&billing_id),
            "addresses": [address(&billing_id), address(&shipping_id)],
            "orderCustomer": {"id": d.id(), "orderId": order_id, "email": o.email,
                "firstName": o.first_name, "lastName": o.last_name, "company": null,
                "customerNumber": "10000", "apiAlias": "order_customer"},
            "deliveries": [{"id": delivery_id, "orderId": order_id, "shippingOrderAddressId": shipping_id,
                "shippingOrderAddress": address(&shipping_id),
                "stateId": "open", "stateMachineState": state("order_delivery.state", "open"),
                "trackingCodes": [], "shippingDateEarliest": placed, "shippingDateLatest": placed,
                "shippingCosts": {"unitPrice": 0.0, "quantity": 1, "totalPrice": 0.0, "apiAlias": "calculated_price"},
                "customFields": null, "apiAlias": "order_delivery"}],
            "lineItems": lines,
            "customerComment": null, "customFields": null,
            "createdAt": Utc::now().to_rfc3339(),
            "apiAlias": "order",
        });
        d.delivery_order
            .insert(delivery_id.clone(), order_id.clone());
        d.order_seq.push(order_id.clone());
        d.orders.insert(order_id.clone(), order);
        (order_id, delivery_id)
    }

    /// The order with this id, as stored (line items without their product).
    pub fn order(&self, id: &str) -> Option<Value> {
        self.data.lock().unwrap().orders.get(id).cloned()
    }

    /// The order delivery with this id.
    pub fn delivery(&self, id: &str) -> Option<Value> {
        let d = self.data.lock().unwrap();
        let order = d.orders.get(d.delivery_order.get(id)?)?;
        order["deliveries"]
            .as_array()?
            .iter()
            .find(|x| x["id"] == id)
            .cloned()
    }

    /// Send the `checkout.order.placed` app webhook for order `order_id` to `url`, signed with
    /// the shop secret. Returns the status answered.
    pub async fn send_order_placed(&self, order_id: &str, url: &str) -> u16 {
        let secret = self.cfg.shop_secret.clone();
        self.send_webhook(order_id, url, &secret).await
    }

    /// The same webhook signed with another secret.
    pub async fn send_order_placed_badly_signed(&self, order_id: &str, url: &str) -> u16 {
        self.send_webhook(order_id, url, "not-the-shop-secret")
            .await
    }

    async fn send_webhook(&self, order_id: &str, url: &str, secret: &str) -> u16 {
        let body = {
            let mut d = self.data.lock().unwrap();
            let order = d.orders.get(order_id).cloned().unwrap();
            // The order as the event encodes it: loaded with the checkout's associations.
            let assoc = json!({"lineItems": {}, "deliveries": {"associations": {
                    "shippingOrderAddress": {"associations": {"country": {}}}, "stateMachineState": {}}},
                "addresses": {"associations": {"country": {}}}, "orderCustomer": {}, "stateMachineState": {}});
            let order = project(&order, assoc.as_object());
            let event_id = d.id();
            json!({"data": {"event": "checkout.order.placed", "payload": {"order": order}},
                "source": {"url": self.url, "shopId": "fAkEsHoP0001", "appVersion": "1.0.0", "eventId": event_id},
                "timestamp": Utc::now().timestamp()})
        };
        let bytes = serde_json::to_vec(&body).unwrap();
        let signature = irp_core::shopware::sign(&bytes, secret);
        let client = reqwest::Client::new();
        match client
            .post(url)
            .header("content-type", "application/json")
            .header("sw-version", "6.6.10.4")
            .header("sw-context-language", "2fbb5fe2e29a4d70aa5854ce7ce3e20b")
            .header("sw-user-language", "en-GB")
            .header("shopware-shop-signature", signature)
            .body(bytes)
            .timeout(Duration::from_secs(20))
            .send()
            .await
        {
            Ok(r) => r.status().as_u16(),
            Err(_) => 0,
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<FakeRequest> {
        self.data.lock().unwrap().requests.clone()
    }

    /// Forget the requests so far.
    pub fn clear_requests(&self) {
        self.data.lock().unwrap().requests.clear();
    }

    /// Answer the next `n` requests with `status` (429 with `Retry-After: 1`); `n` 0 stops
    /// failing.
    pub fn fail_next(&self, status: u16, n: usize) {
        let mut d = self.data.lock().unwrap();
        d.fail.clear();
        d.fail.extend(std::iter::repeat_n(status, n));
    }

    /// Hold every `_action/sync` until `release` is notified (one sync per `notify_one`);
    /// `None` answers them at once again.
    pub fn hold_syncs(&self, release: Option<Arc<tokio::sync::Notify>>) {
        self.data.lock().unwrap().hold_syncs = release;
    }

    /// Expire every token handed out.
    pub fn expire_tokens(&self) {
        let mut d = self.data.lock().unwrap();
        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        for t in d.tokens.values_mut() {
            *t = past;
        }
    }

    /// The headers of the last `_action/sync` request (names lower case; no `authorization`).
    pub fn last_sync_headers(&self) -> BTreeMap<String, String> {
        self.data.lock().unwrap().last_sync_headers.clone()
    }
}

fn cents(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn state(machine: &str, technical: &str) -> Value {
    json!({"id": format!("{:0>32}", technical.len()), "technicalName": technical, "name": technical,
        "stateMachineId": machine, "translated": {"name": technical}, "customFields": null,
        "extensions": [], "apiAlias": "state_machine_state"})
}

const COUNTRIES: &[(&str, &str, &str)] = &[
    ("NL", "NLD", "Netherlands"),
    ("BE", "BEL", "Belgium"),
    ("DE", "DEU", "Germany"),
    ("FR", "FRA", "France"),
    ("GB", "GBR", "United Kingdom"),
    ("LU", "LUX", "Luxembourg"),
    ("AT", "AUT", "Austria"),
];

fn country_id(iso: &str) -> String {
    let hex: String = iso.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{hex:0>32}")
}

fn country(iso: &str) -> Value {
    let (iso3, name) = COUNTRIES
        .iter()
        .find(|c| c.0 == iso)
        .map_or(("", iso), |c| (c.1, c.2));
    json!({"id": country_id(iso), "iso": iso, "iso3": iso3, "name": name, "active": true,
        "states": null, "translated": {"name": name}, "apiAlias": "country"})
}

// ---------------------------------------------------------------------------------------------
// Routing

struct Answer {
    status: StatusCode,
    body: Option<Value>,
    headers: Vec<(&'static str, String)>,
    content_type: &'static str,
}

impl Answer {
    fn json(status: StatusCode, body: Value) -> Self {
        Answer {
            status,
            body: Some(body),
            headers: Vec::new(),
            content_type: "application/json",
        }
    }
}

/// One error object of Shopware's envelope.
fn error(status: StatusCode, code: &str, detail: &str) -> Value {
    json!({"status": status.as_u16().to_string(), "code": code,
        "title": status.canonical_reason().unwrap_or(""), "detail": detail, "meta": {"parameters": {}}})
}

fn refuse(status: StatusCode, code: &str, detail: &str) -> Answer {
    Answer::json(status, json!({"errors": [error(status, code, detail)]}))
}

/// A write violation at `pointer` (`/<key>/<row>/<field>`), as Shopware expands them.
fn violation(pointer: &str, detail: &str, code: &str) -> Value {
    json!({"code": code, "status": "400", "detail": detail, "template": detail,
        "meta": {"parameters": {}}, "source": {"pointer": pointer}})
}

const NOT_BLANK: &str = "c1051bb4-d103-4f74-8988-acbcafc7fdc3";
const TYPE: &str = "ba785a8c-82cb-4283-967c-3cf342181b40";
/// Symfony's `Collection` constraint: a field that must be there is not.
const MISSING: &str = "2fa2158c-2a7f-484b-98aa-975522539ff8";
/// The code of a value Shopware's published Admin API document refuses where the fake does not
/// know the exact error Shopware answers (it answers with the constraint's own code).
pub const SCHEMA_VIOLATION: &str = "FAKE__ADMIN_API_SCHEMA_VIOLATION";

// ---------------------------------------------------------------------------------------------
// Shopware's published Admin API document (`crate::shopware_schema`)

/// What Shopware accepts at run time that its published Admin API document refuses, one kind
/// per entry of [`SCHEMA_EXCEPTIONS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Leniency {
    /// The `_action/sync` body as an object keyed by operation key.
    SyncKeyedOperations,
    /// A foreign-key resolver object in place of an id in a sync upsert.
    FkResolver,
    /// `total-count-mode` of search criteria as a number.
    TotalCountModeNumber,
    /// A record created without its `id`.
    GeneratedId,
    /// A write to a record that exists, without the entity's `required` fields.
    PartialUpdate,
}

/// One thing Shopware accepts that its published document does not model.
#[derive(Debug)]
pub struct SchemaException {
    /// Which one.
    pub leniency: Leniency,
    /// Where the fake lets it through.
    pub applies_to: &'static str,
    /// What Shopware accepts there.
    pub accepts: &'static str,
    /// The Shopware code that accepts it (github shopware/shopware, trunk of 2024-10-24, cfc087db).
    pub source: &'static str,
}

/// Everything the fake lets through that Shopware's published Admin API document
/// ([`crate::shopware_schema`]) refuses, each with the Shopware code that accepts it. The fake
/// applies these before it validates; every other part of every request must validate.
pub const SCHEMA_EXCEPTIONS: &[SchemaException] = &[
    SchemaException {
        leniency: Leniency::SyncKeyedOperations,
        applies_to: "POST /_action/sync: the request body",
        accepts: "an object keyed by operation key (the document says an array); each value is an \
            operation, its key the operation's key (an explicit `key` field wins)",
        source: "src/Core/Framework/Api/Controller/SyncController.php::sync \
            (`foreach ($payload as $key => $operation)`), src/Core/Framework/Api/Sync/SyncOperation.php::createFromArray",
    },
    SchemaException {
        leniency: Leniency::FkResolver,
        applies_to: "POST /_action/sync, upsert operations: the `id` and every foreign-key field \
            (`…Id`, not `…VersionId`) of a row and of its nested associations",
        accepts: "`{\"resolver\": \"product.number\", \"value\": …, \"nullOnMissing\": bool}` in place \
            of the id, resolved before the write (since 6.5.2.0; `product.number` is core's only resolver)",
        source: "src/Core/Framework/Api/Sync/SyncFkResolver.php::collect (IdField and FkField), \
            src/Core/Framework/Api/Sync/SyncService.php::loopOperations, \
            src/Core/Content/Product/Api/ProductNumberFkResolver.php",
    },
    SchemaException {
        leniency: Leniency::TotalCountModeNumber,
        applies_to: "POST /search/{entity}: `total-count-mode` of the criteria and of their associations",
        accepts: "a number (or numeric string) 0, 1 or 2 — none, exact, next-pages; out of range is \
            none — where the document says the strings none, exact, next-pages",
        source: "src/Core/Framework/DataAbstractionLayer/Search/RequestCriteriaBuilder.php::addTotalCountMode (`is_numeric`)",
    },
    SchemaException {
        leniency: Leniency::GeneratedId,
        applies_to: "a record created (sync upsert of an id the shop does not have, or of no id)",
        accepts: "no `id`, though the entity schema lists it in `required`: Shopware generates one",
        source: "src/Core/Framework/DataAbstractionLayer/FieldSerializer/IdFieldSerializer.php::normalize",
    },
    SchemaException {
        leniency: Leniency::PartialUpdate,
        applies_to: "a sync upsert of a record the shop has (or that an earlier row of the request \
            wrote), a sync delete, a nested association record, PATCH /order-delivery/{id}",
        accepts: "any subset of the fields: `required` is checked only when a record is created \
            (the PATCH body is `$ref: OrderDelivery`, which lists seven required fields)",
        source: "src/Core/Framework/DataAbstractionLayer/Write/WriteCommandExtractor.php::skipField \
            (`!$create || !$field->is(Required::class)`)",
    },
];

/// The entry of [`SCHEMA_EXCEPTIONS`] for `leniency`.
pub fn schema_exception(leniency: Leniency) -> &'static SchemaException {
    SCHEMA_EXCEPTIONS
        .iter()
        .find(|e| e.leniency == leniency)
        .unwrap_or_else(|| panic!("{leniency:?} is not in SCHEMA_EXCEPTIONS"))
}

/// The required fields Shopware fills itself when it creates a record ([`Leniency::GeneratedId`]).
fn create() -> Write<'static> {
    let _ = schema_exception(Leniency::GeneratedId);
    Write::Create { filled: &["id"] }
}

/// The document, or the 500 that says how to get it.
fn admin_api() -> Result<&'static AdminApi, Answer> {
    AdminApi::try_get().map_err(|why| {
        refuse(
            StatusCode::INTERNAL_SERVER_ERROR,
            "FAKE__NO_ADMIN_API_SCHEMA",
            why,
        )
    })
}

/// The error object for a complaint of the document about a request: `source` names where,
/// `code` and `lead` what Shopware would say.
fn schema_error(v: &Violation, source: Value, code: &str, lead: &str) -> Value {
    let detail = format!("{lead}: {} ({})", v.message, v.schema);
    json!({"code": code, "status": "400", "title": "Bad Request", "detail": detail, "template": detail,
        "meta": {"parameters": {"keyword": v.keyword, "schema": v.schema}}, "source": source})
}

/// The error object for a complaint about a record written to entity schema `entity`, at
/// `pointer`: with the code Shopware's DAL answers where it is known.
fn write_error(v: &Violation, pointer: &str, entity: &str) -> Value {
    let (code, lead) = match v.keyword.as_str() {
        "required" if v.schema == format!("#/components/schemas/{entity}/required") => {
            (NOT_BLANK, "This value should not be blank")
        }
        "required" => (MISSING, "This field is missing"),
        "readOnly" => (
            "FRAMEWORK__WRITE_PROTECTED_FIELD",
            "This field is write-protected",
        ),
        "properties" => (
            "FRAMEWORK__WRITE_UNEXPECTED_FIELD_ERROR",
            "Unexpected field",
        ),
        _ => (
            SCHEMA_VIOLATION,
            "Shopware's Admin API schema refuses this value",
        ),
    };
    schema_error(v, json!({"pointer": pointer}), code, lead)
}

/// `total-count-mode` as the document spells it ([`Leniency::TotalCountModeNumber`]), in the
/// criteria and their associations; the criteria only validated, never changed.
fn criteria_as_documented(criteria: &Value) -> Value {
    let mut c = criteria.clone();
    fn walk(c: &mut Value) {
        let Some(m) = c.as_object_mut() else {
            return;
        };
        let mode = match m.get("total-count-mode") {
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(Value::String(s)) if s.trim().parse::<f64>().is_ok() => Some(s.trim().to_owned()),
            _ => None,
        };
        if let Some(mode) = mode {
            let _ = schema_exception(Leniency::TotalCountModeNumber);
            let named = match mode.parse::<f64>().map(|f| f.trunc()) {
                Ok(1.0) => "exact",
                Ok(2.0) => "next-pages",
                _ => "none",
            };
            m.insert("total-count-mode".into(), json!(named));
        }
        if let Some(Value::Object(assoc)) = m.get_mut("associations") {
            assoc.values_mut().for_each(walk);
        }
    }
    walk(&mut c);
    c
}

/// A parameter's value as its schema types it (`"true"` for a boolean, `"3"` for an integer).
fn typed_parameter(api: &AdminApi, schema: &str, raw: &str) -> Value {
    let ty = api
        .at(schema)
        .and_then(|s| s.get("type"))
        .and_then(Value::as_str);
    match ty {
        Some("boolean" | "integer" | "number") => {
            serde_json::from_str(raw).unwrap_or_else(|_| json!(raw))
        }
        _ => json!(raw),
    }
}

/// Check a request against the operation it addresses in the document: its path, header and
/// query parameters and its JSON body (`_action/sync`'s body is [`sync`]'s, with its
/// exceptions). `path` is below `/api`. `None` when it passes or the document has no such
/// operation (the route answers that).
fn check_request(
    api: &AdminApi,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Value,
) -> Option<Answer> {
    let op = api.operation(method.as_str(), path)?;
    let mut errors = Vec::new();
    let lead = "Shopware's Admin API schema refuses this parameter";
    for (name, schema) in api.parameters(&op, "path") {
        if let Some((_, raw)) = op.params.iter().find(|(n, _)| *n == name) {
            for v in api.validate(&schema, &typed_parameter(api, &schema, raw)) {
                errors.push(schema_error(
                    &v,
                    json!({"parameter": name}),
                    SCHEMA_VIOLATION,
                    lead,
                ));
            }
        }
    }
    for (name, schema) in api.parameters(&op, "header") {
        if let Some(raw) = headers.get(&name).and_then(|v| v.to_str().ok()) {
            for v in api.validate(&schema, &typed_parameter(api, &schema, raw)) {
                errors.push(schema_error(
                    &v,
                    json!({"header": name}),
                    SCHEMA_VIOLATION,
                    lead,
                ));
            }
        }
    }
    let pairs: Vec<(&str, &str)> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    for (name, schema) in api.parameters(&op, "query") {
        for (_, raw) in pairs.iter().filter(|(n, _)| *n == name) {
            for v in api.validate(&schema, &typed_parameter(api, &schema, raw)) {
                errors.push(schema_error(
                    &v,
                    json!({"parameter": name}),
                    SCHEMA_VIOLATION,
                    lead,
                ));
            }
        }
    }
    if op.template != "/_action/sync"
        && let Some((schema, required)) = api.request_body(&op)
    {
        if body.is_null() {
            if required {
                errors.push(
                    json!({"code": SCHEMA_VIOLATION, "status": "400", "title": "Bad Request",
                    "detail": format!("{} {} needs a JSON body ({schema})", method, op.template),
                    "meta": {"parameters": {"keyword": "requestBody", "schema": schema}}}),
                );
            }
        } else if let Some(entity) = api
            .component_of(&schema)
            .filter(|c| api.entity_schema(&to_snake(c)).is_some())
        {
            // An entity written through its own route: one record, at `/0` as Shopware's
            // `ApiController` writes it.
            let mode = if method == Method::PATCH {
                let _ = schema_exception(Leniency::PartialUpdate);
                Write::Update
            } else {
                create()
            };
            for v in api.check_write(&entity, body, mode) {
                errors.push(write_error(&v, &format!("/0{}", v.pointer), &entity));
            }
        } else {
            let checked = if op.template.starts_with("/search/") {
                criteria_as_documented(body)
            } else {
                body.clone()
            };
            for v in api.validate(&schema, &checked) {
                errors.push(schema_error(
                    &v,
                    json!({"pointer": v.pointer}),
                    SCHEMA_VIOLATION,
                    "Shopware's Admin API schema refuses this value",
                ));
            }
        }
    }
    (!errors.is_empty()).then(|| Answer::json(StatusCode::BAD_REQUEST, json!({"errors": errors})))
}

/// `OrderDelivery` → `order_delivery`.
fn to_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A foreign-key resolver object (`{"resolver": …, "value": …}`, both set, as
/// `SyncFkResolver` requires).
fn is_resolver(v: &Value) -> bool {
    v.get("resolver").is_some_and(|r| !r.is_null()) && v.get("value").is_some_and(|x| !x.is_null())
}

/// Resolve the foreign-key resolvers of a sync upsert row of entity schema `schema` at `at`
/// ([`Leniency::FkResolver`]): at its id and foreign-key fields and in its nested associations,
/// against what the shop has (Shopware resolves every operation before it writes any). An
/// unknown resolver or an unresolvable value is Shopware's 400.
fn resolve_fks(
    d: &Data,
    api: &AdminApi,
    schema: &str,
    row: &mut Value,
    at: &str,
) -> Result<(), Answer> {
    let Some(m) = row.as_object_mut() else {
        return Ok(());
    };
    let mut dropped = Vec::new();
    for (field, value) in m.iter_mut() {
        let here = format!("{at}/{}", escape(field));
        if is_resolver(value) && api.is_id_field(schema, field) {
            let _ = schema_exception(Leniency::FkResolver);
            let resolver = value["resolver"].as_str().unwrap_or_default().to_owned();
            if resolver != "product.number" {
                return Err(refuse(
                    StatusCode::BAD_REQUEST,
                    "API_RESOLVER_NOT_FOUND_EXCEPTION",
                    &format!("Foreign key resolver for key {resolver} not found"),
                ));
            }
            let number = match &value["value"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            match d.by_number.get(&number) {
                Some(id) => *value = json!(id),
                None if value.get("nullOnMissing").and_then(Value::as_bool) == Some(true) => {
                    dropped.push(field.clone());
                }
                None => {
                    let entity = to_snake(schema);
                    let referenced = if field == "id" {
                        format!("{entity}.id")
                    } else {
                        format!("{entity}.{field}")
                    };
                    let mut a = refuse(
                        StatusCode::BAD_REQUEST,
                        "FRAMEWORK__API_INVALID_SYNC_RESOLVERS",
                        &format!(
                            "Can not resolve foreign key at position {here}. Reference field: {referenced}"
                        ),
                    );
                    if let Some(e) = a
                        .body
                        .as_mut()
                        .and_then(|b| b.pointer_mut("/errors/0/meta/parameters"))
                    {
                        *e = json!({"pointer-0": here, "field-0": referenced});
                    }
                    return Err(a);
                }
            }
        } else if let Some((target, many)) = api.association(schema, field) {
            match value {
                Value::Array(items) if many => {
                    for (i, item) in items.iter_mut().enumerate() {
                        resolve_fks(d, api, &target, item, &format!("{here}/{i}"))?;
                    }
                }
                Value::Object(_) if !many => resolve_fks(d, api, &target, value, &here)?,
                _ => {}
            }
        }
    }
    // `nullOnMissing`: Shopware writes null there (an `id` then is generated); the fake leaves
    // the field out, which is the same for an id and keeps a foreign key as it was.
    for field in dropped {
        m.remove(&field);
    }
    Ok(())
}

/// Whether the shop has the record `id` of `entity`: `None` for an entity the fake keeps none of.
fn stored(d: &Data, entity: &str, id: &str) -> Option<bool> {
    match entity {
        "product" => Some(d.products.contains_key(id)),
        "order" => Some(d.orders.contains_key(id)),
        "order_delivery" => Some(d.delivery_order.contains_key(id)),
        _ => None,
    }
}

async fn handle(
    State(s): State<Served>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let mut sync_rows = 0;
    let hold = s.data.lock().unwrap().hold_syncs.clone();
    if let Some(release) = hold
        && path == "/api/_action/sync"
    {
        release.notified().await;
    }
    let answer = {
        let mut d = s.data.lock().unwrap();
        if let Some(status) = d.fail.pop_front() {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut a = refuse(
                status,
                "FAKE__INJECTED_FAILURE",
                "a failure the test asked for",
            );
            if status == StatusCode::TOO_MANY_REQUESTS {
                a.headers.push(("retry-after", "1".into()));
            }
            a
        } else {
            route(
                &mut d,
                &s.cfg,
                &method,
                &uri,
                &headers,
                &body,
                &mut sync_rows,
            )
        }
    };
    {
        let mut d = s.data.lock().unwrap();
        d.requests.push(FakeRequest {
            method: method.to_string(),
            path,
            status: answer.status.as_u16(),
            sync_rows,
        });
    }
    let mut resp = match answer.body {
        Some(b) => (
            answer.status,
            [("content-type", answer.content_type)],
            b.to_string(),
        )
            .into_response(),
        None => answer.status.into_response(),
    };
    for (k, v) in answer.headers {
        if let Ok(v) = v.parse() {
            resp.headers_mut().insert(k, v);
        }
    }
    resp
}

fn route(
    d: &mut Data,
    cfg: &FakeShopwareConfig,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    sync_rows: &mut usize,
) -> Answer {
    let path = uri.path();
    if path == "/api/oauth/token" {
        return if method == Method::POST {
            token(d, cfg, body)
        } else {
            refuse(StatusCode::METHOD_NOT_ALLOWED, "0", "Method Not Allowed")
        };
    }
    if !path.starts_with("/api/") {
        return refuse(
            StatusCode::NOT_FOUND,
            "0",
            &format!("No route found for \"{method} {path}\""),
        );
    }
    if let Some(a) = authorize(d, headers) {
        return a;
    }
    let parsed = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "FRAMEWORK__INVALID_REQUEST_PARAMETER",
                    &format!("The JSON payload is malformed: {e}"),
                );
            }
        }
    };
    // Every request is checked against Shopware's published Admin API document first.
    let api = match admin_api() {
        Ok(api) => api,
        Err(a) => return a,
    };
    let below = path.trim_start_matches("/api");
    if let Some(a) = check_request(api, method, below, uri.query(), headers, &parsed) {
        return a;
    }
    let segments: Vec<&str> = path.trim_start_matches("/api/").split('/').collect();
    let json_accepted = headers
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/json"));
    match (method.clone(), segments.as_slice()) {
        (Method::POST, ["_action", "sync"]) => {
            d.last_sync_headers = headers
                .iter()
                .filter(|(k, _)| k.as_str() != "authorization")
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            sync(d, api, &parsed, sync_rows)
        }
        (Method::POST, ["search", entity]) => search(d, entity, &parsed, json_accepted),
        (Method::PATCH, ["order-delivery", id]) => patch_delivery(
            d,
            id,
            &parsed,
            uri.query().is_some_and(|q| q.contains("_response")),
        ),
        (
            Method::POST,
            [
                "_action",
                entity @ ("order" | "order_delivery"),
                id,
                "state",
                action,
            ],
        ) => transition(d, entity, id, action),
        _ => refuse(
            StatusCode::NOT_FOUND,
            "FRAMEWORK__ROUTE_NOT_FOUND",
            &format!("No route found for \"{method} {path}\" (the fake serves only what IRP uses)"),
        ),
    }
}

fn token(d: &mut Data, cfg: &FakeShopwareConfig, body: &[u8]) -> Answer {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    if v.get("grant_type").and_then(Value::as_str) != Some("client_credentials") {
        return refuse(
            StatusCode::BAD_REQUEST,
            "2",
            "The authorization grant type is not supported by the authorization server.",
        );
    }
    let id = v.get("client_id").and_then(Value::as_str);
    let secret = v.get("client_secret").and_then(Value::as_str);
    if id != Some(cfg.client_id.as_str()) || secret != Some(cfg.client_secret.as_str()) {
        let mut a = Answer::json(
            StatusCode::UNAUTHORIZED,
            json!({"errors": [{"code": "4", "status": "401", "title": "Client authentication failed", "detail": null}]}),
        );
        a.headers
            .push(("www-authenticate", "Bearer realm=\"OAuth\"".into()));
        return a;
    }
    let token = format!("fake-token-{}", d.id());
    d.tokens
        .insert(token.clone(), Instant::now() + cfg.token_ttl);
    Answer::json(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": cfg.token_ttl.as_secs(), "access_token": token}),
    )
}

fn authorize(d: &Data, headers: &HeaderMap) -> Option<Answer> {
    let denied = |detail: &str| {
        Some(Answer::json(
            StatusCode::UNAUTHORIZED,
            json!({"errors": [{"code": "9", "status": "401",
                "title": "The resource owner or authorization server denied the request.", "detail": detail}]}),
        ))
    };
    let Some(h) = headers.get("authorization").and_then(|v| v.to_str().ok()) else {
        return denied("Missing token in \"Authorization\" header");
    };
    let Some(token) = h.strip_prefix("Bearer ") else {
        return denied("Access token could not be verified");
    };
    match d.tokens.get(token.trim()) {
        None => denied("Access token is invalid"),
        Some(until) if Instant::now() >= *until => denied("Access token is expired"),
        Some(_) => None,
    }
}

// ---------------------------------------------------------------------------------------------
// _action/sync

fn sync(d: &mut Data, api: &AdminApi, payload: &Value, sync_rows: &mut usize) -> Answer {
    let ops: Vec<(String, &Value)> = match payload {
        Value::Object(m) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .map(|(i, v)| (i.to_string(), v))
            .collect(),
        _ => {
            return refuse(
                StatusCode::BAD_REQUEST,
                "FRAMEWORK__INVALID_SYNC_OPERATION",
                "The sync payload must be an object or an array of operations.",
            );
        }
    };
    // An operation's key: its `key` field, else its key in the object or index in the array.
    let keys: Vec<String> = ops
        .iter()
        .map(|(k, op)| {
            op.get("key")
                .and_then(Value::as_str)
                .unwrap_or(k)
                .to_owned()
        })
        .collect();
    // Check every envelope first.
    for ((_, op), key) in ops.iter().zip(&keys) {
        let invalid = |what: &str| {
            refuse(
                StatusCode::BAD_REQUEST,
                "FRAMEWORK__INVALID_SYNC_OPERATION",
                &format!("{what} for operation with key \"{key}\"."),
            )
        };
        if op
            .get("entity")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return invalid("Missing \"entity\" argument. It needs to be a non-empty string");
        }
        match op.get("action").and_then(Value::as_str) {
            Some("upsert" | "delete") => {}
            _ => return invalid("Missing or invalid \"action\" argument (upsert or delete)"),
        }
        let has_criteria = op.get("criteria").is_some_and(|c| !c.is_null());
        match op.get("payload") {
            Some(Value::Array(rows)) => {
                *sync_rows += rows.len();
                if has_criteria {
                    return invalid("Only one of \"payload\" or \"criteria\" may be given");
                }
            }
            None | Some(Value::Null) if has_criteria => {
                // Shopware takes it (`SyncOperation::validate`, `SyncService::handleCriteriaDelete`)
                // though the document requires `payload`; the fake does not do it.
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "FAKE__NOT_IMPLEMENTED",
                    &format!(
                        "The fake does not implement a delete by criteria (operation \"{key}\")."
                    ),
                );
            }
            _ => return invalid("Missing \"payload\" argument. It needs to be an array"),
        }
    }
    // The body as the document has it: an array of operations
    // ([`Leniency::SyncKeyedOperations`]: an object's values, in order). Pointers name the
    // operation by its key, as Shopware's do.
    if let Some(op) = api.operation("post", "/_action/sync")
        && let Some((schema, _)) = api.request_body(&op)
    {
        if matches!(payload, Value::Object(_)) {
            let _ = schema_exception(Leniency::SyncKeyedOperations);
        }
        let as_documented = Value::Array(ops.iter().map(|(_, op)| (*op).clone()).collect());
        let errors: Vec<Value> = api
            .validate(&schema, &as_documented)
            .iter()
            .map(|v| {
                let mut parts = v.pointer.splitn(3, '/').skip(1);
                let key = parts
                    .next()
                    .and_then(|i| i.parse::<usize>().ok())
                    .and_then(|i| keys.get(i));
                let pointer = match (key, parts.next()) {
                    (Some(k), Some(rest)) => format!("/{}/{rest}", escape(k)),
                    (Some(k), None) => format!("/{}", escape(k)),
                    (None, _) => v.pointer.clone(),
                };
                schema_error(
                    v,
                    json!({"pointer": pointer}),
                    "FRAMEWORK__INVALID_SYNC_OPERATION",
                    "Shopware's Admin API schema refuses this operation",
                )
            })
            .collect();
        if !errors.is_empty() {
            return Answer::json(StatusCode::BAD_REQUEST, json!({"errors": errors}));
        }
    }
    // Resolve the foreign keys of every upsert (Shopware does it for all operations before it
    // writes any), then check every row against its entity's schema.
    let mut prepared: Vec<(String, String, String, Vec<Value>)> = Vec::new();
    let mut errors = Vec::new();
    let mut upserted: HashSet<(String, String)> = HashSet::new();
    for ((_, op), key) in ops.iter().zip(&keys) {
        let entity = op["entity"].as_str().unwrap_or_default();
        let action = op["action"].as_str().unwrap_or_default();
        let Some((schema, _)) = api.entity_schema(entity) else {
            return refuse(
                StatusCode::BAD_REQUEST,
                "FRAMEWORK__DEFINITION_NOT_FOUND",
                &format!("Definition for entity \"{entity}\" does not exist."),
            );
        };
        let mut rows = op
            .get("payload")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, row) in rows.iter_mut().enumerate() {
            let at = format!("/{}/{i}", escape(key));
            if action == "upsert"
                && let Err(a) = resolve_fks(d, api, &schema, row, &at)
            {
                return a;
            }
            let id = row.get("id").and_then(Value::as_str).map(str::to_owned);
            let mode = match (action, id.as_deref()) {
                ("upsert", None) => create(),
                ("upsert", Some(id)) => {
                    let earlier = upserted.contains(&(entity.to_owned(), id.to_owned()));
                    match stored(d, entity, id) {
                        Some(false) if !earlier => create(),
                        // Known, written by an earlier row, or of an entity the fake keeps none
                        // of (it cannot tell): a partial update.
                        _ => {
                            let _ = schema_exception(Leniency::PartialUpdate);
                            Write::Update
                        }
                    }
                }
                // A delete names primary keys only.
                _ => Write::Update,
            };
            for v in api.check_write(&schema, row, mode) {
                errors.push(write_error(&v, &format!("{at}{}", v.pointer), &schema));
            }
            if action == "upsert"
                && let Some(id) = id
            {
                upserted.insert((entity.to_owned(), id));
            }
        }
        prepared.push((key.clone(), entity.to_owned(), action.to_owned(), rows));
    }
    if !errors.is_empty() {
        return Answer::json(StatusCode::BAD_REQUEST, json!({"errors": errors}));
    }
    let mut staged: BTreeMap<String, Value> = BTreeMap::new();
    let mut staged_numbers: HashMap<String, String> = HashMap::new();
    let mut staged_deliveries: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut deleted: Vec<String> = Vec::new();
    let mut written: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, entity, action, rows) in &prepared {
        match (entity.as_str(), action.as_str()) {
            ("product", "upsert") => {
                for (i, row) in rows.iter().enumerate() {
                    match product_upsert(d, &staged, &staged_numbers, key, i, row) {
                        Ok(p) => {
                            let id = p["id"].as_str().unwrap_or_default().to_owned();
                            staged_numbers.insert(
                                p["productNumber"].as_str().unwrap_or_default().to_owned(),
                                id.clone(),
                            );
                            written
                                .entry("product".into())
                                .or_default()
                                .push(id.clone());
                            staged.insert(id, p);
                        }
                        Err(v) => errors.extend(v),
                    }
                }
            }
            ("product", "delete") => {
                for (i, row) in rows.iter().enumerate() {
                    match row.get("id").and_then(Value::as_str) {
                        Some(id) if d.products.contains_key(id) => {
                            deleted.push(id.to_owned());
                        }
                        _ => errors.push(violation(
                            &format!("/{key}/{i}/id"),
                            "No product with this id.",
                            "FRAMEWORK__RESOURCE_NOT_FOUND",
                        )),
                    }
                }
            }
            ("order_delivery", "upsert") => {
                for (i, row) in rows.iter().enumerate() {
                    let Some(m) = row.as_object() else {
                        continue;
                    };
                    let id = m.get("id").and_then(Value::as_str).unwrap_or_default();
                    if !d.delivery_order.contains_key(id) {
                        errors.push(violation(
                            &format!("/{key}/{i}/id"),
                            "The fake creates no deliveries: no order delivery with this id.",
                            "FRAMEWORK__RESOURCE_NOT_FOUND",
                        ));
                        continue;
                    }
                    for (k, v) in m {
                        match k.as_str() {
                            "id" => {}
                            "trackingCodes" => {
                                staged_deliveries.insert(id.to_owned(), tracking_codes(v));
                            }
                            other => errors.push(not_stored(
                                &format!("/{key}/{i}/{other}"),
                                "order_delivery",
                                other,
                            )),
                        }
                    }
                    written
                        .entry("order_delivery".into())
                        .or_default()
                        .push(id.to_owned());
                }
            }
            (other, action) => {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "FAKE__NOT_IMPLEMENTED",
                    &format!(
                        "The fake does not implement {action} of {other} through the sync API."
                    ),
                );
            }
        }
    }
    if !errors.is_empty() {
        // All or nothing: nothing of this request is written.
        return Answer::json(StatusCode::BAD_REQUEST, json!({"errors": errors}));
    }
    for (id, p) in staged {
        if let Some(old) = d.products.get(&id)
            && let Some(n) = old["productNumber"].as_str()
        {
            d.by_number.remove(n);
        }
        d.by_number.insert(
            p["productNumber"].as_str().unwrap_or_default().to_owned(),
            id.clone(),
        );
        d.products.insert(id, p);
    }
    for (id, codes) in staged_deliveries {
        set_delivery(d, &id, |del| del["trackingCodes"] = json!(codes));
    }
    for id in &deleted {
        if let Some(p) = d.products.remove(id)
            && let Some(n) = p["productNumber"].as_str()
        {
            d.by_number.remove(n);
        }
    }
    Answer::json(
        StatusCode::OK,
        json!({"extensions": [], "data": written, "notFound": [], "deleted": if deleted.is_empty() { json!([]) } else { json!({"product": deleted}) }}),
    )
}

/// A field the document allows that the fake does not store.
fn not_stored(pointer: &str, entity: &str, field: &str) -> Value {
    violation(
        pointer,
        &format!("The fake does not store {entity}.{field} (Shopware's schema allows it)."),
        "FAKE__NOT_IMPLEMENTED",
    )
}

/// Tracking codes the document's `OrderDelivery.trackingCodes` (a list of strings) let through.
fn tracking_codes(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c.as_str().map(str::to_owned))
        .collect()
}

fn is_uuid(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Apply one product upsert row, already resolved and checked against `Product`, with what
/// the schema cannot say (the tax exists, the product number is unique and not blank, a price
/// in the default currency, no unknown keys in a price), and give the product as it would be
/// written.
fn product_upsert(
    d: &Data,
    staged: &BTreeMap<String, Value>,
    staged_numbers: &HashMap<String, String>,
    key: &str,
    i: usize,
    row: &Value,
) -> Result<Value, Vec<Value>> {
    let at = |field: &str| format!("/{key}/{i}/{field}");
    let Some(m) = row.as_object() else {
        return Err(vec![violation(
            &format!("/{key}/{i}"),
            "A row must be an object.",
            TYPE,
        )]);
    };
    let mut v = Vec::new();
    let lookup = |number: &str| {
        staged_numbers
            .get(number)
            .cloned()
            .or_else(|| d.by_number.get(number).cloned())
    };
    let id = m.get("id").and_then(Value::as_str).map(str::to_owned);
    let existing = id
        .as_ref()
        .and_then(|id| staged.get(id).or_else(|| d.products.get(id)))
        .cloned();
    let creating = existing.is_none();
    let mut p = existing.unwrap_or_else(|| {
        json!({"id": id.clone().unwrap_or_default(), "versionId": LIVE_VERSION_ID, "parentId": null,
            "ean": null, "active": true, "isCloseout": false, "manufacturerNumber": null,
            "purchasePrices": null, "customFields": {}, "createdAt": Utc::now().to_rfc3339(),
            "updatedAt": null, "apiAlias": "product"})
    });
    if creating && id.is_none() {
        v.push(violation(
            &at("id"),
            "The fake needs an id to create a product (Shopware would generate one).",
            "FAKE__NOT_IMPLEMENTED",
        ));
    }
    for (k, value) in m {
        let field = k.as_str();
        if field == "id" {
            continue;
        }
        let before = v.len();
        match field {
            "price" | "purchasePrices" => {
                v.extend(prices(&at(field), value));
            }
            "taxId" => match value.as_str() {
                Some(t) if TAX_IDS.contains(&t) => {}
                _ => v.push(violation(
                    &at(field),
                    &format!("The tax {value} does not exist."),
                    "FRAMEWORK__WRITE_FOREIGN_KEY_ERROR",
                )),
            },
            "productNumber" => match value.as_str() {
                Some(n) if !n.trim().is_empty() => {
                    if let Some(other) = lookup(n)
                        && Some(&other) != id.as_ref()
                    {
                        v.push(violation(
                            &at(field),
                            &format!("Product with number \"{n}\" already exists."),
                            "CONTENT__DUPLICATE_PRODUCT_NUMBER",
                        ));
                    }
                }
                _ => v.push(violation(
                    &at(field),
                    "This value should not be blank.",
                    NOT_BLANK,
                )),
            },
            "customFields" => {
                if let (Some(new), Some(old)) =
                    (value.as_object(), p["customFields"].as_object_mut())
                {
                    for (ck, cv) in new {
                        old.insert(ck.clone(), cv.clone());
                    }
                    continue;
                }
            }
            _ => {}
        }
        if v.len() == before {
            p[field] = value.clone();
        }
    }
    let number = p["productNumber"].as_str().unwrap_or_default().to_owned();
    if d.refused.contains(&number) {
        v.push(violation(
            &at("stock"),
            &format!("This value is not valid. (the fake shop refuses product {number})"),
            TYPE,
        ));
    }
    if !v.is_empty() {
        return Err(v);
    }
    let stock = p["stock"].clone();
    p["availableStock"] = stock.clone();
    p["available"] = json!(stock.as_i64().unwrap_or(0) > 0);
    if !creating {
        p["updatedAt"] = json!(Utc::now().to_rfc3339());
    }
    Ok(p)
}

/// Check a price array, already valid by the document's `Price`, for what Shopware's
/// `PriceFieldSerializer` adds: no keys but a price's, and a price in the default currency.
fn prices(at: &str, value: &Value) -> Vec<Value> {
    let mut v = Vec::new();
    let Some(list) = value.as_array() else {
        return v;
    };
    let mut default = false;
    for (j, price) in list.iter().enumerate() {
        let Some(m) = price.as_object() else {
            continue;
        };
        for k in m.keys() {
            if ![
                "currencyId",
                "gross",
                "net",
                "linked",
                "listPrice",
                "regulationPrice",
                "percentage",
                "extensions",
            ]
            .contains(&k.as_str())
            {
                v.push(violation(
                    &format!("{at}/{j}/{k}"),
                    "This field was not expected.",
                    "7703c766-b5d5-4cef-ace7-ae0dd82304e9",
                ));
            }
        }
        if m.get("currencyId").and_then(Value::as_str) == Some(DEFAULT_CURRENCY_ID) {
            default = true;
        }
    }
    if !default && v.is_empty() {
        v.push(violation(
            at,
            "No price for default currency defined",
            "CONTENT__PRODUCT_PRICE_MISSING",
        ));
    }
    v
}

fn set_delivery(d: &mut Data, id: &str, f: impl FnOnce(&mut Value)) -> Option<Value> {
    let order_id = d.delivery_order.get(id)?.clone();
    let order = d.orders.get_mut(&order_id)?;
    let del = order["deliveries"]
        .as_array_mut()?
        .iter_mut()
        .find(|x| x["id"] == id)?;
    f(del);
    Some(del.clone())
}

fn patch_delivery(d: &mut Data, id: &str, body: &Value, respond: bool) -> Answer {
    if !d.delivery_order.contains_key(id) {
        return refuse(
            StatusCode::NOT_FOUND,
            "FRAMEWORK__RESOURCE_NOT_FOUND",
            &format!(
                "The order_delivery resource with the following primary key was not found: id({id})"
            ),
        );
    }
    let Some(m) = body.as_object() else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "FRAMEWORK__INVALID_REQUEST_PARAMETER",
            "The body must be an object.",
        );
    };
    // The body is valid by the document's `OrderDelivery` (checked in `route`).
    let mut errors = Vec::new();
    let mut codes = None;
    for (k, v) in m {
        match k.as_str() {
            "trackingCodes" => codes = Some(tracking_codes(v)),
            "id" => {}
            other => errors.push(not_stored(&format!("/0/{other}"), "order_delivery", other)),
        }
    }
    if !errors.is_empty() {
        return Answer::json(StatusCode::BAD_REQUEST, json!({"errors": errors}));
    }
    let stored = set_delivery(d, id, |del| {
        if let Some(c) = codes {
            del["trackingCodes"] = json!(c);
        }
    });
    if respond {
        return Answer::json(StatusCode::OK, json!({"data": stored}));
    }
    Answer {
        status: StatusCode::NO_CONTENT,
        body: None,
        headers: vec![("location", format!("/api/order-delivery/{id}"))],
        content_type: "application/json",
    }
}

// ---------------------------------------------------------------------------------------------
// State machines

/// `(action, from states, to)` of a state machine.
fn transitions(entity: &str) -> &'static [(&'static str, &'static [&'static str], &'static str)] {
    match entity {
        "order" => &[
            ("process", &["open"], "in_progress"),
            ("complete", &["in_progress"], "completed"),
            ("cancel", &["open", "in_progress"], "cancelled"),
            ("reopen", &["cancelled", "completed"], "open"),
        ],
        _ => &[
            ("ship", &["open", "shipped_partially"], "shipped"),
            ("ship_partially", &["open"], "shipped_partially"),
            ("retour", &["shipped", "shipped_partially"], "returned"),
            (
                "retour_partially",
                &["shipped", "shipped_partially"],
                "returned_partially",
            ),
            (
                "cancel",
                &["open", "shipped", "shipped_partially"],
                "cancelled",
            ),
            ("reopen", &["cancelled"], "open"),
        ],
    }
}

fn transition(d: &mut Data, entity: &str, id: &str, action: &str) -> Answer {
    let current = if entity == "order" {
        d.orders
            .get(id)
            .map(|o| o["stateMachineState"]["technicalName"].clone())
    } else {
        d.delivery_order.get(id).and_then(|oid| {
            d.orders.get(oid)?["deliveries"]
                .as_array()?
                .iter()
                .find(|x| x["id"] == id)
                .map(|x| x["stateMachineState"]["technicalName"].clone())
        })
    };
    let Some(current) = current.and_then(|c| c.as_str().map(str::to_owned)) else {
        return refuse(
            StatusCode::NOT_FOUND,
            "FRAMEWORK__ENTITY_NOT_FOUND",
            &format!("{entity} with id {id} not found"),
        );
    };
    let table = transitions(entity);
    let possible: Vec<&str> = table
        .iter()
        .filter(|t| t.1.contains(&current.as_str()))
        .map(|t| t.0)
        .collect();
    let Some(to) = table
        .iter()
        .find(|t| t.0 == action && t.1.contains(&current.as_str()))
        .map(|t| t.2)
    else {
        let detail = format!(
            "Illegal transition \"{action}\" from state \"{current}\". Possible transitions are: {}",
            possible.join(", ")
        );
        return Answer::json(
            StatusCode::BAD_REQUEST,
            json!({"errors": [{"status": "400", "code": "SYSTEM__ILLEGAL_STATE_TRANSITION", "title": "Bad Request",
                "detail": detail, "meta": {"parameters": {"transition": action, "currentState": current,
                "possibleTransitions": possible.join(", ")}}}]}),
        );
    };
    let machine = if entity == "order" {
        "order.state"
    } else {
        "order_delivery.state"
    };
    let new_state = state(machine, to);
    if entity == "order" {
        let mut give_back = Vec::new();
        if let Some(o) = d.orders.get_mut(id) {
            o["stateMachineState"] = new_state.clone();
            o["stateId"] = json!(to);
            if to == "cancelled" {
                for line in o["lineItems"].as_array().into_iter().flatten() {
                    if let (Some(pid), Some(q)) =
                        (line["productId"].as_str(), line["quantity"].as_i64())
                    {
                        give_back.push((pid.to_owned(), q));
                    }
                }
            }
        }
        for (pid, q) in give_back {
            if let Some(p) = d.products.get_mut(&pid) {
                let stock = p["stock"].as_i64().unwrap_or(0) + q;
                p["stock"] = json!(stock);
                p["availableStock"] = json!(stock);
            }
        }
    } else {
        let s = new_state.clone();
        set_delivery(d, id, |del| {
            del["stateMachineState"] = s;
            del["stateId"] = json!(to);
        });
    }
    Answer::json(StatusCode::OK, new_state)
}

// ---------------------------------------------------------------------------------------------
// Search

/// Association fields per `apiAlias`, and whether each is loaded without being asked for.
fn associations(alias: &str) -> &'static [(&'static str, bool)] {
    match alias {
        "order" => &[
            ("lineItems", false),
            ("deliveries", false),
            ("addresses", false),
            ("billingAddress", false),
            ("orderCustomer", false),
            ("stateMachineState", true),
            ("transactions", false),
            ("currency", false),
        ],
        "order_line_item" => &[("product", false)],
        "order_delivery" => &[("shippingOrderAddress", false), ("stateMachineState", true)],
        "order_address" => &[("country", false)],
        _ => &[],
    }
}

/// The entity as a search with these `associations` answers it: an association not asked for
/// (nor loaded by default) is `null`.
fn project(v: &Value, assoc: Option<&Map<String, Value>>) -> Value {
    match v {
        Value::Array(a) => Value::Array(a.iter().map(|x| project(x, assoc)).collect()),
        Value::Object(m) => {
            let alias = m.get("apiAlias").and_then(Value::as_str).unwrap_or("");
            let mut out = m.clone();
            for (field, auto) in associations(alias) {
                let asked = assoc.and_then(|a| a.get(*field));
                match (asked, out.get(*field)) {
                    (Some(c), Some(x)) => {
                        let nested = c.get("associations").and_then(Value::as_object);
                        let p = project(x, nested);
                        out.insert((*field).to_owned(), p);
                    }
                    (None, Some(x)) if *auto => {
                        let p = project(x, None);
                        out.insert((*field).to_owned(), p);
                    }
                    _ => {
                        out.insert((*field).to_owned(), Value::Null);
                    }
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    }
}

/// Keep only the fields `includes` names for each `apiAlias` it names.
fn include(v: &mut Value, includes: &Map<String, Value>) {
    match v {
        Value::Array(a) => a.iter_mut().for_each(|x| include(x, includes)),
        Value::Object(m) => {
            let alias = m
                .get("apiAlias")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            if let Some(fields) = includes.get(&alias).and_then(Value::as_array) {
                let keep: HashSet<&str> = fields.iter().filter_map(Value::as_str).collect();
                m.retain(|k, _| k == "apiAlias" || keep.contains(k.as_str()));
            }
            m.values_mut().for_each(|x| include(x, includes));
        }
        _ => {}
    }
}

/// The values at a dotted `path` (arrays flattened).
fn values_at<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    let mut current = vec![v];
    for part in path.split('.') {
        let mut next = Vec::new();
        for x in current {
            match x {
                Value::Array(a) => {
                    for y in a {
                        if let Some(z) = y.get(part) {
                            next.push(z);
                        }
                    }
                }
                other => {
                    if let Some(z) = other.get(part) {
                        next.push(z);
                    }
                }
            }
        }
        current = next;
    }
    current
        .into_iter()
        .flat_map(|x| match x {
            Value::Array(a) => a.iter().collect::<Vec<_>>(),
            other => vec![other],
        })
        .collect()
}

fn compare(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => {
            match (
                DateTime::parse_from_rfc3339(x),
                DateTime::parse_from_rfc3339(y),
            ) {
                (Ok(p), Ok(q)) => Some(p.cmp(&q)),
                _ => Some(x.cmp(y)),
            }
        }
        (Value::Number(x), Value::String(y)) => x.as_f64()?.partial_cmp(&y.parse().ok()?),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Null, Value::Null) => Some(std::cmp::Ordering::Equal),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            x.eq_ignore_ascii_case(y) && (x == y || is_uuid(&x.to_lowercase()))
        }
        _ => compare(a, b) == Some(std::cmp::Ordering::Equal),
    }
}

fn field_known(sample: &Value, path: &str) -> bool {
    let first = path.split('.').next().unwrap_or(path);
    sample.get(first).is_some()
}

fn matches(e: &Value, filter: &Value, sample: &Value) -> Result<bool, String> {
    let kind = filter
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let field = filter
        .get("field")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !matches!(kind, "multi" | "not") && !field_known(sample, field) {
        let alias = sample
            .get("apiAlias")
            .and_then(Value::as_str)
            .unwrap_or("?");
        return Err(format!(
            "Field \"{field}\" in entity \"{alias}\" was not found."
        ));
    }
    let found = || values_at(e, field);
    Ok(match kind {
        "equals" => {
            let want = filter.get("value").unwrap_or(&Value::Null);
            let got = found();
            if want.is_null() {
                got.iter().all(|x| x.is_null())
            } else {
                got.iter().any(|x| equal(x, want))
            }
        }
        "equalsAny" => {
            let want: Vec<Value> = match filter.get("value") {
                Some(Value::Array(a)) => a.clone(),
                Some(Value::String(s)) => s.split('|').map(|x| json!(x)).collect(),
                _ => return Err("equalsAny needs a `value` list".into()),
            };
            found().iter().any(|x| want.iter().any(|w| equal(x, w)))
        }
        "contains" | "prefix" | "suffix" => {
            let want = filter
                .get("value")
                .and_then(Value::as_str)
                .unwrap_or_default();
            found()
                .iter()
                .filter_map(|x| x.as_str())
                .any(|s| match kind {
                    "contains" => s.contains(want),
                    "prefix" => s.starts_with(want),
                    _ => s.ends_with(want),
                })
        }
        "range" => {
            let params = filter
                .get("parameters")
                .and_then(Value::as_object)
                .ok_or("range needs `parameters`")?;
            found().iter().any(|x| {
                params.iter().all(|(op, bound)| {
                    let c = compare(x, bound);
                    match op.as_str() {
                        "gte" => c.is_some_and(|c| c.is_ge()),
                        "gt" => c.is_some_and(std::cmp::Ordering::is_gt),
                        "lte" => c.is_some_and(|c| c.is_le()),
                        "lt" => c.is_some_and(std::cmp::Ordering::is_lt),
                        _ => false,
                    }
                })
            })
        }
        "multi" | "not" => {
            let op = filter
                .get("operator")
                .and_then(Value::as_str)
                .unwrap_or("and")
                .to_lowercase();
            let queries = filter
                .get("queries")
                .and_then(Value::as_array)
                .ok_or("multi needs `queries`")?;
            let mut results = Vec::new();
            for q in queries {
                results.push(matches(e, q, sample)?);
            }
            let r = match op.as_str() {
                "or" => results.iter().any(|x| *x),
                "xor" => results.iter().filter(|x| **x).count() == 1,
                _ => results.iter().all(|x| *x),
            };
            if kind == "not" { !r } else { r }
        }
        other => return Err(format!("Unsupported filter type \"{other}\"")),
    })
}

fn search(d: &Data, entity: &str, criteria: &Value, json_accepted: bool) -> Answer {
    let bad = |code: &str, detail: &str| refuse(StatusCode::BAD_REQUEST, code, detail);
    let criteria = match criteria {
        Value::Null => json!({}),
        Value::Object(_) => criteria.clone(),
        _ => {
            return bad(
                "FRAMEWORK__INVALID_CRITERIA",
                "The criteria must be an object.",
            );
        }
    };
    let page = match criteria.get("page") {
        None | Some(Value::Null) => 1,
        Some(v) => match v.as_i64() {
            Some(p) if p >= 1 => p,
            _ => {
                return bad(
                    "FRAMEWORK__INVALID_PAGE",
                    &format!("The page parameter must be a positive integer. Given: {v}"),
                );
            }
        },
    };
    let limit = match criteria.get("limit") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(l) if l >= 1 => Some(l),
            _ => {
                return bad(
                    "FRAMEWORK__INVALID_LIMIT",
                    &format!(
                        "The limit parameter must be a positive integer greater or equals than 1. Given: {v}"
                    ),
                );
            }
        },
    };
    // Candidates: every entity, or those an `ids` list or a top-level product number filter names.
    let all: Vec<Value> = match entity {
        "product" => {
            let mut numbers: Option<Vec<String>> = None;
            for f in criteria
                .get("filter")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if f.get("field").and_then(Value::as_str) == Some("productNumber") {
                    match (f.get("type").and_then(Value::as_str), f.get("value")) {
                        (Some("equalsAny"), Some(Value::Array(a))) => {
                            numbers = Some(
                                a.iter()
                                    .filter_map(Value::as_str)
                                    .map(str::to_owned)
                                    .collect(),
                            );
                        }
                        (Some("equals"), Some(Value::String(s))) => numbers = Some(vec![s.clone()]),
                        _ => {}
                    }
                }
            }
            match numbers {
                Some(list) => {
                    let mut ids: Vec<&String> =
                        list.iter().filter_map(|n| d.by_number.get(n)).collect();
                    ids.sort();
                    ids.dedup();
                    ids.into_iter()
                        .filter_map(|id| d.products.get(id))
                        .cloned()
                        .collect()
                }
                None => d.products.values().cloned().collect(),
            }
        }
        "order" => d
            .order_seq
            .iter()
            .filter_map(|id| d.orders.get(id))
            .map(|o| {
                let mut o = o.clone();
                for line in o["lineItems"].as_array_mut().into_iter().flatten() {
                    line["product"] = line["productId"]
                        .as_str()
                        .and_then(|id| d.products.get(id))
                        .cloned()
                        .unwrap_or(Value::Null);
                }
                o
            })
            .collect(),
        "order-delivery" => d
            .order_seq
            .iter()
            .filter_map(|id| d.orders.get(id))
            .flat_map(|o| o["deliveries"].as_array().cloned().unwrap_or_default())
            .collect(),
        other => {
            return refuse(
                StatusCode::NOT_FOUND,
                "FRAMEWORK__DEFINITION_NOT_FOUND",
                &format!("Definition for entity \"{other}\" does not exist (in the fake)."),
            );
        }
    };
    let sample = match entity {
        "product" => json!({"id": "", "productNumber": "", "ean": "", "stock": 0, "active": true, "name": "",
            "price": [], "purchasePrices": null, "taxId": "", "createdAt": "", "updatedAt": "", "parentId": null,
            "customFields": {}, "manufacturerNumber": null, "availableStock": 0, "apiAlias": "product"}),
        _ => all.first().cloned().unwrap_or_else(|| {
            if entity == "order" {
                json!({"id": "", "orderNumber": "", "orderDateTime": "", "salesChannelId": "", "stateMachineState": {},
                    "lineItems": [], "deliveries": [], "createdAt": "", "apiAlias": "order"})
            } else {
                json!({"id": "", "orderId": "", "trackingCodes": [], "stateMachineState": {}, "apiAlias": "order_delivery"})
            }
        }),
    };
    let ids: Option<HashSet<&str>> = criteria
        .get("ids")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect());
    let filters: Vec<&Value> = ["filter", "post-filter"]
        .iter()
        .flat_map(|k| {
            criteria
                .get(*k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
        })
        .collect();
    let mut hits = Vec::new();
    for e in &all {
        if let Some(ids) = &ids
            && !ids.contains(e["id"].as_str().unwrap_or_default())
        {
            continue;
        }
        let mut ok = true;
        for f in &filters {
            match matches(e, f, &sample) {
                Ok(true) => {}
                Ok(false) => {
                    ok = false;
                    break;
                }
                Err(why) => return bad("FRAMEWORK__INVALID_FILTER_QUERY", &why),
            }
        }
        if ok {
            hits.push(e);
        }
    }
    if let Some(sorts) = criteria.get("sort").and_then(Value::as_array) {
        for s in sorts {
            let field = s.get("field").and_then(Value::as_str).unwrap_or_default();
            if !field_known(&sample, field) {
                return bad(
                    "FRAMEWORK__INVALID_SORT_QUERY",
                    &format!("Field \"{field}\" in entity \"{entity}\" was not found."),
                );
            }
        }
        hits.sort_by(|a, b| {
            for s in sorts {
                let field = s.get("field").and_then(Value::as_str).unwrap_or_default();
                let desc = s
                    .get("order")
                    .and_then(Value::as_str)
                    .is_some_and(|o| o.eq_ignore_ascii_case("desc"));
                let x = values_at(a, field)
                    .first()
                    .copied()
                    .cloned()
                    .unwrap_or(Value::Null);
                let y = values_at(b, field)
                    .first()
                    .copied()
                    .cloned()
                    .unwrap_or(Value::Null);
                let c = match (x.is_null(), y.is_null()) {
                    (true, true) => std::cmp::Ordering::Equal,
                    (true, false) => std::cmp::Ordering::Less,
                    (false, true) => std::cmp::Ordering::Greater,
                    _ => compare(&x, &y).unwrap_or(std::cmp::Ordering::Equal),
                };
                let c = if desc { c.reverse() } else { c };
                if c.is_ne() {
                    return c;
                }
            }
            std::cmp::Ordering::Equal
        });
    }
    let matched = hits.len();
    let (skip, take) = match limit {
        Some(l) => (
            usize::try_from((page - 1) * l).unwrap_or(usize::MAX),
            usize::try_from(l).unwrap_or(usize::MAX),
        ),
        None => (0, usize::MAX),
    };
    let assoc = criteria.get("associations").and_then(Value::as_object);
    let mut data: Vec<Value> = hits
        .into_iter()
        .skip(skip)
        .take(take)
        .map(|e| project(e, assoc))
        .collect();
    if let Some(includes) = criteria.get("includes").and_then(Value::as_object) {
        data.iter_mut().for_each(|x| include(x, includes));
    }
    // `exact` (or 1, [`Leniency::TotalCountModeNumber`]) counts every match; else the page.
    let exact = match criteria.get("total-count-mode") {
        Some(Value::String(s)) => s == "exact" || s.trim() == "1",
        Some(Value::Number(n)) => n.as_f64().map(f64::trunc) == Some(1.0),
        _ => false,
    };
    let total = if exact { matched } else { data.len() };
    if json_accepted {
        return Answer::json(
            StatusCode::OK,
            json!({"total": total, "data": data, "aggregations": []}),
        );
    }
    // JSON:API, Shopware's default.
    let resources: Vec<Value> = data
        .into_iter()
        .map(|mut e| {
            let id = e["id"].clone();
            let alias = e["apiAlias"].clone();
            if let Some(m) = e.as_object_mut() {
                m.remove("id");
                m.remove("apiAlias");
            }
            json!({"id": id, "type": alias, "attributes": e, "relationships": {}, "links": {}})
        })
        .collect();
    Answer {
        status: StatusCode::OK,
        body: Some(
            json!({"data": resources, "included": [], "links": {}, "meta": {"total": total}, "aggregations": []}),
        ),
        headers: Vec::new(),
        content_type: "application/vnd.api+json",
    }
}
