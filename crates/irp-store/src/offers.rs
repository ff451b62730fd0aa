//! Offers: what a feed row becomes ([`StagedOffer`]), the stored offer and its listings, the
//! records of feed runs ([`FeedRun`], [`RunReport`], [`StoredRowError`], [`SnapshotDiff`]),
//! and an operator's decision on a held purchase price. Runs are written by
//! [`crate::feed_write`] and kept by [`crate::feed_runs`].

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use irp_core::feed::FeedRunStatus;
use irp_core::pricing::guard::{self, Hold};

use crate::monitor::RESOLVE_ALERT;
use crate::{Result, Store, StoreError, now, with_db, with_tx};

/// One accepted feed row, as stored (money in minor units of `currency`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedOffer {
    /// The refurbisher's SKU.
    pub sku: String,
    /// Row (CSV: line) number in the feed.
    pub row_number: i64,
    /// EAN/GTIN.
    pub ean: String,
    /// Name.
    pub name: String,
    /// Stock the refurbisher reports.
    pub stock_available: i64,
    /// Purchase price excl. VAT, minor units.
    pub price_purchase_minor: i64,
    /// Consumer price excl. VAT, minor units.
    pub price_consumer_minor: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// VAT percentage as an exact decimal string.
    pub tax_percentage: Option<String>,
    /// Further attributes (brand, category, grade, extra), sorted by name.
    pub attributes: BTreeMap<String, String>,
}

impl StagedOffer {
    /// A hash of every stored field, to tell unchanged offers apart cheaply: XXH3-64 (a
    /// specified, stable algorithm) over the fields, each followed by a separator byte.
    pub fn content_hash64(&self) -> u64 {
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for part in [self.ean.as_str(), self.name.as_str()] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        for n in [
            self.stock_available,
            self.price_purchase_minor,
            self.price_consumer_minor,
        ] {
            h.update(&n.to_le_bytes());
        }
        for part in [
            self.currency.as_str(),
            self.tax_percentage.as_deref().unwrap_or("-"),
        ] {
            h.update(part.as_bytes());
            h.update(&[0]);
        }
        for (k, v) in &self.attributes {
            h.update(k.as_bytes());
            h.update(&[1]);
            h.update(v.as_bytes());
            h.update(&[0]);
        }
        h.digest()
    }

    /// [`Self::content_hash64`] as stored: 16 lowercase hex digits.
    pub fn content_hash(&self) -> String {
        hash_hex(self.content_hash64())
    }
}

/// A content hash as stored: 16 lowercase hex digits.
pub fn hash_hex(hash: u64) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    (0..16)
        .rev()
        .map(|i| char::from(HEX[((hash >> (i * 4)) & 0xf) as usize]))
        .collect()
}

/// A stored content hash read back; `None` for one written in an older form (it then never
/// matches, and the offer's fields are compared instead).
pub fn hash_parse(text: &str) -> Option<u64> {
    if text.len() == 16 {
        u64::from_str_radix(text, 16).ok()
    } else {
        None
    }
}

/// A row error as stored with its run.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, sqlx::FromRow)]
pub struct StoredRowError {
    /// Row (CSV: line) number.
    pub row_number: i64,
    /// Canonical field, when one.
    pub field: Option<String>,
    /// Raw value, when one.
    pub value: Option<String>,
    /// What is wrong.
    pub message: String,
}

/// How a run's staged offers differ from the stored ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SnapshotDiff {
    /// Offers the feed has and the store does not (or has inactive).
    pub created: i64,
    /// Offers whose stored fields change.
    pub updated: i64,
    /// Offers that stay as they are.
    pub unchanged: i64,
    /// Active offers the feed no longer has (they are deactivated, never deleted).
    pub removed: i64,
    /// Active offers before the run.
    pub active_before: i64,
    /// Per canonical field, how many updated offers change it.
    pub field_changes: BTreeMap<String, i64>,
}

