//! The bounded hand-off: lossless `Block`, counted `DropNewest`.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Emitters, WAIT, dispatch, emit_from_threads, events, parse, user_records};
use crossbeam_channel::Receiver;
use evtrail::sink::{Batch, Sink, SinkError};
use evtrail::{MemorySink, Overflow};

/// Remembers (thread, index) of every line, scanning instead of parsing
/// so 800,000 lines stay cheap.
#[derive(Clone, Default)]
struct Tally {
    seen: Arc<Mutex<Vec<(u64, u64, u64)>>>,
}

fn number_after(line: &str, key: &str) -> u64 {
    let at = line
        .find(key)
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len();
    line[at..]
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0, |n, b| n * 10 + u64::from(b - b'0'))
}

impl Sink for Tally {
    fn name(&self) -> &str {
        "tally"
    }
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let mut seen = self.seen.lock().unwrap();
        for e in batch.iter() {
            let line = std::str::from_utf8(e.line()).unwrap();
            assert_eq!(number_after(line, "\"seq\":"), e.seq());
            seen.push((
                e.seq(),
                number_after(line, "\"t\":"),
                number_after(line, "\"i\":"),
            ));
        }
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn block_policy_writes_every_event_exactly_once_in_per_thread_order() {
    const THREADS: u64 = 8;
    const PER_THREAD: u64 = 100_000;
    let tally = Tally::default();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .capacity(64)
        .overflow(Overflow::Block)
        .source_location(false)
        .add_sink(tally.clone())
        .build()
        .unwrap();
    let d = dispatch(layer);
    emit_from_threads(&d, THREADS, PER_THREAD, |t, i| {
        tracing::info!(t, i, "event")
    });
    guard.flush(WAIT).unwrap();
    let stats = guard.stats();
    assert_eq!(stats.dropped, 0);
    assert_eq!(stats.written, THREADS * PER_THREAD);
    let seen = tally.seen.lock().unwrap();
    assert_eq!(seen.len() as u64, THREADS * PER_THREAD);
    let mut next: HashMap<u64, u64> = HashMap::new();
    for (n, &(seq, t, i)) in seen.iter().enumerate() {
        assert_eq!(seq, n as u64 + 1, "seq must be gap-free");
        let want = next.entry(t).or_insert(0);
        assert_eq!(i, *want, "thread {t} out of order");
        *want += 1;
    }
    assert!(next.values().all(|&n| n == PER_THREAD));
}

/// Counts heap allocations per thread, so a test can see what emitting
/// an event allocates on the application's thread.
struct CountingAlloc;

thread_local! {
    static ALLOCATIONS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

// SAFETY: every call is passed on unchanged to the system allocator; the
// counter is a const-initialised thread-local that never allocates.
unsafe impl std::alloc::GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract is the system allocator's.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` came from `alloc` above, with this layout.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAlloc = CountingAlloc;

/// Heap allocations made on this thread while `f` runs.
fn allocations_in(f: impl FnOnce()) -> u64 {
    let before = ALLOCATIONS.with(std::cell::Cell::get);
    f();
    ALLOCATIONS.with(std::cell::Cell::get) - before
}

/// A sink whose `flush`, while `hold` is set, says so on `entered` and
/// waits until `hold` is cleared: a worker held there takes nothing from
/// the queue.
struct Hold {
    hold: Arc<std::sync::atomic::AtomicBool>,
    entered: crossbeam_channel::Sender<()>,
    inner: MemorySink,
}

impl Sink for Hold {
    fn name(&self) -> &str {
        "hold"
    }
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        self.inner.write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        use std::sync::atomic::Ordering;
        if self.hold.load(Ordering::Acquire) {
            let _ = self.entered.try_send(());
            let deadline = std::time::Instant::now() + WAIT;
            while self.hold.load(Ordering::Acquire) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        Ok(())
    }
}

/// The worker hands back the buffers of every record it has handled, up
/// to a queue's worth. With the worker held (so it hands back nothing
/// during the count), a burst of events into an empty pool allocates
/// their buffers on the application's thread; once the worker has drained
/// them, the same burst again is captured into reused buffers and
/// allocates (almost) nothing. A pool smaller than the queue freed the
/// rest on the worker, and the application's thread allocated them again.
#[test]
fn a_drained_queue_leaves_its_buffers_for_the_next_events() {
    use std::sync::atomic::{AtomicBool, Ordering};
    const CAPACITY: usize = 4096;
    const EVENTS: u64 = 3000;
    let hold = Arc::new(AtomicBool::new(false));
    let (entered_tx, entered) = crossbeam_channel::bounded(1);
    let sink = MemorySink::new();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .capacity(CAPACITY)
        .overflow(Overflow::Block)
        .add_sink(Hold {
            hold: hold.clone(),
            entered: entered_tx,
            inner: sink.clone(),
        })
        .build()
        .unwrap();
    let d = dispatch(layer);
    // Emits a burst while the worker waits in the sink's flush, and counts
    // what the burst allocated on this thread.
    let burst_while_held = |from: u64| -> u64 {
        hold.store(true, Ordering::Release);
        let handle = guard.handle();
        let flusher = std::thread::spawn(move || handle.flush(WAIT));
        entered
            .recv_timeout(WAIT)
            .expect("the worker never flushed");
        let allocated = allocations_in(|| {
            tracing::dispatcher::with_default(&d, || {
                for i in from..from + EVENTS {
                    tracing::info!(i, user_id = "u-1", result = "failure", "event");
                }
            })
        });
        hold.store(false, Ordering::Release);
        flusher.join().unwrap().unwrap();
        guard.flush(WAIT).unwrap();
        allocated
    };
    let first = burst_while_held(0);
    assert!(
        first >= EVENTS,
        "{first} allocations for {EVENTS} events into an empty pool: is the count working?"
    );
    let second = burst_while_held(EVENTS);
    assert!(
        second < EVENTS / 10,
        "{second} allocations for {EVENTS} events after a drained queue ({first} the first time)"
    );
    assert_eq!(user_records(&parse(&sink.lines())).len() as u64, 2 * EVENTS);
}

/// A sink whose first write waits until the test opens the gate, having
/// said that it began (if anybody listens).
struct Gate {
    open: Receiver<()>,
    waited: bool,
    entered: Option<crossbeam_channel::Sender<()>>,
    inner: MemorySink,
}

impl Sink for Gate {
    fn name(&self) -> &str {
        "gate"
    }
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        if !self.waited {
            self.waited = true;
            if let Some(entered) = &self.entered {
                let _ = entered.send(());
            }
            let _ = self.open.recv_timeout(WAIT);
        }
        self.inner.write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A pipeline whose sink holds its first write until the returned sender
/// sends (or is dropped), with what `configure` adds to an unsigned
/// builder; the sink's lines are in the returned `MemorySink`.
fn gated(
    configure: impl FnOnce(evtrail::Builder) -> evtrail::Builder,
) -> (
    crossbeam_channel::Sender<()>,
    MemorySink,
    evtrail::Layer,
    evtrail::Guard,
) {
    let sink = MemorySink::new();
    let (open, gate) = crossbeam_channel::bounded(1);
    let (layer, guard) = configure(evtrail::builder().unsigned().service("test"))
        .add_sink(Gate {
            open: gate,
            waited: false,
            entered: None,
            inner: sink.clone(),
        })
        .build()
        .unwrap();
    (open, sink, layer, guard)
}

/// Emits `n` events (field `i` counting from 0) on a thread of their own,
/// failing with `hung` unless it finishes within [`WAIT`].
fn emit_on_a_thread(d: tracing::Dispatch, n: u64, hung: &str) {
    let (done_tx, done) = crossbeam_channel::bounded(1);
    let producer = std::thread::spawn(move || {
        tracing::dispatcher::with_default(&d, || {
            for i in 0..n {
                tracing::info!(i, "event");
            }
        });
        done_tx.send(()).unwrap();
    });
    done.recv_timeout(WAIT).expect(hung);
    producer.join().unwrap();
}

#[test]
fn drop_policy_never_blocks_and_accounts_for_every_lost_record() {
    const SENT: u64 = 20_000;
    let (open, sink, layer, guard) = gated(|b| b.capacity(16));
    let d = dispatch(layer);
    // The sink is stuck until the producer is done: if emitting blocked,
    // the producer would never finish and this would time out.
    emit_on_a_thread(d, SENT, "the producer blocked under DropNewest");
    open.send(()).unwrap();
    guard.flush(WAIT).unwrap();

    let stats = guard.stats();
    assert!(stats.dropped > 0, "a stuck sink and capacity 16 must drop");
    assert_eq!(stats.written + stats.dropped, SENT);
    assert_eq!(stats.accepted, stats.written);
    assert_eq!(stats.dropped_by_class, [("info".to_owned(), stats.dropped)]);

    let records = parse(&sink.lines());
    assert_eq!(user_records(&records).len() as u64, stats.written);
    let notices = events(&records, "evtrail.dropped");
    assert!(!notices.is_empty());
    let noted: u64 = notices
        .iter()
        .map(|n| n["fields"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(
        noted, stats.dropped,
        "evtrail.dropped records must account for every drop"
    );
    for n in &notices {
        assert_eq!(n["class"], "info");
        assert_eq!(n["level"], "WARN");
        assert!(n["fields"]["since"].as_str().unwrap() <= n["fields"]["until"].as_str().unwrap());
    }
    // The surviving user records keep their emission order.
    let order: Vec<u64> = user_records(&records)
        .iter()
        .map(|r| r["fields"]["i"].as_u64().unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]));
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
}

#[test]
fn audit_and_security_block_by_default_while_other_classes_drop() {
    let (open, sink, layer, guard) = gated(|b| b.capacity(4));
    let d = dispatch(layer);
    let audit = {
        let d = d.clone();
        std::thread::spawn(move || {
            tracing::dispatcher::with_default(&d, || {
                for i in 0..500 {
                    tracing::info!(class = "audit", i, "audited");
                    tracing::warn!(class = "security", i, "secured");
                }
            })
        })
    };
    tracing::dispatcher::with_default(&d, || {
        for i in 0..2_000 {
            tracing::info!(i, "chatter");
        }
    });
    open.send(()).unwrap();
    audit.join().unwrap();
    guard.flush(WAIT).unwrap();
    let stats = guard.stats();
    assert!(
        stats.dropped_by_class.iter().all(|(c, _)| c == "info"),
        "{:?}",
        stats.dropped_by_class
    );
    let records = parse(&sink.lines());
    assert_eq!(
        records.iter().filter(|r| r["class"] == "audit").count(),
        500
    );
    assert_eq!(
        records.iter().filter(|r| r["class"] == "security").count(),
        500
    );
}

#[test]
fn per_class_policy_overrides_the_default() {
    let (open, _sink, layer, guard) = gated(|b| {
        b.capacity(2)
            .overflow(Overflow::Block)
            .overflow_for("metrics", Overflow::DropNewest)
    });
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || {
        for i in 0..1_000 {
            tracing::info!(class = "metrics", i, "sample");
        }
    });
    open.send(()).unwrap();
    guard.flush(Duration::from_secs(30)).unwrap();
    let stats = guard.stats();
    assert!(stats.dropped > 0);
    assert_eq!(
        stats.dropped_by_class,
        [("metrics".to_owned(), stats.dropped)]
    );
}

/// Producers waiting for room under `Block` wake when the worker drains
/// the queue, and a shutdown releases those still waiting: each of their
/// records is then either written or counted as dropped, none is lost
/// silently and no producer hangs.
#[test]
fn blocked_producers_are_released_by_draining_and_by_shutdown() {
    const THREADS: u64 = 3;
    const PER_THREAD: u64 = 2_000;
    let (open, sink, layer, guard) = gated(|b| b.capacity(8).overflow(Overflow::Block));
    let d = dispatch(layer);
    let (done_tx, done) = crossbeam_channel::unbounded();
    let producers: Vec<_> = (0..THREADS)
        .map(|t| {
            let d = d.clone();
            let done_tx = done_tx.clone();
            std::thread::spawn(move || {
                tracing::dispatcher::with_default(&d, || {
                    for i in 0..PER_THREAD {
                        tracing::info!(t, i, "event");
                    }
                });
                done_tx.send(()).unwrap();
            })
        })
        .collect();
    // The sink is stuck, the queue fills, every producer waits.
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        done.try_recv().is_err(),
        "a producer finished past a full queue"
    );
    assert_eq!(guard.stats().queue_depth, 8, "{:?}", guard.stats());
    // Shutting down while they wait: the shutdown message needs room too,
    // so the sink opens a moment later.
    let handle = guard.handle();
    let shutdown = std::thread::spawn(move || handle.shutdown(WAIT));
    std::thread::sleep(Duration::from_millis(50));
    open.send(()).unwrap();
    for _ in 0..THREADS {
        done.recv_timeout(WAIT).expect("a blocked producer hung");
    }
    for p in producers {
        p.join().unwrap();
    }
    shutdown.join().unwrap().unwrap();
    let stats = guard.stats();
    assert_eq!(
        stats.written + stats.dropped,
        THREADS * PER_THREAD,
        "{stats:?}"
    );
    let records = parse(&sink.lines());
    assert_eq!(user_records(&records).len() as u64, stats.written);
}

/// A shutdown that lands while producers are mid-send: a producer can look
/// at the pipeline (still open), and send only after the worker drained the
/// queue for the last time. Such a record must still be counted (as
/// dropped), never left unread in the queue. The window is narrow, so the
/// race is run many times under each policy.
#[test]
fn a_shutdown_racing_with_producers_accounts_for_every_record() {
    const ROUNDS: usize = 150;
    const THREADS: usize = 3;
    for round in 0..ROUNDS {
        let policy = if round % 2 == 0 {
            Overflow::Block
        } else {
            Overflow::DropNewest
        };
        let sink = MemorySink::new();
        let (layer, guard) = evtrail::builder()
            .unsigned()
            .service("test")
            .capacity(4)
            .overflow(policy)
            .add_sink(sink.clone())
            .build()
            .unwrap();
        let producers = Emitters::start(&dispatch(layer), THREADS);
        producers.wait_for(200);
        guard.handle().shutdown(WAIT).unwrap();
        // Keep emitting past the shutdown for a moment.
        producers.wait_for(producers.emitted() + 50);
        let emitted = producers.stop();
        let stats = guard.stats();
        assert_eq!(
            stats.written + stats.dropped,
            emitted,
            "round {round} ({policy:?}): {stats:?}"
        );
        assert_eq!(stats.queue_depth, 0, "round {round}: {stats:?}");
        let records = parse(&sink.lines());
        assert_eq!(user_records(&records).len() as u64, stats.written);
    }
}

/// A clock that panics when read on evtrail's worker thread once armed.
struct WorkerKillingClock(Arc<std::sync::atomic::AtomicBool>);

impl evtrail::Clock for WorkerKillingClock {
    fn now(&self) -> std::time::SystemTime {
        let on_worker = std::thread::current().name() == Some("evtrail-worker");
        if on_worker && self.0.load(std::sync::atomic::Ordering::Relaxed) {
            panic!("the test clock stops the worker");
        }
        std::time::SystemTime::now()
    }
}

/// Should the worker thread die (here: a user's clock panics on it), the
/// application must not notice beyond errors: what was queued and what
/// producers emit afterwards is counted as dropped, producers under `Block`
/// do not wait for it, and requests and shutdown say the worker is gone
/// instead of waiting out their timeouts.
#[test]
fn a_dead_worker_releases_producers_and_counts_what_they_emit() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let armed = Arc::new(AtomicBool::new(false));
    let sink = MemorySink::new();
    let (entered_tx, entered) = crossbeam_channel::bounded(1);
    let (open, gate) = crossbeam_channel::bounded(1);
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .capacity(4)
        .overflow(Overflow::Block)
        .clock(WorkerKillingClock(armed.clone()))
        .add_sink(Gate {
            open: gate,
            waited: false,
            entered: Some(entered_tx),
            inner: sink.clone(),
        })
        .build()
        .unwrap();
    let d = dispatch(layer);
    // The worker takes the first record and stalls in the sink.
    tracing::dispatcher::with_default(&d, || tracing::info!("before"));
    entered
        .recv_timeout(WAIT)
        .expect("the sink was never written");
    // Behind it: a roll, which reads the clock on the worker, then a full
    // queue of records.
    armed.store(true, Ordering::Relaxed);
    let handle = guard.handle();
    let rotate = std::thread::spawn(move || handle.rotate());
    while guard.stats().queue_depth < 1 {
        std::thread::yield_now();
    }
    tracing::dispatcher::with_default(&d, || {
        for i in 0..3 {
            tracing::info!(i, "queued");
        }
    });
    assert_eq!(guard.stats().queue_depth, 4);
    open.send(()).unwrap();
    let err = rotate.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), evtrail::ErrorKind::Closed, "{err}");

    const AFTER: u64 = 100;
    emit_on_a_thread(d, AFTER, "a producer waited for a dead worker");
    let stats = guard.stats();
    assert_eq!(stats.written, 1, "{stats:?}");
    assert_eq!(stats.dropped, 3 + AFTER, "{stats:?}");
    assert_eq!(stats.queue_depth, 0, "{stats:?}");

    let started = std::time::Instant::now();
    let err = guard.flush(WAIT).unwrap_err();
    assert_eq!(err.kind(), evtrail::ErrorKind::Closed, "{err}");
    let err = guard.handle().shutdown(WAIT).unwrap_err();
    assert_eq!(err.kind(), evtrail::ErrorKind::Closed, "{err}");
    assert!(
        started.elapsed() < WAIT,
        "flush and shutdown waited for a dead worker"
    );
    assert_eq!(user_records(&parse(&sink.lines())).len(), 1);
}

/// Records reach the sink without a flush whether the worker is still
/// polling after recent work or has parked after a quiet spell (and must
/// be woken by the send).
#[test]
fn records_arrive_unprompted_after_busy_and_after_quiet_spells() {
    let (sink, layer, guard) = common::memory_pipeline();
    let d = dispatch(layer);
    let arrived = |n: usize| {
        let started = std::time::Instant::now();
        while user_records(&parse(&sink.lines())).len() < n {
            assert!(started.elapsed() < WAIT, "record {n} never arrived");
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    for (n, pause) in [(1, 0), (2, 1), (3, 200), (4, 0), (5, 500)] {
        std::thread::sleep(Duration::from_millis(pause));
        tracing::dispatcher::with_default(&d, || tracing::info!(n, "event"));
        arrived(n);
    }
    drop(guard);
}
