//! Opening a log file for a search, and telling how far the search got:
//! every byte read from disk is counted, so a long search can show its
//! progress (gzip files count their compressed bytes).

use std::fmt;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a search calls as it reads: bytes read so far, and in all.
#[derive(Clone)]
pub(crate) struct OnProgress(pub(crate) Arc<dyn Fn(u64, u64) + Send + Sync>);

impl fmt::Debug for OnProgress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OnProgress")
    }
}

/// One search's progress: shared by the threads that read its files.
#[derive(Debug)]
pub(crate) struct Progress {
    done: AtomicU64,
    total: u64,
    report: OnProgress,
}

impl Progress {
    /// Progress over files of `total` bytes, reported to `report`.
    pub(crate) fn new(total: u64, report: OnProgress) -> Arc<Progress> {
        Arc::new(Progress {
            done: AtomicU64::new(0),
            total,
            report,
        })
    }

    fn add(&self, n: u64) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        (self.report.0)(done, self.total);
    }
}

/// A file that counts what is read from it.
struct Counted {
    file: File,
    progress: Option<Arc<Progress>>,
}

impl Read for Counted {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.file.read(buf)?;
        if let Some(p) = &self.progress {
            p.add(n as u64);
        }
        Ok(n)
    }
}

/// Opens a log file, decompressing it when it is gzip (by its magic
/// bytes, whatever its name), counting the bytes read for `progress`.
pub(crate) fn open(path: &Path, progress: Option<Arc<Progress>>) -> io::Result<Box<dyn Read>> {
    let (file, gzip) = crate::logdir::open_file(path)?;
    let counted = Counted { file, progress };
    Ok(if gzip {
        Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(
            256 * 1024,
            counted,
        )))
    } else {
        // The scan reads in blocks larger than any buffer would be.
        Box::new(counted)
    })
}