/// A feed run as stored.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct FeedRun {
    /// Run id.
    pub id: i64,
    /// The refurbisher.
    pub refurbisher_id: i64,
    /// What started it: `schedule`, `manual`, `upload`, `api`.
    pub triggered_by: String,
    /// Where it stands.
    #[sqlx(try_from = "String")]
    pub status: FeedRunStatus,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: Option<DateTime<Utc>>,
    /// HTTP status of the fetch, when HTTP.
    pub http_status: Option<i64>,
    /// Bytes fetched.
    pub bytes: i64,
    /// Duration in milliseconds.
    pub duration_ms: Option<i64>,
    /// Records read.
    pub rows_read: i64,
    /// Records accepted.
    pub rows_accepted: i64,
    /// Records rejected.
    pub rows_rejected: i64,
    /// Offers created.
    pub created: i64,
    /// Offers updated.
    pub updated: i64,
    /// Offers unchanged.
    pub unchanged: i64,
    /// Offers removed (deactivated).
    pub removed: i64,
    /// Row errors beyond the stored ones.
    pub errors_dropped: i64,
    /// Per field, how many offers changed it.
    pub field_changes: Json<Value>,
    /// Why it failed or was quarantined.
    pub message: Option<String>,
    /// When its offers were applied.
    pub applied_at: Option<DateTime<Utc>>,
}

/// Counts a finished run reports.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// Final status.
    pub status: FeedRunStatus,
    /// HTTP status of the fetch, when HTTP.
    pub http_status: Option<i64>,
    /// Bytes read.
    pub bytes: i64,
    /// Duration in milliseconds.
    pub duration_ms: i64,
    /// Records read.
    pub rows_read: i64,
    /// Records accepted.
    pub rows_accepted: i64,
    /// Records rejected.
    pub rows_rejected: i64,
    /// The diff, when one was made.
    pub diff: Option<SnapshotDiff>,
    /// Row errors beyond the stored ones.
    pub errors_dropped: i64,
    /// Why it failed or was quarantined.
    pub message: Option<String>,
    /// SHA-256 of the feed's bytes, to recognise an identical feed next time.
    pub content_hash: Option<String>,
}

impl Default for RunReport {
    /// A report of a run still under way, with nothing counted.
    fn default() -> Self {
        RunReport {
            status: FeedRunStatus::Running,
            http_status: None,
            bytes: 0,
            duration_ms: 0,
            rows_read: 0,
            rows_accepted: 0,
            rows_rejected: 0,
            diff: None,
            errors_dropped: 0,
            message: None,
            content_hash: None,
        }
    }
}

/// One stored offer, for listings.
#[derive(Debug, Clone, serde::Serialize, sqlx::FromRow)]
pub struct StoredOffer {
    /// Offer id.
    pub id: i64,
    /// The refurbisher.
    pub refurbisher_id: i64,
    /// SKU.
    pub sku: String,
    /// EAN.
    pub ean: Option<String>,
    /// Name.
    pub name: String,
    /// Stock in the refurbisher's latest applied feed.
    pub stock_available: i64,
    /// Units ordered from this offer since that feed (not sellable until the next one).
    pub reserved: i64,
    /// Purchase price excl. VAT, minor units.
    pub price_purchase_minor: i64,
    /// Consumer price excl. VAT, minor units.
    pub price_consumer_minor: Option<i64>,
    /// Currency.
    pub currency: String,
    /// VAT percentage.
    pub tax_percentage: Option<String>,
    /// Attributes.
    pub attributes: Json<Value>,
    /// Whether the latest applied feed had it.
    pub active: bool,
    /// First seen.
    pub first_seen_at: DateTime<Utc>,
    /// When an applied feed last wrote this offer (created, changed or brought back). An
    /// active offer is in the refurbisher's latest applied feed.
    pub last_seen_at: DateTime<Utc>,
    /// Last changed.
    pub last_changed_at: DateTime<Utc>,
    /// While a purchase price change is held: the purchase price pricing still uses.
    pub applied_purchase_minor: Option<i64>,
    /// `pending` (held, waiting for an operator) or `rejected` (the old price stays).
    pub price_hold: Option<String>,
    /// When the change was held.
    pub price_held_at: Option<DateTime<Utc>>,
}

