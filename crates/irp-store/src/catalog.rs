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

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use irp_core::catalog::step::{ChannelValues, ProductValues, StepInput, StepWrites};
use irp_core::catalog::{OfferFacts, Seller};
use irp_core::config::Channel;
use irp_core::money;
use irp_core::orders::routing::purchase_in_use;
use serde_json::Value;
use sqlx::Arguments as _;

use crate::dialect::{SetAside, sqlite_values};
use crate::marks::{lock_settings, mark_everything};
use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};

/// The currency the catalog overview compares offers in (channels use their own).
pub const CATALOG_CURRENCY: &str = "EUR";

/// EANs per recompute step (one read of their offers, one write of what changed).
const STEP: usize = 10_000;

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

/// One offer row read for pricing.
#[derive(sqlx::FromRow, serde::Deserialize)]
struct OfferRow {
    id: i64,
    refurbisher_id: i64,
    sku: String,
    ean: String,
    name: String,
    #[serde(deserialize_with = "de_bool")]
    active: bool,
    stock_available: i64,
    price_purchase_minor: i64,
    applied_purchase_minor: Option<i64>,
    price_consumer_minor: Option<i64>,
    currency: String,
    tax_percentage: Option<String>,
    brand: Option<String>,
    category: Option<String>,
}

impl OfferRow {
    fn facts(self, pim: Option<&(Option<String>, Option<String>)>) -> OfferFacts {
        let (pim_brand, pim_category) = match pim {
            Some((b, c)) => (b.clone(), c.clone()),
            None => (None, None),
        };
        let (purchase, held) =
            purchase_in_use(self.price_purchase_minor, self.applied_purchase_minor);
        OfferFacts {
            offer_id: self.id,
            refurbisher_id: self.refurbisher_id,
            sku: self.sku,
            ean: self.ean,
            name: self.name,
            active: self.active,
            stock_available: self.stock_available,
            purchase_minor: purchase,
            held_purchase_minor: held,
            consumer_minor: self.price_consumer_minor,
            currency: self.currency,
            tax_percentage: self
                .tax_percentage
                .as_deref()
                .and_then(money::parse_plain_decimal),
            brand: pim_brand.or(self.brand),
            category: pim_category.or(self.category),
        }
    }
}

