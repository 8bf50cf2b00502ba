//! Where encoded records go: the [`Sink`] trait and the built-in sinks.
//!
//! The worker encodes each record once and hands sinks a [`Batch`] of
//! finished lines. A sink writes them, and reports failure with a
//! [`SinkError`] that says whether trying again can help and how many of the
//! batch's entries it did keep. The worker owns the retry: it keeps what a
//! sink did not accept (bounded), retries with backoff, reports the failure
//! once per episode as an `evtrail.sink_failed` record on the other sinks
//! and on stderr, and counts everything in [`Stats`](crate::Stats).
//!
//! # Writing a sink
//!
//! Implement [`Sink`] and pass it to
//! [`Builder::add_sink`](crate::Builder::add_sink). What the pipeline
//! expects of it, and what every built-in sink is tested for (the crate's
//! `tests/sink_conformance.rs` runs each of them through the same checks; a
//! new sink should pass them too):
//!
//! * **Lines are stored whole and in order.** Each [`Entry::line`] is the
//!   signed record; a sink that changes a byte, reorders two records of a
//!   stream or drops one makes the log fail verification. A sink that
//!   re-encodes (a store's own format) keeps the line in a field.
//! * **A write says what it kept.** `Ok` means every entry of the batch was
//!   taken. An error says whether a retry can help
//!   ([`SinkError::retryable`] or [`SinkError::permanent`]) and how many
//!   leading entries were kept anyway ([`SinkError::with_accepted`]); the
//!   worker retries the rest, and counts what it gives up on as dropped.
//! * **[`flush`](Sink::flush) makes what was written visible** to the
//!   sink's readers ([`Handle::flush`](crate::Handle::flush) relies on it).
//! * **[`roll`](Sink::roll) and segment starts lose nothing**, and an empty
//!   batch is not an error.
//! * **[`close`](Sink::close) is called once at shutdown**, after the last
//!   write; calling it again must do no harm.
//! * **Never panic, never block for long.** A sink runs on the worker
//!   thread: a slow sink holds up every other sink. A sink that delivers
//!   over a network hands the batch to a thread of its own (as
//!   `evtrail::http`'s does) instead of waiting in `write`.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tracing::Level;

mod anchors;
mod compress;
mod context;
mod file;
mod finishing;
mod lost;
mod memory;
mod removal;
mod retention;
mod stdout;

#[cfg(test)]
pub(crate) use crate::logdir::rolled_name;
pub use anchors::AnchorSink;
#[cfg(feature = "http")]
pub(crate) use context::Progress;
pub(crate) use context::{DeliveryCounters, Drain, Inbox};
pub use context::{DeliveryStats, SinkContext};
pub(crate) use file::SharedOptions;
pub use file::{
    DEFAULT_COMPRESSION_LEVEL, DEFAULT_COMPRESSION_WAIT, DEFAULT_DIR_MODE, DEFAULT_FILE_MODE,
    Durability, FileOptions, FileSink, LogFiles,
};
pub(crate) use lost::LostRanges;
pub use memory::MemorySink;
pub use retention::Retention;
pub use stdout::{StdoutFormat, StdoutSink};

/// A destination for encoded records.
///
/// Sinks run on evtrail's worker thread, never on the thread that emitted
/// the event. Events that a sink emits through `tracing` while it works are
/// not fed back into the pipeline.
///
/// # Examples
///
/// ```
/// use evtrail::sink::{Batch, Sink, SinkError};
///
/// /// Counts lines instead of writing them.
/// struct Counter(usize);
///
/// impl Sink for Counter {
///     fn name(&self) -> &str {
///         "counter"
///     }
///     fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
///         self.0 += batch.len();
///         Ok(())
///     }
///     fn flush(&mut self) -> Result<(), SinkError> {
///         Ok(())
///     }
/// }
/// ```
pub trait Sink: Send + 'static {
    /// A short name for stats and failure reports (`file`, `stdout`, …).
    fn name(&self) -> &str;

    /// Called once when the pipeline is built, before the first write.
    /// A sink can prepare here what needs the pipeline's settings (its log
    /// directory). The default does nothing.
    ///
    /// # Errors
    ///
    /// A [`SinkError`]: building the pipeline then fails with its message.
    fn attach(&mut self, ctx: &mut SinkContext) -> Result<(), SinkError> {
        let _ = ctx;
        Ok(())
    }

    /// Writes a batch of records.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] saying whether a retry can help and how many leading
    /// entries of `batch` were kept anyway; the worker retries the rest.
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError>;

    /// Makes everything written so far durable to the sink's own standard
    /// (for a file: handed to the operating system).
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when buffered data could not be written.
    fn flush(&mut self) -> Result<(), SinkError>;

    /// Starts a new file (or whatever a segment is to this sink) for
    /// `stream` now, when no record marks the start: an explicit
    /// [`Handle::rotate`](crate::Handle::rotate) of an unsigned pipeline.
    /// Signed pipelines mark segment starts on the records themselves (see
    /// [`Entry::starts_segment`]). The default does nothing.
    ///
    /// # Errors
    ///
    /// A [`SinkError`] when the sink could not roll.
    fn roll(&mut self, stream: &str, at: SystemTime) -> Result<(), SinkError> {
        let _ = (stream, at);
        Ok(())
    }

    /// Flushes and releases resources. Called once when the pipeline shuts
    /// down; the default calls [`flush`](Sink::flush).
    ///
    /// # Errors
    ///
    /// As for [`flush`](Sink::flush).
    fn close(&mut self) -> Result<(), SinkError> {
        self.flush()
    }
}

