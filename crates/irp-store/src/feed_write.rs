//! Applying a feed run as it is read: the pipeline compares the feed with an in-memory index of
//! the stored offers (`Store::feed_write().offers_index`) and hands over only what changes. New offers are
//! written straight into `offers` (PostgreSQL: one `COPY` stream), changed and returning ones
//! are staged and merged, and the offers the feed no longer has are deactivated — all in one
//! transaction, which commits only when the whole feed was read and passed its guards.
//!
//! On SQLite the transaction holds the database's write lock, so [`Batches`] lets the caller
//! hold back the first batches until there is enough to write: a re-import that changes little
//! takes the lock only at its end.

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Write as _;
use std::sync::Arc;

use sqlx::Arguments as _;
use sqlx::sqlite::SqliteArguments;

use chrono::{DateTime, Utc};

use sqlx::types::Json;

use crate::dialect::sqlite_values;
use crate::offers::{FIELD_CHECKS, RunReport, SnapshotDiff, StagedOffer, StoredRowError};
use crate::{Result, Store, StoreError, Tx, now, with_tx};

/// Rows of a run handed to the writer.
#[derive(Debug)]
pub enum OfferBatch {
    /// Offers the store does not have at all: inserted.
    New(Vec<StagedOffer>),
    /// Offers the store has with other content, or inactive: staged and merged.
    Changed(Vec<StagedOffer>),
}

impl OfferBatch {
    /// Rows in the batch.
    pub fn len(&self) -> usize {
        match self {
            OfferBatch::New(r) | OfferBatch::Changed(r) => r.len(),
        }
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Batches still to write: some held back in memory, the rest still arriving.
pub struct Batches {
    /// Held back, written first.
    pub held: VecDeque<OfferBatch>,
    /// Arriving; closed when the feed has been read.
    pub rx: tokio::sync::mpsc::Receiver<OfferBatch>,
}

impl Batches {
    async fn next(&mut self) -> Option<OfferBatch> {
        match self.held.pop_front() {
            Some(b) => Some(b),
            None => self.rx.recv().await,
        }
    }
}

/// How many runs had applied offers of a refurbisher when `Store::feed_write().offers_index` read them
/// (applies are never undone, so another apply changes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexVersion(pub i64);

/// An open apply transaction of one run.
pub struct FeedWrite {
    tx: Tx,
    refurbisher_id: i64,
    run_id: i64,
    at: DateTime<Utc>,
    /// Rows staged to be merged.
    staged: u64,
    /// `max_price_change_ratio` in millionths.
    max_price_change_ppm: i64,
    /// EANs of the new offers written (see [`NEW_EANS_MAX`]).
    new_eans: Vec<String>,
    /// More new offers than [`NEW_EANS_MAX`]: every EAN of the refurbisher is marked instead.
    new_eans_overflow: bool,
}

/// New offers whose EANs a run remembers for the catalog; a larger run (a first import) marks
/// every product of the refurbisher instead.
const NEW_EANS_MAX: usize = 100_000;

/// Keep the EANs of new `rows`, up to one more than [`NEW_EANS_MAX`] in all (one more tells
/// the run that there were too many).
fn keep_eans(kept: &mut Vec<Vec<String>>, rows: &[StagedOffer]) {
    let so_far: usize = kept.iter().map(Vec::len).sum();
    if so_far <= NEW_EANS_MAX {
        kept.push(
            rows.iter()
                .take(NEW_EANS_MAX + 1 - so_far)
                .map(|r| r.ean.clone())
                .collect(),
        );
    }
}

/// What applying a run did besides the offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    /// Offers whose new purchase price was held by the price guard in this run.
    pub price_holds: u64,
}

/// The price guard's decision ([`irp_core::pricing::guard::judge`]) rendered as the three
/// columns a merge sets, so a run applies it to all its changed offers in one statement. `old`
/// is the stored row (`offers`), `new_price` the incoming purchase price, `$3` the run's time
/// and `$4` the refurbisher's `max_price_change_ratio` in millionths. The test below checks it
/// agrees with `judge` on every case, on both databases.
pub(crate) fn price_guard(old: &str, new_price: &str) -> [String; 3] {
    let applied = format!("COALESCE({old}.applied_purchase_minor, {old}.price_purchase_minor)");
    let out_of_range =
        format!("({applied} > 0 AND ABS({new_price} - {applied}) * 1000000 > $4 * {applied})");
    [
        format!("CASE WHEN {out_of_range} THEN {applied} ELSE NULL END"),
        format!(
            "CASE WHEN NOT {out_of_range} THEN NULL \
             WHEN {old}.price_hold = 'rejected' AND {old}.price_purchase_minor = {new_price} THEN 'rejected' ELSE 'pending' END"
        ),
        format!(
            "CASE WHEN NOT {out_of_range} THEN NULL \
             WHEN {old}.price_hold IS NOT NULL AND {old}.price_purchase_minor = {new_price} THEN {old}.price_held_at ELSE $3 END"
        ),
    ]
}

/// What the pipeline counted while it compared the feed with the index.
#[derive(Debug, Clone, Default)]
pub struct ReadCounts {
    /// Offers the store did not have.
    pub new: i64,
    /// Offers the store had inactive (they come back).
    pub reactivated: i64,
    /// Offers whose content hash differs (their fields are compared in the database).
    pub changed: i64,
    /// Offers with the same content hash.
    pub unchanged: i64,
    /// Active offers before the run.
    pub active_before: i64,
}

const OFFER_COLUMNS: &str = "refurbisher_id, sku, ean, name, stock_available, price_purchase_minor, price_consumer_minor, \
     currency, tax_percentage, attributes, content_hash, active, first_seen_at, last_seen_at, last_changed_at";
const STAGING_COLUMNS: &str = "feed_run_id, sku, row_number, ean, name, stock_available, price_purchase_minor, \
     price_consumer_minor, currency, tax_percentage, attributes, content_hash";
/// SQLite: offers per `INSERT` (15 parameters each; below the limit of 32,766).
const SQLITE_ROWS: usize = 2000;

fn attributes_json(r: &StagedOffer) -> String {
    if r.attributes.is_empty() {
        "{}".to_owned()
    } else {
        serde_json::to_string(&r.attributes).unwrap_or_else(|_| "{}".into())
    }
}

/// Append `s` escaped for PostgreSQL's `COPY … FROM STDIN` text format.
fn copy_text(buf: &mut String, s: &str) {
    if !s
        .bytes()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        buf.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '\\' => buf.push_str("\\\\"),
            '\t' => buf.push_str("\\t"),
            '\n' => buf.push_str("\\n"),
            '\r' => buf.push_str("\\r"),
            c => buf.push(c),
        }
    }
}

