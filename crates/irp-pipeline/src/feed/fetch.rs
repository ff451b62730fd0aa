//! Fetching a feed: the connector with its references resolved, the confined `file` path, the
//! download of `web`, `web_post` and `sftp` feeds, and SFTP host keys.

use std::path::{Path, PathBuf};

use irp_clients::follow::Growing;
use irp_core::config::model::{Connection, OffersConfig};
use irp_core::secret_ref::Scrubber;
use irp_store::Store;
use irp_store::refurbishers::StoredRefurbisher;

use super::ImportError;

/// Why a connector's references could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveFailure {
    /// A reference has no value (named, never the value).
    #[error("{0}")]
    Missing(String),
    /// The store failed.
    #[error(transparent)]
    Store(irp_store::StoreError),
}

/// One connector of a refurbisher with its references resolved, for using that connector only
/// — never store, print or log it — and the [`Scrubber`] that turns any message about it back
/// into one naming references (`${secret:…}`) and hiding literal credentials.
pub struct ResolvedPart<T> {
    /// The connector, references resolved.
    pub model: T,
    /// Shows references instead of their values, `********` instead of literal credentials.
    pub scrubber: Scrubber,
}

impl<T> ResolvedPart<T> {
    /// `message` as it may be stored and shown.
    pub fn scrub(&self, message: &str) -> String {
        self.scrubber.scrub(message)
    }
}

/// The refurbisher's document with the references (`${secret:…}` / `${env:…}`) of one part
/// (`offers` or `order`) resolved and read back. Only that part is resolved, so a missing
/// secret of the other does not stop it; only the refurbisher's own secrets (`KEY.…`) and the
/// environment variables the host allows resolve.
///
/// # Errors
/// A reference without a value or out of bounds, or a store failure.
pub(crate) async fn resolved_part(
    store: &Store,
    r: &StoredRefurbisher,
    part: &str,
    secret_key: Option<&irp_store::secrets::SecretKey>,
    saved: bool,
) -> Result<ResolvedPart<irp_core::config::Refurbisher>, ResolveFailure> {
    let doc = serde_json::json!({ (r.key.clone()): { (part): r.document[part] } });
    let scope = if saved {
        irp_store::secrets::Scope::of(&r.key)
    } else {
        irp_store::secrets::Scope::unsaved(&r.key)
    };
    let resolved = match store
        .secrets()
        .resolve_references(secret_key, scope, &doc)
        .await
    {
        Ok(v) => v,
        Err(irp_store::StoreError::NotFound(why)) => return Err(ResolveFailure::Missing(why)),
        Err(e) => return Err(ResolveFailure::Store(e)),
    };
    let model = irp_core::config::parse_document(&resolved.expose().to_string())
        .refurbishers
        .into_iter()
        .next()
        .ok_or_else(|| {
            ResolveFailure::Missing(format!(
                "the {part} connector with its references resolved is not valid"
            ))
        })?;
    let mut scrubber = resolved.scrubber().clone();
    // Literal credentials (accepted with a warning) are hidden too.
    for value in literal_credentials(&r.document[part]) {
        scrubber.add(&value, irp_core::config::REDACTED);
    }
    Ok(ResolvedPart { model, scrubber })
}

/// The literal (not referenced) credential values in a connector's `auth` block.
fn literal_credentials(part: &serde_json::Value) -> Vec<String> {
    let Some(auth) = part.get("auth").and_then(|a| a.as_object()) else {
        return Vec::new();
    };
    auth.iter()
        .filter(|(k, _)| irp_core::config::validate::CREDENTIAL_KEYS.contains(&k.as_str()))
        .filter_map(|(_, v)| v.as_str())
        .filter(|v| !irp_core::secret_ref::has_references(v))
        .map(str::to_owned)
        .collect()
}

/// The refurbisher's `offers` connector with its references resolved, for fetching only.
///
/// # Errors
/// A reference without a value, or a store failure.
pub async fn resolved_offers(
    store: &Store,
    r: &StoredRefurbisher,
    secret_key: Option<&irp_store::secrets::SecretKey>,
) -> Result<ResolvedPart<OffersConfig>, ResolveFailure> {
    resolved_offers_as(store, r, secret_key, true).await
}

