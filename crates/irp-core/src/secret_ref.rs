//! Secret references inside document strings: `${env:NAME}` and `${secret:NAME}`.
//!
//! Any string in a refurbisher document may hold references; `$${` stands for a literal `${`.
//! Parsing is pure; resolving a reference (reading the environment or the encrypted store)
//! happens at the edges, through a [`Resolver`].

use std::fmt;

/// Where a referenced value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Provider {
    /// An environment variable of the IRP process.
    Env,
    /// IRP's encrypted secret store (`irp secret set NAME`).
    Secret,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Env => "env",
            Provider::Secret => "secret",
        })
    }
}

/// One reference found in a string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Where the value lives.
    pub provider: Provider,
    /// Its name.
    pub name: String,
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${{{}:{}}}", self.provider, self.name)
    }
}

/// A piece of a parsed template string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// Literal text.
    Text(String),
    /// A reference to resolve.
    Ref(Reference),
}

/// Why a string's references could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `${` without a closing `}`.
    #[error("`${{` at character {0} is not closed by `}}` (write `$${{` for a literal `${{`)")]
    Unclosed(usize),
    /// A provider other than `env` or `secret`.
    #[error("unknown reference kind `{0}`, expected `env` or `secret` as in `${{secret:NAME}}`")]
    UnknownProvider(String),
    /// An empty or malformed name.
    #[error("invalid name `{0}` in reference, expected letters, digits, `_`, `-` or `.`")]
    BadName(String),
}

/// Whether `name` is a valid secret or environment variable name.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Split a string into literal text and references.
///
/// # Errors
/// A `${` that is not a well-formed `${env:NAME}` or `${secret:NAME}`.
pub fn parse(s: &str) -> Result<Vec<Piece>, TemplateError> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut rest = s;
    let mut offset = 0;
    while let Some(i) = rest.find('$') {
        text.push_str(&rest[..i]);
        let after = &rest[i..];
        if let Some(after_escape) = after.strip_prefix("$${") {
            text.push_str("${");
            rest = after_escape;
            offset += i + 3;
        } else if let Some(body) = after.strip_prefix("${") {
            let close = body.find('}').ok_or(TemplateError::Unclosed(offset + i))?;
            let inner = &body[..close];
            let (kind, name) = inner.split_once(':').unwrap_or((inner, ""));
            let provider = match kind {
                "env" => Provider::Env,
                "secret" => Provider::Secret,
                other => return Err(TemplateError::UnknownProvider(other.to_owned())),
            };
            if !valid_name(name) {
                return Err(TemplateError::BadName(name.to_owned()));
            }
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Ref(Reference {
                provider,
                name: name.to_owned(),
            }));
            rest = &body[close + 1..];
            offset += i + 2 + close + 1;
        } else {
            text.push('$');
            rest = &after[1..];
            offset += i + 1;
        }
    }
    text.push_str(rest);
    if !text.is_empty() {
        pieces.push(Piece::Text(text));
    }
    Ok(pieces)
}

/// Whether `s` contains at least one reference (false when it does not parse).
pub fn has_references(s: &str) -> bool {
    parse(s).is_ok_and(|p| p.iter().any(|p| matches!(p, Piece::Ref(_))))
}

/// Looks up referenced values. Implemented at the edges (environment, secret store).
pub trait Resolver {
    /// The value of `reference`.
    ///
    /// # Errors
    /// A message naming the reference (never a value) when it cannot be resolved.
    fn resolve(&self, reference: &Reference) -> Result<String, String>;
}

/// Replace every reference in `s` by its value.
///
/// # Errors
/// The template does not parse, or a reference cannot be resolved.
pub fn resolve(s: &str, resolver: &dyn Resolver) -> Result<String, String> {
    let mut out = String::new();
    for piece in parse(s).map_err(|e| e.to_string())? {
        match piece {
            Piece::Text(t) => out.push_str(&t),
            Piece::Ref(r) => out.push_str(&resolver.resolve(&r)?),
        }
    }
    Ok(out)
}

/// Whether a document whose secrets live under `namespace` (a refurbisher's key, `channel.KEY`,
/// `pim`, `erp`) may name secret `name`: only names below it (`flexit.offers.auth.password` for
/// `flexit`). A document never reaches another document's credentials.
pub fn in_namespace(namespace: &str, name: &str) -> bool {
    name.strip_prefix(namespace)
        .and_then(|rest| rest.strip_prefix('.'))
        .is_some_and(|rest| !rest.is_empty())
}