impl<S: Sink + ?Sized> Sink for Box<S> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn attach(&mut self, ctx: &mut SinkContext) -> Result<(), SinkError> {
        (**self).attach(ctx)
    }
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        (**self).write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        (**self).flush()
    }
    fn roll(&mut self, stream: &str, at: SystemTime) -> Result<(), SinkError> {
        (**self).roll(stream, at)
    }
    fn close(&mut self) -> Result<(), SinkError> {
        (**self).close()
    }
}

impl fmt::Debug for dyn Sink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sink({})", self.name())
    }
}

/// Why a sink could not write, and whether trying again can help.
pub struct SinkError {
    retryable: bool,
    accepted: usize,
    message: String,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl SinkError {
    /// A failure that may pass (disk full, endpoint down): the worker keeps
    /// the records and tries again with backoff.
    pub fn retryable(message: impl Into<String>) -> SinkError {
        SinkError {
            retryable: true,
            accepted: 0,
            message: message.into(),
            source: None,
        }
    }

    /// A failure that retrying cannot fix: the records are counted as
    /// dropped by this sink and the failure is reported.
    pub fn permanent(message: impl Into<String>) -> SinkError {
        SinkError {
            retryable: false,
            ..SinkError::retryable(message)
        }
    }

    /// A retryable error from an I/O failure.
    pub fn io(message: impl Into<String>, err: std::io::Error) -> SinkError {
        SinkError::retryable(message).with_source(err)
    }

    /// Attaches the underlying cause.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn StdError + Send + Sync + 'static>>,
    ) -> SinkError {
        self.source = Some(source.into());
        self
    }

    /// Says that the first `n` entries of the batch were written before the
    /// failure, so only the rest is retried. Default 0.
    pub fn with_accepted(mut self, n: usize) -> SinkError {
        self.accepted = n;
        self
    }

    /// Whether trying again can help.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// How many leading entries of the batch were written anyway.
    pub fn accepted(&self) -> usize {
        self.accepted
    }
}

impl fmt::Display for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for SinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SinkError")
            .field("retryable", &self.retryable)
            .field("accepted", &self.accepted)
            .field("message", &self.message)
            .field("source", &self.source)
            .finish()
    }
}

impl StdError for SinkError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|s| s as &(dyn StdError + 'static))
    }
}

/// Renders an error with its whole source chain, for reports.
pub(crate) fn error_chain(err: &dyn StdError) -> String {
    let mut s = err.to_string();
    let mut next = err.source();
    while let Some(cause) = next {
        s.push_str(": ");
        s.push_str(&cause.to_string());
        next = cause.source();
    }
    s
}

#[derive(Clone, Debug)]
struct EntryMeta {
    stream: Arc<str>,
    seq: u64,
    ts: u64,
    level: Level,
    start: usize,
    end: usize,
    segment_start: bool,
    /// One of evtrail's own notices or chain records: a failing sink's
    /// backlog never evicts it (see [`Batch::evict_front`]).
    keep: bool,
}

