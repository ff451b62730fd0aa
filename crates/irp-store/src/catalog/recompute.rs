//! The catalog recompute as a unit of work ([`Recompute`], begun with
//! `Store::catalog().recompute_begin`): the marked EANs step by step, or a walk over the whole
//! catalog in EAN ranges; each step read in one statement per table, decided by the caller
//! (`irp_core::catalog::step::decide`), and only what changed written.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use irp_core::catalog::OfferFacts;
use irp_core::catalog::step::{ChannelValues, ProductValues, StepInput, StepWrites};
use irp_core::money;
use irp_core::orders::routing::purchase_in_use;
use serde_json::Value;
use sqlx::Arguments as _;

use super::{Catalog, CatalogContext, RecomputeStats};
use crate::dialect::{SetAside, sqlite_values};
use crate::marks::lock_settings;
use crate::{Result, Store, StoreError, Tx, now, with_db, with_tx};

/// EANs per recompute step (one read of their offers, one write of what changed).
const STEP: usize = 10_000;

impl Catalog<'_> {
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
