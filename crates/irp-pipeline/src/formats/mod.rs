//! Feed formats. Each reads a stream and emits one [`crate::RowOutcome`] per record.

pub mod csv;
pub mod json;
pub mod xml;

use std::io::Read;

use encoding_rs::Encoding;
use irp_core::feed::{OfferMapper, Record};

use crate::{FeedError, RowOutcome};

/// Wrap `input` so that it yields UTF-8: for `utf-8` the bytes pass unchanged (minus a BOM), so
/// that invalid bytes are reported rather than silently replaced; other encodings
/// (`windows-1252`, …) are transcoded as they are read.
pub(crate) fn decoded<'a>(
    encoding: Option<&str>,
    input: impl Read + 'a,
) -> Result<Box<dyn Read + 'a>, FeedError> {
    let label = encoding.unwrap_or("utf-8");
    if label.eq_ignore_ascii_case("utf-8") {
        return Ok(Box::new(SkipBom::new(input)));
    }
    let enc = Encoding::for_label(label.as_bytes())
        .ok_or_else(|| FeedError::Structure(format!("unknown encoding {label:?}")))?;
    Ok(Box::new(
        encoding_rs_io::DecodeReaderBytesBuilder::new()
            .encoding(Some(enc))
            .bom_override(true)
            .strip_bom(true)
            .build(input),
    ))
}

/// Map a record and turn the result into an outcome.
pub(crate) fn outcome(
    mapper: &OfferMapper,
    record: &(impl Record + ?Sized),
    row: u64,
) -> RowOutcome {
    match mapper.map(record, row) {
        Ok(offer) => RowOutcome::Offer { row, offer },
        Err(errors) => RowOutcome::Rejected(errors),
    }
}

/// A reader that drops a leading UTF-8 byte-order mark.
pub(crate) struct SkipBom<R> {
    inner: R,
    start: Option<([u8; 3], usize, usize)>,
}

impl<R: Read> SkipBom<R> {
    pub(crate) fn new(inner: R) -> Self {
        SkipBom { inner, start: None }
    }
}

impl<R: Read> Read for SkipBom<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.start.is_none() {
            let mut head = [0u8; 3];
            let mut n = 0;
            while n < 3 {
                let m = self.inner.read(&mut head[n..])?;
                if m == 0 {
                    break;
                }
                n += m;
            }
            let skip = if n == 3 && head == [0xEF, 0xBB, 0xBF] {
                3
            } else {
                0
            };
            self.start = Some((head, skip, n));
        }
        if let Some((head, pos, len)) = &mut self.start
            && *pos < *len
        {
            let n = (*len - *pos).min(buf.len());
            buf[..n].copy_from_slice(&head[*pos..*pos + n]);
            *pos += n;
            return Ok(n);
        }
        self.inner.read(buf)
    }
}

/// Read-ahead of the readers above a [`Capped`] reader (their buffers): bytes read past a
/// record's start that may still belong to the records before it.
const READ_AHEAD: u64 = 1 << 17;

/// How far one record may grow (`max_record_bytes`): the format readers mark where a record
/// starts ([`RecordCap::begin`]); a [`Capped`] reader beneath them refuses to read further once
/// the record is larger than the cap, so a hostile feed (one endless line, one huge element)
/// fails the run instead of being read into memory.
#[derive(Debug)]
pub(crate) struct RecordCap {
    cap: u64,
    read: std::cell::Cell<u64>,
    start: std::cell::Cell<Option<u64>>,
    tripped: std::cell::Cell<Option<u64>>,
}

impl RecordCap {
    pub(crate) fn new(offers: &irp_core::config::model::OffersConfig) -> std::rc::Rc<RecordCap> {
        std::rc::Rc::new(RecordCap {
            cap: u64::try_from(offers.max_record_bytes).unwrap_or(u64::MAX),
            read: std::cell::Cell::new(0),
            start: std::cell::Cell::new(None),
            tripped: std::cell::Cell::new(None),
        })
    }

    /// A record (or, outside records, the next item) starts here.
    pub(crate) fn begin(&self) {
        self.start.set(Some(self.read.get()));
    }

    /// No record is being read: nothing is capped until the next [`RecordCap::begin`].
    pub(crate) fn end(&self) {
        self.start.set(None);
    }

    /// The run's error when the cap stopped the read, naming where the record started.
    pub(crate) fn error(&self) -> Option<FeedError> {
        self.tripped.get().map(|at| {
            FeedError::Structure(format!(
                "a record starting near byte {at} is larger than {} bytes (max_record_bytes); the feed is refused rather than read into memory",
                self.cap
            ))
        })
    }

    fn check(&self) -> std::io::Result<()> {
        if let Some(s) = self.start.get()
            && self.read.get().saturating_sub(s) > self.cap.saturating_add(READ_AHEAD)
        {
            self.tripped.set(Some(s));
            return Err(std::io::Error::other(format!(
                "a record is larger than {} bytes (max_record_bytes)",
                self.cap
            )));
        }
        Ok(())
    }
}

/// A reader counting what it passes on for a [`RecordCap`].
pub(crate) struct Capped<R> {
    inner: R,
    cap: std::rc::Rc<RecordCap>,
}

impl<R> Capped<R> {
    pub(crate) fn new(inner: R, cap: &std::rc::Rc<RecordCap>) -> Capped<R> {
        Capped {
            inner,
            cap: std::rc::Rc::clone(cap),
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.cap.check()?;
        let n = self.inner.read(buf)?;
        self.cap.read.set(self.cap.read.get() + n as u64);
        Ok(n)
    }
}
