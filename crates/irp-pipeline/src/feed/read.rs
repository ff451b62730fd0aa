//! Reading a feed file into staged offers, compared with the stored ones as it is read; the
//! input a run reads (a local file, or one an SFTP download is still writing).

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use irp_core::config::model::OffersConfig;
use irp_core::feed::{Offer, RowError};
use irp_core::money;
use irp_core::secret_ref::Scrubber;
use irp_store::feed_write::{OfferBatch, ReadCounts};
use irp_store::offers::StagedOffer;
use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use crate::sku_index::{Seen, SkuIndex};
use crate::{FeedError, RowOutcome, read_offers};
use irp_clients::follow::Growing;

use super::fetch::Downloaded;
use super::{ImportError, MAX_STORED_ROW_ERRORS};

/// Convert an offer to its stored form (prices in minor units of its currency).
///
/// # Errors
/// A price with more decimals than the currency has.
pub fn stage(offer: Offer, row: u64) -> Result<StagedOffer, Vec<RowError>> {
    let digits = money::minor_digits(&offer.currency_iso);
    let mut errors = Vec::new();
    let mut minor = |field: &str, d: Decimal| {
        money::to_minor(d, digits).or_else(|| {
            errors.push(RowError {
                row,
                field: Some(field.to_owned()),
                value: Some(d.to_string()),
                message: format!(
                    "has more decimals than {} has ({digits})",
                    offer.currency_iso
                ),
            });
            None
        })
    };
    let p = minor("price_purchase_amount", offer.price_purchase_amount);
    let c = minor("price_consumer_amount", offer.price_consumer_amount);
    match (p, c) {
        (Some(p), Some(c)) => Ok(StagedOffer {
            sku: offer.sku,
            row_number: i64::try_from(row).unwrap_or(i64::MAX),
            ean: offer.ean,
            name: offer.name,
            stock_available: offer.stock_available,
            price_purchase_minor: p,
            price_consumer_minor: c,
            currency: offer.currency_iso,
            tax_percentage: offer.tax_percentage.map(|t| t.to_string()),
            attributes: offer.attributes,
        }),
        _ => Err(errors),
    }
}

/// What the reader found besides the batches it sent.
pub(super) struct Tally {
    pub(super) rows_read: u64,
    pub(super) rows_accepted: u64,
    pub(super) rows_rejected: u64,
    pub(super) counts: ReadCounts,
    pub(super) errors: Vec<RowError>,
    pub(super) errors_dropped: u64,
}

/// Offers per batch handed to the writer.
const BATCH: usize = 2000;

