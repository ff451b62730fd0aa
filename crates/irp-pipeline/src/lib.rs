//! IRP's offer pipeline: a feed's bytes become a stream of canonical offers and row errors.
//!
//! [`read_offers`] reads any of the three formats from a `Read` (a file the transport
//! downloaded, an upload), row by row, without holding the feed in memory, and hands each
//! outcome to a callback. A problem with one record is a [`RowError`] and the read goes on; a
//! problem with the feed as a whole (not JSON at all, `offer_location` missing, a heading row
//! without the mapped columns, a truncated file) is a [`FeedError`] and the run fails.

pub mod catalog;
pub mod channel;
pub mod erp;
pub mod feed;
pub mod feed_root;
pub mod formats;
pub mod fuzzing;
pub mod lease;
pub mod monitor;
pub mod orders;
pub mod pim;
pub mod poller;
pub mod progress;
pub mod shipments;
pub mod sku_index;

use irp_core::config::model::{Format, OffersConfig};
use irp_core::feed::{Offer, RowError};

/// One record's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// The record became an offer.
    Offer {
        /// Row (CSV: line) number of the record.
        row: u64,
        /// The offer.
        offer: Offer,
    },
    /// The record was rejected; the errors say why.
    Rejected(Vec<RowError>),
}

/// A problem with the feed as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The bytes are not in the declared format (or end too early).
    #[error("{format} is not valid at {location}: {message}")]
    Syntax {
        /// `JSON`, `CSV`, `XML`.
        format: &'static str,
        /// Where: `line 12, column 4`, or `byte 1034`.
        location: String,
        /// The parser's message.
        message: String,
    },
    /// The offers are not where the configuration says.
    #[error("{0}")]
    Structure(String),
    /// The mapping does not fit the feed (a column missing from the heading row).
    #[error("{0}")]
    Mapping(String),
    /// Reading the input failed.
    #[error("reading the feed failed: {0}")]
    Io(String),
}

/// Counts of one read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Records read (accepted + rejected).
    pub rows_read: u64,
    /// Records that became offers.
    pub rows_accepted: u64,
    /// Records rejected.
    pub rows_rejected: u64,
}

/// Read a feed in the format `offers` declares, calling `each` for every record.
///
/// # Errors
/// A [`FeedError`] when the feed as a whole cannot be read; the records handed to `each`
/// before that must then be discarded.
pub fn read_offers(
    offers: &OffersConfig,
    currency: &str,
    input: impl std::io::Read,
    each: &mut dyn FnMut(RowOutcome),
) -> Result<ReadStats, FeedError> {
    let mut stats = ReadStats::default();
    let mut count = |o: RowOutcome| {
        stats.rows_read += 1;
        match &o {
            RowOutcome::Offer { .. } => stats.rows_accepted += 1,
            RowOutcome::Rejected(_) => stats.rows_rejected += 1,
        }
        each(o);
    };
    match offers.format {
        Format::Csv => formats::csv::read(offers, currency, input, &mut count)?,
        Format::Json => formats::json::read(offers, currency, input, &mut count)?,
        Format::Xml => formats::xml::read(offers, currency, input, &mut count)?,
    }
    Ok(stats)
}
