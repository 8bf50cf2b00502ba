//! The hand-off from emitting threads to the worker, the worker loop, and
//! the handle that controls them.

use std::collections::BTreeMap;
use std::sync::atomic::{self, AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{
    Receiver, RecvTimeoutError, SendTimeoutError, Sender, TryRecvError, TrySendError,
};
use tracing::Level;
use tracing::level_filters::LevelFilter;

use crate::error::{Error, ErrorKind};
use crate::filter::{Directives, RuntimeFilter};
use crate::key::Key;
use crate::marker::{self, Marker};
use crate::record::now_nanos;
use crate::record::{Buffers, Encoder, Record, Resolved, default_class, write_ts};
use crate::rotation::{Clock, Rotation, nanos};
use crate::route::{RouteInput, Router};
use crate::sign::{Chain, PrevEnd, Resume, Seal, State, StreamState as StateEntry};
use crate::sink::{
    Batch, DeliveryCounters, DeliveryStats, Drain, Inbox, Retention, SharedOptions, Sink,
    SinkContext, SinkError, error_chain,
};
use crate::thread::{mark_evtrail_thread, on_evtrail_thread};
use std::path::PathBuf;

/// What happens when the hand-off channel is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Wait for room: lossless, but the emitting thread blocks while the
    /// worker is behind. The default for the `security` and `audit` classes.
    Block,
    /// Drop the new record and count it: never blocks. The default for every
    /// other class. Drops are written to the log as `evtrail.dropped`
    /// records and counted in [`Stats`].
    DropNewest,
}

pub(crate) enum Msg {
    Record(Record),
    /// Answered once everything sent before it is with the sinks and
    /// flushed; `true` when no sink holds records back.
    Flush(Sender<bool>),
    Shutdown(Instant, Sender<Result<(), Error>>),
    /// Close every stream's segment and start a new one.
    Rotate(Sender<()>),
    /// Announce a new key in every stream, then sign with it.
    RotateKey(Box<Key>, Sender<()>),
}

/// Records lost at the hand-off, per class, since the worker last wrote a
/// notice about them.
#[derive(Debug, Default)]
pub(crate) struct Drops {
    dirty: AtomicBool,
    total: AtomicU64,
    windows: Mutex<BTreeMap<String, DropWindow>>,
}

#[derive(Debug, Default, Clone)]
struct DropWindow {
    pending: u64,
    first: u64,
    last: u64,
    total: u64,
}

impl Drops {
    fn record(&self, class: &str, ts: u64) {
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let win = match w.get_mut(class) {
            Some(win) => win,
            None => w.entry(class.to_owned()).or_default(),
        };
        if win.pending == 0 {
            win.first = ts;
        }
        win.pending += 1;
        win.total += 1;
        win.last = win.last.max(ts);
        self.total.fetch_add(1, Ordering::Relaxed);
        self.dirty.store(true, Ordering::Release);
    }

    /// Takes the windows with unreported drops.
    fn take(&self) -> Vec<(String, DropWindow)> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        let mut w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = Vec::new();
        for (class, win) in w.iter_mut() {
            if win.pending > 0 {
                out.push((class.clone(), win.clone()));
                win.pending = 0;
                win.last = 0;
            }
        }
        out
    }

    fn by_class(&self) -> Vec<(String, u64)> {
        let w = self.windows.lock().unwrap_or_else(PoisonError::into_inner);
        w.iter().map(|(c, win)| (c.clone(), win.total)).collect()
    }
}

/// Counters the worker publishes for one sink.
#[derive(Debug, Default)]
pub(crate) struct SinkCounters {
    name: String,
    written: AtomicU64,
    failures: AtomicU64,
    pending: AtomicU64,
    pub(crate) dropped: AtomicU64,
    healthy: AtomicBool,
    /// Set by sinks that deliver on a thread of their own.
    delivery: Option<Arc<DeliveryCounters>>,
}

/// Counters the worker publishes.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    received: AtomicU64,
    written: AtomicU64,
    internal: AtomicU64,
    reentrant: AtomicU64,
    sinks: Vec<Arc<SinkCounters>>,
}

/// What the layer, the handle and the panic hook share.
#[derive(Debug)]
pub(crate) struct Shared {
    tx: Sender<Msg>,
    capacity: usize,
    default_overflow: Overflow,
    overflow: Vec<(String, Overflow)>,
    pub(crate) filter: RuntimeFilter,
    pub(crate) max_value: usize,
    pub(crate) flush_timeout: Duration,
    drops: Arc<Drops>,
    counters: Arc<Counters>,
    worker: Mutex<Option<JoinHandle<()>>>,
    /// The latest seal of each stream, in the router's stream order.
    seals: Arc<Mutex<Vec<Option<Seal>>>>,
    signed: bool,
    clock: Option<Arc<dyn Clock>>,
    file_live: Option<SharedOptions>,
    /// Sinks that deliver after `write` returns, waited for by flush.
    drains: Vec<Arc<dyn Drain>>,
    /// Where `Block` producers wait for a full queue to drain, and whether
    /// the pipeline is closed.
    room: Arc<Room>,
    /// Emptied record buffers from the worker, for the next events.
    pool: Receiver<Buffers>,
    /// The queue's other end, for taking back what was sent after the
    /// worker's last look (see [`Shared::after_send`]).
    strays: Receiver<Msg>,
}

/// How often a recently busy worker looks at an empty queue.
///
/// A worker parked on the channel must be woken by the producer's send: a
/// system call, and on a virtual machine often an interrupt to another CPU,
/// paid by the application's thread for every record when records come one
/// at a time. So after handling records the worker sleeps in short ticks
/// instead, for [`LINGER_FOR`], and a send to it costs the producer nothing
/// more than the enqueue. Records then reach the sinks up to a tick later.
const LINGER_TICK: Duration = Duration::from_micros(200);
/// How long after its last record the worker keeps polling every
/// [`LINGER_TICK`] before it parks (and producers wake it again).
const LINGER_FOR: Duration = Duration::from_millis(20);

/// The longest a blocked producer sleeps before it looks at the queue
/// again, should a wake-up be missed or the worker be gone.
const ROOM_WAIT_SLICE: Duration = Duration::from_millis(10);

/// Where producers under [`Overflow::Block`] wait for room.
///
/// A producer that found the queue full waits here until the worker has
/// drained it to half, rather than in the channel's own `send`, which
/// would wake it for every slot freed: with a producer faster than the
/// worker that is a sleep and a wake-up per record on both threads. This
/// way a full queue costs one wake-up per half a queue of records.
#[derive(Debug)]
struct Room {
    /// The queue length at or below which waiting producers are let go:
    /// half the capacity.
    at: usize,
    /// Producers between deciding to wait and leaving.
    waiting: AtomicUsize,
    lock: Mutex<()>,
    cond: Condvar,
    /// Set by a shutdown (or the worker's end): new records are dropped
    /// and counted instead of queued.
    closed: AtomicBool,
    /// Set by the worker before its last drain of the queue: whatever a
    /// producer sends after that, the worker may never see.
    retired: AtomicBool,
}

