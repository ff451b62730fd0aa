//! Where `file` connections may read: below the feed root (`IRP_FEED_ROOT`, by default
//! `data/feeds`). A document an operator saves cannot make IRP read the key file, the database
//! or `/proc/self/environ` and show its lines back as row errors: a path outside the root, one
//! with `..`, and a symlink leading out are refused before anything is opened.
//!
//! The command line's own `--file PATH` is not confined: it reads what the operator's shell
//! may read anyway.

use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;

/// The feed root when `IRP_FEED_ROOT` is not set (relative to IRP's working directory).
pub const DEFAULT_FEED_ROOT: &str = "data/feeds";

static ROOT: OnceLock<PathBuf> = OnceLock::new();

/// The feed root: set by [`set_feed_root`], else `IRP_FEED_ROOT`, else [`DEFAULT_FEED_ROOT`].
pub fn feed_root() -> &'static Path {
    ROOT.get_or_init(|| {
        std::env::var_os("IRP_FEED_ROOT")
            .filter(|v| !v.is_empty())
            .map_or_else(|| PathBuf::from(DEFAULT_FEED_ROOT), PathBuf::from)
    })
}

/// Sets the feed root of this process (a program embedding the pipeline, a test); whether it
/// was set (it is set once, before the first use).
pub fn set_feed_root(root: impl Into<PathBuf>) -> bool {
    ROOT.set(root.into()).is_ok()
}

/// Why a `file` connection's path is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedPathError {
    /// The feed root itself cannot be read.
    #[error(
        "the feed root {root} cannot be opened ({why}); `file` connections read only below it (IRP_FEED_ROOT)"
    )]
    NoRoot {
        /// The root.
        root: String,
        /// Why.
        why: String,
    },
    /// `..` in the path.
    #[error(
        "the feed path {shown} contains `..`; `file` connections read only below the feed root {root} (IRP_FEED_ROOT)"
    )]
    Parent {
        /// The path as configured (references not resolved).
        shown: String,
        /// The root.
        root: String,
    },
    /// The path (after following symlinks) is not below the root.
    #[error(
        "the feed path {shown} is outside the feed root {root}; `file` connections read only below it (IRP_FEED_ROOT)"
    )]
    Outside {
        /// The path as configured.
        shown: String,
        /// The root.
        root: String,
    },
    /// The file cannot be opened.
    #[error("cannot open the feed file {shown} below the feed root {root}: {why}")]
    Unreadable {
        /// The path as configured.
        shown: String,
        /// The root.
        root: String,
        /// Why.
        why: String,
    },
}

/// `path` (references resolved) confined to `root`: a relative path is taken below the root,
/// an absolute one must lie below it; `..` is refused and symlinks are followed before the
/// check, so one leading out is refused. `shown` names the path in errors (the path as
/// configured, with its references, never their values). Returns the canonical path to open.
///
/// # Errors
/// See [`FeedPathError`].
pub fn confine(root: &Path, path: &str, shown: &str) -> Result<PathBuf, FeedPathError> {
    let root_shown = root.display().to_string();
    let p = Path::new(path);
    if p.components().any(|c| c == Component::ParentDir) {
        return Err(FeedPathError::Parent {
            shown: shown.to_owned(),
            root: root_shown,
        });
    }
    // An absolute path outside the root as written is refused whether or not the root exists.
    let absolute_root = std::path::absolute(root).unwrap_or_else(|_| root.to_path_buf());
    let canonical_root = match root.canonicalize() {
        Ok(r) => r,
        Err(e) => {
            if p.is_absolute() && !p.starts_with(&absolute_root) {
                return Err(FeedPathError::Outside {
                    shown: shown.to_owned(),
                    root: root_shown,
                });
            }
            return Err(FeedPathError::NoRoot {
                root: root_shown,
                why: e.to_string(),
            });
        }
    };
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        canonical_root.join(p)
    };
    // An absolute path is compared as written first, so one outside the root is refused
    // before anything about it (whether it exists) is looked at.
    if p.is_absolute() && !joined.starts_with(&canonical_root) && !joined.starts_with(root) {
        return Err(FeedPathError::Outside {
            shown: shown.to_owned(),
            root: root_shown,
        });
    }
    let canonical = joined
        .canonicalize()
        .map_err(|e| FeedPathError::Unreadable {
            shown: shown.to_owned(),
            root: root_shown.clone(),
            why: e.kind().to_string(),
        })?;
    if !canonical.starts_with(&canonical_root) {
        return Err(FeedPathError::Outside {
            shown: shown.to_owned(),
            root: root_shown,
        });
    }
    if !canonical.is_file() {
        return Err(FeedPathError::Unreadable {
            shown: shown.to_owned(),
            root: root_shown,
            why: "not a regular file".into(),
        });
    }
    Ok(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_below_the_root_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("feeds");
        std::fs::create_dir_all(root.join("acme")).unwrap();
        std::fs::write(root.join("acme/feed.csv"), "a;b\n").unwrap();
        std::fs::write(dir.path().join("secret.key"), "key").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.key"), root.join("link.csv")).unwrap();
        std::os::unix::fs::symlink("/proc/self/environ", root.join("env.csv")).unwrap();

        let ok = confine(&root, "acme/feed.csv", "acme/feed.csv").unwrap();
        assert!(ok.ends_with("feeds/acme/feed.csv"));
        let abs = root.join("acme/feed.csv");
        assert_eq!(confine(&root, abs.to_str().unwrap(), "x").unwrap(), ok);

        let outside = |p: &str| confine(&root, p, "${secret:acme.p}").unwrap_err();
        assert!(matches!(
            outside("/proc/self/environ"),
            FeedPathError::Outside { .. }
        ));
        assert!(matches!(
            outside("../secret.key"),
            FeedPathError::Parent { .. }
        ));
        assert!(matches!(
            outside("acme/../../secret.key"),
            FeedPathError::Parent { .. }
        ));
        assert!(matches!(outside("link.csv"), FeedPathError::Outside { .. }));
        assert!(matches!(outside("env.csv"), FeedPathError::Outside { .. }));
        assert!(matches!(outside("acme"), FeedPathError::Unreadable { .. }));
        let missing = outside("acme/nope.csv").to_string();
        assert!(missing.contains("${secret:acme.p}"), "{missing}");
        let absent = dir.path().join("absent");
        assert!(
            confine(&absent, "a.csv", "a.csv")
                .unwrap_err()
                .to_string()
                .contains("cannot be opened")
        );
        assert!(matches!(
            confine(&absent, "/proc/self/environ", "x").unwrap_err(),
            FeedPathError::Outside { .. }
        ));
    }
}
