//! The hand-off: what an emitting thread does with a record. It picks the
//! class's [`Overflow`] policy, sends the record over the bounded queue (or
//! counts it as dropped), and never formats, signs, writes or panics. Also
//! what the layer, the handle and the panic hook share ([`Shared`]), and
//! where `Block` producers wait ([`Room`]). Everything here runs on the
//! application's threads, for every event that passes the filter, so it
//! stays as cheap as a few atomics and a channel send.

use std::sync::atomic::{self, AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, SendTimeoutError, Sender, TrySendError};

use super::stats::{Counters, Drops};
use crate::directives::RuntimeFilter;
use crate::encode::default_class;
use crate::error::Error;
use crate::key::Key;
use crate::record::{Buffers, Record};
use crate::rotation::{Clock, nanos};
use crate::sign::Seal;
use crate::sink::{Drain, SharedOptions};
use crate::thread::on_evtrail_thread;
use crate::time::now_nanos;

/// What happens when the hand-off channel is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Overflow {
    /// Wait for room: lossless, but the emitting thread blocks while the
    /// worker is behind. The default for the `security` and `audit` classes.
    ///
    /// A caller that finds the queue full sleeps until there is room for
    /// its own record, not until the queue drains: the worker lets
    /// sleeping callers go after at most 1,024 records taken (a quarter of
    /// a smaller queue) and whenever it stops taking records to hand a
    /// batch to the sinks; when nobody sleeps, it pays one atomic load per
    /// record. The longest a caller waits is therefore the longest stretch
    /// in which the worker takes no record for it: encoding and signing
    /// 1,024 records (about a millisecond), or handing one batch (at most
    /// [`batch_size`](crate::Builder::batch_size) records) to the sinks —
    /// a file sink's write and, when a segment ends, its file's rename
    /// (the state file's `fsync` is made on a thread of its own) — plus
    /// the time the operating system takes to run the worker and the
    /// caller again. That is a property of the design, not a time
    /// limit: a sink that stalls the worker (a disk that stops taking
    /// writes) stalls a caller under `Block` for as long. A caller faster
    /// than the worker keeps the queue full and goes at the worker's
    /// pace, a wait of about a millisecond every thousand calls or so,
    /// instead of a long one every half a queue.
    Block,
    /// Drop the new record and count it: never blocks. The default for every
    /// other class. Drops are written to the log as `evtrail.dropped`
    /// records and counted in [`Stats`](super::Stats).
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
    /// New redaction rules or routes for the records after this message.
    #[cfg(feature = "config")]
    Reconfigure(Box<Reconfigure>, Sender<()>),
}

/// What a running pipeline can take without a restart, beyond the filter
/// (which the layer reads) and the file sink's live options.
#[cfg(feature = "config")]
#[derive(Debug, Default)]
pub(crate) struct Reconfigure {
    pub(crate) redactor: Option<crate::redact::Redactor>,
    /// Routes over the same streams, in the same order, as the running ones.
    pub(crate) router: Option<crate::route::Router>,
}

/// What the layer, the handle and the panic hook share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(super) tx: Sender<Msg>,
    pub(super) capacity: usize,
    pub(super) default_overflow: Overflow,
    /// The classes whose policy differs from `default_overflow`.
    pub(super) overflow: Vec<(String, Overflow)>,
    pub(crate) filter: RuntimeFilter,
    pub(crate) max_value: usize,
    pub(crate) flush_timeout: Duration,
    pub(super) drops: Arc<Drops>,
    pub(super) counters: Arc<Counters>,
    pub(super) worker: Mutex<Option<JoinHandle<()>>>,
    /// The latest seal of each stream, in the router's stream order.
    pub(super) seals: Arc<Mutex<Vec<Option<Seal>>>>,
    pub(super) signed: bool,
    pub(super) clock: Option<Arc<dyn Clock>>,
    pub(super) file_live: Option<SharedOptions>,
    /// Sinks that deliver after `write` returns, waited for by flush.
    pub(super) drains: Vec<Arc<dyn Drain>>,
    /// Where `Block` producers wait for a full queue to drain, and whether
    /// the pipeline is closed.
    pub(super) room: Arc<Room>,
    /// Emptied record buffers from the worker, for the next events.
    pub(super) pool: Receiver<Buffers>,
    /// The queue's other end, for taking back what was sent after the
    /// worker's last look (see [`Shared::after_send`]).
    pub(super) strays: Receiver<Msg>,
    /// The configuration the pipeline was started from, for reloading:
    /// opaque here, read back by `config`.
    #[cfg(feature = "config")]
    pub(crate) origin: Mutex<Option<Arc<dyn std::any::Any + Send + Sync>>>,
}

