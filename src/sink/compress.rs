//! Gzip compression of rolled files, off the writer's path.
//!
//! The file sink rolls `DIR/<stream>.log` to `<stream>.<UTC time>.<counter>.log`;
//! this module turns such a file `X.log` into `X.log.gz` on threads of its
//! own, so a slow disk or a big file never holds up the worker that writes
//! records. Two threads where the machine has two cores or more: files
//! rolled together (several streams, or a backlog at start) are compressed
//! side by side, and the last file of a run is not left to one core alone
//! while the application waits for it at shutdown.
//!
//! Each file is compressed crash-safely: `X.log` → `X.log.gz.tmp`, synced,
//! renamed to `X.log.gz`, the directory synced, and only then `X.log`
//! deleted. Whatever state a crash leaves, [`recover`] settles it at the
//! next start without losing or duplicating data, and lists the rolled files
//! still to compress.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use flate2::Compression;
use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;

use super::finishing::finishing_lock;
use crate::error::{Error, ErrorKind};
use crate::logdir::{gzip_path, gzip_tmp_path, is_rolled, strip_gzip, strip_gzip_tmp};

/// Read and write buffer size: big enough that a multi-megabyte file takes
/// few system calls, small enough that files are streamed, never held whole.
const BUF_SIZE: usize = 256 * 1024;

/// The highest level flate2 documents; higher values are clamped to it so a
/// configuration typo cannot reach the compressor backend.
const MAX_LEVEL: u32 = 9;

/// The compression threads' name, so they are recognisable in debuggers and
/// thread listings.
const THREAD_NAME: &str = "evtrail-compress";

/// At most this many compression threads, however many cores: each holds a
/// compressor's state (about a megabyte at level 9) and, being niced, only
/// uses what the application leaves idle.
const MAX_THREADS: usize = 2;

/// How much lower than the application's the compression thread's CPU
/// priority is (a nice increment, on Linux): compression can wait, the
/// application's threads should not wait for it.
const NICE_INCREMENT: i32 = 10;

/// How long a shutdown whose wait ran out gives the file in hand to be
/// abandoned: the thread checks between 256 KiB reads, so it normally takes
/// milliseconds; only a stalled disk makes the thread outlive it.
const ABANDON_WAIT: Duration = Duration::from_secs(1);

/// What became of one submitted file, for the caller to turn into log
/// records and stats (the compressor itself never prints).
#[derive(Debug)]
pub(crate) enum CompressEvent {
    /// `from` was replaced by `to` (`from` plus `.gz`).
    // Its figures are for stats the file sink does not publish yet.
    #[allow(dead_code)]
    Compressed {
        /// The rolled file, now deleted.
        from: PathBuf,
        /// The compressed file.
        to: PathBuf,
        /// Size of the original.
        bytes_in: u64,
        /// Size of the `.gz`.
        bytes_out: u64,
        /// Time spent on the file, for stats.
        elapsed: Duration,
    },
    /// The file could not be compressed; it is left as it was (or, if only
    /// the final delete failed, a complete `.gz` sits beside it, which
    /// [`recover`] resolves at the next start).
    Failed {
        /// The file that was submitted.
        path: PathBuf,
        /// What went wrong, with the step and file it happened on.
        error: String,
    },
}

/// A background compressor for rolled files.
///
/// Work arrives through a bounded queue so the writer never waits: when the
/// queue is full, [`submit`](Self::submit) says so and the file simply stays
/// uncompressed until the next sweep or [`recover`] picks it up again.
#[derive(Debug)]
pub(crate) struct Compressor {
    /// The queue to the thread; `None` once shut down, so later submissions
    /// are refused instead of queued for a thread that is gone.
    tx: Option<Sender<PathBuf>>,
    /// Outcomes from the thread, drained by the caller at its own pace.
    events: Receiver<CompressEvent>,
    /// Files queued or in progress: answers [`pending`](Self::pending) and
    /// keeps a file that a sweep lists again from being queued twice.
    pending: Arc<Mutex<HashSet<PathBuf>>>,
    /// Tells the thread to start no further file, when shutdown does not
    /// wait for the queue to empty.
    stop: Arc<AtomicBool>,
    /// Disconnects when every thread has ended (they never send), so
    /// shutdown can wait for them with a timeout, which `JoinHandle::join`
    /// cannot.
    done: Receiver<()>,
    /// The threads, joined when they finished in time, otherwise detached.
    handles: Vec<JoinHandle<()>>,
}

