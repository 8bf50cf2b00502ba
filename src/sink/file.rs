//! Writing each stream to its active file in a log directory, rolling it
//! at segment starts, and handing rolled files to compression and
//! retention.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::compress::{CompressEvent, Compressor, recover};
use super::context::Inbox;
use super::retention::{self, Retention};
use super::{Batch, Sink, SinkContext, SinkError};
use crate::error::{Error, ErrorKind};
use crate::logdir::{
    active_name, active_stream, parse_rolled_name, rolled_name, rolled_stream, strip_gzip,
};
use crate::marker::{self, Removed};

/// Default gzip level for rolled files.
///
/// Level 2: on evtrail's records it compresses about 2.3 to 2.5 times as
/// fast as level 6 (the `gzip` command's default) to files 1 to 11 % larger
/// (`cargo bench --bench gzip_levels`, 200,000 records: signed login
/// records 700 MB/s at ratio 11.4 against 280 MB/s at 11.5; a mix of login,
/// payment, error and query records 403 MB/s at 7.1 against 177 MB/s at
/// 8.0). Compression runs beside the application, so its CPU time is taken
/// from it. For archives choose 6 with [`FileOptions::compression`]; level
/// 9 saved another 1 to 3 % there, in about 1.7 times level 6's time.
pub const DEFAULT_COMPRESSION_LEVEL: u32 = 2;
/// How long closing a file sink waits, by default, for rolled files still
/// queued for compression; see [`FileOptions::compression_wait`].
pub const DEFAULT_COMPRESSION_WAIT: Duration = Duration::from_secs(2);
/// Default permissions of log files (Unix).
pub const DEFAULT_FILE_MODE: u32 = crate::private::FILE_MODE;
/// Default permissions of a log directory evtrail creates (Unix).
pub const DEFAULT_DIR_MODE: u32 = crate::private::DIR_MODE;
/// How many rolled files may wait for compression before new ones are left
/// uncompressed until the next start.
const COMPRESS_BACKLOG: usize = 64;

/// How hard the file sink pushes data to the disk.
///
/// | policy | a crash of the process loses | a power cut loses | cost |
/// |---|---|---|---|
/// | [`Flush`](Durability::Flush) (default) | nothing written | what the OS had not written back yet (seconds) | none |
/// | [`SyncEvery`](Durability::SyncEvery) | nothing written | at most about the interval | one `fsync` per interval |
/// | [`SyncEachBatch`](Durability::SyncEachBatch) | nothing written | nothing acknowledged by a flush | one `fsync` per batch: far slower on most disks |
///
/// Under every policy the active files are synced when the sink closes.
/// Under `SyncEvery` and `SyncEachBatch` a file is also synced when it is
/// rolled, before it is renamed. Under `Flush` rolling costs the writer no
/// wait: a compressed file becomes durable when its `.gz` is synced (before
/// the plain file is deleted), an uncompressed one when the OS writes it
/// back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Durability {
    /// Hand every batch to the operating system; `fsync` only when the
    /// sink closes (and each `.gz` when it is written).
    #[default]
    Flush,
    /// Also `fsync` the active files at most this often.
    SyncEvery(Duration),
    /// `fsync` after every batch.
    SyncEachBatch,
}

/// How [`FileSink`] writes, rolls, compresses and cleans up.
///
/// # Examples
///
/// ```
/// use evtrail::{Durability, FileOptions, Retention};
/// use std::time::Duration;
///
/// let options = FileOptions::default()
///     .compression(Some(6))
///     .retention(Retention::keep_all().max_files(48).max_total_bytes(10 << 30))
///     .durability(Durability::SyncEvery(Duration::from_secs(1)));
/// # let _ = options;
/// ```
#[derive(Clone, Debug)]
pub struct FileOptions {
    compression: Option<u32>,
    compression_wait: Duration,
    retention: Retention,
    durability: Durability,
    file_mode: u32,
    dir_mode: u32,
}

impl Default for FileOptions {
    fn default() -> FileOptions {
        FileOptions {
            compression: Some(DEFAULT_COMPRESSION_LEVEL),
            compression_wait: DEFAULT_COMPRESSION_WAIT,
            retention: Retention::keep_all(),
            durability: Durability::Flush,
            file_mode: DEFAULT_FILE_MODE,
            dir_mode: DEFAULT_DIR_MODE,
        }
    }
}