/// The common middle of an offers row and a staging row in `COPY` text format:
/// `ean, name, stock, purchase, consumer, currency, tax, attributes, content_hash`.
fn copy_fields(buf: &mut String, r: &StagedOffer) {
    copy_text(buf, &r.ean);
    buf.push('\t');
    copy_text(buf, &r.name);
    let _ = write!(
        buf,
        "\t{}\t{}\t{}\t",
        r.stock_available, r.price_purchase_minor, r.price_consumer_minor
    );
    copy_text(buf, &r.currency);
    buf.push('\t');
    match &r.tax_percentage {
        Some(t) => copy_text(buf, t),
        None => buf.push_str("\\N"),
    }
    buf.push('\t');
    copy_text(buf, &attributes_json(r));
    buf.push('\t');
    buf.push_str(&r.content_hash());
}

/// One `offers` row in `COPY` text format.
fn copy_offer(buf: &mut String, refurbisher_id: i64, r: &StagedOffer, at: &str) {
    let _ = write!(buf, "{refurbisher_id}\t");
    copy_text(buf, &r.sku);
    buf.push('\t');
    copy_fields(buf, r);
    let _ = writeln!(buf, "\tt\t{at}\t{at}\t{at}");
}

/// One `feed_staging` row in `COPY` text format.
fn copy_staged(buf: &mut String, run_id: i64, r: &StagedOffer) {
    let _ = write!(buf, "{run_id}\t");
    copy_text(buf, &r.sku);
    let _ = write!(buf, "\t{}\t", r.row_number);
    copy_fields(buf, r);
    buf.push('\n');
}

/// A time as sqlx writes it into SQLite (so that stored times compare as text).
fn sqlite_time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, false)
}

/// Runs that applied offers of a refurbisher: an [`IndexVersion`].
const VERSION: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM feed_runs WHERE refurbisher_id = $1 AND applied_at IS NOT NULL";

/// One offer of a SQLite index chunk, `[sku, content_hash, active]`, borrowed from the chunk
/// where no escapes get in the way.
#[derive(serde::Deserialize)]
struct IndexRow<'a> {
    #[serde(borrow)]
    sku: std::borrow::Cow<'a, str>,
    #[serde(borrow)]
    hash: std::borrow::Cow<'a, str>,
    active: i64,
}

/// The store's handle on writing a feed run as it is read ([`Store::feed_write`]). It derefs to the
/// [`Store`], so its queries reach the pool and the other handles.
#[derive(Clone, Copy)]
pub struct FeedWriting<'s>(&'s Store);

impl std::ops::Deref for FeedWriting<'_> {
    type Target = Store;

    fn deref(&self) -> &Store {
        self.0
    }
}

impl Store {
    /// The handle on writing a feed run as it is read.
    #[must_use]
    pub fn feed_write(&self) -> FeedWriting<'_> {
        FeedWriting(self)
    }
}

