//! What the Shopware sync of the channels keeps: one syncing instance per channel (a lease),
//! the order poll's position, the last push's report, products a shop did not take, the link
//! between an IRP order and the Shopware order it came from, Shopware orders that could not be
//! taken in, and how tracking reached the shop.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

use crate::catalog::ChannelProduct;
use crate::orders::CANCELLED;
use crate::shipments::{MATCHED, SHIPPED};
use crate::{Result, Store, Tx, now, with_db, with_tx};

/// The products of a channel whose content is due ($1 the channel, $2 the content settings'
/// fingerprint): FROM and WHERE of [`ChannelSync::content_due`] and its count.
const CONTENT_DUE: &str = "FROM channel_products c JOIN products p ON p.ean = c.ean \
     LEFT JOIN channel_content cc ON cc.channel = c.channel AND cc.ean = c.ean \
     WHERE c.channel = $1 AND p.pim_synced_at IS NOT NULL \
     AND (cc.ean IS NULL OR cc.settings <> $2 OR p.pim_synced_at > cc.pim_synced_at)";

/// A product whose content a channel may have to be sent: its PIM data and the content hash
/// last pushed.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ContentCandidate {
    /// EAN.
    pub ean: String,
    /// Name from the PIM.
    pub name: Option<String>,
    /// Brand from the PIM.
    pub brand: Option<String>,
    /// Category from the PIM.
    pub category: Option<String>,
    /// The PIM's other attributes.
    pub attributes: Json<Value>,
    /// When its PIM data was imported.
    pub pim_synced_at: Option<DateTime<Utc>>,
    /// The content hash last pushed to the shop.
    pub hash: Option<String>,
}

/// What was pushed of a product's content to one channel.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PushedContent {
    /// Channel key.
    pub channel: String,
    /// The content hash the shop has; `None`: not pushed (the shop lacks the product).
    pub hash: Option<String>,
    /// That content (JSON).
    pub content: Option<String>,
    /// When it was last pushed.
    pub pushed_at: Option<DateTime<Utc>>,
    /// Why the shop refused the content last sent.
    pub problem: Option<String>,
}

/// A product whose content was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContentChecked {
    /// EAN.
    pub ean: String,
    /// The content hash the shop now has; `None`: the shop lacks the product.
    pub hash: Option<String>,
    /// That content (JSON), when it was pushed now.
    pub content: Option<String>,
    /// The PIM data's time the content was built from.
    pub pim_synced_at: Option<DateTime<Utc>>,
    /// Whether it was pushed now.
    pub pushed: bool,
    /// Why the shop refused it (its hash is then the one the shop had before).
    pub problem: Option<String>,
}

/// Problem kind: the shop has no product with that number (and `create_missing` is off).
pub const UNKNOWN_PRODUCT: &str = "unknown_product";
/// Problem kind: the shop refused the product's row.
pub const REFUSED: &str = "refused";

/// Tracking status: the shop has the code.
pub const TRACKING_PUSHED: &str = "pushed";
/// Tracking status: the shop refused it (reported, not retried).
pub const TRACKING_REFUSED: &str = "refused";
/// Tracking status: the order did not come from a Shopware shop, so there is nowhere to send it.
pub const TRACKING_NOT_APPLICABLE: &str = "not_applicable";

/// A channel's sync state.
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct ChannelSyncState {
    /// Channel key.
    pub channel: String,
    /// The instance syncing it now.
    pub lease_owner: Option<String>,
    /// Until when.
    pub lease_until: Option<DateTime<Utc>>,
    /// `orderDateTime` of the newest order the poll read.
    pub orders_seen_until: Option<DateTime<Utc>>,
    /// When the poll runs next.
    pub next_order_poll_at: Option<DateTime<Utc>>,
    /// When a full resync was last asked for.
    pub full_requested_at: Option<DateTime<Utc>>,
    /// When products were last pushed (or a push was tried).
    pub last_push_at: Option<DateTime<Utc>>,
    /// The last push's report.
    pub last_push: Option<Json<Value>>,
    /// The last error of any part of the sync.
    pub last_error: Option<String>,
    /// When.
    pub last_error_at: Option<DateTime<Utc>>,
}

/// A product a channel's shop did not take.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct ChannelProblem {
    /// Channel key.
    pub channel: String,
    /// EAN.
    pub ean: String,
    /// [`UNKNOWN_PRODUCT`] or [`REFUSED`].
    pub kind: String,
    /// What the shop said.
    pub detail: String,
    /// The channel row's revision it is about.
    pub revision: i64,
    /// First seen.
    pub first_seen_at: DateTime<Utc>,
    /// Last seen.
    pub last_seen_at: DateTime<Utc>,
}