/// Environment variables no document may read, whatever `IRP_ALLOW_ENV` says: they hold the
/// secret store's key, the database's credentials or IRP's own access settings.
pub const NEVER_ENV: &[&str] = &[
    "IRP_SECRET_KEY",
    "IRP_SECRET_KEY_FILE",
    "IRP_DATABASE_URL",
    "IRP_METRICS_TOKEN",
    "IRP_ALLOW_ENV",
    "IRP_ALLOW_PRIVATE_NETWORKS",
    "IRP_FEED_ROOT",
    "IRP_TEST_PG_URL",
    "DATABASE_URL",
    "PGPASSWORD",
    "PGPASSFILE",
];

/// Which environment variables `${env:NAME}` may read: the names and prefixes (`IRP_REF_*`) an
/// operator of the host listed in `IRP_ALLOW_ENV`. [`NEVER_ENV`] are refused in any case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvAllowList {
    exact: Vec<String>,
    prefixes: Vec<String>,
}

impl EnvAllowList {
    /// Reads a comma- or space-separated list of names and prefixes ending in `*`.
    ///
    /// # Errors
    /// An entry that is not a valid variable name (or prefix), named in the message.
    pub fn parse(list: &str) -> Result<EnvAllowList, String> {
        let mut exact = Vec::new();
        let mut prefixes = Vec::new();
        for entry in list.split([',', ' ', '\n', '\t']).filter(|e| !e.is_empty()) {
            let (name, prefix) = match entry.strip_suffix('*') {
                Some(p) => (p, true),
                None => (entry, false),
            };
            let ok = name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
                && (prefix || !name.is_empty());
            if !ok {
                return Err(format!(
                    "IRP_ALLOW_ENV: `{entry}` is not a variable name or a prefix ending in `*` (like `IRP_REF_*`)"
                ));
            }
            if prefix {
                prefixes.push(name.to_owned());
            } else {
                exact.push(name.to_owned());
            }
        }
        Ok(EnvAllowList { exact, prefixes })
    }

    /// Whether `${env:NAME}` may read `name`.
    pub fn allows(&self, name: &str) -> bool {
        !NEVER_ENV.contains(&name)
            && (self.exact.iter().any(|e| e == name)
                || self.prefixes.iter().any(|p| name.starts_with(p.as_str())))
    }
}

/// The list when `IRP_ALLOW_ENV` is not set: `IRP_REF_*`.
impl Default for EnvAllowList {
    fn default() -> Self {
        EnvAllowList {
            exact: Vec::new(),
            prefixes: vec!["IRP_REF_".to_owned()],
        }
    }
}

/// Values that must not be shown, each with what is shown instead (a resolved value with its
/// reference, `${secret:NAME}`; a literal credential with `********`). Messages that may carry a
/// value — a remote server's error, a path or URL a reference was part of — go through
/// [`Scrubber::scrub`] before they are stored, logged or answered.
#[derive(Debug, Clone, Default)]
pub struct Scrubber {
    /// (value, shown instead), the longest value first.
    pairs: Vec<(String, String)>,
}

impl Scrubber {
    /// Values shorter than this are not scrubbed (they would mangle every message); `irp secret
    /// set` refuses secrets this short.
    pub const MIN_LEN: usize = 4;

    /// Adds `value`, shown as `shown`.
    pub fn add(&mut self, value: &str, shown: &str) {
        if value.len() < Self::MIN_LEN || self.pairs.iter().any(|(v, _)| v == value) {
            return;
        }
        let at = self
            .pairs
            .iter()
            .position(|(v, _)| v.len() < value.len())
            .unwrap_or(self.pairs.len());
        self.pairs.insert(at, (value.to_owned(), shown.to_owned()));
    }

    /// `text` with every value replaced by what is shown instead; percent-encoded and
    /// JSON-escaped forms of a value are replaced too.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for (value, shown) in &self.pairs {
            for form in forms(value) {
                if out.contains(form.as_str()) {
                    out = out.replace(form.as_str(), shown);
                }
            }
        }
        out
    }
}

