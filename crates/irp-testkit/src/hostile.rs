//! A remote server that misbehaves the way a hostile or misconfigured one would — redirects
//! elsewhere, gzip bombs — and records every request it gets, so a test can tell which
//! credentials reached it.

#![allow(clippy::unwrap_used, clippy::missing_panics_doc)] // test support: a panic is how a test fails

use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use flate2::Compression;
use flate2::write::GzEncoder;
use std::io::Write as _;

/// A request as the server got it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `POST`…
    pub method: String,
    /// The path with its query string.
    pub target: String,
    /// Every header, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body (lossy UTF-8).
    pub body: String,
}

impl Seen {
    /// Whether `text` is anywhere in the request: target, a header name or value, the body.
    pub fn contains(&self, text: &str) -> bool {
        self.target.contains(text)
            || self.body.contains(text)
            || self
                .headers
                .iter()
                .any(|(n, v)| n.contains(text) || v.contains(text))
    }
}

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Answer {
    /// A status with a JSON body.
    Json(u16, String),
    /// A redirect (`301`, `302`, `307`, `308`) to `Location`.
    Redirect(u16, String),
    /// A status and `total` zero bytes gzip-compressed (`Content-Encoding: gzip`), made as
    /// they are sent, never held whole: 1 GiB is about 1 MB on the wire.
    GzipBomb(u16, u64),
    /// A `200` JSON body of which the first half is sent at once and the rest once `release`
    /// is notified (`notify_one`): a download that is under way for as long as the test wants.
    Stalled(String, Arc<tokio::sync::Notify>),
}

type Answering = dyn Fn(&Seen) -> Answer + Send + Sync;

/// A running server on a free loopback port, in a thread and runtime of its own (a test may
/// block its own runtime while IRP talks to it); stopped when dropped.
pub struct Hostile {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Hostile {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// `total` zero bytes gzip-compressed, made chunk by chunk as the body is sent.
pub fn gzip_bomb(total: u64) -> Body {
    const STEP: usize = 1 << 20;
    let zeros = vec![0u8; STEP];
    let encoder = GzEncoder::new(Vec::new(), Compression::default());
    let stream = futures_util::stream::unfold(
        (Some(encoder), total, zeros),
        |(encoder, left, zeros)| async move {
            let mut encoder = encoder?;
            if left == 0 {
                let tail = encoder.finish().unwrap();
                return Some((Ok::<_, std::io::Error>(tail), (None, 0, zeros)));
            }
            let n = usize::try_from(left.min(STEP as u64)).unwrap();
            encoder.write_all(&zeros[..n]).unwrap();
            let chunk = std::mem::take(encoder.get_mut());
            Some((Ok(chunk), (Some(encoder), left - n as u64, zeros)))
        },
    );
    Body::from_stream(stream)
}

impl Hostile {
    /// Start a server answering every request with `answer(&request)`.
    pub fn start(answer: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> Hostile {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let answer: Arc<Answering> = Arc::new(answer);
        let kept = Arc::clone(&seen);
        let app = axum::Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: axum::body::Bytes| {
                let kept = Arc::clone(&kept);
                let answer = Arc::clone(&answer);
                async move {
                    let req = Seen {
                        method: method.to_string(),
                        target: uri
                            .path_and_query()
                            .map_or_else(|| uri.path().to_owned(), ToString::to_string),
                        headers: headers
                            .iter()
                            .map(|(n, v)| {
                                (
                                    n.as_str().to_owned(),
                                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                                )
                            })
                            .collect(),
                        body: String::from_utf8_lossy(&body).into_owned(),
                    };
                    let a = answer(&req);
                    kept.lock().unwrap().push(req);
                    respond(a)
                }
            },
        );
        // Its own thread and runtime: a test may block its own runtime while IRP talks to it.
        let (port, stop) = crate::serve_on_own_thread("hostile", app);
        Hostile {
            base: format!("http://127.0.0.1:{port}"),
            seen,
            stop: Some(stop),
        }
    }

    /// The URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn respond(a: Answer) -> Response {
    let status = |s: u16| StatusCode::from_u16(s).unwrap();
    match a {
        Answer::Json(s, body) => {
            (status(s), [("content-type", "application/json")], body).into_response()
        }
        Answer::Redirect(s, to) => (status(s), [("location", to)]).into_response(),
        Answer::GzipBomb(s, total) => (
            status(s),
            [
                ("content-type", "application/json"),
                ("content-encoding", "gzip"),
            ],
            gzip_bomb(total),
        )
            .into_response(),
        Answer::Stalled(body, release) => {
            let bytes = body.into_bytes();
            let len = bytes.len().to_string();
            let half = bytes.len() / 2;
            let (first, rest) = (bytes[..half].to_vec(), bytes[half..].to_vec());
            let stream = futures_util::stream::unfold(0u8, move |step| {
                let (first, rest, release) = (first.clone(), rest.clone(), Arc::clone(&release));
                async move {
                    match step {
                        0 => Some((Ok::<_, std::io::Error>(first), 1)),
                        1 => {
                            release.notified().await;
                            Some((Ok(rest), 2))
                        }
                        _ => None,
                    }
                }
            });
            (
                StatusCode::OK,
                [
                    ("content-type", "application/json".to_owned()),
                    ("content-length", len),
                ],
                Body::from_stream(stream),
            )
                .into_response()
        }
    }
}

/// The most resident memory this process has used so far, in bytes (`VmHWM`; Linux, 0
/// elsewhere): what it grows by while a test reads a bomb is the bomb's cost.
pub fn peak_rss() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
