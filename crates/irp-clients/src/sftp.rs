//! SFTP feeds: a file on the refurbisher's server (FlexIT's `Outbound/FlexIT_Feed.csv`),
//! downloaded with password or private-key login, the server's host key pinned. The host is
//! resolved under [`crate::net::NetPolicy`] and the connection made to exactly the addresses it
//! allows: a private network only when `IRP_ALLOW_PRIVATE_NETWORKS` allows it.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use irp_core::config::model::{OffersAuth, OffersConfig, SftpAuth};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::net::{NetPolicy, ResolveError};
use crate::{FetchError, FetchFailure, FetchRecord};

/// What an SFTP fetch produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpFetched {
    /// How it went.
    pub record: FetchRecord,
    /// The server's host key fingerprint (`SHA256:…`), to record on first use.
    pub fingerprint: String,
}

struct Client {
    expected: Option<String>,
    seen: Arc<Mutex<Option<String>>>,
}

fn fingerprint(key: &PublicKeyOrCertificate) -> String {
    match key {
        PublicKeyOrCertificate::PublicKey { key, .. } => {
            key.fingerprint(HashAlg::Sha256).to_string()
        }
        PublicKeyOrCertificate::Certificate(c) => {
            c.public_key().fingerprint(HashAlg::Sha256).to_string()
        }
    }
}

impl russh::client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fp = fingerprint(key);
        let ok = self.expected.as_ref().is_none_or(|e| *e == fp);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(fp);
        }
        Ok(ok)
    }
}

fn sftp_auth(offers: &OffersConfig) -> Result<&SftpAuth, FetchError> {
    match &offers.auth {
        Some(OffersAuth::Sftp(a)) => Ok(a),
        _ => Err(FetchError::Unsupported(
            "an `sftp` feed needs its host, path and login in `auth`".into(),
        )),
    }
}

/// Download the feed of an `sftp` connector (references already resolved) into `dest`.
/// `known_fingerprint` is the host key recorded on an earlier fetch; the connector's own
/// `host_key_fingerprint` wins over it. With neither, the key is trusted and returned, to be
/// recorded.
///
/// # Errors
/// The failure and what was recorded up to it: a host key that does not match, a refused login,
/// a missing file, a file that changed while it was read, the size cap, the timeout.
pub async fn fetch(
    offers: &OffersConfig,
    dest: &Path,
    known_fingerprint: Option<&str>,
) -> Result<SftpFetched, FetchFailure> {
    fetch_growing(offers, dest, known_fingerprint, None).await
}

/// [`fetch`], announcing every chunk written to `dest` on `growing` (so that the feed can be
/// read while it arrives), and how the download ended.
///
/// # Errors
/// As [`fetch`].
pub async fn fetch_growing(
    offers: &OffersConfig,
    dest: &Path,
    known_fingerprint: Option<&str>,
    growing: Option<&crate::follow::Growing>,
) -> Result<SftpFetched, FetchFailure> {
    let result = match NetPolicy::global() {
        Ok(policy) => fetch_inner(offers, dest, known_fingerprint, growing, &policy).await,
        Err(e) => Err(FetchFailure {
            error: FetchError::Network(e.to_string()),
            record: FetchRecord::default(),
        }),
    };
    if let Some(g) = growing {
        g.finish(result.is_ok());
    }
    result
}

/// [`fetch`] under `policy`.
///
/// # Errors
/// As [`fetch`].
pub async fn fetch_with_policy(
    offers: &OffersConfig,
    dest: &Path,
    known_fingerprint: Option<&str>,
    policy: &NetPolicy,
) -> Result<SftpFetched, FetchFailure> {
    fetch_inner(offers, dest, known_fingerprint, None, policy).await
}

async fn fetch_inner(
    offers: &OffersConfig,
    dest: &Path,
    known_fingerprint: Option<&str>,
    growing: Option<&crate::follow::Growing>,
    policy: &NetPolicy,
) -> Result<SftpFetched, FetchFailure> {
    let started = Instant::now();
    let timeout = Duration::from_secs(u64::try_from(offers.timeout_secs).unwrap_or(600));
    let mut record = FetchRecord {
        attempts: 1,
        ..FetchRecord::default()
    };
    let result = tokio::time::timeout(
        timeout,
        download(
            offers,
            dest,
            known_fingerprint,
            &mut record,
            growing,
            policy,
        ),
    )
    .await;
    record.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match result {
        Err(_) => Err(FetchFailure {
            error: FetchError::Timeout(timeout.as_secs()),
            record,
        }),
        Ok(Err(error)) => Err(FetchFailure { error, record }),
        Ok(Ok(fingerprint)) => {
            record.pages = 1;
            Ok(SftpFetched {
                record,
                fingerprint,
            })
        }
    }
}

