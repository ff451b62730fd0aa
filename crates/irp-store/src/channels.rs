//! The storefront channels' settings (the channels document): stored with a version, and
//! applying a changed one marks the whole catalog for recomputing.

use irp_core::config::{self, Channel};
use serde_json::{Value, json};

use crate::catalog::{ChannelApply, StoredChannel};
use crate::marks::{lock_settings, mark_everything};
use crate::{Result, Store, StoreError, now, with_db, with_tx};

/// A channel's canonical document (without its key).
fn channel_document(c: &Channel) -> String {
    let mut v = serde_json::to_value(c).unwrap_or(Value::Null);
    if let Value::Object(m) = &mut v {
        m.remove("key");
    }
    v.to_string()
}

/// The store's handle on the storefront channels' settings ([`Store::channels`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Channels<'s>(&'s Store);

impl std::ops::Deref for Channels<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on the storefront channels' settings.
    #[must_use]
    pub fn channels(&self) -> Channels<'_> {
        Channels(self)
    }
}

impl Channels<'_> {
    /// Channels by key.
    ///
    /// # Errors
    /// A database error; a stored document that no longer validates.
    pub async fn list(&self) -> Result<Vec<StoredChannel>> {
        const SQL: &str = "SELECT key, document, version FROM channels ORDER BY key";
        let rows: Vec<(String, String, i64)> =
            with_db!(self.db(), |p| sqlx::query_as(SQL).fetch_all(p).await)?;
        rows.into_iter()
            .map(|(key, document, version)| {
                let doc = json!({ "channels": { (key.clone()): serde_json::from_str::<Value>(&document)
                    .map_err(|e| StoreError::Corrupt(format!("channel `{key}`: {e}")))? } });
                let parsed = config::parse_channels(&doc.to_string());
                let channel = parsed.channels.into_iter().next().ok_or_else(|| {
                    StoreError::Corrupt(format!(
                        "channel `{key}`: {}",
                        parsed
                            .diagnostics
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join("; ")
                    ))
                })?;
                Ok(StoredChannel { channel, version })
            })
            .collect()
    }

    /// Apply validated channels: create new ones, update changed ones, in one transaction. Each
    /// channel's `refurbishers` must name registered refurbishers. A change marks every product
    /// for recomputing.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] naming an unknown refurbisher; a database error.
    pub async fn apply(&self, channels: &[Channel], actor: &str) -> Result<Vec<ChannelApply>> {
        let known: Vec<String> = self
            .refurbishers()
            .list()
            .await?
            .into_iter()
            .map(|r| r.key)
            .collect();
        for c in channels {
            for k in c.refurbishers.iter().flatten() {
                if !known.contains(k) {
                    let hint = irp_core::config::suggest::did_you_mean(
                        k,
                        known.iter().map(String::as_str),
                    )
                    .map(|s| format!(" (did you mean `{s}`?)"))
                    .unwrap_or_default();
                    return Err(StoreError::Conflict(format!(
                        "channel `{}`: refurbishers: no refurbisher `{k}` is registered{hint}; registered: {}",
                        c.key,
                        if known.is_empty() {
                            "none".to_owned()
                        } else {
                            known.join(", ")
                        }
                    )));
                }
            }
        }
        let mut tx = self.begin().await?;
        lock_settings(&mut tx).await?;
        let at = now();
        let mut out = Vec::new();
        let mut changed = false;
        for c in channels {
            let document = channel_document(c);
            let existing: Option<(String,)> = with_tx!(&mut tx, |t| sqlx::query_as(
                "SELECT document FROM channels WHERE key = $1"
            )
            .bind(&c.key)
            .fetch_optional(&mut **t)
            .await)?;
            let action = match existing {
                None => {
                    with_tx!(&mut tx, |t| {
                        sqlx::query(
                        "INSERT INTO channels (key, name, document, version, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4)"
                    )
                    .bind(&c.key)
                    .bind(&c.name)
                    .bind(&document)
                    .bind(at)
                    .execute(&mut **t)
                    .await
                    .map(|r| r.rows_affected())
                    })?;
                    "created"
                }
                Some((old,)) if old == document => "unchanged",
                Some(_) => {
                    with_tx!(&mut tx, |t| {
                        sqlx::query(
                        "UPDATE channels SET name = $2, document = $3, version = version + 1, updated_at = $4 WHERE key = $1"
                    )
                    .bind(&c.key)
                    .bind(&c.name)
                    .bind(&document)
                    .bind(at)
                    .execute(&mut **t)
                    .await
                    .map(|r| r.rows_affected())
                    })?;
                    "updated"
                }
            };
            if action != "unchanged" {
                changed = true;
                tx.audit(
                    actor,
                    &format!("channel.{}", if action == "created" { "create" } else { "update" }),
                    &c.key,
                    json!({ "document": serde_json::from_str::<Value>(&document).unwrap_or(Value::Null) }),
                )
                .await?;
            }
            out.push(ChannelApply {
                key: c.key.clone(),
                action,
            });
        }
        if changed {
            mark_everything(&mut tx).await?;
        }
        tx.commit().await?;
        if changed {
            // The marked products are recomputed by the caller (`irp_pipeline::catalog::recompute`)
            // or, in `serve`, by the catalog task this wakes.
            self.catalog.notify_one();
        }
        Ok(out)
    }
}