/// The columns of [`OfferRow`] (`o` is `offers`).
fn offer_columns(backend_pg: bool, with_brand: bool) -> String {
    let (brand, category) = match (with_brand, backend_pg) {
        (false, _) => ("NULL", "NULL"),
        (true, true) => ("o.attributes->>'brand'", "o.attributes->>'category'"),
        (true, false) => (
            "json_extract(o.attributes, '$.brand')",
            "json_extract(o.attributes, '$.category')",
        ),
    };
    format!(
        "o.id, o.refurbisher_id, o.sku, o.ean, o.name, o.active, o.stock_available - o.reserved{s}, o.price_purchase_minor, \
             o.applied_purchase_minor, o.price_consumer_minor, o.currency, o.tax_percentage, \
             CAST({brand} AS TEXT){b}, CAST({category} AS TEXT){c}",
        // Units ordered since the last feed are not sellable (see `orders`).
        s = if backend_pg {
            " AS stock_available"
        } else {
            ""
        },
        // PostgreSQL reads columns by name; SQLite's JSON arrays take no aliases.
        b = if backend_pg { " AS brand" } else { "" },
        c = if backend_pg { " AS category" } else { "" },
    )
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

    /// Begin a recompute of every product marked dirty, in one transaction; `None` when
    /// nothing is marked. The settings are read once: this transaction keeps them from changing
    /// under it (SQLite: its write lock; PostgreSQL: the settings lock refurbisher and channel
    /// changes take too); a change that commits later waits, and recomputes its own marks after.
    ///
    /// When the whole catalog is marked, the recompute claims that mark and every per-EAN mark
    /// (it covers them) and walks all products in EAN order, a range of EANs per step, instead
    /// of looking the marked EANs up one by one.
    ///
    /// # Errors
    /// A database error.
    pub async fn recompute_begin(&self) -> Result<Option<Recompute>> {
        const ANY: &str = "SELECT EXISTS (SELECT 1 FROM catalog_dirty) OR EXISTS (SELECT 1 FROM catalog_dirty_all)";
        let (any,): (bool,) = with_db!(self.db(), |p| sqlx::query_as(ANY).fetch_one(p).await)?;
        if !any {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        let mut tx = self.begin().await?;
        lock_settings(&mut tx).await?;
        let ctx = self.catalog().context().await?;
        if let Tx::Postgres(t) = &mut tx {
            // Each step is a few index lookups; PostgreSQL's JIT, triggered by the estimates of
            // tables not analysed yet, would spend far longer compiling them than running them.
            sqlx::query("SET LOCAL jit = off").execute(&mut **t).await?;
            // What this transaction writes is derived data: if a crash loses its commit, the
            // dirty marks it deleted are lost with it and come back, and the next recompute
            // (`serve` drains them at start) writes the same values again. So it need not wait
            // for its WAL to reach the disk (a quarter of a second after a large feed run).
            sqlx::query("SET LOCAL synchronous_commit = off")
                .execute(&mut **t)
                .await?;
            sqlx::query(
                "CREATE TEMPORARY TABLE catalog_step (ean TEXT PRIMARY KEY) ON COMMIT DROP",
            )
            .execute(&mut **t)
            .await?;
        }
        let whole: Option<i64> = with_tx!(&mut tx, |t| sqlx::query_scalar(
            "DELETE FROM catalog_dirty_all RETURNING id"
        )
        .fetch_optional(&mut **t)
        .await)?;
        let whole = whole.is_some();
        let mut set_aside = None;
        let planned: i64;
        if whole {
            // Covered by the walk over everything.
            with_tx!(&mut tx, |t| sqlx::query("DELETE FROM catalog_dirty")
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()))?;
            // Most rows written: faster without the secondary indexes, which are built again
            // in one pass at the end. On SQLite for every large walk (readers keep their
            // snapshot, and an update rewrites the entries of every index on a column it sets);
            // on PostgreSQL only while most products are new (a first import), as dropping an
            // index there holds readers up until the commit.
            const COUNTS: &str =
                "SELECT (SELECT COUNT(*) FROM products), (SELECT COUNT(*) FROM offers)";
            let (products, offers): (i64, i64) = with_tx!(&mut tx, |t| sqlx::query_as(COUNTS)
                .fetch_one(&mut **t)
                .await)?;
            planned = offers.max(products);
            let mostly_new = products.saturating_mul(2) < offers;
            if offers >= SET_ASIDE_FROM && (mostly_new || matches!(tx, Tx::Sqlite(_))) {
                // Not the products' foreign key to offers: adding it back would wait for every
                // feed run and order writing offers, which may wait for this. Not the channel
                // rows' EAN index: the walk reads them by it.
                set_aside = Some(
                    SetAside::drop(
                        &mut tx,
                        &["products", "channel_products"],
                        &["channels"],
                        &["channel_products_ean"],
                    )
                    .await?,
                );
            }
        } else {
            const MARKS: &str = "SELECT COUNT(*) FROM catalog_dirty";
            planned = with_tx!(&mut tx, |t| sqlx::query_scalar(MARKS)
                .fetch_one(&mut **t)
                .await)?;
        }
        let select = offer_columns(matches!(tx, Tx::Postgres(_)), ctx.needs_brand());
        Ok(Some(Recompute {
            store: Store::clone(self),
            tx,
            ctx,
            select,
            whole: whole.then_some(Walk {
                done: false,
                set_aside,
            }),
            walk_step: WALK_STEP,
            planned: u64::try_from(planned).unwrap_or(0),
            after: String::new(),
            at: now(),
            started,
            stats: RecomputeStats::default(),
        }))
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

/// `FROM {table} {alias}` limited to the step's EANs. PostgreSQL: a lookup per EAN of the
/// `catalog_step` temporary table the step's marks were moved into (the EANs are sent nowhere:
/// written when sqlx 0.9.0 did not set TCP_NODELAY and every statement with a large parameter
/// waited about 40 ms for a delayed ACK; 0.9.1 sets it, and this stays until measured slower). The lookup is a `LATERAL` subquery fenced with
/// `OFFSET 0`: as a plain join or `IN`, the planner — misled by statistics that lag behind a bulk
/// import — scans the whole table (10,000 EANs of 1,000,000 offers: 280 ms instead of 150 ms,
/// and when hash joins are forbidden it walks the whole index instead, 1.6 s). The EANs are
/// looked up in order, so neighbouring lookups share index and heap pages (10–15 % faster on a
/// cache smaller than the tables). SQLite: `IN`
/// the `json_each` of the JSON list bound as `$1`, which it answers with index lookups.
fn step_rows(pg: bool, table: &str, alias: &str) -> String {
    if pg {
        format!(
            "FROM (SELECT ean FROM catalog_step ORDER BY ean) s CROSS JOIN LATERAL (SELECT * FROM {table} {alias} WHERE {alias}.ean = s.ean OFFSET 0) {alias}"
        )
    } else {
        format!("FROM {table} {alias} WHERE {alias}.ean IN (SELECT value FROM json_each($1))")
    }
}

/// Which EANs a step reads: a list (PostgreSQL: moved into `catalog_step`; SQLite: bound as a
/// JSON list), or, walking the whole catalog, the range after `.0` up to `.1` (inclusive; to
/// the end when `None`).
#[derive(Clone, Copy)]
enum Step<'a> {
    Eans(&'a [String]),
    Range(&'a str, Option<&'a str>),
}

/// `FROM {table} {alias}` limited to the range of a [`Step::Range`] (`$1`, `$2`): a range scan
/// of the table's EAN index.
fn range_rows(table: &str, alias: &str, bounded: bool) -> String {
    if bounded {
        format!("FROM {table} {alias} WHERE {alias}.ean > $1 AND {alias}.ean <= $2")
    } else {
        format!("FROM {table} {alias} WHERE {alias}.ean > $1 AND $2 IS NULL")
    }
}

/// `SELECT {columns} {from}` for one step's EANs (`$1`). PostgreSQL returns rows; SQLite
/// returns them as one JSON array of arrays (`json_group_array`), because reading many small
/// rows through the SQLite driver costs more than the query itself (10,000 offers: 100 ms as
/// rows, a fraction as JSON).
async fn fetch_step<T>(tx: &mut Tx, columns: &str, from: &str, step: Step<'_>) -> Result<Vec<T>>
where
    T: for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
        + serde::de::DeserializeOwned
        + Send
        + Unpin,
{
    Ok(match tx {
        Tx::Postgres(t) => {
            let q = sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {columns} {from}")));
            let q = match step {
                // The EANs are in `catalog_step`.
                Step::Eans(_) => q,
                Step::Range(after, upper) => q.bind(after).bind(upper),
            };
            q.fetch_all(&mut **t).await?
        }
        Tx::Sqlite(t) => {
            let q = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT json_group_array(json_array({columns})) {from}"
            )));
            let q = match step {
                Step::Eans(eans) => {
                    q.bind(serde_json::to_string(eans).unwrap_or_else(|_| "[]".into()))
                }
                Step::Range(after, upper) => q.bind(after).bind(upper),
            };
            let json: Option<String> = q.fetch_one(&mut **t).await?;
            match json {
                None => Vec::new(),
                Some(j) => serde_json::from_str(&j)
                    .map_err(|e| StoreError::Corrupt(format!("reading the catalog step: {e}")))?,
            }
        }
    })
}

