//! Validation of refurbisher documents: a walk over the JSON that builds the typed model and
//! records every problem it meets, with its JSON path, instead of stopping at the first.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::diag::{Diagnostics, JsonPath};
use super::model::*;
use super::suggest::did_you_mean;
use crate::mapping::{asserts, context::Scope, expr};
use crate::money;
use crate::secret_ref;
use crate::values::locale::PriceLocale;

/// Keys of a refurbisher.
pub const REFURBISHER_KEYS: &[&str] = &[
    "name",
    "refurbisher_id",
    "supplier_id",
    "odoo_vendor_id",
    "public_name",
    "currency",
    "shipping_costs",
    "home_copy_tax",
    "default_margin",
    "margin_rules",
    "default_tax_percentage",
    "price_rounding",
    "max_price_change_ratio",
    "stock_threshold",
    "approved_refurbished",
    "drop_ship",
    "internal",
    "enabled",
    "poll_interval_secs",
    "monitoring",
    "shipment",
    "offers",
    "order",
];

/// Keys of `monitoring`.
pub const MONITORING_KEYS: &[&str] = &[
    "latest_order_hours",
    "offers_stock_hours",
    "open_order_days",
    "offers_endpoint_http_status",
];

/// Keys of `shipment`.
pub const SHIPMENT_KEYS: &[&str] = &["mapping", "token_grace_hours"];

/// Keys of `offers`.
pub const OFFERS_KEYS: &[&str] = &[
    "connection",
    "endpoint",
    "body",
    "path",
    "auth",
    "type",
    "paginate",
    "offer_location",
    "record_path",
    "separator",
    "heading",
    "encoding",
    "price_locale",
    "mapping",
    "max_removal_ratio",
    "timeout_secs",
    "connect_timeout_secs",
    "read_timeout_secs",
    "max_bytes",
    "max_record_bytes",
];

/// Keys of `offers.auth` for an `sftp` connection.
pub const SFTP_AUTH_KEYS: &[&str] = &[
    "host",
    "port",
    "path",
    "username",
    "password",
    "private_key",
    "passphrase",
    "host_key_fingerprint",
];

/// Keys of `order`.
pub const ORDER_KEYS: &[&str] = &[
    "connection",
    "endpoint",
    "method",
    "auth",
    "order_object",
    "item_object",
    "response_object",
    "timeout_secs",
    "max_attempts",
    "retry_unknown",
    "idempotency_header",
];

/// The header the idempotency key goes in unless `idempotency_header` says otherwise.
pub const DEFAULT_IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// Default size cap of a fetched feed: 2 GiB.
pub const DEFAULT_MAX_BYTES: i64 = 2 * 1024 * 1024 * 1024;

/// The default `max_record_bytes` of an offers connector: 1 MiB.
pub const DEFAULT_MAX_RECORD_BYTES: i64 = 1024 * 1024;

/// Text encodings a CSV feed may declare.
pub const ENCODINGS: &[&str] = &[
    "utf-8",
    "windows-1252",
    "iso-8859-1",
    "iso-8859-15",
    "windows-1250",
    "utf-16le",
    "utf-16be",
];

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