impl FeedWriting<'_> {
    /// How many offers (active or not) a refurbisher has.
    ///
    /// # Errors
    /// A database error.
    pub async fn offers_count(&self, refurbisher_id: i64) -> Result<u64> {
        const SQL: &str = "SELECT CAST(COUNT(*) AS BIGINT) FROM offers WHERE refurbisher_id = $1";
        let (n,): (i64,) = crate::with_db!(self.db(), |p| sqlx::query_as(SQL)
            .bind(refurbisher_id)
            .fetch_one(p)
            .await)?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Read the stored offers of a refurbisher for an import: `each(sku, content_hash, active)`
    /// for every offer, in no particular order. Returns the version to pass to
    /// `Store::feed_write().start`, which refuses to write when another run applied offers of
    /// the refurbisher in between.
    ///
    /// # Errors
    /// A database error.
    pub async fn offers_index(
        &self,
        refurbisher_id: i64,
        each: &mut (dyn FnMut(&str, &str, bool) + Send),
    ) -> Result<IndexVersion> {
        use futures_util::TryStreamExt as _;
        const ROWS: &str = "SELECT sku, content_hash, active FROM offers WHERE refurbisher_id = $1";
        // The version is read first: an apply committed between the two reads makes the
        // version older than the index, which only causes a needless conflict, never a stale
        // index.
        let (version,): (i64,) = crate::with_db!(self.db(), |p| sqlx::query_as(VERSION)
            .bind(refurbisher_id)
            .fetch_one(p)
            .await)?;
        match self.db() {
            crate::Db::Postgres(p) => {
                let mut rows = sqlx::query_as::<_, (String, String, bool)>(ROWS)
                    .bind(refurbisher_id)
                    .fetch(p);
                while let Some((sku, hash, active)) = rows.try_next().await? {
                    each(&sku, &hash, active);
                }
            }
            crate::Db::Sqlite(p) => {
                // Rows cross from SQLite's worker thread one message each: 8,192 offers to a
                // JSON array make that a few hundred messages for a million offers. Chunks are
                // rowid ranges, which SQLite walks in order (`+` keeps it from using the
                // refurbisher's SKU index instead, which would walk every offer per chunk).
                const RANGE: &str = "SELECT CAST(COALESCE(MIN(id), 0) AS BIGINT), CAST(COALESCE(MAX(id), -1) AS BIGINT) \
                     FROM offers WHERE refurbisher_id = $1";
                const CHUNK: &str = "SELECT json_group_array(json_array(sku, content_hash, active)) \
                     FROM offers WHERE id >= $2 AND id < $3 AND +refurbisher_id = $1";
                const STEP: i64 = 8192;
                let (first, last): (i64, i64) = sqlx::query_as(RANGE)
                    .bind(refurbisher_id)
                    .fetch_one(p)
                    .await?;
                let mut from = first;
                while from <= last {
                    let (chunk,): (String,) = sqlx::query_as(CHUNK)
                        .bind(refurbisher_id)
                        .bind(from)
                        .bind(from.saturating_add(STEP))
                        .fetch_one(p)
                        .await?;
                    let rows: Vec<IndexRow<'_>> = serde_json::from_str(&chunk).map_err(|e| {
                        StoreError::Corrupt(format!("reading the offers index: {e}"))
                    })?;
                    for r in rows {
                        each(&r.sku, &r.hash, r.active != 0);
                    }
                    from = from.saturating_add(STEP);
                }
            }
        }
        Ok(IndexVersion(version))
    }

    /// Open the apply transaction of `run_id`. Refuses (a conflict) when offers of the
    /// refurbisher were applied since `Store::feed_write().offers_index` returned `version`: the run's
    /// comparison would be stale.
    ///
    /// # Errors
    /// The conflict; a database error.
    pub async fn start(
        &self,
        refurbisher_id: i64,
        run_id: i64,
        version: IndexVersion,
        max_price_change_ppm: i64,
    ) -> Result<FeedWrite> {
        let mut tx = self.begin().await?;
        // PostgreSQL: the refurbisher's row lock serialises runs of one refurbisher (SQLite's
        // BEGIN IMMEDIATE serialises every writer).
        const LOCK: &str = "SELECT id FROM refurbishers WHERE id = $1 FOR UPDATE";
        if let Tx::Postgres(t) = &mut tx {
            sqlx::query(LOCK)
                .bind(refurbisher_id)
                .execute(&mut **t)
                .await?;
        }
        let (now_version,): (i64,) = with_tx!(&mut tx, |t| sqlx::query_as(VERSION)
            .bind(refurbisher_id)
            .fetch_one(&mut **t)
            .await)?;
        if now_version != version.0 {
            return Err(StoreError::Conflict(format!(
                "another feed run applied offers of this refurbisher while run {run_id} read its feed; run it again"
            )));
        }
        Ok(FeedWrite {
            tx,
            refurbisher_id,
            run_id,
            at: now(),
            staged: 0,
            max_price_change_ppm,
            new_eans: Vec::new(),
            new_eans_overflow: false,
        })
    }
}