/// [`resolved_offers`] of a stored (`saved`) document, or of one that is not saved (a preview
/// while onboarding), which uses only secrets already bound to where it points.
///
/// # Errors
/// A reference without a value, or a store failure.
pub async fn resolved_offers_as(
    store: &Store,
    r: &StoredRefurbisher,
    secret_key: Option<&irp_store::secrets::SecretKey>,
    saved: bool,
) -> Result<ResolvedPart<OffersConfig>, ResolveFailure> {
    let part = resolved_part(store, r, "offers", secret_key, saved).await?;
    let scrubber = part.scrubber;
    let model = part.model.offers.ok_or_else(|| {
        ResolveFailure::Missing(
            "the offers connector with its references resolved is not valid".into(),
        )
    })?;
    Ok(ResolvedPart { model, scrubber })
}

/// The file a `file` connection reads, confined to the feed root ([`crate::feed_root`]).
/// `configured` names the path in errors as written in the document (with its references).
///
/// # Errors
/// The path is outside the root, holds `..`, leads out by a symlink, or cannot be opened.
pub fn confined_file(
    configured: &OffersConfig,
    resolved: &OffersConfig,
) -> Result<PathBuf, crate::feed_root::FeedPathError> {
    crate::feed_root::confine(
        crate::feed_root::feed_root(),
        resolved.path.as_deref().unwrap_or_default(),
        configured.path.as_deref().unwrap_or_default(),
    )
}

/// A feed downloaded into a local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// The HTTP status of the last response (HTTP feeds).
    pub http_status: Option<i64>,
    /// The SFTP server's host key fingerprint when none was recorded before and it was not
    /// recorded by the download (`record_host_key` false): the caller records it.
    pub unrecorded_host_key: Option<String>,
    /// For paginated feeds: the `offer_location` to read the file with (the pages' offers are
    /// joined into one array).
    pub offer_location: Option<String>,
}

/// Download the feed of a `web`, `web_post` or `sftp` connector (references resolved) into
/// `dest`. For SFTP, a host key recorded earlier must match; with `record_host_key`, the key is
/// recorded on first use (a preview passes false: it writes nothing).
///
/// # Errors
/// The outer error is a store failure; the inner one how the download failed.
pub async fn download(
    store: &Store,
    resolved: &OffersConfig,
    dest: &Path,
    record_host_key: bool,
) -> Result<Result<Downloaded, irp_clients::FetchFailure>, ImportError> {
    download_growing(store, resolved, dest, record_host_key, None).await
}

/// [`download`], announcing an SFTP download's progress on `growing` as it writes `dest`.
///
/// # Errors
/// As [`download`].
pub async fn download_growing(
    store: &Store,
    resolved: &OffersConfig,
    dest: &Path,
    record_host_key: bool,
    growing: Option<&Growing>,
) -> Result<Result<Downloaded, irp_clients::FetchFailure>, ImportError> {
    if let Some(irp_core::config::model::OffersAuth::Sftp(a)) = &resolved.auth
        && resolved.connection == Connection::Sftp
    {
        let known = store.known_hosts().get(&a.host, a.port).await?;
        return Ok(
            match irp_clients::sftp::fetch_growing(resolved, dest, known.as_deref(), growing).await
            {
                Err(failure) => Err(failure),
                Ok(fetched) => {
                    let mut unrecorded = None;
                    if known.is_none() {
                        if record_host_key {
                            record_host(store, &a.host, a.port, &fetched.fingerprint).await?;
                        } else {
                            unrecorded = Some(fetched.fingerprint);
                        }
                    }
                    Ok(Downloaded {
                        http_status: None,
                        unrecorded_host_key: unrecorded,
                        offer_location: None,
                    })
                }
            },
        );
    }
    Ok(irp_clients::http::fetch(resolved, dest)
        .await
        .map(|f| Downloaded {
            http_status: f.record.http_status.map(i64::from),
            unrecorded_host_key: None,
            offer_location: f.offer_location,
        }))
}

/// Record an SFTP server's host key on first use.
pub(super) async fn record_host(
    store: &Store,
    host: &str,
    port: u16,
    fingerprint: &str,
) -> Result<(), ImportError> {
    store.known_hosts().record(host, port, fingerprint).await?;
    tracing::info!(%host, port, %fingerprint, "Recorded the SFTP host key on first use");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_credentials_are_found_for_scrubbing() {
        let part = serde_json::json!({ "connection": "web", "endpoint": "https://f.example/x",
            "auth": { "type": "bearer", "token": "tok-123456", "header": "X-Key" } });
        assert_eq!(literal_credentials(&part), vec!["tok-123456".to_owned()]);
        let referenced =
            serde_json::json!({ "auth": { "type": "bearer", "token": "${secret:x.t}" } });
        assert!(literal_credentials(&referenced).is_empty());
    }
}
