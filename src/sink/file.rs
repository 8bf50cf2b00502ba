use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Batch, Sink, SinkError};
use crate::error::{Error, ErrorKind};

/// Appends each stream's records to `DIR/<stream>.log`.
///
/// One file per stream segment: when a record starts a new segment (see
/// [`Entry::starts_segment`](crate::Entry::starts_segment)), the active
/// file, if it holds anything, is renamed to
/// `<stream>.<UTC time>.<counter>.log` (for example
/// `app.2026-11-22T10-00-00Z.0003.log`; names sort in the order the files
/// were rolled) and a new active file begins. Unsigned pipelines have no
/// segments and append to one file. Lines are written whole: when a write fails part-way (a full
/// disk), the torn tail is cut off again, the entries already complete
/// count as written, and the rest is retried by the worker.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let sink = evtrail::FileSink::new(dir.path().join("logs"))?;
/// assert!(dir.path().join("logs").is_dir());
/// # let _ = sink;
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Debug)]
pub struct FileSink {
    dir: PathBuf,
    files: Vec<(Arc<str>, File)>,
    scratch: Vec<u8>,
}

impl FileSink {
    /// Opens (creating it if needed) a log directory.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the directory cannot be created or is not
    /// writable.
    pub fn new(dir: impl AsRef<Path>) -> Result<FileSink, Error> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| {
            Error::with_source(
                ErrorKind::Io,
                format!("cannot create log directory `{}`", dir.display()),
                e,
            )
        })?;
        // Probe now, so an unwritable directory fails at build time rather
        // than at the first event.
        let probe = dir.join(format!(".evtrail-probe-{}", std::process::id()));
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&probe)
            .map_err(|e| {
                Error::with_source(
                    ErrorKind::Io,
                    format!("log directory `{}` is not writable", dir.display()),
                    e,
                )
            })?;
        let _ = fs::remove_file(&probe);
        Ok(FileSink {
            dir,
            files: Vec::new(),
            scratch: Vec::new(),
        })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&mut self, stream: &str) -> io::Result<&mut File> {
        let i = match self.files.iter().position(|(s, _)| &**s == stream) {
            Some(i) => i,
            None => {
                let f = OpenOptions::new()
                    .append(true)
                    .create(true)
                    .open(self.dir.join(format!("{stream}.log")))?;
                self.files.push((Arc::from(stream), f));
                self.files.len() - 1
            }
        };
        Ok(&mut self.files[i].1)
    }
}

impl FileSink {
    /// Renames the active file of `stream` out of the way, if it holds
    /// anything, so the next segment starts a file of its own.
    fn roll(&mut self, stream: &str) -> io::Result<()> {
        self.files.retain(|(s, _)| &**s != stream);
        let active = self.dir.join(format!("{stream}.log"));
        match fs::metadata(&active) {
            Ok(m) if m.len() > 0 => {}
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        }
        let mut counter = 0;
        for entry in fs::read_dir(&self.dir)? {
            if let Some(name) = entry?.file_name().to_str()
                && let Some(rolled) = parse_rolled_name(stream, name)
            {
                counter = counter.max(rolled.counter);
            }
        }
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        fs::rename(
            &active,
            self.dir.join(rolled_name(stream, secs, counter + 1)),
        )
    }
}

/// A rolled file's name, parsed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RolledName {
    /// When it was rolled, as `YYYY-MM-DDThh-mm-ssZ`.
    pub(crate) time: String,
    pub(crate) counter: u64,
    pub(crate) gzip: bool,
}

