use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{Batch, Sink, SinkError};
use crate::error::{Error, ErrorKind};

/// Appends each stream's records to `DIR/<stream>.log`.
///
/// This is the plain file output: one file per stream, appended to, never
/// rotated. Lines are written whole: when a write fails part-way (a full
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
            let run_end = entries[i..]
                .iter()
                .position(|e| e.stream() != stream)
                .map_or(entries.len(), |n| i + n);
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
