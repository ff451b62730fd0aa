//! Operator accounts for the portal: `irp user add EMAIL` sets a password (argon2id, only the
//! PHC string is stored), a login opens a session (a random token in a cookie, only its SHA-256
//! stored, with a CSRF token for the forms), a logout or an account's disabling ends it.
//! Roles as for API tokens: `viewer` (reads) and `operator` (also changes things). The first
//! start's account must choose a new password at its first login
//! ([`User::must_change_password`], `Store::users().change_password`).

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use chrono::{DateTime, TimeDelta, Utc};

use crate::tokens::{Role, hash as sha256_hex, random_hex};
use crate::{Result, Store, StoreError, now, with_db, with_tx};

/// The shortest password accepted.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// A session ends this long after the login, however active.
pub const SESSION_LIFETIME: TimeDelta = TimeDelta::hours(12);

/// A session ends after this long without a request.
pub const SESSION_IDLE: TimeDelta = TimeDelta::hours(2);

/// An operator account, without its password.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct User {
    /// Account id.
    pub id: i64,
    /// Login, lower-case.
    pub email: String,
    /// What it may do.
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// When its password or role last changed.
    pub updated_at: DateTime<Utc>,
    /// The last successful login.
    pub last_login_at: Option<DateTime<Utc>>,
    /// When it was disabled (it cannot log in; its sessions ended).
    pub disabled_at: Option<DateTime<Utc>>,
    /// It must choose a new password before anything else (the first start's account).
    pub must_change_password: bool,
}

/// A session just opened: the cookie value (shown once, never stored) and the CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The cookie value.
    pub token: String,
    /// The CSRF token forms must send back.
    pub csrf: String,
    /// Whose session it is.
    pub user: User,
}

/// A valid session's user and CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionUser {
    /// The account.
    pub user: User,
    /// The CSRF token of the session.
    pub csrf: String,
}

/// What `Store::users().set` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserSet {
    /// A new account.
    Created,
    /// An existing account got a new password and role (and is enabled again).
    Updated,
}

/// Hash a password (argon2id, default parameters, a random salt), off the async threads.
async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        argon2::Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Conflict(format!("hashing the password failed: {e}")))
    })
    .await
    .map_err(|e| StoreError::Conflict(format!("hashing the password failed: {e}")))?
}

/// Whether `password` matches the PHC string `stored`, off the async threads.
async fn verify_password(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        PasswordHash::new(&stored).is_ok_and(|h| {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
    })
    .await
    .unwrap_or(false)
}

/// A PHC string of no password anyone has, verified against when an account is unknown, so an
/// unknown login takes as long as a wrong password.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$oT2nhM1cqP5w4sKyPxB2PVpbbg7ZHNfdZ8Hnb0I9Ht8";

/// `email` trimmed and lower-cased, when it looks like an address.
pub fn normalize_email(email: &str) -> Option<String> {
    let e = email.trim().to_lowercase();
    let (local, domain) = e.split_once('@')?;
    (!local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !e.chars().any(char::is_whitespace)
        && e.chars().count() <= 254)
        .then_some(e)
}

const USER_SELECT: &str = "SELECT id, email, role, created_at, updated_at, last_login_at, disabled_at, \
     must_change_password FROM users";

/// The store's handle on operator accounts and sessions ([`Store::users`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Users<'s>(&'s Store);

impl std::ops::Deref for Users<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on operator accounts and sessions.
    #[must_use]
    pub fn users(&self) -> Users<'_> {
        Users(self)
    }
}

