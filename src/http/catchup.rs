//! Sending again, after a restart, what the log files hold and the HTTP
//! sink had not delivered: the records between its cursor and the end of
//! the log, less those waiting in its spool (those are sent from there).
//!
//! This is what makes delivery survive a crash: records that were only in
//! the sink's memory are in the files too, so a `kill -9` loses nothing the
//! files hold. It needs a signed log directory, whose `seq`s go on across
//! restarts (see `src/format.md`).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::logdir::{DEFAULT_MAX_LINE_BYTES, Lines, active_stream, collect_files, is_gzip_twin};
use crate::sink::LostRanges;

/// The stream and seq at the start of a record's line.
#[derive(serde::Deserialize)]
struct Key<'a> {
    #[serde(borrow)]
    stream: Cow<'a, str>,
    seq: u64,
}

fn key_of(line: &[u8]) -> Option<(Cow<'_, str>, u64)> {
    serde_json::from_slice::<Key<'_>>(line)
        .ok()
        .map(|k| (k.stream, k.seq))
}

/// The records of the spool files a previous run left, as runs of `seq`:
/// the catch-up leaves them to the spool.
pub(super) fn spooled(files: &[PathBuf]) -> LostRanges {
    let mut runs = LostRanges::default();
    for f in files {
        let Ok(data) = std::fs::read(f) else { continue };
        for line in data.split(|&b| b == b'\n') {
            if let Some((stream, seq)) = key_of(line) {
                runs.add(&stream, seq);
            }
        }
    }
    runs
}

/// Reads one stream's records with `after < seq <= upto` from the log
/// directory, in order, skipping those in `skip`.
///
/// Its files are opened when it is made, before the pipeline writes
/// anything: the first segment of the new run rolls the active file away,
/// and an open file is still the one that was listed.
pub(super) struct Backlog {
    stream: Arc<str>,
    after: u64,
    upto: u64,
    skip: Option<Arc<LostRanges>>,
    files: VecDeque<(File, bool)>,
}

/// A [`Backlog`] being read, on the sink's thread.
pub(super) struct Reading {
    b: Backlog,
    lines: Option<Lines>,
}

impl std::fmt::Debug for Backlog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backlog")
            .field("stream", &self.stream)
            .field("after", &self.after)
            .field("upto", &self.upto)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl Backlog {
    /// Finds the files of `stream` in `dir` that may hold records after
    /// `after`.
    pub(super) fn open(dir: &Path, stream: &str, after: u64, upto: u64) -> io::Result<Backlog> {
        let mut files: Vec<(u64, PathBuf)> = collect_files(&[dir])
            .map_err(io::Error::other)?
            .into_iter()
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let plain = name.strip_suffix(".gz").unwrap_or(name);
                active_stream(plain) == Some(stream)
                    || crate::logdir::rolled_stream(plain) == Some(stream)
            })
            .filter_map(|p| first_seq(&p).map(|s| (s, p)))
            .collect();
        files.sort();
        files.dedup_by(|b, a| a.0 == b.0 && is_gzip_twin(&a.1, &b.1));
        // From the last file that starts at or before the first wanted seq.
        let from = files
            .iter()
            .rposition(|(first, _)| *first <= after + 1)
            .unwrap_or(0);
        let files = files
            .into_iter()
            .skip(from)
            .filter_map(|(_, p)| crate::logdir::open_file(&p).ok())
            .collect();
        Ok(Backlog {
            stream: Arc::from(stream),
            after,
            upto,
            skip: None,
            files,
        })
    }

    /// Starts reading.
    pub(super) fn read(self) -> Reading {
        Reading {
            b: self,
            lines: None,
        }
    }

    /// Leaves out the records in `skip` (they are in the spool).
    pub(super) fn skip(&mut self, skip: Arc<LostRanges>) {
        self.skip = Some(skip);
    }
}

impl Reading {
    /// The next record to send: its line and seq. `None` at the end.
    pub(super) fn next_record(&mut self) -> Option<(Vec<u8>, u64)> {
        let b = &mut self.b;
        loop {
            if b.after >= b.upto {
                return None;
            }
            if self.lines.is_none() {
                let (file, gzip) = b.files.pop_front()?;
                let src = crate::logdir::reader(file, gzip);
                self.lines = Some(Lines::new(src, DEFAULT_MAX_LINE_BYTES));
            }
            let lines = self.lines.as_mut().expect("opened above");
            let line = match lines.next_line() {
                Ok(Some(l)) if l.complete && !l.too_long => l.bytes.to_vec(),
                Ok(Some(_)) => continue,
                Ok(None) | Err(_) => {
                    self.lines = None;
                    continue;
                }
            };
            let Some((stream, seq)) = key_of(&line) else {
                continue;
            };
            // Increasing seqs only: a file present twice (mid-compression)
            // is read once.
            if *stream != *b.stream || seq <= b.after || seq > b.upto {
                continue;
            }
            b.after = seq;
            if b.skip.as_ref().is_some_and(|s| s.contains(&b.stream, seq)) {
                continue;
            }
            return Some((line, seq));
        }
    }

    pub(super) fn stream(&self) -> &Arc<str> {
        &self.b.stream
    }
}

/// The `seq` of a file's first record.
fn first_seq(path: &Path) -> Option<u64> {
    let mut lines = Lines::new(crate::logdir::open(path).ok()?, DEFAULT_MAX_LINE_BYTES);
    loop {
        let line = lines.next_line().ok()??;
        if let Some((_, seq)) = key_of(line.bytes) {
            return Some(seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn line(stream: &str, seq: u64) -> String {
        format!("{{\"v\":1,\"stream\":\"{stream}\",\"seq\":{seq},\"msg\":\"m\"}}\n")
    }

    fn write(dir: &Path, name: &str, stream: &str, seqs: std::ops::RangeInclusive<u64>) {
        let text: String = seqs.map(|s| line(stream, s)).collect();
        fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn the_backlog_is_the_files_after_the_cursor_less_the_spool() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "app.2026-01-01T00-00-00Z.0.log", "app", 1..=10);
        write(dir.path(), "app.2026-01-01T01-00-00Z.0.log", "app", 11..=20);
        write(dir.path(), "app.log", "app", 21..=30);
        write(dir.path(), "audit.log", "audit", 1..=30);
        let mut skip = LostRanges::default();
        for s in 16..=18 {
            skip.add("app", s);
        }
        let mut b = Backlog::open(dir.path(), "app", 12, 25).unwrap();
        b.skip(Arc::new(skip));
        assert_eq!(b.files.len(), 2, "the first file ends before the cursor");
        let mut b = b.read();
        let mut got = Vec::new();
        while let Some((l, seq)) = b.next_record() {
            assert_eq!(String::from_utf8(l).unwrap() + "\n", line("app", seq));
            got.push(seq);
        }
        assert_eq!(got, [13, 14, 15, 19, 20, 21, 22, 23, 24, 25]);
    }
}
