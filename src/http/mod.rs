//! Delivery over HTTP to webhooks and log stores (feature `http`).
//!
//! An [`HttpSink`] takes the worker's batches without ever making it wait:
//! records go to a bounded in-memory queue for the sink's own thread
//! (`evtrail-http-<name>`), and when that queue is full (the endpoint is
//! down or slower than the application) to an on-disk **spool**. The
//! thread sends them in order, in requests of up to
//! [`batch_records`](HttpSinkBuilder::batch_records) records or
//! [`batch_bytes`](HttpSinkBuilder::batch_bytes) bytes, waiting at most
//! [`batch_wait`](HttpSinkBuilder::batch_wait) for a request to fill, with
//! the body in the shape an [`Encode`] gives it (NDJSON by default; the
//! built-in encoders speak ClickHouse, Loki, Elasticsearch/OpenSearch and
//! OTLP).
//!
//! # What happens to each request
//!
//! | answer | what the sink does |
//! |---|---|
//! | 2xx | delivered (an encoder may look inside: see [`Encode::check_response`]) |
//! | connection error, timeout | retried with exponential backoff and jitter, for as long as it takes; meanwhile new records wait in the queue and the spool |
//! | 408, 429, 5xx | retried the same way, honouring `Retry-After` (up to [`max_retry_after`](HttpSinkBuilder::max_retry_after)); after [`max_attempts`](HttpSinkBuilder::max_attempts) such answers for one batch, the batch is dead-lettered |
//! | any other status | the batch goes to the **dead-letter file** with the status, the time and an excerpt of the answer |
//!
//! The dead-letter file is capped
//! ([`dead_letter_max_bytes`](HttpSinkBuilder::dead_letter_max_bytes),
//! [`dead_letter_max_records`](HttpSinkBuilder::dead_letter_max_records)):
//! refused records beyond the cap are counted as dropped and written as an
//! `evtrail.dropped` notice (reason `dead_letter_full`) naming their `seq`
//! ranges. The answers the sink keeps or reports never hold what it was
//! configured with: header values, tokens and passwords (of
//! [`header`](HttpSinkBuilder::header), `bearer_auth`, `basic_auth`, the
//! URL) are masked as `[REDACTED]`, and so is whatever evtrail's redaction
//! recognises (bearer tokens, `password=…`). Spool and dead-letter files
//! are created with mode 0640, their directories 0750, like the logs.
//!
//! Nothing is discarded silently: each attempt is recorded as an
//! `evtrail.push` event (sink, records, first and last `seq`, result,
//! status, attempt, latency; route it to a stream of your choice with
//! `Route::to("delivery").event("evtrail.push")`) and counted in
//! [`SinkStats::delivery`](crate::SinkStats::delivery); records that did
//! not fit in the spool are counted as dropped and written as an
//! `evtrail.dropped` event with reason `spool_full`.
//!
//! Delivery is **at least once**: a crash, or an answer lost on the way
//! back, means a second delivery. Every record carries `stream` and `seq`
//! (and its signature `sig`), so a receiver can de-duplicate.
//!
//! # Shutdown and restarts
//!
//! [`Handle::flush`](crate::Handle::flush) waits until everything emitted
//! before it is delivered (or dead-lettered). Shutdown gives the sink until
//! its timeout to deliver; what is still undelivered then is written to the
//! spool, within its [cap](HttpSinkBuilder::spool_max_bytes) (the oldest
//! records first; what does not fit is counted as dropped and written as an
//! `evtrail.dropped` notice naming its `ranges`), the shutdown's error says
//! how many records that is, and the next start sends them first, in order.
//!
//! The spool survives a crash of the process (its files are written
//! through to the operating system as records arrive); it is synced to disk
//! at shutdown.
//!
//! # Crashes: what can be lost
//!
//! **With a signed log directory** ([`Builder::log_dir`](crate::Builder::log_dir)
//! and a key), the log files are the durable queue. The sink keeps a small
//! **delivery cursor**, `cursor.json` in its spool directory: per stream,
//! the last `seq` delivered or dead-lettered, saved at most every 250 ms
//! and at close. At the next start it first sends again, from the files
//! (plain or gzip), every record after the cursor that is not waiting in
//! its spool, in order; then the spool; then the new records. So a crash
//! (`kill -9`, a `SIGTERM` the application does not catch, an abort) loses
//! nothing for the endpoint that the files hold: **the loss window is the
//! file sink's own** — the records still in the hand-off queue or in the
//! worker's batch not yet written (at most the queue's
//! [`capacity`](crate::Builder::capacity) plus one
//! [`batch_size`](crate::Builder::batch_size)), and for a power cut what
//! the operating system had not written back under the file sink's
//! [`Durability`](crate::Durability). Records the spool could not take (a
//! full spool) are in the files too, and are sent from there at the next
//! start. What the cursor passed since its last save is sent a second time:
//! delivery stays at least once.
//!
//! At shutdown, once the sink has had its time, what it still holds in
//! memory goes to the spool (and what does not fit is noted) *before* the
//! segments end; then the last records (notices, each segment's
//! `segment_end`) are sent in what is left of the timeout. Nothing is
//! written to a segment after its end, so the outcome of that last send is
//! not recorded as an `evtrail.push` event (it is counted in the stats);
//! last records the spool cannot take are sent from the files at the next
//! start. A loss that comes after the segments' end (refused last records
//! meeting a full dead-letter file) is kept in `unnoted-drops.ndjson` in the
//! spool directory, and the next start writes its `evtrail.dropped` notice
//! (with `at_last_shutdown: true`) into its first segment.
//!
//! **Without one** (an unsigned pipeline, whose `seq`s start again at 1 in
//! each run, or a sink with only a [`spool_dir`](HttpSinkBuilder::spool_dir)),
//! a crash loses what was in the sink's memory: up to
//! [`queue`](HttpSinkBuilder::queue) record groups handed over by the
//! worker, plus the request being sent. What is in the spool survives.
//!
//! # Examples
//!
//! ```no_run
//! use evtrail::http::{ClickHouse, HttpSink};
//! use std::time::Duration;
//!
//! let clickhouse = HttpSink::builder("http://127.0.0.1:8123/")
//!     .name("clickhouse")
//!     .encoder(ClickHouse::new("events"))
//!     .basic_auth("default", "")
//!     .batch_wait(Duration::from_millis(500))
//!     .build()?;
//! let (layer, guard) = evtrail::builder()
//!     .unsigned()
//!     .log_dir("logs") // also holds the sink's spool: logs/spool/clickhouse
//!     .add_sink(clickhouse)
//!     .build()?;
//! # drop((layer, guard));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod builder;
mod catchup;
mod cursor;
mod encode;
mod request;
pub(crate) mod retry_after;
mod sender;
mod spool;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tracing::Level;

