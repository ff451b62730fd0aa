//! The catalog: products keyed by EAN with their best offer, and what each storefront channel
//! sells of them.
//!
//! Whatever changes a product's offers or their pricing (a feed run, a refurbisher's settings,
//! a decision on a held price, PIM data, the channels) marks the product's EAN in
//! `catalog_dirty`, in the same transaction as the change. A recompute drains those marks right
//! after, in one transaction (`Store::catalog().recompute_begin`, [`Recompute`]): it reads the
//! offers of each step of marked EANs, the pure [`irp_core::catalog::step::decide`] prices them
//! and picks the best one for the catalog and for every channel, and it writes only what
//! changed (`irp_pipeline::catalog::recompute` runs it). A channel row that changes gets a new `revision` and the
//! `dirty` mark the channel sync pushes from. Only the marked EANs are read, so a run that
//! changes 1 % of a catalog recomputes 1 % of it.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use irp_core::catalog::Seller;
use irp_core::config::Channel;

use crate::marks::mark_everything;
use crate::{Result, Store, now, with_db};

mod recompute;

pub use recompute::Recompute;

/// The currency the catalog overview compares offers in (channels use their own).
pub const CATALOG_CURRENCY: &str = "EUR";

/// What pricing needs besides the offers: every refurbisher and every channel.
#[derive(Debug, Clone, Default)]
pub struct CatalogContext {
    /// Refurbishers by refurbisher id.
    pub sellers: HashMap<i64, Seller>,
    /// Channels by key.
    pub channels: Vec<Channel>,
}

impl CatalogContext {
    /// Whether any refurbisher has a margin rule by brand or category (only then are the
    /// offers' brand and category read).
    fn needs_brand(&self) -> bool {
        self.sellers.values().any(|s| {
            s.model
                .margin_rules
                .iter()
                .any(|r| r.brand.is_some() || r.category.is_some())
        })
    }
}

/// What a recompute did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct RecomputeStats {
    /// EANs recomputed.
    pub eans: u64,
    /// Product rows written (created or changed).
    pub products_changed: u64,
    /// Channel rows written (created or changed; now dirty).
    pub channel_rows_changed: u64,
    /// Offers whose feed consumer price is below the computed selling price (excl. VAT).
    pub consumer_below: u64,
    /// Milliseconds.
    pub ms: u64,
}

/// A product as stored.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct StoredProduct {
    /// EAN.
    pub ean: String,
    /// Name from the PIM.
    pub name: Option<String>,
    /// The best offer's feed name.
    pub feed_name: Option<String>,
    /// Brand from the PIM.
    pub brand: Option<String>,
    /// Model from the PIM.
    pub model: Option<String>,
    /// Category from the PIM.
    pub category: Option<String>,
    /// The best offer.
    pub best_offer_id: Option<i64>,
    /// Its SKU.
    pub best_sku: Option<String>,
    /// Its refurbisher.
    pub best_refurbisher_id: Option<i64>,
    /// Its price incl. VAT, minor units.
    pub price_incl_minor: Option<i64>,
    /// Its currency.
    pub currency: Option<String>,
    /// Its sellable stock.
    pub sellable: i64,
    /// Offers with this EAN (active or not).
    pub offers_count: i64,
    /// When the PIM data was imported.
    pub pim_synced_at: Option<DateTime<Utc>>,
    /// When the catalog last computed it.
    pub computed_at: Option<DateTime<Utc>>,
}

impl StoredProduct {
    /// The name to show: the PIM's, else the best offer's feed name.
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.feed_name.as_deref())
            .unwrap_or("")
    }
}

/// What a channel sells of a product, and what was last pushed to it.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct ChannelProduct {
    /// Channel key.
    pub channel: String,
    /// EAN.
    pub ean: String,
    /// The channel's best offer.
    pub offer_id: Option<i64>,
    /// Its refurbisher.
    pub refurbisher_id: Option<i64>,
    /// Price incl. VAT, minor units.
    pub price_incl_minor: Option<i64>,
    /// The VAT percentage of that price.
    pub tax_percentage: Option<String>,
    /// The refurbisher's purchase price, minor units.
    pub purchase_minor: Option<i64>,
    /// The channel's currency.
    pub currency: String,
    /// Sellable stock.
    pub stock: i64,
    /// Whether the channel sells it now.
    pub active: bool,
    /// +1 on every change of the values above.
    pub revision: i64,
    /// Changed since the last push.
    pub dirty: bool,
    /// The revision last pushed.
    pub pushed_revision: Option<i64>,
    /// The price last pushed.
    pub pushed_price_incl_minor: Option<i64>,
    /// The stock last pushed.
    pub pushed_stock: Option<i64>,
    /// The availability last pushed.
    pub pushed_active: Option<bool>,
    /// When it was last pushed.
    pub pushed_at: Option<DateTime<Utc>>,
}