impl Compressor {
    /// Starts the compression thread.
    ///
    /// `level` is the gzip level, 0 (store) to 9 (smallest); higher values
    /// count as 9. `backlog` is how many files may wait in the queue; with 0
    /// a file is accepted only when the thread is idle and waiting for work.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the thread cannot be spawned.
    pub(crate) fn start(level: u32, backlog: usize) -> Result<Compressor, Error> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Compressor::launch(level, backlog, cores.min(MAX_THREADS), Gate::open())
    }

    /// Starts `threads` threads (at least one) with a [`Gate`]; `start`
    /// passes an open one.
    fn launch(level: u32, backlog: usize, threads: usize, gate: Gate) -> Result<Compressor, Error> {
        let (tx, rx) = crossbeam_channel::bounded(backlog);
        // Unbounded: there is at most one event per accepted file, and the
        // thread must never block on a caller that drains slowly.
        let (events_tx, events) = crossbeam_channel::unbounded();
        let (done_tx, done) = crossbeam_channel::bounded(0);
        let pending = Arc::new(Mutex::new(HashSet::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for _ in 0..threads.max(1) {
            let worker = Worker {
                rx: rx.clone(),
                events: events_tx.clone(),
                pending: Arc::clone(&pending),
                stop: Arc::clone(&stop),
                level: level.min(MAX_LEVEL),
                gate: gate.clone(),
                _done: done_tx.clone(),
            };
            let spawned = std::thread::Builder::new()
                .name(THREAD_NAME.to_owned())
                .spawn(move || worker.run());
            match spawned {
                Ok(handle) => handles.push(handle),
                // One thread is enough to go on with.
                Err(_) if !handles.is_empty() => break,
                Err(e) => {
                    return Err(Error::with_source(
                        ErrorKind::Io,
                        "cannot start the compression thread",
                        e,
                    ));
                }
            }
        }
        Ok(Compressor {
            tx: Some(tx),
            events,
            pending,
            stop,
            done,
            handles,
        })
    }

    /// Queues `path` (a rolled, uncompressed file) for compression.
    ///
    /// Returns `true` when the file is queued, now or already (a file that
    /// is queued or in progress is not queued twice). Returns `false`, at
    /// once and without blocking, when the backlog is full or the compressor
    /// has shut down; the file then stays as it is and a later sweep or
    /// [`recover`] picks it up.
    pub(crate) fn submit(&self, path: PathBuf) -> bool {
        let Some(tx) = &self.tx else {
            return false;
        };
        // Held across the send so the thread cannot finish the file and
        // unlist it before it is listed here; the thread holds this lock
        // only to unlist a file, so the wait is negligible.
        let mut pending = lock(&self.pending);
        if pending.contains(&path) {
            return true;
        }
        match tx.try_send(path.clone()) {
            Ok(()) => {
                pending.insert(path);
                true
            }
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => false,
        }
    }

    /// The outcomes reported since the last call, oldest first; never
    /// blocks.
    pub(crate) fn drain_events(&self) -> Vec<CompressEvent> {
        self.events.try_iter().collect()
    }

    /// How many files are queued or being compressed.
    ///
    /// A file's event is sent before it stops counting here, so once this
    /// reaches 0 every outcome is available from
    /// [`drain_events`](Self::drain_events).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) fn pending(&self) -> usize {
        lock(&self.pending).len()
    }

    /// Stops taking work.
    ///
    /// With `Some(wait)`, waits up to that long for the queued files to be
    /// compressed and joins the thread if it finishes in time. If it does
    /// not, the thread is told to stop: it abandons the file in hand (the
    /// original stays, its `.gz.tmp` is removed) and starts no other, and
    /// this waits up to [`ABANDON_WAIT`] more for it to end, so that once
    /// the log is closed nothing renames or deletes files behind the
    /// application's back. With `None` the thread is told to stop and is
    /// detached at once. Files not compressed stay as they are, for
    /// [`recover`] at the next start. Calling it again does nothing.
    pub(crate) fn shutdown(&mut self, wait: Option<Duration>) {
        // Dropping the only sender lets the thread drain the queue and then
        // see the disconnect, which is its signal to end.
        self.tx = None;
        let handles = std::mem::take(&mut self.handles);
        if handles.is_empty() {
            return;
        }
        let ended = |wait| {
            matches!(
                self.done.recv_timeout(wait),
                Err(RecvTimeoutError::Disconnected)
            )
        };
        let finished = match wait {
            Some(wait) => {
                ended(wait) || {
                    self.stop.store(true, Ordering::Release);
                    ended(ABANDON_WAIT)
                }
            }
            None => {
                self.stop.store(true, Ordering::Release);
                false
            }
        };
        if finished {
            // The threads have ended (or are ending); a panic was already
            // reported per file, so the join results add nothing.
            for handle in handles {
                let _ = handle.join();
            }
        }
    }
}

impl Drop for Compressor {
    /// Shuts down without waiting, so a long compression cannot hold up the
    /// application's exit.
    fn drop(&mut self) {
        self.shutdown(None);
    }
}

/// Locks `m`, ignoring poisoning: the guarded set stays consistent even if
/// a holder panicked, since each update is a single insert or remove.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Holds the thread before each file in tests, so a test can fill the queue
/// or catch work in progress deterministically; a no-op otherwise.
#[cfg(not(test))]
#[derive(Clone, Debug)]
struct Gate;

#[cfg(not(test))]
impl Gate {
    /// A gate that never holds.
    fn open() -> Gate {
        Gate
    }

    /// Does nothing outside tests.
    fn wait(&self) {}
}

/// Holds the thread before each file until the test's sender is dropped
/// (`None`: never holds).
#[cfg(test)]
#[derive(Clone, Debug)]
struct Gate(Option<Receiver<()>>);

#[cfg(test)]
impl Gate {
    /// A gate that never holds.
    fn open() -> Gate {
        Gate(None)
    }

    /// Blocks until the test releases the gate by dropping its sender.
    fn wait(&self) {
        if let Some(rx) = &self.0 {
            let _ = rx.recv();
        }
    }
}

/// The compression thread's state.
struct Worker {
    /// Files to compress.
    rx: Receiver<PathBuf>,
    /// Where outcomes go.
    events: Sender<CompressEvent>,
    /// Shared with [`Compressor::pending`]; a file is removed once its
    /// outcome is sent.
    pending: Arc<Mutex<HashSet<PathBuf>>>,
    /// Set by a shutdown that does not wait.
    stop: Arc<AtomicBool>,
    /// The gzip level, already clamped.
    level: u32,
    /// Test hook; see [`Gate`].
    gate: Gate,
    /// Dropped when the thread ends, which is what shutdown waits for.
    _done: Sender<()>,
}

impl Worker {
    /// Compresses files until the queue is closed and empty, or until told
    /// to stop; every file yields exactly one event.
    fn run(self) {
        // Anything this thread emits through `tracing` must not be fed back
        // into the pipeline that is writing the files.
        crate::thread::mark_evtrail_thread();
        lower_priority();
        while let Ok(path) = self.rx.recv() {
            self.gate.wait();
            if self.stop.load(Ordering::Acquire) {
                break;
            }
            let event = self.compress(path.clone());
            // A send fails only when the compressor is gone, and then no
            // one is left to tell.
            let _ = self.events.send(event);
            lock(&self.pending).remove(&path);
        }
        // Told to stop: whatever is still queued stays uncompressed
        // (recover lists it at the next start), so none of it is pending
        // any more. Otherwise the queue is empty and only other threads'
        // files in hand are left, which they unlist themselves.
        if self.stop.load(Ordering::Acquire) {
            lock(&self.pending).clear();
        }
    }