use crate::record::Record;
use crate::sink::{
    Batch, DeliveryCounters, Drain, Inbox, LostRanges, Progress, Sink, SinkContext, SinkError,
};

pub use builder::{
    DEFAULT_BATCH_BYTES, DEFAULT_BATCH_RECORDS, DEFAULT_BATCH_WAIT, DEFAULT_DEAD_LETTER_MAX_BYTES,
    DEFAULT_DEAD_LETTER_MAX_RECORDS, DEFAULT_SPOOL_MAX_BYTES, HttpSinkBuilder,
};
use cursor::Cursor;
pub use encode::{
    ClickHouse, ClickHouseFormat, ElasticBulk, Encode, EncodeError, JsonArray, Loki, Ndjson, Otlp,
    Outgoing, Verdict,
};
use sender::Sender as Thread;
use spool::Spool;

/// How long closing waits for a request in flight before it saves that
/// request's records to the spool instead.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The least time closing gives the thread to end, even when shutdown's
/// deadline has passed: a thread that is waiting, not sending, ends at
/// once.
const MIN_CLOSE_GRACE: Duration = Duration::from_millis(50);

/// Where closing keeps the losses it can no longer write as notices (they
/// came after the segments' end); the next start writes them.
const UNNOTED_FILE: &str = "unnoted-drops.ndjson";

