//! A refurbisher's offers connector (`offers`): the connection (`web`, `web_post`, `sftp`,
//! `file`, `upload`) and its HTTP or SFTP `auth`, pagination, the feed format and its options,
//! the offer mapping and the limits. The HTTP `auth` check is shared with the order connector.

use rust_decimal::Decimal;
use serde_json::{Map, Value};

use super::{
    CREDENTIAL_KEYS, DEFAULT_MAX_BYTES, DEFAULT_MAX_RECORD_BYTES, Obj, credential, describe, url,
};

use crate::config::diag::{Diagnostics, JsonPath};
use crate::config::model::*;
use crate::config::suggest::did_you_mean;

use crate::money;
use crate::secret_ref;
use crate::values::locale::PriceLocale;

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

pub(super) fn http_auth(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> Option<HttpAuth> {
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

pub(super) fn offers(v: &Value, path: &JsonPath, d: &mut Diagnostics) -> Option<OffersConfig> {
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