/// A stored channel.
#[derive(Debug, Clone)]
pub struct StoredChannel {
    /// The channel.
    pub channel: Channel,
    /// +1 on every change.
    pub version: i64,
}

/// What applying a channels document did to one channel.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ChannelApply {
    /// Channel key.
    pub key: String,
    /// `created`, `updated` or `unchanged`.
    pub action: &'static str,
}

/// The store's handle on the catalog: products, their channel rows, the recompute ([`Store::catalog`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct Catalog<'s>(&'s Store);

impl std::ops::Deref for Catalog<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on the catalog: products, their channel rows, the recompute.
    #[must_use]
    pub fn catalog(&self) -> Catalog<'_> {
        Catalog(self)
    }
}

impl Catalog<'_> {
    /// Every refurbisher (as a [`Seller`]) and every channel.
    ///
    /// # Errors
    /// A database error; a stored document that no longer validates.
    pub async fn context(&self) -> Result<CatalogContext> {
        let mut sellers = HashMap::new();
        for r in self.refurbishers().list().await? {
            let may_sell = r.model.approved_refurbished && r.model.enabled;
            sellers.insert(r.id, Seller::new(r.model, may_sell));
        }
        let channels = self
            .channels()
            .list()
            .await?
            .into_iter()
            .map(|c| c.channel)
            .collect();
        Ok(CatalogContext { sellers, channels })
    }

    /// Mark every product for recomputing (one whole-catalog mark: the recompute walks every
    /// product in EAN order).
    ///
    /// # Errors
    /// A database error.
    pub async fn mark_all(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        mark_everything(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }

    /// EANs waiting to be recomputed; while the whole catalog is marked, every EAN with an
    /// offer or a product.
    ///
    /// # Errors
    /// A database error.
    pub async fn dirty_count(&self) -> Result<i64> {
        const SQL: &str = "SELECT CASE WHEN EXISTS (SELECT 1 FROM catalog_dirty_all) \
             THEN (SELECT COUNT(*) FROM (SELECT ean FROM offers WHERE ean IS NOT NULL AND ean <> '' UNION SELECT ean FROM products) AS u) \
             ELSE (SELECT COUNT(*) FROM catalog_dirty) END";
        let (n,): (i64,) = with_db!(self.db(), |p| sqlx::query_as(SQL).fetch_one(p).await)?;
        Ok(n)
    }

    /// A product.
    ///
    /// # Errors
    /// A database error.
    pub async fn product(&self, ean: &str) -> Result<Option<StoredProduct>> {
        let sql = format!("{PRODUCT_SELECT} WHERE p.ean = $1");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(ean)
        .fetch_optional(p)
        .await)?)
    }

    /// Products by EAN, optionally those whose EAN starts with or whose name contains `query`,
    /// and only those with a best offer when `sellable_only`.
    ///
    /// # Errors
    /// A database error.
    pub async fn products(
        &self,
        query: Option<&str>,
        sellable_only: bool,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredProduct>> {
        let sql = format!(
            "{PRODUCT_SELECT} WHERE ($1 = '' OR p.ean LIKE $2 OR LOWER(COALESCE(p.name, p.feed_name, '')) LIKE $3) \
             AND (NOT $4 OR p.best_offer_id IS NOT NULL) ORDER BY p.ean LIMIT $5 OFFSET $6"
        );
        let q = query.unwrap_or("").trim().to_owned();
        let escaped = q.replace('\\', "").replace(['%', '_'], "");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(&q)
        .bind(format!("{escaped}%"))
        .bind(format!("%{}%", escaped.to_lowercase()))
        .bind(sellable_only)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await)?)
    }

    /// Products for the portal's list: `query` matches an EAN prefix, an offer's SKU prefix
    /// (any refurbisher) or a part of the name; only those with a best offer when
    /// `sellable_only`; sorted by `sort`.
    ///
    /// # Errors
    /// A database error.
    pub async fn search_products(
        &self,
        query: &str,
        sellable_only: bool,
        sort: ProductSort,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<StoredProduct>> {
        // Each order has an index (products: ean; display name; price; sellable): a page is
        // read in index order and stops after `limit` rows. Price orders list only products
        // with a price.
        let (order, priced) = match sort {
            ProductSort::Ean => ("p.ean", false),
            ProductSort::Name => ("LOWER(COALESCE(p.name, p.feed_name, '')), p.ean", false),
            ProductSort::PriceAsc => ("p.price_incl_minor, p.ean", true),
            ProductSort::PriceDesc => ("p.price_incl_minor DESC, p.ean DESC", true),
            ProductSort::Sellable => ("p.sellable DESC, p.ean", false),
        };
        let q = query.trim().to_owned();
        // Digits only: an EAN (or SKU) prefix, read as an index range; else a SKU prefix or a
        // part of the name.
        let digits = !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit());
        let sql = format!(
            "{PRODUCT_SELECT} WHERE ($1 = '' \
             OR ($7 AND p.ean >= $1 AND p.ean < $3) \
             OR (NOT $7 AND LOWER(COALESCE(p.name, p.feed_name, '')) LIKE $2) \
             OR p.ean IN (SELECT s.ean FROM offers s WHERE s.sku >= $1 AND s.sku < $3 AND s.ean IS NOT NULL)) \
             AND (NOT $4 OR p.best_offer_id IS NOT NULL) {} ORDER BY {order} LIMIT $5 OFFSET $6",
            if priced {
                "AND p.price_incl_minor IS NOT NULL"
            } else {
                ""
            }
        );
        let escaped = q.replace('\\', "").replace(['%', '_'], "");
        // The range [q, q + U+10FFFF): every EAN or SKU that starts with q, through the index.
        let upper = format!("{q}\u{10FFFF}");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(&q)
        .bind(format!("%{}%", escaped.to_lowercase()))
        .bind(&upper)
        .bind(sellable_only)
        .bind(limit)
        .bind(offset)
        .bind(digits)
        .fetch_all(p)
        .await)?)
    }

    /// What every channel sells of `ean`.
    ///
    /// # Errors
    /// A database error.
    pub async fn channel_rows_of(&self, ean: &str) -> Result<Vec<ChannelProduct>> {
        let sql = format!("{CHANNEL_PRODUCT_SELECT} WHERE ean = $1 ORDER BY channel");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(ean)
        .fetch_all(p)
        .await)?)
    }

    /// Up to `limit` rows of `channel` changed since their last push, by EAN: what the channel
    /// sync sends next.
    ///
    /// # Errors
    /// A database error.
    pub async fn dirty_channel_rows(
        &self,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<ChannelProduct>> {
        let sql =
            format!("{CHANNEL_PRODUCT_SELECT} WHERE channel = $1 AND dirty ORDER BY ean LIMIT $2");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(channel)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Record that `row` (as read, with its revision) was pushed. A row that changed since it
    /// was read keeps its dirty mark, and a push older than the last recorded one is ignored,
    /// so an older value never counts as the pushed one. Returns whether it was recorded.
    ///
    /// # Errors
    /// A database error.
    pub async fn channel_row_pushed(&self, row: &ChannelProduct) -> Result<bool> {
        const SQL: &str = "UPDATE channel_products SET pushed_revision = $3, pushed_price_incl_minor = $4, pushed_stock = $5, \
                 pushed_active = $6, pushed_at = $7, dirty = (revision <> $3) \
             WHERE channel = $1 AND ean = $2 AND (pushed_revision IS NULL OR pushed_revision < $3)";
        let n = with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(&row.channel)
            .bind(&row.ean)
            .bind(row.revision)
            .bind(row.price_incl_minor)
            .bind(row.stock)
            .bind(row.active)
            .bind(now())
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
        Ok(n > 0)
    }
}

/// The orders of `Store::catalog().search_products`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProductSort {
    /// By EAN.
    #[default]
    Ean,
    /// By name.
    Name,
    /// Cheapest first (products without a price last).
    PriceAsc,
    /// Dearest first (products without a price last).
    PriceDesc,
    /// Most sellable units first.
    Sellable,
}

const PRODUCT_SELECT: &str = "SELECT p.ean, p.name, p.feed_name, p.brand, p.model, p.category, p.best_offer_id, o.sku AS best_sku, \
     o.refurbisher_id AS best_refurbisher_id, p.price_incl_minor, p.currency, p.sellable, p.offers_count, p.pim_synced_at, p.computed_at \
     FROM products p LEFT JOIN offers o ON o.id = p.best_offer_id";
const CHANNEL_PRODUCT_SELECT: &str = "SELECT channel, ean, offer_id, refurbisher_id, price_incl_minor, tax_percentage, purchase_minor, \
     currency, stock, active, revision, dirty, pushed_revision, pushed_price_incl_minor, pushed_stock, pushed_active, pushed_at \
     FROM channel_products";