impl FeedWrite {
    fn remember_new_eans(&mut self, eans: Vec<String>) {
        if self.new_eans_overflow {
            return;
        }
        self.new_eans.extend(eans);
        if self.new_eans.len() > NEW_EANS_MAX {
            self.new_eans = Vec::new();
            self.new_eans_overflow = true;
        }
    }

    /// Write every batch: new offers into `offers`, changed ones into the run's staging rows.
    /// Returns when the channel is closed and everything held was written.
    ///
    /// # Errors
    /// A database error.
    pub async fn write_all(&mut self, batches: &mut Batches) -> Result<()> {
        let mut new_batches: Vec<Vec<String>> = Vec::new();
        match &mut self.tx {
            Tx::Postgres(t) => {
                let at = self.at.to_rfc3339();
                let mut pending = batches.next().await;
                while let Some(batch) = pending.take() {
                    let (sql, new) = match &batch {
                        OfferBatch::New(_) => {
                            (format!("COPY offers ({OFFER_COLUMNS}) FROM STDIN"), true)
                        }
                        OfferBatch::Changed(_) => (
                            format!("COPY feed_staging ({STAGING_COLUMNS}) FROM STDIN"),
                            false,
                        ),
                    };
                    // One COPY stream for a run of batches of the same kind.
                    let mut copy = t.copy_in_raw(&sql).await?;
                    let mut next = Some(batch);
                    let mut buf = String::new();
                    while let Some(b) = next.take() {
                        match (b, new) {
                            (OfferBatch::New(rows), true) => {
                                buf.clear();
                                for r in &rows {
                                    copy_offer(&mut buf, self.refurbisher_id, r, &at);
                                }
                                keep_eans(&mut new_batches, &rows);
                            }
                            (OfferBatch::Changed(rows), false) => {
                                buf.clear();
                                for r in &rows {
                                    copy_staged(&mut buf, self.run_id, r);
                                }
                                self.staged += rows.len() as u64;
                            }
                            (other, _) => {
                                pending = Some(other);
                                break;
                            }
                        }
                        copy.send(buf.as_bytes()).await?;
                        next = batches.next().await;
                    }
                    copy.finish().await?;
                }
            }
            Tx::Sqlite(t) => {
                // Binding a statement's values takes about a third of the time SQLite takes
                // to insert them: a task builds the next statements while this one runs.
                let held = std::mem::take(&mut batches.held);
                let rx = std::mem::replace(&mut batches.rx, tokio::sync::mpsc::channel(1).1);
                let mut source = Batches { held, rx };
                let (built_tx, mut built) = tokio::sync::mpsc::channel::<Built>(2);
                let (refurbisher_id, run_id) = (self.refurbisher_id, self.run_id);
                let at: Arc<str> = Arc::from(sqlite_time(self.at));
                let builder = tokio::spawn(async move {
                    let mut sql_new = SqlCache::default();
                    let mut sql_staged = SqlCache::default();
                    let mut new_batches = Vec::new();
                    while let Some(batch) = source.next().await {
                        let (new, rows) = match batch {
                            OfferBatch::New(rows) => (true, rows),
                            OfferBatch::Changed(rows) => (false, rows),
                        };
                        if new {
                            keep_eans(&mut new_batches, &rows);
                        }
                        let mut rows = rows.into_iter().peekable();
                        while rows.peek().is_some() {
                            let chunk: Vec<StagedOffer> = rows.by_ref().take(SQLITE_ROWS).collect();
                            let n = chunk.len();
                            let built = if new {
                                Built {
                                    sql: sql_new.get(n, || {
                                        sqlite_values(
                                            &format!("INSERT INTO offers ({OFFER_COLUMNS})"),
                                            n,
                                            15,
                                        )
                                    }),
                                    args: offer_args(refurbisher_id, &at, chunk),
                                    new,
                                    rows: n,
                                }
                            } else {
                                Built {
                                    sql: sql_staged.get(n, || staging_sql(n, false)),
                                    args: staging_args(run_id, chunk),
                                    new,
                                    rows: n,
                                }
                            };
                            if built_tx.send(built).await.is_err() {
                                return new_batches;
                            }
                        }
                    }
                    new_batches
                });
                let (mut waited, mut execd) =
                    (std::time::Duration::ZERO, std::time::Duration::ZERO);
                loop {
                    let w = std::time::Instant::now();
                    let Some(b) = built.recv().await else { break };
                    waited += w.elapsed();
                    let w = std::time::Instant::now();
                    let args = b
                        .args
                        .map_err(|e| StoreError::Corrupt(format!("binding an offer: {e}")))?;
                    sqlx::query_with(sqlx::AssertSqlSafe(b.sql.to_string()), args)
                        .execute(&mut **t)
                        .await?;
                    if !b.new {
                        self.staged += b.rows as u64;
                    }
                    execd += w.elapsed();
                }
                tracing::debug!(
                    waited_ms = waited.as_millis(),
                    exec_ms = execd.as_millis(),
                    "Writer done"
                );
                new_batches = builder.await.map_err(|e| {
                    StoreError::Corrupt(format!("the statement builder stopped: {e}"))
                })?;
            }
        }
        for eans in new_batches {
            self.remember_new_eans(eans);
        }
        Ok(())
    }

