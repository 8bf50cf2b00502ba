//! Failing sinks: reported once per episode, retried, nothing retryable lost.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{FlakySink, WAIT, dispatch, events, flush_until_clean, parse, user_records};
use evtrail::sink::{Batch, Sink, SinkError};
use evtrail::{Builder, ErrorKind, Guard, Layer, MemorySink};

/// An unsigned pipeline (service `test`) from `builder` whose sinks are a
/// `MemorySink` witness (sink 0) and then `sink` (sink 1).
fn witnessed(builder: Builder, sink: impl Sink) -> (MemorySink, Layer, Guard) {
    let witness = MemorySink::new();
    let (layer, guard) = builder
        .unsigned()
        .service("test")
        .add_sink(witness.clone())
        .add_sink(sink)
        .build()
        .unwrap();
    (witness, layer, guard)
}

/// A `FlakySink` that starts down.
fn down_flaky() -> FlakySink {
    let flaky = FlakySink::default();
    flaky.down.store(true, Ordering::SeqCst);
    flaky
}

/// Emits `n` events `e` with field `i` counting from 0.
fn emit(d: &tracing::Dispatch, n: u64) {
    tracing::dispatcher::with_default(d, || {
        for i in 0..n {
            tracing::info!(i, "e");
        }
    });
}

#[test]
fn a_sink_that_fails_then_recovers_loses_nothing_and_is_reported_once() {
    let flaky = down_flaky();
    let (witness, layer, guard) = witnessed(evtrail::builder(), flaky.clone());
    let d = dispatch(layer);
    for round in 0..3 {
        tracing::dispatcher::with_default(&d, || {
            for i in 0..100 {
                tracing::info!(round, i, "while down");
            }
        });
        let e = guard.flush(WAIT).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Sink);
        assert!(e.to_string().contains("`flaky`"), "{e}");
    }
    let stats = guard.stats();
    let s = &stats.sinks[1];
    assert!(!s.healthy);
    assert!(s.failures >= 1);
    assert_eq!(s.written, 0);
    assert!(s.pending >= 300, "{s:?}");

    flaky.down.store(false, Ordering::SeqCst);
    flush_until_clean(&guard);
    tracing::dispatcher::with_default(&d, || tracing::info!("after"));
    guard.flush(WAIT).unwrap();

    let seen = parse(&witness.lines());
    assert_eq!(
        events(&seen, "evtrail.sink_failed").len(),
        1,
        "one report per episode"
    );
    let failed = events(&seen, "evtrail.sink_failed")[0];
    assert_eq!(failed["fields"]["sink"], "flaky");
    assert_eq!(failed["fields"]["error"], "endpoint is down");
    assert_eq!(failed["level"], "ERROR");
    let recovered = events(&seen, "evtrail.sink_recovered");
    assert_eq!(recovered.len(), 1);
    assert!(recovered[0]["fields"]["delivered"].as_u64().unwrap() >= 300);

    // The flaky sink got everything the witness got, in the same order, once.
    let got = flaky.inner.lines();
    assert_eq!(got, witness.lines());
    let got = parse(&got);
    assert_eq!(user_records(&got).len(), 301);
    let seqs: Vec<u64> = got.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=got.len() as u64).collect::<Vec<_>>());

    let stats = guard.stats();
    let s = &stats.sinks[1];
    assert!(s.healthy);
    assert_eq!((s.pending, s.dropped), (0, 0));
    assert_eq!(s.written, got.len() as u64);
}

/// Accepts `take` entries of the first failing write, then fails.
struct Partial {
    take: usize,
    failed: bool,
    inner: MemorySink,
}

