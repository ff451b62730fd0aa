//! CSV feeds: `separator`, `heading`, quoted fields (separators, quotes and newlines inside),
//! CRLF, a UTF-8 BOM, and `encoding`. Row numbers are the line where the record starts.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::io::Read;
use std::rc::Rc;

use irp_core::config::model::OffersConfig;
use irp_core::feed::{Cell, OfferMapper, Record, Resolve, RowError, Source};

use super::{Capped, RecordCap, decoded, outcome};
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
        let bytes = &buf[..n];
        let mut starts = self.starts.borrow_mut();
        let mut i = 0;
        while i < n {
            if self.at_line_start {
                match bytes[i] {
                    b'\n' => {
                        self.line += 1;
                        i += 1;
                        continue;
                    }
                    b'\r' => {
                        i += 1;
                        continue;
                    }
                    _ => {
                        starts.push_back((self.offset + i as u64, self.line));
                        self.at_line_start = false;
                    }
                }
            }
            match memchr::memchr(b'\n', &bytes[i..]) {
                Some(p) => {
                    i += p + 1;
                    self.line += 1;
                    self.at_line_start = true;
                }
                None => break,
            }
        }
        self.offset += n as u64;
        Ok(n)
    }
}

/// A CSV record whose fields are all valid UTF-8, read without copying them.
struct CsvRow<'a>(&'a csv::ByteRecord);

impl Record for CsvRow<'_> {
    fn get(&self, source: &Source) -> Option<Cell<'_>> {
        match source {
            Source::Column(i) => self
                .0
                .get(*i)
                .map(|f| Cell::Text(String::from_utf8_lossy(f))),
            Source::Path(_) => None,
        }
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
    let cap = RecordCap::new(offers);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(LineStarts {
            inner: Capped::new(decoded(offers.encoding.as_deref(), input)?, &cap),
            offset: 0,
            line: 1,
            at_line_start: true,
            starts: Rc::clone(&starts),
        });
    let mut record = csv::ByteRecord::new();
    let heading = offers.heading.unwrap_or(true);
    let mapper = if heading {
        cap.begin();
        if !reader
            .read_byte_record(&mut record)
            .map_err(|e| cap.error().unwrap_or_else(|| syntax(&e)))?
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
    loop {
        cap.begin();
        match reader.read_byte_record(&mut record) {
            Ok(false) => return Ok(()),
            Ok(true) => {}
            Err(e) => return Err(cap.error().unwrap_or_else(|| syntax(&e))),
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
        if let Some(col) = record.iter().position(|f| std::str::from_utf8(f).is_err()) {
            let raw = String::from_utf8_lossy(&record[col]).into_owned();
            each(RowOutcome::Rejected(vec![RowError {
                row: line,
                field: None,
                value: Some(raw),
                message: format!(
                    "column {} is not valid UTF-8; if the file is in another encoding, set `encoding` (e.g. \"windows-1252\")",
                    col + 1
                ),
            }]));
            continue;
        }
        each(outcome(&mapper, &CsvRow(&record), line));
    }
}