/// Validate one refurbisher (the value under its connector key).
pub(crate) fn refurbisher(
    key: &str,
    v: &Value,
    path: &JsonPath,
    d: &mut Diagnostics,
) -> Option<Refurbisher> {
    let errors_before = d.error_count();
    if !valid_connector_key(key) {
        d.error(
            path,
            format!(
                "invalid connector key {}: use lower-case letters, digits, `-` and `_` (like `flexit` or `iused-alumio`), at most 64 characters, not `channels`, `channel`, `pim` or `erp`",
                Value::String(key.to_owned())
            ),
        );
    }
    let o = Obj::of(v, path, d, "a refurbisher")?;
    o.unknown_keys(d, REFURBISHER_KEYS, "a refurbisher");

    let name = o.string(d, "name").unwrap_or_else(|| key.to_owned());
    let refurbisher_id = o.id(d, "refurbisher_id");
    let supplier_id = o.id(d, "supplier_id");
    let odoo_vendor_id = o.id(d, "odoo_vendor_id");
    let public_name = o.string(d, "public_name").unwrap_or_else(|| name.clone());
    let currency = currency(&o, d);
    let amount = |d: &mut Diagnostics, k: &str| -> Decimal {
        match o.get(k) {
            None => Decimal::ZERO,
            Some(v) => money::parse_config_amount(v, &currency).unwrap_or_else(|e| {
                d.error(&o.at(k), e.to_string());
                Decimal::ZERO
            }),
        }
    };
    let shipping_costs = amount(d, "shipping_costs");
    let home_copy_tax = amount(d, "home_copy_tax");
    let default_margin = margin(&o, d);
    let margin_rules = margin_rules(&o, d);
    let default_tax_percentage = default_tax_percentage(&o, d);
    let price_rounding = match o.string(d, "price_rounding") {
        None => "none".to_owned(),
        Some(r) if crate::pricing::Rounding::from_name(&r).is_some() => r,
        Some(r) => {
            let names = crate::pricing::Rounding::NAMES;
            let diag = d.error(
                &o.at("price_rounding"),
                format!(
                    "unknown price_rounding {}, expected one of {}",
                    Value::String(r.clone()),
                    names.map(|n| format!("\"{n}\"")).join(", ")
                ),
            );
            if let Some(s) = did_you_mean(&r, names) {
                diag.help(format!("did you mean `{s}`?"));
            }
            "none".to_owned()
        }
    };
    if matches!(price_rounding.as_str(), ".99" | ".95") && money::minor_digits(&currency) != 2 {
        d.error(
            &o.at("price_rounding"),
            format!(
                "price_rounding \"{price_rounding}\" needs a currency with cents; {currency} has {} decimals",
                money::minor_digits(&currency)
            ),
        )
        .help("use \"whole\" or \"none\"");
    }
    let max_price_change_ratio = match o.get("max_price_change_ratio") {
        None => Decimal::new(DEFAULT_MAX_PRICE_CHANGE_RATIO_TENTHS, 1),
        // A fraction, not a percentage: "50%" would read as 50 (a move by 5,000 %).
        Some(v) => {
            match percent_number(v).filter(|_| !matches!(v, Value::String(t) if t.contains('%'))) {
                Some(r) if r >= Decimal::new(1, 6) && r <= Decimal::ONE_HUNDRED => r.normalize(),
                _ => {
                    d.error(
                    &o.at("max_price_change_ratio"),
                    format!(
                        "expected a fraction from 0.000001 to 100, like 0.5 (a purchase price may move by half; not \"50%\"), got {}",
                        describe(v)
                    ),
                );
                    Decimal::new(DEFAULT_MAX_PRICE_CHANGE_RATIO_TENTHS, 1)
                }
            }
        }
    };
    let stock_threshold = o.int(d, "stock_threshold", 0, 1_000_000).unwrap_or(0);
    let approved_refurbished = o.bool(d, "approved_refurbished").unwrap_or(false);
    let drop_ship = o.bool(d, "drop_ship").unwrap_or(true);
    let internal = o.bool(d, "internal").unwrap_or(false);
    let enabled = o.bool(d, "enabled").unwrap_or(true);
    let poll_interval_secs = match o.int(d, "poll_interval_secs", 0, 7 * 24 * 3600) {
        None => 3600,
        Some(n) if n != 0 && n < 60 => {
            d.error(
                &o.at("poll_interval_secs"),
                format!("must be at least 60 (or 0 to disable polling), got {n}"),
            );
            3600
        }
        Some(n) => n,
    };
    let monitoring = monitoring(&o, d, poll_interval_secs);
    let shipment = shipment(&o, d);

    let offers = match o.get("offers") {
        None | Some(Value::Null) => None,
        Some(v) => offers(v, &o.at("offers"), d),
    };
    let order = match o.get("order") {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(v) => order(v, &o.at("order"), d),
    };

    if d.error_count() > errors_before {
        return None;
    }
    Some(Refurbisher {
        key: key.to_owned(),
        name,
        refurbisher_id,
        supplier_id,
        odoo_vendor_id,
        public_name,
        currency,
        shipping_costs,
        home_copy_tax,
        default_margin,
        margin_rules,
        default_tax_percentage,
        price_rounding,
        max_price_change_ratio,
        stock_threshold,
        approved_refurbished,
        drop_ship,
        internal,
        enabled,
        poll_interval_secs,
        monitoring,
        shipment,
        offers,
        order,
    })
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

/// Keys of a channel.
pub const CHANNEL_KEYS: &[&str] = &[
    "name",
    "currency",
    "default_tax_percentage",
    "refurbishers",
    "margin_adjustment",
    "shopware",
];

/// Keys of a channel's `shopware` block.
pub const SHOPWARE_KEYS: &[&str] = &[
    "url",
    "client_id",
    "client_secret",
    "shop_secret",
    "product_number_prefix",
    "batch_size",
    "create_missing",
    "tax_id",
    "sales_channel_ids",
    "order_poll_secs",
    "order_lookback_hours",
    "on_supplier_cancel",
    "timeout_secs",
    "enabled",
];

/// Whether `s` is a Shopware id: 32 lower-case hex digits.
pub fn shopware_id(s: &str) -> bool {
    s.len() == 32 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn shopware(o: &Obj<'_>, d: &mut Diagnostics) -> Option<ShopwareConfig> {
    let v = o.get("shopware")?;
    if v.is_null() {
        return None;
    }
    let s = Obj::of(v, &o.at("shopware"), d, "a Shopware block")?;
    s.unknown_keys(d, SHOPWARE_KEYS, "a Shopware block");
    let url_value = s.required_string(
        d,
        "url",
        "the shop's base URL, like \"https://www.refurbished-direct.nl\" (the Admin API is under /api)",
    );
    if let Some(u) = &url_value {
        service_url(u, &s.at("url"), d);
    }
    let cred = |d: &mut Diagnostics, key: &str, why: &str| {
        let v = s.required_string(d, key, why)?;
        credential(&s.at(key), &v, d);
        Some(v)
    };
    let client_id = cred(
        d,
        "client_id",
        "the integration's access key id (Settings → System → Integrations), best as \"${secret:NAME}\"",
    );
    let client_secret = cred(
        d,
        "client_secret",
        "the integration's secret access key, best as \"${secret:NAME}\"",
    );
    let shop_secret = match s.get("shop_secret") {
        None | Some(Value::Null) => None,
        Some(_) => cred(
            d,
            "shop_secret",
            "the shop secret of IRP's app registration (it signs order webhooks), or leave it out to take orders in by the poll only",
        ),
    };
    let product_number_prefix = s.string(d, "product_number_prefix").unwrap_or_default();
    if product_number_prefix.len() > 32 {
        d.error(
            &s.at("product_number_prefix"),
            format!("at most 32 characters, got {}", product_number_prefix.len()),
        );
    }
    let batch_size = s.int(d, "batch_size", 1, 5000).unwrap_or(500);
    let create_missing = s.bool(d, "create_missing").unwrap_or(false);
    let tax_id = s.string(d, "tax_id");
    if let Some(t) = &tax_id {
        if !shopware_id(t) {
            d.error(
                &s.at("tax_id"),
                format!(
                    "expected a Shopware id (32 lower-case hex digits, as in Settings → Tax), got {}",
                    Value::String(t.clone())
                ),
            );
        }
    } else if create_missing {
        d.error(
            &s.at("tax_id"),
            "missing `tax_id`: `create_missing` creates products, and Shopware needs their tax id (Settings → Tax)",
        );
    }
    let sales_channel_ids = match s.get("sales_channel_ids") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut ids = Vec::new();
            for (i, item) in items.iter().enumerate() {
                match item {
                    Value::String(id) if shopware_id(id) => ids.push(id.clone()),
                    other => {
                        d.error(
                            &s.at("sales_channel_ids").index(i),
                            format!(
                                "expected a Shopware sales channel id (32 lower-case hex digits), got {}",
                                describe(other)
                            ),
                        );
                    }
                }
            }
            Some(ids)
        }
        Some(other) => {
            d.error(
                &s.at("sales_channel_ids"),
                format!(
                    "expected a list of sales channel ids (leave it out for every sales channel), got {}",
                    describe(other)
                ),
            );
            None
        }
    };
    let order_poll_secs = s.int(d, "order_poll_secs", 0, 86_400).unwrap_or(60);
    let order_lookback_hours = s.int(d, "order_lookback_hours", 1, 8760).unwrap_or(24);
    let on_supplier_cancel = match s.string(d, "on_supplier_cancel").as_deref() {
        None | Some("none") => OnSupplierCancel::None,
        Some("cancel_delivery") => OnSupplierCancel::CancelDelivery,
        Some("cancel_order") => OnSupplierCancel::CancelOrder,
        Some(other) => {
            d.error(
                &s.at("on_supplier_cancel"),
                format!(
                    "expected one of {}, got {}",
                    OnSupplierCancel::NAMES.join(", "),
                    Value::String(other.to_owned())
                ),
            );
            OnSupplierCancel::None
        }
    };
    let timeout_secs = s.int(d, "timeout_secs", 1, 600).unwrap_or(30);
    let enabled = s.bool(d, "enabled").unwrap_or(true);
    Some(ShopwareConfig {
        url: url_value?.trim_end_matches('/').to_owned(),
        client_id: client_id?,
        client_secret: client_secret?,
        shop_secret,
        product_number_prefix,
        batch_size,
        create_missing,
        tax_id,
        sales_channel_ids,
        order_poll_secs,
        order_lookback_hours,
        on_supplier_cancel,
        timeout_secs,
        enabled,
    })
}

/// The channels of a channels document (`{"channels": {"<key>": { … }}}`).
pub(crate) fn channels(v: &Value, d: &mut Diagnostics) -> Vec<Channel> {
    let root = JsonPath::root();
    let Some(top) = Obj::of(v, &root, d, "a channels document") else {
        return Vec::new();
    };
    top.unknown_keys(d, &["channels"], "a channels document");
    let Some(list) = top.get("channels") else {
        d.error(
            &top.at("channels"),
            "missing `channels`: write {\"channels\": {\"refurbished-direct\": {\"name\": \"Refurbished Direct\"}}}",
        );
        return Vec::new();
    };
    let Some(list) = Obj::of(
        list,
        &top.at("channels"),
        d,
        "channels keyed by channel key",
    ) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, v) in list.map {
        let path = list.at(key);
        let errors_before = d.error_count();
        if !valid_connector_key(key) {
            d.error(
                &path,
                format!(
                    "invalid channel key {}: use lower-case letters, digits, `-` and `_` (like `refurbished-direct`), at most 64 characters, not `channels`, `channel`, `pim` or `erp`",
                    Value::String(key.clone())
                ),
            );
        }
        let Some(o) = Obj::of(v, &path, d, "a channel") else {
            continue;
        };
        o.unknown_keys(d, CHANNEL_KEYS, "a channel");
        let name = o.string(d, "name").unwrap_or_else(|| key.clone());
        let currency = currency(&o, d);
        let default_tax_percentage = default_tax_percentage(&o, d);
        let refurbishers = match o.get("refurbishers") {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => {
                let mut keys = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::String(k) if valid_connector_key(k) => keys.push(k.clone()),
                        other => {
                            d.error(
                                &o.at("refurbishers").index(i),
                                format!("expected a refurbisher's connector key like \"flexit\", got {}", describe(other)),
                            );
                        }
                    }
                }
                Some(keys)
            }
            Some(other) => {
                d.error(
                    &o.at("refurbishers"),
                    format!(
                        "expected a list of connector keys like [\"flexit\", \"iused-stores\"] (leave it out for every refurbisher), got {}",
                        describe(other)
                    ),
                );
                None
            }
        };
        let margin_adjustment = match o.get("margin_adjustment") {
            None => Decimal::ZERO,
            Some(v) => match percent_number(v) {
                Some(p) if p.abs() <= Decimal::from(1000) => p.normalize(),
                _ => {
                    d.error(
                        &o.at("margin_adjustment"),
                        format!(
                            "expected percentage points between -1000 and 1000, like 2 or \"-1.5\", got {}",
                            describe(v)
                        ),
                    );
                    Decimal::ZERO
                }
            },
        };
        let shopware = shopware(&o, d);
        if d.error_count() == errors_before {
            out.push(Channel {
                key: key.clone(),
                name,
                currency,
                default_tax_percentage,
                refurbishers,
                margin_adjustment,
                shopware,
            });
        }
    }
    out
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

