//! The encrypted secret store: values referenced as `${secret:NAME}` in refurbisher documents.
//!
//! Each value is sealed with XChaCha20-Poly1305 under a 32-byte key (from `IRP_SECRET_KEY` or a
//! key file) with a random 24-byte nonce, and bound to its name as associated data, so a
//! ciphertext copied onto another name does not open. Stored as `v1:` + base64(nonce ‖ ct).
//! Values are never logged, printed or returned by listings.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use chacha20poly1305::aead::{Aead, Generate, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use chrono::{DateTime, Utc};

use irp_core::secret_ref::{EnvAllowList, Scrubber};

use crate::{Result, Store, StoreError, now, with_db};

/// Errors of the secret store.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key is not 32 bytes of base64.
    #[error(
        "the secret key must be 32 bytes, base64-encoded (as `openssl rand -base64 32` prints); {0}"
    )]
    BadKey(String),
    /// A stored secret does not open with this key.
    #[error(
        "secret `{0}` cannot be decrypted with this key (was it stored under another IRP_SECRET_KEY?)"
    )]
    Undecryptable(String),
    /// The system's random number generator failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// The name is not acceptable.
    #[error("invalid secret name `{0}`: use letters, digits, `_`, `-` and `.`")]
    BadName(String),
    /// The value is too short to keep out of messages.
    #[error(
        "the value of secret `{0}` is shorter than {min} characters: too short to be a credential, and too short to keep out of messages",
        min = Scrubber::MIN_LEN
    )]
    TooShort(String),
}

/// The 32-byte key secrets are sealed with. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct SecretKey([u8; 32]);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(********)")
    }
}

impl SecretKey {
    /// Read a base64 key (surrounding whitespace ignored).
    ///
    /// # Errors
    /// Not base64, or not 32 bytes.
    pub fn from_base64(text: &str) -> Result<SecretKey, SecretError> {
        let bytes = B64
            .decode(text.trim())
            .map_err(|_| SecretError::BadKey("the value is not base64".into()))?;
        let arr: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            SecretError::BadKey(format!("it decodes to {} bytes", b.len()))
        })?;
        Ok(SecretKey(arr))
    }

    /// A new random key.
    ///
    /// # Errors
    /// The system's random number generator failed.
    pub fn generate() -> Result<SecretKey, SecretError> {
        let key = chacha20poly1305::aead::Key::<XChaCha20Poly1305>::try_generate()
            .map_err(|e| SecretError::Random(e.to_string()))?;
        let mut arr = [0u8; 32];
        arr.copy_from_slice(key.as_slice());
        Ok(SecretKey(arr))
    }

    /// The key as base64, for writing a new key file.
    pub fn to_base64(&self) -> String {
        B64.encode(self.0)
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new(&self.0.into())
    }

    /// Seal `value` for `name`.
    ///
    /// # Errors
    /// The random number generator failed.
    pub fn seal(&self, name: &str, value: &str) -> Result<String, SecretError> {
        let nonce = XNonce::try_generate().map_err(|e| SecretError::Random(e.to_string()))?;
        let aad = format!("secret:{name}");
        let ct = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: value.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Random("encryption failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        Ok(format!("v1:{}", B64.encode(out)))
    }

    /// Open a value sealed for `name`.
    ///
    /// # Errors
    /// Wrong key, wrong name, or damaged data.
    pub fn open(&self, name: &str, sealed: &str) -> Result<String, SecretError> {
        let bad = || SecretError::Undecryptable(name.to_owned());
        let raw = sealed.strip_prefix("v1:").ok_or_else(bad)?;
        let bytes = B64.decode(raw).map_err(|_| bad())?;
        if bytes.len() < 24 {
            return Err(bad());
        }
        let (nonce, ct) = bytes.split_at(24);
        let nonce = XNonce::try_from(nonce).map_err(|_| bad())?;
        let aad = format!("secret:{name}");
        let pt = self
            .cipher()
            .decrypt(
                &nonce,
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| bad())?;
        String::from_utf8(pt).map_err(|_| bad())
    }
}