impl Room {
    fn new(capacity: usize) -> Room {
        Room {
            at: capacity / 2,
            waiting: AtomicUsize::new(0),
            lock: Mutex::new(()),
            cond: Condvar::new(),
            closed: AtomicBool::new(false),
            retired: AtomicBool::new(false),
        }
    }

    fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Stops accepting records and releases the waiting producers.
    fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// The worker is about to look at the queue for the last time (or is
    /// gone). The fence pairs with the one in [`Room::retired_after_send`]:
    /// a producer's send either comes before it, and the worker's last
    /// drain sees that record, or the producer sees `retired` and takes
    /// the record back out itself.
    fn retire(&self) {
        self.retired.store(true, Ordering::SeqCst);
        atomic::fence(Ordering::SeqCst);
        self.close();
    }

    /// Whether the worker retired; asked after a send, which the fence
    /// orders before the load.
    fn retired_after_send(&self) -> bool {
        atomic::fence(Ordering::SeqCst);
        self.retired.load(Ordering::Relaxed)
    }

    /// Waits until `ready` holds, a wake-up arrives, or one
    /// [`ROOM_WAIT_SLICE`] passes; the caller tries to send again either way.
    fn wait(&self, ready: impl Fn() -> bool) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if !ready() {
            let _ = self.cond.wait_timeout(guard, ROOM_WAIT_SLICE);
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes every waiting producer, if there is any.
    fn wake(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
            self.cond.notify_all();
        }
    }
}

impl Shared {
    /// The time for a new record: the injected clock, or the system's.
    pub(crate) fn now(&self) -> u64 {
        self.clock.as_deref().map_or_else(now_nanos, nanos)
    }

    fn overflow_for(&self, class: &str) -> Overflow {
        self.overflow
            .iter()
            .find(|(c, _)| c == class)
            .map_or(self.default_overflow, |(_, o)| *o)
    }

    /// Buffers of a record the worker has finished with, if any is waiting.
    pub(crate) fn reuse(&self) -> Option<Buffers> {
        self.pool.try_recv().ok()
    }

    /// Counts an event ignored because it came from evtrail's own thread.
    pub(crate) fn note_reentrant(&self) {
        self.counters.reentrant.fetch_add(1, Ordering::Relaxed);
    }

    /// Hands a record to the worker under its class's overflow policy.
    /// Never fails and never panics: a record that cannot be handed over is
    /// counted as dropped.
    pub(crate) fn submit(&self, rec: Record) {
        let policy = self.overflow_for(class_of(&rec));
        if self.room.is_closed() {
            return self.drop_record(&rec);
        }
        let returned = match policy {
            Overflow::Block => self.send_blocking(Msg::Record(rec)),
            Overflow::DropNewest => match self.tx.try_send(Msg::Record(rec)) {
                Ok(()) => None,
                Err(TrySendError::Full(m) | TrySendError::Disconnected(m)) => Some(m),
            },
        };
        match returned {
            None => self.after_send(),
            Some(Msg::Record(rec)) => self.drop_record(&rec),
            Some(_) => {}
        }
    }

    /// Runs after every successful send. A shutdown can close the pipeline
    /// between a producer's look at `closed` and its send, and the worker
    /// may have drained the queue for the last time by then: such a record
    /// is taken back out here and counted as dropped, never left in a
    /// queue nobody reads.
    fn after_send(&self) {
        if self.room.retired_after_send() {
            sweep(&self.strays, &self.drops);
        }
    }

    /// Sends a request to the worker, waiting at most until `deadline`;
    /// `false` when there was no room in time (the request is dropped).
    /// The queue never disconnects, as `strays` keeps it open: a worker
    /// that is gone shows as a request whose answer channel closes.
    fn send_request(&self, msg: Msg, deadline: Instant) -> bool {
        let sent = self.tx.send_deadline(msg, deadline).is_ok();
        if sent {
            self.after_send();
        }
        sent
    }

    /// Sends, waiting for room as long as it takes; the message comes back
    /// when the pipeline closed or the worker is gone.
    fn send_blocking(&self, mut msg: Msg) -> Option<Msg> {
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => return None,
                Err(TrySendError::Disconnected(m)) => return Some(m),
                Err(TrySendError::Full(m)) => msg = m,
            }
            if self.room.is_closed() {
                return Some(msg);
            }
            self.room
                .wait(|| self.tx.len() <= self.room.at || self.room.is_closed());
        }
    }

    /// Like `submit`, but waits at most `timeout` for room (the panic hook).
    pub(crate) fn submit_timeout(&self, rec: Record, timeout: Duration) {
        if self.room.is_closed() {
            return self.drop_record(&rec);
        }
        // The worker must never wait for room it alone can make.
        let timeout = if on_evtrail_thread() {
            Duration::ZERO
        } else {
            timeout
        };
        match self.tx.send_timeout(Msg::Record(rec), timeout) {
            Ok(()) => self.after_send(),
            Err(
                SendTimeoutError::Timeout(Msg::Record(rec))
                | SendTimeoutError::Disconnected(Msg::Record(rec)),
            ) => self.drop_record(&rec),
            Err(_) => {}
        }
    }

    fn drop_record(&self, rec: &Record) {
        self.drops.record(class_of(rec), rec.ts);
    }
}

/// Empties the queue of a retired worker: records are counted as dropped;
/// a request's answer channel closes with it, so whoever made it hears
/// that the pipeline is closed.
fn sweep(queue: &Receiver<Msg>, drops: &Drops) {
    while let Ok(msg) = queue.try_recv() {
        if let Msg::Record(rec) = msg {
            drops.record(class_of(&rec), rec.ts);
        }
    }
}

/// The class of a record as seen on the emitting thread: its own `class`
/// field, else the innermost span's, else derived from the level.
fn class_of(rec: &Record) -> &str {
    rec.fields
        .find_str("class")
        .or_else(|| rec.spans.iter().find_map(|s| s.fields.find_str("class")))
        .unwrap_or_else(|| default_class(rec.level))
}