impl FileOptions {
    /// The gzip level (0 to 9) for rolled files, or `None` to leave them
    /// uncompressed. Default `Some(`[`DEFAULT_COMPRESSION_LEVEL`]`)`.
    /// Compression runs on threads of its own, never on the worker's.
    pub fn compression(mut self, level: Option<u32>) -> FileOptions {
        self.compression = level.map(|l| l.min(9));
        self
    }

    /// How long closing the sink (dropping the guard) waits for rolled
    /// files still queued for compression. Default
    /// [`DEFAULT_COMPRESSION_WAIT`]. When it runs out, the file being
    /// compressed is abandoned (the original stays) and the sink closes;
    /// files left uncompressed are compressed at the next start. Zero
    /// closes as soon as the file in hand is abandoned (milliseconds):
    /// right for short-lived programs, which should not linger at exit; a
    /// longer wait leaves fewer plain files behind a service that stops for
    /// good. Behind a pipeline the wait is part of the guard's
    /// [`flush_timeout`](crate::Builder::flush_timeout), so raise that too.
    pub fn compression_wait(mut self, wait: Duration) -> FileOptions {
        self.compression_wait = wait;
        self
    }

    /// Which rolled files to delete. Default: keep everything.
    pub fn retention(mut self, retention: Retention) -> FileOptions {
        self.retention = retention;
        self
    }

    /// When to `fsync`. Default [`Durability::Flush`].
    pub fn durability(mut self, durability: Durability) -> FileOptions {
        self.durability = durability;
        self
    }

    /// Permissions of new log files and of the log directory when evtrail
    /// creates it (Unix). Default [`DEFAULT_FILE_MODE`] and
    /// [`DEFAULT_DIR_MODE`].
    pub fn permissions(mut self, file_mode: u32, dir_mode: u32) -> FileOptions {
        self.file_mode = file_mode;
        self.dir_mode = dir_mode;
        self
    }
}

/// What can be changed while running, through the handle; it takes effect
/// at the next roll.
#[derive(Debug)]
pub(crate) struct LiveOptions {
    pub(crate) compression: Option<u32>,
    pub(crate) retention: Retention,
}

/// The shared, runtime-changeable part of a file sink's options.
pub(crate) type SharedOptions = Arc<Mutex<LiveOptions>>;

/// The log directory's files as they are written: what can be changed
/// while they are. From [`Handle::log_files`](crate::Handle::log_files);
/// a change applies from the next roll on.
#[derive(Clone, Debug)]
pub struct LogFiles {
    live: SharedOptions,
}

impl LogFiles {
    pub(crate) fn new(live: SharedOptions) -> LogFiles {
        LogFiles { live }
    }

    /// Replaces the retention policy (see [`Retention`]).
    pub fn set_retention(&self, retention: Retention) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retention = retention;
    }

    /// Sets the gzip level (0 to 9; higher is read as 9) of the files rolled
    /// from now on, or `None` to leave them uncompressed.
    pub fn set_compression(&self, level: Option<u32>) {
        self.live
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .compression = level.map(|l| l.min(9));
    }
}

/// An open active file.
#[derive(Debug)]
struct Active {
    stream: Arc<str>,
    file: File,
    /// Bytes written since the last `fsync`.
    unsynced: bool,
}

/// Appends each stream's records to `DIR/<stream>.log`, one file per
/// segment, and rolls, compresses and cleans up the files.
///
/// When a record starts a new segment (see
/// [`Entry::starts_segment`](crate::sink::Entry::starts_segment)), the active file,
/// if it holds anything, is renamed to `<stream>.<UTC time>.<counter>.log`
/// (for example `app.2026-11-22T10-00-00Z.0003.log`; the time is when it was
/// rolled, and the counter is one more than any rolled file's in the
/// directory, so that time and counter give the order of rolls across
/// streams) and a new active file begins;
/// the rolled file is then gzipped to `….log.gz` on an `evtrail-compress`
/// thread (two where the machine has two cores, so files rolled together
/// are compressed side by side), crash-safely, and [`Retention`] deletes
/// the oldest rolled files beyond its limits. A crash during compression is finished or cleaned up
/// at the next start.
///
/// Lines are written whole: when a write fails part-way (a full disk), the
/// torn tail is cut off again, the entries already complete count as
/// written, and the rest is retried by the worker. When another program
/// renames or deletes an active file (as logrotate does), the sink notices
/// before its next write and opens a new one.
///
/// Most applications get their file sink from
/// [`Builder::log_dir`](crate::Builder::log_dir), which also keeps a signed
/// chain going across restarts (the state file, and resuming from the
/// newest file) and lets [`Handle::log_files`](crate::Handle::log_files)
/// change its retention and compression while it runs. A `FileSink` given to
/// [`Builder::add_sink`](crate::Builder::add_sink) writes the same files
/// without those: use it for unsigned output, or a second copy.
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
    files: Vec<Active>,
    live: SharedOptions,
    durability: Durability,
    file_mode: u32,
    compressor: Option<Compressor>,
    /// The level the compressor was started with.
    compressor_level: u32,
    /// How long `close` waits for queued compression.
    compression_wait: Duration,
    last_sync: Instant,
    /// Where `evtrail.files_removed` records go: the pipeline's inbox,
    /// once attached.
    inbox: Option<Arc<Inbox>>,
    /// Removals made before the sink was attached (retention at start).
    unposted: Vec<Removed>,
    attached: bool,
}