/// A stored secret's metadata (never its value).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct SecretInfo {
    /// Its name.
    pub name: String,
    /// When it was first stored.
    pub created_at: DateTime<Utc>,
    /// When it was last replaced.
    pub updated_at: DateTime<Utc>,
}

/// Whether `name` was new or replaced an existing value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    /// The name was new.
    Created,
    /// An existing value was replaced.
    Replaced,
}

/// The store's handle on the encrypted secret store ([`Store::secrets`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Secrets<'s>(&'s Store);

impl std::ops::Deref for Secrets<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on the encrypted secret store.
    #[must_use]
    pub fn secrets(&self) -> Secrets<'_> {
        Secrets(self)
    }
}

impl Secrets<'_> {
    /// Seal and store `value` under `name` (replacing any existing value).
    ///
    /// # Errors
    /// An invalid name, or a database error.
    pub async fn set(&self, key: &SecretKey, name: &str, value: &str) -> Result<SetOutcome> {
        if !irp_core::secret_ref::valid_name(name) {
            return Err(SecretError::BadName(name.to_owned()).into());
        }
        if value.chars().count() < Scrubber::MIN_LEN {
            return Err(SecretError::TooShort(name.to_owned()).into());
        }
        let sealed = key.seal(name, value)?;
        let at = now();
        let existed = self.secrets().info(name).await?.is_some();
        const SQL: &str = "INSERT INTO secrets (name, ciphertext, created_at, updated_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (name) DO UPDATE SET ciphertext = excluded.ciphertext, updated_at = excluded.updated_at, \
             destinations = NULL";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(name)
            .bind(&sealed)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(if existed {
            SetOutcome::Replaced
        } else {
            SetOutcome::Created
        })
    }

    /// The value of secret `name`, if stored.
    ///
    /// # Errors
    /// It does not open with `key`, or a database error.
    pub async fn get(&self, key: &SecretKey, name: &str) -> Result<Option<String>> {
        const SQL: &str = "SELECT ciphertext FROM secrets WHERE name = $1";
        let row: Option<(String,)> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(p)
            .await)?;
        match row {
            None => Ok(None),
            Some((sealed,)) => Ok(Some(key.open(name, &sealed).map_err(StoreError::Secret)?)),
        }
    }

    /// Metadata of secret `name`.
    ///
    /// # Errors
    /// A database error.
    pub async fn info(&self, name: &str) -> Result<Option<SecretInfo>> {
        const SQL: &str = "SELECT name, created_at, updated_at FROM secrets WHERE name = $1";
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(p)
            .await)?)
    }

    /// All stored secrets' metadata, by name.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(&self) -> Result<Vec<SecretInfo>> {
        const SQL: &str = "SELECT name, created_at, updated_at FROM secrets ORDER BY name";
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .fetch_all(p)
            .await)?)
    }

    /// Where secret `name` may be sent (the destinations it is bound to), if it is bound.
    ///
    /// # Errors
    /// A database error.
    pub async fn destinations(&self, name: &str) -> Result<Option<Vec<String>>> {
        const SQL: &str = "SELECT destinations FROM secrets WHERE name = $1";
        let row: Option<(Option<String>,)> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(p)
            .await)?;
        Ok(row
            .and_then(|(d,)| d)
            .and_then(|d| serde_json::from_str(&d).ok()))
    }

    /// Delete secret `name`; whether it existed.
    ///
    /// # Errors
    /// A database error.
    pub async fn delete(&self, name: &str) -> Result<bool> {
        const SQL: &str = "DELETE FROM secrets WHERE name = $1";
        let n = with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(name)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}

/// A document with every `${env:…}` and `${secret:…}` replaced by its value. It holds
/// credentials: its `Debug` hides them, and [`Resolved::expose`] is the one way in. Its
/// [`Resolved::scrubber`] turns any message back into one that shows references, not values.
pub struct Resolved {
    doc: serde_json::Value,
    scrubber: Scrubber,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Resolved(********)")
    }
}

impl Resolved {
    /// The resolved document. Never log or print it.
    pub fn expose(&self) -> &serde_json::Value {
        &self.doc
    }