/// At most how much of the spool's cap spilling at shutdown leaves for the
/// shutdown's last records.
const FINAL_HEADROOM: u64 = 64 * 1024;

/// How often, at most, records lost to a full spool are written as an
/// `evtrail.dropped` notice while it stays full.
const DROP_NOTICE_EVERY: Duration = Duration::from_secs(1);

/// Spool directories in use in this process: two sinks must not share one.
static SPOOLS_IN_USE: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);

/// Sends records to an HTTP endpoint from a thread of its own, with a disk
/// spool, retries and dead letters; see the [module docs](self).
#[derive(Debug)]
pub struct HttpSink {
    name: String,
    /// Until attached.
    settings: Option<HttpSinkBuilder>,
    running: Option<Running>,
}

#[derive(Debug)]
struct Running {
    state: Arc<State>,
    queue: Sender<Chunk>,
    /// The queue's other end, emptied into the spool at close.
    leftover: Receiver<Chunk>,
    control: Sender<Control>,
    thread: Option<JoinHandle<()>>,
    /// Signalled when the thread ends.
    ended: Receiver<()>,
}

/// Messages to the sending thread.
#[derive(Debug)]
enum Control {
    /// Someone waits for delivery: send partial requests now.
    Urge,
    /// Close: stop after the request in flight.
    Stop,
}

impl HttpSink {
    /// Starts the settings of a sink that posts to `url`.
    pub fn builder(url: impl Into<String>) -> HttpSinkBuilder {
        HttpSinkBuilder::new(url.into())
    }
}

/// Records handed over by the worker: lines ending in newlines, and each
/// record's stream, seq and end offset.
#[derive(Debug, Default)]
struct Chunk {
    lines: Vec<u8>,
    entries: Vec<(Arc<str>, u64, usize)>,
}

impl Chunk {
    fn from_batch(batch: &Batch) -> Chunk {
        let mut chunk = Chunk {
            lines: Vec::with_capacity(batch.bytes() + batch.len()),
            entries: Vec::with_capacity(batch.len()),
        };
        for e in batch.iter() {
            chunk.lines.extend_from_slice(e.line());
            chunk.lines.push(b'\n');
            chunk
                .entries
                .push((e.stream_arc(), e.seq(), chunk.lines.len()));
        }
        chunk
    }

    fn len(&self) -> u64 {
        self.entries.len() as u64
    }

    /// Appends records given as lines and their `(stream, seq, end)`.
    fn append(&mut self, lines: &[u8], entries: &[(Arc<str>, u64, usize)]) {
        let base = self.lines.len();
        self.lines.extend_from_slice(lines);
        self.entries.extend(
            entries
                .iter()
                .map(|(stream, seq, end)| (stream.clone(), *seq, base + end)),
        );
    }
}

/// What the worker's side, the sending thread and waiters share.
#[derive(Debug)]
struct State {
    name: String,
    spool: Mutex<SpoolState>,
    /// Records handed over and records settled (delivered, dead-lettered
    /// or dropped), for waiters.
    progress: Progress,
    /// Set when closing took over the records in memory.
    closed: AtomicBool,
    counters: Arc<DeliveryCounters>,
    inbox: Arc<Inbox>,
    control: Sender<Control>,
    spool_max_bytes: u64,
    roll_bytes: u64,
    /// Until when shutdown waited for delivery: closing waits for the
    /// request in flight only until then (but at least [`MIN_CLOSE_GRACE`]).
    close_by: Mutex<Option<Instant>>,
    /// What was delivered, per stream, with a signed log directory.
    cursor: Option<Mutex<Cursor>>,
    /// The queue's receiving end, for spilling it at shutdown.
    leftover: Receiver<Chunk>,
    /// Set when shutdown spilled memory to the spool: the segments are
    /// ending, and a loss can no longer be written as a notice.
    ended: AtomicBool,
}

