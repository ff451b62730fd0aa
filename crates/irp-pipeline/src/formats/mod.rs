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