/// The longest a blocked producer sleeps before it looks at the queue
/// again, should the worker be gone without a word.
const ROOM_WAIT_SLICE: Duration = Duration::from_millis(10);

/// At most how many records the worker takes off a full queue before it
/// lets sleeping producers go. Fewer cost wake-ups on both threads: on two
/// cores, waking every 32 records (and watching the queue for 20 µs before
/// sleeping) made a lossless run from one thread a fifth slower and from
/// four a third slower than this, for no shorter longest wait: the
/// worker's other stops set that.
const ROOM_WAKE_EVERY: usize = 1024;

/// Where producers under [`Overflow::Block`] wait for room.
///
/// A producer that found the queue full waits here for room for its own
/// record, rather than in the channel's own `send`, which would wake it
/// for every slot freed: with a producer faster than the worker that is a
/// sleep and a wake-up per record on both threads. The worker wakes the
/// waiting producers after every [`ROOM_WAKE_EVERY`] records it takes
/// (fewer on a small queue) and before it stops taking records to deliver
/// ([`Room::pause`]), so a producer waits for at most that many records'
/// work, never for the queue to drain; when nobody waits, a taken record
/// costs the worker one atomic load.
#[derive(Debug)]
pub(super) struct Room {
    /// The queue's capacity: a producer may go once the queue holds fewer.
    capacity: usize,
    /// Records taken between two wake-ups while producers wait.
    every: usize,
    /// Records taken since the last wake-up; the worker's alone.
    taken: AtomicUsize,
    /// Producers between deciding to wait and leaving.
    waiting: AtomicUsize,
    /// How long a waiting producer sleeps at most before it looks again.
    slice: Duration,
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
    pub(super) fn new(capacity: usize) -> Room {
        Room::with_slice(capacity, ROOM_WAIT_SLICE)
    }

    fn with_slice(capacity: usize, slice: Duration) -> Room {
        Room {
            capacity,
            // A quarter of a small queue, so that a wake-up finds room.
            every: (capacity / 4).clamp(1, ROOM_WAKE_EVERY),
            taken: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            slice,
            lock: Mutex::new(()),
            cond: Condvar::new(),
            closed: AtomicBool::new(false),
            retired: AtomicBool::new(false),
        }
    }

    pub(super) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Stops accepting records and releases the waiting producers.
    pub(super) fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.wake();
    }

    /// The worker is about to look at the queue for the last time (or is
    /// gone). The fence pairs with the one in [`Room::retired_after_send`]:
    /// a producer's send either comes before it, and the worker's last
    /// drain sees that record, or the producer sees `retired` and takes
    /// the record back out itself.
    pub(super) fn retire(&self) {
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

    /// Waits until `ready` holds, a wake-up arrives, or one slice
    /// ([`ROOM_WAIT_SLICE`]) passes; the caller tries to send again either
    /// way. `ready` is asked under the lock the worker wakes under, after
    /// `waiting` counts this producer: a slot freed before that is seen
    /// here, one freed after it is followed by a wake-up.
    fn wait(&self, ready: impl Fn() -> bool) {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        if !ready() {
            let _ = self.cond.wait_timeout(guard, self.slice);
        }
        self.waiting.fetch_sub(1, Ordering::SeqCst);
    }

    /// Sends `msg`, waiting for room for it as long as it takes; the
    /// message comes back when the pipeline closed or the queue
    /// disconnected.
    pub(super) fn send(&self, tx: &Sender<Msg>, mut msg: Msg) -> Option<Msg> {
        loop {
            match tx.try_send(msg) {
                Ok(()) => return None,
                Err(TrySendError::Disconnected(m)) => return Some(m),
                Err(TrySendError::Full(m)) => msg = m,
            }
            if self.is_closed() {
                return Some(msg);
            }
            let ready = || tx.len() < self.capacity || self.is_closed();
            self.wait(ready);
        }
    }

    /// The worker took a record off the queue: every so many, waiting
    /// producers are let go. One atomic load when nobody waits.
    pub(super) fn took(&self) {
        if self.waiting.load(Ordering::SeqCst) == 0 {
            return;
        }
        // Only the worker writes `taken`: a load and a store, no
        // read-modify-write.
        let taken = self.taken.load(Ordering::Relaxed) + 1;
        if taken >= self.every {
            self.taken.store(0, Ordering::Relaxed);
            self.notify();
        } else {
            self.taken.store(taken, Ordering::Relaxed);
        }
    }

    /// The worker stops taking records for a while (to deliver, roll,
    /// flush): whoever waits gets the room made so far.
    pub(super) fn pause(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.taken.store(0, Ordering::Relaxed);
            self.notify();
        }
    }

    /// Wakes every waiting producer, if there is any.
    pub(super) fn wake(&self) {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.notify();
        }
    }

    fn notify(&self) {
        let _guard = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.cond.notify_all();
    }
}

