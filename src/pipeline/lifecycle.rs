//! Controlling a running pipeline from the application: the [`Handle`]
//! (flush, shut down, rotate, change the filter, read the counters), the
//! [`Guard`] that shuts it down when dropped, and the record the panic hook
//! writes.

use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use crossbeam_channel::{RecvTimeoutError, Sender};
use tracing::Level;
use tracing::level_filters::LevelFilter;

use super::handoff::{Msg, Shared};
use super::sink_slot::panic_message;
use super::stats::Stats;
use crate::directives::Directives;
use crate::error::{Error, ErrorKind};
use crate::key::Key;
use crate::record::Record;
use crate::sign::Seal;
use crate::sink::{LogFiles, Retention};
use crate::thread::on_evtrail_thread;

/// Controls a running pipeline: flush, shut down, change the filter, read
/// the counters. Cheap to clone; every clone controls the same pipeline.
#[derive(Clone, Debug)]
pub struct Handle {
    pub(crate) shared: Arc<Shared>,
}

impl Handle {
    /// Waits until every record emitted before this call has been handed to
    /// the sinks and the sinks have been flushed.
    ///
    /// Works while emitting threads keep the queue busy: the request takes
    /// its place in the queue behind what was already sent.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] if that did not happen within `timeout`,
    /// [`ErrorKind::Sink`] if a sink is failing and still holds records for
    /// retry, [`ErrorKind::Closed`] after shutdown.
    pub fn flush(&self, timeout: Duration) -> Result<(), Error> {
        let deadline = Instant::now() + timeout;
        if self.shared.room.is_closed() {
            return Err(Error::new(
                ErrorKind::Closed,
                "cannot flush: evtrail has been shut down",
            ));
        }
        if on_evtrail_thread() {
            return Err(Error::new(
                ErrorKind::Closed,
                "cannot flush from evtrail's own thread",
            ));
        }
        let (ack, done) = crossbeam_channel::bounded(1);
        if !self.shared.send_request(Msg::Flush(ack), deadline) {
            return Err(timeout_error("flush", timeout));
        }
        match done.recv_deadline(deadline) {
            Ok(true) if self.shared.drains.is_empty() => Ok(()),
            Ok(true) => self.wait_for_delivery(deadline, timeout),
            Ok(false) => {
                let stats = self.stats();
                let failing: Vec<String> = stats
                    .sinks
                    .iter()
                    .filter(|s| !s.healthy)
                    .map(|s| format!("`{}` ({} records pending)", s.name, s.pending))
                    .collect();
                Err(Error::new(
                    ErrorKind::Sink,
                    format!(
                        "flush incomplete: failing sinks hold records for retry: {}",
                        failing.join(", ")
                    ),
                ))
            }
            Err(RecvTimeoutError::Timeout) => Err(timeout_error("flush", timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(Error::new(
                ErrorKind::Closed,
                "cannot flush: evtrail has been shut down",
            )),
        }
    }

    /// The second half of a flush with sinks that deliver on their own
    /// threads (HTTP): waits for them, then writes what they reported.
    fn wait_for_delivery(&self, deadline: Instant, timeout: Duration) -> Result<(), Error> {
        let waiting: Vec<String> = self
            .shared
            .drains
            .iter()
            .filter_map(|d| d.wait(deadline).err())
            .collect();
        if !waiting.is_empty() {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("flush timed out after {timeout:?}: {}", waiting.join("; ")),
            ));
        }
        // The delivery reports (`evtrail.push`) go to the sinks too.
        let (ack, done) = crossbeam_channel::bounded(1);
        if self
            .shared
            .tx
            .send_deadline(Msg::Flush(ack), deadline)
            .is_err()
            || done.recv_deadline(deadline).is_err()
        {
            return Err(timeout_error("flush", timeout));
        }
        Ok(())
    }

