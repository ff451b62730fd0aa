//! CSV feeds: `separator`, `heading`, quoted fields (separators, quotes and newlines inside),
//! CRLF, a UTF-8 BOM, and `encoding`. Row numbers are the line where the record starts.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::rc::Rc;

use irp_core::config::model::OffersConfig;
use irp_core::feed::{OfferMapper, Resolve, RowError};

use super::{decoded, outcome};
use crate::{FeedError, RowOutcome};

/// Remembers where each non-blank line starts, and its number, in the bytes the CSV parser
/// has read but not yet passed. The parser reports a record's start as the end of the record
/// before (which may be the `\n` of a CRLF or a blank line); the record's line is the first
/// non-blank line starting at or after that point. Quoted fields may span lines.
struct LineStarts<R> {
    inner: R,
    offset: u64,
    line: u64,
    at_line_start: bool,
    starts: Rc<RefCell<VecDeque<(u64, u64)>>>,
}

impl<R: Read> Read for LineStarts<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut starts = self.starts.borrow_mut();
        for (i, b) in buf[..n].iter().enumerate() {
            match (*b, self.at_line_start) {
                (b'\n', _) => {
                    self.line += 1;
                    self.at_line_start = true;
                }
                (b'\r', true) => {}
                (_, true) => {
                    starts.push_back((self.offset + i as u64, self.line));
                    self.at_line_start = false;
                }
                (_, false) => {}
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

fn syntax(e: &csv::Error) -> FeedError {
    let location = e.position().map_or_else(
        || "an unknown place".to_owned(),
        |p| format!("line {}", p.line()),
    );
    match e.kind() {
        csv::ErrorKind::Io(io) => FeedError::Io(io.to_string()),
        _ => FeedError::Syntax {
            format: "CSV",
            location,
            message: e.to_string(),
        },
    }
}

/// Read a CSV feed.
///
/// # Errors
/// The heading row lacks a mapped column, or the input cannot be read.
pub fn read(
    offers: &OffersConfig,
    currency: &str,
    input: impl Read,
    each: &mut dyn FnMut(RowOutcome),
) -> Result<(), FeedError> {
    let starts = Rc::new(RefCell::new(VecDeque::new()));
    let separator = offers.separator.unwrap_or(',');
    let delimiter = u8::try_from(separator).map_err(|_| {
        FeedError::Structure(format!(
            "separator {separator:?} is not a single-byte character"
        ))
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(LineStarts {
            inner: decoded(offers.encoding.as_deref(), input)?,
            offset: 0,
            line: 1,
            at_line_start: true,
            starts: Rc::clone(&starts),
        });
    let mut record = csv::ByteRecord::new();
    let heading = offers.heading.unwrap_or(true);
    let mapper = if heading {
        if !reader
            .read_byte_record(&mut record)
            .map_err(|e| syntax(&e))?
        {
            // An empty file: no heading, no rows.
            return Ok(());
        }
        let names: Vec<String> = record
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_owned())
            .collect();
        OfferMapper::new(offers, currency, Resolve::Heading(&names))
            .map_err(|e| FeedError::Mapping(e.0))?
    } else {
        OfferMapper::new(offers, currency, Resolve::Numbers).map_err(|e| FeedError::Mapping(e.0))?
    };
    let mut fields: Vec<String> = Vec::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) if matches!(e.kind(), csv::ErrorKind::Io(_)) => return Err(syntax(&e)),
            Err(e) => return Err(syntax(&e)),
        }
        let after = record.position().map_or(0, csv::Position::byte);
        let line = {
            let mut starts = starts.borrow_mut();
            while starts.front().is_some_and(|&(at, _)| at < after) {
                starts.pop_front();
            }
            starts.pop_front().map_or(0, |(_, line)| line)
        };
        if record.iter().all(<[u8]>::is_empty) {
            continue; // a blank line
        }
        fields.clear();
        let mut bad_utf8 = None;
        for (i, f) in record.iter().enumerate() {
            match std::str::from_utf8(f) {
                Ok(s) => fields.push(s.to_owned()),
                Err(_) => {
                    bad_utf8.get_or_insert(i + 1);
                    fields.push(String::from_utf8_lossy(f).into_owned());
                }
            }
        }
        if let Some(col) = bad_utf8 {
            each(RowOutcome::Rejected(vec![RowError {
                row: line,
                field: None,
                value: Some(fields[col - 1].clone()),
                message: format!(
                    "column {col} is not valid UTF-8; if the file is in another encoding, set `encoding` (e.g. \"windows-1252\")"
                ),
            }]));
            continue;
        }
        each(outcome(&mapper, fields.as_slice(), line));
    }
}