impl StoredOffer {
    /// The offer as pricing sees it; `pim` is the product's brand and category from the PIM,
    /// which win over the feed's attributes.
    pub fn facts(
        &self,
        pim: Option<(Option<String>, Option<String>)>,
    ) -> irp_core::catalog::OfferFacts {
        let attr = |k: &str| {
            self.attributes
                .0
                .get(k)
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let (brand, category) = pim.unwrap_or_default();
        let (purchase, held) = irp_core::orders::routing::purchase_in_use(
            self.price_purchase_minor,
            self.applied_purchase_minor,
        );
        irp_core::catalog::OfferFacts {
            offer_id: self.id,
            refurbisher_id: self.refurbisher_id,
            sku: self.sku.clone(),
            ean: self.ean.clone().unwrap_or_default(),
            name: self.name.clone(),
            active: self.active,
            stock_available: self.stock_available - self.reserved,
            purchase_minor: purchase,
            held_purchase_minor: held,
            consumer_minor: self.price_consumer_minor,
            currency: self.currency.clone(),
            tax_percentage: self
                .tax_percentage
                .as_deref()
                .and_then(irp_core::money::parse_plain_decimal),
            brand: brand.or_else(|| attr("brand")),
            category: category.or_else(|| attr("category")),
        }
    }
}

/// The columns of [`StoredOffer`].
const OFFER_SELECT: &str = "SELECT id, refurbisher_id, sku, ean, name, stock_available, reserved, price_purchase_minor, price_consumer_minor, currency, \
     tax_percentage, attributes, active, first_seen_at, last_seen_at, last_changed_at, applied_purchase_minor, price_hold, price_held_at FROM offers";

pub(crate) const FIELD_CHECKS: [(&str, &str); 8] = [
    ("name", "o.name IS DISTINCT FROM s.name"),
    ("ean", "o.ean IS DISTINCT FROM s.ean"),
    (
        "stock_available",
        "o.stock_available IS DISTINCT FROM s.stock_available",
    ),
    (
        "price_purchase_amount",
        "o.price_purchase_minor IS DISTINCT FROM s.price_purchase_minor",
    ),
    (
        "price_consumer_amount",
        "o.price_consumer_minor IS DISTINCT FROM s.price_consumer_minor",
    ),
    ("currency_iso", "o.currency IS DISTINCT FROM s.currency"),
    (
        "tax_percentage",
        "o.tax_percentage IS DISTINCT FROM s.tax_percentage",
    ),
    ("attributes", "o.attributes IS DISTINCT FROM s.attributes"),
];

/// The store's handle on offers and held purchase prices ([`Store::offers`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Offers<'s>(&'s Store);

impl std::ops::Deref for Offers<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on offers and held purchase prices.
    #[must_use]
    pub fn offers(&self) -> Offers<'_> {
        Offers(self)
    }
}

