//! Where the secret store's key comes from: `IRP_SECRET_KEY`, or a key file created on first use.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result, bail};
use irp_store::secrets::SecretKey;

/// The environment variable holding the base64 key.
pub const ENV: &str = "IRP_SECRET_KEY";

/// Load the key from `IRP_SECRET_KEY` or `file`. When neither exists and `create` is set, a
/// new key is written to `file` (mode 0600) and a notice says so on stderr.
///
/// # Errors
/// A malformed key, an unreadable file, or no key when `create` is false.
pub fn load(file: &Path, create: bool) -> Result<SecretKey> {
    if let Ok(text) = std::env::var(ENV) {
        return SecretKey::from_base64(&text).with_context(|| format!("reading {ENV}"));
    }
    if file.exists() {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading the secret key file {}", file.display()))?;
        return SecretKey::from_base64(&text)
            .with_context(|| format!("reading the secret key file {}", file.display()));
    }
    if !create {
        bail!(
            "no secret key: set {ENV} or create the key file {} (`irp secret set` creates one on first use)",
            file.display()
        );
    }
    let key = SecretKey::generate()?;
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(file)
        .with_context(|| format!("creating the secret key file {}", file.display()))?;
    writeln!(f, "{}", key.to_base64()).with_context(|| format!("writing {}", file.display()))?;
    eprintln!(
        "note: created a new secret key in {} (readable by you only). Back it up: without it the stored secrets cannot be read. \
         In production, set {ENV} instead.",
        file.display()
    );
    Ok(key)
}