impl Users<'_> {
    /// Make an account, or give an existing one a new password and role (enabling it again).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for an address that is none, an unknown role or a password
    /// shorter than [`MIN_PASSWORD_CHARS`]; a database error.
    pub async fn set(
        &self,
        email: &str,
        password: &str,
        role: &str,
        actor: &str,
    ) -> Result<UserSet> {
        let Some(email) = normalize_email(email) else {
            return Err(StoreError::Conflict(format!(
                "{email:?} is not an e-mail address"
            )));
        };
        let role = Role::parse(role)?.as_str();
        if password.chars().count() < MIN_PASSWORD_CHARS {
            return Err(StoreError::Conflict(format!(
                "the password has {} characters; at least {MIN_PASSWORD_CHARS} are needed",
                password.chars().count()
            )));
        }
        let hash = hash_password(password.to_owned()).await?;
        let at = now();
        let mut tx = self.begin().await?;
        let existing: Option<(i64,)> = with_tx!(&mut tx, |t| sqlx::query_as(
            "SELECT id FROM users WHERE email = $1"
        )
        .bind(&email)
        .fetch_optional(&mut **t)
        .await)?;
        let outcome = match existing {
            Some((id,)) => {
                with_tx!(&mut tx, |t| {
                    sqlx::query(
                    "UPDATE users SET password_hash = $2, role = $3, updated_at = $4, disabled_at = NULL, \
                     must_change_password = FALSE WHERE id = $1"
                )
                .bind(id)
                .bind(&hash)
                .bind(role)
                .bind(at)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected())
                })?;
                // A new password ends the sessions opened with the old one.
                with_tx!(&mut tx, |t| sqlx::query(
                    "DELETE FROM sessions WHERE user_id = $1"
                )
                .bind(id)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()))?;
                UserSet::Updated
            }
            None => {
                with_tx!(&mut tx, |t| {
                    sqlx::query(
                    "INSERT INTO users (email, password_hash, role, created_at, updated_at) VALUES ($1, $2, $3, $4, $4)"
                )
                .bind(&email)
                .bind(&hash)
                .bind(role)
                .bind(at)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected())
                })?;
                UserSet::Created
            }
        };
        tx.audit(
            actor,
            if outcome == UserSet::Created {
                "user.create"
            } else {
                "user.update"
            },
            &email,
            serde_json::json!({ "role": role }),
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// On a first start (no account at all): make the operator account `email` with a random
    /// password and return that password (shown once). `None` when any account exists — also
    /// when another instance made the first one at the same moment.
    ///
    /// # Errors
    /// A database error.
    pub async fn bootstrap(&self, email: &str, actor: &str) -> Result<Option<String>> {
        let any: Option<(i64,)> = with_db!(self.db(), |p| sqlx::query_as(
            "SELECT id FROM users LIMIT 1"
        )
        .fetch_optional(p)
        .await)?;
        if any.is_some() {
            return Ok(None);
        }
        let Some(email) = normalize_email(email) else {
            return Err(StoreError::Conflict(format!(
                "{email:?} is not an e-mail address"
            )));
        };
        let password = crate::tokens::random_hex(16)?;
        let hash = hash_password(password.clone()).await?;
        let at = now();
        let mut tx = self.begin().await?;
        let n = with_tx!(&mut tx, |t| {
            sqlx::query(
            "INSERT INTO users (email, password_hash, role, created_at, updated_at, must_change_password) \
             SELECT $1, $2, 'operator', $3, $3, TRUE WHERE NOT EXISTS (SELECT 1 FROM users)"
        )
        .bind(&email)
        .bind(&hash)
        .bind(at)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        if n == 0 {
            return Ok(None);
        }
        tx.audit(
            actor,
            "user.create",
            &email,
            serde_json::json!({ "role": "operator", "first_start": true }),
        )
        .await?;
        tx.commit().await?;
        Ok(Some(password))
    }

    /// A signed-in user changes their own password: `current` must be the account's password,
    /// `new` at least [`MIN_PASSWORD_CHARS`] long and not `current`. The account no longer
    /// must change its password; its other sessions end (`keep_session`, the cookie value of
    /// the session that asked, stays). `Ok(false)`: `current` is wrong.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] for a new password that is too short or the current one; a
    /// database error.
    pub async fn change_password(
        &self,
        user_id: i64,
        current: &str,
        new: &str,
        keep_session: &str,
    ) -> Result<bool> {
        if new.chars().count() < MIN_PASSWORD_CHARS {
            return Err(StoreError::Conflict(format!(
                "the new password has {} characters; at least {MIN_PASSWORD_CHARS} are needed",
                new.chars().count()
            )));
        }
        if new == current {
            return Err(StoreError::Conflict(
                "the new password is the current one; choose another".into(),
            ));
        }
        let row: Option<(String, String)> = with_db!(self.db(), |p| {
            sqlx::query_as(
                "SELECT email, password_hash FROM users WHERE id = $1 AND disabled_at IS NULL",
            )
            .bind(user_id)
            .fetch_optional(p)
            .await
        })?;
        let Some((email, stored)) = row else {
            return Ok(false);
        };
        if !verify_password(current.to_owned(), stored).await {
            return Ok(false);
        }
        let hash = hash_password(new.to_owned()).await?;
        let at = now();
        let mut tx = self.begin().await?;
        with_tx!(&mut tx, |t| {
            sqlx::query(
            "UPDATE users SET password_hash = $2, updated_at = $3, must_change_password = FALSE WHERE id = $1"
        )
        .bind(user_id)
        .bind(&hash)
        .bind(at)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        with_tx!(&mut tx, |t| sqlx::query(
            "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2"
        )
        .bind(user_id)
        .bind(sha256_hex(keep_session))
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
        tx.audit(
            &format!("user:{email}"),
            "user.password_change",
            &email,
            serde_json::json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Every account, by e-mail.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(&self) -> Result<Vec<User>> {
        let sql = format!("{USER_SELECT} ORDER BY email");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .fetch_all(p)
        .await)?)
    }

    /// Disable an account and end its sessions; whether an enabled one was disabled.
    ///
    /// # Errors
    /// A database error.
    pub async fn disable(&self, email: &str, actor: &str) -> Result<bool> {
        let email = normalize_email(email).unwrap_or_else(|| email.to_owned());
        let mut tx = self.begin().await?;
        let n = with_tx!(&mut tx, |t| sqlx::query(
            "UPDATE users SET disabled_at = $2 WHERE email = $1 AND disabled_at IS NULL"
        )
        .bind(&email)
        .bind(now())
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
        if n > 0 {
            with_tx!(&mut tx, |t| sqlx::query(
                "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE email = $1)"
            )
            .bind(&email)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
            tx.audit(actor, "user.disable", &email, serde_json::json!({}))
                .await?;
        }
        tx.commit().await?;
        Ok(n > 0)
    }

    /// Log in: a session for `email` when `password` is its password and the account is
    /// enabled; `None` otherwise (an unknown address takes as long as a wrong password).
    ///
    /// # Errors
    /// A database error.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        source: Option<&str>,
    ) -> Result<Option<NewSession>> {
        let email = normalize_email(email).unwrap_or_default();
        let row: Option<(i64, String, Option<DateTime<Utc>>)> = with_db!(self.db(), |p| {
            sqlx::query_as("SELECT id, password_hash, disabled_at FROM users WHERE email = $1")
                .bind(&email)
                .fetch_optional(p)
                .await
        })?;
        let (stored, usable) = match &row {
            Some((_, hash, disabled)) => (hash.clone(), disabled.is_none()),
            None => (DUMMY_HASH.to_owned(), false),
        };
        let matches = verify_password(password.to_owned(), stored).await;
        let Some((id, _, _)) = row.filter(|_| matches && usable) else {
            return Ok(None);
        };
        let token = format!("irps_{}", random_hex(32)?);
        let csrf = random_hex(24)?;
        let at = now();
        let mut tx = self.begin().await?;
        with_tx!(&mut tx, |t| {
            sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, last_seen_at, source) \
             VALUES ($1, $2, $3, $4, $5, $4, $6)"
        )
        .bind(sha256_hex(&token))
        .bind(id)
        .bind(&csrf)
        .bind(at)
        .bind(at + SESSION_LIFETIME)
        .bind(source)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected())
        })?;
        with_tx!(&mut tx, |t| sqlx::query(
            "UPDATE users SET last_login_at = $2 WHERE id = $1"
        )
        .bind(id)
        .bind(at)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
        // Ended sessions are forgotten as new ones start.
        with_tx!(&mut tx, |t| sqlx::query(
            "DELETE FROM sessions WHERE expires_at < $1 OR last_seen_at < $2"
        )
        .bind(at)
        .bind(at - SESSION_IDLE)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
        tx.audit(
            &format!("user:{email}"),
            "user.login",
            &email,
            serde_json::json!({ "source": source }),
        )
        .await?;
        tx.commit().await?;
        let sql = format!("{USER_SELECT} WHERE id = $1");
        let user: User = with_db!(self.db(), |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(id)
        .fetch_one(p)
        .await)?;
        Ok(Some(NewSession { token, csrf, user }))
    }

    /// The user of session cookie `token`, while the session lasts (neither past its lifetime
    /// nor idle too long, the account enabled); notes the request, at most once a minute.
    ///
    /// # Errors
    /// A database error.
    pub async fn session_user(&self, token: &str) -> Result<Option<SessionUser>> {
        let hashed = sha256_hex(token);
        let at = now();
        let row: Option<(i64, String, DateTime<Utc>, DateTime<Utc>)> = with_db!(self.db(), |p| {
            sqlx::query_as(
                "SELECT s.user_id, s.csrf_token, s.expires_at, s.last_seen_at FROM sessions s \
                 JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND u.disabled_at IS NULL",
            )
            .bind(&hashed)
            .fetch_optional(p)
            .await
        })?;
        let Some((user_id, csrf, expires, seen)) = row else {
            return Ok(None);
        };
        if expires < at || seen + SESSION_IDLE < at {
            return Ok(None);
        }
        if at - seen > TimeDelta::minutes(1) {
            let touched = with_db!(self.db(), |p| sqlx::query(
                "UPDATE sessions SET last_seen_at = $2 WHERE token_hash = $1"
            )
            .bind(&hashed)
            .bind(at)
            .execute(p)
            .await
            .map(|r| r.rows_affected()));
            if let Err(e) = touched {
                tracing::warn!(error = %e, "Noting a session's use failed");
            }
        }
        let sql = format!("{USER_SELECT} WHERE id = $1");
        let user: User = with_db!(self.db(), |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(user_id)
        .fetch_one(p)
        .await)?;
        Ok(Some(SessionUser { user, csrf }))
    }

    /// End the session of cookie `token` (a logout); whether there was one.
    ///
    /// # Errors
    /// A database error.
    pub async fn session_end(&self, token: &str) -> Result<bool> {
        let n = with_db!(self.db(), |p| sqlx::query(
            "DELETE FROM sessions WHERE token_hash = $1"
        )
        .bind(sha256_hex(token))
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_lower_cased_and_checked() {
        assert_eq!(
            normalize_email(" Anna@IUsed.NL ").as_deref(),
            Some("anna@iused.nl")
        );
        for bad in [
            "",
            "anna",
            "@iused.nl",
            "anna@",
            "anna@nl",
            "an na@iused.nl",
            "anna@.nl",
        ] {
            assert_eq!(normalize_email(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_dummy_hash_is_a_valid_phc_string() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }
}