/// Keys of a margin rule.
pub const MARGIN_RULE_KEYS: &[&str] = &["ean", "sku_prefix", "brand", "category", "margin"];

fn margin_rules(o: &Obj<'_>, d: &mut Diagnostics) -> Vec<MarginRuleConfig> {
    let path = o.at("margin_rules");
    let items = match o.get("margin_rules") {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(items)) => items,
        Some(v) => {
            d.error(
                &path,
                format!(
                    "expected a list of rules like [{{\"brand\": \"Apple\", \"margin\": 15}}], got {}",
                    describe(v)
                ),
            );
            return Vec::new();
        }
    };
    let mut rules = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let at = path.index(i);
        let Some(r) = Obj::of(item, &at, d, "a margin rule") else {
            continue;
        };
        r.unknown_keys(d, MARGIN_RULE_KEYS, "a margin rule");
        let text = |d: &mut Diagnostics, k: &str| {
            r.string(d, k)
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        };
        let ean = text(d, "ean");
        if let Some(e) = &ean
            && let Err(err) = crate::values::gtin::parse_gtin(e)
        {
            d.error(&r.at("ean"), format!("not a valid EAN/GTIN: {err}"));
        }
        let rule = MarginRuleConfig {
            ean,
            sku_prefix: text(d, "sku_prefix"),
            brand: text(d, "brand"),
            category: text(d, "category"),
            margin: match r.get("margin") {
                None => {
                    d.error(&at, "a margin rule needs its `margin` in percent");
                    Decimal::ZERO
                }
                Some(v) => percent(v, &r.at("margin"), d, Decimal::from(1000)).unwrap_or_default(),
            },
        };
        let matchers = [&rule.ean, &rule.sku_prefix, &rule.brand, &rule.category]
            .iter()
            .filter(|m| m.is_some())
            .count();
        if matchers != 1 {
            d.error(
                &at,
                format!(
                    "a margin rule matches by exactly one of `ean`, `sku_prefix`, `brand`, `category`; this one has {matchers}"
                ),
            );
        }
        rules.push(rule);
    }
    rules
}

fn margin(o: &Obj<'_>, d: &mut Diagnostics) -> Decimal {
    let path = o.at("default_margin");
    let Some(v) = o.get("default_margin") else {
        d.warning(
            &path,
            "`default_margin` is not set, so it is 0 %: offers would sell at cost",
        )
        .help("set the markup on cost in percent, e.g. \"default_margin\": 17");
        return Decimal::ZERO;
    };
    let Some(m) = percent_number(v) else {
        d.error(
            &path,
            format!(
                "expected a percentage like 17 or \"17.5\", got {}",
                describe(v)
            ),
        );
        return Decimal::ZERO;
    };
    if m.is_sign_negative() && !m.is_zero() {
        d.error(&path, format!("must not be negative, got {m}"));
    } else if m > Decimal::from(1000) {
        d.error(&path, format!("must be at most 1000 (percent), got {m}"));
    } else if m > Decimal::ZERO && m < Decimal::ONE {
        d.warning(
            &path,
            format!(
                "`default_margin` is a percentage: {m} means {m} %, not {} %",
                (m * Decimal::from(100)).normalize()
            ),
        )
        .help(format!(
            "write {} for a {} % markup",
            (m * Decimal::from(100)).normalize(),
            (m * Decimal::from(100)).normalize()
        ));
    } else if m.is_zero() {
        d.warning(&path, "`default_margin` is 0 %: offers would sell at cost");
    }
    m.normalize()
}

fn monitoring(o: &Obj<'_>, d: &mut Diagnostics, poll_interval_secs: i64) -> Monitoring {
    let mut m = Monitoring::default();
    let Some(v) = o.get("monitoring") else {
        return m;
    };
    let path = o.at("monitoring");
    let Some(mo) = Obj::of(v, &path, d, "monitoring thresholds") else {
        return m;
    };
    mo.unknown_keys(d, MONITORING_KEYS, "`monitoring`");
    if let Some(n) = mo.int(d, "latest_order_hours", 0, 24 * 366) {
        m.latest_order_hours = n;
    }
    if let Some(n) = mo.int(d, "offers_stock_hours", 0, 24 * 366) {
        m.offers_stock_hours = n;
        if n > 0 && poll_interval_secs > 0 && n * 3600 < poll_interval_secs {
            d.warning(
                &mo.at("offers_stock_hours"),
                format!(
                    "{n} hours is shorter than the poll interval ({poll_interval_secs} s): the alert would open between every two polls"
                ),
            );
        }
    }
    if let Some(n) = mo.int(d, "open_order_days", 0, 366) {
        m.open_order_days = n;
    }
    if let Some(n) = mo.int(d, "offers_endpoint_http_status", 0, 999) {
        m.offers_endpoint_http_status = n;
        let p = mo.at("offers_endpoint_http_status");
        match n {
            0 | 200..=599 => {}
            100..=199 => {
                d.warning(
                    &p,
                    format!("{n} is an informational HTTP status, never the final answer of a feed request, so this threshold would always alert"),
                )
                .help("the offers endpoint is expected to answer 200");
            }
            _ => {
                d.warning(
                    &p,
                    format!(
                        "{n} is not an HTTP status (100-599), so this threshold would always alert"
                    ),
                )
                .help("the offers endpoint is expected to answer 200");
            }
        }
    }
    m
}