/// The name a rolled file of `stream` gets: `<stream>.<UTC time>.<counter>.log`.
pub(crate) fn rolled_name(stream: &str, unix_secs: u64, counter: u64) -> String {
    let dt = time::OffsetDateTime::from_unix_timestamp(unix_secs as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{stream}.{:04}-{:02}-{:02}T{:02}-{:02}-{:02}Z.{counter:04}.log",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// Parses a rolled file name of `stream` (plain or `.gz`); `None` for any
/// other name, including the active file and other streams' files.
pub(crate) fn parse_rolled_name(stream: &str, name: &str) -> Option<RolledName> {
    let rest = name.strip_prefix(stream)?.strip_prefix('.')?;
    let (rest, gzip) = match rest.strip_suffix(".log.gz") {
        Some(r) => (r, true),
        None => (rest.strip_suffix(".log")?, false),
    };
    let (time, counter) = rest.split_once('.')?;
    let t = time.as_bytes();
    let shape = t.len() == 20
        && t.iter().enumerate().all(|(i, &b)| match i {
            4 | 7 | 13 | 16 => b == b'-',
            10 => b == b'T',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    if !shape || counter.is_empty() || !counter.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(RolledName {
        time: time.to_owned(),
        counter: counter.parse().ok()?,
        gzip,
    })
}

/// Writes `buf` fully, returning how many bytes got out before an error.
fn write_counted(file: &mut File, buf: &[u8]) -> Result<(), (usize, io::Error)> {
    let mut done = 0;
    while done < buf.len() {
        match file.write(&buf[done..]) {
            Ok(0) => return Err((done, io::Error::from(io::ErrorKind::WriteZero))),
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err((done, e)),
        }
    }
    Ok(())
}

impl Sink for FileSink {
    fn name(&self) -> &str {
        "file"
    }

    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let entries: Vec<_> = batch.iter().collect();
        let mut i = 0;
        while i < entries.len() {
            // One write per run of consecutive entries of the same stream.
            let stream = entries[i].stream();
            let run_end = entries[i + 1..]
                .iter()
                .position(|e| e.stream() != stream || e.starts_segment())
                .map_or(entries.len(), |n| i + 1 + n);
            if entries[i].starts_segment() {
                self.roll(stream).map_err(|e| {
                    SinkError::io(
                        format!(
                            "cannot roll `{}`",
                            self.dir.join(format!("{stream}.log")).display()
                        ),
                        e,
                    )
                    .with_accepted(i)
                })?;
            }
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            let mut ends = Vec::with_capacity(run_end - i);
            for e in &entries[i..run_end] {
                scratch.extend_from_slice(e.line());
                scratch.push(b'\n');
                ends.push(scratch.len());
            }
            let path = self.dir.join(format!("{stream}.log"));
            let result = match self.file(stream) {
                Err(e) => Err(
                    SinkError::io(format!("cannot open `{}`", path.display()), e).with_accepted(i),
                ),
                Ok(file) => match write_counted(file, &scratch) {
                    Ok(()) => Ok(()),
                    Err((done, err)) => {
                        let whole = ends.iter().take_while(|&&end| end <= done).count();
                        let torn = done - if whole == 0 { 0 } else { ends[whole - 1] };
                        if torn > 0 {
                            // Cut the torn line so the retry does not leave half a record behind.
                            if let Ok(len) = file.metadata().map(|m| m.len()) {
                                let _ = file.set_len(len - torn as u64);
                            }
                        }
                        Err(
                            SinkError::io(format!("cannot write to `{}`", path.display()), err)
                                .with_accepted(i + whole),
                        )
                    }
                },
            };
            self.scratch = scratch;
            result?;
            i = run_end;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        // Every write goes straight to the operating system; nothing is buffered here.
        Ok(())
    }

    fn close(&mut self) -> Result<(), SinkError> {
        self.files.clear();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;
    use tracing::Level;

    #[test]
    fn each_stream_gets_its_own_file_and_lines_are_whole() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path()).unwrap();
        let mut b = Batch::new();
        b.push("app", 1, Level::INFO, UNIX_EPOCH, b"{\"a\":1}");
        b.push("audit", 1, Level::INFO, UNIX_EPOCH, b"{\"b\":1}");
        b.push("app", 2, Level::INFO, UNIX_EPOCH, b"{\"a\":2}");
        sink.write(&b).unwrap();
        sink.write(&b).unwrap();
        let app = fs::read_to_string(dir.path().join("app.log")).unwrap();
        assert_eq!(app, "{\"a\":1}\n{\"a\":2}\n{\"a\":1}\n{\"a\":2}\n");
        let audit = fs::read_to_string(dir.path().join("audit.log")).unwrap();
        assert_eq!(audit, "{\"b\":1}\n{\"b\":1}\n");
    }

    #[test]
    fn rolled_names_round_trip_and_sort_in_roll_order() {
        let a = rolled_name("app", 1_795_176_000, 3);
        assert_eq!(a, "app.2026-11-20T12-00-00Z.0003.log");
        let parsed = parse_rolled_name("app", &a).unwrap();
        assert_eq!(
            (parsed.time.as_str(), parsed.counter, parsed.gzip),
            ("2026-11-20T12-00-00Z", 3, false)
        );
        assert!(parse_rolled_name("app", &format!("{a}.gz")).unwrap().gzip);
        let b = rolled_name("app", 1_795_176_000, 4);
        let c = rolled_name("app", 1_795_176_001, 5);
        assert!(a < b && b < c);
    }

    #[test]
    fn other_names_are_not_rolled_files_of_the_stream() {
        for name in [
            "app.log",
            "audit.2026-11-20T12-00-00Z.0003.log",
            "app.2026-11-20T12-00-00Z.log",
            "app.2026-11-20 12-00-00Z.0003.log",
            "app.2026-11-20T12-00-00Z.00x3.log",
            "app.2026-11-20T12-00-00Z.0003.txt",
            "apps.2026-11-20T12-00-00Z.0003.log",
        ] {
            assert_eq!(parse_rolled_name("app", name), None, "{name}");
        }
    }

    #[test]
    fn a_segment_start_rolls_the_active_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut sink = FileSink::new(dir.path()).unwrap();
        let mut b = Batch::new();
        b.push_entry(Arc::from("app"), 1, Level::INFO, 0, b"{\"a\":1}", true);
        b.push_entry(Arc::from("app"), 2, Level::INFO, 0, b"{\"a\":2}", false);
        sink.write(&b).unwrap();
        sink.write(&b).unwrap();
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(names[1], "app.log");
        assert_eq!(parse_rolled_name("app", &names[0]).unwrap().counter, 1);
        for n in &names {
            assert_eq!(
                fs::read_to_string(dir.path().join(n)).unwrap(),
                "{\"a\":1}\n{\"a\":2}\n"
            );
        }
    }

    #[test]
    fn a_missing_parent_that_cannot_be_created_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("file");
        fs::write(&blocker, b"x").unwrap();
        let err = FileSink::new(blocker.join("logs")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
        assert!(
            err.to_string().starts_with("cannot create log directory"),
            "{err}"
        );
    }
}