    /// Compare the staged (changed) rows with the stored offers field by field: how many
    /// really change, and which fields. A row whose hash differs but whose fields do not (a
    /// hash stored in an older form) counts as unchanged.
    ///
    /// # Errors
    /// A database error.
    pub async fn staged_changes(&mut self) -> Result<(i64, BTreeMap<String, i64>)> {
        if self.staged == 0 {
            return Ok((0, BTreeMap::new()));
        }
        let any = FIELD_CHECKS
            .iter()
            .map(|(_, c)| *c)
            .collect::<Vec<_>>()
            .join(" OR ");
        let mut sums: Vec<String> = FIELD_CHECKS
            .iter()
            .map(|(_, cond)| {
                format!("CAST(COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS BIGINT)")
            })
            .collect();
        sums.push(format!(
            "CAST(COALESCE(SUM(CASE WHEN {any} THEN 1 ELSE 0 END), 0) AS BIGINT)"
        ));
        let sql = format!(
            // CROSS JOIN: SQLite then walks the (few) staged rows and looks each offer up,
            // instead of walking every offer of the refurbisher.
            "SELECT {} FROM feed_staging s CROSS JOIN offers o \
             WHERE s.feed_run_id = $2 AND o.refurbisher_id = $1 AND o.sku = s.sku AND o.active",
            sums.join(", ")
        );
        type Row = (i64, i64, i64, i64, i64, i64, i64, i64, i64);
        let row: Row = with_tx!(&mut self.tx, |t| sqlx::query_as(sqlx::AssertSqlSafe(
            sql.clone()
        ))
        .bind(self.refurbisher_id)
        .bind(self.run_id)
        .fetch_one(&mut **t)
        .await)?;
        let counts = [row.0, row.1, row.2, row.3, row.4, row.5, row.6, row.7];
        let mut fields = BTreeMap::new();
        for ((field, _), n) in FIELD_CHECKS.iter().zip(counts) {
            if n > 0 {
                fields.insert((*field).to_owned(), n);
            }
        }
        Ok((row.8, fields))
    }