impl FileSink {
    /// Opens (creating it if needed) a log directory with default options.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the directory cannot be created or is not
    /// writable.
    pub fn new(dir: impl AsRef<Path>) -> Result<FileSink, Error> {
        FileSink::with_options(dir, FileOptions::default())
    }

    /// Opens (creating it if needed) a log directory. Finishes or cleans up
    /// compressions a crash interrupted, queues rolled files left
    /// uncompressed, and applies the retention policy.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Io`] when the directory cannot be created or is not
    /// writable, or no compression thread can start.
    pub fn with_options(dir: impl AsRef<Path>, options: FileOptions) -> Result<FileSink, Error> {
        let dir = dir.as_ref().to_path_buf();
        create_dir(&dir, options.dir_mode).map_err(|e| {
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
        let mut sink = FileSink {
            dir,
            files: Vec::new(),
            live: Arc::new(Mutex::new(LiveOptions {
                compression: options.compression,
                retention: options.retention,
            })),
            durability: options.durability,
            file_mode: options.file_mode,
            compressor: None,
            compressor_level: 0,
            compression_wait: options.compression_wait,
            last_sync: Instant::now(),
            inbox: None,
            unposted: Vec::new(),
            attached: false,
        };
        let streams = sink.streams_on_disk();
        let names: Vec<&str> = streams.iter().map(String::as_str).collect();
        match recover(&sink.dir, &names) {
            Ok(leftover) => {
                for path in leftover {
                    sink.compress(path)?;
                }
            }
            Err(e) => eprintln!(
                "evtrail: cannot finish interrupted compressions in `{}`: {e}",
                sink.dir.display()
            ),
        }
        sink.enforce_retention(SystemTime::now());
        Ok(sink)
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn live_options(&self) -> SharedOptions {
        self.live.clone()
    }

    fn live(&self) -> std::sync::MutexGuard<'_, LiveOptions> {
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every stream with an active or rolled file in the directory.
    fn streams_on_disk(&self) -> Vec<String> {
        let mut streams = Vec::new();
        if let Ok(list) = fs::read_dir(&self.dir) {
            for entry in list.flatten() {
                if let Some(name) = entry.file_name().to_str() {
                    let stream = rolled_stream(name)
                        .or_else(|| active_stream(name).filter(|s| !s.contains('.')));
                    if let Some(s) = stream
                        && !s.starts_with('.')
                        && !streams.iter().any(|x| x == s)
                    {
                        streams.push(s.to_owned());
                    }
                }
            }
        }
        streams
    }

    /// Queues a rolled file for compression, when compression is on.
    fn compress(&mut self, path: PathBuf) -> Result<(), Error> {
        let Some(level) = self.live().compression else {
            return Ok(());
        };
        if self.compressor.is_none() || self.compressor_level != level {
            if let Some(mut old) = self.compressor.take() {
                old.shutdown(None);
            }
            self.compressor = Some(Compressor::start(level, COMPRESS_BACKLOG)?);
            self.compressor_level = level;
        }
        if let Some(c) = &self.compressor {
            // A full backlog leaves the file as it is; the next start
            // compresses it. Nothing waits and nothing is lost.
            c.submit(path);
        }
        Ok(())
    }

    /// Applies the retention policy as of `now` (the roll's own time, so an
    /// injected clock rules ages too).
    fn enforce_retention(&mut self, now: SystemTime) {
        let policy = self.live().retention.clone();
        if policy == Retention::keep_all() {
            return;
        }
        let streams = self.streams_on_disk();
        let names: Vec<&str> = streams.iter().map(String::as_str).collect();
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let (result, removed) = retention::enforce_described(&self.dir, &names, &policy, now);
        if let Err(e) = result {
            eprintln!("evtrail: retention in `{}`: {e}", self.dir.display());
        }
        if self.inbox.is_some() || !self.attached {
            self.unposted.extend(removed);
        }
        self.post_removals();
    }

    /// Hands each removal to the pipeline as a signed record in its
    /// stream, so a verifier knows where the kept history starts.
    fn post_removals(&mut self) {
        let Some(inbox) = &self.inbox else { return };
        for r in self.unposted.drain(..) {
            inbox.post(marker::files_removed(
                crate::time::now_nanos(),
                &r,
                "retention",
            ));
        }
    }

    fn file(&mut self, stream: &str) -> io::Result<&mut Active> {
        let path = self.dir.join(active_name(stream));
        // Another program may have renamed or deleted the file (as
        // logrotate does): checked before every write, since writing on
        // into a deleted file would lose the records. A stat costs little
        // next to the write it guards.
        if let Some(i) = self.files.iter().position(|a| &*a.stream == stream)
            && !same_file(&self.files[i].file, &path)
        {
            self.files.remove(i);
        }
        let i = match self.files.iter().position(|a| &*a.stream == stream) {
            Some(i) => i,
            None => {
                let file = open_append(&path, self.file_mode)?;
                self.files.push(Active {
                    stream: Arc::from(stream),
                    file,
                    unsynced: false,
                });
                self.files.len() - 1
            }
        };
        Ok(&mut self.files[i])
    }

    /// Renames the active file of `stream` out of the way, if it holds
    /// anything, so the next segment starts a file of its own; names it
    /// after `rolled_at`, queues it for compression and applies retention.
    fn roll_file(&mut self, stream: &str, rolled_at: SystemTime) -> Result<(), Error> {
        let io_err = |e: io::Error, dir: &Path| {
            Error::with_source(
                ErrorKind::Io,
                format!("cannot roll `{}`", dir.join(active_name(stream)).display()),
                e,
            )
        };
        if let Some(i) = self.files.iter().position(|a| &*a.stream == stream) {
            let active = self.files.remove(i);
            // The file is done. Under `Flush` the writer does not wait for
            // the disk (a 64 MiB file takes tens of milliseconds): its
            // `.gz`, or the OS's write-back, makes it durable.
            if self.durability != Durability::Flush {
                let _ = active.file.sync_data();
            }
        }
        let active = self.dir.join(active_name(stream));
        match fs::metadata(&active) {
            Ok(m) if m.len() > 0 => {}
            Ok(_) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(e, &self.dir)),
        }
        // One more than any stream's: within one second of the name's
        // time, the counter orders rolls across streams, which retention's
        // "oldest first, of any stream" relies on.
        let mut counter = 0;
        for entry in fs::read_dir(&self.dir).map_err(|e| io_err(e, &self.dir))? {
            let entry = entry.map_err(|e| io_err(e, &self.dir))?;
            if let Some(name) = entry.file_name().to_str()
                && let Some(rolled) = rolled_stream(name).and_then(|s| parse_rolled_name(s, name))
            {
                counter = counter.max(rolled.counter);
            }
        }
        let secs = rolled_at
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let rolled = self.dir.join(rolled_name(stream, secs, counter + 1));
        fs::rename(&active, &rolled).map_err(|e| io_err(e, &self.dir))?;
        self.compress(rolled)?;
        self.sweep_uncompressed()?;
        self.enforce_retention(rolled_at);
        Ok(())
    }

    /// Queues rolled files still uncompressed (the backlog was full, or the
    /// level changed), so none stays plain for longer than the next roll.
    fn sweep_uncompressed(&mut self) -> Result<(), Error> {
        if self.live().compression.is_none() {
            return Ok(());
        }
        let Ok(list) = fs::read_dir(&self.dir) else {
            return Ok(());
        };
        let plain: Vec<PathBuf> = list
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_str()
                    .is_some_and(|n| strip_gzip(n).is_none() && rolled_stream(n).is_some())
            })
            .map(|e| e.path())
            .collect();
        for path in plain {
            self.compress(path)?;
        }
        Ok(())
    }