/// Read `input` on a blocking thread: map and check every row, compare it with `index` (the
/// stored offers), and send what is new or changed to `tx` in batches. Duplicate SKUs and
/// prices too precise for the currency are row errors here. Unchanged rows are only counted.
pub(super) fn read_blocking(
    offers: &OffersConfig,
    currency: &str,
    input: impl Read,
    index: &mut SkuIndex,
    tx: &tokio::sync::mpsc::Sender<OfferBatch>,
    progress: Option<crate::progress::Progress>,
) -> Result<Tally, FeedError> {
    let mut tally = Tally {
        rows_read: 0,
        rows_accepted: 0,
        rows_rejected: 0,
        counts: ReadCounts::default(),
        errors: Vec::new(),
        errors_dropped: 0,
    };
    let mut new = Vec::with_capacity(BATCH);
    let mut changed = Vec::new();
    let mut stopped: Option<FeedError> = None;
    let reject = |tally: &mut Tally, errors: Vec<RowError>| {
        tally.rows_rejected += 1;
        for e in errors {
            if tally.errors.len() < MAX_STORED_ROW_ERRORS {
                tally.errors.push(e);
            } else {
                tally.errors_dropped += 1;
            }
        }
    };
    let t_start = Instant::now();
    let blocked = std::cell::Cell::new(std::time::Duration::ZERO);
    let send = |batch: OfferBatch, stopped: &mut Option<FeedError>| {
        let t = Instant::now();
        if stopped.is_none() && tx.blocking_send(batch).is_err() {
            *stopped = Some(FeedError::Io("the import was stopped".into()));
        }
        blocked.set(blocked.get() + t.elapsed());
    };
    read_offers(offers, currency, input, &mut |o| {
        tally.rows_read += 1;
        if let Some(p) = &progress {
            p.add(1);
        }
        let (row, offer) = match o {
            RowOutcome::Rejected(errors) => return reject(&mut tally, errors),
            RowOutcome::Offer { row, offer } => (row, offer),
        };
        let staged = match stage(offer, row) {
            Err(errors) => return reject(&mut tally, errors),
            Ok(s) => s,
        };
        let seen = match index.observe(&staged.sku, staged.content_hash64(), row) {
            Ok(seen) => seen,
            Err(full) => {
                stopped.get_or_insert(FeedError::Structure(full.to_string()));
                return;
            }
        };
        match seen {
            Seen::Duplicate { first_row } => {
                let sku = staged.sku;
                return reject(
                    &mut tally,
                    vec![RowError {
                        row,
                        field: Some("sku".into()),
                        value: Some(sku),
                        message: format!(
                            "SKU already seen in this feed at row {first_row}; this row is skipped"
                        ),
                    }],
                );
            }
            Seen::Unchanged => tally.counts.unchanged += 1,
            Seen::New => {
                tally.counts.new += 1;
                new.push(staged);
                if new.len() == BATCH {
                    let full = std::mem::replace(&mut new, Vec::with_capacity(BATCH));
                    send(OfferBatch::New(full), &mut stopped);
                }
            }
            Seen::Changed | Seen::Reactivated => {
                if seen == Seen::Changed {
                    tally.counts.changed += 1;
                } else {
                    tally.counts.reactivated += 1;
                }
                changed.push(staged);
                if changed.len() == BATCH {
                    send(
                        OfferBatch::Changed(std::mem::take(&mut changed)),
                        &mut stopped,
                    );
                }
            }
        }
        tally.rows_accepted += 1;
    })?;
    if let Some(e) = stopped {
        return Err(e);
    }
    let mut stopped = None;
    for batch in [OfferBatch::New(new), OfferBatch::Changed(changed)] {
        if !batch.is_empty() {
            send(batch, &mut stopped);
        }
    }
    tracing::debug!(
        total_ms = t_start.elapsed().as_millis(),
        blocked_ms = blocked.get().as_millis(),
        "Reader done"
    );
    match stopped {
        Some(e) => Err(e),
        None => Ok(tally),
    }
}

pub(super) fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut input = Hashing::new(std::fs::File::open(path)?, true);
    std::io::copy(&mut input, &mut std::io::sink())?;
    Ok(input.finish())
}

type DownloadTask =
    tokio::task::JoinHandle<Result<Result<Downloaded, irp_clients::FetchFailure>, ImportError>>;

/// Where a run's feed comes from.
pub(super) enum Input {
    /// A complete local file.
    File,
    /// A file an SFTP download is still writing.
    Growing {
        /// How far it is.
        growing: Arc<Growing>,
        /// The download; the run applies nothing unless it succeeds.
        download: DownloadTask,
        /// Hides the connector's credentials in the download's messages.
        scrubber: Scrubber,
    },
}

/// Counts what is read through it, and hashes it (SHA-256) when asked to.
pub(super) struct Hashing<R> {
    inner: R,
    hash: Option<Sha256>,
    bytes: u64,
}

impl<R> Hashing<R> {
    pub(super) fn new(inner: R, hash: bool) -> Self {
        Hashing {
            inner,
            hash: hash.then(Sha256::new),
            bytes: 0,
        }
    }

    /// The hash in hex (empty when not hashing) and the bytes read.
    pub(super) fn finish(self) -> (String, u64) {
        (
            self.hash.map(|h| hex(&h.finalize())).unwrap_or_default(),
            self.bytes,
        )
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(h) = &mut self.hash {
            h.update(&buf[..n]);
        }
        self.bytes += n as u64;
        Ok(n)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The hash a run is recognised by: the feed's bytes and the connector config it was read
/// with (the same bytes read with another mapping or locale are another feed).
pub(super) fn run_hash(file_hash: &str, offers: &OffersConfig) -> String {
    let mut h = Sha256::new();
    h.update(file_hash.as_bytes());
    h.update(serde_json::to_vec(offers).unwrap_or_default());
    hex(&h.finalize())
}