/// Pipeline settings the builder hands over.
pub(crate) struct Settings {
    pub(crate) capacity: usize,
    pub(crate) batch_size: usize,
    pub(crate) flush_interval: Duration,
    pub(crate) flush_timeout: Duration,
    pub(crate) retry_buffer_bytes: usize,
    pub(crate) max_value: usize,
    pub(crate) default_overflow: Overflow,
    pub(crate) overflow: Vec<(String, Overflow)>,
    pub(crate) filter: Directives,
    pub(crate) encoder: Encoder,
    pub(crate) router: Router,
    pub(crate) sinks: Vec<Box<dyn Sink>>,
    pub(crate) signing: Option<Signing>,
    pub(crate) rotation: Rotation,
    pub(crate) clock: Option<Arc<dyn Clock>>,
    /// The log directory sink's runtime-changeable options.
    pub(crate) file_live: Option<SharedOptions>,
    /// Offered to sinks in [`Sink::attach`].
    pub(crate) log_dir: Option<PathBuf>,
}

/// How the worker signs, when it does.
pub(crate) struct Signing {
    pub(crate) key: Key,
    /// Where each stream's chain goes on, in the router's stream order.
    pub(crate) resume: Vec<Resume>,
    pub(crate) seal_records: u64,
    pub(crate) seal_interval: Duration,
    /// The log directory, where the state file lives.
    pub(crate) state_dir: Option<PathBuf>,
    pub(crate) state: State,
}

/// Starts the worker thread and returns what the layer and handle share.
pub(crate) fn start(mut s: Settings) -> Result<Arc<Shared>, Error> {
    let (tx, rx) = crossbeam_channel::bounded(s.capacity);
    let strays = rx.clone();
    let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
    let inbox = Arc::new(Inbox::new(wake_tx));
    let drops = Arc::new(Drops::default());
    let mut drains = Vec::new();
    let mut delivery = Vec::new();
    for sink in &mut s.sinks {
        let mut ctx = SinkContext::new(s.log_dir.clone(), inbox.clone());
        sink.attach(&mut ctx).map_err(|e| {
            Error::new(
                ErrorKind::Config,
                format!("sink `{}` cannot start: {}", sink.name(), error_chain(&e)),
            )
        })?;
        drains.append(&mut ctx.drains);
        delivery.push(ctx.delivery);
    }
    let sinks: Vec<SinkSlot> = s
        .sinks
        .into_iter()
        .zip(delivery)
        .map(|(sink, delivery)| SinkSlot {
            counters: Arc::new(SinkCounters {
                name: sink.name().to_owned(),
                healthy: AtomicBool::new(true),
                delivery,
                ..SinkCounters::default()
            }),
            sink,
            pending: Batch::new(),
            failing_since: None,
            attempts: 0,
            next_retry: Instant::now(),
            unreported_drops: 0,
            flush_failed: false,
            drops_noted_at: Instant::now(),
        })
        .collect();
    let counters = Arc::new(Counters {
        sinks: sinks.iter().map(|s| s.counters.clone()).collect(),
        ..Counters::default()
    });
    let streams: Vec<StreamSlot> = s
        .router
        .streams()
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let resume = s.signing.as_ref().and_then(|g| g.resume.get(i));
            StreamSlot {
                name: name.clone(),
                seq: resume.map_or(0, |r| r.prev_seq),
                chain: s
                    .signing
                    .as_ref()
                    .map(|g| Chain::new(&g.key, name, resume.unwrap_or(&Resume::fresh()))),
                resume: resume.cloned(),
                last_seal: Instant::now(),
                bytes: 0,
                boundary: None,
                pending_start: false,
            }
        })
        .collect();
    let seals = Arc::new(Mutex::new(vec![None; streams.len()]));
    let signed = s.signing.is_some();
    let room = Arc::new(Room::new(s.capacity));
    // Room for every record the queue can hold: a `Block` producer waits
    // until the worker has drained half the queue, and a smaller pool would
    // free most of those buffers on the worker only for the producers to
    // allocate them again. Buffers are only allocated while the pool is
    // empty, so the pool adds no buffers beyond those of records in flight
    // (at most the capacity, plus one per emitting thread), and grown ones
    // are not kept.
    let (pool_tx, pool) = crossbeam_channel::bounded(s.capacity);
    let worker = Worker {
        rx,
        pool: pool_tx,
        room: room.clone(),
        wake_rx,
        inbox,
        drains: drains.clone(),
        drops: drops.clone(),
        counters: counters.clone(),
        encoder: s.encoder,
        router: s.router,
        streams,
        sinks,
        batch: Batch::new(),
        internal: Vec::new(),
        route_buf: Vec::new(),
        batch_size: s.batch_size,
        flush_interval: s.flush_interval,
        retry_buffer_bytes: s.retry_buffer_bytes,
        last_flush: Instant::now(),
        unflushed: false,
        linger_until: Instant::now(),
        drops_noted_at: Instant::now(),
        seals: seals.clone(),
        signing: s.signing.map(|g| SignPolicy {
            key: g.key,
            seal_records: g.seal_records.max(1),
            seal_interval: g.seal_interval,
            state_dir: g.state_dir,
            state: g.state,
            state_dirty: false,
            old_kid: None,
        }),
        rotation: s.rotation,
        clock: s.clock.clone(),
    };
    let handle = std::thread::Builder::new()
        .name("evtrail-worker".into())
        .spawn(move || worker.run())
        .map_err(|e| {
            Error::with_source(ErrorKind::Io, "cannot start the evtrail-worker thread", e)
        })?;
    Ok(Arc::new(Shared {
        tx,
        capacity: s.capacity,
        default_overflow: s.default_overflow,
        overflow: s.overflow,
        filter: RuntimeFilter::new(s.filter),
        max_value: s.max_value,
        flush_timeout: s.flush_timeout,
        drops,
        counters,
        worker: Mutex::new(Some(handle)),
        seals,
        signed,
        clock: s.clock,
        file_live: s.file_live,
        drains,
        room,
        pool,
        strays,
    }))
}

/// The first wait after a failure; doubled per attempt.
const RETRY_BASE: Duration = Duration::from_millis(50);
/// The longest wait between two attempts.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// The least time between two notices about hand-off drops while they
/// keep happening.
const DROP_NOTICE_EVERY: Duration = Duration::from_millis(100);
/// How often a sink that keeps losing records gets a notice about it.
const SINK_DROP_NOTICE_EVERY: Duration = Duration::from_secs(60);

struct SinkSlot {
    sink: Box<dyn Sink>,
    counters: Arc<SinkCounters>,
    /// Records the sink has not accepted yet, oldest first.
    pending: Batch,
    failing_since: Option<Instant>,
    attempts: u32,
    next_retry: Instant,
    unreported_drops: u64,
    /// The episode began with a failed flush, which a retry must repeat.
    flush_failed: bool,
    /// When drops by this sink were last written as a notice.
    drops_noted_at: Instant,
}

impl SinkSlot {
    fn name(&self) -> &str {
        &self.counters.name
    }