    /// Reports compressions that failed (the file stays as it was and is
    /// tried again at the next roll or start).
    fn report_compression(&mut self) {
        let Some(c) = &self.compressor else { return };
        for event in c.drain_events() {
            if let CompressEvent::Failed { path, error } = event {
                // Retention may delete a file while it waits: not a failure.
                if path.exists() {
                    eprintln!("evtrail: cannot compress `{}`: {error}", path.display());
                }
            }
        }
    }

    fn sync_all(&mut self) -> io::Result<()> {
        for a in &mut self.files {
            if a.unsynced {
                a.file.sync_data()?;
                a.unsynced = false;
            }
        }
        self.last_sync = Instant::now();
        Ok(())
    }
}

fn create_dir(dir: &Path, mode: u32) -> io::Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    b.create(dir)
}

fn open_append(path: &Path, mode: u32) -> io::Result<File> {
    let mut o = OpenOptions::new();
    o.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    o.open(path)
}

/// Whether `file` is still the file at `path`.
fn same_file(file: &File, path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match (file.metadata(), fs::metadata(path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
            _ => false,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        path.exists()
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

    fn attach(&mut self, ctx: &mut SinkContext) -> Result<(), SinkError> {
        self.attached = true;
        if ctx.signed {
            self.inbox = Some(Arc::clone(&ctx.inbox));
            self.post_removals();
        } else {
            // An unsigned pipeline has no chain to keep them in.
            self.unposted.clear();
        }
        Ok(())
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
                self.roll_file(stream, entries[i].timestamp())
                    .map_err(|e| {
                        SinkError::retryable(e.to_string())
                            .with_source(e)
                            .with_accepted(i)
                    })?;
            }
            // The batch holds the run's lines back to back, each with its
            // newline: written from there, without a copy.
            let run = batch.lines_with_newlines(i, run_end);
            let path = self.dir.join(active_name(stream));
            let result = match self.file(stream) {
                Err(e) => Err(
                    SinkError::io(format!("cannot open `{}`", path.display()), e).with_accepted(i),
                ),
                Ok(active) => match write_counted(&mut active.file, run) {
                    Ok(()) => {
                        active.unsynced = true;
                        Ok(())
                    }
                    Err((done, err)) => {
                        // Where each line of the run ends, newline included.
                        let mut end = 0;
                        let ends = entries[i..run_end].iter().map(|e| {
                            end += e.line().len() + 1;
                            end
                        });
                        let (whole, whole_end) = ends
                            .take_while(|&end| end <= done)
                            .fold((0, 0), |(n, _), end| (n + 1, end));
                        let torn = done - whole_end;
                        if torn > 0 {
                            // Cut the torn line so the retry does not leave half a record behind.
                            if let Ok(len) = active.file.metadata().map(|m| m.len()) {
                                let _ = active.file.set_len(len - torn as u64);
                            }
                        }
                        Err(
                            SinkError::io(format!("cannot write to `{}`", path.display()), err)
                                .with_accepted(i + whole),
                        )
                    }
                },
            };
            result?;
            i = run_end;
        }
        if self.durability == Durability::SyncEachBatch {
            self.sync_all().map_err(|e| {
                SinkError::io(format!("cannot sync files in `{}`", self.dir.display()), e)
            })?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.report_compression();
        // Writes go straight to the operating system; only syncing is left.
        if let Durability::SyncEvery(every) = self.durability
            && self.last_sync.elapsed() >= every
        {
            self.sync_all().map_err(|e| {
                SinkError::io(format!("cannot sync files in `{}`", self.dir.display()), e)
            })?;
        }
        Ok(())
    }

    fn roll(&mut self, stream: &str, at: SystemTime) -> Result<(), SinkError> {
        self.roll_file(stream, at)
            .map_err(|e| SinkError::retryable(e.to_string()).with_source(e))
    }

    fn close(&mut self) -> Result<(), SinkError> {
        let result = self.sync_all();
        self.files.clear();
        if let Some(mut c) = self.compressor.take() {
            // Unfinished compressions are completed at the next start.
            c.shutdown(Some(self.compression_wait));
        }
        result
            .map_err(|e| SinkError::io(format!("cannot sync files in `{}`", self.dir.display()), e))
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
    fn a_segment_start_rolls_the_active_file() {
        let dir = tempfile::tempdir().unwrap();
        let options = FileOptions::default().compression(None);
        let mut sink = FileSink::with_options(dir.path(), options).unwrap();
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
