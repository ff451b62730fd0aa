//! The documentation names every configuration key, context path, function and rule the code
//! knows, so the reference cannot silently fall behind.

use irp_core::config::model::{OPTIONAL_OFFER_FIELDS, REQUIRED_OFFER_FIELDS};
use irp_core::config::validate::{
    CHANNEL_KEYS, CONTENT_KEYS, ENCODINGS, MARGIN_RULE_KEYS, MONITORING_KEYS, OFFERS_KEYS,
    ORDER_KEYS, PIM_FIELD_KEYS, PIM_KEYS, REFURBISHER_KEYS, SFTP_AUTH_KEYS,
};
use irp_core::mapping::asserts::RULE_NAMES;
use irp_core::mapping::context::{Scope, paths};
use irp_core::mapping::expr::{Cast, Function};
use irp_core::values::locale::PriceLocale;

fn doc(name: &str) -> String {
    let path = format!("{}/../../docs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn missing<'a>(text: &str, names: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    names
        .into_iter()
        .filter(|n| !text.contains(&format!("`{n}`")))
        .collect()
}

#[test]
fn the_configuration_reference_names_every_key() {
    let text = doc("configuration.md");
    let keys = REFURBISHER_KEYS
        .iter()
        .chain(MONITORING_KEYS)
        .chain(OFFERS_KEYS)
        .chain(SFTP_AUTH_KEYS)
        .chain(ORDER_KEYS)
        .chain(REQUIRED_OFFER_FIELDS.iter())
        .chain(OPTIONAL_OFFER_FIELDS.iter())
        .chain(ENCODINGS)
        .chain(CHANNEL_KEYS)
        .chain(CONTENT_KEYS)
        .chain(MARGIN_RULE_KEYS)
        .chain(PIM_KEYS)
        .chain(PIM_FIELD_KEYS)
        .copied()
        .chain(irp_core::config::model::HttpAuth::NAMES)
        .chain([
            "token",
            "username",
            "password",
            "name",
            "value",
            "client_id",
            "client_secret",
            "token_url",
            "scope",
            "client_id_header",
            "client_secret_header",
            "page",
            "offset",
            "cursor",
            "link",
            "param",
            "start",
            "size_param",
            "size",
            "limit_param",
            "limit",
            "cursor_path",
            "next_path",
            "max_pages",
            "extra",
            "IRP_DATABASE_URL",
            "IRP_SECRET_KEY",
            "IRP_SECRET_KEY_FILE",
            "IRP_LOG",
            "IRP_LOG_FORMAT",
            "IRP_LISTEN",
            "IRP_APPLY",
        ])
        .collect::<Vec<_>>();
    assert_eq!(missing(&text, keys), Vec::<&str>::new());
    let locales: Vec<&str> = PriceLocale::names().collect();
    assert_eq!(missing(&text, locales), Vec::<&str>::new());
}

#[test]
fn the_order_mapping_reference_lists_every_path_function_cast_and_rule() {
    let text = doc("order-mapping.md");
    let all: Vec<String> = paths(Scope::SupplierOrder)
        .into_iter()
        .chain(paths(Scope::Item))
        .map(|(p, _, _)| p)
        .collect();
    assert_eq!(
        missing(&text, all.iter().map(String::as_str)),
        Vec::<&str>::new()
    );
    assert_eq!(
        missing(&text, Function::ALL.map(|(n, _)| n)),
        Vec::<&str>::new()
    );
    let casts: Vec<String> = Cast::NAMES.iter().map(|c| format!("({c})")).collect();
    assert_eq!(
        missing(&text, casts.iter().map(String::as_str)),
        Vec::<&str>::new()
    );
    let rules: Vec<String> = RULE_NAMES
        .iter()
        .map(|r| {
            if r.ends_with("in") {
                format!("{r}:")
            } else {
                (*r).to_owned()
            }
        })
        .collect();
    let not_named: Vec<&String> = rules
        .iter()
        .filter(|r| !text.contains(r.as_str()))
        .collect();
    assert!(not_named.is_empty(), "{not_named:?}");
}