    /// Compresses one file and describes the outcome; a panic (none is
    /// expected) becomes a failure of that file rather than the end of the
    /// thread.
    fn compress(&self, path: PathBuf) -> CompressEvent {
        let started = Instant::now();
        match catch_unwind(AssertUnwindSafe(|| {
            compress_file(&path, self.level, &self.stop)
        })) {
            Ok(Ok((to, bytes_in, bytes_out))) => CompressEvent::Compressed {
                from: path,
                to,
                bytes_in,
                bytes_out,
                elapsed: started.elapsed(),
            },
            Ok(Err(e)) => CompressEvent::Failed {
                path,
                error: e.to_string(),
            },
            Err(_) => CompressEvent::Failed {
                error: format!("compressing `{}` panicked", path.display()),
                path,
            },
        }
    }
}

/// Lowers the calling thread's CPU priority by [`NICE_INCREMENT`] (to at
/// most 19), so that on a busy machine the scheduler runs the application
/// and the evtrail worker first and compresses in the time left over; files
/// wait in the bounded backlog meanwhile. Linux only: elsewhere the nice
/// value belongs to the whole process. A failure only leaves the priority
/// as it was.
fn lower_priority() {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        // `None` is the calling thread: on Linux each thread has its own
        // nice value.
        if let Ok(nice) = getpriority_process(None) {
            let _ = setpriority_process(None, (nice + NICE_INCREMENT).min(19));
        }
    }
}

/// Adds the step and file to an I/O error, keeping its kind so callers can
/// still tell "not found" from "disk full".
fn context(what: &str, path: &Path) -> impl FnOnce(io::Error) -> io::Error {
    let msg = format!("{what} `{}`", path.display());
    move |e| io::Error::new(e.kind(), format!("{msg}: {e}"))
}