impl State {
    /// Moves the cursor past a settled request's records.
    fn advance(&self, req: &request::Request) {
        let Some(cursor) = &self.cursor else { return };
        let mut c = cursor.lock().unwrap_or_else(PoisonError::into_inner);
        for (stream, seq) in req.last_seqs() {
            c.advance(stream, seq);
        }
        if let Err(e) = c.save_if_due(false) {
            eprintln!(
                "evtrail: HTTP sink `{}` cannot save its delivery cursor: {e}",
                self.name
            );
        }
    }
}

/// What a restart sends again from the log files: per stream, the records
/// after the cursor up to the log's end when the pipeline started, less
/// those in the spool files a previous run left.
#[derive(Debug)]
struct CatchUp {
    streams: Vec<catchup::Backlog>,
    restored: Vec<PathBuf>,
}

#[derive(Debug)]
struct SpoolState {
    spool: Spool,
    /// New records go to the spool while it holds anything, so they stay
    /// behind what is already there.
    active: bool,
    /// Records lost to a full spool, not yet written as a notice.
    unreported: LostRanges,
    /// Refused records the full dead-letter file could not take, not yet
    /// written as a notice.
    refused: LostRanges,
    noted_at: Instant,
    /// The batch being sent (or formed), which closing saves if the thread
    /// does not finish it in time.
    in_flight: Option<Arc<request::Request>>,
    /// What a full request left of the worker's last chunk: the oldest
    /// records in memory after the batch in flight.
    carry: Option<Chunk>,
}

impl State {
    fn lock_spool(&self) -> MutexGuard<'_, SpoolState> {
        self.spool.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn publish(&self, sp: &SpoolState) {
        self.counters
            .spooled
            .store(sp.spool.records(), Ordering::Relaxed);
        self.counters
            .spool_bytes
            .store(sp.spool.bytes(), Ordering::Relaxed);
    }

    /// Takes a chunk from the worker without blocking: to the queue while
    /// it has room and nothing is spooled, else to the spool, within its
    /// cap.
    fn hand(&self, chunk: Chunk, queue: &Sender<Chunk>) {
        let n = chunk.len();
        self.progress.add_handed(n);
        let mut sp = self.lock_spool();
        let chunk = if sp.active {
            chunk
        } else {
            match queue.try_send(chunk) {
                Ok(()) => {
                    self.counters.in_memory.fetch_add(n, Ordering::Relaxed);
                    return;
                }
                Err(TrySendError::Full(c) | TrySendError::Disconnected(c)) => c,
            }
        };
        sp.active = true;
        // The longest run of records that fits under the cap.
        let room = self.spool_max_bytes.saturating_sub(sp.spool.bytes()) as usize;
        let fit = chunk.entries.partition_point(|&(_, _, end)| end <= room);
        let cut = if fit == 0 {
            0
        } else {
            chunk.entries[fit - 1].2
        };
        let mut kept = fit;
        if fit > 0
            && let Err(e) = sp
                .spool
                .append(&chunk.lines[..cut], fit as u64, self.roll_bytes)
        {
            eprintln!(
                "evtrail: HTTP sink `{}` cannot write its spool in {}: {e}; {fit} records lost",
                self.name,
                sp.spool.dir().display()
            );
            kept = 0;
        }
        let lost = n - kept as u64;
        if lost > 0 {
            self.progress.add_settled(lost);
            if self.ended.load(Ordering::Acquire) && self.cursor.is_some() {
                // The shutdown's last records, after the segments' end: the
                // log files hold them beyond the cursor, and the next start
                // sends them from there. Deferred, not lost.
                self.publish(&sp);
                return;
            }
            self.counters.dropped.fetch_add(lost, Ordering::Relaxed);
            for (stream, seq, _) in &chunk.entries[kept..] {
                sp.unreported.add(stream, *seq);
            }
        }
        self.publish(&sp);
        self.note_drops(&mut sp, false);
    }