    /// Whether a retry has something to prove recovery with: records to
    /// deliver or a flush to repeat. A sink that failed permanently waits
    /// for new records instead of "recovering" on an empty retry.
    fn has_retry_work(&self) -> bool {
        self.failing_since.is_some() && (!self.pending.is_empty() || self.flush_failed)
    }

    fn publish(&self) {
        self.counters
            .pending
            .store(self.pending.len() as u64, Ordering::Relaxed);
        self.counters
            .healthy
            .store(self.failing_since.is_none(), Ordering::Relaxed);
    }
}

struct Worker {
    rx: Receiver<Msg>,
    /// Where emptied record buffers go back to the emitting threads.
    pool: Sender<Buffers>,
    /// Where producers wait for the queue to drain.
    room: Arc<Room>,
    /// Woken when another evtrail thread posts to the inbox.
    wake_rx: Receiver<()>,
    inbox: Arc<Inbox>,
    drains: Vec<Arc<dyn Drain>>,
    drops: Arc<Drops>,
    counters: Arc<Counters>,
    encoder: Encoder,
    router: Router,
    streams: Vec<StreamSlot>,
    sinks: Vec<SinkSlot>,
    batch: Batch,
    /// Records evtrail writes about itself, encoded with the next batch.
    internal: Vec<Record>,
    route_buf: Vec<usize>,
    batch_size: usize,
    flush_interval: Duration,
    retry_buffer_bytes: usize,
    last_flush: Instant,
    unflushed: bool,
    /// Until when the worker polls instead of parking; see [`LINGER_TICK`].
    linger_until: Instant,
    drops_noted_at: Instant,
    seals: Arc<Mutex<Vec<Option<Seal>>>>,
    signing: Option<SignPolicy>,
    rotation: Rotation,
    clock: Option<Arc<dyn Clock>>,
}

impl Drop for Worker {
    /// However the worker ends (a panic included), producers stop waiting
    /// for it, what is left in the queue is counted as dropped, and so is
    /// what they send from now on (see [`Shared::after_send`]).
    fn drop(&mut self) {
        self.room.retire();
        sweep(&self.rx, &self.drops);
    }
}

/// One stream on the worker.
struct StreamSlot {
    name: Arc<str>,
    /// The last sequence number used.
    seq: u64,
    /// `None` when the pipeline is unsigned.
    chain: Option<Chain>,
    /// How the previous run ended, until the first segment has started.
    resume: Option<Resume>,
    last_seal: Instant,
    /// Bytes in the current segment (its file), newlines included.
    bytes: u64,
    /// When the current segment ends by time.
    boundary: Option<u64>,
    /// Unsigned streams have no start marker: the next record itself
    /// starts the new segment.
    pending_start: bool,
}

/// What the worker needs to keep signing.
struct SignPolicy {
    key: Key,
    seal_records: u64,
    seal_interval: Duration,
    state_dir: Option<PathBuf>,
    state: State,
    state_dirty: bool,
    /// The key being replaced, while its rotation is announced.
    old_kid: Option<String>,
}

impl Worker {
    fn run(mut self) {
        mark_evtrail_thread();
        let now = self.now();
        for idx in 0..self.streams.len() {
            self.streams[idx].boundary = self.rotation.next_boundary(now);
            self.mark(idx, Marker::SegmentStart);
        }
        let mut acks = Vec::new();
        // Rotation requests, answered once their records are with the sinks.
        let mut done: Vec<Sender<()>> = Vec::new();
        loop {
            let deadline = self.next_deadline();
            let first = match self.rx.try_recv() {
                Ok(m) => Ok(Some(m)),
                Err(TryRecvError::Disconnected) => Err(()),
                Err(TryRecvError::Empty) if Instant::now() < self.linger_until => {
                    std::thread::sleep(
                        LINGER_TICK.min(deadline.saturating_duration_since(Instant::now())),
                    );
                    let _ = self.wake_rx.try_recv();
                    match self.rx.try_recv() {
                        Ok(m) => Ok(Some(m)),
                        Err(TryRecvError::Empty) => Ok(None),
                        Err(TryRecvError::Disconnected) => Err(()),
                    }
                }
                Err(TryRecvError::Empty) => crossbeam_channel::select! {
                    recv(self.rx) -> m => m.map(Some).map_err(|_| ()),
                    recv(self.wake_rx) -> _ => Ok(None),
                    default(deadline.saturating_duration_since(Instant::now())) => Ok(None),
                },
            };
            let Ok(first) = first else {
                let _ = self.finish(Instant::now() + RETRY_MAX);
                return;
            };
            let mut shutdown = None;
            let mut next = first;
            let mut taken = 0;
            while let Some(msg) = next.take() {
                match msg {
                    Msg::Record(rec) => {
                        self.counters.received.fetch_add(1, Ordering::Relaxed);
                        self.process(&rec);
                        self.recycle(rec);
                        taken += 1;
                    }
                    Msg::Flush(ack) => acks.push(ack),
                    Msg::Shutdown(deadline, ack) => {
                        shutdown = Some((deadline, ack));
                        break;
                    }
                    Msg::Rotate(ack) => {
                        let now = self.now();
                        if self.signing.is_some() {
                            for idx in 0..self.streams.len() {
                                self.roll(idx, now);
                            }
                        } else {
                            // No record marks the start: roll the sinks
                            // directly, after what came before.
                            self.deliver(true);
                            self.roll_sinks(now);
                        }
                        done.push(ack);
                    }
                    Msg::RotateKey(key, ack) => {
                        // The announcement is signed with the old key and
                        // names the new one.
                        if let Some(policy) = &mut self.signing {
                            policy.old_kid = Some(policy.key.id().to_owned());
                            policy.key = *key;
                        }
                        for idx in 0..self.streams.len() {
                            self.mark(idx, Marker::KeyRotated);
                            let key = self.signing.as_ref().map(|p| p.key.clone());
                            let slot = &mut self.streams[idx];
                            if let (Some(chain), Some(key)) = (&mut slot.chain, key) {
                                chain.rekey(&key, &slot.name);
                            }
                        }
                        done.push(ack);
                    }
                }
                if taken < self.batch_size {
                    next = self.rx.try_recv().ok();
                }
            }
            if self.rx.len() <= self.room.at {
                self.room.wake();
            }
            if taken > 0 {
                self.linger_until = Instant::now() + LINGER_FOR;
            }
            self.seal_due();
            self.deliver(!acks.is_empty() || shutdown.is_some());
            self.save_state();
            let caught_up = self.rx.is_empty();
            if !acks.is_empty()
                || !done.is_empty()
                || (self.unflushed
                    && (caught_up || self.last_flush.elapsed() >= self.flush_interval))
            {
                self.flush_sinks();
            }
            if !acks.is_empty() {
                let clean = self.sinks.iter().all(|s| s.failing_since.is_none());
                for ack in acks.drain(..) {
                    let _ = ack.send(clean);
                }
            }
            for ack in done.drain(..) {
                let _ = ack.send(());
            }
            if let Some((deadline, ack)) = shutdown {
                let _ = ack.send(self.finish(deadline));
                return;
            }
        }
    }