/// A boolean as SQLite's JSON writes it (0 or 1) or as JSON writes it.
fn de_bool<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    match <Value as serde::Deserialize>::deserialize(d)? {
        Value::Bool(b) => Ok(b),
        Value::Number(n) => Ok(n.as_i64() != Some(0)),
        other => Err(serde::de::Error::custom(format!(
            "expected a boolean, got {other}"
        ))),
    }
}

#[derive(sqlx::FromRow, serde::Deserialize)]
struct ProductRow {
    ean: String,
    brand: Option<String>,
    category: Option<String>,
    feed_name: Option<String>,
    best_offer_id: Option<i64>,
    price_incl_minor: Option<i64>,
    currency: Option<String>,
    sellable: i64,
    offers_count: i64,
}

impl ProductRow {
    fn values(self) -> (String, ProductValues) {
        (
            self.ean,
            ProductValues {
                feed_name: self.feed_name,
                best_offer_id: self.best_offer_id,
                price_incl_minor: self.price_incl_minor,
                currency: self.currency,
                sellable: self.sellable,
                offers_count: self.offers_count,
            },
        )
    }
}

#[derive(sqlx::FromRow, serde::Deserialize)]
struct ChannelRow {
    channel: String,
    ean: String,
    offer_id: Option<i64>,
    refurbisher_id: Option<i64>,
    price_incl_minor: Option<i64>,
    tax_percentage: Option<String>,
    purchase_minor: Option<i64>,
    currency: String,
    stock: i64,
    #[serde(deserialize_with = "de_bool")]
    active: bool,
}