    /// Merge the staged rows, deactivate `removed` (SKUs of active offers the feed does not
    /// have), mark the run applied with `status` and the diff, and commit.
    ///
    /// # Errors
    /// A database error; nothing is applied then.
    pub async fn commit(
        mut self,
        removed: &[String],
        report: &RunReport,
        errors: &[StoredRowError],
    ) -> Result<Applied> {
        let status = report.status.as_str();
        let empty = SnapshotDiff::default();
        let diff = report.diff.as_ref().unwrap_or(&empty);
        let at = self.at;
        let t0 = std::time::Instant::now();
        let refurbisher_id = self.refurbisher_id;
        let run_id = self.run_id;
        let mut applied = Applied::default();
        if self.staged > 0 {
            // The products of the EANs the changed offers had and get.
            let ids = [refurbisher_id, run_id];
            crate::marks::mark_many_dirty(
                &mut self.tx,
                i64::try_from(self.staged).unwrap_or(i64::MAX),
                "SELECT ean FROM offers WHERE refurbisher_id = $1 AND sku IN (SELECT sku FROM feed_staging WHERE feed_run_id = $2) \
                 UNION ALL SELECT ean FROM feed_staging WHERE feed_run_id = $2",
                &ids,
            )
            .await?;
            let changed = FIELD_CHECKS
                .iter()
                .map(|(_, c)| c.replace("o.", "offers."))
                .collect::<Vec<_>>()
                .join(" OR ");
            let [hold_price, hold, held_at] = price_guard("offers", "s.price_purchase_minor");
            // Every staged row is an offer the refurbisher has (changed, or coming back). The
            // `IN` makes both databases walk the staged rows and look each offer up.
            let merge = format!(
                "UPDATE offers SET (ean, name, stock_available, price_purchase_minor, price_consumer_minor, currency, \
                     tax_percentage, attributes, last_changed_at, content_hash, applied_purchase_minor, price_hold, price_held_at) = \
                     (SELECT s.ean, s.name, s.stock_available, s.price_purchase_minor, s.price_consumer_minor, s.currency, \
                         s.tax_percentage, s.attributes, \
                         CASE WHEN NOT offers.active OR {changed} THEN $3 ELSE offers.last_changed_at END, s.content_hash, \
                         {hold_price}, {hold}, {held_at} \
                      FROM feed_staging s WHERE s.feed_run_id = $2 AND s.sku = offers.sku), \
                     active = TRUE, last_seen_at = $3 \
                 WHERE refurbisher_id = $1 AND sku IN (SELECT sku FROM feed_staging WHERE feed_run_id = $2)"
            );
            let t_merge = std::time::Instant::now();
            let merged = with_tx!(&mut self.tx, |t| sqlx::query(sqlx::AssertSqlSafe(
                merge.clone()
            ))
            .bind(refurbisher_id)
            .bind(run_id)
            .bind(at)
            .bind(self.max_price_change_ppm)
            .execute(&mut **t)
            .await
            .map(|r| r.rows_affected()))?;
            tracing::debug!(
                merged,
                ms = t_merge.elapsed().as_millis(),
                "Staged offers merged"
            );
            applied.price_holds = holds_opened(&mut self.tx, refurbisher_id, at).await?;
            const CLEAN: &str = "DELETE FROM feed_staging WHERE feed_run_id = $1";
            with_tx!(&mut self.tx, |t| sqlx::query(CLEAN)
                .bind(run_id)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()))?;
        }
        let mut removed_eans: Vec<String> = Vec::new();
        match &mut self.tx {
            Tx::Postgres(t) => {
                const SQL: &str = "UPDATE offers SET active = FALSE, last_changed_at = $2 WHERE refurbisher_id = $1 AND active AND sku = ANY($3) \
                     RETURNING ean";
                for chunk in removed.chunks(10_000) {
                    let eans: Vec<Option<String>> = sqlx::query_scalar(SQL)
                        .bind(refurbisher_id)
                        .bind(at)
                        .bind(chunk)
                        .fetch_all(&mut **t)
                        .await?;
                    removed_eans.extend(eans.into_iter().flatten());
                }
            }
            Tx::Sqlite(t) => {
                for chunk in removed.chunks(500) {
                    let mut sql = String::from(
                        "UPDATE offers SET active = FALSE, last_changed_at = ? WHERE refurbisher_id = ? AND active AND sku IN (?",
                    );
                    for _ in 1..chunk.len() {
                        sql.push_str(",?");
                    }
                    sql.push_str(") RETURNING ean");
                    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(at)
                        .bind(refurbisher_id);
                    for sku in chunk {
                        q = q.bind(sku);
                    }
                    let eans: Vec<Option<String>> = q.fetch_all(&mut **t).await?;
                    removed_eans.extend(eans.into_iter().flatten());
                }
            }
        }
        crate::marks::mark_dirty(&mut self.tx, &removed_eans).await?;
        if self.new_eans_overflow {
            crate::marks::mark_refurbisher_dirty(&mut self.tx, refurbisher_id).await?;
        } else {
            let eans = std::mem::take(&mut self.new_eans);
            crate::marks::mark_dirty(&mut self.tx, &eans).await?;
        }
        crate::marks::clear_reservations(&mut self.tx, refurbisher_id).await?;
        mark_applied(&mut self.tx, run_id, status, at, diff).await?;
        // The run's report and row errors go with its offers: a run killed after this commit
        // still says what it applied, and its content hash is the one of the stored offers.
        record_report(&mut self.tx, run_id, report).await?;
        record_row_errors(&mut self.tx, run_id, errors).await?;
        let t1 = t0.elapsed();
        match self.tx {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        tracing::debug!(
            statements_ms = t1.as_millis(),
            total_ms = t0.elapsed().as_millis(),
            "Run committed"
        );
        Ok(applied)
    }