    /// Stops accepting records, writes everything already accepted, flushes
    /// and closes every sink, and joins the worker; failing sinks get until
    /// `timeout` to recover. Calling it again does nothing.
    ///
    /// Records emitted after this call are counted as dropped.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] when the worker did not finish in time (it is
    /// left to finish in the background), [`ErrorKind::Sink`] when records
    /// could not be delivered (they are counted in
    /// [`SinkStats::dropped`](super::SinkStats::dropped)).
    pub fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        let mut worker = self
            .shared
            .worker
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(join) = worker.take() else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        let (ack, done) = crossbeam_channel::bounded(1);
        if on_evtrail_thread() {
            self.shared.room.close();
            return Err(Error::new(
                ErrorKind::Closed,
                "cannot shut down from evtrail's own thread",
            ));
        }
        let sent = self
            .shared
            .send_request(Msg::Shutdown(deadline, ack), deadline);
        // From here on, new records are dropped and counted, never queued
        // behind a worker that is going away.
        self.shared.room.close();
        if !sent {
            return Err(timeout_error("shutdown", timeout));
        }
        match done.recv_deadline(deadline + Duration::from_millis(100)) {
            Ok(result) => {
                let _ = join.join();
                result
            }
            Err(RecvTimeoutError::Timeout) => Err(timeout_error("shutdown", timeout)),
            Err(RecvTimeoutError::Disconnected) => {
                let _ = join.join();
                Err(Error::new(
                    ErrorKind::Closed,
                    "cannot shut down: the evtrail-worker thread had already stopped",
                ))
            }
        }
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> Stats {
        let queue_depth = self.shared.tx.len();
        self.shared
            .counters
            .snapshot(queue_depth, self.shared.capacity, &self.shared.drops)
    }

    /// Sets one level for every target, effective for the next event.
    pub fn set_level(&self, level: LevelFilter) {
        self.shared.filter.set(Directives::level(level));
    }

    /// Replaces the filter with directives such as `warn,my_app::db=debug`
    /// (a default level and `target=level` pairs; the most specific target
    /// wins; naming only targets turns everything else off). Effective for
    /// the next event.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when a directive cannot be parsed; the old
    /// filter stays in force.
    pub fn set_filter(&self, directives: &str) -> Result<(), Error> {
        self.shared.filter.set(Directives::parse(directives)?);
        Ok(())
    }

    /// The latest seal of each stream (see [`signing`](crate::signing)):
    /// export them elsewhere as anchors, so that a verifier can prove the
    /// log was not cut short. Empty when the pipeline is unsigned.
    pub fn seals(&self) -> Vec<Seal> {
        let seals = self
            .shared
            .seals
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        seals.iter().flatten().cloned().collect()
    }

    /// Closes every stream's current segment and starts a new one (a file
    /// sink starts a new file). Returns once the worker has done it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Timeout`] after the [`flush_timeout`](crate::Builder::flush_timeout),
    /// [`ErrorKind::Closed`] after shutdown.
    pub fn rotate(&self) -> Result<(), Error> {
        self.request("rotate", Msg::Rotate)
    }

    /// Signs from now on with `key`: every stream first gets an
    /// `evtrail.key_rotated` record, signed with the old key, naming the new
    /// key id; the chain goes on unbroken.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the pipeline is unsigned, otherwise as for
    /// [`rotate`](Self::rotate).
    pub fn rotate_key(&self, key: Key) -> Result<(), Error> {
        if !self.shared.signed {
            return Err(Error::config(
                "cannot rotate the key: this pipeline is unsigned",
            ));
        }
        self.request("key rotation", |ack| Msg::RotateKey(Box::new(key), ack))
    }

    /// New redaction rules or routes, in force for the records emitted
    /// after this call returns.
    #[cfg(feature = "config")]
    pub(crate) fn reconfigure(&self, change: super::handoff::Reconfigure) -> Result<(), Error> {
        self.request("reconfigure", |ack| Msg::Reconfigure(Box::new(change), ack))
    }

    fn request(&self, what: &str, msg: impl FnOnce(Sender<()>) -> Msg) -> Result<(), Error> {
        let timeout = self.shared.flush_timeout;
        let deadline = Instant::now() + timeout;
        let closed = || {
            Error::new(
                ErrorKind::Closed,
                format!("cannot {what}: evtrail has been shut down"),
            )
        };
        if self.shared.room.is_closed() || on_evtrail_thread() {
            return Err(closed());
        }
        let (ack, done) = crossbeam_channel::bounded(1);
        if !self.shared.send_request(msg(ack), deadline) {
            return Err(timeout_error(what, timeout));
        }
        match done.recv_deadline(deadline) {
            Ok(()) => Ok(()),
            Err(RecvTimeoutError::Timeout) => Err(timeout_error(what, timeout)),
            Err(RecvTimeoutError::Disconnected) => Err(closed()),
        }
    }