impl ChannelRow {
    fn values(self) -> ((String, String), ChannelValues) {
        (
            (self.channel, self.ean),
            ChannelValues {
                offer_id: self.offer_id,
                refurbisher_id: self.refurbisher_id,
                price_incl_minor: self.price_incl_minor,
                tax_percentage: self.tax_percentage,
                purchase_minor: self.purchase_minor,
                currency: self.currency,
                stock: self.stock,
                active: self.active,
            },
        )
    }
}

/// A catalog recompute under way, in one transaction (`Store::catalog().recompute_begin`):
/// [`Recompute::next_step`] claims the next marked EANs (on PostgreSQL, marks another instance
/// holds are skipped) and reads their offers and stored rows, the caller decides
/// ([`irp_core::catalog::step::decide`]), [`Recompute::write`] writes what changed and clears
/// the step's marks, [`Recompute::commit`] ends it. Dropped without `commit`, nothing is
/// written and the marks stay.
pub struct Recompute {
    store: Store,
    tx: Tx,
    ctx: CatalogContext,
    select: String,
    /// The walk over the whole catalog, when the whole catalog was marked.
    whole: Option<Walk>,
    /// Offers per step of the walk.
    walk_step: i64,
    /// The EANs it expects to recompute (see [`Recompute::planned`]).
    planned: u64,
    /// Keyset order: each step starts after the last EAN of the one before (PostgreSQL would
    /// otherwise walk past every mark this transaction already deleted, each step).
    after: String,
    at: DateTime<Utc>,
    started: std::time::Instant,
    stats: RecomputeStats,
}

impl Recompute {
    /// Offers per step of a walk over the whole catalog (default 20,000): fewer hold less in
    /// memory per step, more take fewer statements.
    pub fn set_walk_step(&mut self, offers: i64) {
        self.walk_step = offers.max(1);
    }

    /// The EANs this recompute expects to visit, for a progress display: the marks, or for a
    /// walk over the whole catalog the offers or products, whichever are more (an estimate:
    /// several offers may share an EAN).
    #[must_use]
    pub fn planned(&self) -> u64 {
        self.planned
    }

    /// Whether this recompute walks the whole catalog (the whole catalog was marked).
    #[must_use]
    pub fn walks_everything(&self) -> bool {
        self.whole.is_some()
    }

    /// The refurbishers and channels, as read at the start.
    #[must_use]
    pub fn context(&self) -> &CatalogContext {
        &self.ctx
    }