/// Where an IRP order came from in a Shopware shop.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct ChannelOrder {
    /// IRP's order id.
    pub order_id: i64,
    /// Channel key.
    pub channel: String,
    /// Shopware's order id.
    pub remote_order_id: String,
    /// The delivery tracking goes to.
    pub remote_delivery_id: Option<String>,
    /// The delivery's state as last known.
    pub delivery_state: Option<String>,
    /// The tracking codes last set on the delivery.
    pub tracking_codes: Option<Json<Vec<String>>>,
    /// When a cancellation was reported to the shop.
    pub cancel_reported_at: Option<DateTime<Utc>>,
    /// Why reporting it failed.
    pub cancel_error: Option<String>,
}

/// A Shopware order that could not be taken in.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow, serde::Serialize)]
pub struct ChannelInboxEntry {
    /// Id.
    pub id: i64,
    /// Channel key.
    pub channel: String,
    /// Shopware's order id.
    pub remote_order_id: String,
    /// Its order number, when readable.
    pub order_number: Option<String>,
    /// `webhook` or `poll`.
    pub source: String,
    /// Why it could not be taken in.
    pub error: String,
    /// The order as Shopware sent it.
    pub payload: Json<Value>,
    /// When it was (last) received.
    pub received_at: DateTime<Utc>,
    /// When it was taken in after all.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// Tracking for one order: what the shop should show now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderTracking {
    /// IRP's order id.
    pub order_id: i64,
    /// Its Shopware origin; `None`: it did not come from a shop.
    pub remote: Option<ChannelOrder>,
    /// Queued shipments this push settles.
    pub queued: Vec<i64>,
    /// Every tracking code of the order's matched shipments, in order of arrival.
    pub codes: Vec<String>,
    /// Whether every supplier order of the order has shipped (cancelled ones aside).
    pub all_shipped: bool,
}

const STATE_SELECT: &str = "SELECT channel, lease_owner, lease_until, orders_seen_until, next_order_poll_at, full_requested_at, \
     last_push_at, last_push, last_error, last_error_at FROM channel_sync";
const INBOX_SELECT: &str = "SELECT id, channel, remote_order_id, order_number, source, error, payload, received_at, resolved_at \
     FROM channel_inbox";
const CHANNEL_ORDER_SELECT: &str = "SELECT order_id, channel, remote_order_id, remote_delivery_id, delivery_state, tracking_codes, \
     cancel_reported_at, cancel_error FROM channel_orders";

/// The store's handle on the channel sync: claims, pushes, problems, orders seen, inbox, tracking ([`Store::channel_sync`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct ChannelSync<'s>(&'s Store);

impl std::ops::Deref for ChannelSync<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on the channel sync: claims, pushes, problems, orders seen, inbox, tracking.
    #[must_use]
    pub fn channel_sync(&self) -> ChannelSync<'_> {
        ChannelSync(self)
    }
}