    /// Replaces each resolved value in a message by its reference (`${secret:NAME}`).
    pub fn scrubber(&self) -> &Scrubber {
        &self.scrubber
    }
}

/// Looks references up in a prefetched map (the trait is synchronous; the store is not).
struct Prefetched(std::collections::HashMap<irp_core::secret_ref::Reference, String>);

impl irp_core::secret_ref::Resolver for Prefetched {
    fn resolve(&self, r: &irp_core::secret_ref::Reference) -> std::result::Result<String, String> {
        self.0
            .get(r)
            .cloned()
            .ok_or_else(|| format!("{r} is not resolved"))
    }
}

fn substitute(
    v: &serde_json::Value,
    resolver: &Prefetched,
) -> std::result::Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match v {
        Value::String(s) => Value::String(irp_core::secret_ref::resolve(s, resolver)?),
        Value::Array(a) => Value::Array(
            a.iter()
                .map(|x| substitute(x, resolver))
                .collect::<std::result::Result<_, _>>()?,
        ),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| Ok((k.clone(), substitute(x, resolver)?)))
                .collect::<std::result::Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// The environment variables `${env:…}` may read on this host: `IRP_ALLOW_ENV` (names and
/// prefixes ending in `*`), by default `IRP_REF_*` only. Read once; a malformed list allows
/// nothing (and says so in the log).
pub fn env_allow_list() -> &'static EnvAllowList {
    static LIST: std::sync::OnceLock<EnvAllowList> = std::sync::OnceLock::new();
    LIST.get_or_init(|| match std::env::var("IRP_ALLOW_ENV") {
        Err(_) => EnvAllowList::default(),
        Ok(list) => EnvAllowList::parse(&list).unwrap_or_else(|why| {
            tracing::error!("{why}; no document may read the environment until it is fixed");
            EnvAllowList::parse("").unwrap_or_default()
        }),
    })
}

/// Where the references of one document may reach: the secrets under its namespace (a
/// refurbisher's key, `channel.KEY`, `pim`, `erp`) and the environment variables the host
/// allows.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The secrets' namespace (`flexit` for `flexit.offers.auth.password`).
    pub namespace: &'a str,
    /// The environment variables allowed.
    pub env: &'a EnvAllowList,
    /// Whether this use may bind a secret not used since it was stored to its destinations: a
    /// stored document's use may; a preview of an unsaved document may not (it uses only
    /// secrets already bound, and only where they are bound).
    pub bind: bool,
}