/// A value as written, percent-encoded (as in a URL) and JSON-escaped (as in a body).
fn forms(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    let encoded: String = value
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let json = serde_json::Value::String(value.to_owned()).to_string();
    let json = json[1..json.len() - 1].to_owned();
    for f in [encoded.clone(), encoded.to_lowercase(), json] {
        if !out.contains(&f) {
            out.push(f);
        }
    }
    out
}

/// The origin of a URL as IRP compares destinations: `scheme://host:port`, lower-case, the
/// default port filled in — read by the same parser the HTTP client uses, so what is compared is
/// where a request goes. `None` for anything that is not an absolute `http`, `https` or `sftp`
/// URL with a host.
pub fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url.trim()).ok()?;
    let scheme = u.scheme().to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        "sftp" => 22,
        _ => return None,
    };
    let host = match u.host()? {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        url::Host::Ipv4(ip) => ip.to_string(),
        url::Host::Ipv6(ip) => format!("[{ip}]"),
    };
    let port = u.port().unwrap_or(default_port);
    Some(format!("{scheme}://{host}:{port}"))
}

/// A value of a destination key (`endpoint`, `token_url`, `url`) that is not a URL IRP can
/// compare: shown as such among the destinations, so a secret is never bound to, nor sent by, a
/// connector whose destination cannot be told.
pub const UNKNOWN_DESTINATION: &str = "(a destination that is not an http, https or sftp URL)";