impl Sink for Partial {
    fn name(&self) -> &str {
        "partial"
    }
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        if !self.failed && batch.len() > self.take {
            self.failed = true;
            let mut head = Batch::new();
            for e in batch.iter().take(self.take) {
                head.push(e.stream(), e.seq(), e.level(), e.timestamp(), e.line());
            }
            self.inner.write(&head)?;
            return Err(SinkError::retryable("disk full").with_accepted(self.take));
        }
        self.inner.write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn a_partly_accepted_batch_is_retried_without_duplicates() {
    let sink = MemorySink::new();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .overflow(evtrail::Overflow::Block)
        .add_sink(Partial {
            take: 3,
            failed: false,
            inner: sink.clone(),
        })
        .build()
        .unwrap();
    emit(&dispatch(layer), 200);
    flush_until_clean(&guard);
    let records = parse(&sink.lines());
    let user: Vec<u64> = user_records(&records)
        .iter()
        .map(|r| r["fields"]["i"].as_u64().unwrap())
        .collect();
    assert_eq!(user, (0..200).collect::<Vec<_>>());
    let seqs: Vec<u64> = records.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
}

struct Broken;

impl Sink for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    fn write(&mut self, _: &Batch) -> Result<(), SinkError> {
        Err(SinkError::permanent("schema rejected"))
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn a_permanent_failure_is_counted_as_dropped_and_recorded() {
    let (witness, layer, guard) = witnessed(evtrail::builder(), Broken);
    tracing::dispatcher::with_default(&dispatch(layer), || {
        for _ in 0..50 {
            tracing::info!("x");
        }
    });
    let _ = guard.flush(WAIT);
    let stats = guard.stats();
    let broken = &stats.sinks[1];
    // Records of a later batch may still wait for the next attempt.
    assert!(broken.dropped + broken.pending >= 50, "{broken:?}");
    assert_eq!(broken.written, 0);
    assert!(!broken.healthy);
    // A sink that is down for good does not hold shutdown up: nothing is
    // pending for it, so there is nothing to wait for.
    let started = std::time::Instant::now();
    let e = guard.shutdown(WAIT).unwrap_err();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "shutdown waited on a dead sink"
    );
    assert_eq!(e.kind(), ErrorKind::Sink, "{e}");
    assert!(e.to_string().contains("sink `broken` is failing"), "{e}");
    let broken = &guard.stats().sinks[1];
    assert!(broken.dropped >= 50 && broken.pending == 0, "{broken:?}");
    let seen = parse(&witness.lines());
    let notes = events(&seen, "evtrail.dropped");
    assert!(!notes.is_empty());
    assert!(
        notes
            .iter()
            .all(|n| n["fields"]["sink"] == "broken" && n["fields"]["reason"] == "sink_failed")
    );
    assert_eq!(
        events(&seen, "evtrail.sink_failed")[0]["fields"]["retryable"],
        false
    );
}

#[test]
fn a_full_retry_buffer_drops_the_oldest_and_says_so() {
    let flaky = down_flaky();
    let (witness, layer, guard) = witnessed(
        evtrail::builder().retry_buffer_bytes(4 * 1024),
        flaky.clone(),
    );
    emit(&dispatch(layer), 500);
    let _ = guard.flush(WAIT);
    flaky.down.store(false, Ordering::SeqCst);
    flush_until_clean(&guard);
    let stats = guard.stats();
    let s = &stats.sinks[1];
    assert!(s.dropped > 0);
    let total = witness.len() as u64;
    // Every record the witness saw is either in the flaky sink or counted as
    // dropped there (the notices about the drops go to both sinks).
    let flaky_lines = flaky.inner.len() as u64;
    assert_eq!(flaky_lines + s.dropped, total, "{s:?}");
    let notes: u64 = events(&parse(&witness.lines()), "evtrail.dropped")
        .iter()
        .filter(|n| n["fields"]["sink"] == "flaky")
        .map(|n| n["fields"]["count"].as_u64().unwrap())
        .sum();
    assert_eq!(notes, s.dropped);
    // What survived is the newest, in order.
    let kept = parse(&flaky.inner.lines());
    let seqs: Vec<u64> = kept.iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));
}

/// A sink that logs through tracing while it writes, as an HTTP client would.
struct Chatty {
    dispatch: Arc<std::sync::OnceLock<tracing::Dispatch>>,
    calls: Arc<AtomicUsize>,
    inner: MemorySink,
}

impl Sink for Chatty {
    fn name(&self) -> &str {
        "chatty"
    }
    fn write(&mut self, batch: &Batch) -> Result<(), SinkError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(d) = self.dispatch.get() {
            tracing::dispatcher::with_default(d, || {
                tracing::info!(target: "http_client", "sending {} records", batch.len());
                tracing::error!(class = "audit", "even a blocking class must not deadlock");
            });
        }
        self.inner.write(batch)
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn an_event_emitted_inside_a_sink_neither_deadlocks_nor_recurses() {
    let sink = MemorySink::new();
    let slot = Arc::new(std::sync::OnceLock::new());
    let calls = Arc::new(AtomicUsize::new(0));
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .capacity(1)
        .overflow(evtrail::Overflow::Block)
        .add_sink(Chatty {
            dispatch: slot.clone(),
            calls: calls.clone(),
            inner: sink.clone(),
        })
        .build()
        .unwrap();
    let d = dispatch(layer);
    slot.set(d.clone()).unwrap();
    tracing::dispatcher::with_default(&d, || {
        for i in 0..20 {
            tracing::info!(i, "app");
        }
    });
    guard.flush(WAIT).unwrap();
    let records = parse(&sink.lines());
    assert_eq!(records.len(), 20);
    assert!(records.iter().all(|r| r["msg"] == "app"));
    assert!(guard.stats().reentrant >= 2 * calls.load(Ordering::SeqCst) as u64);
}

struct Panicky;

impl Sink for Panicky {
    fn name(&self) -> &str {
        "panicky"
    }
    fn write(&mut self, _: &Batch) -> Result<(), SinkError> {
        panic!("bug in a sink");
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

#[test]
fn a_panicking_sink_is_isolated_and_the_others_keep_working() {
    let witness = MemorySink::new();
    let (layer, guard) = evtrail::builder()
        .unsigned()
        .service("test")
        .add_sink(Panicky)
        .add_sink(witness.clone())
        .build()
        .unwrap();
    let d = dispatch(layer);
    tracing::dispatcher::with_default(&d, || tracing::info!("first"));
    let _ = guard.flush(WAIT);
    tracing::dispatcher::with_default(&d, || tracing::info!("second"));
    let _ = guard.flush(WAIT);
    let seen = parse(&witness.lines());
    assert_eq!(
        user_records(&seen).len(),
        2,
        "the worker must survive a panicking sink"
    );
    let failed = events(&seen, "evtrail.sink_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["fields"]["error"],
        "the sink panicked: bug in a sink"
    );
    let stats = guard.stats();
    assert!(!stats.sinks[0].healthy);
    assert!(stats.sinks[0].dropped >= 2);
}
