//! A refurbisher (the value under its connector key in a refurbisher document): its registry
//! fields (ids, names, currency, costs, margins and margin rules, tax, rounding, stock and
//! polling), its `monitoring` thresholds and its `shipment` webhook settings. The `offers` and
//! `order` connectors are checked in `offers.rs` and `order.rs`.

use rust_decimal::Decimal;
use serde_json::Value;

use super::offers::offers;
use super::order::order;
use super::{
    Obj, currency, default_tax_percentage, describe, percent, percent_number, valid_connector_key,
};

use crate::config::diag::{Diagnostics, JsonPath};
use crate::config::model::*;
use crate::config::suggest::did_you_mean;

use crate::mapping::asserts;
use crate::money;

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