    fn next_deadline(&self) -> Instant {
        let now = Instant::now();
        if !self.internal.is_empty() {
            return now;
        }
        let mut deadline = now + Duration::from_secs(3600);
        if self.drops.dirty.load(Ordering::Acquire) {
            deadline = deadline.min(self.drops_noted_at + DROP_NOTICE_EVERY);
        }
        if self.unflushed {
            deadline = deadline.min(self.last_flush + self.flush_interval);
        }
        for s in &self.sinks {
            if s.has_retry_work() {
                deadline = deadline.min(s.next_retry);
            }
        }
        if let Some(policy) = &self.signing {
            for s in &self.streams {
                deadline = deadline.min(s.last_seal + policy.seal_interval);
            }
        }
        deadline
    }

    /// The time for evtrail's own records: the injected clock, or the system's.
    fn now(&self) -> u64 {
        self.clock.as_deref().map_or_else(now_nanos, nanos)
    }

    /// Ends stream `idx`'s segment and starts the next (a file sink starts
    /// a new file).
    /// `at` is the time of the record that made the segment end (or of the
    /// explicit request): the markers carry it, the rolled file is named
    /// after it and the next period boundary counts from it, however late
    /// the worker gets to it.
    fn roll(&mut self, idx: usize, at: u64) {
        if self.streams[idx].chain.is_some() {
            self.mark_at(idx, Marker::SegmentEnd("rotate"), at);
            self.mark_at(idx, Marker::SegmentStart, at);
        } else {
            let slot = &mut self.streams[idx];
            slot.pending_start = true;
            slot.bytes = 0;
            slot.boundary = self.rotation.next_boundary(at);
        }
    }

    /// Asks every sink to start a new file for every stream now (unsigned
    /// pipelines, whose records carry no segment markers).
    fn roll_sinks(&mut self, at: u64) {
        let when = std::time::UNIX_EPOCH + Duration::from_nanos(at);
        let now = Instant::now();
        for idx in 0..self.streams.len() {
            let slot = &mut self.streams[idx];
            slot.pending_start = false;
            slot.bytes = 0;
            slot.boundary = self.rotation.next_boundary(at);
            let name = slot.name.clone();
            for i in 0..self.sinks.len() {
                if self.sinks[i].failing_since.is_some() {
                    continue;
                }
                let sink = &mut self.sinks[i].sink;
                if let Err(e) = guarded(|| sink.roll(&name, when)) {
                    self.fail(i, e, Batch::new(), now);
                }
            }
        }
    }

    /// Whether stream `idx` must start a new segment before a record
    /// stamped `ts`.
    fn due_to_roll(&self, idx: usize, ts: u64) -> bool {
        let slot = &self.streams[idx];
        self.rotation.max_bytes.is_some_and(|max| slot.bytes >= max)
            || slot.boundary.is_some_and(|b| ts >= b)
    }

    /// Seals every stream whose seal interval has passed, idle or not.
    fn seal_due(&mut self) {
        let Some(policy) = &self.signing else { return };
        let interval = policy.seal_interval;
        for idx in 0..self.streams.len() {
            if self.streams[idx].last_seal.elapsed() >= interval {
                self.mark(idx, Marker::Seal);
            }
        }
    }

    /// Writes one of evtrail's chain records into stream `idx` (not routed:
    /// it belongs to that stream's chain). Nothing when unsigned.
    fn mark(&mut self, idx: usize, marker: Marker) {
        self.mark_at(idx, marker, self.now());
    }

    /// [`mark`](Self::mark), stamped `now`.
    fn mark_at(&mut self, idx: usize, marker: Marker, now: u64) {
        let Some(policy) = &mut self.signing else {
            return;
        };
        let slot = &mut self.streams[idx];
        let Some(chain) = &mut slot.chain else { return };
        let rec = match marker {
            Marker::SegmentStart => {
                slot.bytes = 0;
                slot.boundary = self.rotation.next_boundary(now);
                let prev_sig = chain.prev;
                let r = slot.resume.take().unwrap_or(Resume {
                    prev_segment: chain.segment,
                    prev_seq: slot.seq,
                    prev_sig,
                    prev_end: PrevEnd::Clean,
                    torn_bytes: 0,
                    segment: chain.segment + 1,
                });
                chain.segment = r.segment;
                chain.in_segment = 0;
                marker::segment_start(
                    now,
                    &r,
                    &prev_sig,
                    policy.seal_records,
                    policy.seal_interval,
                )
            }
            Marker::SegmentEnd(reason) => {
                marker::segment_end(now, chain.segment, chain.in_segment + 1, reason)
            }
            Marker::Seal => marker::seal(now, chain.segment, chain.in_segment + 1),
            Marker::KeyRotated => {
                marker::key_rotated(now, policy.key.id(), policy.old_kid.as_deref())
            }
        };
        let res = self.encoder.resolve(&rec);
        slot.seq += 1;
        let buf = self.batch.line_buf();
        let start = buf.len();
        self.encoder
            .encode_open(&rec, &res, &slot.name, slot.seq, buf);
        chain.seal_line(buf, start);
        chain.since_seal = 0;
        slot.bytes += (buf.len() - start) as u64 + 1;
        self.batch.finish_entry(
            slot.name.clone(),
            slot.seq,
            rec.level,
            rec.ts,
            start,
            marker == Marker::SegmentStart,
        );
        slot.last_seal = Instant::now();
        if matches!(
            marker,
            Marker::Seal | Marker::SegmentEnd(_) | Marker::SegmentStart
        ) {
            let seal = Seal {
                stream: slot.name.to_string(),
                seq: slot.seq,
                sig: String::from_utf8_lossy(&chain.prev).into_owned(),
                ts: Some(ts_string(rec.ts)),
            };
            // Kept current in memory; written at the next segment boundary.
            policy.state.set(
                &slot.name,
                StateEntry {
                    segment: chain.segment,
                    seq: slot.seq,
                    sig: chain.prev,
                },
            );
            // The state file tells vanished files from a fresh start; segment
            // boundaries are enough for that, and each save is an fsync.
            if marker != Marker::Seal {
                policy.state_dirty = true;
            }
            if let Some(s) = self
                .seals
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_mut(idx)
            {
                *s = Some(seal);
            }
        }
        self.counters.internal.fetch_add(1, Ordering::Relaxed);
    }