async fn download(
    offers: &OffersConfig,
    dest: &Path,
    known: Option<&str>,
    record: &mut FetchRecord,
    growing: Option<&crate::follow::Growing>,
    policy: &NetPolicy,
) -> Result<String, FetchError> {
    let auth = sftp_auth(offers)?;
    let expected = auth
        .host_key_fingerprint
        .clone()
        .or_else(|| known.map(str::to_owned));
    let seen = Arc::new(Mutex::new(None));
    let handler = Client {
        expected: expected.clone(),
        seen: Arc::clone(&seen),
    };
    let config = Arc::new(russh::client::Config {
        inactivity_timeout: Some(Duration::from_secs(
            u64::try_from(offers.connect_timeout_secs)
                .unwrap_or(10)
                .max(30),
        )),
        ..Default::default()
    });
    let where_ = format!("{}:{}", auth.host, auth.port);
    let connect_timeout =
        Duration::from_secs(u64::try_from(offers.connect_timeout_secs).unwrap_or(10));
    // Resolved once and checked: the connection goes to exactly these addresses.
    let addrs =
        match tokio::time::timeout(connect_timeout, policy.resolve(&auth.host, auth.port)).await {
            Err(_) => {
                return Err(FetchError::Network(format!(
                    "resolving {} timed out",
                    auth.host
                )));
            }
            Ok(Err(ResolveError::Refused(r))) => return Err(FetchError::Network(r.to_string())),
            Ok(Err(ResolveError::Io(e))) => {
                return Err(FetchError::Network(format!(
                    "connecting to {where_} failed: {e}"
                )));
            }
            Ok(Ok(a)) => a,
        };
    let connect = russh::client::connect(config, addrs.as_slice(), handler);
    let mut session = match tokio::time::timeout(connect_timeout, connect).await {
        Err(_) => {
            return Err(FetchError::Network(format!(
                "connecting to {where_} timed out"
            )));
        }
        Ok(Err(e)) => {
            let fp = seen.lock().ok().and_then(|s| s.clone());
            return Err(match (expected, fp) {
                (Some(want), Some(got)) if want != got => FetchError::Network(format!(
                    "the host key of {where_} is {got}, but {want} is pinned; if the server's key really changed, update `host_key_fingerprint`"
                )),
                _ => FetchError::Network(format!("connecting to {where_} failed: {e}")),
            });
        }
        Ok(Ok(s)) => s,
    };
    let fingerprint = seen.lock().ok().and_then(|s| s.clone()).unwrap_or_default();
    let authed = if let Some(pem) = &auth.private_key {
        let key = russh::keys::decode_secret_key(pem, auth.passphrase.as_deref())
            .map_err(|e| FetchError::Unsupported(format!("`private_key` cannot be read: {e}")))?;
        let hash = session
            .best_supported_rsa_hash()
            .await
            .ok()
            .flatten()
            .flatten();
        session
            .authenticate_publickey(
                auth.username.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await
    } else {
        session
            .authenticate_password(
                auth.username.clone(),
                auth.password.clone().unwrap_or_default(),
            )
            .await
    }
    .map_err(|e| FetchError::Network(format!("logging in to {where_} failed: {e}")))?;
    if !authed.success() {
        return Err(FetchError::Network(format!(
            "{where_} refused the login of `{}`",
            auth.username
        )));
    }
    let channel = session
        .channel_open_session()
        .await
        .map_err(|e| FetchError::Network(format!("opening an SFTP channel on {where_}: {e}")))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| FetchError::Network(format!("starting SFTP on {where_}: {e}")))?;
    let sftp = SftpSession::new(channel.into_stream())
        .await
        .map_err(|e| FetchError::Network(format!("starting SFTP on {where_}: {e}")))?;
    let path = auth.path.as_str();
    let before = sftp
        .metadata(path)
        .await
        .map_err(|e| FetchError::Network(format!("`{path}` on {where_}: {e}")))?;
    let limit = u64::try_from(offers.max_bytes).unwrap_or(u64::MAX);
    if before.size.is_some_and(|s| s > limit) {
        return Err(FetchError::TooLarge { limit });
    }
    let mut remote = sftp
        .open(path)
        .await
        .map_err(|e| FetchError::Network(format!("opening `{path}` on {where_}: {e}")))?;
    let mut local = tokio::fs::File::create(dest)
        .await
        .map_err(|e| FetchError::Io(e.to_string()))?;
    let read_timeout = Duration::from_secs(u64::try_from(offers.read_timeout_secs).unwrap_or(60));
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = tokio::time::timeout(read_timeout, remote.read(&mut buf))
            .await
            .map_err(|_| FetchError::Stalled(read_timeout.as_secs()))?
            .map_err(|e| FetchError::Network(format!("reading `{path}` on {where_}: {e}")))?;
        if n == 0 {
            break;
        }
        record.bytes += n as u64;
        if record.bytes > limit {
            return Err(FetchError::TooLarge { limit });
        }
        local
            .write_all(&buf[..n])
            .await
            .map_err(|e| FetchError::Io(e.to_string()))?;
        if let Some(g) = growing {
            local
                .flush()
                .await
                .map_err(|e| FetchError::Io(e.to_string()))?;
            g.advance(n as u64);
        }
    }
    local
        .flush()
        .await
        .map_err(|e| FetchError::Io(e.to_string()))?;
    let after = sftp
        .metadata(path)
        .await
        .map_err(|e| FetchError::Network(format!("`{path}` on {where_}: {e}")))?;
    if after.size != before.size
        || after.mtime != before.mtime
        || after.size.is_some_and(|s| s != record.bytes)
    {
        return Err(FetchError::Network(format!(
            "`{path}` on {where_} changed while it was read ({} bytes read, now {} bytes); it is probably still being written — the next run will try again",
            record.bytes,
            after.size.map_or_else(|| "?".to_owned(), |s| s.to_string())
        )));
    }
    let _ = sftp.close().await;
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    tracing::info!(host = %auth.host, path, bytes = record.bytes, "Feed fetched over SFTP");
    Ok(fingerprint)
}
