//! The feed poller: each enabled refurbisher's feed is imported every `poll_interval_secs`
//! (with ±10 % jitter, so feeds do not all start together), never twice at once — also with
//! several IRP instances on one database, which claim a due refurbisher through a lease renewed
//! while its import runs ([`crate::lease`]).
//!
//! [`poll_once`] does one refurbisher; `serve`'s `feeds` job repeats it on its tick.

use std::hash::{BuildHasher, RandomState};

use chrono::{DateTime, TimeDelta, Utc};
use irp_core::config::model::Connection;
use irp_store::Store;
use irp_store::secrets::SecretKey;

use crate::feed::{ImportError, RunStatus, import_fetched};

/// How long a claim holds past its last renewal before another instance may take the
/// refurbisher over: renewed while the import runs, it runs out a minute after its instance
/// died.
pub const LEASE: TimeDelta = crate::lease::LEASE;

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A feed was imported.
    Polled {
        /// The refurbisher.
        key: String,
        /// How the run ended.
        status: RunStatus,
    },
    /// A due refurbisher has nothing to poll (no offers connector, uploads only, polling off);
    /// it is looked at again in a day or when its document changes.
    Skipped {
        /// The refurbisher.
        key: String,
    },
    /// Nothing is due.
    Idle,
}

/// `interval` seconds from `now`, ±10 %.
pub fn next_due(now: DateTime<Utc>, interval_secs: i64) -> DateTime<Utc> {
    let spread = interval_secs / 10;
    let jitter = if spread > 0 {
        let r = RandomState::new().hash_one(now.timestamp_nanos_opt().unwrap_or(0));
        i64::try_from(r % u64::try_from(2 * spread + 1).unwrap_or(1)).unwrap_or(0) - spread
    } else {
        0
    };
    now + TimeDelta::seconds(interval_secs + jitter)
}

/// Claim one due refurbisher and import its feed.
///
/// # Errors
/// The store failed; the claim is released so the feed is tried again at its next due time.
pub async fn poll_once(
    store: &Store,
    owner: &str,
    secret_key: Option<&SecretKey>,
) -> Result<Outcome, ImportError> {
    let now = irp_store::now();
    let Some(claim) = store
        .refurbishers()
        .poll_claim(owner, now, now + LEASE)
        .await?
    else {
        return Ok(Outcome::Idle);
    };
    let Some(r) = store.refurbishers().get(&claim.key).await? else {
        return Ok(Outcome::Idle);
    };
    let pollable = r
        .model
        .offers
        .as_ref()
        .is_some_and(|o| o.connection != Connection::Upload)
        && r.model.poll_interval_secs > 0;
    if !pollable {
        store
            .refurbishers()
            .poll_release(r.id, owner, now + TimeDelta::days(1), r.version)
            .await?;
        return Ok(Outcome::Skipped { key: r.key });
    }
    let claim = crate::lease::Claim::FeedPoll {
        refurbisher_id: r.id,
        owner,
    };
    let result = crate::lease::renewing(
        store,
        claim,
        LEASE,
        import_fetched(store, &r, "schedule", secret_key),
    )
    .await;
    let next = next_due(irp_store::now(), r.model.poll_interval_secs);
    // A document applied while the feed was read stays due at once (the release compares
    // versions).
    store
        .refurbishers()
        .poll_release(r.id, owner, next, r.version)
        .await?;
    let report = result?;
    Ok(Outcome::Polled {
        key: r.key,
        status: report.status,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_poll_is_within_ten_percent_of_the_interval() {
        let now = Utc::now();
        for _ in 0..200 {
            let d = (next_due(now, 3600) - now).num_seconds();
            assert!((3240..=3960).contains(&d), "{d}");
        }
        assert_eq!((next_due(now, 5) - now).num_seconds(), 5);
    }
}