fn shipment(o: &Obj<'_>, d: &mut Diagnostics) -> ShipmentConfig {
    let mut cfg = ShipmentConfig::default();
    let Some(v) = o.get("shipment") else {
        return cfg;
    };
    let Some(so) = Obj::of(v, &o.at("shipment"), d, "the shipment webhook settings") else {
        return cfg;
    };
    so.unknown_keys(d, SHIPMENT_KEYS, "`shipment`");
    if let Some(n) = so.int(d, "token_grace_hours", 0, 24 * 30) {
        cfg.token_grace_hours = n;
    }
    let Some(mv) = so.get("mapping") else {
        return cfg;
    };
    let Some(mo) = Obj::of(mv, &so.at("mapping"), d, "the shipment mapping") else {
        return cfg;
    };
    mo.unknown_keys(
        d,
        crate::shipments::MAPPING_KEYS,
        "the shipment mapping (shipment fields)",
    );
    let mut seen: Vec<(String, String)> = Vec::new();
    for key in crate::shipments::MAPPING_KEYS {
        let Some(path) = mo.string(d, key) else {
            continue;
        };
        if let Err(e) = asserts::check_response_path(&path) {
            d.error(
                &mo.at(key),
                e.replace("into the response", "into the shipment payload"),
            )
            .help("name where the refurbisher's payload has this field, e.g. `tracking.code`");
            continue;
        }
        if let Some((other, _)) = seen.iter().find(|(_, p)| *p == path) {
            d.error(
                &mo.at(key),
                format!("`{path}` is already the path of `{other}`; each field is read from its own place"),
            );
            continue;
        }
        seen.push(((*key).to_owned(), path.clone()));
        cfg.mapping.set(key, path);
    }
    // A path set here may also be another field's default (`"imei": "serial_number"` would
    // read every serial number as an IMEI too).
    let m = &cfg.mapping;
    let effective = [
        ("external_order_id", &m.external_order_id),
        ("track_and_trace", &m.track_and_trace),
        ("carrier", &m.carrier),
        ("serial_number", &m.serial_number),
        ("imei", &m.imei),
        ("items", &m.items),
    ];
    for (key, path) in &seen {
        if let Some((other, _)) = effective
            .iter()
            .find(|(k, p)| *k != key.as_str() && *p == path && !seen.iter().any(|(s, _)| s == k))
        {
            d.error(
                &mo.at(key),
                format!("`{path}` is where `{other}` is read from (its default); each field is read from its own place"),
            )
            .help(format!("map `{other}` to another path too, or pick another path for `{key}`"));
        }
    }
    cfg
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

fn http_auth(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> Option<HttpAuth> {
    let o = Obj::of(v, path, d, "an auth block")?;
    let kind = o.required_string(
        d,
        "type",
        &format!("expected one of {}", HttpAuth::NAMES.join(", ")),
    )?;
    let cred = |d: &mut Diagnostics, k: &str| -> Option<String> {
        let s = o.required_string(d, k, &format!("`{kind}` auth needs it"))?;
        if CREDENTIAL_KEYS.contains(&k) {
            credential(&o.at(k), &s, d);
        }
        Some(s)
    };
    let (auth, keys): (Option<HttpAuth>, &[&str]) = match kind.as_str() {
        "none" => (Some(HttpAuth::None), &["type"]),
        "bearer" => (
            cred(d, "token").map(|token| HttpAuth::Bearer { token }),
            &["type", "token"],
        ),
        "basic" => {
            let u = cred(d, "username");
            let p = cred(d, "password");
            (
                u.zip(p)
                    .map(|(username, password)| HttpAuth::Basic { username, password }),
                &["type", "username", "password"],
            )
        }
        "header" | "query" => {
            let n = cred(d, "name");
            let val = cred(d, "value");
            (
                n.zip(val).map(|(name, value)| {
                    if kind == "header" {
                        HttpAuth::Header { name, value }
                    } else {
                        HttpAuth::Query { name, value }
                    }
                }),
                &["type", "name", "value"],
            )
        }
        "client_id_secret" => {
            let id = cred(d, "client_id");
            let secret = cred(d, "client_secret");
            let token_url = o.string(d, "token_url");
            if let Some(u) = &token_url {
                url(u, &o.at("token_url"), d);
            }
            let scope = o.string(d, "scope");
            let client_id_header = o
                .string(d, "client_id_header")
                .unwrap_or_else(|| "client_id".into());
            let client_secret_header = o
                .string(d, "client_secret_header")
                .unwrap_or_else(|| "client_secret".into());
            (
                id.zip(secret)
                    .map(|(client_id, client_secret)| HttpAuth::ClientIdSecret {
                        client_id,
                        client_secret,
                        token_url,
                        scope,
                        client_id_header,
                        client_secret_header,
                    }),
                &[
                    "type",
                    "client_id",
                    "client_secret",
                    "token_url",
                    "scope",
                    "client_id_header",
                    "client_secret_header",
                ],
            )
        }
        other => {
            let diag = d.error(
                &o.at("type"),
                format!(
                    "unknown auth type {}, expected one of {}",
                    Value::String(other.to_owned()),
                    HttpAuth::NAMES.join(", ")
                ),
            );
            if let Some(s) = did_you_mean(other, HttpAuth::NAMES) {
                diag.help(format!("did you mean `{s}`?"));
            } else if other.to_lowercase().starts_with("oauth") {
                diag.help(
                    "for OAuth2 client credentials use `client_id_secret` with a `token_url`",
                );
            }
            return None;
        }
    };
    o.unknown_keys(d, keys, &format!("`{kind}` auth"));
    auth
}

fn sftp_auth(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> Option<SftpAuth> {
    let o = Obj::of(v, path, d, "the SFTP location and login")?;
    if o.get("type").is_some() {
        d.error(&o.at("type"), "an `sftp` auth block has no `type`")
            .help(format!("it takes {}", SFTP_AUTH_KEYS.join(", ")));
    }
    o.unknown_keys(
        d,
        &[SFTP_AUTH_KEYS, &["type"]].concat(),
        "an `sftp` auth block",
    );
    let host = o.required_string(d, "host", "the SFTP server's host name is needed");
    let port = match o.get("port") {
        None => 22,
        Some(_) => o.int(d, "port", 1, 65535).map_or(22, |p| p as u16),
    };
    let file = o.required_string(
        d,
        "path",
        "the path of the feed file on the server is needed",
    );
    let username = o.required_string(d, "username", "the SFTP login name is needed");
    let secret = |d: &mut Diagnostics, k: &str| {
        let s = o.string(d, k)?;
        credential(&o.at(k), &s, d);
        Some(s)
    };
    let password = secret(d, "password");
    let private_key = secret(d, "private_key");
    let passphrase = secret(d, "passphrase");
    if password.is_none()
        && private_key.is_none()
        && o.get("password").is_none()
        && o.get("private_key").is_none()
    {
        d.error(
            path,
            "missing `password` or `private_key`: SFTP needs one to log in",
        );
    }
    if passphrase.is_some() && private_key.is_none() {
        d.warning(
            &o.at("passphrase"),
            "`passphrase` is only used with `private_key`",
        );
    }
    let host_key_fingerprint = o.string(d, "host_key_fingerprint");
    if let Some(fp) = &host_key_fingerprint
        && (!fp.starts_with("SHA256:") || fp.len() < 20)
    {
        d.error(
            &o.at("host_key_fingerprint"),
            format!(
                "expected an OpenSSH SHA256 fingerprint like \"SHA256:uNiVz…\", got {}",
                Value::String(fp.clone())
            ),
        )
        .help("`ssh-keyscan HOST | ssh-keygen -lf -` prints it");
    }
    Some(SftpAuth {
        host: host?,
        port,
        path: file?,
        username: username?,
        password,
        private_key,
        passphrase,
        host_key_fingerprint,
    })
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

fn offers(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> Option<OffersConfig> {
    let errors_before = d.error_count();
    let o = Obj::of(v, path, d, "the offers connector")?;
    o.unknown_keys(d, OFFERS_KEYS, "`offers`");

    let connection = match o.required_string(
        d,
        "connection",
        &format!("expected one of {}", Connection::NAMES.join(", ")),
    ) {
        None => None,
        Some(c) => match Connection::from_name(&c) {
            Some(c) => Some(c),
            None => {
                let diag = d.error(
                    &o.at("connection"),
                    format!(
                        "unknown connection {}, expected one of {}",
                        Value::String(c.clone()),
                        Connection::NAMES.join(", ")
                    ),
                );
                if let Some(s) = did_you_mean(&c, Connection::NAMES) {
                    diag.help(format!("did you mean `{s}`?"));
                }
                None
            }
        },
    };
    let format = match o.required_string(
        d,
        "type",
        &format!("the feed format, one of {}", Format::NAMES.join(", ")),
    ) {
        None => None,
        Some(t) => match t.as_str() {
            "json" => Some(Format::Json),
            "csv" => Some(Format::Csv),
            "xml" => Some(Format::Xml),
            other => {
                let diag = d.error(
                    &o.at("type"),
                    format!(
                        "unknown feed type {}, expected one of {}",
                        Value::String(other.to_owned()),
                        Format::NAMES.join(", ")
                    ),
                );
                if let Some(s) = did_you_mean(&other.to_lowercase(), Format::NAMES) {
                    diag.help(format!("did you mean `{s}`?"));
                }
                None
            }
        },
    };

    // Transport.
    let ignored = |d: &mut Diagnostics, k: &str, why: &str| {
        if o.get(k).is_some() {
            d.warning(&o.at(k), format!("`{k}` is ignored {why}"));
        }
    };
    let mut endpoint = None;
    let mut body = None;
    let mut file_path = None;
    let mut auth = None;
    match connection {
        Some(Connection::Web | Connection::WebPost) => {
            endpoint = o.required_string(d, "endpoint", "the feed URL is needed");
            if let Some(u) = &endpoint {
                url(u, &o.at("endpoint"), d);
            }
            if connection == Some(Connection::WebPost) {
                body = match o.get("body") {
                    None => None,
                    Some(Value::String(s)) => {
                        if !secret_ref::has_references(s)
                            && serde_json::from_str::<Value>(s).is_err()
                        {
                            d.warning(
                                &o.at("body"),
                                "`body` is not valid JSON, but is sent with a JSON content type",
                            );
                        }
                        Some(s.clone())
                    }
                    Some(v @ (Value::Object(_) | Value::Array(_))) => Some(v.to_string()),
                    Some(other) => {
                        d.error(
                            &o.at("body"),
                            format!(
                                "expected the request body as a string or a JSON object, got {}",
                                describe(other)
                            ),
                        );
                        None
                    }
                };
            } else {
                ignored(
                    d,
                    "body",
                    "with `connection` `web` (GET); use `web_post` to send a body",
                );
            }
            ignored(d, "path", "for HTTP feeds");
            auth = match o.get("auth") {
                None => None,
                Some(v) => http_auth(v, &o.at("auth"), d).map(OffersAuth::Http),
            };
        }
        Some(Connection::Sftp) => {
            ignored(d, "endpoint", "for `sftp` (the server is `auth.host`)");
            ignored(d, "body", "for `sftp`");
            ignored(d, "path", "for `sftp` (the file is `auth.path`)");
            match o.get("auth") {
                None => {
                    d.error(
                        &o.at("auth"),
                        "missing `auth`: an `sftp` feed needs host, path, username and password or private_key there",
                    );
                }
                Some(v) => auth = sftp_auth(v, &o.at("auth"), d).map(OffersAuth::Sftp),
            }
        }
        Some(Connection::File) => {
            file_path =
                o.required_string(d, "path", "the feed file's path on the IRP host is needed");
            ignored(d, "endpoint", "for `file`");
            ignored(d, "body", "for `file`");
            ignored(d, "auth", "for `file`");
        }
        Some(Connection::Upload) => {
            for k in ["endpoint", "body", "path", "auth"] {
                ignored(d, k, "for `upload`");
            }
        }
        None => {}
    }

    let paginate = pagination(&o, d, connection);

    // Format.
    let mut offer_location = None;
    let mut record_path = None;
    let mut separator = None;
    let mut heading = None;
    let mut encoding = None;
    match format {
        Some(Format::Json) => {
            offer_location = Some(o.string(d, "offer_location").unwrap_or_default());
            for k in ["separator", "heading", "encoding", "record_path"] {
                ignored(d, k, "for `type` `json`");
            }
        }
        Some(Format::Csv) => {
            separator = Some(match o.string(d, "separator") {
                None => ',',
                Some(s) => {
                    let mut chars = s.chars();
                    match (chars.next(), chars.next()) {
                        (Some(c), None) if c != '"' && c != '\n' && c != '\r' => c,
                        _ => {
                            d.error(
                                &o.at("separator"),
                                format!("expected a single character like \";\" or \",\" (\"\\t\" for tab), got {}", Value::String(s.clone())),
                            );
                            ','
                        }
                    }
                }
            });
            heading = Some(o.bool(d, "heading").unwrap_or(true));
            encoding = Some(text_encoding(&o, d).unwrap_or_else(|| "utf-8".into()));
            for k in ["offer_location", "record_path"] {
                ignored(d, k, "for `type` `csv`");
            }
        }
        Some(Format::Xml) => {
            record_path = o.required_string(
                d,
                "record_path",
                "the path of the element that holds one offer (like \"offers.offer\") is needed",
            );
            for k in ["separator", "heading", "offer_location"] {
                ignored(d, k, "for `type` `xml`");
            }
            encoding = text_encoding(&o, d);
        }
        None => {}
    }
    match (&paginate, format) {
        (Pagination::None, _) | (_, Some(Format::Json) | None) => {}
        (_, Some(Format::Xml)) => {
            d.error(
                &o.at("paginate"),
                "`paginate` works for `json` and `csv` feeds; an `xml` feed is fetched in one request",
            );
        }
        (
            Pagination::Cursor { .. }
            | Pagination::Link {
                next_path: Some(_), ..
            },
            Some(Format::Csv),
        ) => {
            d.error(
                &o.at("paginate"),
                "a `csv` page has no place for a cursor or a next link: use `page`, `offset`, or `link` without `next_path` (the `Link` header)",
            );
        }
        (_, Some(Format::Csv)) => {}
    }
    let price_locale = match o.string(d, "price_locale") {
        None => "en_US".to_owned(),
        Some(l) => match PriceLocale::from_name(&l) {
            Some(pl) => pl.name().to_owned(),
            None => {
                let diag = d.error(
                    &o.at("price_locale"),
                    format!(
                        "unknown price_locale {}, expected one of {}",
                        Value::String(l.clone()),
                        PriceLocale::names().collect::<Vec<_>>().join(", ")
                    ),
                );
                if let Some(s) = did_you_mean(&l, PriceLocale::names()) {
                    diag.help(format!("did you mean `{s}`?"));
                }
                "en_US".into()
            }
        },
    };
    let mapping = offer_mapping(&o, d, heading == Some(false));
    let timeout_secs = o.int(d, "timeout_secs", 1, 24 * 3600).unwrap_or(600);
    let connect_timeout_secs = o.int(d, "connect_timeout_secs", 1, 600).unwrap_or(10);
    let read_timeout_secs = o.int(d, "read_timeout_secs", 1, 3600).unwrap_or(60);
    let max_bytes = o
        .int(d, "max_bytes", 1, i64::MAX)
        .unwrap_or(DEFAULT_MAX_BYTES);
    let max_record_bytes = o
        .int(d, "max_record_bytes", 1024, 1024 * 1024 * 1024)
        .unwrap_or(DEFAULT_MAX_RECORD_BYTES);
    let max_removal_ratio = match o.get("max_removal_ratio") {
        None => Decimal::new(5, 1),
        Some(v) => {
            let parsed = match v {
                Value::Number(n) => money::parse_plain_decimal(&n.to_string()),
                Value::String(s) => money::parse_plain_decimal(s),
                _ => None,
            };
            match parsed {
                Some(r) if r > Decimal::ZERO && r <= Decimal::ONE => r.normalize(),
                _ => {
                    d.error(
                        &o.at("max_removal_ratio"),
                        format!(
                            "expected a fraction above 0 and at most 1, like 0.5, got {}",
                            describe(v)
                        ),
                    );
                    Decimal::new(5, 1)
                }
            }
        }
    };

    if d.error_count() > errors_before {
        return None;
    }
    Some(OffersConfig {
        connection: connection?,
        endpoint,
        body,
        path: file_path,
        auth,
        format: format?,
        paginate,
        offer_location,
        record_path,
        separator,
        heading,
        encoding,
        price_locale,
        mapping,
        max_removal_ratio,
        timeout_secs,
        connect_timeout_secs,
        read_timeout_secs,
        max_bytes,
        max_record_bytes,
    })
}

/// The declared text encoding, normalised (`latin1` → `iso-8859-1`), if any.
fn text_encoding(o: &Obj<'_>, d: &mut Diagnostics) -> Option<String> {
    let e = o.string(d, "encoding")?;
    let lower = e.to_lowercase().replace('_', "-");
    let norm = match lower.as_str() {
        "utf8" => "utf-8".to_owned(),
        "latin1" | "latin-1" => "iso-8859-1".to_owned(),
        "cp1252" => "windows-1252".to_owned(),
        _ => lower,
    };
    if ENCODINGS.contains(&norm.as_str()) {
        Some(norm)
    } else {
        d.error(
            &o.at("encoding"),
            format!(
                "unknown encoding {}, expected one of {}",
                Value::String(e.clone()),
                ENCODINGS.join(", ")
            ),
        );
        None
    }
}

fn pagination(o: &Obj<'_>, d: &mut Diagnostics, connection: Option<Connection>) -> Pagination {
    let path = o.at("paginate");
    let v = match o.get("paginate") {
        None | Some(Value::Bool(false)) | Some(Value::Null) => return Pagination::None,
        Some(v) => v,
    };
    if !matches!(
        connection,
        Some(Connection::Web | Connection::WebPost) | None
    ) {
        d.warning(
            &path,
            "`paginate` is only used for HTTP feeds (`web`, `web_post`)",
        );
    }
    let Value::Object(_) = v else {
        d.error(
            &path,
            format!(
                "expected false or a pagination object like {{\"type\": \"page\"}}, got {}",
                describe(v)
            ),
        );
        return Pagination::None;
    };
    let Some(po) = Obj::of(v, &path, d, "pagination") else {
        return Pagination::None;
    };
    let types = ["page", "offset", "cursor", "link"];
    let Some(kind) =
        po.required_string(d, "type", &format!("expected one of {}", types.join(", ")))
    else {
        return Pagination::None;
    };
    let max_pages = po.int(d, "max_pages", 1, 1_000_000).unwrap_or(1000);
    let name = |d: &mut Diagnostics, k: &str, default: &str| {
        po.string(d, k).unwrap_or_else(|| default.to_owned())
    };
    let (p, keys): (Pagination, &[&str]) = match kind.as_str() {
        "page" => (
            Pagination::Page {
                param: name(d, "param", "page"),
                start: po.int(d, "start", 0, 1_000_000).unwrap_or(1),
                size_param: po.string(d, "size_param"),
                size: po.int(d, "size", 1, 1_000_000),
                max_pages,
            },
            &["type", "param", "start", "size_param", "size", "max_pages"],
        ),
        "offset" => (
            Pagination::Offset {
                param: name(d, "param", "offset"),
                limit_param: name(d, "limit_param", "limit"),
                limit: po.int(d, "limit", 1, 1_000_000).unwrap_or(100),
                max_pages,
            },
            &["type", "param", "limit_param", "limit", "max_pages"],
        ),
        "cursor" => {
            let cursor_path = po.required_string(
                d,
                "cursor_path",
                "the dotted path of the next cursor in the response is needed",
            );
            (
                Pagination::Cursor {
                    param: name(d, "param", "cursor"),
                    cursor_path: cursor_path.unwrap_or_default(),
                    max_pages,
                },
                &["type", "param", "cursor_path", "max_pages"],
            )
        }
        "link" => (
            Pagination::Link {
                next_path: po.string(d, "next_path"),
                max_pages,
            },
            &["type", "next_path", "max_pages"],
        ),
        other => {
            let diag = d.error(
                &po.at("type"),
                format!(
                    "unknown pagination type {}, expected one of {}",
                    Value::String(other.to_owned()),
                    types.join(", ")
                ),
            );
            if let Some(s) = did_you_mean(other, types) {
                diag.help(format!("did you mean `{s}`?"));
            }
            return Pagination::None;
        }
    };
    po.unknown_keys(d, keys, &format!("`{kind}` pagination"));
    p
}

fn offer_mapping(o: &Obj<'_>, d: &mut Diagnostics, by_column_number: bool) -> Map<String, Value> {
    let path = o.at("mapping");
    let Some(v) = o.get("mapping") else {
        d.error(
            &path,
            format!(
                "missing `mapping`: name the source field of each of {}",
                REQUIRED_OFFER_FIELDS.join(", ")
            ),
        );
        return Map::new();
    };
    let Some(mo) = Obj::of(v, &path, d, "the offer mapping") else {
        return Map::new();
    };
    let known: Vec<&str> = REQUIRED_OFFER_FIELDS
        .iter()
        .chain(OPTIONAL_OFFER_FIELDS.iter())
        .copied()
        .chain(["extra"])
        .collect();
    mo.unknown_keys(d, &known, "the offer mapping (canonical offer fields)");
    let missing: Vec<&str> = REQUIRED_OFFER_FIELDS
        .iter()
        .copied()
        .filter(|k| !mo.map.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        d.error(
            &path,
            format!(
                "the mapping does not name a source for {}; every offer needs {}",
                missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                REQUIRED_OFFER_FIELDS.join(", ")
            ),
        );
    }
    let source = |d: &mut Diagnostics, p: &JsonPath, v: &Value| match v {
        Value::String(s) if !s.trim().is_empty() => {
            if by_column_number && s.parse::<u32>().is_err() {
                d.error(
                    p,
                    format!("the CSV has no heading row (`heading`: false), so columns are named by number (1 is the first), got {}", Value::String(s.clone())),
                );
            }
        }
        Value::Number(n) if n.as_u64().is_some_and(|n| n >= 1) => {
            if !by_column_number {
                d.error(p, format!("column number {n} is only valid when `heading` is false; name the column as in the heading row"));
            }
        }
        other => {
            d.error(
                p,
                format!("expected the source field's name (or a column number ≥ 1 without heading row), got {}", describe(other)),
            );
        }
    };
    for (k, v) in mo.map {
        if k == "extra" {
            if let Some(eo) = Obj::of(
                v,
                &mo.at(k),
                d,
                "extra attributes (attribute name → source field)",
            ) {
                for (ek, ev) in eo.map {
                    source(d, &eo.at(ek), ev);
                }
            }
        } else if known.contains(&k.as_str()) {
            source(d, &mo.at(k), v);
        }
    }
    mo.map.clone()
}

fn order(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> Option<OrderConfig> {
    let errors_before = d.error_count();
    let o = Obj::of(v, path, d, "the order connector (or {} for none)")?;
    o.unknown_keys(d, ORDER_KEYS, "`order`");
    let connection = o.required_string(d, "connection", "expected `web`");
    if let Some(c) = &connection
        && c != "web"
    {
        d.error(
            &o.at("connection"),
            format!("unknown order connection {}, expected \"web\" (or \"order\": {{}} for no automated orders)", Value::String(c.clone())),
        );
    }
    let endpoint = o.required_string(d, "endpoint", "the refurbisher's order URL is needed");
    if let Some(u) = &endpoint {
        url(u, &o.at("endpoint"), d);
    }
    let method = match o.string(d, "method").as_deref() {
        None => Method::Post,
        Some(m) => match m.to_uppercase().as_str() {
            "POST" => Method::Post,
            "PUT" => Method::Put,
            "PATCH" => Method::Patch,
            _ => {
                d.error(
                    &o.at("method"),
                    format!(
                        "unknown method {}, expected POST, PUT or PATCH",
                        Value::String(m.to_owned())
                    ),
                );
                Method::Post
            }
        },
    };
    let auth = match o.get("auth") {
        None => None,
        Some(v) => http_auth(v, &o.at("auth"), d),
    };
    let timeout_secs = o.int(d, "timeout_secs", 1, 600).unwrap_or(30);
    let max_attempts = o.int(d, "max_attempts", 1, 100).unwrap_or(8);
    let retry_unknown = o.bool(d, "retry_unknown").unwrap_or(false);
    let idempotency_header = match o.string(d, "idempotency_header") {
        None => Some(DEFAULT_IDEMPOTENCY_HEADER.to_owned()),
        Some(h) if h.is_empty() => None,
        Some(h) => {
            if !h
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                d.error(
                    &o.at("idempotency_header"),
                    format!("{} is not a header name (letters, digits, `-`, `_`), or \"\" to send no key", Value::String(h.clone())),
                );
            }
            Some(h)
        }
    };

    let item_object = match o.get("item_object") {
        None => None,
        Some(v) => Obj::of(v, &o.at("item_object"), d, "the item mapping").map(|io| {
            let mut uses_items = false;
            mapping_object(io.map, &io.path, Scope::Item, d, &mut uses_items);
            if uses_items {
                d.error(&io.path, "`%ITEMS%` cannot be used inside `item_object`");
            }
            io.map.clone()
        }),
    };
    let order_object = match o.get("order_object") {
        None => {
            d.error(&o.at("order_object"), "missing `order_object`: the mapping of the request body is needed");
            None
        }
        Some(v) => Obj::of(v, &o.at("order_object"), d, "the order mapping").map(|oo| {
            let mut uses_items = false;
            mapping_object(oo.map, &oo.path, Scope::SupplierOrder, d, &mut uses_items);
            if uses_items && item_object.is_none() {
                d.error(&oo.path, "`%ITEMS%` is used, but there is no `item_object` to build the items with")
                    .help("add \"item_object\": { \"sku\": \"productVariant.refurbisherOffer.sku\", \"quantity\": \"quantity\" }");
            }
            if !uses_items && item_object.is_some() {
                d.warning(&o.at("item_object"), "`item_object` is never used: no value in `order_object` is `%ITEMS%`");
            }
            oo.map.clone()
        }),
    };

    let response_object = match o.get("response_object") {
        None => {
            d.warning(
                &o.at("response_object"),
                "no `response_object`: any 2xx answer counts as placed and the refurbisher's order id is not stored",
            );
            ResponseObject::default()
        }
        Some(v) => response_object(v, &o.at("response_object"), d),
    };

    if d.error_count() > errors_before {
        return None;
    }
    Some(OrderConfig {
        connection: connection?,
        endpoint: endpoint?,
        method,
        auth,
        order_object: order_object?,
        item_object,
        response_object,
        timeout_secs,
        max_attempts,
        retry_unknown,
        idempotency_header,
    })
}

/// Check a mapping object: dotted keys nest, values are expressions (or JSON literals, or
/// nested objects), and no target is both a value and an object.
fn mapping_object(
    map: &Map<String, Value>,
    path: &JsonPath,
    scope: Scope,
    d: &mut Diagnostics,
    uses_items: &mut bool,
) {
    let mut leaves = Vec::new();
    mapping_leaves(map, path, scope, d, uses_items, "", &mut leaves);
    leaves.sort_by(|a, b| a.0.cmp(&b.0));
    for w in leaves.windows(2) {
        let ((a, _), (b, p)) = (&w[0], &w[1]);
        if a == b {
            d.error(p, format!("target `{b}` is set twice"));
        } else if b.starts_with(&format!("{a}.")) {
            d.error(
                p,
                format!("target `{b}` nests inside `{a}`, which is already a value"),
            );
        }
    }
}

fn mapping_leaves(
    map: &Map<String, Value>,
    path: &JsonPath,
    scope: Scope,
    d: &mut Diagnostics,
    uses_items: &mut bool,
    prefix: &str,
    leaves: &mut Vec<(String, JsonPath)>,
) {
    for (k, v) in map {
        let p = path.key(k);
        if k.is_empty() || k.split('.').any(str::is_empty) {
            d.error(
                &p,
                format!(
                    "invalid target key {}: empty segment",
                    Value::String(k.clone())
                ),
            );
            continue;
        }
        let target = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::String(src) => match expr::parse(src) {
                Ok(e) => {
                    if e == expr::Expr::Items {
                        *uses_items = true;
                    }
                    if let Err(msg) = expr::check(&e, scope) {
                        d.error(&p, format!("in {}: {msg}", Value::String(src.clone())));
                    }
                }
                Err(msg) => {
                    d.error(&p, format!("in {}: {msg}", Value::String(src.clone())));
                }
            },
            Value::Object(inner) => {
                mapping_leaves(inner, &p, scope, d, uses_items, &target, leaves);
                continue;
            }
            Value::Number(_) | Value::Bool(_) | Value::Null => {}
            Value::Array(_) => {
                d.error(
                    &p,
                    "expected an expression string, a JSON literal or an object, got an array",
                );
            }
        }
        leaves.push((target, p));
    }
}

fn response_object(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> ResponseObject {
    let mut r = ResponseObject::default();
    let Some(o) = Obj::of(v, path, d, "the response checks") else {
        return r;
    };
    o.unknown_keys(d, &["asserts", "fields"], "`response_object`");
    if let Some(av) = o.get("asserts")
        && let Some(ao) = Obj::of(av, &o.at("asserts"), d, "asserts (key → rules)")
    {
        for (k, v) in ao.map {
            let p = ao.at(k);
            let Value::String(rules) = v else {
                d.error(
                    &p,
                    format!(
                        "expected rules like \"in:201\" or \"present|filled\", got {}",
                        describe(v)
                    ),
                );
                continue;
            };
            if k != "status"
                && let Err(m) = asserts::check_response_path(k)
            {
                d.error(&p, m);
            }
            if let Err(m) = asserts::parse_rules(rules, k == "status") {
                d.error(&p, format!("in {}: {m}", Value::String(rules.clone())));
            }
        }
        r.asserts = ao.map.clone();
    }
    match o.get("fields") {
        None => {
            d.warning(
                &o.at("fields"),
                "no `fields`: the refurbisher's own order id (`externalOrderReference`) is not stored, so shipments cannot be matched by it",
            );
        }
        Some(fv) => {
            if let Some(fo) = Obj::of(
                fv,
                &o.at("fields"),
                d,
                "fields (supplier-order field → response path)",
            ) {
                for (k, v) in fo.map {
                    let p = fo.at(k);
                    if !RESPONSE_FIELD_TARGETS.contains(&k.as_str()) {
                        let diag = d.error(
                            &p,
                            format!(
                                "unknown supplier-order field `{k}`, expected one of {}",
                                RESPONSE_FIELD_TARGETS.join(", ")
                            ),
                        );
                        if let Some(s) = did_you_mean(k, RESPONSE_FIELD_TARGETS) {
                            diag.help(format!("did you mean `{s}`?"));
                        }
                    }
                    match v {
                        Value::String(s) => {
                            if let Err(m) = asserts::check_response_path(s) {
                                d.error(&p, m);
                            }
                        }
                        other => {
                            d.error(&p, format!("expected a dotted path into the response like \"OrderNumber\", got {}", describe(other)));
                        }
                    }
                }
                r.fields = fo.map.clone();
            }
        }
    }
    r
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

/// Keys of an ERP document's `erp` object.
pub const ERP_KEYS: &[&str] = &[
    "system",
    "protocol",
    "url",
    "alumio",
    "database",
    "login",
    "api_key",
    "documents",
    "confirm",
    "reference_prefix",
    "max_attempts",
    "timeout_secs",
    "enabled",
];
/// Keys of `erp.alumio`.
pub const ALUMIO_KEYS: &[&str] = &["proxy", "proxies", "auth_header", "auth_value"];
/// Keys of `erp.documents`.
pub const ERP_DOCUMENT_KEYS: &[&str] = &["drop_ship", "internal", "refurbishers"];
/// The `model/method` calls IRP makes of Odoo (each needs an Alumio proxy with `json2`).
pub const ODOO_CALLS: &[&str] = &[
    "res.partner/search_read",
    "res.partner/create",
    "res.country/search_read",
    "product.product/search_read",
    "purchase.order/search_read",
    "purchase.order/create",
    "purchase.order/button_confirm",
    "sale.order/search_read",
    "sale.order/create",
    "sale.order/action_confirm",
];

fn erp_kind(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> Option<ErpDocumentKind> {
    match v.as_str() {
        Some("purchase_order") => Some(ErpDocumentKind::PurchaseOrder),
        Some("sales_order") => Some(ErpDocumentKind::SalesOrder),
        Some("none") => Some(ErpDocumentKind::None),
        _ => {
            d.error(
                path,
                format!(
                    "expected \"purchase_order\", \"sales_order\" or \"none\", got {}",
                    describe(v)
                ),
            );
            None
        }
    }
}

fn alumio(o: &Obj<'_>, protocol: OdooProtocol, d: &mut Diagnostics) -> Option<AlumioConfig> {
    let v = o.get("alumio").filter(|v| !v.is_null())?;
    let a = Obj::of(v, &o.at("alumio"), d, "Alumio's proxies")?;
    a.unknown_keys(d, ALUMIO_KEYS, "`alumio`");
    let identifier = |d: &mut Diagnostics, path: &JsonPath, s: &str| {
        let ok = !s.is_empty()
            && s.len() <= 200
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok {
            d.error(
                path,
                format!(
                    "expected an HTTP proxy identifier (letters, digits, `-`, `_`, `.`), got {}",
                    Value::String(s.to_owned())
                ),
            );
        }
    };
    let proxy = match a.get("proxy") {
        None | Some(Value::Null) => None,
        Some(_) => a.string(d, "proxy"),
    };
    if let Some(p) = &proxy {
        identifier(d, &a.at("proxy"), p);
    }
    let mut proxies = BTreeMap::new();
    if let Some(pv) = a.get("proxies")
        && let Some(po) = Obj::of(
            pv,
            &a.at("proxies"),
            d,
            "proxy identifiers by `model/method`",
        )
    {
        po.unknown_keys(d, ODOO_CALLS, "`alumio.proxies`");
        for call in ODOO_CALLS {
            if let Some(s) = po.string(d, call) {
                identifier(d, &po.at(call), &s);
                proxies.insert((*call).to_owned(), s);
            }
        }
    }
    match protocol {
        OdooProtocol::Jsonrpc if proxy.is_none() => {
            d.error(
                &a.at("proxy"),
                "missing `proxy`: with protocol \"jsonrpc\" Alumio needs one HTTP proxy forwarding to Odoo's /jsonrpc, like \"odoo-jsonrpc\"",
            );
        }
        OdooProtocol::Json2 => {
            let missing: Vec<&str> = ODOO_CALLS
                .iter()
                .copied()
                .filter(|c| !proxies.contains_key(*c))
                .collect();
            if !missing.is_empty() {
                d.error(
                    &a.at("proxies"),
                    format!(
                        "with protocol \"json2\" each Odoo call goes through its own Alumio proxy (forwarding to /json/2/<model>/<method>); missing: {}",
                        missing.join(", ")
                    ),
                );
            }
        }
        OdooProtocol::Jsonrpc => {}
    }
    let auth_header = a
        .string(d, "auth_header")
        .unwrap_or_else(|| "Authorization".to_owned());
    if reqwest_header_name_ok(&auth_header).is_none() {
        d.error(
            &a.at("auth_header"),
            format!(
                "expected an HTTP header name, got {}",
                Value::String(auth_header.clone())
            ),
        );
    }
    let auth_value = a.required_string(
        d,
        "auth_value",
        "the value Alumio's proxy matcher checks, best as \"${secret:erp.alumio_auth}\"",
    );
    if let Some(v) = &auth_value {
        credential(&a.at("auth_value"), v, d);
    }
    Some(AlumioConfig {
        proxy,
        proxies,
        auth_header,
        auth_value: auth_value?,
    })
}

fn reqwest_header_name_ok(name: &str) -> Option<()> {
    (!name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)))
    .then_some(())
}

/// The ERP connector of an ERP document (`{"erp": {"system": "odoo", …}}`).
pub(crate) fn erp(v: &Value, d: &mut Diagnostics) -> Option<ErpConfig> {
    let root = JsonPath::root();
    let top = Obj::of(v, &root, d, "an ERP document")?;
    top.unknown_keys(d, &["erp"], "an ERP document");
    let Some(inner) = top.get("erp") else {
        d.error(
            &top.at("erp"),
            "missing `erp`: write {\"erp\": {\"system\": \"odoo\", \"url\": \"https://…\", \"database\": …, \"login\": …, \"api_key\": \"${secret:erp.api_key}\"}}",
        );
        return None;
    };
    let errors_before = d.error_count();
    let o = Obj::of(inner, &top.at("erp"), d, "the ERP connector")?;
    o.unknown_keys(d, ERP_KEYS, "the ERP connector");
    let system = o.string(d, "system").unwrap_or_else(|| "odoo".to_owned());
    if system != "odoo" {
        d.error(
            &o.at("system"),
            format!(
                "unknown ERP system {}, expected \"odoo\"",
                Value::String(system.clone())
            ),
        );
    }
    let protocol = match o.get("protocol") {
        None => OdooProtocol::Jsonrpc,
        Some(Value::String(s)) if s == "jsonrpc" => OdooProtocol::Jsonrpc,
        Some(Value::String(s)) if s == "json2" => OdooProtocol::Json2,
        Some(other) => {
            d.error(
                &o.at("protocol"),
                format!(
                    "expected \"jsonrpc\" (POST /jsonrpc, Odoo ≤ 18) or \"json2\" (POST /json/2/…, Odoo 19+), got {}",
                    describe(other)
                ),
            );
            OdooProtocol::Jsonrpc
        }
    };
    let url_value = o.required_string(
        d,
        "url",
        "Alumio's base URL (with `alumio`, like \"https://acme.alumio.com\") or Odoo's (like \"https://acme.odoo.com\")",
    );
    if let Some(u) = &url_value {
        service_url(u, &o.at("url"), d);
    }
    let alumio = alumio(&o, protocol, d);
    let database = o.required_string(d, "database", "Odoo's database name");
    let login = o.required_string(
        d,
        "login",
        "the Odoo user IRP acts as, like \"irp@example.nl\"",
    );
    let api_key = o.required_string(
        d,
        "api_key",
        "that user's API key (Preferences → Account Security), best as \"${secret:erp.api_key}\"",
    );
    if let Some(k) = &api_key {
        credential(&o.at("api_key"), k, d);
    }
    let mut documents = ErpDocuments {
        drop_ship: ErpDocumentKind::PurchaseOrder,
        internal: ErpDocumentKind::SalesOrder,
        refurbishers: BTreeMap::new(),
    };
    if let Some(dv) = o.get("documents")
        && let Some(dob) = Obj::of(
            dv,
            &o.at("documents"),
            d,
            "which document each refurbisher gets",
        )
    {
        dob.unknown_keys(d, ERP_DOCUMENT_KEYS, "`documents`");
        if let Some(v) = dob.get("drop_ship")
            && let Some(k) = erp_kind(v, &dob.at("drop_ship"), d)
        {
            documents.drop_ship = k;
        }
        if let Some(v) = dob.get("internal")
            && let Some(k) = erp_kind(v, &dob.at("internal"), d)
        {
            documents.internal = k;
        }
        if let Some(rv) = dob.get("refurbishers")
            && let Some(ro) = Obj::of(
                rv,
                &dob.at("refurbishers"),
                d,
                "documents by refurbisher key",
            )
        {
            for (key, v) in ro.map {
                if let Some(k) = erp_kind(v, &ro.at(key), d) {
                    documents.refurbishers.insert(key.clone(), k);
                }
            }
        }
    }
    let confirm = o.bool(d, "confirm").unwrap_or(true);
    let reference_prefix = o
        .string(d, "reference_prefix")
        .unwrap_or_else(|| "IRP-SO-".to_owned());
    if reference_prefix.is_empty()
        || reference_prefix.len() > 30
        || !reference_prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./".contains(&b))
    {
        d.error(
            &o.at("reference_prefix"),
            format!(
                "expected 1 to 30 letters, digits or `-_./`, like \"IRP-SO-\" (or \"IRP-STAGING-\" for a second installation), got {}",
                Value::String(reference_prefix.clone())
            ),
        );
    }
    let max_attempts = o.int(d, "max_attempts", 1, 100).unwrap_or(10);
    let timeout_secs = o.int(d, "timeout_secs", 1, 600).unwrap_or(30);
    let enabled = o.bool(d, "enabled").unwrap_or(true);
    if d.error_count() > errors_before {
        return None;
    }
    Some(ErpConfig {
        system,
        protocol,
        url: url_value?,
        alumio,
        database: database?,
        login: login?,
        api_key: api_key?,
        documents,
        confirm,
        reference_prefix,
        max_attempts,
        timeout_secs,
        enabled,
    })
}