    /// Puts records that were in memory (older than everything spooled) in
    /// front of the spool, keeping it within `cap`: the oldest that fit are
    /// saved, the rest counted and noted as dropped.
    fn save_front(
        &self,
        sp: &mut SpoolState,
        mut memory: Chunk,
        cap: u64,
    ) -> Result<(), SinkError> {
        let room = cap.saturating_sub(sp.spool.bytes()) as usize;
        let fit = memory.entries.partition_point(|&(_, _, end)| end <= room);
        let over = memory.entries.len() - fit;
        if over > 0 {
            self.counters
                .dropped
                .fetch_add(over as u64, Ordering::Relaxed);
            for (stream, seq, _) in &memory.entries[fit..] {
                sp.unreported.add(stream, *seq);
            }
            let cut = fit.checked_sub(1).map_or(0, |l| memory.entries[l].2);
            memory.lines.truncate(cut);
            memory.entries.truncate(fit);
        }
        let records = memory.len();
        if records == 0 {
            return Ok(());
        }
        if let Err(e) = sp.spool.push_front(&memory.lines, records) {
            self.counters.dropped.fetch_add(records, Ordering::Relaxed);
            for (stream, seq, _) in &memory.entries {
                sp.unreported.add(stream, *seq);
            }
            return Err(SinkError::io(
                format!(
                    "cannot save {records} undelivered records to the spool {}",
                    sp.spool.dir().display()
                ),
                e,
            ));
        }
        Ok(())
    }

    /// Writes lost records as an `evtrail.dropped` notice: at most every
    /// [`DROP_NOTICE_EVERY`], or now when `force`d.
    /// After the segments ended, losses wait for closing, which keeps them
    /// for the next start (see [`UNNOTED_FILE`]).
    fn note_drops(&self, sp: &mut SpoolState, force: bool) {
        if (sp.unreported.is_empty() && sp.refused.is_empty())
            || !(force || sp.noted_at.elapsed() >= DROP_NOTICE_EVERY)
            || self.ended.load(Ordering::Acquire)
        {
            return;
        }
        sp.noted_at = Instant::now();
        for (lost, reason) in [
            (sp.unreported.take(), "spool_full"),
            (sp.refused.take(), "dead_letter_full"),
        ] {
            if !lost.is_empty() {
                self.inbox
                    .post(self.drop_notice(lost.count(), reason, &lost.to_field(), false));
            }
        }
    }

    fn drop_notice(&self, n: u64, reason: &str, ranges: &str, earlier: bool) -> Record {
        let why = match reason {
            "spool_full" => "its spool is full",
            _ => "they were refused and its dead-letter file is full",
        };
        let mut rec = Record::internal(
            Level::WARN,
            "evtrail.dropped",
            &format!("{n} records dropped by HTTP sink `{}`: {why}", self.name),
        );
        rec.fields.add_str("class", "error");
        rec.fields.add_u64("count", n);
        rec.fields.add_str("reason", reason);
        rec.fields.add_str("ranges", ranges);
        rec.fields.add_str("sink", &self.name);
        if reason == "spool_full" {
            rec.fields.add_u64("spool_max_bytes", self.spool_max_bytes);
        }
        if earlier {
            rec.fields
                .push("at_last_shutdown", crate::record::Val::Bool(true), false);
        }
        rec
    }

    /// Keeps losses that came after the segments' end, at shutdown, in
    /// [`UNNOTED_FILE`]: the next start writes their notices.
    fn keep_unnoted(&self, sp: &mut SpoolState) -> std::io::Result<()> {
        let mut out = String::new();
        for (lost, reason) in [
            (sp.unreported.take(), "spool_full"),
            (sp.refused.take(), "dead_letter_full"),
        ] {
            if !lost.is_empty() {
                out.push_str(
                    &serde_json::json!({
                        "reason": reason,
                        "count": lost.count(),
                        "ranges": lost.to_field(),
                    })
                    .to_string(),
                );
                out.push('\n');
            }
        }
        if out.is_empty() {
            return Ok(());
        }
        let mut f = crate::private::append(&sp.spool.dir().join(UNNOTED_FILE))?;
        std::io::Write::write_all(&mut f, out.as_bytes())?;
        f.sync_data()
    }