    /// Claim the next step of marked EANs and read what deciding it needs; `None` when no mark
    /// is left.
    ///
    /// # Errors
    /// A database error.
    pub async fn next_step(&mut self) -> Result<Option<StepInput>> {
        if self.whole.is_some() {
            return self.next_range().await;
        }
        let eans: Vec<String> = match &mut self.tx {
            Tx::Postgres(t) => {
                // Claim the step's marks (another instance skips them), move them into
                // `catalog_step`, and read them back sorted.
                let mut eans: Vec<String> = sqlx::query_scalar(
                    "WITH d AS (DELETE FROM catalog_dirty WHERE ean IN \
                         (SELECT ean FROM catalog_dirty WHERE ean > $2 ORDER BY ean LIMIT $1 FOR UPDATE SKIP LOCKED) RETURNING ean) \
                     INSERT INTO catalog_step (ean) SELECT ean FROM d RETURNING ean",
                )
                .bind(STEP as i64)
                .bind(&self.after)
                .fetch_all(&mut **t)
                .await?;
                eans.sort_unstable();
                eans
            }
            Tx::Sqlite(t) => {
                sqlx::query_scalar(
                    "SELECT ean FROM catalog_dirty WHERE ean > $2 ORDER BY ean LIMIT $1",
                )
                .bind(STEP as i64)
                .bind(&self.after)
                .fetch_all(&mut **t)
                .await?
            }
        };
        let Some(last) = eans.last() else {
            return Ok(None);
        };
        self.after.clone_from(last);
        let pg = matches!(self.tx, Tx::Postgres(_));
        let from = Tables::each(|table, alias| step_rows(pg, table, alias));
        let input = self
            .read(Step::Eans(&eans), &from, Some(eans.clone()))
            .await?;
        Ok(Some(input))
    }

    /// The next range of the walk over the whole catalog: the EANs after the last step's, up to
    /// the one [`Recompute::set_walk_step`] offers further (the rest, when fewer are left); `None` after the
    /// last.
    async fn next_range(&mut self) -> Result<Option<StepInput>> {
        if self.whole.as_ref().is_some_and(|w| w.done) {
            return Ok(None);
        }
        const UPPER: &str = "SELECT ean FROM offers WHERE ean > $1 ORDER BY ean LIMIT 1 OFFSET $2";
        let after = self.after.clone();
        let upper: Option<String> = with_tx!(&mut self.tx, |t| sqlx::query_scalar(UPPER)
            .bind(&after)
            .bind(self.walk_step - 1)
            .fetch_optional(&mut **t)
            .await)?;
        let bounded = upper.is_some();
        let from = Tables::each(|table, alias| range_rows(table, alias, bounded));
        let input = self
            .read(Step::Range(&after, upper.as_deref()), &from, None)
            .await?;
        match upper {
            Some(upper) => self.after = upper,
            None => {
                if let Some(w) = self.whole.as_mut() {
                    w.done = true;
                }
            }
        }
        if input.eans.is_empty() && self.whole.as_ref().is_some_and(|w| w.done) {
            return Ok(None);
        }
        Ok(Some(input))
    }

    /// Read what deciding a step needs: its offers, stored products and channel rows. `eans`
    /// are the step's EANs when known (marks); a range's are those its rows have.
    async fn read(
        &mut self,
        step: Step<'_>,
        from: &Tables,
        eans: Option<Vec<String>>,
    ) -> Result<StepInput> {
        let tx = &mut self.tx;
        let t0 = std::time::Instant::now();
        let mut offers: Vec<OfferRow> = fetch_step(tx, &self.select, &from.offers, step).await?;
        offers.sort_unstable_by(|a, b| (&a.ean, a.id).cmp(&(&b.ean, b.id)));
        let products: Vec<ProductRow> = fetch_step(
            tx,
            "p.ean, p.brand, p.category, p.feed_name, p.best_offer_id, p.price_incl_minor, p.currency, p.sellable, p.offers_count",
            &from.products,
            step,
        )
        .await?;
        let channel_rows: Vec<ChannelRow> = if self.ctx.channels.is_empty() {
            Vec::new()
        } else {
            fetch_step(
                tx,
                "c.channel, c.ean, c.offer_id, c.refurbisher_id, c.price_incl_minor, c.tax_percentage, c.purchase_minor, c.currency, c.stock, c.active",
                &from.channel_rows,
                step,
            )
            .await?
        };
        let eans = match eans {
            Some(eans) => eans,
            None => {
                // A range: every EAN one of its rows has, in order.
                let mut all: Vec<String> = offers
                    .iter()
                    .map(|o| o.ean.clone())
                    .chain(products.iter().map(|p| p.ean.clone()))
                    .chain(channel_rows.iter().map(|c| c.ean.clone()))
                    .filter(|e| !e.is_empty())
                    .collect();
                all.sort_unstable();
                all.dedup();
                all
            }
        };
        self.stats.eans += eans.len() as u64;
        let pim: HashMap<String, (Option<String>, Option<String>)> = products
            .iter()
            .map(|p| (p.ean.clone(), (p.brand.clone(), p.category.clone())))
            .collect();
        let mut by_ean: BTreeMap<String, Vec<OfferFacts>> = BTreeMap::new();
        for row in offers {
            let pim = pim.get(&row.ean);
            let facts = row.facts(pim);
            by_ean.entry(facts.ean.clone()).or_default().push(facts);
        }
        tracing::debug!(
            eans = eans.len(),
            read_ms = t0.elapsed().as_millis(),
            "Catalog step read"
        );
        Ok(StepInput {
            eans,
            offers: by_ean,
            products: products.into_iter().map(ProductRow::values).collect(),
            channel_rows: channel_rows.into_iter().map(ChannelRow::values).collect(),
        })
    }