    /// Give up: nothing of the run is applied.
    ///
    /// # Errors
    /// A database error.
    pub async fn rollback(self) -> Result<()> {
        match self.tx {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }
}

/// A statement built for the SQLite writer.
struct Built {
    sql: Arc<str>,
    args: std::result::Result<SqliteArguments, sqlx::error::BoxDynError>,
    new: bool,
    rows: usize,
}

/// The statement text for full chunks, built once.
#[derive(Default)]
struct SqlCache(Option<(usize, Arc<str>)>);

impl SqlCache {
    fn get(&mut self, rows: usize, build: impl FnOnce() -> String) -> Arc<str> {
        match &self.0 {
            Some((n, sql)) if *n == rows => Arc::clone(sql),
            _ => {
                let sql: Arc<str> = Arc::from(build());
                if rows == SQLITE_ROWS {
                    self.0 = Some((rows, Arc::clone(&sql)));
                }
                sql
            }
        }
    }
}

/// Bind what an `offers` row and a `feed_staging` row share: `ean, name, stock, purchase,
/// consumer, currency, tax, attributes, content_hash`.
fn add_fields(
    a: &mut SqliteArguments,
    r: StagedOffer,
) -> std::result::Result<(), sqlx::error::BoxDynError> {
    let attributes = attributes_json(&r);
    let hash = r.content_hash();
    a.add(r.ean)?;
    a.add(r.name)?;
    a.add(r.stock_available)?;
    a.add(r.price_purchase_minor)?;
    a.add(r.price_consumer_minor)?;
    a.add(r.currency)?;
    a.add(r.tax_percentage)?;
    a.add(attributes)?;
    a.add(hash)
}

fn offer_args(
    refurbisher_id: i64,
    at: &Arc<str>,
    rows: Vec<StagedOffer>,
) -> std::result::Result<SqliteArguments, sqlx::error::BoxDynError> {
    let mut a = SqliteArguments::default();
    for mut r in rows {
        a.add(refurbisher_id)?;
        a.add(std::mem::take(&mut r.sku))?;
        add_fields(&mut a, r)?;
        a.add(true)?;
        a.add(Arc::clone(at))?;
        a.add(Arc::clone(at))?;
        a.add(Arc::clone(at))?;
    }
    Ok(a)
}

fn staging_args(
    run_id: i64,
    rows: Vec<StagedOffer>,
) -> std::result::Result<SqliteArguments, sqlx::error::BoxDynError> {
    let mut a = SqliteArguments::default();
    for mut r in rows {
        a.add(run_id)?;
        a.add(std::mem::take(&mut r.sku))?;
        a.add(r.row_number)?;
        add_fields(&mut a, r)?;
    }
    Ok(a)
}

/// `INSERT INTO feed_staging …` for `rows` rows; `skip_duplicates` skips a SKU the run has
/// staged already.
fn staging_sql(rows: usize, skip_duplicates: bool) -> String {
    let mut sql = sqlite_values(
        &format!("INSERT INTO feed_staging ({STAGING_COLUMNS})"),
        rows,
        12,
    );
    if skip_duplicates {
        sql.push_str(" ON CONFLICT (feed_run_id, sku) DO NOTHING");
    }
    sql
}

/// Stage `rows` of a run on SQLite (in `tx`); returns the rows staged.
pub(crate) async fn sqlite_stage(
    tx: &mut sqlx::Transaction<'static, sqlx::Sqlite>,
    run_id: i64,
    rows: &[StagedOffer],
    skip_duplicates: bool,
) -> Result<u64> {
    let mut n = 0;
    for chunk in rows.chunks(SQLITE_ROWS) {
        let args = staging_args(run_id, chunk.to_vec())
            .map_err(|e| StoreError::Corrupt(format!("binding an offer: {e}")))?;
        n += sqlx::query_with(
            sqlx::AssertSqlSafe(staging_sql(chunk.len(), skip_duplicates)),
            args,
        )
        .execute(&mut **tx)
        .await?
        .rows_affected();
    }
    Ok(n)
}

/// Stage `rows` of a run on PostgreSQL with one `COPY`; returns the rows staged.
pub(crate) async fn pg_stage(
    conn: &mut sqlx::PgConnection,
    run_id: i64,
    rows: &[StagedOffer],
) -> Result<u64> {
    let mut copy = conn
        .copy_in_raw(&format!("COPY feed_staging ({STAGING_COLUMNS}) FROM STDIN"))
        .await?;
    let mut buf = String::with_capacity(rows.len() * 160);
    for r in rows {
        copy_staged(&mut buf, run_id, r);
    }
    copy.send(buf.as_bytes()).await?;
    Ok(copy.finish().await?)
}

/// Offers of the refurbisher whose price change was held at `at` (by the run applying now).
///
/// # Errors
/// A database error.
pub(crate) async fn holds_opened(
    tx: &mut Tx,
    refurbisher_id: i64,
    at: DateTime<Utc>,
) -> Result<u64> {
    const SQL: &str = "SELECT COUNT(*) FROM offers WHERE price_hold = 'pending' AND refurbisher_id = $1 AND price_held_at = $2";
    let (n,): (i64,) = with_tx!(tx, |t| sqlx::query_as(SQL)
        .bind(refurbisher_id)
        .bind(at)
        .fetch_one(&mut **t)
        .await)?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Mark a run applied, in the transaction that applies it, with its status and diff.
pub(crate) async fn mark_applied(
    tx: &mut Tx,
    run_id: i64,
    status: &str,
    at: DateTime<Utc>,
    diff: &SnapshotDiff,
) -> Result<()> {
    const MARK: &str = "UPDATE feed_runs SET status = $2, applied_at = $3, created = $4, updated = $5, unchanged = $6, removed = $7, \
         field_changes = $8 WHERE id = $1";
    with_tx!(tx, |t| sqlx::query(MARK)
        .bind(run_id)
        .bind(status)
        .bind(at)
        .bind(diff.created)
        .bind(diff.updated)
        .bind(diff.unchanged)
        .bind(diff.removed)
        .bind(Json(&diff.field_changes))
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Record how run `run_id` went (status — unless it was applied, which set it —, counts,
/// message, content hash) and when it finished.
pub(crate) async fn record_report(tx: &mut Tx, run_id: i64, report: &RunReport) -> Result<()> {
    const SQL: &str = "UPDATE feed_runs SET status = CASE WHEN applied_at IS NULL THEN $2 ELSE status END, finished_at = $3, http_status = $4, \
         bytes = $5, duration_ms = $6, rows_read = $7, rows_accepted = $8, rows_rejected = $9, created = $10, updated = $11, \
         unchanged = $12, removed = $13, errors_dropped = $14, message = $15, field_changes = $16, content_hash = $17 WHERE id = $1";
    let d = report.diff.clone().unwrap_or_default();
    let at = now();
    with_tx!(tx, |t| sqlx::query(SQL)
        .bind(run_id)
        .bind(report.status.as_str())
        .bind(at)
        .bind(report.http_status)
        .bind(report.bytes)
        .bind(report.duration_ms)
        .bind(report.rows_read)
        .bind(report.rows_accepted)
        .bind(report.rows_rejected)
        .bind(d.created)
        .bind(d.updated)
        .bind(d.unchanged)
        .bind(d.removed)
        .bind(report.errors_dropped)
        .bind(&report.message)
        .bind(Json(&d.field_changes))
        .bind(&report.content_hash)
        .execute(&mut **t)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Store row errors of run `run_id`.
pub(crate) async fn record_row_errors(
    tx: &mut Tx,
    run_id: i64,
    errors: &[StoredRowError],
) -> Result<()> {
    const HEAD: &str =
        "INSERT INTO feed_row_errors (feed_run_id, row_number, field, value, message) ";
    for chunk in errors.chunks(500) {
        with_tx!(tx, |t| {
            let mut qb = sqlx::QueryBuilder::new(HEAD);
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(run_id)
                    .push_bind(e.row_number)
                    .push_bind(e.field.clone())
                    .push_bind(e.value.clone())
                    .push_bind(e.message.clone());
            });
            qb.build()
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    Ok(())
}

#[cfg(all(test, feature = "testkit"))]
#[allow(clippy::unwrap_used)]
mod guard_tests {
    use chrono::{DateTime, TimeDelta, Utc};
    use irp_core::pricing::guard::{GuardState, Hold, judge};

    use super::price_guard;
    use crate::testkit::TestDb;
    use crate::{Backend, with_db};

    /// Every combination of a stored state and a new price through the SQL rendering and
    /// through `judge`: the same new state.
    async fn sql_agrees_with_judge(backend: Backend) {
        let db = TestDb::new(backend).await;
        let before: DateTime<Utc> = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let at = before + TimeDelta::hours(1);
        let [hold_price, hold, held_at] = price_guard("o", "$1");
        let sql = format!(
            "SELECT CAST({hold_price} AS BIGINT), {hold}, {held_at} FROM \
             (SELECT CAST($2 AS BIGINT) AS price_purchase_minor, CAST($5 AS BIGINT) AS applied_purchase_minor, \
                     CAST($6 AS TEXT) AS price_hold, $7 AS price_held_at) AS o"
        );
        let holds = [None, Some(Hold::Pending), Some(Hold::Rejected)];
        let mut cases = 0;
        for feed in [0_i64, 10_000, 16_000] {
            for applied in [None, Some(10_000_i64)] {
                for old_hold in holds {
                    if old_hold.is_some() != applied.is_some() {
                        continue;
                    }
                    for new in [0_i64, 10_000, 10_400, 14_000, 16_000, 17_000] {
                        for ppm in [0_i64, 500_000] {
                            let old = GuardState {
                                feed_minor: feed,
                                applied_minor: applied,
                                hold: old_hold,
                                held_at: old_hold.map(|_| before),
                            };
                            let want = judge(old, new, ppm, at);
                            let got: (Option<i64>, Option<String>, Option<DateTime<Utc>>) = with_db!(
                                db.store.db(),
                                |p| sqlx::query_as(sqlx::AssertSqlSafe(sql.clone()))
                                    .bind(new)
                                    .bind(feed)
                                    .bind(at)
                                    .bind(ppm)
                                    .bind(applied)
                                    .bind(old_hold.map(Hold::as_str))
                                    .bind(old.held_at)
                                    .fetch_one(p)
                                    .await
                                    .unwrap()
                            );
                            assert_eq!(
                                got,
                                (
                                    want.applied_minor,
                                    want.hold.map(|h| h.as_str().to_owned()),
                                    want.held_at
                                ),
                                "{backend}: {old:?} → {new} at {ppm} ppm"
                            );
                            cases += 1;
                        }
                    }
                }
            }
        }
        assert!(cases > 100, "{cases}");
    }

    #[tokio::test]
    async fn sql_agrees_with_judge_on_sqlite() {
        sql_agrees_with_judge(Backend::Sqlite).await;
    }

    #[tokio::test]
    async fn sql_agrees_with_judge_on_postgres() {
        sql_agrees_with_judge(Backend::Postgres).await;
    }
}