/// Where a connector with its references resolved sends what it holds: the origins of its
/// `endpoint`, `token_url` and `url` values, and `sftp://HOST:PORT` of an `auth` block with a
/// `host`. A secret is bound to these (see the secret store).
pub fn destinations(doc: &serde_json::Value) -> std::collections::BTreeSet<String> {
    fn walk(v: &serde_json::Value, out: &mut std::collections::BTreeSet<String>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, x) in m {
                    if matches!(k.as_str(), "endpoint" | "token_url" | "url")
                        && let Some(s) = x.as_str()
                        && !s.is_empty()
                    {
                        out.insert(origin(s).unwrap_or_else(|| UNKNOWN_DESTINATION.to_owned()));
                    }
                }
                if let Some(host) = m.get("host").and_then(|h| h.as_str())
                    && !host.is_empty()
                {
                    let port = m
                        .get("port")
                        .and_then(serde_json::Value::as_u64)
                        .unwrap_or(22);
                    let host = if host.contains(':') && !host.starts_with('[') {
                        format!("[{host}]")
                    } else {
                        host.to_owned()
                    };
                    out.insert(
                        origin(&format!("sftp://{host}:{port}"))
                            .unwrap_or_else(|| UNKNOWN_DESTINATION.to_owned()),
                    );
                }
                for x in m.values() {
                    walk(x, out);
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(doc, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(provider: Provider, name: &str) -> Piece {
        Piece::Ref(Reference {
            provider,
            name: name.into(),
        })
    }

    #[test]
    fn parses_whole_and_embedded_references() {
        assert_eq!(
            parse("${secret:flexit.password}").unwrap(),
            vec![r(Provider::Secret, "flexit.password")]
        );
        assert_eq!(
            parse("https://${env:HOST}/feed?x=$1").unwrap(),
            vec![
                Piece::Text("https://".into()),
                r(Provider::Env, "HOST"),
                Piece::Text("/feed?x=$1".into())
            ]
        );
        assert_eq!(parse("a$${b}").unwrap(), vec![Piece::Text("a${b}".into())]);
        assert_eq!(parse("").unwrap(), vec![]);
    }

    #[test]
    fn rejects_malformed_references() {
        assert_eq!(parse("x${secret:a"), Err(TemplateError::Unclosed(1)));
        assert_eq!(
            parse("${vault:a}"),
            Err(TemplateError::UnknownProvider("vault".into()))
        );
        assert_eq!(parse("${secret:}"), Err(TemplateError::BadName("".into())));
        assert_eq!(
            parse("${secret:a b}"),
            Err(TemplateError::BadName("a b".into()))
        );
    }

    struct Fixed;
    impl Resolver for Fixed {
        fn resolve(&self, r: &Reference) -> Result<String, String> {
            match r.name.as_str() {
                "A" => Ok("1".into()),
                _ => Err(format!("{r} is not set")),
            }
        }
    }

    #[test]
    fn secrets_resolve_only_inside_their_documents_namespace() {
        assert!(in_namespace("flexit", "flexit.offers.auth.password"));
        assert!(in_namespace("channel.rd", "channel.rd.client_id"));
        assert!(!in_namespace("flexit", "flexit"));
        assert!(!in_namespace("flexit", "flexit."));
        assert!(!in_namespace("flexit", "flexit2.password"));
        assert!(!in_namespace("flexit", "iused-alumio.offers.auth.token"));
        assert!(!in_namespace("channel.rd", "channel.rdx.client_id"));
    }

    #[test]
    fn the_environment_is_read_only_where_allowed_and_never_the_key() {
        let default = EnvAllowList::default();
        assert!(default.allows("IRP_REF_HOST"));
        assert!(!default.allows("HOME"));
        assert!(!default.allows("IRP_SECRET_KEY"));
        let wide = EnvAllowList::parse("HOME, IRP_*,*").unwrap();
        assert!(wide.allows("HOME") && wide.allows("PATH") && wide.allows("IRP_LOG"));
        for never in NEVER_ENV {
            assert!(!wide.allows(never), "{never}");
        }
        assert_eq!(
            EnvAllowList::parse("A,b c").unwrap(),
            EnvAllowList {
                exact: vec!["A".into(), "b".into(), "c".into()],
                prefixes: vec![]
            }
        );
        assert!(
            EnvAllowList::parse("A;B")
                .unwrap_err()
                .contains("`A;B` is not a variable name")
        );
    }

    #[test]
    fn scrubbing_shows_the_reference_instead_of_the_value() {
        let mut s = Scrubber::default();
        s.add("hunter2-pw", "${secret:flexit.pw}");
        s.add("pw", "${secret:flexit.short}");
        s.add("a b/c\"", "${env:IRP_REF_X}");
        assert_eq!(
            s.scrub("opening /x/hunter2-pw/y: no such file"),
            "opening /x/${secret:flexit.pw}/y: no such file"
        );
        assert_eq!(
            s.scrub("GET https://h/?t=a%20b%2Fc%22 and {\"k\":\"a b/c\\\"\"}"),
            "GET https://h/?t=${env:IRP_REF_X} and {\"k\":\"${env:IRP_REF_X}\"}"
        );
        assert_eq!(s.scrub("pw stays"), "pw stays", "too short to scrub");
    }

    #[test]
    fn destinations_are_the_origins_a_connector_sends_to() {
        assert_eq!(
            origin("HTTPS://User:pw@Feed.Example/x?y=1").as_deref(),
            Some("https://feed.example:443")
        );
        assert_eq!(
            origin("http://127.0.0.1:8080/a").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(origin("http://[::1]/a").as_deref(), Some("http://[::1]:80"));
        assert_eq!(origin("ftp://x/"), None);
        assert_eq!(origin("/local/path"), None);
        // Read as the HTTP client reads them, not as they look.
        assert_eq!(
            origin("http:127.0.0.1:18082/x").as_deref(),
            Some("http://127.0.0.1:18082")
        );
        assert_eq!(
            origin("https://evil.example\\@legit.example/").as_deref(),
            Some("https://evil.example:443")
        );
        let odd = serde_json::json!({"endpoint": "mailto:x@y", "url": "https://ok.example"});
        assert!(destinations(&odd).contains(UNKNOWN_DESTINATION));
        let doc = serde_json::json!({"flexit": {"offers": {"connection": "sftp",
            "auth": {"type": "sftp", "host": "SFTP.flexit.nl", "port": 2222, "password": "p"}},
            "order": {"endpoint": "https://api.flexit.nl/orders",
            "auth": {"type": "client_id_secret", "token_url": "https://login.flexit.nl/token"}}}});
        assert_eq!(
            destinations(&doc).into_iter().collect::<Vec<_>>(),
            vec![
                "https://api.flexit.nl:443",
                "https://login.flexit.nl:443",
                "sftp://sftp.flexit.nl:2222"
            ]
        );
    }

    #[test]
    fn resolves_through_the_resolver() {
        assert_eq!(resolve("x${env:A}y", &Fixed).unwrap(), "x1y");
        assert_eq!(
            resolve("${secret:B}", &Fixed).unwrap_err(),
            "${secret:B} is not set"
        );
    }
}