    /// Write what a step decided and clear the step's marks.
    ///
    /// # Errors
    /// A database error.
    pub async fn write(&mut self, step: &StepInput, writes: &StepWrites) -> Result<()> {
        let t0 = std::time::Instant::now();
        self.stats.consumer_below += writes.consumer_below;
        self.stats.products_changed += writes.products.len() as u64;
        self.stats.channel_rows_changed += writes.channel_rows.len() as u64;
        write_step(
            &mut self.tx,
            &writes.products,
            &writes.channel_rows,
            self.at,
        )
        .await?;
        match &mut self.tx {
            // The walk over everything deleted every mark when it began.
            _ if self.whole.is_some() => {}
            Tx::Postgres(t) => {
                // The marks were deleted when the step claimed them.
                sqlx::query("DELETE FROM catalog_step")
                    .execute(&mut **t)
                    .await?;
            }
            Tx::Sqlite(t) => {
                let list = serde_json::to_string(&step.eans).unwrap_or_else(|_| "[]".into());
                sqlx::query(
                    "DELETE FROM catalog_dirty WHERE ean IN (SELECT value FROM json_each($1))",
                )
                .bind(list)
                .execute(&mut **t)
                .await?;
            }
        }
        tracing::debug!(
            eans = step.eans.len(),
            write_ms = t0.elapsed().as_millis(),
            "Catalog step written"
        );
        Ok(())
    }

    /// Commit the recompute; wakes the channel sync when a channel row changed.
    ///
    /// # Errors
    /// A database error; nothing is written then and the marks stay.
    pub async fn commit(mut self) -> Result<RecomputeStats> {
        let committing = std::time::Instant::now();
        if let Some(indexes) = self.whole.as_mut().and_then(|w| w.set_aside.take()) {
            indexes.restore(&mut self.tx).await?;
        }
        self.tx.commit().await?;
        let mut stats = self.stats;
        stats.ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if stats.eans > 0 {
            tracing::info!(
                eans = stats.eans,
                commit_ms = committing.elapsed().as_millis(),
                products = stats.products_changed,
                channel_rows = stats.channel_rows_changed,
                consumer_below = stats.consumer_below,
                ms = stats.ms,
                "Catalog recomputed"
            );
        }
        if stats.channel_rows_changed > 0 {
            self.store.channels.notify_one();
        }
        Ok(stats)
    }
}

/// The `FROM … WHERE` of a step's reads of each table.
struct Tables {
    offers: String,
    products: String,
    channel_rows: String,
}

impl Tables {
    fn each(from: impl Fn(&str, &str) -> String) -> Self {
        Tables {
            offers: from("offers", "o"),
            products: from("products", "p"),
            channel_rows: from("channel_products", "c"),
        }
    }
}

