//! Anchors kept elsewhere: a sink that appends every point of the chain
//! the writer vouches for (each seal, segment start and segment end) to a
//! file in another place — a second disk, a mounted share, another
//! machine's directory — as `STREAM:SEQ:SIG` lines, the form
//! `evtrail verify --anchors-from` reads.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Batch, Sink, SinkError};
use crate::error::{Error, ErrorKind};
use crate::marker::{SEAL, SEGMENT_END, SEGMENT_START};
use crate::sign::split_signed;

/// Appends the chain's seals to a file kept apart from the logs, so that a
/// cut tail can be proved (see [`signing`](crate::signing), "Seals and
/// anchors"). Each line is `STREAM:SEQ:SIG`; the file is synced after every
/// batch that added to it. Unsigned records are ignored.
///
/// An HTTP sink ships the seal records too, with every other record: a
/// store's copy of them serves as anchors as well
/// ([`anchors_from_text`](crate::verify::anchors_from_text) reads records).
///
/// # Examples
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let tmp = tempfile::tempdir().unwrap();
/// let anchors = tmp.path().join("elsewhere/anchors.txt");
/// let (layer, guard) = evtrail::builder()
///     .service("demo")
///     .key(evtrail::Key::generate()?)
///     .log_dir(tmp.path().join("logs"))
///     .add_sink(evtrail::AnchorSink::new(&anchors)?)
///     .build()?;
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::info!("hello");
/// });
/// drop(guard);
/// let text = std::fs::read_to_string(&anchors).unwrap();
/// assert!(text.lines().any(|l| l.starts_with("app:3:")), "{text}"); // the segment end
/// # Ok::<(), evtrail::Error>(())
/// ```
#[derive(Debug)]
pub struct AnchorSink {
    path: PathBuf,
    file: File,
    buf: Vec<u8>,
}

impl AnchorSink {
    /// Appends to `path`, creating it and its directory if needed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the directory cannot be created or the file
    /// cannot be opened for appending.
    pub fn new(path: impl AsRef<Path>) -> Result<AnchorSink, Error> {
        let path = path.as_ref().to_path_buf();
        let io = |e| {
            Error::with_source(
                ErrorKind::Io,
                format!("cannot open anchors file `{}`", path.display()),
                e,
            )
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io)?;
        Ok(AnchorSink {
            path,
            file,
            buf: Vec::new(),
        })
    }

    /// The file anchors are appended to.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Whether a line is one of the chain points the writer vouches for.
fn is_chain_point(line: &[u8]) -> bool {
    memchr::memmem::find(line, br#""target":"evtrail""#).is_some()
        && [SEAL, SEGMENT_START, SEGMENT_END].iter().any(|name| {
            memchr::memmem::find(line, format!(r#""event":"{name}""#).as_bytes()).is_some()
        })
}

impl Sink for AnchorSink {
    fn name(&self) -> &str {
        "anchors"
    }

    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        self.buf.clear();
        for entry in batch.iter() {
            let line = entry.line();
            if let Some((_, sig)) = split_signed(line)
                && is_chain_point(line)
            {
                self.buf.extend_from_slice(entry.stream().as_bytes());
                self.buf
                    .extend_from_slice(format!(":{}:", entry.seq()).as_bytes());
                self.buf.extend_from_slice(sig);
                self.buf.push(b'\n');
            }
        }
        if self.buf.is_empty() {
            return Ok(());
        }
        let err = |e| SinkError::io(format!("cannot append to `{}`", self.path.display()), e);
        self.file.write_all(&self.buf).map_err(err)?;
        self.file.sync_data().map_err(err)
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}