/// Encoded records, one JSON line each, ready for sinks.
///
/// The lines of a batch are stored back to back in one buffer.
///
/// # Examples
///
/// ```
/// use evtrail::sink::Batch;
/// use std::time::SystemTime;
///
/// let mut batch = Batch::new();
/// batch.push("app", 1, tracing::Level::INFO, SystemTime::now(), br#"{"v":1}"#);
/// assert_eq!(batch.len(), 1);
/// assert_eq!(batch.iter().next().unwrap().line(), br#"{"v":1}"#);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Batch {
    /// The lines, each followed by a newline, so that a run of them is
    /// already what a file holds.
    buf: Vec<u8>,
    entries: Vec<EntryMeta>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// Appends one encoded line (without its trailing newline).
    pub fn push(&mut self, stream: &str, seq: u64, level: Level, ts: SystemTime, line: &[u8]) {
        let ts = ts
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        self.push_entry(Arc::from(stream), seq, level, ts, line, false);
    }

    pub(crate) fn push_entry(
        &mut self,
        stream: Arc<str>,
        seq: u64,
        level: Level,
        ts: u64,
        line: &[u8],
        segment_start: bool,
    ) {
        let start = self.buf.len();
        self.buf.extend_from_slice(line);
        self.finish_entry(stream, seq, level, ts, start, segment_start);
    }

    /// Starts an entry whose line the caller writes into the returned
    /// buffer; [`finish_entry`](Self::finish_entry) completes it.
    pub(crate) fn line_buf(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    pub(crate) fn finish_entry(
        &mut self,
        stream: Arc<str>,
        seq: u64,
        level: Level,
        ts: u64,
        start: usize,
        segment_start: bool,
    ) {
        self.entries.push(EntryMeta {
            stream,
            seq,
            ts,
            level,
            start,
            end: self.buf.len(),
            segment_start,
            keep: false,
        });
        self.buf.push(b'\n');
    }

    /// The lines of entries `from..to`, each with its newline: one slice,
    /// as they follow each other in the batch. Empty when the range is.
    pub(crate) fn lines_with_newlines(&self, from: usize, to: usize) -> &[u8] {
        match (
            self.entries.get(from),
            to.checked_sub(1).and_then(|l| self.entries.get(l)),
        ) {
            (Some(first), Some(last)) if from < to => &self.buf[first.start..=last.end],
            _ => &[],
        }
    }

    /// The number of records.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the batch holds no records.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The total size of the lines, without newlines.
    pub fn bytes(&self) -> usize {
        self.buf.len() - self.entries.len()
    }

    /// The records, in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = Entry<'_>> + '_ {
        self.entries
            .iter()
            .map(move |meta| Entry { batch: self, meta })
    }

    /// Removes every record, keeping the allocations.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.entries.clear();
    }

    /// Marks the last record as one a failing sink's backlog keeps.
    pub(crate) fn keep_last(&mut self) {
        if let Some(e) = self.entries.last_mut() {
            e.keep = true;
        }
    }

    /// Appends the records of `other` from index `from` on.
    pub(crate) fn extend_from(&mut self, other: &Batch, from: usize) {
        for e in other.entries.iter().skip(from) {
            self.push_entry(
                e.stream.clone(),
                e.seq,
                e.level,
                e.ts,
                &other.buf[e.start..e.end],
                e.segment_start,
            );
            if e.keep {
                self.keep_last();
            }
        }
    }

    /// Removes the oldest records that are not [kept](Self::keep_last)
    /// until the lines take at most `max_bytes` (or only kept records
    /// are left), calling `evicted` with each one's stream and seq.
    pub(crate) fn evict_front(&mut self, max_bytes: usize, mut evicted: impl FnMut(&str, u64)) {
        let mut excess = self.bytes().saturating_sub(max_bytes);
        if excess == 0 {
            return;
        }
        let mut out = Batch {
            buf: Vec::with_capacity(self.buf.len()),
            entries: Vec::with_capacity(self.entries.len()),
        };
        for e in &self.entries {
            let len = e.end - e.start;
            if excess > 0 && !e.keep {
                excess = excess.saturating_sub(len);
                evicted(&e.stream, e.seq);
                continue;
            }
            let start = out.buf.len();
            out.buf.extend_from_slice(&self.buf[e.start..=e.end]);
            out.entries.push(EntryMeta {
                start,
                end: start + len,
                stream: e.stream.clone(),
                ..*e
            });
        }
        *self = out;
    }

    /// Drops the first `n` records (oldest first).
    pub(crate) fn drain_front(&mut self, n: usize) {
        if n >= self.entries.len() {
            self.clear();
            return;
        }
        let cut = self.entries[n].start;
        self.buf.drain(..cut);
        self.entries.drain(..n);
        for e in &mut self.entries {
            e.start -= cut;
            e.end -= cut;
        }
    }
}

/// One encoded record in a [`Batch`].
#[derive(Clone, Copy, Debug)]
pub struct Entry<'a> {
    batch: &'a Batch,
    meta: &'a EntryMeta,
}