    /// Writes the state file after chain records reached the sinks.
    fn save_state(&mut self) {
        let Some(policy) = &mut self.signing else {
            return;
        };
        if !policy.state_dirty {
            return;
        }
        policy.state_dirty = false;
        if let Some(dir) = &policy.state_dir
            && let Err(e) = policy.state.save(dir)
        {
            eprintln!(
                "evtrail: cannot write the state file in `{}`: {e}",
                dir.display()
            );
        }
    }

    /// Routes, numbers and encodes one record into the batch.
    fn process(&mut self, rec: &Record) {
        let mut res = Resolved::empty();
        self.encoder.resolve_into(rec, &mut res);
        let input = RouteInput {
            target: rec.meta.target(),
            level: rec.level,
            class: res.class(rec),
            event: res.event(rec),
        };
        self.router.route(&input, &mut self.route_buf);
        let seal_records = self.signing.as_ref().map_or(u64::MAX, |p| p.seal_records);
        for i in 0..self.route_buf.len() {
            let idx = self.route_buf[i];
            if self.due_to_roll(idx, rec.ts) {
                self.roll(idx, rec.ts);
            }
            let slot = &mut self.streams[idx];
            slot.seq += 1;
            let buf = self.batch.line_buf();
            let start = buf.len();
            self.encoder
                .encode_open(rec, &res, &slot.name, slot.seq, buf);
            let due = match &mut slot.chain {
                Some(chain) => {
                    chain.seal_line(buf, start);
                    chain.since_seal += 1;
                    chain.since_seal >= seal_records
                }
                None => {
                    buf.push(b'}');
                    false
                }
            };
            slot.bytes += (buf.len() - start) as u64 + 1;
            let starts = std::mem::take(&mut slot.pending_start);
            self.batch.finish_entry(
                slot.name.clone(),
                slot.seq,
                rec.level,
                rec.ts,
                start,
                starts,
            );
            if due {
                self.mark(idx, Marker::Seal);
            }
        }
        if rec.internal {
            self.counters.internal.fetch_add(1, Ordering::Relaxed);
        } else {
            self.counters.written.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Hands a processed record's buffers back for reuse; when the pool is
    /// full they are simply freed.
    fn recycle(&self, rec: Record) {
        if let Some(buffers) = Buffers::reclaim(rec) {
            let _ = self.pool.try_send(buffers);
        }
    }

    /// Turns unreported hand-off drops into `evtrail.dropped` records: at
    /// most every [`DROP_NOTICE_EVERY`] under sustained overload, and
    /// always when `force`d (a flush or shutdown must find them written).
    fn note_drops(&mut self, force: bool) {
        if !force && self.drops_noted_at.elapsed() < DROP_NOTICE_EVERY {
            return;
        }
        self.drops_noted_at = Instant::now();
        for (class, win) in self.drops.take() {
            let mut rec = Record::internal(
                Level::WARN,
                "evtrail.dropped",
                &format!(
                    "{} {class} records dropped: the queue was full",
                    win.pending
                ),
            );
            rec.fields.add_str("class", &class);
            rec.fields.add_u64("count", win.pending);
            rec.fields.add_str("reason", "queue_full");
            rec.fields.add_str("since", &ts_string(win.first));
            rec.fields.add_str("until", &ts_string(win.last));
            self.internal.push(rec);
        }
    }

    /// Writes the batch (and any due retries) to every sink.
    fn deliver(&mut self, force_notices: bool) {
        self.note_drops(force_notices);
        self.internal.append(&mut self.inbox.take());
        // Notices raised while delivering go out in the same round, so a
        // failure report is not left waiting for the next event.
        for _ in 0..2 {
            for mut rec in std::mem::take(&mut self.internal) {
                rec.ts = self.now();
                self.process(&rec);
            }
            let now = Instant::now();
            for i in 0..self.sinks.len() {
                self.deliver_to(i, now);
            }
            if !self.batch.is_empty() {
                self.unflushed = true;
            }
            self.batch.clear();
            if self.internal.is_empty() {
                break;
            }
        }
    }

    fn deliver_to(&mut self, i: usize, now: Instant) {
        let slot = &mut self.sinks[i];
        if slot.failing_since.is_none() {
            if self.batch.is_empty() {
                return;
            }
            match guarded(|| slot.sink.write(&self.batch)) {
                Ok(()) => {
                    slot.counters
                        .written
                        .fetch_add(self.batch.len() as u64, Ordering::Relaxed);
                }
                Err(e) => {
                    let kept = e.accepted().min(self.batch.len());
                    slot.counters
                        .written
                        .fetch_add(kept as u64, Ordering::Relaxed);
                    let mut rest = Batch::new();
                    rest.extend_from(&self.batch, kept);
                    self.fail(i, e, rest, now);
                }
            }
        } else {
            slot.pending.extend_from(&self.batch, 0);
            self.trim_pending(i);
            if now >= self.sinks[i].next_retry {
                self.retry(i, now);
            }
        }
        self.sinks[i].publish();
    }

    /// Starts or continues a failure episode for sink `i`.
    fn fail(&mut self, i: usize, e: SinkError, rest: Batch, now: Instant) {
        let slot = &mut self.sinks[i];
        slot.counters.failures.fetch_add(1, Ordering::Relaxed);
        if e.is_retryable() {
            slot.pending = rest;
        } else {
            slot.counters
                .dropped
                .fetch_add(rest.len() as u64, Ordering::Relaxed);
            slot.unreported_drops += rest.len() as u64;
            slot.pending.clear();
        }
        slot.attempts += 1;
        slot.next_retry = now + backoff(slot.attempts);
        let first = slot.failing_since.is_none();
        if first {
            slot.failing_since = Some(now);
            let name = slot.name().to_owned();
            let why = error_chain(&e);
            eprintln!("evtrail: sink `{name}` failed: {why}; retrying in the background");
            let mut rec = Record::internal(
                Level::ERROR,
                "evtrail.sink_failed",
                &format!("sink `{name}` failed: {why}"),
            );
            rec.fields.add_str("class", "error");
            rec.fields.add_str("sink", &name);
            rec.fields.add_str("error", &why);
            rec.fields.push(
                "retryable",
                crate::record::Val::Bool(e.is_retryable()),
                false,
            );
            self.internal.push(rec);
        }
        self.trim_pending(i);
        self.note_sink_drops(i, false);
    }

    /// Keeps a failing sink's backlog within bounds, oldest out first.
    fn trim_pending(&mut self, i: usize) {
        let slot = &mut self.sinks[i];
        if slot.pending.bytes() <= self.retry_buffer_bytes {
            return;
        }
        let mut excess = slot.pending.bytes() - self.retry_buffer_bytes;
        let mut n = 0;
        for e in slot.pending.iter() {
            if excess == 0 {
                break;
            }
            excess = excess.saturating_sub(e.line().len());
            n += 1;
        }
        slot.pending.drain_front(n);
        slot.counters.dropped.fetch_add(n as u64, Ordering::Relaxed);
        slot.unreported_drops += n as u64;
    }

    /// Writes an `evtrail.dropped` notice for what sink `i` lost: when
    /// `now_anyway` (recovery, shutdown), else at most once a minute, so a
    /// sink that is down for good does not fill the log with notices.
    fn note_sink_drops(&mut self, i: usize, now_anyway: bool) {
        let slot = &mut self.sinks[i];
        if slot.unreported_drops == 0
            || !(now_anyway || slot.drops_noted_at.elapsed() >= SINK_DROP_NOTICE_EVERY)
        {
            return;
        }
        slot.drops_noted_at = Instant::now();
        let n = std::mem::take(&mut slot.unreported_drops);
        let name = slot.name().to_owned();
        let mut rec = Record::internal(
            Level::WARN,
            "evtrail.dropped",
            &format!("{n} records dropped by sink `{name}` while it was failing"),
        );
        rec.fields.add_str("class", "error");
        rec.fields.add_u64("count", n);
        rec.fields.add_str("reason", "sink_failed");
        rec.fields.add_str("sink", &name);
        self.internal.push(rec);
    }

    /// Tries a failing sink's backlog again.
    fn retry(&mut self, i: usize, now: Instant) {
        let slot = &mut self.sinks[i];
        if !slot.has_retry_work() {
            return;
        }
        let result = if slot.pending.is_empty() {
            Ok(())
        } else {
            guarded(|| slot.sink.write(&slot.pending))
        }
        .and_then(|()| guarded(|| slot.sink.flush()));
        match result {
            Ok(()) => {
                let n = slot.pending.len();
                slot.counters.written.fetch_add(n as u64, Ordering::Relaxed);
                slot.pending.clear();
                slot.flush_failed = false;
                let since = slot.failing_since.take().unwrap_or(now);
                let attempts = std::mem::take(&mut slot.attempts);
                let name = slot.name().to_owned();
                eprintln!("evtrail: sink `{name}` recovered after {attempts} failed attempts");
                let mut rec = Record::internal(
                    Level::INFO,
                    "evtrail.sink_recovered",
                    &format!("sink `{name}` recovered"),
                );
                rec.fields.add_str("sink", &name);
                rec.fields.add_u64("attempts", attempts as u64);
                rec.fields.add_u64("delivered", n as u64);
                rec.fields
                    .add_u64("outage_ms", now.duration_since(since).as_millis() as u64);
                self.internal.push(rec);
                self.note_sink_drops(i, true);
            }
            Err(e) => {
                let kept = e.accepted().min(slot.pending.len());
                slot.counters
                    .written
                    .fetch_add(kept as u64, Ordering::Relaxed);
                slot.pending.drain_front(kept);
                let rest = std::mem::take(&mut slot.pending);
                self.fail(i, e, rest, now);
            }
        }
        self.sinks[i].publish();
    }

    fn flush_sinks(&mut self) {
        let now = Instant::now();
        for i in 0..self.sinks.len() {
            if self.sinks[i].failing_since.is_some() {
                continue;
            }
            let sink = &mut self.sinks[i].sink;
            if let Err(e) = guarded(|| sink.flush()) {
                self.sinks[i].flush_failed = true;
                self.fail(i, e, Batch::new(), now);
                self.sinks[i].publish();
            }
        }
        self.last_flush = now;
        self.unflushed = false;
    }

    /// Drains what is left, gives failing sinks until `deadline`, closes
    /// every sink and says what could not be delivered.
    fn finish(&mut self, deadline: Instant) -> Result<(), Error> {
        let result = self.finish_inner(deadline);
        self.save_state();
        result
    }

    fn finish_inner(&mut self, deadline: Instant) -> Result<(), Error> {
        let close_segments = |w: &mut Worker| {
            for idx in 0..w.streams.len() {
                w.mark(idx, Marker::SegmentEnd("shutdown"));
            }
        };
        // Records sent concurrently with the shutdown request still get in;
        // those sent after this drain's start may not, and their producers
        // count them as dropped (see `Shared::after_send`).
        self.room.retire();
        while let Ok(msg) = self.rx.try_recv() {
            match msg {
                Msg::Record(rec) => {
                    self.counters.received.fetch_add(1, Ordering::Relaxed);
                    self.process(&rec);
                    if self.batch.len() >= self.batch_size {
                        self.deliver(true);
                    }
                }
                Msg::Flush(ack) => {
                    let _ = ack.send(false);
                }
                Msg::Shutdown(_, ack) => {
                    let _ = ack.send(Ok(()));
                }
                Msg::Rotate(ack) | Msg::RotateKey(_, ack) => {
                    let _ = ack.send(());
                }
            }
        }
        close_segments(self);
        self.deliver(true);
        self.flush_sinks();
        loop {
            let failing: Vec<usize> = (0..self.sinks.len())
                .filter(|&i| self.sinks[i].has_retry_work())
                .collect();
            if failing.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            let wake = failing
                .iter()
                .map(|&i| self.sinks[i].next_retry)
                .min()
                .unwrap_or(now)
                .min(deadline);
            std::thread::sleep(wake.saturating_duration_since(now));
            let now = Instant::now();
            for i in failing {
                if now >= self.sinks[i].next_retry {
                    self.retry(i, now);
                }
            }
            // Recovery notices go out to the sinks that are up.
            self.deliver(true);
        }
        for i in 0..self.sinks.len() {
            let slot = &mut self.sinks[i];
            let n = slot.pending.len() as u64;
            slot.counters.dropped.fetch_add(n, Ordering::Relaxed);
            slot.unreported_drops += n;
            self.note_sink_drops(i, true);
        }
        // Sinks that deliver on their own threads (HTTP) get until the
        // deadline, then close first, so that what they report (delivery
        // outcomes, records left in a spool) reaches the others.
        for drain in &self.drains {
            let _ = drain.wait(deadline);
        }
        let mut lost = Vec::new();
        for slot in &mut self.sinks {
            if slot.counters.delivery.is_some() {
                if let Err(e) = guarded(|| slot.sink.close()) {
                    lost.push(format!("sink `{}`: {}", slot.name(), error_chain(&e)));
                }
                slot.publish();
            }
        }
        self.internal.append(&mut self.inbox.take());
        // The last notices go to whichever sinks are still up.
        for mut rec in std::mem::take(&mut self.internal) {
            rec.ts = self.now();
            self.process(&rec);
        }
        let now = Instant::now();
        for i in 0..self.sinks.len() {
            if self.sinks[i].failing_since.is_none() && self.sinks[i].counters.delivery.is_none() {
                self.deliver_to(i, now);
            }
        }
        self.batch.clear();
        for slot in &mut self.sinks {
            if slot.counters.delivery.is_some() {
                continue;
            }
            if slot.failing_since.is_some() {
                lost.push(format!(
                    "sink `{}` is failing and lost {} records in all",
                    slot.name(),
                    slot.counters.dropped.load(Ordering::Relaxed)
                ));
                slot.pending.clear();
            }
            if let Err(e) = guarded(|| slot.sink.close()) {
                lost.push(format!(
                    "sink `{}` failed to close: {}",
                    slot.name(),
                    error_chain(&e)
                ));
            }
            slot.publish();
        }
        if lost.is_empty() {
            Ok(())
        } else {
            Err(Error::new(
                ErrorKind::Sink,
                format!("shutdown could not deliver everything: {}", lost.join("; ")),
            ))
        }
    }
}

/// Runs a sink call, turning a panic into a permanent failure: a buggy
/// sink must not take the worker (and every other sink) down with it.
fn guarded(call: impl FnOnce() -> Result<(), SinkError>) -> Result<(), SinkError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(result) => result,
        Err(payload) => Err(SinkError::permanent(format!(
            "the sink panicked: {}",
            panic_message(payload.as_ref())
        ))),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "Box<dyn Any>".to_owned())
}

