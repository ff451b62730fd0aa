//! Reading a file while a download is still writing it: the download announces each chunk it
//! has written with [`Growing::advance`] and how it ended with [`Growing::finish`]; a
//! [`FollowReader`] hands out the bytes written so far and waits for more, so that a feed is
//! parsed while it arrives, and the file stays behind as the run's copy of the feed.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

#[derive(Debug, Default)]
struct State {
    written: u64,
    done: Option<bool>,
}

/// How far a download has written its file.
#[derive(Debug, Default)]
pub struct Growing {
    state: Mutex<State>,
    changed: Condvar,
}

impl Growing {
    /// A download that has written nothing yet.
    pub fn new() -> Arc<Growing> {
        Arc::new(Growing::default())
    }

    /// `n` more bytes are in the file (written and flushed).
    pub fn advance(&self, n: u64) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.written += n;
        self.changed.notify_all();
    }

    /// The download ended: completely (`ok`), or not (a reader then gets an error).
    pub fn finish(&self, ok: bool) {
        let mut s = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        s.done.get_or_insert(ok);
        self.changed.notify_all();
    }
}

/// Marks the download finished (failed, unless marked before) when dropped, so that a reader
/// never waits for a download that is gone.
#[derive(Debug)]
pub struct FinishOnDrop(pub Arc<Growing>);

impl Drop for FinishOnDrop {
    fn drop(&mut self) {
        self.0.finish(false);
    }
}

/// Reads a file up to where its download has written it, waiting for more until it is done.
#[derive(Debug)]
pub struct FollowReader {
    file: std::fs::File,
    pos: u64,
    growing: Arc<Growing>,
}

impl FollowReader {
    /// Follow `path` (created already) as `growing` says it grows.
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn open(path: &Path, growing: Arc<Growing>) -> std::io::Result<FollowReader> {
        Ok(FollowReader {
            file: std::fs::File::open(path)?,
            pos: 0,
            growing,
        })
    }
}

impl Read for FollowReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = {
            let mut s = self
                .growing
                .state
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            loop {
                if s.written > self.pos {
                    break s.written - self.pos;
                }
                match s.done {
                    Some(true) => return Ok(0),
                    Some(false) => {
                        return Err(std::io::Error::other("the download of the feed failed"));
                    }
                    None => {
                        s = self
                            .growing
                            .changed
                            .wait(s)
                            .unwrap_or_else(PoisonError::into_inner);
                    }
                }
            }
        };
        let want = usize::try_from(available)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        self.file.seek(SeekFrom::Start(self.pos))?;
        let n = self.file.read(&mut buf[..want])?;
        self.pos += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    #[test]
    fn a_reader_follows_a_growing_file_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed");
        let mut f = std::fs::File::create(&path).unwrap();
        let growing = Growing::new();
        let mut reader = FollowReader::open(&path, Arc::clone(&growing)).unwrap();
        let writer = std::thread::spawn({
            let growing = Arc::clone(&growing);
            move || {
                for i in 0..100u32 {
                    let chunk = format!("line {i}\n");
                    f.write_all(chunk.as_bytes()).unwrap();
                    f.flush().unwrap();
                    growing.advance(chunk.len() as u64);
                }
                growing.finish(true);
            }
        });
        let mut text = String::new();
        reader.read_to_string(&mut text).unwrap();
        writer.join().unwrap();
        assert_eq!(text.lines().count(), 100);
        assert!(text.ends_with("line 99\n"));
    }

    #[test]
    fn a_failed_download_is_an_error_for_the_reader() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("feed");
        std::fs::write(&path, b"abc").unwrap();
        let growing = Growing::new();
        growing.advance(3);
        let mut reader = FollowReader::open(&path, Arc::clone(&growing)).unwrap();
        drop(FinishOnDrop(Arc::clone(&growing)));
        let mut text = String::new();
        let err = reader.read_to_string(&mut text).unwrap_err();
        assert_eq!(err.to_string(), "the download of the feed failed");
        assert_eq!(text, "abc", "what was written is read first");
    }
}
