//! Reading logs back: every record of a stream, in order, across the active
//! and rolled files, plain or gzip; and the names the rolled files have.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind};
use crate::logdir::{
    DEFAULT_MAX_LINE_BYTES, Lines, collect_files, is_gzip_twin, open, rolled_name,
};

/// Iterates over the records of one stream in a log directory, in `seq`
/// order: the rolled files (plain or gzip) and the active file, ordered by
/// the records they hold, not by name or time. Each item is one record's
/// line, as written (without the newline).
///
/// It reads; it does not verify (see [`verify`](crate::verify)). An
/// unfinished last line (a writer that is writing, or crashed) is skipped.
///
/// # Examples
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let dir = tempfile::tempdir().unwrap();
/// let (layer, guard) = evtrail::builder().service("demo").unsigned().log_dir(dir.path()).build()?;
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::info!("one");
///     tracing::info!("two");
/// });
/// drop(guard);
///
/// let lines: Vec<String> = evtrail::read::LogReader::open(dir.path(), "app")?.collect::<Result<_, _>>()?;
/// assert_eq!(lines.len(), 2);
/// assert!(lines[1].contains(r#""msg":"two""#));
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Debug)]
pub struct LogReader {
    files: VecDeque<PathBuf>,
    current: Option<(PathBuf, LinesDebug)>,
}

/// `Lines` holds a boxed reader, which has no `Debug`.
struct LinesDebug(Lines);

impl std::fmt::Debug for LinesDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lines")
    }
}

impl LogReader {
    /// The records of `stream` in `dir`.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the directory cannot be listed.
    pub fn open(dir: impl AsRef<Path>, stream: &str) -> Result<LogReader, Error> {
        let mut infos: Vec<(u64, PathBuf)> = collect_files(&[dir.as_ref()])?
            .into_iter()
            .filter_map(|p| {
                probe(&p)
                    .filter(|(s, _)| s == stream)
                    .map(|(_, seq)| (seq, p))
            })
            .collect();
        infos.sort();
        // A file caught mid-compression is there twice: read one copy.
        infos.dedup_by(|b, a| a.0 == b.0 && is_gzip_twin(&a.1, &b.1));
        Ok(LogReader {
            files: infos.into_iter().map(|(_, p)| p).collect(),
            current: None,
        })
    }

    /// The streams that have files in `dir`, by name.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the directory cannot be listed.
    pub fn streams(dir: impl AsRef<Path>) -> Result<Vec<String>, Error> {
        let mut streams: Vec<String> = collect_files(&[dir.as_ref()])?
            .into_iter()
            .filter_map(|p| probe(&p).map(|(s, _)| s))
            .collect();
        streams.sort();
        streams.dedup();
        Ok(streams)
    }

    /// The files that will be read, in order (those not yet started).
    pub fn files(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(PathBuf::as_path)
    }
}

/// The stream and first `seq` of a file: from its first record, signed or not.
fn probe(path: &Path) -> Option<(String, u64)> {
    #[derive(serde::Deserialize)]
    struct Head {
        stream: String,
        seq: u64,
    }
    let mut lines = Lines::new(open(path).ok()?, DEFAULT_MAX_LINE_BYTES);
    for _ in 0..1000 {
        let raw = lines.next_line().ok()??;
        if raw.complete
            && !raw.too_long
            && let Ok(h) = serde_json::from_slice::<Head>(raw.bytes)
        {
            return Some((h.stream, h.seq));
        }
    }
    None
}

impl Iterator for LogReader {
    type Item = Result<String, Error>;

    fn next(&mut self) -> Option<Result<String, Error>> {
        loop {
            if self.current.is_none() {
                let path = self.files.pop_front()?;
                match open(&path) {
                    Ok(src) => {
                        self.current =
                            Some((path, LinesDebug(Lines::new(src, DEFAULT_MAX_LINE_BYTES))))
                    }
                    Err(e) => {
                        let msg = format!("cannot read `{}`", path.display());
                        return Some(Err(Error::with_source(ErrorKind::Io, msg, e)));
                    }
                }
            }
            let (path, lines) = self.current.as_mut()?;
            match lines.0.next_line() {
                Ok(None) => self.current = None,
                // An unfinished last line: the writer is writing it, or stopped.
                Ok(Some(raw)) if !raw.complete || raw.bytes.is_empty() => {}
                Ok(Some(raw)) if raw.too_long => {
                    let msg = format!(
                        "line {} of `{}` is longer than {DEFAULT_MAX_LINE_BYTES} bytes",
                        raw.line,
                        path.display()
                    );
                    return Some(Err(Error::new(ErrorKind::Io, msg)));
                }
                Ok(Some(raw)) => {
                    return Some(String::from_utf8(raw.bytes.to_vec()).map_err(|e| {
                        let msg = format!("line {} of `{}` is not UTF-8", raw.line, path.display());
                        Error::with_source(ErrorKind::Io, msg, e)
                    }));
                }
                Err(e) => {
                    let msg = format!("cannot read `{}` to its end", path.display());
                    self.current = None;
                    return Some(Err(Error::with_source(ErrorKind::Io, msg, e)));
                }
            }
        }
    }
}

/// The name the file sink gives a rolled file of `stream`:
/// `<stream>.<UTC time>.<counter>.log`.
///
/// The time is when the file was rolled, `unix_secs` written in UTC as
/// `YYYY-MM-DDThh-mm-ssZ`; the counter has at least four digits.
/// Compression appends `.gz`.
///
/// # Examples
///
/// ```
/// // 2026-11-20 12:00:00 UTC, the third roll.
/// assert_eq!(
///     evtrail::read::rolled_file_name("app", 1_795_176_000, 3),
///     "app.2026-11-20T12-00-00Z.0003.log"
/// );
/// assert_eq!(
///     evtrail::read::rolled_file_name("audit", 0, 12_345),
///     "audit.1970-01-01T00-00-00Z.12345.log"
/// );
/// ```
pub fn rolled_file_name(stream: &str, unix_secs: u64, counter: u64) -> String {
    rolled_name(stream, unix_secs, counter)
}