fn backoff(attempts: u32) -> Duration {
    RETRY_BASE
        .saturating_mul(1u32 << attempts.saturating_sub(1).min(16))
        .min(RETRY_MAX)
}

fn ts_string(nanos: u64) -> String {
    let mut v = Vec::with_capacity(27);
    write_ts(&mut v, nanos);
    String::from_utf8(v).unwrap_or_default()
}

/// Counters for one sink, as returned by [`Handle::stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SinkStats {
    /// The sink's [`name`](crate::Sink::name).
    pub name: String,
    /// Records the sink accepted.
    pub written: u64,
    /// Failed writes and flushes (each retry that fails counts).
    pub failures: u64,
    /// Records waiting to be retried.
    pub pending: u64,
    /// Records this sink lost: its backlog overflowed, it failed
    /// permanently, or shutdown came before it recovered.
    pub dropped: u64,
    /// Whether the sink's last write succeeded.
    pub healthy: bool,
    /// For sinks that deliver from a thread of their own (HTTP): what
    /// happened to the records after [`written`](Self::written).
    pub delivery: Option<DeliveryStats>,
}

/// A snapshot of the pipeline's counters; see [`Handle::stats`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Records handed to the worker: those it took plus those still queued.
    pub accepted: u64,
    /// Records lost at the hand-off (queue full under
    /// [`Overflow::DropNewest`], or emitted after shutdown).
    pub dropped: u64,
    /// `dropped`, per class.
    pub dropped_by_class: Vec<(String, u64)>,
    /// Records the worker encoded and handed to the sinks.
    pub written: u64,
    /// Records evtrail wrote about itself (drop notices, sink failures).
    pub internal: u64,
    /// Events ignored because they were emitted on evtrail's own threads.
    pub reentrant: u64,
    /// Messages waiting in the hand-off channel.
    pub queue_depth: usize,
    /// The channel's capacity.
    pub capacity: usize,
    /// Per-sink counters, in the order the sinks were added.
    pub sinks: Vec<SinkStats>,
}

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
    /// could not be delivered (they are counted in [`SinkStats::dropped`]).
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
        let c = &self.shared.counters;
        let queue_depth = self.shared.tx.len();
        let received = c.received.load(Ordering::Relaxed);
        Stats {
            accepted: received + queue_depth as u64,
            dropped: self.shared.drops.total.load(Ordering::Relaxed),
            dropped_by_class: self.shared.drops.by_class(),
            written: c.written.load(Ordering::Relaxed),
            internal: c.internal.load(Ordering::Relaxed),
            reentrant: c.reentrant.load(Ordering::Relaxed),
            queue_depth,
            capacity: self.shared.capacity,
            sinks: c
                .sinks
                .iter()
                .map(|s| SinkStats {
                    name: s.name.clone(),
                    written: s.written.load(Ordering::Relaxed),
                    failures: s.failures.load(Ordering::Relaxed),
                    pending: s.pending.load(Ordering::Relaxed),
                    dropped: s.dropped.load(Ordering::Relaxed)
                        + s.delivery
                            .as_ref()
                            .map_or(0, |d| d.dropped.load(Ordering::Relaxed)),
                    healthy: s.healthy.load(Ordering::Relaxed),
                    delivery: s.delivery.as_ref().map(|d| d.snapshot()),
                })
                .collect(),
        }
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

    /// Replaces the [`log_dir`](crate::Builder::log_dir) files' retention
    /// policy; it applies from the next roll on.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the pipeline has no log directory.
    pub fn set_retention(&self, retention: Retention) -> Result<(), Error> {
        let live = self.file_live("retention")?;
        live.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .retention = retention;
        Ok(())
    }

    /// Sets the gzip level (0 to 9) of the [`log_dir`](crate::Builder::log_dir)
    /// files rolled from now on, or `None` to leave them uncompressed.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::Config`] when the pipeline has no log directory.
    pub fn set_compression(&self, level: Option<u32>) -> Result<(), Error> {
        let live = self.file_live("compression")?;
        live.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .compression = level.map(|l| l.min(9));
        Ok(())
    }

    fn file_live(&self, what: &str) -> Result<&SharedOptions, Error> {
        self.shared.file_live.as_ref().ok_or_else(|| {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        assert_eq!(backoff(1), Duration::from_millis(50));
        assert_eq!(backoff(2), Duration::from_millis(100));
        assert_eq!(backoff(4), Duration::from_millis(400));
        assert_eq!(backoff(40), RETRY_MAX);
    }

    #[test]
    fn drop_windows_count_exactly_and_reset_when_taken() {
        let d = Drops::default();
        d.record("info", 10);
        d.record("info", 30);
        d.record("error", 20);
        let taken = d.take();
        assert_eq!(taken.len(), 2);
        let info = &taken.iter().find(|(c, _)| c == "info").unwrap().1;
        assert_eq!((info.pending, info.first, info.last), (2, 10, 30));
        assert!(d.take().is_empty());
        d.record("info", 40);
        assert_eq!(d.take()[0].1.pending, 1);
        assert_eq!(
            d.by_class(),
            [("error".to_owned(), 1), ("info".to_owned(), 3)]
        );
        assert_eq!(d.total.load(Ordering::Relaxed), 4);
    }
}