    /// What can be changed while the [`log_dir`](crate::Builder::log_dir)
    /// files are written (retention, compression); `None` when the
    /// pipeline has no log directory.
    ///
    /// # Examples
    ///
    /// ```
    /// let dir = tempfile::tempdir().unwrap();
    /// let (_layer, guard) = evtrail::builder().unsigned().log_dir(dir.path()).build()?;
    /// let files = guard.log_files().expect("a log directory");
    /// files.set_retention(evtrail::Retention::keep_all().max_files(10));
    /// files.set_compression(Some(6));
    /// # Ok::<(), evtrail::Error>(())
    /// ```
    pub fn log_files(&self) -> Option<LogFiles> {
        self.shared.file_live.clone().map(LogFiles::new)
    }

    /// Replaces the log directory's retention policy: the former way of
    /// [`LogFiles::set_retention`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the pipeline has no log directory.
    #[deprecated(
        since = "0.2.0",
        note = "use `log_files()` and `LogFiles::set_retention`"
    )]
    pub fn set_retention(&self, retention: Retention) -> Result<(), Error> {
        self.require_log_files("retention")?
            .set_retention(retention);
        Ok(())
    }

    /// Sets the gzip level of the log directory's files: the former way of
    /// [`LogFiles::set_compression`].
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the pipeline has no log directory.
    #[deprecated(
        since = "0.2.0",
        note = "use `log_files()` and `LogFiles::set_compression`"
    )]
    pub fn set_compression(&self, level: Option<u32>) -> Result<(), Error> {
        self.require_log_files("compression")?
            .set_compression(level);
        Ok(())
    }

    fn require_log_files(&self, what: &str) -> Result<LogFiles, Error> {
        self.log_files().ok_or_else(|| {
            Error::config(format!(
                "cannot set {what}: this pipeline has no log directory"
            ))
        })
    }

    /// The filter in force, in the syntax [`set_filter`](Self::set_filter) takes.
    pub fn filter(&self) -> String {
        self.shared.filter.current().to_string()
    }
}

fn timeout_error(what: &str, timeout: Duration) -> Error {
    Error::new(
        ErrorKind::Timeout,
        format!("{what} did not finish within {timeout:?}"),
    )
}

/// Shuts the pipeline down when dropped; derefs to its [`Handle`].
///
/// Dropping the guard drains the queue and flushes every sink, waiting at
/// most the [`flush_timeout`](crate::Builder::flush_timeout); a problem is
/// reported on stderr, since `Drop` cannot return it. Call
/// [`Handle::shutdown`] first to handle the result yourself.
#[must_use = "dropping the guard shuts evtrail down; keep it alive as long as you log"]
#[derive(Debug)]
pub struct Guard {
    pub(crate) handle: Handle,
}

impl Guard {
    /// A handle that stays usable after the guard is gone.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }
}

impl std::ops::Deref for Guard {
    type Target = Handle;
    fn deref(&self) -> &Handle {
        &self.handle
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Err(e) = self.handle.shutdown(self.handle.shared.flush_timeout) {
            eprintln!("evtrail: {e}");
        }
    }
}

/// Collects what evtrail writes about a panic.
pub(crate) fn panic_record(info: &std::panic::PanicHookInfo<'_>, limit: usize) -> Record {
    let mut rec = Record::internal(Level::ERROR, "panic", &panic_message(info.payload()));
    rec.internal = false;
    let thread = std::thread::current();
    let thread_name = thread
        .name()
        .map_or_else(|| format!("{:?}", thread.id()), str::to_owned);
    rec.thread = Some(Arc::from(thread_name.as_str()));
    rec.fields.add_str("class", "error");
    if let crate::record::Meta::Owned(m) = &mut rec.meta {
        m.target = "panic".to_owned();
        if let Some(loc) = info.location() {
            m.file = Some(loc.file().to_owned());
            m.line = Some(loc.line());
        }
    }
    if let Some(loc) = info.location() {
        rec.fields.add_str(
            "location",
            &format!("{}:{}:{}", loc.file(), loc.line(), loc.column()),
        );
    }
    let bt = std::backtrace::Backtrace::capture();
    if bt.status() == std::backtrace::BacktraceStatus::Captured {
        let (s, e) = rec
            .fields
            .push_fmt(format_args!("{bt}"), limit.max(64 * 1024));
        rec.fields
            .push("backtrace", crate::record::Val::Str(s, e), false);
    }
    rec
}