/// The walk over the whole catalog (see [`Recompute`]).
struct Walk {
    /// The last range was read.
    done: bool,
    /// The secondary indexes set aside while most rows are written (built again at commit).
    set_aside: Option<SetAside>,
}

/// A walk sets the secondary indexes of products and channel rows aside when there are at
/// least this many offers (on PostgreSQL: and fewer than half as many products; see
/// [`SetAside`]).
const SET_ASIDE_FROM: i64 = 50_000;

/// Offers per step of the walk over the whole catalog (their EANs' products and channel rows
/// are read with them).
const WALK_STEP: i64 = 20_000;

/// SQLite rows per multi-row statement (10 parameters each).
const SQLITE_ROWS: usize = 1000;

const PRODUCT_COLUMNS: &str = "ean, feed_name, best_offer_id, price_incl_minor, currency, sellable, offers_count, computed_at, updated_at";
const PRODUCT_SET: &str = "ON CONFLICT (ean) DO UPDATE SET feed_name = excluded.feed_name, best_offer_id = excluded.best_offer_id, \
         price_incl_minor = excluded.price_incl_minor, currency = excluded.currency, sellable = excluded.sellable, \
         offers_count = excluded.offers_count, computed_at = excluded.computed_at, updated_at = excluded.updated_at";
const CHANNEL_COLUMNS: &str = "channel, ean, offer_id, refurbisher_id, price_incl_minor, tax_percentage, purchase_minor, currency, stock, active, \
         computed_at";
const CHANNEL_SET: &str = "ON CONFLICT (channel, ean) DO UPDATE SET offer_id = excluded.offer_id, refurbisher_id = excluded.refurbisher_id, \
         price_incl_minor = excluded.price_incl_minor, tax_percentage = excluded.tax_percentage, purchase_minor = excluded.purchase_minor, \
         currency = excluded.currency, stock = excluded.stock, active = excluded.active, computed_at = excluded.computed_at, \
         revision = channel_products.revision + 1, dirty = TRUE";

/// Write a step's changed products and channel rows. PostgreSQL: one statement for both (one
/// round trip; see [`step_rows`] on why round trips were counted).
async fn write_step(
    tx: &mut Tx,
    products: &[(String, ProductValues)],
    channels: &[(String, String, ChannelValues)],
    at: DateTime<Utc>,
) -> Result<()> {
    if products.is_empty() && channels.is_empty() {
        return Ok(());
    }
    match tx {
        Tx::Postgres(t) => {
            let sql = format!(
                "WITH p AS (INSERT INTO products ({PRODUCT_COLUMNS}) SELECT u.*, $18, $18 FROM UNNEST($1::text[], $2::text[], \
                     $3::int8[], $4::int8[], $5::text[], $6::int8[], $7::int8[]) AS u {PRODUCT_SET} RETURNING 1), \
                 c AS (INSERT INTO channel_products ({CHANNEL_COLUMNS}) SELECT u.*, $18 FROM UNNEST($8::text[], $9::text[], \
                     $10::int8[], $11::int8[], $12::int8[], $13::text[], $14::int8[], $15::text[], $16::int8[], $17::bool[]) AS u \
                     {CHANNEL_SET} RETURNING 1) \
                 SELECT (SELECT COUNT(*) FROM p) + (SELECT COUNT(*) FROM c)"
            );
            let (p, c) = (products, channels);
            let _: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .bind(p.iter().map(|r| r.0.clone()).collect::<Vec<_>>())
                .bind(p.iter().map(|r| r.1.feed_name.clone()).collect::<Vec<_>>())
                .bind(p.iter().map(|r| r.1.best_offer_id).collect::<Vec<_>>())
                .bind(p.iter().map(|r| r.1.price_incl_minor).collect::<Vec<_>>())
                .bind(p.iter().map(|r| r.1.currency.clone()).collect::<Vec<_>>())
                .bind(p.iter().map(|r| r.1.sellable).collect::<Vec<_>>())
                .bind(p.iter().map(|r| r.1.offers_count).collect::<Vec<_>>())
                .bind(c.iter().map(|r| r.0.clone()).collect::<Vec<_>>())
                .bind(c.iter().map(|r| r.1.clone()).collect::<Vec<_>>())
                .bind(c.iter().map(|r| r.2.offer_id).collect::<Vec<_>>())
                .bind(c.iter().map(|r| r.2.refurbisher_id).collect::<Vec<_>>())
                .bind(c.iter().map(|r| r.2.price_incl_minor).collect::<Vec<_>>())
                .bind(
                    c.iter()
                        .map(|r| r.2.tax_percentage.clone())
                        .collect::<Vec<_>>(),
                )
                .bind(c.iter().map(|r| r.2.purchase_minor).collect::<Vec<_>>())
                .bind(c.iter().map(|r| r.2.currency.clone()).collect::<Vec<_>>())
                .bind(c.iter().map(|r| r.2.stock).collect::<Vec<_>>())
                .bind(c.iter().map(|r| r.2.active).collect::<Vec<_>>())
                .bind(at)
                .fetch_one(&mut **t)
                .await?;
        }
        Tx::Sqlite(t) => {
            sqlite_write_products(t, products, at).await?;
            sqlite_write_channel_rows(t, channels, at).await?;
        }
    }
    Ok(())
}