impl ChannelSync<'_> {
    /// Claim the sync of `channel` for `owner` until `until`, unless another instance holds it.
    ///
    /// # Errors
    /// A database error.
    pub async fn claim(&self, channel: &str, owner: &str, until: DateTime<Utc>) -> Result<bool> {
        const INSERT: &str =
            "INSERT INTO channel_sync (channel) VALUES ($1) ON CONFLICT (channel) DO NOTHING";
        const CLAIM: &str = "UPDATE channel_sync SET lease_owner = $2, lease_until = $3 WHERE channel = $1 \
             AND (lease_until IS NULL OR lease_until < $4 OR lease_owner = $2)";
        let n = with_db!(self.db(), |p| {
            sqlx::query(INSERT).bind(channel).execute(p).await?;
            sqlx::query(CLAIM)
                .bind(channel)
                .bind(owner)
                .bind(until)
                .bind(now())
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        })?;
        Ok(n == 1)
    }

    /// Release the claim of `owner` on `channel`.
    ///
    /// # Errors
    /// A database error.
    pub async fn release(&self, channel: &str, owner: &str) -> Result<()> {
        const SQL: &str = "UPDATE channel_sync SET lease_owner = NULL, lease_until = NULL WHERE channel = $1 AND lease_owner = $2";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(channel)
            .bind(owner)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The sync state of `channel` (defaults when it never synced).
    ///
    /// # Errors
    /// A database error.
    pub async fn state(&self, channel: &str) -> Result<ChannelSyncState> {
        let sql = format!("{STATE_SELECT} WHERE channel = $1");
        let row: Option<ChannelSyncState> =
            with_db!(self.db(), |p| sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .bind(channel)
                .fetch_optional(p)
                .await)?;
        Ok(row.unwrap_or_else(|| ChannelSyncState {
            channel: channel.to_owned(),
            ..ChannelSyncState::default()
        }))
    }

    /// Make sure `channel` has its sync row.
    async fn channel_sync_row(&self, channel: &str) -> Result<()> {
        with_db!(self.db(), |p| sqlx::query(
            "INSERT INTO channel_sync (channel) VALUES ($1) ON CONFLICT (channel) DO NOTHING"
        )
        .bind(channel)
        .execute(p)
        .await
        .map(|_| ()))?;
        Ok(())
    }

    /// Record a push's report (and its error, or clear the last error when it went well).
    ///
    /// # Errors
    /// A database error.
    pub async fn pushed(&self, channel: &str, report: &Value, error: Option<&str>) -> Result<()> {
        const SQL: &str = "UPDATE channel_sync SET last_push_at = $2, last_push = $3, last_error = $4, \
             last_error_at = CASE WHEN $4 IS NULL THEN last_error_at ELSE $2 END WHERE channel = $1";
        self.channel_sync_row(channel).await?;
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(channel)
            .bind(now())
            .bind(Json(report))
            .bind(error)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Record an error of the order poll or the tracking push.
    ///
    /// # Errors
    /// A database error.
    pub async fn error(&self, channel: &str, error: &str) -> Result<()> {
        const SQL: &str =
            "UPDATE channel_sync SET last_error = $2, last_error_at = $3 WHERE channel = $1";
        self.channel_sync_row(channel).await?;
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(channel)
            .bind(error)
            .bind(now())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Mark every product of `channel` for pushing again and forget its problems (a full
    /// resync). A catalog product without a row in the channel (no offer ever sold it there)
    /// gets one with `not_sold`'s values, so that the shop's copy of it, if it has one, is
    /// corrected too. Returns the rows marked.
    ///
    /// # Errors
    /// A database error.
    pub async fn mark_all(
        &self,
        channel: &str,
        not_sold: &irp_core::catalog::step::ChannelValues,
    ) -> Result<u64> {
        let at = now();
        let mut tx = self.begin().await?;
        let n = with_tx!(&mut tx, |t| {
            sqlx::query(
                "INSERT INTO channel_sync (channel) VALUES ($1) ON CONFLICT (channel) DO NOTHING",
            )
            .bind(channel)
            .execute(&mut **t)
            .await?;
            sqlx::query("UPDATE channel_sync SET full_requested_at = $2 WHERE channel = $1")
                .bind(channel)
                .bind(now())
                .execute(&mut **t)
                .await?;
            sqlx::query("DELETE FROM channel_problems WHERE channel = $1")
                .bind(channel)
                .execute(&mut **t)
                .await?;
            let added = sqlx::query(
                "INSERT INTO channel_products (channel, ean, offer_id, refurbisher_id, price_incl_minor, tax_percentage, \
                 purchase_minor, currency, stock, active, computed_at, dirty) \
                 SELECT $1, p.ean, $2, $3, $4, $5, $6, $7, $8, $9, $10, TRUE FROM products p \
                 WHERE NOT EXISTS (SELECT 1 FROM channel_products c WHERE c.channel = $1 AND c.ean = p.ean)",
            )
            .bind(channel)
            .bind(not_sold.offer_id)
            .bind(not_sold.refurbisher_id)
            .bind(not_sold.price_incl_minor)
            .bind(not_sold.tax_percentage.as_deref())
            .bind(not_sold.purchase_minor)
            .bind(&not_sold.currency)
            .bind(not_sold.stock)
            .bind(not_sold.active)
            .bind(at)
            .execute(&mut **t)
            .await?
            .rows_affected();
            sqlx::query("UPDATE channel_products SET dirty = TRUE WHERE channel = $1 AND NOT dirty")
                .bind(channel)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected() + added)
        })?;
        tx.commit().await?;
        Ok(n)
    }

    /// Products of `channel` whose content has to be checked (after EAN `after`, in EAN
    /// order, at most `limit`): with PIM data, and never checked, checked under other content
    /// settings than `settings`, or whose PIM data changed since.
    ///
    /// # Errors
    /// A database error.
    pub async fn content_due(
        &self,
        channel: &str,
        settings: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<ContentCandidate>> {
        let sql = format!(
            "SELECT p.ean, p.name, p.brand, p.category, p.attributes, p.pim_synced_at, cc.hash {CONTENT_DUE} \
             AND c.ean > $3 ORDER BY c.ean LIMIT $4"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(channel)
        .bind(settings)
        .bind(after)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// How many products of `channel` have content to check ([`Self::content_due`]).
    ///
    /// # Errors
    /// A database error.
    pub async fn content_waiting(&self, channel: &str, settings: &str) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) {CONTENT_DUE}");
        let (n,): (i64,) = with_db!(self.db(), |p| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.as_str()
        ))
        .bind(channel)
        .bind(settings)
        .fetch_one(p)
        .await)?;
        Ok(n)
    }

    /// Record products of `channel` as checked under `settings`: each with the content hash
    /// the shop now has (`None`: the shop lacks the product) and the PIM data's time it was
    /// built from; `pushed` ones with the time.
    ///
    /// # Errors
    /// A database error.
    pub async fn content_checked(
        &self,
        channel: &str,
        settings: &str,
        rows: &[ContentChecked],
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO channel_content (channel, ean, hash, settings, pim_synced_at, checked_at, pushed_at, problem, content) \
             VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7 THEN $6 ELSE NULL END, $8, $9) \
             ON CONFLICT (channel, ean) DO UPDATE SET hash = excluded.hash, settings = excluded.settings, \
             pim_synced_at = excluded.pim_synced_at, checked_at = excluded.checked_at, \
             pushed_at = COALESCE(excluded.pushed_at, channel_content.pushed_at), problem = excluded.problem, \
             content = CASE WHEN $7 THEN excluded.content WHEN excluded.hash IS NULL THEN NULL ELSE channel_content.content END";
        if rows.is_empty() {
            return Ok(());
        }
        let at = now();
        let mut tx = self.begin().await?;
        if let Tx::Postgres(t) = &mut tx {
            // One statement for the batch: a round trip per product is what a content resync of
            // 100,000 products would wait for on a database across the network.
            const BATCH: &str = "INSERT INTO channel_content (channel, ean, hash, settings, pim_synced_at, checked_at, pushed_at, problem, content) \
                 SELECT $1, v.ean, v.hash, $2, v.pim, $3, CASE WHEN v.pushed THEN $3 ELSE NULL END, v.problem, v.content \
                 FROM UNNEST($4::text[], $5::text[], $6::timestamptz[], $7::bool[], $8::text[], $9::text[]) \
                     AS v(ean, hash, pim, pushed, problem, content) \
                 ON CONFLICT (channel, ean) DO UPDATE SET hash = excluded.hash, settings = excluded.settings, \
                 pim_synced_at = excluded.pim_synced_at, checked_at = excluded.checked_at, \
                 pushed_at = COALESCE(excluded.pushed_at, channel_content.pushed_at), problem = excluded.problem, \
                 content = CASE WHEN excluded.pushed_at IS NOT NULL THEN excluded.content \
                     WHEN excluded.hash IS NULL THEN NULL ELSE channel_content.content END";
            sqlx::query(BATCH)
                .bind(channel)
                .bind(settings)
                .bind(at)
                .bind(rows.iter().map(|r| r.ean.as_str()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.hash.as_deref()).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.pim_synced_at).collect::<Vec<_>>())
                .bind(rows.iter().map(|r| r.pushed).collect::<Vec<_>>())
                .bind(
                    rows.iter()
                        .map(|r| r.problem.as_deref())
                        .collect::<Vec<_>>(),
                )
                .bind(
                    rows.iter()
                        .map(|r| r.content.as_deref())
                        .collect::<Vec<_>>(),
                )
                .execute(&mut **t)
                .await?;
            tx.commit().await?;
            return Ok(());
        }
        for r in rows {
            with_tx!(&mut tx, |t| sqlx::query(SQL)
                .bind(channel)
                .bind(&r.ean)
                .bind(r.hash.as_deref())
                .bind(settings)
                .bind(r.pim_synced_at)
                .bind(at)
                .bind(r.pushed)
                .bind(r.problem.as_deref())
                .bind(r.content.as_deref())
                .execute(&mut **t)
                .await
                .map(|_| ()))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// What was pushed of product `ean`'s content to each channel.
    ///
    /// # Errors
    /// A database error.
    pub async fn content_of(&self, ean: &str) -> Result<Vec<PushedContent>> {
        Ok(with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT channel, hash, content, pushed_at, problem FROM channel_content WHERE ean = $1 ORDER BY channel"
        )
        .bind(ean)
        .fetch_all(p)
        .await
        })?)
    }

    /// The products of `channel` whose content the shop refused, with why (EAN order).
    ///
    /// # Errors
    /// A database error.
    pub async fn content_problems(
        &self,
        channel: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>> {
        Ok(with_db!(self.db(), |p| {
            sqlx::query_as(
            "SELECT ean, problem FROM channel_content WHERE channel = $1 AND problem IS NOT NULL ORDER BY ean LIMIT $2"
        )
        .bind(channel)
        .bind(limit)
        .fetch_all(p)
        .await
        })?)
    }

    /// Forget what was pushed of the content of `eans` in `channel` (products just created in
    /// the shop, say): checked and pushed again at the next round.
    ///
    /// # Errors
    /// A database error.
    pub async fn content_forget(&self, channel: &str, eans: &[String]) -> Result<()> {
        let mut tx = self.begin().await?;
        for ean in eans {
            with_tx!(&mut tx, |t| sqlx::query(
                "DELETE FROM channel_content WHERE channel = $1 AND ean = $2"
            )
            .bind(channel)
            .bind(ean)
            .execute(&mut **t)
            .await
            .map(|_| ()))?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Forget what was pushed of every product's content in `channel` (a full content
    /// resync): every product with PIM data is pushed again.
    ///
    /// # Errors
    /// A database error.
    pub async fn content_reset(&self, channel: &str) -> Result<u64> {
        Ok(with_db!(self.db(), |p| sqlx::query(
            "DELETE FROM channel_content WHERE channel = $1"
        )
        .bind(channel)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
    }

    /// Rows of `channel` waiting to be pushed.
    ///
    /// # Errors
    /// A database error.
    pub async fn dirty_count(&self, channel: &str) -> Result<i64> {
        const SQL: &str = "SELECT COUNT(*) FROM channel_products WHERE channel = $1 AND dirty";
        Ok(with_db!(self.db(), |p| sqlx::query_scalar(SQL)
            .bind(channel)
            .fetch_one(p)
            .await)?)
    }

    /// Record that `rows` (as read, with their revisions) were pushed, in one transaction, and
    /// drop their problems. A row that changed since it was read stays dirty; an older push
    /// never counts over a newer one (the same revision again, as a full resync sends it,
    /// does). Returns the rows recorded.
    ///
    /// # Errors
    /// A database error.
    pub async fn products_pushed(&self, rows: &[ChannelProduct]) -> Result<u64> {
        const SQL: &str = "UPDATE channel_products SET pushed_revision = $3, pushed_price_incl_minor = $4, pushed_stock = $5, \
                 pushed_active = $6, pushed_at = $7, dirty = (revision <> $3) \
             WHERE channel = $1 AND ean = $2 AND (pushed_revision IS NULL OR pushed_revision <= $3)";
        const PROBLEM: &str =
            "DELETE FROM channel_problems WHERE channel = $1 AND ean = $2 AND revision <= $3";
        if rows.is_empty() {
            return Ok(0);
        }
        let at = now();
        let mut tx = self.begin().await?;
        if let Tx::Postgres(t) = &mut tx {
            // One statement each for the whole batch: a round trip per row is what a push of
            // 100,000 rows would wait for on a database across the network.
            const UPDATE: &str = "UPDATE channel_products c SET pushed_revision = v.revision, \
                 pushed_price_incl_minor = v.price, pushed_stock = v.stock, pushed_active = v.active, \
                 pushed_at = $1, dirty = (c.revision <> v.revision) \
                 FROM UNNEST($2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bool[]) \
                     AS v(channel, ean, revision, price, stock, active) \
                 WHERE c.channel = v.channel AND c.ean = v.ean \
                   AND (c.pushed_revision IS NULL OR c.pushed_revision <= v.revision)";
            const SOLVED: &str = "DELETE FROM channel_problems p \
                 USING UNNEST($1::text[], $2::text[], $3::bigint[]) AS v(channel, ean, revision) \
                 WHERE p.channel = v.channel AND p.ean = v.ean AND p.revision <= v.revision";
            let channels: Vec<&str> = rows.iter().map(|r| r.channel.as_str()).collect();
            let eans: Vec<&str> = rows.iter().map(|r| r.ean.as_str()).collect();
            let revisions: Vec<i64> = rows.iter().map(|r| r.revision).collect();
            let prices: Vec<Option<i64>> = rows.iter().map(|r| r.price_incl_minor).collect();
            let stocks: Vec<i64> = rows.iter().map(|r| r.stock).collect();
            let active: Vec<bool> = rows.iter().map(|r| r.active).collect();
            let n = sqlx::query(UPDATE)
                .bind(at)
                .bind(&channels)
                .bind(&eans)
                .bind(&revisions)
                .bind(&prices)
                .bind(&stocks)
                .bind(&active)
                .execute(&mut **t)
                .await?
                .rows_affected();
            sqlx::query(SOLVED)
                .bind(&channels)
                .bind(&eans)
                .bind(&revisions)
                .execute(&mut **t)
                .await?;
            tx.commit().await?;
            return Ok(n);
        }
        let mut n = 0;
        with_tx!(&mut tx, |t| {
            for row in rows {
                n += sqlx::query(SQL)
                    .bind(&row.channel)
                    .bind(&row.ean)
                    .bind(row.revision)
                    .bind(row.price_incl_minor)
                    .bind(row.stock)
                    .bind(row.active)
                    .bind(at)
                    .execute(&mut **t)
                    .await?
                    .rows_affected();
                sqlx::query(PROBLEM)
                    .bind(&row.channel)
                    .bind(&row.ean)
                    .bind(row.revision)
                    .execute(&mut **t)
                    .await?;
            }
            Ok::<_, sqlx::Error>(())
        })?;
        tx.commit().await?;
        Ok(n)
    }

    /// Record that the shop did not take `row` (`kind` [`UNKNOWN_PRODUCT`] or [`REFUSED`]):
    /// it is reported and not sent again until it changes or a full resync is asked for.
    ///
    /// # Errors
    /// A database error.
    pub async fn product_problem(
        &self,
        row: &ChannelProduct,
        kind: &str,
        detail: &str,
    ) -> Result<()> {
        const UPSERT: &str = "INSERT INTO channel_problems (channel, ean, kind, detail, revision, first_seen_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT (channel, ean) DO UPDATE SET kind = $3, detail = $4, \
             revision = $5, last_seen_at = $6";
        const SKIP: &str =
            "UPDATE channel_products SET dirty = (revision <> $3) WHERE channel = $1 AND ean = $2";
        let at = now();
        let mut tx = self.begin().await?;
        with_tx!(&mut tx, |t| {
            sqlx::query(UPSERT)
                .bind(&row.channel)
                .bind(&row.ean)
                .bind(kind)
                .bind(detail)
                .bind(row.revision)
                .bind(at)
                .execute(&mut **t)
                .await?;
            sqlx::query(SKIP)
                .bind(&row.channel)
                .bind(&row.ean)
                .bind(row.revision)
                .execute(&mut **t)
                .await
                .map(|_| ())
        })?;
        tx.commit().await?;
        Ok(())
    }

    /// Products `channel`'s shop did not take, by EAN.
    ///
    /// # Errors
    /// A database error.
    pub async fn problems(&self, channel: &str, limit: i64) -> Result<Vec<ChannelProblem>> {
        const SQL: &str = "SELECT channel, ean, kind, detail, revision, first_seen_at, last_seen_at FROM channel_problems \
             WHERE channel = $1 ORDER BY ean LIMIT $2";
        Ok(with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(channel)
            .bind(limit)
            .fetch_all(p)
            .await)?)
    }

    /// Where the order poll of `channel` stands, and when it runs next.
    ///
    /// # Errors
    /// A database error.
    pub async fn orders_seen(
        &self,
        channel: &str,
        seen_until: Option<DateTime<Utc>>,
        next_poll_at: Option<DateTime<Utc>>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE channel_sync SET orders_seen_until = COALESCE($2, orders_seen_until), \
             next_order_poll_at = $3 WHERE channel = $1";
        with_db!(self.db(), |p| {
            sqlx::query(
                "INSERT INTO channel_sync (channel) VALUES ($1) ON CONFLICT (channel) DO NOTHING",
            )
            .bind(channel)
            .execute(p)
            .await?;
            sqlx::query(SQL)
                .bind(channel)
                .bind(seen_until)
                .bind(next_poll_at)
                .execute(p)
                .await
                .map(|_| ())
        })?;
        Ok(())
    }

    /// Link IRP order `order_id` to the Shopware order it came from (a repeat changes nothing).
    ///
    /// # Errors
    /// A database error.
    pub async fn order_link(
        &self,
        order_id: i64,
        channel: &str,
        remote_order_id: &str,
        remote_delivery_id: Option<&str>,
        delivery_state: Option<&str>,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO channel_orders (order_id, channel, remote_order_id, remote_delivery_id, delivery_state) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(order_id)
            .bind(channel)
            .bind(remote_order_id)
            .bind(remote_delivery_id)
            .bind(delivery_state)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The Shopware origin of an IRP order.
    ///
    /// # Errors
    /// A database error.
    pub async fn order(&self, order_id: i64) -> Result<Option<ChannelOrder>> {
        let sql = format!("{CHANNEL_ORDER_SELECT} WHERE order_id = $1");
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql)
        )
        .bind(order_id)
        .fetch_optional(p)
        .await)?)
    }

    /// Whether the Shopware order `remote_order_id` of `channel` was taken in already.
    ///
    /// # Errors
    /// A database error.
    pub async fn order_known(&self, channel: &str, remote_order_id: &str) -> Result<bool> {
        const SQL: &str =
            "SELECT COUNT(*) FROM channel_orders WHERE channel = $1 AND remote_order_id = $2";
        let n: i64 = with_db!(self.db(), |p| sqlx::query_scalar(SQL)
            .bind(channel)
            .bind(remote_order_id)
            .fetch_one(p)
            .await)?;
        Ok(n > 0)
    }

    /// Keep a Shopware order that could not be taken in (a repeat updates the entry).
    ///
    /// # Errors
    /// A database error.
    pub async fn inbox_add(
        &self,
        channel: &str,
        remote_order_id: &str,
        order_number: Option<&str>,
        source: &str,
        error: &str,
        payload: &Value,
    ) -> Result<()> {
        const SQL: &str = "INSERT INTO channel_inbox (channel, remote_order_id, order_number, source, error, payload, received_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (channel, remote_order_id) DO UPDATE SET \
             order_number = $3, source = $4, error = $5, payload = $6, received_at = $7, resolved_at = NULL";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(channel)
            .bind(remote_order_id)
            .bind(order_number)
            .bind(source)
            .bind(error)
            .bind(Json(payload))
            .bind(now())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// The inbox entry of a Shopware order was taken in after all.
    ///
    /// # Errors
    /// A database error.
    pub async fn inbox_resolve(&self, channel: &str, remote_order_id: &str) -> Result<()> {
        const SQL: &str = "UPDATE channel_inbox SET resolved_at = $3 WHERE channel = $1 AND remote_order_id = $2 AND resolved_at IS NULL";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(channel)
            .bind(remote_order_id)
            .bind(now())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Unresolved inbox entries of `channel` last tried before `before`, oldest first: the
    /// ones a round tries to take in again.
    ///
    /// # Errors
    /// A database error.
    pub async fn inbox_due(
        &self,
        channel: &str,
        before: DateTime<Utc>,
        limit: i64,
    ) -> Result<Vec<ChannelInboxEntry>> {
        let sql = format!(
            "{INBOX_SELECT} WHERE channel = $1 AND resolved_at IS NULL AND received_at < $2 \
             ORDER BY received_at, id LIMIT $3"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(channel)
        .bind(before)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Trying inbox entry `remote_order_id` again failed with `error`: it waits its turn again.
    ///
    /// # Errors
    /// A database error.
    pub async fn inbox_tried(
        &self,
        channel: &str,
        remote_order_id: &str,
        error: &str,
    ) -> Result<()> {
        const SQL: &str = "UPDATE channel_inbox SET error = $3, received_at = $4 WHERE channel = $1 AND remote_order_id = $2 AND resolved_at IS NULL";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(channel)
            .bind(remote_order_id)
            .bind(error)
            .bind(now())
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Shopware orders that could not be taken in, newest first (`all`: resolved ones too).
    ///
    /// # Errors
    /// A database error.
    pub async fn inbox_list(
        &self,
        channel: Option<&str>,
        all: bool,
        limit: i64,
    ) -> Result<Vec<ChannelInboxEntry>> {
        let sql = format!(
            "{INBOX_SELECT} WHERE ($1 IS NULL OR channel = $1) AND ($2 OR resolved_at IS NULL) \
             ORDER BY received_at DESC, id DESC LIMIT $3"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(channel)
        .bind(all)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Orders of `channel` with shipments whose tracking is due for the shop, oldest first.
    ///
    /// # Errors
    /// A database error.
    pub async fn tracking_due(&self, channel: &str, limit: i64) -> Result<Vec<i64>> {
        let sql = format!(
            "SELECT so.order_id FROM shipments s JOIN supplier_orders so ON so.id = s.supplier_order_id \
             JOIN orders o ON o.id = so.order_id \
             WHERE s.status = '{MATCHED}' AND s.tracking_pushed_at IS NULL AND o.channel = $1 \
               AND (s.tracking_next_at IS NULL OR s.tracking_next_at <= $2) \
             GROUP BY so.order_id ORDER BY MIN(s.id) LIMIT $3"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_scalar(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(channel)
        .bind(now())
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// Orders of `channel` whose shop delivery is `shipped_partially` although every supplier
    /// order still standing has shipped (the rest was cancelled after the first shipment): the
    /// delivery is to be moved on to `shipped`.
    ///
    /// # Errors
    /// A database error.
    pub async fn tracking_completions_due(&self, channel: &str, limit: i64) -> Result<Vec<i64>> {
        let sql = format!(
            "SELECT c.order_id FROM channel_orders c WHERE c.channel = $1 AND c.delivery_state = 'shipped_partially' \
               AND c.remote_delivery_id IS NOT NULL \
               AND EXISTS (SELECT 1 FROM supplier_orders so WHERE so.order_id = c.order_id AND so.status = '{SHIPPED}') \
               AND NOT EXISTS (SELECT 1 FROM supplier_orders so WHERE so.order_id = c.order_id \
                               AND so.status NOT IN ('{SHIPPED}', '{CANCELLED}')) \
             ORDER BY c.order_id LIMIT $2"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_scalar(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(channel)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// What the shop should show for order `order_id` now.
    ///
    /// # Errors
    /// A database error.
    pub async fn order_tracking(&self, order_id: i64) -> Result<OrderTracking> {
        let remote = self.channel_sync().order(order_id).await?;
        let sql = format!(
            "SELECT s.id, s.track_and_trace, s.tracking_pushed_at IS NULL FROM shipments s \
             JOIN supplier_orders so ON so.id = s.supplier_order_id \
             WHERE so.order_id = $1 AND s.status = '{MATCHED}' ORDER BY s.id"
        );
        let rows: Vec<(i64, Option<String>, bool)> = with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(order_id)
        .fetch_all(p)
        .await)?;
        let statuses: Vec<String> = with_db!(self.db(), |p| sqlx::query_scalar(
            "SELECT status FROM supplier_orders WHERE order_id = $1"
        )
        .bind(order_id)
        .fetch_all(p)
        .await)?;
        let mut codes = Vec::new();
        for (_, code, _) in &rows {
            if let Some(c) = code.as_deref().map(str::trim).filter(|c| !c.is_empty())
                && !codes.iter().any(|x: &String| x == c)
            {
                codes.push(c.to_owned());
            }
        }
        let live: Vec<&String> = statuses.iter().filter(|s| *s != CANCELLED).collect();
        Ok(OrderTracking {
            order_id,
            remote,
            queued: rows
                .iter()
                .filter(|(_, _, queued)| *queued)
                .map(|(id, _, _)| *id)
                .collect(),
            codes,
            all_shipped: !live.is_empty() && live.iter().all(|s| *s == SHIPPED),
        })
    }

    /// The shop has the tracking of `shipments` (`status` [`TRACKING_PUSHED`],
    /// [`TRACKING_REFUSED`] with `error`, or [`TRACKING_NOT_APPLICABLE`]): they leave the queue.
    ///
    /// # Errors
    /// A database error.
    pub async fn tracking_settled(
        &self,
        shipments: &[i64],
        status: &str,
        error: Option<&str>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE shipments SET tracking_pushed_at = $2, tracking_status = $3, tracking_error = $4, \
             tracking_attempts = tracking_attempts + 1 WHERE id = $1 AND tracking_pushed_at IS NULL";
        let at = now();
        for id in shipments {
            with_db!(self.db(), |p| sqlx::query(SQL)
                .bind(id)
                .bind(at)
                .bind(status)
                .bind(error)
                .execute(p)
                .await
                .map(|_| ()))?;
        }
        Ok(())
    }

    /// Pushing the tracking of `shipments` failed for now: try again at `next_at`.
    ///
    /// # Errors
    /// A database error.
    pub async fn tracking_later(
        &self,
        shipments: &[i64],
        error: &str,
        next_at: DateTime<Utc>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE shipments SET tracking_error = $2, tracking_next_at = $3, tracking_attempts = tracking_attempts + 1 \
             WHERE id = $1 AND tracking_pushed_at IS NULL";
        for id in shipments {
            with_db!(self.db(), |p| sqlx::query(SQL)
                .bind(id)
                .bind(error)
                .bind(next_at)
                .execute(p)
                .await
                .map(|_| ()))?;
        }
        Ok(())
    }

    /// Attempts made for the tracking of shipment `id` so far.
    ///
    /// # Errors
    /// A database error.
    pub async fn tracking_attempts(&self, id: i64) -> Result<i64> {
        Ok(with_db!(self.db(), |p| sqlx::query_scalar(
            "SELECT tracking_attempts FROM shipments WHERE id = $1"
        )
        .bind(id)
        .fetch_one(p)
        .await)?)
    }

    /// The delivery of order `order_id` now shows `codes` in `state`.
    ///
    /// # Errors
    /// A database error.
    pub async fn order_tracked(
        &self,
        order_id: i64,
        codes: &[String],
        state: Option<&str>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE channel_orders SET tracking_codes = $2, delivery_state = COALESCE($3, delivery_state) WHERE order_id = $1";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(order_id)
            .bind(Json(codes))
            .bind(state)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }

    /// Orders of `channel` whose every supplier order is cancelled and whose shop was not told.
    ///
    /// # Errors
    /// A database error.
    pub async fn cancellations_due(&self, channel: &str, limit: i64) -> Result<Vec<ChannelOrder>> {
        let sql = format!(
            "{CHANNEL_ORDER_SELECT} WHERE channel = $1 AND cancel_reported_at IS NULL \
               AND EXISTS (SELECT 1 FROM supplier_orders so WHERE so.order_id = channel_orders.order_id) \
               AND NOT EXISTS (SELECT 1 FROM supplier_orders so WHERE so.order_id = channel_orders.order_id AND so.status <> '{CANCELLED}') \
             ORDER BY order_id LIMIT $2"
        );
        Ok(with_db!(self.db(), |p| sqlx::query_as(
            sqlx::AssertSqlSafe(sql.as_str())
        )
        .bind(channel)
        .bind(limit)
        .fetch_all(p)
        .await)?)
    }

    /// The cancellation of order `order_id` was reported to the shop (or failed with `error`,
    /// which is recorded and not retried).
    ///
    /// # Errors
    /// A database error.
    pub async fn cancel_reported(
        &self,
        order_id: i64,
        error: Option<&str>,
        state: Option<&str>,
    ) -> Result<()> {
        const SQL: &str = "UPDATE channel_orders SET cancel_reported_at = $2, cancel_error = $3, \
             delivery_state = COALESCE($4, delivery_state) WHERE order_id = $1";
        with_db!(self.db(), |p| sqlx::query(SQL)
            .bind(order_id)
            .bind(now())
            .bind(error)
            .bind(state)
            .execute(p)
            .await
            .map(|_| ()))?;
        Ok(())
    }
}