impl<'a> Scope<'a> {
    /// The scope of a stored document's `namespace` with this host's [`env_allow_list`].
    pub fn of(namespace: &'a str) -> Scope<'a> {
        Scope {
            namespace,
            env: env_allow_list(),
            bind: true,
        }
    }

    /// [`Scope::of`] for a document that is not saved: binds nothing.
    pub fn unsaved(namespace: &'a str) -> Scope<'a> {
        Scope {
            bind: false,
            ..Scope::of(namespace)
        }
    }
}

/// Whether an environment variable's value holds the secret store's key or the database URL
/// (or its password), whatever it is called.
fn holds_access(value: &str, key: Option<&SecretKey>) -> bool {
    let mut held: Vec<String> = Vec::new();
    if let Some(k) = key {
        held.push(k.to_base64());
    }
    for var in ["IRP_SECRET_KEY", "IRP_DATABASE_URL"] {
        if let Ok(v) = std::env::var(var) {
            held.push(v.trim().to_owned());
        }
    }
    if let Ok(url) = std::env::var("IRP_DATABASE_URL")
        && let Some((_, rest)) = url.split_once("://")
        && let Some((userinfo, _)) = rest.split_once('@')
        && let Some((_, password)) = userinfo.split_once(':')
    {
        held.push(password.to_owned());
    }
    held.iter()
        .filter(|h| h.len() >= Scrubber::MIN_LEN)
        .any(|h| value.contains(h.as_str()))
}

impl Secrets<'_> {
    /// Replace every reference in `doc` by its value: `${env:NAME}` from the process
    /// environment (only names `scope` allows), `${secret:NAME}` from this store (opened with
    /// `key`; only names under `scope`'s namespace). Errors name every reference that cannot be
    /// resolved and where it is, never a value.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] listing the unresolved or refused references; a secret that does
    /// not open.
    pub async fn resolve_references(
        &self,
        key: Option<&SecretKey>,
        scope: Scope<'_>,
        doc: &serde_json::Value,
    ) -> Result<Resolved> {
        use irp_core::secret_ref::Provider;
        let mut values = std::collections::HashMap::new();
        // Where each secret read is bound, read with its value (one query per secret).
        let mut bound = std::collections::HashMap::new();
        let mut problems = Vec::new();
        for (path, r) in irp_core::config::references(doc) {
            if values.contains_key(&r) {
                continue;
            }
            let value = match r.provider {
                Provider::Env if !scope.env.allows(&r.name) => {
                    problems.push(format!(
                        "{path}: environment variable `{}` may not be read by documents (allowed: IRP_ALLOW_ENV, by default `IRP_REF_*`; never the secret key or the database URL)",
                        r.name
                    ));
                    continue;
                }
                Provider::Env => match std::env::var(&r.name) {
                    Ok(v) if holds_access(&v, key) => {
                        problems.push(format!(
                            "{path}: environment variable `{}` holds IRP's secret key or database credentials and may not be read by documents",
                            r.name
                        ));
                        continue;
                    }
                    v => v.ok(),
                },
                Provider::Secret
                    if !irp_core::secret_ref::in_namespace(scope.namespace, &r.name) =>
                {
                    problems.push(format!(
                        "{path}: {r} is not one of this document's secrets (only names under `{}.` are)",
                        scope.namespace
                    ));
                    continue;
                }
                Provider::Secret => match key {
                    Some(key) => match self.secret_get_bound(key, &r.name).await? {
                        Some((value, destinations)) => {
                            bound.insert(r.name.clone(), destinations);
                            Some(value)
                        }
                        None => None,
                    },
                    None => {
                        problems.push(format!(
                            "{path}: {r} needs the secret key (IRP_SECRET_KEY or the key file)"
                        ));
                        continue;
                    }
                },
            };
            match value {
                Some(v) => {
                    values.insert(r, v);
                }
                None => problems.push(match r.provider {
                    Provider::Env => {
                        format!("{path}: environment variable `{}` is not set", r.name)
                    }
                    Provider::Secret => format!(
                        "{path}: secret `{}` is not in the secret store (run `irp secret set {}`)",
                        r.name, r.name
                    ),
                }),
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::NotFound(problems.join("; ")));
        }
        let mut scrubber = Scrubber::default();
        for (r, v) in &values {
            scrubber.add(v, &r.to_string());
        }

        let doc = substitute(doc, &Prefetched(values)).map_err(StoreError::Corrupt)?;
        let destinations = irp_core::secret_ref::destinations(&doc);
        let mut problems = Vec::new();
        for (name, was) in bound {
            if let Err(why) = self
                .secret_bind(&name, was, &destinations, scope.bind)
                .await?
            {
                problems.push(why);
            }
        }
        if !problems.is_empty() {
            return Err(StoreError::NotFound(problems.join("; ")));
        }
        Ok(Resolved { doc, scrubber })
    }

    /// Binds secret `name` to `destinations` on its first use since it was stored; afterwards a
    /// use must send it nowhere else. `Err` says why this use may not have it.
    ///
    /// `was` is where it was bound when its value was read (`None`: not yet).
    async fn secret_bind(
        &self,
        name: &str,
        mut was: Option<String>,
        destinations: &std::collections::BTreeSet<String>,
        may_bind: bool,
    ) -> Result<std::result::Result<(), String>> {
        if destinations.contains(irp_core::secret_ref::UNKNOWN_DESTINATION) {
            return Ok(Err(format!(
                "${{secret:{name}}} would be sent to {}: a secret goes only to destinations IRP can tell apart",
                irp_core::secret_ref::UNKNOWN_DESTINATION
            )));
        }
        const READ: &str = "SELECT destinations FROM secrets WHERE name = $1";
        const BIND: &str =
            "UPDATE secrets SET destinations = $1 WHERE name = $2 AND destinations IS NULL";
        for attempt in 0..2 {
            if attempt > 0 {
                // Another use bound it meanwhile: compare with that.
                let row: Option<(Option<String>,)> = with_db!(self.db(), |p| sqlx::query_as(READ)
                    .bind(name)
                    .fetch_optional(p)
                    .await)?;
                was = row.and_then(|(d,)| d);
            }
            match was.take() {
                Some(json) => {
                    let bound: std::collections::BTreeSet<String> =
                        serde_json::from_str(&json).unwrap_or_default();
                    if destinations.is_subset(&bound) {
                        return Ok(Ok(()));
                    }
                    let new: Vec<&str> = destinations
                        .difference(&bound)
                        .map(String::as_str)
                        .collect();
                    let was: Vec<&str> = bound.iter().map(String::as_str).collect();
                    return Ok(Err(format!(
                        "${{secret:{name}}} was stored for {} and would now be sent to {}: store it again (`irp secret set {name}`, or Replace on the portal) to send it there",
                        was.join(", "),
                        new.join(", ")
                    )));
                }
                None if destinations.is_empty() => return Ok(Ok(())),
                None if !may_bind => {
                    return Ok(Err(format!(
                        "${{secret:{name}}} has not been used since it was stored, and a preview of an unsaved document does not decide where it may go: save the document first (its next use binds the secret to it)"
                    )));
                }
                None => {
                    let json = serde_json::to_string(destinations)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let n = with_db!(self.db(), |p| sqlx::query(BIND)
                        .bind(&json)
                        .bind(name)
                        .execute(p)
                        .await
                        .map(|r| r.rows_affected()))?;
                    if n > 0 {
                        tracing::info!(secret = %name, destinations = %json, "Secret bound to the destinations of its first use");
                        self.audit(
                            "irp",
                            "secret.bind",
                            name,
                            serde_json::json!({ "destinations": destinations }),
                        )
                        .await?;
                        return Ok(Ok(()));
                    }
                }
            }
        }
        // Bound and unbound again by others between our reads: not decided, so not sent.
        Ok(Err(format!(
            "${{secret:{name}}} is being stored again right now; try again in a moment"
        )))
    }

    /// The value of secret `name` and the destinations it is bound to (`None`: not yet).
    async fn secret_get_bound(
        &self,
        key: &SecretKey,
        name: &str,
    ) -> Result<Option<(String, Option<String>)>> {
        const SQL: &str = "SELECT ciphertext, destinations FROM secrets WHERE name = $1";
        let row: Option<(String, Option<String>)> = with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(name)
            .fetch_optional(p)
            .await)?;
        match row {
            None => Ok(None),
            Some((sealed, destinations)) => Ok(Some((
                key.open(name, &sealed).map_err(StoreError::Secret)?,
                destinations,
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_name() {
        let key = SecretKey::generate().unwrap();
        let sealed = key.seal("flexit.password", "hunter2").unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("hunter2"));
        assert_eq!(key.open("flexit.password", &sealed).unwrap(), "hunter2");
        assert!(key.open("other.name", &sealed).is_err());
        let other = SecretKey::generate().unwrap();
        assert!(other.open("flexit.password", &sealed).is_err());
        assert_ne!(
            sealed,
            key.seal("flexit.password", "hunter2").unwrap(),
            "nonces differ"
        );
    }

    #[test]
    fn keys_are_32_bytes_of_base64_and_never_debug_printed() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::from_base64(&key.to_base64()).unwrap();
        assert_eq!(again.0, key.0);
        assert_eq!(format!("{key:?}"), "SecretKey(********)");
        assert!(matches!(
            SecretKey::from_base64("c2hvcnQ="),
            Err(SecretError::BadKey(_))
        ));
        assert!(matches!(
            SecretKey::from_base64("not base64!"),
            Err(SecretError::BadKey(_))
        ));
    }
}
