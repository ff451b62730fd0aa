//! API tokens: `irp token create NAME` makes one, shown once; only its SHA-256 is stored, so a
//! token is checked by hashing what the caller sent and looking the hash up. A token is a
//! `viewer` (reads) or an `operator` (also takes orders in, retries and cancels). A token may
//! expire (`irp token create NAME --expires 90d`): past its `expires_at` it is refused like an
//! unknown one.

use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::{Result, Store, StoreError, now, with_db, with_tx};

/// What starts every token (so a leaked one is recognisable in logs and scanners).
pub const TOKEN_PREFIX: &str = "irp_";

/// Token and account roles, as stored and shown.
pub const ROLES: [&str; 2] = ["viewer", "operator"];

/// What an API token or a portal account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Also applies documents, imports feeds, takes orders in, decides, retries and cancels.
    Operator,
}

impl Role {
    /// As stored and shown: `viewer`, `operator`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
        }
    }

    /// The role named `name`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] naming the roles there are.
    pub fn parse(name: &str) -> Result<Role> {
        match name {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            other => Err(StoreError::Conflict(format!(
                "unknown role `{other}`, expected {}",
                ROLES.join(" or ")
            ))),
        }
    }

    /// Whether it may change things.
    pub fn may_change(self) -> bool {
        self == Role::Operator
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl TryFrom<String> for Role {
    type Error = StoreError;

    fn try_from(s: String) -> Result<Role> {
        Role::parse(&s).map_err(|_| StoreError::Corrupt(format!("stored role `{s}` is unknown")))
    }
}

/// A stored token, without the token.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct TokenInfo {
    /// Its name.
    pub name: String,
    /// What it may do.
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// The token's first characters.
    pub prefix: Option<String>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When it last authenticated a request.
    pub last_used_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it stops working (`None`: never).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Who a valid token belongs to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TokenOwner {
    /// The token's name.
    pub name: String,
    /// What it may do.
    #[sqlx(try_from = "String")]
    pub role: Role,
}

/// SHA-256 of `token`, hex: how API tokens, webhook tokens and session cookies are stored
/// (random, high-entropy values need no slow hash).
pub(crate) fn hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `bytes` random bytes, hex: the body of every token IRP hands out.
pub(crate) fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf)
        .map_err(|e| StoreError::Conflict(format!("no randomness available: {e}")))?;
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

/// The store's handle on API tokens ([`Store::tokens`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Tokens<'s>(&'s Store);

impl std::ops::Deref for Tokens<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on API tokens.
    #[must_use]
    pub fn tokens(&self) -> Tokens<'_> {
        Tokens(self)
    }
}

impl Tokens<'_> {
    /// Make a token named `name` with `role`, working until `expires_at` (`None`: until
    /// revoked); returns the token, which is not stored and cannot be shown again. A revoked
    /// or expired token's name can be used again.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the name is taken or empty, the role unknown or the
    /// expiry not in the future; no randomness; a database error.
    pub async fn create(
        &self,
        name: &str,
        role: &str,
        expires_at: Option<DateTime<Utc>>,
        actor: &str,
    ) -> Result<String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StoreError::Conflict(
                "a token name is 1 to 100 characters".into(),
            ));
        }
        let role = Role::parse(role)?.as_str();
        let at = now();
        if expires_at.is_some_and(|e| e <= at) {
            return Err(StoreError::Conflict(
                "the token's expiry is not in the future".into(),
            ));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_hex(24)?);
        let mut tx = self.begin().await?;
        with_tx!(&mut tx, |t| {
            sqlx::query(
            "DELETE FROM api_tokens WHERE name = $1 AND (revoked_at IS NOT NULL OR expires_at <= $2)"
        )
        .bind(name)
        .bind(at)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        let n = with_tx!(&mut tx, |t| {
            sqlx::query(
            "INSERT INTO api_tokens (name, token_hash, role, prefix, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (name) DO NOTHING"
        )
        .bind(name)
        .bind(hash(&token))
        .bind(role)
        .bind(&token[..TOKEN_PREFIX.len() + 6])
        .bind(at)
        .bind(expires_at)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "a token named `{name}` exists; revoke it first (irp token revoke {name})"
            )));
        }
        tx.audit(
            actor,
            "token.create",
            name,
            serde_json::json!({ "role": role, "expires_at": expires_at }),
        )
        .await?;
        tx.commit().await?;
        Ok(token)
    }

    /// Whose token `token` is, when it is a valid one — neither revoked nor expired — (and note
    /// its use, at most once a minute).
    ///
    /// # Errors
    /// A database error.
    pub async fn verify(&self, token: &str) -> Result<Option<TokenOwner>> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hashed = hash(token);
        let at = now();
        let found: Option<(String, String, Option<DateTime<Utc>>)> = with_db!(self.db(), |p| {
            sqlx::query_as(
                "SELECT name, role, last_used_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL \
                 AND (expires_at IS NULL OR expires_at > $2)",
            )
            .bind(&hashed)
            .bind(at)
            .fetch_optional(p)
            .await
        })?;
        let Some((name, role, last_used)) = found else {
            return Ok(None);
        };
        // The last use is noted at most once a minute: a write per request would queue every
        // API call behind the database's writer.
        if last_used.is_none_or(|t| at - t > chrono::TimeDelta::minutes(1)) {
            // Bookkeeping: a busy database must not refuse the request over it.
            let noted = with_db!(self.db(), |p| sqlx::query(
                "UPDATE api_tokens SET last_used_at = $2 WHERE token_hash = $1"
            )
            .bind(&hashed)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()));
            if let Err(e) = noted {
                tracing::warn!(error = %e, token = %name, "Noting an API token's use failed");
            }
        }
        let role = Role::try_from(role)?;
        Ok(Some(TokenOwner { name, role }))
    }

    /// Every token, by name.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(&self) -> Result<Vec<TokenInfo>> {
        Ok(with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT name, role, prefix, created_at, last_used_at, revoked_at, expires_at FROM api_tokens ORDER BY name"
        )
        .fetch_all(p)
        .await
        })?)
    }

    /// Revoke a token (it stays listed as revoked). Returns whether a valid one was revoked.
    ///
    /// # Errors
    /// A database error.
    pub async fn revoke(&self, name: &str, actor: &str) -> Result<bool> {
        let mut tx = self.begin().await?;
        let n = with_tx!(&mut tx, |t| sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL"
        )
        .bind(name)
        .bind(now())
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
        if n > 0 {
            tx.audit(actor, "token.revoke", name, serde_json::json!({}))
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }
}