    /// Writes the notices a previous shutdown kept (see
    /// [`keep_unnoted`](Self::keep_unnoted)) into this run's log.
    fn post_unnoted(&self, dir: &std::path::Path) {
        let path = dir.join(UNNOTED_FILE);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return;
        };
        for line in text.lines() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            let (Some(reason), Some(n), Some(ranges)) = (
                v["reason"].as_str(),
                v["count"].as_u64(),
                v["ranges"].as_str(),
            ) else {
                continue;
            };
            self.inbox.post(self.drop_notice(n, reason, ranges, true));
        }
        let _ = std::fs::remove_file(path);
    }
}

impl Drain for State {
    fn wait(&self, deadline: Instant) -> Result<(), String> {
        *self.close_by.lock().unwrap_or_else(PoisonError::into_inner) = Some(deadline);
        let missing = match self.progress.wait(deadline, || {
            let _ = self.control.try_send(Control::Urge);
        }) {
            Ok(()) => return Ok(()),
            Err(missing) => missing,
        };
        let spooled = self.lock_spool().spool.records();
        Err(format!(
            "HTTP sink `{}` has not delivered {missing} records yet ({spooled} in its spool)",
            self.name
        ))
    }

    fn spill(&self) {
        let mut sp = self.lock_spool();
        let mut memory = Chunk::default();
        // The request in flight is taken over too: if it still arrives, it
        // arrives twice; the thread stops after it (see `Sender::serve`).
        if let Some(req) = sp.in_flight.take_if(|r| r.spool_id.is_none()) {
            memory.append(&req.lines, &req.entries);
        }
        let carry = sp.carry.take();
        for chunk in carry.into_iter().chain(self.leftover.try_iter()) {
            memory.append(&chunk.lines, &chunk.entries);
        }
        if memory.entries.is_empty() {
            self.note_drops(&mut sp, true);
            self.ended.store(true, Ordering::Release);
            return;
        }
        sp.active = true;
        // Room is kept for the shutdown's last records (notices, segment
        // ends), which come after the segments' end and can no longer be
        // noted as lost (with a signed log directory they are sent from the
        // files at the next start when they do not fit).
        let headroom = (self.spool_max_bytes / 8).min(FINAL_HEADROOM);
        let cap = self.spool_max_bytes.saturating_sub(headroom);
        if let Err(e) = self.save_front(&mut sp, memory, cap) {
            eprintln!(
                "evtrail: HTTP sink `{}`: {}",
                self.name,
                crate::sink::error_chain(&e)
            );
        }
        self.counters.in_memory.store(0, Ordering::Relaxed);
        self.publish(&sp);
        self.note_drops(&mut sp, true);
        // From here on the segments end: what is lost is kept for the next
        // start's log.
        self.ended.store(true, Ordering::Release);
    }
}

impl Sink for HttpSink {
    fn name(&self) -> &str {
        &self.name
    }