impl Shared {
    /// The time for a new record: the injected clock, or the system's.
    pub(crate) fn now(&self) -> u64 {
        self.clock.as_deref().map_or_else(now_nanos, nanos)
    }

    /// The policy for `rec`'s class. Finding the class means searching
    /// the event's and its spans' fields: skipped when every class has the
    /// same policy (`overflow` then is empty).
    fn overflow_for(&self, rec: &Record) -> Overflow {
        if self.overflow.is_empty() {
            return self.default_overflow;
        }
        let class = class_of(rec);
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
        let policy = self.overflow_for(&rec);
        if self.room.is_closed() {
            return self.drop_record(&rec);
        }
        let returned = match policy {
            Overflow::Block => self.room.send(&self.tx, Msg::Record(rec)),
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
    pub(super) fn send_request(&self, msg: Msg, deadline: Instant) -> bool {
        let sent = self.tx.send_deadline(msg, deadline).is_ok();
        if sent {
            self.after_send();
        }
        sent
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
pub(super) fn sweep(queue: &Receiver<Msg>, drops: &Drops) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Long enough that only a wake-up can let a producer go within a test.
    const NEVER: Duration = Duration::from_secs(3600);
    const WAIT: Duration = Duration::from_secs(10);

    fn request() -> Msg {
        Msg::Rotate(crossbeam_channel::bounded(1).0)
    }

    /// A full queue of `capacity` and a producer thread sending one more
    /// message through `room`, started and waiting; its result arrives on
    /// the returned receiver.
    fn blocked_producer(
        capacity: usize,
    ) -> (
        Arc<Room>,
        Receiver<Msg>,
        Receiver<bool>,
        std::thread::JoinHandle<()>,
    ) {
        let room = Arc::new(Room::with_slice(capacity, NEVER));
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        for _ in 0..capacity {
            assert!(tx.try_send(request()).is_ok(), "room in a new queue");
        }
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let r = Arc::clone(&room);
        let producer = std::thread::spawn(move || {
            let sent = r.send(&tx, request()).is_none();
            done_tx.send(sent).unwrap();
        });
        let deadline = Instant::now() + WAIT;
        while room.waiting.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the producer never waited");
            std::thread::yield_now();
        }
        (room, rx, done, producer)
    }

    #[test]
    fn a_producer_goes_as_soon_as_its_record_fits_when_the_worker_pauses() {
        let (room, rx, done, producer) = blocked_producer(64);
        // One slot is free, far from half the queue; the worker stops
        // taking records to deliver.
        rx.try_recv().unwrap();
        room.pause();
        assert_eq!(done.recv_timeout(WAIT), Ok(true), "the producer hung");
        producer.join().unwrap();
        assert_eq!(rx.len(), 64);
    }

    #[test]
    fn a_busy_worker_lets_producers_go_every_few_records_it_takes() {
        let (room, rx, done, producer) = blocked_producer(64);
        // A quarter of this queue: 16 records between wake-ups.
        assert_eq!(room.every, 16);
        for _ in 0..15 {
            rx.try_recv().unwrap();
            room.took();
        }
        std::thread::sleep(Duration::from_millis(20));
        assert!(done.try_recv().is_err(), "woken before 16 records");
        rx.try_recv().unwrap();
        room.took();
        assert_eq!(done.recv_timeout(WAIT), Ok(true), "the producer hung");
        producer.join().unwrap();
        assert_eq!(room.taken.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn a_large_queue_wakes_producers_every_32_records() {
        assert_eq!(Room::new(crate::DEFAULT_CAPACITY).every, ROOM_WAKE_EVERY);
        assert_eq!(Room::new(2).every, 1);
    }

    #[test]
    fn taking_records_while_nobody_waits_counts_nothing() {
        let room = Room::new(64);
        for _ in 0..100 {
            room.took();
        }
        assert_eq!(room.taken.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn closing_gives_a_waiting_producer_its_message_back() {
        let (room, rx, done, producer) = blocked_producer(8);
        room.close();
        assert_eq!(done.recv_timeout(WAIT), Ok(false), "the producer hung");
        producer.join().unwrap();
        assert_eq!(rx.len(), 8, "nothing was sent after the close");
    }
}