impl<'a> Entry<'a> {
    /// The stream the record belongs to.
    pub fn stream(&self) -> &'a str {
        &self.meta.stream
    }

    #[cfg(feature = "http")]
    pub(crate) fn stream_arc(&self) -> Arc<str> {
        self.meta.stream.clone()
    }

    /// The record's sequence number within its stream.
    pub fn seq(&self) -> u64 {
        self.meta.seq
    }

    /// The event's level.
    pub fn level(&self) -> Level {
        self.meta.level
    }

    /// When the event happened.
    pub fn timestamp(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_nanos(self.meta.ts)
    }

    /// Whether this record starts a new segment of its stream: a file sink
    /// starts a new file with it (see [`signing`](crate::signing)).
    pub fn starts_segment(&self) -> bool {
        self.meta.segment_start
    }

    /// The encoded JSON line, without its trailing newline.
    pub fn line(&self) -> &'a [u8] {
        &self.batch.buf[self.meta.start..self.meta.end]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(n: u64) -> Batch {
        let mut b = Batch::new();
        for i in 0..n {
            b.push(
                "app",
                i,
                Level::INFO,
                UNIX_EPOCH,
                format!("line{i}").as_bytes(),
            );
        }
        b
    }

    #[test]
    fn evicting_skips_kept_records_and_names_the_others() {
        let mut b = batch(6);
        // Entry 1 (seq 1) is one of evtrail's notices.
        let mut kept = Batch::new();
        for (i, e) in b.iter().enumerate() {
            kept.push(e.stream(), e.seq(), e.level(), e.timestamp(), e.line());
            if i == 1 {
                kept.keep_last();
            }
        }
        b = kept;
        let line = b.iter().next().unwrap().line().len();
        let mut gone = Vec::new();
        b.evict_front(b.bytes() - 3 * line, |s, q| gone.push((s.to_owned(), q)));
        assert_eq!(
            gone,
            [("app".into(), 0), ("app".into(), 2), ("app".into(), 3)]
        );
        let left: Vec<u64> = b.iter().map(|e| e.seq()).collect();
        assert_eq!(left, [1, 4, 5]);
        assert_eq!(
            b.lines_with_newlines(0, 3)
                .iter()
                .filter(|&&c| c == b'\n')
                .count(),
            3
        );
        // Only kept records left: they stay, whatever the bound.
        let mut gone = 0;
        b.evict_front(0, |_, _| gone += 1);
        assert_eq!(gone, 2);
        assert_eq!(b.len(), 1);
        assert_eq!(b.iter().next().unwrap().seq(), 1);
    }

    #[test]
    fn drain_front_keeps_the_newest_lines_intact() {
        let mut b = batch(5);
        b.drain_front(2);
        let lines: Vec<&[u8]> = b.iter().map(|e| e.line()).collect();
        assert_eq!(lines, [&b"line2"[..], b"line3", b"line4"]);
        b.drain_front(10);
        assert!(b.is_empty());
    }

    /// A run of entries is one slice of newline-terminated lines, also
    /// after the front was drained and after lines written in place.
    #[test]
    fn a_run_of_entries_is_their_lines_with_newlines() {
        let mut b = batch(4);
        assert_eq!(b.lines_with_newlines(0, 4), b"line0\nline1\nline2\nline3\n");
        assert_eq!(b.lines_with_newlines(1, 3), b"line1\nline2\n");
        assert_eq!(b.lines_with_newlines(2, 2), b"");
        assert_eq!(b.lines_with_newlines(3, 9), b"");
        assert_eq!(b.bytes(), 20, "newlines are not counted");
        b.drain_front(1);
        let start = b.line_buf().len();
        b.line_buf().extend_from_slice(b"in place");
        b.finish_entry(Arc::from("app"), 9, Level::INFO, 0, start, false);
        assert_eq!(
            b.lines_with_newlines(0, b.len()),
            b"line1\nline2\nline3\nin place\n"
        );
        let lines: Vec<&[u8]> = b.iter().map(|e| e.line()).collect();
        assert_eq!(lines, [&b"line1"[..], b"line2", b"line3", b"in place"]);
        assert_eq!(b.bytes(), 23);
    }

    #[test]
    fn extend_from_copies_the_unaccepted_tail() {
        let src = batch(4);
        let mut dst = Batch::new();
        dst.extend_from(&src, 3);
        assert_eq!(dst.len(), 1);
        let e = dst.iter().next().unwrap();
        assert_eq!((e.seq(), e.line()), (3, &b"line3"[..]));
    }
}
