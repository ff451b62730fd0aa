//! A channels document (`{"channels": {"<key>": { … }}}`): each channel's name, currency, tax,
//! refurbishers and margin adjustment, and its `shopware` block.

use rust_decimal::Decimal;
use serde_json::Value;

use super::{
    Obj, credential, currency, default_tax_percentage, describe, percent_number, service_url,
    valid_connector_key,
};

use crate::config::diag::{Diagnostics, JsonPath};
use crate::config::model::*;
use crate::shopware::content::{ContentConfig, ContentField};

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
    "content",
];

/// Keys of a Shopware block's `content`.
pub const CONTENT_KEYS: &[&str] = &["fields", "description_attribute"];

/// The content fields the sync sends today.
const CONTENT_FIELDS: &[ContentField] = &[
    ContentField::Name,
    ContentField::Description,
    ContentField::Ean,
];

fn content(s: &Obj<'_>, d: &mut Diagnostics) -> ContentConfig {
    let mut cfg = ContentConfig::default();
    let Some(v) = s.get("content") else {
        return cfg;
    };
    if v.is_null() {
        return cfg;
    }
    let Some(c) = Obj::of(v, &s.at("content"), d, "a content block") else {
        return cfg;
    };
    c.unknown_keys(d, CONTENT_KEYS, "a content block");
    let names: Vec<&str> = CONTENT_FIELDS.iter().map(|f| f.as_str()).collect();
    match c.get("fields") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                let at = c.at("fields").index(i);
                match item.as_str().and_then(ContentField::parse) {
                    Some(f) if CONTENT_FIELDS.contains(&f) => {
                        if cfg.fields.contains(&f) {
                            d.error(&at, format!("`{}` is listed twice", f.as_str()));
                        } else {
                            cfg.fields.push(f);
                        }
                    }
                    Some(f) => {
                        d.error(
                            &at,
                            format!(
                                "IRP does not sync a product's `{}` yet; it syncs {}",
                                f.as_str(),
                                names.join(", ")
                            ),
                        );
                    }
                    None => {
                        d.error(
                            &at,
                            format!(
                                "expected one of {}, got {}",
                                names.join(", "),
                                describe(item)
                            ),
                        );
                    }
                }
            }
        }
        Some(other) => {
            d.error(
                &c.at("fields"),
                format!(
                    "expected a list of the fields IRP owns in the shop (of {}), got {}",
                    names.join(", "),
                    describe(other)
                ),
            );
        }
    }
    cfg.fields.sort();
    cfg.description_attribute = c.string(d, "description_attribute");
    if cfg.owns(ContentField::Description) && cfg.description_attribute.is_none() {
        d.error(
            &c.at("description_attribute"),
            "missing `description_attribute`: the code of the PIM attribute that holds the description (like \"description\")",
        );
    }
    cfg
}

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
    let content = content(&s, d);
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
        content,
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
