//! IRP's clients of the outside world. Offer feeds first: a source fetches a refurbisher's feed
//! into a local file, so the pipeline can read it as a stream (and hash it to recognise an
//! unchanged feed), and records how the fetch went: HTTP status, bytes, duration, attempts.
//!
//! Today: `web` (GET) and `web_post` (POST of `body`), with every auth kind, pagination of JSON
//! feeds, timeouts, a size cap, gzip, at most 3 redirects, and retries with backoff on network
//! errors, 5xx and 429 (honouring `Retry-After`). Credentials never appear in URLs that are
//! logged or in errors.
//!
//! Also the [`ergonode`] client, where product data (the PIM) comes from, and
//! [`order_call`], one call to a refurbisher's order API, and [`notify`], the alert webhook.
//!
//! Every outbound connection follows [`net`]: no private network unless
//! `IRP_ALLOW_PRIVATE_NETWORKS` allows it (checked on the resolved address), credentials never
//! follow a redirect to another origin, no redirect from https to http, and every answer is
//! read with a cap counted after decompression.

pub mod ergonode;
pub mod follow;
pub mod http;
pub mod net;
pub mod notify;
pub mod odoo;
pub mod order_call;
pub mod sftp;
pub mod shopware;

/// How a fetch went (also when it failed, as far as it got).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FetchRecord {
    /// The HTTP status of the last response, when there was one.
    pub http_status: Option<u16>,
    /// Bytes written to the file (after gzip decoding).
    pub bytes: u64,
    /// Milliseconds the fetch took.
    pub duration_ms: u64,
    /// Requests made, retries included.
    pub attempts: u32,
    /// Pages fetched.
    pub pages: u32,
}

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// The server answered with a status that is not success (after retries where retryable).
    #[error("the feed endpoint answered HTTP {status}{}", if .body.is_empty() { String::new() } else { format!(": {}", .body) })]
    Status {
        /// The status.
        status: u16,
        /// The start of the answer's body.
        body: String,
    },
    /// The feed is larger than `max_bytes` (counted after decompression).
    #[error("the feed is larger than max_bytes ({limit} bytes after decompression)")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
    /// The fetch took longer than `timeout_secs`.
    #[error("the fetch took longer than timeout_secs ({0} s)")]
    Timeout(u64),
    /// The server sent nothing for `read_timeout_secs`.
    #[error("the feed server sent nothing for read_timeout_secs ({0} s): the download stalled")]
    Stalled(u64),
    /// The network failed (after retries).
    #[error("{0}")]
    Network(String),
    /// Pagination went wrong (cap reached, a page not in the expected shape).
    #[error("{0}")]
    Pagination(String),
    /// The connector cannot be fetched this way.
    #[error("{0}")]
    Unsupported(String),
    /// Writing the local file failed.
    #[error("writing the downloaded feed failed: {0}")]
    Io(String),
}

/// A failed fetch: why, and what was recorded up to the failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}")]
pub struct FetchFailure {
    /// Why.
    pub error: FetchError,
    /// As far as it got.
    pub record: FetchRecord,
}