    fn attach(&mut self, ctx: &mut SinkContext) -> Result<(), SinkError> {
        let Some(settings) = self.settings.take() else {
            return Err(SinkError::permanent("the sink is already attached"));
        };
        let spool_dir = match (&settings.spool_dir, ctx.log_dir()) {
            (Some(dir), _) => dir.clone(),
            (None, Some(log_dir)) => log_dir.join("spool").join(&settings.name),
            (None, None) => {
                return Err(SinkError::permanent(
                    "an HTTP sink needs a spool directory: set `HttpSinkBuilder::spool_dir` \
                     or the pipeline's `log_dir`",
                ));
            }
        };
        claim_spool(&spool_dir)?;
        let spool = Spool::open(&spool_dir).map_err(|e| {
            release_spool(&spool_dir);
            SinkError::io(format!("cannot open the spool {}", spool_dir.display()), e)
        })?;
        // With a signed log directory the files are the durable queue; the
        // cursor says how far they were delivered.
        let mut catch_up = None;
        let cursor = match (&ctx.resumed, ctx.log_dir()) {
            (Some(resumed), Some(log_dir)) => {
                let cursor = Cursor::open(&spool_dir, resumed).map_err(|e| {
                    release_spool(&spool_dir);
                    SinkError::io(
                        format!("cannot open the delivery cursor in {}", spool_dir.display()),
                        e,
                    )
                })?;
                let mut streams = Vec::new();
                for (s, last) in resumed.iter().filter(|(s, last)| cursor.get(s) < *last) {
                    match catchup::Backlog::open(log_dir, s, cursor.get(s), *last) {
                        Ok(b) => streams.push(b),
                        Err(e) => eprintln!(
                            "evtrail: HTTP sink `{}` cannot read the log of stream `{s}` \
                             to send what a crash left undelivered: {e}",
                            settings.name
                        ),
                    }
                }
                if !streams.is_empty() {
                    catch_up = Some(CatchUp {
                        streams,
                        restored: spool.paths(),
                    });
                }
                Some(Mutex::new(cursor))
            }
            _ => None,
        };
        let counters = Arc::new(DeliveryCounters::default());
        let (queue, queue_rx) = crossbeam_channel::bounded(settings.queue);
        let (control, control_rx) = crossbeam_channel::bounded(16);
        let restored = spool.records();
        let state = Arc::new(State {
            name: settings.name.clone(),
            spool: Mutex::new(SpoolState {
                active: !spool.is_empty(),
                spool,
                unreported: LostRanges::default(),
                refused: LostRanges::default(),
                noted_at: Instant::now(),
                in_flight: None,
                carry: None,
            }),
            progress: Progress::new(restored),
            closed: AtomicBool::new(false),
            counters: counters.clone(),
            inbox: ctx.inbox.clone(),
            control: control.clone(),
            spool_max_bytes: settings.spool_max_bytes,
            roll_bytes: settings.batch_bytes as u64,
            close_by: Mutex::new(None),
            cursor,
            leftover: queue_rx.clone(),
            ended: AtomicBool::new(false),
        });
        state.publish(&state.lock_spool());
        state.post_unnoted(&spool_dir);
        let dead_letter = settings
            .dead_letter
            .clone()
            .unwrap_or_else(|| spool_dir.join("dead-letter.ndjson"));
        let (ended_tx, ended) = crossbeam_channel::bounded(1);
        let thread = Thread::new(
            &settings,
            state.clone(),
            queue_rx.clone(),
            control_rx,
            dead_letter,
            catch_up,
        );
        let handle = std::thread::Builder::new()
            .name(format!("evtrail-http-{}", settings.name))
            .spawn(move || {
                thread.run();
                let _ = ended_tx.send(());
            })
            .map_err(|e| {
                release_spool(&spool_dir);
                SinkError::io("cannot start the HTTP sink's thread", e)
            })?;
        ctx.drains.push(state.clone());
        ctx.delivery = Some(counters);
        self.running = Some(Running {
            state,
            queue,
            leftover: queue_rx,
            control,
            thread: Some(handle),
            ended,
        });
        Ok(())
    }

    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let Some(run) = &self.running else {
            return Err(SinkError::permanent("the HTTP sink was never attached"));
        };
        if !batch.is_empty() {
            run.state.hand(Chunk::from_batch(batch), &run.queue);
        }
        Ok(())
    }

    /// Records are with the sending thread or in the spool already; the
    /// worker does not wait for the network. [`Handle::flush`](crate::Handle::flush)
    /// waits for delivery.
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }

    fn close(&mut self) -> Result<(), SinkError> {
        let Some(mut run) = self.running.take() else {
            return Ok(());
        };
        let state = run.state.clone();
        let _ = run.control.send(Control::Stop);
        let grace = state
            .close_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .map_or(CLOSE_GRACE, |by| {
                by.saturating_duration_since(Instant::now())
                    .max(MIN_CLOSE_GRACE)
            })
            .min(CLOSE_GRACE);
        let finished = run.ended.recv_timeout(grace).is_ok();
        if finished && let Some(t) = run.thread.take() {
            let _ = t.join();
        }
        let mut sp = state.lock_spool();
        state.closed.store(true, Ordering::Release);
        // What is in memory is older than everything spooled: it goes in
        // front, the batch in flight first.
        let mut memory = Chunk::default();
        if let Some(req) = sp.in_flight.take() {
            match req.spool_id {
                Some(_) => sp.spool.untake_front(),
                None => memory.append(&req.lines, &req.entries),
            }
        }
        let carry = sp.carry.take();
        for chunk in carry.into_iter().chain(run.leftover.try_iter()) {
            memory.append(&chunk.lines, &chunk.entries);
        }
        let dropped_before = state.counters.dropped.load(Ordering::Relaxed);
        let result = state.save_front(&mut sp, memory, state.spool_max_bytes);
        state.counters.in_memory.store(0, Ordering::Relaxed);
        let over = state.counters.dropped.load(Ordering::Relaxed) - dropped_before;
        if over > 0 {
            eprintln!(
                "evtrail: HTTP sink `{}` dropped {over} records at shutdown: its spool {} is full",
                state.name,
                sp.spool.dir().display()
            );
        }
        if let Err(e) = sp.spool.sync() {
            eprintln!(
                "evtrail: HTTP sink `{}` cannot sync its spool: {e}",
                state.name
            );
        }
        state.publish(&sp);
        if state.ended.load(Ordering::Acquire) {
            if let Err(e) = state.keep_unnoted(&mut sp) {
                eprintln!(
                    "evtrail: HTTP sink `{}` cannot keep the notice of records it dropped at \
                     shutdown: {e}",
                    state.name
                );
            }
        } else {
            state.note_drops(&mut sp, true);
        }
        if let Some(cursor) = &state.cursor
            && let Err(e) = cursor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .save_if_due(true)
        {
            eprintln!(
                "evtrail: HTTP sink `{}` cannot save its delivery cursor: {e}",
                state.name
            );
        }
        let waiting = sp.spool.records();
        let dir = sp.spool.dir().to_owned();
        drop(sp);
        release_spool(&dir);
        if !finished {
            eprintln!(
                "evtrail: HTTP sink `{}`: a request was still in flight at shutdown; \
                 its records are kept in the spool and may arrive twice",
                state.name
            );
        }
        result?;
        if waiting > 0 {
            return Err(SinkError::retryable(format!(
                "{waiting} records not delivered yet, kept in the spool {} for the next start",
                dir.display()
            )));
        }
        Ok(())
    }
}

impl Drop for HttpSink {
    fn drop(&mut self) {
        // A pipeline closes its sinks; a sink dropped without that (a
        // failed build) still saves its records and frees its spool.
        let _ = self.close();
    }
}

fn claim_spool(dir: &std::path::Path) -> Result<(), SinkError> {
    let key = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    let mut in_use = SPOOLS_IN_USE.lock().unwrap_or_else(PoisonError::into_inner);
    if !in_use.get_or_insert_with(HashSet::new).insert(key) {
        return Err(SinkError::permanent(format!(
            "the spool {} is already used by another HTTP sink: give each sink its own \
             `name` or `spool_dir`",
            dir.display()
        )));
    }
    Ok(())
}

fn release_spool(dir: &std::path::Path) {
    let key = std::path::absolute(dir).unwrap_or_else(|_| dir.to_owned());
    if let Some(set) = SPOOLS_IN_USE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_mut()
    {
        set.remove(&key);
    }
}