async fn sqlite_write_products(
    t: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    rows: &[(String, ProductValues)],
    at: DateTime<Utc>,
) -> Result<()> {
    for chunk in rows.chunks(SQLITE_ROWS) {
        let sql = format!(
            "{} {PRODUCT_SET}",
            sqlite_values(
                &format!("INSERT INTO products ({PRODUCT_COLUMNS})"),
                chunk.len(),
                9
            )
        );
        let mut args = sqlx::sqlite::SqliteArguments::default();
        for (ean, v) in chunk {
            args.add(ean.clone()).map_err(sqlx::Error::Encode)?;
            args.add(v.feed_name.clone()).map_err(sqlx::Error::Encode)?;
            args.add(v.best_offer_id).map_err(sqlx::Error::Encode)?;
            args.add(v.price_incl_minor).map_err(sqlx::Error::Encode)?;
            args.add(v.currency.clone()).map_err(sqlx::Error::Encode)?;
            args.add(v.sellable).map_err(sqlx::Error::Encode)?;
            args.add(v.offers_count).map_err(sqlx::Error::Encode)?;
            args.add(at).map_err(sqlx::Error::Encode)?;
            args.add(at).map_err(sqlx::Error::Encode)?;
        }
        sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}

async fn sqlite_write_channel_rows(
    t: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    rows: &[(String, String, ChannelValues)],
    at: DateTime<Utc>,
) -> Result<()> {
    for chunk in rows.chunks(SQLITE_ROWS) {
        let sql = format!(
            "{} {CHANNEL_SET}",
            sqlite_values(
                &format!("INSERT INTO channel_products ({CHANNEL_COLUMNS})"),
                chunk.len(),
                11
            )
        );
        let mut args = sqlx::sqlite::SqliteArguments::default();
        for (channel, ean, v) in chunk {
            args.add(channel.clone()).map_err(sqlx::Error::Encode)?;
            args.add(ean.clone()).map_err(sqlx::Error::Encode)?;
            args.add(v.offer_id).map_err(sqlx::Error::Encode)?;
            args.add(v.refurbisher_id).map_err(sqlx::Error::Encode)?;
            args.add(v.price_incl_minor).map_err(sqlx::Error::Encode)?;
            args.add(v.tax_percentage.clone())
                .map_err(sqlx::Error::Encode)?;
            args.add(v.purchase_minor).map_err(sqlx::Error::Encode)?;
            args.add(v.currency.clone()).map_err(sqlx::Error::Encode)?;
            args.add(v.stock).map_err(sqlx::Error::Encode)?;
            args.add(v.active).map_err(sqlx::Error::Encode)?;
            args.add(at).map_err(sqlx::Error::Encode)?;
        }
        sqlx::query_with(sqlx::AssertSqlSafe(sql), args)
            .execute(&mut **t)
            .await?;
    }
    Ok(())
}