impl Offers<'_> {
    /// Offers with a held purchase price change (`pending`; also `rejected` ones when
    /// `include_rejected`), of one refurbisher or all, oldest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn held_prices(
        &self,
        refurbisher_id: Option<i64>,
        include_rejected: bool,
        limit: i64,
    ) -> Result<Vec<StoredOffer>> {
        let sql = format!(
            "{OFFER_SELECT} WHERE price_hold IS NOT NULL AND (price_hold = 'pending' OR $2) \
             AND ($1 IS NULL OR refurbisher_id = $1) ORDER BY price_held_at, id LIMIT $3"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(refurbisher_id)
        .bind(include_rejected)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// An operator's decision on a held purchase price change: `accept` applies the feed's
    /// price (the product is recomputed), reject keeps the old one until the feed sends another
    /// price. Audited; the refurbisher's `price_change_held` alert is resolved when nothing is
    /// pending any more. Returns the offer as it is now.
    ///
    /// # Errors
    /// [`StoreError::NotFound`] when the offer does not exist or holds nothing to decide; a
    /// database error.
    pub async fn decide_price(
        &self,
        refurbisher_id: i64,
        sku: &str,
        accept: bool,
        actor: &str,
    ) -> Result<StoredOffer> {
        let Some(offer) = self.offers().get(refurbisher_id, sku).await? else {
            return Err(StoreError::NotFound(format!("no offer with SKU {sku:?}")));
        };
        let hold = offer
            .price_hold
            .as_deref()
            .and_then(|h| h.parse::<Hold>().ok());
        if !guard::decidable(hold, accept) {
            return Err(StoreError::NotFound(format!(
                "offer {sku:?} has no {} price change to {}",
                if accept { "held" } else { "pending" },
                if accept { "accept" } else { "reject" }
            )));
        }
        let mut tx = self.begin().await?;
        // Only the hold the operator saw: a feed run may have changed it since.
        let sql = if accept {
            "UPDATE offers SET applied_purchase_minor = NULL, price_hold = NULL, price_held_at = NULL \
             WHERE id = $1 AND price_hold = $2 AND price_purchase_minor = $3"
        } else {
            "UPDATE offers SET price_hold = 'rejected' WHERE id = $1 AND price_hold = $2 AND price_purchase_minor = $3"
        };
        let n = with_tx!(&mut tx, |t| sqlx::query(sql)
            .bind(offer.id)
            .bind(offer.price_hold.as_deref())
            .bind(offer.price_purchase_minor)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
        if n == 0 {
            return Err(StoreError::Conflict(format!(
                "offer {sku:?} changed while you decided (a feed run?); look at it again with `irp prices held`"
            )));
        }
        if accept && let Some(ean) = &offer.ean {
            crate::marks::mark_dirty(&mut tx, std::slice::from_ref(ean)).await?;
        }
        tx.audit(
            actor,
            if accept {
                "price.accept"
            } else {
                "price.reject"
            },
            &format!("{refurbisher_id}/{sku}"),
            serde_json::json!({
                "applied_purchase_minor": offer.applied_purchase_minor,
                "feed_purchase_minor": offer.price_purchase_minor,
            }),
        )
        .await?;
        const PENDING: &str =
            "SELECT COUNT(*) FROM offers WHERE price_hold = 'pending' AND refurbisher_id = $1";
        let (pending,): (i64,) = with_tx!(&mut tx, |t| sqlx::query_as(PENDING)
            .bind(refurbisher_id)
            .fetch_one(&mut **t)
            .await)?;
        if pending == 0 {
            let at = now();
            with_tx!(&mut tx, |t| sqlx::query(RESOLVE_ALERT)
                .bind(refurbisher_id)
                .bind(irp_core::monitoring::Metric::PriceChangeHeld.as_str())
                .bind(at)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()))?;
        }
        tx.commit().await?;
        if accept {
            // The marked products are recomputed by the caller (`irp_pipeline::catalog::recompute`)
            // or, in `serve`, by the catalog task this wakes.
            self.catalog.notify_one();
        }
        self.offers()
            .get(refurbisher_id, sku)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("no offer with SKU {sku:?}")))
    }

    /// Every offer with `ean`, by offer id.
    ///
    /// # Errors
    /// A database error.
    pub async fn of_product(&self, ean: &str) -> Result<Vec<StoredOffer>> {
        let sql = format!("{OFFER_SELECT} WHERE ean = $1 ORDER BY id");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(ean)
        .fetch_all(p)
        .await)?)
    }

    /// One offer of a refurbisher, active or not.
    ///
    /// # Errors
    /// A database error.
    pub async fn get(&self, refurbisher_id: i64, sku: &str) -> Result<Option<StoredOffer>> {
        let sql = format!("{OFFER_SELECT} WHERE refurbisher_id = $1 AND sku = $2");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(refurbisher_id)
        .bind(sku)
        .fetch_optional(p)
        .await)?)
    }

    /// Offers of a refurbisher by SKU; inactive ones only when `include_inactive`.
    ///
    /// # Errors
    /// A database error.
    pub async fn list(
        &self,
        refurbisher_id: i64,
        include_inactive: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredOffer>> {
        let sql = format!(
            "{OFFER_SELECT} WHERE refurbisher_id = $1 AND (active OR $2) ORDER BY sku LIMIT $3 OFFSET $4"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(refurbisher_id)
        .bind(include_inactive)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_content_hash_is_stable_and_round_trips() {
        let o = StagedOffer {
            sku: "FLX-1".into(),
            row_number: 2,
            ean: "8710000000017".into(),
            name: "iPhone 13".into(),
            stock_available: 5,
            price_purchase_minor: 123_456,
            price_consumer_minor: 149_900,
            currency: "EUR".into(),
            tax_percentage: None,
            attributes: BTreeMap::new(),
        };
        // Stored hashes are compared with new ones: the value must not change between builds.
        assert_eq!(o.content_hash(), "d844c35ee8ba3c25");
        assert_eq!(hash_parse(&o.content_hash()), Some(o.content_hash64()));
        assert_eq!(hash_parse("0123456789abcdef0123456789abcdef"), None);
        let mut p = o.clone();
        p.stock_available = 6;
        assert_ne!(p.content_hash64(), o.content_hash64());
    }
}