/// Makes renames and deletions in `dir` durable. Errors are ignored: some
/// platforms cannot open or sync a directory, and the data itself is
/// already synced.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Compresses `path` (`X.log`) to `X.log.gz` crash-safely and deletes the
/// original; returns the `.gz` path and the sizes in and out.
///
/// The steps are ordered so a crash at any point leaves either the original
/// alone, the original beside a `.gz.tmp` (incomplete, deleted by
/// [`recover`]), or the original beside a complete `.gz` (verified by
/// [`recover`], which then deletes the original). The data is streamed
/// through a fixed buffer; the `.gz` gets the original's permissions (on
/// Unix) and modification time.
///
/// # Errors
///
/// Any I/O error, with the step and file in its message. On error the
/// original is left in place and no `.tmp` remains; if only the final
/// delete failed, the complete `.gz` is kept too.
///
/// When `stop` is set while the data is being compressed, the work is
/// abandoned as after an error: the original stays and the `.tmp` goes.
pub(crate) fn compress_file(
    path: &Path,
    level: u32,
    stop: &AtomicBool,
) -> io::Result<(PathBuf, u64, u64)> {
    if path.extension() == Some(OsStr::new("gz")) {
        // Compressing a `.gz` again would only produce `.gz.gz` clutter.
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is already compressed", path.display()),
        ));
    }
    let gz = gzip_path(path);
    let tmp = gzip_tmp_path(path);
    let src = File::open(path).map_err(context("cannot open", path))?;
    let meta = src.metadata().map_err(context("cannot stat", path))?;
    if !meta.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{}` is not a regular file", path.display()),
        ));
    }
    let (bytes_in, bytes_out) = match write_tmp(src, &meta, path, &tmp, level, stop) {
        Ok(sizes) => sizes,
        Err(e) => {
            // Best effort: a `.tmp` left behind is harmless (recover and the
            // next attempt remove it), the error is what matters.
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    // Retention may have deleted the original meanwhile: under the lock it
    // also deletes under, either the original is still there and becomes
    // the `.gz`, or it is gone and so is the `.tmp`; never a `.gz` of a
    // deleted segment.
    let _finishing = finishing_lock();
    if !path.exists() {
        let _ = fs::remove_file(&tmp);
        return Err(context("gone before its compression finished:", path)(
            io::Error::from(io::ErrorKind::NotFound),
        ));
    }
    if let Err(e) = fs::rename(&tmp, &gz) {
        let _ = fs::remove_file(&tmp);
        return Err(context("cannot rename to", &gz)(e));
    }
    // The rename must be on disk before the original goes, or a crash could
    // leave neither name pointing at the data.
    sync_dir(parent_dir(path));
    // Not synced afterwards: if the delete is lost in a crash, both files
    // exist and recover deletes the original again after verifying the .gz.
    fs::remove_file(path).map_err(context(
        &format!("compressed to `{}` but cannot delete", gz.display()),
        path,
    ))?;
    Ok((gz, bytes_in, bytes_out))
}

/// Writes the gzip of `src` to `tmp` and syncs it; returns the sizes in and
/// out.
fn write_tmp(
    mut src: File,
    meta: &fs::Metadata,
    path: &Path,
    tmp: &Path,
    level: u32,
    stop: &AtomicBool,
) -> io::Result<(u64, u64)> {
    // A `.tmp` from an earlier crash is incomplete by definition.
    match fs::remove_file(tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(context("cannot remove stale", tmp)(e)),
    }
    let mut opts = OpenOptions::new();
    // `create_new` so a stray symlink at the `.tmp` name is not followed.
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        // Audit logs are often private: the copy must not be more readable
        // than the original, not even while it is being written.
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(meta.permissions().mode() & 0o777);
    }
    let out = opts.open(tmp).map_err(context("cannot create", tmp))?;
    let mut enc = GzEncoder::new(
        BufWriter::with_capacity(BUF_SIZE, out),
        Compression::new(level.min(MAX_LEVEL)),
    );
    let mut buf = vec![0u8; BUF_SIZE];
    let mut bytes_in = 0u64;
    loop {
        if stop.load(Ordering::Acquire) {
            return Err(io::Error::other(format!(
                "compressing `{}` abandoned: the log is closing",
                path.display()
            )));
        }
        let n = match src.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(context("cannot read", path)(e)),
        };
        enc.write_all(&buf[..n])
            .map_err(context("cannot write", tmp))?;
        bytes_in += n as u64;
    }
    let out = enc
        .finish()
        .map_err(context("cannot write", tmp))?
        .into_inner()
        .map_err(|e| context("cannot write", tmp)(e.into_error()))?;
    if let Ok(modified) = meta.modified() {
        // Cosmetic (keeps `ls -lt` and age-based tools meaningful); a
        // platform that cannot set it loses nothing.
        let _ = out.set_modified(modified);
    }
    out.sync_all().map_err(context("cannot sync", tmp))?;
    let bytes_out = out.metadata().map_err(context("cannot stat", tmp))?.len();
    Ok((bytes_in, bytes_out))
}

/// How a `.gz` found beside its original compares with it.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// Decompresses completely, checksum intact, to exactly the original.
    Same,
    /// Cannot be read or decompressed completely: an incomplete copy.
    BadGz,
    /// Decompresses completely and correctly, but not to the original:
    /// one of the two was damaged outside our steps, and neither is
    /// clearly the right one.
    Differs,
    /// The original cannot be read, so nothing can be concluded.
    OrigUnreadable,
}

/// Reads into `buf` until it is full or the input ends; returns the count.
fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Compares the decompressed `gz` with `orig`, streaming both.
fn verify_gz(gz: &Path, orig: &Path) -> Verdict {
    let Ok(gz_file) = File::open(gz) else {
        return Verdict::BadGz;
    };
    let Ok(mut orig) = File::open(orig) else {
        return Verdict::OrigUnreadable;
    };
    // Multi-member, and strict: trailing garbage after a member is an
    // error, and each member's CRC and length are checked at its end.
    let mut dec = MultiGzDecoder::new(BufReader::with_capacity(BUF_SIZE, gz_file));
    let mut a = vec![0u8; BUF_SIZE];
    let mut b = vec![0u8; BUF_SIZE];
    let mut same = true;
    loop {
        let n = match read_full(&mut dec, &mut a) {
            Ok(n) => n,
            Err(_) => return Verdict::BadGz,
        };
        if same {
            let m = match read_full(&mut orig, &mut b) {
                Ok(m) => m,
                Err(_) => return Verdict::OrigUnreadable,
            };
            // Both reads fill the buffer unless at the end, so equal data
            // gives equal chunks.
            same = a[..n] == b[..m];
        }
        if n == 0 {
            // Decoded to the end with every checksum intact.
            return if same {
                Verdict::Same
            } else {
                Verdict::Differs
            };
        }
        // On a mismatch keep decoding, to tell a truncated .gz (bad) from a
        // complete one that differs.
    }
}

/// The UTF-8 file names in `dir` (others cannot be rolled files); an empty
/// list when `dir` does not exist, since then nothing was left half-done.
fn file_names(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(context("cannot list", dir)(e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(context("cannot list", dir))?;
        if let Ok(name) = entry.file_name().into_string() {
            names.push(name);
        }
    }
    Ok(names)
}

/// Settles what a crash left half-done in `dir` for the given `streams`, then
/// lists their rolled files still to compress, oldest first.
///
/// - `X.log.gz.tmp` is deleted: it may be incomplete, and its original
///   still exists (the original is deleted only after the rename).
/// - `X.log` beside `X.log.gz`: the `.gz` was renamed into place only after
///   it was synced, so it should be complete. If it decompresses completely
///   to exactly the bytes of `X.log`, `X.log` is deleted; if it is
///   truncated or corrupt, the `.gz` is deleted and `X.log` kept. If it
///   decompresses cleanly but to different bytes (damage outside these
///   steps), both are kept and `X.log` is not listed, since compressing it
///   again would overwrite the one copy that may be intact.
///
/// Files of other streams and unrelated files are not touched. Problems with
/// single files do not stop the sweep: a file that could not be settled
/// here is listed, and compressing it reports the problem.
///
/// # Errors
///
/// Only when `dir` exists but cannot be listed.
pub(crate) fn recover(dir: &Path, streams: &[&str]) -> io::Result<Vec<PathBuf>> {
    let mut held = HashSet::new();
    for name in file_names(dir)? {
        if let Some(base) = strip_gzip_tmp(&name) {
            if is_rolled(base, streams, false) {
                // If this fails, compress_file removes it before its own
                // attempt and reports what stops it.
                let _ = fs::remove_file(dir.join(&name));
            }
        } else if is_rolled(&name, streams, true)
            && let Some(base) = strip_gzip(&name)
        {
            let gz = dir.join(&name);
            let orig = dir.join(base);
            if !orig.exists() {
                continue;
            }
            match verify_gz(&gz, &orig) {
                Verdict::Same => {
                    let _ = fs::remove_file(&orig);
                }
                Verdict::BadGz => {
                    let _ = fs::remove_file(&gz);
                }
                Verdict::Differs => {
                    held.insert(base.to_owned());
                }
                Verdict::OrigUnreadable => {}
            }
        }
    }
    // Listed afresh, so the list reflects what the steps above removed.
    let mut todo: Vec<PathBuf> = file_names(dir)?
        .into_iter()
        .filter(|name| is_rolled(name, streams, false) && !held.contains(name))
        .map(|name| dir.join(name))
        .collect();
    // Rolled names sort in roll order.
    todo.sort();
    Ok(todo)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logdir::rolled_name;

    /// A stop flag that is never set.
    static NEVER: AtomicBool = AtomicBool::new(false);

    /// A deterministic mix of compressible text and incompressible bytes,
    /// so the round trip exercises both kinds of deflate block.
    fn content(len: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut out = Vec::with_capacity(len + 128);
        let mut seq = 0u64;
        while out.len() < len {
            let r = next();
            if r % 5 == 0 {
                for _ in 0..(r % 4096) / 8 {
                    out.extend_from_slice(&next().to_le_bytes());
                }
            } else {
                seq += 1;
                out.extend_from_slice(
                    format!(
                        "{{\"seq\":{seq},\"level\":\"INFO\",\"msg\":\"request {:x}\"}}\n",
                        r >> 20
                    )
                    .as_bytes(),
                );
            }
        }
        out.truncate(len);
        out
    }

    fn gunzip(bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        MultiGzDecoder::new(bytes).read_to_end(&mut out)?;
        Ok(out)
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::new(6));
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    /// The path of the `n`th rolled file of `stream` in `dir`.
    fn rolled(dir: &Path, stream: &str, n: u64) -> PathBuf {
        dir.join(rolled_name(stream, 1_795_176_000 + n, n))
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut v = file_names(dir).unwrap();
        v.sort();
        v
    }

    fn zcat_matches(gz: &Path, expected: &[u8]) {
        match std::process::Command::new("zcat").arg(gz).output() {
            Ok(out) => {
                assert!(out.status.success(), "zcat failed: {out:?}");
                assert!(out.stdout == expected, "zcat output differs");
            }
            Err(e) => println!("skipping the zcat check: cannot run zcat: {e}"),
        }
    }

    /// Polls `drain_events` until `n` events arrived or 30 s passed.
    fn wait_events(c: &Compressor, n: usize) -> Vec<CompressEvent> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut events = Vec::new();
        while events.len() < n && Instant::now() < deadline {
            events.extend(c.drain_events());
            std::thread::sleep(Duration::from_millis(2));
        }
        events
    }

    fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn compress_file_round_trips_large_and_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        for (n, data) in [content(5 << 20, 7), Vec::new(), content(1000, 3)]
            .into_iter()
            .enumerate()
        {
            let path = rolled(dir.path(), "app", n as u64);
            fs::write(&path, &data).unwrap();
            let (gz, bytes_in, bytes_out) = compress_file(&path, 6, &NEVER).unwrap();
            assert_eq!(gz, gzip_path(&path));
            assert_eq!(bytes_in, data.len() as u64);
            let packed = fs::read(&gz).unwrap();
            assert_eq!(bytes_out, packed.len() as u64);
            assert!(gunzip(&packed).unwrap() == data, "content differs");
            assert!(!path.exists(), "original must be deleted");
            assert!(!gzip_tmp_path(&path).exists());
            zcat_matches(&gz, &data);
        }
        // Only the three .gz files remain.
        let left = names(dir.path());
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(left.iter().all(|n| n.ends_with(".log.gz")), "{left:?}");
    }

    #[test]
    fn any_level_works_and_levels_above_9_are_clamped() {
        let dir = tempfile::tempdir().unwrap();
        let data = content(300_000, 11);
        let mut sizes = Vec::new();
        for (n, level) in [0u32, 1, 9, 42].into_iter().enumerate() {
            let path = rolled(dir.path(), "app", n as u64);
            fs::write(&path, &data).unwrap();
            let (gz, _, out) = compress_file(&path, level, &NEVER).unwrap();
            assert!(gunzip(&fs::read(&gz).unwrap()).unwrap() == data);
            sizes.push(out);
        }
        assert!(sizes[0] > sizes[1], "level 0 stores: {sizes:?}");
        assert_eq!(sizes[2], sizes[3], "42 acts as 9: {sizes:?}");
    }

    #[cfg(unix)]
    #[test]
    fn the_gz_keeps_the_originals_permissions_and_mtime() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = rolled(dir.path(), "app", 1);
        fs::write(&path, b"secret\n").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let mtime = std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let (gz, _, _) = compress_file(&path, 6, &NEVER).unwrap();
        let meta = fs::metadata(&gz).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(meta.modified().unwrap(), mtime);
    }

    #[test]
    fn a_failure_leaves_the_original_and_no_tmp() {
        let dir = tempfile::tempdir().unwrap();
        let path = rolled(dir.path(), "app", 1);
        let data = content(100_000, 5);
        fs::write(&path, &data).unwrap();
        // A directory where the .gz should go makes the rename fail after
        // the .tmp was written in full (works even as root).
        let gz = gzip_path(&path);
        fs::create_dir(&gz).unwrap();
        fs::write(gz.join("keep"), b"x").unwrap();
        let err = compress_file(&path, 6, &NEVER).unwrap_err();
        assert!(err.to_string().contains("cannot rename"), "{err}");
        assert!(fs::read(&path).unwrap() == data);
        assert!(!gzip_tmp_path(&path).exists());

        let missing = rolled(dir.path(), "app", 2);
        let err = compress_file(&missing, 6, &NEVER).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert!(!gzip_tmp_path(&missing).exists());
    }

    #[test]
    fn compress_file_refuses_gz_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = gzip_path(&rolled(dir.path(), "app", 1));
        fs::write(&path, gzip(b"x")).unwrap();
        let err = compress_file(&path, 6, &NEVER).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(path.exists());
        assert!(!gzip_path(&path).exists());
    }

    #[test]
    fn recover_deletes_a_leftover_tmp_and_lists_the_original() {
        let dir = tempfile::tempdir().unwrap();
        let x = rolled(dir.path(), "app", 1);
        fs::write(&x, b"a\n").unwrap();
        let packed = gzip(b"a\n");
        fs::write(gzip_tmp_path(&x), &packed[..packed.len() / 2]).unwrap();
        assert_eq!(recover(dir.path(), &["app"]).unwrap(), vec![x.clone()]);
        assert!(!gzip_tmp_path(&x).exists());
        assert_eq!(fs::read(&x).unwrap(), b"a\n");
    }

    #[test]
    fn recover_deletes_the_original_beside_a_complete_gz() {
        let dir = tempfile::tempdir().unwrap();
        let x = rolled(dir.path(), "app", 1);
        let data = content(600_000, 9);
        fs::write(&x, &data).unwrap();
        let packed = gzip(&data);
        fs::write(gzip_path(&x), &packed).unwrap();
        assert_eq!(
            recover(dir.path(), &["app"]).unwrap(),
            Vec::<PathBuf>::new()
        );
        assert!(!x.exists());
        assert_eq!(fs::read(gzip_path(&x)).unwrap(), packed);
    }

    #[test]
    fn recover_deletes_a_truncated_gz_and_keeps_the_original() {
        let data = content(600_000, 13);
        let packed = gzip(&data);
        // Cut in the header, in the data, in the trailer, and empty.
        for cut in [
            0,
            5,
            10,
            packed.len() / 2,
            packed.len() - 8,
            packed.len() - 1,
        ] {
            let dir = tempfile::tempdir().unwrap();
            let x = rolled(dir.path(), "app", 1);
            fs::write(&x, &data).unwrap();
            fs::write(gzip_path(&x), &packed[..cut]).unwrap();
            assert_eq!(
                recover(dir.path(), &["app"]).unwrap(),
                vec![x.clone()],
                "cut at {cut}"
            );
            assert!(!gzip_path(&x).exists(), "cut at {cut}");
            assert!(fs::read(&x).unwrap() == data, "cut at {cut}");
        }
    }

    #[test]
    fn recover_deletes_a_gz_with_trailing_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let x = rolled(dir.path(), "app", 1);
        fs::write(&x, b"line\n").unwrap();
        let mut packed = gzip(b"line\n");
        packed.extend_from_slice(b"\x1f\x8bjunk");
        fs::write(gzip_path(&x), &packed).unwrap();
        assert_eq!(recover(dir.path(), &["app"]).unwrap(), vec![x.clone()]);
        assert!(!gzip_path(&x).exists());
        assert!(x.exists());
    }

    #[test]
    fn recover_keeps_both_when_a_sound_gz_differs_from_the_original() {
        // The original lost its tail (say, to a power cut before write-back)
        // or some bytes, while the synced .gz is whole: neither may be
        // deleted, and the original must not be compressed over the .gz.
        for original in [&b"first\n"[..], b"first\nsecOnd\n"] {
            let dir = tempfile::tempdir().unwrap();
            let x = rolled(dir.path(), "app", 1);
            fs::write(&x, original).unwrap();
            fs::write(gzip_path(&x), gzip(b"first\nsecond\n")).unwrap();
            assert_eq!(
                recover(dir.path(), &["app"]).unwrap(),
                Vec::<PathBuf>::new()
            );
            assert_eq!(fs::read(&x).unwrap(), original);
            assert_eq!(
                gunzip(&fs::read(gzip_path(&x)).unwrap()).unwrap(),
                b"first\nsecond\n"
            );
        }
    }

    #[test]
    fn recover_leaves_unrelated_files_and_lists_only_given_streams() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let app1 = rolled(d, "app", 1);
        let app2 = rolled(d, "app", 2);
        let audit = rolled(d, "audit", 3);
        let app_done = gzip_path(&rolled(d, "app", 4));
        let audit_tmp = gzip_tmp_path(&rolled(d, "audit", 5));
        let unrelated = [
            "app.log",
            "notes.txt",
            "other.log.gz.tmp",
            "app.log.gz.tmp",
            "app.2026-11-20T12-00-00Z.log",
            "random.log.gz",
        ];
        for p in [&app1, &app2, &audit, &audit_tmp] {
            fs::write(p, b"x\n").unwrap();
        }
        fs::write(&app_done, gzip(b"y\n")).unwrap();
        fs::write(rolled(d, "audit", 5), b"z\n").unwrap();
        for n in unrelated {
            fs::write(d.join(n), b"keep").unwrap();
        }
        let before = names(d);

        assert_eq!(
            recover(d, &["app"]).unwrap(),
            vec![app1.clone(), app2.clone()]
        );
        // The audit stream was not given: its .tmp is not ours to clean.
        assert_eq!(names(d), before);

        let mut all = recover(d, &["app", "audit"]).unwrap();
        all.sort();
        let mut expected = vec![app1, app2, audit, rolled(d, "audit", 5)];
        expected.sort();
        assert_eq!(all, expected);
        assert!(!audit_tmp.exists());
        for n in unrelated {
            assert_eq!(fs::read(d.join(n)).unwrap(), b"keep", "{n}");
        }
        assert!(app_done.exists());
    }

    #[test]
    fn recover_of_a_missing_dir_finds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        assert!(recover(&missing, &["app"]).unwrap().is_empty());
    }

    /// Every state the steps of `compress_file` can be interrupted in, built
    /// by hand: after recover and compressing what it lists, exactly the
    /// `.gz` remains, holding the original bytes once.
    #[test]
    fn a_crash_between_any_two_steps_loses_and_duplicates_nothing() {
        let data = content(400_000, 17);
        let packed = gzip(&data);
        type Setup = fn(&Path, &[u8], &[u8]);
        let states: [(&str, Setup); 6] = [
            ("before starting", |x, d, _| fs::write(x, d).unwrap()),
            ("tmp created empty", |x, d, _| {
                fs::write(x, d).unwrap();
                fs::write(gzip_tmp_path(x), b"").unwrap();
            }),
            ("tmp half written", |x, d, p| {
                fs::write(x, d).unwrap();
                fs::write(gzip_tmp_path(x), &p[..p.len() / 2]).unwrap();
            }),
            ("tmp synced, not renamed", |x, d, p| {
                fs::write(x, d).unwrap();
                fs::write(gzip_tmp_path(x), p).unwrap();
            }),
            ("renamed, original not deleted", |x, d, p| {
                fs::write(x, d).unwrap();
                fs::write(gzip_path(x), p).unwrap();
            }),
            ("done", |x, _, p| fs::write(gzip_path(x), p).unwrap()),
        ];
        for (what, setup) in states {
            let dir = tempfile::tempdir().unwrap();
            let x = rolled(dir.path(), "app", 1);
            // A second file, untouched by the crash, must come through too.
            let other = rolled(dir.path(), "app", 2);
            fs::write(&other, b"other\n").unwrap();
            setup(&x, &data, &packed);
            for path in recover(dir.path(), &["app"]).unwrap() {
                compress_file(&path, 6, &NEVER).unwrap();
            }
            let gz = gzip_path(&x);
            assert_eq!(
                names(dir.path()),
                vec![
                    gz.file_name().unwrap().to_str().unwrap().to_owned(),
                    gzip_path(&other)
                        .file_name()
                        .unwrap()
                        .to_str()
                        .unwrap()
                        .to_owned(),
                ],
                "{what}"
            );
            assert!(gunzip(&fs::read(&gz).unwrap()).unwrap() == data, "{what}");
            // A second recover finds nothing more to do.
            assert!(recover(dir.path(), &["app"]).unwrap().is_empty(), "{what}");
        }
    }

    #[test]
    fn the_compressor_compresses_what_is_submitted() {
        let dir = tempfile::tempdir().unwrap();
        let c = Compressor::start(6, 16).unwrap();
        let mut files = Vec::new();
        for n in 0..5 {
            let path = rolled(dir.path(), "app", n);
            let data = content(200_000 + n as usize * 1000, n + 1);
            fs::write(&path, &data).unwrap();
            assert!(c.submit(path.clone()));
            files.push((path, data));
        }
        let events = wait_events(&c, 5);
        assert_eq!(events.len(), 5, "{events:?}");
        for ev in events {
            let CompressEvent::Compressed {
                from,
                to,
                bytes_in,
                bytes_out,
                ..
            } = ev
            else {
                panic!("unexpected {ev:?}");
            };
            let (_, data) = files.iter().find(|(p, _)| *p == from).unwrap();
            assert_eq!(to, gzip_path(&from));
            assert_eq!(bytes_in, data.len() as u64);
            let packed = fs::read(&to).unwrap();
            assert_eq!(bytes_out, packed.len() as u64);
            assert!(gunzip(&packed).unwrap() == *data);
            assert!(!from.exists());
        }
        wait_until("pending to reach 0", || c.pending() == 0);
        assert!(c.drain_events().is_empty());
    }

    #[test]
    fn a_missing_file_is_reported_as_failed() {
        let dir = tempfile::tempdir().unwrap();
        let c = Compressor::start(6, 4).unwrap();
        let missing = rolled(dir.path(), "app", 1);
        assert!(c.submit(missing.clone()));
        // Once nothing is pending, every outcome is there to drain.
        wait_until("pending to reach 0", || c.pending() == 0);
        match c.drain_events().as_slice() {
            [CompressEvent::Failed { path, error }] => {
                assert_eq!(*path, missing);
                assert!(error.contains("cannot open"), "{error}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(!gzip_path(&missing).exists());
        assert!(!gzip_tmp_path(&missing).exists());
    }

    #[test]
    fn a_full_backlog_refuses_without_blocking_and_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
        let c = Arc::new(Compressor::launch(6, 2, 1, Gate(Some(gate_rx))).unwrap());
        let paths: Vec<PathBuf> = (0..4).map(|n| rolled(dir.path(), "app", n)).collect();
        for (n, p) in paths.iter().enumerate() {
            fs::write(p, format!("file {n}\n")).unwrap();
        }
        assert!(c.submit(paths[0].clone()));
        // Once the thread holds the first file at the gate, the queue is
        // empty again and has room for exactly `backlog` more.
        let tx = c.tx.clone().unwrap();
        wait_until("the thread to take the first file", || tx.is_empty());
        drop(tx);
        assert!(c.submit(paths[1].clone()));
        assert!(c.submit(paths[2].clone()));
        // Submitted from another thread, so a submit that blocks fails the
        // test instead of hanging it (the stuck thread is left behind).
        let (res_tx, res_rx) = crossbeam_channel::bounded(1);
        let (shared, p) = (Arc::clone(&c), paths[3].clone());
        std::thread::spawn(move || {
            let _ = res_tx.send(shared.submit(p));
        });
        assert_eq!(
            res_rx.recv_timeout(Duration::from_secs(5)),
            Ok(false),
            "the backlog is full: refuse at once"
        );
        // Queued or in progress files are not queued twice.
        assert!(c.submit(paths[1].clone()));
        assert_eq!(c.pending(), 3);

        drop(gate_tx);
        let events = wait_events(&c, 3);
        assert_eq!(events.len(), 3, "{events:?}");
        assert!(
            events
                .iter()
                .all(|e| matches!(e, CompressEvent::Compressed { .. })),
            "{events:?}"
        );
        // The refused file is still there, and goes through when resubmitted.
        assert_eq!(fs::read(&paths[3]).unwrap(), b"file 3\n");
        assert!(c.submit(paths[3].clone()));
        assert_eq!(wait_events(&c, 1).len(), 1);
        for (n, p) in paths.iter().enumerate() {
            assert!(!p.exists());
            let packed = fs::read(gzip_path(p)).unwrap();
            assert_eq!(gunzip(&packed).unwrap(), format!("file {n}\n").as_bytes());
        }
    }

    #[test]
    fn two_threads_take_two_files_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
        let c = Compressor::launch(6, 1, 2, Gate(Some(gate_rx))).unwrap();
        let paths: Vec<PathBuf> = (0..4).map(|n| rolled(dir.path(), "app", n)).collect();
        for (n, p) in paths.iter().enumerate() {
            fs::write(p, format!("file {n}\n")).unwrap();
        }
        // Each thread takes one file and holds it at the gate: the queue
        // empties twice, and then has room for one more.
        let tx = c.tx.clone().unwrap();
        for p in &paths[..2] {
            assert!(c.submit(p.clone()));
            wait_until("a thread to take the file", || tx.is_empty());
        }
        drop(tx);
        assert!(c.submit(paths[2].clone()));
        assert!(!c.submit(paths[3].clone()), "two in hand and one queued");
        assert_eq!(c.pending(), 3);
        drop(gate_tx);
        let events = wait_events(&c, 3);
        assert_eq!(events.len(), 3, "{events:?}");
        wait_until("pending to reach 0", || c.pending() == 0);
        for (n, p) in paths[..3].iter().enumerate() {
            let packed = fs::read(gzip_path(p)).unwrap();
            assert_eq!(gunzip(&packed).unwrap(), format!("file {n}\n").as_bytes());
        }
    }

    #[test]
    fn shutdown_waits_for_every_thread() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = Compressor::launch(6, 8, 2, Gate::open()).unwrap();
        let mut files = Vec::new();
        for n in 0..6 {
            let path = rolled(dir.path(), "app", n);
            let data = content(300_000, n + 1);
            fs::write(&path, &data).unwrap();
            assert!(c.submit(path.clone()));
            files.push((path, data));
        }
        c.shutdown(Some(Duration::from_secs(30)));
        assert_eq!(c.pending(), 0);
        assert_eq!(c.drain_events().len(), 6);
        for (path, data) in files {
            assert!(!path.exists());
            let packed = fs::read(gzip_path(&path)).unwrap();
            assert!(gunzip(&packed).unwrap() == data);
        }
    }

    #[test]
    fn shutdown_with_a_wait_finishes_queued_work() {
        let dir = tempfile::tempdir().unwrap();
        let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
        let mut c = Compressor::launch(6, 8, 1, Gate(Some(gate_rx))).unwrap();
        let paths: Vec<PathBuf> = (0..3).map(|n| rolled(dir.path(), "app", n)).collect();
        for p in &paths {
            fs::write(p, content(300_000, 21)).unwrap();
            assert!(c.submit(p.clone()));
        }
        // Held at the gate until now, so all three are still pending.
        assert_eq!(c.pending(), 3);
        drop(gate_tx);
        c.shutdown(Some(Duration::from_secs(60)));
        assert!(c.handles.is_empty());
        for p in &paths {
            assert!(!p.exists(), "{}", p.display());
            assert!(gzip_path(p).exists());
        }
        assert_eq!(c.drain_events().len(), 3);
        assert_eq!(c.pending(), 0);
        assert!(!c.submit(rolled(dir.path(), "app", 9)), "closed");
        // A second shutdown is harmless.
        c.shutdown(Some(Duration::from_secs(1)));
    }

    #[test]
    fn shutdown_gives_up_after_the_wait_and_leaves_files_as_they_are() {
        let dir = tempfile::tempdir().unwrap();
        let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
        let mut c = Compressor::launch(6, 8, 1, Gate(Some(gate_rx))).unwrap();
        let p = rolled(dir.path(), "app", 1);
        fs::write(&p, b"stay\n").unwrap();
        assert!(c.submit(p.clone()));
        let started = Instant::now();
        c.shutdown(Some(Duration::from_millis(50)));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(50), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(c.handles.is_empty(), "detached");
        assert_eq!(fs::read(&p).unwrap(), b"stay\n");
        // Released after shutdown, the thread starts nothing new.
        let done = c.done.clone();
        drop(gate_tx);
        assert_eq!(
            done.recv_timeout(Duration::from_secs(30)),
            Err(RecvTimeoutError::Disconnected)
        );
        assert_eq!(fs::read(&p).unwrap(), b"stay\n");
        assert!(!gzip_path(&p).exists());
        assert!(c.drain_events().is_empty());
        assert_eq!(c.pending(), 0);
    }

    /// The compression thread runs at a lower priority than the thread
    /// that started it, which keeps its own.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_compression_thread_yields_to_the_application() {
        /// The nice value of thread `tid` of this process, from `/proc`.
        fn nice_of(tid: &str) -> i32 {
            let stat = fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap();
            // Fields after the parenthesised name: state is field 3, nice 19.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            rest.split(' ').nth(16).unwrap().parse().unwrap()
        }
        let before = rustix::process::getpriority_process(None).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut c = Compressor::start(1, 8).unwrap();
        let p = rolled(dir.path(), "app", 1);
        fs::write(&p, b"x\n").unwrap();
        assert!(c.submit(p.clone()));
        // Wait until the thread has done something, so it has set its
        // priority.
        let started = Instant::now();
        while c.pending() > 0 {
            assert!(started.elapsed() < Duration::from_secs(30));
            std::thread::sleep(Duration::from_millis(1));
        }
        // Other tests may run compressors of their own right now (some
        // just starting), so this one must be among the lowered ones.
        let nices: Vec<i32> = fs::read_dir("/proc/self/task")
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .filter(|tid| {
                fs::read_to_string(format!("/proc/self/task/{tid}/comm"))
                    .is_ok_and(|comm| comm.trim_end() == "evtrail-compres")
            })
            .map(|tid| nice_of(&tid))
            .collect();
        assert!(
            nices.contains(&(before + NICE_INCREMENT).min(19)),
            "compression threads' nice values: {nices:?}, the test's: {before}"
        );
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
        c.shutdown(Some(Duration::from_secs(10)));
    }

    /// A file still being compressed when the wait runs out is abandoned,
    /// and the thread has ended when shutdown returns: nothing changes the
    /// directory after the log is closed.
    #[test]
    fn shutdown_abandons_the_file_in_hand_and_leaves_no_thread_behind() {
        let dir = tempfile::tempdir().unwrap();
        let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
        let mut c = Compressor::launch(9, 8, 1, Gate(Some(gate_rx))).unwrap();
        let p = rolled(dir.path(), "app", 1);
        // Big enough that level 9 takes far longer than the wait below.
        let data = content(64 << 20, 5);
        fs::write(&p, &data).unwrap();
        assert!(c.submit(p.clone()));
        // Past the gate: the thread is now compressing the file.
        gate_tx.send(()).unwrap();
        let tmp = gzip_tmp_path(&p);
        let started = Instant::now();
        while !tmp.exists() {
            assert!(started.elapsed() < Duration::from_secs(30), "never started");
            std::thread::sleep(Duration::from_millis(1));
        }
        let done = c.done.clone();
        c.shutdown(Some(Duration::from_millis(20)));
        assert!(c.handles.is_empty());
        assert_eq!(
            done.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected),
            "the thread outlived shutdown"
        );
        assert!(fs::read(&p).unwrap() == data, "the original changed");
        assert!(!tmp.exists(), "the .gz.tmp was left");
        assert!(!gzip_path(&p).exists());
    }

    #[test]
    fn dropping_the_compressor_does_not_wait_for_work_in_hand() {
        let dir = tempfile::tempdir().unwrap();
        let (gate_tx, gate_rx) = crossbeam_channel::bounded::<()>(0);
        let c = Compressor::launch(6, 8, 1, Gate(Some(gate_rx))).unwrap();
        let p = rolled(dir.path(), "app", 1);
        fs::write(&p, b"stay\n").unwrap();
        assert!(c.submit(p.clone()));
        let done = c.done.clone();
        let started = Instant::now();
        drop(c);
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(gate_tx);
        assert_eq!(
            done.recv_timeout(Duration::from_secs(30)),
            Err(RecvTimeoutError::Disconnected)
        );
        assert_eq!(fs::read(&p).unwrap(), b"stay\n");
    }
}
